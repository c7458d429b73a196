# Shared by every command this program runs on the Pulumi host. Commands reach the database
# through `docker exec` as the OS user postgres (peer auth on the socket), so no password is
# ever on a command line.
set -eu

# On success a script prints nothing on stdout (it would be stored in state) and one summary
# line on stderr (the only stream the commands log).
log() { printf '%s\n' "$*" >&2; }
fail() { log "error: $*"; exit 1; }

running() { [ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }

# primary_sql [SQL]: runs SQL (argument or stdin) on the primary, prints unaligned tuples.
primary_sql() {
    if [ $# -gt 0 ]; then
        printf '%s\n' "$1" | primary_sql
    else
        docker exec -i -u postgres "$PRIMARY_CONTAINER" \
            psql -X -q -A -t -v ON_ERROR_STOP=1 -d postgres
    fi
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
