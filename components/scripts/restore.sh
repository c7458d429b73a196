# In a throwaway container of the backup image on a new stack's first node (node-seed.sh, when
# pg-replication:restore is set): restore the repository's backup into the node's empty data
# directory, recover to the target and promote, then leave a primary's data directory as this
# stack's commands expect it, and stop cleanly. The node's container then starts on it as primary.
# The repository is mounted read-only; no network.
# env: PGBACKREST_STANZA PGBACKREST_CONFIG RESTORE_TARGET_TIME (empty: the end of the archive)
#      REPLICATION_USER AUTH_USER
set -eu
umask 077
export PGDATA=/var/lib/postgresql/data/pgdata PGHOST=/tmp
sql() { psql -X -A -t -q -v ON_ERROR_STOP=1 "$@"; }
mkdir -p -m 0700 "$PGDATA"
[ -z "$(ls -A "$PGDATA")" ] || { echo "error: $PGDATA is not empty" >&2; exit 1; }

# A time target: pgBackRest selects the newest backup that ended before it (since 2.24) and writes
# recovery_target_time with promote; no target: the newest backup, recovered to the end of the archive.
if [ -n "$RESTORE_TARGET_TIME" ]; then
    pgbackrest --log-level-console=warn --type=time "--target=$RESTORE_TARGET_TIME" --target-action=promote restore
else
    pgbackrest --log-level-console=warn restore
fi
label=$(sed -n 's/^backup-label="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$PGDATA/backup.manifest" 2>/dev/null | head -n 1) || label=
echo "restored backup ${label:-(label unknown)} of stanza $PGBACKREST_STANZA" >&2

# Recovery takes as long as the WAL it replays: no bound, but the server must stay up until it promotes.
pg_ctl -D "$PGDATA" -l /tmp/restore.log -w -t 3600 -o "-c listen_addresses='' -c unix_socket_directories=/tmp \
-c archive_mode=off -c synchronous_standby_names=''" start >/dev/null ||
    { echo "error: the restored data directory did not start: $(tail -n 5 /tmp/restore.log | tr '\n' ' ')" >&2; exit 1; }
until [ "$(sql -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
    pg_ctl -D "$PGDATA" status >/dev/null 2>&1 ||
        { echo "error: recovery stopped before promoting: $(tail -n 5 /tmp/restore.log | tr '\n' ' ')" >&2; exit 1; }
    sleep 0.2
done

# Recovery settings pgBackRest wrote, and what a former node's role left, go: this is a primary
# now, and a later switchover writes its own standby settings.
for setting in restore_command recovery_target recovery_target_time recovery_target_action recovery_target_name \
    recovery_target_lsn recovery_target_xid recovery_target_inclusive recovery_target_timeline primary_conninfo \
    primary_slot_name synchronous_standby_names; do
    sql -d postgres -c "ALTER SYSTEM RESET $setting"
done
# The stack makes its replication role and its pooler's role itself, with its own passwords: the
# copies of the source's go (with what they were granted; they own nothing).
for role in "$REPLICATION_USER" "$AUTH_USER"; do
    [ "$(sql -d postgres -c "SELECT count(*) FROM pg_roles WHERE rolname = '$role'")" = 1 ] || continue
    for db in $(sql -d postgres -c "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1"); do
        sql -d "$db" -c "DROP OWNED BY \"$role\""
    done
    sql -d postgres -c "DROP ROLE \"$role\""
done
echo "recovered to $(sql -d postgres -c "SELECT coalesce(pg_last_xact_replay_timestamp()::text, 'the end of the backup')") on timeline $(sql -d postgres -c "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int")" >&2
pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
