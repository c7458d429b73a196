// Failover on the real engine: the primary killed, paused or cut off from its network under a
// sequence-numbered write load, `primary` set to the standby with the most WAL and `up` (the fault
// drill, drill/core.ts, through the e2e harness). PostgreSQL 13 async, 3 nodes: the loss is
// reported as measured and the cluster is consistent after the old primary rejoins; PostgreSQL 17
// quorum (ANY 1 of the two standbys): zero acknowledged commits lost. Every run: the old primary,
// started and restarted by hand after the fault is undone, is read-only (fenced), and the next
// `up` brings it back with the new primary's rows. Refusals at preview with their messages.
// Subnets 172.28.54-55.0/24, ports 58540-58552, away from the other suites.

import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DrillResult, Fault, runDrill } from "../../drill/core";
import { docker, drillStack, E2EStack, e2eStack, eventually, leftovers, log, oneEnginePlan, rows, withClient } from "./harness";

const TIMEOUT = 20 * 60 * 1000;


const results: DrillResult[] = [];

for (const { major, mode, net, port, faults } of [
    { major: 13 as const, mode: "async", net: 54, port: 58540, faults: ["kill", "pause", "disconnect"] as Fault[] },
    { major: 17 as const, mode: "sync", net: 55, port: 58550, faults: ["kill", "disconnect"] as Fault[] },
]) {
    describe(`failover on PostgreSQL ${major}, ${mode}, 3 nodes`, { timeout: TIMEOUT }, () => {
        const name = `e2e-failover${major}`;
        const container = (node: string) => `pg-replication-${name}-${node}`;
        let s: E2EStack;

        before(async () => {
            s = await e2eStack(name, oneEnginePlan(major, net, port, 3, { mode }));
            await s.up();
        });
        after(async () => {
            for (const n of ["pg1", "pg2", "pg3"]) {
                try { docker("unpause", container(n)); } catch { /* not paused */ }
            }
            await s?.destroyAndRemove();
            assert.deepEqual(leftovers(name), []);
        });

        if (major === 13) {
            test("preview refuses a target with less WAL than another reachable standby, naming both positions", async () => {
                const out = await s.outputs();
                const pg3 = out.nodes.pg3.connectionString;
                const [{ conninfo }] = await rows(pg3, "SELECT current_setting('primary_conninfo') AS conninfo");
                await rows(pg3, "ALTER SYSTEM SET primary_conninfo = ''; SELECT pg_reload_conf()").catch(() =>
                    withClient(pg3, async (c) => { await c.query("ALTER SYSTEM SET primary_conninfo = ''"); await c.query("SELECT pg_reload_conf()"); }));
                await withClient(out.primary.connectionString, (c) => c.query("CREATE TABLE ahead AS SELECT generate_series(1, 1000) g"));
                await eventually(30, () => rows(out.nodes.pg2.connectionString, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'ahead'"), (r) => r[0].n === 1);
                docker("pause", container("pg1"));
                try {
                    await s.setConfig({ primary: "pg3" });
                    await assert.rejects(s.preview(), (err: Error) => {
                        assert.match(err.message, /the failover is refused, nothing was changed/);
                        assert.match(err.message, /pg2 has received more WAL than pg3: pg2 up to [0-9A-F]+\/[0-9A-F]+, pg3 up to [0-9A-F]+\/[0-9A-F]+ \(\d+ bytes more\); promote pg2 instead/);
                        assert.match(err.message, /set pg-replication:allowDataLoss to true; what could be lost: \d+ bytes of WAL that pg2 holds/);
                        return true;
                    });
                } finally {
                    docker("unpause", container("pg1"));
                    await s.setConfig({ primary: "pg1" });
                    await withClient(pg3, async (c) => {
                        await c.query(`ALTER SYSTEM SET primary_conninfo = '${conninfo.replace(/'/g, "''")}'`);
                        await c.query("SELECT pg_reload_conf()");
                    });
                }
                assert.deepEqual(await rows(out.nodes.pg1.connectionString, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
            });
        } else {
            test("preview refuses a quorum member when the other member cannot be asked", async () => {
                docker("pause", container("pg1"));
                docker("pause", container("pg3"));
                try {
                    await s.setConfig({ primary: "pg2" });
                    await assert.rejects(s.preview(), (err: Error) => {
                        assert.match(err.message, /the failover is refused, nothing was changed/);
                        assert.match(err.message, /under 'ANY 1 \("pg2", "pg3"\)' each commit pg1 acknowledged was confirmed by 1 of pg2, pg3; pg3 cannot be asked, so a commit confirmed only by it may be missing on pg2/);
                        return true;
                    });
                } finally {
                    docker("unpause", container("pg1"));
                    docker("unpause", container("pg3"));
                    await s.setConfig({ primary: "pg1" });
                }
            });
        }

        for (const fault of faults) {
            test(`drill: ${fault} the primary under write load, fail over, fenced, rejoin`, async () => {
                const r = await runDrill(drillStack(s), fault, (m) => log(`[drill ${major} ${fault}] ${m}`));
                results.push(r);
                log(`drill ${major} ${fault}: ${JSON.stringify(r)}`);
                if (fault === "disconnect") {
                    // Still cut off after the failover: fenced, so neither Docker nor a daemon restart or
                    // a reboot starts it again by itself.
                    assert.equal(r.restartPolicyAfterFailover, "no", "the cut-off old primary is fenced");
                }
                assert.ok(["read-only", "not running"].includes(r.fencedAfterRestart), `the old primary on docker start: ${r.fencedAfterRestart}`);
                assert.ok(["read-only", "not running", "not applicable"].includes(r.fencedAfterDockerRestart),
                    `the old primary on docker restart: ${r.fencedAfterDockerRestart}`);
                assert.ok(r.consistentAfterRejoin, `${r.from}'s rows differ from ${r.to}'s after the rejoin`);
                // A fresh clone is the last resort; every fault here leaves a node pg_rewind can bring back.
                assert.doesNotMatch(r.rejoinPath, /clone/i, `${r.from} rejoined by ${r.rejoinPath}`);
                if (fault !== "disconnect") {
                    // Killed or paused (then killed by the fence): crash-stopped, so always through pg_rewind.
                    // A cut-off primary that wrote nothing more may simply follow once reconnected.
                    assert.match(r.rejoinPath, /^pg_rewind: (servers diverged at WAL location|no rewind required)/,
                        `${r.from} rejoined by ${r.rejoinPath}`);
                }
                assert.ok(Number.isFinite(r.faultToFirstWriteSeconds), "no write on the new primary");
                if (mode === "sync") {
                    assert.deepEqual(r.lostSeqs, [], "acknowledged commits lost under the quorum");
                }
                const out = await s.outputs();
                assert.equal(out.primary.name, r.to);
                assert.deepEqual(await rows(out.nodes[r.from].connectionString, "SELECT pg_is_in_recovery() AS r"), [{ r: true }]);
                assert.equal(docker("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", container(r.from)), "unless-stopped");
                const states = await eventually(60, () => rows(out.primary.connectionString,
                    "SELECT application_name, state FROM pg_stat_replication ORDER BY 1"), (v) => v.length === 2);
                assert.deepEqual(states.map((x) => x.state), ["streaming", "streaming"]);
            });
        }

        test("a second up changes nothing", async () => {
            await s.preview(true);
        });
    });
}

after(() => {
    log(`failover drills: ${JSON.stringify(results.map((r) => ({ fault: r.fault, from: r.from, to: r.to,
        firstWrite: r.faultToFirstWriteSeconds, up: r.upSeconds, acked: r.acknowledged, lost: r.lost,
        rows: r.rowsOnNewPrimary, fenced: r.fencedAfterRestart, rejoin: r.rejoinSeconds, consistent: r.consistentAfterRejoin })))}`);
});
