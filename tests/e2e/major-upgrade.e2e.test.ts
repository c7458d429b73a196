// A new major by config, on the real engine (components/topology/upgrade.ts): three nodes on
// PostgreSQL 13 (sync ANY 1) with data in two databases, then `image: postgres:17`. Preview
// refuses while pg_upgrade --check finds something the new major cannot take (a user-defined
// postfix operator, gone in 14), naming it, and nothing changes. An up whose upgrade fails after
// pg_upgrade linked the files (a setting the new major lacks) gives the old cluster back and starts
// it again, with nothing lost and no container replaced. Then the upgrade under a write
// probe: the primary upgraded in place with pg_upgrade --link, the standbys cloned again from it;
// every table's rows equal before and after on every node, every acknowledged commit there, the
// standbys streaming on 17 in the quorum, statistics rebuilt, the old cluster's copies gone, and a
// second up with nothing to change; the endpoints (on the new major's tools image) reach the
// primary and a standby. Subnet 172.28.71.0/24, ports 58845-58849.

import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { docker, E2EStack, e2eStack, eventually, leftovers, log, nodeUrls, oneEnginePlan, rows, underWriteProbe } from "./harness";
import { PROBE_TABLE, WriteProbe } from "../../drill/probe";

const NAME = "e2e-major";
const NODES = ["pg1", "pg2", "pg3"];
const container = (node: string) => `pg-replication-${NAME}-${node}`;
const inspect = (node: string, format: string) => docker("inspect", "-f", format, container(node)).trim();

/** Every user table's row count and a hash of its rows, by database and name: what must not change. */
async function tableHashes(url: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const db of ["postgres", "app"]) {
        const tables = await rows(url, "SELECT format('%I.%I', schemaname, relname) AS t FROM pg_stat_user_tables " +
            `WHERE relname <> '${PROBE_TABLE}' ORDER BY 1`, db);
        for (const { t } of tables) {
            const [r] = await rows(url, `SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) AS h FROM ${t} x`, db);
            out[`${db}.${t}`] = `${r.n}:${r.h}`;
        }
    }
    return out;
}

