// The docker stand-in against the real Docker engine: each test names the RULES ids it proves,
// and the last test checks that every row of the table is proved by some test.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import {
    configureInstance, DockerInstance, dockerStandIn, formatGoDuration, nativeConfigure, parseGoDuration, resolveHost, RULES,
} from "../../stand-ins/docker";
import { DockerClient, directTarget, GoContext } from "../../stand-ins/docker-engine";
import { InitError, Props, ProviderContext, StandInError, UNKNOWN } from "../../stand-ins/provider";
import { closeFakeEngines, engineSocket, fakeEngine, fakeSsh, settledWithin, sleep, tempDir } from "./fake-engine";

const STACK = "standin-docker";
const HOST = process.env.DOCKER_HOST || "unix:///var/run/docker.sock";
const SUBNET = "172.28.1.0/24";
const NET = `pgr-${STACK}-net`;
const LABELS = [{ label: "pg-replication.stack", value: STACK }];
const logs: string[] = [];
/** The provider instance every engine test uses: configured as the engine configures it. */
let ctx: ProviderContext;

const NETWORK = "docker:index/network:Network";
const VOLUME = "docker:index/volume:Volume";
const IMAGE = "docker:index/remoteImage:RemoteImage";
const CONTAINER = "docker:index/container:Container";
const h = (type: string) => dockerStandIn.resources[type];
const urn = (type: string, name: string) => `urn:pulumi:test::pg::${type}::${name}`;

const proved = new Set<string>();
/** A test that proves the given RULES ids. */
function rule(ids: string[], name: string, fn: () => Promise<void> | void) {
    ids.forEach((id) => proved.add(id));
    test(`[${ids.join(", ")}] ${name}`, fn);
}

function docker(...args: string[]): string {
    return execFileSync("docker", ["-H", HOST, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}
function inspect(id: string): any {
    return JSON.parse(docker("inspect", id))[0];
}

async function check(type: string, news: Props, olds: Props = {}) {
    return h(type).check(ctx, { urn: urn(type, "x"), type, olds, news });
}
async function create(type: string, news: Props, name = "x") {
    const { inputs, failures } = await check(type, news);
    assert.deepEqual(failures ?? [], []);
    const res = await h(type).create(ctx, { urn: urn(type, name), type, inputs, preview: false, timeout: 0 });
    return { ...res, inputs };
}
async function diff(type: string, oldInputs: Props, oldOutputs: Props, news: Props, ignoreChanges: string[] = []) {
    const { inputs } = await check(type, news, oldInputs);
    return h(type).diff(ctx, { urn: urn(type, "x"), type, id: "id", oldInputs, oldOutputs, news: inputs, ignoreChanges });
}
async function del(type: string, id: string, outputs: Props, oldInputs: Props = outputs) {
    await h(type).delete(ctx, { urn: urn(type, "x"), type, id, outputs, oldInputs, timeout: 0 });
}

const IMAGE_ID = () => docker("image", "inspect", "postgres:13", "--format", "{{.Id}}");

let network: { id: string; outputs: Props; inputs: Props };

before(async () => {
    ctx = { ...(await dockerStandIn.configure({ host: HOST })), log: (m) => logs.push(m) };
    cleanup();
    network = await create(NETWORK, {
        name: NET, driver: "bridge", ipamConfigs: [{ subnet: SUBNET, gateway: "172.28.1.1" }], labels: LABELS,
    });
});

function cleanup() {
    const ids = docker("ps", "-aq", "--filter", `label=pg-replication.stack=${STACK}`).split("\n").filter(Boolean);
    if (ids.length) {
        docker("rm", "-f", "-v", ...ids);
    }
    for (const kind of ["network", "volume"]) {
        const names = docker(kind, "ls", "-q", "--filter", `label=pg-replication.stack=${STACK}`).split("\n").filter(Boolean);
        if (names.length) {
            docker(kind, "rm", ...names);
        }
    }
    try {
        docker("image", "rm", "pgr-standin-docker/tag:tmp");
    } catch {
        // not there
    }
}

after(async () => {
    await closeFakeEngines();
    cleanup();
});

// ---------------------------------------------------------------------------------------------
// Provider configuration

rule(["config.host"], "host: docker:host, else DOCKER_HOST, else the default socket; the CLI's context file is ignored", () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "standin-docker-"));
    fs.mkdirSync(path.join(home, ".docker"));
    fs.writeFileSync(path.join(home, ".docker", "config.json"), JSON.stringify({ currentContext: "elsewhere" }));
    assert.equal(resolveHost({ host: "tcp://10.0.0.1:2375" }, { DOCKER_HOST: "unix:///env.sock" }, home), "tcp://10.0.0.1:2375");
    assert.equal(resolveHost({}, { DOCKER_HOST: "unix:///env.sock" }, home), "unix:///env.sock");
    assert.equal(resolveHost({}, { DOCKER_HOST: "" }, home), "unix:///var/run/docker.sock");
    assert.equal(resolveHost({}, {}, home), "unix:///var/run/docker.sock");
});

rule(["config.context"], "DOCKER_CONTEXT overrides host with the context's docker endpoint; an unknown one fails", () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "standin-docker-"));
    const dir = path.join(home, ".docker", "contexts", "meta", "0123abcd");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "meta.json"), JSON.stringify({ Name: "rootless", Endpoints: { docker: { Host: "unix:///run/user/1000/docker.sock" } } }));
    assert.equal(resolveHost({ host: "unix:///x.sock" }, { DOCKER_CONTEXT: "rootless" }, home), "unix:///run/user/1000/docker.sock");
    assert.equal(resolveHost({ context: "rootless" }, {}, home), "unix:///run/user/1000/docker.sock");
    assert.throws(() => resolveHost({}, { DOCKER_CONTEXT: "other" }, home), { message: "Error loading Docker context 'other': context 'other' not found" });
    // The home is the user database's, not $HOME.
    const userHome = os.userInfo().homedir;
    if (!fs.existsSync(path.join(userHome, ".docker", "contexts", "meta"))) {
        assert.throws(() => resolveHost({ context: "rootless" }, { HOME: home }), {
            message: `Error loading Docker context 'rootless': could not read contexts directory: open ${path.join(userHome, ".docker", "contexts", "meta")}: no such file or directory`,
        });
    }
});

rule(["config.check", "config.diff"], "CheckConfig keeps the inputs as given, refuses unmodelled keys; DiffConfig never replaces", async () => {
    assert.deepEqual((await dockerStandIn.checkConfig({}, { host: "unix:///a.sock", version: "5.0.0" })).inputs, { host: "unix:///a.sock", version: "5.0.0" });
    assert.deepEqual((await dockerStandIn.checkConfig({}, {})).inputs, {});
    await assert.rejects(dockerStandIn.checkConfig({}, { certPath: "/x" }), StandInError);
    const d = await dockerStandIn.diffConfig({ host: "unix:///a.sock" }, {}, { host: "unix:///b.sock" });
    assert.equal(d.changes, "some");
    assert.deepEqual(d.replaces, []);
    assert.deepEqual(d.diffs, ["host"]);
    assert.equal((await dockerStandIn.diffConfig({ host: "x" }, {}, { host: "x" })).changes, "none");
});

// ---------------------------------------------------------------------------------------------
// Reaching the engine: Configure, MakeClient, the client, ssh

