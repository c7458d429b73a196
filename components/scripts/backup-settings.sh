# Writes pgBackRest's settings file into the repository volume, through a throwaway container of
# the backup image without a network (as postgres: the image makes the repository path postgres's
# in a new volume). Every node reads the file at each archive-push, so a changed setting takes
# effect without restarting any node.
# env: VOLUME IMAGE REPO_PATH CONFIG_FILE SETTINGS

printf '%s\n' "$SETTINGS" | docker run --rm -i --network none -u postgres -v "$VOLUME:$REPO_PATH" --entrypoint sh "$IMAGE" \
    -c 'cat > "$0.new" && mv "$0.new" "$0"' "$CONFIG_FILE" ||
    fail "could not write pgBackRest's settings into the backup repository $VOLUME (image $IMAGE)"
log "backup repository $VOLUME: settings written ($CONFIG_FILE)"
