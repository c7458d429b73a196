// An image change on a running cluster (components/topology/roll.ts): which nodes are replaced in
// what order, when the primary hands over, and every refusal with its words; the long-transaction
// query and what is said about what it finds.

import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import { NodeState } from "../../components/node-state";
import {
    describeHold, describeRoll, handoverTarget, longTransactionProblem, longTransactionsSql, parseLongTransactions, planRoll, planTopology, RollConfig,
    repositoryMove, runsOtherImage, imageProblem, serverMajor,
} from "../../components/topology";

const OLD = "postgres:17.1";
const NEW = "postgres:17.2";
const nodes = [
    { name: "pg1", address: "172.18.0.101" },
    { name: "pg2", address: "172.18.0.102" },
    { name: "pg3", address: "172.18.0.103" },
];
const cfg: RollConfig & { nodes: typeof nodes; replication: { maxSwitchoverLagBytes: number; mode: "async" } } = {
    primary: "pg1", nodes, replication: { maxSwitchoverLagBytes: 1024, mode: "async" },
};
const container = (image: string) => ({ status: "running", onNetwork: true, restartPolicy: "unless-stopped", image });

function primary(name: string, image = OLD, lsn = "0/3000400"): NodeState {
    return { name, exists: true, inRecovery: false, lsn, replayPaused: false, timeline: 1, receiver: null, container: container(image) };
}
function standby(name: string, image = OLD, over: Partial<NodeState> = {}): NodeState {
    return { name, exists: true, inRecovery: true, lsn: "0/3000400", receivedLsn: "0/3000400", replayPaused: false, timeline: 1,
        receiver: { status: "streaming", senderHost: "172.18.0.101" }, upstream: "172.18.0.101", container: container(image), ...over };
}
const plan = (states: NodeState[], image = NEW, c = cfg) => planRoll(c, states, planTopology(c as never, states), image);

