// A new major by config with the nodes on three Docker hosts of our own (tests/support/hosts.ts):
// PostgreSQL 13 to 17 under a write probe, as on one engine (major-upgrade.e2e.test.ts), across
// engines: pg_upgrade --link on the primary's host (the upgrade image there), the standbys on the
// other hosts cloned again from it over TLS, the first one keeping its PostgreSQL 13 data beside
// until every node streams on 17 (its mark set on its own engine). Every row and every
// acknowledged commit on every node, the standbys streaming over TLS, the old copies gone, and an
// up with nothing to change. Hosts 10.231.12.11-13, cluster subnet 172.28.48.0/24 on each engine,
// ports 58620-58622.

import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PROBE_TABLE, WriteProbe } from "../../drill/probe";
import { caughtUp, eventually, log, nodeUrls, planOnHosts, rows, stackOnHosts, underWriteProbe } from "./harness";

const NODES = ["pg1", "pg2", "pg3"];
const UPGRADE_IMAGE = "pg-replication/postgres-upgrade:13-17";

/** The table's row count and a hash of its rows. */
const hash = async (url: string) => (await rows(url, "SELECT count(*)::int AS n, md5(string_agg(x::text, ',' ORDER BY x.id)) AS h FROM kept x"))[0];

describe("a new major across three Docker hosts: PostgreSQL 13 to 17 in place, the standbys cloned again over TLS", { timeout: 20 * 60 * 1000 }, () => {
    const on = stackOnHosts({ set: "majh", subnet: 12, count: 3, images: ["postgres:13", "postgres:17", UPGRADE_IMAGE] }, "e2e-major-hosts",
        (hosts) => planOnHosts(hosts, { net: 48, port: 58620, readyTimeoutSeconds: "60" }));
    const container = (i: number) => `pg-replication-${on.stack.name}-pg${i + 1}`;
    const inspect = (i: number, format: string) => on.set.hosts[i].docker("inspect", "-f", format, container(i));
    let urls: Record<string, string> = {};

    test("up on PostgreSQL 13, one node on each host; 20000 rows", async () => {
        await on.stack.up();
        urls = await nodeUrls(on.stack);
        await rows(urls.pg1, "CREATE TABLE kept AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 20000) g");
        await rows(urls.pg1, "ALTER TABLE kept ADD PRIMARY KEY (id)");
    });

    test("image postgres:17: the upgrade across hosts under a write probe; every row and acknowledged commit on every node", async () => {
        const before13 = await hash(urls.pg1);
        const ids = NODES.map((_, i) => inspect(i, "{{.Id}}"));
        await on.stack.setConfig({ image: "postgres:17" });
        const { value: up, seconds: upSeconds, writes: w } = await underWriteProbe(new WriteProbe({ pg1: urls.pg1, pg2: urls.pg2, pg3: urls.pg3 }),
            () => on.stack.up());
        log(up.stdout.split("\n").filter((l) => /an upgrade:|pg_upgrade|cloned again|statistics/.test(l)).join("\n"));
        log(`major upgrade 13 -> 17 on three hosts: up ${upSeconds.toFixed(1)} s; ${w.acks.length} acknowledged writes, ` +
            `${w.errors} failed attempts, longest write gap ${(w.longestGapMs / 1000).toFixed(2)} s`);
        assert.match(up.stdout, /image change to postgres:17: PostgreSQL 13 to 17, an upgrade: pg1 stopped cleanly/);
        assert.match(up.stdout, /node pg2: PostgreSQL 13 data under a primary on 17: cloned again, its data kept as pgdata\.13-old/);
        assert.match(up.stdout, /node pg3: PostgreSQL 13 data under a primary on 17: cloned again/);

        for (const [i, n] of NODES.entries()) {
            assert.equal(inspect(i, "{{.Config.Image}}"), "postgres:17", `${n} runs the new image`);
            assert.notEqual(inspect(i, "{{.Id}}"), ids[i], `${n} has a new container`);
            assert.deepEqual(await rows(urls[n], "SELECT current_setting('server_version_num')::int / 10000 AS v"), [{ v: 17 }]);
            assert.equal(on.set.hosts[i].docker("exec", container(i), "sh", "-c",
                "ls -d /var/lib/postgresql/data/pgdata.*-old /var/lib/postgresql/data/upgrade-keep 2>/dev/null || true"), "", `${n}: old copies gone`);
        }
        assert.deepEqual(await rows(urls.pg1, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
        const seen = await eventually(30, () => rows(urls.pg1, `SELECT r.application_name AS n, r.state, s.ssl FROM pg_stat_replication r
            JOIN pg_stat_ssl s ON s.pid = r.pid ORDER BY 1`), (x) => x.length === 2 && x.every((y) => y.state === "streaming"));
        assert.deepEqual(seen, [{ n: "pg2", state: "streaming", ssl: true }, { n: "pg3", state: "streaming", ssl: true }]);
        for (const n of ["pg2", "pg3"]) {
            await caughtUp(urls.pg1, urls[n]);
        }
        for (const n of NODES) {
            assert.deepEqual(await hash(urls[n]), before13, `every row on ${n}`);
            const found = new Set((await rows(urls[n], `SELECT seq FROM ${PROBE_TABLE}`)).map((x) => Number(x.seq)));
            assert.deepEqual(w.acks.filter((a) => !found.has(a.seq)).map((a) => a.seq), [], `acknowledged commits missing on ${n}`);
        }
        assert.ok(w.acks.length > 0 && w.acks[w.acks.length - 1].node === "pg1", "writes go on, on pg1");
        assert.ok((await rows(urls.pg1, "SELECT count(*)::int AS n FROM pg_stats WHERE tablename = 'kept'"))[0].n > 0, "statistics rebuilt");
        const { nodes } = await on.stack.outputs();
        assert.deepEqual(NODES.map((n) => /^\d+/.exec(nodes[n].version)?.[0]), ["17", "17", "17"]);
        await on.stack.preview(true);
    });
});
