// The status tool's pure parts on fixtures: reading the plan from outputs, the commit policy,
// each node's role and state, the data at risk, the warnings, the JSON shape and the text.

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { ArchiverRow, archiverFromPsql } from "../../components/archive";
import { lsnDiff } from "../../components/lsn";
import { planTopology } from "../../components/topology";
import { helperLabels, planFromOutputs, probeBackup, probeContainer, StackUnreadable } from "../../status/collect";
import { FakeDocker, Rule } from "./fake-docker";
import { ContainerProbe, NodeProbe, Observation, Plan, ReachableNode, ReplicationRow } from "../../status/model";
import { renderText, watchFrame } from "../../status/render";
import { buildReport, exitCode, formatBytes, parsePolicy, Report } from "../../status/report";
import { nodeStates, planConfig } from "../../status/topology-input";

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
    const lag = Number(lsnDiff("0/3000100", lsn));
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

    // WAL positions: tests/unit/lsn.test.ts.
    test("sizes", () => {
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
        assert.deepEqual(Object.keys(r.nodes[1]), ["name", "host", "port", "address", "containerName", "engine", "plannedRole", "role",
            "state", "reachable", "error", "systemIdentifier", "version", "timeline", "receivedLsn", "replayedLsn", "lag", "slot",
            "container", "fenced", "divergedNote"]);
        assert.deepEqual(Object.keys(r.nodes[1].lag), ["receivedBytes", "replayedBytes", "writeSeconds", "flushSeconds", "replaySeconds"]);
        assert.deepEqual(Object.keys(r.nodes[1].container), ["state", "id", "plannedId", "image", "startedAt"]);
        assert.deepEqual(Object.keys(r.dataAtRisk), ["bytes", "promote", "text"]);
        assert.equal(r.nodes[0].lag, null);
        assert.equal(r.nodes[0].slot, null);
        assert.equal(r.nodes[0].engine, "unix:///var/run/docker.sock");
        assert.equal(r.nodes[0].fenced, false);
        assert.equal(r.nodes[0].divergedNote, null);
    });
});

/** Nodes on several engines: the primary on the stack's, s1 and s2 each on a host of their own. */
const H1 = "unix:///run/hosts/h1/docker.sock";
const H2 = "unix:///run/hosts/h2/docker.sock";
function multiHost(): Plan {
    const out = outputs("async");
    out.nodes.s1 = { ...out.nodes.s1, engine: H1, host: "10.0.0.12", connectionString: "postgresql://postgres:pw@10.0.0.12:5433/postgres" };
    out.nodes.s2 = { ...out.nodes.s2, engine: H2, host: "10.0.0.13", connectionString: "postgresql://postgres:pw@10.0.0.13:5434/postgres" };
    out.nodes.primary.engine = "unix:///var/run/docker.sock";
    return planFromOutputs("dev", out, STATE);
}
const SILENT: ContainerProbe = { state: "unknown", silent: true, error: "does not answer within 5 s" };
const TIMED_OUT: NodeProbe = { reachable: false, error: "timeout expired" };

describe("status: several engines, a lost host", () => {
    test("each node's engine comes from the outputs; a stack without them has the stack's engine", () => {
        assert.deepEqual(multiHost().nodes.map((n) => [n.name, n.engine]),
            [["primary", "unix:///var/run/docker.sock"], ["s1", H1], ["s2", H2]]);
        const old = outputs("async");
        old.engine.host = "tcp://10.0.0.1:2375";
        assert.deepEqual(planFromOutputs("dev", old).nodes.map((n) => n.engine), Array(3).fill("tcp://10.0.0.1:2375"));
    });

    test("engine silent: that node is shown as not answering, which engine and its bound; the others as they are; exit 1", () => {
        const plan = multiHost();
        const r = buildReport(plan, observation({
            primary: [primaryProbe({ replication: [row("s2", "0/3000000")], slots: [slot("s1", false), slot("s2", true)] }), running("aaa111")],
            s1: [TIMED_OUT, SILENT],
            s2: [standbyProbe("0/3000000"), running("ccc333")],
        }));
        assert.deepEqual(r.nodes.map((n) => [n.name, n.state, n.engine, n.fenced]),
            [["primary", "running", "unix:///var/run/docker.sock", false], ["s1", "no answer", H1, null], ["s2", "streaming", H2, false]]);
        assert.deepEqual(codes(r), ["engine-unreachable:s1"]);
        assert.equal(r.warnings[0].message, `s1: its Docker engine ${H1} does not answer within 5 s, and its PostgreSQL at ` +
            "10.0.0.12:5433 does not answer either (timeout expired): its host may be lost");
        assert.equal(r.warnings[0].action, `check that host and its engine (docker -H ${H1} info)`);
        assert.equal(exitCode(r), 1);
        const text = renderText(r);
        assert.match(text, /^stack dev +checked \S+ +1 WARNING +ENGINE NOT ANSWERING: s1$/m);
        assert.match(text, /^NODE +ADDRESS .* SLOT held\/limit +ENGINE$/m);
        assert.match(text, new RegExp(`^s1 +10\\.0\\.0\\.12:5433 +async standby \\(planned\\) +no answer +(- +){7}inactive 1\\.0 kB/1\\.0 GB reserved +${H1}$`, "m"));
        assert.match(text, new RegExp(`^s2 +10\\.0\\.0\\.13:5434 +async standby +streaming +1 +0/3000000 .* ${H2}$`, "m"));
        assert.match(text, /^  ! s1: its Docker engine unix:\/\/\/run\/hosts\/h1\/docker\.sock does not answer within 5 s, /m);
        assert.match(text, /^data at risk: .*promote s2/m);
    });

    test("engine silent while PostgreSQL answers: the node's row as usual, the warning names the engine", () => {
        const r = buildReport(multiHost(), observation({
            primary: [primaryProbe(), running("aaa111")],
            s1: [standbyProbe("0/3000100"), SILENT],
            s2: [standbyProbe("0/3000000"), running("ccc333")],
        }));
        assert.equal(r.nodes[1].state, "streaming");
        assert.deepEqual(codes(r), ["engine-unreachable:s1"]);
        assert.equal(r.warnings[0].message, `s1: its Docker engine ${H1} does not answer within 5 s; its PostgreSQL at 10.0.0.12:5433 answers`);
    });

    test("the declared primary's host lost: no primary, the failover named as the way out", () => {
        const plan = multiHost();
        const r = buildReport(plan, observation({
            primary: [TIMED_OUT, SILENT],
            s1: [standbyProbe("0/3000100", { receiverStatus: "waiting" }), running("bbb222")],
            s2: [standbyProbe("0/3000000"), running("ccc333")],
        }));
        assert.deepEqual(codes(r), ["engine-unreachable:primary", "no-primary:-"]);
        assert.match(r.warnings[0].action, /; if the host is lost, fail over: declare another node the primary, then pulumi up \(scripts\/deploy\.sh dev\)$/);
        assert.equal(r.warnings[1].action, "start the primary (docker -H unix:///var/run/docker.sock start pgr-dev-primary), or promote s1");
    });

    test("an engine that refuses (not silent) is said with its error, and the node is down, not lost", () => {
        const r = buildReport(multiHost(), observation({
            primary: [primaryProbe({ replication: [row("s2", "0/3000000")] }), running("aaa111")],
            s1: [DOWN, { state: "unknown", error: "Cannot connect to the Docker daemon at unix:///run/hosts/h1/docker.sock." }],
            s2: [standbyProbe("0/3000000"), running("ccc333")],
        }));
        assert.equal(r.nodes[1].state, "down");
        assert.equal(r.warnings[0].message, `s1: its Docker engine ${H1} could not be asked: Cannot connect to the Docker daemon at ` +
            `${H1}., and its PostgreSQL at 10.0.0.12:5433 does not answer either (connect ECONNREFUSED 127.0.0.1:5433)`);
    });
});