describe("an image change on a running cluster", () => {
    test("nothing to roll when every container runs the image, or none exists yet", () => {
        assert.deepEqual(plan([primary("pg1", NEW), standby("pg2", NEW), standby("pg3", NEW)]), { kind: "none" });
        const none: NodeState[] = nodes.map((n) => ({ name: n.name, exists: false, unreachable: "its container does not exist" }));
        assert.deepEqual(plan(none), { kind: "none" });
        // An image Docker did not report is not taken for another one.
        assert.equal(runsOtherImage({ name: "pg1", exists: true, container: { status: "running", onNetwork: true, restartPolicy: "no" } }, NEW),
            false);
    });

    test("the standbys one at a time in the config's order, then the handover to the first standby, then the primary", () => {
        const p = plan([primary("pg1"), standby("pg2"), standby("pg3")]);
        assert.deepEqual(p, { kind: "roll", standbys: ["pg2", "pg3"], handover: "pg2", primary: "pg1", actual: "pg1", problems: [] });
        assert.equal(describeRoll(p as Extract<typeof p, { kind: "roll" }>, NEW),
            `image change to ${NEW}: a roll, one node at a time: pg2, then pg3 replaced one at a time (each back, streaming and ` +
            "within maxSwitchoverLagBytes of the primary before the next stops); then a switchover to pg2 (writes pause), pg1 " +
            "replaced as its standby, then a switchover back to pg1, the declared primary");
    });

    test("resumed: a standby already on the image is left alone; after the handover only the declared primary is left", () => {
        assert.deepEqual(plan([primary("pg1"), standby("pg2", NEW), standby("pg3")]),
            { kind: "roll", standbys: ["pg3"], handover: "pg2", primary: "pg1", actual: "pg1", problems: [] });
        // The handover happened, then the up stopped: pg2 (new) is primary, pg1 (old) its standby.
        const after = [standby("pg1", OLD, { receiver: { status: "streaming", senderHost: "172.18.0.102" } }),
            primary("pg2", NEW), standby("pg3", NEW, { receiver: { status: "streaming", senderHost: "172.18.0.102" } })];
        const p = plan(after);
        assert.deepEqual(p, { kind: "roll", standbys: [], primary: "pg1", actual: "pg2", problems: [] });
        assert.match(describeRoll(p as Extract<typeof p, { kind: "roll" }>, NEW), /pg1 replaced as a standby of pg2, then a switchover back to pg1$/);
    });

    test("a single node is replaced in place", () => {
        const one = { ...cfg, nodes: [nodes[0]] };
        assert.deepEqual(plan([primary("pg1")], NEW, one), { kind: "in-place", node: "pg1" });
    });

    test("refused, naming the node: not streaming, unreachable, behind the lag bound", () => {
        const p = plan([primary("pg1"), standby("pg2", OLD, { receiver: { status: "waiting", senderHost: "" } }),
            { name: "pg3", exists: true, unreachable: "its container is not running", container: { ...container(OLD), status: "exited" } }]);
        assert.equal(p.kind, "roll");
        assert.deepEqual(p.kind === "roll" && p.problems, [
            "pg2 is not streaming from the primary pg1: its WAL receiver is waiting",
            "pg3 cannot be asked (its container is not running): every standby must stream before a roll",
        ]);
        // Exactly at the bound is within it.
        const atBound = plan([primary("pg1", OLD, "0/3000800"), standby("pg2"), standby("pg3")]);
        assert.deepEqual(atBound.kind === "roll" && atBound.problems, []);
        const far = plan([primary("pg1", OLD, "0/3000801"), standby("pg2"), standby("pg3", NEW)]);
        assert.deepEqual(far.kind === "roll" && far.problems, [
            "pg2 has replayed up to 0/3000400 while the primary pg1 is at 0/3000801: 1025 bytes behind, more than maxSwitchoverLagBytes (1024)",
            "pg3 has replayed up to 0/3000400 while the primary pg1 is at 0/3000801: 1025 bytes behind, more than maxSwitchoverLagBytes (1024)",
        ]);
    });

    test("refused: the primary and the image change in one up; no primary; the handover target not there yet", () => {
        const both = plan([primary("pg1"), standby("pg2"), standby("pg3")], NEW, { ...cfg, primary: "pg2" });
        assert.deepEqual(both.kind === "roll" && both.problems,
            ["the primary changes in this up (a switchover from pg1 to pg2) while pg1 runs another image: change the primary and the image in two ups"]);
        const down = plan([{ name: "pg1", exists: true, unreachable: "its container is not running", container: container(OLD) },
            standby("pg2"), standby("pg3")]);
        assert.equal(down.kind === "roll" && down.problems.length, 1);
        assert.match(down.kind === "roll" ? down.problems[0] : "", /^no node runs as the one primary \(a failover to pg1 is planned|^no node runs as the one primary/);
        assert.match(down.kind === "roll" ? down.problems[0] : "", /bring the cluster back with the image it runs \(postgres:17\.1\), then change the image$/);
        const added = [primary("pg1"), { name: "pg2", exists: false, unreachable: "its container does not exist" }, standby("pg3")];
        const p = plan(added);
        assert.deepEqual(p.kind === "roll" && p.problems,
            ["pg2, the standby the primary hands over to, has no container yet: add nodes and change the image in two ups"]);
    });

    test("the primary lost mid-roll, a failover by config: held, every container keeping the image it runs, the roll next up", () => {
        const lost = { name: "pg1", exists: true, unreachable: "its container is not running", container: container(OLD) };
        const states = [lost, standby("pg2", NEW, { receiver: { status: "waiting", senderHost: "" } }),
            standby("pg3", OLD, { receiver: { status: "waiting", senderHost: "" } })];
        const c = { ...cfg, primary: "pg2" };
        const topology = planTopology(c as never, states);
        assert.equal(topology.kind, "failover");
        const held = planRoll(c, states, topology, NEW);
        assert.deepEqual(held, { kind: "hold", to: "pg2", images: { pg1: OLD, pg3: OLD } });
        assert.equal(describeHold(held as Extract<typeof held, { kind: "hold" }>, NEW), "a failover to pg2 is planned while pg1 on " +
            "postgres:17.1, pg3 on postgres:17.1 run another image than postgres:17.2: this up fails over and leaves every container on " +
            "the image it runs; the next up rolls them onto postgres:17.2, one at a time, once every standby streams");
        // The image set back to the old one: pg2, already rolled, is the one held.
        assert.deepEqual(planRoll(c, states, topology, OLD), { kind: "hold", to: "pg2", images: { pg2: NEW } });
    });

    test("a former primary back from a lost host mid-roll, to be demoted: held too, the roll the up after", () => {
        // pg1's host was lost with pg1 on the old image; pg2 (new) was promoted; pg1 is back on timeline 1.
        const states = [primary("pg1", OLD), { ...primary("pg2", NEW), timeline: 2 },
            standby("pg3", NEW, { timeline: 2, receiver: { status: "streaming", senderHost: "172.18.0.102" } })];
        const c = { ...cfg, primary: "pg2" };
        const topology = planTopology(c as never, states);
        assert.equal(topology.kind, "stale-primaries");
        const held = planRoll(c, states, topology, NEW);
        assert.deepEqual(held, { kind: "hold", to: "pg2", images: { pg1: OLD }, demoted: ["pg1"] });
        assert.equal(describeHold(held as Extract<typeof held, { kind: "hold" }>, NEW), "pg1 runs as primary beside pg2, to be " +
            "demoted, while pg1 on postgres:17.1 runs another image than postgres:17.2: this up demotes pg1 and leaves every container " +
            "on the image it runs; the next up rolls them onto postgres:17.2, one at a time, once every standby streams");
        // Demoted and streaming from pg2: the roll.
        const demoted = [standby("pg1", OLD, { timeline: 2, receiver: { status: "streaming", senderHost: "172.18.0.102" } }), states[1], states[2]];
        assert.deepEqual(planRoll(c, demoted, planTopology(c as never, demoted), NEW),
            { kind: "roll", standbys: ["pg1"], primary: "pg2", actual: "pg2", problems: [] });
    });

    test("the handover target depends on the config alone: the first node that is not the declared primary", () => {
        assert.equal(handoverTarget(cfg), "pg2");
        assert.equal(handoverTarget({ ...cfg, primary: "pg2" }), "pg1");
        assert.equal(handoverTarget({ ...cfg, nodes: [nodes[0]] }), undefined);
    });
});

describe("long transactions on the primary", () => {
    test("the query names the bound and leaves out its own session and background workers", () => {
        const sql = longTransactionsSql(15);
        assert.match(sql, /xact_start < now\(\) - interval '15 seconds'/);
        assert.match(sql, /backend_type = 'client backend'/);
        assert.match(sql, /pid <> pg_backend_pid\(\)/);
    });

    test("read back with a | in the query kept; said with pid, user, age and state", () => {
        const found = parseLongTransactions("4242|app|31|idle in transaction|SELECT 'a|b'\n77|postgres|16|active|UPDATE t SET x = 1\n");
        assert.deepEqual(found[0], { pid: 4242, user: "app", seconds: 31, state: "idle in transaction", query: "SELECT 'a|b'" });
        assert.equal(found.length, 2);
        assert.equal(longTransactionProblem("pg1", [], 15), undefined);
        assert.equal(longTransactionProblem("pg1", found.slice(0, 1), 15),
            "a transaction has run on the primary pg1 for longer than rollMaxTransactionSeconds (15 s), and the switchover's clean " +
            "stop would end it: pid 4242 (app, 31 s, idle in transaction: \"SELECT 'a|b'\"); end or wait for them and run up again");
        assert.match(longTransactionProblem("pg1", found, 15)!, /^2 transactions have run .* pid 4242 .*, pid 77 \(postgres, 16 s, active/);
    });
});

describe("the new image's PostgreSQL version against the data's", () => {
    const e = "unix:///var/run/docker.sock";
    test("the major from postgres --version, 10 and later", () => {
        assert.equal(serverMajor("postgres (PostgreSQL) 17.12 (Debian 17.12-0+deb13u1)\n"), 17);
        assert.equal(serverMajor("postgres (PostgreSQL) 13.22 (Debian 13.22-0+deb11u1)"), 13);
        assert.equal(serverMajor("bash: postgres: not found"), undefined);
    });

    test("the same major and a newer one (an upgrade, upgrade.ts) pass; older, not PostgreSQL and not on the engine are refused with what to do", () => {
        assert.equal(imageProblem("x:17", e, { stdout: "postgres (PostgreSQL) 17.2" }, 17), undefined);
        assert.match(imageProblem("postgres:13", e, { stdout: "postgres (PostgreSQL) 13.22" }, 17)!,
            /^postgres:13 runs PostgreSQL 13, older than the data's 17: .*give an image of PostgreSQL 17$/);
        assert.equal(imageProblem("postgres:17", e, { stdout: "postgres (PostgreSQL) 17.12" }, 13), undefined);
        assert.match(imageProblem("debian:13", e, { error: 'exec: "postgres": executable file not found in $PATH: unknown' }, 17)!,
            /^debian:13 is not a PostgreSQL server image: `postgres --version` in it failed on unix:\/\/\/var\/run\/docker.sock: exec/);
        assert.match(imageProblem("nosuch:1", e, { error: "docker: Error response from daemon: No such image: nosuch:1" }, 17)!,
            /^nosuch:1 is not on the Docker engine unix:\/\/\/var\/run\/docker.sock: pull or build it there \(docker pull nosuch:1\)/);
        assert.match(imageProblem("busybox", e, { stdout: "something else" }, 17)!, /^busybox is not a PostgreSQL server image: `postgres --version` in it said "something else"/);
    });
});

describe("the backup repository the nodes mount changes while their image does not", () => {
    const mounting = (state: NodeState, repository: string, image = OLD): NodeState =>
        ({ ...state, container: { ...state.container!, image, repository } });
    test("a new backup.volume on more than one node: refused, naming the key, both volumes, the nodes and the two ways there", () => {
        const states = [mounting(primary("pg1"), "old-backup"), mounting(standby("pg2"), "old-backup"), mounting(standby("pg3"), "new-backup")];
        const move = repositoryMove("new-backup", states, OLD)!;
        assert.equal(move.warning, undefined);
        assert.equal(move.problem, "pg1 mounts old-backup, pg2 mounts old-backup, and backup.volume is \"new-backup\"; moving a running " +
            "cluster's repository would replace every node's container at once, not one at a time. Keep backup.volume \"old-backup\", or " +
            "Move in two ups, each a roll: turn backups off (remove pg-replication:backup), then on with the new volume (the old volume is kept either way)");
        // Mounts that differ already (an up that failed midway): no one volume to keep.
        const mixed = repositoryMove("c", [mounting(primary("pg1"), "a"), mounting(standby("pg2"), "b")], OLD)!;
        assert.match(mixed.problem!, /^pg1 mounts a, pg2 mounts b, and backup\.volume is "c"; .* at a time\. Move in two ups/);
    });
    test("one container alone (a single node, or the one an earlier up left behind): said, not refused, as for an image", () => {
        const single = repositoryMove("new-backup", [mounting(primary("pg1"), "old-backup")], OLD)!;
        assert.equal(single.problem, undefined);
        assert.equal(single.warning, "pg1 mounts old-backup, and backup.volume is \"new-backup\": pg1's container is replaced on its volume to " +
            "mount new-backup (the database on it down meanwhile)");
        assert.equal(repositoryMove("b", [mounting(primary("pg1"), "a"), mounting(standby("pg2"), "b")], OLD)!.problem, undefined);
    });
    test("nothing when each mounts the volume, or a roll replaces them: backups turned on or off with an image of their own", () => {
        const states = [mounting(primary("pg1"), "b"), mounting(standby("pg2"), "b")];
        assert.equal(repositoryMove("b", states, OLD), undefined);
        assert.equal(repositoryMove(undefined, states, NEW), undefined, "turned off: a roll back to the plain image");
        assert.equal(repositoryMove("b", [mounting(primary("pg1"), ""), mounting(standby("pg2"), "")], NEW), undefined, "turned on: a roll");
        assert.equal(repositoryMove("b", [{ name: "pg1", exists: false }], OLD), undefined, "no container yet");
        assert.equal(repositoryMove("b", [{ name: "pg1", exists: true, unreachable: "engine down" }], OLD), undefined, "Docker not asked");
    });
    test("backups turned on or off with backup.image the cluster's own image: said, since it cannot be a roll", () => {
        const on = repositoryMove("b", [mounting(primary("pg1"), ""), mounting(standby("pg2"), "")], OLD)!;
        assert.equal(on.problem, undefined);
        assert.match(on.warning!, /^pg1 mounts no backup repository, pg2 mounts no backup repository, and backup\.volume is "b", while their image stays postgres:17\.1: backups turned on with backup\.image the cluster's own image change no image, so this is no roll: every one of these containers is replaced at once/);
        const off = repositoryMove(undefined, [mounting(primary("pg1"), "b"), mounting(standby("pg2"), "b")], OLD)!;
        assert.match(off.warning!, /^pg1 mounts b, pg2 mounts b, and backups are off, while their image stays postgres:17\.1: backups turned off /);
    });
});
