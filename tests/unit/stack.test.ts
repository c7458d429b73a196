import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, expectedSyncState, synchronousStandbyNamesFor } from "../../components/config";
import { TOPOLOGY_COMMAND } from "../../components/cluster";
import { codeDigest, TopologyInput } from "../../components/topology/contract";
import { goDuration, passfileField } from "../../components/node";
import { KEEP_PREVIOUS } from "../../components/secrets";
import * as harness from "../support/mocked-program";
import { clearStrings, DEV, isSecret, outputValue, plain, Recorded, Run, runProgram } from "../support/mocked-program";

const SUPER = "super-Secret:pw\\1";
// No backslash: the postgresql provider would store it doubled (config.ts secretProblems).
const REPL = "repl-Secret:pw'2";
const PG3 = { name: "pg3", address: "172.18.0.103", port: 5434 };

/** A command's environment without DOCKER_HOST (the engine's, asserted in config.test.ts). */
const env = (r: Recorded) => {
    const { DOCKER_HOST: _engine, ...rest } = plain(r.inputs.environment) as Record<string, string>;
    return rest;
};
/** The topology step's one JSON input. */
const topologyInput = (r: Run): TopologyInput => JSON.parse(env(r.get("Command", "cluster-topology")).TOPOLOGY_INPUT) as TopologyInput;
const labels = (r: Recorded) => Object.fromEntries((plain(r.inputs.labels) as { label: string; value: string }[])
    .map((l) => [l.label, l.value]));
/** Inputs that differ between two runs, by resource name. */
const differing = (a: Run, b: Run) => a.resources.filter((r) =>
    JSON.stringify(plain(r.inputs)) !== JSON.stringify(plain(b.get(r.type, r.name).inputs))).map((r) => r.name);

const NODE_CHILDREN = (n: string) => [
    `pg-replication:index:PostgresNode::cluster-${n}`,
    `docker:index/volume:Volume::cluster-${n}-data`,
    `command:local:Command::cluster-${n}-passfile`,
    `command:local:Command::cluster-${n}-seed`,
    `docker:index/container:Container::cluster-${n}`,
    `command:local:Command::cluster-${n}-ready`,
    `command:local:Command::cluster-${n}-access`,
    `command:local:Command::cluster-${n}-streaming`,
];

