# Lets the replication role in from the standbys' own addresses and nowhere else, and sets the
# WAL retention; both take effect on reload, so changing them never restarts the primary.
# env: PRIMARY_CONTAINER REPLICATION_USER STANDBY_ADDRESSES WAL_KEEP_SIZE MAX_SLOT_WAL_KEEP_SIZE

{
    echo "# Managed by pg-replication; rewritten on every deployment."
    echo "local   all          all                          peer"
    echo "host    all          all          all             scram-sha-256"
    for address in $STANDBY_ADDRESSES; do
        echo "host    replication  $REPLICATION_USER  $address/32  scram-sha-256"
    done
} | docker exec -i -u postgres "$PRIMARY_CONTAINER" \
    sh -c 'cat > "$PGDATA/pg_hba.conf.new" && mv "$PGDATA/pg_hba.conf.new" "$PGDATA/pg_hba.conf"'

primary_sql >/dev/null <<SQL
ALTER SYSTEM SET wal_keep_size = '$WAL_KEEP_SIZE';
ALTER SYSTEM SET max_slot_wal_keep_size = '$MAX_SLOT_WAL_KEEP_SIZE';
SELECT pg_reload_conf();
SQL

# A rule the server cannot parse is skipped silently on reload; refuse to carry on with it.
errors=$(primary_sql "SELECT line_number || ': ' || error FROM pg_hba_file_rules WHERE error IS NOT NULL")
[ -z "$errors" ] || fail "pg_hba.conf on $PRIMARY_CONTAINER was rejected: $errors"
log "replication allowed for $REPLICATION_USER from: ${STANDBY_ADDRESSES:-(no standbys)}"
