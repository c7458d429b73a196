// Real PostgreSQL on a real Docker engine, built from exactly what the program declares (see
// replay.ts), then checked from outside with a Postgres client: the tutorial's check, the
// role, the access rules, where secrets end up, scaling, sync modes and the readiness gate.
// Subnets and ports are moved off the dev stack's; everything is removed afterwards by label.

import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client } from "pg";
import { DEV, Run, runProgram } from "../support/mocked-program";
import { removeStackObjects } from "../support/docker-objects";
import { timed as timedIn } from "../support/timed";
import { Replayer, sh } from "./replay";

// Characters that need escaping in a passfile (: and \), in SQL (') and in a URL (@).
const SUPER = "su'per:p@ss\\1";
const REPL = "re'pl:p@ss\\2";
const TIMEOUT = 10 * 60 * 1000;

function plan(major: number, net: number, port: number, standbys: number, extra: Record<string, unknown> = {}) {
    return {
        ...DEV,
        image: `postgres:${major}`,
        networkName: `pg-replication-int-${net}`,
        subnet: `172.31.${net}.0/24`,
        primaryAddress: `172.31.${net}.101`,
        primaryPort: String(port),
        standbys: Array.from({ length: standbys }, (_, i) => ({ name: `standby${i + 1}`, address: `172.31.${net}.${102 + i}`, port: port + 1 + i })),
        readyTimeoutSeconds: "60",
        superuserPassword: SUPER,
        replicationPassword: REPL,
        ...extra,
    };
}

const program = (stack: string, config: Record<string, unknown>) =>
    runProgram(config, ["superuserPassword", "replicationPassword"], stack);

const timed = <T>(what: string, fn: () => Promise<T>) => timedIn("integration", what, fn);

/** Clears anything left with the stack's label, then replays the program's first `up`. */
async function freshCluster(stack: string, config: Record<string, unknown>): Promise<{ replay: Replayer; run: Run }> {
    removeStackObjects(stack);
    const run = await program(stack, config);
    const replay = new Replayer();
    await timed(`up ${stack}`, () => replay.up(run));
    return { replay, run };
}

async function query(port: number, sql: string, database = "postgres"): Promise<any[]> {
    const client = new Client({ host: "127.0.0.1", port, user: "postgres", password: SUPER, database, connectionTimeoutMillis: 10_000 });
    await client.connect();
    try {
        return (await client.query(sql)).rows;
    } finally {
        await client.end();
    }
}

async function states(primaryPort: number): Promise<Record<string, string>> {
    const found = await query(primaryPort, "SELECT application_name, state, sync_state FROM pg_stat_replication");
    return Object.fromEntries(found.map((r) => [r.application_name, `${r.state}/${r.sync_state}`]));
}

async function caughtUp(primaryPort: number, standbyPort: number): Promise<void> {
    const [{ lsn }] = await query(primaryPort, "SELECT pg_current_wal_lsn()::text AS lsn");
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
        const [{ done }] = await query(standbyPort, `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn AS done`);
        if (done) {
            return;
        }
        await new Promise((r) => setTimeout(r, 200));
    }
    assert.fail(`standby on ${standbyPort} did not replay up to ${lsn} within 30 s`);
}

const testTable = async (port: number) => JSON.stringify(await query(port, "SELECT id, value FROM test ORDER BY id", "test"));
const started = (name: string) => sh(["docker", "inspect", "-f", "{{.Id}} {{.State.StartedAt}}", name]);

