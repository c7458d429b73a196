// The cluster for real: `up` against Docker, checked from outside with a Postgres client, scaled,
// broken on purpose, and destroyed. Ports and subnets are moved off the dev stack's so a
// developer's own dev stack is never touched. Every stack is destroyed in `after`, pass or fail.

import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { caughtUp, docker, e2eStack, E2EStack, eventually, identity, leftovers, log, rows, withClient } from "./harness";

const TIMEOUT = 15 * 60 * 1000;

/** pg1 primary at .101 on portBase, then `standbys` more nodes pg2, pg3, ... */
function plan(major: 13 | 17, net: number, portBase: number, standbys: number, extra: Record<string, unknown> = {}) {
    return {
        image: `postgres:${major}`,
        subnet: `172.30.${net}.0/24`,
        nodes: Array.from({ length: standbys + 1 }, (_, i) => ({
            name: `pg${i + 1}`, address: `172.30.${net}.${101 + i}`, port: portBase + i,
        })),
        primary: "pg1",
        replicationUser: "repuser",
        replicationConnectionLimit: "5",
        readyTimeoutSeconds: "60",
        ...extra,
    };
}

function inspect(container: string): { id: string; startedAt: string } {
    const [id, startedAt] = identity(container).split(" ");
    return { id, startedAt };
}

async function replicationStates(primaryUrl: string): Promise<Record<string, string>> {
    const found = await rows(primaryUrl, "SELECT application_name, state, sync_state FROM pg_stat_replication");
    return Object.fromEntries(found.map((r) => [r.application_name, `${r.state}/${r.sync_state}`]));
}

async function testTable(url: string): Promise<string> {
    const found = await rows(url, "SELECT id, value FROM test ORDER BY id", "test");
    return JSON.stringify(found);
}

