// The collision check against a stand-in `docker` on PATH that answers `network ls`,
// `network inspect` and `ps` from canned files and records each call: every kind of
// collision and its message, what counts as this stack's own, the engine it asks, and
// that it costs three calls. `run` answers the host-address probe with a canned
// /proc/net/fib_trie per engine (fib-<DOCKER_HOST with non-alphanumerics as _>).

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { ClusterConfig, validateConfig } from "../../components/config";
import { resolveEngine } from "../../components/engine";
import {
    collisions, collisionsByEngine, enginesLostInFailover, localAddresses, lostEngineNote, PreflightError, preflight,
    publishedPorts, refuseCollisions,
} from "../../components/preflight";
import { observe, silentEngines } from "../../components/topology";

const FAKE_DOCKER = `#!/bin/sh
echo "DOCKER_HOST=$DOCKER_HOST $*" >> "$FAKE_DIR/calls"
[ -f "$FAKE_DIR/fail" ] && { cat "$FAKE_DIR/fail" >&2; exit 1; }
[ -f "$FAKE_DIR/hang" ] && exec sleep 5
case "$1 $2" in
  "network ls") cat "$FAKE_DIR/ids" 2>/dev/null ;;
  "network inspect") [ -f "$FAKE_DIR/gone-once" ] && { rm "$FAKE_DIR/gone-once"; echo "Error response from daemon: network 18f4 not found" >&2; exit 1; }
     cat "$FAKE_DIR/inspect" ;;
  ps*) cat "$FAKE_DIR/ps" 2>/dev/null ;;
  "volume ls") cat "$FAKE_DIR/volumes" 2>/dev/null ;;
  run*) [ -f "$FAKE_DIR/noimage" ] && { printf 'docker: Error response from daemon: No such image: %s\n\nRun %s for more information\n' \
         "$(printf '%s\n' "$@" | awk 'p { print; exit } $0 == "cat" { p = 1 }')" "'docker run --help'" >&2; exit 125; }
     [ -f "$FAKE_DIR/missing" ] && case " $* " in *" $(cat "$FAKE_DIR/missing") "*)
         printf 'docker: Error response from daemon: No such image: %s\n' "$(cat "$FAKE_DIR/missing")" >&2; exit 125 ;; esac
     cat "$FAKE_DIR/fib-$(printf %s "$DOCKER_HOST" | tr -c 'A-Za-z0-9' _)" ;;
esac
`;

const OURS = { "pg-replication.project": "pg-replication", "pg-replication.stack": "pf" };
let dir: string;

function engineAnswers(nets: { Name: string; Id: string; Labels?: Record<string, string>; subnet?: string }[], ps: string[]): void {
    fs.writeFileSync(path.join(dir, "ids"), nets.map((n) => n.Id).join("\n") + "\n");
    fs.writeFileSync(path.join(dir, "inspect"), JSON.stringify(nets.map((n) => ({
        Name: n.Name, Id: n.Id, Labels: n.Labels ?? {}, IPAM: { Config: n.subnet ? [{ Subnet: n.subnet, Gateway: "x" }] : [] },
    }))));
    fs.writeFileSync(path.join(dir, "ps"), ps.map((l) => `${l}\n`).join(""));
}

