// The failover plan (components/topology/plan.ts planFailover, downNodes) from observed node states,
// and the allowDataLoss key: which target is refused and with which words, what counts as
// could-be-lost, which nodes get fenced.

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { validateConfig } from "../../components/config";
import { NodeState } from "../../components/node-state";
import { downNodes, planFailover, planTopology, staleDivergence, switchpointIn } from "../../components/topology";
import { DrillResult, rejoinPath } from "../../drill/core";
import { RESULT_PREFIX, TopologyResult } from "../../components/topology/contract";
import { hostControl, renderTable } from "../../drill/main";

const ctx = { project: "pg-replication", stack: "t" };
const nodes = [
    { name: "pg1", address: "172.18.0.101", port: 5432 },
    { name: "pg2", address: "172.18.0.102", port: 5433 },
    { name: "pg3", address: "172.18.0.103", port: 5434 },
];

function cfg(extra: Record<string, string> = {}) {
    return validateConfig({ nodes: JSON.stringify(nodes), primary: "pg2", ...extra }, ctx);
}

const up = { status: "running", onNetwork: true, restartPolicy: "unless-stopped" };
const killed: NodeState = { name: "pg1", exists: true, unreachable: "its container is not running",
    container: { status: "exited", onNetwork: true, restartPolicy: "unless-stopped" } };
function standby(name: string, receivedLsn: string, over: Partial<NodeState> = {}): NodeState {
    return { name, exists: true, inRecovery: true, lsn: receivedLsn, receivedLsn, replayPaused: false, timeline: 1,
        receiver: null, upstream: "172.18.0.101", container: up, ...over };
}

