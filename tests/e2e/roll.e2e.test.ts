// An image change on a running cluster rolls, on the real engine (components/topology/roll.ts):
// PostgreSQL 17, three nodes, a quorum (ANY 1), `image` changed to another image of the same
// major (the same server with one more label: another image id). Preview refuses while a standby
// is stopped and while a transaction on the primary is older than rollMaxTransactionSeconds,
// naming them. Then the roll under a write probe to whichever node is primary and a read probe
// to the standbys: the standbys replaced one at a time, a handover to pg2, pg1 replaced as its
// standby, a switchover back to pg1; every acknowledged commit on every node, the write and read
// gaps measured, every container on the new image on its old volume, and a second up with nothing
// to change. A standby that does not come back stops a roll; the next up resumes it. The primary
// lost mid-roll: a failover by config goes first with every container on the image it runs (a
// hold), and the up after it rolls the rest. Subnet 172.28.60.0/24, ports 58800-58802.

import * as assert from "node:assert/strict";
import { Client } from "pg";
import { after, before, describe, test } from "node:test";
import { docker, E2EStack, e2eStack, eventually, leftovers, log, nodeUrls, oneEnginePlan, rows, status } from "./harness";
import { PROBE_TABLE, ReadProbe, WriteProbe } from "../../drill/probe";
import { topologyResults } from "../../components/topology/contract";
import { buildImages, removeImages, rollImage, ROLL_MARKER } from "./roll-images";

const NAME = "e2e-roll17";
const BASE = "postgres:17";
/** BASE under another image id, its entrypoint refusing to start while ROLL_MARKER is there (roll-images.ts). */
const ROLLED = "pg-replication-e2e/postgres-roll:17";
/** ROLLED again under yet another id: the next roll. */
const ROLLED_AGAIN = "pg-replication-e2e/postgres-roll:17-again";
/** No `postgres` on its PATH. */
const NOT_POSTGRES = "pg-replication-e2e/not-postgres:17";
const MARKER = ROLL_MARKER;
const IMAGES: Record<string, string> = {
    [ROLLED]: rollImage(BASE),
    [ROLLED_AGAIN]: `FROM ${ROLLED}\nLABEL pg-replication.e2e=roll-again\n`,
    [NOT_POSTGRES]: `FROM ${BASE}\nENV PATH=/usr/bin:/bin\n`,
};
const container = (node: string) => `pg-replication-${NAME}-${node}`;
const inspect = (node: string, format: string) => docker("inspect", "-f", format, container(node)).trim();
const NODES = ["pg1", "pg2", "pg3"];

