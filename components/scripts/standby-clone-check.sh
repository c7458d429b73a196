# The clone's update. Its inputs changed (image tag, names, these scripts), but a standby that
# has been cloned keeps its data: cloning again is a replacement (its triggers), never an update.
# This only checks, read-only and off the network, that the volume still holds a cluster.
# env: IMAGE VOLUME SLOT DOCKER_LABELS

set --
for label in $DOCKER_LABELS; do set -- "$@" --label "$label"; done
if ! docker run --rm "$@" --network none --user postgres -v "$VOLUME:/var/lib/postgresql/data:ro" \
    --entrypoint /bin/sh "$IMAGE" -c 'test -f /var/lib/postgresql/data/pgdata/PG_VERSION'; then
    fail "standby $SLOT: volume $VOLUME holds no cluster (pgdata/PG_VERSION is missing); replace the clone to clone it again"
fi
log "standby $SLOT: the clone's inputs changed; its data in $VOLUME is kept"