describe("status: two primaries", () => {
    const promotedS1 = () => primaryProbe({ timeline: 2, replication: [row("s2", "0/3000000")], slots: [slot("primary", false), slot("s2", true)] });

    test("a former primary on an older timeline than the declared one: back after a failover, not yet demoted: run pulumi up", () => {
        // After a failover to s1 (declared now), the old primary's host came back with it still a primary on timeline 1.
        const out = outputs("async");
        out.primary = { ...out.nodes.s1, name: "s1" };
        out.nodes.s1.role = "primary";
        out.nodes.primary.role = "standby";
        out.nodes.primary.syncState = "async";
        const plan = planFromOutputs("dev", out, STATE);
        const obs = observation({
            s1: [promotedS1(), running("bbb222")],
            primary: [primaryProbe({ timeline: 1, replication: [], slots: [slot("s1", false), slot("s2", false)] }), running("aaa111")],
            s2: [standbyProbe("0/3000000", { timeline: 2 }), running("ccc333")],
        });
        // What up would do, and so what status says: demote the former primary.
        assert.deepEqual(planTopology(planConfig(plan), nodeStates(plan, obs)),
            { kind: "stale-primaries", primary: "s1", stale: [{ name: "primary", timeline: 1 }] });
        const r = buildReport(plan, obs);
        assert.deepEqual(r.cluster.primary, { declared: "s1", found: ["s1", "primary"] });
        assert.deepEqual(r.nodes.map((n) => [n.name, n.role, n.state, n.timeline]),
            [["s1", "primary", "running", 2], ["primary", "primary", "former primary", 1], ["s2", "async", "streaming", 2]]);
        assert.deepEqual(codes(r), ["stale-primary:primary"]);
        assert.equal(r.warnings[0].message, "primary accepts writes on timeline 1, older than the declared primary s1's 2: " +
            "former primary back after a failover, not yet demoted: run pulumi up");
        assert.equal(r.warnings[0].action, "run pulumi up (scripts/deploy.sh dev): it fences primary and keeps what it wrote after " +
            "the failover aside; until then keep clients off 127.0.0.1:5432: what they write there is not on s1");
        assert.equal(exitCode(r), 1);
        const text = renderText(r);
        assert.match(text, /^primary +declared s1 +found s1, primary$/m);
        assert.match(text, /^primary +127\.0\.0\.1:5432 +primary +former primary +1 /m);
        assert.match(text, /^  ! primary accepts writes on timeline 1, .*: former primary back after a failover, not yet demoted: run pulumi up$/m);
        assert.doesNotMatch(text, /two primaries/);
    });

    test("a second primary on the same or a newer timeline is an unexplained split brain, not a stale one", () => {
        const [plan] = healthyAsync();
        for (const timeline of [1, 2]) {
            const r = buildReport(plan, observation({
                primary: [primaryProbe({ replication: [row("s2", "0/3000000")], slots: [slot("s1", false), slot("s2", true)] }), running("aaa111")],
                s1: [primaryProbe({ timeline, replication: [], slots: [] }), running("bbb222")],
                s2: [standbyProbe("0/3000000"), running("ccc333")],
            }));
            assert.equal(r.nodes[1].state, "promoted");
            assert.deepEqual(codes(r), ["primary-not-declared:s1"]);
            assert.equal(r.warnings[0].message, "s1 accepts writes while the declared primary primary does too: two primaries");
            assert.equal(r.warnings[0].action, "stop the one that must not take writes (docker -H unix:///var/run/docker.sock stop " +
                "pgr-dev-s1, or docker -H unix:///var/run/docker.sock stop pgr-dev-primary) before clients write to both");
            assert.doesNotMatch(renderText(r), /former primary/);
        }
    });

    test("a former primary next to a second one on the declared timeline: up refuses them all, so none is called former", () => {
        // planTopology takes writers on older timelines as former primaries only when every other writer is one;
        // otherwise up stops at several-primaries and demotes nobody, and status says two primaries for each.
        const [plan] = healthyAsync();
        const obs = observation({
            primary: [primaryProbe({ timeline: 2, replication: [], slots: [slot("s1", false), slot("s2", false)] }), running("aaa111")],
            s1: [primaryProbe({ timeline: 1, replication: [], slots: [] }), running("bbb222")],
            s2: [primaryProbe({ timeline: 2, replication: [], slots: [] }), running("ccc333")],
        });
        assert.deepEqual(planTopology(planConfig(plan), nodeStates(plan, obs)), { kind: "several-primaries", primaries: ["primary", "s1", "s2"] });
        const r = buildReport(plan, obs);
        assert.deepEqual(r.cluster.primary, { declared: "primary", found: ["primary", "s1", "s2"] });
        assert.deepEqual(r.nodes.map((n) => [n.name, n.state]), [["primary", "running"], ["s1", "promoted"], ["s2", "promoted"]]);
        assert.deepEqual(codes(r), ["primary-not-declared:s1", "primary-not-declared:s2"]);
        assert.equal(r.warnings[0].message, "s1 accepts writes while the declared primary primary does too: two primaries");
        assert.doesNotMatch(renderText(r), /former primary|not yet demoted/);
    });
});

describe("status: a fenced node", () => {
    const NOTE = "primary committed 1 transaction(s) writing user data after s1 was promoted (2025-01-01 00:00:00.5), while it " +
        "was cut off (its WAL on timeline 1 from 0/3000100 up to 0/3000400)";
    const fenced = (over: Partial<ContainerProbe> = {}): ContainerProbe =>
        ({ state: "stopped", id: "bbb222", status: "exited", restartPolicy: "no", divergedNote: null, ...over });

    test("with a diverged note: its text, and what to do (read it out, or allowDataLoss and up); exit 1", () => {
        const [plan] = healthyAsync();
        const r = buildReport(plan, observation({
            primary: [primaryProbe({ replication: [row("s2", "0/3000000")], slots: [slot("s1", false), slot("s2", true)] }), running("aaa111")],
            s1: [DOWN, fenced({ divergedNote: NOTE })],
            s2: [standbyProbe("0/3000000"), running("ccc333")],
        }));
        const s1 = r.nodes[1];
        assert.deepEqual([s1.state, s1.fenced, s1.divergedNote], ["fenced", true, NOTE]);
        assert.deepEqual(codes(r), ["diverged:s1"]);
        assert.equal(r.warnings[0].message, "s1: fenced (stopped, restart policy no) after it ran as a second primary; its note " +
            `/var/lib/postgresql/data/diverged says: ${NOTE}`);
        assert.equal(r.warnings[0].action, "to read what it wrote, start it (docker -H unix:///var/run/docker.sock start pgr-dev-s1: " +
            "it comes up read-only with its own data); to discard that and bring it in as a standby: pulumi config set " +
            "pg-replication:allowDataLoss true, then pulumi up (scripts/deploy.sh dev)");
        assert.equal(exitCode(r), 1);
        const text = renderText(r);
        assert.match(text, /^s1 +127\.0\.0\.1:5433 +async standby \(planned\) +fenced +/m);
        assert.ok(text.includes(`  ! s1: fenced (stopped, restart policy no) after it ran as a second primary; its note ` +
            `/var/lib/postgresql/data/diverged says: ${NOTE}\n`), text);
        assert.match(text, /^    → to read what it wrote, start it .*pulumi config set pg-replication:allowDataLoss true, then pulumi up/m);
    });

    test("fenced without a note, or with one that could not be read: a stopped container that says so", () => {
        const [plan] = healthyAsync();
        const obs = (c: ContainerProbe) => observation({
            primary: [primaryProbe({ replication: [row("s2", "0/3000000")], slots: [slot("s1", false), slot("s2", true)] }), running("aaa111")],
            s1: [DOWN, c],
            s2: [standbyProbe("0/3000000"), running("ccc333")],
        });
        const plain = buildReport(plan, obs(fenced()));
        assert.deepEqual(codes(plain), ["container-stopped:s1"]);
        assert.equal(plain.warnings[0].message, "s1: its container pgr-dev-s1 is stopped and fenced (restart policy no)");
        const unread = buildReport(plan, obs(fenced({ divergedNote: undefined, noteError: "no answer within 15 s" })));
        assert.equal(unread.warnings[0].message, "s1: its container pgr-dev-s1 is stopped and fenced (restart policy no); " +
            "whether it diverged could not be read (no answer within 15 s)");
    });
});

