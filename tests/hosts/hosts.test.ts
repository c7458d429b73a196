// The test hosts themselves (tests/support/hosts.ts): three engines on three addresses, a
// PostgreSQL on each reachable from this machine and from a container on another host (the path
// replication takes), and a teardown that leaves nothing behind.

import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { Client } from "pg";
import { createHostSet, HostSet, hostSetLeftovers, removeHostSet } from "../support/hosts";

const SET = "hst";
const SUBNET = 1;
const IMAGE = "postgres:13";
const PASSWORD = "hosts-test-only";
const LABEL = `pg-replication.stack=${SET}`;

let hostSet: HostSet;

async function query(host: string, sql: string): Promise<any[]> {
    const client = new Client({ host, port: 5432, user: "postgres", password: PASSWORD, database: "postgres", connectionTimeoutMillis: 3000 });
    await client.connect();
    try {
        return (await client.query(sql)).rows;
    } finally {
        await client.end();
    }
}

/** Retries fn until it resolves, up to timeoutMs; the last error is in the message. */
async function eventually<T>(what: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        try {
            return await fn();
        } catch (err) {
            if (Date.now() > deadline) {
                throw new Error(`${what}: still failing after ${timeoutMs / 1000} s: ${(err as Error).message}`);
            }
            await new Promise((resolve) => setTimeout(resolve, 300));
        }
    }
}

