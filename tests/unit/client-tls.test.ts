// Clients across hosts over TLS: on one engine nothing changes (pg_hba, the provider, the outputs);
// on several, the nodes admit clients from outside their engine over TLS only, the postgresql
// provider verifies the primary (verify-full) against the stack's CA in a file a command writes
// on the machine running Pulumi, and the outputs say what a client needs.
// The pg_hba text is what node-access.sh really writes (run by /bin/sh against a stand-in docker).

import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import {
    caFileCopyId, caFilePath, ClusterOutputs, declareCluster, PostgresClusterArgs, REMOVE_CA_FILE, WRITE_CA_FILE,
} from "../../components/cluster";
import { loadConfig, NAMESPACE } from "../../components/config";
import { clusterArgs } from "../../components/program";
import { script } from "../../components/shell";
import { DEV, isSecret, plain, secretConfigKeys } from "../support/mocked-program";

const PEM = (what: string) => `-----BEGIN ${what}-----\nAAAA\n-----END ${what}-----\n`;
const CA_PEM = PEM("CERTIFICATE");

/** Two engines, one node on each (unix sockets: no host address is implied by the engine's URL). */
const MULTI = {
    ...DEV,
    subnet: "172.28.44.0/24",
    nodes: [
        { name: "pg1", address: "172.28.44.101", port: 5432, host: "unix:///run/h1/docker.sock", hostAddress: "10.231.9.11" },
        { name: "pg2", address: "172.28.44.102", port: 5432, host: "unix:///run/h2/docker.sock", hostAddress: "10.231.9.12" },
    ],
};

interface Declared {
    type: string;
    name: string;
    inputs: Record<string, any>;
    parent?: string;
    ignoreChanges?: string[];
    retainOnDelete?: boolean;
}

const value = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply(resolve));

/** The program on mocks; the TLS commands answer with PEM as tls.ts expects. */
async function declare(config: Record<string, unknown>, stack: string, observed: Pick<PostgresClusterArgs, "lostEngines"> = {}):
    Promise<{ declared: Declared[]; outputs: ClusterOutputs }> {
    const inputs = new Map<string, Record<string, any>>();
    await pulumi.runtime.setMocks({
        newResource(a: pulumi.runtime.MockResourceArgs) {
            inputs.set(`${a.type}::${a.name}`, a.inputs);
            const state: Record<string, any> = { ...a.inputs };
            if (a.type === "command:local:Command") {
                state.stdout = a.name.endsWith("-tls-ca") ? JSON.stringify({ caCert: CA_PEM, caKey: PEM("PRIVATE KEY") })
                    : JSON.stringify({ cert: PEM("CERTIFICATE"), key: PEM("PRIVATE KEY") });
            }
            if (a.type === "docker:index/remoteImage:RemoteImage") {
                state.imageId = "sha256:0123";
            }
            return { id: `${a.name}-id`, state };
        },
        call: (a: pulumi.runtime.MockCallArgs) => a.inputs,
    }, "pg-replication", stack, false, "organization");
    pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(config).map(([k, v]) =>
        [`${NAMESPACE}:${k}`, typeof v === "string" ? v : JSON.stringify(v)])),
    secretConfigKeys(config).map((k) => `${NAMESPACE}:${k}`)); // as set with --secret
    const cfg = loadConfig();
    const seen: Omit<Declared, "inputs">[] = [];
    let outputs!: ClusterOutputs;
    await pulumi.runtime.runInPulumiStack(async () => {
        pulumi.runtime.registerStackTransformation((a) => {
            seen.push({ type: a.type, name: a.name, parent: (a.opts.parent as any)?.__name,
                ignoreChanges: (a.opts as pulumi.CustomResourceOptions).ignoreChanges, retainOnDelete: a.opts.retainOnDelete });
            return undefined;
        });
        outputs = declareCluster({ ...clusterArgs(cfg), ...observed });
        return outputs;
    });
    // Everything is registered once the last outputs resolve.
    await Promise.all(Object.values(outputs.nodes).flatMap((n) => [value(n.connectionString), value(n.version)]));
    for (let i = 0; i < 200 && seen.some((s) => !s.type.startsWith("pg-replication:") && !inputs.has(`${s.type}::${s.name}`)); i++) {
        await new Promise((r) => setTimeout(r, 10));
    }
    // The stack registers its outputs once every one of them (the nodes' versions last) has resolved; that
    // registration must reach these mocks before the next declare replaces them.
    await value(pulumi.output(outputs));
    await new Promise((r) => setTimeout(r, 20));
    return { declared: seen.map((s) => ({ ...s, inputs: inputs.get(`${s.type}::${s.name}`) ?? {} })), outputs };
}

