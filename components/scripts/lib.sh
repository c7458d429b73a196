# Shared by every command this program runs on the Pulumi host. Commands reach the database
# through `docker exec` as the OS user postgres (peer auth on the socket), so no password is
# ever on a command line.
set -eu

# On success a script prints nothing on stdout (it would be stored in state) and one summary
# line on stderr (the only stream the commands log).
log() { printf '%s\n' "$*" >&2; }
fail() { log "error: $*"; exit 1; }

running() { [ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }

# node_sql CONTAINER [SQL]: runs SQL (argument or stdin) on a node, prints unaligned tuples.
node_sql() {
    _container=$1
    shift
    if [ $# -gt 0 ]; then
        printf '%s\n' "$1" | node_sql "$_container"
    else
        docker exec -i -u postgres "$_container" psql -X -q -A -t -v ON_ERROR_STOP=1 -d postgres
    fi
}

# primary_sql [SQL]: node_sql on $PRIMARY_CONTAINER.
primary_sql() { node_sql "$PRIMARY_CONTAINER" "$@"; }

# find_primary: sets PRIMARY_CONTAINER and PRIMARY_ADDRESS to the stack's one running node that
# is not in recovery (both empty when there is none; fails when there are two). The role is
# state in the data directory, so it is asked for, never taken from stored inputs.
# env: STACK_LABELS ("key=value ..." of the stack's node containers)
find_primary() {
    PRIMARY_CONTAINER= PRIMARY_ADDRESS=
    _filters=
    for _label in $STACK_LABELS; do _filters="$_filters --filter label=$_label"; done
    # shellcheck disable=SC2086
    _nodes=$(docker ps $_filters --filter label=pg-replication.role=node \
        --format '{{.Names}}:{{.Label "pg-replication.address"}}')
    for _node in $_nodes; do
        if [ "$(node_sql "${_node%%:*}" "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ]; then
            [ -z "$PRIMARY_CONTAINER" ] ||
                fail "two nodes run as primary: $PRIMARY_CONTAINER and ${_node%%:*}; stop one of them first"
            PRIMARY_CONTAINER=${_node%%:*} PRIMARY_ADDRESS=${_node#*:}
        fi
    done
}

# node_containers: every node container of the stack, running or not.
node_containers() {
    _filters=
    for _label in $STACK_LABELS; do _filters="$_filters --filter label=$_label"; done
    # shellcheck disable=SC2086
    docker ps -a $_filters --filter label=pg-replication.role=node --format '{{.Names}}'
}

# docker_labels: "--label k=v ..." for throwaway containers, from DOCKER_LABELS.
docker_labels() {
    for _label in $DOCKER_LABELS; do printf -- '--label %s ' "$_label"; done
}

# wait_for SECONDS CHECK...: polls CHECK every POLL_INTERVAL seconds (0.2 by default: each look
# is one `docker exec` or `docker inspect`) until it succeeds, or gives up after SECONDS.
wait_for() {
    _limit=$1
    shift
    _deadline=$(( $(date +%s) + _limit ))
    until "$@"; do
        [ "$(date +%s)" -lt "$_deadline" ] || return 1
        sleep "${POLL_INTERVAL:-0.2}"
    done
}
