// The command scripts, run for real by /bin/sh against a stand-in `docker` on PATH that records
// every invocation (argv, stdin) and plays back canned answers. What is checked is what the
// scripts send to Docker: rules, SQL, flags, where the password goes, and what they print.
// (The in-container part of the clone runs for real in tests/integration/clone-safety.int.test.ts.)

import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { alterSuperuserSql } from "../../components/cluster";
import { fragment, inContainer, scriptOf } from "../../components/fragments";
import { script } from "../../components/shell";
import { libpqDatabase } from "../support/database-loop";

// exec/run read stdin and answer like psql would: 't' for SELECT pg_reload_conf(), nothing for CHECKPOINT, else the
// reply file. FAKE_HEALTH is what `docker inspect` reports for a health status, FAKE_STATE for a
// container's state, FAKE_RUNNING for whether it runs (true by default), FAKE_VOLUME_USERS
// what `docker ps --filter volume=` lists, FAKE_NODES what the node listing (label filter) lists,
// FAKE_RUN_STATUS the exit status of `docker run` (FAKE_DATA_STATUS for the PG_VERSION check),
// FAKE_RECOVERY what every node answers to SELECT pg_is_in_recovery() (f: a primary),
// FAKE_PGBACKREST_LOCKED how many `pgbackrest ... backup` calls meet another backup's lock ([050]),
// FAKE_PGBACKREST_STATUS the exit status of every pgbackrest call (FAKE_PGBACKREST_INFO_STATUS of `pgbackrest info`);
// FAKE_CHECKPOINT_ERR: a CHECKPOINT on stdin fails, psql saying this;
// with FAKE_EXEC_SH an exec of `sh -c SCRIPT ...` runs SCRIPT here, on this machine's files;
// FAKE_FAIL_DB: an exec whose last arguments are `-d FAKE_FAIL_DB` (a dbname='...' conninfo) fails as psql refusing the SQL.
const FAKE_DOCKER = `#!/bin/sh
n=$(( $(cat "$FAKE_DIR/count" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$FAKE_DIR/count"
{ printf '%s' "$*" | tr '\\n' ' '; echo; } >> "$FAKE_DIR/argv"
echo "\${DOCKER_HOST:-}" >> "$FAKE_DIR/hosts"
# FAKE_HANG: every call about this container never answers (its engine lost or frozen); stdin is not read.
case " $* " in *" \${FAKE_HANG:-no-such-container} "*) exec sleep 30 ;; esac
# FAKE_HANG_CALL: a call whose arguments match this glob never answers (one call of a node's: its engine lost meanwhile).
case "$*" in \${FAKE_HANG_CALL:-no-such-call}) exec sleep 30 ;; esac
# FAKE_MISSING: this container does not exist (inspect says so).
case "$1 $*" in "inspect "*" \${FAKE_MISSING:-no-such-container}") echo "Error: No such object: $FAKE_MISSING" >&2; exit 1 ;; esac
# FAKE_INSPECT_ERR: every inspect fails with this error of the engine's.
[ "$1" != inspect ] || [ -z "\${FAKE_INSPECT_ERR:-}" ] || { echo "$FAKE_INSPECT_ERR" >&2; exit 1; }
# FAKE_IMAGE_ERR: every "image inspect" (whether an image is on the engine) fails with this error.
[ "$1 \${2:-}" != "image inspect" ] || [ -z "\${FAKE_IMAGE_ERR:-}" ] || { printf '%s\\n' "$FAKE_IMAGE_ERR" >&2; exit 1; }
case "$1" in
  version) [ -z "\${FAKE_ENGINE_DOWN:-}" ] || { echo "Cannot connect to the Docker daemon" >&2; exit 1; } ;;
  inspect) case "$*" in
             *Health*) echo "\${FAKE_HEALTH:-healthy}" ;;
             *State.Status*Networks*) echo "\${FAKE_UP:-running on}" ;;
             *RestartPolicy.Name*State.Running*) echo "no false" ;;
             *State.Running*) echo "\${FAKE_RUNNING:-true}" ;;
             *State.Status*) echo "\${FAKE_STATE:-running}" ;;
             *Config.Image*) echo "\${FAKE_IMAGE:-true}" ;;
             *) echo true ;;
           esac ;;
  ps) case "$*" in
        *role=node*) [ -z "\${FAKE_NODES:-}" ] || printf '%s\\n' $FAKE_NODES ;;
        *) [ -z "\${FAKE_VOLUME_USERS:-}" ] || echo "$FAKE_VOLUME_USERS" ;;
      esac ;;
  logs) printf '%s\\n' 'LOG:  started streaming' 'FATAL:  password authentication failed for user "repuser"' ;;
  exec|run)
    # FAKE_NO_SERVER: this container runs, but its server does not answer psql.
    case "$1 $*" in "exec "*" \${FAKE_NO_SERVER:-no-such-container} "*)
      echo 'psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: No such file or directory' >&2; exit 2 ;; esac
    # FAKE_EXEC_STATUS: every exec fails as in a container that does not run.
    if [ "$1" = exec ] && [ -n "\${FAKE_EXEC_STATUS:-}" ]; then echo "Error response from daemon: container is not running" >&2; exit "$FAKE_EXEC_STATUS"; fi
    run_sh() { shift; while :; do case "$1" in -u|-e|-w) shift 2 ;; -*) shift ;; *) break ;; esac; done; shift
      if [ "$1 $2" = "sh -c" ]; then exec "$@"; fi; }
    if [ "$1" = exec ] && [ -n "\${FAKE_EXEC_SH:-}" ]; then run_sh "$@"; fi
    # The seed's look at its volume (node-seed.sh): FAKE_HOLDS, else a cluster unless FAKE_DATA_STATUS says none.
    case "$*" in *restore-incomplete*PG_VERSION*)
      [ "\${FAKE_DATA_STATUS:-0}" = 0 ] && holds=cluster || holds=none; echo "\${FAKE_HOLDS:-$holds}"; exit "\${FAKE_LOOK_STATUS:-0}" ;; esac
    cat > "$FAKE_DIR/stdin.$n"
    # FAKE_HANG_SQL: an exec or run whose input has a line matching this (grep) never answers.
    if [ -n "\${FAKE_HANG_SQL:-}" ] && grep -q -e "$FAKE_HANG_SQL" "$FAKE_DIR/stdin.$n"; then exec sleep 30; fi
    # Replies by call (runScript's replies): the first whose pattern (grep -E) matches a line of the
    # arguments or the input is printed, and the call exits with its status.
    i=0; while [ -f "$FAKE_DIR/replies/$i.pattern" ]; do
      if { printf '%s\n' "$*"; cat "$FAKE_DIR/stdin.$n"; } | grep -qE -e "$(cat "$FAKE_DIR/replies/$i.pattern")"; then
        cat "$FAKE_DIR/replies/$i.text"; exit "$(cat "$FAKE_DIR/replies/$i.status")"; fi
      i=$((i + 1)); done
    case "$*" in *" -d \${FAKE_FAIL_DB:-no-such-database}") echo "ERROR:  permission denied for database" >&2; exit 3 ;; esac
    if grep -q 'pg_reload_conf' "$FAKE_DIR/stdin.$n"; then echo t
    elif grep -q '^SELECT pg_is_in_recovery()$' "$FAKE_DIR/stdin.$n"; then echo "\${FAKE_RECOVERY:-f}"
    elif grep -qx 'CHECKPOINT' "$FAKE_DIR/stdin.$n"; then [ -z "\${FAKE_CHECKPOINT_ERR:-}" ] || { echo "$FAKE_CHECKPOINT_ERR" >&2; exit 2; }
    else cat "$FAKE_DIR/reply" 2>/dev/null || true; fi
    case "$*" in *PG_VERSION*) exit "\${FAKE_DATA_STATUS:-\${FAKE_RUN_STATUS:-0}}" ;; *pg_isready*) exit "\${FAKE_ISREADY:-0}" ;; esac
    case "$*" in *" pgbackrest "*backup*)
      locked=$(( $(cat "$FAKE_DIR/locked" 2>/dev/null || echo 0) + 1 )); echo "$locked" > "$FAKE_DIR/locked"
      if [ "$locked" -le "\${FAKE_PGBACKREST_LOCKED:-0}" ]; then
        echo "ERROR: [050]: unable to acquire lock on file '/tmp/pgbackrest/p-backup.lock': Resource temporarily unavailable" >&2; exit 50
      fi ;; esac
    case "$*" in *" pgbackrest info") exit "\${FAKE_PGBACKREST_INFO_STATUS:-\${FAKE_PGBACKREST_STATUS:-0}}" ;; esac
    case "$*" in *" pgbackrest "*) exit "\${FAKE_PGBACKREST_STATUS:-0}" ;; esac
    [ "$1" != run ] || exit "\${FAKE_RUN_STATUS:-0}" ;;
esac
`;

interface ShellRun {
    status: number | null;
    stdout: string;
    stderr: string;
    argv: string[];
    /** The engine (DOCKER_HOST) of each call, in call order. */
    hosts: string[];
    /** What each `docker exec`/`docker run` read on stdin, in call order. */
    stdins: string[];
    seconds: number;
}

/**
 * replies: [pattern (grep -E, on a line of a call's arguments or input), what it prints, its exit status]:
 * the first that matches answers an exec or run. timeoutMs: the script is killed then (30 s by default).
 */
interface RunOptions { stdin?: string; reply?: string; replies?: [string, string, number?][]; timeoutMs?: number }

