# Shared by every command this program runs on the Pulumi host. Commands reach the database
# through `docker exec` as the OS user postgres (peer auth on the socket), so no password is
# ever on a command line.
set -eu

# On success a script prints nothing on stdout (it would be stored in state) and one summary
# line on stderr (the only stream the commands log).
log() { printf '%s\n' "$*" >&2; }
fail() { log "error: $*"; exit 1; }

# With nodes on several Docker engines, PEERS lists every node as
# "name|container|engine|address|hostAddress|port", and every docker call about a node goes to
# that node's engine (dk). Without PEERS, everything is on the command's own DOCKER_HOST.
# peer_field MATCH_FIELD VALUE FIELD: FIELD of the node whose MATCH_FIELD is VALUE (fails when none).
peer_field() {
    for _pf in ${PEERS:-}; do
        if [ "$(printf '%s' "$_pf" | cut -d'|' -f"$1")" = "$2" ]; then
            printf '%s\n' "$_pf" | cut -d'|' -f"$3"
            return 0
        fi
    done
    return 1
}

# docker ARGS...: the docker CLI, asked again at the engine's API version when a CLI newer than
# the engine did not get to negotiate it: it learns the version from a ping it gives 2 s
# (docker/cli v28.5.2 cli/command/cli.go initializeFromClient), and when that ping is late (an
# ssh engine on a loaded machine) an older engine refuses its own ("client version 1.50 is too
# new. Maximum supported API version is 1.41"). Standard input, when the call reads it (-i), is
# kept in memory for the second ask, never in a file: it carries passwords and TLS keys. As
# components/docker-cli.ts does for the program.
docker() {
    _da_err=$(mktemp)
    _da_reads=0 _da_in=
    case " $* " in
        # (The x keeps the input's trailing newlines, which $(...) would drop.)
        *" -i "*) _da_reads=1 _da_in=$(cat; echo x) && _da_in=${_da_in%x} ;;
    esac
    _da_rc=0
    _da_feed "$@" 2> "$_da_err" || _da_rc=$?
    if [ "$_da_rc" -ne 0 ] && [ -z "${DOCKER_API_VERSION:-}" ]; then
        _da_v=$(sed -n 's/.*client version [^ ]* is too new\. Maximum supported API version is \([0-9][0-9.]*\).*/\1/p' "$_da_err" | head -n 1)
        if [ -n "$_da_v" ]; then
            _da_rc=0
            DOCKER_API_VERSION=$_da_v _da_feed "$@" 2> "$_da_err" || _da_rc=$?
        fi
    fi
    cat "$_da_err" >&2
    rm -f "$_da_err"
    return "$_da_rc"
}
# The docker CLI with the kept input on stdin, or none.
_da_feed() {
    if [ "$_da_reads" = 1 ]; then
        printf '%s' "$_da_in" | command docker "$@"
    else
        command docker "$@" < /dev/null
    fi
}

# dk CONTAINER ARGS...: the docker CLI on CONTAINER's engine.
dk() {
    _dk_c=$1
    shift
    _dk_e=$(peer_field 2 "$_dk_c" 3) || _dk_e=${DOCKER_HOST:-}
    DOCKER_HOST=$_dk_e docker "$@"
}

# route FROM TO TO_ADDRESS: the host part of a conninfo for node FROM to reach node TO: TO's
# cluster address over the bridge when both are on one engine; else TO's published address and
# port, over TLS, verifying TO's certificate against the stack's CA in FROM's volume.
route() {
    if [ -n "${PEERS:-}" ] && [ "$(peer_field 1 "$1" 3)" != "$(peer_field 1 "$2" 3)" ]; then
        printf 'host=%s port=%s sslmode=verify-full sslrootcert=%s/ca.crt' \
            "$(peer_field 1 "$2" 5)" "$(peer_field 1 "$2" 6)" "${TLS_DIR:-/var/lib/postgresql/data/tls}"
    else
        printf 'host=%s port=5432' "$3"
    fi
}