describe("the dev stack (the tutorial's plan: pg1 primary, pg2 standby)", () => {
    let run: Run;
    before(async () => {
        run = await runProgram({ ...DEV, superuserPassword: SUPER, replicationPassword: REPL },
            ["superuserPassword", "replicationPassword"]);
    });

    test("declares one PostgresCluster with the same PostgresNode for each node", () => {
        assert.deepEqual(run.resources.map((r) => `${r.type}::${r.name}`), [
            "pg-replication:index:PostgresCluster::cluster",
            "pulumi:providers:docker::cluster-docker",
            "docker:index/network:Network::cluster-network",
            "docker:index/remoteImage:RemoteImage::cluster-image",
            "command:local:Command::cluster-upgrade",
            ...NODE_CHILDREN("pg1"),
            "command:local:Command::cluster-topology",
            "command:local:Command::cluster-set-superuser-password",
            "pulumi:providers:postgresql::cluster-sql",
            "postgresql:index/role:Role::cluster-replication-role",
            ...NODE_CHILDREN("pg2"),
            "command:local:Command::cluster-handover",
            "command:local:Command::cluster-replication-policy",
            "command:local:Command::cluster-upgrade-finish",
        ]);
        for (const r of run.resources.filter((x) => x.name !== "cluster")) {
            assert.ok(r.parent === "cluster" || /^cluster-pg\d$/.test(r.parent ?? ""), `${r.name} under ${r.parent}`);
        }
    });

    test("a bridge network with the tutorial's subnet and an explicit gateway, on the one docker provider", () => {
        const net = run.get("Network", "cluster-network");
        assert.equal(net.inputs.name, "dockernetwork");
        assert.deepEqual(plain(net.inputs.ipamConfigs), [{ subnet: "172.18.0.0/24", gateway: "172.18.0.1" }]);
        assert.equal(net.provider, "cluster-docker");
        assert.equal(net.opts.deleteBeforeReplace, true);
    });

    test("the docker provider on the resolved engine, its own check before an engine's first use left on", () => {
        // With disableDockerDaemonCheck a refresh against a failing engine drops its networks from the state.
        assert.deepEqual(plain(run.get("docker", "cluster-docker").inputs), { host: "unix:///var/run/docker.sock" });
    });

    test("every node has the same container definition whatever its role", () => {
        const [a, b] = ["cluster-pg1", "cluster-pg2"].map((n) => plain(run.get("Container", n).inputs));
        const shared = (c: any) => ({ ...c, name: 0, hostname: 0, ports: 0, networksAdvanced: 0, volumes: 0, labels: 0 });
        assert.deepEqual(shared(a), shared(b));
        assert.equal(a.name, "pg-replication-dev-pg1");
        assert.deepEqual(b.ports, [{ internal: 5432, external: 5433, ip: "127.0.0.1" }]);
        assert.deepEqual(b.networksAdvanced, [{ name: "dockernetwork", ipv4Address: "172.18.0.102" }]);
        assert.deepEqual(b.volumes, [{ volumeName: "pg-replication-dev-pg2-data", containerPath: "/var/lib/postgresql/data" }]);
        assert.deepEqual({ ...labels(run.get("Container", "cluster-pg2")), "pg-replication.seed": "x" }, {
            "pg-replication.project": "pg-replication", "pg-replication.stack": "dev", "pg-replication.node": "pg2",
            "pg-replication.role": "node", "pg-replication.address": "172.18.0.102", "pg-replication.seed": "x",
        });
        const settings = (a.command as string[]).filter((_, i, all) => all[i - 1] === "-c");
        assert.deepEqual(settings, ["listen_addresses=*", "wal_level=replica", "max_wal_senders=10", "max_replication_slots=10",
            "hot_standby=on", "wal_log_hints=on", "password_encryption=scram-sha-256", "archive_mode=off"]);
        for (const c of run.ofType("Container")) {
            assert.equal(c.opts.deleteBeforeReplace, true);
            assert.deepEqual(c.opts.ignoreChanges, ["uploads"]);
            assert.ok(isSecret(c.inputs.uploads), "uploads must be secret in state");
            assert.equal(c.inputs.destroyGraceSeconds, 60);
            assert.equal(c.inputs.restart, "unless-stopped");
            assert.equal(c.inputs.wait, undefined);
            assert.deepEqual([c.inputs.healthcheck.interval, c.inputs.healthcheck.startPeriod], ["1s", "2m0s"]);
        }
    });

    test("the seed's inputs say nothing about roles, so a switchover never touches it; its update only checks", () => {
        for (const n of ["pg1", "pg2"]) {
            const seed = run.get("Command", `cluster-${n}-seed`);
            assert.deepEqual(env(seed), {
                IMAGE: "postgres:13",
                VOLUME: `pg-replication-dev-${n}-data`,
                NODE: n,
                DOCKER_LABELS: `pg-replication.project=pg-replication pg-replication.stack=dev pg-replication.node=${n} pg-replication.role=helper`,
                STACK_LABELS: "pg-replication.project=pg-replication pg-replication.stack=dev",
                NETWORK: "dockernetwork",
                NODE_ADDRESS: n === "pg1" ? "172.18.0.101" : "172.18.0.102",
                REPLICATION_USER: "repuser",
                HELPER_CONTAINER: `pg-replication-dev-${n}-seed`,
            });
            assert.deepEqual(plain(seed.inputs.triggers), [`pg-replication-dev-${n}-data`]);
            assert.equal(seed.inputs.stdin, undefined);
            // The update clones in one case only: data of an older major than the image's, under a primary upgraded to it.
            assert.match(seed.inputs.update, /if \[ "\$data_major" = "\$image_major" \] \|\| \[ -z "\$image_major" \]; then\n[^\n]*\n    exit 0\nfi\n[\s\S]*\nclone_node\n$/);
            assert.match(seed.inputs.create, /clone_into "\$pgdata" "\$PRIMARY_ROUTE user=\$REPLICATION_USER application_name=\$NODE passfile=\$passfile" "\$NODE"/);
            assert.match(seed.inputs.create, /find_primary/);
            assert.match(seed.inputs.delete, /pg_drop_replication_slot/);
            assert.match(seed.inputs.delete, /find_primary/);
            assert.equal(seed.opts.deleteBeforeReplace, true);
            assert.deepEqual(seed.dependsOn, n === "pg1" ? ["cluster-pg1-passfile", "cluster-upgrade"]
                : ["cluster-pg2-passfile", "cluster-pg1", "cluster-topology", "cluster-replication-role"]);
        }
    });

    test("a standby's passfile and seed wait for the primary, the topology and the role; its volume waits for nothing of the primary's", () => {
        // What must go before R on destroy: every resource R depends on (a component in dependsOn
        // stands for it and all its descendants, as the SDK expands it), through outputs too, and
        // R's parent (a parent goes after its children). A standby volume reaching the primary's
        // container this way would be deleted, with the provider's 2 s wait, before the primary's
        // teardown starts.
        // Dependencies are recorded by name, and a PostgresNode and its container share one: a
        // name stands for both (a superset of the edges, never fewer); a parent is a component.
        const named = (n: string) => run.resources.filter((r) => r.name === n);
        const component = (n: string) => run.resources.filter((r) => r.name === n && r.type.startsWith("pg-replication:"));
        const descendants = (name: string): Recorded[] => run.resources.filter((r) => r.parent === name)
            .flatMap((r) => [r, ...(r.type.startsWith("pg-replication:") ? descendants(r.name) : [])]);
        const after = (from: Recorded[]): Set<string> => {
            const seen = new Set<Recorded>();
            const visit = (r: Recorded) => {
                for (const next of [...r.dependsOn.flatMap((d) => [...named(d), ...descendants(d)]), ...r.dataDeps.flatMap(named),
                    ...(r.parent ? component(r.parent) : [])]) {
                    if (!seen.has(next)) {
                        seen.add(next);
                        visit(next);
                    }
                }
            };
            from.forEach(visit);
            return new Set([...seen].map((r) => r.name));
        };
        const primaryParts = (s: Set<string>) => [...s].filter((n) => n.startsWith("cluster-pg1") || n === "cluster-topology").sort();
        assert.deepEqual(primaryParts(after([run.get("Volume", "cluster-pg2-data")])), []);
        assert.deepEqual(run.get("PostgresNode", "cluster-pg2").dependsOn, []);
        for (const waiting of ["cluster-pg2-passfile", "cluster-pg2-seed"]) {
            const before = after([run.get("Command", waiting)]);
            for (const needed of ["cluster-pg1", "cluster-pg1-ready", "cluster-pg1-access", "cluster-topology", "cluster-replication-role"]) {
                assert.ok(before.has(needed), `${waiting} must wait for ${needed}`);
            }
        }
        // The container (and so the gate and the rules) follows its seed.
        assert.ok(after([run.get("Container", "cluster-pg2")]).has("cluster-pg2-seed"));
    });

    test("the declared primary's seed does not wait for the network's create (the provider waits 2 s after it): a restore runs meanwhile", () => {
        const seed = (n: string) => run.get("Command", `cluster-${n}-seed`);
        assert.ok(!seed("pg1").dataDeps.includes("cluster-network"), seed("pg1").dataDeps.join(" "));
        assert.equal(plain(seed("pg1").inputs.environment).NETWORK, plain(seed("pg2").inputs.environment).NETWORK, "the same name");
        assert.ok(seed("pg2").dataDeps.includes("cluster-network"), "a standby's seed clones over the network: it waits for it");
        assert.ok(run.get("Container", "cluster-pg1").dataDeps.includes("cluster-network"), "the container joins it");
    });

    test("every node's passfile matches any host (it follows whichever node is primary), as a secret", () => {
        const passfile = run.get("Command", "cluster-pg2-passfile");
        assert.ok(isSecret(passfile.inputs.stdin));
        assert.equal(plain(passfile.inputs.stdin), "*:5432:*:repuser:repl-Secret\\:pw'2\n");
        assert.equal(passfileField("a\\b:c"), "a\\\\b\\:c", "libpq's passfile escapes \\ and :");
        assert.match(passfile.inputs.create, /--network none/);
        assert.ok(isSecret(run.get("Command", "cluster-pg1-passfile").inputs.stdin));
    });

    test("every node admits replication from every node's /32 and gets the WAL retention", () => {
        for (const n of ["pg1", "pg2"]) {
            const access = run.get("Command", `cluster-${n}-access`);
            assert.deepEqual(env(access), {
                NODE_CONTAINER: `pg-replication-dev-${n}`, REPLICATION_USER: "repuser", NODE_ADDRESSES: "172.18.0.101 172.18.0.102",
                WAL_KEEP_SIZE: "128MB", MAX_SLOT_WAL_KEEP_SIZE: "1GB",
            });
            assert.deepEqual(access.dependsOn, [`cluster-${n}-ready`]);
            assert.deepEqual(plain(run.get("Command", `cluster-${n}-ready`).inputs.triggers), [`cluster-${n}-id`]);
        }
    });

    test("topology: the declared primary, the nodes and the commit policy; after the primary's node, before the role", () => {
        const topology = run.get("Command", "cluster-topology");
        assert.deepEqual(Object.keys(env(topology)).sort(), ["TOPOLOGY_CODE", "TOPOLOGY_INPUT"]);
        assert.deepEqual(topologyInput(run), {
            namePrefix: "pg-replication-dev",
            dockerHost: "unix:///var/run/docker.sock",
            networkName: "dockernetwork",
            image: "postgres:13",
            helperLabels: { "pg-replication.project": "pg-replication", "pg-replication.stack": "dev", "pg-replication.role": "helper" },
            nodes: [{ name: "pg1", address: "172.18.0.101", port: 5432 }, { name: "pg2", address: "172.18.0.102", port: 5433 }],
            primary: "pg1",
            replication: { user: "repuser", mode: "async", syncStandbys: [], syncCount: 0, synchronousCommit: "on",
                maxSwitchoverLagBytes: 16 * 1024 * 1024 },
            timeoutSeconds: 120,
            downNodes: [],
            allowDataLoss: false,
        } satisfies TopologyInput);
        assert.equal(env(topology).TOPOLOGY_CODE, codeDigest(), "the step's code digest, so new code re-runs it");
        assert.doesNotMatch(JSON.stringify(topology.inputs), new RegExp(process.cwd().replace(/[/.]/g, "\\$&")),
            "no machine-specific path in the step's inputs");
        assert.equal(topology.inputs.triggers, undefined, "a change is an update (a switchover), never a replacement");
        assert.deepEqual(topology.dependsOn, ["cluster-pg1"]);
        assert.equal(topology.inputs.create, TOPOLOGY_COMMAND);
        assert.match(topology.inputs.create, /exec node scripts\/topology-step\.js$/);
        assert.deepEqual(run.get("Command", "cluster-set-superuser-password").dependsOn, ["cluster-topology"]);
        assert.ok(run.get("pulumi:providers:postgresql", "cluster-sql").dataDeps.includes("cluster-set-superuser-password"));
        assert.deepEqual(run.get("Command", "cluster-pg2-passfile").dependsOn, ["cluster-pg1", "cluster-topology", "cluster-replication-role"]);
        assert.deepEqual(run.get("Command", "cluster-pg1-passfile").dependsOn, ["cluster-upgrade"]);
    });

    test("the step's command, run where the project is not (an Automation API workDir), fails naming where it looked and what to do", () => {
        const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "automation-"));
        try {
            const r = spawnSync("/bin/sh", ["-c", TOPOLOGY_COMMAND], { cwd: elsewhere, encoding: "utf8" });
            assert.equal(r.status, 1);
            assert.match(r.stderr, new RegExp(`scripts/topology-step\\.js is not in ${fs.realpathSync(elsewhere)}, where the engine started`));
            assert.match(r.stderr, /run pulumi in the project directory \(an Automation API workspace: a workDir that holds the project\)/);
        } finally {
            fs.rmSync(elsewhere, { recursive: true, force: true });
        }
    });

    test("the replication role goes through a provider pointed at the declared primary", () => {
        const provider = run.get("pulumi:providers:postgresql", "cluster-sql");
        assert.equal(plain(provider.inputs.host), "127.0.0.1");
        assert.equal(plain(provider.inputs.port), "5432");
        assert.ok(isSecret(provider.inputs.password));
        assert.equal(plain(provider.inputs.password), SUPER);
        const role = run.get("Role", "cluster-replication-role");
        assert.equal(role.provider, "cluster-sql");
        assert.deepEqual([role.inputs.name, role.inputs.login, role.inputs.replication, role.inputs.connectionLimit],
            ["repuser", true, true, 5]);
        assert.equal(plain(role.inputs.password), REPL);
        assert.equal((role.opts.deletedWith as any)?.__name, "cluster-pg1-data");
        const set = run.get("Command", "cluster-set-superuser-password");
        assert.equal(plain(set.inputs.stdin), "ALTER ROLE postgres PASSWORD 'super-Secret:pw\\1';\n");
        assert.equal(env(set).PRIMARY_CONTAINER, "pg-replication-dev-pg1");
    });

    test("the commit policy comes last, on the declared primary, and expects each standby's sync_state", () => {
        const policy = run.get("Command", "cluster-replication-policy");
        assert.deepEqual(policy.dependsOn, ["cluster-pg1", "cluster-pg2"]);
        assert.deepEqual({ ...env(policy), PRIMARY_CONTAINER_ID: "-" }, {
            PRIMARY_CONTAINER: "pg-replication-dev-pg1", PRIMARY_CONTAINER_ID: "-", SYNC_NAMES: "", SYNC_COMMIT: "on",
            EXPECTED: "pg2=async", TIMEOUT: "120",
        });
        assert.match(policy.inputs.delete, /ALTER SYSTEM RESET synchronous_standby_names/);
    });

    test("every command but the password generators logs stderr only", () => {
        for (const c of run.ofType("Command")) {
            assert.equal(c.inputs.logging, "stderr", c.name);
        }
    });

    test("no password appears anywhere in plain text in what the engine stores", () => {
        const leaks = run.resources.flatMap((r) => clearStrings(r.inputs)
            .filter((s) => s.includes("Secret:pw") || s.includes("Secret\\:pw"))
            .map((s) => `${r.type}::${r.name}: ${s}`));
        assert.deepEqual(leaks, []);
        for (const r of run.resources.filter((x) => x.type.startsWith("pg-replication:"))) {
            assert.deepEqual(r.inputs, {}, `${r.name}: component inputs are saved in state`);
        }
    });

    test("outputs: primary, nodes with roles and promised sync states, replication, network, engine", async () => {
        const out = run.outputs;
        assert.deepEqual({ ...out.primary, connectionString: undefined, containerName: await outputValue(out.primary.containerName) }, {
            name: "pg1", host: "127.0.0.1", port: 5432, containerName: "pg-replication-dev-pg1", connectionString: undefined,
        });
        assert.deepEqual({ ...out.nodes.pg2, connectionString: undefined, containerName: await outputValue(out.nodes.pg2.containerName),
            version: undefined }, {
            name: "pg2", host: "127.0.0.1", port: 5433, address: "172.18.0.102", containerName: "pg-replication-dev-pg2",
            engine: "unix:///var/run/docker.sock", role: "standby", syncState: "async", connectionString: undefined, version: undefined,
        });
        // The version is what the node's readiness gate printed (its stdout).
        assert.equal(await outputValue(out.nodes.pg2.version), "stdout-of-cluster-pg2-ready");
        assert.equal(out.nodes.pg1.role, "primary");
        assert.equal(out.nodes.pg1.syncState, undefined);
        assert.deepEqual(out.replication, { mode: "async", user: "repuser", synchronousStandbyNames: "", synchronousCommit: "on",
            walKeepSize: "128MB", maxSlotWalKeepSize: "1GB", archiveStallSeconds: 120 });
        assert.equal(out.network.subnet, "172.18.0.0/24");
        assert.deepEqual(out.engine, { host: "unix:///var/run/docker.sock" });
        for (const url of [out.primary.connectionString, out.nodes.pg2.connectionString]) {
            assert.equal(await pulumi.isSecret(url), true);
        }
        assert.equal(await outputValue(out.nodes.pg2.connectionString),
            `postgresql://postgres:${encodeURIComponent(SUPER)}@127.0.0.1:5433/postgres`);
    });
});

