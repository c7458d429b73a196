#!/usr/bin/env bash
# Checks that the locally built postgres:<major> images honour the official image's
# documented interface (the part our stacks rely on). Talks only to containers it
# creates; every container/volume carries a label and a unique name prefix and is removed
# on exit, pass or fail. Last line: "N passed, N failed" (read by CI).
#   usage: tests/images/test-entrypoint.sh [MAJOR...]      (default: 13 17)
set -euo pipefail

me=$(basename "$0")
majors=("$@")
((${#majors[@]})) || majors=(13 17)
ready_timeout=${READY_TIMEOUT:-90}
label=org.pg-replication.test=entrypoint
prefix=pgr-entrytest-$$-$RANDOM
passed=0
failed=0

say() { echo "$me: $*"; }

work=$(mktemp -d /tmp/pgr-entrytest.XXXXXX)
cleanup() {
  local ids=()
  mapfile -t ids < <(docker ps -aq --filter "label=$label" --filter "name=$prefix" 2>/dev/null)
  ((${#ids[@]} == 0)) || docker rm -f -v "${ids[@]}" >/dev/null 2>&1 || true
  mapfile -t ids < <(docker volume ls -q --filter "label=$label" --filter "name=$prefix" 2>/dev/null)
  ((${#ids[@]} == 0)) || docker volume rm -f "${ids[@]}" >/dev/null 2>&1 || true
  rm -rf "$work"
  # Aborted by an unexpected error: still give CI its closing line, counting the abort.
  if ((!finished)); then
    echo "$me: aborted by an unexpected error" >&2
    echo "$passed passed, $((failed + 1)) failed"
  fi
}
finished=0
trap cleanup EXIT

check() {  # check NAME COMMAND...: one result line per check, never aborts the run
  local name=$1; shift
  if "$@"; then
    passed=$((passed + 1)); echo "ok   - $name"
  else
    failed=$((failed + 1)); echo "FAIL - $name"
  fi
}
equals() {  # equals EXPECTED COMMAND...: command's trimmed output must be EXPECTED
  local want=$1 got; shift
  got=$("$@" 2>&1) || true
  [[ $got == "$want" ]] || { echo "    expected '$want', got '$got'" >&2; return 1; }
}

# Poll readiness over TCP: during initialization only the unix socket listens, so this
# answers once the real server is up. Fails early if the container stopped.
wait_ready() {
  local c=$1 start=$SECONDS
  until docker exec "$c" pg_isready -q -h 127.0.0.1 -U postgres 2>/dev/null; do
    if [[ $(docker inspect -f '{{.State.Running}}' "$c" 2>/dev/null) != true ]] ||
       ((SECONDS - start >= ready_timeout)); then
      echo "    $c not ready; its log:" >&2
      docker logs --tail 30 "$c" 2>&1 | sed 's/^/    | /' >&2
      return 1
    fi
    sleep 0.5
  done
}

run() {  # run NAME [docker run options...] IMAGE [ARGS...]: detached, labelled container
  local name=$1; shift
  docker run -d --name "$name" --label "$label" "$@" >/dev/null
}
sql() {  # sql CONTAINER USER DB QUERY: over the unix socket (trusted locally, as upstream)
  docker exec "$1" psql -X -qtA -v ON_ERROR_STOP=1 -U "$2" -d "$3" -c "$4"
}
tcp_login() {  # tcp_login CONTAINER USER DB PASSWORD: over TCP to the container's own address
  local ip
  ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1")
  docker exec -e PGPASSWORD="$4" "$1" psql -X -qtA -h "$ip" -U "$2" -d "$3" -c 'select 1' 2>&1
}
login_ok() { equals 1 tcp_login "$@"; }
login_refused() {
  local out
  if out=$(tcp_login "$@"); then echo "    login succeeded: $out" >&2; return 1; fi
  [[ $out == *"password authentication failed"* ]] || { echo "    unexpected: $out" >&2; return 1; }
}

# Init scripts, readable by uid 999: a sourced .sh, a .sql, and an executable .sh that
# counts its runs in a file inside PGDATA.
initdir=$work/initdb.d
mkdir -p "$initdir"
cat >"$initdir/01-schema.sh" <<'EOF'
# not executable: sourced by the entrypoint, so it sees its variables
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c 'CREATE TABLE seed (id int)'
EOF
cat >"$initdir/02-data.sql" <<'EOF'
INSERT INTO seed VALUES (1);
EOF
cat >"$initdir/03-count.sh" <<'EOF'
#!/bin/bash
echo ran >>"$PGDATA/init-runs"
EOF
chmod 0755 "$work" "$initdir" "$initdir/03-count.sh"
chmod 0644 "$initdir/01-schema.sh" "$initdir/02-data.sql"
printf 'from-a-file\n' >"$work/pw"
chmod 0644 "$work/pw"

for major in "${majors[@]}"; do
  image=postgres:$major
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    check "$image exists (scripts/build-images.sh $major)" false
    continue
  fi
  say "testing $image"
  main=$prefix-main-$major
  file=$prefix-file-$major
  data=/var/lib/postgresql/data/pgdata   # PGDATA below the volume, as often deployed
  docker volume create --label "$label" "$main" >/dev/null

  # Both long-running containers start at once; their initializations overlap.
  run "$main" -e POSTGRES_PASSWORD=s3cret -e POSTGRES_DB=appdb -e PGDATA=$data \
    -v "$main:/var/lib/postgresql/data" -v "$initdir:/docker-entrypoint-initdb.d:ro" \
    "$image" postgres -c max_connections=42
  # POSTGRES_INITDB_ARGS --auth-host=scram-sha-256 is the documented way to get scram
  # on 13 (whose password_encryption defaults to md5); a leading "-c" means postgres.
  run "$file" -e POSTGRES_PASSWORD_FILE=/run/secrets/pw -e POSTGRES_USER=alice \
    -e POSTGRES_INITDB_ARGS=--auth-host=scram-sha-256 -v "$work/pw:/run/secrets/pw:ro" \
    "$image" -c shared_buffers=16MB

  if check "$major: server with init scripts becomes ready" wait_ready "$main"; then
    check "$major: .sql ran once (one row)" equals 1 sql "$main" postgres appdb 'select count(*) from seed'
    check "$major: executable .sh ran once" equals ran docker exec "$main" cat "$data/init-runs"
    check "$major: -c max_connections=42 reaches the server" equals 42 sql "$main" postgres appdb 'show max_connections'
    check "$major: uid 999 owns PGDATA" equals 999 docker exec "$main" stat -c %u "$data"
    check "$major: PGDATA mode 0700" equals 700 docker exec "$main" stat -c %a "$data"
    check "$major: PID 1 is postgres" equals postgres docker exec "$main" cat /proc/1/comm
    check "$major: PID 1 runs as uid 999" equals 999 docker exec "$main" stat -c %u /proc/1
    check "$major: TCP login with wrong password refused" login_refused "$main" postgres appdb wrong
    check "$major: TCP login with right password accepted" login_ok "$main" postgres appdb s3cret
    want=scram-sha-256; [[ $major -lt 14 ]] && want=md5   # upstream's documented default
    check "$major: default host auth method is $want" equals "$want" \
      sql "$main" postgres appdb "select auth_method from pg_hba_file_rules where address = 'all'"

    docker restart -t 30 "$main" >/dev/null
    if check "$major: restarts on its existing data" wait_ready "$main"; then
      check "$major: init .sql not rerun (still one row)" equals 1 sql "$main" postgres appdb 'select count(*) from seed'
      check "$major: init .sh not rerun" equals ran docker exec "$main" cat "$data/init-runs"
      check "$major: -c settings survive restart" equals 42 sql "$main" postgres appdb 'show max_connections'
    fi
  fi

  if check "$major: server with POSTGRES_PASSWORD_FILE becomes ready" wait_ready "$file"; then
    check "$major: POSTGRES_USER=alice also names the database" equals alice sql "$file" alice alice 'select current_database()'
    check "$major: leading -c means postgres -c" equals 16MB sql "$file" alice alice 'show shared_buffers'
    check "$major: password from file accepted over TCP (scram)" login_ok "$file" alice alice from-a-file
    check "$major: wrong password refused over TCP (scram)" login_refused "$file" alice alice s3cret
    check "$major: password stored as SCRAM" equals t \
      sql "$file" alice alice "select rolpassword like 'SCRAM-SHA-256\$%' from pg_authid where rolname = 'alice'"
  fi

  # Empty data directory, no password, not trust: must refuse with a clear message.
  refuse=$prefix-refuse-$major
  out=$(docker run --name "$refuse" --label "$label" "$image" 2>&1) && rc=0 || rc=$?
  check "$major: refuses to initialize without a password" \
    test "$rc" -ne 0 -a "${out/no superuser password/}" != "$out"
  # Other commands run as given, without dropping root.
  check "$major: non-postgres command runs as-is" \
    equals 0 docker run --rm --name "$prefix-cmd-$major" --label "$label" "$image" id -u

  docker rm -f -v "$main" "$file" "$refuse" >/dev/null 2>&1 || true
done

# pg_upgrade 13 -> 17 in the upgrade image (scripts/build-images.sh --upgrade): a 13 cluster with a
# table, a 17 cluster initialized beside it on the same volume, pg_upgrade --link, then postgres:17 on it.
upgrade_image=pg-replication/postgres-upgrade:13-17
if [[ " ${majors[*]} " != *" 13 "* || " ${majors[*]} " != *" 17 "* ]]; then
  say "WARNING: pg_upgrade 13 -> 17 NOT RUN: it needs both 13 and 17 among the majors tested (${majors[*]})"
elif ! docker image inspect "$upgrade_image" >/dev/null 2>&1; then
  say "WARNING: pg_upgrade 13 -> 17 NOT RUN: $upgrade_image missing (scripts/build-images.sh --upgrade 13 17)"
else
  say "testing pg_upgrade 13 -> 17 with $upgrade_image"
  upvol=$prefix-upgrade
  docker volume create --label "$label" "$upvol" >/dev/null
  up() {  # up IMAGE: stdin's script, as postgres in /var/lib/postgresql/data (the volume), throwaway
    docker run --rm -i --name "$prefix-up-$RANDOM" --label "$label" -u postgres \
      -w /var/lib/postgresql/data -v "$upvol:/var/lib/postgresql/data" "$1" bash -e
  }
  before=$(up postgres:13 <<'EOF'
initdb -D 13 -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
pg_ctl -w -D 13 -l /tmp/log -o '-c listen_addresses=' start >/dev/null
psql -XqtA -c 'create table t as select generate_series(1, 100000) n' -c 'select count(*), sum(n) from t'
pg_ctl -w -D 13 stop >/dev/null
EOF
  ) || true
  pg_upgrade_13_17() {  # pg_upgrade's own output only when it fails
    up "$upgrade_image" >"$work/upgrade.log" 2>&1 <<'EOF' || { sed 's/^/    | /' "$work/upgrade.log" | tail -n 25 >&2; return 1; }
initdb -D 17 -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
cd /tmp   # pg_upgrade writes into and listens in its working directory
pg_upgrade --link -b /usr/lib/postgresql/13/bin -B /usr/lib/postgresql/17/bin \
  -d /var/lib/postgresql/data/13 -D /var/lib/postgresql/data/17
EOF
  }
  failed_before=$failed   # (check itself always succeeds: each step goes on only if nothing failed)
  check "13 -> 17: a 13 cluster with a table of rows" test -n "$before"
  check "13 -> 17: pg_upgrade --link in $upgrade_image" pg_upgrade_13_17
  if ((failed == failed_before)); then
    run "$prefix-up17" -e PGDATA=/var/lib/postgresql/data/17 -v "$upvol:/var/lib/postgresql/data" postgres:17
    check "13 -> 17: postgres:17 starts on the upgraded directory" wait_ready "$prefix-up17"
    if ((failed == failed_before)); then
      check "13 -> 17: server_version_num >= 170000" equals t \
        sql "$prefix-up17" postgres postgres "select current_setting('server_version_num')::int >= 170000"
      check "13 -> 17: row count and sum as before ($before)" equals "$before" \
        sql "$prefix-up17" postgres postgres 'select count(*), sum(n) from t'
    fi
  fi
  docker rm -f -v "$prefix-up17" >/dev/null 2>&1 || true
  docker volume rm -f "$upvol" >/dev/null 2>&1 || true
fi

# The backup schedule's image (scripts/build-images.sh --backup): the docker CLI and jq on the backup
# image, run as root (no USER) since it talks to the engine's socket. No socket and no network here.
for major in "${majors[@]}"; do
  scheduler_image=pg-replication/postgres-scheduler:$major
  if ! docker image inspect "$scheduler_image" >/dev/null 2>&1; then
    say "WARNING: $scheduler_image NOT TESTED: missing (scripts/build-images.sh --backup $major)"
    continue
  fi
  say "testing $scheduler_image"
  check "$major: the backup image has the system's CAs (an S3 repository with a public CA's certificate)" equals 1 \
    docker run --rm --network none --name "$prefix-cas-$major" --label "$label" --entrypoint sh "pg-replication/postgres-backup:$major" \
      -c 'test -s /etc/ssl/certs/ca-certificates.crt && echo 1'
  check "$major: scheduler image sets no USER" equals "" docker image inspect -f '{{.Config.User}}' "$scheduler_image"
  check "$major: scheduler runs as root" equals 0 \
    docker run --rm --network none --name "$prefix-sched-$major" --label "$label" "$scheduler_image" id -u
  check "$major: scheduler has the docker CLI and jq" equals 1 \
    docker run --rm --network none --name "$prefix-sched-$major" --label "$label" "$scheduler_image" \
      sh -c 'docker --version >/dev/null && echo "{\"a\":1}" | jq .a'
  # Its plan (components/scripts/backup-schedule.sh plan) over `pgbackrest --output=json info` as
  # pgBackRest writes it: which backup is due and whether the newest full one still needs a proof.
  plan_fn=$(sed -n '/^plan() {/,/^}/p' components/scripts/backup-schedule.sh)
  now=2000000000
  set_json() { # set_json FULL_AGO INCR_AGO [DB_OF_BACKUPS]: a repository with a full and an incremental backup
    printf '[{"name":"s","db":[{"id":1,"system-id":1,"version":"13"},{"id":%s,"system-id":2,"version":"17"}],"backup":[' "${4:-2}"
    printf '{"label":"F1","type":"full","database":{"id":%s},"timestamp":{"start":%s,"stop":%s}},' "${3:-2}" $((now - $1 - 5)) $((now - $1))
    printf '{"label":"F1_I1","type":"incr","database":{"id":%s},"timestamp":{"start":%s,"stop":%s}}]}]' "${3:-2}" $((now - $2 - 5)) $((now - $2))
  }
  plan_check() { # plan_check NAME EXPECTED INFO RECORD [FULL DIFF INCR]
    check "$major: scheduler plan: $1" equals "$2" docker run --rm --network none --label "$label" \
      -e FULL_SECONDS="${5:-86400}" -e DIFF_SECONDS="${6:-0}" -e INCR_SECONDS="${7:-3600}" "$scheduler_image" \
      sh -c "$plan_fn"'
plan "$0" "$1" "$2"' "$now" "$3" "$4"
  }
  plan_check "nothing due, the full backup proven after it ended" "- - F1" "$(set_json 600 300)" '{"verifiedAt":"2033-05-18T03:33:10.123Z"}'
  plan_check "an incremental one due; no proof yet of the full one" "incr verify F1" "$(set_json 7200 3700)" '{}'
  plan_check "a full one due once the newest full is FULL_SECONDS old" "full - F1" "$(set_json 86400 60)" \
    '{"verifiedAt":"2033-05-18T03:33:19Z"}'
  plan_check "a differential one due before an incremental one" "diff verify F1" "$(set_json 7300 3700)" \
    '{"verifiedAt":"2033-05-18T01:00:00Z"}' 86400 7200 3600
  plan_check "only the older major's backups (just upgraded): none, up takes the first" "none - -" "$(set_json 600 300 1 2)" '{}'
  # Its reading of the stanza's status (backup-schedule.sh unread): pgBackRest exits 0 when it cannot
  # read the repository, so only "ok" and "no valid backups" are a repository read.
  unread_fn=$(sed -n '/^unread() {/,/^}/p' components/scripts/backup-schedule.sh)
  unread_check() { # unread_check NAME EXPECTED INFO
    check "$major: scheduler unread: $1" equals "$2" docker run --rm --network none --label "$label" "$scheduler_image" \
      sh -c "$unread_fn"'
unread "$0"' "$3"
  }
  unread_check "no valid backups: read" "" '[{"status":{"code":2,"message":"no valid backups"}}]'
  unread_check "missing stanza path: not read" "missing stanza path" '[{"status":{"code":1,"message":"missing stanza path"}}]'
  unread_check "an error: the repository's first line" "[HostConnectError] unable to connect" \
    '[{"status":{"code":99,"message":"other"},"repo":[{"key":1,"status":{"code":99,"message":"[HostConnectError] unable to connect\nretried"}}]}]'
done

finished=1
echo "$passed passed, $failed failed"
((failed == 0))