/** A provider instance configured over `env` (the plugin's environment), logging into `log`. */
async function instance(config: Props, env: NodeJS.ProcessEnv = { ...process.env }, log: string[] = []): Promise<ProviderContext> {
    return { ...(await configureInstance(config, env)), log: (m) => log.push(m) };
}
const volRead = (c: ProviderContext, id: string) => h(VOLUME).read(c, { urn: "u", type: VOLUME, id, state: {}, inputs: { name: id } });
const volDelete = (c: ProviderContext, id: string, timeout = 0) => h(VOLUME).delete(c, { urn: "u", type: VOLUME, id, outputs: {}, oldInputs: {}, timeout });
const netRead = (c: ProviderContext, id: string) => h(NETWORK).read(c, { urn: "u", type: NETWORK, id, state: {}, inputs: { name: id } });
const netDelete = (c: ProviderContext, id: string, timeout = 0) => h(NETWORK).delete(c, { urn: "u", type: NETWORK, id, outputs: {}, oldInputs: {}, timeout });
/** The url host of a unix socket as the Go client prints it. */
const urlHost = (host: string) => host.slice("unix://".length).replace(/\//g, "%2F");
const pingFailed = (host: string, err: string) =>
    `failed to create Docker client: Error pinging Docker server, please make sure that ${host} is reachable and has a  '_ping' endpoint. Error: ${err}`;

rule(["config.check"], "disableDockerDaemonCheck and sshOpts: JSON text or values in, Go's JSON text out; anything else strict", async () => {
    const check = async (news: Props) => (await dockerStandIn.checkConfig({}, news)).inputs;
    // As the Node SDK sends them (JSON.stringify), and as typed stack config would.
    assert.deepEqual(await check({ host: "ssh://n1", disableDockerDaemonCheck: "true", sshOpts: "[\"-o\",\"ConnectTimeout=5\"]" }),
        { host: "ssh://n1", disableDockerDaemonCheck: "true", sshOpts: "[\"-o\",\"ConnectTimeout=5\"]" });
    assert.deepEqual(await check({ disableDockerDaemonCheck: true, sshOpts: ["-i", "/k<ey>&"] }),
        { disableDockerDaemonCheck: "true", sshOpts: "[\"-i\",\"/k\\u003cey\\u003e\\u0026\"]" });
    assert.deepEqual(await check({ disableDockerDaemonCheck: "", sshOpts: "" }), { disableDockerDaemonCheck: "false", sshOpts: "[]" });
    assert.deepEqual(await check({ disableDockerDaemonCheck: UNKNOWN }), { disableDockerDaemonCheck: UNKNOWN });
    for (const bad of [{ disableDockerDaemonCheck: "yes" }, { disableDockerDaemonCheck: "1" }, { sshOpts: "-o X" }, { sshOpts: "[1]" }, { registryAuth: "[]" }, { certPath: "/x" }]) {
        await assert.rejects(check(bad), StandInError, JSON.stringify(bad));
    }
});

rule(["config.native.ping", "engine.deadline"], "Configure pings a non-ssh engine with no deadline: a silent engine holds it; a refused one fails it", async () => {
    const fake = await fakeEngine(HOST);
    fake.mode = "frozen";
    const pending = dockerStandIn.configure({ host: fake.host });
    assert.equal(await settledWithin(pending, 3000), "pending");
    assert.deepEqual(fake.requests.map((r) => [r.method, r.url, r.host, r.userAgent]), [["HEAD", "/_ping", "api.moby.localhost", "Go-http-client/1.1"]]);
    await fake.close(); // the held connection ends: EOF, a failed ping
    await assert.rejects(pending, { message: "docker native provider returned an unexpected error from Configure: failed to connect to any docker daemon" });
    await assert.rejects(dockerStandIn.configure({ host: "unix:///nonexistent/standin-docker.sock" }),
        { message: "docker native provider returned an unexpected error from Configure: failed to connect to any docker daemon" });
    // DOCKER_HOST of the plugin counts as explicit, as docker:host does.
    await assert.rejects(configureInstance({}, { ...process.env, DOCKER_HOST: "unix:///nonexistent/standin-docker.sock" }, HOST),
        { message: "docker native provider returned an unexpected error from Configure: failed to connect to any docker daemon" });
});

rule(["config.native.fallback", "config.native.docker-host"], "no host anywhere: the default socket, then ~/.docker/run/docker.sock; the bridged part uses the socket Configure found", async () => {
    const fake = await fakeEngine(HOST);
    const home = tempDir("home");
    fs.mkdirSync(path.join(home, ".docker", "run"), { recursive: true });
    fs.symlinkSync(engineSocket(fake.host), path.join(home, ".docker", "run", "docker.sock"));
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    delete env.DOCKER_HOST;
    const userHost = `unix://${home}/.docker/run/docker.sock`;
    assert.equal(await nativeConfigure({}, env, "unix:///nonexistent/standin-docker.sock"), userHost);
    const c = await configureInstance({}, env, "unix:///nonexistent/standin-docker.sock");
    assert.equal(env.DOCKER_HOST, userHost);
    assert.equal((c.instance as DockerInstance).host, userHost);
    assert.equal(await volRead(c, "pgr-standin-docker-none"), undefined);
    assert.ok(fake.goRequests().includes(`GET /v1.41/volumes/pgr-standin-docker-none`), fake.goRequests().join(", "));
    // No fallback without HOME, none when a host was given.
    const noHome: NodeJS.ProcessEnv = { ...env, HOME: "" };
    delete noHome.DOCKER_HOST;
    await assert.rejects(nativeConfigure({}, noHome, "unix:///nonexistent/standin-docker.sock"), { message: "$HOME is not defined" });
    await assert.rejects(nativeConfigure({ host: "unix:///nonexistent/standin-docker.sock" }, { ...env, DOCKER_HOST: "" }), { message: "failed to connect to any docker daemon" });
    await fake.close();
});

rule(["config.makeclient", "config.daemon-check", "engine.negotiate"], "what the engine sees: Configure's ping; then ping, ping, version before the first request, or one ping with the flag", async () => {
    const fake = await fakeEngine(HOST);
    const checked = await instance({ host: fake.host });
    assert.deepEqual(fake.goRequests(), ["HEAD /_ping"]);
    assert.equal(await volRead(checked, "pgr-standin-docker-none"), undefined);
    assert.equal(await volRead(checked, "pgr-standin-docker-none"), undefined);
    // MakeClient's Ping does not negotiate; ServerVersion's request does (a second ping).
    assert.deepEqual(fake.goRequests(), ["HEAD /_ping", "HEAD /_ping", "HEAD /_ping", "GET /v1.41/version",
        "GET /v1.41/volumes/pgr-standin-docker-none", "GET /v1.41/volumes/pgr-standin-docker-none"]);
    fake.requests.length = 0;
    const flagged = await instance({ host: fake.host, disableDockerDaemonCheck: "true" });
    assert.deepEqual(fake.goRequests(), ["HEAD /_ping"]);
    fake.requests.length = 0;
    assert.equal(await volRead(flagged, "pgr-standin-docker-none"), undefined);
    assert.deepEqual(fake.goRequests(), ["HEAD /_ping", "GET /v1.41/volumes/pgr-standin-docker-none"]);
    await fake.close();
});

rule(["config.makeclient", "engine.negotiate", "engine.errors"], "a failing ping is not cached; a failing version only warns; no API-Version means 1.24; an ignored failed ping sends v1.51", async () => {
    const fake = await fakeEngine(HOST);
    const log: string[] = [];
    const c = await instance({ host: fake.host }, { ...process.env }, log);
    let pings = 0;
    fake.override = (req) => {
        if (req.url === "/_ping" && ++pings === 1) {
            return { status: 500 };
        }
        if (req.url?.endsWith("/version")) {
            return { status: 500, headers: { "Content-Type": "application/json" }, body: "{\"message\":\"boom\"}" };
        }
        if (req.url === "/_ping") {
            return { status: 200, body: "OK" }; // no API-Version header
        }
        return undefined;
    };
    await assert.rejects(volRead(c, "x"), { message: pingFailed(fake.host, `request returned 500 Internal Server Error for API route and version http://${urlHost(fake.host)}/_ping, check if the server supports the requested API version`) });
    assert.equal(await volRead(c, "pgr-standin-docker-none"), undefined);
    assert.ok(log.includes("[WARN] Error connecting to Docker daemon. Is your endpoint a valid docker host? This warning will be changed to an error in the next major version. Error: Error response from daemon: boom"), log.join("\n"));
    assert.ok(fake.goRequests().includes("GET /v1.24/volumes/pgr-standin-docker-none"), fake.goRequests().join(", "));
    assert.deepEqual(fake.goRequests(), ["HEAD /_ping", "HEAD /_ping", "HEAD /_ping", "HEAD /_ping", "GET /v1.24/version", "GET /v1.24/volumes/pgr-standin-docker-none"]);
    // With the flag, a failed negotiation is ignored and the request goes out as v1.51; the next
    // request pings again, and VolumeRemove (force) fails with the ping's own error.
    fake.override = undefined;
    const flagged = await instance({ host: fake.host, disableDockerDaemonCheck: "true" });
    fake.override = (req) => (req.url === "/_ping" ? { status: 500 } : undefined);
    fake.requests.length = 0;
    await assert.rejects(volRead(flagged, "pgr-standin-docker-none"), { message: "Unable to inspect volume: Error response from daemon: client version 1.51 is too new. Maximum supported API version is 1.41" });
    await assert.rejects(volDelete(flagged, "pgr-standin-docker-none"), { message: `request returned 500 Internal Server Error for API route and version http://${urlHost(fake.host)}/_ping, check if the server supports the requested API version` });
    assert.deepEqual(fake.goRequests(), ["HEAD /_ping", "GET /v1.51/volumes/pgr-standin-docker-none", "HEAD /_ping"]);
    await fake.close();
});

rule(["engine.keepalive"], "one connection carries a sequence; concurrent requests dial more; two stay idle, the rest are closed", async () => {
    const fake = await fakeEngine(HOST);
    const c = await instance({ host: fake.host, disableDockerDaemonCheck: "true" });
    const afterConfigure = fake.connections.opened; // Configure's own client keeps its connection
    for (let i = 0; i < 3; i++) {
        assert.equal(await volRead(c, "pgr-standin-docker-none"), undefined);
    }
    assert.equal(fake.connections.opened, afterConfigure + 1);
    const conn = fake.requests[fake.requests.length - 1].conn;
    assert.deepEqual(fake.requests.filter((r) => r.conn === conn).map((r) => r.method), ["HEAD", "GET", "GET", "GET"]);
    const closedBefore = fake.connections.closed;
    await Promise.all([1, 2, 3].map(() => volRead(c, "pgr-standin-docker-none")));
    assert.equal(fake.connections.opened, afterConfigure + 3);
    await sleep(200);
    assert.equal(fake.connections.closed, closedBefore + 1);
    await fake.close();
});

rule(["engine.errors", "engine.keepalive"], "refused, closed and answered-with-an-error connections, worded as the Go client words them", async () => {
    const fake = await fakeEngine(HOST);
    const c = await instance({ host: fake.host, disableDockerDaemonCheck: "true" });
    fake.override = (req) => (req.url?.includes("/volumes/") ? { status: 500, headers: { "Content-Type": "application/json" }, body: "{\"message\":\"boom \"}" } : undefined);
    await assert.rejects(volRead(c, "pgr-standin-docker-none"), { message: "Unable to inspect volume: Error response from daemon: boom" });
    fake.override = undefined;
    // The engine hangs up: on the reused connection the GET is retried on a new one (engine.keepalive),
    // whose EOF is the error.
    fake.mode = "hangup";
    fake.requests.length = 0;
    await assert.rejects(volRead(c, "pgr-standin-docker-none"), { message: `Unable to inspect volume: error during connect: Get "http://${urlHost(fake.host)}/v1.41/volumes/pgr-standin-docker-none": EOF` });
    assert.equal(fake.requests.length, 2);
    assert.notEqual(fake.requests[0].conn, fake.requests[1].conn);
    await fake.close();
    await assert.rejects(volRead(c, "pgr-standin-docker-none"), { message: `Unable to inspect volume: Cannot connect to the Docker daemon at ${fake.host}. Is the docker daemon running?` });
    await assert.rejects(new DockerClient(directTarget("tcp://127.0.0.1:1")).ping(GoContext.background()),
        { message: "Cannot connect to the Docker daemon at tcp://127.0.0.1:1. Is the docker daemon running?" });
});

rule(["engine.deadline", "config.makeclient"], "an engine that goes silent: the operation's context (customTimeouts here) is the only deadline", async () => {
    const fake = await fakeEngine(HOST);
    const c = await instance({ host: fake.host });
    fake.mode = "frozen";
    const started = Date.now();
    await assert.rejects(volDelete(c, "pgr-standin-docker-none", 2), { message: pingFailed(fake.host, `Get "http://${urlHost(fake.host)}/_ping": context deadline exceeded`) });
    const took = Date.now() - started;
    assert.ok(took >= 2000 && took < 3000, `took ${took} ms`);
    await fake.close();
});

rule(["state.wait", "engine.deadline", "volume.delete"], "with the flag on a silent engine: a network delete ends with its context; a volume delete's remove outlives it", async () => {
    const fake = await fakeEngine(HOST);
    const c = await instance({ host: fake.host, disableDockerDaemonCheck: "true" });
    fake.mode = "frozen";
    let started = Date.now();
    await assert.rejects(netDelete(c, "pgr-standin-docker-none", 3), { message: "context deadline exceeded" });
    assert.ok(Date.now() - started >= 3000);
    await sleep(300);
    const openAfterNetwork = fake.connections.opened - fake.connections.closed;
    started = Date.now();
    await assert.rejects(volDelete(c, "pgr-standin-docker-none", 3), { message: "context deadline exceeded" });
    assert.ok(Date.now() - started >= 3000);
    await sleep(300);
    // The network's request was cut with its context; the volume's (context.Background()) still waits.
    assert.equal(fake.connections.opened - fake.connections.closed, openAfterNetwork + 1);
    await fake.close();
});

rule(["network.read", "network.delete", "container.read.gone", "image.delete", "volume.update"], "a refused engine: with the daemon check the ping fails first; without it a network reads as gone and deletes", async () => {
    const fake = await fakeEngine(HOST);
    const checked = await instance({ host: fake.host });
    const flagged = await instance({ host: fake.host, disableDockerDaemonCheck: "true" });
    await fake.close();
    const refused = `Cannot connect to the Docker daemon at ${fake.host}. Is the docker daemon running?`;
    await assert.rejects(netRead(checked, "n1"), { message: pingFailed(fake.host, refused) });
    await assert.rejects(netDelete(checked, "n1"), { message: pingFailed(fake.host, refused) });
    await assert.rejects(h(IMAGE).delete(checked, { urn: "u", type: IMAGE, id: "i", outputs: { name: "postgres:13", keepLocally: true }, oldInputs: {}, timeout: 0 }),
        { message: pingFailed(fake.host, refused) });
    await assert.rejects(h(VOLUME).update(checked, { urn: "u", type: VOLUME, id: "v", oldInputs: {}, oldOutputs: {}, news: {}, ignoreChanges: [], preview: false, timeout: 0 }),
        { message: pingFailed(fake.host, refused) });
    assert.equal(await netRead(flagged, "n1"), undefined);
    await netDelete(flagged, "n1");
    await h(IMAGE).delete(flagged, { urn: "u", type: IMAGE, id: "i", outputs: { name: "postgres:13", keepLocally: true }, oldInputs: {}, timeout: 0 });
    await assert.rejects(h(CONTAINER).read(flagged, { urn: "u", type: CONTAINER, id: "c1", state: {}, inputs: { name: "c1" } }),
        { message: `error fetching container information from Docker: ${refused}\n` });
    await assert.rejects(volRead(flagged, "v1"), { message: `Unable to inspect volume: ${refused}` });
});

rule(["config.native.ssh", "ssh.argv", "ssh.commandconn", "config.daemon-check", "engine.keepalive"], "an ssh engine: Configure dials nothing; the flag's first request dials ssh with the exact argv; one ssh carries the volume's life", async () => {
    const ssh = fakeSsh({ engine: HOST });
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: ssh.path };
    const c = await instance({ host: "ssh://lost.example", disableDockerDaemonCheck: "true" }, env);
    assert.deepEqual(ssh.argvs(), []);
    assert.equal(env.DOCKER_HOST, process.env.DOCKER_HOST);
    const v = await h(VOLUME).create(c, { urn: "u", type: VOLUME, inputs: { name: `pgr-${STACK}-ssh`, labels: LABELS }, preview: false, timeout: 0 });
    assert.equal(v.outputs.driver, "local");
    assert.equal(docker("volume", "inspect", `pgr-${STACK}-ssh`, "--format", "{{.Name}}"), `pgr-${STACK}-ssh`);
    assert.equal((await volRead(c, v.id))?.outputs.name, v.id);
    await h(VOLUME).delete(c, { urn: "u", type: VOLUME, id: v.id, outputs: v.outputs, oldInputs: {}, timeout: 0 });
    assert.throws(() => docker("volume", "inspect", v.id));
    assert.deepEqual(ssh.argvs(), [["-o ConnectTimeout=30", "-T", "--", "lost.example", "docker system dial-stdio"]]);
    // user, port, the options as given (ConnectTimeout and -T not added again), the path form.
    const ssh2 = fakeSsh({ engine: "unix:///nonexistent/standin-docker.sock" });
    const c2 = await instance({ host: `ssh://me@lost.example:2222${engineSocket(HOST)}`, sshOpts: "[\"-o\",\"ConnectTimeout=5\",\"-T\",\"-i\",\"/k ey\"]" }, { ...process.env, PATH: ssh2.path });
    assert.deepEqual(ssh2.argvs(), []);
    assert.equal(await volRead(c2, "pgr-standin-docker-none"), undefined);
    assert.deepEqual(ssh2.argvs(), [["-l", "me", "-p", "2222", "-o", "ConnectTimeout=5", "-T", "-i", "/k ey", "--", "lost.example", `docker '--host=${HOST}' system dial-stdio`]]);
    // URLs the helper refuses fail Configure.
    for (const [host, why] of [["ssh://me:pw@n1", "plain-text password is not supported"], ["ssh://", "hostname is empty"], ["ssh://n1?x=1", "query parameters are not allowed: \"x=1\""]]) {
        await assert.rejects(instance({ host }, env), { message: `docker native provider returned an unexpected error from Configure: ssh host connection is not valid: invalid SSH URL: ${why}` });
    }
});

