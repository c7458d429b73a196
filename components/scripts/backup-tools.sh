# A backup and a verified restore of a running stack, written once for both callers: the tools
# (`npm run backup`, `npm run verify-backup`: backup/core.ts runs these functions on the Pulumi
# host) and the stack's scheduler container (backup-schedule.sh, README "Backups"). Both act on
# PRIMARY_CONTAINER, the node that answers as primary now, found by the caller.

# backup_take TYPE: a backup of TYPE (full, diff or incr) on the primary. After a promotion
# pg_control names the old timeline until the next checkpoint, which pgBackRest's backup refuses
# ("WAL timeline 3 does not match pg_control timeline 1": db/db.c dbBackupStart), so a checkpoint
# goes first; when it fails, so does the call, saying so (its callers call it in `if` and `||`,
# where set -e would not stop at the failure). Another backup running (the scheduler's, one by hand,
# the one a replaced scheduler left running through `docker exec`) holds pgBackRest's backup lock
# ([050] unable to acquire lock): this one waits for it to end, up to LOCK_WAIT_SECONDS (1800),
# saying so each minute. The lock is in the repository volume (REPO_PATH/lock), which the nodes
# and the scheduler all mount, so a backup in a node and one in the scheduler see each other's.
# Any other failure: pgBackRest's words on stderr, and the call fails.
# With FROM_STANDBY=1 (the scheduler container only: the repository volume mounted at REPO_PATH,
# the engine's socket at /var/run/docker.sock) and a standby streaming from the primary
# (streaming_standby), the backup comes from that standby: pgBackRest's backup-standby, run here,
# starts and stops the backup on the primary, copies the files PostgreSQL replicates from the
# standby and the few others from the primary ("Backup from a Standby" in pgBackRest's user guide),
# and reaches both nodes through its remote protocol over `docker exec` (DOCKER_EXEC_SSH, its
# cmd-ssh) instead of ssh: no sshd, no key and no listening port in the nodes. With no standby
# streaming, or when the backup from the standby fails (it lags past pgBackRest's wait, it stopped
# meanwhile, the engine's socket refuses postgres), from the primary as above, said: a backup is
# never skipped for want of a standby. Sets BACKUP_SOURCE to the node's container it read from.
backup_take() {
    _bt_lock=$REPO_PATH/lock
    BACKUP_SOURCE=$PRIMARY_CONTAINER
    _bt_out=$(node_sql "$PRIMARY_CONTAINER" "CHECKPOINT" 2>&1) ||
        { log "CHECKPOINT on $PRIMARY_CONTAINER before the $1 backup failed: $_bt_out"; return 1; }
    [ "${FROM_STANDBY:-}" != 1 ] || BACKUP_SOURCE=$(streaming_standby) || BACKUP_SOURCE=$PRIMARY_CONTAINER
    _bt_waited=0
    while :; do
        _bt_rc=0
        if [ "$BACKUP_SOURCE" = "$PRIMARY_CONTAINER" ]; then
            _bt_out=$(dk "$PRIMARY_CONTAINER" exec -u postgres "$PRIMARY_CONTAINER" pgbackrest --log-level-console=warn \
                --lock-path="$_bt_lock" --type="$1" backup 2>&1) || _bt_rc=$?
        else
            _bt_out=$(standby_backup "$1" "$BACKUP_SOURCE" 2>&1) || _bt_rc=$?
        fi
        [ "$_bt_rc" -ne 0 ] || { [ -z "$_bt_out" ] || log "$_bt_out"; return 0; }
        case $_bt_out in
            *"[050]"*) [ "$_bt_waited" -lt "${LOCK_WAIT_SECONDS:-1800}" ] || break ;;
            *) [ "$BACKUP_SOURCE" != "$PRIMARY_CONTAINER" ] || break
               log "$_bt_out"
               log "the $1 backup from the standby $BACKUP_SOURCE failed (above): taking it from the primary $PRIMARY_CONTAINER"
               BACKUP_SOURCE=$PRIMARY_CONTAINER
               continue ;;
        esac
        [ $((_bt_waited % 60)) -ne 0 ] ||
            log "another backup of $STANZA is running: this $1 backup waits for it to end (${_bt_waited}s so far)"
        sleep 5
        _bt_waited=$((_bt_waited + 5))
    done
    log "$_bt_out"
    return "$_bt_rc"
}

