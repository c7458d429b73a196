# A node's readiness gate: everything that talks to the node waits for it. Ready means Docker
# reports the container healthy and the server answers over TCP (the image's init-time server
# listens on the socket only). A failed gate records nothing, so the next `up` runs it again:
# an unhealthy node is never accepted silently.
# env: NODE_CONTAINER TIMEOUT

health=
ready() {
    health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}no health check{{end}}' \
        "$NODE_CONTAINER" 2>/dev/null) || health="no such container"
    [ "$health" = healthy ] &&
        docker exec "$NODE_CONTAINER" pg_isready -q -h 127.0.0.1 -p 5432 -U postgres -d postgres >/dev/null 2>&1
}
if ! wait_for "$TIMEOUT" ready; then
    reason=$(docker logs --tail 20 "$NODE_CONTAINER" 2>&1 | tail -n 20) || reason=
    fail "node $NODE_CONTAINER is not ready after ${TIMEOUT}s (health: ${health:-unknown}). Its last log lines:
$reason"
fi
log "node $NODE_CONTAINER is ready"