rule(["ssh.commandconn", "config.makeclient", "config.native.ssh"], "an ssh that cannot connect: the error commandconn makes, at the first use of the client; no ssh on PATH", async () => {
    const ssh = fakeSsh({ fail: "ssh: connect to host lost.example port 22: Connection timed out" });
    const c = await instance({ host: "ssh://lost.example" }, { ...process.env, PATH: ssh.path });
    assert.deepEqual(ssh.argvs(), []);
    await assert.rejects(volRead(c, "v1"), {
        message: pingFailed("ssh://lost.example", "error during connect: Head \"http://docker.example.com/_ping\": command [ssh -o ConnectTimeout=30 -T -- lost.example docker system dial-stdio] has exited with exit status 255, make sure the URL is valid, and Docker 18.09 or later is installed on the remote host: stderr=ssh: connect to host lost.example port 22: Connection timed out\n"),
    });
    assert.equal(ssh.argvs().length, 1);
    const none = await instance({ host: "ssh://lost.example" }, { ...process.env, PATH: tempDir("empty") });
    await assert.rejects(volRead(none, "v1"), { message: pingFailed("ssh://lost.example", "error during connect: Head \"http://docker.example.com/_ping\": exec: \"ssh\": executable file not found in $PATH") });
});

rule(["engine.unmodelled"], "TLS, npipe, odd ssh spellings, DOCKER_SSH_OPTS and proxies are refused", async () => {
    for (const [config, env] of [
        [{ host: "npipe:////./pipe/docker_engine" }, {}],
        [{ host: "tcp://10.0.0.1:2376" }, { DOCKER_CERT_PATH: "/certs" }],
        [{ host: "ssh:n1" }, {}],
        [{ host: "ssh://n1" }, { DOCKER_SSH_OPTS: "-o X" }],
        [{ host: "ssh://n1" }, { HTTP_PROXY: "http://proxy:3128" }],
        [{ host: HOST, caMaterial: "x" }, {}],
    ] as [Props, NodeJS.ProcessEnv][]) {
        await assert.rejects(configureInstance(config, { ...process.env, ...env }), StandInError, JSON.stringify([config, env]));
    }
});

