// The endpoints (PgBouncer, README "Endpoints") on the real engine: `endpoints.rw` reaches the
// primary (and `npm run status` says so), logs in the user's own roles with SCRAM and refuses a
// wrong password; `endpoints.ro` reaches the standbys only (spread over them on 17), drops one whose
// replay falls behind the lag bound and takes it back once caught up, and follows a switchover; an
// exhausted pool makes a client wait queryWaitTimeoutSeconds, then fail with PgBouncer's error; a
// switchover with a write probe that writes ONLY through the endpoint: no client error, no
// acknowledged commit lost, the stall measured; on PostgreSQL 17 (quorum) the fault drill's kill,
// which probes through the endpoint as well as straight to the nodes: nothing acknowledged lost
// on either, the endpoint's client errors and stall measured; it then reaches the new primary. On
// 13: PgBouncer killed (Docker restarts it with its settings); pool settings changed by reload;
// the endpoints turned off (the poolers, their role and its lookup in every database go; no node
// is touched). Subnets 172.28.56-57.0/24, ports 58600-58619.

import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client } from "pg";
import { docker, drillStack, E2EStack, e2eStack, eventually, identity, leftovers, log, oneEnginePlan, rows, status, underWriteProbe } from "./harness";
import { missingAcks, runDrill } from "../../drill/core";
import { ProbeResult, WriteProbe } from "../../drill/probe";

const TIMEOUT = 20 * 60 * 1000;


/** Runs ACT with the probe writing only through URL before and after it; what the probe saw. */
async function probeThrough(url: string, act: () => Promise<unknown>): Promise<ProbeResult> {
    return (await underWriteProbe(new WriteProbe({ rw: url }, 90, 30_000), act)).writes;
}

async function assertNoneLost(url: string, result: ProbeResult): Promise<void> {
    const lost = await missingAcks(url, result.acks);
    assert.deepEqual(lost, [], `acknowledged commits missing on the new primary: ${lost.join(", ")}`);
    assert.ok(result.acks.length > 20, `the probe wrote through the endpoint (${result.acks.length} acknowledged)`);
}

/**
 * Which nodes N clients at once reach through URL (each holds its server connection 0.3 s, so the
 * pooler opens several and spreads them over its hosts): their addresses, sorted and distinct.
 */
async function readFrom(url: string, n = 6): Promise<string[]> {
    const answers = await Promise.all(Array.from({ length: n }, () =>
        rows(url, "SELECT host(inet_server_addr()) AS a, pg_is_in_recovery() AS r, pg_sleep(0.3)::text AS s")));
    return [...new Set(answers.map(([r]) => `${r.a}${r.r ? "" : " (primary)"}`))].sort();
}

const serverOf = (url: string) => rows(url, "SELECT host(inet_server_addr()) AS a, pg_is_in_recovery() AS r").then((r) => r[0]);

