# Configures the endpoint's PgBouncer in its container and checks that it reaches a primary: the
# settings (pgbouncer.ini), where writes go (target.ini, included by it: the declared primary,
# which the topology step made the actual one), and the file with its own role's password; then
# RELOAD (a changed target closes each server connection as its transaction ends, so no client
# sees an error) and RESUME (a pause a failed step left behind ends). A pool setting is changed
# the same way, by reload: the pooler is never restarted for it.
# The read-only endpoint's pooler (READS set) gets no fixed target: its watcher (pooler-watch.sh,
# started beside PgBouncer by the container's command) chooses it from MEMBERS, and is run once
# here first; the check through it then only needs an answer, from whichever node it chose.
# Nodes on several engines (TLS=1): the stack's CA (CA_CERT, public) and the pooler's own
# certificate and key (after the password on stdin, never in the environment) go beside them first,
# before any setting that names them.
# env: POOLER_CONTAINER POOLER_DIR POOLER_INI AUTH_USER TIMEOUT POOLER_PORT
#      ADMIN_PSQL (pooler.ts adminPsql, the topology step's own)
#      TARGET (read-write) | READS=1 MEMBERS MAX_LAG_BYTES INTERVAL (read-only)
#      TLS=1 CA_CERT (nodes on several engines)
#      stdin: the pooler role's password; with TLS then its certificate and key (PEM)

IFS= read -r password || [ -n "$password" ] || fail "no password on stdin"
# put FILE MODE: stdin to the file in POOLER_DIR, replaced whole (PgBouncer never reads half a file).
put() {
    dk "$POOLER_CONTAINER" exec -i "$POOLER_CONTAINER" sh -c \
        'umask 077 && cat > "$0/$1.new" && chmod "$2" "$0/$1.new" && mv "$0/$1.new" "$0/$1"' "$POOLER_DIR" "$1" "$2"
}
# PgBouncer's auth_file quoting: a double quote inside a field is doubled.
printf '"%s" "%s"\n' "$AUTH_USER" "$(printf '%s' "$password" | sed 's/"/""/g')" | put userlist.txt 600
if [ "${TLS:-}" = 1 ]; then
    pem=$(cat)
    case $pem in
        *"BEGIN CERTIFICATE"*"BEGIN PRIVATE KEY"*) ;;
        *) fail "expected the pooler's certificate and key (PEM) on stdin after the password" ;;
    esac
    printf '%s\n' "$pem" | sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' | put server.crt 600
    printf '%s\n' "$pem" | sed -n '/BEGIN PRIVATE KEY/,/END PRIVATE KEY/p' | put server.key 600
    printf '%s\n' "$CA_CERT" | put ca.crt 600
fi
if [ -n "${READS:-}" ]; then
    printf '%s\n' "$POOLER_WATCH_SH" | put watch.sh 700
    printf '%s\n' "$MEMBERS" | put members 600
    printf "MAX_LAG_BYTES=%s\nINTERVAL=%s\nAUTH_USER='%s'\nADMIN_PSQL='%s'\nTLS=%s\n" \
        "$MAX_LAG_BYTES" "$INTERVAL" "$AUTH_USER" "$ADMIN_PSQL" "${TLS:-}" | put watch.conf 600
    # libpq's passfile escapes ":" and "\\" with a backslash.
    printf '*:*:*:%s:%s\n' "$AUTH_USER" "$(printf '%s' "$password" | sed 's/[\\:]/\\&/g')" | put pgpass 600
    chose=$(dk "$POOLER_CONTAINER" exec "$POOLER_CONTAINER" sh "$POOLER_DIR/watch.sh" "$POOLER_DIR" --once) ||
        fail "the read-only endpoint in $POOLER_CONTAINER could not choose where reads go"
else
    printf '%s\n' "$TARGET" | put target.ini 600
fi
# Last: the container starts PgBouncer once this file is there.
printf '%s\n' "$POOLER_INI" | put pgbouncer.ini 600

# The admin console over its socket as user pgbouncer: PgBouncer lets the OS user it runs as in
# without a password (the container's only user, postgres).
admin() {
    # shellcheck disable=SC2086  # ADMIN_PSQL is an argument list without blanks inside its words
    dk "$POOLER_CONTAINER" exec "$POOLER_CONTAINER" $ADMIN_PSQL -c "$1"
}
wait_for "$TIMEOUT" admin "SHOW VERSION" >/dev/null 2>&1 ||
    fail "the pooler in $POOLER_CONTAINER does not answer on its socket after ${TIMEOUT}s: $(dk "$POOLER_CONTAINER" logs --tail 5 "$POOLER_CONTAINER" 2>&1)"
admin RELOAD >/dev/null
admin RESUME >/dev/null 2>&1 || true

# Through the endpoint as a client would, over TCP with SCRAM: a primary answers (the read-only
# endpoint: whichever node its watcher chose).
through() {
    answer=$(printf '%s\n' "$password" | dk "$POOLER_CONTAINER" exec -i "$POOLER_CONTAINER" sh -c \
        'IFS= read -r PGPASSWORD && export PGPASSWORD && exec psql -X -q -A -t -h 127.0.0.1 -p "$0" -U "$1" -d postgres -c "SELECT pg_is_in_recovery()"' \
        "$POOLER_PORT" "$AUTH_USER" 2>/dev/null) || return 1
    [ "$answer" = f ] || { [ -n "${READS:-}" ] && [ "$answer" = t ]; }
}
wait_for "$TIMEOUT" through ||
    fail "the endpoint in $POOLER_CONTAINER does not reach ${TARGET:+a primary ($TARGET)}${READS:+a node} within ${TIMEOUT}s: $(dk "$POOLER_CONTAINER" logs --tail 5 "$POOLER_CONTAINER" 2>&1)"
if [ -n "${READS:-}" ]; then
    log "endpoint $POOLER_CONTAINER: reads go to the $chose"
else
    log "endpoint $POOLER_CONTAINER: writes go to ${TARGET#* = }"
fi