# streaming_standby: the first of the stack's running nodes other than PRIMARY_CONTAINER that is in
# recovery with its WAL receiver streaming (pg_stat_wal_receiver); fails when there is none.
streaming_standby() {
    for _ss in $(node_containers); do
        # In a subshell: one whose engine does not say whether it runs is passed over, said, and the next asked.
        [ "$_ss" != "$PRIMARY_CONTAINER" ] && ( running "$_ss" ) || continue
        if [ "$(node_sql "$_ss" "SELECT pg_is_in_recovery() AND EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming')" \
            2>/dev/null)" = t ]; then
            printf '%s\n' "$_ss"
            return 0
        fi
    done
    return 1
}

# standby_backup TYPE STANDBY (from backup_take): pgBackRest's backup of TYPE here, as postgres,
# with pg1 the primary's container and pg2 STANDBY's, backup-standby on (pgBackRest finds which is
# which itself; the flag without a value, as 2.33's boolean option takes it and 2.55's y/n/prefer
# one reads it as y). Its remote protocol runs over DOCKER_EXEC_SSH: pgBackRest calls its cmd-ssh as
# `CMD -o LogLevel=error -o Compression=no -o PasswordAuthentication=no [-p PORT] USER@HOST COMMAND`
# (src/protocol/helper.c protocolRemoteParam in 2.33, protocolRemoteParamSsh in 2.55), and ssh would
# run COMMAND through the remote user's shell; the file runs it so in HOST's container, as USER, its
# stdin and stdout pgBackRest's protocol. The remote pgBackRest reads the node's own settings (its
# PGBACKREST_CONFIG, the same file); both ends are the same pgBackRest (the scheduler image is FROM
# the nodes' backup image), which the protocol requires. postgres gets the socket's group for
# docker.
DOCKER_EXEC_SSH=/tmp/pg-replication-docker-exec-ssh
standby_backup() {
    [ -x "$DOCKER_EXEC_SSH" ] || {
        cat > "$DOCKER_EXEC_SSH.new" <<'SH'
#!/bin/sh
# pgBackRest's cmd-ssh over `docker exec` (backup-tools.sh standby_backup).
while [ $# -gt 2 ]; do shift; done
exec docker exec -i -u "${1%%@*}" "${1#*@}" sh -c "$2"
SH
        chmod 755 "$DOCKER_EXEC_SSH.new" && mv "$DOCKER_EXEC_SSH.new" "$DOCKER_EXEC_SSH"
    }
    _sb_pgdata=$(sed -n 's/^pg1-path=//p' "$REPO_PATH/pgbackrest.conf")
    setpriv --reuid=postgres --regid=postgres --groups="$(stat -c %g /var/run/docker.sock)" \
        pgbackrest --config="$REPO_PATH/pgbackrest.conf" --stanza="$STANZA" --log-level-console=warn \
        --lock-path="$_bt_lock" --cmd-ssh="$DOCKER_EXEC_SSH" --backup-standby \
        --pg1-host="$PRIMARY_CONTAINER" --pg1-path="$_sb_pgdata" --pg2-host="$2" --pg2-path="$_sb_pgdata" \
        --type="$1" backup
}

# current_backups: "TYPE LABEL" for each backup set of the stanza's current database in
# `pgbackrest info`'s text on stdin, oldest first. After a major upgrade (upgrade.sh) the old
# major's sets are listed too, under "db (prior)", and cannot be a base for the new one's.
current_backups() {
    awk 'BEGIN { current = 1 } /^ *db \(/ { current = /\(current\)/ } current && /^ *(full|diff|incr) backup: / { print $1, $3 }'
}

# newest_backup: the label of the newest backup set of the current database, as the primary's
# pgBackRest lists them (nothing when there is none); fails when pgBackRest cannot say.
newest_backup() {
    _nb_info=$(dk "$PRIMARY_CONTAINER" exec -u postgres "$PRIMARY_CONTAINER" pgbackrest info) || return 1
    printf '%s\n' "$_nb_info" | current_backups | tail -n 1 | cut -d' ' -f2
}

# records_sh SCRIPT [ARG...]: SCRIPT run by sh as postgres where the repository's records are (under
# REPO_PATH: the proven restore, a failed proof, the restore points, which repository they are of),
# with this call's standard input: in the primary's container, which mounts the settings volume. With
# the nodes on several engines (PEERS) every engine has a settings volume of its own and the records
# are in the one on this command's engine (the first node's: cluster.ts), so there a throwaway
# container of IMAGE mounts VOLUME, with no network. A call with nothing to pass gives </dev/null.
records_sh() {
    if [ -n "${PEERS:-}" ]; then
        docker run --rm -i --network none -u postgres --label pg-replication.role=backup-records -v "$VOLUME:$REPO_PATH" \
            --entrypoint /bin/sh "$IMAGE" -c "$@"
    else
        dk "$PRIMARY_CONTAINER" exec -i -u postgres "$PRIMARY_CONTAINER" sh -c "$@"
    fi
}

# records_at: where records_sh acts, for a message.
records_at() {
    if [ -n "${PEERS:-}" ]; then echo "in the volume $VOLUME on ${DOCKER_HOST:-the local engine}"; else echo "in $PRIMARY_CONTAINER"; fi
}

# backup_verify NAME TIMEOUT: the verified restore. A marker row on the primary (schema
# pgreplication), its WAL pushed to the repository (pgbackrest check switches the segment and waits
# for it), then the newest backup restored in a throwaway container NAME of the backup image with no
# network and the repository read-only (with an S3 repository: on REPO_NETWORK, to reach it; the
# restored server never archives), the archive replayed to its end, the marker looked for and
# every table and B-tree index read (backup-restore.sh, each of its steps bounded by TIMEOUT
# seconds). Prints key=value lines (token, written_at, backup, restore_ms, recovery_ms, timeline,
# marker, lsn, tables, rows, indexes, verified_at; error=... when it could not finish, and returns 1);
# when the marker is there, keeps the result next to the backups (VERIFIED_FILE, which status,
# preview and destroy read; a proof it could not record fails, as nothing would show it) and
# removes the record of a failed attempt; when not, writes that
# record (VERIFY_FAILED_FILE: when, the backup, why), which status and preview say.
# env: PRIMARY_CONTAINER STANZA VOLUME IMAGE REPO_PATH VERIFIED_FILE VERIFY_FAILED_FILE [REPO_NETWORK]
backup_verify() {
    _bv_name=$1 _bv_timeout=$2
    _bv_token=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
    _bv_written=$(node_sql "$PRIMARY_CONTAINER" <<SQL
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS pgreplication;
CREATE TABLE IF NOT EXISTS pgreplication.restore_marker (token text PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT now());
INSERT INTO pgreplication.restore_marker (token) VALUES ('$_bv_token') RETURNING to_json(written_at)#>>'{}';
SQL
    ) || { backup_verify_failed "" "the marker could not be written on $PRIMARY_CONTAINER"; return 1; }
    echo "token=$_bv_token"
    echo "written_at=$_bv_written"
    log "marker $_bv_token written on $PRIMARY_CONTAINER at $_bv_written; pushing its WAL to the repository"
    dk "$PRIMARY_CONTAINER" exec -u postgres "$PRIMARY_CONTAINER" timeout 120 pgbackrest --log-level-console=warn check >&2 ||
        { backup_verify_failed "" "pgbackrest check on $PRIMARY_CONTAINER failed: the marker's WAL did not reach the repository"; return 1; }
    log "restoring the newest backup in $_bv_name ($IMAGE, $([ "${REPO_NETWORK:-none}" = none ] && echo "no network, repository read-only" || echo "network $REPO_NETWORK to reach the S3 repository, archiving off"))"
    _bv_out=$(mktemp)
    _bv_rc=0
    # Bounded as a whole too (each step of the restore has TIMEOUT): past the bound the container is
    # removed by name, which ends the run.
    ( sleep $((_bv_timeout * 3 + 60)) && docker rm -f -v "$_bv_name" ) >/dev/null 2>&1 &
    _bv_watch=$!
    docker run --rm --name "$_bv_name" --network "${REPO_NETWORK:-none}" -u postgres \
        --label pg-replication.role=verify-restore -v "$VOLUME:$REPO_PATH:ro" \
        -e "PGBACKREST_STANZA=$STANZA" -e "PGBACKREST_CONFIG=$REPO_PATH/pgbackrest.conf" \
        --entrypoint bash "$IMAGE" -c "$BACKUP_RESTORE_SH" backup-restore "$_bv_token" "$_bv_timeout" > "$_bv_out" || _bv_rc=$?
    kill "$_bv_watch" 2>/dev/null || true
    cat "$_bv_out"
    _bv_backup=$(sed -n 's/^backup=//p' "$_bv_out")
    if [ "$_bv_rc" -ne 0 ] || grep -q '^error=' "$_bv_out"; then
        _bv_error=$(sed -n 's/^error=//p' "$_bv_out" | head -n 1)
        rm -f "$_bv_out"
        backup_verify_failed "$_bv_backup" "${_bv_error:-the restore container $_bv_name ended with code $_bv_rc}" quiet
        return 1
    fi
    _bv_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    echo "verified_at=$_bv_at"
    if [ "$(sed -n 's/^marker=//p' "$_bv_out")" != 1 ]; then
        backup_verify_failed "$_bv_backup" "the restore lacks the marker written just before it: WAL is missing from the archive" quiet
    else
        # The record as JSON (pgbackrest.ts VerifiedRecord); every value is a label, a number or a time.
        awk -F= -v at="$_bv_at" -v token="$_bv_token" -v written="$_bv_written" '
            { v[$1] = substr($0, length($1) + 2) }
            END {
                printf "{\n  \"verifiedAt\": \"%s\",\n  \"backup\": \"%s\",\n", at, v["backup"]
                printf "  \"marker\": {\n    \"token\": \"%s\",\n    \"writtenAt\": \"%s\",\n    \"found\": true\n  },\n", token, written
                printf "  \"restoreSeconds\": %.3f,\n  \"recoverySeconds\": %.3f,\n  \"lsn\": \"%s\",\n", v["restore_ms"] / 1000, v["recovery_ms"] / 1000, v["lsn"]
                printf "  \"timeline\": %d,\n  \"tables\": %d,\n  \"rows\": %d,\n  \"indexesChecked\": %d\n}\n", v["timeline"], v["tables"], v["rows"], v["indexes"]
            }' "$_bv_out" |
            records_sh 'cat > "$0.new" && mv "$0.new" "$0" && rm -f "$1"' "$VERIFIED_FILE" "$VERIFY_FAILED_FILE" ||
            { echo "error=the restore of $_bv_backup was proven, but its record could not be written to the repository ($VERIFIED_FILE)"
              rm -f "$_bv_out"; return 1; }
    fi
    rm -f "$_bv_out"
}

# backup_verify_failed BACKUP ERROR [quiet]: a failed attempt, kept next to the backups
# (VERIFY_FAILED_FILE) for status and preview, and printed as error=ERROR unless quiet (the
# restore's own error line is printed already). The record is best effort: the repository may be
# what failed.
backup_verify_failed() {
    [ "${3:-}" = quiet ] || echo "error=$2"
    printf '{\n  "failedAt": "%s",\n  "backup": "%s",\n  "error": "%s"\n}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" \
        "$(printf '%s' "$2" | tr '\n\t' '  ' | sed 's/\\/\\\\/g; s/"/\\"/g')" |
        records_sh 'cat > "$0.new" && mv "$0.new" "$0"' "$VERIFY_FAILED_FILE" ||
        log "the failed attempt could not be recorded in the repository"
}
