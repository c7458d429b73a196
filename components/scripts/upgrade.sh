# A major upgrade's step (components/topology/upgrade.ts; README "A new major"). Runs on every
# image change, before the declared primary's container is replaced, and does nothing unless the
# primary's data is of an older major than IMAGE's server. Then: the primary's transactions checked
# (none older than the bound), its server stopped cleanly, the standby KEEP waited for until it has
# replayed the shutdown checkpoint and marked as the copy to keep (its seed moves its old data aside
# instead of deleting it), and the data upgraded in place by pg_upgrade --link in a throwaway
# container of the upgrade image (pg-replication/postgres-upgrade:<old>-<new>, images/upgrade;
# pg-upgrade.sh upgrade_data). The container replaced next starts the
# new major on it; the standbys are cloned again from it by their seeds (node-seed-check.sh).
# When anything fails before the new server has started, the old cluster is whole (upgrade_data
# gives it back), its container is started again, and the up fails saying why: nothing is lost.
# With backups on (BACKUP_VOLUME set), every commit of the old major reaches the repository by the
# clean stop itself: a primary that archives switches to a new segment before its shutdown
# checkpoint and its archiver makes a last pass (PostgreSQL's xlog.c ShutdownXLOG), so only the
# checkpoint record stays unarchived. The stop is checked for that (no segment left .ready: an
# archive failing then would leave a gap no archive_command fills after the upgrade). Once the
# data is upgraded, before the new server starts, the stanza is upgraded (upgrade_repository:
# pgBackRest's stanza-upgrade --no-online with the new image's pgBackRest), so the new server's
# first segments archive at once. An up that stopped in between does it on the next up, before
# the container is replaced (stanza-upgrade of an upgraded stanza changes nothing).
# Runs on the primary's engine; with nodes on several engines (PEERS) the kept standby is reached
# on its own (lib.sh dk).
# env: NODE NODE_CONTAINER VOLUME IMAGE KEEP_CONTAINER LONG_TX_SQL SETTINGS_SQL TIMEOUT DOCKER_LABELS HELPER_CONTAINER
#      [BACKUP_VOLUME REPO_PATH STANZA CONFIG_FILE [REPO_NETWORK]] [PEERS]
# (LONG_TX_SQL and SETTINGS_SQL: roll.ts longTransactionsSql and upgrade.ts CLUSTER_SETTINGS_SQL, as preview asks them)

data=/var/lib/postgresql/data

# Nothing to upgrade in a cluster not made yet, on a container of IMAGE already (a switchover, a
# changed bound: one look), or whose primary's data is already of IMAGE's major.
# Only the engine saying so is "no container": an engine error would otherwise let the new major's
# image replace the primary's container on the old major's data, and the next up see IMAGE there.
looked=0
current=$(inspect_field "$NODE_CONTAINER" '{{.Config.Image}}' 2>&1) || looked=$?
case $looked in
    0) ;;
    1) log "node $NODE: no container yet; no major upgrade"; exit 0 ;;
    *) fail "node $NODE: whether its container $NODE_CONTAINER exists could not be read ($current), so whether a major upgrade is due is not known" ;;
