// Switchover by configuration on the real engine: `primary` changed from pg1 to pg2 and `up`,
// under a continuous, sequence-numbered write load. Zero acknowledged commits lost, with async
// (PostgreSQL 13, two nodes) and with a quorum (PostgreSQL 17, three nodes, ANY 1); no container
// replaced; data, slots and sync states checked from outside; a second `up` changes nothing;
// switching back works. On 13 the unsafe cases are refused at preview first: a stopped target,
// and a target whose replay is paused while the primary writes more than the bound.
// Subnets 172.28.50-51.0/24, ports 58500-58512, away from the other suites.

import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { docker, E2EStack, e2eStack, eventually, leftovers, log, oneEnginePlan, rows, underWriteProbe, withClient } from "./harness";
import { PROBE_TABLE, ProbeResult, WriteProbe } from "../../drill/probe";

const TIMEOUT = 20 * 60 * 1000;


/** Resource changes of an `up` other than "same". */
function changes(result: { summary: { resourceChanges?: Record<string, number> } }): Record<string, number> {
    return Object.fromEntries(Object.entries(result.summary.resourceChanges ?? {}).filter(([op]) => op !== "same"));
}

const identity = (container: string) => docker("inspect", "-f", "{{.Id}}", container);

async function replicationStates(url: string): Promise<Record<string, string>> {
    const found = await rows(url, "SELECT application_name, state, sync_state FROM pg_stat_replication");
    return Object.fromEntries(found.map((r) => [r.application_name, `${r.state}/${r.sync_state}`]));
}

/** Switches the stack's primary with the probe writing throughout; returns what the probe saw. */
async function switchUnderLoad(s: E2EStack, from: string, to: string): Promise<ProbeResult & { upSeconds: number }> {
    const out = await s.outputs();
    const probe = new WriteProbe({ [from]: out.nodes[from].connectionString, [to]: out.nodes[to].connectionString });
    await s.setConfig({ primary: to });
    const { seconds: upSeconds, writes: result } = await underWriteProbe(probe, () => s.up());
    log(`switchover ${from} → ${to}: ${result.acks.length} acknowledged writes, ${result.errors} failed attempts, ` +
        `write downtime ${(result.downtimeMs / 1000).toFixed(2)} s, up ${upSeconds.toFixed(1)} s`);
    return { ...result, upSeconds };
}

/** Every acknowledged sequence number is on the node: zero acknowledged commits lost. */
async function assertNoneLost(url: string, result: ProbeResult): Promise<void> {
    const found = new Set((await rows(url, `SELECT seq FROM ${PROBE_TABLE}`)).map((r) => Number(r.seq)));
    const lost = result.acks.filter((a) => !found.has(a.seq)).map((a) => a.seq);
    assert.deepEqual(lost, [], `acknowledged commits missing on the new primary: ${lost.join(", ")}`);
    assert.ok(result.acks.some((a) => a.node !== result.lastNode), "writes were acknowledged on both nodes");
}

