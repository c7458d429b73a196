import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import * as yaml from "js-yaml";
import {
    ConfigContext, ConfigError, expectedSyncState, RawConfig, secretProblems, standbyNamesSetting, synchronousStandbyNamesFor,
    validateConfig, validateRetention,
} from "../../components/config";
import { runProgram } from "../support/mocked-program";
import { Engine, resolveEngine } from "../../components/engine";

const ctx = { project: "pg-replication", stack: "dev" };
const P1 = { name: "pg1", address: "172.18.0.101", port: 5432 };
const S1 = { name: "standby1", address: "172.18.0.102", port: 5433 };
const S2 = { name: "standby2", address: "172.18.0.103", port: 5434 };
/** A plan of pg1 as primary and the given standbys, in the new form. */
const with_ = (...standbys: object[]) => ({ nodes: [P1, ...standbys], primary: "pg1" });

function raw(values: Record<string, unknown>): RawConfig {
    return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

/** The problems validateConfig reports, in order; fails if it accepts the config. */
function problems(values: Record<string, unknown>, context: ConfigContext = ctx): string[] {
    try {
        validateConfig(raw(values), context);
    } catch (err) {
        assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
        return [...err.problems];
    }
    assert.fail(`config was accepted: ${JSON.stringify(values)}`);
}

function rejects(values: Record<string, unknown>, expected: string): void {
    assert.deepEqual(problems(values), [expected]);
}

describe("defaults", () => {
    test("an empty config is the tutorial's plan with safe defaults", () => {
        const cfg = validateConfig({}, ctx);
        assert.equal(cfg.image, "postgres:13");
        assert.equal(cfg.subnet, "172.18.0.0/24");
        assert.equal(cfg.gateway, "172.18.0.1");
        assert.deepEqual(cfg.nodes, [{ name: "pg1", address: "172.18.0.101", port: 5432 }]);
        assert.equal(cfg.primary, "pg1");
        assert.equal(cfg.replication.maxSwitchoverLagBytes, 16 * 1024 * 1024);
        assert.equal(cfg.bindAddress, "127.0.0.1");
        assert.equal(cfg.clientHost, "127.0.0.1");
        assert.equal(cfg.namePrefix, "pg-replication-dev");
        assert.equal(cfg.networkName, "pg-replication-dev-net");
        assert.equal(cfg.replication.user, "repuser");
        assert.equal(cfg.replication.connectionLimit, 5);
        assert.equal(cfg.replication.mode, "async");
        assert.equal(cfg.replication.synchronousStandbyNames, "");
        assert.equal(cfg.replication.walKeepSize, "128MB");
        assert.equal(cfg.replication.maxSlotWalKeepSize, "1GB");
        assert.equal(cfg.archiveCommand, undefined);
        assert.deepEqual(cfg.labels, { "pg-replication.project": "pg-replication", "pg-replication.stack": "dev" });
        assert.equal(cfg.superuserPasswordSet, false);
        assert.equal(cfg.replicationPasswordSet, false);
    });

    test("a stack name that is no Docker name is made into one for the prefix", () => {
        assert.equal(validateConfig({}, { project: "pg-replication", stack: "Team/Dev" }).namePrefix, "pg-replication-team-dev");
    });

    for (const file of fs.readdirSync(path.join(__dirname, "../../..")).filter((f) => /^Pulumi\.[\w-]+\.yaml$/.test(f))) {
        test(`the shipped stack file ${file} is valid`, () => {
            const doc = yaml.load(fs.readFileSync(path.join(__dirname, "../../..", file), "utf8")) as { config: Record<string, unknown> };
            const values = Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(/^pg-replication:/, ""), v]));
            const cfg = validateConfig(raw(values), { project: "pg-replication", stack: file.split(".")[1] });
            assert.ok(cfg.nodes.length >= 2);
            assert.ok(cfg.nodes.some((n) => n.name === cfg.primary));
        });
    }
});

