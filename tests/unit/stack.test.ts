import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "../../components/config";
import { goDuration } from "../../components/node";
import { KEEP_PREVIOUS } from "../../components/secrets";
import * as harness from "../support/mocked-program";
import { clearStrings, DEV, isSecret, outputValue, plain, Recorded, Run, runProgram } from "../support/mocked-program";

const SUPER = "super-Secret:pw\\1";
const REPL = "repl-Secret:pw\\2";
const S2 = { name: "standby2", address: "172.18.0.103", port: 5434 };

/** A command's environment without DOCKER_HOST (the engine's, asserted in config.test.ts). */
const env = (r: Recorded) => {
    const { DOCKER_HOST: _engine, ...rest } = plain(r.inputs.environment) as Record<string, string>;
    return rest;
};
const labels = (r: Recorded) => Object.fromEntries((plain(r.inputs.labels) as { label: string; value: string }[])
    .map((l) => [l.label, l.value]));

describe("the dev stack (the tutorial's plan)", () => {
    let run: Run;
    before(async () => {
        run = await runProgram({ ...DEV, superuserPassword: SUPER, replicationPassword: REPL },
            ["superuserPassword", "replicationPassword"]);
    });

    test("declares exactly the resources of the plan", () => {
        assert.deepEqual(run.resources.map((r) => `${r.type}::${r.name}`), [
            "pulumi:providers:docker::docker",
            "docker:index/network:Network::network",
            "docker:index/remoteImage:RemoteImage::image",
            "pg-replication:index:Primary::primary",
            "docker:index/volume:Volume::primary-data",
            "docker:index/container:Container::primary",
            "command:local:Command::primary-ready",
            "command:local:Command::primary-superuser-password",
            "command:local:Command::primary-access",
            "pulumi:providers:postgresql::primary-sql",
            "postgresql:index/role:Role::replication-role",
            "pg-replication:index:StandbyReplica::standby-standby1",
            "docker:index/volume:Volume::standby-standby1-data",
            "command:local:Command::standby-standby1-passfile",
            "command:local:Command::standby-standby1-clone",
            "docker:index/container:Container::standby-standby1",
            "command:local:Command::standby-standby1-streaming",
            "pg-replication:index:ReplicationPolicy::replication-policy",
            "command:local:Command::replication-policy-apply",
        ]);
    });

    test("a bridge network with the tutorial's subnet and an explicit gateway", () => {
        const net = run.get("Network", "network");
        assert.equal(net.inputs.name, "dockernetwork");
        assert.equal(net.inputs.driver, "bridge");
        assert.deepEqual(plain(net.inputs.ipamConfigs), [{ subnet: "172.18.0.0/24", gateway: "172.18.0.1" }]);
        assert.equal(net.opts.deleteBeforeReplace, true);
    });

    test("every Docker object carries the project and stack labels", () => {
        const dockerObjects = run.resources.filter((r) => /^docker:index\/(network|volume|container):/.test(r.type));
        assert.equal(dockerObjects.length, 5);
        for (const r of dockerObjects) {
            assert.equal(labels(r)["pg-replication.project"], "pg-replication", r.name);
            assert.equal(labels(r)["pg-replication.stack"], "dev", r.name);
        }
        assert.match(env(run.get("Command", "standby-standby1-clone")).DOCKER_LABELS,
            /^pg-replication\.project=pg-replication pg-replication\.stack=dev pg-replication\.role=clone/);
    });

    test("the image is the official name and stays on destroy", () => {
        const image = run.get("RemoteImage", "image");
        assert.equal(image.inputs.name, "postgres:13");
        assert.equal(image.inputs.keepLocally, true);
    });

    test("one named volume per node", () => {
        assert.equal(run.get("Volume", "primary-data").inputs.name, "pg-replication-dev-primary-data");
        assert.equal(run.get("Volume", "standby-standby1-data").inputs.name, "pg-replication-dev-standby1-data");
        assert.equal(run.get("Volume", "primary-data").parent, "primary");
        assert.equal(run.get("Volume", "standby-standby1-data").parent, "standby-standby1");
    });

    test("the primary starts configured for replication, published on loopback only", () => {
        const c = run.get("Container", "primary");
        const inputs = plain(c.inputs);
        assert.equal(inputs.name, "pg-replication-dev-primary");
        assert.deepEqual(inputs.ports, [{ internal: 5432, external: 5432, ip: "127.0.0.1" }]);
        assert.deepEqual(inputs.networksAdvanced, [{ name: "dockernetwork", ipv4Address: "172.18.0.101" }]);
        assert.deepEqual(inputs.volumes, [{ volumeName: "pg-replication-dev-primary-data", containerPath: "/var/lib/postgresql/data" }]);
        const settings = (inputs.command as string[]).filter((_, i, all) => all[i - 1] === "-c");
        assert.equal(inputs.command[0], "postgres");
        assert.deepEqual(settings, ["listen_addresses=*", "wal_level=replica", "max_wal_senders=10",
            "max_replication_slots=10", "hot_standby=on", "password_encryption=scram-sha-256", "archive_mode=off"]);
        assert.ok(inputs.envs.includes("POSTGRES_HOST_AUTH_METHOD=scram-sha-256"));
        assert.ok(inputs.envs.includes("PGDATA=/var/lib/postgresql/data/pgdata"));
        assert.equal(c.opts.deleteBeforeReplace, true);
        assert.deepEqual(c.opts.ignoreChanges, ["uploads"]);
    });

    test("containers get a grace period for PostgreSQL's fast shutdown before the provider kills them", () => {
        for (const c of run.ofType("Container")) {
            assert.equal(c.inputs.destroyGraceSeconds, 60, c.name);
        }
    });

    test("containers name the image, so a moved local tag replaces nothing on refresh", () => {
        for (const c of run.ofType("Container")) {
            assert.equal(plain(c.inputs.image), "postgres:13", c.name);
            assert.ok(c.dataDeps.includes("image"), `${c.name} still waits for the RemoteImage`);
        }
    });

    test("readiness is a constant TCP health check as a named user, with no provider wait", () => {
        for (const name of ["primary", "standby-standby1"]) {
            const c = plain(run.get("Container", name).inputs);
            assert.deepEqual(c.healthcheck.tests,
                ["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d", "postgres"]);
            // The provider's wait runs on create only and accepts an unhealthy container next time.
            assert.equal(c.wait, undefined);
            assert.equal(c.waitTimeout, undefined);
            // Go's spelling, as the provider reads it back: anything else is a diff on every up.
            assert.deepEqual([c.healthcheck.interval, c.healthcheck.timeout, c.healthcheck.retries, c.healthcheck.startPeriod],
                ["1s", "5s", 10, "2m0s"]);
        }
    });

    test("the primary's readiness gate runs on every new container; what talks to the primary waits for it", () => {
        const ready = run.get("Command", "primary-ready");
        assert.equal(ready.parent, "primary");
        assert.deepEqual(env(ready), { PRIMARY_CONTAINER: "pg-replication-dev-primary", TIMEOUT: "120" });
        assert.deepEqual(plain(ready.inputs.triggers), ["primary-id"]);
        assert.match(ready.inputs.create, /pg_isready -q -h 127\.0\.0\.1/);
        assert.match(ready.inputs.create, /\.State\.Health\.Status/);
        for (const name of ["primary-access", "primary-superuser-password"]) {
            assert.deepEqual(run.get("Command", name).dependsOn, ["primary-ready"], name);
        }
        assert.ok(run.get("pulumi:providers:postgresql", "primary-sql").dataDeps.includes("primary-ready"));
        // The standbys and the policy depend on the Primary component, which holds the gate.
        assert.ok(run.get("StandbyReplica", "standby-standby1").dependsOn.includes("primary"));
        assert.ok(run.get("ReplicationPolicy", "replication-policy").dependsOn.includes("primary"));
    });

    test("every command but the password generators logs stderr only", () => {
        const commands = run.ofType("Command");
        assert.equal(commands.length, 7);
        for (const c of commands) {
            assert.equal(c.inputs.logging, "stderr", c.name);
        }
    });

    test("the superuser password reaches the primary as a secret file, not an environment variable", () => {
        const c = run.get("Container", "primary");
        assert.ok(isSecret(c.inputs.uploads), "uploads must be secret in state");
        assert.deepEqual(plain(c.inputs.uploads), [{ file: "/run/secrets/pg-replication/superuser-password", content: SUPER }]);
        assert.ok(plain(c.inputs.envs).includes("POSTGRES_PASSWORD_FILE=/run/secrets/pg-replication/superuser-password"));
    });

    test("access rules admit the replication role from the standby's address only", () => {
        const access = run.get("Command", "primary-access");
        assert.deepEqual(env(access), {
            PRIMARY_CONTAINER: "pg-replication-dev-primary",
            REPLICATION_USER: "repuser",
            STANDBY_ADDRESSES: "172.18.0.102",
            WAL_KEEP_SIZE: "128MB",
            MAX_SLOT_WAL_KEEP_SIZE: "1GB",
        });
        assert.match(access.inputs.create, /host {4}replication {2}\$REPLICATION_USER {2}\$address\/32 {2}scram-sha-256/);
        assert.deepEqual(access.dataDeps, ["primary"]);
        assert.equal(access.parent, "primary");
    });

    test("the superuser password is set on the primary over peer auth, and the provider waits for it", () => {
        const set = run.get("Command", "primary-superuser-password");
        assert.equal(set.parent, "primary");
        assert.deepEqual(env(set), { PRIMARY_CONTAINER: "pg-replication-dev-primary" });
        assert.ok(isSecret(set.inputs.stdin));
        assert.equal(plain(set.inputs.stdin), "ALTER ROLE postgres PASSWORD 'super-Secret:pw\\1';\n");
        assert.deepEqual(plain(set.inputs.triggers), ["primary-id"]);
        const provider = run.get("pulumi:providers:postgresql", "primary-sql");
        assert.ok(provider.dataDeps.includes("primary-superuser-password"), "the provider's password comes after ALTER ROLE");
        assert.ok(isSecret(provider.inputs.password));
        assert.equal(plain(provider.inputs.password), SUPER);
    });

    test("the replication role goes through an explicit provider pointed at the primary", () => {
        const provider = run.get("pulumi:providers:postgresql", "primary-sql");
        assert.equal(plain(provider.inputs.host), "127.0.0.1");
        assert.equal(plain(provider.inputs.port), "5432");
        assert.equal(provider.inputs.username, "postgres");
        assert.ok(isSecret(provider.inputs.password));

        const role = run.get("Role", "replication-role");
        assert.equal(role.provider, "primary-sql");
        assert.deepEqual(role.dependsOn, ["primary"]);
        assert.equal(role.inputs.name, "repuser");
        assert.equal(role.inputs.login, true);
        assert.equal(role.inputs.replication, true);
        assert.equal(role.inputs.connectionLimit, 5);
        assert.ok(isSecret(role.inputs.password));
        assert.equal(plain(role.inputs.password), REPL);
        // Destroy skips DROP ROLE (no connection to a primary that may be stopped or gone).
        assert.equal((role.opts.deletedWith as any)?.__name, "primary-data");
    });

    test("each standby is a component that clones, then runs, then proves it streams", () => {
        const standby = run.get("StandbyReplica", "standby-standby1");
        assert.deepEqual(standby.dependsOn, ["primary", "replication-role"]);
        for (const child of ["standby-standby1-data", "standby-standby1-passfile", "standby-standby1-clone", "standby-standby1",
            "standby-standby1-streaming"]) {
            assert.equal(run.resources.find((r) => r.name === child && r.type !== standby.type)?.parent, "standby-standby1", child);
        }

        const clone = run.get("Command", "standby-standby1-clone");
        assert.match(clone.inputs.create, /pg_basebackup -D "\$staging" -R -X stream -C -S "\$SLOT"/);
        assert.match(clone.inputs.delete, /pg_drop_replication_slot/);
        assert.equal(clone.opts.deleteBeforeReplace, true);
        assert.deepEqual(clone.dependsOn, ["standby-standby1-passfile"]);
        assert.deepEqual(plain(clone.inputs.triggers), ["pg-replication-dev-standby1-data", "172.18.0.101"]);
        assert.deepEqual(env(clone), {
            PRIMARY_CONTAINER: "pg-replication-dev-primary",
            PRIMARY_ADDRESS: "172.18.0.101",
            NETWORK: "dockernetwork",
            IMAGE: "postgres:13",
            VOLUME: "pg-replication-dev-standby1-data",
            STANDBY_ADDRESS: "172.18.0.102",
            SLOT: "standby1",
            REPLICATION_USER: "repuser",
            HELPER_CONTAINER: "pg-replication-dev-standby1-clone",
            DOCKER_LABELS: "pg-replication.project=pg-replication pg-replication.stack=dev pg-replication.role=clone pg-replication.node=standby1",
        });

        const container = run.get("Container", "standby-standby1");
        assert.deepEqual(container.dependsOn, ["standby-standby1-passfile", "standby-standby1-clone"]);
        assert.equal(labels(container)["pg-replication.clone"], "standby-standby1-clone-id");
        const inputs = plain(container.inputs);
        assert.deepEqual(inputs.ports, [{ internal: 5432, external: 5433, ip: "127.0.0.1" }]);
        assert.deepEqual(inputs.networksAdvanced, [{ name: "dockernetwork", ipv4Address: "172.18.0.102" }]);
        assert.ok(!inputs.envs.some((e: string) => e.startsWith("POSTGRES_PASSWORD")), "a standby needs no superuser password");

        const gate = run.get("Command", "standby-standby1-streaming");
        assert.deepEqual(gate.dataDeps, ["primary", "standby-standby1"]);
        assert.equal(env(gate).STANDBY_CONTAINER, "pg-replication-dev-standby1");
        assert.match(gate.inputs.create, /pg_stat_replication WHERE application_name = '\$SLOT'/);
    });

    test("the passfile command gets the replication password on stdin, escaped for a passfile, as a secret", () => {
        const passfile = run.get("Command", "standby-standby1-passfile");
        assert.ok(isSecret(passfile.inputs.stdin));
        assert.equal(plain(passfile.inputs.stdin), "172.18.0.101:5432:*:repuser:repl-Secret\\:pw\\\\2\n");
        assert.equal(passfile.inputs.update, undefined, "create and update are the same script");
        assert.match(passfile.inputs.create, /--network none/);
        assert.deepEqual(plain(passfile.inputs.triggers), ["pg-replication-dev-standby1-data"]);
        assert.deepEqual(env(passfile), {
            IMAGE: "postgres:13",
            VOLUME: "pg-replication-dev-standby1-data",
            SLOT: "standby1",
            DOCKER_LABELS: "pg-replication.project=pg-replication pg-replication.stack=dev pg-replication.role=clone pg-replication.node=standby1",
        });
    });

    test("F1: the clone holds no password and its update can never clone or delete", () => {
        const clone = run.get("Command", "standby-standby1-clone");
        assert.equal(clone.inputs.stdin, undefined);
        assert.ok(!clone.dataDeps.includes("replication-password"));
        const update: string = clone.inputs.update;
        assert.match(update, /test -f \/var\/lib\/postgresql\/data\/pgdata\/PG_VERSION/);
        assert.match(update, /data\/pgdata|data:ro/);
        assert.ok(!/pg_basebackup|rm -rf|PASSFILE_ONLY/.test(update), "the update script must not be able to re-clone");
        // The create never removes a cluster before a complete new clone is in place.
        assert.match(clone.inputs.create, /pg_basebackup -D "\$staging"[^\n]*\n(?:.*\n)*rm -rf "\$pgdata"\nmv "\$staging" "\$pgdata"/);
    });

    test("the commit policy comes last and expects each standby's sync_state", () => {
        const policy = run.get("ReplicationPolicy", "replication-policy");
        assert.deepEqual(policy.dependsOn, ["primary", "standby-standby1"]);
        const apply = run.get("Command", "replication-policy-apply");
        assert.deepEqual(env(apply), {
            PRIMARY_CONTAINER: "pg-replication-dev-primary",
            SYNC_NAMES: "",
            SYNC_COMMIT: "on",
            EXPECTED: "standby1=async",
            TIMEOUT: "120",
        });
        assert.match(apply.inputs.delete, /ALTER SYSTEM RESET synchronous_standby_names/);
        assert.equal(apply.opts.deleteBeforeReplace, true);
    });

    test("no password appears anywhere in plain text in what the engine stores", () => {
        const leaks = run.resources.flatMap((r) => clearStrings(r.inputs)
            .filter((s) => s.includes("Secret:pw") || s.includes("Secret\\:pw"))
            .map((s) => `${r.type}::${r.name}: ${s}`));
        assert.deepEqual(leaks, []);
    });

    test("component inputs carry nothing (they are saved in state)", () => {
        for (const r of run.resources.filter((x) => x.type.startsWith("pg-replication:"))) {
            assert.deepEqual(r.inputs, {}, r.name);
        }
    });

    test("outputs: host, port and mode per node; connection strings are secrets", async () => {
        const out = run.outputs;
        assert.equal(out.primary.host, "127.0.0.1");
        assert.equal(out.primary.port, 5432);
        assert.equal(out.primary.mode, "primary");
        assert.equal(out.standbys.standby1.port, 5433);
        assert.equal(out.standbys.standby1.mode, "async");
        assert.equal(out.replication.mode, "async");
        for (const url of [out.primary.connectionString, out.standbys.standby1.connectionString]) {
            assert.equal(await pulumi.isSecret(url), true);
        }
        assert.equal(await outputValue(out.primary.connectionString),
            `postgresql://postgres:${encodeURIComponent(SUPER)}@127.0.0.1:5432/postgres`);
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
        for (const name of ["superuser-password", "replication-password"]) {
            const gen = run.get("Command", name);
            assert.deepEqual(gen.opts.additionalSecretOutputs, ["stdout", "stderr"]);
            assert.equal(gen.inputs.logging, "none");
            assert.match(gen.inputs.create, /\/dev\/urandom/);
            assert.equal(gen.inputs.update, KEEP_PREVIOUS);
        }
    });

    test("an update of a generator prints the password it already has, and never a new one", () => {
        const kept = spawnSync("/bin/sh", ["-c", KEEP_PREVIOUS], {
            env: { PATH: "/usr/bin:/bin", PULUMI_COMMAND_STDOUT: "Abc123previous" }, encoding: "utf8",
        });
        assert.equal(kept.status, 0, kept.stderr);
        assert.equal(kept.stdout, "Abc123previous");
        const lost = spawnSync("/bin/sh", ["-c", KEEP_PREVIOUS], { env: { PATH: "/usr/bin:/bin" }, encoding: "utf8" });
        assert.notEqual(lost.status, 0);
        assert.equal(lost.stdout, "");
        assert.match(lost.stderr, /the previous password is not available/);
    });

    test("the generated passwords flow, as secrets, to the container, the role and the clone", () => {
        assert.ok(isSecret(run.get("Container", "primary").inputs.uploads));
        assert.equal(plain(run.get("Role", "replication-role").inputs.password), "stdout-of-replication-password");
        assert.ok(isSecret(run.get("Role", "replication-role").inputs.password));
        assert.ok(run.get("Command", "standby-standby1-passfile").dataDeps.includes("replication-password"));
        assert.ok(run.get("Command", "primary-superuser-password").dataDeps.includes("superuser-password"));
    });
});

