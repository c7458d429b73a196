# Makes the declared primary the actual one. The role of a node is state in its data directory,
# so this asks every running node (pg_is_in_recovery) instead of trusting stored inputs. When the
# declared primary already is the only primary, nothing happens. When another node is primary,
# this is a switchover, in an order that loses no acknowledged commit:
#   1. checks: the target streams from the current primary, on its timeline, its replay is not
#      paused and at most MAX_LAG_BYTES behind;
#   2. on the target, still a standby: a slot for every other node and the commit policy, so
#      both are in place the moment it is promoted;
#   3. the old primary stopped cleanly (`docker stop -t 60`: fast shutdown; a container stopped
#      this way is not restarted by its `unless-stopped` policy), its shutdown checkpoint read
#      from its volume (pg_controldata), and the target waited for until it has replayed it: it
#      then holds every commit the old primary ever acknowledged;
#   4. the target promoted (pg_promote);
#   5. every other running standby repointed with ALTER SYSTEM SET primary_conninfo and a reload
#      (reloadable from PostgreSQL 13, no restart);
#   6. the old primary rewritten as a standby of the new one in its own volume (standby.signal,
#      primary_conninfo with the passfile, primary_slot_name, no commit policy), through a
#      throwaway container without network, and started; if it cannot follow, pg_rewind; if that
#      fails too, a fresh clone (said in the output);
#   7. gates: every running standby streams from the new primary in its promised sync_state.
# If the old primary has not been stopped yet when a check fails, nothing has changed. If the
# target does not replay the shutdown checkpoint, the old primary is started again as it was.
# env: NODES ("name:container:address:volume ...") PRIMARY SYNC_NAMES SYNC_COMMIT EXPECTED ("name=state ...")
#      MAX_LAG_BYTES REPLICATION_USER IMAGE NETWORK DOCKER_LABELS TIMEOUT

PASSFILE=/var/lib/postgresql/data/replication.pgpass
PGDATA_IN_VOLUME=/var/lib/postgresql/data/pgdata
STOP_SECONDS=60

# field NAME INDEX: one field (1 container, 2 address, 3 volume) of a node in NODES.
field() {
    for _entry in $NODES; do
        if [ "${_entry%%:*}" = "$1" ]; then
            echo "$_entry" | cut -d: -f$(( $2 + 1 ))
            return 0
        fi
    done
    return 1
}
names() { for _entry in $NODES; do printf '%s\n' "${_entry%%:*}"; done; }

conninfo() { # conninfo PRIMARY_ADDRESS NODE
    printf 'host=%s port=5432 user=%s application_name=%s passfile=%s' "$1" "$REPLICATION_USER" "$2" "$PASSFILE"
}

# Which nodes run, and which of them is primary.
primaries=
for name in $(names); do
    container=$(field "$name" 1)
    if running "$container" && [ "$(node_sql "$container" "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ]; then
        primaries="$primaries $name"
    fi