describe("replication policy", () => {
    test("async: no standby is waited for", () => {
        const cfg = validateConfig(raw(with_(S1, S2)), ctx);
        assert.equal(cfg.replication.synchronousStandbyNames, "");
        assert.equal(cfg.replication.synchronousCommit, "on");
        assert.equal(expectedSyncState(cfg.replication, "pg1", "standby1"), "async");
    });

    test("sync with one standby names it FIRST 1 and expects sync", () => {
        const cfg = validateConfig(raw({ ...with_(S1), mode: "sync" }), ctx);
        assert.equal(cfg.replication.synchronousStandbyNames, 'FIRST 1 ("standby1")');
        assert.equal(expectedSyncState(cfg.replication, "pg1", "standby1"), "sync");
        assert.equal(synchronousStandbyNamesFor(cfg.replication, "standby1"), 'FIRST 1 ("pg1")', "after a switchover the old primary counts");
    });

    test("sync with two or more standbys is a quorum", () => {
        const cfg = validateConfig(raw({ ...with_(S1, S2), mode: "sync", synchronousCommit: "remote_apply" }), ctx);
        assert.equal(cfg.replication.synchronousStandbyNames, 'ANY 1 ("standby1", "standby2")');
        assert.equal(cfg.replication.synchronousCommit, "remote_apply");
        assert.equal(expectedSyncState(cfg.replication, "pg1", "standby2"), "quorum");
        assert.equal(synchronousStandbyNamesFor(cfg.replication, "standby1"), 'ANY 1 ("pg1", "standby2")');
    });

    test("only the listed standbys count; the rest stay async", () => {
        const s3 = { name: "reports", address: "172.18.0.104", port: 5435 };
        const cfg = validateConfig(raw({ ...with_(S1, S2, s3), mode: "sync", syncStandbys: ["standby1", "standby2"], syncCount: 2,
            replicationConnectionLimit: "6" }), ctx);
        assert.equal(cfg.replication.synchronousStandbyNames, 'ANY 2 ("standby1", "standby2")');
        assert.equal(expectedSyncState(cfg.replication, "pg1", "reports"), "async");
        assert.equal(expectedSyncState(cfg.replication, "pg1", "standby1"), "quorum");
        // With standby1 primary, the listed set minus the primary is standby2 alone.
        assert.equal(synchronousStandbyNamesFor(cfg.replication, "standby1"), 'FIRST 1 ("standby2")');
    });

    test("standbyNamesSetting quotes each name", () => {
        assert.equal(standbyNamesSetting(["a", "b", "c"], 2), 'ANY 2 ("a", "b", "c")');
    });
});