describe("an image change rolls node by node behind a switchover (PostgreSQL 17, sync ANY 1, 3 nodes)", { timeout: 20 * 60 * 1000 }, () => {
    let s: E2EStack;
    let urls: Record<string, string>;
    before(async () => {
        removeImages(IMAGES);
        buildImages(IMAGES);
        assert.notEqual(docker("image", "inspect", "-f", "{{.Id}}", ROLLED), docker("image", "inspect", "-f", "{{.Id}}", BASE));
        s = await e2eStack(NAME, oneEnginePlan(17, 60, 58800, 3, { mode: "sync", maxSwitchoverLagBytes: "1MB", rollMaxTransactionSeconds: "2" }));
        await s.up();
        urls = await nodeUrls(s);
        await rows(urls.pg1, "CREATE TABLE kept AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 5000) g");
    });
    after(async () => {
        try {
            await s?.destroyAndRemove();
            assert.deepEqual(leftovers(NAME), []);
        } finally {
            removeImages(IMAGES);
        }
    });

    test("preview refuses while a standby is stopped, naming it; nothing changes", async () => {
        docker("stop", container("pg3"));
        try {
            await s.setConfig({ image: ROLLED });
            await assert.rejects(s.preview(), (err: Error) => {
                assert.match(err.message, /the image change is refused, nothing was changed/);
                assert.match(err.message, /pg3 cannot be asked \(its container is not running\)/);
                return true;
            });
            assert.equal(inspect("pg1", "{{.Config.Image}}"), BASE);
        } finally {
            docker("start", container("pg3"));
        }
        await eventually(60, () => rows(urls.pg1, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'"),
            (r) => r[0].n === 2);
    });

    test("preview refuses while a transaction on the primary is older than rollMaxTransactionSeconds, naming its pid", async () => {
        const open = new Client({ connectionString: urls.pg1 });
        await open.connect();
        try {
            await open.query("BEGIN");
            const [{ pid }] = (await open.query("SELECT pg_backend_pid() AS pid")).rows;
            await new Promise((r) => setTimeout(r, 3000));
            await assert.rejects(s.preview(), (err: Error) => {
                assert.match(err.message, /the image change is refused/);
                assert.match(err.message, new RegExp(`run on the primary pg1 for longer than rollMaxTransactionSeconds \\(2 s\\).*pid ${pid} `));
                return true;
            });
        } finally {
            await open.end();
        }
    });

    test("preview refuses an image of an older major, one that is not PostgreSQL, one not on the engine", async () => {
        for (const [image, said] of [
            ["postgres:13", /postgres:13 runs PostgreSQL 13, older than the data's 17/],
            [NOT_POSTGRES, /is not a PostgreSQL server image: `postgres --version` in it failed/],
            ["pg-replication-e2e/absent:17", /is not on the Docker engine .*: pull or build it there/],
        ] as const) {
            await s.setConfig({ image });
            await assert.rejects(s.preview(), (err: Error) => {
                assert.match(err.message, /the image change is refused, nothing was changed/);
                assert.match(err.message, said);
                return true;
            });
        }
        await s.setConfig({ image: ROLLED });
        assert.deepEqual(NODES.map((n) => inspect(n, "{{.Config.Image}}")), [BASE, BASE, BASE]);
    });

    test("the roll: standbys one at a time, a handover, the old primary as a standby, back; nothing lost, every node on the image", async () => {
        const before = Object.fromEntries(["pg1", "pg2", "pg3"].map((n) => [n, inspect(n, "{{.Id}}")]));
        const writes = new WriteProbe({ pg1: urls.pg1, pg2: urls.pg2, pg3: urls.pg3 });
        const reads = new ReadProbe([urls.pg2, urls.pg3]);
        await writes.start();
        reads.start();
        await new Promise((r) => setTimeout(r, 1500));
        const started = Date.now();
        const up = await s.up();
        const upSeconds = (Date.now() - started) / 1000;
        await new Promise((r) => setTimeout(r, 1500));
        const w = await writes.stop();
        const r = await reads.stop();
        log(`roll: up ${upSeconds.toFixed(1)} s; ${w.acks.length} acknowledged writes, ${w.errors} failed attempts, longest write gap ` +
            `${(w.longestGapMs / 1000).toFixed(2)} s; ${r.reads} reads on the standbys, longest read gap ${(r.longestGapMs / 1000).toFixed(2)} s`);

        log(up.stdout.split("\n").filter((l) => /image change to|handover:|caught up|streaming, /.test(l)).join("\n"));
        // Where the longest write gaps were: which node acknowledged before and after each.
        const gaps = w.acks.slice(1).map((a, k) => ({ ms: a.at - w.acks[k].at, from: w.acks[k].node, to: a.node }))
            .sort((x, y) => y.ms - x.ms).slice(0, 3);
        log(`roll: longest write gaps ${gaps.map((g) => `${g.ms} ms (${g.from} → ${g.to})`).join(", ")}`);
        // The order: the standbys' containers were made before pg1's, pg2's before pg3's.
        const created = Object.fromEntries(["pg1", "pg2", "pg3"].map((n) => [n, Date.parse(inspect(n, "{{.Created}}"))]));
        assert.ok(created.pg2 < created.pg3 && created.pg3 < created.pg1, JSON.stringify(created));
        for (const n of ["pg1", "pg2", "pg3"]) {
            assert.equal(inspect(n, "{{.Config.Image}}"), ROLLED, `${n} runs the new image`);
            assert.notEqual(inspect(n, "{{.Id}}"), before[n], `${n} has a new container`);
            assert.match(inspect(n, "{{range .Mounts}}{{.Name}} {{end}}"), new RegExp(`${container(n)}-data`), `${n} on its old volume`);
        }
        // Two switchovers: the handover to pg2, and the topology step's back to pg1.
        const results = topologyResults(up.stdout);
        const handover = results.find((x) => x.handover === "switched over");
        assert.ok(handover, `a handover in the up's output:\n${up.stdout.slice(-4000)}`);
        assert.deepEqual([handover.action, handover.from, handover.primary], ["switchover", "pg1", "pg2"]);
        const back = results.find((x) => x.handover === undefined && x.action === "switchover");
        assert.deepEqual([back?.from, back?.primary], ["pg2", "pg1"]);

        // pg1 is primary again, both standbys stream in the quorum, and every acknowledged commit is on every node.
        assert.deepEqual(await rows(urls.pg1, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
        const states = await eventually(30, () => rows(urls.pg1, "SELECT application_name AS n, state, sync_state FROM pg_stat_replication ORDER BY 1"),
            (x) => x.length === 2 && x.every((y) => y.state === "streaming" && y.sync_state === "quorum"));
        assert.deepEqual(states.map((x) => `${x.n}:${x.state}/${x.sync_state}`), ["pg2:streaming/quorum", "pg3:streaming/quorum"]);
        const [{ lsn }] = await rows(urls.pg1, "SELECT pg_current_wal_lsn()::text AS lsn");
        for (const n of ["pg1", "pg2", "pg3"]) {
            await eventually(30, () => rows(urls[n], n === "pg1" ? "SELECT true AS done" :
                `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn AS done`), (x) => x[0].done === true);
            const found = new Set((await rows(urls[n], `SELECT seq FROM ${PROBE_TABLE}`)).map((x) => Number(x.seq)));
            const lost = w.acks.filter((a) => !found.has(a.seq)).map((a) => a.seq);
            assert.deepEqual(lost, [], `acknowledged commits missing on ${n}`);
            assert.deepEqual(await rows(urls[n], "SELECT count(*)::int AS c, md5(string_agg(note, ',' ORDER BY id)) AS h FROM kept"),
                await rows(urls.pg1, "SELECT count(*)::int AS c, md5(string_agg(note, ',' ORDER BY id)) AS h FROM kept"));
        }
        assert.ok(w.acks.some((a) => a.node === "pg2"), "writes went to pg2 while it was primary");
        // Bounds well above the goals (2 s write, 1 s read), so a slow machine does not fail them; the figures are logged.
        assert.ok(w.longestGapMs < 15_000, `longest write gap ${w.longestGapMs} ms`);
        assert.ok(r.longestGapMs < 15_000, `longest read gap ${r.longestGapMs} ms`);

        await s.preview(true);
    });
    test("a standby that does not come back stops the roll, the cluster serving on the others; the next up resumes it", async () => {
        const ids = Object.fromEntries(NODES.map((n) => [n, inspect(n, "{{.Id}}")]));
        docker("exec", "-u", "postgres", container("pg2"), "touch", MARKER);
        await s.setConfig({ image: ROLLED_AGAIN, readyTimeoutSeconds: "10" });
        await assert.rejects(s.up(), (err: Error) => {
            assert.match(err.message, new RegExp(`${container("pg2")}.*(is not ready after 10s|not running)`));
            return true;
        });
        // Stopped at pg2: pg3 and pg1 untouched, pg1 still primary, and commits go on (ANY 1: pg3 confirms).
        assert.equal(inspect("pg2", "{{.Config.Image}}"), ROLLED_AGAIN);
        assert.deepEqual([inspect("pg3", "{{.Id}}"), inspect("pg1", "{{.Id}}")], [ids.pg3, ids.pg1]);
        assert.deepEqual(await rows(urls.pg1, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
        await rows(urls.pg1, "INSERT INTO kept VALUES (0, 'written while pg2 did not come back')");
        // Status names the node on another image than the rest, and says to run up.
        const st = await status(s.backend, NAME);
        assert.match(st.stdout, /! \S+ runs pg-replication-e2e\/postgres-roll:17(-again)?( \(PostgreSQL 17\.\d+\))?, the stack's image is /);
        assert.match(st.stdout, /→ run up \(scripts\/deploy\.sh e2e-roll17\): it rolls the nodes still on another image, one at a time/);
        // While pg2 does not stream, the roll stays refused: taking pg3 down too would leave no standby.
        await s.setConfig({ readyTimeoutSeconds: "60" });
        await assert.rejects(s.preview(), /pg2 cannot be asked .*every standby must stream before a roll/);
        // The cause removed, Docker's restart policy brings pg2 back (within its back-off); the next up goes on from pg3.
        docker("run", "--rm", "-v", `${container("pg2")}-data:/var/lib/postgresql/data`, "--entrypoint", "rm", BASE, "-f", MARKER);
        await eventually(120, () => rows(urls.pg1, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'"),
            (x) => x[0].n === 2);
        const resumed = await s.up();
        log(resumed.stdout.split("\n").filter((l) => /image change to|handover:/.test(l)).join("\n"));
        assert.deepEqual(NODES.map((n) => inspect(n, "{{.Config.Image}}")), [ROLLED_AGAIN, ROLLED_AGAIN, ROLLED_AGAIN]);
        assert.notEqual(inspect("pg3", "{{.Id}}"), ids.pg3);
        assert.notEqual(inspect("pg1", "{{.Id}}"), ids.pg1);
        assert.ok(topologyResults(resumed.stdout).some((x) => x.handover === "switched over"), "the resumed roll handed over");
        assert.deepEqual(await rows(urls.pg1, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
        await eventually(60, () => rows(urls.pg1, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'"),
            (x) => x[0].n === 2);
        for (const n of ["pg2", "pg3"]) {
            await eventually(30, () => rows(urls[n], "SELECT note FROM kept WHERE id = 0"), (x) => x.length === 1);
        }
        await s.preview(true);
    });

    test("the primary lost mid-roll: the failover by config goes first, each container on the image it runs; the next up rolls the rest", async () => {
        // A roll stopped after pg2 (pg3 does not come back at first), pg3 back on the new image by its restart policy.
        docker("exec", "-u", "postgres", container("pg3"), "touch", MARKER);
        await s.setConfig({ image: ROLLED, readyTimeoutSeconds: "10" });
        await assert.rejects(s.up(), new RegExp(`${container("pg3")}.*(is not ready after 10s|not running)`));
        docker("run", "--rm", "-v", `${container("pg3")}-data:/var/lib/postgresql/data`, "--entrypoint", "rm", BASE, "-f", MARKER);
        await eventually(120, () => rows(urls.pg1, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'"),
            (x) => x[0].n === 2);
        assert.deepEqual(NODES.map((n) => inspect(n, "{{.Config.Image}}")), [ROLLED_AGAIN, ROLLED, ROLLED]);
        await rows(urls.pg1, "INSERT INTO kept VALUES (-1, 'the last write before the primary was lost')");
        const [{ lsn }] = await rows(urls.pg1, "SELECT pg_current_wal_lsn()::text AS lsn");
        for (const n of ["pg2", "pg3"]) {
            await eventually(30, () => rows(urls[n], `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn AS done`), (x) => x[0].done === true);
        }
        // The primary lost. Its image is another than the stack's, and so is every image some node runs: before the
        // hold, preview refused any failover ("no node runs as the one primary"), whatever image the config named.
        docker("stop", container("pg1"));
        const ids = Object.fromEntries(NODES.map((n) => [n, inspect(n, "{{.Id}}")]));
        await s.setConfig({ primary: "pg2" });
        const up = await s.up();
        log(up.stdout.split("\n").filter((l) => /failover|image change|another image/.test(l)).join("\n"));
        assert.match(up.stdout, new RegExp(`a failover to pg2 is planned while pg1 on ${ROLLED_AGAIN} runs another image than ${ROLLED}: ` +
            "this up fails over and leaves every container on the image it runs"));
        assert.deepEqual(await rows(urls.pg2, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
        // pg2 untouched. pg3's container was made in the stopped roll while its marker kept it from starting, so the
        // provider read no ports from it (stand-ins/docker.ts container.read.ports): made again, on the image it runs.
        assert.equal(inspect("pg2", "{{.Id}}"), ids.pg2, "pg2 not replaced");
        assert.equal(inspect("pg3", "{{.Config.Image}}"), ROLLED);
        assert.equal(inspect("pg1", "{{.Config.Image}}"), ROLLED_AGAIN, "pg1 kept the image it ran");
        assert.deepEqual(await rows(urls.pg2, "SELECT note FROM kept WHERE id = -1"), [{ note: "the last write before the primary was lost" }]);
        await rows(urls.pg2, "INSERT INTO kept VALUES (-2, 'written on pg2 after the failover')");
        await eventually(60, () => rows(urls.pg3, "SELECT count(*)::int AS n FROM kept WHERE id = -2"), (x) => x[0].n === 1);

        // The next up rolls what is left: pg1, onto the stack's image, as a standby of pg2.
        const next = await s.up();
        log(next.stdout.split("\n").filter((l) => /image change to|handover:/.test(l)).join("\n"));
        assert.deepEqual(NODES.map((n) => inspect(n, "{{.Config.Image}}")), [ROLLED, ROLLED, ROLLED]);
        assert.deepEqual(await rows(urls.pg2, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
        await eventually(60, () => rows(urls.pg2, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'"),
            (x) => x[0].n === 2);
        await eventually(30, () => rows(urls.pg1, "SELECT count(*)::int AS n FROM kept WHERE id IN (-1, -2)"), (x) => x[0].n === 2);
        await s.preview(true);
    });
});

