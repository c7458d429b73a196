# The seed's update. Its inputs changed (image tag, names, these scripts), but a node that has
# data keeps it: seeding again is a replacement (its triggers), never an update. This only
# checks, read-only and off the network, that the volume still holds a cluster.
# env: IMAGE VOLUME NODE DOCKER_LABELS

# shellcheck disable=SC2046
if ! docker run --rm $(docker_labels) --network none --user postgres -v "$VOLUME:/var/lib/postgresql/data:ro" \
    --entrypoint /bin/sh "$IMAGE" -c 'test -f /var/lib/postgresql/data/pgdata/PG_VERSION'; then
    fail "node $NODE: volume $VOLUME holds no cluster (pgdata/PG_VERSION is missing); replace the seed to clone it again"
fi
log "node $NODE: the seed's inputs changed; its data in $VOLUME is kept"