for (const { major, mode, count, net, port } of [
    { major: 13 as const, mode: "async", count: 2, net: 56, port: 58600 },
    { major: 17 as const, mode: "sync", count: 3, net: 57, port: 58610 },
]) {
    describe(`the endpoints on PostgreSQL ${major}, ${mode}, ${count} nodes`, { timeout: TIMEOUT }, () => {
        const name = `e2e-endpoint${major}`;
        const address = (node: string) => `172.28.${net}.${100 + Number(node.slice(2))}`;
        const endpointPort = port + 9;
        let s: E2EStack;

        before(async () => {
            s = await e2eStack(name, oneEnginePlan(major, net, port, count, { mode, endpoints: { port: endpointPort, readPort: endpointPort - 1 } }));
            await s.up();
        });
        after(async () => {
            await s?.destroyAndRemove();
            assert.deepEqual(leftovers(name), []);
        });

        test("endpoints.rw reaches the primary; the user's own role logs in through it with SCRAM, a wrong password is refused; a second up changes nothing", async () => {
            const out = await s.outputs();
            assert.equal(out.endpoints.rw.port, endpointPort);
            assert.equal(out.endpoints.rw.containerName, `pg-replication-${name}-pooler`);
            assert.deepEqual(await serverOf(out.endpoints.rw.connectionString), { a: address("pg1"), r: false });
            await rows(out.primary.connectionString, "CREATE ROLE app LOGIN PASSWORD 'app-secret-1'");
            const app = `postgresql://app:app-secret-1@127.0.0.1:${endpointPort}/postgres`;
            assert.deepEqual(await rows(app, "SELECT current_user AS u"), [{ u: "app" }]);
            await assert.rejects(rows(`postgresql://app:wrong@127.0.0.1:${endpointPort}/postgres`, "SELECT 1"),
                /password authentication failed|SASL authentication failed/);
            // Its admin console is not reachable over TCP (PgBouncer 1.15 lets the login wait until it times out, 1.24 refuses it).
            await assert.rejects(rows(app.replace(/\/postgres$/, "/pgbouncer"), "SHOW POOLS"), /timeout expired|bouncer config error|not allowed/);
            await s.preview(true);
            // npm run status says where the endpoint sends writes.
            const st = await status(s.backend, name);
            assert.equal(st.code, 0, st.stdout + st.stderr);
            assert.match(st.stdout, new RegExp(`^endpoint  rw 127\\.0\\.0\\.1:${endpointPort} → pg1 \\(primary\\)$`, "m"));
            assert.match(st.stdout, new RegExp(`^endpoint  ro 127\\.0\\.0\\.1:${endpointPort - 1} → pg[23] \\(standby\\)$`, "m"));
        });

        test("endpoints.ro reaches the standbys and never the primary; on PgBouncer 1.17 and later (17's image) spread over all of them", async () => {
            const out = await s.outputs();
            assert.equal(out.endpoints.ro.port, endpointPort - 1);
            const standbys = Array.from({ length: count - 1 }, (_, i) => address(`pg${i + 2}`));
            const seen = await eventually(20, () => readFrom(out.endpoints.ro.connectionString),
                (hosts) => JSON.stringify(hosts) === JSON.stringify(standbys));
            assert.deepEqual(seen, standbys);
        });

        if (count === 3) {
            test("a standby whose replay falls behind the lag bound gets no reads; back in once it has caught up", async () => {
                const out = await s.outputs();
                const ro = out.endpoints.ro.connectionString;
                await rows(out.nodes.pg3.connectionString, "SELECT pg_wal_replay_pause()");
                try {
                    // More than maxReadLagBytes (16 MB, the default) of WAL that pg3 receives and does not replay.
                    await rows(out.primary.connectionString,
                        "CREATE TABLE read_lag AS SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, 30000) g");
                    const started = Date.now();
                    const without = await eventually(15, () => readFrom(ro), (hosts) => JSON.stringify(hosts) === JSON.stringify([address("pg2")]));
                    log(`read-only endpoint: pg3 out of the pool ${((Date.now() - started) / 1000).toFixed(1)} s after the write put it over the bound`);
                    assert.deepEqual(without, [address("pg2")]);
                    assert.match(docker("logs", out.endpoints.ro.containerName),
                        new RegExp(`pooler-watch: reads go to host=${address("pg2").replace(/\./g, "\\.")} port=5432 \\(standbys within 16777216 bytes: pg2\\)`));
                    // Every read meanwhile: pg2 only (pg3 over the bound, the primary never).
                    for (let i = 0; i < 3; i++) {
                        assert.deepEqual(await readFrom(ro), [address("pg2")]);
                    }
                } finally {
                    await rows(out.nodes.pg3.connectionString, "SELECT pg_wal_replay_resume()");
                }
                const back = await eventually(20, () => readFrom(ro), (hosts) => hosts.includes(address("pg3")));
                assert.deepEqual(back, [address("pg2"), address("pg3")]);
                assert.deepEqual(await rows(ro, "SELECT count(*)::int AS n FROM read_lag"), [{ n: 30000 }]);
                await rows(out.primary.connectionString, "DROP TABLE read_lag");
            });
        }

        if (count === 3) {
            test("an exhausted pool: a client waits for a server connection up to queryWaitTimeoutSeconds, then gets PgBouncer's error; one freed serves the next", async () => {
                const settings = { port: endpointPort, readPort: endpointPort - 1 };
                await s.setConfig({ endpoints: { ...settings, poolSize: 2, queryWaitTimeoutSeconds: 3 } });
                await s.up();
                const rw = (await s.outputs()).endpoints.rw.connectionString;
                // Two clients in a transaction each hold both of the pool's server connections.
                const holders = [new Client({ connectionString: rw }), new Client({ connectionString: rw })];
                try {
                    for (const h of holders) {
                        await h.connect();
                        await h.query("BEGIN");
                        await h.query("SELECT 1");
                    }
                    const started = Date.now();
                    await assert.rejects(rows(rw, "SELECT 1"), /query_wait_timeout/);
                    const waited = Date.now() - started;
                    log(`exhausted pool: the third client waited ${(waited / 1000).toFixed(2)} s, then query_wait_timeout`);
                    assert.ok(waited >= 2500 && waited < 10_000, `waited ${waited} ms for a 3 s bound`);
                    const waiting = rows(rw, "SELECT 1 AS one");
                    await new Promise((r) => setTimeout(r, 500));
                    await holders[0].query("COMMIT");
                    assert.deepEqual(await waiting, [{ one: 1 }], "the freed server connection serves the waiting client");
                } finally {
                    await Promise.all(holders.map((h) => h.end().catch(() => undefined)));
                    await s.setConfig({ endpoints: settings });
                    await s.up();
                }
            });
        }

        test("a switchover with the probe writing only through the endpoint: no client error, nothing lost, a stall and no more", async () => {
            const out = await s.outputs();
            const result = await probeThrough(out.endpoints.rw.connectionString, async () => {
                await s.setConfig({ primary: "pg2" });
                await s.up();
            });
            log(`switchover through the endpoint: ${result.acks.length} acknowledged, ${result.errors} client errors, ` +
                `longest stall ${(result.longestGapMs / 1000).toFixed(2)} s`);
            assert.equal(result.errors, 0, "the endpoint's clients saw no error");
            await assertNoneLost(out.nodes.pg2.connectionString, result);
            assert.ok(result.longestGapMs < 5000, `stall ${result.longestGapMs} ms`);
            assert.deepEqual(await serverOf(out.endpoints.rw.connectionString), { a: address("pg2"), r: false });
            // The read-only endpoint followed by itself: the old primary is a standby now and gets reads, the new one none.
            const standbys = ["pg1", ...Array.from({ length: count - 2 }, (_, i) => `pg${i + 3}`)].map(address).sort();
            assert.deepEqual(await eventually(20, () => readFrom(out.endpoints.ro.connectionString),
                (hosts) => JSON.stringify(hosts) === JSON.stringify(standbys)), standbys);
        });

        if (count === 2) {
            test("a crashed PgBouncer is restarted by Docker with its settings: the endpoint reaches the primary again", async () => {
                const out = await s.outputs();
                const pooler = out.endpoints.rw.containerName;
                const pid = docker("inspect", "-f", "{{.State.Pid}}", pooler).trim();
                process.kill(Number(pid), "SIGKILL");
                const back = await eventually(30, () => serverOf(out.endpoints.rw.connectionString).catch(() => undefined),
                    (r) => r?.a === address("pg2"));
                assert.deepEqual(back, { a: address("pg2"), r: false });
                assert.equal(docker("inspect", "-f", "{{.RestartCount}}", pooler).trim(), "1", "restarted by Docker");
            });

            test("pool settings are applied by reload: PgBouncer reports them, the same process still runs", async () => {
                const out = await s.outputs();
                const pooler = out.endpoints.rw.containerName;
                const started = identity(pooler);
                await s.setConfig({ endpoints: { port: endpointPort, readPort: endpointPort - 1, poolSize: 7, queryWaitTimeoutSeconds: 33 } });
                await s.up();
                assert.equal(identity(pooler), started, "the same process");
                const config = docker("exec", pooler, "psql", "-X", "-A", "-t", "-h", "/var/run/postgresql", "-p", "6432", "-U", "pgbouncer",
                    "-d", "pgbouncer", "-c", "SHOW CONFIG");
                assert.match(config, /^default_pool_size\|7\|/m);
                assert.match(config, /^query_wait_timeout\|33\|/m);
                assert.deepEqual(await serverOf(out.endpoints.rw.connectionString), { a: address("pg2"), r: false });
            });
        }

        if (count === 2) {
            test("endpoints turned off: both poolers and their role go, the lookup from every database (a user's too); no node touched; a second up changes nothing", async () => {
                const out = await s.outputs();
                const primary = out.nodes.pg2.connectionString;
                // Made from template1, so it has the lookup as well.
                await rows(primary, "CREATE DATABASE app");
                const nodeIds = () => ["pg1", "pg2"].map((n) => identity(`pg-replication-${name}-${n}`));
                const ids = nodeIds();
                await s.setConfig({ endpoints: undefined });
                const up = await s.up();
                assert.match(up.stdout, /pooler's password lookup \(pgbouncer\.get_auth\) removed from: app postgres template1; its role pgbouncer_auth goes next/);
                for (const c of [out.endpoints.rw.containerName, out.endpoints.ro.containerName]) {
                    assert.equal(docker("ps", "-a", "--filter", `name=^${c}$`, "--format", "{{.Names}}"), "", `${c} is gone`);
                }
                assert.equal((await s.outputs()).endpoints, undefined);
                assert.deepEqual(await rows(primary, "SELECT count(*)::int AS n FROM pg_roles WHERE rolname = 'pgbouncer_auth'"), [{ n: 0 }]);
                for (const db of ["postgres", "template1", "app"]) {
                    assert.equal(docker("exec", "-u", "postgres", `pg-replication-${name}-pg2`, "psql", "-X", "-A", "-t", "-d", db, "-c",
                        "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgbouncer'"), "0", `no lookup left in ${db}`);
                }
                assert.deepEqual(nodeIds(), ids, "the same node containers, never restarted");
                assert.deepEqual(await serverOf(primary), { a: address("pg2"), r: false });
                await s.preview(true);
            });
        }

        if (count === 3) {
            test("the drill's kill through the endpoint too: nothing acknowledged lost on either probe, its clients' errors and stall measured, then the endpoint reaches the new primary", async () => {
                const r = await runDrill(drillStack(s), "kill", log);
                log(`drill kill ${r.from} → ${r.to}: straight to the nodes ${r.acknowledged} acknowledged, ${r.lost} lost; through the ` +
                    `endpoint ${r.endpoint?.acknowledged} acknowledged, ${r.endpoint?.lost} lost, ${r.endpoint?.clientErrors} client errors, ` +
                    `longest stall ${r.endpoint?.longestStallSeconds.toFixed(2)} s`);
                assert.ok(r.endpoint, "the drill probed through the endpoint");
                assert.ok(r.endpoint.acknowledged > 20, `${r.endpoint.acknowledged} acknowledged through the endpoint`);
                assert.equal(r.endpoint.lost, 0);
                assert.equal(r.lost, 0);
                assert.ok(r.demotedByUp && r.consistentAfterRejoin, "the old primary rejoined with the same rows");
                const out = await s.outputs();
                assert.deepEqual(await serverOf(out.endpoints.rw.connectionString), { a: address(r.to), r: false });
            });
        }
    });
}
