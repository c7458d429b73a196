# On the primary, once the topology step has made the declared primary the primary: the stanza
# (made once; a repository holding another cluster's stanza is refused here, loudly), pgBackRest's
# check that a WAL segment switched now reaches the repository (it waits archive-timeout, 60 s by
# default), and a full backup when the repository has none yet of the current major, so a stack with
# backups on is never without one (also right after a major upgrade). Run again when the primary
# changes (the new primary's archive is checked) and when its container is replaced.
# env: PRIMARY_CONTAINER STANZA IMAGE (the nodes' image: not read here; a new one runs this again)
# The container's environment names the stanza and the settings file (pgbackrest.ts backupEnv).

br() { docker exec -u postgres "$PRIMARY_CONTAINER" pgbackrest "$@" 2>&1; }
# Right after a promotion pg_control still names the old timeline until the next checkpoint, and
# pgBackRest's backup refuses that ("WAL timeline 3 does not match pg_control timeline 1"): seen
# when backups were turned on by a roll, whose switchovers end just before this runs.
out=$(docker exec -u postgres "$PRIMARY_CONTAINER" psql -X -q -c CHECKPOINT 2>&1) ||
    fail "CHECKPOINT on $PRIMARY_CONTAINER before the backup check failed: $out"
out=$(br stanza-create) ||
    fail "pgBackRest could not create or open the stanza $STANZA in the backup repository: $out"
out=$(br check) ||
    fail "the primary's WAL does not reach the backup repository (pgbackrest check on $PRIMARY_CONTAINER): $out"
# Backups of the stanza's current database only (backup-tools.sh current_backups).
if ! br info | current_backups | grep -q '^full '; then
    started=$(date +%s)
    out=$(br --type=full backup) || fail "the first full backup on $PRIMARY_CONTAINER failed: $out"
    log "backup: first full backup of $STANZA taken in $(($(date +%s) - started))s"
fi
log "backup: stanza $STANZA, WAL of $PRIMARY_CONTAINER reaches the repository, newest backup $(newest_backup)"