describe("PostgreSQL 13, the dev plan (async): up, check, scale 1→2→1, destroy", { timeout: TIMEOUT }, () => {
    const stack = "int-pg13";
    let replay: Replayer;
    let current: Run;

    before(async () => {
        ({ replay, run: current } = await freshCluster(stack, plan(13, 13, 56432, 1)));
    });
    after(async () => {
        await replay?.destroy(current).catch(() => undefined);
        removeStackObjects(stack);
    });

    test("the standby streams asynchronously", async () => {
        assert.deepEqual(await states(56432), { standby1: "streaming/async" });
    });

    test("the tutorial's own check: the standby returns exactly the rows written on the primary", async () => {
        await query(56432, "CREATE DATABASE test");
        await query(56432, 'CREATE TABLE test ("id" int4 NOT NULL, "value" varchar(255), PRIMARY KEY ("id"))', "test");
        await query(56432, "INSERT INTO test SELECT generate_series(1,10), md5(random()::text)", "test");
        await caughtUp(56432, 56433);
        const rows = await testTable(56432);
        assert.equal(JSON.parse(rows).length, 10);
        assert.equal(await testTable(56433), rows);
    });

    test("the standby refuses writes", async () => {
        await assert.rejects(query(56433, "CREATE TABLE nope (id int)", "test"), /read-only transaction/);
    });

    test("the role has LOGIN, REPLICATION, connection limit 5 and a SCRAM password", async () => {
        const [role] = await query(56432, `SELECT rolcanlogin, rolreplication, rolconnlimit,
            rolpassword LIKE 'SCRAM-SHA-256$%' AS scram FROM pg_authid WHERE rolname = 'repuser'`);
        assert.deepEqual(role, { rolcanlogin: true, rolreplication: true, rolconnlimit: 5, scram: true });
        const [su] = await query(56432, "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' AS scram FROM pg_authid WHERE rolname = 'postgres'");
        assert.equal(su.scram, true, "PostgreSQL 13 would store md5 without password_encryption=scram-sha-256");
    });

    test("replication is allowed from the standby's /32 only; every TCP rule is scram-sha-256", async () => {
        const rules = await query(56432, `SELECT type, database, address, netmask, auth_method FROM pg_hba_file_rules ORDER BY line_number`);
        assert.deepEqual(rules.filter((r) => r.database.includes("replication")),
            [{ type: "host", database: ["replication"], address: "172.31.13.102", netmask: "255.255.255.255", auth_method: "scram-sha-256" }]);
        assert.deepEqual(rules.filter((r) => r.type !== "local").map((r) => r.auth_method), ["scram-sha-256", "scram-sha-256"]);
        const [{ n }] = await query(56432, "SELECT count(*)::int AS n FROM pg_hba_file_rules WHERE error IS NOT NULL");
        assert.equal(n, 0);
    });

    test("no password in the standby's config, the passfile is postgres's alone, none in container env", () => {
        const standby = "pg-replication-int-pg13-standby1";
        const auto = sh(["docker", "exec", standby, "cat", "/var/lib/postgresql/data/pgdata/postgresql.auto.conf"]);
        assert.doesNotMatch(auto, /password=/);
        assert.match(auto, /primary_conninfo = '.*passfile=\/var\/lib\/postgresql\/data\/replication\.pgpass/);
        assert.match(auto, /primary_slot_name = 'standby1'/);
        assert.equal(sh(["docker", "exec", standby, "stat", "-c", "%a %U", "/var/lib/postgresql/data/replication.pgpass"]), "600 postgres");
        for (const c of [standby, "pg-replication-int-pg13-primary"]) {
            const inspect = sh(["docker", "inspect", c]);
            assert.ok(!inspect.includes("p@ss"), `a password is visible in docker inspect ${c}`);
        }
    });

    test("adding a standby touches only the access rules and the policy, not the running nodes", async () => {
        const primaryBefore = started("pg-replication-int-pg13-primary");
        const standbyBefore = started("pg-replication-int-pg13-standby1");
        const next = await program(stack, plan(13, 13, 56432, 2));
        const steps = await timed("scale 1→2", () => replay.change(current, next));
        current = next;
        assert.deepEqual(steps, [
            "update primary-access",
            "create standby-standby2", "create standby-standby2-data", "create standby-standby2-passfile", "create standby-standby2-clone",
            "create standby-standby2", "create standby-standby2-streaming",
            "update replication-policy-apply",
        ]);
        assert.equal(started("pg-replication-int-pg13-primary"), primaryBefore);
        assert.equal(started("pg-replication-int-pg13-standby1"), standbyBefore);
        assert.deepEqual(await states(56432), { standby1: "streaming/async", standby2: "streaming/async" });
        await caughtUp(56432, 56434);
        assert.equal(await testTable(56434), await testTable(56432), "rows written before are on the new standby");
    });

    test("removing it drops its slot and container and keeps the rest running", async () => {
        const primaryBefore = started("pg-replication-int-pg13-primary");
        await query(56432, "INSERT INTO test SELECT generate_series(11,20), md5(random()::text)", "test");
        const next = await program(stack, plan(13, 13, 56432, 1));
        const steps = await timed("scale 2→1", () => replay.change(current, next));
        current = next;
        assert.deepEqual(steps, [
            "update primary-access", "update replication-policy-apply",
            "delete standby-standby2-streaming", "delete standby-standby2", "delete standby-standby2-clone",
            "delete standby-standby2-passfile", "delete standby-standby2-data", "delete standby-standby2",
        ]);
        assert.equal(started("pg-replication-int-pg13-primary"), primaryBefore);
        assert.deepEqual(await query(56432, "SELECT slot_name FROM pg_replication_slots ORDER BY 1"), [{ slot_name: "standby1" }]);
        assert.equal(sh(["docker", "ps", "-aq", "--filter", "name=^pg-replication-int-pg13-standby2$"]), "");
        await caughtUp(56432, 56433);
        const rows = await testTable(56432);
        assert.equal(JSON.parse(rows).length, 20);
        assert.equal(await testTable(56433), rows, "rows written between the steps are on the standby");
    });

    test("destroy leaves nothing with the stack's label and keeps the image", async () => {
        await timed(`destroy ${stack}`, () => replay.destroy(current));
        assert.deepEqual(removeStackObjects(stack), []);
        assert.notEqual(sh(["docker", "image", "ls", "-q", "postgres:13"]), "");
    });
});

for (const c of [
    { major: 13, mode: "sync", standbys: 1, net: 14, port: 56442, expected: { standby1: "streaming/sync" } },
    { major: 17, mode: "async", standbys: 1, net: 17, port: 56452, expected: { standby1: "streaming/async" } },
    { major: 17, mode: "sync", standbys: 2, net: 18, port: 56462, expected: { standby1: "streaming/quorum", standby2: "streaming/quorum" } },
]) {
    describe(`PostgreSQL ${c.major}, ${c.mode}, ${c.standbys} standby(s)`, { timeout: TIMEOUT }, () => {
        const stack = `int-pg${c.major}-${c.mode}-${c.standbys}`;
        let replay: Replayer;
        let run: Run;
        before(async () => {
            ({ replay, run } = await freshCluster(stack, plan(c.major, c.net, c.port, c.standbys, { mode: c.mode })));
        });
        after(async () => {
            await timed(`destroy ${stack}`, async () => replay?.destroy(run)).catch(() => undefined);
            assert.deepEqual(removeStackObjects(stack), []);
        });

        test("every standby is in the promised sync_state, and a commit reaches each", async () => {
            assert.deepEqual(await states(c.port), c.expected);
            await query(c.port, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)");
            for (let i = 1; i <= c.standbys; i++) {
                await caughtUp(c.port, c.port + i);
                assert.deepEqual(await query(c.port + i, "SELECT id FROM t"), [{ id: 1 }]);
            }
        });

        if (c.standbys >= 2) {
            test("with a quorum, writes go on while one standby is down", async () => {
                sh(["docker", "stop", `pg-replication-${stack}-standby2`]);
                try {
                    const t0 = Date.now();
                    await query(c.port, "INSERT INTO t VALUES (2)");
                    assert.ok(Date.now() - t0 < 5000, "the commit waited for the stopped standby");
                } finally {
                    sh(["docker", "start", `pg-replication-${stack}-standby2`]);
                }
            });
        }
    });
}

describe("a standby that cannot replicate fails within the bound and says why", { timeout: TIMEOUT }, () => {
    const stack = "int-broken";
    let replay: Replayer;
    let run: Run;
    before(async () => {
        ({ replay, run } = await freshCluster(stack, plan(13, 19, 56472, 1, { readyTimeoutSeconds: "15" })));
    });
    after(async () => {
        await query(56472, `ALTER ROLE repuser PASSWORD '${REPL.replace(/'/g, "''")}'`).catch(() => undefined);
        await replay?.destroy(run).catch(() => undefined);
        removeStackObjects(stack);
    });

    test("the readiness gate reports the standby and its log's reason", async () => {
        await query(56472, "ALTER ROLE repuser PASSWORD 'changed-behind-pulumi'");
        sh(["docker", "restart", "pg-replication-int-broken-standby1"]);
        const gate = run.resources.find((r) => r.name === "standby-standby1-streaming")!;
        const t0 = Date.now();
        await assert.rejects(replay.create(gate), (err: Error) => {
            assert.match(err.message, /standby standby1 is not streaming from the primary after 15s/);
            assert.match(err.message, /password authentication failed for user "repuser"/);
            return true;
        });
        assert.ok(Date.now() - t0 < 30_000, `took ${(Date.now() - t0) / 1000}s`);
    });

    test("a new standby whose clone is refused fails with pg_basebackup's reason", async () => {
        const next = await program(stack, plan(13, 19, 56472, 2, { readyTimeoutSeconds: "15" }));
        await assert.rejects(replay.change(run, next), (err: Error) => {
            assert.match(err.message, /command standby-standby2-clone failed/);
            assert.match(err.message, /password authentication failed for user "repuser"/);
            return true;
        });
    });
});
