# In a throwaway container of the backup image on a new stack's first node (node-seed.sh, when
# pg-replication:restore is set): restore the repository's backup into the node's empty data
# directory, recover to the target and promote, then leave a primary's data directory as this
# stack's commands expect it, and stop cleanly. The node's container then starts on it as primary.
# The repository is mounted read-only; no network.
# With RESTORE_SELECT_ONLY=1 (preview, program.ts checkRestore, in the same kind of container):
# only choose the backup set for an LSN or restore-point target and print it as key=value lines.
# env: PGBACKREST_STANZA PGBACKREST_CONFIG RESTORE_TARGET_TIME (empty: the end of the archive)
#      [RESTORE_TARGET_LSN | RESTORE_TARGET_NAME] [RESTORE_SELECT_ONLY] REPLICATION_USER AUTH_USER
set -eu
umask 077
export PGDATA=/var/lib/postgresql/data/pgdata PGHOST=/tmp
RESTORE_INCOMPLETE=/var/lib/postgresql/data/restore-incomplete
sql() { psql -X -A -t -q -v ON_ERROR_STOP=1 "$@"; }

# An LSN or a restore point: the backup set is chosen here, as the newest whose stop LSN (its
# manifest's backup-lsn-stop) is at or before the target, among the sets backup.info lists as
# current. pgBackRest selects by time by itself (2.24 and later), but the 2.33 of bullseye has no
# --type=lsn (the 2.55 of trixie has), so one rule serves both: recovery_target_lsn as a recovery
# option, with the set chosen here. A restore point's LSN and timeline come from the repository's
# record of them (npm run restore-point writes it: name, LSN, timeline, time, stanza per line), so
# a name that record lacks is refused, at preview, instead of failing after a restore.
repo=${PGBACKREST_CONFIG%/*}
lsn_number() { echo $(( (0x${1%/*} << 32) | 0x${1#*/} )); }
say() { [ -z "${RESTORE_SELECT_ONLY:-}" ] || { echo "$1"; exit 0; }; echo "error: ${1#problem=}" >&2; exit 1; }
target_lsn=${RESTORE_TARGET_LSN:-} timeline=
if [ -n "${RESTORE_TARGET_NAME:-}" ]; then
    point=$(awk -F '\t' -v n="$RESTORE_TARGET_NAME" -v s="$PGBACKREST_STANZA" '$1 == n && $5 == s' \
        "$repo/pg-replication-restore-points.tsv" 2>/dev/null | tail -n 1)
    [ -n "$point" ] || say "problem=the restore point $RESTORE_TARGET_NAME is not in the repository's record of restore points \
(npm run restore-point makes and records them); give restore.target {lsn: ...} or {time: ...} instead"
    target_lsn=$(echo "$point" | cut -f 2) timeline=$(echo "$point" | cut -f 3)
fi
# The stanza's backup.info and a set's manifest through pgBackRest (repo-get), the same for a volume and
# an S3 bucket, whose settings volume holds no backup: info is backup.info's text, or empty with why
# in info_error (a time or the latest target needs none of it: pgBackRest reads it itself).
repo_get() { pgbackrest --log-level-console=off --log-level-stderr=error --log-level-file=off repo-get "backup/$PGBACKREST_STANZA/$1"; }
# Why the last repo-get failed: pgBackRest's ERROR line (an S3 error goes on with the request's and
# the response's headers and body: storage/http/request.c httpRequestError), else its last words.
repo_get_error() { grep -m 1 '^ERROR' /tmp/repo-get.err || tail -n 1 /tmp/repo-get.err; }
info_error=
info=$(repo_get backup.info 2>/tmp/repo-get.err) || { info=; info_error=$(repo_get_error); }

