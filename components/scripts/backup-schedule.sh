# The stack's backup schedule (README "Backups", components/backup.ts BackupScheduler): the command
# of the scheduler container, which runs on the stack's engine with that engine's socket and no
# network. Every POLL_SECONDS it finds the node that answers as primary, reads the repository
# (`pgbackrest info` there) and takes the backup that is due: a full one when the newest full
# backup is FULL_SECONDS old, else a differential one when the newest full or differential one is
# DIFF_SECONDS old, else an incremental one when the newest of any kind is INCR_SECONDS old
# (pgBackRest's labels and stop times are the schedule's only state, so a restarted scheduler, a
# switchover or a manual backup all count). Then, when no restore of the newest full backup has
# been proven (the record next to the backups is older than it), it proves one (backup_verify):
# after every full backup, the scheduled ones and up's first alike. A proof that fails is tried
# again for the same full backup only after an hour (or FULL_SECONDS, when shorter); it is logged,
# and status and preview warn once the last proof is older than backup.maxVerifiedAgeHours.
# A tick that fails is logged and the next goes on; with no primary (a failover or an upgrade in
# progress) there is nothing to do. With FROM_STANDBY=1 a backup comes from a standby that streams
# from the primary, when there is one (backup-tools.sh backup_take; the repository volume is
# mounted here for it), else from the primary.
# env: STACK_LABELS STANZA VOLUME IMAGE REPO_PATH VERIFIED_FILE VERIFY_FAILED_FILE FULL_SECONDS DIFF_SECONDS INCR_SECONDS
#      POLL_SECONDS VERIFY_TIMEOUT FROM_STANDBY (DIFF_SECONDS, INCR_SECONDS: 0 for none)

log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
trap 'log "stopping"; exit 0' TERM INT
# When a proof of LABEL failed (LABEL TIME): the same backup is tried again only after _retry.
retry_file=/tmp/pg-replication-proof-retry