# bounded SECONDS CMD...: CMD (a command or a function), with no standard input, ended when it has
# not ended by itself within SECONDS (status 124 then, as timeout(1), which macOS lacks). For the calls
# that ask every node on its own engine: an engine whose host is lost or frozen may never answer (an
# ssh engine whose sshd accepts while dockerd is stopped; a tcp one that took the connection), and one
# such node must not hold up what the others can say. What CMD printed is printed after it ends: its
# output goes to files meanwhile. Past the bound CMD is ended with everything it started
# (kill_tree): a shell of it left running would keep the caller's stderr open (the shell's copy of
# it, saved around a redirection), and whoever reads that pipe to its end would wait on.
# Each call has its own directory, removed when it ends: CMD's output and standard error, the
# watcher's mark, and, as CMD's TMPDIR (mktemp makes its files there), every temporary file CMD
# makes: one killed past the bound (docker's for the CLI's error, inspect_field's, a bounded's
# within) is ended before it removes its own, and would leave them behind.
bounded() {
    _bd_limit=$1
    shift
    # (Checked: with no directory everything below would land in /, and callers ignore set -e here.)
    _bd_dir=$(mktemp -d) && [ -d "$_bd_dir" ] || { log "bounded: no temporary directory for: $*"; return 2; }
    _bd_out=$_bd_dir/out _bd_err=$_bd_dir/err
    { exec >"$_bd_out" 2>"$_bd_err" </dev/null; TMPDIR=$_bd_dir; export TMPDIR; "$@"; } &
    _bd_pid=$!
    # The watcher: ends CMD after SECONDS. When CMD ends first, the watcher is ended with its sleep
    # (kill_tree: SIGKILL, which no inherited disposition ignores and no race with a trap loses).
    ( exec >/dev/null 2>&1 </dev/null; sleep "$_bd_limit"; : > "$_bd_dir/fired"; kill_tree "$_bd_pid" ) &
    _bd_watch=$!
    _bd_rc=0
    # (wait's own stderr: the shell's "Killed" for a job ended so.)
    wait "$_bd_pid" 2>/dev/null || _bd_rc=$?
    kill_tree "$_bd_watch"
    # Waited for too (it is gone at once): a watcher that fired as CMD ended by itself wrote its mark before the directory goes.
    wait "$_bd_watch" 2>/dev/null || true
    # Only the watcher's kill is "no answer" (it marks that it fired before it kills): a CMD killed by
    # anything else (its container stopped under a `docker exec`, the OOM killer) keeps its 137.
    if [ "$_bd_rc" -eq 137 ] && [ -e "$_bd_dir/fired" ]; then
        _bd_rc=124
        printf 'no answer within %ss: %s\n' "$_bd_limit" "$*" >> "$_bd_err"
    fi
    cat "$_bd_out"
    cat "$_bd_err" >&2
    # Never the call's status (dash keeps set -e inside $(...)): a file made while this runs can fail it.
    rm -rf "$_bd_dir" 2>/dev/null || true
    return "$_bd_rc"
}

# kill_tree PID: PID and every process under it (ps -A, as on Linux and macOS), ended at once
# (SIGKILL), the deepest first.
kill_tree() {
    for _kt in $(ps -A -o pid= -o ppid= 2>/dev/null | awk -v parent="$1" '$2 == parent { print $1 }'); do kill_tree "$_kt"; done
    kill -9 "$1" 2>/dev/null || true
}

# ask_node CMD...: CMD about one node, on that node's engine: bounded by NODE_ASK_SECONDS (20 s)
# when the nodes are on several engines (PEERS), where one engine may stop answering while the
# others do; on one engine, all answer or none does, so nothing is bounded. For the short asks
# (a look, a query); work that may take minutes goes through node_within with its own bound.
# Status 124 past the bound: say it with no_answer, never as "not running" or "no such container".
ask_node() { node_within "${NODE_ASK_SECONDS:-20}" "$@"; }

# node_within SECONDS CMD...: CMD bounded by SECONDS when PEERS is set (as ask_node), else as it is.
node_within() {
    _nw_limit=$1
    shift
    if [ -n "${PEERS:-}" ]; then bounded "$_nw_limit" "$@"; else "$@"; fi
}

# no_answer CONTAINER [SECONDS]: how a node whose call ran out of its bound is named in a message.
no_answer() { printf 'node %s: no answer within %ss' "$1" "${2:-${NODE_ASK_SECONDS:-20}}"; }

# ask_or_fail [--with FAIL] NODE WHAT THEN CMD...: CMD, an ask about one node, through ask_node; its
# standard output printed when it succeeds. When it does not, the script fails (fail, or FAIL when
# given: upgrade.sh's start_again), in one wording for every such ask:
#   past the bound (124): "node NODE: no answer within Ns, so WHAT is not known; THEN"
#   any other failure:    "node NODE: the ask failed (above), so WHAT is not known; THEN"
# (CMD's own standard error passes through, above the message). NODE: the node as messages name it,
# its container and what it is ("p-pg1 (the primary)"); WHAT: what its answer would have told;
# THEN: what was therefore not done, or empty. Called as `v=$(ask_or_fail ...)`, fail ends only that
# subshell: a plain assignment (never `v=$(...) || ...`, where set -e does not act), so the script
# ends with it.
ask_or_fail() {
    _af_with=fail
    if [ "$1" = --with ]; then
        _af_with=$2
        shift 2
    fi
    _af_node=$1 _af_what=$2 _af_then=$3
    shift 3
    _af_rc=0
    ask_node "$@" || _af_rc=$?
    case $_af_rc in
        0) return 0 ;;
        124) "$_af_with" "$(no_answer "$_af_node"), so $_af_what is not known${_af_then:+; $_af_then}" ;;
        *) "$_af_with" "node $_af_node: the ask failed (above), so $_af_what is not known${_af_then:+; $_af_then}" ;;
    esac
    exit 1
}

