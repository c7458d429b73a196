// Backups (components/backup.ts, pgbackrest.ts) as the program declares them, under Pulumi's mocks:
// nothing without pg-replication:backup; with it, the repository volume (kept on destroy) and its
// settings file, every node on the backup image archiving to it with pgBackRest, and the check
// with the first full backup once the declared primary is primary; a changed setting rewrites the
// file and restarts no node; the settings validated in one place (config.ts validateBackup).

import * as assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { targetFromOutputs } from "../../backup/core";
import { parseLines } from "../../components/fragments";
import { RawConfig, validateBackup } from "../../components/config";
import { pgbackrestConf, repositoryName, repoNetwork, withCredentials } from "../../components/pgbackrest";
import { DEV, isSecret, plain, Recorded, Run, runProgram } from "../support/mocked-program";

const check = (backup: unknown, more: Partial<Parameters<typeof validateBackup>[1]> = {}, raw: RawConfig = {}) =>
    validateBackup({ ...raw, backup: typeof backup === "string" ? backup : JSON.stringify(backup) },
        { image: "postgres:17", namePrefix: "pg-replication-pg17", spans: false, ...more });
const env = (r: Recorded) => plain(r.inputs.environment) as Record<string, string>;
const container = (run: Run, node: string) => plain(run.get("docker:index/container:Container", `cluster-${node}`).inputs) as Record<string, any>;

describe("pg-replication:backup, validated", () => {
    test("absent or false: no backups; true or {}: the backup image of the major, a volume of the stack, 2 full backups kept", () => {
        assert.deepEqual(validateBackup({}, { image: "postgres:17", namePrefix: "p", spans: false }), { problems: [] });
        assert.deepEqual(check("false"), { problems: [] });
        assert.deepEqual(check("true"), check({}));
        assert.deepEqual(check({}), { problems: [], backup: { image: "pg-replication/postgres-backup:17",
            volume: "pg-replication-pg17-backup", stanza: "pg-replication-pg17", retentionFull: 2, processMax: 2,
            maxVerifiedAgeHours: 26, allowUnverifiedDestroy: false } });
        assert.deepEqual([check({ maxVerifiedAgeHours: 48, allowUnverifiedDestroy: true }).backup?.maxVerifiedAgeHours,
            check({ maxVerifiedAgeHours: 48, allowUnverifiedDestroy: true }).backup?.allowUnverifiedDestroy], [48, true]);
    });

    test("each bad value is named with its key, the value and what is allowed", () => {
        assert.deepEqual(check({ retentionFull: 0, processMax: 99, volume: "/etc", colour: "blue", maxVerifiedAgeHours: 0,
            allowUnverifiedDestroy: "yes" }).problems, [
            'pg-replication:backup.colour = "blue" is not allowed: unknown field; backup has image, volume, retentionFull, processMax, ' +
                "maxVerifiedAgeHours, allowUnverifiedDestroy, schedule, s3",
            'pg-replication:backup.volume = "/etc" is not allowed: expected a Docker volume name: letters, digits, \'_\', \'.\', \'-\', starting with a letter or digit',
            "pg-replication:backup.retentionFull = 0 is not allowed: expected a whole number from 1 to 9999",
            "pg-replication:backup.processMax = 99 is not allowed: expected a whole number from 1 to 32",
            "pg-replication:backup.maxVerifiedAgeHours = 0 is not allowed: expected a whole number from 1 to 8760",
            'pg-replication:backup.allowUnverifiedDestroy = "yes" is not allowed: expected true or false',
        ]);
        assert.deepEqual(check("[1]").problems, ["pg-replication:backup = [1] is not allowed: expected true, false or an object " +
            "with any of image, volume, retentionFull, processMax, maxVerifiedAgeHours, allowUnverifiedDestroy, schedule, s3"]);
    });

    test("refused beside archiveCommand, with nodes on several engines, and without a known image", () => {
        assert.deepEqual(check({}, {}, { archiveCommand: "cp %p /x/%f" }).problems, ['pg-replication:archiveCommand = "cp %p /x/%f" ' +
            "is not allowed: not with pg-replication:backup, whose archive_command is pgBackRest's; remove one of the two"]);
        assert.deepEqual(check({}, { spans: true }).problems, ["pg-replication:backup = {} is not allowed: with the nodes on more than " +
            "one Docker engine the repository must be an S3 bucket every node reaches (backup.s3): a volume repository is on one engine, " +
            "and every node mounts it; set backup.s3, or keep the nodes on one engine"]);
        assert.match(check({}, { image: "registry.local/pg:17" }).problems[0], /^pg-replication:backup\.image = null is not allowed: expected the image of pgBackRest for registry\.local\/pg:17/);
        assert.deepEqual(check({ image: "my/pg-backrest:17" }, { image: "registry.local/pg:17" }).problems, []);
    });

    test("pgbackrest.conf: the volume as a posix repository, retention, archive-push not asynchronous, the stanza's data directory", () => {
        const conf = pgbackrestConf({ stanza: "s1", retentionFull: 3, processMax: 4 }, "/var/lib/postgresql/data/pgdata").split("\n");
        for (const line of ["[global]", "repo1-path=/var/lib/pgbackrest", "repo1-retention-full=3", "process-max=4", "archive-async=n",
            "[s1]", "pg1-path=/var/lib/postgresql/data/pgdata"]) {
            assert.ok(conf.includes(line), line);
        }
        assert.ok(conf.indexOf("[s1]") > conf.indexOf("archive-async=n"), "global options before the stanza's section");
        // A background pusher would outlive archive_command and be reaped by the postmaster (PID 1), which takes its error exit for a crash.
        assert.ok(!conf.some((l) => /^spool-path=/.test(l)), "no spool: nothing asynchronous");
    });
});