describe("a switchover is a change of `primary` only", () => {
    let one: Run;
    let two: Run;
    before(async () => {
        one = await runProgram(DEV);
        two = await runProgram({ ...DEV, primary: "pg2" });
    });

    test("no container, volume, seed, passfile or access rule changes; topology, the handover, the password, provider and policy do", () => {
        // The handover's target is the first node that is not the declared primary: pg1 now.
        assert.deepEqual(differing(one, two).sort(),
            ["cluster-handover", "cluster-replication-policy", "cluster-set-superuser-password", "cluster-sql", "cluster-topology",
                // The upgrade's steps name the declared primary; on a switchover each finds its container on the image and stops there.
                "cluster-upgrade", "cluster-upgrade-finish"]);
        assert.equal(topologyInput(two).primary, "pg2");
        assert.equal(plain(two.get("pulumi:providers:postgresql", "cluster-sql").inputs.port), "5433");
    });

    test("outputs follow the declared primary", () => {
        assert.equal(two.outputs.primary.name, "pg2");
        assert.equal(two.outputs.primary.port, 5433);
        assert.equal(two.outputs.nodes.pg1.role, "standby");
        assert.equal(two.outputs.nodes.pg2.role, "primary");
    });
});

describe("an image change on a running cluster rolls: the order is in dependencies only", () => {
    const THREE = { ...DEV, image: "postgres:13.2", nodes: [...(DEV.nodes as object[]), PG3] };
    let plain3: Run;
    let rolled: Run;
    before(async () => {
        plain3 = await runProgram(THREE);
        rolled = await runProgram(THREE, [], "dev", { roll: { standbys: ["pg2", "pg3"] } });
    });

    test("the same resources with the same inputs: the up after a roll has nothing to change", () => {
        assert.deepEqual(rolled.resources.map((r) => r.name).sort(), plain3.resources.map((r) => r.name).sort());
        assert.deepEqual(differing(plain3, rolled), []);
    });

    test("each standby's container waits for the previous one's streaming gate; the handover for the last; the primary's for the handover", () => {
        assert.ok(!rolled.get("Container", "cluster-pg2").dependsOn.some((d) => /streaming|handover/.test(d)));
        assert.ok(rolled.get("Container", "cluster-pg3").dependsOn.includes("cluster-pg2-streaming"));
        assert.deepEqual(rolled.get("Command", "cluster-handover").dependsOn, ["cluster-pg3-streaming"]);
        assert.ok(rolled.get("Container", "cluster-pg1").dependsOn.includes("cluster-handover"));
        assert.deepEqual(rolled.get("Command", "cluster-topology").dependsOn, ["cluster-pg1"]);
        // Rolled standbys are declared first and wait for nothing of the primary's: it is replaced after them.
        assert.deepEqual(rolled.get("Command", "cluster-pg2-seed").dependsOn, ["cluster-pg2-passfile"]);
    });

    test("a hold (a failover planned mid-roll): the held nodes' containers keep the image they run, the others take the stack's", async () => {
        const held = await runProgram(THREE, [], "dev", { heldImages: { pg1: "postgres:13.1", pg3: "postgres:13.1" } });
        assert.deepEqual(["pg1", "pg2", "pg3"].map((n) => held.get("Container", `cluster-${n}`).inputs.image),
            ["postgres:13.1", "postgres:13.2", "postgres:13.1"]);
        // The upgrade step looks at the primary's held image: nothing to upgrade in this up.
        assert.equal(env(held.get("Command", "cluster-upgrade")).IMAGE, "postgres:13.1");
        assert.equal(env(plain3.get("Command", "cluster-upgrade")).IMAGE, "postgres:13.2");
        // No order between the nodes: the topology step's failover is what this up does.
        assert.ok(!held.get("Container", "cluster-pg3").dependsOn.some((d) => /streaming|handover/.test(d)));
    });

    test("without a roll the handover comes after every node and no container waits for another node", () => {
        assert.deepEqual(plain3.get("Command", "cluster-handover").dependsOn.sort(), ["cluster-pg1", "cluster-pg2", "cluster-pg3"]);
        for (const n of ["pg1", "pg2", "pg3"]) {
            assert.ok(!plain3.get("Container", `cluster-${n}`).dependsOn.some((d) => /streaming|handover/.test(d)), n);
        }
    });

    test("the handover is the topology step towards the first standby, acting only on a primary of another image", () => {
        const input = JSON.parse(env(rolled.get("Command", "cluster-handover")).TOPOLOGY_INPUT) as TopologyInput;
        assert.equal(input.primary, "pg2");
        assert.deepEqual(input.handover, { image: "postgres:13.2", maxTransactionSeconds: 15 });
        assert.equal(topologyInput(rolled).handover, undefined);
        assert.equal(topologyInput(rolled).primary, "pg1");
        assert.equal(rolled.get("Command", "cluster-handover").inputs.create, TOPOLOGY_COMMAND);
    });

    test("every node has a streaming gate, run for each new container, bounded by the switchover's lag bound", () => {
        for (const n of ["pg1", "pg2", "pg3"]) {
            const gate = rolled.get("Command", `cluster-${n}-streaming`);
            assert.deepEqual(plain(gate.inputs.triggers), [`cluster-${n}-id`]);
            assert.equal(env(gate).MAX_LAG_BYTES, String(16 * 1024 * 1024));
            assert.equal(env(gate).NODE, n);
            assert.deepEqual(gate.dependsOn, [`cluster-${n}-ready`]);
        }
    });

    test("a single node has no handover", async () => {
        const one = await runProgram({ ...DEV, nodes: [(DEV.nodes as object[])[0]] });
        assert.equal(one.ofType("Command").filter((r) => r.name === "cluster-handover").length, 0);
    });
});

