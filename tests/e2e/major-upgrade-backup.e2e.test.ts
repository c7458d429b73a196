// A new major by config with backups on, on the real engine (README "A new major", "Backups"):
// two nodes on PostgreSQL 13 archiving to their repository; rows 1 and 2, the time noted. While the
// archive fails (the repository made unwritable) preview refuses the upgrade, naming it. Row 3 just
// before the upgrade, with no switch after it (the clean stop's own switch archives it), then
// `image: postgres:17`. The up upgrades the stanza before the new server starts and takes the first
// full backup of 17; the archive works on 17 at once; the backup scheduler (backup.schedule), made
// again on 17's image, proves a restore of that backup. Then restores as new stacks from the one
// repository: on 13 to the noted time (exactly rows 1 and 2), on 13 to the end of its archive (rows
// 1, 2 and 3), on 17 to the latest (rows 1 to 4); a 17 stack asked for the noted time is refused at
// preview, pointing at 13's backups.
// Subnets 172.28.72-74.0/24, ports 58850-58855.

import * as assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { lastVerified, targetFromOutputs } from "../../backup/core";
import { docker, E2EStack, e2eStack, eventually, leftovers, log, oneEnginePlan, rows } from "./harness";

const NAME = "e2e-majorbk";
const volume = `pg-replication-${NAME}-backup`;
const stanza = `pg-replication-${NAME}`;
const container = (node: string) => `pg-replication-${NAME}-${node}`;
const url = async (s: E2EStack, node: string) => (await s.outputs()).nodes[node].connectionString as string;
const ids = async (u: string) => (await rows(u, "SELECT id FROM pitr ORDER BY id")).map((r) => r.id);