# plan NOW INFO RECORD: "KIND VERIFY LABEL" from `pgbackrest --output=json info` and the last
# verified restore's record: KIND is the backup due (full, diff, incr; none when the repository
# has no full backup of the current database, which up takes; - when nothing is due); VERIFY is
# "verify" when the newest full backup ended after the last proven restore; LABEL is that backup's.
plan() {
    jq -r --argjson now "$1" --argjson full "$FULL_SECONDS" --argjson diff "$DIFF_SECONDS" --argjson incr "$INCR_SECONDS" \
        --argjson rec "$3" '
        .[0] as $s | ($s.db | map(.id) | max) as $cur
        | [$s.backup[] | select(.database.id == $cur)] as $b
        | ([$b[] | select(.type == "full")] | max_by(.timestamp.stop)) as $f
        | ($rec.verifiedAt // null | if . == null then 0 else (sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) end) as $proven
        | [ (if $f == null then "none"
             elif $now - $f.timestamp.stop >= $full then "full"
             elif $diff > 0 and $now - ([$b[] | select(.type != "incr") | .timestamp.stop] | max) >= $diff then "diff"
             elif $incr > 0 and $now - ([$b[] | .timestamp.stop] | max) >= $incr then "incr"
             else "-" end),
            (if $f != null and $proven < $f.timestamp.stop then "verify" else "-" end),
            ($f.label // "-") ] | join(" ")' <<EOF
$2
EOF
}

# unread INFO: why `pgbackrest --output=json info` did not read the repository; nothing when it did.
# pgBackRest exits 0 either way and says it in the stanza's status (command/info/info.c
# INFO_STANZA_STATUS_CODE_*, the same in 2.33 and 2.55): 0 (ok) and 2 (no valid backups) are a
# repository read; 1 and 3 are the stanza's path or its backup.info missing, 99 an error (the S3
# server unreachable, credentials refused), whose words are in the repository's own status.
unread() {
    jq -r '.[0].status as $s
        | if $s.code == 0 or $s.code == 2 then empty
          else [.[0].repo[]?.status | select(.code == 99) | .message | split("\n")[0]]
              | if . == [] then $s.message // "no status" else join("; ") end end' <<EOF
$1
EOF
}

# look: the plan on the primary now (sets KIND, VERIFY, LABEL); fails when the repository cannot be
# read, with pgBackRest's words in UNREAD when it said why.
look() {
    UNREAD=
    _info=$(dk "$PRIMARY_CONTAINER" exec -u postgres "$PRIMARY_CONTAINER" pgbackrest --output=json info) || return 1
    UNREAD=$(unread "$_info") || UNREAD="its answer is not JSON"
    [ -z "$UNREAD" ] || return 1
    _record=$(dk "$PRIMARY_CONTAINER" exec "$PRIMARY_CONTAINER" cat "$VERIFIED_FILE" 2>/dev/null) || _record='{}'
    printf '%s' "$_record" | jq -e 'type == "object"' >/dev/null 2>&1 || _record='{}'
    # shellcheck disable=SC2046
    set -- $(plan "$(date +%s)" "$_info" "$_record")
    [ $# -eq 3 ] || return 1
    KIND=$1 VERIFY=$2 LABEL=$3
}

# field KEY: the value of the first KEY=value line backup_verify printed (in _out).
field() { printf '%s\n' "$_out" | sed -n "s/^$1=//p" | head -n 1; }

tick() {
    find_primary
    if [ -z "$PRIMARY_CONTAINER" ]; then
        log "no node answers as primary: nothing to do now"
        return 0
    fi
    look || { log "error: the repository cannot be read on $PRIMARY_CONTAINER (pgbackrest info${UNREAD:+: $UNREAD})"; return 0; }
    case $KIND in
        none) log "the repository has no full backup of this cluster's major: the next up takes it" ;;
        full | diff | incr)
            _words=$(case $KIND in full) echo full ;; diff) echo differential ;; *) echo incremental ;; esac)
            log "the $_words backup is due (the primary is $PRIMARY_CONTAINER)"
            if backup_take "$KIND"; then
                log "the $_words backup is taken from $([ "$BACKUP_SOURCE" = "$PRIMARY_CONTAINER" ] &&
                    echo "the primary $BACKUP_SOURCE" || echo "the standby $BACKUP_SOURCE")"
                look || { log "error: the repository cannot be read on $PRIMARY_CONTAINER (pgbackrest info${UNREAD:+: $UNREAD})"; return 0; }
            else
                log "error: the $_words backup from $BACKUP_SOURCE failed; tried again in ${POLL_SECONDS}s"
                return 0
            fi ;;
    esac
    [ "$VERIFY" = verify ] || return 0
    _now=$(date +%s)
    _retry=$((FULL_SECONDS < 3600 ? FULL_SECONDS : 3600))
    if [ -s "$retry_file" ] && read -r _label _at < "$retry_file" && [ "$_label" = "$LABEL" ] && [ $((_now - _at)) -lt "$_retry" ]; then
        return 0
    fi
    log "no restore of the newest full backup $LABEL is proven yet: proving one"
    if _out=$(backup_verify "$STANZA-scheduled-verify" "$VERIFY_TIMEOUT") && [ "$(field marker)" = 1 ]; then
        rm -f "$retry_file"
        log "VERIFIED: backup $(field backup) restored with the marker, $(field tables) tables and $(field indexes) indexes read"
    else
        printf '%s %s\n' "$LABEL" "$_now" > "$retry_file"
        log "error: NOT VERIFIED: a restore of $LABEL was not proven" \
            "($(field error)$([ "$(field marker)" != 0 ] || echo 'the restore lacks the marker'));" \
            "tried again in $((_retry / 60)) min"
    fi
}

# A restore the previous scheduler container started and did not see to its end (it was replaced
# or stopped mid-proof) goes: there is one scheduler per stack, and its proofs run under this name.
docker rm -f -v "$STANZA-scheduled-verify" >/dev/null 2>&1 || true
log "scheduler of $STANZA: a full backup every ${FULL_SECONDS}s, differential every ${DIFF_SECONDS}s, incremental every" \
    "${INCR_SECONDS}s (0: none), each restore of a new full backup proven; looking every ${POLL_SECONDS}s;" \
    "backups from $([ "${FROM_STANDBY:-}" = 1 ] && echo "a streaming standby when there is one" || echo "the primary")"
while :; do
    # In a subshell: a tick that fails (fail, set -e) ends there, not the schedule.
    ( tick ) || log "error: the tick failed (above); the next is in ${POLL_SECONDS}s"
    sleep "$POLL_SECONDS" &
    wait $! || true
done