describe("dev plan on PostgreSQL 13 (async): up, check, re-up, scale 1→2→1, destroy", { timeout: TIMEOUT }, () => {
    const name = "e2e-pg13";
    // Characters that need escaping in a passfile (:), in SQL (') and in a URL (@), and a backslash
    // where it is allowed (the superuser's: the replication role's is refused, see config.ts).
    const config = plan(13, 13, 55432, 1, { mode: "async", superuserPassword: "su'per:p@ss\\1", replicationPassword: "re'pl:p@ss2" });
    let s: E2EStack;
    let primaryUrl: string;
    let standby1Url: string;

    before(async () => {
        s = await e2eStack(name, config);
    });
    after(async () => {
        await s?.destroyAndRemove();
    });

    test("up builds a primary and a standby that streams asynchronously", async () => {
        await s.up();
        const out = await s.outputs();
        primaryUrl = out.primary.connectionString;
        standby1Url = out.nodes.pg2.connectionString;
        assert.equal(out.nodes.pg2.syncState, "async");
        assert.deepEqual(await replicationStates(primaryUrl), { pg2: "streaming/async" });
    });

    test("the tutorial's own check: rows written on the primary are on the standby", async () => {
        await withClient(primaryUrl, (c) => c.query("CREATE DATABASE test"));
        await withClient(primaryUrl, async (c) => {
            await c.query('CREATE TABLE test ("id" int4 NOT NULL, "value" varchar(255), PRIMARY KEY ("id"))');
            await c.query("INSERT INTO test SELECT generate_series(1,10), md5(random()::text)");
        }, "test");
        await caughtUp(primaryUrl, standby1Url);
        const onPrimary = await testTable(primaryUrl);
        assert.equal(JSON.parse(onPrimary).length, 10);
        assert.equal(await testTable(standby1Url), onPrimary);
    });

    test("the standby refuses writes", async () => {
        await assert.rejects(rows(standby1Url, "CREATE TABLE nope (id int)", "test"), /read-only transaction/);
    });

    test("the replication role has LOGIN, REPLICATION, the connection limit and a SCRAM password", async () => {
        const [role] = await rows(primaryUrl, `SELECT rolcanlogin, rolreplication, rolconnlimit,
            rolpassword LIKE 'SCRAM-SHA-256$%' AS scram FROM pg_authid WHERE rolname = 'repuser'`);
        assert.deepEqual(role, { rolcanlogin: true, rolreplication: true, rolconnlimit: 5, scram: true });
    });

    test("replication is allowed from the nodes' addresses only, and no password sits in its config", async () => {
        const rules = await rows(primaryUrl, `SELECT type, database, address, netmask, auth_method, error
            FROM pg_hba_file_rules ORDER BY line_number`);
        assert.deepEqual(rules.filter((r) => r.database?.includes("replication")).map(({ error, type, database, ...r }) => r),
            [{ address: "172.30.13.101", netmask: "255.255.255.255", auth_method: "scram-sha-256" },
                { address: "172.30.13.102", netmask: "255.255.255.255", auth_method: "scram-sha-256" }]);
        assert.deepEqual(rules.filter((r) => r.type !== "local").map((r) => r.auth_method),
            ["scram-sha-256", "scram-sha-256", "scram-sha-256"], "every TCP rule is scram-sha-256");
        assert.deepEqual(rules.filter((r) => r.error !== null), []);
        const conf = docker("exec", `pg-replication-${name}-pg2`, "cat", "/var/lib/postgresql/data/pgdata/postgresql.auto.conf");
        assert.doesNotMatch(conf, /password=/);
        assert.match(conf, /passfile=\/var\/lib\/postgresql\/data\/replication\.pgpass/);
        assert.match(conf, /primary_slot_name = 'pg2'/);
        assert.equal(docker("exec", `pg-replication-${name}-pg2`, "stat", "-c", "%a %U", "/var/lib/postgresql/data/replication.pgpass"),
            "600 postgres");
        for (const container of [`pg-replication-${name}-pg2`, `pg-replication-${name}-pg1`]) {
            assert.ok(!docker("inspect", container).includes("p@ss"), `a password is visible in docker inspect ${container}`);
        }
    });

    test("a second up changes nothing, and preview expects no changes", async () => {
        const result = await s.up();
        const changed = Object.entries(result.summary.resourceChanges ?? {}).filter(([op]) => op !== "same");
        assert.deepEqual(changed, []);
        await s.preview(true);
    });

    test("scaling to two standbys and back keeps the primary running and drops the removed slot", async () => {
        const primary = `pg-replication-${name}-pg1`;
        const before = inspect(primary);

        await s.setConfig({ nodes: plan(13, 13, 55432, 2).nodes });
        await s.up();
        const out = await s.outputs();
        const standby2Url = out.nodes.pg3.connectionString;
        assert.deepEqual(inspect(primary), before, "the primary was not replaced or restarted");
        assert.deepEqual(await replicationStates(primaryUrl), { pg2: "streaming/async", pg3: "streaming/async" });
        await caughtUp(primaryUrl, standby2Url);
        assert.equal(await testTable(standby2Url), await testTable(primaryUrl), "rows written before are on the new standby");

        await withClient(primaryUrl, (c) => c.query("INSERT INTO test SELECT generate_series(11,20), md5(random()::text)"), "test");
        await s.setConfig({ nodes: plan(13, 13, 55432, 1).nodes });
        await s.up();
        assert.deepEqual(inspect(primary), before, "the primary was not replaced or restarted");
        assert.deepEqual(await rows(primaryUrl, "SELECT slot_name FROM pg_replication_slots ORDER BY 1"), [{ slot_name: "pg2" }]);
        assert.equal(docker("ps", "-aq", "--filter", `name=^pg-replication-${name}-pg3$`), "");
        await caughtUp(primaryUrl, standby1Url);
        const primaryRows = await testTable(primaryUrl);
        assert.equal(JSON.parse(primaryRows).length, 20);
        assert.equal(await testTable(standby1Url), primaryRows, "rows written between the steps are on the standby");
    });

    test("destroy leaves no container, volume or network of the stack, an empty state, and the image", async () => {
        await s.destroy();
        assert.deepEqual(await s.resourceTypes(), []);
        assert.deepEqual(leftovers(name), []);
        assert.notEqual(docker("image", "ls", "-q", "postgres:13"), "");
    });
});