describe("a stack with backups", () => {
    const ON = { ...DEV, backup: { retentionFull: 3 } };
    let off: Run;
    let on: Run;
    let retained: Run;
    let switched: Run;
    let moved: Run;
    before(async () => {
        off = await runProgram(DEV);
        on = await runProgram(ON);
        retained = await runProgram({ ...DEV, backup: { retentionFull: 5 } });
        switched = await runProgram({ ...ON, primary: "pg2" });
        moved = await runProgram({ ...DEV, backup: { volume: "other-backup" } });
    });

    test("without the key: no repository, no backup, archive_mode off", () => {
        assert.deepEqual(off.resources.filter((r) => /backup/.test(r.name)), []);
        assert.equal(off.outputs.backup, undefined);
        assert.ok(container(off, "pg1").command.includes("archive_mode=off"));
    });

    test("the repository: a volume of the stack kept on destroy, its settings file written through the backup image", () => {
        const volume = on.get("docker:index/volume:Volume", "cluster-backup-repository");
        assert.equal(plain(volume.inputs).name, "pg-replication-dev-backup");
        assert.equal(volume.opts.retainOnDelete, true);
        assert.equal(volume.parent, "cluster-backup-repository");
        const settings = env(on.get("Command", "cluster-backup-repository-settings"));
        assert.equal(settings.IMAGE, "pg-replication/postgres-backup:13");
        assert.match(settings.SETTINGS, /^repo1-retention-full=3$/m);
        assert.match(settings.SETTINGS, /^\[pg-replication-dev\]\npg1-path=\/var\/lib\/postgresql\/data\/pgdata$/m);
    });

    test("every node: the backup image, the repository mounted, pgBackRest's environment, archive_command and archive_timeout", () => {
        for (const node of ["pg1", "pg2"]) {
            const c = container(on, node);
            assert.equal(c.image, "pg-replication/postgres-backup:13");
            assert.deepEqual(c.volumes.map((v: any) => [v.volumeName, v.containerPath]), [
                [`pg-replication-dev-${node}-data`, "/var/lib/postgresql/data"], ["pg-replication-dev-backup", "/var/lib/pgbackrest"]]);
            assert.ok(c.envs.includes("PGBACKREST_STANZA=pg-replication-dev"), c.envs.join(" "));
            assert.ok(c.envs.includes("PGBACKREST_CONFIG=/var/lib/pgbackrest/pgbackrest.conf"));
            for (const setting of ["archive_mode=on", "archive_command=pgbackrest archive-push %p", "archive_timeout=60"]) {
                assert.ok(c.command.includes(setting), setting);
            }
        }
    });

    test("the check and first backup: on the declared primary, after the topology step and the repository", () => {
        const checkCmd = on.get("Command", "cluster-backup-check");
        assert.equal(env(checkCmd).PRIMARY_CONTAINER, "pg-replication-dev-pg1");
        assert.equal(env(checkCmd).STANZA, "pg-replication-dev");
        assert.deepEqual(checkCmd.dependsOn.sort(), ["cluster-backup-repository", "cluster-topology"]);
        assert.equal(env(switched.get("Command", "cluster-backup-check")).PRIMARY_CONTAINER, "pg-replication-dev-pg2",
            "a switchover checks the new primary's archive");
        assert.equal(env(checkCmd).REPOSITORY, "pg-replication-dev-backup");
        assert.equal(env(checkCmd).REPO_PATH, "/var/lib/pgbackrest", "its backup's lock is in the repository volume, as every backup's");
        assert.match(String(checkCmd.inputs.create), /^CHECK_RUN=create\n/, "its create: backups turned on (again)");
        assert.doesNotMatch(String(checkCmd.inputs.update), /^CHECK_RUN=/m);
        assert.equal(env(moved.get("Command", "cluster-backup-check")).REPOSITORY, "other-backup",
            "another repository is checked again: its stanza and its first full backup");
        assert.equal(env(retained.get("Command", "cluster-backup-check")).REPOSITORY, "pg-replication-dev-backup");
    });

    test("the destroy guard: nothing on create; its delete checks the proof and takes the final backup before any node goes", () => {
        const guard = on.get("Command", "cluster-backup-final");
        assert.equal(guard.inputs.create, undefined);
        assert.match(String(guard.inputs.delete), /maxVerifiedAgeHours/);
        assert.match(String(guard.inputs.delete), /\nbackup_take incr \|\|/);
        assert.match(String(guard.inputs.delete), /pgbackrest --log-level-console=warn \\\n\s+--lock-path="\$_bt_lock" --type="\$1" backup/, "backup-tools.sh comes along");
        assert.deepEqual(guard.dependsOn.sort(), ["cluster-backup-check", "cluster-pg1", "cluster-pg2"]);
        assert.deepEqual([env(guard).VOLUME, env(guard).IMAGE, env(guard).MAX_VERIFIED_AGE_HOURS, env(guard).ALLOW_UNVERIFIED_DESTROY],
            ["pg-replication-dev-backup", "pg-replication/postgres-backup:13", "26", "false"]);
        assert.equal(env(guard).REPOSITORY, "pg-replication-dev-backup", "what its messages call the backups' place: the volume");
        assert.equal(on.get("Command", "cluster-backup-check").inputs.delete, undefined);
    });

    test("a changed retention rewrites the settings file only: no node is touched", () => {
        const changed = on.resources.filter((r) => JSON.stringify(plain(r.inputs)) !== JSON.stringify(plain(retained.get(r.type, r.name).inputs)))
            .map((r) => r.name);
        assert.deepEqual(changed, ["cluster-backup-repository-settings"]);
    });

    test("outputs.backup: the volume, the stanza and the image that restores it", async () => {
        const b = on.outputs.backup!;
        assert.deepEqual([b.volume, b.stanza, b.image, b.maxVerifiedAgeHours],
            ["pg-replication-dev-backup", "pg-replication-dev", "pg-replication/postgres-backup:13", 26]);
    });
});

