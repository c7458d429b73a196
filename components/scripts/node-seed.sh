# Seeds a node's volume, before its container exists. Three cases:
#  - the volume already holds a cluster: kept as it is (the node's role is in it);
#  - no node of the stack exists yet: this is the bootstrap primary, and the image initialises
#    the empty data directory on first start; or, with RESTORE_VOLUME (pg-replication:restore),
#    it is restored from that repository, recovered to the target and promoted (restore.sh), off
#    the network unless the repository is in S3;
#  - otherwise: a clone of whichever node is the primary now (found by label and
#    pg_is_in_recovery), with pg_basebackup -R -Xs and a physical slot named after the node,
#    from a throwaway container at the node's own address (the only address the primary
#    accepts replication from for it); with the primary on another engine (PEERS), to its
#    published address and port over TLS with verify-full. The password comes from the passfile the node's passfile
#    command wrote into the volume; it never reaches argv or env.
# This is the seed's create only: its update (node-seed-check.sh) clones only in a major upgrade.
# env: STACK_LABELS NETWORK IMAGE VOLUME NODE NODE_ADDRESS REPLICATION_USER HELPER_CONTAINER DOCKER_LABELS [PEERS TLS_DIR]
#      [RESTORE_VOLUME RESTORE_STANZA RESTORE_CONFIG RESTORE_TARGET_TIME RESTORE_TARGET_LSN RESTORE_TARGET_NAME RESTORE_IMAGE AUTH_USER]


# What the volume holds: a cluster, a restore that did not finish (restore.sh's note: it failed,
# or the up was cancelled, mid-way), or nothing. Asked so that a failed look is not taken for an
# empty volume.
# shellcheck disable=SC2046,SC2016
holds=$(docker run --rm $(docker_labels) --network none --user postgres -v "$VOLUME:/var/lib/postgresql/data:ro" \
    --entrypoint /bin/sh "$IMAGE" -c 'if [ -e /var/lib/postgresql/data/restore-incomplete ]; then echo restore-incomplete
        elif [ -f /var/lib/postgresql/data/pgdata/PG_VERSION ]; then echo cluster; else echo none; fi') ||
    fail "node $NODE: what volume $VOLUME holds could not be read (above), so it is neither seeded nor kept"
case $holds in
    cluster) log "node $NODE: volume $VOLUME already holds a cluster; kept"; exit 0 ;;
    restore-incomplete)
        # Only ever a copy from the repository that never served a client (restore.sh keeps it off
        # the network until its clean stop): started again from the repository, never started as is.
        [ -n "${RESTORE_VOLUME:-}" ] || fail "node $NODE: volume $VOLUME holds a restore that did not finish, and" \
            "pg-replication:restore is not set any more: set it again and run up to finish it, or remove the volume"
        # The helper of a cancelled up may still be restoring into the volume: removed before it is
        # cleared, and so not again before the restore below.
        docker rm -f -v "$HELPER_CONTAINER" >/dev/null 2>&1 || true
        # shellcheck disable=SC2046
        docker run --rm $(docker_labels) --network none --user postgres -v "$VOLUME:/var/lib/postgresql/data" \
            --entrypoint /bin/sh "$IMAGE" -c 'rm -rf /var/lib/postgresql/data/pgdata && rm /var/lib/postgresql/data/restore-incomplete' ||
            fail "node $NODE: the restore that did not finish in volume $VOLUME could not be cleared (above)"
        log "node $NODE: volume $VOLUME held a restore that did not finish: cleared, restored again" ;;
    none) ;;
    *) fail "node $NODE: what volume $VOLUME holds could not be read: $holds" ;;
esac

find_primary
if [ -z "$PRIMARY_CONTAINER" ]; then
    others=$(node_containers)
    [ -z "$others" ] || fail "node $NODE: no node runs as primary to clone from (nodes: $(echo $others))"
    if [ -z "${RESTORE_VOLUME:-}" ]; then
        log "node $NODE: the first node of the stack; its container initialises the cluster"
        exit 0
    fi
    [ "$holds" = restore-incomplete ] || docker rm -f -v "$HELPER_CONTAINER" >/dev/null 2>&1 || true
    # A repository in S3 (its settings say so; the volume holds only them) is reached over the engine's bridge.
    # shellcheck disable=SC2016
    restore_network=$(docker run --rm --network none -v "$RESTORE_VOLUME:${RESTORE_CONFIG%/*}:ro" --entrypoint /bin/sh "$RESTORE_IMAGE" \
        -c 'grep -q "^repo1-type=s3\$" "$0" && echo bridge || echo none' "$RESTORE_CONFIG")
    # shellcheck disable=SC2046
    docker run --rm $(docker_labels) --name "$HELPER_CONTAINER" --network "${restore_network:-none}" --user postgres \
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
clone_node