describe("a new major by config: PostgreSQL 13 to 17 in place (3 nodes, sync ANY 1)", { timeout: 20 * 60 * 1000 }, () => {
    let s: E2EStack;
    let urls: Record<string, string>;
    let before13: Record<string, string>;
    before(async () => {
        // With the endpoints, as the dev stack has them: their images change with the major too.
        s = await e2eStack(NAME, oneEnginePlan(13, 71, 58845, 3, { mode: "sync", endpoints: { port: 58849, readPort: 58848 } }));
        await s.up();
        urls = await nodeUrls(s);
        await rows(urls.pg1, "CREATE TABLE kept AS SELECT g AS id, md5(g::text) AS note, now() - g * interval '1 minute' AS at FROM generate_series(1, 20000) g");
        await rows(urls.pg1, "ALTER TABLE kept ADD PRIMARY KEY (id)");
        await rows(urls.pg1, "CREATE SEQUENCE tickets START 41; SELECT nextval('tickets')");
        await rows(urls.pg1, "CREATE DATABASE app");
        await rows(urls.pg1, "CREATE TABLE orders (id bigserial PRIMARY KEY, item text NOT NULL, price numeric(10,2), tags text[], doc jsonb); " +
            "INSERT INTO orders (item, price, tags, doc) SELECT 'item ' || g, g / 7.0, ARRAY['a', g::text], jsonb_build_object('g', g) " +
            "FROM generate_series(1, 3000) g", "app");
        before13 = await tableHashes(urls.pg1);
        assert.match((await s.outputs()).nodes.pg2.version, /^13\.\d+/);
        assert.equal(Object.keys(before13).length, 2);
    });
    after(async () => {
        await s?.destroyAndRemove();
        assert.deepEqual(leftovers(NAME), []);
    });

    test("preview refuses what pg_upgrade --check refuses (a postfix operator), naming it; nothing changes", async () => {
        await rows(urls.pg1, "CREATE OPERATOR !!! (LEFTARG = bigint, FUNCTION = numeric)");
        try {
            await s.setConfig({ image: "postgres:17" });
            await assert.rejects(s.preview(), (err: Error) => {
                assert.match(err.message, /the image change is refused, nothing was changed/);
                assert.match(err.message, /pg_upgrade --check on a copy of pg-replication-e2e-major-pg1's schema refuses the upgrade/);
                assert.match(err.message, /postfix operators/i);
                return true;
            });
            assert.deepEqual(NODES.map((n) => inspect(n, "{{.Config.Image}}")), ["postgres:13", "postgres:13", "postgres:13"]);
            assert.deepEqual(await rows(urls.pg1, "SELECT pg_is_in_recovery() AS r, current_setting('server_version_num')::int / 10000 AS v"),
                [{ r: false, v: 13 }]);
        } finally {
            await rows(urls.pg1, "DROP OPERATOR !!! (bigint, NONE)");
        }
    });

    test("pg_upgrade failing at up after its links were made: the old cluster given back and started again, nothing lost", async () => {
        // A setting PostgreSQL 14 removed, made with ALTER SYSTEM: pg_upgrade links the files, then the new
        // server's look at the carried settings fails; upgrade_data renames pg_control.old back.
        await rows(urls.pg1, "ALTER SYSTEM SET operator_precedence_warning = on");
        const ids = Object.fromEntries(NODES.map((n) => [n, inspect(n, "{{.Id}}")]));
        try {
            await s.setConfig({ image: "postgres:17" });
            await assert.rejects(s.up(), (err: Error) => {
                assert.match(err.message, /operator_precedence_warning/);
                assert.match(err.message, /nothing is lost: the old primary pg1 runs PostgreSQL 13 again on its own data/);
                return true;
            });
            assert.deepEqual(NODES.map((n) => inspect(n, "{{.Id}}")), NODES.map((n) => ids[n]), "no container replaced");
            assert.deepEqual(NODES.map((n) => inspect(n, "{{.Config.Image}}")), ["postgres:13", "postgres:13", "postgres:13"]);
            assert.deepEqual(await eventually(30, () => rows(urls.pg1, "SELECT pg_is_in_recovery() AS r, " +
                "current_setting('server_version_num')::int / 10000 AS v"), () => true), [{ r: false, v: 13 }]);
            assert.deepEqual(await tableHashes(urls.pg1), before13);
            await rows(urls.pg1, "INSERT INTO kept VALUES (0, 'after the failed upgrade', now())");
            await rows(urls.pg1, "DELETE FROM kept WHERE id = 0");
            assert.equal(docker("exec", container("pg1"), "sh", "-c", "ls /var/lib/postgresql/data").trim().split("\n").filter((f) => /pgdata\./.test(f)).length, 0,
                "no new cluster left beside the old");
            await eventually(60, () => rows(urls.pg1, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'"),
                (r) => r[0].n === 2);
        } finally {
            await rows(urls.pg1, "ALTER SYSTEM RESET operator_precedence_warning");
        }
    });

    test("the upgrade: the primary in place, the standbys cloned again; every row and acknowledged commit kept, 17 streaming", async () => {
        const ids = Object.fromEntries(NODES.map((n) => [n, inspect(n, "{{.Id}}")]));
        const { value: up, seconds: upSeconds, writes: w } = await underWriteProbe(new WriteProbe({ pg1: urls.pg1, pg2: urls.pg2, pg3: urls.pg3 }),
            () => s.up());
        log(up.stdout.split("\n").filter((l) => /upgrade|pg_upgrade|cloned again|statistics/.test(l)).join("\n"));
        log(`major upgrade 13 -> 17: up ${upSeconds.toFixed(1)} s; ${w.acks.length} acknowledged writes, ${w.errors} failed attempts, ` +
            `longest write gap ${(w.longestGapMs / 1000).toFixed(2)} s`);

        for (const n of NODES) {
            assert.equal(inspect(n, "{{.Config.Image}}"), "postgres:17", `${n} runs the new image`);
            assert.notEqual(inspect(n, "{{.Id}}"), ids[n], `${n} has a new container`);
            assert.match(inspect(n, "{{range .Mounts}}{{.Name}} {{end}}"), new RegExp(`${container(n)}-data`), `${n} on its old volume`);
            assert.deepEqual(await rows(urls[n], "SELECT current_setting('server_version_num')::int / 10000 AS v"), [{ v: 17 }]);
            // The old cluster's copies are gone from every volume once every node runs 17.
            assert.equal(docker("exec", container(n), "sh", "-c", "ls -d /var/lib/postgresql/data/pgdata.*-old /var/lib/postgresql/data/upgrade-keep 2>/dev/null || true").trim(), "");
        }
        assert.deepEqual(await rows(urls.pg1, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
        const states = await eventually(30, () => rows(urls.pg1, "SELECT application_name AS n, state, sync_state FROM pg_stat_replication ORDER BY 1"),
            (x) => x.length === 2 && x.every((y) => y.state === "streaming" && y.sync_state === "quorum"));
        assert.deepEqual(states.map((x) => `${x.n}:${x.state}/${x.sync_state}`), ["pg2:streaming/quorum", "pg3:streaming/quorum"]);

        // Every table's rows, the sequence, every acknowledged commit, on every node.
        const [{ lsn }] = await rows(urls.pg1, "SELECT pg_current_wal_lsn()::text AS lsn");
        for (const n of NODES) {
            await eventually(30, () => rows(urls[n], n === "pg1" ? "SELECT true AS done" :
                `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn AS done`), (x) => x[0].done === true);
            assert.deepEqual(await tableHashes(urls[n]), before13, `every table's rows on ${n}`);
            const found = new Set((await rows(urls[n], `SELECT seq FROM ${PROBE_TABLE}`)).map((x) => Number(x.seq)));
            assert.deepEqual(w.acks.filter((a) => !found.has(a.seq)).map((a) => a.seq), [], `acknowledged commits missing on ${n}`);
        }
        assert.deepEqual(await rows(urls.pg1, "SELECT last_value::int AS v FROM tickets"), [{ v: 41 }]);
        assert.ok(w.acks.length > 0 && w.acks[w.acks.length - 1].node === "pg1", "writes go on, on pg1");
        // Statistics rebuilt before up returned (pg_upgrade carries none).
        assert.ok((await rows(urls.pg1, "SELECT count(*)::int AS n FROM pg_stats WHERE tablename = 'kept'"))[0].n > 0, "kept has statistics");
        assert.ok((await rows(urls.pg1, "SELECT count(*)::int AS n FROM pg_stats WHERE tablename = 'orders'", "app"))[0].n > 0, "orders has statistics");
        assert.ok(w.longestGapMs < 60_000, `longest write gap ${w.longestGapMs} ms`);
        // Each node's version in the outputs (its readiness gate's SHOW server_version), and the endpoints on
        // 17's tools image: read-write to pg1, read-only to a standby.
        const { endpoints, nodes } = await s.outputs();
        assert.deepEqual(NODES.map((n) => /^\d+/.exec(nodes[n].version)?.[0]), ["17", "17", "17"], JSON.stringify(nodes));
        assert.deepEqual(await rows(endpoints.rw.connectionString, "SELECT pg_is_in_recovery() AS r, current_setting('server_version_num')::int / 10000 AS v"),
            [{ r: false, v: 17 }]);
        await eventually(30, () => rows(endpoints.ro.connectionString, "SELECT pg_is_in_recovery() AS r"), (x) => x[0].r === true);

        await s.preview(true);
    });
});