describe("a new major with backups on: the repository follows, the old major's backups still restore", { timeout: 25 * 60 * 1000 }, () => {
    let s: E2EStack | undefined;
    let noted = "";
    after(async () => {
        try {
            await s?.destroyAndRemove();
        } finally {
            try { docker("volume", "rm", "-f", volume); } catch { /* none */ }
        }
        assert.deepEqual(leftovers(NAME), []);
    });

    test("13 with backups: rows 1 and 2, the time noted", async () => {
        // With the schedule on (its defaults: nothing comes due in this test), the scheduler proves each new full backup.
        s = await e2eStack(NAME, oneEnginePlan(13, 72, 58850, 2, { backup: { allowUnverifiedDestroy: true, schedule: true } }));
        await s.up();
        const primary = await url(s, "pg1");
        await rows(primary, "CREATE TABLE pitr (id int PRIMARY KEY, note text); INSERT INTO pitr VALUES (1, 'one'), (2, 'two')");
        // Rows 1 and 2 reach the archive on their own (archive_timeout, or the switch here); row 3 does not.
        const [{ wal }] = await rows(primary, "SELECT pg_walfile_name(pg_switch_wal()) AS wal");
        await eventually(60, () => rows(primary, "SELECT last_archived_wal FROM pg_stat_archiver"), (r) => (r[0].last_archived_wal ?? "") >= wal);
        await new Promise((r) => setTimeout(r, 1100));
        [{ noted }] = await rows(primary, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS noted");
        await new Promise((r) => setTimeout(r, 1100));
    });

    test("while the archive fails, preview refuses the upgrade, naming it; nothing stops; archiving catches up", async () => {
        const primary = await url(s!, "pg1");
        const archive = `/var/lib/pgbackrest/archive/${stanza}`;
        const failing = "SELECT coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false) AS failing FROM pg_stat_archiver";
        await rows(primary, "CREATE TABLE filler (i int); INSERT INTO filler VALUES (1)");
        docker("exec", "-u", "root", container("pg1"), "chmod", "-R", "a-w", archive);
        try {
            await rows(primary, "SELECT pg_switch_wal()");
            await eventually(30, () => rows(primary, failing), (r) => r[0].failing === true);
            await s!.setConfig({ image: "postgres:17" });
            await assert.rejects(s!.preview(), (err: Error) => {
                assert.match(err.message, /the image change is refused, nothing was changed/);
                assert.match(err.message, /pg1 cannot archive WAL: .*: the old major's WAL must all reach the backup repository before its data is upgraded/);
                return true;
            });
            assert.equal(docker("inspect", "-f", "{{.Config.Image}} {{.State.Running}}", container("pg1")).trim(), "pg-replication/postgres-backup:13 true");
        } finally {
            docker("exec", "-u", "root", container("pg1"), "chmod", "-R", "u+w", archive);
        }
        // A new segment wakes the archiver, which pushes every segment waiting.
        await rows(primary, "INSERT INTO filler VALUES (2); SELECT pg_switch_wal()");
        await eventually(60, () => rows(primary, failing), (r) => r[0].failing === false);
    });

    test("the upgrade: the stanza upgraded, a full backup of 17; archiving on 17 at once", async () => {
        // Row 3 last before the upgrade, with no switch after it: archived by the clean stop's own switch.
        await rows(await url(s!, "pg1"), "INSERT INTO pitr VALUES (3, 'three')");
        await s!.setConfig({ image: "postgres:17" });
        const up = await s!.up();
        log(up.stdout.split("\n").filter((l) => /upgrade|backup/.test(l)).join("\n"));
        assert.match(up.stdout, /PostgreSQL 13 to 17, an upgrade: .*every PostgreSQL 13 segment archived by the stop \(checked\) and the backup repository's stanza upgraded/);
        assert.match(up.stdout, new RegExp(`backup repository: the stanza ${stanza} upgraded to PostgreSQL 17 \\(pgbackrest stanza-upgrade\\)`));
        assert.match(up.stdout, /backup: first full backup of \S+ taken/);
        for (const n of ["pg1", "pg2"]) {
            assert.equal(docker("inspect", "-f", "{{.Config.Image}}", container(n)).trim(), "pg-replication/postgres-backup:17");
        }
        const outputs = await s!.outputs();
        const primary = outputs.nodes.pg1.connectionString as string;
        assert.deepEqual(await ids(primary), [1, 2, 3]);
        await rows(primary, "INSERT INTO pitr VALUES (4, 'four on 17')");
        // The repository: the 13 database prior, 17 current, a full backup of each; 17's WAL archives.
        const info = JSON.parse(docker("exec", "-u", "postgres", container("pg1"), "pgbackrest", "info", "--output=json"))[0];
        const version = Object.fromEntries(info.db.map((d: { id: number; version: string }) => [d.id, d.version]));
        assert.deepEqual(Object.values(version), ["13", "17"]);
        assert.deepEqual([...new Set(info.backup.filter((b: { type: string }) => b.type === "full")
            .map((b: { database: { id: number } }) => version[b.database.id]))], ["13", "17"]);
        const [{ wal }] = await rows(primary, "SELECT pg_walfile_name(pg_switch_wal()) AS wal");
        const archived = await eventually(60, () => rows(primary, "SELECT last_archived_wal, failed_count::int AS failed FROM pg_stat_archiver"),
            (r) => (r[0].last_archived_wal ?? "") >= wal);
        assert.equal(archived[0].failed, 0, "17 never failed to archive");
        // The scheduler made again on 17's image proves a restore of 17's first full backup.
        const full17 = info.backup.filter((b: { type: string; database: { id: number } }) => b.type === "full" && version[b.database.id] === "17")
            .pop().label as string;
        const proof = await eventually(120, () => lastVerified(targetFromOutputs(NAME, outputs), container("pg1")), (r) => r?.backup?.startsWith(full17) === true);
        assert.equal(proof!.marker.found, true);
        assert.equal(docker("inspect", "-f", "{{.Config.Image}} {{.State.Running}}", `pg-replication-${NAME}-backup-scheduler`).trim(),
            "pg-replication/postgres-scheduler:17 true");
        await s!.preview(true);
    });

    test("a 17 stack to the time before the upgrade is refused at preview, pointing at 13's backups", async () => {
        const early = await e2eStack(`${NAME}-r17`, oneEnginePlan(17, 73, 58852, 1, { restore: { volume, stanza, target: { time: noted } } }));
        try {
            await assert.rejects(early.preview(), (err: Error) => {
                assert.match(err.message, /the target \S+ \S+ is before the end of the first backup of PostgreSQL 17 \(\S+F\): the earliest recoverable time is \S+; backups of PostgreSQL 13 cover it: restore with an image of that major/);
                return true;
            });
        } finally {
            await early.removeOnly();
        }
    });

    test("restored on 13 to the noted time: rows 1 and 2; to the end of 13's archive: rows 1, 2 and 3; on 17 to the latest: 1 to 4", async () => {
        const r = await e2eStack(`${NAME}-r13`, oneEnginePlan(13, 74, 58853, 1, { restore: { volume, stanza, target: { time: noted } } }));
        try {
            const up = await r.up();
            log(up.stdout.split("\n").filter((l) => /restore planned|restored backup|recovered to/.test(l)).join("\n"));
            assert.deepEqual(await ids(await url(r, "pg1")), [1, 2]);
            await r.destroy();
            await r.setConfig({ restore: { volume, stanza } });
            const latest = await r.up();
            assert.match(latest.stdout, /recovered to the end of its PostgreSQL 13 archive \(where the cluster was upgraded to PostgreSQL 17\)/);
            assert.deepEqual(await ids(await url(r, "pg1")), [1, 2, 3]);
            await r.destroy();
            await r.setConfig({ image: "postgres:17" });
            await r.up();
            assert.deepEqual(await ids(await url(r, "pg1")), [1, 2, 3, 4]);
        } finally {
            await r.destroyAndRemove();
        }
        assert.deepEqual(leftovers(`${NAME}-r13`), []);
    });
});
