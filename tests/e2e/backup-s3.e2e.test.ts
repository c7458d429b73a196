// Backups to an S3-compatible repository on another host (README "Backups", backup.s3), on
// PostgreSQL 17 (pgBackRest 2.55) and 13 (2.33): the S3 server (Versity Gateway, tests/support/s3.ts) runs on a test host of its
// own (a network namespace with its own dockerd, tests/support/hosts.ts), over TLS with a CA made
// for it; the cluster runs on this machine's engine and reaches it as it would a server elsewhere.
// - wrong credentials: preview refuses, naming the repository and pgBackRest's error; nothing made;
// - the right ones: up archives and takes the first full backup into the bucket; the credentials
//   are in the settings file (postgres's only) and nowhere plain in the stack's state;
//   verify-backup proves a restore from the bucket;
// - the S3 server down: status says the repository cannot be read and an up warns, naming it,
//   while writes go on and their segments wait in pg_wal; up again: archiving catches up by
//   itself, and a restore proven from the bucket replays across the outage to a marker written after it;
// - rows 1 and 2, a time (17) or an LSN (13) noted, row 3: a new stack restored from the bucket to it
//   has exactly rows 1 and 2, on a new timeline;
// - (17) the repository moved on the running stack, to the volume and back: each time the old
//   one's proof set aside, a full backup of its own and the archive there, a restore proven again;
// - destroy takes its final backup into the bucket and keeps the settings volume.
// 17: host set "bs3" (10.231.16.11), subnet 172.28.78.0/24, port 58870 (the restored stack: 172.28.79.0/24,
// 58875); 13: "bs13" (10.231.17.11), 172.28.81.0/24, 58890 (172.28.82.0/24, 58895); the S3 server on the host's :9443.
// The two majors run side by side (harness.ts sideBySide: much of each is waiting on the archive and the outage).

import * as assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createHostSet, HostSet } from "../support/hosts";
import { ensureS3Image, S3_IMAGE, S3Server, startS3Server } from "../support/s3";
import { backupTool, docker, E2EStack, e2eStack, eventually, filesUnder, leftovers, log, oneEnginePlan, provenAcrossWindow, rows, sideBySide, status, writeSwitched } from "./harness";

const PORT = 9443;