describe("validation names the key, the value and what is allowed", () => {
    test("unknown key", () => {
        assert.match(problems({ standby: [S1] })[0],
            /^pg-replication:standby = .* is not allowed: unknown key; known keys are image, namePrefix, /);
    });
    test("subnet that is not CIDR", () => rejects({ subnet: "172.18.0/24" },
        'pg-replication:subnet = "172.18.0/24" is not allowed: expected an IPv4 network in CIDR form, such as 172.18.0.0/24'));
    test("subnet with host bits set", () => rejects({ subnet: "172.18.0.5/24" },
        'pg-replication:subnet = "172.18.0.5/24" is not allowed: expected the network address itself (host bits zero): 172.18.0.0/24'));
    test("subnet too small", () => rejects({ subnet: "172.18.0.0/30" },
        'pg-replication:subnet = "172.18.0.0/30" is not allowed: expected a prefix length from /16 to /29'));
    test("octet out of range", () => rejects({ nodes: [{ ...P1, address: "172.18.0.256" }] },
        'pg-replication:nodes[0].address = "172.18.0.256" is not allowed: expected an IPv4 address such as 172.18.0.101'));
    test("address outside the subnet", () => rejects(with_({ ...S1, address: "172.19.0.102" }),
        'pg-replication:nodes[1].address = "172.19.0.102" is not allowed: expected a host address inside ' +
        "172.18.0.0/24 from 172.18.0.2 to 172.18.0.254 (172.18.0.1 is the gateway)"));
    test("address on the gateway", () => rejects({ nodes: [{ ...P1, address: "172.18.0.1" }] },
        'pg-replication:nodes[0].address = "172.18.0.1" is not allowed: expected a host address inside ' +
        "172.18.0.0/24 from 172.18.0.2 to 172.18.0.254 (172.18.0.1 is the gateway)"));
    test("broadcast address", () => assert.match(problems({ nodes: [{ ...P1, address: "172.18.0.255" }] })[0],
        /^pg-replication:nodes\[0\]\.address = "172.18.0.255" is not allowed: expected a host address inside/));
    test("duplicate node names", () => rejects(with_(S1, { ...S2, name: "standby1" }),
        'pg-replication:nodes[2].name = "standby1" is not allowed: name already used by pg-replication:nodes[1].name; each node needs its own'));
    test("duplicate addresses", () => rejects(with_({ ...S1, address: "172.18.0.101" }),
        'pg-replication:nodes[1].address = "172.18.0.101" is not allowed: address already used by pg-replication:nodes[0].address; each node needs its own'));
    test("duplicate host ports", () => rejects(with_(S1, { ...S2, port: 5433 }),
        "pg-replication:nodes[2].port = 5433 is not allowed: host port already used by pg-replication:nodes[1].port on the same Docker engine (unix:///var/run/docker.sock); each node on an engine needs its own"));
    test("nodes on several engines: the same port on two engines is fine, and each node has its host address", () => {
        const cfg = validateConfig(raw({
            nodes: [{ ...P1, host: "unix:///run/a.sock", hostAddress: "10.0.0.11" },
                { ...S1, port: 5432, host: "ssh://pg@10.0.0.12", hostAddress: "10.0.0.12" }],
            primary: "pg1",
        }), ctx);
        assert.deepEqual(cfg.nodes.map((n) => [n.host, n.hostAddress, n.port]),
            [["unix:///run/a.sock", "10.0.0.11", 5432], ["ssh://pg@10.0.0.12", "10.0.0.12", 5432]]);
    });
    test("nodes on several engines: a restore is taken (the declared primary restored on its engine), backups only with backup.s3", () => {
        const nodes = [{ ...P1, host: "unix:///run/a.sock", hostAddress: "10.0.0.11" }, { ...S1, port: 5432, host: "ssh://pg@10.0.0.12", hostAddress: "10.0.0.12" }];
        const cfg = validateConfig(raw({ nodes, primary: "pg1", restore: { volume: "old-backup", stanza: "old" } }), ctx);
        assert.deepEqual([cfg.restore?.volume, cfg.restore?.stanza, cfg.restore?.target], ["old-backup", "old", { kind: "latest" }]);
        assert.match(problems({ nodes, primary: "pg1", backup: {} })[0], /^pg-replication:backup = \{\} is not allowed: with the nodes on more than one Docker engine the repository must be an S3 bucket/);
    });
    test("two nodes on one engine with the same port", () => rejects(
        with_({ ...S1, port: 5432, host: "unix:///var/run/docker.sock" }),
        "pg-replication:nodes[1].port = 5432 is not allowed: host port already used by pg-replication:nodes[0].port on the same Docker engine (unix:///var/run/docker.sock); each node on an engine needs its own"));
    test("a node on another engine needs host addresses for every node", () => assert.deepEqual(
        problems(with_({ ...S1, host: "tcp://10.0.0.12:2375" })), [
            "pg-replication:nodes[0].hostAddress = null is not allowed: the nodes run on more than one Docker engine, so pg1 needs the address of its engine's host (unix:///var/run/docker.sock) that the other nodes reach it at",
            "pg-replication:nodes[1].hostAddress = null is not allowed: the nodes run on more than one Docker engine, so standby1 needs the address of its engine's host (tcp://10.0.0.12:2375) that the other nodes reach it at",
        ]));
    test("an engine that is not a docker host form", () => rejects(with_({ ...S1, host: "10.0.0.12" }),
        'pg-replication:nodes[1].host = "10.0.0.12" is not allowed: expected a Docker engine as the docker provider takes it: unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://USER@HOST'));
    test("a host address that is not the engine's host", () => rejects(
        { nodes: [{ ...P1, hostAddress: "10.0.0.11" }, { ...S1, host: "tcp://10.0.0.12:2375", hostAddress: "10.0.0.13" }], primary: "pg1" },
        'pg-replication:nodes[1].hostAddress = "10.0.0.13" is not allowed: the node\'s engine tcp://10.0.0.12:2375 is on 10.0.0.12, so its ports are published there: expected 10.0.0.12'));
    test("port out of range", () => rejects({ nodes: [{ ...P1, port: "70000" }] },
        'pg-replication:nodes[0].port = "70000" is not allowed: expected a whole number from 1 to 65535'));
    test("port that is not a number", () => rejects(with_({ ...S1, port: "fast" }),
        'pg-replication:nodes[1].port = "fast" is not allowed: expected a whole number from 1 to 65535'));
    test("node without a port", () => rejects(with_({ name: "standby1", address: "172.18.0.102" }),
        "pg-replication:nodes[1].port = null is not allowed: expected a whole number from 1 to 65535"));
    test("node field that does not exist", () => rejects(with_({ ...S1, ip: "x" }),
        'pg-replication:nodes[1].ip = "x" is not allowed: unknown field; a node has name, address, port, host, hostAddress'));
    test("node name that cannot be a slot name", () => rejects(with_({ ...S1, name: "Standby-1" }),
        'pg-replication:nodes[1].name = "Standby-1" is not allowed: expected 1 to 31 characters of a-z, 0-9, \'_\', ' +
        "starting with a letter (it is also the replication slot name and the container name's suffix)"));
    test("nodes that are not a list", () => rejects({ nodes: { name: "x" } },
        'pg-replication:nodes = {"name":"x"} is not allowed: expected a list of {name, address, port}'));
    test("no nodes", () => rejects({ nodes: [] },
        "pg-replication:nodes = [] is not allowed: expected at least one node {name, address, port}"));
    test("a primary that is not a node", () => rejects({ ...with_(S1), primary: "pg9" },
        'pg-replication:primary = "pg9" is not allowed: expected one of the nodes: pg1, standby1'));
    test("two nodes and no primary", () => rejects({ nodes: [P1, S1] },
        "pg-replication:primary = null is not allowed: expected the name of the node that is primary, one of pg1, standby1"));
    test("the switchover's lag bound takes bytes or a size", () => {
        assert.equal(validateConfig(raw({ maxSwitchoverLagBytes: "1MB" }), ctx).replication.maxSwitchoverLagBytes, 1048576);
        assert.equal(validateConfig(raw({ maxSwitchoverLagBytes: "4096" }), ctx).replication.maxSwitchoverLagBytes, 4096);
        rejects({ maxSwitchoverLagBytes: "lots" }, 'pg-replication:maxSwitchoverLagBytes = "lots" is not allowed: ' +
            "expected a whole number of bytes or a size such as 16MB (units kB, MB, GB, TB)");
    });
    test("unknown mode", () => rejects({ ...with_(S1), mode: "semi-sync" },
        'pg-replication:mode = "semi-sync" is not allowed: expected async or sync'));
    test("sync mode with one node", () => rejects({ mode: "sync" },
        'pg-replication:mode = "sync" is not allowed: sync needs at least two nodes in pg-replication:nodes (a primary and a standby)'));
    test("sync standby that does not exist", () => rejects({ ...with_(S1), mode: "sync", syncStandbys: ["standby9"] },
        'pg-replication:syncStandbys = "standby9" is not allowed: not a node of this stack; nodes are pg1, standby1'));
    test("sync standbys that are only the primary", () => rejects({ ...with_(S1), mode: "sync", syncStandbys: ["pg1"] },
        'pg-replication:syncStandbys = ["pg1"] is not allowed: lists only the primary (pg1); name at least one other node'));
    test("sync count above the sync standbys other than the primary", () => rejects({ ...with_(S1, S2), mode: "sync", syncCount: "3" },
        'pg-replication:syncCount = "3" is not allowed: expected a whole number from 1 to 2'));
    test("synchronous_commit that waits for no standby", () => rejects({ ...with_(S1), mode: "sync", synchronousCommit: "local" },
        'pg-replication:synchronousCommit = "local" is not allowed: expected one of on, remote_write, remote_apply'));
    test("sync settings in async mode", () => rejects({ ...with_(S1), syncCount: "1" },
        'pg-replication:syncCount = "1" is not allowed: only used when pg-replication:mode is sync (it is async)'));
    test("connection limit too low for the standbys", () => rejects({ ...with_(S1, S2), replicationConnectionLimit: "3" },
        'pg-replication:replicationConnectionLimit = "3" is not allowed: expected -1 (no limit) or at least 4: ' +
        "each of the 2 standbys uses two connections while pg_basebackup -Xs clones it"));
    test("a default that no longer fits says so", () => rejects(with_(S1, S2, { ...S2, name: "s3", address: "172.18.0.104", port: 5435 }),
        'pg-replication:replicationConnectionLimit = "5 (the default)" is not allowed: expected -1 (no limit) or at least 6: ' +
        "each of the 3 standbys uses two connections while pg_basebackup -Xs clones it"));
    test("too few WAL senders", () => rejects({ ...with_(S1, S2), maxWalSenders: "3" },
        'pg-replication:maxWalSenders = "3" is not allowed: expected at least 4: two WAL senders per standby while it is cloned'));

    test("the old form fails with the new form written out from its values", () => {
        const found = problems({ primaryAddress: "172.18.0.101", primaryPort: "5432", standbys: [S1], mode: "async" });
        assert.deepEqual(found, [
            "pg-replication:primaryAddress, pg-replication:primaryPort, pg-replication:standbys: the old form (a fixed primary " +
            "and a list of standbys) is no longer read; every node is named once in pg-replication:nodes and " +
            "pg-replication:primary names the primary. In Pulumi.<stack>.yaml, instead of pg-replication:primaryAddress, " +
            "pg-replication:primaryPort, pg-replication:standbys:\n" +
            "      pg-replication:primary: pg1\n" +
            "      pg-replication:nodes:\n" +
            "        - name: pg1\n" +
            "          address: 172.18.0.101\n" +
            "          port: 5432\n" +
            "        - name: standby1\n" +
            "          address: 172.18.0.102\n" +
            "          port: 5433",
        ]);
    });
    test("WAL sizes beyond PostgreSQL's integer range of MB are refused at preview, not by ALTER SYSTEM", () => {
        assert.deepEqual(validateRetention({ walKeepSize: "2047TB", maxSlotWalKeepSize: "2097151GB" }).problems, []);
        assert.deepEqual(validateRetention({ walKeepSize: "2048TB", maxSlotWalKeepSize: "2097152GB" }).problems, [
            'pg-replication:walKeepSize = "2048TB" is not allowed: expected at most 2147483647MB (2047TB), PostgreSQL\'s limit for the setting',
            'pg-replication:maxSlotWalKeepSize = "2097152GB" is not allowed: expected at most 2147483647MB (2047TB), PostgreSQL\'s limit for the setting',
        ]);
    });
    test("WAL size without a unit", () => rejects({ walKeepSize: "16" },
        'pg-replication:walKeepSize = "16" is not allowed: expected a size such as 128MB (units kB, MB, GB, TB)'));
    test("unbounded slot retention", () => assert.match(problems({ maxSlotWalKeepSize: "-1" })[0],
        /^pg-replication:maxSlotWalKeepSize = "-1" is not allowed: expected a size such as 1GB/));
    test("archive command that would break out of its quotes", () => rejects({ archiveCommand: "cp %p '/x/%f'" },
        "pg-replication:archiveCommand = \"cp %p '/x/%f'\" is not allowed: expected a one-line shell command without single quotes, using %p and %f"));
    test("superuser as replication role", () => rejects({ replicationUser: "postgres" },
        'pg-replication:replicationUser = "postgres" is not allowed: the superuser must not double as the replication role'));
    test("bind address that is not an address", () => rejects({ bindAddress: "localhost" },
        'pg-replication:bindAddress = "localhost" is not allowed: expected an IPv4 address of this host, such as 127.0.0.1 (or 0.0.0.0 for all)'));
    test("image reference", () => rejects({ image: "Postgres 13" },
        'pg-replication:image = "Postgres 13" is not allowed: expected a Docker image reference such as postgres:13'));
    test("an official image older than PostgreSQL 13, by its tag; 13, later ones and other images (another repository named postgres too) are not refused", () => {
        for (const image of ["postgres:12", "postgres:9.6-alpine", "library/postgres:11.22", "postgres:12_custom"]) {
            rejects({ image }, `pg-replication:image = ${JSON.stringify(image)} is not allowed: expected PostgreSQL 13 or later, such as ` +
                "postgres:13: the nodes are set with wal_keep_size and max_slot_wal_keep_size, which older servers do not have");
        }
        for (const image of ["postgres:13", "postgres:17.2-bookworm", "postgres:130", "example/postgres-backup:12x", "postgres:latest",
            "example/postgres:2", "example.org/team/postgres:1.4.0"]) {
            assert.doesNotThrow(() => validateConfig(raw({ image }), ctx), image);
        }
    });
    test("readiness timeout bounds", () => rejects({ readyTimeoutSeconds: "1" },
        'pg-replication:readyTimeoutSeconds = "1" is not allowed: expected a whole number from 10 to 3600'));

    test("every problem is reported at once, in one error", () => {
        const found = problems({ mode: "sometimes", nodes: [{ ...P1, port: "0" }, S1, { ...S2, port: 5433 }], primary: "pg1", subnet: "10.0.0.0/8" });
        assert.equal(found.length, 4, found.join("\n"));
        const err = (() => {
            try {
                validateConfig(raw({ nodes: [{ ...P1, port: "0" }], mode: "x" }), ctx);
            } catch (e) {
                return e as Error;
            }
            return undefined;
        })();
        assert.ok(err);
        assert.match(err.message, /^invalid stack configuration:\n {2}- pg-replication:nodes\[0\]\.port = "0".*\n {2}- pg-replication:mode = "x"/);
    });
});