describe("changing the plan", () => {
    let one: Run;
    let two: Run;
    before(async () => {
        one = await runProgram(DEV);
        two = await runProgram({ ...DEV, standbys: [...(DEV.standbys as object[]), S2] });
    });

    test("adding a standby leaves the primary's and the first standby's containers untouched", () => {
        for (const name of ["primary", "standby-standby1"]) {
            assert.deepEqual(two.get("Container", name).inputs, one.get("Container", name).inputs, name);
        }
        assert.deepEqual(two.get("Command", "standby-standby1-clone").inputs, one.get("Command", "standby-standby1-clone").inputs);
    });

    test("it only widens the access rules and the policy, both applied by reload", () => {
        assert.equal(env(two.get("Command", "primary-access")).STANDBY_ADDRESSES, "172.18.0.102 172.18.0.103");
        assert.equal(env(two.get("Command", "replication-policy-apply")).EXPECTED, "standby1=async standby2=async");
        assert.equal(two.get("Container", "standby-standby2").inputs.name, "pg-replication-dev-standby2");
    });

    test("F1/M2: a new replicationPassword or readyTimeoutSeconds changes no container and no clone", async () => {
        const changed = await runProgram({ ...DEV, replicationPassword: "another-one", readyTimeoutSeconds: "300" }, ["replicationPassword"]);
        const base = await runProgram({ ...DEV, replicationPassword: "first-one" }, ["replicationPassword"]);
        const differing = base.resources.filter((r) => r.type.startsWith("pulumi:providers:") === false &&
            JSON.stringify(plain(r.inputs)) !== JSON.stringify(plain(changed.get(r.type, r.name).inputs))).map((r) => r.name);
        assert.deepEqual(differing, ["primary-ready", "replication-role", "standby-standby1-passfile",
            "standby-standby1-streaming", "replication-policy-apply"]);
    });

    test("a new superuserPassword changes only the ALTER ROLE command (the upload is ignored)", async () => {
        const a = await runProgram({ ...DEV, superuserPassword: "first-one" }, ["superuserPassword"]);
        const b = await runProgram({ ...DEV, superuserPassword: "another-one" }, ["superuserPassword"]);
        const differing = a.resources.filter((r) => JSON.stringify(plain(r.inputs)) !== JSON.stringify(plain(b.get(r.type, r.name).inputs)))
            .map((r) => r.name);
        assert.deepEqual(differing, ["primary", "primary-superuser-password", "primary-sql"]);
        const before = plain(a.get("Container", "primary").inputs);
        const after = plain(b.get("Container", "primary").inputs);
        assert.deepEqual({ ...after, uploads: undefined }, { ...before, uploads: undefined }, "only uploads, which ignoreChanges covers");
    });

    test("an image upgrade is an explicit change of the image key", async () => {
        const upgraded = await runProgram({ ...DEV, image: "postgres:13.99" });
        for (const name of ["primary", "standby-standby1"]) {
            assert.equal(plain(upgraded.get("Container", name).inputs.image), "postgres:13.99");
        }
    });

    test("the same config gives the same names and inputs (deterministic)", async () => {
        const again = await runProgram(DEV);
        assert.deepEqual(again.resources.map((r) => [r.type, r.name, r.inputs]), one.resources.map((r) => [r.type, r.name, r.inputs]));
    });
});

