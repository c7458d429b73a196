// Backups turned on for a running stack (README "Backups"): PostgreSQL 17, two nodes, data and a
// write probe to whichever node is primary. `pg-replication:backup` set and `up`: every node's
// image becomes the backup image, so preview plans a roll (README "Upgrades") and the nodes are
// replaced one at a time behind a handover; the stanza and the first full backup follow. Every
// acknowledged commit is on both nodes, both run the backup image on their old volumes, a
// verified restore of the new repository finds its marker, the backup scheduler (backup.schedule,
// made in the same up) proves the first full backup by itself, and a second `up` changes nothing.
// Then turned off again (the key removed): a roll back onto postgres:17 under a write probe, with
// no proven restore on record and none asked (nothing of the cluster is destroyed), no final
// backup, the scheduler gone, archiving off and the repository kept with its backups.
// Subnet 172.28.68.0/24, ports 58830-58831.

import * as assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { lastVerified, targetFromOutputs, verifyRestore } from "../../backup/core";
import { REPO_PATH, VERIFIED_FILE } from "../../components/pgbackrest";
import { topologyResults } from "../../components/topology/contract";
import { PROBE_TABLE, WriteProbe } from "../../drill/probe";
import { containerLog, docker, E2EStack, e2eStack, eventually, leftovers, log, oneEnginePlan, rows } from "./harness";

/** pg2 caught up with pg1, then every commit the probe saw acknowledged, and the kept table, on both nodes. */
async function everyCommitOnBoth(urls: Record<string, string>, acks: readonly { seq: number }[]): Promise<void> {
    const [{ lsn }] = await rows(urls.pg1, "SELECT pg_current_wal_lsn()::text AS lsn");
    await eventually(30, () => rows(urls.pg2, `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn AS done`), (x) => x[0].done === true);
    for (const n of ["pg1", "pg2"]) {
        const found = new Set((await rows(urls[n], `SELECT seq FROM ${PROBE_TABLE}`)).map((x) => Number(x.seq)));
        assert.deepEqual(acks.filter((a) => !found.has(a.seq)).map((a) => a.seq), [], `acknowledged commits missing on ${n}`);
        assert.deepEqual(await rows(urls[n], "SELECT count(*)::int AS c FROM kept"), [{ c: 5000 }]);
    }
}

