#!/usr/bin/env bash
# Every test this project has, on a fresh machine: it brings up what each layer needs first.
#   1. unit tests (Pulumi mocks, command scripts): need only Node >= 22 and the npm packages;
#   2. the PostgreSQL image interface: needs a Docker engine and the postgres:13/17 images;
#   3. integration: the command scripts' in-container parts on a real data directory;
#   4. the stand-in plugins against real Docker and PostgreSQL (each behaviour of the table);
#   5. test hosts of our own (network namespaces, each with a dockerd) and TLS across them;
#   6. end to end: the real Pulumi engine drives the program against Docker and PostgreSQL. With
#      the real provider plugins when they can be had; otherwise through the stand-ins, said in a
#      banner and in the total. PG_REPLICATION_REQUIRE_REAL_PLUGINS=1 makes the latter a failure.
# Each layer's time is printed; the last line totals every test that ran.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
layer_started=$SECONDS
layer() { # layer NAME: closes the previous layer's clock and opens this one
    ((SECONDS > started)) && printf '=== (%ds)\n' "$((SECONDS - layer_started))"
    layer_started=$SECONDS
    printf '\n=== %s\n' "$*"
}
# Each layer's output is kept so the last line can total what ran.
log=$(mktemp)
e2e_log=$(mktemp)
trap 'rm -f "$log" "$e2e_log"' EXIT
counted() { "$@" 2>&1 | tee -a "$log"; }

layer "unit tests"
. scripts/node-env.sh
npm ci --no-audit --no-fund
counted npm test

layer "Docker engine and PostgreSQL images"
bash scripts/docker-engine.sh
# Anonymous volumes (named by a 64-digit id; "dangling" also lists named volumes no container
# uses) unused before the tests, so that only those the tests leave count below.
anonymous_unused() { docker volume ls -q --filter dangling=true | grep -E '^[0-9a-f]{64}$' | sort || true; }
dangling_before=$(anonymous_unused)
# The tests publish fixed ports in 55000-59999, inside the kernel's default range of local ports for
# outgoing connections (32768-60999): a connection that happens to get one of them as its local port
# makes the collision check rightly refuse the stack (seen in CI: 127.0.0.1:55462 "in use"). Reserved,
# the kernel never picks them as local ports; binding them on purpose stays allowed.
test_ports=55000-59999
reserved=/proc/sys/net/ipv4/ip_local_reserved_ports
if [[ -w $reserved ]]; then
    current=$(cat "$reserved")
    case ",$current," in
        *",$test_ports,"*) ;;
        *) echo "${current:+$current,}$test_ports" > "$reserved" ;;
    esac
    echo "test.sh: ports $test_ports reserved from the kernel's choice of local ports (now: $(cat "$reserved"))"
else
    echo "test.sh: WARNING: ports $test_ports could not be reserved (not root?): a test may meet one of them taken by an outgoing connection"
fi
bash scripts/build-images.sh --tools --backup --upgrade 13 17
counted bash tests/images/test-entrypoint.sh 13 17

layer "integration: the clone scripts on a real PostgreSQL data directory"
counted npm run test:integration

layer "stand-in plugins against real Docker and PostgreSQL"
counted npm run test:stand-ins

layer "test hosts: Docker engines in network namespaces, and TLS across them"
if [[ ! -x /usr/sbin/sshd ]]; then
    # Test hosts reached over ssh run an sshd of their own in each namespace (tests/support/hosts.ts);
    # the package's own service is kept from starting (policy-rc.d), as it is not wanted.
    echo "test.sh: installing openssh-server (its sshd binary only; the machine's ssh service stays off)"
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
    ((made_policy)) && rm -f "$policy"
fi
counted npm run test:hosts

layer "Pulumi toolchain (CLI, language host, plugins)"
set +e
toolchain=$(bash scripts/pulumi-toolchain.sh)
rc=$?
set -e
if [[ $rc -eq 3 && "${PG_REPLICATION_REQUIRE_REAL_PLUGINS:-0}" != 1 ]]; then
    export PG_REPLICATION_STAND_IN_PLUGINS=1
elif [[ $rc -ne 0 ]]; then
    exit "$rc"
fi
eval "$toolchain"

layer "end-to-end tests on the real Pulumi engine"
if [[ "${PG_REPLICATION_STAND_IN_PLUGINS:-}" == 1 ]]; then
    node -e 'process.stderr.write(require("./bin/stand-ins/launch").banner() + "\n")'
fi
npm run test:e2e 2>&1 | tee -a "$log" "$e2e_log"
layer "done"

# A container of a postgres image removed by force without -v leaves its data directory's anonymous
# volume behind (tests/unit/scripts.test.ts says where that is guarded against): the tests must
# leave none on the engine. Those they left are named, then removed.
leaked=$(comm -13 <(printf '%s\n' "$dangling_before") <(anonymous_unused) | sed '/^$/d')
if [[ -n $leaked ]]; then
    echo "test.sh: FAILED: the tests left $(wc -l <<< "$leaked") anonymous volume(s) dangling on the engine (removed now):"
    for v in $leaked; do echo "  $v (created $(docker volume inspect -f '{{.CreatedAt}}' "$v" 2>/dev/null || echo '?'))"; done
    # shellcheck disable=SC2086
    docker volume rm $leaked >/dev/null || true
    echo "0 passed, 1 failed" >> "$log"
else
    echo "test.sh: the tests left no anonymous volume behind"
    echo "1 passed, 0 failed" >> "$log"
fi

if [[ "${PG_REPLICATION_STAND_IN_PLUGINS:-}" == 1 ]]; then
    awk '/^ℹ pass [0-9]+$/ {p += $3} /^ℹ fail [0-9]+$/ {f += $3}
         END {printf "stand-in plugins: the %d end-to-end tests (%d passed, %d failed) ran through the stand-ins, not the real plugins\n", p + f, p, f}' "$e2e_log"
fi
printf 'time: %ds in all\n' "$((SECONDS - started))"
# node's runner prints "ℹ pass N" / "ℹ fail N"; the image test prints "N passed, N failed".
# A test that could not run says NOT RUN in its output and is counted here, never as passed.
awk '/^ℹ pass [0-9]+$/ {p += $3} /^ℹ fail [0-9]+$/ {f += $3} /^ℹ skipped [0-9]+$/ {s += $3}
     /^[0-9]+ passed, [0-9]+ failed$/ {p += $1; f += $3}
     END {printf "total: %d passed, %d failed%s\n", p, f, s ? sprintf(", %d NOT RUN (see NOT RUN above)", s) : ""}' "$log"
[[ -z $leaked ]]