describe("test hosts: three Docker engines in network namespaces", { timeout: 300_000 }, () => {
    before(async () => {
        const started = Date.now();
        hostSet = await createHostSet({ set: SET, subnet: SUBNET, count: 3, images: [IMAGE] });
        process.stderr.write(`[hosts] three hosts up in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    });

    after(async () => {
        // The teardown is itself under test below; this one only runs when a test failed before it.
        if (hostSetLeftovers(SET).length > 0) {
            await removeHostSet(SET, SUBNET);
        }
    });

    test("each host is its own engine on its own address, with the image", () => {
        // Engine ids come from the shared /etc/docker/key.json, so the data root and the default
        // bridge's range tell the engines apart.
        const roots = hostSet.hosts.map((h) => h.docker("info", "--format", "{{.DockerRootDir}}"));
        assert.deepEqual(roots, hostSet.hosts.map((h) => `/var/lib/pg-replication-hosts/${SET}/${h.name}`));
        const bridges = hostSet.hosts.map((h) => h.docker("network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Subnet}}"));
        assert.deepEqual(bridges, ["172.29.4.0/24", "172.29.5.0/24", "172.29.6.0/24"]);
        assert.deepEqual(hostSet.hosts.map((h) => h.address), ["10.231.1.11", "10.231.1.12", "10.231.1.13"]);
        for (const h of hostSet.hosts) {
            assert.match(h.docker("image", "inspect", "--format", "{{.Id}}", IMAGE), /^sha256:/);
        }
    });

    test("a PostgreSQL on each host answers on the host's address, from here and from another host", async () => {
        for (const h of hostSet.hosts) {
            h.docker("run", "-d", "--name", `${SET}-pg`, "--label", LABEL, "-e", `POSTGRES_PASSWORD=${PASSWORD}`,
                "-p", `${h.address}:5432:5432`, IMAGE);
        }
        for (const h of hostSet.hosts) {
            const rows = await eventually(`postgres on ${h.name} from the root namespace`, 60_000,
                () => query(h.address, "SELECT inet_server_addr()::text AS addr, current_setting('port') AS port"));
            assert.equal(rows[0].port, "5432");
        }
        // A client container on host 1 reaching host 0's published port: the path a standby's
        // replication connection takes. Host 0 sees it as host 1's address (masqueraded by host 1).
        const [a, b] = hostSet.hosts;
        const seen = b.docker("run", "--rm", "--label", LABEL, "-e", `PGPASSWORD=${PASSWORD}`, IMAGE,
            "psql", "-h", a.address, "-U", "postgres", "-Atc", "SELECT host(inet_client_addr())");
        assert.equal(seen, b.address);
        // And from here, host 0 sees the root namespace's end.
        const rows = await query(a.address, "SELECT host(inet_client_addr()) AS client");
        assert.equal(rows[0].client, hostSet.gateway);
    });

    test("a host has no default route: it reaches the other hosts and the root's end, nothing else", () => {
        for (const h of hostSet.hosts) {
            const routes = execFileSync("ip", ["-n", h.name, "route"], { encoding: "utf8" });
            assert.doesNotMatch(routes, /^default/m, `${h.name}: ${routes}`);
            assert.match(routes, /^10\.231\.1\.0\/24 dev eth0/m);
        }
    });

    test("a host lost: its address silent and its engine frozen, its container running on; restored as it was", async () => {
        const h = hostSet.hosts[0];
        const started = h.docker("inspect", "-f", "{{.State.StartedAt}}", `${SET}-pg`);
        h.lose();
        try {
            await assert.rejects(query(h.address, "SELECT 1"), /timeout|ETIMEDOUT|EHOSTUNREACH/i);
            assert.throws(() => execFileSync("timeout", ["-k", "1", "2", "docker", "-H", h.dockerHost, "version"], { stdio: "pipe" }),
                "the engine answered while frozen");
        } finally {
            h.restore();
        }
        await eventually(`postgres on ${h.name} after restore`, 30_000, () => query(h.address, "SELECT 1"));
        assert.equal(h.docker("inspect", "-f", "{{.State.StartedAt}}", `${SET}-pg`), started, "the container was not restarted");
    });

    test("a host powered off stops its containers with its engine; powered on, Docker restarts them by policy", async () => {
        const h = hostSet.hosts[1];
        h.docker("update", "--restart", "unless-stopped", `${SET}-pg`);
        await h.powerOff();
        assert.throws(() => h.docker("version"), "the engine answered while powered off");
        await assert.rejects(query(h.address, "SELECT 1"), /timeout|ETIMEDOUT|EHOSTUNREACH|ECONNREFUSED/i);
        await h.powerOn();
        assert.equal(h.docker("inspect", "-f", "{{.State.Running}} {{.RestartCount}}", `${SET}-pg`).split(" ")[0], "true");
        await eventually(`postgres on ${h.name} after power-on`, 60_000, () => query(h.address, "SELECT 1"));
    });

    test("teardown leaves no namespace, link, dockerd, mount or directory", async () => {
        await hostSet.teardown();
        assert.deepEqual(hostSetLeftovers(SET), []);
        assert.ok(!fs.existsSync("/var/lib/pg-replication-hosts/hst"), "the set's data roots are still there");
    });
});

describe("test hosts: what a killed run leaves is removed by the next", { timeout: 120_000 }, () => {
    const KILLED = "hsk";

    after(async () => {
        await removeHostSet(KILLED, 2);
    });

    test("dockerd and containerd killed with a container running: the next run finds and removes it all", async () => {
        const first = await createHostSet({ set: KILLED, subnet: 2, count: 1, images: [IMAGE] });
        const [h] = first.hosts;
        h.docker("run", "-d", "--label", `pg-replication.stack=${KILLED}`, "-e", `POSTGRES_PASSWORD=${PASSWORD}`, IMAGE);
        // As if the test process had been killed: SIGKILL to everything in the host's namespace,
        // so nothing stops the container or unmounts its layers.
        const pids = execFileSync("ip", ["netns", "pids", h.name], { encoding: "utf8" }).split("\n").filter(Boolean);
        assert.ok(pids.length >= 2, `expected dockerd and containerd in ${h.name}, found ${pids.join(" ")}`);
        execFileSync("kill", ["-9", ...pids]);
        const left = hostSetLeftovers(KILLED);
        // Whether the container's own processes outlive their killed shim is a race; the mounts,
        // cgroups, namespace and folders a killed run leaves are not.
        assert.ok(left.some((l) => l.startsWith("mount ")), `no mount among ${left.join(", ")}`);
        assert.ok(left.some((l) => l.startsWith("netns ")), `no namespace among ${left.join(", ")}`);

        const second = await createHostSet({ set: KILLED, subnet: 2, count: 1, images: [IMAGE] });
        assert.equal(second.hosts[0].docker("ps", "-aq"), "", "the new host inherited a container");
        await second.teardown();
        assert.deepEqual(hostSetLeftovers(KILLED), []);
    });
});

describe("test hosts reached over ssh, as machines elsewhere are", { timeout: 180_000 }, () => {
    const SSH_SET = "hss";
    let sshSet: HostSet;
    /** The docker CLI on ENGINE, killed after SECONDS: its exit status and how long it took. */
    const dockerWithin = (engine: string, seconds: number, ...args: string[]) => {
        const started = Date.now();
        try {
            const out = execFileSync("timeout", ["-k", "1", String(seconds), "docker", "-H", engine, ...args], { encoding: "utf8", stdio: "pipe" });
            return { ok: true, out: out.trim(), ms: Date.now() - started };
        } catch (err) {
            return { ok: false, out: `${(err as { stderr?: string }).stderr ?? ""}`.trim(), ms: Date.now() - started };
        }
    };

    before(async () => {
        sshSet = await createHostSet({ set: SSH_SET, subnet: 4, count: 2, images: [IMAGE], ssh: true });
    });
    after(async () => {
        sshSet?.hosts.forEach((h) => { try { h.restore(); } catch { /* not lost */ } });
        await sshSet?.teardown();
    });

    test("each engine is ssh://root@<address>: the docker CLI reaches that host's own dockerd through sshd there", () => {
        assert.deepEqual(sshSet.hosts.map((h) => h.dockerHost), ["ssh://root@10.231.4.11", "ssh://root@10.231.4.12"]);
        for (const h of sshSet.hosts) {
            const seen = dockerWithin(h.dockerHost, 20, "info", "--format", "{{.DockerRootDir}}");
            assert.ok(seen.ok, seen.out);
            assert.equal(seen.out, `/var/lib/pg-replication-hosts/${SSH_SET}/${h.name}`);
        }
        // Only our ssh, with our config, is first on PATH; the machine's own ssh configuration is not read.
        const first = (process.env.PATH ?? "").split(":")[0];
        assert.equal(first, "/run/pg-replication-hosts/.ssh/bin");
        assert.match(fs.readFileSync(`${first}/ssh`, "utf8"), /-F \/run\/pg-replication-hosts\/\.ssh\/config/);
    });

    test("a host lost: ssh cannot connect (its link is down), so the docker CLI fails within ssh's ConnectTimeout", () => {
        const h = sshSet.hosts[0];
        h.lose();
        try {
            // A fresh connection (not the shared one, which a dead link holds until ServerAlive ends it).
            const started = Date.now();
            assert.throws(() => execFileSync("ssh", ["-o", "ControlPath=none", "-o", "ConnectTimeout=2", h.address, "true"], { stdio: "pipe" }),
                /Connection timed out|No route to host|timed out/);
            assert.ok(Date.now() - started < 10_000, `ssh gave up after ${Date.now() - started} ms`);
        } finally {
            h.restore();
        }
        assert.ok(dockerWithin(h.dockerHost, 20, "version").ok, "the engine answers over ssh once restored");
    });

    test("an engine frozen with its link up: ssh connects, the engine does not answer through it", () => {
        const h = sshSet.hosts[1];
        h.lose({ link: false });
        try {
            execFileSync("ssh", ["-o", "ConnectTimeout=5", h.address, "true"], { stdio: "pipe" });
            const seen = dockerWithin(h.dockerHost, 4, "version", "--format", "{{.Server.Version}}");
            assert.equal(seen.ok, false, `the frozen engine answered: ${seen.out}`);
            assert.ok(seen.ms >= 3500, `docker gave up after ${seen.ms} ms, before the bound`);
        } finally {
            h.restore();
        }
    });

    test("powered off and on: sshd comes back with the engine", async () => {
        const h = sshSet.hosts[1];
        await h.powerOff();
        assert.equal(dockerWithin(h.dockerHost, 5, "version").ok, false);
        await h.powerOn();
        const seen = dockerWithin(h.dockerHost, 20, "version", "--format", "{{.Server.Version}}");
        assert.ok(seen.ok, seen.out);
    });

    test("teardown removes the sshds, the set's keys and, with no set left, the ssh on PATH", async () => {
        await sshSet.teardown();
        assert.deepEqual(hostSetLeftovers(SSH_SET), []);
        const root = "/run/pg-replication-hosts";
        if (!fs.existsSync(root) || !fs.readdirSync(root).some((name) => name !== ".ssh")) {
            assert.ok(!fs.existsSync("/run/pg-replication-hosts/.ssh"));
            assert.ok(!(process.env.PATH ?? "").includes("/run/pg-replication-hosts/.ssh/bin"));
        }
    });
});
