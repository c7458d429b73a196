// Backups and proven restores on a schedule (README "Backups", backup.schedule): PostgreSQL 17
// (pgBackRest 2.55) and 13 (2.33), two nodes, a full backup every 2 minutes and an incremental one every minute (the shortest intervals
// the key takes, so the test sees the schedule turn). The scheduler container runs with the
// engine's socket and no network; it proves a restore of up's first full backup at once, takes the
// incremental and the next full backups when due, from the standby (pgBackRest's backup-standby over
// `docker exec`), and proves that one too; after a switchover it follows the new primary and takes
// them from the new standby, and from the primary while no standby streams. The destroy then needs no allowUnverifiedDestroy: the
// scheduler's proof is recent. The two majors run side by side (harness.ts sideBySide: most of each is waiting for a due time). Subnets 172.28.76.0/24 (17) and 172.28.83.0/24 (13), ports
// 58858-58859 and 58896-58897.

import * as assert from "node:assert/strict";
import { after, test } from "node:test";
import { lastVerified, takeBackup, targetFromOutputs } from "../../backup/core";
import { containerLog, docker, E2EStack, e2eStack, eventually, leftovers, log, oneEnginePlan, rows, sideBySide } from "./harness";

interface Set { label: string; type: string; timestamp: { start: number; stop: number } }

