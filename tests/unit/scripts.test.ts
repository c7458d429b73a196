// The command scripts, run for real by /bin/sh against a stand-in `docker` on PATH that records
// every invocation (argv, stdin) and plays back canned psql answers. What is checked is what the
// scripts send to Docker: rules, SQL, flags, and where the password goes.

import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { script } from "../../components/shell";

const FAKE_DOCKER = `#!/bin/sh
n=$(( $(cat "$FAKE_DIR/count" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$FAKE_DIR/count"
{ printf '%s' "$*" | tr '\\n' ' '; echo; } >> "$FAKE_DIR/argv"
case "$1" in
  inspect) echo true ;;
  logs) printf '%s\\n' 'LOG:  started streaming' 'FATAL:  password authentication failed for user "repuser"' ;;
  exec|run) cat > "$FAKE_DIR/stdin.$n"; cat "$FAKE_DIR/reply" 2>/dev/null || true ;;
esac
`;

interface ShellRun {
    status: number | null;
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
            stderr: res.stderr,
            argv: fs.existsSync(argvFile) ? fs.readFileSync(argvFile, "utf8").trim().split("\n") : [],
            stdins,
            seconds: (Date.now() - started) / 1000,
        };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

const SCRIPTS = ["primary-access.sh", "standby-clone.sh", "standby-drop-slot.sh", "standby-gate.sh", "sync-policy.sh", "sync-policy-reset.sh"];

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

    const cloneEnv = {
        PRIMARY_CONTAINER: "pg-primary", PRIMARY_ADDRESS: "172.18.0.101", NETWORK: "pgnet", IMAGE: "postgres:13",
        VOLUME: "pg-standby1-data", STANDBY_ADDRESS: "172.18.0.102", SLOT: "standby1", REPLICATION_USER: "repuser",
        HELPER_CONTAINER: "pg-standby1-clone", DOCKER_LABELS: "pg-replication.project=p pg-replication.stack=s", TIMEOUT: "5",
    };
    const PASSLINE = "172.18.0.101:5432:*:repuser:Very\\:Secret\n";

    test("standby-clone runs pg_basebackup from the standby's address with the password only on stdin", () => {
        const res = runScript(script("standby-clone.sh"), cloneEnv, { stdin: PASSLINE });
        assert.equal(res.status, 0, res.stderr);
        const run = res.argv.find((a) => a.startsWith("run "));
        assert.ok(run, res.argv.join("\n"));
        assert.match(run, /--name pg-standby1-clone --network pgnet --ip 172\.18\.0\.102 /);
        assert.match(run, /--label pg-replication\.project=p --label pg-replication\.stack=s/);
        assert.match(run, /--user postgres -v pg-standby1-data:\/var\/lib\/postgresql\/data /);
        assert.match(run, /pg_basebackup -D "\$pgdata" -R -X stream -C -S "\$SLOT" -c fast/);
        assert.ok(res.argv.every((a) => !a.includes("Secret")), "the password must not be in any argv");
        assert.ok(res.stdins.includes(PASSLINE), "the clone container reads the passfile line on stdin");
        assert.ok(res.stdins.some((s) => /pg_drop_replication_slot\(slot_name\) FROM pg_replication_slots\s+WHERE slot_name = 'standby1' AND NOT active/.test(s)),
            "a leftover inactive slot is dropped first");
    });

    test("standby-clone with PASSFILE_ONLY rewrites the passfile without touching the network or the slot", () => {
        const res = runScript(script("standby-clone.sh", "PASSFILE_ONLY=1"), cloneEnv, { stdin: PASSLINE });
        assert.equal(res.status, 0, res.stderr);
        assert.equal(res.argv.length, 1, res.argv.join("\n"));
        assert.match(res.argv[0], /^run --rm -i .*--network none --user postgres/);
        assert.ok(!res.argv[0].includes("--ip"));
        assert.deepEqual(res.stdins, [PASSLINE]);
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
            PRIMARY_CONTAINER: "pg-primary", SLOT: "standby1", HELPER_CONTAINER: "pg-standby1-clone", TIMEOUT: "5",
        }, { reply: "0\n" });
        assert.equal(res.status, 0, res.stderr);
        assert.ok(res.stdins.some((s) => /SELECT pg_drop_replication_slot\(slot_name\) FROM pg_replication_slots WHERE slot_name = 'standby1'/.test(s)));
    });

    test("dropping a slot gives up with a message if the slot stays in use", () => {
        const res = runScript(script("standby-drop-slot.sh"), {
            PRIMARY_CONTAINER: "pg-primary", SLOT: "standby1", HELPER_CONTAINER: "pg-standby1-clone", TIMEOUT: "1",
        }, { reply: "1\n" });
        assert.notEqual(res.status, 0);
        assert.match(res.stderr, /replication slot standby1 on pg-primary is still in use after 1s/);
    });
});