describe("status: docker calls, against a fake docker CLI", () => {
    // A `docker` first on PATH that logs its engine and arguments: a frozen engine never answers; on the
    // others `inspect` describes a running node (ok) or a fenced one, and `run` prints the note.
    let dir: string;
    let savedPath: string | undefined;
    const calls = () => fs.existsSync(path.join(dir, "calls")) ? fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n") : [];
    const inspect = (running: boolean, policy: string) => JSON.stringify({
        Id: "abc", State: { Running: running, Status: running ? "running" : "exited" }, Config: {
            Image: "postgres:13", Labels: { "pg-replication.project": "pg-replication", "pg-replication.stack": "dev",
                "pg-replication.node": "pg1", "pg-replication.role": "node", "pg-replication.address": "172.18.0.101" },
        },
        HostConfig: { RestartPolicy: { Name: policy } },
        Mounts: [{ Type: "volume", Name: "pgr-dev-pg1-data", Destination: "/var/lib/postgresql/data" }],
    });
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "status-docker-"));
        fs.writeFileSync(path.join(dir, "ok.json"), inspect(true, "unless-stopped"));
        fs.writeFileSync(path.join(dir, "fenced.json"), inspect(false, "no"));
        fs.writeFileSync(path.join(dir, "docker"), `#!/bin/sh
echo "-H $DOCKER_HOST $*" >> "${dir}/calls"
case "$DOCKER_HOST" in unix:///frozen) exec sleep 30 ;; esac
case "$1 $*" in
    "container "*inspect*) exec cat "${dir}/$(echo "$*" | awk '{ print $NF }').json" ;;
    "run "*) echo "the note"; exit 0 ;;
esac
exit 1
`, { mode: 0o755 });
        savedPath = process.env.PATH;
        process.env.PATH = `${dir}${path.delimiter}${savedPath}`;
    });
    after(() => {
        process.env.PATH = savedPath;
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test("a frozen engine: the probe comes back within its bound, silent, saying so", async () => {
        const started = Date.now();
        const c = await probeContainer("unix:///frozen", "ok", { dockerMs: 300, noteMs: 300 });
        assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
        assert.deepEqual(c, { state: "unknown", silent: true, error: "does not answer within 0.3 s" });
    });

    test("a running node costs one inspect; only a fenced one gets a throwaway container for its note", async () => {
        fs.rmSync(path.join(dir, "calls"), { force: true });
        const ok = await probeContainer("unix:///h1", "ok");
        assert.equal(ok.state, "running");
        assert.equal(ok.divergedNote, undefined);
        assert.deepEqual(calls(), ["-H unix:///h1 container inspect --format {{json .}} ok"]);
        const f = await probeContainer("unix:///h2", "fenced");
        assert.deepEqual([f.state, f.restartPolicy, f.divergedNote], ["stopped", "no", "the note"]);
        assert.equal(calls()[2], "-H unix:///h2 run --rm --pull never --network none --user postgres " +
            "--label pg-replication.project=pg-replication --label pg-replication.stack=dev --label pg-replication.node=pg1 " +
            "--label pg-replication.role=helper -v pgr-dev-pg1-data:/var/lib/postgresql/data:ro --entrypoint /bin/sh postgres:13 " +
            "-c [ -e /var/lib/postgresql/data/diverged ] || exit 3; cat /var/lib/postgresql/data/diverged");
        assert.deepEqual(helperLabels({ "pg-replication.stack": "dev", "pg-replication.role": "node", other: "x" }),
            { "pg-replication.stack": "dev", "pg-replication.role": "helper" });
    });
});

describe("status: the topology planners' input (status/topology-input.ts)", () => {
    test("the configuration: declared primary, node addresses, and the commit policy from the outputs", () => {
        const sync = planConfig(planFromOutputs("dev", outputs("sync", 'ANY 1 ("s1", "s2")'), STATE));
        assert.equal(sync.primary, "primary");
        assert.deepEqual(sync.nodes, [{ name: "primary", address: "172.18.0.201" }, { name: "s1", address: "172.18.0.202" },
            { name: "s2", address: "172.18.0.203" }]);
        assert.deepEqual([sync.replication.mode, sync.replication.syncStandbys, sync.replication.syncCount], ["sync", ["s1", "s2"], 1]);
        const first = outputs("sync", 'FIRST 1 ("s2")');
        first.nodes.s1.syncState = "async";
        first.nodes.s2.syncState = "sync";
        const one = planConfig(planFromOutputs("dev", first, STATE)).replication;
        assert.deepEqual([one.syncStandbys, one.syncCount], [["s2"], 1]);
        const async = planConfig(healthyAsync()[0]).replication;
        assert.deepEqual([async.mode, async.syncStandbys, async.syncCount], ["async", [], 0]);
    });

    test("each node as a NodeState, in the plan's order: writers, standbys (the furthest WAL they hold), the unreachable", () => {
        const [plan] = healthyAsync();
        const states = nodeStates(plan, observation({
            primary: [primaryProbe({ timeline: 2 }), running("aaa111")],
            s1: [standbyProbe("0/3000100", { receiveLsn: "0/3000080", replayLsn: "0/3000100", timeline: 2 }), running("bbb222")],
            s2: [DOWN, { state: "missing" }],
        }));
        assert.deepEqual(states, [
            { name: "primary", exists: true, inRecovery: false, lsn: "0/3000100", timeline: 2 },
            { name: "s1", exists: true, inRecovery: true, lsn: "0/3000100", timeline: 2, receivedLsn: "0/3000100" },
            { name: "s2", exists: false, unreachable: "connect ECONNREFUSED 127.0.0.1:5433" },
        ]);
        const lost = nodeStates(plan, observation({
            primary: [TIMED_OUT, SILENT],
            s1: [standbyProbe("0/3000100", { receiveLsn: null }), running("bbb222")],
        }));
        assert.deepEqual(lost, [
            { name: "primary", exists: true, unreachable: "timeout expired", engineDown: "does not answer within 5 s" },
            { name: "s1", exists: true, inRecovery: true, lsn: "0/3000100", timeline: 1, receivedLsn: "0/3000100" },
            { name: "s2", exists: true, unreachable: "not probed", engineDown: "its Docker engine does not answer" },
        ]);
    });
});

