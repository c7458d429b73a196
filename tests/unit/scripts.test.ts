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
import { alterSuperuserSql } from "../../components/primary";
import { script } from "../../components/shell";

// exec/run read stdin and answer like psql would: 't' for SELECT pg_reload_conf(), else the
// reply file. FAKE_HEALTH is what `docker inspect` reports for a health status, FAKE_VOLUME_USERS
// what `docker ps --filter volume=` lists, FAKE_RUN_STATUS the exit status of `docker run`.
const FAKE_DOCKER = `#!/bin/sh
n=$(( $(cat "$FAKE_DIR/count" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$FAKE_DIR/count"
{ printf '%s' "$*" | tr '\\n' ' '; echo; } >> "$FAKE_DIR/argv"
case "$1" in
  inspect) case "$*" in *Health*) echo "\${FAKE_HEALTH:-healthy}" ;; *) echo true ;; esac ;;
  ps) [ -z "\${FAKE_VOLUME_USERS:-}" ] || echo "$FAKE_VOLUME_USERS" ;;
  logs) printf '%s\\n' 'LOG:  started streaming' 'FATAL:  password authentication failed for user "repuser"' ;;
  exec|run)
    cat > "$FAKE_DIR/stdin.$n"
    if grep -q 'pg_reload_conf' "$FAKE_DIR/stdin.$n"; then echo t; else cat "$FAKE_DIR/reply" 2>/dev/null || true; fi
    [ "$1" != run ] || exit "\${FAKE_RUN_STATUS:-0}" ;;
esac
`;

interface ShellRun {
    status: number | null;
    stdout: string;
    stderr: string;
    argv: string[];
    /** What each `docker exec`/`docker run` read on stdin, in call order. */
    stdins: string[];
    seconds: number;
}