sideBySide([[17, 76, 58858], [13, 83, 58896]] as const,
    ([major]) => `backups on a schedule: the scheduler container takes them when due and proves every full one (PostgreSQL ${major})`,
    { timeout: 15 * 60 * 1000 }, ([major, net, port]) => {
        const name = major === 17 ? "e2e-backup-schedule" : `e2e-backup-schedule-${major}`;
        const volume = `pg-replication-${name}-backup`;
        const container = (n: string) => `pg-replication-${name}-${n}`;
        const scheduler = `pg-replication-${name}-backup-scheduler`;
        const sets = (node: string): Set[] =>
            JSON.parse(docker("exec", "-u", "postgres", container(node), "pgbackrest", "--output=json", "info"))[0].backup ?? [];
        /** Whether pgBackRest took LABEL from a standby: its manifest's option-backup-standby. */
        const fromStandby = (node: string, label: string) => docker("exec", container(node), "grep", "-x", "option-backup-standby=[a-z]*",
            `/var/lib/pgbackrest/backup/pg-replication-${name}/${label}/backup.manifest`).trim();
        const schedulerLog = () => { try { return containerLog(scheduler); } catch (err) { return `(no log: ${(err as Error).message})`; } };
        let s: E2EStack | undefined;
        let destroyed = false;

        after(async () => {
            try {
                if (!destroyed) {
                    log(`the scheduler's log:\n${schedulerLog()}`);
                    await s?.setConfig({ backup: { allowUnverifiedDestroy: true, schedule: { full: "2m", incr: "1m" } } });
                    await s?.destroyAndRemove();
                }
            } finally {
                try { docker("volume", "rm", "-f", volume); } catch { /* none */ }
            }
        });

        test("up: the scheduler runs with the engine's socket, the repository and no network, and proves a restore of up's first full backup", async () => {
            try { docker("volume", "rm", "-f", volume); } catch { /* none */ }
            s = await e2eStack(name, oneEnginePlan(major, net, port, 2, { backup: { schedule: { full: "2m", incr: "1m" } } }));
            await s.up();
            const out = await s.outputs();
            assert.deepEqual(out.backup.schedule, { fullSeconds: 120, diffSeconds: 0, incrSeconds: 60, containerName: scheduler });
            assert.equal(docker("inspect", "-f", "{{.State.Running}} {{.HostConfig.NetworkMode}} {{.Config.Image}}", scheduler).trim(),
                `true none pg-replication/postgres-scheduler:${major}`);
            // (And the anonymous volume of the postgres image's VOLUME, removed with the container.)
            assert.match(docker("inspect", "-f", "{{range .Mounts}}{{.Type}}:{{.Source}}:{{.Destination}} {{end}}", scheduler),
                /(^| )bind:\/var\/run\/docker\.sock:\/var\/run\/docker\.sock( |$)/);
            assert.match(docker("inspect", "-f", "{{range .Mounts}}{{.Type}}:{{.Name}}:{{.Destination}} {{end}}", scheduler),
                new RegExp(`(^| )volume:${volume}:/var/lib/pgbackrest( |$)`), "the repository, for its backups from a standby");
            const [first] = sets("pg1");
            assert.equal(first.type, "full", "up took the first full backup");
            const target = targetFromOutputs(name, out);
            const record = await eventually(90, () => lastVerified(target, container("pg1")), (r) => r?.backup === first.label);
            log(`the scheduler proved a restore of ${record!.backup} at ${record!.verifiedAt}: ${record!.tables} tables, ${record!.rows} rows`);
            assert.equal(record!.marker.found, true);
            assert.match(schedulerLog(), /VERIFIED: backup \S+F restored with the marker/);
            await s.preview(true);
            const again = await s.up();
            assert.match(again.stdout, new RegExp(`backup: a restore of ${first.label} from ${volume} was proven \\d+s ago`), "up says the scheduler's proof");
        });

        test("the incremental and the next full backup when due, from the standby, and a restore of the new full backup proven with the rows written before it", async () => {
            const out = await s!.outputs();
            await rows(out.nodes.pg1.connectionString, "CREATE TABLE scheduled AS SELECT g AS id FROM generate_series(1, 3000) g");
            const [first] = sets("pg1");
            const after = await eventually(240, async () => sets("pg1"),
                (b) => b.some((x) => x.type === "incr") && b.some((x) => x.type === "full" && x.label !== first.label));
            const incr = after.find((x) => x.type === "incr")!;
            const second = after.find((x) => x.type === "full" && x.label !== first.label)!;
            log(`scheduled: ${after.map((x) => `${x.label} (${x.type})`).join(", ")}`);
            assert.ok(incr.timestamp.start - first.timestamp.stop >= 60, "the incremental backup a minute after the full one, not before");
            assert.ok(second.timestamp.start - first.timestamp.stop >= 120, "the next full backup two minutes after the first, not before");
            assert.equal(fromStandby("pg1", first.label), "option-backup-standby=false", "up's first full backup is the primary's");
            for (const b of [incr, second]) {
                assert.equal(fromStandby("pg1", b.label), "option-backup-standby=true", `${b.label} (${b.type}) taken from the standby`);
            }
            assert.match(schedulerLog(), new RegExp(`the incremental backup is taken from the standby ${container("pg2")}`));
            const record = await eventually(120, () => lastVerified(targetFromOutputs(name, out), container("pg1")),
                (r) => r !== undefined && r.backup.startsWith(second.label));
            log(`the scheduler proved a restore of ${record!.backup}: ${record!.tables} tables, ${record!.rows} rows`);
            assert.equal(record!.marker.found, true);
            assert.ok(record!.rows >= 3000, `${record!.rows} rows read in the restore: the table written before the full backup among them`);
            // npm run backup runs in the scheduler while it runs, so a backup by hand comes from the standby too.
            const byHand = await takeBackup(targetFromOutputs(name, out), "incr", 600);
            assert.deepEqual([byHand.primary, byHand.source], [container("pg1"), container("pg2")]);
            assert.equal(fromStandby("pg1", byHand.label), "option-backup-standby=true", `${byHand.label}, by hand, from the standby`);
        });

        test("after a switchover: backups from the new standby, and from the primary while no standby streams", async () => {
            await s!.setConfig({ primary: "pg2" });
            await s!.up();
            const taken = (source: string) => new RegExp(`backup is due \\(the primary is ${container("pg2")}\\)\n(?:.*\n)*?\\S+ the (incremental|full) ` +
                `backup is taken from ${source}`);
            const since = schedulerLog().length;
            const fresh = () => schedulerLog().slice(since);
            await eventually(150, async () => fresh(), (l) => taken(`the standby ${container("pg1")}`).test(l));
            const newest = sets("pg2").at(-1)!;
            assert.equal(fromStandby("pg2", newest.label), "option-backup-standby=true", `${newest.label}: from pg1, the standby now`);
            // (One on pg1 that the switchover's clean stop cut short fails, said, and is taken again at the next look.)
            assert.doesNotMatch(fresh(), /error: the (full|differential|incremental) backup from \S+ failed/);
            docker("stop", container("pg1"));
            try {
                const stopped = schedulerLog().length;
                await eventually(150, async () => schedulerLog().slice(stopped), (l) => taken(`the primary ${container("pg2")}`).test(l));
                assert.equal(fromStandby("pg2", sets("pg2").at(-1)!.label), "option-backup-standby=false", "no standby streams: the primary's");
            } finally {
                docker("start", container("pg1"));
            }
            await eventually(120, async () => docker("exec", "-u", "postgres", container("pg1"), "psql", "-XAtc",
                "SELECT status FROM pg_stat_wal_receiver").trim(), (st) => st === "streaming");
        });

        test("destroy: the scheduler goes first, the final backup is taken, the scheduler's proof lets the destroy go on", async () => {
            const before = sets("pg2").length;
            await s!.destroy(); // the guard refuses (naming allowUnverifiedDestroy) unless a restore was proven within the bound
            destroyed = true;
            assert.deepEqual(leftovers(name).map((o) => o.split(" ")[0]), ["volume"], "destroy keeps the repository and nothing else");
            const final = JSON.parse(docker("run", "--rm", "--network", "none", "-u", "postgres", "-v", `${volume}:/var/lib/pgbackrest:ro`,
                "-e", `PGBACKREST_STANZA=pg-replication-${name}`, "-e", "PGBACKREST_CONFIG=/var/lib/pgbackrest/pgbackrest.conf",
                `pg-replication/postgres-backup:${major}`, "pgbackrest", "--output=json", "info"))[0].backup as Set[];
            assert.ok(final.length > before, "the destroy's final backup is in the repository");
            await s!.removeOnly();
        });
});
