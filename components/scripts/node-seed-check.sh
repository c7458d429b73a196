# The seed's update. Its inputs changed (image tag, names, these scripts), but a node that has
# data keeps it: seeding again is a replacement (its triggers), never an update. This checks,
# read-only and off the network, that the volume still holds a cluster, of IMAGE's major.
# One case clones: the primary already runs IMAGE's major and this node's data is of another one,
# which no server of IMAGE can start. Older: a major upgrade (upgrade.sh) cloning its standbys
# again. Newer: an upgrade given up by config (image set back after the new major's primary failed
# to come up, and a failover to a standby still on the old major; README "A new major"). Its
# container is stopped and the node cloned again from the primary (clone_node). Older data is
# deleted, or kept beside as pgdata.<major>-old on the standby the upgrade marked (upgrade-keep),
# until the upgrade's last step (upgrade-finish.sh) has seen every node on the new major. Newer
# data is always kept beside, as pgdata.<major>-reverted-<time>, and never removed by the stack:
# the failed upgrade's primary may hold what nobody else has (README says how to look and delete).
# env: IMAGE VOLUME NODE DOCKER_LABELS STACK_LABELS NETWORK NODE_ADDRESS REPLICATION_USER HELPER_CONTAINER [PEERS TLS_DIR]

# shellcheck disable=SC2046
found=$(docker run --rm $(docker_labels) --network none --user postgres -v "$VOLUME:/var/lib/postgresql/data:ro" \
    --entrypoint /bin/sh "$IMAGE" -c 'cat /var/lib/postgresql/data/pgdata/PG_VERSION &&
        { ! test -f /var/lib/postgresql/data/upgrade-keep || echo keep; postgres --version; }') ||
    fail "node $NODE: volume $VOLUME holds no cluster (pgdata/PG_VERSION is missing); replace the seed to clone it again"
data_major=$(printf '%s\n' "$found" | head -n 1)
image_major=$(printf '%s\n' "$found" | server_major)
if [ "$data_major" = "$image_major" ] || [ -z "$image_major" ]; then
    log "node $NODE: the seed's inputs changed; its data in $VOLUME is kept"
    exit 0
fi

find_primary
[ -n "$PRIMARY_CONTAINER" ] || fail "node $NODE holds PostgreSQL $data_major data and $IMAGE runs $image_major, and no node runs as primary to clone it from"
[ "$PRIMARY_NAME" != "$NODE" ] || fail "node $NODE is the primary and holds PostgreSQL $data_major data: its upgrade (upgrade.sh) has not run"
# The primary may be on another engine: bounded, and past it or on an error said so (ask_or_fail; its
# fail ends only the $(...), and the plain assignment then ends the script: set -e).
primary_major=$(ask_or_fail "$PRIMARY_CONTAINER (the primary $PRIMARY_NAME)" "its major" "node $NODE not cloned" \
    primary_sql "SELECT current_setting('server_version_num')::int / 10000")
[ "$primary_major" = "$image_major" ] ||
    fail "node $NODE holds PostgreSQL $data_major data and $IMAGE runs $image_major, but the primary $PRIMARY_NAME runs $primary_major: the primary is upgraded first"
KEEP_AS=
case $found in *keep*) KEEP_AS=pgdata.$data_major-old ;; esac
[ "$data_major" -lt "$image_major" ] || KEEP_AS=pgdata.$data_major-reverted-$(date -u +%Y%m%dT%H%M%SZ)
# shellcheck disable=SC2046
docker stop -t 60 $(docker ps -q --filter "volume=$VOLUME") >/dev/null 2>&1 || true
log "node $NODE: PostgreSQL $data_major data under a primary on $image_major: cloned again${KEEP_AS:+, its data kept as $KEEP_AS}"
clone_node