function find(declared: Declared[], type: string, name: string): Declared {
    const found = declared.filter((d) => d.type.endsWith(type) && d.name === name);
    assert.equal(found.length, 1, `one ${type} ${name}; have ${declared.map((d) => d.name).join(", ")}`);
    return found[0];
}

const env = (d: Declared) => {
    const { DOCKER_HOST: _engine, ...rest } = plain(d.inputs.environment) as Record<string, string>;
    return rest;
};

// ---------------------------------------------------------------------------------------------
// node-access.sh for real, with a docker that records what it is given.

const FAKE_DOCKER = `#!/bin/sh
n=$(( $(cat "$FAKE_DIR/count" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$FAKE_DIR/count"
cat > "$FAKE_DIR/stdin.$n"
if grep -q 'SHOW ssl' "$FAKE_DIR/stdin.$n"; then echo on; fi
`;

function access(env: Record<string, string>): { status: number | null; stderr: string; hba: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-access-"));
    try {
        fs.writeFileSync(path.join(dir, "docker"), FAKE_DOCKER, { mode: 0o755 });
        const res = spawnSync("/bin/sh", ["-c", script("node-access.sh")], {
            input: "", encoding: "utf8", timeout: 30_000,
            env: { PATH: `${dir}:/usr/bin:/bin`, FAKE_DIR: dir, ...env },
        });
        const first = path.join(dir, "stdin.1");
        return { status: res.status, stderr: res.stderr, hba: fs.existsSync(first) ? fs.readFileSync(first, "utf8") : "" };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

const ACCESS = { NODE_CONTAINER: "pg-pg1", REPLICATION_USER: "repuser", WAL_KEEP_SIZE: "128MB", MAX_SLOT_WAL_KEEP_SIZE: "1GB" };

describe("pg_hba.conf (node-access.sh)", () => {
    test("one engine, TLS off: exactly the rules it always wrote (clients from anywhere, scram-sha-256)", () => {
        const res = access({ ...ACCESS, NODE_ADDRESSES: "172.18.0.101 172.18.0.102" });
        assert.equal(res.status, 0, res.stderr);
        assert.equal(res.hba, [
            "# Managed by pg-replication; rewritten on every deployment.",
            "local   all          all                          peer",
            "host    all          all          all             scram-sha-256",
            "host    replication  repuser  172.18.0.101/32  scram-sha-256",
            "host    replication  repuser  172.18.0.102/32  scram-sha-256",
            "",
        ].join("\n"));
    });

    test("several engines: plaintext only from the node's bridge subnet, every other client over TLS", () => {
        const res = access({
            ...ACCESS, NODE_ADDRESSES: "172.28.44.101", TLS_DIR: "/var/lib/postgresql/data/tls",
            TLS_ADDRESSES: "10.231.9.12", CLIENT_SUBNET: "172.28.44.0/24",
        });
        assert.equal(res.status, 0, res.stderr);
        assert.equal(res.hba, [
            "# Managed by pg-replication; rewritten on every deployment.",
            "local   all          all                          peer",
            "host    all          all          172.28.44.0/24  scram-sha-256",
            "hostssl all          all          all             scram-sha-256",
            "host    replication  repuser  172.28.44.101/32  scram-sha-256",
            "hostssl replication  repuser  10.231.9.12/32  scram-sha-256",
            "",
        ].join("\n"));
        assert.match(res.stderr, /clients without TLS only from 172\.28\.44\.0\/24$/m);
    });

    test("TLS without the subnet plaintext clients may come from is refused before anything is written", () => {
        const res = access({ ...ACCESS, NODE_ADDRESSES: "172.28.44.101", TLS_DIR: "/x", TLS_ADDRESSES: "10.231.9.12" });
        assert.notEqual(res.status, 0);
        assert.match(res.stderr, /CLIENT_SUBNET is required with TLS_DIR/);
        assert.equal(res.hba, "");
    });
});

describe("one engine: TLS off, nothing about clients changes", () => {
    let declared: Declared[];
    let outputs: ClusterOutputs;
    before(async () => {
        ({ declared, outputs } = await declare({ ...DEV, superuserPassword: "pw" }, "dev"));
    });

    test("the provider connects without TLS and no CA file is written", () => {
        const provider = find(declared, "providers:postgresql", "cluster-sql");
        assert.equal(provider.inputs.sslmode, "disable");
        assert.equal("sslrootcert" in provider.inputs, false);
        assert.ok(!declared.some((d) => d.name.endsWith("-ca-file") || d.name.includes("-tls")));
    });

    test("no CLIENT_SUBNET for node-access, no tls output, connection strings without parameters", async () => {
        for (const n of ["pg1", "pg2"]) {
            assert.deepEqual(Object.keys(env(find(declared, "Command", `cluster-${n}-access`))).sort(),
                ["MAX_SLOT_WAL_KEEP_SIZE", "NODE_ADDRESSES", "NODE_CONTAINER", "REPLICATION_USER", "WAL_KEEP_SIZE"]);
        }
        assert.equal(outputs.tls, undefined);
        assert.equal(await value(outputs.primary.connectionString), "postgresql://postgres:pw@127.0.0.1:5432/postgres");
    });
});

describe("several engines: clients across hosts over TLS", () => {
    let declared: Declared[];
    let outputs: ClusterOutputs;
    let data: string;
    const saved = process.env.XDG_DATA_HOME;
    before(async () => {
        data = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-data-"));
        process.env.XDG_DATA_HOME = data;
        ({ declared, outputs } = await declare({ ...MULTI, superuserPassword: "p w" }, "multi"));
    });
    after(() => {
        if (saved === undefined) {
            delete process.env.XDG_DATA_HOME;
        } else {
            process.env.XDG_DATA_HOME = saved;
        }
        fs.rmSync(data, { recursive: true, force: true });
    });
    const caFile = () => path.join(data, "pg-replication", "tls", "organization", "pg-replication", "multi", "cluster-ca.crt");

    test("a major upgrade's step runs on the primary's engine and knows every node's (the kept standby's mark is set on its own)", () => {
        const e = plain(find(declared, "Command", "cluster-upgrade").inputs.environment) as Record<string, string>;
        assert.equal(e.DOCKER_HOST, "unix:///run/h1/docker.sock");
        assert.equal(e.KEEP_CONTAINER, "pg-replication-multi-pg2");
        assert.equal(e.PEERS, "pg1|pg-replication-multi-pg1|unix:///run/h1/docker.sock|172.28.44.101|10.231.9.11|5432 " +
            "pg2|pg-replication-multi-pg2|unix:///run/h2/docker.sock|172.28.44.102|10.231.9.12|5432");
    });

    test("the commit policy's gate asks each standby's container on its own engine (PEERS), never only the primary's", () => {
        const e = plain(find(declared, "Command", "cluster-replication-policy").inputs.environment) as Record<string, string>;
        assert.equal(e.DOCKER_HOST, "unix:///run/h1/docker.sock");
        assert.equal(e.PEERS, "pg1|pg-replication-multi-pg1|unix:///run/h1/docker.sock|172.28.44.101|10.231.9.11|5432 " +
            "pg2|pg-replication-multi-pg2|unix:///run/h2/docker.sock|172.28.44.102|10.231.9.12|5432");
    });

    test("an engine lost in a failover: its image and its node's container keep what the state has (ignoreChanges)", async () => {
        const lost = (await declare({ ...MULTI, superuserPassword: "p w" }, "multi", { lostEngines: ["unix:///run/h1/docker.sock"] })).declared;
        assert.deepEqual(find(lost, "Container", "cluster-pg1").ignoreChanges, ["uploads", "image"]);
        assert.deepEqual(find(lost, "RemoteImage", "cluster-image-pg1").ignoreChanges, ["name"]);
        // Its delete (keepLocally: nothing on the engine) never reaches the provider, which would dial the engine first.
        assert.ok(lost.filter((d) => d.type.endsWith("RemoteImage")).every((d) => d.retainOnDelete === true));
        // The other engine's, and every one when none is lost, as always.
        assert.deepEqual(find(lost, "Container", "cluster-pg2").ignoreChanges, ["uploads"]);
        // A major upgrade's finish, left to a later up while an engine is lost, runs again once it is back.
        const finish = (d: Declared[]) => plain(find(d, "Command", "cluster-upgrade-finish").inputs.triggers);
        assert.deepEqual(finish(lost), [JSON.stringify({ down: [], lost: ["unix:///run/h1/docker.sock"] })]);
        assert.deepEqual(finish(declared), [JSON.stringify({ down: [], lost: [] })]);
        assert.equal(find(lost, "RemoteImage", "cluster-image-pg2").ignoreChanges, undefined);
        assert.deepEqual(find(declared, "Container", "cluster-pg1").ignoreChanges, ["uploads"]);
        assert.equal(find(declared, "RemoteImage", "cluster-image-pg1").ignoreChanges, undefined);
        // The same Docker resources with the same inputs: nothing but the options differs.
        const docker = (d: Declared[]) => d.filter((x) => x.type.startsWith("docker:")).map((x) => `${x.name} ${JSON.stringify(x.inputs)}`);
        assert.deepEqual(docker(lost), docker(declared));
    });

    test("each node admits plaintext clients only from its bridge subnet (same subnet on every engine)", () => {
        for (const n of ["pg1", "pg2"]) {
            const e = env(find(declared, "Command", `cluster-${n}-access`));
            assert.equal(e.CLIENT_SUBNET, "172.28.44.0/24");
            assert.equal(e.TLS_DIR, "/var/lib/postgresql/data/tls");
        }
    });

    test("a command on the Pulumi host writes the CA to a file named by organization, project, stack and component", () => {
        const cmd = find(declared, "Command", "cluster-ca-file");
        assert.equal(cmd.parent, "cluster");
        assert.deepEqual(plain(cmd.inputs.environment).CA_FILE, caFile());
        assert.match(plain(cmd.inputs.environment).COPY_ID, /^[0-9a-f]{8}-[0-9a-f]{4}-/);
        assert.equal(cmd.inputs.stdin, CA_PEM, "the CA certificate is public: not a secret");
        assert.equal(cmd.inputs.create, WRITE_CA_FILE);
        assert.equal(cmd.inputs.update, WRITE_CA_FILE, "a new copy id or CA writes the file again");
        assert.equal(cmd.inputs.delete, REMOVE_CA_FILE);
        assert.equal(caFilePath("cluster"), caFile());
    });

    test("the provider connects with verify-full against that file, at the primary's host address", async () => {
        const provider = find(declared, "providers:postgresql", "cluster-sql");
        assert.equal(provider.inputs.sslmode, "verify-full");
        assert.equal(provider.inputs.sslrootcert, caFile());
        assert.equal(provider.inputs.host, "10.231.9.11", "the primary's host address: in its certificate");
        assert.ok(isSecret(provider.inputs.password));
    });

    test("outputs: the CA (public), its file and the mode; connection strings say verify-full and name the file", async () => {
        assert.ok(outputs.tls);
        assert.equal(outputs.tls.sslmode, "verify-full");
        assert.equal(await value(outputs.tls.caCert), CA_PEM);
        assert.equal(await pulumi.isSecret(outputs.tls.caCert), false);
        assert.equal(outputs.tls.caFile, caFile());
        const url = await value(outputs.nodes.pg2.connectionString);
        assert.equal(url, `postgresql://postgres:p%20w@10.231.9.12:5432/postgres?sslmode=verify-full&sslrootcert=${caFile()}`);
        assert.equal(await pulumi.isSecret(outputs.nodes.pg2.connectionString), true);
        assert.equal(new URL(url).searchParams.get("sslrootcert"), caFile());
    });
});

describe("several engines with backups (backup.s3): a settings volume on each engine, the records on the first node's", () => {
    const H1 = "unix:///run/h1/docker.sock";
    const H2 = "unix:///run/h2/docker.sock";
    const S3 = { s3: { endpoint: "s3.example.internal", bucket: "pg-backups", region: "eu-west-1" } };
    const SECRETS = { backupS3AccessKey: "AKIDEXAMPLE", backupS3SecretKey: "wJalrXUtnFEMI-example-secret" };
    let declared: Declared[];
    let outputs: ClusterOutputs;
    before(async () => {
        ({ declared, outputs } = await declare({ ...MULTI, superuserPassword: "p w", primary: "pg2", backup: S3, ...SECRETS }, "multi"));
    });

    test("one volume of the same name on each engine, written with the credentials, each kept on destroy; the records in pg1's engine's", () => {
        const volumes = declared.filter((d) => d.type === "docker:index/volume:Volume" && /backup-repository/.test(d.name));
        assert.deepEqual(volumes.map((v) => [v.name, v.inputs.name, v.retainOnDelete ?? false]), [
            ["cluster-backup-repository", "pg-replication-multi-backup", true],
            ["cluster-backup-repository-pg2", "pg-replication-multi-backup", true],
        ], "the records' volume on the first node's engine, though pg2 is the primary; every one kept");
        for (const [suffix, host] of [["", H1], ["-pg2", H2]]) {
            const settings = find(declared, "Command", `cluster-backup-repository${suffix}-settings`);
            assert.equal(plain(settings.inputs.environment).DOCKER_HOST, host);
            assert.equal(plain(settings.inputs.stdin), "repo1-s3-key=AKIDEXAMPLE\nrepo1-s3-key-secret=wJalrXUtnFEMI-example-secret\n");
        }
        for (const node of ["pg1", "pg2"]) {
            const c = find(declared, "Container", `cluster-${node}`);
            assert.ok(plain(c.inputs.volumes).some((v: any) => v.volumeName === "pg-replication-multi-backup" && v.containerPath === "/var/lib/pgbackrest"),
                `${node} mounts its engine's settings volume`);
        }
    });

    test("the check and the destroy's final backup: on the records' engine, the primary asked on its own (PEERS)", () => {
        for (const name of ["cluster-backup-check", "cluster-backup-final"]) {
            const e = plain(find(declared, "Command", name).inputs.environment) as Record<string, string>;
            assert.equal(e.DOCKER_HOST, H1, `${name}: on the records' engine`);
            assert.equal(e.PRIMARY_CONTAINER, "pg-replication-multi-pg2");
            assert.equal(e.PEERS, `pg1|pg-replication-multi-pg1|${H1}|172.28.44.101|10.231.9.11|5432 ` +
                `pg2|pg-replication-multi-pg2|${H2}|172.28.44.102|10.231.9.12|5432`);
            assert.equal(e.VOLUME, "pg-replication-multi-backup");
        }
        assert.equal(outputs.backup!.engine, H1, "the tools find the records there");
        assert.equal(plain(find(declared, "Command", "cluster-backup-check").inputs.environment).RECORDS_LOST, undefined);
        assert.equal(plain(find(declared, "Command", "cluster-upgrade").inputs.environment).BACKUP_VOLUME, "pg-replication-multi-backup");
    });

    test("the records' engine lost (a failover's up): the check is told to leave the records alone; another engine lost: not", async () => {
        const lost = await declare({ ...MULTI, superuserPassword: "p w", backup: S3, ...SECRETS }, "multi", { lostEngines: [H1] });
        assert.equal(plain(find(lost.declared, "Command", "cluster-backup-check").inputs.environment).RECORDS_LOST, "1");
        const other = await declare({ ...MULTI, superuserPassword: "p w", backup: S3, ...SECRETS }, "multi", { lostEngines: [H2] });
        assert.equal(plain(find(other.declared, "Command", "cluster-backup-check").inputs.environment).RECORDS_LOST, undefined);
    });

    test("on one engine none of it: no PEERS for the check, no engine in the outputs", async () => {
        const one = await declare({ ...DEV, superuserPassword: "p w", backup: S3, ...SECRETS }, "one");
        assert.equal(plain(find(one.declared, "Command", "cluster-backup-check").inputs.environment).PEERS, undefined);
        assert.equal(one.outputs.backup!.engine, undefined);
        assert.deepEqual(one.declared.filter((d) => d.type === "docker:index/volume:Volume" && /backup-repository/.test(d.name)).map((v) => v.name),
            ["cluster-backup-repository"]);
    });
});

describe("several engines with endpoints: a pair of poolers on each engine with a node", () => {
    let declared: Declared[];
    let outputs: ClusterOutputs;
    let lost: Declared[];
    const H1 = "unix:///run/h1/docker.sock";
    before(async () => {
        ({ declared, outputs } = await declare({ ...MULTI, superuserPassword: "p w", endpoints: true }, "multi"));
        lost = (await declare({ ...MULTI, superuserPassword: "p w", endpoints: true }, "multi", { lostEngines: [H1] })).declared;
    });
    const config = (d: Declared[], name: string) => find(d, "Command", `${name}-config`);

    test("each engine's poolers on its own bridge at the same addresses, published on its host's address, through its own provider", () => {
        for (const [site, host] of [["pg1", "10.231.9.11"], ["pg2", "10.231.9.12"]]) {
            for (const [suffix, address, port] of [["", "172.28.44.254", 6432], ["-ro", "172.28.44.253", 6433]] as const) {
                const c = find(declared, "Container", `cluster-endpoint-${site}${suffix}`);
                assert.equal(c.inputs.name, suffix ? "pg-replication-multi-pooler-ro" : "pg-replication-multi-pooler");
                assert.deepEqual(plain(c.inputs.networksAdvanced).map((n: any) => n.ipv4Address), [address]);
                assert.deepEqual(plain(c.inputs.ports), [{ internal: 6432, external: port, ip: host }]);
                assert.equal(plain(config(declared, `cluster-endpoint-${site}${suffix}`).inputs.environment).DOCKER_HOST,
                    site === "pg1" ? H1 : "unix:///run/h2/docker.sock");
            }
        }
        assert.equal(declared.filter((d) => d.type.endsWith("Container") && d.name.startsWith("cluster-endpoint")).length, 4);
    });

    test("writes go to the primary at its cluster address on its own engine, at its host's address and port from the other", () => {
        assert.equal(env(config(declared, "cluster-endpoint-pg1")).TARGET, "* = host=172.28.44.101 port=5432");
        assert.equal(env(config(declared, "cluster-endpoint-pg2")).TARGET, "* = host=10.231.9.11 port=5432");
        // Reads: the watcher asks its own engine's node first (no port: the bridge's 5432), the others at their host.
        assert.equal(env(config(declared, "cluster-endpoint-pg2-ro")).MEMBERS, "pg2 172.28.44.102\npg1 10.231.9.11 5432");
        assert.equal(env(config(declared, "cluster-endpoint-pg1-ro")).MEMBERS, "pg1 172.28.44.101\npg2 10.231.9.12 5432");
    });

    test("TLS both ways: nodes verified against the stack's CA, clients over TLS with the pooler's own certificate (key on stdin, a secret)", () => {
        for (const name of ["cluster-endpoint-pg1", "cluster-endpoint-pg2-ro"]) {
            const c = config(declared, name);
            const e = env(c);
            assert.equal(e.TLS, "1");
            assert.equal(e.CA_CERT, CA_PEM);
            assert.match(e.POOLER_INI, /\nserver_tls_sslmode = verify-full\nserver_tls_ca_file = \/etc\/pg-replication-pooler\/ca\.crt\n/);
            assert.match(e.POOLER_INI, /\nclient_tls_sslmode = require\nclient_tls_ca_file = [^\n]*ca\.crt\nclient_tls_cert_file = [^\n]*server\.crt\nclient_tls_key_file = [^\n]*server\.key\n/);
            assert.ok(!JSON.stringify(plain(c.inputs.environment)).includes("PRIVATE KEY"), "no key in the environment");
            assert.equal(isSecret(c.inputs.stdin), true);
            assert.match(plain(c.inputs.stdin), /^[^\n]+\n-----BEGIN CERTIFICATE-----\n[^]*-----BEGIN PRIVATE KEY-----/);
        }
        // Each engine's poolers have a certificate for their host's address and both pooler addresses.
        const cert = env(find(declared, "Command", "cluster-tls-pooler-pg2"));
        assert.equal(cert.SAN, "DNS:pooler-pg2,IP:10.231.9.12,DNS:10.231.9.12,IP:172.28.44.254,DNS:172.28.44.254,IP:172.28.44.253,DNS:172.28.44.253");
    });

    test("outputs: the first node's host's endpoints as rw and ro, every host's under byHost, each URL verify-full", async () => {
        const e = outputs.endpoints!;
        assert.deepEqual(Object.keys(e.byHost!), ["10.231.9.11", "10.231.9.12"]);
        assert.equal(e.rw.host, "10.231.9.11");
        const url = await value(e.byHost!["10.231.9.12"].ro.connectionString);
        assert.match(url, /^postgresql:\/\/postgres:p%20w@10\.231\.9\.12:6433\/postgres\?sslmode=verify-full&sslrootcert=\/.*cluster-ca\.crt$/);
        assert.equal(await pulumi.isSecret(e.byHost!["10.231.9.12"].rw.connectionString), true);
    });

    test("the topology step pauses and points the endpoint on every engine", () => {
        const input = JSON.parse(plain(find(declared, "Command", "cluster-topology").inputs.environment).TOPOLOGY_INPUT);
        assert.deepEqual(input.endpoint, { container: "pg-replication-multi-pooler", pauseTimeoutSeconds: 10,
            engines: [H1, "unix:///run/h2/docker.sock"] });
    });

    test("an engine lost in a failover: its poolers keep what the state has (nothing dials it); the other engine's as always", () => {
        assert.deepEqual(find(lost, "Container", "cluster-endpoint-pg1").ignoreChanges, ["image"]);
        assert.deepEqual(config(lost, "cluster-endpoint-pg1-ro").ignoreChanges, ["environment", "stdin", "triggers"]);
        assert.equal(find(lost, "Container", "cluster-endpoint-pg2").ignoreChanges, undefined);
        assert.equal(config(lost, "cluster-endpoint-pg2").ignoreChanges, undefined);
        assert.equal(config(declared, "cluster-endpoint-pg1").ignoreChanges, undefined);
    });
});

describe("the CA file on the Pulumi host", () => {
    let dir: string;
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-cafile-"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const sh = (text: string, env: Record<string, string>, input = "") =>
        spawnSync("/bin/sh", ["-c", text], { input, encoding: "utf8", env: { PATH: "/usr/bin:/bin", ...env } });

    test("written (0644, atomically) with its copy id, which the next run reads back: no change where the copy is", () => {
        const file = path.join(dir, "org", "proj", "stack", "cluster-ca.crt");
        const id = caFileCopyId(file);
        const res = sh(WRITE_CA_FILE, { CA_FILE: file, COPY_ID: id }, CA_PEM);
        assert.equal(res.status, 0, res.stderr);
        assert.equal(res.stdout, "");
        assert.equal(fs.readFileSync(file, "utf8"), CA_PEM);
        assert.equal(fs.statSync(file).mode & 0o777, 0o644);
        assert.equal(caFileCopyId(file), id);
    });

    test("a machine without the file (or with the file removed) gets a new id, so the command writes it again", () => {
        const file = path.join(dir, "org", "proj", "stack", "cluster-ca.crt");
        const id = caFileCopyId(file);
        fs.rmSync(file);
        assert.notEqual(caFileCopyId(file), id);
        assert.notEqual(caFileCopyId(path.join(dir, "elsewhere", "ca.crt")), caFileCopyId(path.join(dir, "elsewhere", "ca.crt")));
    });

    test("delete removes the file, its id and the stack's directory once empty", () => {
        const file = path.join(dir, "o", "p", "s", "cluster-ca.crt");
        assert.equal(sh(WRITE_CA_FILE, { CA_FILE: file, COPY_ID: "x" }, CA_PEM).status, 0);
        const res = sh(REMOVE_CA_FILE, { CA_FILE: file });
        assert.equal(res.status, 0, res.stderr);
        assert.equal(fs.existsSync(path.dirname(file)), false);
        assert.equal(fs.existsSync(path.join(dir, "o", "p")), true, "only the stack's own directory goes");
        assert.equal(sh(REMOVE_CA_FILE, { CA_FILE: file }).status, 0, "a second delete finds nothing and succeeds");
    });
});
