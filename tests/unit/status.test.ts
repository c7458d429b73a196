// The status tool's pure parts on fixtures: reading the plan from outputs, the commit policy,
// each node's role and state, the data at risk, the warnings, the JSON shape and the text.

import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import { planFromOutputs, StackUnreadable } from "../../status/collect";
import { ContainerProbe, NodeProbe, Observation, Plan, ReachableNode, ReplicationRow } from "../../status/model";
import { renderText, watchFrame } from "../../status/render";
import { buildReport, exitCode, formatBytes, lsnBytes, parsePolicy, Report } from "../../status/report";

const url = (port: number) => `postgresql://postgres:pw@127.0.0.1:${port}/postgres`;

function outputs(mode: "async" | "sync", ssn = ""): Record<string, any> {
    const node = (name: string, port: number, role: string, syncState?: string) => ({
        name, host: "127.0.0.1", port, address: `172.18.0.${port - 5331 + 100}`, containerName: `pgr-dev-${name}`,
        role, ...(syncState ? { syncState } : {}), connectionString: url(port),
    });
    const s = mode === "async" ? "async" : "quorum";
    return {
        primary: { name: "primary", host: "127.0.0.1", port: 5432, containerName: "pgr-dev-primary", connectionString: url(5432) },
        nodes: { primary: node("primary", 5432, "primary"), s1: node("s1", 5433, "standby", s), s2: node("s2", 5434, "standby", s) },
        replication: { mode, user: "repuser", synchronousStandbyNames: ssn, synchronousCommit: "on" },
        network: { name: "pgr-dev-net", subnet: "172.18.0.0/24" },
        engine: { host: "unix:///var/run/docker.sock" },
    };
}

const STATE = [
    { type: "docker:index/container:Container", id: "aaa111", outputs: { name: "pgr-dev-primary" } },
    { type: "docker:index/container:Container", id: "bbb222", outputs: { name: "pgr-dev-s1" } },
    { type: "docker:index/container:Container", id: "ccc333", outputs: { name: "pgr-dev-s2" } },
];

const GiB = 1024 ** 3;

function primaryProbe(over: Partial<ReachableNode> = {}): ReachableNode {
    return {
        reachable: true, inRecovery: false, systemIdentifier: "7000000000000000001", version: "13.16", timeline: 1,
        currentLsn: "0/3000100", receiveLsn: null, replayLsn: null, receiverStatus: null,
        synchronousStandbyNames: "", synchronousCommit: "on", maxSlotWalKeepSizeBytes: GiB, walKeepSizeBytes: 128 * 1024 ** 2,
        replication: [row("s1", "0/3000100"), row("s2", "0/3000000")],
        slots: [slot("s1", true), slot("s2", true)],
        ...over,
    };
}

function row(name: string, lsn: string, over: Partial<ReplicationRow> = {}): ReplicationRow {
    const lag = lsnBytes("0/3000100") - lsnBytes(lsn);
    return {
        applicationName: name, clientAddr: "172.18.0.102", state: "streaming", syncState: "async", sentLsn: lsn,
        flushLsn: lsn, replayLsn: lsn, flushLagBytes: lag, replayLagBytes: lag,
        writeLagSeconds: 0.001, flushLagSeconds: 0.002, replayLagSeconds: 0.003, ...over,
    };
}

function slot(name: string, active: boolean, heldBytes = 1024, walStatus = "reserved") {
    return { name, type: "physical", active, restartLsn: "0/3000000", walStatus, heldBytes };
}

function standbyProbe(lsn: string, over: Partial<ReachableNode> = {}): ReachableNode {
    return {
        ...primaryProbe(), inRecovery: true, currentLsn: null, receiveLsn: lsn, replayLsn: lsn, receiverStatus: "streaming",
        replication: [], slots: [], ...over,
    };
}

const running = (id: string): ContainerProbe => ({ state: "running", id, startedAt: "2025-01-01T00:00:00Z", image: "postgres:13" });

function observation(nodes: Record<string, [NodeProbe, ContainerProbe]>): Observation {
    return {
        checkedAt: "2025-01-01T00:00:01.000Z",
        nodes: Object.fromEntries(Object.entries(nodes).map(([k, [probe, container]]) => [k, { probe, container }])),
    };
}

function healthyAsync(): [Plan, Observation] {
    return [planFromOutputs("dev", outputs("async"), STATE), observation({
        primary: [primaryProbe(), running("aaa111")],
        s1: [standbyProbe("0/3000100"), running("bbb222")],
        s2: [standbyProbe("0/3000000"), running("ccc333")],
    })];
}

const codes = (r: Report) => r.warnings.map((w) => `${w.code}:${w.node ?? "-"}`);
const DOWN: NodeProbe = { reachable: false, error: "connect ECONNREFUSED 127.0.0.1:5433" };