esac
[ "$current" != "$IMAGE" ] || { log "node $NODE runs $IMAGE already; no major upgrade"; exit 0; }
new_major=$(docker run --rm --pull never --network none --entrypoint postgres "$IMAGE" --version | server_major)
[ -n "$new_major" ] || fail "$IMAGE is not a PostgreSQL server image (postgres --version)"
# The data's major, and the old cluster's directory an upgrade leaves until it is finished.
# shellcheck disable=SC2046
found=$(docker run --rm $(docker_labels) --network none --user postgres -v "$VOLUME:$data:ro" --entrypoint sh "$IMAGE" \
    -c 'if [ -f "$0/pgdata/PG_VERSION" ]; then cat "$0/pgdata/PG_VERSION" && { ls -d "$0"/pgdata.*-old 2>/dev/null || true; }
        else echo none; fi' "$data") ||
    fail "node $NODE: what volume $VOLUME holds could not be read (above), so whether a major upgrade is due is not known"
[ "$found" != none ] || { log "node $NODE: no cluster in $VOLUME; no major upgrade"; exit 0; }
old_major=$(printf '%s\n' "$found" | head -n 1) left=$(printf '%s\n' "$found" | sed -n '2p')

# upgrade_repository: the backup repository's stanza brought to the upgraded data (see above).
upgrade_repository() {
    [ -n "${BACKUP_VOLUME:-}" ] || return 0
    # shellcheck disable=SC2046
    out=$(docker run --rm $(docker_labels) --network "${REPO_NETWORK:-none}" --user postgres -v "$VOLUME:$data:ro" -v "$BACKUP_VOLUME:$REPO_PATH" \
        -e "PGBACKREST_STANZA=$STANZA" -e "PGBACKREST_CONFIG=$CONFIG_FILE" --entrypoint pgbackrest "$IMAGE" --no-online stanza-upgrade 2>&1) ||
        fail "pgBackRest's stanza-upgrade of $STANZA for PostgreSQL $new_major failed in $IMAGE: $out
the data is upgraded and the old cluster's copy kept; run up again once the repository takes writes"
    log "backup repository: the stanza $STANZA upgraded to PostgreSQL $new_major (pgbackrest stanza-upgrade)"
}

if [ "$old_major" -ge "$new_major" ]; then
    # The data upgraded by an up that stopped before the container was replaced: the repository too, now.
    [ "$old_major" != "$new_major" ] || [ -z "$left" ] || upgrade_repository
    log "node $NODE: its data is PostgreSQL $old_major, as $IMAGE; no major upgrade"
    exit 0
fi

# The image of both majors' binaries (scripts/build-images.sh --upgrade), as preview named it.
upgrade_image=pg-replication/postgres-upgrade:$old_major-$new_major
# Only the engine saying so is "not on this engine": "No such image", the CLI's error (its last line,
# as inspect_field reads "no such container"); any other failure is the engine not answering, in its words.
present=0
why=$(docker image inspect "$upgrade_image" 2>&1 >/dev/null) || present=$?
if [ "$present" -ne 0 ]; then
    why=$(printf '%s\n' "$why" | last_line)
    printf '%s' "$why" | grep -qi 'no such image' ||
        fail "node $NODE: its engine did not answer whether the upgrade image $upgrade_image is on it (${why:-docker image inspect exited $present}); nothing was stopped"
    fail "$upgrade_image is not on this engine: build it (scripts/build-images.sh --upgrade $old_major $new_major); nothing was stopped"
fi
running "$NODE_CONTAINER" || fail "node $NODE holds PostgreSQL $old_major data and is not running: start it (the upgrade stops it cleanly itself)"
[ "$(node_sql "$NODE_CONTAINER" "SELECT pg_is_in_recovery()")" = f ] ||
    fail "node $NODE is not the primary: the upgrade runs on the primary, with the standbys cloned again from it"
long=$(node_sql "$NODE_CONTAINER" "$LONG_TX_SQL")
[ -z "$long" ] || fail "upgrade refused, nothing was stopped: transactions on $NODE older than rollMaxTransactionSeconds (pid|user|seconds|state|query):
$long"
settings=$(node_sql "$NODE_CONTAINER" "$SETTINGS_SQL")
IFS='|' read -r encoding collate ctype checksums <<EOF
$settings
EOF

# start_again WHY: the old primary back on its own data, then the up fails with WHY. Also on any
# other way out once the primary is stopped (an unexpected error), unless its data was upgraded.
restarted= upgraded=
start_again() {
    restarted=1
    docker start "$NODE_CONTAINER" >/dev/null
    wait_for "$TIMEOUT" node_sql "$NODE_CONTAINER" "SELECT 1" >/dev/null 2>&1 ||
        fail "$1; and the old primary $NODE did not answer again within ${TIMEOUT}s: see docker logs $NODE_CONTAINER"
    fail "$1; nothing is lost: the old primary $NODE runs PostgreSQL $old_major again on its own data"
}

started=$(date +%s)
log "node $NODE: writes stop now: PostgreSQL $old_major to $new_major (pg_upgrade --link)"
trap '[ -n "$restarted" ] || [ -n "$upgraded" ] || { docker start "$NODE_CONTAINER" >/dev/null 2>&1; log "the old primary $NODE was started again"; }' EXIT
docker stop -t 120 "$NODE_CONTAINER" >/dev/null
# shellcheck disable=SC2046
control=$(docker run --rm $(docker_labels) --network none --user postgres -v "$VOLUME:$data:ro" --entrypoint sh "$upgrade_image" \
    -c '"$0" "$1" && echo "Segments not archived: $(ls "$1/pg_wal/archive_status" | grep -c "[.]ready$")"' \
    "/usr/lib/postgresql/$old_major/bin/pg_controldata" "$data/pgdata") ||
    start_again "the upgrade image $upgrade_image could not read $NODE's control file"
printf '%s\n' "$control" | grep -q '^Database cluster state: *shut down$' ||
    start_again "$NODE did not shut down cleanly"
unarchived=$(printf '%s\n' "$control" | sed -n 's/^Segments not archived: //p')
[ -z "${BACKUP_VOLUME:-}" ] || [ "$unarchived" = 0 ] ||
    start_again "$NODE stopped with $unarchived WAL segments not archived, which would never reach the backup repository after the upgrade: see npm run status"
checkpoint=$(printf '%s\n' "$control" | sed -n 's/^Latest checkpoint location: *//p')

# The copy kept until the new cluster has every standby: the standby that replayed the primary's
# shutdown checkpoint, i.e. everything the old primary ever acknowledged.
# It may be on another engine: each call to it bounded (ask_node); one past its bound gives up at
# once, the primary started again (writes are stopped meanwhile), said so; the mark also on an error
# (ask_or_fail --with start_again).
if [ -n "${KEEP_CONTAINER:-}" ]; then
    replayed() {
        _rp_rc=0
        _rp=$(ask_node node_sql "$KEEP_CONTAINER" "SELECT pg_last_wal_replay_lsn() >= '$checkpoint'" 2>/dev/null) || _rp_rc=$?
        [ "$_rp_rc" -ne 124 ] ||
            start_again "the standby $(no_answer "$KEEP_CONTAINER"), so whether it replayed $NODE's shutdown checkpoint ($checkpoint) is not known"
        [ "$_rp_rc" -eq 0 ] && [ "$_rp" = t ]
    }
    wait_for "$TIMEOUT" replayed || start_again "the standby $KEEP_CONTAINER has not replayed $NODE's shutdown checkpoint ($checkpoint) within ${TIMEOUT}s"
    ask_or_fail --with start_again "$KEEP_CONTAINER (the standby to keep)" "whether it is marked as the copy to keep" "" \
        dk "$KEEP_CONTAINER" exec -u postgres "$KEEP_CONTAINER" touch "$data/upgrade-keep"
fi

docker rm -f -v "$HELPER_CONTAINER" >/dev/null 2>&1 || true
# pg_upgrade is not bounded: it runs on this command's own engine (the primary's) and takes as long as
# the catalog and the --link of every file do; cut short it would leave the old cluster to upgrade_data's
# own giving back, which only runs when it ends.
# shellcheck disable=SC2046
if ! docker run --rm $(docker_labels) --name "$HELPER_CONTAINER" --network none --user postgres -v "$VOLUME:$data" \
    -e OLD_MAJOR="$old_major" -e NEW_MAJOR="$new_major" -e ENCODING="$encoding" -e COLLATE="$collate" -e CTYPE="$ctype" \
    -e CHECKSUMS="$checksums" --entrypoint /bin/sh "$upgrade_image" -c "set -eu
$PG_UPGRADE_SH
upgrade_data"; then
    # The mark taken back, bounded as above; one left (no answer) only keeps the standby's old copy beside
    # its next clone until upgrade-finish.sh removes it, so the primary is started again either way.
    unmarked=0
    [ -z "${KEEP_CONTAINER:-}" ] || ask_node dk "$KEEP_CONTAINER" exec -u postgres "$KEEP_CONTAINER" rm -f "$data/upgrade-keep" || unmarked=$?
    [ "$unmarked" -ne 124 ] || log "the standby $(no_answer "$KEEP_CONTAINER"): its mark $data/upgrade-keep may stay"
    start_again "pg_upgrade from PostgreSQL $old_major to $new_major failed on $NODE (its output above)"
fi
upgraded=1
upgrade_repository
log "node $NODE: its data is PostgreSQL $new_major after $(( $(date +%s) - started )) s (pg_upgrade --link); its container is replaced next"
