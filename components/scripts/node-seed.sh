# Seeds a node's volume, before its container exists. Three cases:
#  - the volume already holds a cluster: kept as it is (the node's role is in it);
#  - no node of the stack exists yet: this is the bootstrap primary, and the image initialises
#    the empty data directory on first start; or, with RESTORE_VOLUME (pg-replication:restore),
#    it is restored from that repository, recovered to the target and promoted (restore.sh);
#  - otherwise: a clone of whichever node is the primary now (found by label and
#    pg_is_in_recovery), with pg_basebackup -R -Xs and a physical slot named after the node,
#    from a throwaway container at the node's own address (the only address the primary
#    accepts replication from for it); with the primary on another engine (PEERS), to its
#    published address and port over TLS with verify-full. The password comes from the passfile the node's passfile
#    command wrote into the volume; it never reaches argv or env.
# This is the seed's create only: its update (node-seed-check.sh) never clones.
# env: STACK_LABELS NETWORK IMAGE VOLUME NODE NODE_ADDRESS REPLICATION_USER HELPER_CONTAINER DOCKER_LABELS [PEERS TLS_DIR]
#      [RESTORE_VOLUME RESTORE_STANZA RESTORE_CONFIG RESTORE_TARGET_TIME RESTORE_TARGET_LSN RESTORE_TARGET_NAME RESTORE_IMAGE AUTH_USER]

clone=$(cat <<'IN_CONTAINER'
set -eu
umask 077
root=/var/lib/postgresql/data
pgdata=$root/pgdata
passfile=$root/replication.pgpass
[ -s "$passfile" ] || { echo "no replication passfile at $passfile" >&2; exit 1; }
# A complete new clone takes the place of an older copy (no server runs on the volume, the host
# side checked): clone_into (clone.sh).
clone_into "$pgdata" "$PRIMARY_ROUTE user=$REPLICATION_USER application_name=$NODE passfile=$passfile" "$NODE"
IN_CONTAINER
)

# shellcheck disable=SC2046
if docker run --rm $(docker_labels) --network none --user postgres -v "$VOLUME:/var/lib/postgresql/data:ro" \
    --entrypoint /bin/sh "$IMAGE" -c 'test -f /var/lib/postgresql/data/pgdata/PG_VERSION'; then
    log "node $NODE: volume $VOLUME already holds a cluster; kept"
    exit 0
fi

find_primary
if [ -z "$PRIMARY_CONTAINER" ]; then
    others=$(node_containers)
    [ -z "$others" ] || fail "node $NODE: no node runs as primary to clone from (nodes: $(echo $others))"
    if [ -z "${RESTORE_VOLUME:-}" ]; then
        log "node $NODE: the first node of the stack; its container initialises the cluster"
        exit 0
    fi
    docker rm -f "$HELPER_CONTAINER" >/dev/null 2>&1 || true
    # shellcheck disable=SC2046
    docker run --rm $(docker_labels) --name "$HELPER_CONTAINER" --network none --user postgres \
        -v "$VOLUME:/var/lib/postgresql/data" -v "$RESTORE_VOLUME:${RESTORE_CONFIG%/*}:ro" \
        -e PGBACKREST_STANZA="$RESTORE_STANZA" -e PGBACKREST_CONFIG="$RESTORE_CONFIG" -e RESTORE_TARGET_TIME="${RESTORE_TARGET_TIME:-}" \
        -e RESTORE_TARGET_LSN="${RESTORE_TARGET_LSN:-}" -e RESTORE_TARGET_NAME="${RESTORE_TARGET_NAME:-}" \
        -e REPLICATION_USER="$REPLICATION_USER" -e AUTH_USER="$AUTH_USER" \
        --entrypoint /bin/sh "$RESTORE_IMAGE" -c "$RESTORE_SH"
    to=${RESTORE_TARGET_TIME:-the end of its archive}
    [ -z "${RESTORE_TARGET_LSN:-}" ] || to="LSN $RESTORE_TARGET_LSN"
    [ -z "${RESTORE_TARGET_NAME:-}" ] || to="restore point $RESTORE_TARGET_NAME"
    log "node $NODE: the first node of the stack, restored from $RESTORE_VOLUME (stanza $RESTORE_STANZA) to $to and promoted"
    exit 0
fi

# A server running on this volume means this is not a fresh seed: refuse rather than swap its
# data under it.
users=$(docker ps -a --filter "volume=$VOLUME" --format '{{.Names}}')
[ -z "$users" ] || fail "volume $VOLUME is in use by $users; a node is cloned only into a volume no container uses"

docker rm -f "$HELPER_CONTAINER" >/dev/null 2>&1 || true
# A slot left by an attempt that failed after creating it would make --create-slot fail.
primary_sql "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
             WHERE slot_name = '$NODE' AND NOT active" >/dev/null
primary_route=$(route "$NODE" "$PRIMARY_NAME" "$PRIMARY_ADDRESS")
via=
case $primary_route in *sslmode=*) via=", over TLS at ${primary_route%% sslrootcert=*}" ;; esac
# shellcheck disable=SC2046
docker run --rm $(docker_labels) --name "$HELPER_CONTAINER" --network "$NETWORK" --ip "$NODE_ADDRESS" \
    --user postgres -v "$VOLUME:/var/lib/postgresql/data" \
    -e PRIMARY_ROUTE="$primary_route" -e REPLICATION_USER="$REPLICATION_USER" -e NODE="$NODE" \
    --entrypoint /bin/sh "$IMAGE" -c "$STANDBY_CONF_SH
$CLONE_SH
$clone"
log "node $NODE: cloned $PRIMARY_CONTAINER ($PRIMARY_ADDRESS$via) into volume $VOLUME with slot $NODE"
