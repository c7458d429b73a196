// A whole host lost, on three Docker hosts of our own (tests/support/hosts.ts): the primary's host
// cut off (its link down, its engine frozen, its containers running on, unaware), a failover to a
// standby on another host, then the host back with its old primary still running as a primary on
// the old timeline, and its demotion: fenced at once, what it committed meanwhile found in its WAL
// and kept until allowDataLoss says to discard it, then brought in by pg_rewind; then another host
// lost and back without a write: its old primary demoted and rewound in by the same up; the drill's
// host fault; and a host powered off and on, where Docker itself restarts the old primary. The
// hosts are reached over ssh://, as machines elsewhere are: the docker provider dials no such
// engine when it starts, so a lost one holds nothing up (components/engine.ts dialedAtStart).
// Then a host gone for good, taken out of the stack as the preview and the README say.
// Hosts 10.231.8.11-13, cluster subnet 172.28.48.0/24 on each engine, ports 58550-58552;
// hosts 10.231.10.11-13, cluster subnet 172.28.50.0/24, ports 58560-58562.

import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runDrill } from "../../drill/core";
import { drillStack, eventually, leftovers, log, planOnHosts, rows, stackOnHosts, status, withClient } from "./harness";

const TIMEOUT = 20 * 60 * 1000;
const NET = 48;
const PORT = 58550;

const count = async (url: string) => (await rows(url, "SELECT count(*)::int AS n FROM tutorial"))[0].n as number;

