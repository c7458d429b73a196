# A node's streaming gate, after its readiness gate: a primary passes at once; a standby passes
# once its WAL receiver streams and it has replayed to within MAX_LAG_BYTES of the primary's WAL.
# An image change's roll (components/topology/roll.ts) waits on it before stopping the next node,
# so a replaced standby serves reads and confirms commits again before another goes down.
# A failed gate records nothing, so the next `up` runs it again. A standby with no primary to
# stream from (none answers: the primary lost, and this up fails over) passes, said: the topology
# step's own gates, after the failover, wait for every standby to stream. A node that could not be
# asked may be that primary: the gate waits for it, unless its host is lost (host_lost).
# env: NODE_CONTAINER NODE MAX_LAG_BYTES TIMEOUT, STACK_LABELS or PEERS

# A container that is not running has nothing to wait for: a node down when the gate is first
# created (a stack made before it existed). A new container has passed its readiness gate.
if ! running "$NODE_CONTAINER"; then
    log "node $NODE is not running: nothing to wait for"
    exit 0
fi
seen=
# host_lost CONTAINER: across engines, whether CONTAINER's host is lost as the topology step reads
# one (observe.ts probeServers): its engine did not answer, and neither does its server at its
# address from this node (pg_isready: no response).
host_lost() {
    _hl_name=$(peer_field 2 "$1" 1) && _hl_to=$(route "$NODE" "$_hl_name" "$(peer_field 2 "$1" 4)") || return 1
    _hl_host=${_hl_to#host=} _hl_port=${_hl_to#* port=}
    _hl_rc=0
    dk "$NODE_CONTAINER" exec -u postgres "$NODE_CONTAINER" pg_isready -q -h "${_hl_host%% *}" -p "${_hl_port%% *}" -t 3 \
        >/dev/null 2>&1 || _hl_rc=$?
    [ "$_hl_rc" -eq 2 ]
}
# no_primary: whether no node is primary: none answers as one, and each that could not be asked is on
# a lost host (named in LOST).
no_primary() {
    LOST=
    ask_primary
    [ -z "$PRIMARY_CONTAINER" ] || return 1
    [ -n "$NOT_ASKED" ] || return 0
    [ -n "${PEERS:-}" ] && [ -z "$SERVER_SILENT" ] || return 1
    for _np in $ENGINE_SILENT; do host_lost "$_np" || return 1; done
    LOST=$ENGINE_SILENT
}
caught_up() {
    _s=$(node_sql "$NODE_CONTAINER" "SELECT pg_is_in_recovery(), coalesce((SELECT status FROM pg_stat_wal_receiver), 'no receiver'), pg_last_wal_replay_lsn()" 2>/dev/null) || { seen="no answer"; return 1; }
    case "$_s" in
        f\|*) seen=primary; return 0 ;;
    esac
    _status=$(printf '%s' "$_s" | cut -d'|' -f2)
    _replayed=$(printf '%s' "$_s" | cut -d'|' -f3)
    if [ "$_status" != streaming ]; then
        seen="its WAL receiver: $_status"
        # No node answers as primary (it is lost, and this up fails over to one): nothing to stream from
        # yet. The topology step, after the nodes, makes a primary and waits for every standby to stream.
        if no_primary; then
            seen="no WAL receiver, and no node answers as primary to stream from${LOST:+ (host lost:$LOST, neither its engine nor its server answers)}: not waited for (the topology step's gates wait once there is one)"
            return 0
        fi
        [ -n "$PRIMARY_CONTAINER" ] || seen="$seen; no node answers as primary, but not every node could be asked: $NOT_ASKED"
        return 1
    fi
    ask_primary
    [ -n "$PRIMARY_CONTAINER" ] || { seen="streaming; no node answers as primary${NOT_ASKED:+, but not every node could be asked: $NOT_ASKED}"; return 1; }
    # The primary may be on another engine: bounded (ask_node), and past it said so; asked again next time round.
    _behind_rc=0
    _behind=$(ask_node primary_sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$_replayed')::bigint" 2>/dev/null) || _behind_rc=$?
    case $_behind_rc in
        0) ;;
        124) seen="streaming; $(no_answer "$PRIMARY_CONTAINER") (the primary, $PRIMARY_NAME)"; return 1 ;;
        *) seen="streaming; $PRIMARY_NAME did not answer"; return 1 ;;
    esac
    seen="streaming, $_behind bytes behind $PRIMARY_NAME"
    [ "$_behind" -le "$MAX_LAG_BYTES" ]
}
if ! wait_for "$TIMEOUT" caught_up; then
    fail "node $NODE ($NODE_CONTAINER) did not catch up within ${TIMEOUT}s: ${seen:-no answer} (at most $MAX_LAG_BYTES bytes behind the primary, maxSwitchoverLagBytes)"
fi
log "node $NODE: $seen"
