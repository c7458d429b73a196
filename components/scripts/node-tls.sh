# Writes the node's TLS key, certificate and the stack's CA certificate into its volume, outside
# the data directory, owned by postgres and readable only by it (the server refuses a key others
# can read). They arrive on stdin, PEM, one after the other (key, certificate, CA); the throwaway
# container has no network. Create and update alike: a new certificate only rewrites the files,
# which the server reads again on reload.
# env: IMAGE VOLUME NODE DOCKER_LABELS TLS_DIR

# shellcheck disable=SC2046
docker run --rm -i $(docker_labels) --network none --user postgres -v "$VOLUME:/var/lib/postgresql/data" \
    -e TLS_DIR="$TLS_DIR" --entrypoint /bin/sh "$IMAGE" -c '
set -eu
umask 077
mkdir -p "$TLS_DIR"
awk -v dir="$TLS_DIR" '"'"'
    BEGIN { split("server.key.new server.crt.new ca.crt.new", files, " "); n = 1 }
    { print > (dir "/" files[n]) }
    /^-----END / { close(dir "/" files[n]); n++ }
    END { if (n != 4) { print "expected a key, a certificate and a CA certificate on stdin" > "/dev/stderr"; exit 1 } }'"'"'
for f in server.key server.crt ca.crt; do mv "$TLS_DIR/$f.new" "$TLS_DIR/$f"; done'
log "node $NODE: TLS key, certificate and CA written to volume $VOLUME"