for (const { major, mode, standbys, net, port, expected } of [
    { major: 13 as const, mode: "sync", standbys: 1, net: 14, port: 55442, expected: { pg2: "streaming/sync" } },
    { major: 17 as const, mode: "async", standbys: 1, net: 17, port: 55452, expected: { pg2: "streaming/async" } },
    { major: 17 as const, mode: "sync", standbys: 2, net: 18, port: 55462,
        expected: { pg2: "streaming/quorum", pg3: "streaming/quorum" } },
]) {
    describe(`PostgreSQL ${major}, ${mode}, ${standbys} standby(s)`, { timeout: TIMEOUT }, () => {
        const name = `e2e-pg${major}-${mode}-${standbys}`;
        let s: E2EStack;
        before(async () => {
            s = await e2eStack(name, plan(major, net, port, standbys, { mode }));
        });
        after(async () => {
            await s?.destroyAndRemove();
            assert.deepEqual(leftovers(name), []);
        });

        test("up gates on the promised sync_state and a committed row reaches every standby", async () => {
            await s.up();
            const out = await s.outputs();
            assert.deepEqual(await replicationStates(out.primary.connectionString), expected);
            await withClient(out.primary.connectionString, async (c) => {
                await c.query("CREATE TABLE t (id int PRIMARY KEY)");
                await c.query("INSERT INTO t VALUES (1)");
            });
            for (const standby of Object.keys(expected)) {
                const found = await eventually(30, () => rows(out.nodes[standby].connectionString,
                    "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 't'"), (r) => r[0].n === 1);
                assert.equal(found[0].n, 1, standby);
            }
        });

        if (standbys >= 2) {
            test("with a quorum (ANY 1), writes go on while one standby is down", async () => {
                const out = await s.outputs();
                docker("stop", `pg-replication-${name}-pg3`);
                try {
                    const t0 = Date.now();
                    await rows(out.primary.connectionString, "INSERT INTO t VALUES (2)");
                    assert.ok(Date.now() - t0 < 5000, "the commit waited for the stopped standby");
                } finally {
                    docker("start", `pg-replication-${name}-pg3`);
                }
            });
        }
    });
}

describe("a standby that cannot replicate fails the deployment within its bound", { timeout: TIMEOUT }, () => {
    const name = "e2e-broken";
    let s: E2EStack;
    before(async () => {
        s = await e2eStack(name, plan(13, 19, 55472, 1, { replicationPassword: "right-password" }));
        await s.up();
    });
    after(async () => {
        await s?.destroyAndRemove();
    });

    test("up fails naming the standby and the reason, not hanging", async () => {
        // The role's password is changed behind Pulumi's back, so a new standby's clone is refused.
        const out = await s.outputs();
        await withClient(out.primary.connectionString, (c) => c.query("ALTER ROLE repuser PASSWORD 'changed-elsewhere'"));
        await s.setConfig({ nodes: plan(13, 19, 55472, 2).nodes });
        const started = Date.now();
        await assert.rejects(s.up(), (err: Error) => {
            assert.match(err.message, /cluster-pg3-seed/);
            assert.match(err.message, /password authentication failed for user "repuser"/);
            return true;
        });
        const seconds = (Date.now() - started) / 1000;
        log(`failed up took ${seconds.toFixed(1)} s`);
        assert.ok(seconds < 60 + 60, `took ${seconds}s, more than the readiness bound`);
        // Restore the password so destroy can drop what exists.
        await withClient(out.primary.connectionString, (c) => c.query("ALTER ROLE repuser PASSWORD 'right-password'"));
    });
});