describe("where this machine reaches the published ports", () => {
    const engine = (host: string): Engine => resolveEngine({ configHost: host, env: {} });

    test("bound to all interfaces on a local engine: loopback", () => {
        assert.equal(validateConfig(raw({ bindAddress: "0.0.0.0" }), ctx).clientHost, "127.0.0.1");
        assert.equal(validateConfig(raw({ bindAddress: "0.0.0.0" }), { ...ctx, engine: engine("tcp://127.0.0.1:2375") }).clientHost,
            "127.0.0.1");
    });
    test("a remote engine publishing on all its interfaces is reached by its host name", () => {
        const all = raw({ bindAddress: "0.0.0.0" });
        assert.equal(validateConfig(all, { ...ctx, engine: engine("ssh://deploy@db-host.example:22") }).clientHost, "db-host.example");
        assert.equal(validateConfig(all, { ...ctx, engine: engine("tcp://10.1.2.3:2376") }).clientHost, "10.1.2.3");
    });
    test("a remote engine publishing on one of its addresses is reached there", () => {
        assert.equal(validateConfig(raw({ bindAddress: "10.1.2.3" }), { ...ctx, engine: engine("ssh://db-host.example") }).clientHost,
            "10.1.2.3");
    });
    test("a remote engine with ports on its loopback fails naming the key, the value, the engine and what to set", () => {
        assert.deepEqual(problems({}, { ...ctx, engine: engine("tcp://10.1.2.3:2376") }), [
            'pg-replication:bindAddress = "127.0.0.1" is not allowed: the Docker engine is remote (tcp://10.1.2.3:2376, from ' +
            "docker:host), so ports published on its loopback cannot be reached from here: set pg-replication:bindAddress " +
            "to 0.0.0.0 or to an address of that host this machine can reach (mind that the database then listens there)",
        ]);
    });
    test("a local socket keeps the bind address", () => {
        const cfg = validateConfig({}, { ...ctx, engine: engine("unix:///run/user/1000/docker.sock") });
        assert.equal(cfg.clientHost, "127.0.0.1");
        assert.equal(cfg.dockerHost, "unix:///run/user/1000/docker.sock");
    });
    test("without a resolved engine the default socket is used", () => {
        assert.equal(validateConfig({}, ctx).dockerHost, "unix:///var/run/docker.sock");
    });
    test("an engine that cannot be resolved is reported with the other problems", () => {
        assert.deepEqual(problems({ mode: "x" }, { ...ctx, engineProblems: ["DOCKER_CONTEXT=default cannot be loaded"] }), [
            "Docker engine: DOCKER_CONTEXT=default cannot be loaded",
            'pg-replication:mode = "x" is not allowed: expected async or sync',
        ]);
    });
});