describe("status: plan from outputs", () => {
    test("nodes come from `nodes`, primary first, with the container ids of the state", () => {
        const plan = planFromOutputs("dev", outputs("async"), STATE);
        assert.deepEqual(plan.nodes.map((n) => [n.name, n.role, n.syncState, n.containerId]),
            [["primary", "primary", undefined, "aaa111"], ["s1", "standby", "async", "bbb222"], ["s2", "standby", "async", "ccc333"]]);
        assert.equal(plan.primary, "primary");
        assert.equal(plan.engineHost, "unix:///var/run/docker.sock");
    });

    test("outputs of an older version (no `nodes`) cannot be read, and say what to do", () => {
        const out = outputs("async");
        delete out.nodes;
        assert.throws(() => planFromOutputs("dev", out), (e: Error) => e instanceof StackUnreadable &&
            /stack dev was deployed by an older pg-replication \(its outputs name no nodes\): run scripts\/deploy.sh dev/.test(e.message));
    });

    test("a stack without outputs cannot be read, and says why", () => {
        assert.throws(() => planFromOutputs("gone", {}), (e: Error) => e instanceof StackUnreadable &&
            /stack gone has no primary among its outputs: it was never deployed, or was destroyed/.test(e.message));
    });
});

describe("status: pure helpers", () => {
    test("synchronous_standby_names in every form the server accepts", () => {
        assert.deepEqual(parsePolicy(""), { method: "none", count: 0, names: [] });
        assert.deepEqual(parsePolicy("*"), { method: "first", count: 1, names: ["*"] });
        assert.deepEqual(parsePolicy("s1, s2"), { method: "first", count: 1, names: ["s1", "s2"] });
        assert.deepEqual(parsePolicy("FIRST 1 (s1)"), { method: "first", count: 1, names: ["s1"] });
        assert.deepEqual(parsePolicy("ANY 2 (s1, \"s2\", s3)"), { method: "any", count: 2, names: ["s1", "s2", "s3"] });
        assert.deepEqual(parsePolicy("2 (a,b)"), { method: "first", count: 2, names: ["a", "b"] });
    });

    test("WAL positions and sizes", () => {
        assert.equal(lsnBytes("1/0") - lsnBytes("0/FFFFFFFF"), 1);
        assert.throws(() => lsnBytes("nope"), /not a WAL position: "nope"/);
        assert.equal(formatBytes(0), "0 B");
        assert.equal(formatBytes(1536), "1.5 kB");
        assert.equal(formatBytes(GiB), "1.0 GB");
    });
});

