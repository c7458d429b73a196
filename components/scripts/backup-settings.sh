# Writes pgBackRest's settings file into the repository volume, through a throwaway container of
# the backup image without a network (as postgres: the image makes the repository path postgres's
# in a new volume). Every node reads the file at each archive-push, so a changed setting takes
# effect without restarting any node.
# With backup.s3 (S3=1) the credentials come on stdin (a secret: never in the environment or on a
# command line) and go into the file right after "[global]", which is then readable by postgres
# only; the S3 server's CA, when given, goes beside it (S3_CA_FILE).
# env: VOLUME IMAGE REPO_PATH CONFIG_FILE SETTINGS [S3 S3_CA_FILE S3_CA_CERT]

export SETTINGS S3_CA_CERT="${S3_CA_CERT:-}"
# shellcheck disable=SC2016
{ [ "${S3:-}" != 1 ] || cat; } | docker run --rm -i --network none -u postgres -e SETTINGS -e S3_CA_CERT -v "$VOLUME:$REPO_PATH" \
    --entrypoint sh "$IMAGE" -c 'umask 077
{ printf "%s\n" "$SETTINGS" | sed -n "1,/^\[global\]\$/p"; cat; printf "%s\n" "$SETTINGS" | sed "1,/^\[global\]\$/d"; } > "$0.new" &&
if [ -n "$S3_CA_CERT" ]; then printf "%s" "$S3_CA_CERT" > "$1.new" && chmod 644 "$1.new" && mv "$1.new" "$1"; fi &&
mv "$0.new" "$0"' "$CONFIG_FILE" "${S3_CA_FILE:-}" ||
    fail "could not write pgBackRest's settings into the backup repository $VOLUME (image $IMAGE)"
log "backup repository $VOLUME: settings written ($CONFIG_FILE)${S3:+, the repository in S3}"
