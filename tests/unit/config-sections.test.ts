// Each section validator of config.ts on its own: given only what it takes, it returns exactly its
// own problems (none of another section's) and the part of the plan it checked. config.test.ts
// holds every message through validateConfig; here, what each section does and does not report.

import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
    ConfigError, KNOWN_KEYS, NodeSpec, RawConfig, validateBindAddress, validateCommitPolicy, validateConfig,
    validateDistinctNodes, validateEngine, validateFailoverAndTimeout, validateKeys, validateNames, validateNode,
    validateNodes, validateOldForm, validatePrimary, validateReplication, validateRetention, validateSecrets,
    validateSubnet,
} from "../../components/config";
import { DEFAULT_HOST, Engine, resolveEngine } from "../../components/engine";
import { parseSubnet, Subnet } from "../../components/ipv4";

const raw = (values: Record<string, unknown>): RawConfig =>
    Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
const SUBNET = (parseSubnet("172.18.0.0/24", 16, 29) as { subnet: Subnet }).subnet;
const LOCAL = DEFAULT_HOST;
const node = (name: string, address: string, port: number, more: Partial<NodeSpec> = {}): NodeSpec => ({ name, address, port, ...more });

describe("section validators", () => {
    test("keys: an unknown key is named with every known one; the old form's keys are left to validateOldForm", () => {
        assert.deepEqual(validateKeys(raw({ image: "postgres:17", standby: "x", primaryAddress: "172.18.0.101" })).problems,
            [`pg-replication:standby = "x" is not allowed: unknown key; known keys are ${KNOWN_KEYS.join(", ")}`]);
        assert.deepEqual(validateKeys(raw({ nodes: [], standbys: [] })).problems, []);
    });

    test("names: defaults from project and stack, the network's from the prefix; a bad image is its only problem", () => {
        const given = validateNames(raw({ namePrefix: "shop" }), { project: "pg-replication", stack: "Team/Dev" });
        assert.deepEqual(given, { problems: [], namePrefix: "shop", image: "postgres:13", networkName: "shop-net" });
        const bad = validateNames(raw({ image: "Postgres 13" }), { project: "p", stack: "s" });
        assert.deepEqual(bad.problems, ['pg-replication:image = "Postgres 13" is not allowed: expected a Docker image ' +
            "reference such as postgres:13"]);
        assert.equal(bad.namePrefix, "p-s");
    });

    test("engine: the default socket when none was resolved; why it could not be, each as a Docker engine problem", () => {
        assert.deepEqual(validateEngine({}), { problems: [], engine: { host: LOCAL, source: "default socket", local: true } });
        const remote = resolveEngine({ configHost: "ssh://db.example", env: {} });
        assert.deepEqual(validateEngine({ engine: remote, engineProblems: ["a", "b"] }),
            { problems: ["Docker engine: a", "Docker engine: b"], engine: remote });
    });

    test("secrets: which are set, and their problems as given", () => {
        assert.deepEqual(validateSecrets(raw({ superuserPassword: "(secret)" }), { secretProblems: ["backslash"] }),
            { problems: ["backslash"], superuserPasswordSet: true, replicationPasswordSet: false });
        assert.deepEqual(validateSecrets({}, {}).problems, []);
    });

    test("bind address: where this machine reaches the ports, and an engine that cannot say where", () => {
        const tcp = resolveEngine({ configHost: "tcp://10.1.2.3:2376", env: {} });
        assert.deepEqual(validateBindAddress(raw({ bindAddress: "0.0.0.0" }), tcp),
            { problems: [], bindAddress: "0.0.0.0", clientHost: "10.1.2.3" });
        assert.match(validateBindAddress({}, tcp).problems.join("\n"),
            /^pg-replication:bindAddress = "127\.0\.0\.1" is not allowed: the Docker engine is remote/);
        const unknown: Engine = { host: "fd://3", source: "DOCKER_HOST", local: false };
        assert.deepEqual(validateBindAddress(raw({ bindAddress: "0.0.0.0" }), unknown).problems, ["Docker engine: fd://3 (from " +
            "DOCKER_HOST) is neither a local socket nor a tcp:// or ssh:// address, so where its published ports can be reached " +
            "is unknown; use one of those forms"]);
    });

    test("subnet: the parsed network, or one problem and none", () => {
        assert.deepEqual(validateSubnet({}), { problems: [], subnet: SUBNET });
        assert.deepEqual(validateSubnet(raw({ subnet: "10.0.0.0/8" })),
            { problems: ['pg-replication:subnet = "10.0.0.0/8" is not allowed: expected a prefix length from /16 to /29'] });
    });

    test("old form: nothing when unused; a standbys list that does not parse comes before the form's own problem", () => {
        assert.deepEqual(validateOldForm(raw({ nodes: [] })), { problems: [], used: false });
        const found = validateOldForm(raw({ standbys: "[{" }));
        assert.equal(found.used, true);
        assert.equal(found.problems.length, 2);
        assert.equal(found.problems[0], 'pg-replication:standbys = "[{" is not allowed: expected a YAML list');
        assert.match(found.problems[1], /^pg-replication:standbys: the old form .*\n {6}pg-replication:primary: pg1\n/);
    });

    test("nodes: the default node when absent, none with the old form; a bad entry is skipped; repeats are not its concern", () => {
        assert.deepEqual(validateNodes({}, SUBNET, false), { problems: [], nodes: [node("pg1", "172.18.0.101", 5432)] });
        assert.deepEqual(validateNodes({}, SUBNET, true), { problems: [], nodes: [] });
        assert.deepEqual(validateNodes(raw({ nodes: [] }), SUBNET, true), { problems: [], nodes: [] });
        assert.deepEqual(validateNodes(raw({ nodes: [] }), SUBNET, false).problems,
            ["pg-replication:nodes = [] is not allowed: expected at least one node {name, address, port}"]);
        const mixed = validateNodes(raw({ nodes: ["pg1", node("pg2", "172.18.0.102", 5432), node("pg2", "172.18.0.102", 5432)] }),
            SUBNET, false);
        assert.deepEqual(mixed.problems, ['pg-replication:nodes[0] = "pg1" is not allowed: expected {name, address, port}']);
        assert.deepEqual(mixed.nodes.map((n) => n.name), ["pg2", "pg2"]);
    });

    test("node: an address outside the subnet is its only problem; without a subnet only the address's form is checked", () => {
        assert.deepEqual(validateNode(node("pg3", "172.19.0.5", 5434), 2, SUBNET).problems, ['pg-replication:nodes[2].address = ' +
            '"172.19.0.5" is not allowed: expected a host address inside 172.18.0.0/24 from 172.18.0.2 to 172.18.0.254 ' +
            "(172.18.0.1 is the gateway)"]);
        assert.deepEqual(validateNode(node("pg3", "172.19.0.5", 5434), 2, undefined), { problems: [], node: node("pg3", "172.19.0.5", 5434) });
        assert.deepEqual(validateNode(node("pg2", "172.18.0.102", 5432, { host: "tcp://10.0.0.12:2375", hostAddress: "10.0.0.13" }),
            1, SUBNET).problems, ['pg-replication:nodes[1].hostAddress = "10.0.0.13" is not allowed: the node\'s engine ' +
            "tcp://10.0.0.12:2375 is on 10.0.0.12, so its ports are published there: expected 10.0.0.12"]);
        assert.deepEqual(validateNode(null, 0, SUBNET),
            { problems: ["pg-replication:nodes[0] = null is not allowed: expected {name, address, port}"] });
    });

    test("distinct nodes: two nodes at one address give exactly that problem", () => {
        assert.deepEqual(validateDistinctNodes([node("pg1", "172.18.0.101", 5432), node("pg2", "172.18.0.101", 5433)], LOCAL).problems,
            ['pg-replication:nodes[1].address = "172.18.0.101" is not allowed: address already used by pg-replication:nodes[0].address; ' +
                "each node needs its own"]);
    });

    test("distinct nodes: one port on two engines is fine; across engines each needs a host address, and no two share one with a port", () => {
        const a = node("pg1", "172.18.0.101", 5432, { host: "unix:///run/a.sock", hostAddress: "10.0.0.11" });
        const b = node("pg2", "172.18.0.102", 5432, { host: "ssh://pg@10.0.0.12", hostAddress: "10.0.0.12" });
        assert.deepEqual(validateDistinctNodes([a, b], LOCAL).problems, []);
        assert.deepEqual(validateDistinctNodes([a, { ...b, hostAddress: "10.0.0.11" }], LOCAL).problems,
            ['pg-replication:nodes[1].hostAddress = "10.0.0.11:5432" is not allowed: host address and port already used by ' +
                "pg-replication:nodes[0].hostAddress; each node needs its own"]);
        assert.deepEqual(validateDistinctNodes([a, { ...b, hostAddress: undefined }], LOCAL).problems, ["pg-replication:nodes[1].hostAddress = " +
            "null is not allowed: the nodes run on more than one Docker engine, so pg2 needs the address of its engine's host " +
            "(ssh://pg@10.0.0.12) that the other nodes reach it at"]);
    });

    test("primary: the only node by default; to be named among several; nothing to check without nodes", () => {
        assert.deepEqual(validatePrimary({}, [{ name: "pg1" }]), { problems: [], primary: "pg1" });
        assert.deepEqual(validatePrimary({}, [{ name: "pg1" }, { name: "pg2" }]).problems, ["pg-replication:primary = null is not " +
            "allowed: expected the name of the node that is primary, one of pg1, pg2"]);
        assert.deepEqual(validatePrimary({}, []), { problems: [], primary: "" });
    });

    test("replication: the defaults' room for two clones per standby; no limit is -1; the lag bound in bytes", () => {
        assert.deepEqual(validateReplication({}, 2),
            { problems: [], user: "repuser", connectionLimit: 5, maxWalSenders: 10, maxSwitchoverLagBytes: 16 * 1024 * 1024 });
        assert.deepEqual(validateReplication({}, 3).problems, ['pg-replication:replicationConnectionLimit = "5 (the default)" is not ' +
            "allowed: expected -1 (no limit) or at least 6: each of the 3 standbys uses two connections while pg_basebackup -Xs clones it"]);
        const unlimited = validateReplication(raw({ replicationConnectionLimit: "-1", maxWalSenders: "20", maxSwitchoverLagBytes: "2GB" }), 9);
        assert.deepEqual(unlimited,
            { problems: [], user: "repuser", connectionLimit: -1, maxWalSenders: 20, maxSwitchoverLagBytes: 2 * 1024 ** 3 });
    });

    test("commit policy: async by default; sync counts every node but the primary; each problem of the sync keys", () => {
        assert.deepEqual(validateCommitPolicy({}, ["pg1", "pg2"], "pg1"), { problems: [], mode: "async", synchronousCommit: "on",
            syncStandbys: [], syncCount: 0, synchronousStandbyNames: "" });
        const sync = validateCommitPolicy(raw({ mode: "sync" }), ["pg1", "pg2", "pg3"], "pg2");
        assert.deepEqual(sync, { problems: [], mode: "sync", synchronousCommit: "on", syncStandbys: ["pg1", "pg2", "pg3"], syncCount: 1,
            synchronousStandbyNames: 'ANY 1 ("pg1", "pg3")' });
        assert.deepEqual(validateCommitPolicy(raw({ mode: "sync", syncStandbys: ["pg2", "pg2"] }), ["pg1", "pg2"], "pg1").problems,
            ['pg-replication:syncStandbys = "pg2" is not allowed: name already used by pg-replication:syncStandbys; each node needs its own']);
        assert.deepEqual(validateCommitPolicy(raw({ syncCount: "1", synchronousCommit: "on" }), ["pg1", "pg2"], "pg1").problems, [
            'pg-replication:syncCount = "1" is not allowed: only used when pg-replication:mode is sync (it is async)',
            'pg-replication:synchronousCommit = "on" is not allowed: only used when pg-replication:mode is sync (it is async)',
        ]);
    });

    test("retention: the defaults; an archive command that spans lines is its only problem", () => {
        assert.deepEqual(validateRetention({}), { problems: [], walKeepSize: "128MB", maxSlotWalKeepSize: "1GB", archiveCommand: undefined,
            archiveStallSeconds: 120 });
        assert.equal(validateRetention(raw({ archiveStallSeconds: "30" })).archiveStallSeconds, 30);
        for (const bad of ["29", "86401", "2m", "-1"]) {
            const r = validateRetention(raw({ archiveStallSeconds: bad }));
            assert.equal(r.problems.length, 1, bad);
            assert.match(r.problems[0], new RegExp(`^pg-replication:archiveStallSeconds = "?${bad}"? is not allowed: .*30.*86400`));
        }
        assert.deepEqual(validateRetention(raw({ archiveCommand: "cp %p /a\ncp %p /b" })).problems, ['pg-replication:archiveCommand = ' +
            '"cp %p /a\\ncp %p /b" is not allowed: expected a one-line shell command without single quotes, using %p and %f']);
    });

    test("failover and timeout: data loss only when said so; the readiness bound; the roll's transaction bound", () => {
        assert.deepEqual(validateFailoverAndTimeout(raw({ allowDataLoss: "true", readyTimeoutSeconds: "60", rollMaxTransactionSeconds: "30" })),
            { problems: [], allowDataLoss: true, readyTimeoutSeconds: 60, rollMaxTransactionSeconds: 30 });
        assert.deepEqual(validateFailoverAndTimeout(raw({ allowDataLoss: "yes" })),
            { problems: ['pg-replication:allowDataLoss = "yes" is not allowed: expected true or false'], allowDataLoss: false,
                readyTimeoutSeconds: 120, rollMaxTransactionSeconds: 15 });
        const bad = validateFailoverAndTimeout(raw({ rollMaxTransactionSeconds: "0" }));
        assert.equal(bad.problems.length, 1);
        assert.match(bad.problems[0], /^pg-replication:rollMaxTransactionSeconds = "?0"? is not allowed: .*1.*3600/);
    });

    test("validateConfig reports the sections' problems in order: keys, names, engine, secrets, ..., timeout", () => {
        const values = raw({ readyTimeoutSeconds: "1", mode: "x", nodes: [{ ...node("pg1", "172.18.0.101", 0) }], subnet: "x/1",
            image: "Bad", typo: "1" });
        const err = (() => {
            try {
                validateConfig(values, { project: "p", stack: "s", engineProblems: ["no context"], secretProblems: ["secret"] });
            } catch (e) {
                return e;
            }
            return undefined;
        })();
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.problems.map((p) => p.replace(/ = .*| .*/s, "")), ["pg-replication:typo", "pg-replication:image",
            "Docker", "secret", "pg-replication:subnet", "pg-replication:nodes[0].port", "pg-replication:mode",
            "pg-replication:readyTimeoutSeconds"]);
    });
});
