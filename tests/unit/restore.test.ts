// A new stack restored from a pgBackRest repository (pg-replication:restore): the key's rules and
// words (config.ts validateRestore), what preview reads of `pgbackrest info` and which backup set
// and window it says (components/restore.ts), and what the seeds get (every node the same, fixed by
// the config, so an existing stack never sees a diff from it).

import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import { validateRestore } from "../../components/config";
import { parseRepoInfo, planRestore, segmentsBetween } from "../../components/restore";
import { DEV, plain, runProgram } from "../support/mocked-program";

const check = (restore: unknown, ownRepository?: string) =>
    validateRestore({ restore: JSON.stringify(restore) }, { image: "postgres:17", spans: false, ownRepository });

// The shape pgBackRest 2.55 prints (command/info/info.c): one entry per stanza.
const INFO = JSON.stringify([{
    name: "pg-replication-src",
    status: { code: 0, message: "ok" },
    db: [{ id: 1, "system-id": 7440000000000000000, version: "17" }],
    archive: [{ id: "17-1", min: "000000010000000000000001", max: "000000010000000000000009" }],
    backup: [
        { label: "20261203-100000F", type: "full", timestamp: { start: 1796292000, stop: 1796292010 },
            archive: { start: "000000010000000000000003", stop: "000000010000000000000003" } },
        { label: "20261203-100000F_20261203-110000I", type: "incr", timestamp: { start: 1796295600, stop: 1796295605 },
            archive: { start: "000000010000000000000006", stop: "000000010000000000000006" } },
    ],
}]);

