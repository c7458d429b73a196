# On destroy (the Backup component's command is deleted before the nodes): a last backup on the
# primary, incremental (it archives the last WAL too), so the repository that destroy keeps holds
# the cluster as it was at the end. When that container does not run or is not the primary there
# is nothing more to save: said, and the destroy goes on. When it is the primary and the backup
# fails, the destroy stops here, with nothing removed; PG_REPLICATION_SKIP_FINAL_BACKUP=1 in the
# environment of `pulumi destroy` goes on without it.
# env: PRIMARY_CONTAINER STANZA

if [ "${PG_REPLICATION_SKIP_FINAL_BACKUP:-}" = 1 ]; then
    log "backup: no final backup of $STANZA (PG_REPLICATION_SKIP_FINAL_BACKUP=1); the repository keeps what was archived"
    exit 0
fi
running=$(docker inspect -f '{{.State.Running}}' "$PRIMARY_CONTAINER" 2>/dev/null || echo missing)
recovery=$([ "$running" = true ] && echo "SELECT pg_is_in_recovery()" | docker exec -i -u postgres "$PRIMARY_CONTAINER" psql -X -A -t 2>/dev/null || true)
if [ "$recovery" != f ]; then
    log "backup: no final backup of $STANZA: $PRIMARY_CONTAINER is not a running primary (running: $running); the repository keeps what was archived"
    exit 0
fi
out=$(docker exec -u postgres "$PRIMARY_CONTAINER" pgbackrest --type=incr backup 2>&1) ||
    fail "the final backup of $STANZA on $PRIMARY_CONTAINER failed, so nothing was destroyed: $out. Fix the repository (npm run status), or destroy without it: PG_REPLICATION_SKIP_FINAL_BACKUP=1 pulumi destroy"
label=$(docker exec -u postgres "$PRIMARY_CONTAINER" pgbackrest info 2>/dev/null | sed -n 's/^ *\(full\|diff\|incr\) backup: \([^ ]*\).*/\2/p' | tail -n 1)
log "backup: final backup $label of $STANZA taken on $PRIMARY_CONTAINER before destroy; the repository is kept"
