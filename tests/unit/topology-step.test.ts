// The topology step (components/topology/up.ts, act.ts) against a fake `docker` on PATH that
// answers like a small cluster: what it decides comes from the planners (tested in
// failover.test.ts, status.test.ts); here, what it does: the order of a switchover, the fence
// before a promotion, the refusals before anything changes, a lost host left alone, the result line.

import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, test } from "node:test";
import { Bounds, countCommits, promotionTime, TopologyRun, walReadToEnd } from "../../components/topology/act";
import { fragment, SCRIPTS_DIR } from "../../components/fragments";
import { TopologyInput, TopologyResult } from "../../components/topology/contract";
import { runTopologyStep } from "../../components/topology/up";
import { FakeDocker, Rule } from "./fake-docker";

const FAST: Bounds = { followSeconds: 1, joinCheckSeconds: 0.2, pollMs: 20, callMs: 10_000 };
const BASE: TopologyInput = {
    namePrefix: "pg", dockerHost: "unix:///fake.sock", networkName: "pgnet", image: "postgres:13",
    helperLabels: { "pg-replication.stack": "s", "pg-replication.role": "helper" },
    nodes: [{ name: "pg1", address: "172.18.0.101", port: 5432 }, { name: "pg2", address: "172.18.0.102", port: 5433 }],
    primary: "pg1",
    replication: { user: "repuser", mode: "async", syncStandbys: [], syncCount: 0, synchronousCommit: "on", maxSwitchoverLagBytes: 16 << 20 },
    timeoutSeconds: 2, downNodes: [], allowDataLoss: false,
};

/** STATE_SQL's answer (node-state.ts): in recovery, lsn, paused, timeline, receiver, received, upstream. */
const primaryState = (lsn = "0/5000060") => `f|${lsn}|f|1|||\n`;
const standbyState = (from: string, lsn = "0/5000060") => `t|${lsn}|f|1|streaming ${from}|${lsn}|${from}\n`;

/** Rules for node N: its answer to STATE_SQL, its container as inspect shows it. */
function node(n: string, state: Partial<Rule>, container = "running|pgnet,|unless-stopped"): Rule[] {
    const c = `pg-${n}`;
    const [status, networks, policy] = container.split("|");
    const on = networks.includes("pgnet") ? "on" : "";
    return [
        { when: `^exec -u postgres ${c} psql -X -A -t -F \\|[^]*pg_is_in_recovery\\(\\),`, ...state },
        { when: `^inspect -f \\{\\{\\.State\\.Status\\}\\}\\|[^]* ${c}\\n`, out: `${container}\n` },
        { when: `^inspect -f \\{\\{\\.State\\.Status\\}\\} \\{\\{if index[^]* ${c}\\n`, out: `${status} ${on}\n` },
        { when: `^inspect -f \\{\\{\\.HostConfig\\.RestartPolicy\\.Name\\}\\} ${c}\\n`, out: `${policy}\n` },
        { when: `^inspect -f \\{\\{\\.HostConfig\\.RestartPolicy\\.Name\\}\\} \\{\\{\\.State\\.Status\\}\\}[^]* ${c}\\n`, out: `${policy} ${status} ${on}\n` },
    ];
}
/** What a healthy primary P answers about standby S, and the generic answers. */
function healthy(p: string, standbys: string[]): Rule[] {
    return [
        ...standbys.flatMap((s) => [
            { when: `^exec -i -u postgres pg-${p} psql[^]*\\nSELECT state FROM pg_stat_replication WHERE application_name = '${s}'`, out: "streaming\n" },
            { when: `^exec -i -u postgres pg-${p} psql[^]*\\nSELECT state \\|\\| '/' \\|\\| sync_state[^]*'${s}'`, out: "streaming/async\n" },
        ]),
        { when: `^exec -i -u postgres pg-${p} psql[^]*\\nSHOW synchronous_standby_names`, out: "\n" },
        { when: "^exec -i -u postgres [^]*pg_promote", out: "t\n" },
        { when: "^exec -i -u postgres [^]*pg_last_wal_replay_lsn\\(\\) > ", out: "t\n" },
        { when: "^exec -i -u postgres [^]*timeline_id FROM pg_control_checkpoint", out: "2\n" },
        { when: "^exec -i ", out: "" },
        { when: "^(stop|start|update|kill) ", out: "" },
        { when: "^volume inspect ", out: "[]\n" },
        { when: "^inspect pg-", out: "[]\n" },
    ];
}

let fake: FakeDocker | undefined;
afterEach(() => fake?.cleanup());

async function step(input: TopologyInput, rules: Rule[]): Promise<{ result: TopologyResult; log: string[]; fake: FakeDocker }> {
    fake = new FakeDocker(rules);
    const log: string[] = [];
    const result = await runTopologyStep(input, (l) => log.push(l), { env: fake.env, bounds: FAST });
    return { result, log, fake };
}

const CHANGES = /^(stop|start|kill|update|run) /;