sideBySide([{ major: 17 as const, set: "bs3", subnet: 16, net: 78, port: 58870 }, { major: 13 as const, set: "bs13", subnet: 17, net: 81, port: 58890 }],
    ({ major }) => `backups to an S3 repository on another host (PostgreSQL ${major})`, { timeout: 20 * 60 * 1000 },
    ({ major, set, subnet, net, port }) => {
        const NAME = `e2e-backup-s3-${major}`;
        const STANZA = `pg-replication-${NAME}`;
        const VOLUME = `${STANZA}-backup`;
        const RESTORED = `${NAME}-restored`;
        const IMAGE = `pg-replication/postgres-backup:${major}`;
        let hosts: HostSet | undefined;
        let s3: S3Server;
        let s: E2EStack | undefined;
        let restored: E2EStack | undefined;
        let url = "";
        let written = 0;
        let plan: Record<string, unknown>;

        before(async () => {
            ensureS3Image(log);
            hosts = await createHostSet({ set, subnet, count: 1, images: [S3_IMAGE] });
            const h = hosts.hosts[0];
            s3 = startS3Server({ docker: (...a) => h.docker(...a), name: `pg-replication-e2e-s3-${major}`, address: h.address, port: PORT,
                bucket: "pg-backups", log });
            plan = oneEnginePlan(major, net, port, 2, {
                // The shortest stall bound the key takes, so the outage test sees archive-stalled within a minute, not two.
                archiveStallSeconds: "30",
                backup: { s3: { endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, host: s3.address, port: s3.port, caCert: s3.caCert } },
                backupS3AccessKey: s3.accessKey,
            });
        });

        after(async () => {
            try {
                hosts?.hosts.forEach((h) => { try { h.restore(); } catch { /* never lost */ } });
                await restored?.destroyAndRemove();
                await s?.destroyAndRemove();
                assert.deepEqual(leftovers(NAME).map((o) => o.split(" ")[0]), ["volume"], "the settings volume is kept");
            } finally {
                try { docker("volume", "rm", "-f", VOLUME); } catch { /* none */ }
                try { s3?.remove(); } catch { /* gone with the host */ }
                await hosts?.teardown();
            }
        });

        const write = async (n: number) => { written = await writeSwitched(url, (id) => `INSERT INTO s3rows (id) VALUES (${id})`, written, n); };
        const report = async () => JSON.parse((await status(s!.backend, NAME, "--json")).stdout);

        test("wrong credentials: preview refuses, naming the repository and pgBackRest's error; nothing is made", async () => {
            try { docker("volume", "rm", "-f", VOLUME); } catch { /* none */ }
            s = await e2eStack(NAME, { ...plan, backupS3SecretKey: "not-the-secret" });
            await assert.rejects(s.preview(), (err: Error) => {
                assert.match(err.message, new RegExp(`backup is refused, nothing was made: the S3 repository s3://${s3.bucket}/pg-replication at ` +
                    `${s3.endpoint.replace(/\./g, "\\.")}:${PORT} \\(${s3.address.replace(/\./g, "\\.")}\\) cannot be used \\(backup\\.s3, ` +
                    "backupS3AccessKey, backupS3SecretKey\\): pgbackrest in \\S+ on \\S+ could not use it: ERROR: \\[\\d+\\]: .*403"));
                assert.doesNotMatch(err.message, /not-the-secret/, "the secret is never said");
                return true;
            });
            assert.deepEqual(leftovers(NAME), [], "nothing made");
        });

        test("the right credentials: up archives and takes the first full backup into the bucket; the secret nowhere plain in state", async () => {
            await s!.setConfig({ backupS3SecretKey: s3.secretKey });
            await s!.up();
            url = (await s!.outputs()).nodes.pg1.connectionString;
            await rows(url, "CREATE TABLE s3rows (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())");
            await write(3);
            const keys = s3.keys(`pg-replication/backup/${STANZA}/`);
            assert.ok(keys.some((k) => /\/\d{8}-\d{6}F\/backup\.manifest$/.test(k)), `a full backup in the bucket: ${keys.slice(0, 5).join(", ")}`);
            assert.ok(s3.keys(`pg-replication/archive/${STANZA}/${major}-1/`).length > 0, "WAL archived into the bucket");
            // The settings file: postgres's only, with the credentials in it; none of it on this engine's volume as backups.
            const mode = docker("run", "--rm", "-v", `${VOLUME}:/r:ro`, "--entrypoint", "sh", IMAGE, "-c",
                "stat -c %a /r/pgbackrest.conf; grep -c '^repo1-s3-key-secret=' /r/pgbackrest.conf; ls /r");
            assert.match(mode, /^600\n1\n/, mode);
            assert.doesNotMatch(mode, /\barchive\b|\bbackup\b/, "no backups in the volume");
            assert.ok(!filesUnder(s!.backend).includes(s3.secretKey), "the secret key is nowhere plain in the stack's state");
            assert.ok(!filesUnder(s!.backend).includes(s3.accessKey), "nor the access key");
            const proved = await backupTool(s!.backend, NAME, "--verify");
            assert.equal(proved.code, 0, proved.stderr);
            assert.match(proved.stderr, /network bridge to reach the S3 repository, archiving off/);
            const r = await report();
            assert.equal(r.archive.failing, null, JSON.stringify(r.archive));
        });

        test("the S3 server down: status and an up say it, the segments wait; back: archiving catches up, a restore replays across the outage", async () => {
            // Stopped: its port refuses connections. pgBackRest retries each request within its io-timeout
            // (60 s), so an archive-push gives up only minutes later (seen: none had after 120 s); status says
            // at once that the repository cannot be read, that the archiver is stuck once a segment has waited
            // archiveStallSeconds (30 here), and the archiver's failure once an attempt ends.
            const h = hosts!.hosts[0];
            h.docker("stop", s3.container);
            try {
                log("S3 server stopped; writing");
                await write(3);
                // At once: pgBackRest cannot describe the repository, said naming the bucket. The archiver's own
                // failure comes once an archive-push gives up (its retries within io-timeout, per request: minutes).
                const unreadable = await eventually(60, report, (r) => r.warnings.some((w: { code: string }) => w.code === "backup-unreadable"));
                const warning = unreadable.warnings.find((w: { code: string }) => w.code === "backup-unreadable");
                log(`status: ${warning?.message}; archive: ${JSON.stringify(unreadable.archive)}`);
                assert.match(warning?.message ?? "", new RegExp(`^pgBackRest could not describe the backup repository s3://${s3.bucket}/pg-replication ` +
                    `at ${s3.endpoint.replace(/\./g, "\\.")}: `));
                assert.ok(unreadable.archive.ready > 0, "the segments wait in pg_wal");
                const up = await s!.up();
                const said = up.stdout.split("\n").find((l) => l.includes("backup: the S3 repository")) ?? "";
                log(`up: ${said.trim()}`);
                assert.match(said, new RegExp(`backup: the S3 repository s3://${s3.bucket}/pg-replication at .* cannot be used: .*ERROR: \\[\\d+\\]: .*; ` +
                    "WAL archiving and backups fail until it can"));
                // Past archiveStallSeconds (30 here) from the first segment left waiting, status says the archiver is
                // stuck: archive-stalled, as no attempt has ended yet (none does within minutes: io-timeout per request).
                assert.equal((await s!.outputs()).replication.archiveStallSeconds, 30, "the outputs carry the bound status uses");
                const stuck = await eventually(120, report, (r) => r.warnings.some((w: { code: string }) => /^archive-(stalled|failing)$/.test(w.code)));
                const word = stuck.warnings.find((w: { code: string }) => /^archive-(stalled|failing)$/.test(w.code));
                log(`status: ${word.code}: ${word.message}`);
                assert.equal(word.code, "archive-stalled");
                const waited = Number(/has waited (\d+)s/.exec(word.message)?.[1]);
                assert.ok(waited > 30 && waited < 120, `said after ${waited} s: past the stack's bound (30), before the default's (120)`);
                await write(3);
            } finally {
                h.docker("start", s3.container);
            }
            log("S3 server started again");
            await write(1);
            await provenAcrossWindow(s!, NAME, written, 240);
        });

        // 17 to a time (pgBackRest chooses the set), 13 to an LSN (restore.sh chooses it, reading the
        // sets' manifests in the bucket through pgBackRest: the settings volume holds none).
        test(`restored from the bucket to a noted ${major === 13 ? "LSN" : "time"} as a new stack: exactly the rows before it, on a new timeline`, async () => {
            await rows(url, "CREATE TABLE pitr (id int PRIMARY KEY); INSERT INTO pitr VALUES (1), (2)");
            await new Promise((r) => setTimeout(r, 1100));
            const [{ noted, lsn }] = await rows(url,
                "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS noted, pg_current_wal_lsn()::text AS lsn");
            const target = major === 13 ? { lsn } : { time: noted };
            await new Promise((r) => setTimeout(r, 1100));
            await rows(url, "INSERT INTO pitr VALUES (3)");
            const [{ wal }] = await rows(url, "SELECT pg_walfile_name(pg_switch_wal()) AS wal");
            await eventually(120, () => rows(url, "SELECT last_archived_wal FROM pg_stat_archiver"), (r) => (r[0].last_archived_wal ?? "") >= wal);
            restored = await e2eStack(RESTORED, oneEnginePlan(major, net + 1, port + 5, 1, { restore: { volume: VOLUME, stanza: STANZA, target } }));
            const up = await restored.up();
            assert.match(up.stdout, new RegExp(`restore planned: pg1 restored from volume ${VOLUME} \\(stanza ${STANZA}\\) from backup \\S+` +
                (major === 13 ? `.*recovered to LSN ${lsn.replace("/", "\\/")}` : "")));
            const primary = (await restored.outputs()).nodes.pg1.connectionString;
            assert.deepEqual((await rows(primary, "SELECT id FROM pitr ORDER BY id")).map((r) => r.id), [1, 2]);
            const [{ tli }] = await rows(primary, "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS tli");
            assert.ok(tli > 1, `a new timeline: ${tli}`);
            await restored.destroyAndRemove();
            restored = undefined;
            assert.deepEqual(leftovers(RESTORED), []);
        });

        if (major === 17) {
            test("the repository moved on a running stack, from the bucket to the volume and back: each time a full backup of its own, the archive there, the old one's proof set aside", async () => {
                const manifests = () => s3.keys(`pg-replication/backup/${STANZA}/`).filter((k) => k.endsWith("/backup.manifest")).length;
                const inBucket = manifests();
                /** A row written, its segment switched (never an empty one: that switches nothing) and archived; its name. */
                const lastSegment = async () => {
                    await rows(url, "INSERT INTO s3rows (id) SELECT coalesce(max(id), 0) + 1 FROM s3rows");
                    written++;
                    const [{ wal }] = await rows(url, "SELECT pg_walfile_name(pg_switch_wal()) AS wal");
                    const [archiver] = await eventually(90, () => rows(url, "SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver"),
                        (r) => (r[0].last_archived_wal ?? "") >= wal);
                    assert.ok((archiver.last_archived_wal ?? "") >= wal, `${wal} archived: ${JSON.stringify(archiver)}`);
                    return wal as string;
                };
                const bucketName = new RegExp(`s3://${s3.bucket}/pg-replication at ${s3.endpoint.replace(/\./g, "\\.")}`).source;

                // backup.s3 removed: the same volume, now the repository itself.
                await s!.setConfig({ backup: {}, backupS3AccessKey: undefined, backupS3SecretKey: undefined });
                const toVolume = await s!.up();
                log(toVolume.stdout.split("\n").filter((l) => /backup: /.test(l)).join("\n"));
                assert.match(toVolume.stdout, new RegExp(`backup: first full backup of ${STANZA} since the backups moved from ${bucketName} to ${VOLUME}, taken in \\d+s`));
                assert.match(toVolume.stdout, new RegExp(`backup: the backups moved from ${bucketName} to ${VOLUME}: the records of the backups before that are set aside ` +
                    "\\(pg-replication-verified\\.json"));
                assert.match(toVolume.stdout, new RegExp(`backup: the backups move from ${bucketName} to ${VOLUME} in this up, which takes a full backup there; ` +
                    "no restore of it is proven yet"), "preview does not say the bucket's proof as the volume's");
                await write(2);
                const wal = await lastSegment();
                const inVolume = docker("run", "--rm", "--network", "none", "-v", `${VOLUME}:/r:ro`, "--entrypoint", "sh", IMAGE, "-c",
                    `ls /r; ls /r/backup/${STANZA}; ls /r/archive/${STANZA}/${major}-1/*/`);
                assert.match(inVolume, /^pg-replication-verified\.json\.of-previous-repository$/m, "the bucket's proof set aside");
                assert.doesNotMatch(inVolume, /^pg-replication-verified\.json$/m, "never taken for the volume's");
                assert.match(inVolume, /^\d{8}-\d{6}F$/m, `a full backup in the volume: ${inVolume}`);
                assert.match(inVolume, new RegExp(`^${wal}-[0-9a-f]{40}`, "m"), "the newest segment archived into the volume");
                assert.equal(manifests(), inBucket, "nothing more in the bucket");
                const unproven = await report();
                assert.ok(unproven.warnings.some((w: { code: string }) => w.code === "backup-unverified"),
                    `status: no restore of the new repository proven yet: ${JSON.stringify(unproven.warnings)}`);
                await s!.preview(true);

                // And back: the bucket's older backups cannot replay past the WAL archived into the volume meanwhile.
                await s!.setConfig({ backup: plan.backup, backupS3AccessKey: plan.backupS3AccessKey, backupS3SecretKey: s3.secretKey });
                const toBucket = await s!.up();
                log(toBucket.stdout.split("\n").filter((l) => /backup: /.test(l)).join("\n"));
                assert.match(toBucket.stdout, new RegExp(`backup: first full backup of ${STANZA} since the backups moved from ${VOLUME} to ${bucketName}, taken in \\d+s`));
                assert.equal(manifests(), inBucket + 1, "a full backup of its own in the bucket");
                await write(2);
                const back = await lastSegment();
                const archived = s3.keys(`pg-replication/archive/${STANZA}/`);
                assert.ok(archived.some((k) => k.includes(`/${back}-`)), `${back} in the bucket: ${archived.slice(-6).join(", ")}`);
                await provenAcrossWindow(s!, NAME, written, 120);
                await s!.preview(true);
            });
        }

        test("destroy: the final backup goes into the bucket; the settings volume is kept", async () => {
            const before = s3.keys(`pg-replication/backup/${STANZA}/`).filter((k) => k.endsWith("/backup.manifest")).length;
            await s!.destroyAndRemove();
            s = undefined;
            const afterDestroy = s3.keys(`pg-replication/backup/${STANZA}/`).filter((k) => k.endsWith("/backup.manifest")).length;
            assert.equal(afterDestroy, before + 1, "one more backup: destroy's final one");
            assert.deepEqual(leftovers(NAME).map((o) => o.split(" ")[0]), ["volume"]);
        });
});
