# Runs when a node is removed: drops its replication slot on whichever node is the primary now
# (found by label and pg_is_in_recovery, not from stored inputs: the primary may have moved since
# this node was seeded), so the primary stops keeping WAL for it. The slot stays active until
# the walsender notices its standby has gone: at once after a clean stop, at the latest after
# wal_sender_timeout (60 s by default), hence the fixed bound.
# env: STACK_LABELS NODE HELPER_CONTAINER

SLOT_RELEASE_SECONDS=${SLOT_RELEASE_SECONDS:-90}
docker rm -f -v "$HELPER_CONTAINER" >/dev/null 2>&1 || true
find_primary
if [ -z "$PRIMARY_CONTAINER" ]; then
    log "no node runs as primary; slot $NODE goes with the cluster"
    exit 0
fi
# The primary may be on another engine: each ask bounded (ask_node); one past its bound ends the wait
# at once, said so as ask_or_fail does (its host is most likely lost, and a slot is never taken for
# released). Not ask_or_fail itself: any other failure is only asked again (wait_for), as a slot in use.
slot_released() {
    _sr_rc=0
    _sr=$(ask_node primary_sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$NODE' AND active") || _sr_rc=$?
    [ "$_sr_rc" -ne 124 ] ||
        fail "$(no_answer "$PRIMARY_CONTAINER (the primary)"), so whether replication slot $NODE is in use is not known; it was not dropped"
    [ "$_sr_rc" -eq 0 ] && [ "$_sr" = 0 ]
}
wait_for "$SLOT_RELEASE_SECONDS" slot_released ||
    fail "replication slot $NODE on $PRIMARY_CONTAINER is still in use after ${SLOT_RELEASE_SECONDS}s"
# The drop, bounded likewise; past it, or on an error, said so (ask_or_fail).
ask_or_fail "$PRIMARY_CONTAINER (the primary)" "whether replication slot $NODE was dropped" "" \
    primary_sql "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$NODE'" >/dev/null
log "dropped replication slot $NODE on $PRIMARY_CONTAINER"
