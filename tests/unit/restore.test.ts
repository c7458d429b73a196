// A new stack restored from a pgBackRest repository (pg-replication:restore): the key's rules and
// words (config.ts validateRestore), what preview reads of `pgbackrest info` and which backup set
// and window it says (components/restore.ts), and what the seeds get (every node the same, fixed by
// the config, so an existing stack never sees a diff from it).

import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { validateRestore } from "../../components/config";
import { inContainer } from "../../components/fragments";
import { RESTORE_POINTS_FILE } from "../../components/pgbackrest";
import { lsnSegment, segmentNumber } from "../../components/lsn";
import { parseRepoInfo, planRestore, readS3RepoInfo, RestoreSelection, segmentsBetween, selectionFrom, stanzaTakenProblem } from "../../components/restore";
import { DATABASES, libpqDatabase, runDatabaseLoop } from "../support/database-loop";
import { DEV, plain, runProgram } from "../support/mocked-program";
import { FakeDocker } from "./fake-docker";

const check = (restore: unknown, ownRepository?: string) =>
    validateRestore({ restore: JSON.stringify(restore) }, { image: "postgres:17", ownRepository });

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
        assert.deepEqual(check({ volume: "v", stanza: "s", target: { lsn: "0/3a000060" } }).restore?.target, { kind: "lsn", lsn: "0/3A000060" });
        assert.deepEqual(check({ volume: "v", stanza: "s", target: { name: "before-migration_2.1" } }).restore?.target,
            { kind: "name", name: "before-migration_2.1" });
    });

    test("refused, naming the key: no volume or stanza, a time without a zone, another kind of target, its own repository", () => {
        assert.deepEqual(check({}).problems, [
            'pg-replication:restore.volume = null is not allowed: expected the repository\'s Docker volume name (the other stack\'s backup.volume output)',
            'pg-replication:restore.stanza = null is not allowed: expected the repository\'s stanza (the other stack\'s backup.stanza output)',
        ]);
        for (const target of [{ time: "2026-12-03 10:30:00" }, { lsn: "3000000" }, { lsn: "0/30000000G" }, { name: "drop table" },
            { name: "-x" }, { name: "a".repeat(64) }, { xid: "1234" }, { lsn: "0/3000000", name: "x" }, "yesterday", { time: "2026-13-45 10:30:00Z" }]) {
            const found = check({ volume: "v", stanza: "s", target }).problems;
            assert.equal(found.length, 1, JSON.stringify(target));
            assert.match(found[0], /^pg-replication:restore.target = .* is not allowed: expected latest, \{time: <date and time with its zone>\} .*, \{lsn: .*\} or \{name: /);
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
        assert.deepEqual(parseRepoInfo(INFO, "other"), { problem: "the repository has no stanza other", noStanza: true });
        assert.match((parseRepoInfo("not json", "x") as { problem: string }).problem, /^pgbackrest info did not answer in JSON/);
    });

    test("a stanza pgBackRest could not read (it exits 0 and says it in the status) is never one without backups", () => {
        const said = (code: number | undefined, message: string, repoMessage = message) => JSON.stringify([{
            name: "s", ...(code === undefined ? {} : { status: { code, message, lock: { backup: { held: false } } } }),
            repo: [{ key: 1, cipher: "none", status: { code, message: repoMessage } }], db: [], archive: [], backup: [] }]);
        assert.deepEqual(parseRepoInfo(said(99, "other", "[FileMissingError] unable to open missing file '/r/backup/s/backup.info' for read\nmore"), "s"),
            { problem: "pgBackRest could not read the stanza s in the repository (status 99): [FileMissingError] unable to open missing file " +
                "'/r/backup/s/backup.info' for read" });
        assert.deepEqual(parseRepoInfo(said(3, "missing stanza data"), "s"),
            { problem: "pgBackRest could not read the stanza s in the repository (status 3): missing stanza data" });
        assert.deepEqual(parseRepoInfo(said(undefined, ""), "s"),
            { problem: "pgBackRest could not read the stanza s in the repository (status missing): no status given" });
        assert.deepEqual(parseRepoInfo(said(1, "missing stanza path"), "s"),
            { problem: "the repository has no stanza s (missing stanza path)", noStanza: true });
        const none = parseRepoInfo(said(2, "no valid backups"), "s");
        assert.ok(!("problem" in none) && none.backups.length === 0 && none.status === "no valid backups");
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

// After a major upgrade (13 to 17, README "A new major"): the shape pgBackRest 2.55 printed for the
// e2e's repository, each backup and archive naming its database, the 13 one prior.
const UPGRADED = JSON.stringify([{
    name: "pg-replication-src",
    status: { code: 0, message: "ok" },
    db: [{ id: 1, "repo-key": 1, "system-id": 7715438078056673315, version: "13" }, { id: 2, "repo-key": 1, "system-id": 7715438137756938261, version: "17" }],
    archive: [{ database: { id: 1, "repo-key": 1 }, id: "13-1", min: "000000010000000000000003", max: "000000010000000000000005" },
        { database: { id: 2, "repo-key": 1 }, id: "17-2", min: "00000001000000000000000B", max: "00000001000000000000000C" }],
    backup: [
        { label: "20261203-100000F", type: "full", database: { id: 1, "repo-key": 1 }, timestamp: { start: 1796292000, stop: 1796292010 },
            archive: { start: "000000010000000000000003", stop: "000000010000000000000003" } },
        { label: "20261203-120000F", type: "full", database: { id: 2, "repo-key": 1 }, timestamp: { start: 1796299200, stop: 1796299210 },
            archive: { start: "00000001000000000000000B", stop: "00000001000000000000000C" } },
    ],
}]);

describe("a repository a major upgrade went through: each major restores its own backups", () => {
    const info = parseRepoInfo(UPGRADED, "pg-replication-src") as Exclude<ReturnType<typeof parseRepoInfo>, { problem: string }>;

    test("each backup's major and each major's newest WAL, as pgbackrest info names their databases", () => {
        assert.equal(info.version, "17");
        assert.deepEqual(info.backups.map((b) => `${b.label}:${b.version}`), ["20261203-100000F:13", "20261203-120000F:17"]);
        assert.deepEqual(info.walMaxByVersion, { 13: "000000010000000000000005", 17: "00000001000000000000000C" });
    });

    test("on the old major: its newest set, to the end of its own archive (the upgrade) or a time before it", () => {
        const latest = planRestore(info, { kind: "latest" }, "13", 1796300000);
        assert.ok("backup" in latest);
        assert.equal(latest.text, "from backup 20261203-100000F (full, ended 2026-12-03T10:00:10Z), recovered to the end of its PostgreSQL 13 " +
            "archive (where the cluster was upgraded to PostgreSQL 17) (the archive holds 2 WAL segments after it, up to 000000010000000000000005)");
        const before = planRestore(info, { kind: "time", time: "2026-12-03 10:30:00+00" }, "13", 1796300000);
        assert.ok("backup" in before);
        assert.match(before.text, /from backup 20261203-100000F .*recovered to the first commit after 2026-12-03 10:30:00\+00 or the end of the PostgreSQL 13 archive, whichever comes first/);
    });

    test("on the new major: its own sets only; a time before its first is refused, pointing at the old major's", () => {
        const latest = planRestore(info, { kind: "latest" }, "17", 1796300000);
        assert.ok("backup" in latest);
        assert.equal(latest.backup.label, "20261203-120000F");
        assert.match(latest.text, /recovered to the end of its archive \(the archive holds 0 WAL segments after it, up to 00000001000000000000000C\)/);
        assert.deepEqual(planRestore(info, { kind: "time", time: "2026-12-03 10:30:00+00" }, "17", 1796300000), { problem:
            "the target 2026-12-03 10:30:00+00 is before the end of the first backup of PostgreSQL 17 (20261203-120000F): the earliest " +
            "recoverable time is 2026-12-03T12:00:10Z; backups of PostgreSQL 13 cover it: restore with an image of that major" });
        assert.deepEqual(planRestore(info, { kind: "latest" }, "15", 1796300000),
            { problem: "the repository holds PostgreSQL 13 and 17 and the stack's image is PostgreSQL 15" });
    });

    // restore.sh's own choice, run for real by /bin/sh on backup.info as 2.55 wrote it in the e2e, with a
    // `postgres` on PATH that says which major the image is, and a `pgbackrest` that reads the repository (fakeRepoGet).
    function chooseIn(major: number, target: Record<string, string>): string {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "restore-majors-"));
        const dir = path.join(root, "backup", "src");
        fs.mkdirSync(dir, { recursive: true });
        fs.mkdirSync(path.join(root, "bin"));
        fs.writeFileSync(path.join(root, "bin", "postgres"), `#!/bin/sh\necho "postgres (PostgreSQL) ${major}.9 (Debian)"\n`, { mode: 0o755 });
        fakeRepoGet(path.join(root, "bin"), root);
        const set = (label: string, stop: number, db: number) => `${label}={"backrest-format":5,"backrest-version":"2.55.1",` +
            `"backup-archive-start":"00000001000000000000000B","backup-timestamp-start":${stop - 10},"backup-timestamp-stop":${stop},` +
            `"backup-type":"full","db-id":${db},"option-archive-check":true}`;
        fs.writeFileSync(path.join(dir, "backup.info"), ["[backrest]", "backrest-format=5", "", "[backup:current]",
            set("20261203-100000F", 1796292010, 1), set("20261203-110000F", 1796295610, 1), set("20261203-120000F", 1796299210, 2), "",
            "[db]", "db-id=2", 'db-version="17"', "", "[db:history]",
            '1={"db-catalog-version":202007201,"db-control-version":1300,"db-system-id":7715438078056673315,"db-version":"13"}',
            '2={"db-catalog-version":202406281,"db-control-version":1700,"db-system-id":7715438137756938261,"db-version":"17"}', ""].join("\n"));
        for (const label of ["20261203-100000F", "20261203-110000F", "20261203-120000F"]) {
            fs.mkdirSync(path.join(dir, label));
            fs.writeFileSync(path.join(dir, label, "backup.manifest"), `backup-lsn-stop="0/${label.slice(9, 11)}000028"\n`);
        }
        const r = spawnSync("/bin/sh", ["-c", inContainer("restore.sh")], { encoding: "utf8", env: { PATH: `${path.join(root, "bin")}:${process.env.PATH}`,
            PGBACKREST_STANZA: "src", PGBACKREST_CONFIG: path.join(root, "pgbackrest.conf"), RESTORE_SELECT_ONLY: "1", RESTORE_TARGET_TIME: "", ...target } });
        fs.rmSync(root, { recursive: true, force: true });
        assert.equal(r.status, 0, r.stderr);
        return r.stdout.trim();
    }

    test("restore.sh names the set among the image's major's: the newest, the newest ended by a time, by an LSN", () => {
        assert.equal(chooseIn(13, {}), "set=20261203-110000F");
        assert.equal(chooseIn(17, {}), "set=20261203-120000F");
        assert.equal(chooseIn(13, { RESTORE_TARGET_TIME: "2026-12-03 10:30:00+00" }), "set=20261203-100000F");
        assert.equal(chooseIn(13, { RESTORE_TARGET_TIME: "2026-12-03 13:00:00+00" }), "set=20261203-110000F");
        assert.equal(chooseIn(17, { RESTORE_TARGET_TIME: "2026-12-03 10:30:00+00" }),
            "problem=the target 2026-12-03 10:30:00+00 is before the end of the first backup of PostgreSQL 17 (20261203-120000F)");
        assert.equal(chooseIn(15, {}), "problem=the repository holds no backup of PostgreSQL 15, only of PostgreSQL 13 and 17: restore with an image of that major");
        assert.equal(chooseIn(15, { RESTORE_TARGET_LSN: "0/13000000" }), "problem=the repository holds no backup of PostgreSQL 15, only of " +
            "PostgreSQL 13 and 17: restore with an image of that major", "an LSN target too, not 'no backup yet'");
        // By LSN, among the 13 sets only: the 17 set's stop LSN (0/12000028) is the highest, and not a candidate on 13.
        assert.match(chooseIn(13, { RESTORE_TARGET_LSN: "0/13000000" }), /^set=20261203-110000F\nset_stop=0\/11000028\n/);
    });
});

/**
 * A `pgbackrest` in BIN whose repo-get prints the file under REPO, as pgBackRest's repo-get prints a
 * repository's file (a volume or a bucket alike), and fails on a missing one with its error 055, and
 * on the one FAKE_REPO_GET_FAIL names (its path in the repository, exactly) as on a file it may not read;
 * anything else, or other options than restore.sh gives, fails.
 */
function fakeRepoGet(bin: string, repo: string): void {
    fs.writeFileSync(path.join(bin, "pgbackrest"), "#!/bin/sh\n" +
        '[ "$1 $2 $3 $4" = "--log-level-console=off --log-level-stderr=error --log-level-file=off repo-get" ] || ' +
        '{ echo "fake pgbackrest: not restore.sh\'s repo-get: $*" >&2; exit 1; }\n' +
        // An S3 server's refusal, as pgBackRest words it (storage/http/request.c httpRequestError): the ERROR line, then the exchange.
        `[ "$5" != "\${FAKE_REPO_GET_FAIL:-}" ] || [ -z "\${FAKE_REPO_GET_HTTP:-}" ] || { printf '%s\\n' "ERROR: [039]: HTTP request failed with 403 (Forbidden):" ` +
        `"*** URI/Query ***:" "/$5" "*** Response Content ***:" "<Error><Code>AccessDenied</Code></Error>" >&2; exit 39; }\n` +
        `[ "$5" != "\${FAKE_REPO_GET_FAIL:-}" ] || { echo "ERROR: [041]: unable to open file '${repo}/$5' for read: [13] Permission denied" >&2; exit 41; }\n` +
        `cat "${repo}/$5" 2>/dev/null || { echo "ERROR: [055]: unable to open missing file '${repo}/$5' for read" >&2; exit 55; }\n`, { mode: 0o755 });
}

describe("a new cluster's own repository", () => {
    test("holding its stanza already (another cluster's): refused, saying what it holds and the three ways out", () => {
        const info = parseRepoInfo(INFO, "pg-replication-src") as Exclude<ReturnType<typeof parseRepoInfo>, { problem: string }>;
        assert.equal(stanzaTakenProblem(info, "pg-replication-src-backup", "pg-replication-src"), "the backup repository " +
            "pg-replication-src-backup already holds stanza pg-replication-src, of another cluster (PostgreSQL 17, 2 backups, the newest " +
            "20261203-100000F_20261203-110000I ended 2026-12-03T11:00:05Z), and pgBackRest will not archive a new cluster into it. Restore " +
            "from it (pg-replication:restore with this volume and stanza, and another backup.volume), give backup.volume another name, or " +
            "delete it on purpose (README \"Backups\")");
        // A stanza made and never backed up is another cluster's too.
        assert.match(stanzaTakenProblem({ ...info, backups: [] }, "v", "s") ?? "", /holds stanza s, of another cluster \(PostgreSQL 17, 0 backups\)/);
        assert.equal(stanzaTakenProblem({ status: "missing stanza path", backups: [] }, "v", "s"), undefined);
    });

    test("in an S3 bucket: the ways out are the bucket's (the settings volume to restore from, another backup.volume too; removing it is not enough)", () => {
        const info = parseRepoInfo(INFO, "pg-replication-src") as Exclude<ReturnType<typeof parseRepoInfo>, { problem: string }>;
        assert.equal(stanzaTakenProblem(info, "s3://b/pg-replication:9443", "pg-replication-src", "pg-replication-src-backup"),
            "the backup repository s3://b/pg-replication:9443 already holds stanza pg-replication-src, of another cluster (PostgreSQL 17, " +
            "2 backups, the newest 20261203-100000F_20261203-110000I ended 2026-12-03T11:00:05Z), and pgBackRest will not archive a new " +
            "cluster into it. Restore from it (pg-replication:restore with the settings volume pg-replication-src-backup and this stanza, " +
            "and another backup.volume and backup.s3.path), give backup.s3.path another value, or delete the stanza's backup/ and archive/ " +
            "in the bucket on purpose (README \"Backups\"; removing the volume pg-replication-src-backup leaves them)");
    });
});

describe("an LSN or a restore point as the target", () => {
    const info = parseRepoInfo(INFO, "pg-replication-src") as Exclude<ReturnType<typeof parseRepoInfo>, { problem: string }>;
    const chosen: RestoreSelection = { set: "20261203-100000F", setStop: "0/3000100", lsn: "0/5000060", timeline: "1" };

    test("the set restore.sh chose, the LSN and the restore point's timeline, in preview's words", () => {
        const byLsn = planRestore(info, { kind: "lsn", lsn: "0/5000060" }, "17", 1796300000, { ...chosen, timeline: "" });
        assert.ok("backup" in byLsn);
        assert.equal(byLsn.text, "from backup 20261203-100000F (full, ended 2026-12-03T10:00:10Z at LSN 0/3000100), recovered to LSN 0/5000060 " +
            "(the archive holds 6 WAL segments after it, up to 000000010000000000000009)");
        const byName = planRestore(info, { kind: "name", name: "before" }, "17", 1796300000, chosen);
        assert.ok("backup" in byName);
        assert.match(byName.text, /recovered to restore point before \(LSN 0\/5000060, timeline 1\)/);
    });

    test("refused: restore.sh's own problem, a target beyond the archive, a set pgbackrest info does not list", () => {
        assert.deepEqual(planRestore(info, { kind: "name", name: "x" }, "17", 1796300000, { problem: "the restore point x is not in the record" }),
            { problem: "the restore point x is not in the record" });
        assert.match((planRestore(info, { kind: "lsn", lsn: "0/A000000" }, "17", 1796300000, { ...chosen, lsn: "0/A000000" }) as { problem: string }).problem,
            /^the target LSN 0\/A000000 is beyond the archive, which ends with segment 000000010000000000000009/);
        assert.ok("backup" in planRestore(info, { kind: "lsn", lsn: "0/9FFFFFF" }, "17", 1796300000, { ...chosen, lsn: "0/9FFFFFF" }));
        assert.match((planRestore(info, { kind: "lsn", lsn: "0/5000060" }, "17", 1796300000, { ...chosen, set: "gone" }) as { problem: string }).problem,
            /backup set gone, chosen for the target, is not in pgbackrest info/);
        assert.deepEqual(planRestore(info, { kind: "lsn", lsn: "0/5000060" }, "17", 1796300000),
            { problem: "no backup set was chosen for the target" });
        assert.equal(lsnSegment("1/2A000000"), segmentNumber("00000003000000010000002A"));
        assert.deepEqual(selectionFrom(undefined, "docker: no such image\n"), { problem: "the backup set could not be chosen: docker: no such image" });
    });

    // restore.sh's selection, run for real by /bin/sh on a repository laid out as pgBackRest lays it
    // out (backup.info's [backup:current], each set's backup.manifest with backup-lsn-stop quoted).
    function select(target: Record<string, string>, points = "", { info = true, manifests = true, noStop = [] as string[] } = {}): RestoreSelection | { problem: string } {
        const repo = fs.mkdtempSync(path.join(os.tmpdir(), "restore-select-"));
        const dir = path.join(repo, "backup", "src");
        // The settings (pgbackrest.conf, the restore points) apart from the repository, as with backup.s3: backup.info
        // and the manifests are read through pgBackRest only.
        const settings = fs.mkdtempSync(path.join(os.tmpdir(), "restore-settings-"));
        fakeRepoGet(settings, repo);
        const sets = [["20261203-100000F", "0/3000100"], ["20261203-100000F_20261203-110000I", "1/6000028"], ["20261203-120000F", "0/FFFFFFF8"]];
        fs.mkdirSync(dir, { recursive: true });
        if (info) {
            fs.writeFileSync(path.join(dir, "backup.info"), `[backrest]\nbackrest-format=5\n\n[backup:current]\n${sets.map(([l]) =>
                `${l}={"backup-type":"x"}`).join("\n")}\n\n[db]\ndb-id=1\n`);
        }
        for (const [label, stop] of sets) {
            fs.mkdirSync(path.join(dir, label));
            if (manifests) {
                fs.writeFileSync(path.join(dir, label, "backup.manifest"), `[backup]\nbackup-label="${label}"\nbackup-lsn-start="0/2000028"\n` +
                    (noStop.includes(label) ? "" : `backup-lsn-stop="${stop}"\n`));
            }
        }
        // An expired set's directory left behind is not a candidate: backup.info does not list it.
        fs.mkdirSync(path.join(dir, "20261202-000000F"));
        fs.writeFileSync(path.join(dir, "20261202-000000F", "backup.manifest"), 'backup-lsn-stop="0/1000000"\n');
        fs.writeFileSync(path.join(settings, path.basename(RESTORE_POINTS_FILE)), points);
        const r = spawnSync("/bin/sh", ["-c", inContainer("restore.sh")], { encoding: "utf8", env: { PATH: `${settings}:${process.env.PATH}`,
            PGBACKREST_STANZA: "src", PGBACKREST_CONFIG: path.join(settings, "pgbackrest.conf"), RESTORE_SELECT_ONLY: "1", RESTORE_TARGET_TIME: "", ...target } });
        fs.rmSync(repo, { recursive: true, force: true });
        fs.rmSync(settings, { recursive: true, force: true });
        assert.equal(r.status, 0, r.stderr);
        return selectionFrom(r.stdout, r.stderr);
    }

    test("restore.sh chooses the newest set that stopped at or before the LSN, comparing both halves as numbers", () => {
        assert.deepEqual(select({ RESTORE_TARGET_LSN: "0/3000100" }), { set: "20261203-100000F", setStop: "0/3000100", lsn: "0/3000100", timeline: "" });
        assert.deepEqual(select({ RESTORE_TARGET_LSN: "1/0" }), { set: "20261203-120000F", setStop: "0/FFFFFFF8", lsn: "1/0", timeline: "" });
        assert.equal((select({ RESTORE_TARGET_LSN: "1/6000028" }) as RestoreSelection).set, "20261203-100000F_20261203-110000I");
        assert.deepEqual(select({ RESTORE_TARGET_LSN: "0/30000FF" }), { problem: "the target LSN 0/30000FF is before the end of the first backup " +
            "(20261203-100000F): the earliest recoverable LSN is 0/3000100" });
    });

    test("restore.sh reads the sets through pgBackRest: backup.info it cannot read refuses an LSN target, naming the file and why", () => {
        assert.match((select({ RESTORE_TARGET_LSN: "0/3000100" }, "", { info: false }) as { problem: string }).problem,
            /^the repository's list of backups \(backup\/src\/backup\.info\) could not be read: ERROR: \[055\]: unable to open missing file '.*\/backup\/src\/backup\.info' for read$/);
    });

    test("restore.sh refuses an LSN target when a set's manifest cannot be read, naming the set, the file and why, rather than choosing an older set", () => {
        // 20261203-120000F is the set for 1/0; passed over, 20261203-100000F would be chosen, with more WAL to replay.
        assert.match((select({ RESTORE_TARGET_LSN: "1/0", FAKE_REPO_GET_FAIL: "backup/src/20261203-120000F/backup.manifest" }) as { problem: string }).problem,
            /^the manifest of backup set 20261203-120000F \(backup\/src\/20261203-120000F\/backup\.manifest\) could not be read: ERROR: \[041\]: unable to open file '.*\/backup\/src\/20261203-120000F\/backup\.manifest' for read: \[13\] Permission denied$/);
        // From a bucket: pgBackRest's ERROR line, not the response body that ends its message.
        assert.match((select({ RESTORE_TARGET_LSN: "1/0", FAKE_REPO_GET_FAIL: "backup/src/20261203-120000F/backup.manifest", FAKE_REPO_GET_HTTP: "1" }) as
            { problem: string }).problem, /could not be read: ERROR: \[039\]: HTTP request failed with 403 \(Forbidden\):$/);
        // None readable: refused on the first, not said to hold no backup.
        assert.match((select({ RESTORE_TARGET_LSN: "1/0" }, "", { manifests: false }) as { problem: string }).problem,
            /^the manifest of backup set 20261203-100000F \(backup\/src\/20261203-100000F\/backup\.manifest\) could not be read: ERROR: \[055\]: unable to open missing file '.*\/backup\/src\/20261203-100000F\/backup\.manifest' for read$/);
    });

    test("restore.sh passes over a set whose manifest has no stop LSN (an offline backup), and says so when no set has one", () => {
        assert.deepEqual(select({ RESTORE_TARGET_LSN: "1/0" }, "", { noStop: ["20261203-120000F"] }),
            { set: "20261203-100000F", setStop: "0/3000100", lsn: "1/0", timeline: "" });
        const all = ["20261203-100000F", "20261203-100000F_20261203-110000I", "20261203-120000F"];
        assert.deepEqual(select({ RESTORE_TARGET_LSN: "1/0" }, "", { noStop: all }), { problem: "none of the repository's backup sets records " +
            "the LSN it ended at (backup-lsn-stop in its backup.manifest; an offline backup records none), so none can be chosen for an LSN: " +
            "give restore.target {time: ...} instead" });
    });

    test("restore.sh finds a restore point of the stanza in the repository's record, and refuses one it lacks", () => {
        const points = ["before\t0/5000060\t1\t2026-12-03T10:30:00Z\tother", "before\t0/9000060\t2\t2026-12-03T11:30:00Z\tsrc", ""].join("\n");
        assert.deepEqual(select({ RESTORE_TARGET_NAME: "before" }, points),
            { set: "20261203-100000F", setStop: "0/3000100", lsn: "0/9000060", timeline: "2" });
        assert.match((select({ RESTORE_TARGET_NAME: "after" }, points) as { problem: string }).problem,
            /^the restore point after is not in the repository's record of restore points \(npm run restore-point makes and records them\)/);
    });
});

describe("restore.sh after recovery: the source's copies of the stack's roles go from every database", () => {
    // restore.sh's loop over the roles, run by /bin/sh as the seed runs it (tests/support/database-loop.ts).
    const run = (failIn = "") => {
        const r = runDatabaseLoop({ shell: "/bin/sh", file: "restore.sh", start: 'for role in "$REPLICATION_USER" "$AUTH_USER"; do',
            end: 'echo "recovered to', env: { FAIL_IN: failIn, REPLICATION_USER: "repuser", AUTH_USER: "pgbouncer_auth" }, cases: `
        *"FROM pg_roles"*) echo 1 ;;
        *"DROP OWNED"*) [ "$2" != "dbname='$FAIL_IN'" ] || { echo "ERROR:  permission denied" >&2; return 3; } ;;` });
        // Each call's -d as libpq reads it: a name passed bare that holds "=" or starts with postgresql:// would throw here.
        return { ...r, drops: r.calls.filter((c) => /^DROP /.test(c[3] ?? "")).map((c) => `${libpqDatabase(c[1])}: ${c[3]}`) };
    };

    test("each role's privileges dropped in each database by its whole name, never read as a connection string, then the role", () => {
        const r = run();
        assert.equal(r.status, 0, r.stderr);
        const owned = (role: string) => DATABASES.map((db) => `${db}: DROP OWNED BY "${role}"`);
        assert.deepEqual(r.drops, [...owned("repuser"), 'postgres: DROP ROLE "repuser"', ...owned("pgbouncer_auth"),
            'postgres: DROP ROLE "pgbouncer_auth"']);
    });

    test("a database where DROP OWNED fails stops the restore there: the role stays, nothing after it runs", () => {
        const r = run("my app");
        assert.equal(r.status, 3);
        assert.deepEqual(r.drops, ['app: DROP OWNED BY "repuser"', 'my app: DROP OWNED BY "repuser"']);
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
        const byName = await runProgram({ ...DEV, image: "postgres:17", restore: { volume: "src-backup", stanza: "src", target: { name: "before" } } });
        const env = plain(byName.get("Command", "cluster-pg2-seed").inputs.environment) as Record<string, string>;
        assert.deepEqual([env.RESTORE_TARGET_TIME, env.RESTORE_TARGET_NAME, env.RESTORE_TARGET_LSN], ["", "before", undefined]);
        const plainRun = await runProgram({ ...DEV, image: "postgres:17" });
        for (const n of ["pg1", "pg2"]) {
            const env = plain(plainRun.get("Command", `cluster-${n}-seed`).inputs.environment) as Record<string, string>;
            assert.deepEqual(Object.keys(env).filter((k) => k.startsWith("RESTORE_") || k === "AUTH_USER"), []);
        }
    });
});

describe("the S3 repository asked at preview (readS3RepoInfo)", () => {
    test("the backup image not on the engine is said so, never as the repository failing", async () => {
        const fake = new FakeDocker([{ when: "^run --rm -i --pull never --network bridge ", code: 125,
            err: "Unable to find image 'pg-replication/postgres-backup:13' locally\ndocker: Error response from daemon: No such image: pg-replication/postgres-backup:13\n" }]);
        const saved = process.env.PATH;
        process.env.PATH = fake.env.PATH;
        try {
            const info = await readS3RepoInfo({ stanza: "p", image: "pg-replication/postgres-backup:13" }, "[global]\n", undefined, "unix:///run/h2/docker.sock");
            assert.deepEqual(info, { problem: "pgbackrest could not be asked on unix:///run/h2/docker.sock: the backup image " +
                "pg-replication/postgres-backup:13 is not there (scripts/build-images.sh --backup builds it; load it onto that engine)" });
        } finally {
            process.env.PATH = saved;
            fake.cleanup();
        }
    });
});