describe("secrets", () => {
    const BACKSLASH = "pg-replication:replicationPassword (secret) contains a backslash, which is not allowed: the " +
        "postgresql provider stores each backslash doubled in the role's password, so the standbys could not log in; " +
        "choose a password without '\\'";
    test("a replication password with a backslash is refused, without showing it", () => {
        assert.deepEqual(secretProblems({ replicationPassword: "a\\b" }), [BACKSLASH]);
        assert.deepEqual(secretProblems({ replicationPassword: "a'b:c@d" }), []);
        assert.deepEqual(secretProblems({}), [], "a generated password has no backslash");
    });
    test("an empty secret or one with a line break is refused, naming the key only", () => {
        assert.deepEqual(secretProblems({ values: { superuserPassword: "", replicationPassword: "a\nb", backupS3SecretKey: "x\r", backupS3AccessKey: "ok" } }), [
            "pg-replication:superuserPassword (secret) is empty, which is not allowed: expected at least one character",
            "pg-replication:replicationPassword (secret) contains a line break, which is not allowed: expected one line",
            "pg-replication:backupS3SecretKey (secret) contains a line break, which is not allowed: expected one line",
        ]);
    });
    test("another key set as a secret (a misspelt password, a structured key with a secret part) is refused, never showing its value", async () => {
        await assert.rejects(runProgram({ superUserPassword: "hunter2-typo", archiveCommand: "cp %p /x/s3cret-path" }, ["superUserPassword", "archiveCommand"]),
            (err: unknown) => {
                assert.ok(err instanceof ConfigError);
                assert.deepEqual(err.problems, ["superUserPassword", "archiveCommand"].map((k) => `pg-replication:${k} is set as a secret, which is ` +
                    "not allowed: it is not one of the secret keys (replicationPassword, superuserPassword, backupS3AccessKey, backupS3SecretKey), " +
                    "so its value would be used, stored and shown in plain text; check its spelling, or set it again without --secret"));
                assert.doesNotMatch(err.message, /hunter2|s3cret-path/);
                return true;
            });
        await assert.rejects(runProgram({ superuserPassword: "" }, ["superuserPassword"]), (err: unknown) =>
            err instanceof ConfigError && err.problems.includes("pg-replication:superuserPassword (secret) is empty, which is not allowed: expected at least one character"));
    });
    test("the program stops at preview with that message, before any resource", async () => {
        await assert.rejects(runProgram({ replicationPassword: "top\\secret" }, ["replicationPassword"]), (err: unknown) => {
            assert.ok(err instanceof ConfigError);
            assert.deepEqual(err.problems, [BACKSLASH]);
            assert.doesNotMatch(err.message, /top/, "the secret's value is not in the message");
            return true;
        });
    });
    test("a secret key set without --secret (plain in the stack's settings file) is refused at preview, naming the key, never the value", async () => {
        const s3 = { backup: { s3: { endpoint: "s3.example.test", bucket: "backups", region: "eu-west-1" } } };
        await assert.rejects(runProgram({ superuserPassword: "hunter2-plain", backupS3AccessKey: "AKIAPLAIN", backupS3SecretKey: "s3cret-ok", ...s3 },
            [], "dev", {}, ["superuserPassword", "backupS3AccessKey"]), (err: unknown) => {
            assert.ok(err instanceof ConfigError);
            assert.deepEqual(err.problems, ["superuserPassword", "backupS3AccessKey"].map((k) => `pg-replication:${k} is set in plain text ` +
                `(in the stack's settings file), which is not allowed: it is a secret; set it again with pulumi config set --secret ${k}`));
            assert.doesNotMatch(err.message, /hunter2|AKIAPLAIN/);
            return true;
        });
        await runProgram({ superuserPassword: "hunter2-secret", backupS3AccessKey: "AKIA1", backupS3SecretKey: "s3cret", ...s3 });
    });
});
