// A new stack restored from another stack's repository (pg-replication:restore), on PostgreSQL 13
// and 17, the way CloudNativePG's PITR test does it: rows 1 and 2, the time noted, row 3, the WAL
// archived; a new stack restored to the noted time has exactly rows 1 and 2, on a new timeline, its
// standby streaming and the replication role its own; the restore key removed afterwards changes no
// container and loses nothing. A target before the first backup is refused
// at preview, naming the earliest recoverable time. The source's destroy is refused while no
// restore of its backups is proven (backup.allowUnverifiedDestroy lets it go on); then it is
// destroyed (its final backup taken) and the restored one made again to `latest`: rows 1, 2 and 3.
// The point after row 2 is also taken as a target of the other kinds: on 17 a restore point made
// with npm run restore-point's code (a name the repository does not record is refused at preview),
// on 13 an LSN (pgBackRest 2.33 has no --type=lsn: restore.sh's own choice of set; an LSN before the
// first backup is refused at preview, naming the earliest): a one-node stack restored to it has
// exactly rows 1 and 2.
// Subnets 172.28.61-66.0/24, ports 58810-58819.

import * as assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { createRestorePoint, targetFromOutputs } from "../../backup/core";
import { docker, E2EStack, e2eStack, eventually, identity, leftovers, log, oneEnginePlan, rows } from "./harness";

