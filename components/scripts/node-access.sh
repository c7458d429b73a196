# Lets the replication role in from every node's own address and nowhere else, and sets the WAL
# retention, on every node whatever its role (any node can become the primary); both take effect
# on reload, so changing them never restarts a node.
# env: NODE_CONTAINER REPLICATION_USER NODE_ADDRESSES WAL_KEEP_SIZE MAX_SLOT_WAL_KEEP_SIZE

{
    echo "# Managed by pg-replication; rewritten on every deployment."
    echo "local   all          all                          peer"
    echo "host    all          all          all             scram-sha-256"
    for address in $NODE_ADDRESSES; do
        echo "host    replication  $REPLICATION_USER  $address/32  scram-sha-256"
    done
} | docker exec -i -u postgres "$NODE_CONTAINER" \
    sh -c 'cat > "$PGDATA/pg_hba.conf.new" && mv "$PGDATA/pg_hba.conf.new" "$PGDATA/pg_hba.conf"'

# ALTER SYSTEM writes postgresql.auto.conf and is allowed on a standby too.
node_sql "$NODE_CONTAINER" >/dev/null <<SQL
ALTER SYSTEM SET wal_keep_size = '$WAL_KEEP_SIZE';
ALTER SYSTEM SET max_slot_wal_keep_size = '$MAX_SLOT_WAL_KEEP_SIZE';
SELECT pg_reload_conf();
SQL

# A rule the server cannot parse is skipped silently on reload; refuse to carry on with it.
errors=$(node_sql "$NODE_CONTAINER" "SELECT line_number || ': ' || error FROM pg_hba_file_rules WHERE error IS NOT NULL")
[ -z "$errors" ] || fail "pg_hba.conf on $NODE_CONTAINER was rejected: $errors"
log "$NODE_CONTAINER: replication allowed for $REPLICATION_USER from: $NODE_ADDRESSES"
