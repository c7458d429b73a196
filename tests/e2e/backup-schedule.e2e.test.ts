// Backups and proven restores on a schedule (README "Backups", backup.schedule): PostgreSQL 17, two
// nodes, a full backup every 2 minutes and an incremental one every minute (the shortest intervals
// the key takes, so the test sees the schedule turn). The scheduler container runs with the
// engine's socket and no network; it proves a restore of up's first full backup at once, takes the
// incremental and the next full backups when due and proves that one too, and after a switchover
// takes its backups on the new primary. The destroy then needs no allowUnverifiedDestroy: the
// scheduler's proof is recent. Subnet 172.28.76.0/24, ports 58858-58859.

import * as assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { lastVerified, targetFromOutputs } from "../../backup/core";
import { containerLog, docker, E2EStack, e2eStack, eventually, leftovers, log, oneEnginePlan, rows } from "./harness";

interface Set { label: string; type: string; timestamp: { start: number; stop: number } }

describe("backups on a schedule: the scheduler container takes them when due and proves every full one (PostgreSQL 17)", { timeout: 15 * 60 * 1000 }, () => {
    const name = "e2e-backup-schedule";
    const volume = `pg-replication-${name}-backup`;
    const container = (n: string) => `pg-replication-${name}-${n}`;
    const scheduler = `pg-replication-${name}-backup-scheduler`;
    const sets = (node: string): Set[] =>
        JSON.parse(docker("exec", "-u", "postgres", container(node), "pgbackrest", "--output=json", "info"))[0].backup ?? [];
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

    test("up: the scheduler runs with the engine's socket and no network, and proves a restore of up's first full backup", async () => {
        try { docker("volume", "rm", "-f", volume); } catch { /* none */ }
        s = await e2eStack(name, oneEnginePlan(17, 76, 58858, 2, { backup: { schedule: { full: "2m", incr: "1m" } } }));
        await s.up();
        const out = await s.outputs();
        assert.deepEqual(out.backup.schedule, { fullSeconds: 120, diffSeconds: 0, incrSeconds: 60, containerName: scheduler });
        assert.equal(docker("inspect", "-f", "{{.State.Running}} {{.HostConfig.NetworkMode}} {{.Config.Image}}", scheduler).trim(),
            "true none pg-replication/postgres-scheduler:17");
        // (And the anonymous volume of the postgres image's VOLUME, removed with the container.)
        assert.match(docker("inspect", "-f", "{{range .Mounts}}{{.Type}}:{{.Source}}:{{.Destination}} {{end}}", scheduler),
            /(^| )bind:\/var\/run\/docker\.sock:\/var\/run\/docker\.sock( |$)/);
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

    test("the incremental and the next full backup when due, and a restore of the new full backup proven with the rows written before it", async () => {
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
        const record = await eventually(120, () => lastVerified(targetFromOutputs(name, out), container("pg1")),
            (r) => r !== undefined && r.backup.startsWith(second.label));
        log(`the scheduler proved a restore of ${record!.backup}: ${record!.tables} tables, ${record!.rows} rows`);
        assert.equal(record!.marker.found, true);
        assert.ok(record!.rows >= 3000, `${record!.rows} rows read in the restore: the table written before the full backup among them`);
    });

    test("after a switchover the scheduler takes its backups on the new primary", async () => {
        await s!.setConfig({ primary: "pg2" });
        await s!.up();
        const before = sets("pg2").length;
        await eventually(150, async () => schedulerLog(), (l) => new RegExp(`backup is due: taking it on ${container("pg2")}`).test(l) &&
            /the (incremental|full) backup is taken/.test(l.slice(l.lastIndexOf(`taking it on ${container("pg2")}`))));
        assert.ok(sets("pg2").length > before || sets("pg2").length >= 2, "a backup more in the repository");
        // (One on pg1 that the switchover's clean stop cut short fails, said, and is taken again at the next look.)
        assert.doesNotMatch(schedulerLog(), new RegExp(`error: the (full|differential|incremental) backup on ${container("pg2")} failed`));
    });

    test("destroy: the scheduler goes first, the final backup is taken, the scheduler's proof lets the destroy go on", async () => {
        const before = sets("pg2").length;
        await s!.destroy(); // the guard refuses (naming allowUnverifiedDestroy) unless a restore was proven within the bound
        destroyed = true;
        assert.deepEqual(leftovers(name).map((o) => o.split(" ")[0]), ["volume"], "destroy keeps the repository and nothing else");
        const final = JSON.parse(docker("run", "--rm", "--network", "none", "-u", "postgres", "-v", `${volume}:/var/lib/pgbackrest:ro`,
            "-e", `PGBACKREST_STANZA=pg-replication-${name}`, "-e", "PGBACKREST_CONFIG=/var/lib/pgbackrest/pgbackrest.conf",
            "pg-replication/postgres-backup:17", "pgbackrest", "--output=json", "info"))[0].backup as Set[];
        assert.ok(final.length > before, "the destroy's final backup is in the repository");
        await s!.removeOnly();
    });
});
