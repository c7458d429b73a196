// backup.schedule (components/config.ts scheduleOf, components/backup.ts BackupScheduler) under
// Pulumi's mocks: validated in one place with the key, the value and what is allowed; declared as
// one container of the scheduler image on the stack's engine with its socket and no network, after
// the destroy guard (so up's first full backup is there first, and on destroy the scheduler goes
// before the final backup); its script is lib.sh, the backup tools' functions and the restore
// fragment, the same text the tools run. The plan over pgBackRest's JSON is checked in the image
// itself (tests/images/test-entrypoint.sh), and the schedule end to end (tests/e2e/backup-schedule.e2e.test.ts).

import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { before, describe, test } from "node:test";
import { createRestorePoint, targetFromOutputs } from "../../backup/core";
import { RawConfig, validateBackup } from "../../components/config";
import { fragment, scriptOf } from "../../components/fragments";
import { proofOutput, readProof, REPOSITORY_FILE, VERIFIED_FILE, VERIFY_FAILED_FILE, verifiedNote } from "../../components/pgbackrest";
import { FakeDocker } from "./fake-docker";
import { DATABASES, libpqDatabase, runDatabaseLoop } from "../support/database-loop";
import { DEV, outputValue, plain, Run, runProgram } from "../support/mocked-program";

const check = (schedule: unknown, backup: Record<string, unknown> = {}, ctx: Partial<Parameters<typeof validateBackup>[1]> = {}) =>
    validateBackup({ backup: JSON.stringify({ ...backup, schedule }) } as RawConfig,
        { image: "postgres:17", namePrefix: "pg-replication-pg17", spans: false, ...ctx });

describe("pg-replication:backup.schedule, validated", () => {
    test("absent or false: no scheduler; true: a full backup a day, an incremental one an hour, the engine's own socket", () => {
        assert.equal(check(undefined).backup?.schedule, undefined);
        assert.equal(check(false).backup?.schedule, undefined);
        assert.deepEqual(check(true).backup?.schedule, { image: "pg-replication/postgres-scheduler:17", fullSeconds: 86400,
            incrSeconds: 3600, dockerSocket: "/var/run/docker.sock", fromStandby: true });
        assert.deepEqual(check({}), check(true));
        assert.equal(check(true, {}, { engineHost: "unix:///run/user/1000/docker.sock" }).backup?.schedule?.dockerSocket,
            "/run/user/1000/docker.sock", "a unix:// engine's own socket");
        assert.equal(check(true, {}, { engineHost: "ssh://me@db1" }).backup?.schedule?.dockerSocket, "/var/run/docker.sock");
    });

    test("intervals in minutes, hours or days; incr by default only when an hour is shorter than full and diff", () => {
        assert.deepEqual(check({ full: "7d", diff: "1d", incr: "30m", image: "me/sched:17", dockerSocket: "/s.sock" }, { maxVerifiedAgeHours: 200 })
            .backup?.schedule, { image: "me/sched:17", fullSeconds: 7 * 86400, diffSeconds: 86400, incrSeconds: 1800, dockerSocket: "/s.sock",
                fromStandby: true });
        assert.equal(check({ fromStandby: false }).backup?.schedule?.fromStandby, false, "backups from the primary only");
        assert.deepEqual(check({ full: "30m" }).backup?.schedule, { image: "pg-replication/postgres-scheduler:17", fullSeconds: 1800,
            dockerSocket: "/var/run/docker.sock", fromStandby: true }, "no incr an hour apart beside a full backup each half hour");
        assert.equal(check({ full: "12h", incr: false }).backup?.schedule?.incrSeconds, undefined);
        assert.equal(check({ full: "2m", incr: "1m" }).backup?.schedule?.incrSeconds, 60);
    });

    test("each bad value is named with its key, the value and what is allowed", () => {
        assert.deepEqual(check({ full: "1w", diff: "90s", incr: 5, colour: "blue", dockerSocket: "docker.sock", fromStandby: "yes" }).problems, [
            'pg-replication:backup.schedule.colour = "blue" is not allowed: unknown field; backup.schedule has full, diff, incr, image, dockerSocket, fromStandby',
            'pg-replication:backup.schedule.full = "1w" is not allowed: expected an interval of whole minutes, hours or days, such as 30m, 6h or 7d (at most 365d)',
            'pg-replication:backup.schedule.diff = "90s" is not allowed: expected an interval of whole minutes, hours or days, such as 30m, 6h or 7d ' +
                "(at most 365d), or false for none",
            "pg-replication:backup.schedule.incr = 5 is not allowed: expected an interval of whole minutes, hours or days, such as 30m, 6h or 7d " +
                "(at most 365d), or false for none",
            'pg-replication:backup.schedule.dockerSocket = "docker.sock" is not allowed: expected the absolute path of the Docker engine\'s socket ' +
                "on the engine's host",
            'pg-replication:backup.schedule.fromStandby = "yes" is not allowed: expected true or false',
        ]);
        assert.deepEqual(check("daily").problems, ['pg-replication:backup.schedule = "daily" is not allowed: expected true, false or an object ' +
            "with any of full, diff, incr, image, dockerSocket, fromStandby"]);
        assert.deepEqual(check({ full: "366d" }, { maxVerifiedAgeHours: 8760 }).problems.length, 1);
        // Full backups cannot be turned off inside a schedule (that would be a full backup and a proof at every poll).
        for (const full of [false, "false"]) {
            assert.deepEqual(check({ full }).problems, [`pg-replication:backup.schedule.full = ${JSON.stringify(full)} is not allowed: expected an ` +
                "interval of whole minutes, hours or days, such as 30m, 6h or 7d (at most 365d)"]);
        }
    });

    test("full shorter than the proof's age bound, diff and incr shorter than full, incr shorter than diff", () => {
        assert.deepEqual(check({ full: "2d" }).problems, ['pg-replication:backup.schedule.full = "2d" is not allowed: expected an interval ' +
            "shorter than backup.maxVerifiedAgeHours (26h): a restore is proven after every full backup, and the proof must not age past " +
            "that bound between two"]);
        assert.deepEqual(check({ full: "2d" }, { maxVerifiedAgeHours: 49 }).problems, []);
        assert.deepEqual(check({ full: "6h", diff: "6h", incr: "7h" }).problems, [
            'pg-replication:backup.schedule.diff = "6h" is not allowed: expected an interval shorter than backup.schedule.full (6h)',
            'pg-replication:backup.schedule.incr = "7h" is not allowed: expected an interval shorter than backup.schedule.full (6h)',
            'pg-replication:backup.schedule.incr = "7h" is not allowed: expected an interval shorter than backup.schedule.diff (6h)',
        ]);
    });
});