rule(["state.wait", "engine.keepalive"], "(60 s) a silent engine with the flag: a network read gives up at 30 s plus 30 s of grace; an idle connection closes after 30 s", async () => {
    const silent = await fakeEngine(HOST);
    const c = await instance({ host: silent.host, disableDockerDaemonCheck: "true" });
    const idle = await fakeEngine(HOST);
    const ci = await instance({ host: idle.host, disableDockerDaemonCheck: "true" });
    assert.equal(await volRead(ci, "pgr-standin-docker-none"), undefined);
    const idleOpen = idle.connections.opened - idle.connections.closed;
    silent.mode = "frozen";
    const started = Date.now();
    const read = netRead(c, "n1").then(() => "returned", (e: Error) => e.message);
    await sleep(29_000);
    assert.equal(idle.connections.opened - idle.connections.closed, idleOpen);
    await sleep(2_000);
    // Both the stand-in's idle connection and Configure's own have been closed by now.
    assert.equal(idle.connections.opened - idle.connections.closed, 0);
    assert.equal(await read, "timeout while waiting for state to become 'all_fields, removed' (timeout: 30s)");
    const took = Date.now() - started;
    assert.ok(took >= 59_000 && took < 62_000, `took ${took} ms`);
    await silent.close();
    await idle.close();
});


// ---------------------------------------------------------------------------------------------
// Check

rule(["check.defaults"], "Check fills the TF defaults, top level and nested, and records them in __defaults", async () => {
    const { inputs } = await check(CONTAINER, {
        name: "c", image: "postgres:13",
        ports: [{ internal: 5432, external: 58101 }],
        healthcheck: { tests: ["CMD", "true"], interval: "1s" },
        restart: "unless-stopped",
    });
    assert.equal(inputs.mustRun, true);
    assert.equal(inputs.wait, false);
    assert.equal(inputs.waitTimeout, 60);
    assert.equal(inputs.removeVolumes, true);
    assert.equal(inputs.networkMode, "bridge");
    assert.equal(inputs.restart, "unless-stopped");
    assert.deepEqual(inputs.__defaults, ["attach", "containerReadRefreshTimeoutMilliseconds", "logs", "memoryReservation", "mustRun",
        "networkMode", "readOnly", "removeVolumes", "rm", "start", "stdinOpen", "tty", "wait", "waitTimeout"]);
    assert.deepEqual(inputs.ports, [{ internal: 5432, external: 58101, ip: "0.0.0.0", protocol: "tcp", __defaults: ["ip", "protocol"] }]);
    assert.deepEqual(inputs.healthcheck, {
        tests: ["CMD", "true"], interval: "1s", timeout: "0s", startPeriod: "0s", startInterval: "0s", retries: 0,
        __defaults: ["retries", "startInterval", "startPeriod", "timeout"],
    });
    const network = (await check(NETWORK, { name: "n" })).inputs;
    assert.deepEqual(network, { name: "n", ipamDriver: "default", __defaults: ["ipamDriver"] });
    const image = (await check(IMAGE, { name: "postgres:13", keepLocally: true })).inputs;
    assert.deepEqual(image, { name: "postgres:13", keepLocally: true, platform: "", __defaults: ["platform"] });
    // An old value that was a default is kept.
    const again = (await check(CONTAINER, { name: "c", image: "i" }, { waitTimeout: 90, __defaults: ["waitTimeout"] })).inputs;
    assert.equal(again.waitTimeout, 90);
});

rule(["check.validate"], "restart and health-check durations are validated with the provider's messages", async () => {
    const { failures } = await check(CONTAINER, { name: "c", image: "i", restart: "sometimes", healthcheck: { tests: ["CMD", "true"], interval: "5x", timeout: "-1s" } });
    assert.deepEqual(failures, [
        { property: "restart", reason: "'sometimes' doesn't match the pattern '^(no|on-failure|always|unless-stopped)$'" },
        { property: "healthcheck.interval", reason: "'5x' is not a valid duration" },
        { property: "healthcheck.timeout", reason: "'-1s' duration must not be negative" },
    ]);
});

