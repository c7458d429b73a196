import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import * as yaml from "js-yaml";
import {
    ConfigContext, ConfigError, expectedSyncState, RawConfig, standbyNamesSetting, validateConfig,
} from "../../components/config";
import { Engine, resolveEngine } from "../../components/engine";

const ctx = { project: "pg-replication", stack: "dev" };
const S1 = { name: "standby1", address: "172.18.0.102", port: 5433 };
const S2 = { name: "standby2", address: "172.18.0.103", port: 5434 };

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
        assert.deepEqual(cfg.primary, { address: "172.18.0.101", port: 5432 });
        assert.deepEqual(cfg.standbys, []);
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
            assert.ok(cfg.standbys.length >= 1);
        });
    }
});

describe("replication policy", () => {
    test("async: no standby is waited for", () => {
        const cfg = validateConfig(raw({ standbys: [S1, S2] }), ctx);
        assert.equal(cfg.replication.synchronousStandbyNames, "");
        assert.equal(cfg.replication.synchronousCommit, "on");
        assert.equal(expectedSyncState(cfg.replication, "standby1"), "async");
    });

    test("sync with one standby names it FIRST 1 and expects sync", () => {
        const cfg = validateConfig(raw({ standbys: [S1], mode: "sync" }), ctx);
        assert.equal(cfg.replication.synchronousStandbyNames, 'FIRST 1 ("standby1")');
        assert.equal(expectedSyncState(cfg.replication, "standby1"), "sync");
    });

    test("sync with two or more standbys is a quorum", () => {
        const cfg = validateConfig(raw({ standbys: [S1, S2], mode: "sync", synchronousCommit: "remote_apply" }), ctx);
        assert.equal(cfg.replication.synchronousStandbyNames, 'ANY 1 ("standby1", "standby2")');
        assert.equal(cfg.replication.synchronousCommit, "remote_apply");
        assert.equal(expectedSyncState(cfg.replication, "standby2"), "quorum");
    });

    test("only the listed standbys count; the rest stay async", () => {
        const s3 = { name: "reports", address: "172.18.0.104", port: 5435 };
        const cfg = validateConfig(raw({ standbys: [S1, S2, s3], mode: "sync", syncStandbys: ["standby1", "standby2"], syncCount: 2,
            replicationConnectionLimit: "6" }), ctx);
        assert.equal(cfg.replication.synchronousStandbyNames, 'ANY 2 ("standby1", "standby2")');
        assert.equal(expectedSyncState(cfg.replication, "reports"), "async");
        assert.equal(expectedSyncState(cfg.replication, "standby1"), "quorum");
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
    test("subnet with host bits set", () => rejects({ subnet: "172.18.0.5/24", primaryAddress: "172.18.0.101" },
        'pg-replication:subnet = "172.18.0.5/24" is not allowed: expected the network address itself (host bits zero): 172.18.0.0/24'));
    test("subnet too small", () => rejects({ subnet: "172.18.0.0/30" },
        'pg-replication:subnet = "172.18.0.0/30" is not allowed: expected a prefix length from /16 to /29'));
    test("octet out of range", () => rejects({ primaryAddress: "172.18.0.256" },
        'pg-replication:primaryAddress = "172.18.0.256" is not allowed: expected an IPv4 address such as 172.18.0.101'));
    test("address outside the subnet", () => rejects({ standbys: [{ ...S1, address: "172.19.0.102" }] },
        'pg-replication:standbys[0].address = "172.19.0.102" is not allowed: expected a host address inside ' +
        "172.18.0.0/24 from 172.18.0.2 to 172.18.0.254 (172.18.0.1 is the gateway)"));
    test("address on the gateway", () => rejects({ primaryAddress: "172.18.0.1" },
        'pg-replication:primaryAddress = "172.18.0.1" is not allowed: expected a host address inside ' +
        "172.18.0.0/24 from 172.18.0.2 to 172.18.0.254 (172.18.0.1 is the gateway)"));
    test("broadcast address", () => assert.match(problems({ primaryAddress: "172.18.0.255" })[0],
        /^pg-replication:primaryAddress = "172.18.0.255" is not allowed: expected a host address inside/));
    test("duplicate standby names", () => rejects({ standbys: [S1, { ...S2, name: "standby1" }] },
        'pg-replication:standbys[1].name = "standby1" is not allowed: name already used by pg-replication:standbys[0].name; each node needs its own'));
    test("duplicate addresses, primary included", () => rejects({ standbys: [{ ...S1, address: "172.18.0.101" }] },
        'pg-replication:standbys[0].address = "172.18.0.101" is not allowed: address already used by pg-replication:primaryAddress; each node needs its own'));
    test("duplicate host ports", () => rejects({ standbys: [S1, { ...S2, port: 5433 }] },
        "pg-replication:standbys[1].port = 5433 is not allowed: host port already used by pg-replication:standbys[0].port; each node needs its own"));
    test("port out of range", () => rejects({ primaryPort: "70000" },
        'pg-replication:primaryPort = "70000" is not allowed: expected a whole number from 1 to 65535'));
    test("port that is not a number", () => rejects({ standbys: [{ ...S1, port: "fast" }] },
        'pg-replication:standbys[0].port = "fast" is not allowed: expected a whole number from 1 to 65535'));
    test("standby without a port", () => rejects({ standbys: [{ name: "standby1", address: "172.18.0.102" }] },
        "pg-replication:standbys[0].port = null is not allowed: expected a whole number from 1 to 65535"));
    test("standby field that does not exist", () => rejects({ standbys: [{ ...S1, ip: "x" }] },
        'pg-replication:standbys[0].ip = "x" is not allowed: unknown field; a standby has name, address, port'));
    test("standby name that cannot be a slot name", () => rejects({ standbys: [{ ...S1, name: "Standby-1" }] },
        'pg-replication:standbys[0].name = "Standby-1" is not allowed: expected 1 to 31 characters of a-z, 0-9, \'_\', ' +
        "starting with a letter (it is also the replication slot name)"));
    test("standby named primary", () => rejects({ standbys: [{ ...S1, name: "primary" }] },
        "pg-replication:standbys[0].name = \"primary\" is not allowed: 'primary' names the primary; choose another name"));
    test("standbys that are not a list", () => rejects({ standbys: { name: "x" } },
        'pg-replication:standbys = {"name":"x"} is not allowed: expected a list of {name, address, port}'));
    test("unknown mode", () => rejects({ mode: "semi-sync", standbys: [S1] },
        'pg-replication:mode = "semi-sync" is not allowed: expected async or sync'));
    test("sync mode with no standby", () => rejects({ mode: "sync" },
        'pg-replication:mode = "sync" is not allowed: sync needs at least one standby in pg-replication:standbys (there are none)'));
    test("sync standby that does not exist", () => rejects({ mode: "sync", standbys: [S1], syncStandbys: ["standby9"] },
        'pg-replication:syncStandbys = "standby9" is not allowed: not a standby of this stack; standbys are standby1'));
    test("sync count above the sync standbys", () => rejects({ mode: "sync", standbys: [S1, S2], syncCount: "3" },
        'pg-replication:syncCount = "3" is not allowed: expected a whole number from 1 to 2'));
    test("synchronous_commit that waits for no standby", () => rejects({ mode: "sync", standbys: [S1], synchronousCommit: "local" },
        'pg-replication:synchronousCommit = "local" is not allowed: expected one of on, remote_write, remote_apply'));
    test("sync settings in async mode", () => rejects({ standbys: [S1], syncCount: "1" },
        'pg-replication:syncCount = "1" is not allowed: only used when pg-replication:mode is sync (it is async)'));
    test("connection limit too low for the standbys", () => rejects({ standbys: [S1, S2], replicationConnectionLimit: "3" },
        'pg-replication:replicationConnectionLimit = "3" is not allowed: expected -1 (no limit) or at least 4: ' +
        "each of the 2 standbys uses two connections while pg_basebackup -Xs clones it"));
    test("a default that no longer fits says so", () => rejects({ standbys: [S1, S2, { ...S2, name: "s3", address: "172.18.0.104", port: 5435 }] },
        'pg-replication:replicationConnectionLimit = "5 (the default)" is not allowed: expected -1 (no limit) or at least 6: ' +
        "each of the 3 standbys uses two connections while pg_basebackup -Xs clones it"));
    test("too few WAL senders", () => rejects({ standbys: [S1, S2], maxWalSenders: "3" },
        'pg-replication:maxWalSenders = "3" is not allowed: expected at least 4: two WAL senders per standby while it is cloned'));
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
    test("readiness timeout bounds", () => rejects({ readyTimeoutSeconds: "1" },
        'pg-replication:readyTimeoutSeconds = "1" is not allowed: expected a whole number from 10 to 3600'));

    test("every problem is reported at once, in one error", () => {
        const found = problems({ mode: "sometimes", primaryPort: "0", subnet: "10.0.0.0/8", standbys: [{ ...S1, port: 5432 }] });
        assert.equal(found.length, 4, found.join("\n"));
        const err = (() => {
            try {
                validateConfig(raw({ primaryPort: "0", mode: "x" }), ctx);
            } catch (e) {
                return e as Error;
            }
            return undefined;
        })();
        assert.ok(err);
        assert.match(err.message, /^invalid stack configuration:\n {2}- pg-replication:primaryPort = "0".*\n {2}- pg-replication:mode = "x"/);
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