describe("sync mode with two standbys (quorum), as in Pulumi.pg17.yaml", () => {
    let run: Run;
    before(async () => {
        run = await runProgram({
            ...DEV, image: "postgres:17", mode: "sync", synchronousCommit: "remote_apply",
            standbys: [...(DEV.standbys as object[]), S2],
        }, [], "pg17");
    });

    test("the policy names both standbys in a quorum and expects quorum", () => {
        const apply = env(run.get("Command", "replication-policy-apply"));
        assert.equal(apply.SYNC_NAMES, 'ANY 1 ("standby1", "standby2")');
        assert.equal(apply.SYNC_COMMIT, "remote_apply");
        assert.equal(apply.EXPECTED, "standby1=quorum standby2=quorum");
        assert.equal(run.outputs.standbys.standby2.mode, "quorum");
    });

    test("synchronous settings are not in any container's command, so they never restart it", () => {
        for (const c of run.ofType("Container")) {
            assert.ok(!(plain(c.inputs.command) as string[]).some((a) => a.startsWith("synchronous")), c.name);
        }
    });

    test("labels name the stack", () => {
        assert.equal(labels(run.get("Container", "primary"))["pg-replication.stack"], "pg17");
    });
});

describe("bad config stops the program before any resource exists", () => {
    test("the error names the key and nothing is registered", async () => {
        await assert.rejects(runProgram({ ...DEV, primaryPort: "99999" }), (err: unknown) => {
            assert.ok(err instanceof ConfigError);
            assert.match((err as Error).message, /pg-replication:primaryPort = "99999" is not allowed/);
            return true;
        });
        assert.deepEqual(harness.lastRegistered, []);
    });
});