describe("status: report", () => {
    test("healthy async cluster: roles, states, lag, slots; no warning; exit 0", () => {
        const r = buildReport(...healthyAsync());
        assert.deepEqual(r.nodes.map((n) => [n.name, n.role, n.state]),
            [["primary", "primary", "running"], ["s1", "async", "streaming"], ["s2", "async", "streaming"]]);
        assert.deepEqual(r.warnings, []);
        assert.equal(exitCode(r), 0);
        assert.deepEqual(r.cluster.primary, { declared: "primary", found: ["primary"] });
        assert.equal(r.nodes[2].lag!.replayedBytes, 256);
        assert.deepEqual(r.nodes[1].slot, { name: "s1", active: true, heldBytes: 1024, limitBytes: GiB, walStatus: "reserved" });
        assert.equal(r.policy.satisfied, true);
        assert.equal(r.dataAtRisk.promote, "s1");
        assert.equal(r.dataAtRisk.bytes, 0);
        assert.match(r.dataAtRisk.text, /^if the primary failed now, up to 0 bytes \(0 B\) of acknowledged commits could be lost; promote s1/);
    });

    test("a stopped standby: its row, the warning with what to do, and the other one to promote", () => {
        const [plan] = healthyAsync();
        const p = primaryProbe({ replication: [row("s2", "0/3000000")], slots: [slot("s1", false, 4096), slot("s2", true)] });
        const r = buildReport(plan, observation({
            primary: [p, running("aaa111")],
            s1: [DOWN, { state: "stopped", id: "bbb222" }],
            s2: [standbyProbe("0/3000000"), running("ccc333")],
        }));
        const s1 = r.nodes.find((n) => n.name === "s1")!;
        assert.equal(s1.state, "stopped");
        assert.equal(s1.role, null);
        assert.equal(s1.slot!.active, false);
        assert.deepEqual(codes(r), ["container-stopped:s1"]);
        assert.equal(r.warnings[0].action, "start it: docker -H unix:///var/run/docker.sock start pgr-dev-s1 (it resumes from its slot)");
        assert.equal(r.dataAtRisk.text, "if the primary failed now, up to 256 bytes (256 B) of acknowledged commits could be lost; " +
            "promote s2: it has received the most WAL");
        assert.equal(exitCode(r), 1);
        assert.match(renderText(r), /s1 +127\.0\.0\.1:5433 +async standby \(planned\) +stopped/);
    });

    test("sync policy whose only standby is down: commits hang, and the warning says what to do", () => {
        const out = outputs("sync", "FIRST 1 (s1)");
        delete out.nodes.s2;
        out.nodes.s1.syncState = "sync";
        const plan = planFromOutputs("dev", out, STATE);
        const r = buildReport(plan, observation({
            primary: [primaryProbe({ synchronousStandbyNames: "FIRST 1 (s1)", replication: [], slots: [slot("s1", false)] }), running("aaa111")],
            s1: [DOWN, { state: "stopped", id: "bbb222" }],
        }));
        assert.equal(r.policy.satisfied, false);
        assert.deepEqual(codes(r), ["container-stopped:s1", "sync-unmet:-"]);
        const w = r.warnings[1];
        assert.equal(w.message, "commits on the primary hang: synchronous_standby_names = 'FIRST 1 (s1)' needs 1 of s1 and none streams");
        assert.match(w.action, /^bring s1 back, or relax the policy \(pulumi config set pg-replication:mode async, then pulumi up\)/);
        assert.equal(r.dataAtRisk.text, "commits wait for 1 of s1 to confirm, so none is acknowledged and none acknowledged " +
            "can be lost; but writes hang until then");
        const lagging = buildReport(planFromOutputs("dev", outputs("sync", "FIRST 1 (s1)"), STATE), observation({
            primary: [primaryProbe({ synchronousStandbyNames: "FIRST 1 (s1)", replication: [row("s2", "0/3000000")] }), running("aaa111")],
            s1: [DOWN, { state: "stopped", id: "bbb222" }],
            s2: [standbyProbe("0/3000000"), running("ccc333")],
        }));
        assert.match(lagging.dataAtRisk.text, /; promote s2: it has received the most WAL \(256 B behind the primary\)$/);
    });

    test("quorum met: no acknowledged commit can be lost, promote the one with the most WAL", () => {
        const plan = planFromOutputs("dev", outputs("sync", "ANY 1 (s1, s2)"), STATE);
        const q = { syncState: "quorum" };
        const r = buildReport(plan, observation({
            primary: [primaryProbe({ synchronousStandbyNames: "ANY 1 (s1, s2)", replication: [row("s1", "0/3000000", q), row("s2", "0/3000100", q)] }), running("aaa111")],
            s1: [standbyProbe("0/3000000"), running("bbb222")],
            s2: [standbyProbe("0/3000100"), running("ccc333")],
        }));
        assert.deepEqual(r.warnings, []);
        assert.deepEqual(r.nodes.map((n) => n.role), ["primary", "quorum", "quorum"]);
        assert.equal(r.dataAtRisk.text, "no acknowledged commit can be lost while 1 of s1, s2 confirms; promote s2: it has received the most WAL");
        assert.equal(r.dataAtRisk.bytes, 0);
    });

    test("live policy differing from the plan, and a standby whose role is not the planned one", () => {
        const plan = planFromOutputs("dev", outputs("sync", "ANY 1 (s1, s2)"), STATE);
        const r = buildReport(plan, observation({
            primary: [primaryProbe(), running("aaa111")],
            s1: [standbyProbe("0/3000100"), running("bbb222")],
            s2: [standbyProbe("0/3000000"), running("ccc333")],
        }));
        assert.deepEqual(codes(r), ["role-differs:s1", "role-differs:s2", "policy-differs:-"]);
        assert.match(r.warnings[2].message, /synchronous_standby_names = ''.*differs from the plan \('ANY 1 \(s1, s2\)', on\)/);
    });

    test("slots near their limit, lost, missing and unplanned", () => {
        const [plan] = healthyAsync();
        const p = primaryProbe({ slots: [slot("s1", true, 0.9 * GiB, "extended"), slot("old", false, 5 * 1024 ** 2)] });
        const r = buildReport(plan, observation({
            primary: [p, running("aaa111")],
            s1: [standbyProbe("0/3000100"), running("bbb222")],
            s2: [standbyProbe("0/3000000"), running("ccc333")],
        }));
        assert.deepEqual(codes(r), ["slot-near-limit:s1", "slot-missing:s2", "slot-unplanned:-"]);
        assert.equal(r.warnings[2].action, "drop it on the primary: SELECT pg_drop_replication_slot('old')");
        const lost = buildReport(plan, observation({
            primary: [primaryProbe({ slots: [slot("s1", false, 2 * GiB, "lost"), slot("s2", true)] }), running("aaa111")],
            s1: [standbyProbe("0/3000100"), running("bbb222")],
            s2: [standbyProbe("0/3000000"), running("ccc333")],
        }));
        assert.deepEqual(codes(lost), ["slot-lost:s1"]);
    });

    test("containers that differ from the plan: missing, replaced by hand, running without PostgreSQL", () => {
        const [plan] = healthyAsync();
        const r = buildReport(plan, observation({
            primary: [primaryProbe({ replication: [] }), running("zzz999")],
            s1: [DOWN, { state: "missing" }],
            s2: [DOWN, running("ccc333")],
        }));
        assert.deepEqual(codes(r), ["container-replaced:primary", "container-missing:s1", "node-unreachable:s2"]);
        assert.match(r.warnings[0].message, /container pgr-dev-primary is zzz999, not the aaa111 Pulumi made: it was replaced by hand/);
        assert.deepEqual(r.nodes.map((n) => n.state), ["running", "missing", "down"]);
        assert.match(r.dataAtRisk.text, /no standby could take over/);
    });

    test("a primary that is not the declared one, and a cluster with no primary", () => {
        const [plan] = healthyAsync();
        const promoted = primaryProbe({ timeline: 2, replication: [], slots: [] });
        const r = buildReport(plan, observation({
            primary: [DOWN, { state: "stopped", id: "aaa111" }],
            s1: [promoted, running("bbb222")],
            s2: [standbyProbe("0/3000000", { timeline: 1 }), running("ccc333")],
        }));
        assert.deepEqual(r.cluster.primary, { declared: "primary", found: ["s1"] });
        assert.equal(r.nodes[1].state, "promoted");
        assert.ok(codes(r).includes("primary-not-declared:s1"));
        assert.ok(codes(r).includes("timeline:s2"));
        const none = buildReport(plan, observation({
            primary: [DOWN, { state: "stopped", id: "aaa111" }],
            s1: [standbyProbe("0/3000100", { receiverStatus: "waiting" }), running("bbb222")],
            s2: [standbyProbe("0/3000000"), running("ccc333")],
        }));
        assert.deepEqual(codes(none), ["container-stopped:primary", "no-primary:-"]);
        assert.equal(none.dataAtRisk.text, "no primary is reachable; the standby to promote is s1: it has received the most WAL (0/3000100)");
        assert.equal(none.policy.satisfied, null);
    });

    test("the JSON document: every documented field, and nothing else", () => {
        const r = JSON.parse(JSON.stringify(buildReport(...healthyAsync())));
        assert.deepEqual(Object.keys(r), ["stack", "checkedAt", "healthy", "cluster", "policy", "nodes", "dataAtRisk", "warnings"]);
        assert.deepEqual(Object.keys(r.cluster), ["systemIdentifier", "version", "primary", "timeline", "currentLsn"]);
        assert.deepEqual(Object.keys(r.policy), ["configured", "live", "method", "required", "candidates", "confirming", "satisfied"]);
        assert.deepEqual(Object.keys(r.nodes[1]), ["name", "host", "port", "address", "containerName", "plannedRole", "role", "state",
            "reachable", "error", "systemIdentifier", "version", "timeline", "receivedLsn", "replayedLsn", "lag", "slot", "container"]);
        assert.deepEqual(Object.keys(r.nodes[1].lag), ["receivedBytes", "replayedBytes", "writeSeconds", "flushSeconds", "replaySeconds"]);
        assert.deepEqual(Object.keys(r.nodes[1].container), ["state", "id", "plannedId", "image", "startedAt"]);
        assert.deepEqual(Object.keys(r.dataAtRisk), ["bytes", "promote", "text"]);
        assert.equal(r.nodes[0].lag, null);
        assert.equal(r.nodes[0].slot, null);
    });
});

describe("status: text", () => {
    test("header, one row per node, data at risk", () => {
        const text = renderText(buildReport(...healthyAsync()));
        const lines = text.split("\n");
        assert.match(lines[0], /^stack dev +checked 2025-01-01T00:00:01.000Z +HEALTHY$/);
        assert.match(lines[1], /system 7000000000000000001 +PostgreSQL 13\.16 +timeline 1 +WAL 0\/3000100/);
        assert.match(lines[2], /declared primary +found primary/);
        assert.match(text, /^primary +127\.0\.0\.1:5432 +primary +running +1 /m);
        assert.match(text, /^s2 +127\.0\.0\.1:5434 +async standby +streaming +1 +0\/3000000 +0\/3000000 +256 B +0\.001s 0\.002s 0\.003s +active 1\.0 kB\/1\.0 GB reserved$/m);
        assert.match(text, /^data at risk: if the primary failed now/m);
        assert.doesNotMatch(text, /warnings:/);
    });

    test("a watch frame goes home, clears each line's end and the rest of the screen, never the whole screen", () => {
        assert.equal(watchFrame("a\nb\n"), "\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J");
        assert.doesNotMatch(watchFrame("a\n"), /\x1b\[2J/);
    });
});