function runScript(text: string, env: Record<string, string>, opts: { stdin?: string; reply?: string } = {}): ShellRun {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-scripts-"));
    try {
        fs.writeFileSync(path.join(dir, "docker"), FAKE_DOCKER, { mode: 0o755 });
        if (opts.reply !== undefined) {
            fs.writeFileSync(path.join(dir, "reply"), opts.reply);
        }
        const started = Date.now();
        const res = spawnSync("/bin/sh", ["-c", text], {
            input: opts.stdin ?? "",
            env: { PATH: `${dir}:/usr/bin:/bin`, FAKE_DIR: dir, ...env },
            encoding: "utf8",
            timeout: 30_000,
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
        return {
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

const SCRIPTS = ["primary-ready.sh", "superuser-password.sh", "primary-access.sh", "standby-passfile.sh", "standby-clone.sh",
    "standby-clone-check.sh", "standby-drop-slot.sh", "standby-gate.sh", "sync-policy.sh", "sync-policy-reset.sh"];

const helperEnv = {
    IMAGE: "postgres:13", VOLUME: "pg-standby1-data", SLOT: "standby1",
    DOCKER_LABELS: "pg-replication.project=p pg-replication.stack=s",
};
const cloneEnv = {
    ...helperEnv, PRIMARY_CONTAINER: "pg-primary", PRIMARY_ADDRESS: "172.18.0.101", NETWORK: "pgnet",
    STANDBY_ADDRESS: "172.18.0.102", REPLICATION_USER: "repuser", HELPER_CONTAINER: "pg-standby1-clone",
};
const PASSLINE = "172.18.0.101:5432:*:repuser:Very\\:Secret\n";

describe("command scripts", () => {
    for (const file of SCRIPTS) {
        test(`${file} is valid POSIX sh`, () => {
            const res = spawnSync("/bin/sh", ["-n"], { input: script(file), encoding: "utf8" });
            assert.equal(res.status, 0, res.stderr);
        });
    }

    test("primary-access writes replication rules for exactly the standbys' /32 addresses", () => {
        const res = runScript(script("primary-access.sh"), {
            PRIMARY_CONTAINER: "pg-primary", REPLICATION_USER: "repuser",
            STANDBY_ADDRESSES: "172.18.0.102 172.18.0.103", WAL_KEEP_SIZE: "128MB", MAX_SLOT_WAL_KEEP_SIZE: "1GB",
        });
        assert.equal(res.status, 0, res.stderr);
        const hba = res.stdins[0];
        const replication = hba.split("\n").filter((l) => /^host\s+replication/.test(l));
        assert.deepEqual(replication.map((l) => l.split(/\s+/)), [
            ["host", "replication", "repuser", "172.18.0.102/32", "scram-sha-256"],
            ["host", "replication", "repuser", "172.18.0.103/32", "scram-sha-256"],
        ]);
        assert.ok(!/\b(md5|trust|samenet)\b/.test(hba), hba);
        assert.match(res.argv[0], /^exec -i -u postgres pg-primary sh -c/);
        assert.match(res.stdins[1], /ALTER SYSTEM SET wal_keep_size = '128MB';\nALTER SYSTEM SET max_slot_wal_keep_size = '1GB';\nSELECT pg_reload_conf\(\);/);
    });

    test("primary-access fails when the server rejects a rule", () => {
        const res = runScript(script("primary-access.sh"), {
            PRIMARY_CONTAINER: "pg-primary", REPLICATION_USER: "repuser", STANDBY_ADDRESSES: "172.18.0.102",
            WAL_KEEP_SIZE: "128MB", MAX_SLOT_WAL_KEEP_SIZE: "1GB",
        }, { reply: "3: invalid IP address" });
        assert.notEqual(res.status, 0);
        assert.match(res.stderr, /pg_hba.conf on pg-primary was rejected: 3: invalid IP address/);
    });

    test("the primary's gate passes when Docker says healthy and the server answers over TCP", () => {
        const res = runScript(script("primary-ready.sh"), { PRIMARY_CONTAINER: "pg-primary", TIMEOUT: "5" });
        assert.equal(res.status, 0, res.stderr);
        assert.match(res.argv[0], /^inspect -f .*\.State\.Health\.Status.* pg-primary$/);
        assert.equal(res.argv[1], "exec pg-primary pg_isready -q -h 127.0.0.1 -p 5432 -U postgres -d postgres");
    });

    test("the primary's gate fails within its bound with the health status and the server's last log lines", () => {
        const res = runScript(script("primary-ready.sh"), { PRIMARY_CONTAINER: "pg-primary", TIMEOUT: "2", FAKE_HEALTH: "unhealthy" });
        assert.notEqual(res.status, 0);
        assert.ok(res.seconds < 10, `took ${res.seconds}s`);
        assert.match(res.stderr, /primary pg-primary is not ready after 2s \(health: unhealthy\)\. Its last log lines:\n/);
        assert.match(res.stderr, /password authentication failed for user "repuser"/);
        // It polled more than once a second (POLL_INTERVAL 0.2 s) and never ran pg_isready on an unhealthy container.
        assert.ok(res.argv.filter((a) => a.startsWith("inspect ")).length >= 5, res.argv.join("\n"));
        assert.ok(!res.argv.some((a) => a.includes("pg_isready")));
    });

    test("the superuser password goes to psql on stdin through peer auth, never in argv", () => {
        const sql = alterSuperuserSql("it's Very:Secret");
        assert.equal(sql, "ALTER ROLE postgres PASSWORD 'it''s Very:Secret';\n");
        const res = runScript(script("superuser-password.sh"), { PRIMARY_CONTAINER: "pg-primary" }, { stdin: sql });
        assert.equal(res.status, 0, res.stderr);
        assert.deepEqual(res.argv, ["exec -i -u postgres pg-primary psql -X -q -A -t -v ON_ERROR_STOP=1 -d postgres"]);
        assert.deepEqual(res.stdins, [sql]);
    });

    test("the passfile command writes the line from stdin into the volume, off the network", () => {
        const res = runScript(script("standby-passfile.sh"), helperEnv, { stdin: PASSLINE });
        assert.equal(res.status, 0, res.stderr);
        assert.equal(res.argv.length, 1, res.argv.join("\n"));
        assert.match(res.argv[0], /^run --rm -i --label pg-replication\.project=p --label pg-replication\.stack=s --network none --user postgres -v pg-standby1-data:\/var\/lib\/postgresql\/data --entrypoint \/bin\/sh postgres:13 -c /);
        assert.match(res.argv[0], /cat > "\$passfile\.new"/);
        assert.ok(!/pg_basebackup|rm -rf|pgdata/.test(res.argv[0]), "the passfile command touches nothing but the passfile");
        assert.ok(!res.argv[0].includes("Secret"));
        assert.deepEqual(res.stdins, [PASSLINE]);
    });

    test("standby-clone runs pg_basebackup from the standby's address; the password only in the volume's passfile", () => {
        const res = runScript(script("standby-clone.sh"), cloneEnv);
        assert.equal(res.status, 0, res.stderr);
        const run = res.argv.find((a) => a.startsWith("run "));
        assert.ok(run, res.argv.join("\n"));
        assert.match(run, /--name pg-standby1-clone --network pgnet --ip 172\.18\.0\.102 /);
        assert.match(run, /--label pg-replication\.project=p --label pg-replication\.stack=s/);
        assert.match(run, /--user postgres -v pg-standby1-data:\/var\/lib\/postgresql\/data /);
        assert.match(run, /pg_basebackup -D "\$staging" -R -X stream -C -S "\$SLOT" -c fast/);
        assert.match(run, /passfile=\$passfile/);
        assert.ok(res.stdins.some((s) => /pg_drop_replication_slot\(slot_name\) FROM pg_replication_slots\s+WHERE slot_name = 'standby1' AND NOT active/.test(s)),
            "a leftover inactive slot is dropped first");
    });

    test("standby-clone passes every variable to the container with its value (F1: a bare -e NAME unsets it)", () => {
        const res = runScript(script("standby-clone.sh"), cloneEnv);
        assert.equal(res.status, 0, res.stderr);
        const run = res.argv.find((a) => a.startsWith("run "))!;
        const envs = [...run.matchAll(/ -e (\S+)/g)].map((m) => m[1]);
        assert.deepEqual(envs, ["PRIMARY_ADDRESS=172.18.0.101", "REPLICATION_USER=repuser", "SLOT=standby1"]);
    });

    test("standby-clone refuses a volume a container uses, before it touches the slot or the volume", () => {
        const res = runScript(script("standby-clone.sh"), { ...cloneEnv, FAKE_VOLUME_USERS: "pg-standby1" });
        assert.notEqual(res.status, 0);
        assert.match(res.stderr, /volume pg-standby1-data is in use by pg-standby1; a standby is cloned only into a volume no container uses/);
        assert.deepEqual(res.argv, ["ps -a --filter volume=pg-standby1-data --format {{.Names}}"]);
    });

    test("the clone's update only checks, read-only and off the network, that the volume holds a cluster", () => {
        const res = runScript(script("standby-clone-check.sh"), helperEnv);
        assert.equal(res.status, 0, res.stderr);
        assert.equal(res.argv.length, 1, res.argv.join("\n"));
        assert.match(res.argv[0], /^run --rm .*--network none --user postgres -v pg-standby1-data:\/var\/lib\/postgresql\/data:ro .*-c test -f \/var\/lib\/postgresql\/data\/pgdata\/PG_VERSION$/);
        assert.equal(res.stderr, "standby standby1: the clone's inputs changed; its data in pg-standby1-data is kept\n");

        const missing = runScript(script("standby-clone-check.sh"), { ...helperEnv, FAKE_RUN_STATUS: "1" });
        assert.notEqual(missing.status, 0);
        assert.match(missing.stderr, /standby standby1: volume pg-standby1-data holds no cluster \(pgdata\/PG_VERSION is missing\)/);
    });

    test("the readiness gate fails within its bound and says which standby and why", () => {
        const res = runScript(script("standby-gate.sh"), {
            PRIMARY_CONTAINER: "pg-primary", STANDBY_CONTAINER: "pg-standby1", SLOT: "standby1", TIMEOUT: "2",
        }, { reply: "" });
        assert.notEqual(res.status, 0);
        assert.ok(res.seconds < 10, `took ${res.seconds}s`);
        assert.match(res.stderr, /standby standby1 is not streaming from the primary after 2s \(pg_stat_replication: no connection\)/);
        assert.match(res.stderr, /password authentication failed for user "repuser"/);
    });

    test("the readiness gate passes once the primary reports the standby streaming", () => {
        const res = runScript(script("standby-gate.sh"), {
            PRIMARY_CONTAINER: "pg-primary", STANDBY_CONTAINER: "pg-standby1", SLOT: "standby1", TIMEOUT: "5",
        }, { reply: "streaming\n" });
        assert.equal(res.status, 0, res.stderr);
        assert.match(res.stdins[0], /SELECT state FROM pg_stat_replication WHERE application_name = 'standby1'/);
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

    test("dropping a slot waits for it to be released, then drops it", () => {
        const res = runScript(script("standby-drop-slot.sh"), {
            PRIMARY_CONTAINER: "pg-primary", SLOT: "standby1", HELPER_CONTAINER: "pg-standby1-clone",
        }, { reply: "0\n" });
        assert.equal(res.status, 0, res.stderr);
        assert.ok(res.stdins.some((s) => /SELECT pg_drop_replication_slot\(slot_name\) FROM pg_replication_slots WHERE slot_name = 'standby1'/.test(s)));
    });

    test("dropping a slot gives up with a message if the slot stays in use (a fixed bound, not readyTimeoutSeconds)", () => {
        assert.match(script("standby-drop-slot.sh"), /^SLOT_RELEASE_SECONDS=\$\{SLOT_RELEASE_SECONDS:-90\}$/m);
        const res = runScript(script("standby-drop-slot.sh"), {
            PRIMARY_CONTAINER: "pg-primary", SLOT: "standby1", HELPER_CONTAINER: "pg-standby1-clone", SLOT_RELEASE_SECONDS: "1",
            TIMEOUT: "999",
        }, { reply: "1\n" });
        assert.notEqual(res.status, 0);
        assert.match(res.stderr, /replication slot standby1 on pg-primary is still in use after 1s/);
    });
});

describe("on success a script prints nothing on stdout and one summary line on stderr", () => {
    // Each with the answers of a healthy cluster; psql's 't' for pg_reload_conf() is among them.
    const cases: [string, Record<string, string>, { stdin?: string; reply?: string }, RegExp][] = [
        ["primary-ready.sh", { PRIMARY_CONTAINER: "pg-primary", TIMEOUT: "5" }, {}, /^primary pg-primary is ready$/],
        ["superuser-password.sh", { PRIMARY_CONTAINER: "pg-primary" }, { stdin: alterSuperuserSql("pw") },
            /^superuser password set on pg-primary$/],
        ["primary-access.sh", {
            PRIMARY_CONTAINER: "pg-primary", REPLICATION_USER: "repuser", STANDBY_ADDRESSES: "172.18.0.102",
            WAL_KEEP_SIZE: "128MB", MAX_SLOT_WAL_KEEP_SIZE: "1GB",
        }, {}, /^replication allowed for repuser from: 172\.18\.0\.102$/],
        ["standby-passfile.sh", helperEnv, { stdin: PASSLINE }, /^standby standby1: replication passfile written to volume pg-standby1-data$/],
        ["standby-clone.sh", cloneEnv, {}, /^standby standby1: cloned 172\.18\.0\.101 into volume pg-standby1-data with slot standby1$/],
        ["standby-clone-check.sh", helperEnv, {}, /^standby standby1: the clone's inputs changed; its data in pg-standby1-data is kept$/],
        ["standby-gate.sh", { PRIMARY_CONTAINER: "pg-primary", STANDBY_CONTAINER: "pg-standby1", SLOT: "standby1", TIMEOUT: "5" },
            { reply: "streaming\n" }, /^standby standby1 is streaming$/],
        ["sync-policy.sh", { PRIMARY_CONTAINER: "pg-primary", SYNC_NAMES: "", SYNC_COMMIT: "on", EXPECTED: "standby1=async", TIMEOUT: "5" },
            { reply: "streaming/async\n" }, /^commit policy applied \(synchronous_standby_names='', synchronous_commit=on\); standbys: standby1=async$/],
        ["sync-policy-reset.sh", { PRIMARY_CONTAINER: "pg-primary" }, {}, /^commit policy on pg-primary reset to asynchronous$/],
        ["standby-drop-slot.sh", { PRIMARY_CONTAINER: "pg-primary", SLOT: "standby1", HELPER_CONTAINER: "pg-standby1-clone" },
            { reply: "0\n" }, /^dropped replication slot standby1$/],
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