for (const { major, mode, count, net, port, expected } of [
    { major: 13 as const, mode: "async", count: 2, net: 50, port: 58500, expected: { pg1: "async" } },
    { major: 17 as const, mode: "sync", count: 3, net: 51, port: 58510, expected: { pg1: "quorum", pg3: "quorum" } },
]) {
    describe(`switchover on PostgreSQL ${major}, ${mode}, ${count} nodes`, { timeout: TIMEOUT }, () => {
        const name = `e2e-switch${major}`;
        const container = (node: string) => `pg-replication-${name}-${node}`;
        let s: E2EStack;
        let ids: string[];

        before(async () => {
            s = await e2eStack(name, oneEnginePlan(major, net, port, count, { mode, maxSwitchoverLagBytes: "1MB" }));
            await s.up();
            ids = Array.from({ length: count }, (_, i) => identity(container(`pg${i + 1}`)));
        });
        after(async () => {
            await s?.destroyAndRemove();
            assert.deepEqual(leftovers(name), []);
        });

        if (major === 13) {
            test("preview refuses a stopped target, naming it; nothing changes", async () => {
                docker("stop", container("pg2"));
                try {
                    await s.setConfig({ primary: "pg2" });
                    await assert.rejects(s.preview(), (err: Error) => {
                        assert.match(err.message, /the switchover is refused, nothing was changed/);
                        assert.match(err.message, /pg2 cannot take over: its container is not running/);
                        assert.doesNotMatch(err.message, /at .*\.js:\d+/, "a RunError: no stack trace");
                        return true;
                    });
                } finally {
                    await s.setConfig({ primary: "pg1" });
                    docker("start", container("pg2"));
                }
                const out = await s.outputs();
                const state = await eventually(60, () => replicationStates(out.primary.connectionString), (v) => v.pg2 === "streaming/async");
                assert.equal(state.pg2, "streaming/async");
            });

            test("preview refuses a target whose replay is paused and behind by more than the bound, with both LSNs", async () => {
                const out = await s.outputs();
                await rows(out.nodes.pg2.connectionString, "SELECT pg_wal_replay_pause()");
                try {
                    await withClient(out.primary.connectionString, async (c) => {
                        await c.query("CREATE TABLE bulk (id int, v text)");
                        await c.query("INSERT INTO bulk SELECT g, repeat(md5(g::text), 10) FROM generate_series(1, 20000) g");
                    });
                    await s.setConfig({ primary: "pg2" });
                    await assert.rejects(s.preview(), (err: Error) => {
                        assert.match(err.message, /pg2 has its replay paused/);
                        assert.match(err.message, /pg2 has replayed up to [0-9A-F]+\/[0-9A-F]+ while the primary pg1 is at [0-9A-F]+\/[0-9A-F]+: \d+ bytes behind, more than maxSwitchoverLagBytes \(1048576\)/);
                        return true;
                    });
                } finally {
                    await s.setConfig({ primary: "pg1" });
                    await rows(out.nodes.pg2.connectionString, "SELECT pg_wal_replay_resume()");
                }
                assert.deepEqual(await rows(out.nodes.pg1.connectionString, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
            });
        }

        test("switchover under write load loses no acknowledged commit and replaces nothing", async () => {
            const result = await switchUnderLoad(s, "pg1", "pg2");
            const out = await s.outputs();
            assert.equal(out.primary.name, "pg2");
            assert.equal(out.nodes.pg1.role, "standby");
            assert.equal(out.nodes.pg2.role, "primary");
            await assertNoneLost(out.nodes.pg2.connectionString, result);
            assert.deepEqual(Array.from({ length: count }, (_, i) => identity(container(`pg${i + 1}`))), ids,
                "no container was replaced");
            assert.ok(result.downtimeMs < 15_000, `write downtime ${result.downtimeMs} ms`);
        });

        test("after the switch: roles, sync states, slots and data, seen from outside", async () => {
            const out = await s.outputs();
            const pg2 = out.nodes.pg2.connectionString;
            assert.deepEqual(await rows(pg2, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
            assert.deepEqual(await rows(out.nodes.pg1.connectionString, "SELECT pg_is_in_recovery() AS r"), [{ r: true }]);
            const want = Object.fromEntries(Object.entries(expected).map(([n, st]) => [n, `streaming/${st}`]));
            assert.deepEqual(await replicationStates(pg2), want);
            assert.deepEqual(await rows(pg2, "SELECT slot_name, active FROM pg_replication_slots ORDER BY 1"),
                Object.keys(expected).sort().map((n) => ({ slot_name: n, active: true })));
            assert.deepEqual(await rows(out.nodes.pg1.connectionString, "SELECT slot_name FROM pg_replication_slots"), [],
                "the old primary keeps no slot");
            await withClient(pg2, (c) => c.query("CREATE TABLE after_switch AS SELECT 42 AS answer"));
            const [{ lsn }] = await rows(pg2, "SELECT pg_current_wal_lsn()::text AS lsn");
            for (const standby of Object.keys(expected)) {
                const url = out.nodes[standby].connectionString;
                const done = await eventually(30, () => rows(url, `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn AS d`),
                    (r) => r[0].d === true);
                assert.equal(done[0].d, true, standby);
                assert.deepEqual(await rows(url, "SELECT answer FROM after_switch"), [{ answer: 42 }], standby);
                assert.deepEqual(await rows(url, `SELECT count(*)::int AS n FROM ${PROBE_TABLE}`),
                    await rows(pg2, `SELECT count(*)::int AS n FROM ${PROBE_TABLE}`), standby);
            }
            assert.match(docker("exec", container("pg1"), "cat", "/var/lib/postgresql/data/pgdata/postgresql.auto.conf"),
                new RegExp(`primary_conninfo = 'host=172\\.28\\.${net}\\.102 .*passfile=`));
        });

        test("a second up changes nothing, and preview expects no changes", async () => {
            assert.deepEqual(changes(await s.up()), {});
            await s.preview(true);
        });

        test("switching back to pg1 works the same way", async () => {
            const result = await switchUnderLoad(s, "pg2", "pg1");
            const out = await s.outputs();
            assert.equal(out.primary.name, "pg1");
            await assertNoneLost(out.nodes.pg1.connectionString, result);
            const want = Object.fromEntries(Object.keys(expected).map((n) => (n === "pg1" ? "pg2" : n))
                .map((n) => [n, `streaming/${(expected as Record<string, string>)[n === "pg2" ? "pg1" : n]}`]));
            assert.deepEqual(await replicationStates(out.nodes.pg1.connectionString), want);
            assert.deepEqual(Array.from({ length: count }, (_, i) => identity(container(`pg${i + 1}`))), ids);
        });
    });
}