describe("status: the read-write endpoint", () => {
    const withEndpoint = (): Plan => planFromOutputs("dev", { ...outputs("async"), endpoints: { rw: {
        host: "127.0.0.1", port: 6432, containerName: "pgr-dev-pooler", connectionString: url(6432) } } }, STATE);
    const seen = (endpoint: Observation["endpoint"]): Observation => ({ ...healthyAsync()[1], endpoint });

    test("a stack without one: no endpoint in the plan, the report or the text", () => {
        const [plan, obs] = healthyAsync();
        assert.equal(plan.endpoint, undefined);
        const r = buildReport(plan, obs);
        assert.equal(r.endpoint, undefined);
        assert.doesNotMatch(renderText(r), /endpoint/);
    });

    test("reaching the primary: healthy, and the text says which node it reaches", () => {
        const plan = withEndpoint();
        assert.deepEqual(plan.endpoint, { host: "127.0.0.1", port: 6432, containerName: "pgr-dev-pooler", connectionString: url(6432) });
        const r = buildReport(plan, seen({ reachable: true, address: "172.18.0.201", inRecovery: false }));
        assert.deepEqual(r.endpoint, { address: "127.0.0.1:6432", containerName: "pgr-dev-pooler", reaches: "primary", state: "primary", error: null });
        assert.equal(r.healthy, true);
        assert.match(renderText(r), /^endpoint  rw 127\.0\.0\.1:6432 → primary \(primary\)$/m);
    });

    test("reaching a standby (not re-pointed): a warning that says writes fail and to run up", () => {
        const r = buildReport(withEndpoint(), seen({ reachable: true, address: "172.18.0.202", inRecovery: true }));
        assert.deepEqual(codes(r), ["endpoint-not-primary:-"]);
        assert.match(r.warnings[0].message, /^the read-write endpoint 127\.0\.0\.1:6432 sends writes to s1 \(a standby: writes fail\), not to the primary primary$/);
        assert.match(r.warnings[0].action, /^run up \(scripts\/deploy\.sh dev\)/);
    });

    test("not answering: a warning naming the container to start; the text says so", () => {
        const r = buildReport(withEndpoint(), seen({ reachable: false, error: "connect ECONNREFUSED 127.0.0.1:6432" }));
        assert.deepEqual(codes(r), ["endpoint-down:-"]);
        assert.match(r.warnings[0].action, /^start it \(docker -H unix:\/\/\/var\/run\/docker\.sock start pgr-dev-pooler\)/);
        assert.match(renderText(r), /^endpoint  rw 127\.0\.0\.1:6432 → DOES NOT ANSWER \(connect ECONNREFUSED 127\.0\.0\.1:6432\)$/m);
    });
});

describe("status: the read-only endpoint", () => {
    const withBoth = (): Plan => planFromOutputs("dev", { ...outputs("async"), endpoints: {
        rw: { host: "127.0.0.1", port: 6432, containerName: "pgr-dev-pooler", connectionString: url(6432) },
        ro: { host: "127.0.0.1", port: 6433, containerName: "pgr-dev-pooler-ro", connectionString: url(6433) } } }, STATE);
    const seen = (readEndpoint: Observation["readEndpoint"]): Observation =>
        ({ ...healthyAsync()[1], endpoint: { reachable: true, address: "172.18.0.201", inRecovery: false }, readEndpoint });

    test("reaching a standby: healthy, and a line of its own under the read-write one", () => {
        const plan = withBoth();
        assert.deepEqual(plan.readEndpoint, { host: "127.0.0.1", port: 6433, containerName: "pgr-dev-pooler-ro", connectionString: url(6433) });
        const r = buildReport(plan, seen({ reachable: true, address: "172.18.0.202", inRecovery: true }));
        assert.deepEqual(r.readEndpoint, { address: "127.0.0.1:6433", containerName: "pgr-dev-pooler-ro", reaches: "s1", state: "standby", error: null });
        assert.equal(r.healthy, true);
        assert.match(renderText(r), /^endpoint  rw 127\.0\.0\.1:6432 → primary \(primary\)\nendpoint  ro 127\.0\.0\.1:6433 → s1 \(standby\)$/m);
    });

    test("reaching the primary while a standby streams: a warning that names both causes and where to look", () => {
        const r = buildReport(withBoth(), seen({ reachable: true, address: "172.18.0.201", inRecovery: false }));
        assert.deepEqual(codes(r), ["read-endpoint-primary:-"]);
        assert.equal(r.warnings[0].message, "the read-only endpoint 127.0.0.1:6433 sends reads to the primary primary while s1, s2 stream: " +
            "further behind than endpoints.maxReadLagBytes, or its watcher is not running");
        assert.match(r.warnings[0].action, /logs pgr-dev-pooler-ro$/);
    });

    test("not answering: a warning naming the container to start", () => {
        const r = buildReport(withBoth(), seen({ reachable: false, error: "connect ECONNREFUSED 127.0.0.1:6433" }));
        assert.deepEqual(codes(r), ["read-endpoint-down:-"]);
        assert.match(r.warnings[0].action, /^start it \(docker -H unix:\/\/\/var\/run\/docker\.sock start pgr-dev-pooler-ro\)/);
        assert.match(renderText(r), /^endpoint  ro 127\.0\.0\.1:6433 → DOES NOT ANSWER \(connect ECONNREFUSED 127\.0\.0\.1:6433\)$/m);
    });
});

describe("status: the endpoints of every host (nodes on several engines)", () => {
    // s1 and s2 on a second engine at 10.0.0.2; the primary on the first at 10.0.0.1.
    const ENGINE2 = "ssh://root@10.0.0.2";
    const pair = (host: string) => ({
        rw: { host, port: 6432, containerName: "pgr-dev-pooler", connectionString: `postgresql://postgres:x@${host}:6432/postgres` },
        ro: { host, port: 6433, containerName: "pgr-dev-pooler-ro", connectionString: `postgresql://postgres:x@${host}:6433/postgres` },
    });
    const acrossHosts = (): Plan => {
        const o = outputs("async");
        for (const [name, host, engine] of [["primary", "10.0.0.1", "ssh://root@10.0.0.1"], ["s1", "10.0.0.2", ENGINE2], ["s2", "10.0.0.2", ENGINE2]]) {
            Object.assign(o.nodes[name], { host, engine });
        }
        return planFromOutputs("dev", { ...o, endpoints: { ...pair("10.0.0.1"), byHost: { "10.0.0.1": pair("10.0.0.1"), "10.0.0.2": pair("10.0.0.2") } } }, STATE);
    };
    const fine = { reachable: true as const, address: "172.18.0.201", inRecovery: false };
    const reads = { reachable: true as const, address: "172.18.0.202", inRecovery: true };

    test("the other hosts' endpoints in the plan with their engine, each probed and shown; all reaching their node: healthy", () => {
        const plan = acrossHosts();
        assert.deepEqual(plan.moreEndpoints?.map((e) => [e.kind, e.host, e.engine]), [["rw", "10.0.0.2", ENGINE2], ["ro", "10.0.0.2", ENGINE2]]);
        const r = buildReport(plan, { ...healthyAsync()[1], endpoint: fine, readEndpoint: reads, moreEndpoints: [fine, reads] });
        assert.equal(r.healthy, true, JSON.stringify(r.warnings));
        assert.match(renderText(r), /^endpoint  rw 10\.0\.0\.1:6432 → primary \(primary\)\nendpoint  ro 10\.0\.0\.1:6433 → s1 \(standby\)\n/m);
        assert.match(renderText(r), /^endpoint  rw 10\.0\.0\.2:6432 → primary \(primary\)\nendpoint  ro 10\.0\.0\.2:6433 → s1 \(standby\)$/m);
    });

    test("one host's endpoints lost: warnings for those alone, each naming its own engine", () => {
        const down = { reachable: false as const, error: "timeout expired" };
        const r = buildReport(acrossHosts(), { ...healthyAsync()[1], endpoint: fine, readEndpoint: reads, moreEndpoints: [down, down] });
        assert.deepEqual(codes(r), ["endpoint-down:-", "read-endpoint-down:-"]);
        assert.match(r.warnings[0].message, /^the read-write endpoint 10\.0\.0\.2:6432 does not answer: timeout expired$/);
        assert.match(r.warnings[0].action, /^start it \(docker -H ssh:\/\/root@10\.0\.0\.2 start pgr-dev-pooler\)/);
        assert.match(r.warnings[1].action, /^start it \(docker -H ssh:\/\/root@10\.0\.0\.2 start pgr-dev-pooler-ro\)/);
        // The first host's endpoints are on the engine of its nodes, not the stack's.
        const first = buildReport(acrossHosts(), { ...healthyAsync()[1], endpoint: down, readEndpoint: reads, moreEndpoints: [fine, reads] });
        assert.match(first.warnings[0].action, /^start it \(docker -H ssh:\/\/root@10\.0\.0\.1 start pgr-dev-pooler\)/);
    });
});