for (const { major, net, port, pointNet } of [{ major: 17 as const, net: 61, port: 58810, pointNet: 65 },
    { major: 13 as const, net: 63, port: 58815, pointNet: 66 }]) {
    describe(`a new stack restored from another's backups, to a time and to the latest (PostgreSQL ${major})`, { timeout: 20 * 60 * 1000 }, () => {
        const source = `e2e-restore${major}-src`;
        const target = `e2e-restore${major}`;
        const volume = `pg-replication-${source}-backup`;
        const stanza = `pg-replication-${source}`;
        let src: E2EStack | undefined;
        let dst: E2EStack | undefined;
        let noted = "";
        /** The point after row 2 as the other kind of target: a restore point's name on 17, an LSN on 13. */
        let point: { name: string } | { lsn: string } | undefined;
        const url = async (s: E2EStack, node: string) => (await s.outputs()).nodes[node].connectionString as string;

        after(async () => {
            try {
                await src?.destroyAndRemove();
                await dst?.destroyAndRemove();
                assert.deepEqual(leftovers(target), []);
            } finally {
                try { docker("volume", "rm", "-f", volume); } catch { /* none */ }
            }
            assert.deepEqual(leftovers(source), []);
        });

        test("the source: backups on, rows 1 and 2, the time noted, row 3, the WAL archived", async () => {
            src = await e2eStack(source, oneEnginePlan(major, net, port, 2, { backup: true }));
            await src.up();
            const primary = await url(src, "pg1");
            await rows(primary, "CREATE TABLE pitr (id int PRIMARY KEY, note text); INSERT INTO pitr VALUES (1, 'one'), (2, 'two')");
            await new Promise((r) => setTimeout(r, 1100));
            [{ noted }] = await rows(primary, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS noted");
            if (major === 17) {
                const made = await createRestorePoint(targetFromOutputs(source, await src.outputs()), "before-row-3");
                log(`restore point ${made.name} at ${made.lsn} (timeline ${made.timeline}) on ${made.primary}`);
                await assert.rejects(createRestorePoint(targetFromOutputs(source, await src.outputs()), "before-row-3"),
                    /a restore point named before-row-3 was made at .* choose another name/);
                point = { name: made.name };
            } else {
                const [{ lsn }] = await rows(primary, "SELECT pg_current_wal_lsn()::text AS lsn");
                point = { lsn };
            }
            await new Promise((r) => setTimeout(r, 1100));
            await rows(primary, "INSERT INTO pitr VALUES (3, 'three')");
            const [{ wal }] = await rows(primary, "SELECT pg_walfile_name(pg_switch_wal()) AS wal");
            await eventually(60, () => rows(primary, "SELECT last_archived_wal FROM pg_stat_archiver"), (r) => (r[0].last_archived_wal ?? "") >= wal);
            log(`source: rows 1, 2 before ${noted}, row 3 after; WAL archived through ${wal}`);
        });

        test("a target before the first backup is refused at preview, naming the earliest recoverable time", async () => {
            const early = await e2eStack(`${target}-early`, oneEnginePlan(major, net + 1, port + 3, 1, {
                restore: { volume, stanza, target: { time: "2000-01-01 00:00:00+00" } } }));
            try {
                await assert.rejects(early.preview(), (err: Error) => {
                    assert.match(err.message, /the restore is refused, nothing was made: the target 2000-01-01 00:00:00\+00 is before the end of the first backup \(\S+F\): the earliest recoverable time is \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/);
                    return true;
                });
                const other = major === 17 ? { name: "never-made" } : { lsn: "0/1" };
                await early.setConfig({ restore: { volume, stanza, target: other } });
                await assert.rejects(early.preview(), (err: Error) => {
                    assert.match(err.message, major === 17
                        ? /the restore is refused, nothing was made: the restore point never-made is not in the repository's record of restore points/
                        : /the restore is refused, nothing was made: the target LSN 0\/1 is before the end of the first backup \(\S+F\): the earliest recoverable LSN is [0-9A-F]+\/[0-9A-F]+/);
                    return true;
                });
            } finally {
                await early.removeOnly();
            }
            assert.deepEqual(leftovers(`${target}-early`), []);
        });

        test("restored to the noted time: exactly rows 1 and 2, on a new timeline; the standby cloned from it; its own roles", async () => {
            dst = await e2eStack(target, oneEnginePlan(major, net + 1, port + 5, 2, { restore: { volume, stanza, target: { time: noted } } }));
            const up = await dst.up();
            log(up.stdout.split("\n").filter((l) => /restore planned|restored from|restored backup|recovered to/.test(l)).join("\n"));
            assert.match(up.stdout, new RegExp(`restore planned: pg1 restored from volume ${volume} \\(stanza ${stanza}\\) from backup \\S+F`));
            const primary = await url(dst, "pg1");
            assert.deepEqual((await rows(primary, "SELECT id FROM pitr ORDER BY id")).map((r) => r.id), [1, 2]);
            const [{ tli }] = await rows(primary, "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS tli");
            assert.ok(tli > 1, `a new timeline: ${tli}`);
            // No recovery setting left behind: a later switchover must not stop at the old target.
            assert.deepEqual(await rows(primary, "SELECT name FROM pg_file_settings WHERE name LIKE 'recovery_target%' OR name = 'restore_command'"), []);
            await rows(primary, "INSERT INTO pitr VALUES (4, 'after the restore')");
            const standby = await url(dst, "pg2");
            await eventually(30, () => rows(standby, "SELECT count(*)::int AS n FROM pitr"), (r) => r[0].n === 3);
            assert.deepEqual(await rows(primary, "SELECT application_name, state FROM pg_stat_replication"), [{ application_name: "pg2", state: "streaming" }]);
            await dst.preview(true);
            // The restore key removed once the stack runs: nothing is seeded again or replaced, nothing lost.
            const nodeIds = () => ["pg1", "pg2"].map((n) => identity(`pg-replication-${target}-${n}`));
            const ids = nodeIds();
            await dst.setConfig({ restore: undefined });
            await dst.up();
            assert.deepEqual(nodeIds(), ids, "the same containers, never restarted");
            assert.deepEqual((await rows(primary, "SELECT id FROM pitr ORDER BY id")).map((r) => r.id), [1, 2, 4]);
            await dst.preview(true);
        });

        test(`restored to the same point as ${major === 17 ? "a restore point's name" : "an LSN"}: exactly rows 1 and 2`, async () => {
            const at = await e2eStack(`${target}-point`, oneEnginePlan(major, pointNet, port + 4, 1, { restore: { volume, stanza, target: point } }));
            try {
                const up = await at.up();
                const planned = up.stdout.split("\n").find((l) => /restore planned/.test(l)) ?? "";
                log(planned);
                assert.match(planned, "name" in point! ? /recovered to restore point before-row-3 \(LSN [0-9A-F]+\/[0-9A-F]+, timeline 1\)/
                    : new RegExp(`recovered to LSN ${point!.lsn.replace("/", "\\/")}`));
                const primary = await url(at, "pg1");
                assert.deepEqual((await rows(primary, "SELECT id FROM pitr ORDER BY id")).map((r) => r.id), [1, 2]);
                assert.deepEqual(await rows(primary, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
            } finally {
                await at.destroyAndRemove();
            }
            assert.deepEqual(leftovers(`${target}-point`), []);
        });

        test("the source's destroy refused while no restore of its backups is proven; allowed, destroyed (its final backup taken); restored to the latest: rows 1, 2 and 3", async () => {
            await assert.rejects(src!.destroy(), (err: Error) => {
                assert.match(err.message, new RegExp(`no restore of the backups in ${volume} has been proven, so nothing was destroyed`));
                assert.match(err.message, /set pg-replication:backup.allowUnverifiedDestroy to true, run pulumi up, then destroy/);
                return true;
            });
            // Every node's container and volume is still there, and the cluster still takes writes.
            const kinds = leftovers(source).map((o) => o.split(" ")[0]);
            assert.deepEqual([kinds.filter((k) => k === "container").length, kinds.filter((k) => k === "volume").length], [2, 3], kinds.join(","));
            await rows(await url(src!, "pg1"), "SELECT 1");
            await src!.setConfig({ backup: { allowUnverifiedDestroy: true } });
            await src!.up();
            await src!.destroyAndRemove();
            src = undefined;
            await dst!.destroy();
            await dst!.setConfig({ restore: { volume, stanza } });
            await dst!.up();
            const primary = await url(dst!, "pg1");
            assert.deepEqual((await rows(primary, "SELECT id FROM pitr ORDER BY id")).map((r) => r.id), [1, 2, 3]);
            const standby = await url(dst!, "pg2");
            await eventually(30, () => rows(standby, "SELECT count(*)::int AS n FROM pitr"), (r) => r[0].n === 3);
        });
    });
}
