// A cluster lost whole, restored from its repository (README "Backups"): PostgreSQL 17, two nodes
// with backups on, a write probe on the primary. At a moment noted while the probe writes, the
// primary switches its WAL segment and the bench waits until that segment is in the repository;
// the probe writes on for a few seconds more, then every node's container and data volume is
// removed by force (no destroy, no final backup: a lost host, a deleted cluster). A new stack
// restored to `latest` from the repository has every commit acknowledged before the noted moment,
// promoted on a new timeline; the acknowledged commits after it (in the segment that was never
// archived: at most archive_timeout's worth) are counted and said.
// Subnets 172.28.69-70.0/24, ports 58835-58837.

import * as assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { PROBE_TABLE, WriteProbe } from "../../drill/probe";
import { docker, E2EStack, e2eStack, eventually, leftovers, log, oneEnginePlan, rows } from "./harness";

describe("a cluster lost whole (containers and volumes removed), restored to the latest as a new stack (PostgreSQL 17)", { timeout: 15 * 60 * 1000 }, () => {
    const name = "e2e-lost";
    const restored = "e2e-lost-restored";
    const volume = `pg-replication-${name}-backup`;
    const stanza = `pg-replication-${name}`;
    let src: E2EStack | undefined;
    let dst: E2EStack | undefined;

    after(async () => {
        try {
            await dst?.destroyAndRemove();
            assert.deepEqual(leftovers(restored), []);
        } finally {
            // The lost stack's state names objects that are gone: its backend is dropped without a destroy
            // (`stack rm` refuses a stack with resources; removeOnly deletes the backend all the same),
            // and its network and repository are removed here.
            await src?.removeOnly().catch(() => undefined);
            for (const o of leftovers(name)) {
                const [kind, id] = o.split(" ");
                try { docker(...(kind === "network" ? ["network", "rm", id] : kind === "volume" ? ["volume", "rm", "-f", id] : ["rm", "-f", "-v", id])); }
                catch { /* gone */ }
            }
        }
        assert.deepEqual(leftovers(name), []);
    });

    test("every commit acknowledged before the last archived segment is in the restore; the rest counted", async () => {
        try { docker("volume", "rm", "-f", volume); } catch { /* none */ }
        src = await e2eStack(name, oneEnginePlan(17, 69, 58835, 2, { backup: { allowUnverifiedDestroy: true } }));
        await src.up();
        const out = await src.outputs();
        const url = out.nodes.pg1.connectionString as string;
        const probe = new WriteProbe({ pg1: url });
        await probe.start();
        await new Promise((r) => setTimeout(r, 3000));

        const noted = Date.now();
        const [{ wal }] = await rows(url, "SELECT pg_walfile_name(pg_switch_wal()) AS wal");
        await eventually(60, () => rows(url, "SELECT last_archived_wal FROM pg_stat_archiver"), (r) => (r[0].last_archived_wal ?? "") >= wal);
        await new Promise((r) => setTimeout(r, 3000));
        const w = await probe.stop();
        const before = w.acks.filter((a) => a.at < noted);
        log(`lost: ${w.acks.length} acknowledged writes, ${before.length} before segment ${wal} was switched and archived`);

        // Lost whole: every node's container and data volume removed by force; only the repository stays.
        for (const n of ["pg1", "pg2"]) {
            docker("rm", "-f", "-v", `pg-replication-${name}-${n}`);
            docker("volume", "rm", "-f", `pg-replication-${name}-${n}-data`);
        }
        assert.deepEqual(leftovers(name).map((o) => o.split(" ")[0]).sort(), ["network", "volume"]);

        dst = await e2eStack(restored, oneEnginePlan(17, 70, 58836, 2, { restore: { volume, stanza } }));
        const up = await dst.up();
        log(up.stdout.split("\n").find((l) => /restore planned/.test(l)) ?? "");
        const primary = (await dst.outputs()).nodes.pg1.connectionString as string;
        const found = new Set((await rows(primary, `SELECT seq FROM ${PROBE_TABLE}`)).map((x) => Number(x.seq)));
        assert.deepEqual(before.filter((a) => !found.has(a.seq)).map((a) => a.seq), [],
            "every commit acknowledged before the archived switch is in the restore");
        const after = w.acks.filter((a) => a.at >= noted);
        log(`restored: ${found.size} probe rows; of the ${after.length} acknowledged after the switch, ` +
            `${after.filter((a) => !found.has(a.seq)).length} are not there (their segment was never archived)`);
        const [{ tli }] = await rows(primary, "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS tli");
        assert.ok(tli > 1, `a new timeline: ${tli}`);
        const standby = (await dst.outputs()).nodes.pg2.connectionString as string;
        await eventually(30, () => rows(standby, `SELECT count(*)::int AS n FROM ${PROBE_TABLE}`), (r) => r[0].n === found.size);
    });
});