describe("failover plan", () => {
    test("the standby with the most WAL is promoted without a refusal; the old primary is fenced", () => {
        const plan = planTopology(cfg(), [killed, standby("pg2", "0/3000200"), standby("pg3", "0/3000100")]);
        assert.equal(plan.kind, "failover");
        if (plan.kind !== "failover") return;
        assert.deepEqual([plan.from, plan.to, plan.why, plan.problems, plan.risks, plan.fence],
            ["pg1", "pg2", "its container is not running", [], [], ["pg1"]]);
        assert.match(plan.loss, /^whatever pg1 acknowledged after 0\/3000200 \(the policy is async and it cannot be asked/);
    });

    test("another reachable standby with more WAL: named with both positions and the bytes", () => {
        const plan = planFailover(cfg(), [killed, standby("pg2", "0/3000100"), standby("pg3", "0/3000200")]);
        assert.equal(plan.kind, "failover");
        if (plan.kind !== "failover") return;
        assert.deepEqual(plan.risks, ["pg3 has received more WAL than pg2: pg3 up to 0/3000200, pg2 up to 0/3000100 " +
            "(256 bytes more); promote pg3 instead"]);
        assert.match(plan.loss, /^256 bytes of WAL that pg3 holds beyond pg2's 0\/3000100 \(up to 0\/3000200\)/);
    });

    test("sync, FIRST 1 (pg2): pg2 confirmed every commit; pg3 (async) is refused", () => {
        const sync = cfg({ mode: "sync", syncStandbys: JSON.stringify(["pg1", "pg2"]) });
        const ok = planFailover(sync, [killed, standby("pg2", "0/3000200"), standby("pg3", "0/3000100")]);
        assert.deepEqual(ok.kind === "failover" && ok.risks, []);
        const pg3 = { ...sync, primary: "pg3" };
        const refused = planFailover(pg3, [killed, standby("pg2", "0/3000100"), standby("pg3", "0/3000100")]);
        assert.equal(refused.kind, "failover");
        assert.deepEqual(refused.kind === "failover" && refused.risks, [
            "pg3 is not a synchronous standby of pg1 (synchronous_standby_names = 'FIRST 1 (\"pg2\")'), so it confirmed " +
            "no commit and may lack some that pg1 acknowledged; promote one of pg2"]);
    });

    test("sync, ANY 1 (pg2, pg3): safe with both reachable, refused when the other member is down", () => {
        const quorum = cfg({ mode: "sync" });
        const ok = planFailover(quorum, [killed, standby("pg2", "0/3000200"), standby("pg3", "0/3000200")]);
        assert.deepEqual(ok.kind === "failover" && [ok.risks, ok.loss], [[], "nothing"]);
        const pg3Down: NodeState = { name: "pg3", exists: true, unreachable: "its container is paused",
            container: { ...up, status: "paused" } };
        const refused = planFailover(quorum, [killed, standby("pg2", "0/3000200"), pg3Down]);
        assert.equal(refused.kind, "failover");
        if (refused.kind !== "failover") return;
        assert.deepEqual(refused.risks, ["under 'ANY 1 (\"pg2\", \"pg3\")' each commit pg1 acknowledged was confirmed " +
            "by 1 of pg2, pg3; pg3 cannot be asked, so a commit confirmed only by it may be missing on pg2"]);
        assert.deepEqual(refused.fence, ["pg1", "pg3"]);
    });

    test("a primary cut off from the network is the old primary, with its position known", () => {
        const cut: NodeState = { name: "pg1", exists: true, inRecovery: false, lsn: "0/3000300",
            unreachable: "its container is not connected to the network n", container: { ...up, onNetwork: false } };
        const plan = planTopology(cfg(), [cut, standby("pg2", "0/3000200"), standby("pg3", "0/3000100")]);
        assert.equal(plan.kind, "failover");
        if (plan.kind !== "failover") return;
        assert.equal(plan.from, "pg1");
        assert.equal(plan.loss, "256 bytes the old primary pg1 wrote beyond 0/3000200 (it is at 0/3000300)");
    });

    test("a paused target is refused outright; the declared primary being the one gone names the best standby", () => {
        const paused = planFailover(cfg(), [killed, standby("pg2", "0/3000200", { replayPaused: true }), standby("pg3", "0/1")]);
        assert.deepEqual(paused.kind === "failover" && paused.problems,
            ["pg2 has its replay paused; run SELECT pg_wal_replay_resume() on it first"]);
        const same = planFailover({ ...cfg(), primary: "pg1" }, [killed, standby("pg2", "0/3000100"), standby("pg3", "0/3000200")]);
        assert.equal(same.kind, "no-primary");
        assert.match(same.problems[0], /to fail over, set pg-replication:primary to pg3 \(of the reachable standbys it has received the most WAL, up to 0\/3000200\) and run up$/);
    });

    test("down nodes: what this up leaves out; a node about to be fenced and rewound, or fenced on its network, is not", () => {
        const states = [killed, standby("pg2", "0/3000200"), { name: "pg3", exists: false }];
        assert.deepEqual(downNodes(states), ["pg1"], "a stopped node, no failover: left out");
        assert.deepEqual(downNodes(states, planTopology(cfg(), states)), [], "the failover fences and rewinds it");
        const fenced = { ...killed, container: { status: "exited", onNetwork: true, restartPolicy: "no" } };
        assert.deepEqual(downNodes([fenced, standby("pg2", "0/1")]), [], "fenced and back on its network: brought in");
        assert.deepEqual(downNodes([standby("pg3", "0/1", { container: { ...up, onNetwork: false } }), standby("pg2", "0/1")]), ["pg3"]);
    });

    test("allowDataLoss: true or false, default false", () => {
        assert.equal(cfg().allowDataLoss, false);
        assert.equal(cfg({ allowDataLoss: "true" }).allowDataLoss, true);
        assert.throws(() => cfg({ allowDataLoss: "yes" }),
            /pg-replication:allowDataLoss = "yes" is not allowed: expected true or false/);
    });
});

describe("a lost host (its engine does not answer)", () => {
    const hostDown = "its Docker engine (tcp://10.0.0.9:2376) does not answer: no answer within 10 s";
    const lostNode = (over: Partial<NodeState> = {}): NodeState =>
        ({ name: "pg1", exists: true, unreachable: hostDown, engineDown: hostDown, ...over });

    test("its server silent too: failover to pg2 without fencing pg1, which is listed as lost", () => {
        const plan = planTopology(cfg(), [lostNode({ serverAnswers: false }), standby("pg2", "0/3000200"), standby("pg3", "0/3000100")]);
        assert.equal(plan.kind, "failover");
        if (plan.kind !== "failover") return;
        assert.deepEqual([plan.from, plan.to, plan.problems, plan.fence, plan.lost, plan.engineDown], ["pg1", "pg2", [], [], ["pg1"], ["pg1"]]);
    });

    test("its server still answers (only the engine is unreachable): refused, naming the node", () => {
        const plan = planTopology(cfg(), [lostNode({ serverAnswers: true }), standby("pg2", "0/3000200"), standby("pg3", "0/3000100")]);
        assert.equal(plan.kind, "failover");
        if (plan.kind !== "failover") return;
        assert.deepEqual([plan.lost, plan.engineDown], [[], ["pg1"]]);
        assert.deepEqual(plan.problems, [`pg1 cannot be fenced: ${hostDown}, but its server answers, seen from pg2: pg1 is not ` +
            "lost and may be taking writes. Bring its engine back (or stop that server) and run up again"]);
    });

    test("its server not asked: refused (strict), not taken as lost", () => {
        const plan = planTopology(cfg(), [lostNode(), standby("pg2", "0/3000200"), standby("pg3", "0/3000100")]);
        assert.equal(plan.kind === "failover" && plan.problems.length, 1);
        assert.match(plan.kind === "failover" ? plan.problems[0] : "", /its server was not asked from pg2/);
    });

    test("a node on a lost engine is down, so the up after its host is back runs the topology step", () => {
        assert.deepEqual(downNodes([lostNode(), standby("pg2", "0/3000200")]), ["pg1"]);
    });
});

describe("former primaries back after a failover", () => {
    const primary = (name: string, timeline: number): NodeState => ({ name, exists: true, inRecovery: false, lsn: "0/5000000",
        replayPaused: false, timeline, receiver: null, container: up });

    test("the declared primary on a newer timeline: the other is stale, to be demoted", () => {
        assert.deepEqual(planTopology(cfg(), [primary("pg1", 1), primary("pg2", 2), standby("pg3", "0/3000100")]),
            { kind: "stale-primaries", primary: "pg2", stale: [{ name: "pg1", timeline: 1 }] });
    });

    test("where the declared primary left a timeline, from its history file; none for a timeline not in it", () => {
        const history = "1\t0/3000148\tno recovery target specified\n\n2\t0/50BD5C0\tno recovery target specified\n";
        assert.equal(switchpointIn(history, 1), "0/3000148");
        assert.equal(switchpointIn(history, 2), "0/50BD5C0");
        assert.equal(switchpointIn(history, 3), undefined);
    });

    test("the preview says how much WAL a former primary wrote beyond the switchpoint; refuses one not in the history", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-stale-"));
        try {
            fs.writeFileSync(path.join(dir, "docker"), `#!/bin/sh\necho "$*" >> "${dir}/calls"\nprintf '1\\t0/3000148\\tno recovery target specified\\n'\n`,
                { mode: 0o755 });
            const opts = { env: { PATH: `${dir}:/usr/bin:/bin` } };
            const c = { ...cfg(), namePrefix: "pg-replication-t" };
            const found = await staleDivergence(c, primary("pg2", 2), [{ ...primary("pg1", 1), lsn: "0/3000200" }], opts);
            assert.deepEqual(found.diverged, [{ name: "pg1", switchpoint: "0/3000148", bytes: 184n }]);
            assert.equal(found.history, "1\t0/3000148\tno recovery target specified\n", "the history, read once, for the demotion");
            assert.match(fs.readFileSync(path.join(dir, "calls"), "utf8"),
                /^exec -u postgres pg-replication-t-pg2 psql .* SELECT pg_read_file\('pg_wal\/00000002\.history'\)$/m);
            await assert.rejects(staleDivergence(c, primary("pg2", 3), [primary("pg1", 2)], opts),
                /more than one node runs as primary: pg2 and pg1; pg1's timeline 2 is not in pg2's history/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("the same timeline, a newer one elsewhere, or the declared primary not among them: refused as several primaries", () => {
        for (const states of [[primary("pg1", 2), primary("pg2", 2)], [primary("pg1", 3), primary("pg2", 2)],
            [primary("pg1", 1), primary("pg3", 2), standby("pg2", "0/3000100")]]) {
            assert.equal(planTopology(cfg(), states).kind, "several-primaries", JSON.stringify(states));
        }
    });
});

describe("drill report", () => {
    const r: DrillResult = {
        fault: "kill", from: "pg1", to: "pg2", chosen: "pg2: most WAL received (0/3000200)",
        faultToFirstWriteSeconds: 4.5, upSeconds: 6.8, acknowledged: 7099, lost: 2, lostSeqs: [7098, 7099],
        rowsOnNewPrimary: 7097, restartPolicyAfterFailover: "no", fencedAfterRestart: "read-only", fencedAfterDockerRestart: "read-only",
        rejoinSeconds: 4.7, rejoinPath: "pg_rewind: servers diverged at WAL location 0/3000100 on timeline 1",
        consistentAfterRejoin: true, demotedByUp: true,
    };
    test("the table names every figure", () => {
        const text = renderTable(r);
        for (const want of [/fault → first acknowledged write on new primary\s*│ 4\.50 s/, /up alone\s*│ 6\.80 s/,
            /acknowledged commits lost\s*│ 2 \(seq 7098, 7099\)/, /rows on new primary\s*│ 7097/,
            /pg1 restart policy after the failover\s*│ no/,
            /pg1 after docker start \/ docker restart\s*│ read-only \/ read-only/, /pg1 rejoin \(second up\)\s*│ pg_rewind: servers diverged/,
            /pg1 a standby after the second up\s*│ yes/]) {
            assert.match(text, want);
        }
    });
    test("with an endpoint, the table adds what its clients saw; without one, nothing about it", () => {
        assert.doesNotMatch(renderTable(r), /endpoint/);
        const text = renderTable({ ...r, endpoint: { acknowledged: 812, lost: 0, clientErrors: 1, longestStallSeconds: 5.04 } });
        assert.match(text, /through the endpoint: acknowledged, lost\s*│ 812, 0/);
        assert.match(text, /through the endpoint: client errors, longest stall\s*│ 1, 5\.04 s/);
    });
    test("the host fault runs the user's commands with the node's engine and address; both are needed", async () => {
        assert.equal(hostControl("true", undefined), undefined);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drill-host-"));
        try {
            const hosts = hostControl(`echo "lose $ENGINE $ADDRESS" >> ${dir}/log`, `echo "restore $ENGINE $ADDRESS" >> ${dir}/log`)!;
            await hosts.lose("ssh://db1", "10.0.0.1");
            await hosts.restore("ssh://db1", "10.0.0.1");
            assert.equal(fs.readFileSync(path.join(dir, "log"), "utf8"), "lose ssh://db1 10.0.0.1\nrestore ssh://db1 10.0.0.1\n");
            await assert.rejects(hostControl("echo no >&2; exit 3", "true")!.lose("e", "a"), /exit 3: no/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
    test("the rejoin path is read from the topology step's result lines, the last one for the node", () => {
        const line = (rejoined: TopologyResult["rejoined"]) => `    ${RESULT_PREFIX}${JSON.stringify({ ok: true, primary: "pg2",
            action: "none", fenced: [], lost: [], demoted: [], rejoined, standbys: {}, seconds: 1 })}\n`;
        const rewound = line([{ node: "pg1", path: { via: "pg_rewind", said: "servers diverged at WAL location 0/3000100 on timeline 1" } }]);
        assert.equal(rejoinPath(`noise\n${rewound}`, "pg1"), "pg_rewind: servers diverged at WAL location 0/3000100 on timeline 1");
        assert.equal(rejoinPath(`${rewound}${line([{ node: "pg1", path: { via: "fresh clone" } }])}`, "pg1"), "fresh clone (last resort)");
        assert.equal(rejoinPath(line([{ node: "pg1", path: { via: "start" } }]), "pg1"), "after its clean shutdown, without a rewind");
        assert.equal(rejoinPath(rewound, "pg3"), "not in the output");
        assert.equal(rejoinPath("pg1 rejoined as a standby of pg2 after pg_rewind (x)\n", "pg1"), "not in the output", "prose is not read");
        assert.equal(rejoinPath("", "pg1"), "unknown (no output)");
    });
});