describe("status: backups", () => {
    const withBackup = (): Plan => planFromOutputs("dev", { ...outputs("async"), backup: { volume: "pgr-dev-backup", stanza: "pgr-dev" } }, STATE);
    const at = (iso: string) => Date.parse(iso);
    const seen = (backup: Observation["backup"]): Observation => ({ ...healthyAsync()[1], backup });
    const TWO = [{ label: "20250101-000000F", type: "full", stoppedAt: at("2024-12-31T23:00:01Z") },
        { label: "20250101-000000F_20250101-000001I", type: "incr", stoppedAt: at("2025-01-01T00:00:00Z") }];

    test("backups and a verified restore: healthy, one line with the newest and the restore's age", () => {
        // Outputs made before backup.maxVerifiedAgeHours was one: its default.
        assert.deepEqual(withBackup().backup, { volume: "pgr-dev-backup", stanza: "pgr-dev", maxVerifiedAgeHours: 26 });
        const r = buildReport(withBackup(), seen({ reachable: true, backups: TWO, stanzaStatus: "ok",
            verified: { verifiedAt: "2024-12-31T22:00:01Z", backup: "20250101-000000F", marker: { found: true } } }));
        assert.equal(r.healthy, true);
        assert.deepEqual(r.backup?.newest, { label: "20250101-000000F_20250101-000001I", type: "incr", at: "2025-01-01T00:00:00.000Z", ageSeconds: 1 });
        assert.equal(r.backup?.verified?.ageSeconds, 7200);
        assert.match(renderText(r), /^backup    pgr-dev-backup \(stanza pgr-dev\): 2 backups, newest incr 20250101-000000F_20250101-000001I 1s ago; restore verified 2h ago \(of 20250101-000000F\)$/m);
    });

    test("never verified (or a restore that missed its marker): a warning with the command that proves one", () => {
        for (const verified of [null, { verifiedAt: "2024-12-31T22:00:01Z", backup: "x", marker: { found: false } }]) {
            const r = buildReport(withBackup(), seen({ reachable: true, backups: TWO, stanzaStatus: "ok", verified }));
            assert.deepEqual(codes(r), ["backup-unverified:-"]);
            assert.equal(r.warnings[0].action, "npm run verify-backup -- dev");
            assert.match(renderText(r), /; restore NEVER VERIFIED$/m);
        }
    });

    test("a restore proven longer ago than backup.maxVerifiedAgeHours: a warning that destroy refuses meanwhile", () => {
        const plan = planFromOutputs("dev", { ...outputs("async"), backup: { volume: "pgr-dev-backup", stanza: "pgr-dev", maxVerifiedAgeHours: 1 } },
            STATE);
        assert.equal(plan.backup?.maxVerifiedAgeHours, 1);
        const r = buildReport(plan, seen({ reachable: true, backups: TWO, stanzaStatus: "ok",
            verified: { verifiedAt: "2024-12-31T22:00:01Z", backup: "20250101-000000F", marker: { found: true } } }));
        assert.deepEqual(codes(r), ["backup-stale:-"]);
        assert.match(r.warnings[0].message, /proven longer ago than backup.maxVerifiedAgeHours \(1 h\): 2024-12-31T22:00:01Z; destroy refuses meanwhile/);
        assert.equal(r.warnings[0].action, "npm run verify-backup -- dev");
    });

    test("no backup, and a repository that cannot be read: each its warning", () => {
        const none = buildReport(withBackup(), seen({ reachable: true, backups: [], stanzaStatus: "missing stanza path", verified: null }));
        assert.deepEqual(codes(none), ["backup-none:-"]);
        assert.match(none.warnings[0].message, /holds no backup \(stanza pgr-dev: missing stanza path\)/);
        const down = buildReport(withBackup(), seen({ reachable: false, error: "no node's container runs to ask pgBackRest in" }));
        assert.deepEqual(codes(down), ["backup-unreadable:-"]);
        assert.match(renderText(down), /^backup    pgr-dev-backup \(stanza pgr-dev\): CANNOT BE READ \(no node's container runs to ask pgBackRest in\)$/m);
    });

    // pgbackrest info as it answers for the stanza with TWO's backups (components/restore.ts parseRepoInfo).
    const INFO = JSON.stringify([{ name: "pgr-dev", status: { code: 0, message: "ok" }, db: [{ id: 1, version: "13" }],
        backup: TWO.map((b) => ({ label: b.label, type: b.type, timestamp: { start: b.stoppedAt / 1000 - 1, stop: b.stoppedAt / 1000 }, database: { id: 1 } })) }]);
    const probeWith = async (rules: Rule[]) => {
        const fake = new FakeDocker(rules);
        const saved = process.env.PATH;
        process.env.PATH = fake.env.PATH;
        try {
            return await probeBackup(withBackup(), { containerName: "c1", engine: "unix:///var/run/docker.sock" });
        } finally {
            process.env.PATH = saved;
            fake.cleanup();
        }
    };
    const infoSays = (out: string): Rule => ({ when: "^exec -u postgres c1 pgbackrest --output=json info\n", out });
    const noRecord: Rule = { when: "^exec c1 cat ", err: "cat: x: No such file or directory\n", code: 1 };

    test("proof records that cannot be read are not 'never verified' and hide nothing pgBackRest said (collect.ts probeBackup through readProof)", async () => {
        const restarting = await probeWith([infoSays(INFO), { when: "^exec c1 cat ", err: "Error response from daemon: container c1 is restarting\n", code: 1 }]);
        assert.deepEqual(restarting, { reachable: true, backups: TWO, stanzaStatus: "ok", verified: null, verifyFailed: null,
            proofUnread: "c1: Error response from daemon: container c1 is restarting" });
        assert.deepEqual(codes(buildReport(withBackup(), seen(restarting))), ["backup-proof-unreadable:-"], "not backup-unverified nor backup-unreadable");
        // Every container gone by the time its records were read (readProof: none): said too, never "none proven".
        const gone = await probeWith([infoSays(INFO), { when: "^exec c1 cat ", err: "Error response from daemon: No such container: c1\n", code: 1 }]);
        assert.deepEqual(gone, { reachable: true, backups: TWO, stanzaStatus: "ok", verified: null, verifyFailed: null, proofUnread: "no container c1" });
        const none = await probeWith([infoSays("[]"), noRecord]);
        assert.deepEqual(none, { reachable: true, backups: [], stanzaStatus: "missing stanza", verified: null, verifyFailed: null },
            "no record yet: never verified, said as such");
    });

    test("records of another repository (the config moved the backups; the next up sets them aside) prove nothing of this one", async () => {
        const proven = JSON.stringify({ verifiedAt: "2025-01-01T00:10:00Z", backup: TWO[1].label, marker: { found: true } });
        const moved = await probeWith([infoSays(INFO), { when: "^exec c1 cat \\S+pg-replication-repository\n", out: "pgr-old-backup\n" },
            { when: "^exec c1 cat \\S+verified\\.json\n", out: proven }, noRecord]);
        assert.deepEqual(moved, { reachable: true, backups: TWO, stanzaStatus: "ok", verified: null, verifyFailed: null });
        const own = await probeWith([infoSays(INFO), { when: "^exec c1 cat \\S+pg-replication-repository\n", out: "pgr-dev-backup\n" },
            { when: "^exec c1 cat \\S+verified\\.json\n", out: proven }, noRecord]);
        assert.equal(own.reachable && own.verified?.backup, TWO[1].label, "the records of this repository are its proof");
    });

    test("a repository pgBackRest says it cannot read (status 99, exit 0) is not one without backups (collect.ts probeBackup)", async () => {
        // The shape pgBackRest prints when the S3 server refuses (command/info/info.c: the error in the repository's status).
        const refused = JSON.stringify([{ name: "pgr-dev", status: { code: 99, message: "other", lock: { backup: { held: false } } },
            repo: [{ key: 1, cipher: "none", status: { code: 99, message: "[ProtocolError] HTTP request failed with 403 (Forbidden):\n*** Path/Query ***" } }],
            db: [], archive: [], backup: [] }]);
        const r = await probeWith([infoSays(refused), noRecord]);
        assert.deepEqual(r, { reachable: false, error: "pgBackRest could not read the stanza pgr-dev in the repository (status 99): " +
            "[ProtocolError] HTTP request failed with 403 (Forbidden):" });
        assert.deepEqual(codes(buildReport(withBackup(), seen(r))), ["backup-unreadable:-"], "never backup-none");
    });

    test("the last verified restore's record not JSON: the backups kept, the proof unread; a failure record beside it not taken", async () => {
        const garbled = await probeWith([infoSays(INFO), { when: "^exec c1 cat \\S+verified\\.json\n", out: "{not json" },
            { when: "^exec c1 cat \\S+verify-failed\\.json\n", out: JSON.stringify({ failedAt: "2024-12-31T23:30:00Z", backup: "", error: "x" }) },
            noRecord]);
        assert.ok(garbled.reachable);
        assert.deepEqual(garbled.backups, TWO);
        assert.equal(garbled.stanzaStatus, "ok");
        assert.equal(garbled.verified, null);
        assert.equal(garbled.verifyFailed, null);
        assert.match(garbled.proofUnread ?? "", /^the last verified restore's record cannot be read \(.*JSON.*\)$/);
        // The failure's record garbled beside a good proof: a proof may have failed since, so the proof is not fresh either.
        const failedGarbled = await probeWith([infoSays(INFO), { when: "^exec c1 cat \\S+verified\\.json\n",
            out: JSON.stringify({ verifiedAt: "2024-12-31T22:00:01Z", backup: "20250101-000000F", marker: { found: true } }) },
            { when: "^exec c1 cat \\S+verify-failed\\.json\n", out: "{not json" }, noRecord]);
        assert.ok(failedGarbled.reachable);
        assert.deepEqual(failedGarbled.backups, TWO);
        assert.match(failedGarbled.proofUnread ?? "", /^the last failed proof's record cannot be read \(.*JSON.*\)$/);
        assert.deepEqual(codes(buildReport(withBackup(), seen(failedGarbled))), ["backup-proof-unreadable:-"]);
    });

    test("pgbackrest info failing or not understood: unreachable as before, whatever the proof records say", async () => {
        const VERIFIED = { when: "^exec c1 cat \\S+verified\\.json\n", out: JSON.stringify({ verifiedAt: "2024-12-31T22:00:01Z",
            backup: "20250101-000000F", marker: { found: true } }) };
        const failing = await probeWith([{ when: "^exec -u postgres c1 pgbackrest ", err: "ERROR: [039]: HTTP request failed\n", code: 39 },
            VERIFIED, noRecord]);
        assert.deepEqual(failing, { reachable: false, error: "ERROR: [039]: HTTP request failed" });
        const garbled = await probeWith([infoSays("not json"), VERIFIED, noRecord]);
        assert.deepEqual(garbled, { reachable: false, error: 'pgbackrest info did not answer in JSON: "not json"' });
        const both = await probeWith([{ when: "^exec -u postgres c1 pgbackrest ", err: "ERROR: [039]: HTTP request failed\n", code: 39 },
            { when: "^exec c1 cat ", err: "Error response from daemon: container c1 is restarting\n", code: 1 }]);
        assert.deepEqual(both, { reachable: false, error: "ERROR: [039]: HTTP request failed" });
        assert.deepEqual(codes(buildReport(withBackup(), seen(both))), ["backup-unreadable:-"]);
    });

    test("proof records unread: backup-proof-unreadable, not unverified nor fresh; the backups, the stanza and the schedule still said", () => {
        const unread = { reachable: true as const, backups: TWO, stanzaStatus: "ok", verified: null, verifyFailed: null,
            proofUnread: "c1: Error response from daemon: container c1 is restarting" };
        const r = buildReport(withBackup(), seen(unread));
        assert.deepEqual(codes(r), ["backup-proof-unreadable:-"], "not backup-unverified, not healthy");
        assert.equal(r.healthy, false);
        assert.equal(r.warnings[0].message, "the records of the restores proven from pgr-dev-backup could not be read " +
            "(c1: Error response from daemon: container c1 is restarting): whether one is proven, and how long ago, is unknown");
        assert.equal(r.warnings[0].action, "npm run status again; a record that stays unreadable is written anew by a proof: npm run verify-backup -- dev");
        assert.equal(r.backup?.error, null);
        assert.equal(r.backup?.backups, 2);
        assert.equal(r.backup?.stanzaStatus, "ok");
        assert.equal(r.backup?.verified, null);
        assert.equal(r.backup?.proofUnread, "c1: Error response from daemon: container c1 is restarting");
        assert.match(renderText(r), /^backup    pgr-dev-backup \(stanza pgr-dev\): 2 backups, newest incr 20250101-000000F_20250101-000001I 1s ago; PROOF RECORDS CANNOT BE READ \(c1: Error response from daemon: container c1 is restarting\)$/m);
        assert.doesNotMatch(renderText(r), /NEVER VERIFIED|\(stanza pgr-dev\): CANNOT BE READ/);
        // With a schedule, its overdue check and scheduler still count; with no backup, backup-none says the more pressing.
        const plan = planFromOutputs("dev", { ...outputs("async"), backup: { volume: "pgr-dev-backup", stanza: "pgr-dev",
            schedule: { containerName: "pgr-dev-backup-scheduler", fullSeconds: 86400, diffSeconds: 0, incrSeconds: 60 } } }, STATE);
        const late = buildReport(plan, { ...seen({ ...unread, backups: [{ label: "20241231-000000F", type: "full", stoppedAt: at("2024-12-31T23:40:00Z") }] }),
            backupScheduler: { state: "stopped" } });
        assert.deepEqual(codes(late), ["backup-proof-unreadable:-", "backup-scheduler-down:-", "backup-overdue:-"]);
        assert.match(renderText(late), /; PROOF RECORDS CANNOT BE READ \(c1: .*\); scheduled: full every 1d, incr every 1m \(scheduler STOPPED\)$/m);
        assert.deepEqual(codes(buildReport(withBackup(), seen({ ...unread, backups: [] }))), ["backup-none:-"]);
    });

    test("a repository pgBackRest could describe: proofUnread null in the JSON, the field always there", () => {
        const r = buildReport(withBackup(), seen({ reachable: true, backups: TWO, stanzaStatus: "ok",
            verified: { verifiedAt: "2024-12-31T22:00:01Z", backup: "20250101-000000F", marker: { found: true } } }));
        assert.equal(JSON.parse(JSON.stringify(r)).backup.proofUnread, null);
        const down = buildReport(withBackup(), seen({ reachable: false, error: "x" }));
        assert.equal(JSON.parse(JSON.stringify(down)).backup.proofUnread, null);
    });

    test("the last attempt to prove a restore failed: a warning with when, which backup and why; LAST PROOF FAILED on the line", () => {
        const r = buildReport(withBackup(), seen({ reachable: true, backups: TWO, stanzaStatus: "ok",
            verified: { verifiedAt: "2024-12-31T22:00:01Z", backup: "20250101-000000F", marker: { found: true } },
            verifyFailed: { failedAt: "2024-12-31T23:30:00Z", backup: "20250101-000000F_20250101-000001I", error: "the restore lacks the marker" } }));
        assert.deepEqual(codes(r), ["backup-verify-failed:-"]);
        assert.equal(r.warnings[0].message, "the last attempt to prove a restore of the backups in pgr-dev-backup failed at 2024-12-31T23:30:00Z " +
            "(backup 20250101-000000F_20250101-000001I): the restore lacks the marker");
        assert.equal(r.warnings[0].action, "npm run verify-backup -- dev");
        assert.match(renderText(r), /; restore verified 2h ago \(of 20250101-000000F\), LAST PROOF FAILED 2024-12-31T23:30:00Z$/m);
    });

    describe("with backup.schedule", () => {
        const scheduled = (schedule: Record<string, unknown>): Plan => planFromOutputs("dev", { ...outputs("async"), backup: { volume: "pgr-dev-backup",
            stanza: "pgr-dev", schedule: { containerName: "pgr-dev-backup-scheduler", fullSeconds: 86400, diffSeconds: 0, incrSeconds: 3600, ...schedule } } },
        STATE);
        const VERIFIED = { verifiedAt: "2024-12-31T23:30:00Z", backup: "20250101-000000F", marker: { found: true } };
        const withScheduler = (state: "running" | "stopped" | "missing" | "unknown", backups = TWO): Observation => ({ ...seen({ reachable: true, backups,
            stanzaStatus: "ok", verified: VERIFIED }), backupScheduler: { state } as Observation["backupScheduler"] & object });

        test("the scheduler running and the newest backup within the schedule: healthy, the intervals and the scheduler on the line", () => {
            const plan = scheduled({});
            assert.deepEqual(plan.backup?.schedule, { containerName: "pgr-dev-backup-scheduler", fullSeconds: 86400, diffSeconds: 0, incrSeconds: 3600 });
            const r = buildReport(plan, withScheduler("running"));
            assert.deepEqual(codes(r), []);
            assert.match(renderText(r), /restore verified 30m ago \(of 20250101-000000F\); scheduled: full every 1d, incr every 1h \(scheduler running\)$/m);
        });

        test("the scheduler stopped or gone: a warning naming what starts it", () => {
            const stopped = buildReport(scheduled({}), withScheduler("stopped"));
            assert.deepEqual(codes(stopped), ["backup-scheduler-down:-"]);
            assert.equal(stopped.warnings[0].message, "the backup scheduler pgr-dev-backup-scheduler is stopped: no backup is taken and no restore proven on schedule");
            assert.equal(stopped.warnings[0].action, "docker -H unix:///var/run/docker.sock start pgr-dev-backup-scheduler");
            assert.match(renderText(stopped), /\(scheduler STOPPED\)$/m);
            const gone = buildReport(scheduled({}), withScheduler("missing"));
            assert.equal(gone.warnings[0].action, "run up (scripts/deploy.sh dev): it makes the scheduler again");
        });

        test("the scheduler's engine not answering: unknown, not said down nor to be made again", () => {
            const obs = withScheduler("unknown");
            const r = buildReport(scheduled({}), { ...obs, backupScheduler: { state: "unknown", error: "no answer within 10 s" } });
            assert.deepEqual(codes(r), ["backup-scheduler-unknown:-"]);
            assert.equal(r.warnings[0].message, "the backup scheduler pgr-dev-backup-scheduler could not be checked (no answer within 10 s): " +
                "whether backups are taken on schedule is unknown");
            assert.equal(r.warnings[0].action, "bring the engine back (docker -H unix:///var/run/docker.sock version), then npm run status again");
        });

        test("the newest backup older than twice the shortest interval (and its interval plus ten minutes): scheduled backups are failing", () => {
            // Checked at 2025-01-01T00:00:01Z; an incr every minute: overdue past max(2 × 60, 60 + 600) = 660 s.
            const newest = (iso: string) => [{ label: "20241231-000000F", type: "full", stoppedAt: at(iso) }];
            assert.deepEqual(codes(buildReport(scheduled({ incrSeconds: 60 }), withScheduler("running", newest("2024-12-31T23:50:00Z")))), [], "601 s");
            const late = buildReport(scheduled({ incrSeconds: 60 }), withScheduler("running", newest("2024-12-31T23:40:00Z")));
            assert.deepEqual(codes(late), ["backup-overdue:-"], "1201 s");
            assert.equal(late.warnings[0].message, "the newest backup in pgr-dev-backup (20241231-000000F) ended 2024-12-31T23:40:00.000Z, " +
                "longer ago than twice the schedule's shortest interval (60 s): scheduled backups are failing");
            assert.equal(late.warnings[0].action, "docker -H unix:///var/run/docker.sock logs pgr-dev-backup-scheduler");
        });
    });
});

describe("status: the primary's WAL archiving", () => {
    const archiving = (over: Partial<ArchiverRow>): Observation => {
        const obs = healthyAsync()[1];
        return observation({ ...Object.fromEntries(Object.entries(obs.nodes).map(([k, v]) => [k, [v.probe, v.container]])),
            primary: [primaryProbe({ archiver: { mode: "on", lastArchivedWal: "000000010000000000000007", lastArchivedAt: "2025-01-01T00:00:00.5+00:00",
                lastFailedWal: null, lastFailedAt: null, failedCount: 0, ready: 0, oldestReadyAt: null, ...over } }), running("aaa111")] });
    };

    test("archiving: healthy, one line with what waits and the last segment's age", () => {
        const r = buildReport(healthyAsync()[0], archiving({}));
        assert.deepEqual(codes(r), []);
        assert.deepEqual(r.archive, { node: "primary", ready: 0, failing: null, stalled: null,
            lastArchived: { wal: "000000010000000000000007", at: "2025-01-01T00:00:00.5+00:00", ageSeconds: 1 } });
        assert.match(renderText(r), /^archive   primary: 0 segments waiting, last 000000010000000000000007 1s ago$/m);
        // A failure the archiver has since got past is not one now.
        assert.deepEqual(codes(buildReport(healthyAsync()[0], archiving({ lastFailedWal: "000000010000000000000006",
            lastFailedAt: "2024-12-31T23:59:00+00:00", failedCount: 3 }))), []);
    });

    test("failing since its last success: archive-failing on the primary, with the segments kept in pg_wal and what to look at", () => {
        const plan = planFromOutputs("dev", { ...outputs("async"), backup: { volume: "pgr-dev-backup", stanza: "pgr-dev" } }, STATE);
        const r = buildReport(plan, { ...archiving({ lastFailedWal: "000000010000000000000008", lastFailedAt: "2025-01-01T00:00:00.9+00:00",
            failedCount: 12, ready: 3 }), backup: { reachable: true, backups: [], stanzaStatus: "ok", verified: null } });
        assert.deepEqual(codes(r).filter((c) => c.startsWith("archive")), ["archive-failing:primary"]);
        const w = r.warnings.find((x) => x.code === "archive-failing")!;
        assert.equal(w.message, "primary cannot archive WAL: its last attempt (segment 000000010000000000000008, 2025-01-01T00:00:00.9+00:00) failed, " +
            "nothing archived since 2025-01-01T00:00:00.5+00:00; 3 segments wait in pg_wal (kept until archived: a restore cannot reach past them meanwhile)");
        assert.match(w.action, /^the repository pgr-dev-backup is full, unwritable or gone: see docker -H unix:\/\/\/var\/run\/docker.sock logs pgr-dev-primary/);
        assert.match(renderText(r), /^archive   primary: FAILING \(segment 000000010000000000000008 at 2025-01-01T00:00:00.9\+00:00\), 3 segments waiting/m);
        // Nothing ever archived, and a failure: failing too; archive_mode off: no line at all.
        assert.deepEqual(codes(buildReport(healthyAsync()[0], archiving({ lastArchivedWal: null, lastArchivedAt: null,
            lastFailedWal: "000000010000000000000001", lastFailedAt: "2025-01-01T00:00:00+00:00", failedCount: 1, ready: 1 }))), ["archive-failing:primary"]);
        assert.equal(buildReport(healthyAsync()[0], archiving({ mode: "off" })).archive, undefined);
    });

    test("segments waiting longer than 120 s and no attempt failed: archive-stalled (an archive_command that does not end); a moment's wait is none", () => {
        const plan = planFromOutputs("dev", { ...outputs("async"), backup: { volume: "pgr-dev-backup", stanza: "pgr-dev" } }, STATE);
        const r = buildReport(plan, { ...archiving({ ready: 4, oldestReadyAt: "2024-12-31T23:57:00+00:00" }),
            backup: { reachable: true, backups: [], stanzaStatus: "ok", verified: null } });
        assert.deepEqual(codes(r).filter((c) => c.startsWith("archive")), ["archive-stalled:primary"]);
        const w = r.warnings.find((x) => x.code === "archive-stalled")!;
        assert.match(w.message, /^primary archives nothing: the oldest of the 4 segments waiting in pg_wal has waited 18\ds \(complete at 2024-12-31T23:57:00\+00:00\), nothing archived since 2025-01-01T00:00:00.5\+00:00, and no attempt has failed: archive_command is running and not ending/);
        assert.match(w.action, /^the repository pgr-dev-backup is full, unwritable or gone: see docker -H unix:\/\/\/var\/run\/docker.sock logs pgr-dev-primary/);
        assert.match(renderText(r), /^archive   primary: STALLED \(the oldest waiting 18\ds, no attempt failed\), 4 segments waiting/m);
        assert.deepEqual(codes(buildReport(healthyAsync()[0], archiving({ ready: 1, oldestReadyAt: "2024-12-31T23:59:30+00:00" }))), [],
            "a segment complete half a minute ago is on its way");
        // A failure after the last success is archive-failing, not both.
        assert.deepEqual(codes(buildReport(healthyAsync()[0], archiving({ ready: 4, oldestReadyAt: "2024-12-31T23:57:00+00:00",
            lastFailedWal: "000000010000000000000008", lastFailedAt: "2025-01-01T00:00:00.9+00:00", failedCount: 1 }))), ["archive-failing:primary"]);
    });

    test("psql's answer read as the same row; a standby's empty answer is none", () => {
        assert.deepEqual(archiverFromPsql("on|000000010000000000000007|2025-01-01T00:00:00+00:00|||0|2|2025-01-01T00:00:30+00:00\n"), { mode: "on",
            lastArchivedWal: "000000010000000000000007", lastArchivedAt: "2025-01-01T00:00:00+00:00", lastFailedWal: null, lastFailedAt: null,
            failedCount: 0, ready: 2, oldestReadyAt: "2025-01-01T00:00:30+00:00" });
        assert.equal(archiverFromPsql("on|000000010000000000000007|2025-01-01T00:00:00+00:00|||0|2\n"), undefined, "the 7 columns of before");
        assert.equal(archiverFromPsql(""), undefined);
        assert.equal(archiverFromPsql("psql: error: connection refused"), undefined);
    });
});

describe("status: a node on another image than the stack's", () => {
    test("named with its image and version, with what to do; the table shows each node's image only while they differ", () => {
        const plan = planFromOutputs("dev", { ...outputs("async"), image: "postgres:13" }, STATE);
        assert.equal(plan.image, "postgres:13");
        const same = buildReport(plan, healthyAsync()[1]);
        assert.deepEqual(codes(same), []);
        assert.ok(!renderText(same).includes("IMAGE"), "one image: no column");
        const obs = observation({
            primary: [primaryProbe(), running("aaa111")],
            s1: [standbyProbe("0/3000100"), { ...running("bbb222"), image: "postgres:13.2" }],
            s2: [standbyProbe("0/3000000"), running("ccc333")],
        });
        const mixed = buildReport(plan, obs);
        assert.deepEqual(codes(mixed), ["image-differs:s1"]);
        assert.match(mixed.warnings[0].message, /^s1 runs postgres:13\.2 \(PostgreSQL 13\.16\), the stack's image is postgres:13: an image change that stopped midway/);
        assert.equal(mixed.warnings[0].action, "run up (scripts/deploy.sh dev): it rolls the nodes still on another image, one at a time");
        assert.match(renderText(mixed), /IMAGE \(VERSION\)/);
        assert.match(renderText(mixed), /^s1 .* postgres:13\.2 \(13\.16\)$/m);
        // A major upgrade midway: the header gives the primary's version, the table each node's.
        const upgrading = buildReport(plan, observation({
            primary: [primaryProbe(), running("aaa111")],
            s1: [standbyProbe("0/3000100", { version: "17.12" }), { ...running("bbb222"), image: "postgres:17" }],
            s2: [standbyProbe("0/3000000"), running("ccc333")],
        }));
        assert.match(renderText(upgrading), /PostgreSQL 13\.16 on the primary, others differ +timeline/);
        assert.match(renderText(upgrading), /^s1 .* postgres:17 \(17\.12\)$/m);
        assert.match(renderText(same), /PostgreSQL 13\.16 on every node +timeline/);
        // Outputs made before the image was one of them: nothing to compare with, no warning.
        assert.deepEqual(codes(buildReport(planFromOutputs("dev", outputs("async"), STATE), obs)), []);
    });
});

describe("status: text", () => {
    test("header, one row per node, data at risk", () => {
        const text = renderText(buildReport(...healthyAsync()));
        const lines = text.split("\n");
        assert.match(lines[0], /^stack dev +checked 2025-01-01T00:00:01.000Z +HEALTHY$/);
        assert.match(lines[1], /system 7000000000000000001 +PostgreSQL 13\.16 on every node +timeline 1 +WAL 0\/3000100/);
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