describe("changing the plan", () => {
    let one: Run;
    let three: Run;
    before(async () => {
        one = await runProgram(DEV);
        three = await runProgram({ ...DEV, nodes: [...(DEV.nodes as object[]), PG3] });
    });

    test("adding a node leaves every existing container and seed untouched; access rules and policy widen", () => {
        for (const name of ["cluster-pg1", "cluster-pg2"]) {
            assert.deepEqual(three.get("Container", name).inputs, one.get("Container", name).inputs, name);
            assert.deepEqual(three.get("Command", `${name}-seed`).inputs, one.get("Command", `${name}-seed`).inputs);
        }
        assert.equal(env(three.get("Command", "cluster-pg1-access")).NODE_ADDRESSES, "172.18.0.101 172.18.0.102 172.18.0.103");
        assert.equal(env(three.get("Command", "cluster-replication-policy")).EXPECTED, "pg2=async pg3=async");
    });

    test("F1/M2: a new replicationPassword or readyTimeoutSeconds changes no container and no seed", async () => {
        const changed = await runProgram({ ...DEV, replicationPassword: "another-one", readyTimeoutSeconds: "300" }, ["replicationPassword"]);
        const base = await runProgram({ ...DEV, replicationPassword: "first-one" }, ["replicationPassword"]);
        assert.deepEqual(differing(base, changed).sort(), ["cluster-handover", "cluster-pg1-passfile", "cluster-pg1-ready",
            "cluster-pg1-streaming", "cluster-pg2-passfile", "cluster-pg2-ready", "cluster-pg2-streaming", "cluster-replication-policy",
            "cluster-replication-role", "cluster-topology", "cluster-upgrade"]);
    });

    test("a new superuserPassword changes only the ALTER ROLE command, the provider and the ignored uploads", async () => {
        const a = await runProgram({ ...DEV, superuserPassword: "first-one" }, ["superuserPassword"]);
        const b = await runProgram({ ...DEV, superuserPassword: "another-one" }, ["superuserPassword"]);
        assert.deepEqual(differing(a, b).sort(), ["cluster-pg1", "cluster-pg2", "cluster-set-superuser-password", "cluster-sql"]);
        const before = plain(a.get("Container", "cluster-pg1").inputs);
        const after = plain(b.get("Container", "cluster-pg1").inputs);
        assert.deepEqual({ ...after, uploads: undefined }, { ...before, uploads: undefined }, "only uploads, which ignoreChanges covers");
    });

    test("the same config gives the same names and inputs (deterministic)", async () => {
        const again = await runProgram(DEV);
        assert.deepEqual(again.resources.map((r) => [r.type, r.name, r.inputs]), one.resources.map((r) => [r.type, r.name, r.inputs]));
    });
});

