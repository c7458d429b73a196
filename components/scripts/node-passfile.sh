# Writes the replication passfile into a node's volume, outside the data directory, readable
# only by postgres: the seed's clone reads it, and the node reads it at every (re)connect while
# it is a standby. Every node has one, since any node can become a standby. Create and update
# alike: a new password only rewrites this file. The line arrives on stdin; the throwaway
# container has no network and touches nothing but the passfile.
# env: IMAGE VOLUME NODE DOCKER_LABELS

# shellcheck disable=SC2046
docker run --rm -i $(docker_labels) --network none --user postgres -v "$VOLUME:/var/lib/postgresql/data" \
    --entrypoint /bin/sh "$IMAGE" -c '
set -eu
umask 077
passfile=/var/lib/postgresql/data/replication.pgpass
cat > "$passfile.new"
[ -s "$passfile.new" ] || { rm -f "$passfile.new"; echo "no passfile line on stdin" >&2; exit 1; }
mv "$passfile.new" "$passfile"'
log "node $NODE: replication passfile written to volume $VOLUME"