# says_no_such TEXT: whether TEXT, a failed docker call's standard error, is the engine saying the
# container is not there, in any CLI's wording ("No such object", "no such object" in newer CLIs,
# "No such container"), as components/docker-cli.ts saysNoSuch reads it.
says_no_such() { printf '%s' "$1" | grep -qiE 'no such (object|container)'; }

# last_line < TEXT: TEXT's last line that is not blank: of a failed docker call's standard error,
# the CLI's own error (it says it last), the line an answer is read from.
last_line() { grep -v '^[[:space:]]*$' | tail -n 1; }

# inspect_field CONTAINER FORMAT: CONTAINER's FORMAT (docker inspect -f), as its engine (dk) answers.
#   0: the field, on stdout;
#   1: the engine says there is no such container (says_no_such): nothing printed;
#   2: it did not answer that (an engine error, no connection): nothing on stdout, and on stderr
#      the engine's words, one line (the last line of its error, or "docker inspect exited N").
# Nothing else ever goes to stderr, so `v=$(inspect_field C F 2>&1) || rc=$?` holds the field, nothing,
# or the engine's words. Only that last line is taken for "no such": the CLI says its error last. The
# CLI's stderr is held in a temporary file meanwhile, which holds nothing else.
inspect_field() {
    _if_err=$(mktemp)
    _if_rc=0
    _if=$(dk "$1" inspect -f "$2" "$1" 2>"$_if_err") || _if_rc=$?
    _if_why=$(last_line < "$_if_err")
    rm -f "$_if_err"
    if [ "$_if_rc" -eq 0 ]; then
        printf '%s\n' "$_if"
        return 0
    fi
    ! says_no_such "$_if_why" || return 1
    printf '%s\n' "${_if_why:-docker inspect exited $_if_rc}" >&2
    return 2
}

# running CONTAINER: whether CONTAINER runs, as its engine answers: not when it is stopped or the
# engine says it is not there. Fails, naming it, when the engine does not answer that (an engine
# error, no connection, or across engines no answer within NODE_ASK_SECONDS: ask_node): a
# container that could not be asked is not one that does not run.
running() {
    _rn_rc=0
    _rn=$(ask_node inspect_field "$1" '{{.State.Running}}' 2>&1) || _rn_rc=$?
    case $_rn_rc in
        0) [ "$_rn" = true ] ;;
        1) return 1 ;;
        124) fail "$(no_answer "$1") from its engine, so whether the container runs is not known" ;;
        *) fail "node $1: its engine did not say whether the container runs: $_rn" ;;
    esac
}