# A repository a major upgrade went through (upgrade.sh) holds backup sets of two majors, and this
# image's pgBackRest and server can restore only those of its own: 2.33 (bullseye) asserts on a 17
# set it is left to pick, and 2.55 refuses a set "from a prior version". Then the set is chosen
# here among the image's major's, by the same rules pgBackRest uses (the newest that ended by a
# time target; the newest for the end of the archive), and named with --set; recovery then reads
# that major's own archive (pgBackRest's archive-get matches the restored cluster's version).
major=$(postgres --version | sed -n 's/.*(PostgreSQL) \([0-9]*\).*/\1/p')
# sets_of MAJOR: "label stop-epoch" of each backup set of PostgreSQL MAJOR backup.info lists as current, oldest first.
sets_of() {
    printf '%s\n' "$info" | awk -v major="$1" '/^\[/ { section = $0; next }
        section == "[db:history]" && /"db-version":"/ {
            v = $0; sub(/.*"db-version":"/, "", v); sub(/".*/, "", v); version[substr($0, 1, index($0, "=") - 1)] = v }
        section == "[backup:current]" && /=\{/ {
            n++; label[n] = substr($0, 1, index($0, "=") - 1)
            s = $0; sub(/.*"backup-timestamp-stop":/, "", s); sub(/[,}].*/, "", s); stop[n] = s
            d = $0; sub(/.*"db-id":/, "", d); sub(/[,}].*/, "", d); db[n] = d }
        END { for (i = 1; i <= n; i++) if (version[db[i]] == major) print label[i], stop[i] }'
}
others=$(printf '%s\n' "$info" | sed -n '/^\[db:history\]/,/^\[/s/.*"db-version":"\([0-9]*\)".*/\1/p' | grep -vx "$major" | sort -nu | tr '\n' ' ' | sed 's/ $//; s/ / and /g')
set_label=
if [ -n "$others" ] && [ -z "$target_lsn" ]; then
    sets=$(sets_of "$major")
    [ -n "$sets" ] || say "problem=the repository holds no backup of PostgreSQL $major, only of PostgreSQL $others: restore with an image of that major"
    if [ -n "$RESTORE_TARGET_TIME" ]; then
        epoch=$(date -d "$RESTORE_TARGET_TIME" +%s) || say "problem=the target time $RESTORE_TARGET_TIME could not be read"
        set_label=$(echo "$sets" | awk -v t="$epoch" '$2 <= t { best = $1 } END { print best }')
        [ -n "$set_label" ] || say "problem=the target $RESTORE_TARGET_TIME is before the end of the first backup of PostgreSQL $major \
($(echo "$sets" | head -n 1 | cut -d ' ' -f 1))"
    else
        set_label=$(echo "$sets" | tail -n 1 | cut -d ' ' -f 1)
    fi
    [ -z "${RESTORE_SELECT_ONLY:-}" ] || { echo "set=$set_label"; exit 0; }