rule(["check.validate.host-path"], "volumes[].hostPath must be absolute (\"\" too), reported at volumes; volumes holding an unknown is not validated", async () => {
    const volumes = (v: Props[]) => check(CONTAINER, { name: "c", image: "i", volumes: v });
    assert.deepEqual((await volumes([{ hostPath: "var/run/docker.sock", containerPath: "/var/run/docker.sock" }])).failures,
        [{ property: "volumes", reason: "'var/run/docker.sock' must be an absolute path" }]);
    assert.deepEqual((await volumes([{ volumeName: "v", containerPath: "/d" }, { hostPath: "", containerPath: "/x" }, { hostPath: "./x", containerPath: "/y" }])).failures, [
        { property: "volumes", reason: "'' must be an absolute path" },
        { property: "volumes", reason: "'./x' must be an absolute path" },
    ]);
    for (const absolute of ["/var/run/docker.sock", "C:\\data", "c:/data"]) {
        assert.equal((await volumes([{ hostPath: absolute, containerPath: "/x" }])).failures, undefined, absolute);
    }
    // The SDK does not validate a set that is not wholly known (an unknown volume name at preview).
    assert.equal((await volumes([{ volumeName: UNKNOWN, containerPath: "/d" }, { hostPath: "relative", containerPath: "/x" }])).failures, undefined);
    // hostPath has no default: Check fills nothing into the element.
    assert.deepEqual((await volumes([{ hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" }])).inputs.volumes,
        [{ hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock", __defaults: [] }]);
});

rule(["check.unmodelled"], "a property the stand-in does not model fails Check naming it", async () => {
    await assert.rejects(check(CONTAINER, { name: "c", image: "i", privileged: true }), { message: /property "privileged" is not modelled by the stand-in/ });
    await assert.rejects(check(CONTAINER, { name: "c", image: "i", rm: true }), { message: /property "rm" = true is not modelled by the stand-in/ });
    await assert.rejects(check(CONTAINER, { name: "c", image: "i", networksAdvanced: [{ name: "n", aliases: ["a"] }] }), { message: /"networksAdvanced.aliases" is not modelled/ });
    await assert.rejects(check(NETWORK, { name: "n", internal: true }), StandInError);
});

// ---------------------------------------------------------------------------------------------
// Diff (no engine)

const STATE: Props = {
    name: "c", image: "sha256:1", hostname: "node1", command: ["postgres"], envs: ["A=1", "B=2"], labels: LABELS,
    ports: [{ internal: 5432, external: 58101, ip: "127.0.0.1", protocol: "tcp" }],
    healthcheck: { tests: ["CMD", "true"], interval: "1s", timeout: "5s", startPeriod: "2m0s", startInterval: "0s", retries: 10 },
    restart: "unless-stopped", mustRun: true, wait: true, waitTimeout: 120, removeVolumes: true, networkMode: "bridge",
    rm: false, readOnly: false, start: true, attach: false, logs: false, memoryReservation: 0, tty: false, stdinOpen: false,
    containerReadRefreshTimeoutMilliseconds: 15000, maxRetryCount: 0, stopSignal: "", stopTimeout: 0,
};
const CONFIG: Props = {
    name: "c", image: "sha256:1", hostname: "node1", command: ["postgres"], envs: ["B=2", "A=1"], labels: LABELS,
    ports: [{ internal: 5432, external: 58101, ip: "127.0.0.1" }],
    healthcheck: { tests: ["CMD", "true"], interval: "1s", timeout: "5s", startPeriod: "2m0s", retries: 10 },
    restart: "unless-stopped", wait: true, waitTimeout: 120,
};

rule(["diff.computed"], "no diff when config matches the read-back state; unset computed attributes never diff; sets ignore order", async () => {
    assert.equal((await diff(CONTAINER, CONFIG, STATE, CONFIG)).changes, "none");
    const { hostname: _h, command: _c, ...noComputed } = CONFIG;
    assert.equal((await diff(CONTAINER, CONFIG, STATE, noComputed)).changes, "none");
    const d = await diff(CONTAINER, CONFIG, { ...STATE, destroyGraceSeconds: 30 }, CONFIG);
    assert.deepEqual([d.changes, d.diffs, d.replaces], ["some", ["destroyGraceSeconds"], []]);
});

rule(["container.diff.update"], "healthcheck, wait, waitTimeout, restart, mustRun, destroyGraceSeconds changes are updates", async () => {
    for (const change of [
        { healthcheck: { ...CONFIG.healthcheck, startPeriod: "120s" } },
        { wait: false }, { waitTimeout: 30 }, { restart: "no" }, { mustRun: false }, { destroyGraceSeconds: 30 }, { removeVolumes: false },
    ]) {
        const d = await diff(CONTAINER, CONFIG, STATE, { ...CONFIG, ...change });
        assert.equal(d.changes, "some", JSON.stringify(change));
        assert.deepEqual(d.replaces, [], JSON.stringify(change));
        assert.deepEqual(d.diffs, Object.keys(change));
    }
});

rule(["container.diff.replace", "container.dbr"], "name, image, hostname, command, envs, labels, uploads, networks, ports, volumes replace, delete first", async () => {
    for (const change of [
        { name: "d" }, { image: "sha256:2" }, { hostname: "other" }, { command: ["postgres", "-c", "x=1"] }, { envs: ["A=1"] },
        { labels: [{ label: "l", value: "v" }] }, { uploads: [{ file: "/f", content: "c" }] }, { networksAdvanced: [{ name: "n" }] },
        { ports: [{ internal: 5432, external: 58102, ip: "127.0.0.1" }] }, { volumes: [{ volumeName: "v", containerPath: "/v" }] },
        { stopSignal: "SIGTERM" },
    ]) {
        const d = await diff(CONTAINER, CONFIG, STATE, { ...CONFIG, ...change });
        assert.deepEqual(d.replaces, Object.keys(change), JSON.stringify(change));
        assert.equal(d.deleteBeforeReplace, true);
    }
});

const SOCKET_BIND = { hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" };
/** What a container on network "none" reads back (Docker 20.10.24 answers so for --network none). */
const NONE_DATAS = [{ networkName: "none", ipAddress: "", ipPrefixLength: 0, gateway: "", globalIpv6Address: "", globalIpv6PrefixLength: 0, ipv6Gateway: "", macAddress: "" }];

rule(["container.diff.replace", "container.network-mode", "container.volumes.host-path", "check.unmodelled"],
"networkMode none and a host path bound: no diff as read back; a change of either replaces, delete first; other modes are refused", async () => {
    const config = { ...CONFIG, networkMode: "none", volumes: [SOCKET_BIND] };
    const state = { ...STATE, networkMode: "none", volumes: [SOCKET_BIND], bridge: "", networkDatas: NONE_DATAS };
    const olds = (await check(CONTAINER, config)).inputs; // "none" is not a filled-in default there
    assert.equal((await diff(CONTAINER, olds, state, config)).changes, "none");
    for (const [change, replaces] of [
        [{ networkMode: "bridge" }, ["networkMode"]],
        [{ networkMode: undefined }, ["networkMode"]], // unset is the default "bridge"
        [{ volumes: [{ ...SOCKET_BIND, hostPath: "/run/docker.sock" }] }, ["volumes"]],
        [{ volumes: [{ ...SOCKET_BIND, readOnly: true }] }, ["volumes"]],
        [{ volumes: [{ volumeName: "docker-sock", containerPath: SOCKET_BIND.containerPath }] }, ["volumes"]],
        [{ volumes: undefined }, ["volumes"]],
    ] as [Props, string[]][]) {
        const d = await diff(CONTAINER, olds, state, { ...config, ...change });
        assert.deepEqual([d.diffs, d.replaces, d.deleteBeforeReplace], [replaces, replaces, true], JSON.stringify(change));
    }
    // The provider passes any network mode through; only "bridge" and "none" are modelled.
    for (const mode of ["host", "container:pgr-x", `pgr-${STACK}-net`, "default", ""]) {
        await assert.rejects(check(CONTAINER, { name: "c", image: "i", networkMode: mode }),
            { message: `docker:index/container:Container: property "networkMode" = ${JSON.stringify(mode)} is not modelled by the stand-in (only "bridge", "none")` });
    }
    assert.equal((await check(CONTAINER, { name: "c", image: "i", networkMode: UNKNOWN })).inputs.networkMode, UNKNOWN);
    for (const field of ["fromContainer", "selinuxRelabel"]) {
        await assert.rejects(check(CONTAINER, { name: "c", image: "i", volumes: [{ ...SOCKET_BIND, [field]: "z" }] }), { message: new RegExp(`"volumes.${field}" is not modelled`) });
    }
});

rule(["container.diff.ports"], "ports: same length and same per-internal values suppress; a second read-back binding replaces", async () => {
    const two = { ...STATE, ports: [STATE.ports[0], { ...STATE.ports[0], ip: "::" }] };
    const d = await diff(CONTAINER, CONFIG, two, CONFIG);
    assert.deepEqual(d.replaces, ["ports"]);
    const reordered = { ...STATE, ports: [{ internal: 1, external: 58103, ip: "127.0.0.1", protocol: "tcp" }, STATE.ports[0]] };
    const cfg = { ...CONFIG, ports: [CONFIG.ports[0], { internal: 1, external: 58103, ip: "127.0.0.1" }] };
    assert.equal((await diff(CONTAINER, cfg, reordered, cfg)).changes, "none");
});

rule(["network.diff", "volume.diff", "image.diff"], "network/volume attributes replace (no provider DBR); image keepLocally updates, name replaces", async () => {
    const net = { name: "n", driver: "bridge", ipamConfigs: [{ subnet: SUBNET, gateway: "172.28.1.1" }], labels: LABELS };
    const netState = { ...net, ipamDriver: "default", scope: "local", options: {}, internal: false };
    assert.equal((await diff(NETWORK, net, netState, net)).changes, "none");
    const d = await diff(NETWORK, net, netState, { ...net, labels: [{ label: "pg-replication.stack", value: "other" }] });
    assert.deepEqual([d.replaces, d.deleteBeforeReplace], [["labels"], false]);
    const vol = { name: "v", labels: LABELS };
    const vd = await diff(VOLUME, vol, { ...vol, driver: "local", mountpoint: "/m" }, { ...vol, name: "w" });
    assert.deepEqual([vd.replaces, vd.deleteBeforeReplace], [["name"], false]);
    const img = { name: "postgres:13", keepLocally: true };
    const imgState = { ...img, platform: "", imageId: "sha256:1", repoDigest: "" };
    const u = await diff(IMAGE, img, imgState, { ...img, keepLocally: false });
    assert.deepEqual([u.changes, u.replaces], ["some", []]);
    assert.deepEqual((await diff(IMAGE, img, imgState, { ...img, name: "postgres:17" })).replaces, ["name"]);
});

rule(["container.read.healthcheck"], "Go durations parse and print as Go does", () => {
    assert.equal(parseGoDuration("120s"), 120e9);
    assert.equal(parseGoDuration("1m30s"), 90e9);
    assert.equal(parseGoDuration("1.5h"), 5400e9);
    assert.equal(parseGoDuration("5x"), undefined);
    assert.deepEqual([0, 1e9, 5e9, 120e9, 3600e9, 1.5e9, 2e6, 90e9].map(formatGoDuration),
        ["0s", "1s", "5s", "2m0s", "1h0m0s", "1.5s", "2ms", "1m30s"]);
});

rule(["secrets.none"], "no sensitive attributes: outputs are secret only where inputs were", () => {
    assert.deepEqual(dockerStandIn.secrets, { kind: "bridge", sensitive: {} });
});

rule(["preview"], "preview creates nothing and leaves computed attributes unknown", async () => {
    const { inputs } = await check(CONTAINER, { name: `pgr-${STACK}-preview`, image: "postgres:13", labels: LABELS });
    const res = await h(CONTAINER).create(ctx, { urn: "u", type: CONTAINER, inputs, preview: true, timeout: 0 });
    assert.equal(res.id, "");
    assert.equal(res.outputs.bridge, UNKNOWN);
    assert.equal(res.outputs.name, `pgr-${STACK}-preview`);
    assert.equal(docker("ps", "-aq", "--filter", `name=pgr-${STACK}-preview`), "");
});

// ---------------------------------------------------------------------------------------------
// Network, volume, image on the engine

rule(["network.create", "network.read"], "the network is created as declared and reads back the same, with no diff", async () => {
    const n = inspect(network.id);
    assert.equal(n.Name, NET);
    assert.deepEqual(n.IPAM.Config, [{ Subnet: SUBNET, Gateway: "172.28.1.1" }]);
    assert.equal(network.outputs.driver, "bridge");
    assert.deepEqual(network.outputs.ipamConfigs, [{ subnet: SUBNET, gateway: "172.28.1.1" }]);
    assert.deepEqual(network.outputs.labels, LABELS);
    assert.equal(network.outputs.scope, "local");
    const read = await h(NETWORK).read(ctx, { urn: "u", type: NETWORK, id: network.id, state: network.outputs, inputs: network.inputs });
    assert.deepEqual(read?.outputs, network.outputs);
    assert.equal((await diff(NETWORK, network.inputs, read!.outputs, network.inputs)).changes, "none");
});

rule(["network.delete"], "network delete retries while it has active endpoints, then removes it; a gone network deletes fine", async () => {
    const n = await create(NETWORK, { name: `${NET}-2`, labels: LABELS, ipamConfigs: [{ subnet: "172.28.2.0/24" }] });
    const blocker = docker("run", "-d", "--label", `pg-replication.stack=${STACK}`, "--network", `${NET}-2`, "postgres:13", "sleep", "60");
    setTimeout(() => docker("rm", "-f", "-v", blocker), 3000);
    const started = Date.now();
    await del(NETWORK, n.id, n.outputs);
    assert.ok(Date.now() - started >= 6500, "the first retry comes 5 s after the 2 s delay");
    assert.throws(() => docker("network", "inspect", n.id));
    assert.ok(logs.some((l) => l.includes("active endpoints")));
    await del(NETWORK, n.id, n.outputs);
    assert.equal(await h(NETWORK).read(ctx, { urn: "u", type: NETWORK, id: n.id, state: n.outputs, inputs: n.inputs }), undefined);
});

rule(["volume.create", "volume.delete"], "volume create/read, delete retrying while in use", async () => {
    const v = await create(VOLUME, { name: `pgr-${STACK}-vol`, labels: LABELS });
    assert.equal(v.id, `pgr-${STACK}-vol`);
    assert.equal(v.outputs.driver, "local");
    assert.match(v.outputs.mountpoint, /pgr-standin-docker-vol/);
    assert.deepEqual(v.outputs.labels, LABELS);
    assert.equal((await diff(VOLUME, v.inputs, v.outputs, v.inputs)).changes, "none");
    const user = docker("create", "--label", `pg-replication.stack=${STACK}`, "-v", `${v.id}:/data`, "postgres:13", "true");
    setTimeout(() => docker("rm", "-f", "-v", user), 3000);
    await del(VOLUME, v.id, v.outputs);
    assert.throws(() => docker("volume", "inspect", v.id));
    assert.equal(await h(VOLUME).read(ctx, { urn: "u", type: VOLUME, id: v.id, state: v.outputs, inputs: v.inputs }), undefined);
});

rule(["image.local", "image.delete"], "RemoteImage uses the local image; keepLocally keeps it, otherwise the tag is removed", async () => {
    const img = await create(IMAGE, { name: "postgres:13", keepLocally: true });
    assert.equal(img.outputs.imageId, IMAGE_ID());
    assert.equal(img.id, IMAGE_ID() + "postgres:13");
    assert.equal(img.outputs.repoDigest, "");
    await del(IMAGE, img.id, img.outputs);
    assert.equal(docker("image", "inspect", "postgres:13", "--format", "{{.Id}}"), IMAGE_ID());
    docker("tag", "postgres:13", "pgr-standin-docker/tag:tmp");
    const tmp = await create(IMAGE, { name: "pgr-standin-docker/tag:tmp" });
    await del(IMAGE, tmp.id, tmp.outputs);
    assert.throws(() => docker("image", "inspect", "pgr-standin-docker/tag:tmp"));
    assert.equal(IMAGE_ID(), img.outputs.imageId);
});

rule(["image.nopull"], "a missing image is refused: the stand-in never pulls", async () => {
    await assert.rejects(create(IMAGE, { name: "pgr-standin-docker/missing:never" }), (err: Error) =>
        err instanceof StandInError && /does not pull/.test(err.message));
    await assert.rejects(create(CONTAINER, { name: `pgr-${STACK}-nopull`, image: "pgr-standin-docker/missing:never", labels: LABELS }), /does not pull/);
});

// ---------------------------------------------------------------------------------------------
// Containers on the engine

/** What the server logged after its last start (the image's init phase also logs a shutdown). */
function afterLastStart(log: string): string {
    return log.slice(log.lastIndexOf("database system is ready to accept connections"));
}

/** Collects a container's log until it is removed. */
function followLogs(id: string): Promise<string> {
    return new Promise((resolve) => {
        const child = spawn("docker", ["-H", HOST, "logs", "-f", id]);
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (out += d));
        child.on("close", () => resolve(out));
    });
}

function postgresArgs(name: string, ip: string, port: number, extra: Props = {}): Props {
    return {
        name, hostname: "node1", image: IMAGE_ID(),
        command: ["postgres", "-c", "listen_addresses=*"],
        envs: ["PGDATA=/var/lib/postgresql/data/pgdata", "POSTGRES_PASSWORD_FILE=/run/secrets/standin/pw"],
        uploads: [{ file: "/run/secrets/standin/pw", content: "s3cret" }],
        labels: LABELS,
        networksAdvanced: [{ name: NET, ipv4Address: ip }],
        ports: [{ internal: 5432, external: port, ip: "127.0.0.1" }],
        healthcheck: { tests: ["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-U", "postgres"], interval: "1s", timeout: "5s", retries: 10, startPeriod: "120s" },
        wait: true, waitTimeout: 60, restart: "unless-stopped", mustRun: true,
        ...extra,
    };
}

rule(["container.create.sequence", "container.create.uploads", "container.create.wait", "container.read.healthcheck",
    "container.read.env-labels", "container.read.networks", "container.read.image", "container.update.applies", "container.delete.stop"],
"a postgres container: networks, upload, healthy wait, read-back, update applies restart only, clean stop with a grace period", async () => {
    const volume = await create(VOLUME, { name: `pgr-${STACK}-data1`, labels: LABELS });
    const c = await create(CONTAINER, postgresArgs(`pgr-${STACK}-pg1`, "172.28.1.10", 58101,
        { volumes: [{ volumeName: volume.id, containerPath: "/var/lib/postgresql/data" }] }));
    const info = inspect(c.id);
    assert.equal(info.State.Health.Status, "healthy");
    assert.deepEqual(Object.keys(info.NetworkSettings.Networks), [NET]);
    assert.equal(info.NetworkSettings.Networks[NET].IPAddress, "172.28.1.10");
    assert.equal(info.HostConfig.Init, false);
    assert.deepEqual(info.HostConfig.Binds, [`${volume.id}:/var/lib/postgresql/data:rw`]);
    assert.equal(docker("exec", c.id, "cat", "/run/secrets/standin/pw"), "s3cret");
    assert.equal(docker("exec", c.id, "stat", "-c", "%a %u", "/run/secrets/standin/pw"), "644 0");
    // Read-back forms.
    assert.equal(c.outputs.healthcheck.startPeriod, "2m0s");
    assert.equal(c.outputs.healthcheck.interval, "1s");
    assert.deepEqual(c.outputs.envs, c.inputs.envs);
    assert.deepEqual(c.outputs.labels, LABELS);
    assert.deepEqual(c.outputs.networksAdvanced, [{ name: NET, ipv4Address: "172.28.1.10" }]);
    assert.deepEqual(c.outputs.networkDatas.map((n: Props) => [n.networkName, n.ipAddress]), [[NET, "172.28.1.10"]]);
    assert.equal(c.outputs.image, IMAGE_ID());
    assert.deepEqual(c.outputs.ports, [{ internal: 5432, external: 58101, ip: "127.0.0.1", protocol: "tcp" }]);
    assert.equal(c.outputs.exitCode, null);
    // "120s" in config against "2m0s" read back: an update, every time.
    const d = await diff(CONTAINER, c.inputs, c.outputs, postgresArgs(`pgr-${STACK}-pg1`, "172.28.1.10", 58101,
        { volumes: [{ volumeName: volume.id, containerPath: "/var/lib/postgresql/data" }] }));
    assert.deepEqual([d.diffs, d.replaces], [["healthcheck"], []]);
    // Update: restart is applied, healthcheck and destroyGraceSeconds only reach the state.
    const news = (await check(CONTAINER, { ...c.inputs, restart: "no", destroyGraceSeconds: 30, healthcheck: { ...c.inputs.healthcheck, retries: 3 } })).inputs;
    const upd = await h(CONTAINER).update(ctx, { urn: "u", type: CONTAINER, id: c.id, oldInputs: c.inputs, oldOutputs: c.outputs, news, preview: false, timeout: 0, ignoreChanges: [] });
    const after = inspect(c.id);
    assert.equal(after.HostConfig.RestartPolicy.Name, "no");
    assert.equal(after.Config.Healthcheck.Retries, 10);
    assert.equal(upd.outputs.healthcheck.retries, 3);
    assert.equal(upd.outputs.destroyGraceSeconds, 30);
    // Delete with the grace period from state: PostgreSQL shuts down cleanly.
    const log = followLogs(c.id);
    await del(CONTAINER, c.id, upd.outputs);
    assert.match(afterLastStart(await log), /received fast shutdown request[^]*database system is shut down/);
    assert.throws(() => inspect(c.id));
    await del(VOLUME, volume.id, volume.outputs);
});

rule(["container.delete.stop", "container.read.image"], "without destroyGraceSeconds the stop gives no grace: a process that ignores the stop signal is killed at once; image by name reads back as the name", async () => {
    // A process that ignores SIGTERM ends only by the kill. The engine's own default grace is 10 s,
    // so a delete well under that proves the stand-in asked for t=0. (A postgres server is not used
    // here: its fast shutdown can finish inside the moment between the signal and the kill.)
    const c = await create(CONTAINER, {
        name: `pgr-${STACK}-pg2`, image: "postgres:13", labels: LABELS,
        command: ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"], mustRun: true,
    });
    assert.equal(c.outputs.image, "postgres:13");
    assert.equal(inspect(c.id).Config.Image, "postgres:13");
    assert.equal(inspect(c.id).State.Running, true);
    const started = Date.now();
    await del(CONTAINER, c.id, c.outputs);
    assert.ok(Date.now() - started < 5000, `delete took ${Date.now() - started} ms`);
    assert.throws(() => inspect(c.id));
});

rule(["container.create.initerror", "container.create.wait"], "a health check that never passes: InitError with the container's id after waitTimeout", async () => {
    const args = {
        name: `pgr-${STACK}-unhealthy`, image: "postgres:13", command: ["sleep", "300"], labels: LABELS,
        healthcheck: { tests: ["CMD", "false"], interval: "1s", retries: 1 }, wait: true, waitTimeout: 3, mustRun: true,
    };
    const started = Date.now();
    const err = await create(CONTAINER, args).then(() => undefined, (e) => e);
    assert.ok(err instanceof InitError, String(err));
    assert.match(err.message, /container failed to be in healthy state/);
    assert.ok(Date.now() - started >= 3000);
    assert.equal(inspect(err.id).Id, err.id);
    assert.equal(err.outputs.id, err.id);
    assert.equal(err.outputs.healthcheck.interval, "1s");
    await del(CONTAINER, err.id, err.outputs);
});

rule(["container.create.wait", "container.create.initerror"], "wait without a health check fails at once, after the start", async () => {
    const err = await create(CONTAINER, { name: `pgr-${STACK}-nohc`, image: "postgres:13", command: ["sleep", "300"], labels: LABELS, wait: true })
        .then(() => undefined, (e) => e);
    assert.ok(err instanceof InitError, String(err));
    assert.match(err.message, /you have supplied a 'wait' argument, but the container does not have a healthcheck defined/);
    assert.equal(inspect(err.id).State.Running, true);
    await del(CONTAINER, err.id, err.outputs);
});

rule(["container.read.ports", "container.read.stopped", "container.update.applies", "container.read.gone", "container.delete.gone"],
"0.0.0.0 reads back as one binding; a stopped container reads mustRun=false and no ports (so ports replace), Update starts it; a removed one is gone", async () => {
    const c = await create(CONTAINER, {
        name: `pgr-${STACK}-sleep`, image: "postgres:13", command: ["sleep", "300"], labels: LABELS,
        ports: [{ internal: 5432, external: 58103, ip: "0.0.0.0" }], stopSignal: "SIGKILL",
    });
    assert.deepEqual(inspect(c.id).NetworkSettings.Ports["5432/tcp"], [{ HostIp: "0.0.0.0", HostPort: "58103" }]);
    assert.deepEqual(c.outputs.ports, [{ internal: 5432, external: 58103, ip: "0.0.0.0", protocol: "tcp" }]);
    assert.equal((await diff(CONTAINER, c.inputs, c.outputs, c.inputs)).changes, "none");
    docker("stop", c.id);
    const read = await h(CONTAINER).read(ctx, { urn: "u", type: CONTAINER, id: c.id, state: c.outputs, inputs: c.inputs });
    assert.equal(read?.outputs.mustRun, false);
    assert.equal(read?.outputs.exitCode, 137);
    // Read sets ports from the stopped container (mustRun is still true in state at that point): none.
    assert.deepEqual(read?.outputs.ports, []);
    const d = await diff(CONTAINER, c.inputs, read!.outputs, c.inputs);
    assert.deepEqual([d.diffs, d.replaces], [["mustRun", "ports"], ["ports"]]);
    const upd = await h(CONTAINER).update(ctx, { urn: "u", type: CONTAINER, id: c.id, oldInputs: c.inputs, oldOutputs: read!.outputs, news: c.inputs, preview: false, timeout: 0, ignoreChanges: [] });
    assert.equal(upd.outputs.mustRun, true);
    assert.equal(inspect(c.id).State.Running, true);
    docker("rm", "-f", "-v", c.id);
    assert.equal(await h(CONTAINER).read(ctx, { urn: "u", type: CONTAINER, id: c.id, state: c.outputs, inputs: c.inputs }), undefined);
    await del(CONTAINER, c.id, c.outputs);
});

rule(["container.network-mode", "container.volumes.host-path", "container.create.info", "container.create.sequence"],
"networkMode none with the engine socket bound from the host: GET /info, then the create body; read back alike, no diff", async () => {
    const fake = await fakeEngine(HOST);
    const log: string[] = [];
    const c = await instance({ host: fake.host }, { ...process.env }, log);
    const volume = await create(VOLUME, { name: `pgr-${STACK}-sched`, labels: LABELS });
    const args = {
        name: `pgr-${STACK}-sched`, image: "postgres:13", command: ["sleep", "300"], labels: LABELS, networkMode: "none", mustRun: true,
        volumes: [
            SOCKET_BIND,
            { volumeName: volume.id, hostPath: "/nonexistent/standin-docker", containerPath: "/data", readOnly: true }, // the volume wins
            { containerPath: "/scratch" }, // neither: only Volumes
        ],
    };
    const { inputs, failures } = await check(CONTAINER, args);
    assert.equal(failures, undefined);
    fake.requests.length = 0;
    const sched = await h(CONTAINER).create(c, { urn: urn(CONTAINER, "sched"), type: CONTAINER, inputs, preview: false, timeout: 0 });
    const requests = fake.goRequests();
    assert.deepEqual(requests.slice(requests.indexOf("GET /v1.41/info")), ["GET /v1.41/info", `POST /v1.41/containers/create?name=pgr-${STACK}-sched`,
        `POST /v1.41/containers/${sched.id}/start`, "GET /v1.41/containers/json?all=1", `GET /v1.41/containers/${sched.id}/json`]);
    const body = JSON.parse(fake.requests.find((r) => r.method === "POST" && r.url.startsWith("/v1.41/containers/create"))!.body);
    assert.equal(body.HostConfig.NetworkMode, "none");
    // Binds in the order of the set's elements (the provider's order is the set's hash order; the engine keeps either).
    assert.deepEqual(body.HostConfig.Binds, ["/var/run/docker.sock:/var/run/docker.sock:rw", `${volume.id}:/data:ro`]);
    assert.deepEqual(body.Volumes, { "/var/run/docker.sock": {}, "/data": {}, "/scratch": {} });
    assert.ok(!log.some((l) => l.includes("non-Linux")), log.join("\n"));
    // The engine: no network but "none", the socket bound in.
    const info = inspect(sched.id);
    assert.equal(info.HostConfig.NetworkMode, "none");
    assert.deepEqual(Object.keys(info.NetworkSettings.Networks), ["none"]);
    docker("exec", sched.id, "test", "-S", "/var/run/docker.sock");
    // Read-back: networkMode "none", one networkDatas entry with nothing in it, no bridge, no ports; volumes as stored.
    assert.equal(sched.outputs.networkMode, "none");
    assert.deepEqual(sched.outputs.networkDatas, NONE_DATAS);
    assert.equal(sched.outputs.bridge, "");
    assert.deepEqual(sched.outputs.ports, []);
    assert.deepEqual(sched.outputs.volumes, args.volumes);
    const read = await h(CONTAINER).read(c, { urn: "u", type: CONTAINER, id: sched.id, state: sched.outputs, inputs });
    assert.deepEqual(read?.outputs, sched.outputs);
    assert.equal((await diff(CONTAINER, inputs, read!.outputs, args)).changes, "none");
    // Info failing is ignored; on "bridge" its empty OSType draws the non-Linux warning.
    fake.override = (req) => (req.url?.endsWith("/info") ? { status: 500, headers: { "Content-Type": "application/json" }, body: "{\"message\":\"boom\"}" } : undefined);
    const bridged = (await check(CONTAINER, { name: `pgr-${STACK}-bridged`, image: "postgres:13", command: ["sleep", "300"], labels: LABELS })).inputs;
    const plain = await h(CONTAINER).create(c, { urn: urn(CONTAINER, "bridged"), type: CONTAINER, inputs: bridged, preview: false, timeout: 0 });
    assert.equal(plain.outputs.networkMode, "bridge");
    assert.ok(log.includes("[WARN] You are using a non-Linux host OS, but the network_mode is set to 'bridge'. This may not work as expected. Please set the network_mode explicitly to 'nat' or another appropriate value for your host OS."), log.join("\n"));
    fake.override = undefined;
    await h(CONTAINER).delete(c, { urn: "u", type: CONTAINER, id: plain.id, outputs: plain.outputs, oldInputs: bridged, timeout: 0 });
    await h(CONTAINER).delete(c, { urn: "u", type: CONTAINER, id: sched.id, outputs: sched.outputs, oldInputs: inputs, timeout: 0 });
    assert.throws(() => inspect(sched.id));
    await del(VOLUME, volume.id, volume.outputs);
    await fake.close();
});

test("every RULES row is proved by a test", () => {
    assert.deepEqual(RULES.map((r) => r.id).filter((id) => !proved.has(id)), []);
    assert.deepEqual([...proved].filter((id) => !RULES.some((r) => r.id === id)), []);
});
