# On the primary, once the topology step has made the declared primary the primary: the stanza
# (made once; a repository holding another cluster's stanza is refused here, loudly), pgBackRest's
# check that a WAL segment switched now reaches the repository (it waits archive-timeout, 60 s by
# default), and a full backup when the repository has none yet of the current major, so a stack with
# backups on is never without one (also right after a major upgrade). Run again when the primary
# changes (the new primary's archive is checked), when its container is replaced, and when the
# repository does (REPOSITORY: backup.s3 set, removed or moved; a single node's new backup.volume).
# A repository the backups come to with a gap in its archive, moved to (or back to) or with backups
# turned on (again: this command's create, CHECK_RUN=create), gets a full backup of its own even when
# it holds older ones, which cannot replay past the gap; and the records the volume keeps (RECORDS:
# the proven restore, a failed proof, the restore points) are then set aside with the suffix
# .of-previous-repository once that backup is taken, never taken for proofs of the backups now.
# Which repository the last check was of: the line it printed (stdout, kept in the state and given
# back on update as PULUMI_COMMAND_STDOUT), else the note in the volume (REPOSITORY_FILE: a check
# before that line existed; preview reads the note too, pgbackrest.ts readProof).
# env: PRIMARY_CONTAINER STANZA IMAGE (the nodes' image: a new one runs this again; across engines records_sh runs it)
#      REPOSITORY REPOSITORY_FILE RECORDS REPO_PATH [CHECK_RUN PULUMI_COMMAND_STDOUT]
#      [PEERS VOLUME: the nodes on several engines, the records in VOLUME on this command's engine (records_sh);
#       RECORDS_LOST=1: that engine found lost at preview (its host down): the records are left alone, a
#       failover's check goes on without them, a move of the repository is refused until it is back]
# The container's environment names the stanza and the settings file (pgbackrest.ts backupEnv).

br() { dk "$PRIMARY_CONTAINER" exec -u postgres "$PRIMARY_CONTAINER" pgbackrest "$@" 2>&1; }
gap=
if [ "${CHECK_RUN:-}" = create ]; then
    gap="backups were turned on"
else
    previous=$(printf '%s\n' "${PULUMI_COMMAND_STDOUT:-}" | sed -n 's/^repository=//p' | tail -n 1)
    if [ -z "$previous" ] && [ -z "${RECORDS_LOST:-}" ]; then
        # shellcheck disable=SC2016
        previous=$(records_sh 'cat "$0" 2>/dev/null || true' "$REPOSITORY_FILE" </dev/null) ||
            fail "could not read which repository $REPOSITORY_FILE names, $(records_at)"
    fi
    if [ -n "$previous" ] && [ "$previous" != "$REPOSITORY" ]; then
        gap="the backups moved from $previous to $REPOSITORY"
    fi
fi
# Before anything is taken: a gap whose old records cannot be set aside is refused.
if [ -n "$gap" ] && [ -n "${RECORDS_LOST:-}" ]; then
    fail "$gap, but the records of the backups before that cannot be set aside: they are in the volume $VOLUME on ${DOCKER_HOST:-the local engine}, an engine the preview found lost; bring it back and run pulumi up"
fi
out=$(br stanza-create) ||
    fail "pgBackRest could not create or open the stanza $STANZA in the backup repository: $out"
out=$(br check) ||
    fail "the primary's WAL does not reach the backup repository (pgbackrest check on $PRIMARY_CONTAINER): $out"
# pgBackRest exits 0 when it cannot read the repository and says so in the stanza's status
# (command/info/info.c): only "ok" and "error (no valid backups)" (none yet) are a repository read.
# Any other (its path or backup.info missing, an S3 error) fails here, not as "no full backup yet".
info=$(br info) || fail "pgBackRest could not list the backups in the repository (pgbackrest info on $PRIMARY_CONTAINER): $info"
case $(printf '%s\n' "$info" | sed -n 's/^ *status: //p' | head -n 1) in
    ok | "ok ("* | "error (no valid backups"*) ;;
    *) fail "pgBackRest could not read the backup repository (pgbackrest info on $PRIMARY_CONTAINER): $info" ;;
esac
# Backups of the stanza's current database only (backup-tools.sh current_backups).
if printf '%s\n' "$info" | current_backups | grep -q '^full '; then had_full=1; else had_full=; fi
if [ -n "$gap" ] || [ -z "$had_full" ]; then
    # Backups turned on over a repository with none (a new stack's first up) is simply its first full backup.
    said=$gap
    [ "${CHECK_RUN:-}" != create ] || [ -n "$had_full" ] || said=
    started=$(date +%s)
    # Through backup_take (backup-tools.sh), as every other backup: under the lock in the repository
    # volume, so that it waits for one the scheduler or a hand is taking instead of running beside it;
    # its checkpoint first, which a backup right after a promotion needs (seen when backups were
    # turned on by a roll, whose switchovers end just before this runs).
    backup_take full || fail "the first full backup on $PRIMARY_CONTAINER failed (above)"
    log "backup: first full backup of $STANZA${said:+ since $said,} taken in $(($(date +%s) - started))s"
fi
if [ -n "$gap" ]; then
    # shellcheck disable=SC2016,SC2086
    out=$(records_sh 'for record in "$@"; do
        [ ! -e "$record" ] || { mv "$record" "$record.of-previous-repository" && echo "${record##*/}"; } || exit 1; done' sh $RECORDS </dev/null 2>&1) ||
        fail "could not set the records of the backups before the gap aside, $(records_at): $out"
    [ -z "$out" ] || log "backup: $gap: the records of the backups before that are set aside ($(echo $out), as .of-previous-repository)"
fi
if [ -n "${RECORDS_LOST:-}" ]; then
    log "backup: the records' volume $VOLUME is on ${DOCKER_HOST:-the local engine}, an engine the preview found lost: left as it was"
else
    # shellcheck disable=SC2016
    out=$(records_sh 'printf "%s\n" "$1" > "$0.new" && mv "$0.new" "$0"' "$REPOSITORY_FILE" "$REPOSITORY" </dev/null 2>&1) ||
        fail "could not note the repository in $REPOSITORY_FILE, $(records_at): $out"
fi
log "backup: stanza $STANZA, WAL of $PRIMARY_CONTAINER reaches the repository, newest backup $(newest_backup)"
echo "repository=$REPOSITORY"
