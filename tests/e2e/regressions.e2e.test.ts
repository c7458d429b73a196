// The regressions of the real-provider fixes (issue 7), on the real engine: one stack taken
// through the changes that broke it before. A password rotation keeps the standby's data and it
// streams with the new password (F1); readyTimeoutSeconds touches no container and no clone (M2);
// a new superuser password works (F5); refresh then up changes nothing (M4); a replaced primary
// shut down cleanly (M1); destroy succeeds with the primary stopped and a superuser password the
// server never got (F5, F6). Subnet 172.28.42.0/24 and ports 584xx, away from the other suites.

import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { containerLog, docker, e2eStack, E2EStack, eventually, identity, leftovers, rows, withClient } from "./harness";

const TIMEOUT = 15 * 60 * 1000;
const NAME = "e2e-regressions";
const PRIMARY = `pg-replication-${NAME}-pg1`;
const STANDBY = `pg-replication-${NAME}-pg2`;
const nodes = (port1: number) => [{ name: "pg1", address: "172.28.42.101", port: port1 },
    { name: "pg2", address: "172.28.42.102", port: 58421 }];

const CONFIG = {
    image: "postgres:13",
    subnet: "172.28.42.0/24",
    nodes: nodes(58420),
    primary: "pg1",
    replicationUser: "repuser",
    replicationConnectionLimit: "5",
    mode: "async",
    readyTimeoutSeconds: "60",
    superuserPassword: "first-super:pw",
    replicationPassword: "first-repl:pw",
};

/** Resource changes of an `up` other than "same", e.g. { update: 2 }. */
function changes(result: { summary: { resourceChanges?: Record<string, number> } }): Record<string, number> {
    return Object.fromEntries(Object.entries(result.summary.resourceChanges ?? {}).filter(([op]) => op !== "same"));
}

async function systemIdentifier(url: string): Promise<string> {
    const [row] = await rows(url, "SELECT system_identifier::text AS id FROM pg_control_system()");
    return row.id;
}

async function streamingState(primaryUrl: string): Promise<string> {
    const found = await rows(primaryUrl, "SELECT state FROM pg_stat_replication WHERE application_name = 'pg2'");
    return found[0]?.state ?? "not connected";
}

async function caughtUp(primaryUrl: string, standbyUrl: string): Promise<void> {
    const [{ lsn }] = await rows(primaryUrl, "SELECT pg_current_wal_lsn()::text AS lsn");
    const replayed = await eventually(30, () => rows(standbyUrl,
        `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn AS done`), (r) => r[0].done === true);
    assert.equal(replayed[0].done, true, `standby did not replay up to ${lsn} within 30 s`);
}

const table = (url: string) => rows(url, "SELECT id, v FROM kept ORDER BY id").then((r) => JSON.stringify(r));

