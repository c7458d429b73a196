# Writes the replication passfile into a standby's volume, outside the data directory, readable
# only by postgres: the clone reads it, and the standby reads it at every (re)connect. Create and
# update alike: a new password only rewrites this file. The line arrives on stdin; the throwaway
# container has no network and touches nothing but the passfile.
# env: IMAGE VOLUME SLOT DOCKER_LABELS

set --
for label in $DOCKER_LABELS; do set -- "$@" --label "$label"; done
docker run --rm -i "$@" --network none --user postgres -v "$VOLUME:/var/lib/postgresql/data" \
    --entrypoint /bin/sh "$IMAGE" -c '
set -eu
umask 077
passfile=/var/lib/postgresql/data/replication.pgpass
cat > "$passfile.new"
[ -s "$passfile.new" ] || { rm -f "$passfile.new"; echo "no passfile line on stdin" >&2; exit 1; }
mv "$passfile.new" "$passfile"'
log "standby $SLOT: replication passfile written to volume $VOLUME"