done
set -- $primaries
if [ $# -gt 1 ]; then
    fail "more than one node runs as primary:$primaries; stop all but one before running up again"
fi
if [ $# -eq 0 ]; then
    fail "no node runs as primary (nodes: $(names | tr '\n' ' ')); the declared primary $PRIMARY cannot be" \
        "made primary by a switchover"
fi
old=$1
if [ "$old" = "$PRIMARY" ]; then
    log "$PRIMARY is the primary; nothing to switch"
    exit 0
fi

new=$PRIMARY
oc=$(field "$old" 1) oa=$(field "$old" 2) ov=$(field "$old" 3)
nc=$(field "$new" 1) na=$(field "$new" 2)
log "switchover: $new ($nc) becomes the primary, $old ($oc) a standby of it"

# 1. checks, before anything changes.
running "$nc" || fail "switchover refused: $new ($nc) is not running"
[ "$(node_sql "$nc" "SELECT pg_is_wal_replay_paused()")" = f ] ||
    fail "switchover refused: replay on $new is paused (SELECT pg_wal_replay_resume() on it, then run up again)"
receiver=$(node_sql "$nc" "SELECT status || ' ' || coalesce(sender_host, '') || ' ' || received_tli FROM pg_stat_wal_receiver")
set -- $receiver
[ "${1:-}" = streaming ] && [ "${2:-}" = "$oa" ] ||
    fail "switchover refused: $new is not streaming from $old ($oa): its WAL receiver reports '${receiver:-none}'"
tli=$(node_sql "$oc" "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int")
[ "$3" = "$tli" ] || fail "switchover refused: $new is on timeline $3, $old on timeline $tli"
replayed=$(node_sql "$nc" "SELECT pg_last_wal_replay_lsn()")
lag=$(node_sql "$oc" "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$replayed')::bigint")
[ "$lag" -le "$MAX_LAG_BYTES" ] ||
    fail "switchover refused: $new has replayed up to $replayed, $lag bytes behind $old (more than $MAX_LAG_BYTES)"

# 2. slots and the commit policy on the target while it is still a standby.
for name in $(names); do
    [ "$name" = "$new" ] && continue
    node_sql "$nc" "SELECT pg_create_physical_replication_slot('$name', true)
                    WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$name')" >/dev/null
done
node_sql "$nc" >/dev/null <<SQL
ALTER SYSTEM SET synchronous_standby_names = '$SYNC_NAMES';
ALTER SYSTEM SET synchronous_commit = '$SYNC_COMMIT';
SELECT pg_reload_conf();
SQL

# 3. the old primary stopped cleanly; the target replays its shutdown checkpoint.
docker stop -t "$STOP_SECONDS" "$oc" >/dev/null
control=$(docker run --rm $(docker_labels) --network none --user postgres -v "$ov:/var/lib/postgresql/data:ro" \
    --entrypoint pg_controldata "$IMAGE" "$PGDATA_IN_VOLUME")
state=$(printf '%s\n' "$control" | sed -n 's/^Database cluster state: *//p')
checkpoint=$(printf '%s\n' "$control" | sed -n 's/^Latest checkpoint location: *//p')
if [ "$state" != "shut down" ]; then
    docker start "$oc" >/dev/null
    fail "switchover aborted: $old did not shut down cleanly (cluster state '$state'); it was started again as primary"
fi
has_checkpoint() { [ "$(node_sql "$nc" "SELECT pg_last_wal_replay_lsn() > '$checkpoint'::pg_lsn")" = t ]; }
if ! wait_for "$TIMEOUT" has_checkpoint; then
    docker start "$oc" >/dev/null
    fail "switchover aborted: $new did not replay $old's shutdown checkpoint $checkpoint within ${TIMEOUT}s" \
        "(replayed: $(node_sql "$nc" "SELECT pg_last_wal_replay_lsn()")); $old was started again as primary"
fi

# 4. promotion.
[ "$(node_sql "$nc" "SELECT pg_promote(true, $TIMEOUT)")" = t ] || fail "$new did not finish promotion within ${TIMEOUT}s"

# 5. the other standbys follow the new primary, by reload.
for name in $(names); do
    { [ "$name" = "$new" ] || [ "$name" = "$old" ]; } && continue
    container=$(field "$name" 1)
    if ! running "$container"; then
        log "$name ($container) is not running; it is not repointed"
        continue
    fi
    node_sql "$container" >/dev/null <<SQL
ALTER SYSTEM SET primary_conninfo = '$(conninfo "$na" "$name")';
ALTER SYSTEM SET primary_slot_name = '$name';
SELECT pg_reload_conf();
SQL
done

# 6. the old primary rejoins as a standby of the new one.
as_standby=$(cat <<IN_CONTAINER
set -eu
cd $PGDATA_IN_VOLUME
touch standby.signal
grep -v -E '^(primary_conninfo|primary_slot_name|synchronous_standby_names|synchronous_commit) ' postgresql.auto.conf > auto.new || true
printf "primary_conninfo = '%s'\nprimary_slot_name = '%s'\n" '$(conninfo "$na" "$old")' '$old' >> auto.new
mv auto.new postgresql.auto.conf
IN_CONTAINER
)
rewrite() {
    docker run --rm $(docker_labels) --network none --user postgres -v "$ov:/var/lib/postgresql/data" \
        --entrypoint /bin/sh "$IMAGE" -c "$as_standby"
}
follows() {
    [ "$(node_sql "$nc" "SELECT state FROM pg_stat_replication WHERE application_name = '$old'")" = streaming ]
}
FOLLOW_SECONDS=${FOLLOW_SECONDS:-30}
rewrite
docker start "$oc" >/dev/null
how="after its clean shutdown, without a rewind"
if ! wait_for "$FOLLOW_SECONDS" follows; then
    log "$old does not follow $new after ${FOLLOW_SECONDS}s; rewinding it with pg_rewind"
    docker stop -t "$STOP_SECONDS" "$oc" >/dev/null
    # pg_rewind reads the source's control file, which promotion updates only at its checkpoint.
    node_sql "$nc" "CHECKPOINT" >/dev/null
    node_sql "$nc" >/dev/null <<SQL
GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO "$REPLICATION_USER";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO "$REPLICATION_USER";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO "$REPLICATION_USER";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO "$REPLICATION_USER";
SQL
    source="host=$na port=5432 user=$REPLICATION_USER dbname=postgres passfile=$PASSFILE"
    if docker run --rm $(docker_labels) --network "$NETWORK" --ip "$oa" --user postgres \
        -v "$ov:/var/lib/postgresql/data" --entrypoint pg_rewind "$IMAGE" \
        --target-pgdata="$PGDATA_IN_VOLUME" --source-server="$source" >&2 && rewrite && docker start "$oc" >/dev/null &&
        wait_for "$FOLLOW_SECONDS" follows; then
        how="after pg_rewind"
    else
        log "pg_rewind did not bring $old back; LAST RESORT: $old is cloned afresh from $new (its data is replaced)"
        docker stop -t "$STOP_SECONDS" "$oc" >/dev/null
        node_sql "$nc" "SELECT pg_drop_replication_slot('$old') FROM pg_replication_slots WHERE slot_name = '$old' AND NOT active" >/dev/null
        docker run --rm $(docker_labels) --network "$NETWORK" --ip "$oa" --user postgres \
            -v "$ov:/var/lib/postgresql/data" --entrypoint /bin/sh "$IMAGE" -c "
set -eu
rm -rf $PGDATA_IN_VOLUME.clone
pg_basebackup -D $PGDATA_IN_VOLUME.clone -X stream -C -S $old -c fast -d '$(conninfo "$na" "$old")'
rm -rf $PGDATA_IN_VOLUME
mv $PGDATA_IN_VOLUME.clone $PGDATA_IN_VOLUME" >&2
        rewrite
        docker start "$oc" >/dev/null
        wait_for "$TIMEOUT" follows || fail "$old does not follow $new even after a fresh clone"
        how="after a FRESH CLONE (last resort)"
    fi
fi
# Slots the old primary kept for its standbys would hold WAL on it now that nobody uses them.
node_sql "$oc" "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active" >/dev/null ||
    log "the old slots on $old could not be dropped; drop them by hand (SELECT * FROM pg_replication_slots on $oc)"

# 7. gates.
for pair in $EXPECTED; do
    name=${pair%%=*} want=${pair#*=} seen=
    if ! running "$(field "$name" 1)"; then
        log "$name is not running; not waited for"
        continue
    fi
    in_state() {
        seen=$(node_sql "$nc" "SELECT state || '/' || sync_state FROM pg_stat_replication WHERE application_name = '$name'") || seen=
        [ "$seen" = "streaming/$want" ]
    }
    wait_for "$TIMEOUT" in_state ||
        fail "after the switchover, $name should stream from $new as $want but is ${seen:-not connected} after ${TIMEOUT}s"
done
log "switchover done: $new is the primary; $old rejoined as its standby $how; standbys: ${EXPECTED:-none}"