describe("the backup tool's reading of the stack and of pgBackRest", () => {
    test("a stack without backups is refused, naming the key; with them, the target from its outputs", () => {
        assert.throws(() => targetFromOutputs("dev", { nodes: {} }), /stack dev has no backups \(set pg-replication:backup and run scripts\/deploy\.sh dev\)/);
        assert.deepEqual(targetFromOutputs("pg17", {
            engine: { host: "unix:///var/run/docker.sock" },
            nodes: { pg1: { containerName: "p-pg1" }, pg2: { containerName: "p-pg2" } },
            backup: { volume: "p-backup", stanza: "p", image: "pg-replication/postgres-backup:17" },
        }), { engine: "unix:///var/run/docker.sock", containers: ["p-pg1", "p-pg2"], volume: "p-backup", stanza: "p",
            engines: { "p-pg1": "unix:///var/run/docker.sock", "p-pg2": "unix:///var/run/docker.sock" },
            image: "pg-replication/postgres-backup:17", network: "none" });
        // Nodes on one engine other than the stack's (each node names it): the records and the restore are there.
        assert.equal(targetFromOutputs("pg17", { engine: { host: "unix:///var/run/docker.sock" },
            nodes: { pg1: { containerName: "p-pg1", engine: "ssh://db1" }, pg2: { containerName: "p-pg2", engine: "ssh://db1" } },
            backup: { volume: "p-backup", stanza: "p", image: "i" } }).engine, "ssh://db1");
        // Across engines: the records' engine as the outputs name it, each container's own, and every node as PEERS.
        const across = targetFromOutputs("hosts", { engine: { host: "unix:///var/run/docker.sock" },
            nodes: { pg1: { name: "pg1", containerName: "p-pg1", engine: "tcp://10.0.0.11:2376", address: "172.28.0.101", host: "10.0.0.11", port: 5432 },
                pg2: { name: "pg2", containerName: "p-pg2", engine: "tcp://10.0.0.12:2376", address: "172.28.0.102", host: "10.0.0.12", port: 5433 } },
            backup: { volume: "p-backup", stanza: "p", image: "i", engine: "tcp://10.0.0.11:2376", s3: { endpoint: "s3.test", bucket: "b", path: "/x" } } });
        assert.deepEqual([across.engine, across.engines, across.peers], ["tcp://10.0.0.11:2376",
            { "p-pg1": "tcp://10.0.0.11:2376", "p-pg2": "tcp://10.0.0.12:2376" },
            "pg1|p-pg1|tcp://10.0.0.11:2376|172.28.0.101|10.0.0.11|5432 pg2|p-pg2|tcp://10.0.0.12:2376|172.28.0.102|10.0.0.12|5433"]);
        assert.equal(targetFromOutputs("pg17", { nodes: {}, backup: { volume: "p-backup", stanza: "p", image: "i",
            s3: { endpoint: "s3.test", bucket: "b", path: "/x" } } }).network, "bridge", "an S3 repository's restore reaches it over the bridge");
    });

    test("the restore script's key=value lines", () => {
        assert.deepEqual(parseLines("noise\nbackup=20261203-200000F\nrestore_ms=812\nerror=the restored data directory did not start: x=1\n"),
            { backup: "20261203-200000F", restore_ms: "812", error: "the restored data directory did not start: x=1" });
    });
});