function runScript(text: string, env: Record<string, string>, opts: RunOptions = {}): ShellRun {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-scripts-"));
    try {
        fs.writeFileSync(path.join(dir, "docker"), FAKE_DOCKER, { mode: 0o755 });
        if (opts.reply !== undefined) {
            fs.writeFileSync(path.join(dir, "reply"), opts.reply);
        }
        fs.mkdirSync(path.join(dir, "replies"));
        (opts.replies ?? []).forEach(([pattern, text, status], i) => {
            fs.writeFileSync(path.join(dir, "replies", `${i}.pattern`), pattern);
            fs.writeFileSync(path.join(dir, "replies", `${i}.text`), text);
            fs.writeFileSync(path.join(dir, "replies", `${i}.status`), String(status ?? 0));
        });
        const started = Date.now();
        const res = spawnSync("/bin/sh", ["-c", text], {
            input: opts.stdin ?? "",
            env: { PATH: `${dir}:/usr/bin:/bin`, FAKE_DIR: dir, ...env },
            encoding: "utf8",
            timeout: opts.timeoutMs ?? 30_000,
            killSignal: "SIGKILL",
        });
        const calls = Number(fs.existsSync(path.join(dir, "count")) ? fs.readFileSync(path.join(dir, "count"), "utf8") : 0);
        const stdins: string[] = [];
        for (let i = 1; i <= calls; i++) {
            const f = path.join(dir, `stdin.${i}`);
            if (fs.existsSync(f)) {
                stdins.push(fs.readFileSync(f, "utf8"));
            }
        }
        const argvFile = path.join(dir, "argv");
        const hostsFile = path.join(dir, "hosts");
        return {
            hosts: fs.existsSync(hostsFile) ? fs.readFileSync(hostsFile, "utf8").replace(/\n$/, "").split("\n") : [],
            status: res.status,
            stdout: res.stdout,
            stderr: res.stderr,
            argv: fs.existsSync(argvFile) ? fs.readFileSync(argvFile, "utf8").trim().split("\n") : [],
            stdins,
            seconds: (Date.now() - started) / 1000,
        };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

const SCRIPTS = ["node-ready.sh", "superuser-password.sh", "node-access.sh", "node-passfile.sh", "node-seed.sh",
    "node-seed-check.sh", "node-drop-slot.sh", "node-tls.sh", "pooler-auth.sh", "pooler-auth-drop.sh", "sync-policy.sh", "sync-policy-reset.sh", "upgrade.sh", "upgrade-finish.sh", "node-streaming.sh"];

const helperEnv = {
    IMAGE: "postgres:13", VOLUME: "pg-standby1-data", NODE: "standby1",
    DOCKER_LABELS: "pg-replication.project=p pg-replication.stack=s",
};
const seedEnv = {
    ...helperEnv, STACK_LABELS: "pg-replication.project=p pg-replication.stack=s", NETWORK: "pgnet",
    NODE_ADDRESS: "172.18.0.102", REPLICATION_USER: "repuser", HELPER_CONTAINER: "pg-standby1-seed",
};
const PASSLINE = "*:5432:*:repuser:Very\\:Secret\n";
/** What the CLI says when its engine cannot be reached: no answer about any container. */
const ENGINE_DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";
/** An engine error with a first line that reads like "no such": only the CLI's error, its last line, is taken for an answer. */
const NOT_LAST = "warning: no such object cache\nError response from daemon: i/o timeout";

describe("command scripts", () => {
    for (const file of SCRIPTS) {
        test(`${file} is valid POSIX sh`, () => {
            const res = spawnSync("/bin/sh", ["-n"], { input: script(file), encoding: "utf8" });
            assert.equal(res.status, 0, res.stderr);
        });
    }

    test("node-access writes replication rules for exactly the nodes' /32 addresses", () => {
        const res = runScript(script("node-access.sh"), {
            NODE_CONTAINER: "pg-pg2", REPLICATION_USER: "repuser",
            NODE_ADDRESSES: "172.18.0.101 172.18.0.102", WAL_KEEP_SIZE: "128MB", MAX_SLOT_WAL_KEEP_SIZE: "1GB",
        });
        assert.equal(res.status, 0, res.stderr);
        const hba = res.stdins[0];
        const replication = hba.split("\n").filter((l) => /^host\s+replication/.test(l));
        assert.deepEqual(replication.map((l) => l.split(/\s+/)), [
            ["host", "replication", "repuser", "172.18.0.101/32", "scram-sha-256"],
            ["host", "replication", "repuser", "172.18.0.102/32", "scram-sha-256"],
        ]);
        assert.ok(!/\b(md5|trust|samenet)\b/.test(hba), hba);
        assert.match(res.argv[0], /^exec -i -u postgres pg-pg2 sh -c/);
        assert.match(res.stdins[1], /ALTER SYSTEM SET wal_keep_size = '128MB';\nALTER SYSTEM SET max_slot_wal_keep_size = '1GB';\nSELECT pg_reload_conf\(\);/);
    });

    test("node-access fails when the server rejects a rule", () => {
        const res = runScript(script("node-access.sh"), {
            NODE_CONTAINER: "pg-pg1", REPLICATION_USER: "repuser", NODE_ADDRESSES: "172.18.0.102",
            WAL_KEEP_SIZE: "128MB", MAX_SLOT_WAL_KEEP_SIZE: "1GB",
        }, { reply: "3: invalid IP address" });
        assert.notEqual(res.status, 0);
        assert.match(res.stderr, /pg_hba.conf on pg-pg1 was rejected: 3: invalid IP address/);
    });

    test("a node's gate passes as soon as the server answers over TCP, without waiting for Docker's health", () => {
        const res = runScript(script("node-ready.sh"), { NODE_CONTAINER: "pg-pg1", TIMEOUT: "5", FAKE_HEALTH: "starting" });
        assert.equal(res.status, 0, res.stderr);
        assert.match(res.argv[0], /^inspect -f \{\{\.State\.Status\}\} pg-pg1$/);
        assert.equal(res.argv[1], "exec pg-pg1 pg_isready -q -h 127.0.0.1 -p 5432 -U postgres -d postgres");
        // One look was enough; then the server's version, the gate's one line on stdout (the node's `version` output).
        assert.deepEqual(res.argv.slice(2), ["exec -u postgres pg-pg1 psql -X -A -t -c SHOW server_version"], "one look was enough");
        const told = runScript(script("node-ready.sh"), { NODE_CONTAINER: "pg-pg1", TIMEOUT: "5" }, { reply: "17.12 (Debian 17.12-1)\n" });
        assert.equal(told.stdout, "17.12 (Debian 17.12-1)\n");
        assert.match(told.stderr, /^node pg-pg1 is ready \(PostgreSQL 17\.12 \(Debian 17\.12-1\)\)\n$/);
    });

    test("a node's gate fails within its bound with the container's state and the server's last log lines", () => {
        const res = runScript(script("node-ready.sh"), { NODE_CONTAINER: "pg-pg1", TIMEOUT: "2", FAKE_STATE: "exited" });
        assert.notEqual(res.status, 0);
        assert.ok(res.seconds < 10, `took ${res.seconds}s`);
        assert.match(res.stderr, /node pg-pg1 is not ready after 2s \(container: exited\)\. Its last log lines:\n/);
        assert.ok(!res.argv.some((a) => a.includes("pg_isready")));
    });

    test("a node's gate tells a container that is not there from an engine that did not answer", () => {
        const missing = runScript(script("node-ready.sh"), { NODE_CONTAINER: "pg-pg1", TIMEOUT: "1", FAKE_MISSING: "pg-pg1" });
        assert.equal(missing.status, 1);
        assert.match(missing.stderr, /^error: node pg-pg1 is not ready after 1s \(container: no such container\)\. Its last log lines:\n/m);
        const engine = runScript(script("node-ready.sh"), { NODE_CONTAINER: "pg-pg1", TIMEOUT: "1", FAKE_INSPECT_ERR: ENGINE_DOWN });
        assert.equal(engine.status, 1);
        const said = `error: node pg-pg1 is not ready after 1s (container: its engine did not say its state: ${ENGINE_DOWN}). Its last log lines:\n`;
        assert.ok(engine.stderr.startsWith(said), engine.stderr);
        assert.ok(![...missing.argv, ...engine.argv].some((a) => a.includes("pg_isready")), "no server asked in a container not known to run");
    });

    test("the superuser password goes to psql on stdin through peer auth, never in argv", () => {
        const sql = alterSuperuserSql("it's Very:Secret");
        assert.equal(sql, "ALTER ROLE postgres PASSWORD 'it''s Very:Secret';\n");
        const res = runScript(script("superuser-password.sh"), { PRIMARY_CONTAINER: "pg-pg1" }, { stdin: sql });
        assert.equal(res.status, 0, res.stderr);
        assert.deepEqual(res.argv, ["exec -i -u postgres pg-pg1 psql -X -q -A -t -v ON_ERROR_STOP=1 -d postgres"]);
        assert.deepEqual(res.stdins, [sql]);
    });

    test("the passfile command writes the line from stdin into the volume, off the network", () => {
        const res = runScript(script("node-passfile.sh"), helperEnv, { stdin: PASSLINE });
        assert.equal(res.status, 0, res.stderr);
        assert.equal(res.argv.length, 1, res.argv.join("\n"));
        assert.match(res.argv[0], /^run --rm -i --label pg-replication\.project=p --label pg-replication\.stack=s --network none --user postgres -v pg-standby1-data:\/var\/lib\/postgresql\/data --entrypoint \/bin\/sh postgres:13 -c /);
        assert.ok(!/pg_basebackup|rm -rf|pgdata/.test(res.argv[0]), "the passfile command touches nothing but the passfile");
        assert.deepEqual(res.stdins, [PASSLINE]);
    });

    test("the seed clones the node that answers as primary, from the node's own address", () => {
        const res = runScript(script("node-seed.sh"), { ...seedEnv, FAKE_DATA_STATUS: "1", FAKE_NODES: "pg-pg1:pg1:172.18.0.101" });
        assert.equal(res.status, 0, res.stderr);
        assert.ok(res.argv.some((a) => /^ps --filter label=pg-replication\.project=p --filter label=pg-replication\.stack=s --filter label=pg-replication\.role=node /.test(a)),
            res.argv.join("\n"));
        const run = res.argv.find((a) => a.includes("--name pg-standby1-seed"));
        assert.ok(run, res.argv.join("\n"));
        assert.match(run, /--network pgnet --ip 172\.18\.0\.102 --user postgres -v pg-standby1-data:\/var\/lib\/postgresql\/data /);
        assert.match(run, /pg_basebackup -D "\$_staging" -R -X stream -C -S "\$3" -c fast/);
        assert.match(run, /clone_into "\$pgdata" "\$PRIMARY_ROUTE user=\$REPLICATION_USER application_name=\$NODE passfile=\$passfile" "\$NODE"/);
        const envs = [...run.matchAll(/ -e (\S+)/g)].map((m) => m[1]);
        assert.deepEqual(envs, ["PRIMARY_ROUTE=host=172.18.0.101", "REPLICATION_USER=repuser", "NODE=standby1", "KEEP_AS="]);
        // One engine: over the bridge to the primary's cluster address, no TLS.
        assert.match(run, / -e PRIMARY_ROUTE=host=172\.18\.0\.101 port=5432 -e /);
        assert.match(res.stderr, /node standby1: cloned pg-pg1 \(172\.18\.0\.101\) into volume pg-standby1-data with slot standby1/);
    });

    test("the seed keeps a volume that holds a cluster, and leaves the first node of a stack to the image's initdb", () => {
        const kept = runScript(script("node-seed.sh"), seedEnv);
        assert.equal(kept.status, 0, kept.stderr);
        assert.equal(kept.argv.length, 1, "one read-only check, nothing else");
        assert.match(kept.stderr, /already holds a cluster; kept/);
        const first = runScript(script("node-seed.sh"), { ...seedEnv, FAKE_DATA_STATUS: "1" });
        assert.equal(first.status, 0, first.stderr);
        assert.match(first.stderr, /node standby1: the first node of the stack; its container initialises the cluster/);
        assert.ok(!first.argv.some((a) => a.includes("pg_basebackup")));
    });

    test("the seed never keeps a restore that did not finish: cleared and restored again, or refused once restore is unset", () => {
        const restoreEnv = { ...seedEnv, RESTORE_VOLUME: "src-backup", RESTORE_STANZA: "src", RESTORE_CONFIG: "/var/lib/pgbackrest/pgbackrest.conf",
            RESTORE_TARGET_TIME: "", RESTORE_IMAGE: "pg-replication/postgres-backup:13", AUTH_USER: "pgbouncer_auth", RESTORE_SH: "true" };
        const again = runScript(script("node-seed.sh"), { ...restoreEnv, FAKE_HOLDS: "restore-incomplete" });
        assert.equal(again.status, 0, again.stderr);
        const cleared = again.argv.findIndex((a) => a.includes("rm -rf /var/lib/postgresql/data/pgdata && rm /var/lib/postgresql/data/restore-incomplete"));
        const helperGone = again.argv.indexOf("rm -f -v pg-standby1-seed");
        const restored = again.argv.findIndex((a) => a.startsWith("run --rm") && a.includes("--name pg-standby1-seed"));
        assert.ok(helperGone > 0 && cleared > helperGone && restored > cleared, again.argv.join("\n"));
        assert.match(again.argv[cleared], /^run --rm .*--network none --user postgres -v pg-standby1-data:\/var\/lib\/postgresql\/data --entrypoint/);
        assert.match(again.stderr, /node standby1: volume pg-standby1-data held a restore that did not finish: cleared, restored again/);
        assert.match(again.stderr, /restored from src-backup \(stanza src\)/);
        // The helper (a cancelled up's may still be restoring) is removed once, before the clear; not again before the restore.
        assert.equal(again.argv.filter((a) => a === "rm -f -v pg-standby1-seed").length, 1, again.argv.join("\n"));
        // A first restore into an empty volume: the helper removed once, before it runs.
        const fresh = runScript(script("node-seed.sh"), { ...restoreEnv, FAKE_HOLDS: "none" });
        assert.equal(fresh.status, 0, fresh.stderr);
        const removals = fresh.argv.flatMap((a, i) => a === "rm -f -v pg-standby1-seed" ? [i] : []);
        const restoring = fresh.argv.findIndex((a) => a.startsWith("run --rm") && a.includes("--name pg-standby1-seed"));
        assert.ok(removals.length === 1 && restoring > removals[0], fresh.argv.join("\n"));
        assert.ok(!fresh.argv.some((a) => a.includes("rm -rf")), "nothing to clear");
        const unset = runScript(script("node-seed.sh"), { ...seedEnv, FAKE_HOLDS: "restore-incomplete" });
        assert.equal(unset.status, 1);
        assert.match(unset.stderr, /node standby1: volume pg-standby1-data holds a restore that did not finish, and pg-replication:restore is not set any more/);
        assert.equal(unset.argv.length, 1, "nothing but the look");
        // The look failing is neither a cluster nor an empty volume.
        const unread = runScript(script("node-seed.sh"), { ...seedEnv, FAKE_LOOK_STATUS: "125" });
        assert.equal(unread.status, 1);
        assert.match(unread.stderr, /node standby1: what volume pg-standby1-data holds could not be read \(above\), so it is neither seeded nor kept/);
        assert.ok(!unread.argv.some((a) => a.includes("pg_basebackup") || a.includes("rm -rf")));
    });

    test("the seed refuses when nodes exist but none runs as primary", () => {
        const res = runScript(script("node-seed.sh"), { ...seedEnv, FAKE_DATA_STATUS: "1", FAKE_NODES: "pg-pg1:pg1:172.18.0.101",
            FAKE_RECOVERY: "t" });
        assert.notEqual(res.status, 0);
        assert.match(res.stderr, /node standby1: no node runs as primary to clone from \(nodes: pg-pg1:pg1:172\.18\.0\.101\)/);
    });

    test("the seed refuses a volume a container uses", () => {
        const res = runScript(script("node-seed.sh"), { ...seedEnv, FAKE_DATA_STATUS: "1", FAKE_NODES: "pg-pg1:pg1:172.18.0.101",
            FAKE_VOLUME_USERS: "pg-standby1" });
        assert.notEqual(res.status, 0);
        assert.match(res.stderr, /volume pg-standby1-data is in use by pg-standby1; a node is cloned only into a volume no container uses/);
        assert.ok(!res.argv.some((a) => a.includes("pg_basebackup")));
    });

    test("the seed's update only checks, read-only and off the network, that the volume holds a cluster of the image's major", () => {
        const res = runScript(script("node-seed-check.sh"), helperEnv, { reply: "13\npostgres (PostgreSQL) 13.16\n" });
        assert.equal(res.status, 0, res.stderr);
        assert.equal(res.argv.length, 1, res.argv.join("\n"));
        assert.match(res.argv[0], /^run --rm .*--network none --user postgres -v pg-standby1-data:\/var\/lib\/postgresql\/data:ro .*-c cat \/var\/lib\/postgresql\/data\/pgdata\/PG_VERSION && /);
        const missing = runScript(script("node-seed-check.sh"), { ...helperEnv, FAKE_RUN_STATUS: "1" });
        assert.notEqual(missing.status, 0);
        assert.match(missing.stderr, /node standby1: volume pg-standby1-data holds no cluster \(pgdata\/PG_VERSION is missing\)/);
    });

    test("the policy applies the names and fails when a standby is not in the promised state", () => {
        const env = { PRIMARY_CONTAINER: "pg-primary", SYNC_NAMES: 'ANY 1 ("a", "b")', SYNC_COMMIT: "on", EXPECTED: "a=quorum b=quorum", TIMEOUT: "1" };
        const ok = runScript(script("sync-policy.sh"), env, { reply: "streaming/quorum\n" });
        assert.equal(ok.status, 0, ok.stderr);
        assert.match(ok.stdins[0], /ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 \("a", "b"\)';/);
        const bad = runScript(script("sync-policy.sh"), env, { reply: "streaming/async\n" });
        assert.notEqual(bad.status, 0);
        assert.match(bad.stderr, /standby a should be streaming\/quorum under synchronous_standby_names='ANY 1 \("a", "b"\)' but is streaming\/async after 1s/);
    });

    test("the policy asks each standby on its own engine (PEERS) and passes over those on a lost host (LOST_NODES)", () => {
        const peers = "pg1|p-pg1|unix:///h1.sock|172.18.0.101|10.0.0.1|5432 a|p-a|unix:///h2.sock|172.18.0.102|10.0.0.2|5432 " +
            "b|p-b|unix:///h3.sock|172.18.0.103|10.0.0.3|5432";
        const env = { PRIMARY_CONTAINER: "p-pg1", SYNC_NAMES: '"a"', SYNC_COMMIT: "on", EXPECTED: "a=sync b=async", TIMEOUT: "1",
            PEERS: peers, LOST_NODES: "b" };
        const res = runScript(script("sync-policy.sh"), env, { reply: "streaming/sync\n" });
        assert.equal(res.status, 0, res.stderr);
        assert.match(res.stderr, /b is on a lost host; not waited for/);
        const looks = res.argv.filter((a) => /^inspect /.test(a));
        assert.deepEqual(looks.map((a) => a.trim()), ["inspect -f {{.State.Running}} p-a"], "a asked, b never");
        assert.deepEqual(res.hosts.filter((_, i) => /^inspect /.test(res.argv[i])), ["unix:///h2.sock"], "a asked on its own engine");
    });

    test("a removed node's slot is dropped on whichever node answers as primary", () => {
        const res = runScript(script("node-drop-slot.sh"), {
            STACK_LABELS: "pg-replication.stack=s", NODE: "standby1", HELPER_CONTAINER: "pg-standby1-seed", FAKE_NODES: "pg-pg2:pg2:172.18.0.102",
        }, { reply: "0\n" });
        assert.equal(res.status, 0, res.stderr);
        assert.ok(res.stdins.some((x) => /SELECT pg_drop_replication_slot\(slot_name\) FROM pg_replication_slots WHERE slot_name = 'standby1'/.test(x)));
        assert.match(res.stderr, /dropped replication slot standby1 on pg-pg2/);
        assert.match(script("node-drop-slot.sh"), /^SLOT_RELEASE_SECONDS=\$\{SLOT_RELEASE_SECONDS:-90\}$/m);
        // The drop failing (its error above) fails the delete, said so (lib.sh ask_or_fail).
        const failed = runScript(script("node-drop-slot.sh"), {
            STACK_LABELS: "pg-replication.stack=s", NODE: "standby1", HELPER_CONTAINER: "pg-standby1-seed", FAKE_NODES: "pg-pg2:pg2:172.18.0.102",
        }, { reply: "0\n", replies: [["pg_drop_replication_slot", "", 1]] });
        assert.equal(failed.status, 1);
        assert.match(failed.stderr, /^error: node pg-pg2 \(the primary\): the ask failed \(above\), so whether replication slot standby1 was dropped is not known$/m);
        assert.doesNotMatch(failed.stderr, /^dropped replication slot/m);
    });

    test("with no primary running, a removed node's slot goes with the cluster", () => {
        const res = runScript(script("node-drop-slot.sh"), { STACK_LABELS: "pg-replication.stack=s", NODE: "standby1",
            HELPER_CONTAINER: "pg-standby1-seed" });
        assert.equal(res.status, 0, res.stderr);
        assert.match(res.stderr, /no node runs as primary; slot standby1 goes with the cluster/);
    });
});

describe("pooler-auth-drop.sh: endpoints turned off", () => {
    test("the lookup dropped in every database that takes connections, as postgres on the declared primary, once it is the primary", () => {
        const r = runScript(script("pooler-auth-drop.sh"), { PRIMARY_CONTAINER: "p-pg1", AUTH_USER: "pgbouncer_auth" }, { reply: "app\npostgres\ntemplate1\n" });
        assert.equal(r.status, 0, r.stderr);
        const drops = r.stdins.filter((x) => x.includes("DROP FUNCTION IF EXISTS pgbouncer.get_auth(text);"));
        assert.equal(drops.length, 3, r.stdins.join("|"));
        // Only what pooler-auth.sh made: never CASCADE, which would take a user's own objects in a schema of that name.
        assert.match(drops[0], /REVOKE ALL ON SCHEMA pgbouncer FROM "pgbouncer_auth";\n\s+END IF;\n\s+BEGIN\n\s+DROP SCHEMA pgbouncer;\n\s+EXCEPTION WHEN dependent_objects_still_exist THEN/);
        assert.doesNotMatch(drops[0], /CASCADE/);
        assert.match(drops[0], /^DO \$\$\n/, "the dollar quotes reach psql as such");
        for (const db of ["app", "postgres", "template1"]) {
            assert.ok(r.argv.includes(`exec -i -u postgres p-pg1 psql -X -q -A -t -v ON_ERROR_STOP=1 -d dbname='${db}'`), `${db}: ${r.argv.join("\n")}`);
        }
        assert.match(r.stderr, /^pooler's password lookup \(pgbouncer.get_auth\) removed from: app postgres template1; its role pgbouncer_auth goes next$/m);
        const failed = runScript(script("pooler-auth-drop.sh"), { PRIMARY_CONTAINER: "p-pg1", AUTH_USER: "pgbouncer_auth", FAKE_EXEC_STATUS: "1" });
        assert.equal(failed.status, 1, "a primary that cannot be asked fails the delete (the role's would fail next)");
        const standby = runScript(script("pooler-auth-drop.sh"), { PRIMARY_CONTAINER: "p-pg1", AUTH_USER: "pgbouncer_auth", FAKE_RECOVERY: "t" });
        assert.equal(standby.status, 1);
        assert.match(standby.stderr, /p-pg1 is not the primary, so the pooler's password lookup cannot be removed there: turn the endpoints off and change the primary in two ups/);
        assert.ok(!standby.stdins.some((x) => x.includes("DROP")), "nothing dropped");
    });
});

describe("each-database.sh in_each_database: every database by its whole name", () => {
    const names = ["app", "my app", "*", "a=b", "dbname=postgres", "postgresql://x", "postgres://y", "it's", "back\\slash", "template1"];
    const databases = `${names.join("\n")}\n`;
    /**
     * The databases the lookup's SQL went to, in order, as libpq reads each call's -d (every call of these
     * scripts is an exec, each with its stdin): a name passed bare that libpq takes for a connection string throws.
     */
    const ranIn = (r: ShellRun) => r.argv.filter((a, i) => r.stdins[i].includes("pgbouncer.get_auth"))
        .map((a) => libpqDatabase(a.replace(/^exec -i -u postgres p-pg1 psql -X -q -A -t -v ON_ERROR_STOP=1 -d /, "")));

    test("a name with a blank is one database, one named * is not a glob, one libpq would read as a connection string is that database; the log line says each as it is", () => {
        const r = runScript(script("pooler-auth-drop.sh"), { PRIMARY_CONTAINER: "p-pg1", AUTH_USER: "pgbouncer_auth" }, { reply: databases });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(ranIn(r), names);
        assert.ok(r.stderr.includes(`pooler's password lookup (pgbouncer.get_auth) removed from: ${names.join(" ")}; its role pgbouncer_auth goes next\n`), r.stderr);
        const put = runScript(script("pooler-auth.sh"), { PRIMARY_CONTAINER: "p-pg1", AUTH_USER: "pgbouncer_auth" }, { reply: databases });
        assert.equal(put.status, 0, put.stderr);
        assert.deepEqual(ranIn(put), names);
        assert.ok(put.stderr.includes(`pooler's password lookup (pgbouncer.get_auth) in: ${names.join(" ")}\n`), put.stderr);
    });

    test("a database that refuses fails the script, naming it; none after it is tried", () => {
        const r = runScript(script("pooler-auth.sh"), { PRIMARY_CONTAINER: "p-pg1", AUTH_USER: "pgbouncer_auth", FAKE_FAIL_DB: "dbname='my app'" },
            { reply: databases });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^error: could not put the pooler's password lookup \(pgbouncer.get_auth\) in database my app on p-pg1$/m);
        assert.deepEqual(ranIn(r), ["app", "my app"]);
    });
});

describe("backup-check.sh: a repository the backups come to with a gap in its archive", () => {
    // backup-tools.sh backup_take's call, under the lock every backup of the stanza takes (REPO_PATH/lock).
    const FULL_BACKUP = "exec -u postgres p-pg1 pgbackrest --log-level-console=warn --lock-path=/var/lib/pgbackrest/lock --type=full backup";

    test("moved (the last check's repository from its output, else the volume's note), or turned on: a full backup of its own, then the old records set aside", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-records-"));
        try {
            const file = path.join(dir, "pg-replication-repository");
            const records = ["verified.json", "verify-failed.json", "restore-points.tsv"].map((f) => path.join(dir, f));
            // Every repository already holds a full backup of the current database (pgbackrest info, as the fake answers it).
            const info = ["stanza: p", "    status: ok", "", "    db (current)", "        full backup: 20261205-100000F", ""].join("\n");
            const run = (repository: string, more: Record<string, string> = {}, text = script("backup-check.sh"), reply = info) => runScript(text, {
                PRIMARY_CONTAINER: "p-pg1", STANZA: "p", IMAGE: "pg-replication/postgres-backup:17", FAKE_EXEC_SH: "1",
                REPOSITORY: repository, REPOSITORY_FILE: file, RECORDS: records.join(" "), REPO_PATH: "/var/lib/pgbackrest", ...more,
            }, { reply });
            const fullBackups = (r: ShellRun) => r.argv.filter((a) => a === FULL_BACKUP).length;
            const writeRecords = () => { fs.writeFileSync(records[0], "{\"backup\":\"old\"}"); fs.writeFileSync(records[2], "point\n"); };
            const kept = () => records.filter((f) => fs.existsSync(f)).map((f) => path.basename(f));
            writeRecords();

            // An update of a stack whose last check printed no line and left no note (made before both): nothing known moved.
            let r = run("p-backup");
            assert.equal(r.status, 0, r.stderr);
            assert.equal(r.stdout, "repository=p-backup\n", "the line the next update reads back");
            assert.equal(fs.readFileSync(file, "utf8"), "p-backup\n", "and the note preview reads");
            assert.deepEqual([fullBackups(r), kept()], [0, ["verified.json", "restore-points.tsv"]]);
            // The same repository in the last check's output: nothing.
            r = run("p-backup", { PULUMI_COMMAND_STDOUT: "repository=p-backup" });
            assert.deepEqual([fullBackups(r), kept()], [0, ["verified.json", "restore-points.tsv"]]);

            // backup.s3 set: the last check's output names the volume. Its own full backup first, then the records aside.
            r = run("s3://bucket/pg at s3.example.internal", { PULUMI_COMMAND_STDOUT: "repository=p-backup" });
            assert.equal(r.status, 0, r.stderr);
            assert.equal(fullBackups(r), 1, "a full backup of its own although it holds one: it lacks the WAL archived elsewhere");
            assert.match(r.stderr, /^backup: first full backup of p since the backups moved from p-backup to s3:\/\/bucket\/pg at s3.example.internal, taken in \d+s$/m);
            assert.match(r.stderr, /^backup: the backups moved from p-backup to s3:\/\/bucket\/pg at s3.example.internal: the records of the backups before that are set aside \(verified.json restore-points.tsv, as .of-previous-repository\)$/m);
            assert.ok(r.argv.indexOf(FULL_BACKUP) < r.argv.findIndex((a) => a.includes(".of-previous-repository")),
                "set aside only once the new repository has its backup");
            assert.deepEqual(kept(), []);
            assert.equal(r.stdout, "repository=s3://bucket/pg at s3.example.internal\n");

            // No line in the last output (a check before it): the volume's note says where the records are from.
            writeRecords();
            r = run("p-backup");
            assert.deepEqual([fullBackups(r), kept()], [1, []], "the note named the bucket: a move back");

            // A check that fails before its backup changes nothing: the records stay, the note too, the next run is a move again.
            writeRecords();
            const failed = run("s3://other/pg at s3.example.internal", { PULUMI_COMMAND_STDOUT: "repository=p-backup", FAKE_PGBACKREST_STATUS: "28" });
            assert.equal(failed.status, 1);
            assert.deepEqual(kept(), ["verified.json", "restore-points.tsv"]);
            assert.equal(fs.readFileSync(file, "utf8"), "p-backup\n");

            // Its create: backups turned on (again), the repository perhaps holding backups from before archiving stopped.
            r = run("p-backup", {}, `CHECK_RUN=create\n${script("backup-check.sh")}`);
            assert.equal(r.status, 0, r.stderr);
            assert.equal(fullBackups(r), 1);
            assert.match(r.stderr, /^backup: first full backup of p since backups were turned on, taken in \d+s$/m);
            assert.deepEqual(kept(), []);
            // A new stack's create, its repository empty: simply its first full backup, no gap to speak of.
            r = run("p-backup", {}, `CHECK_RUN=create\n${script("backup-check.sh")}`, "stanza: p\n    status: error (no valid backups)\n");
            assert.equal(r.status, 0, r.stderr);
            assert.equal(fullBackups(r), 1);
            assert.match(r.stderr, /^backup: first full backup of p taken in \d+s$/m);
            // A move to a repository with none: the move is still said.
            r = run("s3://bucket/pg at s3.example.internal", { PULUMI_COMMAND_STDOUT: "repository=p-backup" }, script("backup-check.sh"),
                "stanza: p\n    status: error (no valid backups)\n");
            assert.match(r.stderr, /^backup: first full backup of p since the backups moved from p-backup to s3:\/\/bucket\/pg at s3.example.internal, taken in \d+s$/m);

            // Another backup of the stanza running (the scheduler's, one by hand) holds the lock: the first full backup waits for it
            // instead of running beside it, and a checkpoint goes first (a promotion just before leaves pg_control on the old timeline).
            r = run("p-backup", { FAKE_PGBACKREST_LOCKED: "1" }, `CHECK_RUN=create\n${script("backup-check.sh")}`,
                "stanza: p\n    status: error (no valid backups)\n");
            assert.equal(r.status, 0, r.stderr);
            assert.equal(fullBackups(r), 2, r.argv.join("\n"));
            assert.match(r.stderr, /^another backup of p is running: this full backup waits for it to end \(0s so far\)$/m);
            assert.ok(r.stdins.includes("CHECKPOINT\n") && r.argv[r.argv.indexOf(FULL_BACKUP) - 1].startsWith("exec -i -u postgres p-pg1 psql"));
            assert.equal(r.stdout, "repository=p-backup\n");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("backup-check.sh with the records' engine lost (RECORDS_LOST, nodes on several engines)", () => {
    const info = ["stanza: p", "    status: ok", "", "    db (current)", "        full backup: 20261205-100000F", ""].join("\n");
    const run = (more: Record<string, string>) => runScript(script("backup-check.sh"), {
        PRIMARY_CONTAINER: "p-pg2", STANZA: "p", IMAGE: "pg-replication/postgres-backup:13", FAKE_EXEC_SH: "1", VOLUME: "p-backup",
        REPOSITORY: "s3://bucket/pg at s3.example.internal", REPOSITORY_FILE: "/var/lib/pgbackrest/pg-replication-repository",
        RECORDS: "/var/lib/pgbackrest/verified.json", REPO_PATH: "/var/lib/pgbackrest", RECORDS_LOST: "1", DOCKER_HOST: "unix:///run/h1/docker.sock", ...more,
    }, { reply: info });

    test("a failover's check goes on: the primary's archive checked, the records left alone, said; a move of the repository refused", () => {
        const r = run({ PULUMI_COMMAND_STDOUT: "repository=s3://bucket/pg at s3.example.internal" });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "repository=s3://bucket/pg at s3.example.internal\n");
        assert.ok(r.argv.includes("exec -u postgres p-pg2 pgbackrest check"), r.argv.join("\n"));
        assert.deepEqual(r.argv.filter((a) => / sh -c |^run /.test(a)), [], "nothing asked of the records' volume");
        assert.match(r.stderr, /^backup: the records' volume p-backup is on unix:\/\/\/run\/h1\/docker\.sock, an engine the preview found lost: left as it was$/m);
        const moved = run({ PULUMI_COMMAND_STDOUT: "repository=p-backup" });
        assert.equal(moved.status, 1);
        assert.deepEqual(moved.argv.filter((a) => /pgbackrest/.test(a)), [], "refused before the stanza, the check or a full backup");
        assert.match(moved.stderr, /^error: the backups moved from p-backup to s3:\/\/bucket\/pg at s3\.example\.internal, but the records of the backups before that cannot be set aside: they are in the volume p-backup on unix:\/\/\/run\/h1\/docker\.sock, an engine the preview found lost; bring it back and run pulumi up$/m);
    });
});

describe("backup-check.sh: a repository pgBackRest cannot read", () => {
    const run = (info: string, more: Record<string, string> = {}) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-unread-"));
        try {
            const file = path.join(dir, "pg-replication-repository");
            const r = runScript(script("backup-check.sh"), { PRIMARY_CONTAINER: "p-pg1", STANZA: "p", IMAGE: "pg-replication/postgres-backup:17",
                FAKE_EXEC_SH: "1", REPOSITORY: "s3://bucket/pg at s3.example.test", REPOSITORY_FILE: file, RECORDS: path.join(dir, "verified.json"),
                PULUMI_COMMAND_STDOUT: "repository=s3://bucket/pg at s3.example.test", REPO_PATH: "/var/lib/pgbackrest", ...more }, { reply: info });
            return { ...r, noted: fs.existsSync(file), backups: r.argv.filter((a) => / pgbackrest .*backup$/.test(a)) };
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    };

    test("pgBackRest says so in the stanza's status (exiting 0): the check fails with its words, no backup taken, nothing noted", () => {
        // As pgBackRest prints it (command/info/info.c, 2.33 and 2.55): an error's words on the lines under the status.
        for (const info of ["stanza: p\n    status: error (other)\n            [HostConnectError] unable to get address for 's3.example.test'\n",
            "stanza: p\n    status: error (missing stanza data)\n    cipher: none\n", "stanza: p\n    status: error (missing stanza path)\n"]) {
            const r = run(info);
            assert.equal(r.status, 1, info);
            assert.match(r.stderr, /^error: pgBackRest could not read the backup repository \(pgbackrest info on p-pg1\): stanza: p\n    status: error \(/m);
            assert.deepEqual([r.backups, r.noted, r.stdout], [[], false, ""], "not taken for a repository with no full backup yet");
        }
        assert.match(run("stanza: p\n    status: error (other)\n            [HostConnectError] unable to get address for 's3.example.test'\n").stderr,
            /\[HostConnectError\] unable to get address for 's3\.example\.test'/);
    });

    test("pgbackrest info fails: the check fails, saying so", () => {
        const r = run("ERROR: [103]: unable to find a valid repository\n", { FAKE_PGBACKREST_INFO_STATUS: "103" });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^error: pgBackRest could not list the backups in the repository \(pgbackrest info on p-pg1\): ERROR: \[103\]/m);
        assert.deepEqual([r.backups, r.noted], [[], false]);
    });

    test("read while a backup runs (its lock held): as read; none yet: the first full backup", () => {
        const held = run("stanza: p\n    status: ok (backup/expire running)\n\n    db (current)\n        full backup: 20261205-100000F\n",
            { PULUMI_COMMAND_STDOUT: "", REPOSITORY: "p-backup" });
        assert.equal(held.status, 0, held.stderr);
        assert.deepEqual(held.backups, []);
        const none = run("stanza: p\n    status: error (no valid backups, backup/expire running)\n", { PULUMI_COMMAND_STDOUT: "", REPOSITORY: "p-backup" });
        assert.equal(none.status, 0, none.stderr);
        assert.equal(none.backups.length, 1);
    });
});

describe("backup-check.sh: one checkpoint, backup_take's, and only before a backup", () => {
    /** The CHECKPOINTs sent to the primary, as an argument (psql -c) or on stdin (node_sql). */
    const checkpoints = (r: ShellRun) => r.argv.filter((a) => /\bCHECKPOINT\b/.test(a)).length + r.stdins.filter((x) => /^CHECKPOINT$/m.test(x)).length;
    const run = (info: string) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-checkpoint-"));
        try {
            return runScript(script("backup-check.sh"), { PRIMARY_CONTAINER: "p-pg1", STANZA: "p", IMAGE: "pg-replication/postgres-backup:17",
                FAKE_EXEC_SH: "1", REPOSITORY: "p-backup", REPOSITORY_FILE: path.join(dir, "pg-replication-repository"), RECORDS: path.join(dir, "verified.json"),
                PULUMI_COMMAND_STDOUT: "repository=p-backup", REPO_PATH: "/var/lib/pgbackrest" }, { reply: info });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    };

    test("the first full backup: exactly one CHECKPOINT, right before it", () => {
        const r = run("stanza: p\n    status: error (no valid backups)\n");
        assert.equal(r.status, 0, r.stderr);
        assert.equal(checkpoints(r), 1, r.argv.join("\n"));
        const backup = r.argv.indexOf("exec -u postgres p-pg1 pgbackrest --log-level-console=warn --lock-path=/var/lib/pgbackrest/lock --type=full backup");
        assert.ok(backup > 0 && r.argv[backup - 1].startsWith("exec -i -u postgres p-pg1 psql") && r.stdins.includes("CHECKPOINT\n"), r.argv.join("\n"));
    });

    test("a full backup there already: no backup and no CHECKPOINT (pgbackrest stanza-create and check need none)", () => {
        const r = run("stanza: p\n    status: ok\n\n    db (current)\n        full backup: 20261205-100000F\n");
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.argv.filter((a) => / pgbackrest .*backup$/.test(a)), []);
        assert.equal(checkpoints(r), 0, r.argv.join("\n"));
    });
});

describe("backup-final.sh: the last backup at destroy", () => {
    const env = { PRIMARY_CONTAINER: "p-pg1", STANZA: "p", VOLUME: "p-backup", REPOSITORY: "p-backup", IMAGE: "pg-replication/postgres-backup:17",
        REPO_PATH: "/var/lib/pgbackrest", VERIFIED_FILE: "/var/lib/pgbackrest/pg-replication-verified.json", MAX_VERIFIED_AGE_HOURS: "26" };
    // The verified restore's age is reckoned in the backup image; the fake docker answers it from its reply file.
    const proven = "7200 2026-12-03T21:00:00.000Z";
    const run = (more: Record<string, string> = {}, reply = proven) =>
        runScript(script("backup-final.sh"), { ALLOW_UNVERIFIED_DESTROY: "false", ...env, ...more }, { reply });
    /** pgBackRest's calls, but the first question (whether the primary has it at all). */
    const pgbackrestCalls = (r: ShellRun) => r.argv.filter((a) => / pgbackrest /.test(a) && !a.includes("command -v pgbackrest"));

    test("a restore proven within backup.maxVerifiedAgeHours: read in the backup image, repository read-only, no network", () => {
        const r = run({ FAKE_RECOVERY: "f" });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.argv.slice(0, 2).map((a) => a.split(" -c")[0]), ["inspect -f {{.Config.Image}} p-pg1", "exec p-pg1 sh"],
            "first: whether backups were turned off (below)");
        assert.ok(r.argv[2].startsWith("run --rm --network none -v p-backup:/var/lib/pgbackrest:ro --entrypoint /bin/sh pg-replication/postgres-backup:17 -c"),
            r.argv[2]);
        assert.ok(r.argv[2].endsWith(" /var/lib/pgbackrest/pg-replication-verified.json"), r.argv[2]);
        assert.match(r.stderr, /^backup: a restore of the backups in p-backup was proven 7200s ago$/m);
    });

    test("none proven, or too long ago: the destroy stops with nothing removed, naming the key that lets it go on", () => {
        for (const [reply, said] of [["none", /no restore of the backups in p-backup has been proven, so nothing was destroyed/],
            ["93601 2026-12-02T10:00:00.000Z", /was proven 93601s ago \(2026-12-02T10:00:00.000Z\), longer ago than backup.maxVerifiedAgeHours \(26 h\), so nothing was destroyed/]] as const) {
            const r = run({ FAKE_RECOVERY: "f" }, reply);
            assert.equal(r.status, 1);
            assert.match(r.stderr, said);
            assert.match(r.stderr, /set pg-replication:backup.allowUnverifiedDestroy to true, run pulumi up, then destroy/);
            assert.deepEqual(pgbackrestCalls(r), [], "no backup taken");
        }
        const bucket = run({ FAKE_RECOVERY: "f", REPOSITORY: "s3://b/pg at s3.example" }, "none");
        assert.match(bucket.stderr, /no restore of the backups in s3:\/\/b\/pg at s3\.example has been proven/,
            "with backup.s3 the bucket is named, not the volume that holds only the settings");
        const allowed = run({ FAKE_RECOVERY: "f", ALLOW_UNVERIFIED_DESTROY: "true" }, "none");
        assert.equal(allowed.status, 0, allowed.stderr);
        assert.ok(!allowed.argv.some((a) => a.includes("verified.json")), "not even read when allowed");
    });

    test("on the running primary: an incremental backup, then destroy goes on", () => {
        const r = run({ FAKE_RECOVERY: "f" });
        assert.equal(r.status, 0, r.stderr);
        const backup = r.argv.indexOf("exec -u postgres p-pg1 pgbackrest --log-level-console=warn --lock-path=/var/lib/pgbackrest/lock --type=incr backup");
        assert.ok(backup > 0, r.argv.join("\n"));
        assert.ok(r.stdins.includes("CHECKPOINT\n") && r.argv[backup - 1].startsWith("exec -i -u postgres p-pg1 psql"),
            "a checkpoint first (backup-tools.sh backup_take)");
        assert.match(r.stderr, /^backup: final backup .* of p taken on p-pg1 before destroy; the repository is kept$/m);
    });

    test("another backup running (the scheduler's): the final backup waits for its lock, then is taken; a lock held too long fails", () => {
        // backup-tools.sh backup_take, which npm run backup and the scheduler run too. The lock is in the
        // repository volume, which the nodes and the scheduler (its backups from a standby) all mount.
        const r = run({ FAKE_RECOVERY: "f", FAKE_PGBACKREST_LOCKED: "1" });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.argv.filter((a) => a === "exec -u postgres p-pg1 pgbackrest --log-level-console=warn --lock-path=/var/lib/pgbackrest/lock --type=incr backup").length, 2,
            r.argv.join("\n"));
        assert.match(r.stderr, /^another backup of p is running: this incr backup waits for it to end \(0s so far\)$/m);
        assert.match(r.stderr, /^backup: final backup .* taken on p-pg1 before destroy/m);
        const held = run({ FAKE_RECOVERY: "f", FAKE_PGBACKREST_LOCKED: "9", LOCK_WAIT_SECONDS: "5" });
        assert.equal(held.status, 1);
        assert.match(held.stderr, /ERROR: \[050\]: unable to acquire lock[^]*the final backup of p on p-pg1 failed \(above\), so nothing was destroyed/);
    });

    test("the checkpoint before the final backup fails: no backup taken, the destroy stops, saying why", () => {
        // backup_take is called in `||` here, where set -e would not stop at a failed command inside it.
        const r = run({ FAKE_RECOVERY: "f", FAKE_CHECKPOINT_ERR: "psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed" });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^CHECKPOINT on p-pg1 before the incr backup failed: psql: error: connection to server on socket "\/var\/run\/postgresql\/\.s\.PGSQL\.5432" failed$/m);
        assert.match(r.stderr, /^error: the final backup of p on p-pg1 failed \(above\), so nothing was destroyed/m);
        assert.deepEqual(r.argv.filter((a) => / pgbackrest .*backup$/.test(a)), [], "no backup after a failed checkpoint");
    });

    test("backups turned off (the primary rolled onto an image without pgBackRest): no proof asked, no backup, the repository kept", () => {
        const r = run({ FAKE_RECOVERY: "f", FAKE_IMAGE: "postgres:17" }, "no pgbackrest");
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /^backup: turned off for this stack \(p-pg1 runs postgres:17, without pgBackRest\): no final backup; the repository p-backup is kept/m);
        assert.deepEqual(r.argv.filter((a) => !a.startsWith("inspect ")).map((a) => a.split(" -c")[0]), ["exec p-pg1 sh"], "nothing after the question");
        // Any other answer (the container stopped or gone: docker exec fails) is a destroy, guarded as ever.
        const gone = run({ FAKE_RECOVERY: "f", FAKE_EXEC_STATUS: "1" }, "none");
        assert.equal(gone.status, 1);
        assert.match(gone.stderr, /no restore of the backups in p-backup has been proven, so nothing was destroyed/);
        // A primary on the backup image is never taken for one without pgBackRest, whatever it answers: not even asked.
        const backupImage = run({ FAKE_RECOVERY: "f", FAKE_IMAGE: env.IMAGE }, "no pgbackrest");
        assert.ok(!backupImage.argv.some((a) => a.includes("command -v pgbackrest")), backupImage.argv.join("\n"));
        assert.doesNotMatch(backupImage.stderr, /turned off/);
    });

    test("a failed backup on the running primary stops the destroy, saying how to go on without it", () => {
        const r = run({ FAKE_RECOVERY: "f", FAKE_PGBACKREST_STATUS: "1" });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /the final backup of p on p-pg1 failed \(above\), so nothing was destroyed\. .*PG_REPLICATION_SKIP_FINAL_BACKUP=1 pulumi destroy/);
    });

    test("whether the primary runs, or is a primary, cannot be told: the destroy stops; only an answer means nothing to save", () => {
        const engine = run({ ALLOW_UNVERIFIED_DESTROY: "true", FAKE_INSPECT_ERR: "Error response from daemon: i/o timeout" });
        assert.equal(engine.status, 1);
        assert.match(engine.stderr, /could not tell whether p-pg1 runs \(Error response from daemon: i\/o timeout\), so nothing was destroyed and no final backup of p taken\. Bring its engine back, or destroy without the final backup: PG_REPLICATION_SKIP_FINAL_BACKUP=1 pulumi destroy/);
        const server = run({ ALLOW_UNVERIFIED_DESTROY: "true", FAKE_EXEC_STATUS: "1" });
        assert.equal(server.status, 1);
        assert.match(server.stderr, /p-pg1 runs but its server did not say whether it is a primary \(Error response from daemon: container is not running\), so nothing was destroyed and no final backup of p taken\. Wait for it \(npm run status\), or destroy without the final backup/);
        assert.deepEqual(pgbackrestCalls(server), []);
        const missing = run({ ALLOW_UNVERIFIED_DESTROY: "true", FAKE_MISSING: "p-pg1" });
        assert.equal(missing.status, 0, missing.stderr);
        assert.match(missing.stderr, /^backup: no final backup of p: p-pg1 is not a running primary \(running: missing\)/m);
        // A newer CLI's wording of the same answer.
        const lower = run({ ALLOW_UNVERIFIED_DESTROY: "true", FAKE_INSPECT_ERR: "error: no such object: p-pg1" });
        assert.equal(lower.status, 0, lower.stderr);
        assert.match(lower.stderr, /^backup: no final backup of p: p-pg1 is not a running primary \(running: missing\)/m);
    });

    test("whether the primary runs is asked once: the engine's words in the refusal come from that one ask", () => {
        const asks = (r: ShellRun) => r.argv.filter((a) => a === "inspect -f {{.State.Running}} p-pg1");
        const engine = run({ ALLOW_UNVERIFIED_DESTROY: "true", FAKE_INSPECT_ERR: ENGINE_DOWN });
        assert.equal(engine.status, 1);
        assert.equal(engine.stderr, `error: could not tell whether p-pg1 runs (${ENGINE_DOWN}), so nothing was destroyed and no final backup of p taken. ` +
            "Bring its engine back, or destroy without the final backup: PG_REPLICATION_SKIP_FINAL_BACKUP=1 pulumi destroy\n");
        assert.equal(asks(engine).length, 1, engine.argv.join("\n"));
        assert.ok(!engine.argv.some((a) => a.startsWith("exec")), "nothing asked of the server");
        const missing = run({ ALLOW_UNVERIFIED_DESTROY: "true", FAKE_MISSING: "p-pg1" });
        assert.equal(asks(missing).length, 1, missing.argv.join("\n"));
        assert.deepEqual(pgbackrestCalls(missing), []);
    });

    test("whether the running primary is a primary is asked once: a refusal quotes that ask's own words", () => {
        const asks = (r: ShellRun) => r.argv.filter((a) => a === "exec -i -u postgres p-pg1 psql -X -A -t");
        const server = run({ ALLOW_UNVERIFIED_DESTROY: "true", FAKE_NO_SERVER: "p-pg1" });
        assert.equal(server.status, 1);
        assert.equal(server.stderr, "error: p-pg1 runs but its server did not say whether it is a primary (psql: error: connection to server on socket " +
            "\"/var/run/postgresql/.s.PGSQL.5432\" failed: No such file or directory), so nothing was destroyed and no final backup of p taken. " +
            "Wait for it (npm run status), or destroy without the final backup: PG_REPLICATION_SKIP_FINAL_BACKUP=1 pulumi destroy\n");
        assert.equal(asks(server).length, 1, server.argv.join("\n"));
        assert.deepEqual(pgbackrestCalls(server), []);
        // Answered: once as well, and the answer taken as before.
        const standby = run({ ALLOW_UNVERIFIED_DESTROY: "true", FAKE_RECOVERY: "t" });
        assert.deepEqual([standby.status, asks(standby).length], [0, 1], standby.stderr);
        assert.match(standby.stderr, /^backup: no final backup of p: p-pg1 is not a running primary \(running: true\)/m);
        const primary = run({ ALLOW_UNVERIFIED_DESTROY: "true", FAKE_RECOVERY: "f" });
        assert.deepEqual([primary.status, asks(primary).length], [0, 1], primary.stderr);
        assert.match(primary.stderr, /^backup: final backup .* of p taken on p-pg1 before destroy/m);
    });

    test("no running primary (a standby, or stopped), or the skip asked for: no backup, destroy goes on", () => {
        for (const more of [{ FAKE_RECOVERY: "t" }, { PG_REPLICATION_SKIP_FINAL_BACKUP: "1", FAKE_RECOVERY: "f" }] as Record<string, string>[]) {
            const r = run(more);
            assert.equal(r.status, 0, r.stderr);
            assert.deepEqual(pgbackrestCalls(r), []);
            assert.match(r.stderr, /^backup: no final backup of p/m);
        }
    });
});

describe("backup-restore.sh: room for the restore first", () => {
    // The fragment as the restore container runs it (bash -c), with pgbackrest, df and mkdir faked on PATH.
    const INFO = ["stanza: p", "    status: ok", "        full backup: 20261204-100000F", "            database size: 2.2GB, database backup size: 2.2GB",
        "        incr backup: 20261204-100000F_20261204-110000I", "            database size: 2.2GB, database backup size: 10.5MB"].join("\n");
    const restore = (dfTotalKb: number, dfAvailKb: number) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-restore-room-"));
        try {
            const tool = (name: string, body: string) => fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
            tool("pgbackrest", `echo "$*" >> ${dir}/calls; case "$*" in info) cat <<'EOF'\n${INFO}\nEOF\n;; *) exit 7 ;; esac`);
            tool("df", `printf 'Filesystem 1024-blocks Used Available Capacity Mounted\\n/dev/x ${dfTotalKb} 1 ${dfAvailKb} 1%% /var/lib/postgresql/data\\n'`);
            tool("mkdir", "exit 0");
            const r = spawnSync("bash", ["-c", inContainer("backup-restore.sh"), "backup-restore", "token", "10"],
                { env: { PATH: `${dir}:/usr/bin:/bin` }, encoding: "utf8" });
            return { ...r, calls: fs.existsSync(path.join(dir, "calls")) ? fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n") : [] };
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    };

    test("less than 1 GiB (or 5% of the disk) left after the newest set's database size: refused before anything is written", () => {
        const r = restore(1_000_000_000, 3_000_000); // a 954 GiB disk with 2.9 GiB free: 5% of it must stay free
        assert.equal(r.status, 1);
        assert.match(r.stdout, /^backup=20261204-100000F_20261204-110000I$/m);
        assert.match(r.stdout, /^error=no room for the restore: it needs 2252 MiB and the engine's disk has 2929 MiB free; after it less than 48828 MiB \(1 GiB or 5% of the disk\) would be left/m);
        assert.deepEqual(r.calls, ["info"], "no restore");
    });

    test("room enough: the restore goes on", () => {
        const r = restore(20_000_000, 4_000_000); // 19 GiB, 3.8 GiB free: 1.6 GiB left, more than 1 GiB
        assert.doesNotMatch(r.stdout, /^error=/m);
        assert.deepEqual(r.calls, ["info", "--log-level-console=warn restore"]);
    });
});

describe("in-container fragments", () => {
    test("the seed sends standby-conf.sh and clone.sh along and clones with clone_into; the fragments are valid sh", () => {
        const seed = script("node-seed.sh");
        assert.ok(seed.startsWith(`STANDBY_CONF_SH=$(cat <<'FRAGMENT'\n${fragment("standby-conf.sh").trimEnd()}\nFRAGMENT\n)\n` +
            `CLONE_SH=$(cat <<'FRAGMENT'\n${fragment("clone.sh").trimEnd()}\nFRAGMENT\n)`));
        assert.match(seed, /clone_into "\$pgdata" "\$PRIMARY_ROUTE user=\$REPLICATION_USER application_name=\$NODE passfile=\$passfile" "\$NODE"\n/);
        assert.match(seed, /-c "\$STANDBY_CONF_SH\n\$CLONE_SH\n\$clone_in_container"/);
        assert.ok(!script("node-ready.sh").includes("STANDBY_CONF_SH"), "only scripts that name a fragment get it");
        for (const f of ["standby-conf.sh", "clone.sh"]) {
            assert.equal(spawnSync("/bin/sh", ["-n"], { input: fragment(f), encoding: "utf8" }).status, 0, f);
        }
        assert.match(fragment("clone.sh"), /pg_basebackup -D "\$_staging" -R -X stream -C -S "\$3" -c fast -d "\$2 \$_bounds"/);
    });

    test("clone_into: pg_basebackup's connect is bounded and a silent source's host is probed; primary_conninfo is the conninfo as given", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-clone-"));
        try {
            // A pg_basebackup that records its arguments and writes what -R writes.
            fs.writeFileSync(path.join(dir, "pg_basebackup"), `#!/bin/sh
printf '%s\\n' "$@" > "${dir}/args"
while [ $# -gt 0 ]; do [ "$1" = -D ] && d=$2; shift; done
mkdir -p "$d" && printf "primary_conninfo = 'from -R password=x'\\n" > "$d/postgresql.auto.conf"
`, { mode: 0o755 });
            const conninfo = "host=10.0.0.1 port=5433 sslmode=verify-full user=repuser application_name=pg2 passfile=/p";
            const r = spawnSync("/bin/sh", ["-c", `set -eu\n${fragment("standby-conf.sh")}\n${fragment("clone.sh")}\nclone_into "$1" "$2" pg2`,
                "sh", path.join(dir, "pgdata"), conninfo], { env: { PATH: `${dir}:/usr/bin:/bin` }, encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
            const args = fs.readFileSync(path.join(dir, "args"), "utf8").split("\n");
            const d = args[args.indexOf("-d") + 1];
            assert.ok(d.startsWith(`${conninfo} `), d);
            assert.match(d, / connect_timeout=15 keepalives=1 keepalives_idle=15 keepalives_interval=5 keepalives_count=9 tcp_user_timeout=60000$/);
            const auto = fs.readFileSync(path.join(dir, "pgdata", "postgresql.auto.conf"), "utf8");
            assert.match(auto, new RegExp(`^primary_conninfo = '${conninfo}'$`, "m"));
            assert.ok(!/keepalives|connect_timeout|tcp_user_timeout|password/.test(auto), auto);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("dbname_conninfo: any database name, as libpq reads it back from psql's -d; sent along wherever a script or fragment calls it", () => {
        const names = ["app", "my app", "*", "a=b", "dbname=postgres", "postgresql://x", "postgres://y", "it's", "back\\slash", "'\\'", " lead", "x'; host=evil"];
        for (const shell of ["/bin/sh", "bash"]) {
            const r = spawnSync(shell, ["-c", `${fragment("dbname.sh")}\nfor n in "$@"; do dbname_conninfo "$n"; echo; done`, "sh", ...names],
                { encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
            const args = r.stdout.split("\n").slice(0, -1);
            assert.deepEqual(args.map(libpqDatabase), names, `${shell}: ${args.join(" | ")}`);
        }
        assert.equal(spawnSync("/bin/sh", ["-n"], { input: fragment("dbname.sh"), encoding: "utf8" }).status, 0);
        const helper = fragment("dbname.sh").trimEnd();
        // Host-side: through in_each_database (each-database.sh), which names it.
        assert.ok(script("pooler-auth.sh").includes(helper) && script("pooler-auth-drop.sh").includes(helper));
        assert.ok(!script("node-ready.sh").includes(helper), "only scripts that call it get it");
        // In the containers: restore.sh (the seed's restore, the preview's selection) and backup-restore.sh (the verified restore).
        for (const file of ["restore.sh", "backup-restore.sh"]) {
            assert.ok(inContainer(file).startsWith(helper), file);
        }
        assert.ok(script("node-seed.sh").includes(`RESTORE_SH=$(cat <<'FRAGMENT'\n${helper}\n`));
        assert.ok(scriptOf("backup_verify v 60").includes(`BACKUP_RESTORE_SH=$(cat <<'FRAGMENT'\n${helper}\n`));
        assert.ok(!inContainer("clone.sh").includes(helper));
    });
});

describe("on success a script prints nothing on stdout and one summary line on stderr", () => {
    // Each with the answers of a healthy cluster; psql's 't' for pg_reload_conf() is among them.
    const cases: [string, Record<string, string>, { stdin?: string; reply?: string }, RegExp][] = [
        ["node-ready.sh", { NODE_CONTAINER: "pg-pg1", TIMEOUT: "5" }, {}, /^node pg-pg1 is ready$/],
        ["superuser-password.sh", { PRIMARY_CONTAINER: "pg-pg1" }, { stdin: alterSuperuserSql("pw") },
            /^superuser password set on pg-pg1$/],
        ["node-access.sh", {
            NODE_CONTAINER: "pg-pg1", REPLICATION_USER: "repuser", NODE_ADDRESSES: "172.18.0.101 172.18.0.102",
            WAL_KEEP_SIZE: "128MB", MAX_SLOT_WAL_KEEP_SIZE: "1GB",
        }, {}, /^pg-pg1: replication allowed for repuser from: 172\.18\.0\.101 172\.18\.0\.102$/],
        ["node-tls.sh", { ...helperEnv, TLS_DIR: "/var/lib/postgresql/data/tls" },
            { stdin: "-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nc\n-----END CERTIFICATE-----\n" +
                "-----BEGIN CERTIFICATE-----\na\n-----END CERTIFICATE-----\n" },
            /^node standby1: TLS key, certificate and CA written to volume pg-standby1-data$/],
        ["node-passfile.sh", helperEnv, { stdin: PASSLINE }, /^node standby1: replication passfile written to volume pg-standby1-data$/],
        ["node-seed.sh", { ...seedEnv, FAKE_DATA_STATUS: "1", FAKE_NODES: "pg-pg1:pg1:172.18.0.101" }, {},
            /^node standby1: cloned pg-pg1 \(172\.18\.0\.101\) into volume pg-standby1-data with slot standby1$/],
        ["node-seed-check.sh", helperEnv, {}, /^node standby1: the seed's inputs changed; its data in pg-standby1-data is kept$/],
        ["sync-policy.sh", { PRIMARY_CONTAINER: "pg-primary", SYNC_NAMES: "", SYNC_COMMIT: "on", EXPECTED: "standby1=async", TIMEOUT: "5" },
            { reply: "streaming/async\n" }, /^commit policy applied \(synchronous_standby_names='', synchronous_commit=on\); standbys: standby1=async$/],
        ["sync-policy-reset.sh", { PRIMARY_CONTAINER: "pg-primary" }, {}, /^commit policy on pg-primary reset to asynchronous$/],
        ["node-streaming.sh", { NODE_CONTAINER: "pg-pg1", NODE: "pg1", MAX_LAG_BYTES: "0", TIMEOUT: "5", STACK_LABELS: "pg-replication.stack=s" },
            { reply: "f|no receiver|0/3000000\n" }, /^node pg1: primary$/],
        // The fake engine's inspect answers "true" for a container's image: the container runs IMAGE already.
        ["upgrade.sh", { NODE: "pg1", NODE_CONTAINER: "pg-pg1", VOLUME: "pg-pg1-data", IMAGE: "true", KEEP_CONTAINER: "pg-pg2",
            LONG_TX_SQL: "SELECT 1", SETTINGS_SQL: "SELECT 1", TIMEOUT: "5", DOCKER_LABELS: "a=b", HELPER_CONTAINER: "pg-pg1-upgrade" }, {},
        /^node pg1 runs true already; no major upgrade$/],
        ["upgrade-finish.sh", { PRIMARY_CONTAINER: "pg-pg1", IMAGE: "postgres:17", STACK_LABELS: "pg-replication.stack=s" }, {},
            /^no major upgrade to finish$/],
        ["node-drop-slot.sh", { STACK_LABELS: "pg-replication.stack=s", NODE: "standby1", HELPER_CONTAINER: "pg-standby1-seed",
            FAKE_NODES: "pg-pg1:pg1:172.18.0.101" }, { reply: "0\n" }, /^dropped replication slot standby1 on pg-pg1$/],
        ["pooler-auth.sh", { PRIMARY_CONTAINER: "pg-pg1", AUTH_USER: "pgbouncer_auth" }, { reply: "postgres\n" },
            /^pooler's password lookup \(pgbouncer.get_auth\) in: postgres$/],
        ["pooler-auth-drop.sh", { PRIMARY_CONTAINER: "pg-pg1", AUTH_USER: "pgbouncer_auth" }, { reply: "postgres\n" },
            /^pooler's password lookup \(pgbouncer.get_auth\) removed from: postgres; its role pgbouncer_auth goes next$/],
    ];
    test("every script has a case here", () => {
        assert.deepEqual(cases.map(([file]) => file).sort(), [...SCRIPTS].sort());
    });
    for (const [file, env, opts, summary] of cases) {
        test(file, () => {
            const res = runScript(script(file), env, opts);
            assert.equal(res.status, 0, res.stderr);
            assert.equal(res.stdout, "", `${file} printed on stdout`);
            assert.match(res.stderr, /^[^\n]*\n$/, `${file} should print one line on stderr, printed: ${JSON.stringify(res.stderr)}`);
            assert.match(res.stderr.trimEnd(), summary);
        });
    }
});

describe("backup-tools.sh backup_take: the checkpoint before the backup", () => {
    test("it fails: so does the call, in `if` and `||` (where set -e does not stop at it), saying so; no backup taken", () => {
        const env = { PRIMARY_CONTAINER: "p-pg1", STANZA: "p", REPO_PATH: "/var/lib/pgbackrest", FAKE_CHECKPOINT_ERR: "ERROR:  must be superuser or have privileges of pg_checkpoint to do CHECKPOINT" };
        for (const body of ['if backup_take full; then echo taken; else echo "failed $?"; fi', 'backup_take diff || echo "failed $?"']) {
            const r = runScript(scriptOf(body), env);
            assert.equal(r.status, 0, r.stderr);
            assert.equal(r.stdout, "failed 1\n", body);
            assert.match(r.stderr, /^CHECKPOINT on p-pg1 before the (full|diff) backup failed: ERROR:  must be superuser or have privileges of pg_checkpoint to do CHECKPOINT$/m);
            assert.deepEqual(r.argv.filter((a) => / pgbackrest /.test(a)), [], body);
        }
        const ok = runScript(scriptOf('backup_take full || echo "failed $?"'), { ...env, FAKE_CHECKPOINT_ERR: "" });
        assert.equal(ok.stdout, "", ok.stderr);
        assert.deepEqual(ok.argv.filter((a) => / pgbackrest /.test(a)),
            ["exec -u postgres p-pg1 pgbackrest --log-level-console=warn --lock-path=/var/lib/pgbackrest/lock --type=full backup"]);
    });
});

describe("backup-tools.sh backup_take with FROM_STANDBY (the scheduler's backups from a standby)", () => {
    // pgBackRest and setpriv run in the scheduler itself: stand-ins (shell functions) record them.
    const run = (more: Record<string, string>) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-standby-"));
        try {
            fs.writeFileSync(path.join(dir, "pgbackrest.conf"), "[global]\nrepo1-path=/x\n\n[p]\npg1-path=/var/lib/postgresql/data\n");
            const prelude = `DOCKER_EXEC_SSH=${dir}/docker-exec-ssh
setpriv() { echo "setpriv $*" >> "$FAKE_DIR/argv"; [ -z "\${FAILING_SETPRIV:-}" ] || { echo "ERROR: [082]: unable to find standby" >&2; return 82; }; }
stat() { echo 990; }`;
            const r = runScript(scriptOf('backup_take full\necho "source=$BACKUP_SOURCE"', prelude), { PRIMARY_CONTAINER: "p-pg1", STANZA: "p",
                REPO_PATH: dir, STACK_LABELS: "pg-replication.stack=p", FAKE_NODES: "p-pg1 p-pg2 p-pg3", ...more }, { reply: more.REPLY ?? "t" });
            const wrapper = fs.existsSync(path.join(dir, "docker-exec-ssh")) ? fs.readFileSync(path.join(dir, "docker-exec-ssh"), "utf8") : "";
            return { ...r, wrapper, dir };
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    };

    test("a standby streams: pgBackRest runs here as postgres with the socket's group, pg1 the primary, pg2 the standby, over docker exec", () => {
        const r = run({ FROM_STANDBY: "1" });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /source=p-pg2\n$/, "the first running node other than the primary whose receiver streams");
        assert.ok(r.stdins.some((x) => /SELECT pg_is_in_recovery\(\) AND EXISTS \(SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming'\)/.test(x)));
        const line = r.argv.find((a) => a.startsWith("setpriv "))!;
        assert.equal(line, `setpriv --reuid=postgres --regid=postgres --groups=990 pgbackrest --config=${r.dir}/pgbackrest.conf --stanza=p ` +
            `--log-level-console=warn --lock-path=${r.dir}/lock --cmd-ssh=${r.dir}/docker-exec-ssh --backup-standby ` +
            "--pg1-host=p-pg1 --pg1-path=/var/lib/postgresql/data --pg2-host=p-pg2 --pg2-path=/var/lib/postgresql/data --type=full backup");
        assert.ok(!r.argv.some((a) => / pgbackrest .*backup/.test(a) && a.startsWith("exec")), "nothing taken on the primary");
    });

    test("its cmd-ssh runs pgBackRest's remote command as ssh would, in the node's container as the user, on stdin and stdout", () => {
        const r = run({ FROM_STANDBY: "1" });
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-ssh-"));
        try {
            fs.writeFileSync(path.join(dir, "ssh"), r.wrapper, { mode: 0o755 });
            fs.writeFileSync(path.join(dir, "docker"), "#!/bin/sh\nprintf '%s|' \"$@\"\n", { mode: 0o755 });
            // As pgBackRest 2.33 and 2.55 call cmd-ssh (src/protocol/helper.c).
            const res = spawnSync(path.join(dir, "ssh"), ["-o", "LogLevel=error", "-o", "Compression=no", "-o", "PasswordAuthentication=no",
                "postgres@p-pg2", "pgbackrest --exec-id=1-a --pg1-path=/var/lib/postgresql/data --process=0 --remote-type=pg --stanza=p remote"],
            { env: { PATH: `${dir}:/usr/bin:/bin` }, encoding: "utf8" });
            assert.equal(res.status, 0, res.stderr);
            assert.equal(res.stdout, "exec|-i|-u|postgres|p-pg2|sh|-c|pgbackrest --exec-id=1-a --pg1-path=/var/lib/postgresql/data " +
                "--process=0 --remote-type=pg --stanza=p remote|");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("the backup from the standby fails: said, and taken from the primary at once", () => {
        const r = run({ FROM_STANDBY: "1", FAILING_SETPRIV: "1" });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /source=p-pg1\n$/);
        assert.match(r.stderr, /ERROR: \[082\]: unable to find standby[^]*the full backup from the standby p-pg2 failed \(above\): taking it from the primary p-pg1/);
        const standby = r.argv.findIndex((a) => a.startsWith("setpriv "));
        const primary = r.argv.indexOf(`exec -u postgres p-pg1 pgbackrest --log-level-console=warn --lock-path=${r.dir}/lock --type=full backup`);
        assert.ok(standby >= 0 && primary > standby, r.argv.join("\n"));
    });

    test("a standby whose engine does not say whether it runs is passed over, said; with no other, the backup is the primary's", () => {
        const r = run({ FROM_STANDBY: "1", FAKE_INSPECT_ERR: ENGINE_DOWN });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /source=p-pg1\n$/);
        for (const c of ["p-pg2", "p-pg3"]) {
            assert.match(r.stderr, new RegExp(`^error: node ${c}: its engine did not say whether the container runs: Cannot connect`, "m"));
        }
    });

    test("no standby streams, or FROM_STANDBY unset (npm run backup without a scheduler, destroy's final backup): on the primary", () => {
        for (const more of [{ FROM_STANDBY: "1", REPLY: "f" }, {}] as Record<string, string>[]) {
            const r = run(more);
            assert.equal(r.status, 0, r.stderr);
            assert.match(r.stdout, /source=p-pg1\n$/);
            assert.ok(r.argv.includes(`exec -u postgres p-pg1 pgbackrest --log-level-console=warn --lock-path=${r.dir}/lock --type=full backup`),
                r.argv.join("\n"));
            assert.ok(!r.argv.some((a) => a.startsWith("setpriv")));
        }
    });
});

describe("lib.sh find_primary across engines: a node whose engine never answers holds nothing up", () => {
    const PEERS = "pg1|p-pg1|tcp://10.9.0.1:2376|172.18.0.101|10.9.0.1|5432 pg2|p-pg2|tcp://10.9.0.2:2376|172.18.0.102|10.9.0.2|5432";
    // As node-streaming.sh calls it: with its stderr redirected (the shell keeps a copy of the caller's meanwhile).
    const call = 'find_primary 2>/dev/null; echo "primary=$PRIMARY_CONTAINER name=$PRIMARY_NAME"';

    test("pg1's engine hangs: pg2 is found the primary once NODE_ASK_SECONDS is up, and nothing left behind holds the caller's output", () => {
        const r = runScript(scriptOf(call), { PEERS, STACK_LABELS: "", NODE_ASK_SECONDS: "1", FAKE_HANG: "p-pg1" });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "primary=p-pg2 name=pg2\n");
        // The fake docker for pg1 sleeps 30 s: a pipe of the caller's left with it would hold the script that long.
        assert.ok(r.seconds < 10, `${r.seconds} s`);
        assert.deepEqual(r.argv.map((a) => a.split(" psql")[0]), ["exec -i -u postgres p-pg1", "exec -i -u postgres p-pg2"]);
    });

    test("every node answers: the bound changes nothing (two primaries still refused)", () => {
        const one = runScript(scriptOf('find_primary'), { PEERS, STACK_LABELS: "", NODE_ASK_SECONDS: "5", FAKE_RECOVERY: "f" });
        assert.notEqual(one.status, 0);
        assert.match(one.stderr, /two nodes run as primary: p-pg1 and p-pg2/);
        assert.ok(one.seconds < 5, `${one.seconds} s: no call waited for its bound`);
    });

    test("node_containers: a node left out only when its engine says it has no such container; no answer fails it, and the seed with it", () => {
        const list = 'node_containers; echo "end"';
        const missing = runScript(scriptOf(list), { PEERS, STACK_LABELS: "", NODE_ASK_SECONDS: "1", FAKE_MISSING: "p-pg2" });
        assert.deepEqual([missing.status, missing.stdout], [0, "p-pg1\nend\n"], missing.stderr);
        // The same answer in a newer CLI's words, in lower case.
        const lower = runScript(scriptOf(list), { PEERS, STACK_LABELS: "", NODE_ASK_SECONDS: "1", FAKE_INSPECT_ERR: "error: no such object: p-pg1" });
        assert.deepEqual([lower.status, lower.stdout], [0, "end\n"], lower.stderr);
        // An engine error, though a line before it reads "no such": not left out, failed, in the error's words.
        const notLast = runScript(scriptOf(list), { PEERS, STACK_LABELS: "", NODE_ASK_SECONDS: "1", FAKE_INSPECT_ERR: NOT_LAST });
        assert.deepEqual([notLast.status, notLast.stdout], [1, ""]);
        assert.equal(notLast.stderr, "error: node p-pg1: its engine did not say whether the container is there: Error response from daemon: i/o timeout\n");
        const hung = runScript(scriptOf('nodes=$(node_containers); echo "nodes=$nodes"'), { PEERS, STACK_LABELS: "", NODE_ASK_SECONDS: "1", FAKE_HANG: "p-pg2" });
        assert.notEqual(hung.status, 0);
        assert.equal(hung.stdout, "");
        assert.match(hung.stderr, /error: node p-pg2: its engine did not say whether the container is there: no answer within 1s/);
        assert.ok(hung.seconds < 10, `${hung.seconds} s`);
        // node-seed.sh for a new pg3 while pg1 and pg2 cannot be asked: never "the first node of the stack".
        const seed = runScript(script("node-seed.sh"), { PEERS, STACK_LABELS: "", NODE_ASK_SECONDS: "1", FAKE_HANG: "p-pg1", FAKE_DATA_STATUS: "1",
            NODE: "pg3", VOLUME: "p-pg3-data", IMAGE: "postgres:17", DOCKER_LABELS: "", HELPER_CONTAINER: "p-pg3-seed", FAKE_RECOVERY: "t" });
        assert.notEqual(seed.status, 0, seed.stderr);
        assert.doesNotMatch(seed.stderr, /the first node of the stack/);
        // find_primary refuses first: no node answered as primary, and pg1 could not be asked.
        assert.match(seed.stderr, /no node answers as primary, but not every node could be asked, so there may be one: p-pg1 \(no answer within 1s\)/);
    });

    test("bounded: a command's output, status and standard error pass through; past its bound, status 124 and why", () => {
        const ok = runScript(scriptOf('bounded 5 sh -c "echo out; echo err >&2; exit 3" || echo "status=$?"'), {});
        assert.deepEqual([ok.stdout, ok.stderr], ["out\nstatus=3\n", "err\n"]);
        const late = runScript(scriptOf('bounded 1 sh -c "echo early; sleep 20" || echo "status=$?"'), {});
        assert.equal(late.stdout, "early\nstatus=124\n");
        assert.match(late.stderr, /no answer within 1s: sh -c echo early; sleep 20/);
        assert.ok(late.seconds < 10, `${late.seconds} s`);
        // Killed by something else within its bound (a `docker exec` whose container stopped): its own 137, never "no answer".
        const killed = runScript(scriptOf('bounded 5 sh -c "echo early; kill -9 \\$\\$" || echo "status=$?"'), {});
        assert.equal(killed.stdout, "early\nstatus=137\n");
        assert.doesNotMatch(killed.stderr, /no answer/);
    });

    test("bounded: a CMD that ends first ends the watcher with its sleep at once, also when SIGTERM came ignored; no directory, no call", () => {
        // The shell started with TERM ignored (which a trap cannot undo): the watcher must still go at once.
        const r = spawnSync("/bin/sh", ["-c", "trap '' TERM; exec /bin/sh -c \"$0\"", scriptOf(
            "s=$(date +%s); for i in 1 2 3; do bounded 7 true; done; echo \"took $(( $(date +%s) - s ))\"; " +
            "sleep 0.2; ps -A -o args= | grep -c '^sleep 7$' || true")], { encoding: "utf8", timeout: 30_000 });
        assert.equal(r.status, 0, r.stderr);
        const [took, sleeps] = r.stdout.trim().split("\n");
        assert.ok(Number(took.split(" ")[1]) < 3, `${took}: no bound waited out`);
        assert.equal(sleeps, "0", "no watcher's sleep left running");
        // No temporary directory to be had: the call fails (2) before running anything, said.
        const none = runScript(scriptOf('bounded 5 sh -c "echo ran" || echo "status=$?"'), { TMPDIR: "/nonexistent/pg-replication" });
        assert.equal(none.stdout, "status=2\n");
        assert.match(none.stderr, /^bounded: no temporary directory for: sh -c echo ran$/m);
    });

    test("bounded: past its bound nothing is left in TMPDIR, though CMD (docker's wrapper, inspect_field, a bounded within) was killed before removing its own files", () => {
        const late = /no answer within 1s/;
        for (const [call, more, out] of [
            // inspect_field's file for the CLI's error, and the docker wrapper's, under a CLI that never answers.
            ["running p-pg2 || echo not running", { FAKE_HANG: "p-pg2" }, ""],
            // The wrapper holding a call's input (-i) in memory, its error in a file.
            ['ask_node node_sql p-pg2 "SELECT 1" || echo "status=$?"', { FAKE_HANG: "p-pg2" }, "status=124\n"],
            ['ask_node dk p-pg2 exec -u postgres p-pg2 true || echo "status=$?"', { FAKE_HANG_CALL: "exec*p-pg2 true" }, "status=124\n"],
            // A bounded inside CMD, ended with it: its own files too.
            ["bounded 1 bounded 20 inspect_field p-pg2 '{{.Id}}' || echo \"status=$?\"", { FAKE_HANG: "p-pg2" }, "status=124\n"],
        ] as [string, Record<string, string>, string][]) {
            const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-bounded-"));
            try {
                const r = runScript(scriptOf(call), { PEERS, STACK_LABELS: "", NODE_ASK_SECONDS: "1", TMPDIR: tmp, ...more });
                assert.ok(r.seconds < 10, `${call}: ${r.seconds} s`);
                assert.equal(r.stdout, out, `${call}: ${r.stderr}`);
                assert.match(r.stderr, late, call);
                assert.deepEqual(fs.readdirSync(tmp), [], `${call}: no temporary file left`);
            } finally {
                fs.rmSync(tmp, { recursive: true, force: true });
            }
        }
        // Within the bound, as before: nothing left either, and CMD's own temporary files are its to remove.
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-bounded-"));
        try {
            const r = runScript(scriptOf('bounded 5 sh -c \'f=$(mktemp) && echo "$f"\''), { TMPDIR: tmp });
            assert.equal(r.status, 0, r.stderr);
            assert.ok(r.stdout.startsWith(tmp + "/"), `${r.stdout}: CMD's files made under the call's own directory, in TMPDIR`);
            assert.deepEqual(fs.readdirSync(tmp), [], "the call's directory removed, with what CMD left in it");
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });
});

describe("lib.sh inspect_field: the engine's answer told from its failure, in one ask", () => {
    const call = 'rc=0; v=$(inspect_field pg-pg1 "{{.State.Status}}" 2>&1) || rc=$?; echo "rc=$rc v=$v"';

    test("found: 0 and the field; no such container (either wording): 1 and nothing; else 2 and the engine's last line", () => {
        for (const [more, said] of [[{}, "rc=0 v=running"], [{ FAKE_STATE: "exited" }, "rc=0 v=exited"],
            [{ FAKE_MISSING: "pg-pg1" }, "rc=1 v="], [{ FAKE_INSPECT_ERR: "error: no such object: pg-pg1" }, "rc=1 v="],
            [{ FAKE_INSPECT_ERR: ENGINE_DOWN }, `rc=2 v=${ENGINE_DOWN}`], [{ FAKE_INSPECT_ERR: NOT_LAST }, "rc=2 v=Error response from daemon: i/o timeout"],
            // The engine's failure with no words: said so, never taken for "no such".
            [{ FAKE_INSPECT_ERR: " " }, "rc=2 v=docker inspect exited 1"]] as [Record<string, string>, string][]) {
            const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-inspect-"));
            try {
                const r = runScript(scriptOf(call), { TMPDIR: tmp, ...more });
                assert.deepEqual([r.status, r.stdout, r.stderr], [0, `${said}\n`, ""], JSON.stringify(more));
                assert.deepEqual(r.argv, ["inspect -f {{.State.Status}} pg-pg1"], "asked once");
                assert.deepEqual(fs.readdirSync(tmp), [], "no temporary file left");
            } finally {
                fs.rmSync(tmp, { recursive: true, force: true });
            }
        }
    });

    test("the engine's words go to stderr only on its failure, never with the field or a 'no such'", () => {
        const apart = 'rc=0; v=$(inspect_field pg-pg1 "{{.State.Status}}") || rc=$?; echo "rc=$rc v=$v"';
        const failed = runScript(scriptOf(apart), { FAKE_INSPECT_ERR: ENGINE_DOWN });
        assert.deepEqual([failed.stdout, failed.stderr], ["rc=2 v=\n", `${ENGINE_DOWN}\n`]);
        const missing = runScript(scriptOf(apart), { FAKE_MISSING: "pg-pg1" });
        assert.deepEqual([missing.stdout, missing.stderr], ["rc=1 v=\n", ""]);
    });

    test("running: an engine error whose first line reads 'no such' is still an engine error, naming the node and its words", () => {
        const r = runScript(scriptOf("running pg-pg1 || echo not running"), { FAKE_INSPECT_ERR: NOT_LAST });
        assert.equal(r.status, 1);
        assert.equal(r.stdout, "");
        assert.equal(r.stderr, "error: node pg-pg1: its engine did not say whether the container runs: Error response from daemon: i/o timeout\n");
        for (const more of [{ FAKE_MISSING: "pg-pg1" }, { FAKE_RUNNING: "false" }] as Record<string, string>[]) {
            const down = runScript(scriptOf("running pg-pg1 || echo not running"), more);
            assert.deepEqual([down.status, down.stdout, down.stderr], [0, "not running\n", ""], JSON.stringify(more));
        }
    });
});

describe("lib.sh running: a container its engine did not answer about is not one that does not run", () => {
    const policy = { PRIMARY_CONTAINER: "pg-primary", SYNC_NAMES: 'ANY 1 ("a", "b")', SYNC_COMMIT: "on", EXPECTED: "a=quorum b=quorum", TIMEOUT: "1" };
    const gate = { NODE_CONTAINER: "pg-standby1", NODE: "standby1", MAX_LAG_BYTES: "0", TIMEOUT: "1", STACK_LABELS: "pg-replication.stack=s" };

    test("the commit policy's gate: an engine that does not answer fails it, naming the node; a stopped or missing standby is not waited for", () => {
        const r = runScript(script("sync-policy.sh"), { ...policy, FAKE_INSPECT_ERR: ENGINE_DOWN }, { reply: "streaming/quorum\n" });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^error: node pg-a: its engine did not say whether the container runs: Cannot connect to the Docker daemon at unix:\/\/\/var\/run\/docker\.sock\. Is the docker daemon running\?$/m);
        assert.doesNotMatch(r.stderr, /not waited for/);
        for (const more of [{ FAKE_RUNNING: "false" }, { FAKE_MISSING: "pg-a" }, { FAKE_INSPECT_ERR: "error: no such object: pg-a" }] as Record<string, string>[]) {
            const down = runScript(script("sync-policy.sh"), { ...policy, ...more }, { reply: "streaming/quorum\n" });
            assert.equal(down.status, 0, down.stderr);
            assert.match(down.stderr, /^a is not running; not waited for$/m);
        }
    });

    test("a node's streaming gate: an engine that does not answer fails it, naming the node; a stopped or missing container has nothing to wait for", () => {
        const r = runScript(script("node-streaming.sh"), { ...gate, FAKE_INSPECT_ERR: ENGINE_DOWN });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^error: node pg-standby1: its engine did not say whether the container runs: Cannot connect to the Docker daemon/m);
        assert.doesNotMatch(r.stderr, /nothing to wait for/);
        for (const more of [{ FAKE_RUNNING: "false" }, { FAKE_MISSING: "pg-standby1" }] as Record<string, string>[]) {
            const down = runScript(script("node-streaming.sh"), { ...gate, ...more });
            assert.equal(down.status, 0, down.stderr);
            assert.equal(down.stderr, "node standby1 is not running: nothing to wait for\n");
        }
    });

    test("a major upgrade's finish is left to the next up, saying whether a node is down or its engine did not answer", () => {
        const env = { PRIMARY_CONTAINER: "pg-pg1", IMAGE: "postgres:17", STACK_LABELS: "pg-replication.stack=s", FAKE_NODES: "pg-pg1 pg-pg2" };
        const reply = "/var/lib/postgresql/data/pgdata.13-old\n";
        const r = runScript(script("upgrade-finish.sh"), { ...env, FAKE_INSPECT_ERR: ENGINE_DOWN }, { reply });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr, `a major upgrade to finish, but node pg-pg1: its engine did not say whether the container runs: ${ENGINE_DOWN}: the next up finishes it\n`);
        const stopped = runScript(script("upgrade-finish.sh"), { ...env, FAKE_RUNNING: "false" }, { reply });
        assert.equal(stopped.stderr, "a major upgrade to finish, but pg-pg1 is not running: the next up finishes it\n");
        assert.ok(![...r.argv, ...stopped.argv].some((a) => a.includes("vacuumdb")), "nothing finished");
    });

    test("a major upgrade's leftovers: the primary's removed last, so a standby's that could not be removed is removed by the next run", () => {
        const env = { PRIMARY_CONTAINER: "pg-pg1", IMAGE: "postgres:17", STACK_LABELS: "pg-replication.stack=s", FAKE_NODES: "pg-pg1 pg-pg2 pg-pg3" };
        const reply = "/var/lib/postgresql/data/pgdata.13-old\n";
        const removals = (argv: string[]) => argv.filter((a) => / sh -c rm -rf /.test(a)).map((a) => a.split(" ")[3]);
        const ok = runScript(script("upgrade-finish.sh"), env, { reply });
        assert.equal(ok.status, 0, ok.stderr);
        assert.deepEqual(removals(ok.argv), ["pg-pg2", "pg-pg3", "pg-pg1"]);
        const failed = runScript(script("upgrade-finish.sh"), env, { reply, replies: [["pg-pg3 sh -c rm -rf", "rm: cannot remove\n", 1]] });
        assert.equal(failed.status, 1);
        assert.match(failed.stderr, /^error: the old cluster's copy on pg-pg3 could not be removed$/m);
        assert.deepEqual(removals(failed.argv), ["pg-pg2", "pg-pg3"], "the primary's leftovers kept: the next run sees them and removes pg3's");
    });
});

describe("lib.sh ask_or_fail: one ask of a node, its answer printed, or the script ends saying why", () => {
    const PEERS = "x|c1|tcp://10.9.0.1:2376|172.18.0.101|10.9.0.1|5432";
    const ask = (cmd: string) => `v=$(ask_or_fail "c1 (the x)" "its answer" "nothing done" ${cmd}); echo "after v=$v"`;

    test("its answer: CMD's stdout printed, its stderr passed through, on one engine and across engines", () => {
        for (const env of [{}, { PEERS, NODE_ASK_SECONDS: "5" }] as Record<string, string>[]) {
            const r = runScript(scriptOf(ask(`sh -c "echo yes; echo note >&2"`)), env);
            assert.deepEqual([r.status, r.stdout, r.stderr], [0, "after v=yes\n", "note\n"]);
        }
    });

    test("past the bound (124): the script ends, the node named, no answer and what is not known", { timeout: 20_000 }, () => {
        const r = runScript(scriptOf(ask(`sh -c "echo early; sleep 20"`)), { PEERS, NODE_ASK_SECONDS: "1" }, { timeoutMs: 15_000 });
        assert.ok(r.seconds < 10, `${r.seconds} s`);
        assert.deepEqual([r.status, r.stdout], [1, ""]);
        assert.match(r.stderr, /^error: node c1 \(the x\): no answer within 1s, so its answer is not known; nothing done$/m);
    });

    test("any other failure: the script ends, CMD's error above the message; THEN left out when empty", () => {
        const r = runScript(scriptOf(`v=$(ask_or_fail "c1 (the x)" "its answer" "" sh -c "echo oops >&2; exit 3"); echo "after v=$v"`), {});
        assert.deepEqual([r.status, r.stdout, r.stderr], [1, "", "oops\nerror: node c1 (the x): the ask failed (above), so its answer is not known\n"]);
        // Called as a command (no $(...)), even where set -e does not act.
        const plain = runScript(scriptOf(`ask_or_fail c1 "its answer" "nothing done" false || true; echo after`), {});
        assert.deepEqual([plain.status, plain.stdout, plain.stderr], [1, "", "error: node c1: the ask failed (above), so its answer is not known; nothing done\n"]);
    });

    test("--with FAIL: FAIL says it instead of fail; the script ends even when FAIL returns", () => {
        const own = runScript(scriptOf(`say() { log "said: $1"; exit 7; }\nask_or_fail --with say c1 "its answer" "" false; echo after`), {});
        assert.deepEqual([own.status, own.stdout, own.stderr], [7, "", "said: node c1: the ask failed (above), so its answer is not known\n"]);
        const back = runScript(scriptOf(`say() { log "said: $1"; }\nask_or_fail --with say c1 "its answer" "" false; echo after`), {});
        assert.deepEqual([back.status, back.stdout], [1, ""]);
    });
});

describe("lib.sh find_primary: a node that could not be asked is not taken for no primary", () => {
    const one = { STACK_LABELS: "pg-replication.stack=s", FAKE_NODES: "pg-pg1:pg1:172.18.0.101" };
    const call = 'find_primary; echo "primary=$PRIMARY_CONTAINER"';

    test("a node that runs but whose server does not answer, or whose engine does not say whether it runs: refused, naming it", () => {
        for (const [more, why] of [[{}, "its container is running, its server did not answer"], [{ FAKE_STATE: "paused" }, "its container is paused, its server did not answer"],
            [{ FAKE_INSPECT_ERR: ENGINE_DOWN }, `its engine did not say whether it runs: ${ENGINE_DOWN}`],
            [{ FAKE_INSPECT_ERR: NOT_LAST }, "its engine did not say whether it runs: Error response from daemon: i/o timeout"]] as [Record<string, string>, string][]) {
            const r = runScript(scriptOf(call), { ...one, FAKE_EXEC_STATUS: "1", ...more });
            assert.equal(r.status, 1, why);
            assert.equal(r.stdout, "");
            assert.equal(r.stderr, `error: no node answers as primary, but not every node could be asked, so there may be one: pg-pg1 (${why})\n`);
        }
    });

    test("no primary on an answer: a standby's, or the engine's that the node is stopped, restarting (no server in it) or not there", () => {
        for (const more of [{ FAKE_RECOVERY: "t" }, { FAKE_EXEC_STATUS: "1", FAKE_STATE: "exited" }, { FAKE_EXEC_STATUS: "1", FAKE_STATE: "restarting" },
            { FAKE_EXEC_STATUS: "1", FAKE_MISSING: "pg-pg1" }, { FAKE_EXEC_STATUS: "1", FAKE_INSPECT_ERR: "error: no such object: pg-pg1" }] as Record<string, string>[]) {
            const r = runScript(scriptOf(call), { ...one, ...more });
            assert.deepEqual([r.status, r.stdout, r.stderr], [0, "primary=\n", ""], JSON.stringify(more));
        }
    });

    test("a removed node's slot is not said to go with the cluster while a node could not be asked", () => {
        const env = { ...one, NODE: "standby1", HELPER_CONTAINER: "pg-standby1-seed", FAKE_EXEC_STATUS: "1" };
        const r = runScript(script("node-drop-slot.sh"), env);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^error: no node answers as primary, but not every node could be asked, so there may be one: pg-pg1 \(its container is running, its server did not answer\)$/m);
        assert.doesNotMatch(r.stderr, /goes with the cluster/);
        const stopped = runScript(script("node-drop-slot.sh"), { ...env, FAKE_STATE: "exited" });
        assert.equal(stopped.status, 0, stopped.stderr);
        assert.match(stopped.stderr, /^no node runs as primary; slot standby1 goes with the cluster$/m);
    });

    test("a standby's streaming gate waits for a node that could not be asked, rather than pass for want of a primary", () => {
        const gate = { NODE_CONTAINER: "pg-standby1", NODE: "standby1", MAX_LAG_BYTES: "0", TIMEOUT: "1", STACK_LABELS: "pg-replication.stack=s",
            FAKE_NODES: "pg-pg1:pg1:172.18.0.101 pg-standby1:standby1:172.18.0.102", FAKE_RECOVERY: "t", FAKE_NO_SERVER: "pg-pg1" };
        const reply = "t|no receiver|0/3000000\n";
        const r = runScript(script("node-streaming.sh"), gate, { reply });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^error: node standby1 \(pg-standby1\) did not catch up within 1s: its WAL receiver: no receiver; no node answers as primary, but not every node could be asked: pg-pg1 \(its container is running, its server did not answer\)/m);
        // Stopped, or restarting (a primary whose server never comes up, README "A new major"): none to stream from; passed, said.
        for (const state of ["exited", "restarting"]) {
            const down = runScript(script("node-streaming.sh"), { ...gate, FAKE_STATE: state }, { reply });
            assert.equal(down.status, 0, down.stderr);
            assert.equal(down.stderr, "node standby1: no WAL receiver, and no node answers as primary to stream from: not waited for (the topology step's gates wait once there is one)\n");
        }
    });

    test("across engines the gate waits for a node whose engine does not answer while its server does; its host lost (neither answers), it passes, said", () => {
        const PEERS = "pg1|p-pg1|tcp://10.9.0.1:2376|172.18.0.101|10.9.0.1|5432 pg2|p-pg2|tcp://10.9.0.2:2376|172.18.0.102|10.9.0.2|5433";
        const gate = { NODE_CONTAINER: "p-pg2", NODE: "pg2", MAX_LAG_BYTES: "0", TIMEOUT: "1", STACK_LABELS: "", PEERS, NODE_ASK_SECONDS: "1",
            FAKE_HANG: "p-pg1", FAKE_RECOVERY: "t" };
        const reply = "t|no receiver|0/3000000\n";
        const answers = runScript(script("node-streaming.sh"), { ...gate, FAKE_ISREADY: "0" }, { reply });
        assert.equal(answers.status, 1);
        assert.match(answers.stderr, /its WAL receiver: no receiver; no node answers as primary, but not every node could be asked: p-pg1 \(no answer within 1s\)/);
        // Asked as the topology step asks it (observe.ts probeServers): from this node, at its published address across engines.
        assert.ok(answers.argv.includes("exec -u postgres p-pg2 pg_isready -q -h 10.9.0.1 -p 5432 -t 3"), answers.argv.join("\n"));
        const lost = runScript(script("node-streaming.sh"), { ...gate, FAKE_ISREADY: "2" }, { reply });
        assert.equal(lost.status, 0, lost.stderr);
        assert.equal(lost.stderr, "node pg2: no WAL receiver, and no node answers as primary to stream from (host lost: p-pg1, neither its engine nor " +
            "its server answers): not waited for (the topology step's gates wait once there is one)\n");
        assert.ok(lost.seconds < 10, `${lost.seconds} s`);
    });
});

describe("backup-tools.sh current_backups: the sets of the stanza's current database", () => {
    test("after a major upgrade, the old major's sets (db (prior), listed after) are not among them", () => {
        // pgbackrest info's text after upgrade.sh's stanza-upgrade, as 2.55 prints it.
        const info = ["stanza: p", "    status: ok", "", "    db (current)", "        wal archive min/max (17): 000000010000000000000003/000000010000000000000005", "",
            "        full backup: 20261205-100000F", "            timestamp start/stop: 2026-12-05 10:00:00+00 / 2026-12-05 10:00:05+00", "",
            "        incr backup: 20261205-100000F_20261205-110000I", "", "    db (prior)", "        wal archive min/max (13): 000000010000000000000001/000000010000000000000009", "",
            "        full backup: 20261204-090000F", "        diff backup: 20261204-090000F_20261204-120000D", ""].join("\n");
        const r = runScript(scriptOf("current_backups"), {}, { stdin: info });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "full 20261205-100000F\nincr 20261205-100000F_20261205-110000I\n");
    });

    test("newest_backup: the newest of them as the primary's pgBackRest lists them (npm run backup's label); fails when it cannot say", () => {
        const info = ["stanza: p", "    status: ok", "", "    db (prior)", "        full backup: 20261204-090000F", "",
            "    db (current)", "        full backup: 20261205-100000F", "        incr backup: 20261205-100000F_20261205-110000I", ""].join("\n");
        const r = runScript(scriptOf("newest_backup"), { PRIMARY_CONTAINER: "p-pg1" }, { reply: info });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "20261205-100000F_20261205-110000I\n");
        assert.deepEqual(r.argv, ["exec -u postgres p-pg1 pgbackrest info"]);
        const none = runScript(scriptOf("newest_backup"), { PRIMARY_CONTAINER: "p-pg1" }, { reply: "stanza: p\n    status: error (no valid backups)\n" });
        assert.deepEqual([none.status, none.stdout], [0, ""]);
        const failed = runScript(scriptOf("newest_backup"), { PRIMARY_CONTAINER: "p-pg1", FAKE_PGBACKREST_STATUS: "1" }, { reply: info });
        assert.notEqual(failed.status, 0);
        assert.equal(failed.stdout, "");
    });
});

// `docker rm -f` of a container made from a postgres image (its VOLUME /var/lib/postgresql/data)
// leaves that anonymous volume behind unless -v is given, even for a `docker run --rm` container
// (seen on Docker 20.10: `--rm` removes it only when the container exits by itself). Our helper,
// verify and holder containers are removed that way when they are left over or hang, so each such
// call must pass -v, which removes anonymous volumes only, never a named one.
test("every forced removal of a container, in the stack's scripts and in the tests, drops its anonymous volumes (-v)", () => {
    const root = path.resolve(__dirname, "..", "..", "..");
    const files = (dir: string, ext: RegExp): string[] => fs.readdirSync(path.join(root, dir), { recursive: true, encoding: "utf8" })
        .filter((f) => ext.test(f)).map((f) => path.join(dir, f));
    const shell = [...files("components", /\.sh$/), ...files("scripts", /\.sh$/), ...files("bench", /\.sh$/)];
    const ts = [...files("tests", /\.ts$/), ...files("bench", /\.ts$/), ...files("backup", /\.ts$/), ...files("status", /\.ts$/), ...files("drill", /\.ts$/)]
        .filter((f) => !f.endsWith("scripts.test.ts"));
    const found: string[] = [];
    let seen = 0;
    for (const f of shell) {
        for (const line of fs.readFileSync(path.join(root, f), "utf8").split("\n")) {
            if (/docker rm -f\b/.test(line)) {
                seen++;
                if (!/docker rm -f -v\b/.test(line)) found.push(`${f}: ${line.trim()}`);
            }
        }
    }
    for (const f of ts) {
        for (const line of fs.readFileSync(path.join(root, f), "utf8").split("\n")) {
            if (/"rm", "-f"/.test(line) && !/"volume", "rm"|"exec"/.test(line)) {
                seen++;
                if (!/"rm", "-f", "-v"/.test(line)) found.push(`${f}: ${line.trim()}`);
            }
        }
    }
    assert.ok(seen >= 10, `${seen} forced removals found: the search itself must find the known ones`);
    assert.deepEqual(found, []);
});

describe("upgrade.sh: only the engine's answer means nothing to upgrade", () => {
    const env = { NODE: "pg1", NODE_CONTAINER: "pg-pg1", VOLUME: "pg-pg1-data", IMAGE: "postgres:17", KEEP_CONTAINER: "pg-pg2",
        LONG_TX_SQL: "SELECT 1", SETTINGS_SQL: "SELECT 1", TIMEOUT: "5", DOCKER_LABELS: "a=b", HELPER_CONTAINER: "pg-pg1-upgrade" };

    test("no such container: no upgrade, said; an engine that does not answer: refused, the container not replaced", () => {
        const gone = runScript(script("upgrade.sh"), { ...env, FAKE_MISSING: "pg-pg1" });
        assert.equal(gone.status, 0, gone.stderr);
        assert.match(gone.stderr, /^node pg1: no container yet; no major upgrade$/m);
        const silent = runScript(script("upgrade.sh"), { ...env, FAKE_INSPECT_ERR: "Cannot connect to the Docker daemon at tcp://10.0.0.2:2376. Is the docker daemon running?" });
        assert.equal(silent.status, 1);
        assert.match(silent.stderr, /^error: node pg1: whether its container pg-pg1 exists could not be read \(Cannot connect to the Docker daemon at tcp:\/\/10\.0\.0\.2:2376\. Is the docker daemon running\?\), so whether a major upgrade is due is not known$/m);
    });

    test("the container is looked at once: its engine's words come from that one look, a newer CLI's 'no such' is still no container", () => {
        const silent = runScript(script("upgrade.sh"), { ...env, FAKE_INSPECT_ERR: "Error response from daemon: i/o timeout" });
        assert.equal(silent.status, 1);
        assert.equal(silent.stderr, "error: node pg1: whether its container pg-pg1 exists could not be read (Error response from daemon: i/o timeout), " +
            "so whether a major upgrade is due is not known\n");
        assert.deepEqual(silent.argv, ["inspect -f {{.Config.Image}} pg-pg1"], "one look, nothing run, nothing stopped");
        const lower = runScript(script("upgrade.sh"), { ...env, FAKE_INSPECT_ERR: "error: no such object: pg-pg1" });
        assert.deepEqual([lower.status, lower.stderr], [0, "node pg1: no container yet; no major upgrade\n"]);
        assert.deepEqual(lower.argv, ["inspect -f {{.Config.Image}} pg-pg1"]);
    });

    test("the upgrade image: 'No such image' (the CLI's last line) is not on this engine; any other failure is the engine not answering, in its words", () => {
        // pg1 runs 13 on 13 data, the image is 17's: the upgrade image is looked for next, before anything is stopped.
        const replies: [string, string][] = [["PG_VERSION", "13\n"], ["--version", "postgres (PostgreSQL) 17.2\n"]];
        const look = (err: string) => runScript(script("upgrade.sh"), { ...env, FAKE_IMAGE: "postgres:13", FAKE_IMAGE_ERR: err }, { replies });
        const image = "pg-replication/postgres-upgrade:13-17";
        for (const err of [`Error response from daemon: No such image: ${image}`, `error: no such image: ${image}`]) {
            const absent = look(err);
            assert.deepEqual([absent.status, absent.stderr], [1, `error: ${image} is not on this engine: build it ` +
                "(scripts/build-images.sh --upgrade 13 17); nothing was stopped\n"], err);
        }
        for (const [err, said] of [[ENGINE_DOWN, ENGINE_DOWN], [NOT_LAST, "Error response from daemon: i/o timeout"],
            ["warning: No such image cache\nerror during connect: Get \"http://127.0.0.1:2375/v1.41/images/json\": EOF",
                "error during connect: Get \"http://127.0.0.1:2375/v1.41/images/json\": EOF"], [" ", "docker image inspect exited 1"]]) {
            const silent = look(err);
            assert.deepEqual([silent.status, silent.stderr], [1, `error: node pg1: its engine did not answer whether the upgrade image ${image} ` +
                `is on it (${said}); nothing was stopped\n`], err);
            assert.equal(silent.argv.filter((a) => a === `image inspect ${image}`).length, 1, silent.argv.join("\n"));
            assert.ok(!silent.argv.some((a) => /^(stop|exec|start) /.test(a)), silent.argv.join("\n"));
        }
    });

    test("the volume's look failing is not 'no cluster'", () => {
        // The container runs another image than IMAGE; the server image answers its major; the look at the volume fails.
        const r = runScript(script("upgrade.sh"), { ...env, FAKE_IMAGE: "postgres:13", FAKE_DATA_STATUS: "125" }, { reply: "postgres (PostgreSQL) 17.2\n" });
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, /^error: node pg1: what volume pg-pg1-data holds could not be read \(above\), so whether a major upgrade is due is not known$/m);
    });
});

// Across engines (PEERS) a node's engine may stop answering without refusing (a TCP black hole): a
// docker call to it would wait until the OS gives up, minutes later. Each test below makes one call
// of another node's hang (the fake sleeps 30 s) with NODE_ASK_SECONDS=1: the script must end within a
// few seconds, naming the node and saying it gave no answer, never taking it for a stopped or missing
// container. The script is killed at 15 s (and the test at 20 s), so a call left unbounded fails the
// test instead of holding the suite.
describe("across engines, a call to another node's engine that never answers ends at its bound, said so", () => {
    const PEERS = "pg1|p-pg1|tcp://10.9.0.1:2376|172.18.0.101|10.9.0.1|5432 pg2|p-pg2|tcp://10.9.0.2:2376|172.18.0.102|10.9.0.2|5433";
    const hung = (r: ShellRun) => assert.ok(r.status !== null && r.seconds < 10, `status ${r.status} after ${r.seconds} s:\n${r.stderr}`);
    const opts = { timeout: 20_000 };

    test("lib.sh running: no answer within NODE_ASK_SECONDS is an error naming the node, not 'not running'", opts, () => {
        const r = runScript(scriptOf("running p-pg2 || echo not running"), { PEERS, NODE_ASK_SECONDS: "1", FAKE_HANG: "p-pg2" }, { timeoutMs: 15_000 });
        hung(r);
        assert.deepEqual([r.status, r.stdout], [1, ""]);
        assert.equal(r.stderr, "error: node p-pg2: no answer within 1s from its engine, so whether the container runs is not known\n");
        // On one engine nothing is bounded: the same look, unwrapped.
        const one = runScript(scriptOf("running p-pg2 && echo runs"), { NODE_ASK_SECONDS: "1" });
        assert.deepEqual([one.status, one.stdout, one.stderr], [0, "runs\n", ""]);
    });

    test("node-streaming.sh: the primary's lag query unanswered is said so, and the gate ends at its TIMEOUT", opts, () => {
        const gate = { NODE_CONTAINER: "p-pg2", NODE: "pg2", MAX_LAG_BYTES: "0", TIMEOUT: "1", STACK_LABELS: "", PEERS, NODE_ASK_SECONDS: "1",
            FAKE_RECOVERY: "t", FAKE_HANG_SQL: "pg_wal_lsn_diff" };
        // pg1 answers as the primary, pg2 streams; then pg1's engine takes the lag query and never answers.
        const r = runScript(script("node-streaming.sh"), gate, { reply: "t|streaming|0/3000000\n", replies: [["p-pg1 psql", "f\n"]], timeoutMs: 15_000 });
        hung(r);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^error: node pg2 \(p-pg2\) did not catch up within 1s: streaming; node p-pg1: no answer within 1s \(the primary, pg1\)/m);
    });

    // pg1 answers as the primary, pg2 as a standby; then pg1's engine stops answering.
    const standbyPg2: [string, string][] = [["p-pg2 psql", "t\n"]];

    test("node-drop-slot.sh: the slot's look, or its drop, unanswered ends the delete at once, said so", opts, () => {
        const env = { PEERS, STACK_LABELS: "", NODE: "pg3", HELPER_CONTAINER: "p-pg3-seed", NODE_ASK_SECONDS: "1" };
        const look = runScript(script("node-drop-slot.sh"), { ...env, FAKE_HANG_SQL: "AND active" }, { replies: standbyPg2, timeoutMs: 15_000 });
        hung(look);
        assert.equal(look.status, 1);
        assert.match(look.stderr, /^error: node p-pg1 \(the primary\): no answer within 1s, so whether replication slot pg3 is in use is not known; it was not dropped$/m);
        assert.ok(!look.argv.some((a) => a.includes("pg_drop_replication_slot")) && !look.stdins.some((s) => s.includes("pg_drop_replication_slot")));
        const drop = runScript(script("node-drop-slot.sh"), { ...env, FAKE_HANG_SQL: "pg_drop_replication_slot" },
            { reply: "0\n", replies: standbyPg2, timeoutMs: 15_000 });
        hung(drop);
        assert.equal(drop.status, 1);
        assert.match(drop.stderr, /^error: node p-pg1 \(the primary\): no answer within 1s, so whether replication slot pg3 was dropped is not known$/m);
        assert.doesNotMatch(drop.stderr, /^dropped replication slot/m);
    });

    test("clone_node: the primary's engine not answering the drop of a stale slot: nothing cloned, said so", opts, () => {
        const env = { ...seedEnv, PEERS, NODE: "pg2", VOLUME: "p-pg2-data", HELPER_CONTAINER: "p-pg2-seed", NODE_ASK_SECONDS: "1",
            PRIMARY_CONTAINER: "p-pg1", PRIMARY_NAME: "pg1", PRIMARY_ADDRESS: "172.18.0.101", FAKE_HANG_SQL: "pg_drop_replication_slot" };
        const r = runScript(scriptOf("clone_node"), env, { timeoutMs: 15_000 });
        hung(r);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^error: node p-pg1 \(the primary\): no answer within 1s, so whether a slot pg2 left by an earlier attempt was dropped is not known; node pg2 not cloned$/m);
        assert.ok(!r.argv.some((a) => a.startsWith("run ")), r.argv.join("\n"));
    });

    test("node-seed-check.sh: the primary's major unanswered in a major upgrade's clone: not cloned, said so", opts, () => {
        const env = { ...seedEnv, PEERS, STACK_LABELS: "", NODE: "pg2", VOLUME: "p-pg2-data", HELPER_CONTAINER: "p-pg2-seed", IMAGE: "postgres:17",
            TLS_DIR: "/var/lib/postgresql/data/tls", NODE_ASK_SECONDS: "1", FAKE_HANG_SQL: "server_version_num" };
        // pg2's volume holds PostgreSQL 13 data under a 17 image: cloned again from the primary, once its major is known.
        const r = runScript(script("node-seed-check.sh"), env, { replies: [["PG_VERSION", "13\npostgres (PostgreSQL) 17.2\n"], ...standbyPg2], timeoutMs: 15_000 });
        hung(r);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^error: node p-pg1 \(the primary pg1\): no answer within 1s, so its major is not known; node pg2 not cloned$/m);
        assert.ok(!r.argv.some((a) => a.startsWith("stop ") || a.includes("p-pg2-seed")), r.argv.join("\n"));
    });

    test("upgrade-finish.sh: a node's look or its copy's removal unanswered is said so, never taken for a stopped node", opts, () => {
        const env = { PRIMARY_CONTAINER: "p-pg1", IMAGE: "postgres:17", STACK_LABELS: "", PEERS, NODE_ASK_SECONDS: "1" };
        const reply = "/var/lib/postgresql/data/pgdata.13-old\n";
        const look = runScript(script("upgrade-finish.sh"), { ...env, FAKE_HANG_CALL: "*State.Running*p-pg2" }, { reply, timeoutMs: 15_000 });
        hung(look);
        assert.equal(look.status, 0, look.stderr);
        assert.equal(look.stderr, "a major upgrade to finish, but node p-pg2: no answer within 1s from its engine, so whether the container runs is not known: " +
            "the next up finishes it\n");
        assert.ok(!look.argv.some((a) => a.includes("vacuumdb")), "nothing finished");
        // The removal has its own, longer bound (NODE_REMOVE_SECONDS), never NODE_ASK_SECONDS.
        const rm = runScript(script("upgrade-finish.sh"), { ...env, NODE_REMOVE_SECONDS: "2", FAKE_HANG_CALL: "*p-pg2 sh -c rm -rf*" }, { reply, timeoutMs: 15_000 });
        hung(rm);
        assert.equal(rm.status, 1);
        assert.match(rm.stderr, /^error: the old cluster's copy on p-pg2: node p-pg2: no answer within 2s to its removal \(it may go on there\); run up again$/m);
    });

    test("upgrade.sh: the kept standby's engine unanswered while the primary is stopped: the primary started again at once, said so", opts, () => {
        const env = { NODE: "pg1", NODE_CONTAINER: "p-pg1", VOLUME: "p-pg1-data", IMAGE: "postgres:17", KEEP_CONTAINER: "p-pg2", LONG_TX_SQL: "SELECT 1",
            SETTINGS_SQL: "SELECT 2", TIMEOUT: "5", DOCKER_LABELS: "a=b", HELPER_CONTAINER: "p-pg1-upgrade", PEERS, NODE_ASK_SECONDS: "1", FAKE_IMAGE: "postgres:13" };
        // pg1 runs 13 on 13 data, the image is 17's; it stops cleanly at 0/3000028; pg_upgrade (upgrade_data) fails when asked to.
        const replies = (upgrade: number): [string, string, number?][] => [["^upgrade_data$", "", upgrade],
            ["pg_controldata", "Database cluster state: shut down\nLatest checkpoint location: 0/3000028\nSegments not archived: 0\n"],
            ["PG_VERSION", "13\n"], ["--version", "postgres (PostgreSQL) 17.2\n"], ["^SELECT 1$", ""], ["^SELECT 2$", "UTF8|C|C|on\n"]];
        const back = /; nothing is lost: the old primary pg1 runs PostgreSQL 13 again on its own data$/m;
        const replay = runScript(script("upgrade.sh"), { ...env, FAKE_HANG_SQL: "pg_last_wal_replay_lsn" }, { replies: replies(0), timeoutMs: 15_000 });
        hung(replay);
        assert.equal(replay.status, 1);
        assert.match(replay.stderr, /^error: the standby node p-pg2: no answer within 1s, so whether it replayed pg1's shutdown checkpoint \(0\/3000028\) is not known; nothing is lost/m);
        assert.match(replay.stderr, back);
        assert.ok(replay.argv.includes("start p-pg1") && !replay.argv.some((a) => a.includes("p-pg1-upgrade")), replay.argv.join("\n"));
        const mark = runScript(script("upgrade.sh"), { ...env, FAKE_HANG_CALL: "*p-pg2 touch*" }, { reply: "t\n", replies: replies(0), timeoutMs: 15_000 });
        hung(mark);
        assert.equal(mark.status, 1);
        assert.match(mark.stderr, /^error: node p-pg2 \(the standby to keep\): no answer within 1s, so whether it is marked as the copy to keep is not known; nothing is lost/m);
        assert.ok(!mark.argv.some((a) => a.includes("p-pg1-upgrade")), "no pg_upgrade");
        // The mark failing (its error above): the same, by start_again.
        const markFailed = runScript(script("upgrade.sh"), env, { reply: "t\n", replies: [["touch", "", 1], ...replies(0)], timeoutMs: 15_000 });
        assert.equal(markFailed.status, 1);
        assert.match(markFailed.stderr, /^error: node p-pg2 \(the standby to keep\): the ask failed \(above\), so whether it is marked as the copy to keep is not known; nothing is lost/m);
        assert.match(markFailed.stderr, back);
        assert.ok(!markFailed.argv.some((a) => a.includes("p-pg1-upgrade")), "no pg_upgrade");
        // pg_upgrade failed, and the mark cannot be taken back: said, and the primary started again all the same.
        const unmark = runScript(script("upgrade.sh"), { ...env, FAKE_HANG_CALL: "*p-pg2 rm -f*" }, { reply: "t\n", replies: replies(1), timeoutMs: 15_000 });
        hung(unmark);
        assert.equal(unmark.status, 1);
        assert.match(unmark.stderr, /^the standby node p-pg2: no answer within 1s: its mark \/var\/lib\/postgresql\/data\/upgrade-keep may stay$/m);
        assert.match(unmark.stderr, /^error: pg_upgrade from PostgreSQL 13 to 17 failed on pg1 \(its output above\); nothing is lost/m);
    });
});
