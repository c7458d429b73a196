# Runs when a standby is removed: drops its replication slot so the primary stops keeping WAL
# for it. The slot stays active until the walsender notices its standby has gone: at once after
# a clean stop, at the latest after wal_sender_timeout (60 s by default), hence the fixed bound
# (not readyTimeoutSeconds, which would make the clone's inputs depend on it).
# env: PRIMARY_CONTAINER SLOT HELPER_CONTAINER

SLOT_RELEASE_SECONDS=${SLOT_RELEASE_SECONDS:-90}
docker rm -f "$HELPER_CONTAINER" >/dev/null 2>&1 || true
if ! running "$PRIMARY_CONTAINER"; then
    log "$PRIMARY_CONTAINER is not running; slot $SLOT goes with it"
    exit 0
fi
slot_released() {
    [ "$(primary_sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SLOT' AND active")" = 0 ]
}
wait_for "$SLOT_RELEASE_SECONDS" slot_released ||
    fail "replication slot $SLOT on $PRIMARY_CONTAINER is still in use after ${SLOT_RELEASE_SECONDS}s"
primary_sql "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null
log "dropped replication slot $SLOT"