describe("backup.s3: the repository in an S3-compatible bucket", () => {
    const S3 = { endpoint: "s3.example.internal", bucket: "pg-backups", region: "eu-west-1" };
    const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
    const SECRETS = { backupS3AccessKey: "AKIDEXAMPLE", backupS3SecretKey: "wJalrXUtnFEMI-example-secret" };

    test("validated: endpoint, bucket and region required, the rest defaulted; both credentials required, as secrets of their own", () => {
        assert.deepEqual(check({ s3: S3 }, {}, SECRETS).backup?.s3, { ...S3, path: "/pg-replication", uriStyle: "path", port: 443 });
        assert.deepEqual(check({ s3: { ...S3, host: "10.0.0.5", port: 9000, uriStyle: "host", path: "/a/b", caCert: CA } }, {}, SECRETS).backup?.s3,
            { ...S3, host: "10.0.0.5", port: 9000, uriStyle: "host", path: "/a/b", caCert: `${CA}\n` });
        assert.deepEqual(check({ s3: { endpoint: "https://x", bucket: "B", port: 0, colour: 1 } }).problems, [
            "pg-replication:backup.s3.colour = 1 is not allowed: unknown field; backup.s3 has endpoint, bucket, region, path, uriStyle, host, port, caCert",
            "pg-replication:backupS3AccessKey = null is not allowed: required with backup.s3: set it as a secret (pulumi config set --secret backupS3AccessKey)",
            "pg-replication:backupS3SecretKey = null is not allowed: required with backup.s3: set it as a secret (pulumi config set --secret backupS3SecretKey)",
            'pg-replication:backup.s3.endpoint = "https://x" is not allowed: expected the S3 endpoint\'s host name (what its TLS certificate names), such as s3.example.internal',
            'pg-replication:backup.s3.bucket = "B" is not allowed: expected an S3 bucket name: 3-63 lower-case letters, digits, \'.\' and \'-\'',
            "pg-replication:backup.s3.region = null is not allowed: expected the bucket's region, such as us-east-1",
            "pg-replication:backup.s3.port = 0 is not allowed: expected a whole number from 1 to 65535",
        ]);
        assert.match(check({ s3: { ...S3, caCert: "not a pem" } }, {}, SECRETS).problems[0],
            /^pg-replication:backup\.s3\.caCert = "not a pem…" is not allowed: expected the PEM text of the CA certificate/);
    });

    test("nodes on several engines: taken with backup.s3 (a bucket every node reaches); its schedule refused, naming why", () => {
        assert.deepEqual(check({ s3: S3 }, { spans: true }, SECRETS).problems, []);
        assert.deepEqual(check({ s3: S3, schedule: false }, { spans: true }, SECRETS).problems, []);
        assert.deepEqual(check({ s3: S3, schedule: true }, { spans: true }, SECRETS).problems, ["pg-replication:backup.schedule = true is " +
            "not allowed: not available yet when the nodes run on more than one Docker engine: the scheduler reaches the nodes through its " +
            "own engine's socket; take backups with npm run backup and prove them with npm run verify-backup, or keep the nodes on one engine"]);
        assert.deepEqual(check({ s3: S3, schedule: true }, { spans: false }, SECRETS).problems, [], "on one engine the schedule is taken");
    });

    test("the credentials without backup.s3 are refused, naming the key, never the value", () => {
        for (const backup of [{}, "false"]) {
            const problems = validateBackup({ backup: typeof backup === "string" ? backup : JSON.stringify(backup), backupS3SecretKey: "(secret)" },
                { image: "postgres:17", namePrefix: "p", spans: false }).problems;
            assert.deepEqual(problems, ['pg-replication:backupS3SecretKey = "(secret)" is not allowed: only with pg-replication:backup.s3, ' +
                "whose credentials it is; remove it or set backup.s3"]);
        }
    });

    test("pgbackrest.conf: repo1-type=s3 with the endpoint, bucket, region, path, port and CA; no credentials in it", () => {
        const b = check({ s3: { ...S3, host: "10.0.0.5", port: 9000, caCert: CA } }, {}, SECRETS).backup!;
        const conf = pgbackrestConf(b, "/var/lib/postgresql/data/pgdata");
        for (const line of ["repo1-type=s3", "repo1-path=/pg-replication", "repo1-s3-endpoint=s3.example.internal", "repo1-s3-bucket=pg-backups",
            "repo1-s3-region=eu-west-1", "repo1-s3-uri-style=path", "repo1-storage-host=10.0.0.5", "repo1-storage-port=9000",
            "repo1-storage-ca-file=/var/lib/pgbackrest/s3-ca.pem"]) {
            assert.ok(conf.split("\n").includes(line), line);
        }
        assert.doesNotMatch(conf, /repo1-s3-key|AKID/);
        assert.doesNotMatch(conf, /^repo1-path=\/var\/lib\/pgbackrest$/m, "the volume is not the repository");
        const full = withCredentials(conf, { accessKey: "AK", secretKey: "SK" }).split("\n");
        assert.deepEqual(full.slice(full.indexOf("[global]") + 1, full.indexOf("[global]") + 3), ["repo1-s3-key=AK", "repo1-s3-key-secret=SK"],
            "the credentials right after [global], as backup-settings.sh puts them");
        assert.equal(repoNetwork(b), "bridge");
        assert.equal(repoNetwork({}), "none");
        assert.equal(repositoryName(b), "s3://pg-backups/pg-replication at s3.example.internal", "messages name the bucket");
        assert.equal(repositoryName({ volume: "p-backup" }), "p-backup");
    });

    test("in the stack: the credentials reach the settings file on stdin as a secret, never in its environment; outputs say where", async () => {
        const run = await runProgram({ ...DEV, backup: { s3: { ...S3, caCert: CA } }, ...SECRETS }, Object.keys(SECRETS));
        const settings = run.get("Command", "cluster-backup-repository-settings");
        assert.ok(isSecret(settings.inputs.stdin), "stdin is a secret");
        assert.equal(plain(settings.inputs.stdin), "repo1-s3-key=AKIDEXAMPLE\nrepo1-s3-key-secret=wJalrXUtnFEMI-example-secret\n");
        const e = env(settings);
        assert.equal(e.S3, "1");
        assert.equal(e.S3_CA_FILE, "/var/lib/pgbackrest/s3-ca.pem");
        assert.equal(e.S3_CA_CERT, `${CA}\n`);
        assert.match(e.SETTINGS, /^repo1-type=s3$/m);
        for (const r of run.resources) {
            assert.doesNotMatch(JSON.stringify(plain(r.inputs.environment ?? {})) + JSON.stringify(plain(r.inputs.envs ?? [])) +
                JSON.stringify(plain(r.inputs.create ?? "")), /AKIDEXAMPLE|wJalrXUtnFEMI/, `${r.name}: no credential outside stdin`);
        }
        assert.deepEqual(run.outputs.backup!.s3, { endpoint: "s3.example.internal", bucket: "pg-backups", path: "/pg-replication" });
        assert.equal(env(run.get("Command", "cluster-upgrade")).REPO_NETWORK, "bridge", "the upgrade's stanza-upgrade reaches the bucket");
        const volumeOnly = await runProgram({ ...DEV, backup: {} });
        assert.equal(env(volumeOnly.get("Command", "cluster-backup-repository-settings")).S3, undefined);
        assert.equal(volumeOnly.get("Command", "cluster-backup-repository-settings").inputs.stdin, undefined, "a volume repository: nothing on stdin");
        assert.equal(env(volumeOnly.get("Command", "cluster-upgrade")).REPO_NETWORK, undefined);
    });

    test("nodes on two engines: each node's container waits for its own engine's settings volume, which it mounts", async () => {
        const run = await runProgram({ ...DEV, subnet: "172.28.44.0/24", nodes: [
            { name: "pg1", address: "172.28.44.101", port: 5432, host: "unix:///run/h1/docker.sock", hostAddress: "10.231.9.11" },
            { name: "pg2", address: "172.28.44.102", port: 5432, host: "unix:///run/h2/docker.sock", hostAddress: "10.231.9.12" },
        ], backup: { s3: S3 }, ...SECRETS }, Object.keys(SECRETS));
        for (const [node, own, other] of [["pg1", "cluster-backup-repository", "cluster-backup-repository-pg2"],
            ["pg2", "cluster-backup-repository-pg2", "cluster-backup-repository"]]) {
            const deps = run.get("docker:index/container:Container", `cluster-${node}`).dataDeps;
            assert.ok(deps.includes(`${own}-settings`), `${node} waits for ${own}'s settings: ${deps.join(", ")}`);
            assert.ok(!deps.includes(`${other}-settings`), `${node} does not wait for another engine's`);
        }
        const volumes = run.resources.filter((r) => r.type === "docker:index/volume:Volume" && /backup-repository/.test(r.name));
        assert.deepEqual(volumes.map((v) => [v.name, plain(v.inputs).name, v.opts.retainOnDelete]), [
            ["cluster-backup-repository", "pg-replication-dev-backup", true], ["cluster-backup-repository-pg2", "pg-replication-dev-backup", true]],
        "every settings volume kept: Pulumi never removes one a node may still mount");
    });
});