fi
if [ -n "$target_lsn" ]; then
    first= best= best_stop=
    [ -n "$info" ] || say "problem=the repository's list of backups (backup/$PGBACKREST_STANZA/backup.info) could not be read: $info_error"
    labels=$(printf '%s\n' "$info" | sed -n '/^\[backup:current\]/,/^\[/s/^\([0-9A-Z_-]*\)=.*/\1/p')
    if [ -n "$others" ]; then
        labels=$(sets_of "$major" | cut -d ' ' -f 1)
        [ -n "$labels" ] || say "problem=the repository holds no backup of PostgreSQL $major, only of PostgreSQL $others: restore with an image of that major"
    fi
    [ -n "$labels" ] || say "problem=the repository holds no backup yet"
    for label in $labels; do
        # A manifest that cannot be read refuses: passing over its set would choose an older one, or none.
        manifest=$(repo_get "$label/backup.manifest" 2>/tmp/repo-get.err) ||
            say "problem=the manifest of backup set $label (backup/$PGBACKREST_STANZA/$label/backup.manifest) could not be read: $(repo_get_error)"
        stop=$(printf '%s\n' "$manifest" | sed -n 's/^backup-lsn-stop="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' | head -n 1)
        # An offline backup records no stop LSN: its set cannot be placed, and an older one reaches the target as well.
        [ -n "$stop" ] || continue
        [ -n "$first" ] && [ "$(lsn_number "$stop")" -ge "$(lsn_number "${first#* }")" ] || first="$label $stop"
        if [ "$(lsn_number "$stop")" -le "$(lsn_number "$target_lsn")" ] &&
            { [ -z "$best" ] || [ "$(lsn_number "$stop")" -gt "$(lsn_number "$best_stop")" ]; }; then
            best=$label best_stop=$stop
        fi
    done
    [ -n "$first" ] || say "problem=none of the repository's backup sets records the LSN it ended at (backup-lsn-stop in its \
backup.manifest; an offline backup records none), so none can be chosen for an LSN: give restore.target {time: ...} instead"
    [ -n "$best" ] || say "problem=the target LSN $target_lsn is before the end of the first backup (${first% *}): \
the earliest recoverable LSN is ${first#* }"
    set_label=$best
    if [ -n "${RESTORE_SELECT_ONLY:-}" ]; then
        printf 'set=%s\nset_stop=%s\nlsn=%s\ntimeline=%s\n' "$best" "$best_stop" "$target_lsn" "$timeline"
        exit 0
    fi
fi
[ -z "${RESTORE_SELECT_ONLY:-}" ] || exit 0
mkdir -p -m 0700 "$PGDATA"
[ -z "$(ls -A "$PGDATA")" ] || { echo "error: $PGDATA is not empty" >&2; exit 1; }
# Until the clean stop at the end, the data directory is a restore under way: PG_VERSION is there
# from pgBackRest's first files on, so the seed's next run tells it from a cluster by this note
# (node-seed.sh), and never starts a node on it.
touch "$RESTORE_INCOMPLETE"

# A time target: pgBackRest selects the newest backup that ended before it (since 2.24; chosen above
# when the repository holds several majors) and writes recovery_target_time with promote; no target:
# the newest backup, recovered to the end of the archive.
if [ -n "${RESTORE_TARGET_NAME:-}" ]; then
    pgbackrest --log-level-console=warn "--set=$set_label" --type=name "--target=$RESTORE_TARGET_NAME" --target-action=promote \
        "--target-timeline=$timeline" restore
elif [ -n "$target_lsn" ]; then
    pgbackrest --log-level-console=warn "--set=$set_label" "--recovery-option=recovery_target_lsn=$target_lsn" \
        --recovery-option=recovery_target_action=promote restore
elif [ -n "$RESTORE_TARGET_TIME" ]; then
    pgbackrest --log-level-console=warn ${set_label:+"--set=$set_label"} --type=time "--target=$RESTORE_TARGET_TIME" \
        --target-action=promote restore
else
    pgbackrest --log-level-console=warn ${set_label:+"--set=$set_label"} restore
fi
label=$(sed -n 's/^backup-label="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$PGDATA/backup.manifest" 2>/dev/null | head -n 1) || label=
echo "restored backup ${label:-(label unknown)} of stanza $PGBACKREST_STANZA" >&2

# Recovery takes as long as the WAL it replays: no bound, but the server must stay up until it promotes.
pg_ctl -D "$PGDATA" -l /tmp/restore.log -w -t 3600 -o "-c listen_addresses='' -c unix_socket_directories=/tmp \
-c archive_mode=off -c synchronous_standby_names='' -c ssl=off" start >/dev/null ||
    { echo "error: the restored data directory did not start: $(tail -n 5 /tmp/restore.log | tr '\n' ' ')" >&2; exit 1; }
until [ "$(sql -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
    pg_ctl -D "$PGDATA" status >/dev/null 2>&1 ||
        { echo "error: recovery stopped before promoting: $(tail -n 5 /tmp/restore.log | tr '\n' ' ')" >&2; exit 1; }
    sleep 0.2
done

# Recovery settings pgBackRest wrote, and what a former node's role left, go: this is a primary
# now, and a later switchover writes its own standby settings. So does TLS (started without it
# above): a cluster across engines turns it on with certificates beside its data directory, which
# are not in the backup; this stack's nodes get their own (node-access.sh) when it spans engines.
for setting in restore_command recovery_target recovery_target_time recovery_target_action recovery_target_name \
    recovery_target_lsn recovery_target_xid recovery_target_inclusive recovery_target_timeline primary_conninfo \
    primary_slot_name synchronous_standby_names ssl ssl_cert_file ssl_key_file ssl_ca_file; do
    sql -d postgres -c "ALTER SYSTEM RESET $setting"
done
# The stack makes its replication role and its pooler's role itself, with its own passwords: the
# copies of the source's go (with what they were granted; they own nothing).
for role in "$REPLICATION_USER" "$AUTH_USER"; do
    [ "$(sql -d postgres -c "SELECT count(*) FROM pg_roles WHERE rolname = '$role'")" = 1 ] || continue
    databases=$(sql -d postgres -c "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1")
    # One name a line, each taken whole: a name may hold blanks or glob characters, and is passed as
    # itself, never read as a connection string (dbname_conninfo).
    while IFS= read -r db; do
        [ -n "$db" ] || continue
        sql -d "$(dbname_conninfo "$db")" -c "DROP OWNED BY \"$role\"" < /dev/null
    done <<EOF
$databases
EOF
    sql -d postgres -c "DROP ROLE \"$role\""
done
echo "recovered to $(sql -d postgres -c "SELECT coalesce(pg_last_xact_replay_timestamp()::text, 'the end of the backup')") on timeline $(sql -d postgres -c "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int")" >&2
pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
rm "$RESTORE_INCOMPLETE"