# node_sql CONTAINER [SQL]: runs SQL (argument or stdin) on a node, prints unaligned tuples.
node_sql() {
    _container=$1
    shift
    if [ $# -gt 0 ]; then
        printf '%s\n' "$1" | node_sql "$_container"
    else
        dk "$_container" exec -i -u postgres "$_container" psql -X -q -A -t -v ON_ERROR_STOP=1 -d postgres
    fi
}

# primary_sql [SQL]: node_sql on $PRIMARY_CONTAINER.
primary_sql() { node_sql "$PRIMARY_CONTAINER" "$@"; }

# ask_primary: sets PRIMARY_CONTAINER, PRIMARY_NAME and PRIMARY_ADDRESS to the stack's one
# running node that is not in recovery (all empty when there is none; fails when there are two).
# The role is state in the data directory, so it is asked for, never taken from stored inputs.
# A node is taken for no primary only on an answer: its server's (in recovery), or its engine's
# (the container is not running, restarting, or not there). The others are named in NOT_ASKED
# ("container (why); ..."): in ENGINE_SILENT those whose engine did not say whether they run, in
# SERVER_SILENT those that run but whose server did not answer.
# env: STACK_LABELS ("key=value ..." of the stack's node containers), or PEERS
ask_primary() {
    PRIMARY_CONTAINER= PRIMARY_NAME= PRIMARY_ADDRESS= NOT_ASKED= ENGINE_SILENT= SERVER_SILENT=
    _filters=
    for _label in $STACK_LABELS; do _filters="$_filters --filter label=$_label"; done
    if [ -n "${PEERS:-}" ]; then
        _nodes=$(for _p in $PEERS; do printf '%s\n' "$_p" | cut -d'|' -f2,1,4 | awk -F'|' '{ print $2 ":" $1 ":" $3 }'; done)
    else
        # shellcheck disable=SC2086
        _nodes=$(docker ps $_filters --filter label=pg-replication.role=node \
            --format '{{.Names}}:{{.Label "pg-replication.node"}}:{{.Label "pg-replication.address"}}') ||
            { NOT_ASKED="the stack's nodes (the engine did not list them, above)"; return 0; }
    fi
    for _node in $_nodes; do
        _c=${_node%%:*}
        _fp_rc=0
        _fp=$(ask_node node_sql "$_c" "SELECT pg_is_in_recovery()" 2>/dev/null) || _fp_rc=$?
        case $_fp_rc:$_fp in
            0:t) ;;
            0:f)
                [ -z "$PRIMARY_CONTAINER" ] ||
                    fail "two nodes run as primary: $PRIMARY_CONTAINER and $_c; stop one of them first"
                PRIMARY_CONTAINER=$_c PRIMARY_ADDRESS=${_node##*:}
                PRIMARY_NAME=${_node#*:} PRIMARY_NAME=${PRIMARY_NAME%%:*} ;;
            124:*)
                # Past ask_node's bound: its engine is not asked again, to wait as long once more.
                NOT_ASKED="${NOT_ASKED:+$NOT_ASKED; }$_c (no answer within ${NODE_ASK_SECONDS:-20}s)"
                ENGINE_SILENT="$ENGINE_SILENT $_c" ;;
            *)
                # Its server did not answer: its engine says whether it runs. Restarting counts as down: no
                # server runs in it until Docker has started it again (State.Running says true meanwhile).
                _fp_rc=0
                _fp=$(ask_node inspect_field "$_c" '{{.State.Status}}' 2>&1) || _fp_rc=$?
                case $_fp_rc:$_fp in
                    0:running | 0:paused)
                        NOT_ASKED="${NOT_ASKED:+$NOT_ASKED; }$_c (its container is $_fp, its server did not answer)"
                        SERVER_SILENT="$SERVER_SILENT $_c" ;;
                    0:* | 1:*) ;;
                    *)
                        NOT_ASKED="${NOT_ASKED:+$NOT_ASKED; }$_c (its engine did not say whether it runs: $(printf '%s' "$_fp" | tail -n 1))"
                        ENGINE_SILENT="$ENGINE_SILENT $_c" ;;
                esac ;;
        esac
    done
}

# find_primary: ask_primary, failing when no node answers as primary but one could not be asked:
# that is not "no primary", and the caller must not go on as if it were.
find_primary() {
    ask_primary
    [ -n "$PRIMARY_CONTAINER" ] || [ -z "$NOT_ASKED" ] ||
        fail "no node answers as primary, but not every node could be asked, so there may be one: $NOT_ASKED"
}

# node_containers: every node container of the stack, running or not. Across engines a node is left
# out only when its engine says it has no such container; one whose engine does not answer fails it
# (a seed must not take "no answer" for "no other node" and start a second cluster).
node_containers() {
    if [ -n "${PEERS:-}" ]; then
        for _p in $PEERS; do
            _c=$(printf '%s' "$_p" | cut -d'|' -f2)
            _nc_rc=0
            _nc=$(ask_node inspect_field "$_c" '{{.Id}}' 2>&1) || _nc_rc=$?
            case $_nc_rc in
                0) printf '%s\n' "$_c" ;;
                1) ;;
                *) fail "node $_c: its engine did not say whether the container is there: $(printf '%s' "$_nc" | tail -n 1)" ;;
            esac
        done
        return 0
    fi
    _filters=
    for _label in $STACK_LABELS; do _filters="$_filters --filter label=$_label"; done
    # shellcheck disable=SC2086
    docker ps -a $_filters --filter label=pg-replication.role=node --format '{{.Names}}'
}

# server_major < TEXT: the major in `postgres --version`'s answer ("postgres (PostgreSQL) 17.2 ...": 17),
# nothing when TEXT has none (as roll.ts serverMajor reads it).
server_major() { sed -n 's/.*(PostgreSQL) \([0-9]*\).*/\1/p'; }

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
