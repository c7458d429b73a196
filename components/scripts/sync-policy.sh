# Applies the commit policy once the standbys stream, then waits until pg_stat_replication shows
# every standby in the state the policy promises. A reload, never a restart.
# env: PRIMARY_CONTAINER SYNC_NAMES SYNC_COMMIT EXPECTED ("name=state ...") TIMEOUT; across engines
# PEERS (each standby's container asked on its own engine) and LOST_NODES (names of the nodes on an
# engine this up found lost: not asked, their engine would not answer).

primary_sql >/dev/null <<SQL
ALTER SYSTEM SET synchronous_standby_names = '$SYNC_NAMES';
ALTER SYSTEM SET synchronous_commit = '$SYNC_COMMIT';
SELECT pg_reload_conf();
SQL

for pair in $EXPECTED; do
    name=${pair%%=*} want=${pair#*=} seen=
    case " ${LOST_NODES:-} " in
        *" $name "*) log "$name is on a lost host; not waited for"; continue ;;
    esac
    # A node that is down (a fenced former primary, a stopped standby) is not waited for: the
    # topology step brings it in once it is back. Node names hold no '-', so this is its container.
    if ! running "${PRIMARY_CONTAINER%-*}-$name"; then
        log "$name is not running; not waited for"
        continue
    fi
    in_state() {
        seen=$(primary_sql "SELECT state || '/' || sync_state FROM pg_stat_replication
                            WHERE application_name = '$name'") || seen=
        [ "$seen" = "streaming/$want" ]
    }
    wait_for "$TIMEOUT" in_state ||
        fail "standby $name should be streaming/$want under synchronous_standby_names='$SYNC_NAMES'" \
            "but is ${seen:-not connected} after ${TIMEOUT}s"
done
log "commit policy applied (synchronous_standby_names='$SYNC_NAMES', synchronous_commit=$SYNC_COMMIT);" \
    "standbys: ${EXPECTED:-none}"