describe("pg-replication:restore", () => {
    test("volume and stanza given; latest by default; a time with its zone; the backup image of the major", () => {
        assert.deepEqual(check({ volume: "pg-replication-src-backup", stanza: "pg-replication-src" }), { problems: [], restore: {
            volume: "pg-replication-src-backup", stanza: "pg-replication-src", target: { kind: "latest" }, image: "pg-replication/postgres-backup:17",
        } });
        assert.deepEqual(check({ volume: "v", stanza: "s", target: { time: "2026-12-03 10:30:00+00" } }).restore?.target,
            { kind: "time", time: "2026-12-03 10:30:00+00" });
        assert.deepEqual(check({ volume: "v", stanza: "s", target: "latest" }).restore?.target, { kind: "latest" });
    });

    test("refused, naming the key: no volume or stanza, a time without a zone, another kind of target, its own repository", () => {
        assert.deepEqual(check({}).problems, [
            'pg-replication:restore.volume = null is not allowed: expected the repository\'s Docker volume name (the other stack\'s backup.volume output)',
            'pg-replication:restore.stanza = null is not allowed: expected the repository\'s stanza (the other stack\'s backup.stanza output)',
        ]);
        for (const target of [{ time: "2026-12-03 10:30:00" }, { lsn: "0/3000000" }, "yesterday", { time: "2026-13-45 10:30:00Z" }]) {
            const found = check({ volume: "v", stanza: "s", target }).problems;
            assert.equal(found.length, 1, JSON.stringify(target));
            assert.match(found[0], /^pg-replication:restore.target = .* is not allowed: expected latest, or \{time: <date and time with its zone>\}/);
        }
        assert.match(check({ volume: "own", stanza: "s" }, "own").problems[0], /restore.volume = "own" is not allowed: not this stack's own repository/);
    });
});

describe("what the repository holds, as preview reads and says it", () => {
    test("the stanza's status, version, backup sets and newest WAL", () => {
        const info = parseRepoInfo(INFO, "pg-replication-src");
        assert.ok(!("problem" in info));
        assert.equal(info.version, "17");
        assert.deepEqual(info.backups.map((b) => [b.label, b.type, b.stopped]),
            [["20261203-100000F", "full", 1796292010], ["20261203-100000F_20261203-110000I", "incr", 1796295605]]);
        assert.equal(info.walMax, "000000010000000000000009");
        assert.deepEqual(parseRepoInfo(INFO, "other"), { problem: "the repository has no stanza other" });
        assert.match((parseRepoInfo("not json", "x") as { problem: string }).problem, /^pgbackrest info did not answer in JSON/);
    });

    test("latest: the newest set and the WAL after it; a time: the newest set that ended by it", () => {
        const info = parseRepoInfo(INFO, "pg-replication-src") as Exclude<ReturnType<typeof parseRepoInfo>, { problem: string }>;
        const latest = planRestore(info, { kind: "latest" }, "17", 1796300000);
        assert.ok("backup" in latest);
        assert.equal(latest.backup.label, "20261203-100000F_20261203-110000I");
        assert.equal(latest.text, "from backup 20261203-100000F_20261203-110000I (incr, ended 2026-12-03T11:00:05Z), recovered to the end of " +
            "its archive (the archive holds 3 WAL segments after it, up to 000000010000000000000009)");
        assert.equal(latest.window, "the repository's recoverable window starts at 2026-12-03T10:00:10Z");
        const between = planRestore(info, { kind: "time", time: "2026-12-03 10:30:00+00" }, "17", 1796300000);
        assert.ok("backup" in between);
        assert.equal(between.backup.label, "20261203-100000F");
        assert.match(between.text, /recovered to the first commit after 2026-12-03 10:30:00\+00/);
    });

    test("refused: a time before the first backup ended (naming the earliest), in the future, another major, no backup", () => {
        const info = parseRepoInfo(INFO, "pg-replication-src") as Exclude<ReturnType<typeof parseRepoInfo>, { problem: string }>;
        assert.deepEqual(planRestore(info, { kind: "time", time: "2026-12-03T10:00:05Z" }, "17", 1796300000), { problem:
            "the target 2026-12-03T10:00:05Z is before the end of the first backup (20261203-100000F): the earliest recoverable time is 2026-12-03T10:00:10Z" });
        assert.match((planRestore(info, { kind: "time", time: "2026-12-04 00:00:00+00" }, "17", 1796300000) as { problem: string }).problem,
            /is in the future/);
        assert.deepEqual(planRestore(info, { kind: "latest" }, "13", 1796300000),
            { problem: "the repository holds PostgreSQL 17 and the stack's image is PostgreSQL 13" });
        assert.deepEqual(planRestore({ ...info, backups: [] }, { kind: "latest" }, "17", 1796300000), { problem: "the repository holds no backup yet" });
        assert.equal(segmentsBetween("000000010000000000000003", "000000020000000100000002"), 255);
    });
});

describe("the seeds of a stack with restore", () => {
    test("every node's seed has the same restore settings; without the key none has any", async () => {
        const run = await runProgram({ ...DEV, image: "postgres:17",
            restore: { volume: "src-backup", stanza: "src", target: { time: "2026-12-03 10:30:00+00" } } });
        for (const n of ["pg1", "pg2"]) {
            const env = plain(run.get("Command", `cluster-${n}-seed`).inputs.environment) as Record<string, string>;
            assert.deepEqual([env.RESTORE_VOLUME, env.RESTORE_STANZA, env.RESTORE_TARGET_TIME, env.RESTORE_IMAGE, env.RESTORE_CONFIG, env.AUTH_USER],
                ["src-backup", "src", "2026-12-03 10:30:00+00", "pg-replication/postgres-backup:17", "/var/lib/pgbackrest/pgbackrest.conf", "pgbouncer_auth"]);
        }
        const plainRun = await runProgram({ ...DEV, image: "postgres:17" });
        for (const n of ["pg1", "pg2"]) {
            const env = plain(plainRun.get("Command", `cluster-${n}-seed`).inputs.environment) as Record<string, string>;
            assert.deepEqual(Object.keys(env).filter((k) => k.startsWith("RESTORE_") || k === "AUTH_USER"), []);
        }
    });
});
