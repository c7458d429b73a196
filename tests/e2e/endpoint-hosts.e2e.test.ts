// The endpoints with the nodes on three Docker hosts of our own (tests/support/hosts.ts),
// PostgreSQL 17 and 13 (PgBouncer 1.24 and 1.15): a pair of poolers on every host, each published on its host's address and taking
// clients over TLS only, reaching the nodes of the other hosts over TLS (verify-full). Each host's
// read-write endpoint reaches the primary wherever it runs; its read-only one prefers the standby on
// its own host. A switchover with a write probe writing only through a third host's endpoint: no
// client error, no acknowledged commit lost. The primary's host lost: the failover's up points the
// other hosts' endpoints at the new primary and sends nothing to the lost host; that host's endpoint
// is the one lost (npm run status says so), until it is back and the next up points it too.
// 17: hosts 10.231.13.11-13 (reached over ssh://), cluster subnet 172.28.58.0/24 on each engine, node
// ports 58650-58652, endpoints 58660 (read-write) and 58661 (read-only) on every host.
// 13: hosts 10.231.14.11-13, subnet 172.28.59.0/24, node ports 58670-58672, endpoints 58680, 58681.

import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import { missingAcks } from "../../drill/core";
import { WriteProbe } from "../../drill/probe";
import { caughtUp, eventually, log, nodeUrls, planOnHosts, rows, stackOnHosts, status, underWriteProbe } from "./harness";