describe("sync with three nodes (quorum), as in Pulumi.pg17.yaml", () => {
    let run: Run;
    let switched: Run;
    const pg17 = { ...DEV, image: "postgres:17", mode: "sync", synchronousCommit: "remote_apply", nodes: [...(DEV.nodes as object[]), PG3] };
    before(async () => {
        run = await runProgram(pg17, [], "pg17");
        switched = await runProgram({ ...pg17, primary: "pg2" }, [], "pg17");
    });

    test("the policy names the nodes other than the primary in a quorum and expects quorum", () => {
        const apply = env(run.get("Command", "cluster-replication-policy"));
        assert.equal(apply.SYNC_NAMES, 'ANY 1 ("pg2", "pg3")');
        assert.equal(apply.SYNC_COMMIT, "remote_apply");
        assert.equal(apply.EXPECTED, "pg2=quorum pg3=quorum");
        assert.equal(run.outputs.nodes.pg3.syncState, "quorum");
    });

    test("after a switchover to pg2 the quorum is pg1 and pg3", () => {
        const input = topologyInput(switched);
        assert.equal(synchronousStandbyNamesFor(input.replication, input.primary), 'ANY 1 ("pg1", "pg3")');
        assert.deepEqual(["pg1", "pg3"].map((n) => expectedSyncState(input.replication, input.primary, n)), ["quorum", "quorum"]);
        assert.equal(switched.outputs.replication.synchronousStandbyNames, 'ANY 1 ("pg1", "pg3")');
    });

    test("synchronous settings are not in any container's command, so they never restart it", () => {
        for (const c of run.ofType("Container")) {
            assert.ok(!(plain(c.inputs.command) as string[]).some((a) => a.startsWith("synchronous")), c.name);
        }
    });
});

