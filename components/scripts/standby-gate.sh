# The readiness gate: succeeds only once the primary sees this standby streaming; otherwise
# fails within TIMEOUT and says why, from the standby's own log.
# env: PRIMARY_CONTAINER STANDBY_CONTAINER SLOT TIMEOUT

state=
streaming() {
    state=$(primary_sql "SELECT state FROM pg_stat_replication WHERE application_name = '$SLOT'") || state=
    [ "$state" = streaming ]
}
if ! wait_for "$TIMEOUT" streaming; then
    reason=$(docker logs --tail 200 "$STANDBY_CONTAINER" 2>&1 | grep -E 'FATAL|ERROR|PANIC' | tail -n 3)
    fail "standby $SLOT is not streaming from the primary after ${TIMEOUT}s" \
        "(pg_stat_replication: ${state:-no connection}). Its log says: ${reason:-nothing}"
fi
log "standby $SLOT is streaming"
