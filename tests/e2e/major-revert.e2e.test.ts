// A major upgrade given up by config, on the real engine (README "A new major"): two nodes on
// PostgreSQL 13 with data; `image` set to a PostgreSQL 17 image whose server never comes up (its
// entrypoint exits). pg_upgrade runs and the new primary does not become ready: up fails, pg2 still
// on 13 with every commit (it replayed the old primary's shutdown checkpoint). Then `image` back to
// postgres:13 and `primary: pg2`: the failover holds pg1 on the image it runs, fences it and leaves
// it to its seed; that up then fails at pg1's gates, which never passed; pg2 takes writes with every
// row. The next up clones pg1 again on 13 from pg2, its
// PostgreSQL 17 data kept beside (pgdata.17-reverted-<time>), and finishes the upgrade's leftovers;
// `primary: pg1` switches back. Every table as before, nothing lost. Subnet 172.28.75.0/24, ports
// 58856-58857.

import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { docker, E2EStack, e2eStack, eventually, leftovers, log, nodeUrls, oneEnginePlan, rows } from "./harness";

const NAME = "e2e-revert";
/** PostgreSQL 17's server, whose container never starts: a new major that fails after pg_upgrade. */
const BROKEN = "pg-replication-e2e/postgres-broken:17";
const container = (node: string) => `pg-replication-${NAME}-${node}`;
const inspect = (node: string, format: string) => docker("inspect", "-f", format, container(node)).trim();
const ls = (node: string) => docker("run", "--rm", "-v", `${container(node)}-data:/d:ro`, "--entrypoint", "ls", "postgres:13", "/d").trim().split("\n");

describe("a major upgrade given up by config: back to 13 on the standby that kept every commit", { timeout: 20 * 60 * 1000 }, () => {
    let s: E2EStack;
    let urls: Record<string, string>;
    let before13 = "";
    const hash = async (url: string) => (await rows(url, "SELECT count(*)::int AS n, md5(string_agg(id::text || note, ',' ORDER BY id)) AS h FROM kept"))
        .map((r) => `${r.n}:${r.h}`)[0];

    before(async () => {
        execFileSync("docker", ["build", "-q", "-t", BROKEN, "-"], { input: "FROM postgres:17\nLABEL pg-replication.e2e=broken\n" +
            "ENTRYPOINT [\"sh\", \"-c\", \"echo this server never starts >&2; exit 1\"]\n", env: { ...process.env, DOCKER_BUILDKIT: "0" },
        stdio: ["pipe", "ignore", "inherit"] });
        s = await e2eStack(NAME, oneEnginePlan(13, 75, 58856, 2));
        await s.up();
        urls = await nodeUrls(s);
        await rows(urls.pg1, "CREATE TABLE kept AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 5000) g");
        before13 = await hash(urls.pg1);
    });
    after(async () => {
        try {
            await s?.destroyAndRemove();
            assert.deepEqual(leftovers(NAME), []);
        } finally {
            execFileSync("sh", ["-c", `docker rmi -f ${BROKEN} >/dev/null 2>&1 || true`]);
        }
    });

    test("the new major's primary never comes up: up fails after pg_upgrade, pg2 still on 13 with every commit", async () => {
        await s.setConfig({ image: BROKEN, readyTimeoutSeconds: "10" });
        await assert.rejects(s.up(), new RegExp(`${container("pg1")}.*(is not ready after 10s|not running)`));
        assert.equal(inspect("pg1", "{{.Config.Image}}"), BROKEN);
        assert.equal(inspect("pg2", "{{.Config.Image}}"), "postgres:13", "the standbys wait for the primary: untouched");
        assert.ok(ls("pg1").includes("pgdata.13-old"), `pg1's volume: ${ls("pg1")}`);
        assert.ok(ls("pg2").includes("upgrade-keep"), `pg2's volume: ${ls("pg2")}`);
        assert.equal(await hash(urls.pg2), before13);
    });

    test("image back to 13, primary: pg2: the failover first, pg1 held on its image; pg1's gates fail after it; pg2 takes writes", async () => {
        // readyTimeoutSeconds stays 10 (the up before changed it; pg2's streaming gate, never run with it, runs again
        // before the failover and passes: no node answers as primary for it to stream from).
        await s.setConfig({ image: "postgres:13", primary: "pg2" });
        await assert.rejects(s.up(), (err: Error) => {
            assert.match(err.message, new RegExp(`a failover to pg2 is planned while pg1 on ${BROKEN} runs another image than postgres:13`));
            assert.match(err.message, /pg1 holds PostgreSQL 17 data and the primary pg2 runs 13: not brought in here/);
            // pg1's gates never passed (its server never came up): this up runs them again, after the failover, and
            // they fail; its container, made while it could not start, is made again (no ports were read from it).
            assert.match(err.message, new RegExp(`node ${container("pg1")} is not ready after 10s`));
            return true;
        });
        assert.deepEqual(await rows(urls.pg2, "SELECT pg_is_in_recovery() AS r, current_setting('server_version_num')::int / 10000 AS v"),
            [{ r: false, v: 13 }]);
        assert.equal(inspect("pg1", "{{.Config.Image}}"), BROKEN, "pg1 kept the image it ran");
        assert.equal(await hash(urls.pg2), before13);
        await rows(urls.pg2, "INSERT INTO kept VALUES (0, 'written on pg2 after the upgrade was given up')");
    });

    test("the next up clones pg1 again on 13, its 17 data kept beside; primary: pg1 switches back; nothing lost", async () => {
        const up = await s.up();
        log(up.stdout.split("\n").filter((l) => /cloned again|another major|major upgrade/.test(l)).join("\n"));
        assert.equal(inspect("pg1", "{{.Config.Image}}"), "postgres:13");
        const kept = ls("pg1");
        assert.ok(kept.some((f) => /^pgdata\.17-reverted-\d{8}T\d{6}Z$/.test(f)), `pg1's volume: ${kept}`);
        assert.ok(!kept.includes("pgdata.13-old"), `the upgrade's leftovers go: ${kept}`);
        assert.ok(!ls("pg2").includes("upgrade-keep"), `pg2's mark goes: ${ls("pg2")}`);
        await eventually(60, () => rows(urls.pg2, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'"), (x) => x[0].n === 1);
        await s.setConfig({ primary: "pg1" });
        await s.up();
        assert.deepEqual(await rows(urls.pg1, "SELECT pg_is_in_recovery() AS r, current_setting('server_version_num')::int / 10000 AS v"),
            [{ r: false, v: 13 }]);
        await rows(urls.pg1, "DELETE FROM kept WHERE id = 0");
        assert.equal(await hash(urls.pg1), before13);
        await eventually(30, () => hash(urls.pg2), (h) => h === before13);
        await s.preview(true);
    });
});
