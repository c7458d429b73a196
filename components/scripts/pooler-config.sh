# Configures the endpoint's PgBouncer in its container and checks that it reaches a primary: the
# settings (pgbouncer.ini), where writes go (target.ini, included by it: the declared primary,
# which the topology step made the actual one), and the file with its own role's password; then
# RELOAD (a changed target closes each server connection as its transaction ends, so no client
# sees an error) and RESUME (a pause a failed step left behind ends). A pool setting is changed
# the same way, by reload: the pooler is never restarted for it.
# env: POOLER_CONTAINER POOLER_DIR POOLER_INI TARGET AUTH_USER TIMEOUT POOLER_PORT
#      ADMIN_PSQL (pooler.ts adminPsql, the topology step's own); stdin: the pooler role's password

IFS= read -r password || [ -n "$password" ] || fail "no password on stdin"
# put FILE MODE: stdin to the file in POOLER_DIR, replaced whole (PgBouncer never reads half a file).
put() {
    dk "$POOLER_CONTAINER" exec -i "$POOLER_CONTAINER" sh -c \
        'umask 077 && cat > "$0/$1.new" && chmod "$2" "$0/$1.new" && mv "$0/$1.new" "$0/$1"' "$POOLER_DIR" "$1" "$2"
}
# PgBouncer's auth_file quoting: a double quote inside a field is doubled.
printf '"%s" "%s"\n' "$AUTH_USER" "$(printf '%s' "$password" | sed 's/"/""/g')" | put userlist.txt 600
printf '%s\n' "$TARGET" | put target.ini 600
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

# Through the endpoint as a client would, over TCP with SCRAM: a primary answers.
through() {
    [ "$(printf '%s\n' "$password" | dk "$POOLER_CONTAINER" exec -i "$POOLER_CONTAINER" sh -c \
        'IFS= read -r PGPASSWORD && export PGPASSWORD && exec psql -X -q -A -t -h 127.0.0.1 -p "$0" -U "$1" -d postgres -c "SELECT pg_is_in_recovery()"' \
        "$POOLER_PORT" "$AUTH_USER" 2>/dev/null)" = f ]
}
wait_for "$TIMEOUT" through ||
    fail "the endpoint in $POOLER_CONTAINER does not reach a primary ($TARGET) within ${TIMEOUT}s: $(dk "$POOLER_CONTAINER" logs --tail 5 "$POOLER_CONTAINER" 2>&1)"
log "endpoint $POOLER_CONTAINER: writes go to ${TARGET#* = }"