describe("regressions of the real-provider fixes (issue 7)", { timeout: TIMEOUT }, () => {
    let s: E2EStack;
    let primaryUrl: string;
    let standbyUrl: string;
    let clonedAs: string;

    before(async () => {
        s = await e2eStack(NAME, CONFIG);
        await s.up();
        const out = await s.outputs();
        primaryUrl = out.primary.connectionString;
        standbyUrl = out.nodes.pg2.connectionString;
        await withClient(primaryUrl, async (c) => {
            await c.query("CREATE TABLE kept (id int PRIMARY KEY, v text)");
            await c.query("INSERT INTO kept SELECT g, md5(g::text) FROM generate_series(1, 100) g");
        });
        await caughtUp(primaryUrl, standbyUrl);
        clonedAs = await systemIdentifier(standbyUrl);
    });
    after(async () => {
        await s?.destroyAndRemove().catch(() => undefined);
        assert.deepEqual(leftovers(NAME), []);
    });

    test("M2: a new readyTimeoutSeconds updates only the gates, never a container or the clone", async () => {
        const before = [identity(PRIMARY), identity(STANDBY)];
        await s.setConfig({ readyTimeoutSeconds: "90" });
        const result = await s.up();
        // The two readiness gates, the two streaming gates, topology, the roll's handover (the topology
        // step's input), the policy and the major upgrade's step (its bound on the standby's replay; it
        // looks once and stops when the primary runs the image) carry TIMEOUT; nothing else may change.
        assert.deepEqual(changes(result), { update: 8 });
        assert.deepEqual([identity(PRIMARY), identity(STANDBY)], before);
    });

    test("F1: a new replicationPassword keeps the standby's data, and it streams again with the new password", async () => {
        const before = [identity(PRIMARY), identity(STANDBY)];
        await s.setConfig({ replicationPassword: "second-repl:pw" });
        const result = await s.up();
        // The Role (ALTER ROLE) and both nodes' passfiles; the seeds and the containers stay.
        assert.deepEqual(changes(result), { update: 3 });
        assert.deepEqual([identity(PRIMARY), identity(STANDBY)], before);
        assert.equal(await systemIdentifier(standbyUrl), clonedAs, "the standby is the same cluster, not a new clone");
        assert.equal(await table(standbyUrl), await table(primaryUrl), "the rows written before are on the standby");

        // Force a reconnect: the old password no longer works, so streaming again proves the passfile.
        await rows(primaryUrl, "SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = 'pg2'");
        const state = await eventually(60, () => streamingState(primaryUrl).catch(() => "error"), (v) => v === "streaming");
        assert.equal(state, "streaming");
        await withClient(primaryUrl, (c) => c.query("INSERT INTO kept SELECT g, md5(g::text) FROM generate_series(101, 110) g"));
        await caughtUp(primaryUrl, standbyUrl);
        assert.equal(await table(standbyUrl), await table(primaryUrl));
        const repuser = new URL(primaryUrl);
        repuser.username = "repuser";
        repuser.password = encodeURIComponent("second-repl:pw");
        assert.deepEqual(await rows(repuser.toString(), "SELECT current_user AS u"), [{ u: "repuser" }]);
    });

    test("F5: a new superuserPassword is set on the server before anything uses it", async () => {
        const before = identity(PRIMARY);
        await s.setConfig({ superuserPassword: "second-super:pw" });
        const result = await s.up();
        assert.equal(changes(result).replace ?? 0, 0);
        assert.equal(identity(PRIMARY), before, "the primary was not replaced or restarted");
        const out = await s.outputs();
        assert.match(decodeURIComponent(new URL(out.primary.connectionString).password), /^second-super:pw$/);
        assert.deepEqual(await rows(out.primary.connectionString, "SELECT 1 AS one"), [{ one: 1 }]);
        await assert.rejects(rows(primaryUrl, "SELECT 1"), /password authentication failed/);
        primaryUrl = out.primary.connectionString;
        standbyUrl = out.nodes.pg2.connectionString;
    });

    test("M4: refresh, then up, changes nothing", async () => {
        await s.refresh();
        assert.deepEqual(changes(await s.up()), {});
        await s.preview(true);
    });

    test("M1: a replaced primary was shut down cleanly, not killed", async () => {
        const oldId = identity(PRIMARY).split(" ")[0];
        await s.setConfig({ nodes: nodes(58422) });
        await s.up();
        const newId = identity(PRIMARY).split(" ")[0];
        assert.notEqual(newId, oldId, "changing the port replaces the primary on its volume");
        const log = containerLog(PRIMARY);
        assert.match(log, /database system was shut down at/);
        assert.doesNotMatch(log, /database system was interrupted|not properly shut down|automatic recovery in progress/);
        const out = await s.outputs();
        primaryUrl = out.primary.connectionString;
        const state = await eventually(60, () => streamingState(primaryUrl).catch(() => "error"), (v) => v === "streaming");
        assert.equal(state, "streaming");
    });

    test("F5, F6: destroy succeeds with the primary stopped and a superuser password the server never got", async () => {
        await s.setConfig({ superuserPassword: "third-super:pw" });
        docker("stop", PRIMARY);
        await s.destroy();
        assert.deepEqual(await s.resourceTypes(), []);
        assert.deepEqual(leftovers(NAME), []);
    });
});
