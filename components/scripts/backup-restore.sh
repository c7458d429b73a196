# The verified restore's in-container part (backup/core.ts verifyRestore): in a throwaway container
# of the backup image, without a network and with the repository mounted read-only, restore the
# newest backup into the container's own data directory (an anonymous volume, gone with it),
# replay the archive to its end, and check what that gives: the marker the tool wrote on the
# primary just before, every table of every database read whole, every B-tree index checked by
# amcheck. Refused first when the disk has no room for it. Prints key=value lines; exits non-zero
# when a step fails (its output says which).
# args: TOKEN TIMEOUT_SECONDS   env (the container's): PGBACKREST_STANZA PGBACKREST_CONFIG
set -eu
token=$1
timeout=$2
export PGDATA=/var/lib/postgresql/data/pgdata PGHOST=/tmp
now_ms() { date +%s%3N; }
sql() { psql -X -A -t -q -v ON_ERROR_STOP=1 "$@"; }

started=$(now_ms)
info=$(pgbackrest info)
printf '%s\n' "$info" | sed -n 's/^ *\(full\|diff\|incr\) backup: \([^ ]*\).*/backup=\2/p' | tail -n 1
# Room first: the restore is a whole copy of the cluster (the newest set's "database size"), on the
# engine's disk, which the nodes' volumes usually share. It is refused, before anything is written,
# when it would leave less than 1 GiB or 5% of that filesystem free: a proof must never fill the
# disk under the primary.
need_kb=$(printf '%s\n' "$info" | awk '/database size:/ { v = $3; sub(",", "", v) }
    END { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
          f = (u == "TB") ? 1073741824 : (u == "GB") ? 1048576 : (u == "MB") ? 1024 : (u == "KB") ? 1 : 1 / 1024
          printf "%d\n", n * f + 1 }')
set -- $(df -Pk "$(dirname "$PGDATA")" | awk 'NR == 2 { print $2, $4 }')
keep_kb=$(( $1 / 20 > 1048576 ? $1 / 20 : 1048576 ))
if [ $(($2 - need_kb)) -lt "$keep_kb" ]; then
    echo "error=no room for the restore: it needs $((need_kb / 1024)) MiB and the engine's disk has $(($2 / 1024)) MiB free; after it less than" \
        "$((keep_kb / 1024)) MiB (1 GiB or 5% of the disk) would be left, which the nodes sharing that disk need: free some space"
    exit 1
fi
mkdir -m 0700 "$PGDATA"
pgbackrest --log-level-console=warn restore
echo "restore_ms=$(($(now_ms) - started))"

# Recovery replays the archive to its end, then promotes (no target: the end is the target). No TLS:
# nothing listens on TCP, and the certificates of a cluster across engines (node-access.sh, ssl=on
# in postgresql.auto.conf) are beside its data directory, not in the backup.
started=$(now_ms)
pg_ctl -D "$PGDATA" -l /tmp/restored.log -w -t "$timeout" -o "-c listen_addresses='' -c unix_socket_directories=/tmp \
-c archive_mode=off -c synchronous_standby_names='' -c ssl=off" start >/dev/null ||
    { echo "error=the restored data directory did not start: $(tail -n 5 /tmp/restored.log | tr '\n' ' ')"; exit 1; }
deadline=$(($(date +%s) + timeout))
until [ "$(sql -d postgres -c 'SELECT pg_is_in_recovery()')" = f ]; do
    [ "$(date +%s)" -lt "$deadline" ] ||
        { echo "error=recovery did not reach the end of the archive within ${timeout}s: $(tail -n 3 /tmp/restored.log | tr '\n' ' ')"; exit 1; }
    sleep 0.2
done
echo "recovery_ms=$(($(now_ms) - started))"
# The last WAL record recovery replayed: where the archive ended (it stays so after the promotion).
echo "lsn=$(sql -d postgres -c "SELECT pg_last_wal_replay_lsn()")"
echo "timeline=$(sql -d postgres -c "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int")"
echo "marker=$(sql -d postgres -c "SELECT count(*) FROM pgreplication.restore_marker WHERE token = '$token'" 2>/dev/null || echo 0)"

tables=0 rows=0 indexes=0
# One name a line, each taken whole: a name may hold blanks or glob characters, and is passed as
# itself, never read as a connection string (dbname_conninfo).
names=$(sql -d postgres -c "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1")
mapfile -t databases <<< "$names"
for db in "${databases[@]}"; do
    [ -n "$db" ] || continue
    sql -d "$(dbname_conninfo "$db")" -c "CREATE EXTENSION IF NOT EXISTS amcheck" >/dev/null
    # Every table read whole (count(*) of each through query_to_xml); every valid B-tree index, the
    # catalogs' included, checked (bt_index_check: its structure and order).
    counts=$(sql -d "$(dbname_conninfo "$db")" -F ' ' <<'SQL'
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'),
       (SELECT coalesce(sum((xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname),
            false, true, '')))[1]::text::bigint), 0)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'),
       (SELECT count(bt_index_check(c.oid)::text) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'btree' AND i.indisvalid AND i.indisready AND c.relpersistence <> 't')
SQL
)
    set -- $counts
    tables=$((tables + $1)) rows=$((rows + $2)) indexes=$((indexes + $3))
done
echo "tables=$tables"
echo "rows=$rows"
echo "indexes=$indexes"
pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