describe("the topology step", () => {
    test("the declared primary is the primary: nothing changes, the standbys are gated, one result", async () => {
        const { result, log, fake } = await step(BASE, [
            ...node("pg1", { out: primaryState() }), ...node("pg2", { out: standbyState("172.18.0.101") }), ...healthy("pg1", ["pg2"])]);
        assert.equal(result.ok, true, result.error);
        assert.equal(result.action, "none");
        assert.deepEqual(result.standbys, { pg2: "streaming/async" });
        assert.equal(log.at(-1), "pg1 is the primary; nothing to switch");
        assert.deepEqual(fake.calls().filter((c) => CHANGES.test(c.argv)), [], "nothing was changed");
        assert.ok(fake.calls().every((c) => c.host === "unix:///fake.sock"));
    });

    test("a switchover: target prepared, a checkpoint on the old primary, which is then stopped cleanly, its checkpoint replayed, promoted, old rejoins: in that order", async () => {
        const { result, log, fake } = await step({ ...BASE, primary: "pg2" }, [
            ...node("pg1", { out: primaryState() }), ...node("pg2", { out: standbyState("172.18.0.101") }),
            { when: "^run [^]*--entrypoint pg_controldata", out: "Database cluster state:               shut down\nLatest checkpoint location:           0/5000100\n" },
            { when: "^run ", out: "" },
            ...healthy("pg2", ["pg1"])]);
        assert.equal(result.ok, true, result.error);
        assert.equal(result.action, "switchover");
        assert.equal(result.from, "pg1");
        assert.deepEqual(result.rejoined, [{ node: "pg1", path: { via: "start" } }]);
        const order = [/^exec -i -u postgres pg-pg2 [^]*pg_create_physical_replication_slot\('pg1', true\)[^]*synchronous_standby_names/,
            /^exec -i -u postgres pg-pg1 [^]*\nCHECKPOINT\n/, /^stop -t 60 pg-pg1\n/, /^run [^]*pg-pg1-data:\/var\/lib\/postgresql\/data:ro --entrypoint pg_controldata/,
            /^exec -i -u postgres pg-pg2 [^]*pg_last_wal_replay_lsn\(\) > '0\/5000100'::pg_lsn/, /^exec -i -u postgres pg-pg2 [^]*pg_promote\(true, 2\)/,
            /^run [^]*--network none [^]*-e CONNINFO=host=172\.18\.0\.102 port=5432 user=repuser application_name=pg1 passfile=\/var\/lib\/postgresql\/data\/replication\.pgpass -e SLOT=pg1 [^]*pg-pg1-data/,
            /^start pg-pg1\n/, /^update --restart=unless-stopped pg-pg1\n/];
        const at = order.map((p) => fake.index(p));
        assert.ok(at.every((i) => i >= 0), `missing: ${order.filter((_, k) => at[k] < 0).join(", ")}`);
        assert.deepEqual([...at].sort((a, b) => a - b), at, "in order");
        assert.match(log.join("\n"), /switchover: pg2 is the primary; pg1 rejoined as its standby after its clean shutdown, without a rewind/);
        const rewrite = fake.calls().find((c) => /-e SLOT=pg1 /.test(c.argv))!.argv;
        assert.ok(rewrite.includes(fragment("standby-conf.sh").trimEnd()), "the rewrite is the clone's own standby_conf (standby-conf.sh)");
        assert.match(rewrite, /standby_conf \/var\/lib\/postgresql\/data\/pgdata "\$CONNINFO" "\$SLOT"$/);
    });

    const ENDPOINT = { container: "pg-pooler", pauseTimeoutSeconds: 7 };
    const admin = (command: string) => `^exec pg-pooler timeout \\d+ psql -X -q -A -t -h /var/run/postgresql -p 6432 -U pgbouncer -d pgbouncer -c ${command}\\n`;
    const switchRules = (pause: Partial<Rule>): Rule[] => [
        ...node("pg1", { out: primaryState() }), ...node("pg2", { out: standbyState("172.18.0.101") }),
        { when: admin("PAUSE"), ...pause },
        { when: admin("(SHOW VERSION|RELOAD|RESUME)"), out: "" },
        { when: "^exec -i pg-pooler sh -c cat > /etc/pg-replication-pooler/target\\.ini\\.new", out: "" },
        { when: "^run [^]*--entrypoint pg_controldata", out: "Database cluster state:               shut down\nLatest checkpoint location:           0/5000100\n" },
        { when: "^run ", out: "" },
        ...healthy("pg2", ["pg1"])];

    test("a switchover with an endpoint: paused after the checkpoint and before the stop, pointed at the new primary and resumed once it is promoted", async () => {
        const { result, log, fake } = await step({ ...BASE, primary: "pg2", endpoint: ENDPOINT }, switchRules({ out: "" }));
        assert.equal(result.ok, true, result.error);
        assert.deepEqual(result.endpoint, { paused: true, target: "pg2" });
        const order = [/^exec -i -u postgres pg-pg1 [^]*\nCHECKPOINT\n/, new RegExp(admin("PAUSE")), /^stop -t 60 pg-pg1\n/, /pg_promote\(true, 2\)/,
            // Pointed, reloaded and resumed in one call: over ssh each call is a round trip clients wait on.
            /^exec -i pg-pooler sh -c cat > \/etc\/pg-replication-pooler\/target\.ini\.new [^]*-c RELOAD && timeout 10 psql [^]*-c RESUME\n\* = host=172\.18\.0\.102 port=5432\n$/,
            /^start pg-pg1\n/];
        const at = order.map((p) => fake.index(p));
        assert.ok(at.every((i) => i >= 0), `missing: ${order.filter((_, k) => at[k] < 0).join(", ")}`);
        assert.deepEqual([...at].sort((a, b) => a - b), at, "in order");
        assert.match(fake.calls()[at[1]].argv, /^exec pg-pooler timeout 7 psql/, "PAUSE bounded by pauseTimeoutSeconds inside the container");
        assert.match(log.join("\n"), /endpoint pg-pooler: writes go to pg2 \(\* = host=172\.18\.0\.102 port=5432\)/);
    });

    test("a switchover whose endpoint cannot be paused in time (a transaction held open) refuses with nothing stopped, the endpoint resumed", async () => {
        const { result, fake } = await step({ ...BASE, primary: "pg2", endpoint: ENDPOINT }, switchRules({ code: 124 }));
        assert.equal(result.ok, false);
        assert.match(result.error!, /^switchover refused: clients of the endpoint \(pg-pooler\) kept transactions open for more than 7s \(pg-replication:endpoints\.pauseTimeoutSeconds\)/);
        assert.equal(fake.index(/^stop /), -1, "nothing stopped");
        assert.equal(fake.index(/pg_promote/), -1, "nothing promoted");
        assert.ok(fake.index(new RegExp(admin("RESUME"))) > fake.index(new RegExp(admin("PAUSE"))), "resumed after the PAUSE");
        assert.equal(fake.index(/target\.ini/), -1, "still pointed at pg1");
    });

    test("a switchover with the endpoint left paused by an earlier step: taken as paused, switched, resumed", async () => {
        const { result, fake } = await step({ ...BASE, primary: "pg2", endpoint: ENDPOINT },
            switchRules({ code: 1, err: "ERROR:  already suspended/paused\n" }));
        assert.equal(result.ok, true, result.error);
        assert.deepEqual(result.endpoint, { paused: true, target: "pg2" });
        assert.ok(fake.index(/-c RESUME\n/) > fake.index(/pg_promote/));
    });

    test("a switchover whose old primary does not stop cleanly: the endpoint is resumed still pointed at it", async () => {
        const rules = switchRules({ out: "" });
        rules.splice(rules.findIndex((r) => r.when.includes("pg_controldata")), 1,
            { when: "^run [^]*--entrypoint pg_controldata", out: "Database cluster state:               in production\n" });
        const { result, fake } = await step({ ...BASE, primary: "pg2", endpoint: ENDPOINT }, rules);
        assert.equal(result.ok, false);
        assert.ok(fake.index(new RegExp(admin("RESUME"))) > fake.index(/^start pg-pg1\n/), "resumed once pg1 is started again");
        assert.equal(fake.index(/target\.ini/), -1, "still pointed at pg1");
    });

    test("a switchover with an endpoint that does not answer (not created yet): switched without it, said", async () => {
        const rules = switchRules({ out: "" });
        rules.unshift({ when: admin("SHOW VERSION"), code: 1, err: "Error response from daemon: No such container: pg-pooler\n" });
        const { result, log, fake } = await step({ ...BASE, primary: "pg2", endpoint: ENDPOINT }, rules);
        assert.equal(result.ok, true, result.error);
        assert.equal(fake.index(new RegExp(admin("(PAUSE|RELOAD|RESUME)"))), -1);
        assert.match(log.join("\n"), /the endpoint \(pg-pooler\) does not answer; it is not paused/);
    });

    test("a switchover whose old primary does not shut down cleanly: started again, nothing promoted", async () => {
        const { result, fake } = await step({ ...BASE, primary: "pg2" }, [
            ...node("pg1", { out: primaryState() }), ...node("pg2", { out: standbyState("172.18.0.101") }),
            { when: "^run [^]*--entrypoint pg_controldata", out: "Database cluster state:               in production\n" },
            ...healthy("pg2", ["pg1"])]);
        assert.equal(result.ok, false);
        assert.match(result.error!, /switchover aborted: pg1 did not shut down cleanly \(cluster state 'in production'\); it was started again as primary/);
        assert.ok(fake.index(/^start pg-pg1\n/) > fake.index(/^stop -t 60 pg-pg1\n/));
        assert.equal(fake.index(/pg_promote/), -1);
    });

    test("a switchover the planner refuses (target not streaming) changes nothing, in preview's words", async () => {
        const { result, fake } = await step({ ...BASE, primary: "pg2" }, [
            ...node("pg1", { out: primaryState() }), ...node("pg2", { out: "t|0/5000060|f||||172.18.0.101\n" }), ...healthy("pg2", [])]);
        assert.equal(result.ok, false);
        assert.match(result.error!, /^the switchover is refused, nothing was changed:\n {2}- pg2 is not streaming from the primary pg1/);
        assert.deepEqual(fake.calls().filter((c) => CHANGES.test(c.argv)), []);
    });

    test("two primaries where neither is a former primary of the declared one: refused before anything", async () => {
        const { result, fake } = await step(BASE, [
            ...node("pg1", { out: primaryState() }), ...node("pg2", { out: primaryState() }), ...healthy("pg1", [])]);
        assert.equal(result.ok, false);
        assert.match(result.error!, /more than one node runs as primary: pg1, pg2; stop all but one before running up/);
        assert.deepEqual(fake.calls().filter((c) => CHANGES.test(c.argv)), []);
    });

    test("no primary and the declared one is down too: refused before fencing or stopping anything", async () => {
        const down = { err: "Error response from daemon: container is not running\n", code: 1 };
        const { result, fake } = await step({ ...BASE, primary: "pg2" }, [
            ...node("pg1", down, "exited|pgnet,|unless-stopped"), ...node("pg2", down, "exited|pgnet,|unless-stopped"), ...healthy("pg2", [])]);
        assert.equal(result.ok, false);
        assert.match(result.error!, /^failover refused: no reachable node runs as primary \(pg1: its container is not running, pg2: its container is not running\)/);
        assert.deepEqual(fake.calls().filter((c) => CHANGES.test(c.argv)), []);
    });

    test("a failover: the old primary fenced (restart no, killed, its volume a standby) before the promotion, then rewound back in", async () => {
        const three = { ...BASE, primary: "pg2", nodes: [...BASE.nodes, { name: "pg3", address: "172.18.0.103", port: 5434 }] };
        const { result, log, fake } = await step(three, [
            { when: "^inspect -f \\{\\{\\.HostConfig\\.RestartPolicy\\.Name\\}\\} \\{\\{\\.State\\.Running\\}\\} pg-pg1", out: "no false\n" },
            { when: "^inspect -f \\{\\{\\.State\\.Status\\}\\} pg-pg1\\n", out: "running\n", once: true },
            // After the fence: stopped, policy no, on the network: brought in at once.
            ...node("pg1", { err: "psql: error: connection to server failed\n", code: 2 }, "exited|pgnet,|no"),
            ...node("pg2", { out: standbyState("172.18.0.101", "0/5000100") }), ...node("pg3", { out: standbyState("172.18.0.101", "0/5000000") }),
            { when: "^run [^]*-e SOURCE=", out: "pg_rewind: servers diverged at WAL location 0/5000100 on timeline 1\npg_rewind: Done!\n" },
            { when: "^run ", out: "" },
            ...healthy("pg2", ["pg1", "pg3"])]);
        assert.equal(result.ok, true, result.error);
        assert.equal(result.action, "failover");
        assert.deepEqual(result.fenced, ["pg1"]);
        const fenced = [fake.index(/^update --restart=no pg-pg1\n/), fake.index(/^run [^]*-e SLOT=pg1 [^]*pg-pg1-data/)];
        const promoted = fake.index(/pg_promote/);
        assert.ok(fenced.every((i) => i >= 0 && i < promoted), `fence ${fenced} before promotion ${promoted}`);
        assert.ok(fake.index(/^exec -i -u postgres pg-pg3 [^]*ALTER SYSTEM SET primary_conninfo = 'host=172\.18\.0\.102 port=5432 user=repuser application_name=pg3/) > promoted,
            "pg3 follows pg2 after the promotion");
        assert.deepEqual(result.rejoined, [{ node: "pg1", path: { via: "pg_rewind", said: "servers diverged at WAL location 0/5000100 on timeline 1" } }]);
        assert.match(log.join("\n"), /pg1 rejoined as a standby of pg2 after pg_rewind \(servers diverged at WAL location 0\/5000100 on timeline 1\)/);
        assert.equal(fake.index(/^(kill|stop|update|run) [^]*pg-pg3/), -1, "the standby that follows is not touched");
    });

    test("a failover away from a newer major (an upgrade given up): the old primary fenced, then left to its seed, never rewound", async () => {
        const { result, log, fake } = await step({ ...BASE, primary: "pg2" }, [
            { when: "^inspect -f \\{\\{\\.HostConfig\\.RestartPolicy\\.Name\\}\\} \\{\\{\\.State\\.Running\\}\\} pg-pg1", out: "no false\n" },
            { when: "^inspect -f \\{\\{\\.State\\.Status\\}\\} pg-pg1\\n", out: "restarting\n", once: true },
            ...node("pg1", { err: "Error response from daemon: Container is restarting\n", code: 1 }, "exited|pgnet,|no"),
            ...node("pg2", { out: standbyState("172.18.0.101", "0/5000100") }),
            // pg1's volume: the failed upgrade's PostgreSQL 17 cluster; pg2 runs 13.
            { when: "^run [^]*-v pg-pg1-data:[^]*--entrypoint cat [^]*PG_VERSION", out: "17\n" },
            { when: "^exec -i -u postgres pg-pg2 psql[^]*\\nSHOW server_version_num", out: "130016\n" },
            { when: "^run ", out: "" },
            ...healthy("pg2", ["pg1"])]);
        assert.equal(result.ok, true, result.error);
        assert.equal(result.action, "failover");
        assert.deepEqual(result.fenced, ["pg1"]);
        assert.equal(fake.index(/-e SOURCE=/), -1, "no pg_rewind across majors");
        assert.deepEqual(result.rejoined, []);
        assert.match(log.join("\n"), /pg1 holds PostgreSQL 17 data and the primary pg2 runs 13: not brought in here; its seed clones it again from pg2 when its container is replaced on the stack's image \(its PostgreSQL 17 data kept beside, README "A new major"\)/);
    });

    test("a node pg_rewind cannot bring back is cloned afresh as the last resort, its own pg_hba.conf kept, and said", async () => {
        const { result, log, fake } = await step(BASE, [
            ...node("pg1", { out: primaryState() }),
            // pg2 runs but streams from nobody: brought in with pg_rewind, which fails.
            ...node("pg2", { out: "t|0/5000060|f||||172.18.0.101\n" }),
            { when: "^exec -i -u postgres pg-pg1 psql[^]*\\nSELECT state FROM pg_stat_replication WHERE application_name = 'pg2'", out: "streaming\n",
                after: "clone_into" },
            { when: "^exec -i -u postgres pg-pg1 psql[^]*\\nSELECT state FROM pg_stat_replication WHERE application_name = 'pg2'", out: "\n" },
            { when: "^run [^]*-e SOURCE=", err: "pg_rewind: error: could not find common ancestor of the source and target cluster's timelines\n", code: 1 },
            { when: "^run ", out: "" },
            ...healthy("pg1", ["pg2"])]);
        assert.equal(result.ok, true, result.error);
        assert.deepEqual(result.rejoined, [{ node: "pg2", path: { via: "fresh clone" } }]);
        assert.match(log.join("\n"), /pg_rewind did not bring pg2 back; LAST RESORT: pg2 is cloned afresh from pg1 \(its data is replaced\)/);
        const clone = fake.index(/^run [^]*--network pgnet --ip 172\.18\.0\.102 [^]*clone_into \/var\/lib\/postgresql\/data\/pgdata "\$CONNINFO" "\$SLOT" keep-hba\n/);
        assert.ok(clone > fake.index(/pg_drop_replication_slot\('pg2'\)/), "the old slot dropped first, so the clone can create it");
        assert.ok(fake.calls()[clone].argv.includes(fragment("clone.sh").trimEnd()), "the seed's own clone_into");
    });

    test("a failover with the old primary's host lost: nothing is sent to its engine, said; refused while its server answers", async () => {
        const hosts = { ...BASE, primary: "pg2", nodes: [
            { name: "pg1", address: "172.18.0.101", port: 5432, host: "tcp://10.0.0.9:2376", hostAddress: "10.0.0.9" },
            { name: "pg2", address: "172.18.0.102", port: 5433, host: "tcp://10.0.0.8:2376", hostAddress: "10.0.0.8" }] };
        const rules = (isready: number): Rule[] => [
            { when: "^version ", host: "tcp://10.0.0.9:2376", err: "Cannot connect to the Docker daemon at tcp://10.0.0.9:2376\n", code: 1 },
            { when: "^version ", out: "20.10.24\n" },
            { when: "^exec -u postgres pg-pg2 pg_isready -q -h 10\\.0\\.0\\.9 -p 5432 -t 3", code: isready },
            ...node("pg2", { out: standbyState("10.0.0.9") }), ...healthy("pg2", [])];
        const gone = await step(hosts, rules(2));
        assert.equal(gone.result.ok, true, gone.result.error);
        assert.deepEqual(gone.result.lost, ["pg1"]);
        assert.match(gone.log.join("\n"), /pg1's host is lost: its engine does not answer and its server at 10\.0\.0\.9:5432 does not answer from pg2/);
        assert.match(gone.log.join("\n"), /pg1 is not brought in now: its Docker engine does not answer/);
        assert.deepEqual(gone.fake.calls().filter((c) => c.host === "tcp://10.0.0.9:2376").map((c) => c.argv.split(" ")[0]), ["version"]);
        // Not asked, so not said to be down.
        assert.deepEqual(gone.result.standbys, { pg1: "its engine does not answer" });
        assert.match(gone.log.join("\n"), /pg1: whether its container pg-pg1 runs could not be read \(its Docker engine does not answer\); it is not repointed/);
        assert.match(gone.log.join("\n"), /pg1 is not waited for: its Docker engine does not answer/);
        assert.ok(gone.fake.index(/pg_promote/) >= 0);
        gone.fake.cleanup();
        const answering = await step(hosts, rules(0));
        assert.equal(answering.result.ok, false);
        assert.match(answering.result.error!, /pg1 cannot be fenced: its Docker engine \(tcp:\/\/10\.0\.0\.9:2376\) does not answer: .*but its server answers, seen from pg2/);
        assert.equal(answering.fake.index(/pg_promote|^(stop|kill|update) /), -1);
    });
    test("across engines: every engine's endpoint that answers is paused, pointed at its own route to the new primary, resumed; a lost host's is left alone", async () => {
        const H9 = "tcp://10.0.0.9:2376", H8 = "tcp://10.0.0.8:2376", H7 = "tcp://10.0.0.7:2376";
        const hosts = { ...BASE, primary: "pg2", nodes: [
            { name: "pg1", address: "172.18.0.101", port: 5432, host: H9, hostAddress: "10.0.0.9" },
            { name: "pg2", address: "172.18.0.102", port: 5433, host: H8, hostAddress: "10.0.0.8" }],
            // H7: an engine of the endpoint's other than the new primary's (its node is beside the point here).
            endpoint: { container: "pg-pooler", pauseTimeoutSeconds: 7, engines: [H9, H8, H7] } };
        const { result, log, fake } = await step(hosts, [
            { when: "^version ", host: H9, err: `Cannot connect to the Docker daemon at ${H9}\n`, code: 1 },
            { when: "^version ", out: "20.10.24\n" },
            { when: "^exec -u postgres pg-pg2 pg_isready -q -h 10\\.0\\.0\\.9 -p 5432 -t 3", code: 2 },
            { when: "^exec pg-pooler timeout ", out: "" },
            ...node("pg2", { out: standbyState("10.0.0.9") }), ...healthy("pg2", [])]);
        assert.equal(result.ok, true, result.error);
        assert.deepEqual(result.endpoint, { paused: true, target: "pg2" });
        assert.deepEqual(fake.calls().filter((c) => c.host === H9).map((c) => c.argv.split(" ")[0]), ["version"], "nothing but the probe to the lost engine");
        const pooler = (h: string) => fake.calls().filter((c) => c.host === h && / pg-pooler /.test(` ${c.argv}`))
            .map((c) => c.argv.includes("target.ini.new") ? `${c.stdin.trim()}, then ${[...c.argv.matchAll(/-c ([A-Z]+)/g)].map((m) => m[1]).join(", ")}`
                : /-c (PAUSE|RESUME|SHOW VERSION)$/.exec(c.argv.trim())?.[1]);
        assert.deepEqual(pooler(H8), ["SHOW VERSION", "PAUSE", "* = host=172.18.0.102 port=5432, then RELOAD, RESUME"], "on pg2's engine: its cluster address");
        assert.deepEqual(pooler(H7), ["SHOW VERSION", "PAUSE", "* = host=10.0.0.8 port=5433, then RELOAD, RESUME"], "elsewhere: its host's address and port");
        assert.ok(fake.index(/^exec pg-pooler timeout \d+ [^]*-c PAUSE/) < fake.index(/pg_promote/), "paused before the promotion");
        assert.match(log.join("\n"), new RegExp(`the endpoint on ${H9.replace(/[./]/g, "\\$&")} is left alone: its engine does not answer`));
        assert.match(log.join("\n"), /endpoint pg-pooler on tcp:\/\/10\.0\.0\.7:2376: writes go to pg2 \(\* = host=10\.0\.0\.8 port=5433\), resumed/);
    });
});

describe("a standby whose container cannot be seen is not taken for one that is down", () => {
    const three = { ...BASE, primary: "pg2", nodes: [...BASE.nodes, { name: "pg3", address: "172.18.0.103", port: 5434 }] };
    const switchover = (pg3: Partial<Rule>): Rule[] => [
        { when: "^inspect -f \\{\\{\\.State\\.Status\\}\\} \\{\\{if index[^]* pg-pg3\\n", ...pg3 },
        ...node("pg1", { out: primaryState() }), ...node("pg2", { out: standbyState("172.18.0.101") }), ...node("pg3", { out: standbyState("172.18.0.101") }),
        { when: "^run [^]*--entrypoint pg_controldata", out: "Database cluster state:               shut down\nLatest checkpoint location:           0/5000100\n" },
        { when: "^run ", out: "" },
        ...healthy("pg2", ["pg1", "pg3"])];

    test("an engine error on its inspect: not repointed, said, the switchover goes on (the old primary rejoins); the gates fail on it", async () => {
        const { result, log, fake } = await step(three, switchover({ err: "Error response from daemon: i/o timeout\n", code: 1 }));
        assert.equal(result.ok, false);
        assert.equal(result.error, "pg3: whether its container pg-pg3 runs could not be read (Error response from daemon: i/o timeout), so whether it " +
            "streams from pg2 is not known");
        assert.match(log.join("\n"), /pg3: whether its container pg-pg3 runs could not be read \(Error response from daemon: i\/o timeout\); it is not repointed/);
        assert.match(log.join("\n"), /pg3: whether its container pg-pg3 runs could not be read \(Error response from daemon: i\/o timeout\); it is not brought in now/);
        assert.ok(fake.index(/^start pg-pg1\n/) > fake.index(/pg_promote/), "pg1 rejoined after the promotion");
        assert.equal(fake.index(/^exec -i -u postgres pg-pg3 [^]*ALTER SYSTEM SET primary_conninfo/), -1);
        assert.deepEqual(result.standbys, { pg1: "streaming/async" });
    });

    test("the engine's answer that it is not there (in any case), or not running: not running, not waited for, as before", async () => {
        for (const pg3 of [{ err: "Error: No such object: pg-pg3\n", code: 1 }, { err: "error: no such object: pg-pg3\n", code: 1 }, { out: "exited on\n" }]) {
            const { result, log } = await step(three, switchover(pg3));
            assert.equal(result.ok, true, result.error);
            assert.deepEqual(result.standbys, { pg1: "streaming/async", pg3: "not running" });
            assert.match(log.join("\n"), /pg3 \(pg-pg3\) is not running; it is not repointed/);
            fake?.cleanup();
        }
    });
});

describe("fencing a node whose container or volume cannot be seen", () => {
    const fenceWith = async (rules: Rule[]) => {
        fake = new FakeDocker(rules);
        const log: string[] = [];
        const run = new TopologyRun({ ...BASE, primary: "pg2" }, new Map(), (l) => log.push(l), FAST, fake.env);
        const outcome = await run.fence("pg1").then(() => "fenced", (e: Error) => e.message);
        return { outcome, log, changes: fake.calls().filter((c) => CHANGES.test(c.argv)).map((c) => c.argv) };
    };
    test("an engine that errs on the inspect: the step fails, nothing is said fenced", async () => {
        const r = await fenceWith([{ when: "^inspect pg-pg1\n", err: "Error response from daemon: i/o timeout\n", code: 1 }]);
        assert.equal(r.outcome, "pg1: whether its container pg-pg1 exists could not be read (Error response from daemon: i/o timeout); " +
            "it is not fenced and nothing was promoted");
        assert.deepEqual(r.log, []);
        const v = await fenceWith([{ when: "^inspect pg-pg1\n", err: "Error: No such object: pg-pg1\n", code: 1 },
            { when: "^volume inspect pg-pg1-data\n", err: "Error response from daemon: context deadline exceeded\n", code: 1 }]);
        assert.match(v.outcome, /^pg1: whether its volume pg-pg1-data exists could not be read \(Error response from daemon: context deadline exceeded\)/);
    });
    test("no container and no volume (the engine says so): nothing to fence, fenced as before", async () => {
        const r = await fenceWith([{ when: "^inspect pg-pg1\n", err: "Error: No such object: pg-pg1\n", code: 1 },
            { when: "^volume inspect pg-pg1-data\n", err: "Error response from daemon: get pg-pg1-data: no such volume\n", code: 1 }]);
        assert.equal(r.outcome, "fenced");
        assert.deepEqual(r.changes, []);
        assert.deepEqual(r.log, ["pg1 fenced: restart policy no, stopped, its volume a standby of pg2"]);
    });
});

describe("what a demoted former primary committed", () => {
    const dump = [
        "rmgr: Heap        len (rec/tot):     59/    59, tx:        735, lsn: 0/03000120, prev 0/030000E8, desc: INSERT off 3, blkref #0: rel 1663/13481/16384 blk 0",
        "rmgr: Transaction len (rec/tot):     34/    34, tx:        735, lsn: 0/03000160, prev 0/03000120, desc: COMMIT 2026-12-03 05:00:00.100000 UTC",
        "rmgr: Heap        len (rec/tot):     59/    59, tx:        736, lsn: 0/03000190, prev 0/03000160, desc: INSERT off 4, blkref #0: rel 1663/13481/16384 blk 0",
        "rmgr: Transaction len (rec/tot):     34/    34, tx:        736, lsn: 0/030001D0, prev 0/03000190, desc: COMMIT 2026-12-03 05:00:02.200000 UTC",
        "rmgr: Heap        len (rec/tot):     59/    59, tx:        737, lsn: 0/03000200, prev 0/030001D0, desc: INPLACE off 5, blkref #0: rel 1663/13481/2619 blk 0",
        "rmgr: Transaction len (rec/tot):     34/    34, tx:        737, lsn: 0/03000240, prev 0/03000200, desc: COMMIT 2026-12-03 05:00:03.300000 UTC",
    ].join("\n");
    test("transactions writing user relations, split at the promotion's time; catalog-only ones not counted", () => {
        assert.deepEqual(countCommits(dump, "2026-12-03 05:00:01.000000"),
            { after: 1, before: 1, end: "0/03000240", first: "2026-12-03 05:00:02.200000" });
        assert.deepEqual(countCommits(dump, undefined), { after: 2, before: 0, end: "0/03000240", first: "2026-12-03 05:00:00.100000" },
            "without the promotion's time every one counts as after");
        assert.deepEqual(countCommits("", "x"), { after: 0, before: 0, end: undefined, first: undefined });
    });
    test("a listing read to the WAL's end, or not (pg_waldump's own last lines on 13 and 17): cut short, nothing counts as none", () => {
        const end13 = "pg_waldump: fatal: error in WAL record at 0/15E0710: invalid record length at 0/15E0788: wanted 24, got 0";
        const end17 = "pg_waldump: error: error in WAL record at 0/151FA80: invalid record length at 0/151FAF8: expected at least 24, got 0";
        for (const last of [end13, end17, "pg_waldump: error: could not find a valid record after 0/3000240"]) {
            assert.deepEqual(walReadToEnd(`${dump}\n${last}\n`), { end: true }, last);
            assert.deepEqual(walReadToEnd(`${last}\n`), { end: true }, `${last}, nothing written after the switchpoint`);
        }
        const gone = 'pg_waldump: error: could not find file "000000010000000000000003": No such file or directory';
        assert.deepEqual(walReadToEnd(`${dump}\n${gone}\n`), { end: true }, "the next segment not there: the WAL ends at a segment's end");
        assert.deepEqual(walReadToEnd(`${gone}\n`), { unread: gone }, "the switchpoint's segment gone: unknown, not none");
        // The switchpoint at a segment's start, and that segment never made: no checkpoint since, so none was removed.
        const redo = (at: string) => `Latest checkpoint's REDO location:    ${at}`;
        assert.deepEqual(walReadToEnd(`${gone}\n${redo("0/2FFFF28")}\n`, "0/3000000"), { end: true }, "redo before the switchpoint: never made");
        assert.deepEqual(walReadToEnd(`${gone}\n${redo("0/5000028")}\n`, "0/3000000"), { unread: gone },
            "a checkpoint after the switchpoint may have removed it");
        assert.deepEqual(walReadToEnd(`${gone}\n${redo("0/3000000")}\n`, "0/3000000"), { unread: gone }, "redo at the switchpoint: not before it");
        assert.deepEqual(walReadToEnd(`${gone}\n${redo("0/2FFFF28")}\n`), { unread: gone }, "no switchpoint to compare with");
        assert.deepEqual(walReadToEnd(`${gone}\n${redo("garbage")}\n`, "0/3000000"), { unread: gone }, "a redo that is not a position");
        assert.deepEqual(walReadToEnd(`pg_waldump: error: could not open file "000000010000000000000003": Permission denied\n${redo("0/2FFFF28")}\n`,
            "0/3000000"), { unread: 'pg_waldump: error: could not open file "000000010000000000000003": Permission denied' },
            "only a file not there counts as never made");
        assert.deepEqual(walReadToEnd(`${dump}\npg_waldump: error: could not read file "000000010000000000000003": Input/output error\n`),
            { unread: 'pg_waldump: error: could not read file "000000010000000000000003": Input/output error' });
        assert.deepEqual(walReadToEnd(""), { unread: "pg_waldump printed nothing" });
        assert.deepEqual(walReadToEnd(dump), { unread: dump.split("\n").pop() }, "no end line: cut short");
        assert.deepEqual(walReadToEnd(`${end17}\n${dump}\n`), { end: true }, "the error line before the last records (stderr and stdout apart)");
    });
    test("the promotion's time from the END_OF_RECOVERY record", () => {
        assert.equal(promotionTime("rmgr: XLOG len (rec/tot): 42/42, tx: 0, lsn: 0/03000100, prev 0/030000C8, desc: END_OF_RECOVERY tli 2; " +
            "prev tli 1; time 2026-12-03 05:00:01.000000 UTC\n"), "2026-12-03 05:00:01.000000");
        assert.equal(promotionTime("rmgr: XLOG desc: CHECKPOINT_ONLINE\n"), undefined);
    });
});

describe("how one node reaches another", () => {
    // The clone (node-seed.sh, through lib.sh route) and the topology step (act.ts route) must agree:
    // a node cloned one way and repointed the other would follow a different address.
    const nodes = [
        { name: "pg1", address: "172.18.0.101", port: 5432, host: "ssh://a", hostAddress: "10.0.0.1" },
        { name: "pg2", address: "172.18.0.102", port: 5433, host: "ssh://a", hostAddress: "10.0.0.1" },
        { name: "pg3", address: "172.18.0.103", port: 5434, host: "ssh://b", hostAddress: "10.0.0.2" }];
    const shellRoute = (env: Record<string, string>, from: string, to: string, address: string) => spawnSync("/bin/sh",
        ["-c", `${fs.readFileSync(path.join(SCRIPTS_DIR, "lib.sh"), "utf8")}\nroute "$1" "$2" "$3"`, "sh", from, to, address],
        { env: { PATH: "/usr/bin:/bin", ...env }, encoding: "utf8" }).stdout;
    test("across engines and on one, lib.sh's route (the clone's) and act.ts's give the same conninfo host part", () => {
        const peers = nodes.map((n) => [n.name, `pg-${n.name}`, n.host, n.address, n.hostAddress, n.port].join("|")).join(" ");
        const spanning = new TopologyRun({ ...BASE, nodes }, new Map(), () => undefined);
        const single = new TopologyRun(BASE, new Map(), () => undefined);
        for (const from of ["pg1", "pg2", "pg3"]) {
            for (const to of ["pg1", "pg2", "pg3"].filter((t) => t !== from)) {
                const address = nodes.find((n) => n.name === to)!.address;
                assert.equal(spanning.route(from, to), shellRoute({ PEERS: peers, TLS_DIR: "/var/lib/postgresql/data/tls" }, from, to, address));
            }
        }
        assert.equal(spanning.route("pg1", "pg3"), "host=10.0.0.2 port=5434 sslmode=verify-full sslrootcert=/var/lib/postgresql/data/tls/ca.crt");
        assert.equal(single.route("pg2", "pg1"), shellRoute({}, "pg2", "pg1", "172.18.0.101"));
        assert.equal(single.route("pg2", "pg1"), "host=172.18.0.101 port=5432");
    });
});
