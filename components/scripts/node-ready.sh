# A node's readiness gate: everything that talks to the node waits for it. Ready means the server
# answers pg_isready over TCP inside the container (the image's init-time server listens on the
# socket only, so it cannot pass). Docker's health check runs the same probe, but only once a
# second: waiting for its "healthy" would add up to a second to every gate. A failed gate records
# nothing, so the next `up` runs it again: an unhealthy node is never accepted silently.
# Its one line on stdout is the server's version (SHOW server_version), the node's `version`
# output: kept in state as the version this container started with (nothing secret).
# env: NODE_CONTAINER TIMEOUT

# An engine error is looked past until the bound (the next look may be answered), but never
# reported as a container that is not there.
state=
ready() {
    looked=0
    state=$(inspect_field "$NODE_CONTAINER" '{{.State.Status}}' 2>&1) || looked=$?
    case $looked in
        1) state="no such container" ;;
        2) state="its engine did not say its state: $state" ;;
    esac
    [ "$looked" = 0 ] && [ "$state" = running ] &&
        docker exec "$NODE_CONTAINER" pg_isready -q -h 127.0.0.1 -p 5432 -U postgres -d postgres >/dev/null 2>&1
}
if ! wait_for "$TIMEOUT" ready; then
    reason=$(docker logs --tail 20 "$NODE_CONTAINER" 2>&1 | tail -n 20) || reason=
    fail "node $NODE_CONTAINER is not ready after ${TIMEOUT}s (container: ${state:-unknown}). Its last log lines:
$reason"
fi
version=$(docker exec -u postgres "$NODE_CONTAINER" psql -X -A -t -c "SHOW server_version" 2>/dev/null) || version=
log "node $NODE_CONTAINER is ready${version:+ (PostgreSQL $version)}"
[ -z "$version" ] || printf '%s\n' "$version"