function plan(values: Record<string, unknown> = {}, dockerHost?: string): ClusterConfig {
    const raw = Object.fromEntries(Object.entries({
        networkName: "dockernetwork", subnet: "172.28.44.0/24", primary: "pg1",
        nodes: [{ name: "pg1", address: "172.28.44.101", port: values.port1 ?? 58441 },
            { name: "pg2", address: "172.28.44.102", port: 58442 }],
        ...Object.fromEntries(Object.entries(values).filter(([k]) => k !== "port1")),
    }).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
    const engine = dockerHost ? resolveEngine({ configHost: dockerHost, env: {} }) : undefined;
    return validateConfig(raw, { project: "pg-replication", stack: "pf", engine });
}

/** For a describe(): each test gets a fresh folder with the stand-in docker in it (dir). */
function withFakeDocker(): void {
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-preflight-"));
        fs.writeFileSync(path.join(dir, "docker"), FAKE_DOCKER, { mode: 0o755 });
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
}

const env = () => ({ PATH: `${dir}:/usr/bin:/bin`, FAKE_DIR: dir });
const check = (cfg: ClusterConfig) => collisions(cfg, { env: env(), timeoutMs: 2000 });
const calls = () => fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n");

describe("preflight: collisions fail before anything is created", () => {
    withFakeDocker();

    test("a network removed between the listing and the inspect (another stack's destroy) is listed again, not an error", async () => {
        engineAnswers([{ Name: "bridge", Id: "b1", subnet: "172.17.0.0/16" }], []);
        fs.writeFileSync(path.join(dir, "gone-once"), "");
        assert.deepEqual(await check(plan()), []);
        assert.equal(calls().filter((c) => / network ls /.test(c)).length, 2);
    });

    test("nothing in the way: no problem, in three docker calls to the resolved engine", async () => {
        engineAnswers([{ Name: "bridge", Id: "b1", subnet: "172.17.0.0/16" }], ["other\t\t\t0.0.0.0:8080->80/tcp"]);
        assert.deepEqual(await check(plan()), []);
        const made = calls();
        assert.equal(made.length, 3, made.join("\n"));
        assert.ok(made.every((c) => c.startsWith("DOCKER_HOST=unix:///var/run/docker.sock ")));
        assert.deepEqual(made.map((c) => c.split(" ").slice(1, 3).join(" ")).sort(), ["network inspect", "network ls", "ps --no-trunc"]);
    });

    test("with backups: a volume of the repository's name that is not this stack's (Docker would adopt it); this stack's own is none", async () => {
        engineAnswers([], []);
        const volumes = (lines: string[]) => fs.writeFileSync(path.join(dir, "volumes"), lines.map((l) => `${l}\n`).join(""));
        volumes(["pg-replication-pf-backup\tother\tx", "unrelated\t\t"]);
        assert.deepEqual(await check(plan({ backup: true, image: "postgres:17" })), [
            'pg-replication:backup.volume = "pg-replication-pf-backup" is not allowed: a volume of that name already exists on the ' +
            "Docker engine unix:///var/run/docker.sock and is not this stack's repository; set pg-replication:backup.volume to another " +
            "name, or remove that volume",
        ]);
        volumes(["pg-replication-pf-backup\tpg-replication\tpf"]);
        assert.deepEqual(await check(plan({ backup: true, image: "postgres:17" })), [], "kept by an earlier destroy of this stack");
        assert.ok(calls().some((c) => / volume ls --format /.test(c)));
    });

    test("a foreign network with the configured name", async () => {
        engineAnswers([{ Name: "dockernetwork", Id: "0123456789abcdef", subnet: "10.9.0.0/24" }], []);
        assert.deepEqual(await check(plan()), [
            'pg-replication:networkName = "dockernetwork" is not allowed: a network of that name already exists on the ' +
            "Docker engine unix:///var/run/docker.sock (id 0123456789ab) and is not this stack's; set " +
            "pg-replication:networkName to another name, or remove that network",
        ]);
    });

    test("a foreign network whose subnet overlaps, wider or narrower", async () => {
        engineAnswers([{ Name: "compose_default", Id: "c1", subnet: "172.28.0.0/16" },
            { Name: "tiny", Id: "t1", subnet: "172.28.44.128/25" }, { Name: "beside", Id: "n1", subnet: "172.28.45.0/24" }], []);
        const found = await check(plan());
        assert.deepEqual(found, [
            'pg-replication:subnet = "172.28.44.0/24" is not allowed: it overlaps 172.28.0.0/16 of the network ' +
            '"compose_default" on the Docker engine unix:///var/run/docker.sock; set pg-replication:subnet to a range ' +
            "no network uses (and the addresses in pg-replication:nodes inside it)",
            'pg-replication:subnet = "172.28.44.0/24" is not allowed: it overlaps 172.28.44.128/25 of the network ' +
            '"tiny" on the Docker engine unix:///var/run/docker.sock; set pg-replication:subnet to a range ' +
            "no network uses (and the addresses in pg-replication:nodes inside it)",
        ]);
    });

    test("this stack's own network (second up) is no collision; the same name from another stack is", async () => {
        engineAnswers([{ Name: "dockernetwork", Id: "o1", subnet: "172.28.44.0/24", Labels: OURS }], []);
        assert.deepEqual(await check(plan()), []);
        engineAnswers([{ Name: "dockernetwork", Id: "o2", subnet: "172.28.44.0/24", Labels: { ...OURS, "pg-replication.stack": "pg17" } }], []);
        assert.equal((await check(plan())).length, 2);
    });

    test("a host port published by a foreign container, on the same address or on all", async () => {
        engineAnswers([], [
            "pg-replication-dev-primary\tpg-replication\tdev\t127.0.0.1:58441->5432/tcp",
            "web\t\t\t0.0.0.0:58440-58442->58440-58442/tcp, :::58440-58442->58440-58442/tcp",
        ]);
        assert.deepEqual(await check(plan()), [
            'pg-replication:nodes[0].port = 58441 is not allowed: 127.0.0.1:58441 is already published by the container ' +
            '"pg-replication-dev-primary" (127.0.0.1:58441->5432/tcp) on the Docker engine unix:///var/run/docker.sock; ' +
            "choose a free port for pg-replication:nodes[0].port, or stop that container",
            'pg-replication:nodes[1].port = 58442 is not allowed: 127.0.0.1:58442 is already published by the ' +
            'container "web" (0.0.0.0:58440-58442->58440-58442/tcp) on the Docker engine unix:///var/run/docker.sock; ' +
            "choose a free port for pg-replication:nodes[1].port, or stop that container",
        ]);
    });

    test("another address, another protocol or this stack's own container do not collide", async () => {
        engineAnswers([], [
            "a\t\t\t10.0.0.5:58441->5432/tcp",
            "b\t\t\t127.0.0.1:58442->53/udp",
            "pg-replication-pf-standby1\tpg-replication\tpf\t127.0.0.1:58442->5432/tcp",
        ]);
        assert.deepEqual(await check(plan()), []);
    });

    test("a port in use on this machine (local engine); not when this stack's container holds it", async () => {
        const server = net.createServer();
        await new Promise<void>((resolve) => server.listen(58443, "127.0.0.1", resolve));
        try {
            engineAnswers([], []);
            assert.deepEqual(await check(plan({ port1: 58443 })), [
                "pg-replication:nodes[0].port = 58443 is not allowed: 127.0.0.1:58443 is in use on this machine (a program " +
                "other than Docker listens there, a local PostgreSQL for example); choose a free port for pg-replication:nodes[0].port",
            ]);
            engineAnswers([], ["pg-replication-pf-primary\tpg-replication\tpf\t127.0.0.1:58443->5432/tcp"]);
            assert.deepEqual(await check(plan({ port1: 58443 })), []);
            // The node's own container, which Docker keeps restarting: ps lists no port for it, while its proxy may
            // hold the port between two attempts (seen in CI: a standby that did not come back in a roll).
            engineAnswers([], ["pg-replication-pf-pg1\tpg-replication\tpf\t\trestarting"]);
            assert.deepEqual(await check(plan({ port1: 58443 })), []);
            // Another stack's container restarting, or this stack's exited one, holds nothing of this node's.
            engineAnswers([], ["pg-replication-pf-pg1\tpg-replication\tother\t\trestarting", "pg-replication-pf-pg2\tpg-replication\tpf\t\texited"]);
            assert.equal((await check(plan({ port1: 58443 }))).length, 1);
            // A remote engine publishes on its own host: this machine's listeners do not matter.
            engineAnswers([], []);
            assert.deepEqual(await check(plan({ port1: 58443, bindAddress: "0.0.0.0" }, "tcp://10.1.2.3:2375")), []);
        } finally {
            await new Promise((resolve) => server.close(resolve));
        }
    });

    test("every problem at once, as a RunError naming them all", async () => {
        engineAnswers([{ Name: "dockernetwork", Id: "f1", subnet: "172.28.44.0/24" }], ["x\t\t\t127.0.0.1:58441->1/tcp"]);
        await assert.rejects(preflight(plan(), { env: env() }), (err: Error) => {
            assert.ok(err instanceof PreflightError);
            assert.equal(err.problems.length, 3);
            assert.match(err.message, /^the stack would collide with what is already there:\n {2}- pg-replication:networkName = .*\n {2}- pg-replication:subnet = .*\n {2}- pg-replication:nodes\[0\]\.port = /);
            return true;
        });
    });

    test("an engine that cannot be reached says so and which one", async () => {
        fs.writeFileSync(path.join(dir, "fail"), "Cannot connect to the Docker daemon at tcp://10.1.2.3:2375. Is the docker daemon running?\n");
        await assert.rejects(check(plan({ bindAddress: "0.0.0.0" }, "tcp://10.1.2.3:2375")), (err: Error) => {
            assert.ok(err instanceof PreflightError);
            assert.match(err.message, /cannot check the plan against the Docker engine tcp:\/\/10\.1\.2\.3:2375 \(from docker:host\): `docker (network ls|ps --no-trunc)` failed: Cannot connect to the Docker daemon/);
            return true;
        });
    });

    test("an engine that does not answer is given up on within the bound", async () => {
        fs.writeFileSync(path.join(dir, "hang"), "");
        const started = Date.now();
        await assert.rejects(collisions(plan(), { env: env(), timeoutMs: 300 }), /no answer within 0\.3 s/);
        assert.ok(Date.now() - started < 3000);
    });
});

describe("several engines: a silent one is asked once, then left alone", () => {
    withFakeDocker();

    test("silentEngines: a hanging engine is named with its bound, each engine asked once", async () => {
        fs.writeFileSync(path.join(dir, "hang"), "");
        const started = Date.now();
        const silent = await silentEngines([E1, E2, E1], { env: env(), timeoutMs: 300 });
        assert.ok(Date.now() - started < 3000);
        assert.deepEqual([...silent.entries()], [[E1, "no answer within 0.3 s"], [E2, "no answer within 0.3 s"]]);
        assert.deepEqual(calls().map((c) => c.split(" ").slice(0, 2).join(" ")).sort(),
            [`DOCKER_HOST=${E1} version`, `DOCKER_HOST=${E2} version`]);
    });

    test("collisions and the topology check make no call to an engine already found silent", async () => {
        engineAnswers([{ Name: "bridge", Id: "b1", subnet: "172.17.0.0/16" }], []);
        hostHas(E1, ["10.0.0.1"]);
        const cfg = twoEngines("10.0.0.1", "10.0.0.2");
        const silent = new Map([[E2, "no answer within 5 s"]]);
        const found = await collisionsByEngine(cfg, { env: env(), timeoutMs: 2000, silent });
        assert.deepEqual(found.map((e) => [e.engine, e.down]), [[E1, false], [E2, true]]);
        assert.match(found[1].problems[0], /pg-replication:nodes\[1\]\.host = "unix:\/\/\/run\/pf-e2\.sock" is not allowed: the Docker engine does not answer \(.*`docker version` failed: no answer within 5 s\)/);
        const states = await observe(cfg, { env: env(), timeoutMs: 2000, silent });
        assert.deepEqual(states[1], { name: "pg2", exists: true, unreachable: `its Docker engine (${E2}) does not answer: no answer within 5 s`,
            engineDown: `its Docker engine (${E2}) does not answer: no answer within 5 s` });
        assert.ok(calls().every((c) => !c.startsWith(`DOCKER_HOST=${E2} `)), calls().join("\n"));
    });

    test("a silent unix:// or tcp:// engine: the docker provider would dial it at its start, so the problem says so", async () => {
        engineAnswers([{ Name: "bridge", Id: "b1", subnet: "172.17.0.0/16" }], []);
        hostHas(E1, ["10.0.0.1"]);
        for (const engine of [E2, "tcp://10.0.0.2:2375"]) {
            const cfg = plan({ nodes: [{ name: "pg1", address: "172.28.44.101", port: 58441, host: E1, hostAddress: "10.0.0.1" },
                { name: "pg2", address: "172.28.44.102", port: 58441, host: engine, hostAddress: "10.0.0.2" }] });
            const found = await collisionsByEngine(cfg, { env: env(), timeoutMs: 2000, silent: new Map([[engine, "no answer within 5 s"]]) });
            assert.match(found[1].problems[0], new RegExp(`^pg-replication:nodes\\[1\\]\\.host = "${engine.replace(/[/.]/g, "\\$&")}" ` +
                "is not allowed: the Docker engine does not answer \\(.*no answer within 5 s\\); Pulumi's docker provider dials an " +
                "engine given as unix:// or tcp:// as soon as it starts, with no time limit \\(pulumi-docker 5\\.0\\.0 Configure\\), so no " +
                "up, preview, refresh or destroy of this stack, a failover neither, gets past it while it is silent: bring the engine " +
                "back and run up again\\. A machine that may be lost must be reached over ssh:// .*README, \"A host gone for good\"\\)$"));
        }
    });

    test("a silent ssh:// engine: bring it back, or fail over away from it", async () => {
        engineAnswers([{ Name: "bridge", Id: "b1", subnet: "172.17.0.0/16" }], []);
        hostHas(E1, ["10.0.0.1"]);
        const cfg = plan({ nodes: [{ name: "pg1", address: "172.28.44.101", port: 58441, host: E1, hostAddress: "10.0.0.1" },
            { name: "pg2", address: "172.28.44.102", port: 58441, host: "ssh://deploy@10.0.0.2", hostAddress: "10.0.0.2" }] });
        const found = await collisionsByEngine(cfg, { env: env(), timeoutMs: 2000,
            silent: new Map([["ssh://deploy@10.0.0.2", "no answer within 5 s"]]) });
        assert.match(found[1].problems[0], /does not answer \(.*\); bring it back and run up again; if the primary is on it, fail over: set pg-replication:primary to a standby on another engine; if its machine is gone for good, take its resources out of the stack: pulumi state delete --target-dependents 'urn:pulumi:stack::project::pg-replication:index:PostgresCluster\$pulumi:providers:docker::cluster-docker-pg2', then remove pg2 from pg-replication:nodes and run up \(README, "A host gone for good"\)$/);
    });

    test("in a failover, a lost engine is left out only when the provider does not dial it at its start (ssh://)", () => {
        const SSH = "ssh://deploy@10.0.0.2";
        const on = (engine: string) => plan({ nodes: [
            { name: "pg1", address: "172.28.44.101", port: 58441, host: engine, hostAddress: "10.0.0.2" },
            { name: "pg2", address: "172.28.44.102", port: 58441, host: E1, hostAddress: "10.0.0.1" }] });
        const down = (engine: string) => [{ engine: E1, problems: [], down: false }, { engine, problems: ["silent"], down: true }];
        assert.deepEqual([...enginesLostInFailover(on(SSH), down(SSH), { engineDown: ["pg1"] })], [SSH]);
        assert.deepEqual([...enginesLostInFailover(on(E2), down(E2), { engineDown: ["pg1"] })], []);
        assert.deepEqual([...enginesLostInFailover(on("tcp://10.0.0.2:2375"), down("tcp://10.0.0.2:2375"), { engineDown: ["pg1"] })], []);
        // Not in a failover, or the plan does not speak for every node on it: a problem as before.
        assert.deepEqual([...enginesLostInFailover(on(SSH), down(SSH), undefined)], []);
        assert.deepEqual([...enginesLostInFailover(on(SSH), down(SSH), { engineDown: [] })], []);
    });

    test("refuseCollisions: a lost engine's problem is left out and named as lost; every other one is thrown at once", () => {
        const SSH = "ssh://deploy@10.0.0.2";
        const cfg = plan({ nodes: [
            { name: "pg1", address: "172.28.44.101", port: 58441, host: SSH, hostAddress: "10.0.0.2" },
            { name: "pg2", address: "172.28.44.102", port: 58441, host: E1, hostAddress: "10.0.0.1" }] });
        const lost = { engine: SSH, problems: ["silent"], down: true };
        assert.deepEqual([...refuseCollisions(cfg, [{ engine: E1, problems: [], down: false }, lost], { engineDown: ["pg1"] })], [SSH]);
        assert.throws(() => refuseCollisions(cfg, [{ engine: E1, problems: ["port", "subnet"], down: false }, lost], { engineDown: ["pg1"] }),
            (err: unknown) => err instanceof PreflightError && assert.deepEqual(err.problems, ["port", "subnet"]) === undefined);
        assert.throws(() => refuseCollisions(cfg, [{ engine: E1, problems: [], down: false }, lost], undefined),
            (err: unknown) => err instanceof PreflightError && assert.deepEqual(err.problems, ["silent"]) === undefined);
        assert.equal(lostEngineNote(SSH), `the Docker engine ${SSH} does not answer and every node on it is lost: nothing ` +
            "there is checked or changed by this up");
    });
});

/** /proc/net/fib_trie of a host with the given addresses on /24s (and loopback), as the kernel writes it. */
function fibTrie(addresses: string[]): string {
    const leaves = (table: string) => [`${table}:`, "  +-- 0.0.0.0/0 3 0 5", "     |-- 0.0.0.0", "        /0 universe UNICAST",
        "     +-- 127.0.0.0/8 2 0 2", "        +-- 127.0.0.0/31 1 0 0", "           |-- 127.0.0.0", "              /8 host LOCAL",
        "           |-- 127.0.0.1", "              /32 host LOCAL", "        |-- 127.255.255.255", "           /32 link BROADCAST",
        ...addresses.flatMap((a) => {
            const net = a.replace(/\.\d+$/, "");
            return [`     +-- ${net}.0/24 2 0 2`, `        |-- ${net}.0`, "           /24 link UNICAST",
                `        |-- ${a}`, "           /32 host LOCAL", `        |-- ${net}.255`, "           /32 link BROADCAST"];
        })];
    return [...leaves("Main"), ...leaves("Local")].join("\n") + "\n";
}

const E1 = "unix:///run/pf-e1.sock";
const E2 = "unix:///run/pf-e2.sock";

/** pg1 on engine 1 and pg2 on engine 2, each with the hostAddress given. */
function twoEngines(address1: string, address2: string): ClusterConfig {
    return plan({ nodes: [{ name: "pg1", address: "172.28.44.101", port: 58441, host: E1, hostAddress: address1 },
        { name: "pg2", address: "172.28.44.102", port: 58441, host: E2, hostAddress: address2 }] });
}

function hostHas(engine: string, addresses: string[]): void {
    fs.writeFileSync(path.join(dir, `fib-${engine.replace(/[^A-Za-z0-9]/g, "_")}`), fibTrie(addresses));
}

describe("preflight: a node's hostAddress is an address of its engine's host", () => {
    let warnings: string[];
    const checkAddresses = (cfg: ClusterConfig) =>
        collisions(cfg, { env: env(), timeoutMs: 2000, warn: (m) => warnings.push(m) });
    const probes = () => calls().filter((c) => c.split(" ")[1] === "run");

    withFakeDocker();
    beforeEach(() => {
        engineAnswers([], []);
        hostHas(E1, ["10.0.0.11", "172.17.0.1"]);
        hostHas(E2, ["10.0.0.12", "172.17.0.1"]);
        warnings = [];
    });

    test("each address on its host: no problem, one labelled throwaway container per engine", async () => {
        assert.deepEqual(await checkAddresses(twoEngines("10.0.0.11", "10.0.0.12")), []);
        assert.deepEqual(warnings, []);
        const made = probes();
        assert.deepEqual(made.map((c) => c.split(" ")[0]).sort(), [`DOCKER_HOST=${E1}`, `DOCKER_HOST=${E2}`]);
        for (const c of made) {
            assert.equal(c.split(" ").slice(1).join(" "), "run --rm --pull never --network host --log-driver none " +
                "--label pg-replication.project=pg-replication --label pg-replication.stack=pf --entrypoint cat postgres:13 " +
                "/proc/net/fib_trie");
        }
        assert.equal(calls().length, 6, "per engine: network ls (no network to inspect), ps and the probe");
    });

    test("with backups the probe runs the nodes' image, the backup image: the one on the engine once the stack is up", async () => {
        const cfg = { ...twoEngines("10.0.0.11", "10.0.0.12"), backup: { image: "pg-replication/postgres-backup:13" } as ClusterConfig["backup"] };
        assert.deepEqual(await checkAddresses(cfg), []);
        assert.equal(probes().length, 2);
        for (const c of probes()) {
            assert.match(c, / --entrypoint cat pg-replication\/postgres-backup:13 \/proc\/net\/fib_trie$/);
        }
        // Backups turned on for a running stack: the backup image not on the engines yet, the cluster's is, and the check still runs.
        fs.writeFileSync(path.join(dir, "missing"), "pg-replication/postgres-backup:13");
        try {
            fs.writeFileSync(path.join(dir, "calls"), "");
            const found = await checkAddresses({ ...cfg, nodes: twoEngines("10.0.0.11", "10.0.0.13").nodes });
            assert.match(found[0] ?? "", /^pg-replication:nodes\[1\]\.hostAddress = "10\.0\.0\.13" is not allowed: pg2 runs on the Docker engine /);
            assert.deepEqual(warnings, []);
            assert.deepEqual(probes().map((c) => / cat (\S+) \/proc/.exec(c)![1]).sort(), ["pg-replication/postgres-backup:13",
                "pg-replication/postgres-backup:13", "postgres:13", "postgres:13"]);
        } finally {
            fs.rmSync(path.join(dir, "missing"));
        }
        // Neither image there: warned of the nodes' image, in the CLI's words and the hint alike.
        fs.writeFileSync(path.join(dir, "noimage"), "");
        try {
            assert.deepEqual(await checkAddresses(cfg), []);
            assert.ok(warnings.length > 0);
            for (const w of warnings) {
                assert.doesNotMatch(w, /No such image: postgres:13/, "the error of the fallback is not the one said");
            }
        } finally {
            fs.rmSync(path.join(dir, "noimage"));
        }
    });

    test("an address of another host fails naming the node, the key, the value and the host's addresses", async () => {
        assert.deepEqual(await checkAddresses(twoEngines("10.0.0.11", "10.0.0.13")), [
            'pg-replication:nodes[1].hostAddress = "10.0.0.13" is not allowed: pg2 runs on the Docker engine ' +
            `${E2}, whose host has the addresses 10.0.0.12, 172.17.0.1 and not 10.0.0.13, so pg2's port cannot be ` +
            "published there; set pg-replication:nodes[1].hostAddress to the one of those the other hosts and the " +
            "clients reach it at (an address that reaches the host only through NAT, such as a cloud VM's public one, " +
            "cannot be published on: use the host's own, e.g. its private network's)",
        ]);
        // The other engine's address, swapped: both fail, each against its own host.
        const swapped = await checkAddresses(twoEngines("10.0.0.12", "10.0.0.11"));
        assert.deepEqual(swapped.map((p) => p.split(" is not allowed")[0]),
            ['pg-replication:nodes[0].hostAddress = "10.0.0.12"', 'pg-replication:nodes[1].hostAddress = "10.0.0.11"']);
        await assert.rejects(preflight(twoEngines("10.0.0.11", "10.0.0.13"), { env: env() }),
            (err: Error) => err instanceof PreflightError && /nodes\[1\]\.hostAddress = "10\.0\.0\.13"/.test(err.message));
    });

    test("a single engine without hostAddress: no probe at all", async () => {
        assert.deepEqual(await checkAddresses(plan()), []);
        assert.deepEqual(probes(), []);
        assert.equal(calls().length, 2, "network ls (no network to inspect) and ps");
    });

    test("only an engine with a node that has a hostAddress is probed, once however many nodes it has", async () => {
        hostHas("unix:///var/run/docker.sock", ["192.0.2.2"]);
        const cfg = plan({ nodes: [{ name: "pg1", address: "172.28.44.101", port: 58441, hostAddress: "192.0.2.2" },
            { name: "pg2", address: "172.28.44.102", port: 58442, hostAddress: "192.0.2.2" }] });
        assert.deepEqual(await checkAddresses(cfg), []);
        assert.equal(probes().length, 1);
    });

    test("an engine that does not answer is reported once, as before; no warning about the address", async () => {
        fs.writeFileSync(path.join(dir, "fail"), `Cannot connect to the Docker daemon at ${E2}. Is the docker daemon running?\n`);
        const found = await checkAddresses(twoEngines("10.0.0.11", "10.0.0.12"));
        assert.equal(found.length, 2, found.join("\n"));
        assert.match(found[0], /^pg-replication:nodes\[0\]\.host = "unix:\/\/\/run\/pf-e1\.sock" is not allowed: the Docker engine does not answer/);
        assert.ok(found.every((p) => !p.includes("hostAddress")));
        assert.deepEqual(warnings, []);
    });

    test("the image not yet on the engine: no pull, a warning naming the keys, and the preview goes on", async () => {
        fs.writeFileSync(path.join(dir, "noimage"), "");
        assert.deepEqual(await checkAddresses(twoEngines("10.0.0.11", "10.0.0.13")), []);
        assert.equal(warnings.length, 2);
        assert.match(warnings.sort()[1], /^pg-replication:nodes\[1\]\.hostAddress not checked against the addresses of its engine's host: .*`docker run --rm` failed: docker: Error response from daemon: No such image: postgres:13 \(up pulls postgres:13; the next preview checks\)$/);
    });
});

describe("/proc/net/fib_trie", () => {
    test("the host's own addresses: leaves followed by /32 host LOCAL, once each, not networks or broadcasts", () => {
        assert.deepEqual(localAddresses(fibTrie(["10.231.7.12", "172.29.29.1"])), ["127.0.0.1", "10.231.7.12", "172.29.29.1"]);
        assert.deepEqual(localAddresses(""), []);
    });
});

describe("docker ps's Ports column", () => {
    test("single ports, ranges, IPv6 and unpublished ports", () => {
        assert.deepEqual(publishedPorts("0.0.0.0:5432->5432/tcp, :::5432->5432/tcp, 8080/tcp, 127.0.0.1:7000-7001->7000-7001/tcp")
            .map((p) => `${p.ip} ${p.port}`), ["0.0.0.0 5432", ":: 5432", "127.0.0.1 7000", "127.0.0.1 7001"]);
    });
});