describe("durations are spelled as Go prints them", () => {
    test("goDuration matches time.Duration.String for whole seconds", () => {
        assert.deepEqual([1, 59, 60, 61, 120, 3600, 3661].map(goDuration), ["1s", "59s", "1m0s", "1m1s", "2m0s", "1h0m0s", "1h1m1s"]);
    });
});

describe("passwords left unset are generated once, as secrets", () => {
    let run: Run;
    before(async () => {
        run = await runProgram(DEV);
    });

    test("one generator command per password, its output secret and out of the logs", () => {
        for (const name of ["cluster-superuser-password", "cluster-replication-password"]) {
            const gen = run.get("Command", name);
            assert.deepEqual(gen.opts.additionalSecretOutputs, ["stdout", "stderr"]);
            assert.equal(gen.inputs.logging, "none");
            assert.equal(gen.inputs.update, KEEP_PREVIOUS);
        }
    });

    test("an update of a generator prints the password it already has, and never a new one", () => {
        const kept = spawnSync("/bin/sh", ["-c", KEEP_PREVIOUS], {
            env: { PATH: "/usr/bin:/bin", PULUMI_COMMAND_STDOUT: "Abc123previous" }, encoding: "utf8",
        });
        assert.equal(kept.stdout, "Abc123previous");
        const lost = spawnSync("/bin/sh", ["-c", KEEP_PREVIOUS], { env: { PATH: "/usr/bin:/bin" }, encoding: "utf8" });
        assert.notEqual(lost.status, 0);
        assert.match(lost.stderr, /the previous password is not available/);
    });

    test("the generated passwords flow, as secrets, to the containers, the role and the passfiles", () => {
        assert.ok(isSecret(run.get("Container", "cluster-pg1").inputs.uploads));
        assert.equal(plain(run.get("Role", "cluster-replication-role").inputs.password), "stdout-of-cluster-replication-password");
        assert.ok(run.get("Command", "cluster-pg2-passfile").dataDeps.includes("cluster-replication-password"));
    });
});

describe("bad config stops the program before any resource exists", () => {
    test("the error names the key and nothing is registered", async () => {
        await assert.rejects(runProgram({ ...DEV, primary: "pg9" }), (err: unknown) => {
            assert.ok(err instanceof ConfigError);
            assert.match((err as Error).message, /pg-replication:primary = "pg9" is not allowed: expected one of the nodes: pg1, pg2/);
            return true;
        });
        assert.deepEqual(harness.lastRegistered, []);
    });
});