describe("the scheduler as the program declares it", () => {
    let on: Run;
    let off: Run;
    let weekly: Run;
    let primaryOnly: Run;
    let s3: Run;
    before(async () => {
        off = await runProgram({ ...DEV, backup: {} });
        on = await runProgram({ ...DEV, backup: { schedule: true } });
        primaryOnly = await runProgram({ ...DEV, backup: { schedule: { fromStandby: false } } });
        s3 = await runProgram({ ...DEV, backupS3AccessKey: "AKIA1", backupS3SecretKey: "s3cret",
            backup: { schedule: true, s3: { endpoint: "s3.example.test", bucket: "backups", region: "eu-west-1" } } });
        weekly = await runProgram({ ...DEV, backup: { maxVerifiedAgeHours: 200, schedule: { full: "7d", diff: "1d" } } });
    });

    test("without backup.schedule: no scheduler, no schedule in the outputs", () => {
        assert.deepEqual(off.resources.filter((r) => /scheduler/.test(r.name)), []);
        assert.equal(off.outputs.backup?.schedule, undefined);
    });

    test("one container of the scheduler image: the engine's socket and the repository, no network, no port, restarted unless stopped", () => {
        const c = on.get("docker:index/container:Container", "cluster-backup-scheduler");
        const inputs = plain(c.inputs) as Record<string, any>;
        assert.equal(inputs.name, "pg-replication-dev-backup-scheduler");
        assert.equal(inputs.image, "pg-replication/postgres-scheduler:13");
        assert.equal(inputs.networkMode, "none");
        assert.deepEqual(inputs.volumes, [{ hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" },
            { volumeName: "pg-replication-dev-backup", containerPath: "/var/lib/pgbackrest" }], "the repository, for its backups from a standby");
        assert.equal(inputs.ports, undefined);
        assert.equal(inputs.networksAdvanced, undefined);
        assert.equal(inputs.restart, "unless-stopped");
        assert.ok(inputs.labels.some((l: any) => l.label === "pg-replication.role" && l.value === "backup-scheduler"));
        assert.equal(c.opts.deleteBeforeReplace, true, "its name is fixed");
        assert.deepEqual(c.dependsOn, ["cluster-backup-final"], "after up's first full backup; on destroy, gone before the final backup");
    });

    test("fromStandby false: backups from the primary only, so neither the repository nor a network; with S3 the default bridge to reach it", () => {
        const inputs = (r: Run) => plain(r.get("docker:index/container:Container", "cluster-backup-scheduler").inputs) as Record<string, any>;
        assert.deepEqual(inputs(primaryOnly).volumes, [{ hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" }]);
        assert.equal(inputs(primaryOnly).networkMode, "none");
        assert.ok(!inputs(primaryOnly).envs.includes("FROM_STANDBY=1"));
        assert.equal(inputs(s3).networkMode, "bridge", "pgBackRest in the scheduler writes the standby's backup to the bucket");
        assert.ok(!JSON.stringify(inputs(s3).envs).includes("s3cret"), "the credentials stay in the settings file");
    });

    test("its environment: how to find the stack's nodes, the repository, the intervals; nothing secret", () => {
        const env = Object.fromEntries((plain(on.get("docker:index/container:Container", "cluster-backup-scheduler").inputs) as any).envs
            .map((e: string) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
        assert.deepEqual(env, {
            STACK_LABELS: "pg-replication.project=pg-replication pg-replication.stack=dev",
            STANZA: "pg-replication-dev", VOLUME: "pg-replication-dev-backup", IMAGE: "pg-replication/postgres-backup:13",
            REPO_PATH: "/var/lib/pgbackrest", VERIFIED_FILE: "/var/lib/pgbackrest/pg-replication-verified.json",
            VERIFY_FAILED_FILE: "/var/lib/pgbackrest/pg-replication-verify-failed.json",
            FULL_SECONDS: "86400", DIFF_SECONDS: "0", INCR_SECONDS: "3600", POLL_SECONDS: "30", VERIFY_TIMEOUT: "1800",
            FROM_STANDBY: "1",
        });
        const weeklyEnv = (plain(weekly.get("docker:index/container:Container", "cluster-backup-scheduler").inputs) as any).envs as string[];
        assert.ok(weeklyEnv.includes("FULL_SECONDS=604800") && weeklyEnv.includes("DIFF_SECONDS=86400") && weeklyEnv.includes("INCR_SECONDS=3600"));
    });

    test("its command: the schedule with the backup tools' functions and the restore fragment, as the tools run them", () => {
        const [sh, c, text] = (plain(on.get("docker:index/container:Container", "cluster-backup-scheduler").inputs) as any).command as string[];
        assert.deepEqual([sh, c], ["sh", "-c"]);
        assert.equal(text, scriptOf(fragment("backup-schedule.sh")));
        for (const piece of ["find_primary() {", "backup_take() {", "backup_verify() {", "BACKUP_RESTORE_SH=$(cat <<'FRAGMENT'", "plan() {"]) {
            assert.ok(text.includes(piece), piece);
        }
    });

    test("outputs.backup.schedule: the intervals and the container", async () => {
        const { containerName, ...intervals } = on.outputs.backup!.schedule!;
        assert.deepEqual(intervals, { fullSeconds: 86400, diffSeconds: 0, incrSeconds: 3600 });
        assert.equal(await outputValue(containerName), "pg-replication-dev-backup-scheduler");
    });
});

describe("preview's word on the proof (pgbackrest.ts verifiedNote) and the outputs' (proofOutput)", () => {
    /** readProof of container c1 with the fake docker answering by RULES. */
    const readWith = async (rules: ConstructorParameters<typeof FakeDocker>[0]) => {
        const fake = new FakeDocker(rules);
        const path = process.env.PATH;
        process.env.PATH = fake.env.PATH;
        try {
            return await readProof("unix:///fake.sock", ["c1"]);
        } finally {
            process.env.PATH = path;
            fake.cleanup();
        }
    };
    // (No note of which repository unless given: a volume's records before any move.)
    const read = (files: Record<string, string | undefined>) => readWith(Object.entries({ [REPOSITORY_FILE]: undefined, ...files }).map(([file, text]) => text === undefined
        ? { when: `^exec c1 cat ${file.replace(/\./g, "\\.")}\n`, err: `cat: ${file}: No such file or directory\n`, code: 1 }
        : { when: `^exec c1 cat ${file.replace(/\./g, "\\.")}\n`, out: text }));
    const note = async (files: Record<string, string | undefined>) =>
        verifiedNote(await read(files), "dev", "v", 26, Date.parse("2026-12-04T12:00:00Z"));
    const proven = JSON.stringify({ verifiedAt: "2026-12-04T11:00:00Z", backup: "F1", marker: { found: true } });

    test("a proof and no failure since: when, of which backup", async () => {
        assert.deepEqual(await note({ [VERIFIED_FILE]: proven, [VERIFY_FAILED_FILE]: undefined }), { level: "info",
            text: "backup: a restore of F1 from v was proven 60m ago (2026-12-04T11:00:00Z); prove the newest: npm run verify-backup -- dev" });
    });

    test("the last attempt failed (the scheduler's or by hand): a warning with when, which backup, why, and the last proof", async () => {
        const failed = JSON.stringify({ failedAt: "2026-12-04T11:30:00Z", backup: "F2", error: "the restore lacks the marker" });
        assert.deepEqual(await note({ [VERIFIED_FILE]: proven, [VERIFY_FAILED_FILE]: failed }), { level: "warn",
            text: "backup: the last attempt to prove a restore from v FAILED (2026-12-04T11:30:00Z, backup F2): the restore lacks the marker; " +
                "the last proven one is of F1 (2026-12-04T11:00:00Z); see: npm run verify-backup -- dev" });
        assert.match((await note({ [VERIFIED_FILE]: undefined, [VERIFY_FAILED_FILE]: failed }))!.text, /; none was ever proven; /);
    });

    test("the backups move to another repository in this up (backup.s3 set or removed): the old one's proof is not said as this one's", async () => {
        assert.deepEqual(await note({ [VERIFIED_FILE]: proven, [VERIFY_FAILED_FILE]: undefined, [REPOSITORY_FILE]: "s3://b/p at s3.example\n" }), {
            level: "warn", text: "backup: the backups move from s3://b/p at s3.example to v in this up, which takes a full backup there; no " +
                "restore of it is proven yet (those proven of s3://b/p at s3.example do not count for it): prove one after the up: " +
                "npm run verify-backup -- dev" });
        assert.equal((await note({ [VERIFIED_FILE]: proven, [VERIFY_FAILED_FILE]: undefined, [REPOSITORY_FILE]: "v\n" }))!.level, "info",
            "the same repository: its proof");
    });

    test("the outputs: the last proof and a failure since, as read; nothing of another repository's records, nor before the nodes", async () => {
        const failed = { failedAt: "2026-12-04T11:30:00Z", backup: "F2", error: "the restore lacks the marker" };
        assert.deepEqual(proofOutput(await read({ [VERIFIED_FILE]: proven, [VERIFY_FAILED_FILE]: undefined, [REPOSITORY_FILE]: "v\n" }), "v"),
            { lastVerified: { backup: "F1", verifiedAt: "2026-12-04T11:00:00Z" } }, "the marker's detail stays in the record");
        assert.deepEqual(proofOutput(await read({ [VERIFIED_FILE]: undefined, [VERIFY_FAILED_FILE]: JSON.stringify(failed) }), "v"),
            { lastFailed: failed });
        assert.deepEqual(proofOutput(await read({ [VERIFIED_FILE]: proven, [VERIFY_FAILED_FILE]: undefined, [REPOSITORY_FILE]: "w\n" }), "v"), {},
            "the backups move from w to v: w's proof is not v's");
        assert.deepEqual(proofOutput(undefined, "v"), {}, "no node's container (a new cluster)");
        const garbled = proofOutput(await read({ [VERIFIED_FILE]: "{not json", [VERIFY_FAILED_FILE]: undefined }), "v");
        assert.deepEqual(Object.keys(garbled), ["unread"]);
        assert.match(garbled.unread!, /^the last verified restore's record cannot be read \(.*JSON.*\); prove one: npm run verify-backup$/);
        // A failure's record that is not JSON: a proof may have failed since the last success, which must not look fresh.
        const failedGarbled = await read({ [VERIFIED_FILE]: proven, [VERIFY_FAILED_FILE]: "{not json" });
        const out = proofOutput(failedGarbled, "v");
        assert.deepEqual(out.lastVerified, { backup: "F1", verifiedAt: "2026-12-04T11:00:00Z" });
        assert.match(out.unread!, /^the last failed proof's record cannot be read \(.*JSON.*\)$/);
        const note = verifiedNote(failedGarbled, "dev", "v", 26)!;
        assert.equal(note.level, "warn");
        assert.match(note.text, /^backup: the last failed proof's record cannot be read \(.*JSON.*\) in v: a proof may have failed since/);
        const both = proofOutput(await read({ [VERIFIED_FILE]: "{x", [VERIFY_FAILED_FILE]: "{y" }), "v");
        assert.match(both.unread!, /^the last verified restore's record cannot be read .*; the last failed proof's record cannot be read /);
    });

    test("the outputs when the nodes' containers do not answer: unread, never the empty answer of a new cluster", async () => {
        const ask = (err: string) => readWith([{ when: "^exec c1 cat ", err, code: 1 }]);
        const stopped = await ask("Error response from daemon: container c1 is not running\n");
        assert.deepEqual(proofOutput(stopped, "v"), { unread: "the records could not be read when the up began " +
            "(c1: Error response from daemon: container c1 is not running); npm run status reads them now" });
        assert.equal(verifiedNote(stopped, "dev", "v", 26), undefined, "the preview's note leaves it to the topology check");
        assert.equal(await ask("Error: No such container: c1\n"), undefined, "no container: a new cluster");
    });

    test("a container that answers the proof's read but not the failure's, or the repository note's, is passed over: nothing lost to a failed read", async () => {
        const failedRead = [{ when: `^exec c1 cat ${VERIFIED_FILE}\n`, out: proven },
            { when: `^exec c1 cat ${VERIFY_FAILED_FILE}\n`, err: "Error response from daemon: container c1 is restarting\n", code: 1 }];
        const proof = await readWith(failedRead);
        assert.deepEqual(proof, { unread: "c1: Error response from daemon: container c1 is restarting" });
        assert.equal(verifiedNote(proof, "dev", "v", 26), undefined, "no 'proven 60m ago' that would hide a failure since");
        const notedUnread = await readWith([{ when: `^exec c1 cat ${VERIFIED_FILE}\n`, out: proven },
            { when: `^exec c1 cat ${VERIFY_FAILED_FILE}\n`, err: `cat: ${VERIFY_FAILED_FILE}: No such file or directory\n`, code: 1 },
            { when: `^exec c1 cat ${REPOSITORY_FILE}\n`, err: "Error response from daemon: container c1 is restarting\n", code: 1 }]);
        assert.deepEqual(notedUnread, { unread: "c1: Error response from daemon: container c1 is restarting" },
            "nor the old repository's proof said as the new one's because the note of which repository could not be read");
    });
});

describe("backup-tools.sh backup_verify: a proof is recorded or it failed", () => {
    const restored = ["backup=20261206-010000F", "restore_ms=1000", "recovery_ms=500", "marker=1", "lsn=0/5000000", "timeline=1",
        "tables=3", "rows=10", "indexes=2"].join("\n") + "\n";
    /** backup_verify as the scheduler calls it (in an `if`, where `set -e` does not act), the record's write answered by WRITE. */
    const verify = (write: { code?: number; err?: string }) => {
        const fake = new FakeDocker([
            { when: "^exec -i -u postgres p-pg1 psql[^]*INSERT INTO pgreplication\\.restore_marker", out: "2026-12-06T01:00:00+00:00\n" },
            { when: "^exec -u postgres p-pg1 timeout 120 pgbackrest --log-level-console=warn check\n", out: "" },
            { when: "^run --rm --name p-verify ", out: restored },
            { when: "^rm -f -v p-verify", out: "" },
            { when: "^exec -i -u postgres p-pg1 sh -c cat > \"\\$0\\.new\" && mv \"\\$0\\.new\" \"\\$0\" && rm -f \"\\$1\" ", ...write },
        ]);
        try {
            const r = spawnSync("/bin/sh", ["-c", scriptOf('if out=$(backup_verify p-verify 5); then echo "ok"; else echo "failed"; fi; printf "%s\\n" "$out"')], {
                encoding: "utf8", timeout: 30_000, env: { ...fake.env, PRIMARY_CONTAINER: "p-pg1", STANZA: "p", VOLUME: "p-backup",
                    IMAGE: "pg-replication/postgres-backup:17", REPO_PATH: "/var/lib/pgbackrest", VERIFIED_FILE, VERIFY_FAILED_FILE } });
            return { ...r, written: fake.calls().filter((c) => c.argv.startsWith("exec -i -u postgres p-pg1 sh -c cat")) };
        } finally {
            fake.cleanup();
        }
    };

    test("the record written: the proof succeeds, with its record as JSON", () => {
        const r = verify({});
        assert.equal(r.stdout.split("\n")[0], "ok", r.stderr);
        assert.equal(r.written.length, 1);
        assert.equal(JSON.parse(r.written[0].stdin).backup, "20261206-010000F");
    });

    test("the record not written: the proof fails, saying the restore was proven but not recorded", () => {
        const r = verify({ code: 1, err: "Error response from daemon: container p-pg1 is not running\n" });
        assert.equal(r.stdout.split("\n")[0], "failed", r.stdout);
        assert.match(r.stdout, /^error=the restore of 20261206-010000F was proven, but its record could not be written to the repository \(\/var\/lib\/pgbackrest\/pg-replication-verified\.json\)$/m);
    });
});

describe("backup-tools.sh backup_verify with the nodes on several engines (PEERS, backup.s3)", () => {
    const H1 = "unix:///run/h1/docker.sock";
    const H2 = "unix:///run/h2/docker.sock";
    const restored = ["backup=20261206-010000F", "restore_ms=1000", "recovery_ms=500", "marker=1", "lsn=0/5000000", "timeline=2",
        "tables=3", "rows=10", "indexes=2"].join("\n") + "\n";

    test("the marker on the primary's own engine; the restore and the record on the records' engine (the command's), the record through a throwaway on the settings volume", () => {
        const fake = new FakeDocker([
            { host: H2, when: "^exec -i -u postgres p-pg2 psql[^]*INSERT INTO pgreplication\\.restore_marker", out: "2026-12-06T01:00:00+00:00\n" },
            { host: H2, when: "^exec -u postgres p-pg2 timeout 120 pgbackrest --log-level-console=warn check\n", out: "" },
            { host: H1, when: "^run --rm --name p-verify ", out: restored },
            { host: H1, when: "^rm -f -v p-verify", out: "" },
            { host: H1, when: "^run --rm -i --network none -u postgres --label pg-replication.role=backup-records -v p-backup:/var/lib/pgbackrest " +
                "--entrypoint /bin/sh pg-replication/postgres-backup:13 -c cat > \"\\$0\\.new\" && mv \"\\$0\\.new\" \"\\$0\" && rm -f \"\\$1\" ", out: "" },
        ]);
        try {
            const r = spawnSync("/bin/sh", ["-c", scriptOf('if out=$(backup_verify p-verify 5); then echo "ok"; else echo "failed"; fi; printf "%s\\n" "$out"')], {
                encoding: "utf8", timeout: 30_000, env: { ...fake.env, DOCKER_HOST: H1, PRIMARY_CONTAINER: "p-pg2", STANZA: "p", VOLUME: "p-backup",
                    IMAGE: "pg-replication/postgres-backup:13", REPO_PATH: "/var/lib/pgbackrest", VERIFIED_FILE, VERIFY_FAILED_FILE, REPO_NETWORK: "bridge",
                    PEERS: `pg1|p-pg1|${H1}|172.28.0.101|10.0.0.11|5432 pg2|p-pg2|${H2}|172.28.0.102|10.0.0.12|5432` } });
            assert.equal(r.stdout.split("\n")[0], "ok", r.stderr + r.stdout);
            const written = fake.calls().filter((c) => /role=backup-records/.test(c.argv));
            assert.equal(written.length, 1);
            assert.equal(written[0].host, H1);
            assert.equal(JSON.parse(written[0].stdin).timeline, 2);
            assert.ok(!fake.calls().some((c) => c.host === H2 && /sh -c cat/.test(c.argv)), "nothing recorded in the primary's own engine's volume");
        } finally {
            fake.cleanup();
        }
    });
});

describe("npm run restore-point with the nodes on several engines (backup/core.ts createRestorePoint)", () => {
    const H1 = "unix:///run/h1/docker.sock";
    const H2 = "unix:///run/h2/docker.sock";
    test("the point made on the primary through its own engine, recorded in the records' volume on the first node's engine", async () => {
        const fake = new FakeDocker([
            { host: H1, when: "^exec -u postgres p-pg1 psql -X -A -t -c SELECT pg_is_in_recovery\\(\\)", out: "t\n" },
            { host: H2, when: "^exec -u postgres p-pg2 psql -X -A -t -c SELECT pg_is_in_recovery\\(\\)", out: "f\n" },
            { host: H1, when: "^run --rm -i --network none -u postgres --label pg-replication.role=backup-records -v p-backup:/var/lib/pgbackrest " +
                "--entrypoint /bin/sh pg-replication/postgres-backup:13 -c cat \"\\$0\"", err: "cat: x: No such file or directory\n", code: 1 },
            { host: H2, when: "^exec -i -u postgres p-pg2 psql [^]*pg_create_restore_point\\('before-migration'\\)", out: "0/5000060\t2\t2026-12-06T10:00:00+00:00\n" },
            { host: H2, when: "^exec -u postgres p-pg2 pgbackrest check", out: "" },
            { host: H1, when: "^run --rm -i --network none -u postgres --label pg-replication.role=backup-records -v p-backup:/var/lib/pgbackrest " +
                "--entrypoint /bin/sh pg-replication/postgres-backup:13 -c cat >> \"\\$0\"", out: "" },
        ]);
        const saved = process.env.PATH;
        process.env.PATH = fake.env.PATH;
        try {
            const t = targetFromOutputs("hosts", { engine: { host: "unix:///var/run/docker.sock" },
                nodes: { pg1: { name: "pg1", containerName: "p-pg1", engine: H1, address: "172.28.0.101", host: "10.0.0.11", port: 5432 },
                    pg2: { name: "pg2", containerName: "p-pg2", engine: H2, address: "172.28.0.102", host: "10.0.0.12", port: 5432 } },
                backup: { volume: "p-backup", stanza: "p", image: "pg-replication/postgres-backup:13", engine: H1,
                    s3: { endpoint: "s3.test", bucket: "b", path: "/x" } } });
            const point = await createRestorePoint(t, "before-migration");
            assert.deepEqual([point.primary, point.lsn, point.timeline], ["p-pg2", "0/5000060", 2]);
            const appended = fake.calls().filter((c) => /cat >> /.test(c.argv));
            assert.equal(appended.length, 1);
            assert.equal(appended[0].host, H1);
            assert.equal(appended[0].stdin, "before-migration\t0/5000060\t2\t2026-12-06T10:00:00+00:00\tp\n");
        } finally {
            process.env.PATH = saved;
            fake.cleanup();
        }
    });
});

describe("backup-restore.sh: every database of the restored copy read, by its whole name", () => {
    // Its loop over the databases, run by bash as backup_verify runs it (tests/support/database-loop.ts).
    const run = (failIn = "") => {
        const r = runDatabaseLoop({ shell: "bash", file: "backup-restore.sh", start: "tables=0 rows=0 indexes=0",
            end: 'pg_ctl -D "$PGDATA" -m fast -w stop', env: { FAIL_IN: failIn }, cases: `
        *"CREATE EXTENSION"*) [ "$2" != "dbname='$FAIL_IN'" ] || { echo "ERROR:  permission denied" >&2; return 3; } ;;
        *) cat > /dev/null; echo "1 10 2" ;;` });
        const ext = r.calls.filter((c) => c[3] === "CREATE EXTENSION IF NOT EXISTS amcheck");
        const counted = r.calls.filter((c) => c[2] === "-F");
        return { ...r, checked: ext.map((c) => libpqDatabase(c[1])), counted: counted.map((c) => libpqDatabase(c[1])) };
    };

    test("a name with a blank is one database, one named * is not a glob, one libpq would take for a connection string is that database: each counted once", () => {
        const r = run();
        assert.equal(r.status, 0, r.stderr);
        // Each call's -d as libpq reads it: a name passed bare that holds "=" or starts with postgresql:// would throw here.
        assert.deepEqual(r.checked, DATABASES);
        assert.deepEqual(r.counted, DATABASES);
        const n = DATABASES.length;
        assert.equal(r.stdout, `tables=${n}\nrows=${n * 10}\nindexes=${n * 2}\n`);
    });

    test("a database that cannot be checked fails the proof: no counts printed", () => {
        const r = run("my app");
        assert.equal(r.status, 3);
        assert.deepEqual(r.checked, ["app", "my app"]);
        assert.equal(r.stdout, "");
    });
});

describe("backup-schedule.sh: a tick reads the repository, or says it cannot", () => {
    // The scheduler's functions (the script up to its loop) and one tick, against the fake docker: one
    // node that answers as primary, whose `pgbackrest --output=json info` is INFO. jq runs here, as in
    // the scheduler image.
    const text = fragment("backup-schedule.sh");
    const functions = text.slice(0, text.indexOf("# A restore the previous scheduler container started"));
    const hasJq = spawnSync("jq", ["--version"]).status === 0;
    const NO_JQ = "NOT RUN: jq is not on this machine (the scheduler image has it, and tests/images checks the same reading there)";
    if (!hasJq) {
        console.error(`!!!!!!!!!!!!!!!!!!!! ${NO_JQ} !!!!!!!!!!!!!!!!!!!!`);
    }
    const tick = (info: { out?: string; code?: number; err?: string }) => {
        const fake = new FakeDocker([
            { when: "^ps ", out: "p-pg1:pg1:10.0.0.1\n" },
            { when: "^exec -i -u postgres p-pg1 psql [^\\n]*\nSELECT pg_is_in_recovery\\(\\)", out: "f\n" },
            { when: "^exec -u postgres p-pg1 pgbackrest --output=json info\n", ...info },
            { when: "^exec p-pg1 cat ", err: `cat: ${VERIFIED_FILE}: No such file or directory\n`, code: 1 },
        ]);
        try {
            const r = spawnSync("/bin/sh", ["-c", scriptOf(`${functions}\ntick`)], {
                encoding: "utf8", timeout: 30_000, env: { ...fake.env, STACK_LABELS: "pg-replication.stack=p", STANZA: "p",
                    REPO_PATH: "/var/lib/pgbackrest", VERIFIED_FILE, VERIFY_FAILED_FILE, FULL_SECONDS: "86400", DIFF_SECONDS: "0",
                    INCR_SECONDS: "3600", POLL_SECONDS: "30", VERIFY_TIMEOUT: "60" } });
            return { ...r, calls: fake.calls().map((c) => c.argv) };
        } finally {
            fake.cleanup();
        }
    };
    // As pgBackRest 2.55 answers for one repository (command/info/info.c): the stanza's status, and the repository's.
    const stanza = (code: number, message: string, repoMessage = message, db = [{ id: 1, "system-id": 1, version: "17" }]) =>
        JSON.stringify([{ archive: [], backup: [], cipher: "none", db, name: "p", repo: [{ cipher: "none", key: 1, status: { code, message: repoMessage } }],
            status: { code, lock: { backup: { held: false } }, message } }]);

    test("a repository with no backup yet (no valid backups): none of this major, up takes the first", { skip: !hasJq && NO_JQ }, () => {
        const r = tick({ out: stanza(2, "no valid backups") });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /the repository has no full backup of this cluster's major: the next up takes it$/m);
        assert.doesNotMatch(r.stderr, /cannot be read/);
    });

    test("a repository pgBackRest could not read (it exits 0 and says so in the status): said with its words, never taken for no backups",
        { skip: !hasJq && NO_JQ }, () => {
            const s3 = "[HostConnectError] unable to get address for 's3.example.test': [-2] Name or service not known\n" +
                "[HostConnectError] on 2 retries from 100-200ms";
            const down = tick({ out: stanza(99, "other", s3, []) });
            assert.equal(down.status, 0, down.stderr);
            assert.match(down.stderr, /error: the repository cannot be read on p-pg1 \(pgbackrest info: \[HostConnectError\] unable to get address for 's3\.example\.test': \[-2\] Name or service not known\)$/m);
            assert.doesNotMatch(down.stderr, /no full backup/);
            assert.ok(!down.calls.some((c) => / cat | backup$/.test(c)), down.calls.join("\n"));
            for (const [code, message] of [[1, "missing stanza path"], [3, "missing stanza data"]] as const) {
                const r = tick({ out: stanza(code, message, message, []) });
                assert.match(r.stderr, new RegExp(`error: the repository cannot be read on p-pg1 \\(pgbackrest info: ${message}\\)$`, "m"));
                assert.doesNotMatch(r.stderr, /no full backup/);
            }
            const failed = tick({ code: 1, err: "Error response from daemon: container p-pg1 is not running\n" });
            assert.match(failed.stderr, /error: the repository cannot be read on p-pg1 \(pgbackrest info\)$/m);
        });
});
