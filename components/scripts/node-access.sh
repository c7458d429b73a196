# Lets the replication role in from every node's own address and nowhere else, and sets the WAL
# retention, on every node whatever its role (any node can become the primary); both take effect
# on reload, so changing them never restarts a node.
# With TLS (nodes on several hosts), replication from another host is admitted over TLS only
# (hostssl, from that host's address as this node sees it), so are clients from outside the node's
# engine, and ssl is turned on by reload with the files node-tls.sh wrote.
# env: NODE_CONTAINER REPLICATION_USER NODE_ADDRESSES WAL_KEEP_SIZE MAX_SLOT_WAL_KEEP_SIZE
#      [TLS_DIR TLS_ADDRESSES CLIENT_SUBNET]

[ -z "${TLS_DIR:-}" ] || [ -n "${CLIENT_SUBNET:-}" ] || fail "CLIENT_SUBNET is required with TLS_DIR"

{
    echo "# Managed by pg-replication; rewritten on every deployment."
    # The scripts' own way in: psql through docker exec as the OS user postgres, on the socket.
    echo "local   all          all                          peer"
    if [ -n "${TLS_DIR:-}" ]; then
        # Clients on the node's own engine: its bridge subnet. A client on that host reaching a
        # port published on 127.0.0.1 arrives through docker-proxy from the bridge's gateway, and
        # the other containers on the bridge from their own addresses; neither leaves the host.
        echo "host    all          all          $CLIENT_SUBNET  scram-sha-256"
        # Everyone else, over TLS only: Docker forwards the port published on the host address
        # without rewriting the source, so a client on another host (or on this one, through the
        # host address) arrives from its own address, matches no rule above, and a plaintext one
        # is refused.
        echo "hostssl all          all          all             scram-sha-256"
    else
        # One engine, TLS off: clients from anywhere the published port is reachable.
        echo "host    all          all          all             scram-sha-256"
    fi
    # Replication (not covered by "all"): each node at its address on this engine's bridge...
    for address in $NODE_ADDRESSES; do
        echo "host    replication  $REPLICATION_USER  $address/32  scram-sha-256"
    done
    # ...and each other host at its address, over TLS only.
    for address in ${TLS_ADDRESSES:-}; do
        echo "hostssl replication  $REPLICATION_USER  $address/32  scram-sha-256"
    done
} | docker exec -i -u postgres "$NODE_CONTAINER" \
    sh -c 'cat > "$PGDATA/pg_hba.conf.new" && mv "$PGDATA/pg_hba.conf.new" "$PGDATA/pg_hba.conf"'

# ALTER SYSTEM writes postgresql.auto.conf and is allowed on a standby too.
tls_sql=
if [ -n "${TLS_DIR:-}" ]; then
    tls_sql="ALTER SYSTEM SET ssl_cert_file = '$TLS_DIR/server.crt';
ALTER SYSTEM SET ssl_key_file = '$TLS_DIR/server.key';
ALTER SYSTEM SET ssl_ca_file = '$TLS_DIR/ca.crt';
ALTER SYSTEM SET ssl = on;"
fi
node_sql "$NODE_CONTAINER" >/dev/null <<SQL
$tls_sql
ALTER SYSTEM SET wal_keep_size = '$WAL_KEEP_SIZE';
ALTER SYSTEM SET max_slot_wal_keep_size = '$MAX_SLOT_WAL_KEEP_SIZE';
SELECT pg_reload_conf();
SQL

# The reload is a signal: a new session sees ssl on once the server has read the files (hostssl
# rules are errors while it is off).
ssl_on() { [ "$(node_sql "$NODE_CONTAINER" "SHOW ssl")" = on ]; }
if [ -n "${TLS_DIR:-}" ] && ! wait_for 10 ssl_on; then
    fail "ssl is not on 10s after reload on $NODE_CONTAINER (its log says why: docker logs $NODE_CONTAINER)"
fi
# A rule the server cannot parse is skipped silently on reload; refuse to carry on with it.
errors=$(node_sql "$NODE_CONTAINER" "SELECT line_number || ': ' || error FROM pg_hba_file_rules WHERE error IS NOT NULL")
[ -z "$errors" ] || fail "pg_hba.conf on $NODE_CONTAINER was rejected: $errors"
log "$NODE_CONTAINER: replication allowed for $REPLICATION_USER from: $NODE_ADDRESSES${TLS_ADDRESSES:+ (over TLS: $TLS_ADDRESSES)}${TLS_DIR:+; clients without TLS only from $CLIENT_SUBNET}"