describe("backups turned on for a running stack: a roll onto the backup image, then the first full backup (PostgreSQL 17)", { timeout: 15 * 60 * 1000 }, () => {
    const name = "e2e-backup-on";
    const volume = `pg-replication-${name}-backup`;
    const container = (n: string) => `pg-replication-${name}-${n}`;
    const inspect = (n: string, format: string) => docker("inspect", "-f", format, container(n));
    let s: E2EStack | undefined;

    after(async () => {
        try {
            await s?.destroyAndRemove();
            assert.deepEqual(leftovers(name).map((o) => o.split(" ")[0]), ["volume"], "destroy keeps the repository and nothing else");
        } finally {
            try { docker("volume", "rm", "-f", volume); } catch { /* none */ }
        }
    });

    test("the roll under a write probe: nothing lost, both nodes on the backup image on their old volumes, a full backup that restores", async () => {
        try { docker("volume", "rm", "-f", volume); } catch { /* none */ }
        s = await e2eStack(name, oneEnginePlan(17, 68, 58830, 2));
        await s.up();
        const nodes = (await s.outputs()).nodes;
        const urls: Record<string, string> = { pg1: nodes.pg1.connectionString, pg2: nodes.pg2.connectionString };
        await rows(urls.pg1, "CREATE TABLE kept AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 5000) g");
        const before = Object.fromEntries(["pg1", "pg2"].map((n) => [n, inspect(n, "{{.Id}}")]));

        // A failed run's destroy must not wait for a proven restore (the test proves one when it passes).
        // With the schedule on as well: the scheduler comes with the roll and proves the first full backup.
        await s.setConfig({ backup: { allowUnverifiedDestroy: true, schedule: true } });
        const writes = new WriteProbe(urls);
        await writes.start();
        await new Promise((r) => setTimeout(r, 1000));
        const up = await s.up().catch(async (err: Error) => {
            await writes.stop().catch(() => undefined);
            for (const n of ["pg1", "pg2"]) {
                log(`${n}'s log, last lines:\n${containerLog(container(n)).split("\n").slice(-40).join("\n")}`);
            }
            throw err;
        });
        await new Promise((r) => setTimeout(r, 1000));
        const w = await writes.stop();
        log(`backup on: ${w.acks.length} acknowledged writes, ${w.errors} failed attempts, longest write gap ${(w.longestGapMs / 1000).toFixed(2)} s`);
        log(up.stdout.split("\n").filter((l) => /image change to|handover:|backup: /.test(l)).join("\n"));

        // A roll: a handover to pg2 while pg1 was replaced, then back to pg1, the declared primary.
        const results = topologyResults(up.stdout);
        // (Each result line shows more than once in the progress output.)
        assert.deepEqual([...new Set(results.filter((x) => x.handover === "switched over").map((x) => `${x.from}→${x.primary}`))], ["pg1→pg2"]);
        const sets = JSON.parse(docker("exec", "-u", "postgres", container("pg1"), "pgbackrest", "--output=json", "info"))[0].backup ?? [];
        assert.deepEqual(sets.map((b: { type: string }) => b.type), ["full"], "the up took the first full backup");
        for (const n of ["pg1", "pg2"]) {
            assert.equal(inspect(n, "{{.Config.Image}}"), "pg-replication/postgres-backup:17", `${n} runs the backup image`);
            assert.notEqual(inspect(n, "{{.Id}}"), before[n], `${n} has a new container`);
            assert.match(inspect(n, "{{range .Mounts}}{{.Name}} {{end}}"), new RegExp(`${container(n)}-data`), `${n} on its old volume`);
        }
        assert.deepEqual(await rows(urls.pg1, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
        await everyCommitOnBoth(urls, w.acks);

        const target = targetFromOutputs(name, await s.outputs());
        const proof = await eventually(120, () => lastVerified(target, container("pg1")), (v) => v?.backup === sets[0].label);
        log(`the scheduler proved a restore of ${proof!.backup} (${proof!.rows} rows read)`);
        assert.ok(proof!.rows >= 5000, "the kept table in the scheduler's proof");
        const r = await verifyRestore(target, { timeoutSeconds: 300, log });
        log(`verified restore of the new repository: backup ${r.backup}, ${r.rows} rows read`);
        assert.equal(r.marker.found, true);
        await s.preview(true);
    });

    test("turned off again: a roll back onto postgres:17 under a write probe; no proof asked, no final backup; archiving off, the repository kept", async () => {
        const urls = Object.fromEntries(Object.entries((await s!.outputs()).nodes).map(([n, o]) => [n, (o as { connectionString: string }).connectionString]));
        const repositoryInfo = () => JSON.parse(docker("run", "--rm", "--network", "none", "-u", "postgres", "-v", `${volume}:${REPO_PATH}:ro`,
            "-e", `PGBACKREST_STANZA=pg-replication-${name}`, "-e", `PGBACKREST_CONFIG=${REPO_PATH}/pgbackrest.conf`,
            "pg-replication/postgres-backup:17", "pgbackrest", "--output=json", "info"))[0].backup as { label: string }[];
        const kept = repositoryInfo().map((b) => b.label);
        // The schedule off first (its scheduler would prove a restore again), the destroy guard armed,
        // then the proof removed: turning backups off must neither ask for one nor take a backup.
        await s!.setConfig({ backup: { allowUnverifiedDestroy: false } });
        await s!.up();
        docker("exec", "-u", "postgres", container("pg1"), "rm", "-f", VERIFIED_FILE);

        await s!.setConfig({ backup: undefined });
        const writes = new WriteProbe(urls);
        await writes.start();
        await new Promise((r) => setTimeout(r, 1000));
        const up = await s!.up().catch(async (err: Error) => {
            await writes.stop().catch(() => undefined);
            throw err;
        });
        await new Promise((r) => setTimeout(r, 1000));
        const w = await writes.stop();
        log(`backup off: ${w.acks.length} acknowledged writes, ${w.errors} failed attempts, longest write gap ${(w.longestGapMs / 1000).toFixed(2)} s`);
        assert.match(up.stdout, new RegExp(`backup: turned off for this stack \\(${container("pg1")} runs postgres:17, without pgBackRest\\): no final backup; ` +
            `the repository ${volume} is kept`));
        for (const n of ["pg1", "pg2"]) {
            assert.equal(inspect(n, "{{.Config.Image}}"), "postgres:17", `${n} runs the plain image again`);
            assert.match(inspect(n, "{{range .Mounts}}{{.Name}} {{end}}"), new RegExp(`${container(n)}-data`), `${n} on its old volume`);
            assert.doesNotMatch(inspect(n, "{{range .Mounts}}{{.Name}} {{end}}"), new RegExp(volume), `${n} no longer mounts the repository`);
            assert.deepEqual(await rows(urls[n], "SELECT current_setting('archive_mode') AS m"), [{ m: "off" }]);
        }
        await everyCommitOnBoth(urls, w.acks);
        assert.throws(() => docker("inspect", `pg-replication-${name}-backup-scheduler`), /No such object/, "the scheduler is gone");
        assert.deepEqual(repositoryInfo().map((b) => b.label), kept, "the repository keeps every backup, and no final one was added");
        assert.equal((await s!.outputs()).backup, undefined);
        await s!.preview(true);
    });
});
