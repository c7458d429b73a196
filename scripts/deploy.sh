#!/usr/bin/env bash
# Deploys a stack on this machine's Docker engine, first bringing up what it needs: Node >= 22,
# the npm packages, a Docker engine, the PostgreSQL image, and the Pulumi CLI with its plugins.
#
#   scripts/deploy.sh [STACK] [up|preview|destroy|refresh|output] [extra pulumi args...]
#
# State goes to the Pulumi backend you are logged in to; with none, to a local file backend in
# ${PG_REPLICATION_STATE:-~/.local/share/pg-replication/state}. Secrets are encrypted with
# PULUMI_CONFIG_PASSPHRASE(_FILE) if set, else with a passphrase generated once into
# ~/.config/pg-replication/passphrase (mode 0600).
# postgres:<major> is used as is when present; else pulled (bounded, PG_REPLICATION_PULL_TIMEOUT)
# and built locally only when the pull fails. PG_REPLICATION_LOCAL_IMAGES=1 (or
# PG_REPLICATION_STAND_IN_PLUGINS=1) means no registry: build at once, never pull.
set -euo pipefail
cd "$(dirname "$0")/.."
stack=${1:-dev}
action=${2:-up}
shift $(( $# < 2 ? $# : 2 ))
me=deploy
[[ -f "Pulumi.$stack.yaml" ]] || { echo "$me: no Pulumi.$stack.yaml in $(pwd)" >&2; exit 2; }

# Set-up talks on stderr: stdout is Pulumi's alone (`deploy.sh dev output --json` is machine-readable).
. scripts/node-env.sh
[[ -d node_modules/@pulumi/pulumi ]] || npm ci --no-audit --no-fund >&2
bash scripts/docker-engine.sh >&2

image=$(sed -n 's/^ *pg-replication:image: *//p' "Pulumi.$stack.yaml" | tr -d '"'"'")
image=${image:-postgres:13}
if [[ "$image" =~ ^postgres:([0-9]+)$ ]]; then
    major=${BASH_REMATCH[1]}
    majors=("$major")
    # The tools image (PgBouncer on that image) only for a stack with endpoints, the backup image
    # (pgBackRest on it) only for one with backups.
    derived=()
    grep -q '^ *pg-replication:endpoints:' "Pulumi.$stack.yaml" && derived+=(--tools)
    grep -q '^ *pg-replication:backup:' "Pulumi.$stack.yaml" && derived+=(--backup)
    # The stack's nodes on postgres:<older major> (or its backup image): `image` asks for a major upgrade, which runs in
    # the image of both majors (pg-replication/postgres-upgrade:<old>-<new>, built here, never pulled).
    older=$(docker ps -a --filter "label=pg-replication.stack=$stack" --filter label=pg-replication.role=node \
        --format '{{.Image}}' 2>/dev/null | sed -n 's/^\(postgres\|pg-replication\/postgres-backup\):\([0-9][0-9]*\)$/\2/p' |
        sort -n | head -n 1)
    if [[ -n $older && $older -lt $major ]]; then
        derived+=(--upgrade)
        majors=("$older" "$major")
    fi
    bash scripts/build-images.sh --pull-first "${derived[@]}" "${majors[@]}" >&2
fi

set +e
toolchain=$(bash scripts/pulumi-toolchain.sh)
rc=$?
set -e
# `output` reads the state only: it needs no provider, real or stand-in.
if [[ $rc -eq 3 && "${PG_REPLICATION_STAND_IN_PLUGINS:-}" != 1 && "$action" != output ]]; then
    cat >&2 <<MSG
$me: the provider plugins listed above cannot be had on this machine, so the real engine has
$me: nothing to drive Docker and PostgreSQL with. To run through pg-replication's own stand-ins
$me: for them (stand-ins/, see the README), say so explicitly:
$me:     PG_REPLICATION_STAND_IN_PLUGINS=1 scripts/deploy.sh $stack $action
MSG
    exit 3
elif [[ $rc -ne 0 && $rc -ne 3 ]]; then
    exit "$rc"
fi
eval "$toolchain"
export PULUMI_SKIP_UPDATE_CHECK=true
# A toolchain built by our script never downloads plugins: it has them, or stand-ins replace them.
case "$(command -v pulumi)" in
    "${PG_REPLICATION_CACHE:-$HOME/.cache/pg-replication}"/*) export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true ;;
esac
if [[ "${PG_REPLICATION_STAND_IN_PLUGINS:-}" == 1 && "$action" != output ]]; then
    # The engine attaches to the stand-ins' servers (PULUMI_DEBUG_PROVIDERS) instead of loading
    # plugins; nothing is installed into any plugin cache. They stop when this script ends.
    export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
    npx tsc -p tsconfig.json >&2
    standin_log=${PG_REPLICATION_STAND_IN_LOG:-${TMPDIR:-/tmp}/pg-replication-stand-ins.log}
    coproc STANDINS { exec node bin/stand-ins/main.js --pwd "$PWD" --log "$standin_log"; }
    trap 'kill "$STANDINS_PID" 2>/dev/null || true' EXIT
    read -r -t 30 line <&"${STANDINS[0]}" || { echo "$me: the stand-ins did not start (log: $standin_log)" >&2; exit 1; }
    export "${line?}"   # PULUMI_DEBUG_PROVIDERS=docker:PORT,command:PORT,postgresql:PORT
fi
if ! pulumi whoami >/dev/null 2>&1; then
    state=${PG_REPLICATION_STATE:-$HOME/.local/share/pg-replication/state}
    mkdir -p "$state"
    export PULUMI_BACKEND_URL="file://$state"
fi
if [[ -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
    passfile="$HOME/.config/pg-replication/passphrase"
    if [[ ! -s "$passfile" ]]; then
        mkdir -p "$(dirname "$passfile")"
        # Not `tr </dev/urandom | head`: under pipefail tr's SIGPIPE would end this script.
        (umask 077 && node -e 'process.stdout.write(require("crypto").randomBytes(30).toString("base64url"))' > "$passfile")
    fi
    export PULUMI_CONFIG_PASSPHRASE_FILE="$passfile"
fi

pulumi stack select --create --secrets-provider passphrase "$stack" >/dev/null
case "$action" in
    up|destroy|refresh) pulumi "$action" --stack "$stack" --yes "$@" ;;
    output) pulumi stack output --stack "$stack" "$@" ;;
    *) pulumi "$action" --stack "$stack" "$@" ;;
esac
