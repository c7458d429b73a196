# On destroy (the Backup component's command is deleted before the nodes): a last backup on the
# primary, incremental (it archives the last WAL too), so the repository that destroy keeps holds
# the cluster as it was at the end. When that container does not run or is not the primary there
# is nothing more to save: said, and the destroy goes on. When that cannot be told, or it is the
# primary and the backup fails, the destroy stops here, with nothing removed; PG_REPLICATION_SKIP_FINAL_BACKUP=1 in the
# environment of `pulumi destroy` goes on without it.
# First of all: a restore of the backups must have been proven (npm run verify-backup) within
# MAX_VERIFIED_AGE_HOURS, or the destroy stops, with nothing removed, naming the key that lets it go
# on (backup.allowUnverifiedDestroy, which an `up` must have stored before the destroy). The record
# is read, and its age reckoned, in a throwaway container of the backup image (GNU date there,
# whatever the machine running Pulumi has), the repository mounted read-only.
# Not on destroy but when backups are turned off (pg-replication:backup removed from a running
# stack): Pulumi deletes a removed resource after the update's other steps, so the nodes have been
# rolled onto an image without pgBackRest by then. Nothing of the cluster is destroyed and nothing is
# left to back up with: no proof is asked, no final backup taken, and the repository is kept. Told
# apart only by a running primary's container of another image than the backup image (IMAGE)
# answering that it has no pgBackRest; anything else (not running, gone, no answer, the backup
# image) goes on as a destroy.
# With the nodes on several engines (PEERS) the primary is asked on its own engine, and the records
# are read in VOLUME on this command's engine (the first node's), as everywhere else.
# env: PRIMARY_CONTAINER STANZA VOLUME REPOSITORY IMAGE REPO_PATH VERIFIED_FILE MAX_VERIFIED_AGE_HOURS ALLOW_UNVERIFIED_DESTROY
#      [LOCK_WAIT_SECONDS PEERS]

runs=$(dk "$PRIMARY_CONTAINER" inspect -f '{{.Config.Image}}' "$PRIMARY_CONTAINER" 2>/dev/null || true)
tools=$([ -z "$runs" ] || [ "$runs" = "$IMAGE" ] ||
    dk "$PRIMARY_CONTAINER" exec "$PRIMARY_CONTAINER" sh -c 'command -v pgbackrest >/dev/null && echo "has pgbackrest" || echo "no pgbackrest"' 2>/dev/null || true)
if [ "$tools" = "no pgbackrest" ]; then
    log "backup: turned off for this stack ($PRIMARY_CONTAINER runs $runs, without pgBackRest): no final backup; the repository $REPOSITORY is kept with everything archived until now"
    exit 0
fi

if [ "$ALLOW_UNVERIFIED_DESTROY" != true ]; then
    # shellcheck disable=SC2016
    verified=$(docker run --rm --network none -v "$VOLUME:$REPO_PATH:ro" --entrypoint /bin/sh "$IMAGE" -c '
        at=$(sed -n "s/^ *\"verifiedAt\": *\"\([^\"]*\)\".*/\1/p" "$0" 2>/dev/null | head -n 1)
        [ -n "$at" ] || { echo none; exit 0; }
        echo "$(( $(date +%s) - $(date -d "$at" +%s) )) $at"' "$VERIFIED_FILE") ||
        fail "the backups' last verified restore could not be read from $VOLUME (the records of $REPOSITORY), so nothing was destroyed; prove one (npm run verify-backup), or set pg-replication:backup.allowUnverifiedDestroy to true, run pulumi up, then destroy"
    if [ "$verified" = none ]; then
        fail "no restore of the backups in $REPOSITORY has been proven, so nothing was destroyed: the backups are all that will be left of this cluster. Prove one (npm run verify-backup -- <stack>), or set pg-replication:backup.allowUnverifiedDestroy to true, run pulumi up, then destroy"
    fi
    seconds=${verified%% *}
    if [ "$seconds" -gt $((MAX_VERIFIED_AGE_HOURS * 3600)) ]; then
        fail "the last restore of the backups in $REPOSITORY was proven ${seconds}s ago (${verified#* }), longer ago than backup.maxVerifiedAgeHours ($MAX_VERIFIED_AGE_HOURS h), so nothing was destroyed. Prove one (npm run verify-backup -- <stack>), or set pg-replication:backup.allowUnverifiedDestroy to true, run pulumi up, then destroy"
    fi
    log "backup: a restore of the backups in $REPOSITORY was proven ${seconds}s ago"
fi

if [ "${PG_REPLICATION_SKIP_FINAL_BACKUP:-}" = 1 ]; then
    log "backup: no final backup of $STANZA (PG_REPLICATION_SKIP_FINAL_BACKUP=1); the repository keeps what was archived"
    exit 0
fi
# Only an answer skips the backup: a container the engine says is not there, one not running, a
# server in recovery. A question that fails (the engine, the server starting or stopping) is not
# taken for "nothing to save": the destroy stops, naming the way to go on without the backup.
skip="destroy without the final backup: PG_REPLICATION_SKIP_FINAL_BACKUP=1 pulumi destroy"
looked=0
running=$(inspect_field "$PRIMARY_CONTAINER" '{{.State.Running}}' 2>&1) || looked=$?
case $looked in
    0) ;;
    1) running=missing ;;
    *) fail "could not tell whether $PRIMARY_CONTAINER runs ($running), so nothing was destroyed and no final backup of $STANZA taken. Bring its engine back, or $skip" ;;
esac
# ask_recovery: the server's answer to pg_is_in_recovery() (its standard error dropped); when the ask
# fails, its standard error instead, and its status. Asked once: the words of the refusal are the
# failed ask's own. Meanwhile its standard error is held in memory (_ar_err, through fd 3), its
# answer passed out on fd 4, the caller's standard output; the docker call holds neither.
ask_recovery() {
    _ar_rc=0
    { _ar_err=$( { _ar=$(echo "SELECT pg_is_in_recovery()" |
        dk "$PRIMARY_CONTAINER" exec -i -u postgres "$PRIMARY_CONTAINER" psql -X -A -t 2>&3 3>&- 4>&-) &&
        printf '%s' "$_ar" >&4; } 3>&1 ) || _ar_rc=$?; } 4>&1
    [ "$_ar_rc" -eq 0 ] || { printf '%s' "$_ar_err"; return "$_ar_rc"; }
}
recovery= asked=0
[ "$running" != true ] || recovery=$(ask_recovery) || asked=$?
if [ "$asked" -ne 0 ]; then
    said=$(printf '%s\n' "$recovery" | last_line)
    fail "$PRIMARY_CONTAINER runs but its server did not say whether it is a primary (${said:-exit status $asked}), so nothing was destroyed and no final backup of $STANZA taken. Wait for it (npm run status), or $skip"
fi
if [ "$recovery" != f ]; then
    log "backup: no final backup of $STANZA: $PRIMARY_CONTAINER is not a running primary (running: $running); the repository keeps what was archived"
    exit 0
fi
# backup_take (backup-tools.sh) waits for a backup still running to end: one by hand, or the
# scheduler's from the primary, whose container went first and left its `docker exec` behind (one
# from a standby ran in the scheduler and ended with it).
backup_take incr ||
    fail "the final backup of $STANZA on $PRIMARY_CONTAINER failed (above), so nothing was destroyed. Fix the repository (npm run status), or destroy without it: PG_REPLICATION_SKIP_FINAL_BACKUP=1 pulumi destroy"
log "backup: final backup $(newest_backup 2>/dev/null) of $STANZA taken on $PRIMARY_CONTAINER before destroy; the repository is kept"