describe("a host lost: failover to another host, the host back, its old primary demoted (PostgreSQL 13)", { timeout: TIMEOUT }, () => {
    const on = stackOnHosts({ set: "loss", subnet: 8, count: 3, images: ["postgres:13"], ssh: true }, "e2e-loss",
        (hosts) => planOnHosts(hosts, { net: NET, port: PORT, readyTimeoutSeconds: "60" }));
    let out: Record<string, any>;
    const container = (i: number) => `pg-replication-${on.stack.name}-pg${i + 1}`;
    const url = (name: string): string => out.nodes[name].connectionString;

    test("up: pg1 on host 1, pg2 and pg3 streaming from it; 100 rows everywhere", async () => {
        await on.stack.up();
        out = await on.stack.outputs();
        await rows(url("pg1"), "CREATE TABLE tutorial (id int primary key, note text)");
        await rows(url("pg1"), "INSERT INTO tutorial SELECT g, 'row ' || g FROM generate_series(1, 100) g");
        for (const name of ["pg2", "pg3"]) {
            assert.equal(await eventually(30, () => count(url(name)), (n) => n === 100), 100);
        }
    });

    test("host 1's engine frozen but pg1 still serving: the failover is refused, nothing changes", async () => {
        on.set.hosts[0].lose({ link: false });
        try {
            await on.stack.setConfig({ primary: "pg2" });
            await assert.rejects(on.stack.preview(), (err: Error) => {
                assert.match(err.message, /the failover is refused, nothing was changed/);
                assert.match(err.message, /pg1 cannot be fenced: its Docker engine \(ssh:\/\/root@10\.231\.8\.11\) does not answer: .*but its server answers, seen from pg2: pg1 is not lost and may be taking writes/);
                return true;
            });
        } finally {
            on.set.hosts[0].restore();
            await on.stack.setConfig({ primary: "pg1" });
        }
        assert.deepEqual(await rows(url("pg1"), "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
    });

    test("host 1 lost (link down, engine frozen) with a commit its standbys never received: failover to pg2 on host 2", async () => {
        // The standbys stop receiving (as if the link were slow), then pg1 commits row 500: on pg1 only.
        // Both must stop at the same WAL position, or the failover to pg2 is rightly refused for
        // pg3 holding more (a background record, such as the running-transactions snapshot PostgreSQL
        // logs every 15 s, can reach one standby and not the other while they are cut off one by one).
        // When they differ, they are connected again, caught up, and cut off again.
        const standbys = ["pg2", "pg3"];
        const conninfo = new Map<string, string>();
        for (const name of standbys) {
            conninfo.set(name, (await rows(url(name), "SHOW primary_conninfo"))[0].primary_conninfo as string);
        }
        const setConninfo = (name: string, value: string) => withClient(url(name), async (c) => {
            await c.query(`ALTER SYSTEM SET primary_conninfo = '${value.replace(/'/g, "''")}'`);
            await c.query("SELECT pg_reload_conf()");
        });
        const received = async (name: string) =>
            (await rows(url(name), "SELECT pg_last_wal_receive_lsn()::text AS lsn"))[0].lsn as string;
        let positions: string[] = [];
        for (let attempt = 1; attempt <= 3; attempt++) {
            await Promise.all(standbys.map((name) => setConninfo(name, "")));
            for (const name of standbys) {
                await eventually(30, () => rows(url(name), "SELECT count(*)::int AS n FROM pg_stat_wal_receiver"), (r) => r[0].n === 0);
            }
            positions = await Promise.all(standbys.map(received));
            if (positions[0] === positions[1]) break;
            log(`cut-off attempt ${attempt}: pg2 stopped at ${positions[0]}, pg3 at ${positions[1]}; again`);
            await Promise.all(standbys.map((name) => setConninfo(name, conninfo.get(name)!)));
            const [{ lsn: head }] = await rows(url("pg1"), "SELECT pg_current_wal_lsn()::text AS lsn");
            for (const name of standbys) {
                await eventually(30, () => rows(url(name),
                    `SELECT pg_last_wal_receive_lsn() >= '${head}'::pg_lsn AS ok`), (r) => r[0].ok === true);
            }
        }
        assert.equal(positions[0], positions[1], `pg2 and pg3 should stop at the same WAL position: ${positions.join(", ")}`);
        await rows(url("pg1"), "INSERT INTO tutorial VALUES (500, 'on pg1 only when its host is lost')");
        on.set.hosts[0].lose();
        await on.stack.setConfig({ primary: "pg2" });
        const started = Date.now();
        const { stdout } = await on.stack.up();
        log(`failover up with host 1 lost: ${((Date.now() - started) / 1000).toFixed(1)} s`);
        assert.match(stdout, /host lost: pg1 \(neither engine nor server answers\) cannot be fenced/);
        assert.match(stdout, /pg1's host is lost: its engine does not answer and its server at 10\.231\.8\.11:58550 does not answer from pg2/);
        out = await on.stack.outputs();
        assert.equal(out.primary.name, "pg2");
        assert.deepEqual(await rows(url("pg2"), "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
        await rows(url("pg2"), "INSERT INTO tutorial VALUES (101, 'after the failover')");
        assert.equal(await eventually(30, () => count(url("pg3")), (n) => n === 101), 101);
        const seen = await rows(url("pg2"), `SELECT r.application_name AS name, s.ssl FROM pg_stat_replication r
            JOIN pg_stat_ssl s ON s.pid = r.pid WHERE r.state = 'streaming'`);
        assert.deepEqual(seen, [{ name: "pg3", ssl: true }]);
    });

    test("host 1 back: pg1 still runs as primary on timeline 1 (the window a lost host leaves) and takes a write", async () => {
        on.set.hosts[0].restore();
        const [state] = await eventually(30, () => rows(url("pg1"), "SELECT pg_is_in_recovery() AS r"), () => true);
        assert.equal(state.r, false, "pg1 should be the unfenced former primary, still writable");
        await rows(url("pg1"), "INSERT INTO tutorial VALUES (900, 'written on the former primary after the failover')");
        // npm run status tells it from a split brain of unknown origin.
        const seen = await status(on.stack.backend, on.stack.name);
        assert.equal(seen.code, 1, seen.stdout + seen.stderr);
        assert.match(seen.stdout, /^pg1 .* former primary /m);
        assert.match(seen.stdout, /pg1 accepts writes on timeline 1, older than the declared primary/);
    });

    test("up demotes pg1 at once and keeps what it wrote: fenced, refused without allowDataLoss", async () => {
        await assert.rejects(on.stack.up(), (err: Error) => {
            assert.match(err.message, /pg1 committed 1 transaction\(s\) writing user data after pg2 was promoted \(\d{4}-\d\d-\d\d [\d:.]+; the first at \d{4}-\d\d-\d\d [\d:.]+\), while it was cut off \(its WAL on timeline 1 from [0-9A-F]+\/[0-9A-F]+ up to [0-9A-F]+\/[0-9A-F]+\)/);
            assert.match(err.message, /set pg-replication:allowDataLoss to true and run up/);
            assert.match(err.message, /pg1 \(timeline 1; [1-9]\d* bytes of WAL since pg2 left that timeline at [0-9A-F]+\/[0-9A-F]+\) run as primary next to pg2/);
            assert.match(err.message, /pg1 holds 1 transaction\(s\) writing user data committed before pg2 was promoted \([^)]+\) that pg2 does not have: the loss the failover announced/);
            return true;
        });
        const h = on.set.hosts[0];
        assert.equal(h.docker("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} {{.State.Running}}", container(0)), "no false");
        assert.deepEqual(await rows(url("pg2"), "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
        assert.equal(await count(url("pg2")), 101);
        // npm run status reads the note in pg1's volume and says what to do.
        const seen = await status(on.stack.backend, on.stack.name);
        assert.equal(seen.code, 1, seen.stdout + seen.stderr);
        assert.match(seen.stdout, /pg1: fenced \(stopped, restart policy no\) after it ran as a second primary; its note .* says: pg1 committed 1 transaction\(s\) writing user data after pg2 was promoted/);
        assert.match(seen.stdout, /pulumi config set pg-replication:allowDataLoss true/);
    });

    test("with allowDataLoss, up brings pg1 in by pg_rewind: its write is gone, it streams from pg2", async () => {
        await on.stack.setConfig({ allowDataLoss: true });
        const { stdout } = await on.stack.up();
        assert.match(stdout, /pg1 rejoined as a standby of pg2 after pg_rewind/);
        assert.deepEqual(await rows(url("pg1"), "SELECT pg_is_in_recovery() AS r"), [{ r: true }]);
        assert.equal(await eventually(30, () => count(url("pg1")), (n) => n === 101), 101);
        assert.deepEqual(await rows(url("pg1"), "SELECT count(*)::int AS n FROM tutorial WHERE id IN (500, 900)"), [{ n: 0 }]);
        await eventually(30, () => rows(url("pg2"), "SELECT application_name AS name FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1"),
            (r) => r.map((x) => x.name).join(",") === "pg1,pg3");
        assert.equal(on.set.hosts[0].docker("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", container(0)), "unless-stopped");
        await on.stack.setConfig({ allowDataLoss: false });
        await on.stack.up();
        await on.stack.preview(true);
    });

    test("host 2 lost in turn: failover to pg3; back without a write, pg2 is demoted and rewound in the same up", async () => {
        on.set.hosts[1].lose();
        await on.stack.setConfig({ primary: "pg3" });
        await on.stack.up();
        out = await on.stack.outputs();
        await rows(url("pg3"), "INSERT INTO tutorial VALUES (102, 'after the second failover')");
        on.set.hosts[1].restore();
        await eventually(30, () => rows(url("pg2"), "SELECT pg_is_in_recovery() AS r"), (r) => r[0].r === false);
        const { stdout } = await on.stack.up();
        assert.match(stdout, /pg2 runs as primary on timeline 2, which pg3 left at [0-9A-F]+\/[0-9A-F]+ when it was promoted/);
        assert.match(stdout, /pg2 wrote no user data after pg3 was promoted/);
        assert.match(stdout, /pg2 \(timeline 2; \d+ bytes of WAL since pg3 left that timeline at [0-9A-F]+\/[0-9A-F]+\) run as primary next to pg3/);
        assert.match(stdout, /pg2 rejoined as a standby of pg3 after pg_rewind/);
        for (const name of ["pg1", "pg2"]) {
            assert.deepEqual(await rows(url(name), "SELECT pg_is_in_recovery() AS r"), [{ r: true }]);
            assert.equal(await eventually(30, () => count(url(name)), (n) => n === 102), 102);
        }
        await on.stack.preview(true);
    });

    test("the drill's host fault: pg3's host lost under a write probe, failover, the host back, pg3 demoted", async () => {
        const byEngine = (engine: string) => on.set.hosts.find((h) => h.dockerHost === engine)!;
        const r = await runDrill(drillStack(on.stack), "host", (m) => log(`[drill host] ${m}`), {
            lose: async (engine) => byEngine(engine).lose(),
            restore: async (engine) => byEngine(engine).restore(),
        });
        log(`drill host: ${JSON.stringify({ ...r, lostSeqs: r.lostSeqs.slice(0, 5) })}`);
        assert.equal(r.from, "pg3");
        assert.ok(r.acknowledged > 0, "the probe wrote");
        assert.ok(r.faultToFirstWriteSeconds > 0 && r.faultToFirstWriteSeconds < 120, `fault to first write: ${r.faultToFirstWriteSeconds}`);
        assert.equal(r.restartPolicyAfterFailover, "not asked (its host is lost)");
        if (r.rejoinPath.startsWith("refused")) {
            // The probe's INSERT in flight when the link went down reaches pg3 by TCP retransmission
            // once the host is back, and commits there after the promotion: a split-brain write, kept.
            log("the drill's in-flight INSERT reached pg3 after the host was back; discarding it with allowDataLoss");
            assert.match(r.rejoinPath, new RegExp(`pg3 committed \\d+ transaction\\(s\\) writing user data after ${r.to} was promoted`));
            assert.equal(on.set.hosts[2].docker("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} {{.State.Running}}",
                `pg-replication-${on.stack.name}-pg3`), "no false", "pg3 is fenced meanwhile");
            await on.stack.setConfig({ allowDataLoss: true });
            assert.match((await on.stack.up()).stdout, new RegExp(`pg3 rejoined as a standby of ${r.to} after pg_rewind`));
            await on.stack.setConfig({ allowDataLoss: false });
            await on.stack.up();
        } else {
            assert.match(r.rejoinPath, /^pg_rewind/);
            assert.equal(r.consistentAfterRejoin, true, "pg3 has the new primary's rows after its rejoin");
        }
        out = await on.stack.outputs();
        assert.deepEqual(await rows(url("pg3"), "SELECT pg_is_in_recovery() AS r"), [{ r: true }]);
        const [a, b] = await Promise.all([r.to, "pg3"].map((n) => eventually(30,
            () => rows(url(n), "SELECT count(*)::int AS n FROM switchover_probe"), (x) => x[0].n === r.rowsOnNewPrimary)));
        assert.deepEqual(a, b);
    });

    test("the primary's host powered off (its engine stops it cleanly): failover to the other standby; powered on, Docker restarts it as a primary; up demotes it", async () => {
        // The drill above promoted the standby that had received the most WAL: pg1 or pg2, either may win.
        const old = out.primary.name as string;
        assert.ok(old === "pg1" || old === "pg2", `the drill promoted pg1 or pg2: ${old}`);
        const next = old === "pg1" ? "pg2" : "pg1";
        const i = Number(old.slice(2)) - 1;
        const h = on.set.hosts[i];
        await h.powerOff();
        await on.stack.setConfig({ primary: next });
        const failover = await on.stack.up();
        assert.match(failover.stdout, new RegExp(`${old}'s host is lost: its engine does not answer and its server at ` +
            `${h.address.replace(/\./g, "\\.")}:${PORT + i} does not answer from ${next}`));
        out = await on.stack.outputs();
        await rows(url(next), "INSERT INTO tutorial VALUES (103, 'after the power-off')");
        await h.powerOn();
        // Docker starts the old primary again by its restart policy, as on a boot: the primary of its old timeline.
        await eventually(60, () => rows(url(old), "SELECT pg_is_in_recovery() AS r"), (r) => r[0].r === false);
        const { stdout } = await on.stack.up();
        assert.match(stdout, new RegExp(`${old} runs as primary on timeline \\d+, which ${next} left at [0-9A-F]+/[0-9A-F]+ when it was promoted`));
        assert.match(stdout, new RegExp(`${old} wrote no user data after ${next} was promoted`));
        assert.match(stdout, new RegExp(`${old} rejoined as a standby of ${next} after pg_rewind`));
        assert.deepEqual(await rows(url(old), "SELECT pg_is_in_recovery() AS r"), [{ r: true }]);
        assert.equal(await eventually(30, () => count(url(old)), (n) => n === 103), 103);
        await on.stack.preview(true);
    });
});

describe("a host gone for good: the preview says how to take it out of the stack, and that path works (PostgreSQL 13)", { timeout: TIMEOUT }, () => {
    const on = stackOnHosts({ set: "gone", subnet: 10, count: 3, images: ["postgres:13"], ssh: true }, "e2e-gone",
        (hosts) => planOnHosts(hosts, { net: 50, port: 58560, readyTimeoutSeconds: "60" }));
    let out: Record<string, any>;
    const url = (name: string): string => out.nodes[name].connectionString;
    const providerUrn = () => `urn:pulumi:${on.stack.name}::pg-replication::pg-replication:index:PostgresCluster$pulumi:providers:docker::cluster-docker-pg3`;

    test("up on three hosts; host 3 (pg3, a standby) powered off for good", async () => {
        await on.stack.up();
        out = await on.stack.outputs();
        await rows(url("pg1"), "CREATE TABLE tutorial (id int primary key, note text)");
        await rows(url("pg1"), "INSERT INTO tutorial SELECT g, 'row ' || g FROM generate_series(1, 100) g");
        await on.set.hosts[2].powerOff();
    });

    test("preview: refused at once, naming pg3's key and engine and the exact commands to take it out", async () => {
        const started = Date.now();
        await assert.rejects(on.stack.preview(), (err: Error) => {
            assert.match(err.message, /pg-replication:nodes\[2\]\.host = "ssh:\/\/root@10\.231\.10\.13" is not allowed: the Docker engine does not answer/);
            assert.ok(err.message.includes(`if its machine is gone for good, take its resources out of the stack: pulumi state delete ` +
                `--target-dependents '${providerUrn()}', then remove pg3 from pg-replication:nodes and run up (README, "A host gone for good")`),
            err.message);
            return true;
        });
        const seconds = (Date.now() - started) / 1000;
        log(`preview with a host gone: ${seconds.toFixed(1)} s`);
        assert.ok(seconds < 30, `the preview took ${seconds} s`);
    });

    test("refresh: fails within ssh's connect timeout, naming the lost host's resources and address", async () => {
        const started = Date.now();
        await assert.rejects(on.stack.refresh(), (err: Error) => {
            assert.match(err.message, /cluster-pg3/);
            assert.match(err.message, /10\.231\.10\.13/);
            return true;
        });
        const seconds = (Date.now() - started) / 1000;
        log(`refresh with a host gone: ${seconds.toFixed(1)} s`);
        assert.ok(seconds < 120, `the refresh took ${seconds} s`);
    });

    test("the README's path: its resources out of the state, pg3 out of the config, up; the rest as it was", async () => {
        const said = await on.stack.stateDelete(providerUrn());
        log(`state delete: ${said.trim()}`);
        const types = await on.stack.resourceTypes();
        assert.equal(types.filter((t) => t === "docker:index/container:Container").length, 2, types.join(", "));
        const { nodes } = planOnHosts(on.set.hosts, { net: 50, port: 58560 }) as { nodes: unknown[] };
        await on.stack.setConfig({ nodes: nodes.slice(0, 2) });
        await on.stack.up();
        out = await on.stack.outputs();
        assert.deepEqual(Object.keys(out.nodes).sort(), ["pg1", "pg2"]);
        await rows(url("pg1"), "INSERT INTO tutorial VALUES (101, 'after pg3 was taken out')");
        const [{ n }] = await eventually(30, () => rows(url("pg2"), "SELECT count(*)::int AS n FROM tutorial"), (r) => r[0].n === 101);
        assert.equal(n, 101);
        await eventually(30, () => rows(url("pg1"), "SELECT application_name AS name FROM pg_stat_replication WHERE state = 'streaming'"),
            (r) => r.map((x) => x.name).join(",") === "pg2");
        await on.stack.preview(true);
        // pg3's slot on pg1 was its seed's to drop, and its seed went with the state: status says so, and how.
        const seen = await status(on.stack.backend, on.stack.name);
        assert.equal(seen.code, 1, seen.stdout + seen.stderr);
        assert.match(seen.stdout, /slot pg3 belongs to no node of the plan .*\n.*drop it on the primary: SELECT pg_drop_replication_slot\('pg3'\)/);
        await rows(url("pg1"), "SELECT pg_drop_replication_slot('pg3')");
        const after = await status(on.stack.backend, on.stack.name);
        assert.equal(after.code, 0, after.stdout + after.stderr);
    });

    test("destroy leaves nothing of the stack on the hosts that are there", async () => {
        await on.stack.destroy();
        for (const h of on.set.hosts.slice(0, 2)) {
            assert.deepEqual(leftovers(on.stack.name, h.socketHost), [], `${h.name} keeps objects of the stack`);
        }
    });
});