/** The node behind URL, by its address on its own bridge, and whether it is a standby. */
const serverOf = (url: string) => rows(url, "SELECT host(inet_server_addr()) AS a, pg_is_in_recovery() AS r").then((r) => r[0]);
/** TEXT as a regular expression that matches it alone. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

for (const { major, subnet, net, port } of [
    { major: 17, subnet: 13, net: 58, port: 58650 },
    { major: 13, subnet: 14, net: 59, port: 58670 },
]) {
    describe(`endpoints on three Docker hosts: a pair on each host, each following the primary (PostgreSQL ${major})`, { timeout: 20 * 60 * 1000 }, () => {
        const image = `postgres:${major}`;
        const on = stackOnHosts({ set: `endh${major}`, subnet, count: 3, images: [image, `pg-replication/postgres-tools:${major}`], ssh: true },
            `e2e-endpoint-hosts${major}`, (hosts) => ({
                ...planOnHosts(hosts, { net, port, readyTimeoutSeconds: "60" }),
                image,
                endpoints: { port: port + 10, readPort: port + 11 },
            }));
        const address = (node: string) => `172.28.${net}.${100 + Number(node.slice(2))}`;
        const hostOf = (i: number) => on.set.hosts[i].address;
        let out: Record<string, any>;
        let urls: Record<string, string> = {};
        const rw = (i: number): string => out.endpoints.byHost[hostOf(i)].rw.connectionString;
        const ro = (i: number): string => out.endpoints.byHost[hostOf(i)].ro.connectionString;

        test("up: each host's read-write endpoint reaches pg1, its read-only one its own standby; over TLS only", async () => {
            await on.stack.up();
            out = await on.stack.outputs();
            urls = await nodeUrls(on.stack);
            assert.deepEqual(Object.keys(out.endpoints.byHost).sort(), [0, 1, 2].map(hostOf).sort());
            assert.equal(out.endpoints.rw.host, hostOf(0), "rw and ro: the first node's host's");
            for (const i of [0, 1, 2]) {
                assert.match(rw(i), new RegExp(`@${literal(hostOf(i))}:${port + 10}/postgres\\?sslmode=verify-full&sslrootcert=`));
                assert.deepEqual(await serverOf(rw(i)), { a: address("pg1"), r: false }, `host ${i + 1}'s rw`);
                assert.equal(on.set.hosts[i].docker("inspect", "-f", "{{.State.Running}}", `pg-replication-${on.stack.name}-pooler-ro`), "true");
            }
            await rows(urls.pg1, "CREATE TABLE kept AS SELECT g AS id FROM generate_series(1, 1000) g");
            for (const n of ["pg2", "pg3"]) {
                await caughtUp(urls.pg1, urls[n]);
            }
            // Reads stay on the host when a standby there is fit; host 1 has none (pg1 is the primary).
            for (const [i, n] of [[1, "pg2"], [2, "pg3"]] as const) {
                assert.deepEqual(await eventually(15, () => serverOf(ro(i)), (x) => x.a === address(n)), { a: address(n), r: true }, `host ${i + 1}'s ro`);
            }
            assert.equal((await serverOf(ro(0))).r, true, "host 1's reads on a standby of another host");
            assert.deepEqual(await rows(ro(2), "SELECT count(*)::int AS n FROM kept"), [{ n: 1000 }]);
            // A client without TLS is refused by every pooler (client_tls_sslmode = require).
            const plain = rw(1).replace(/\?.*$/, "?sslmode=disable");
            await assert.rejects(rows(plain, "SELECT 1"), /SSL required/);
            // The pooler on host 3 reaches pg1 on host 1 over TLS: its server connection (kept in the pool) is
            // an encrypted session from host 3's address, and none from there is in plain text.
            await serverOf(rw(2));
            const sessions = await rows(urls.pg1, `SELECT s.ssl, count(*)::int AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                WHERE a.usename = 'postgres' AND host(a.client_addr) = '${hostOf(2)}' GROUP BY s.ssl`);
            assert.deepEqual(sessions.map((x) => x.ssl), [true], `sessions on pg1 from host 3: ${JSON.stringify(sessions)}`);
        });

        test("a switchover to pg2 with writes only through host 3's endpoint: no client error, nothing acknowledged lost; every host's follows", async () => {
            await on.stack.setConfig({ primary: "pg2" });
            const { value: up, seconds: upSeconds, writes: w } = await underWriteProbe(new WriteProbe({ rw: rw(2) }, 90, 30_000), () => on.stack.up());
            log(`switchover across hosts through host 3's endpoint: up ${upSeconds.toFixed(1)} s; ${w.acks.length} acknowledged, ` +
                `${w.errors} client errors, longest stall ${(w.longestGapMs / 1000).toFixed(2)} s`);
            assert.match(up.stdout, new RegExp(`endpoint pg-replication-${on.stack.name}-pooler on ssh://[^ ]+ paused in`));
            assert.match(up.stdout, new RegExp(literal(`writes go to pg2 (* = host=${hostOf(1)} port=${port + 1})`)));
            assert.equal(w.errors, 0, "the endpoint's clients saw no error");
            assert.ok(w.acks.length > 20, `the probe wrote through the endpoint (${w.acks.length} acknowledged)`);
            assert.deepEqual(await missingAcks(urls.pg2, w.acks), [], "acknowledged commits on the new primary");
            for (const i of [0, 1, 2]) {
                assert.deepEqual(await serverOf(rw(i)), { a: address("pg2"), r: false }, `host ${i + 1}'s rw`);
            }
            await on.stack.preview(true);
        });

        test("host 2 (the primary's) lost: the failover to pg3 points hosts 1 and 3's endpoints at it; host 2's when it is back", async () => {
            on.set.hosts[1].lose();
            try {
                await on.stack.setConfig({ primary: "pg3" });
                const { stdout } = await on.stack.up();
                assert.match(stdout, new RegExp(literal(`the endpoint on ${on.set.hosts[1].dockerHost} is left alone: its engine does not answer`)));
                out = await on.stack.outputs();
                for (const i of [0, 2]) {
                    assert.deepEqual(await serverOf(rw(i)), { a: address("pg3"), r: false }, `host ${i + 1}'s rw`);
                    await rows(rw(i), `INSERT INTO kept VALUES (${2000 + i})`);
                }
                // npm run status: host 2's endpoints do not answer, the others reach pg3.
                const seen = await status(on.stack.backend, on.stack.name);
                assert.equal(seen.code, 1, seen.stdout + seen.stderr);
                for (const [at, kind] of [[port + 10, "rw"], [port + 11, "ro"]] as const) {
                    assert.match(seen.stdout, new RegExp(`^${literal(`endpoint  ${kind} ${hostOf(1)}:${at} → DOES NOT ANSWER`)}`, "m"));
                }
                for (const i of [0, 2]) {
                    assert.match(seen.stdout, new RegExp(`^${literal(`endpoint  rw ${hostOf(i)}:${port + 10} → pg3 (primary)`)}$`, "m"));
                }
            } finally {
                on.set.hosts[1].restore();
            }
            // Back: its old primary (no write since) runs as a primary beside pg3 until this up demotes and
            // rewinds it; the same up points host 2's endpoint at pg3.
            await eventually(60, () => serverOf(urls.pg2), (x) => x.r === false);
            const { stdout } = await on.stack.up();
            assert.match(stdout, /pg2 rejoined as a standby of pg3/);
            assert.deepEqual(await eventually(30, () => serverOf(rw(1)), (x) => x.a === address("pg3")), { a: address("pg3"), r: false });
            assert.deepEqual(await rows(rw(1), "SELECT count(*)::int AS n FROM kept WHERE id > 1000"), [{ n: 2 }]);
            await on.stack.preview(true);
        });
    });
}
