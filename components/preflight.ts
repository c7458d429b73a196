// Before anything is declared: would this stack collide with what the Docker engine (or, for a
// local engine, this machine) already has? A network of the same name, an overlapping subnet,
// a host port that is taken. Docker would refuse each only halfway through `up`, after other
// objects exist; here they fail preview and up at once, every problem named with its key.
// Objects labelled as this stack's own (pg-replication.project/stack) are never a collision.
// A node's hostAddress must be an address of its engine's host: its port is published there.
// Cost: `docker network ls` + one `docker network inspect`, and one `docker ps`, in parallel; on
// an engine with a node that has a hostAddress, also one throwaway container of the stack's image
// (`--network host`, reading the host's /proc/net/fib_trie), in parallel with those.

import * as net from "node:net";
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig, NAMESPACE, nodeEngine, nodeImage, spansEngines } from "./config";
import { dockerCli } from "./docker-cli";
import { dialedAtStart } from "./engine";
import { dockerProviderUrn, STACK_CLUSTER } from "./cluster";
import { isLoopback, subnetsOverlap } from "./ipv4";
import { FailoverPlan } from "./topology";

export class PreflightError extends pulumi.RunError {
    constructor(readonly problems: readonly string[]) {
        super(`the stack would collide with what is already there:\n  - ${problems.join("\n  - ")}`);
    }
}

export interface PreflightOptions {
    /** Environment for the docker CLI (tests put a fake `docker` first on PATH). */
    readonly env?: NodeJS.ProcessEnv;
    /** Bound on each docker call. */
    readonly timeoutMs?: number;
    /** Where a check that could not be made is reported; default pulumi.log.warn. */
    readonly warn?: (message: string) => void;
}

interface NetworkInfo {
    readonly Name: string;
    readonly Id: string;
    readonly Labels?: Record<string, string> | null;
    readonly IPAM?: { readonly Config?: { readonly Subnet?: string }[] | null };
}

interface Published {
    readonly container: string;
    readonly ip: string;
    readonly port: number;
    readonly mapping: string;
    readonly ours: boolean;
}

const PROJECT_LABEL = "pg-replication.project";
const STACK_LABEL = "pg-replication.stack";
const ALL_V4 = "0.0.0.0";

/** The part of the plan on one engine: the engine, its nodes (with their index in nodes) and where each publishes. */
interface OnEngine {
    readonly engine: ClusterConfig["engine"];
    /** The config key that names the engine, for messages (docker:host or nodes[i].host). */
    readonly engineKey: string;
    readonly nodes: readonly { readonly index: number; readonly port: number; readonly bind: string }[];
    /** Whether ports on this engine can be tried on this machine (the stack's own local engine). */
    readonly tryHere: boolean;
}

async function run(args: string[], cfg: OnEngine, opts: PreflightOptions): Promise<string> {
    const timeout = opts.timeoutMs ?? 15_000;
    // The same engine the commands reach: DOCKER_HOST wins over any DOCKER_CONTEXT in the CLI.
    const { err, stdout, stderr } = await dockerCli(args, cfg.engine.host, { env: opts.env, timeoutMs: timeout });
    if (err) {
        // `docker run` ends its error with "Run 'docker run --help' for more information".
        const said = stderr.trim().split("\n").filter((l) => l.trim() && !/^(Run|See) 'docker .*--help'/.test(l));
        const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "the docker CLI is not on PATH"
            : err.killed ? `no answer within ${timeout / 1000} s`
                : (said.pop() || err.message);
        throw new PreflightError([`cannot check the plan against the Docker engine ${cfg.engine.host} ` +
            `(from ${cfg.engine.source}): \`docker ${args[0]} ${args[1] ?? ""}\` failed: ${why}`]);
    }
    return stdout;
}

/**
 * Every network on the engine. A network removed between the listing and the inspect (another
 * stack's destroy on the same engine) is not an error: the pair is asked again, a few times.
 */
async function networks(cfg: OnEngine, opts: PreflightOptions): Promise<NetworkInfo[]> {
    for (let attempt = 1; ; attempt++) {
        const ids = (await run(["network", "ls", "-q", "--no-trunc"], cfg, opts)).split("\n").filter(Boolean);
        try {
            return ids.length === 0 ? [] : JSON.parse(await run(["network", "inspect", ...ids], cfg, opts));
        } catch (err) {
            if (attempt >= 3 || !(err instanceof PreflightError && /network \S+ not found|No such network/i.test(err.message))) {
                throw err;
            }
        }
    }
}

/** docker ps's Ports column (docker/cli formatter DisplayablePorts): "IP:pub[-last]->priv[-last]/proto, ...". */
export function publishedPorts(column: string): { ip: string; port: number; mapping: string }[] {
    const found: { ip: string; port: number; mapping: string }[] = [];
    for (const mapping of column.split(", ").filter(Boolean)) {
        const m = /^(.*):(\d+)(?:-(\d+))?->\d+(?:-\d+)?\/tcp$/.exec(mapping);
        if (m) {
            for (let p = Number(m[2]); p <= Number(m[3] ?? m[2]); p++) {
                found.push({ ip: m[1], port: p, mapping });
            }
        }
    }
    return found;
}

/**
 * What containers publish now (a stopped or restarting one lists no ports), and which of this
 * stack's own containers Docker is restarting: between two attempts Docker's proxy may hold the
 * port while `ps` shows none, so such a port is this stack's, not another program's.
 */
async function published(cfg: OnEngine, labels: ClusterConfig["labels"], opts: PreflightOptions):
    Promise<{ ports: Published[]; restarting: Set<string> }> {
    const format = `{{.Names}}\t{{.Label "${PROJECT_LABEL}"}}\t{{.Label "${STACK_LABEL}"}}\t{{.Ports}}\t{{.State}}`;
    const lines = (await run(["ps", "--no-trunc", "-a", "--format", format], cfg, opts)).split("\n").filter(Boolean);
    const restarting = new Set<string>();
    const ports = lines.flatMap((line) => {
        const [container, project, stack, ports, state] = line.split("\t");
        const ours = project === labels[PROJECT_LABEL] && stack === labels[STACK_LABEL];
        if (ours && state === "restarting") {
            restarting.add(container);
        }
        return publishedPorts(ports ?? "").map((p) => ({ ...p, container, ours }));
    });
    return { ports, restarting };
}

/** The IPv4 addresses /proc/net/fib_trie lists as the host's own: each leaf followed by "/32 host LOCAL". */
export function localAddresses(fibTrie: string): string[] {
    const found = new Set<string>();
    let leaf: string | undefined;
    for (const line of fibTrie.split("\n")) {
        const m = /^[\s|]*\|-- (\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
        if (m) {
            leaf = m[1];
        } else if (leaf !== undefined && /^\s*\/32 host LOCAL\s*$/.test(line)) {
            found.add(leaf);
        }
    }
    return [...found];
}

/**
 * The engine's host's own addresses, from a throwaway container of the nodes' image (with backups,
 * the backup image; the cluster's when that is not there yet) in the host's network namespace (the
 * image is on the engine once the stack is up; `--pull never`, so a preview never pulls). Labelled
 * as the stack's, so a leftover of a killed run is findable.
 */
async function hostAddresses(cfg: ClusterConfig, group: OnEngine, opts: PreflightOptions): Promise<string[]> {
    const labels = Object.entries(cfg.labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
    const probe = (image: string) => run(["run", "--rm", "--pull", "never", "--network", "host", "--log-driver", "none",
        ...labels, "--entrypoint", "cat", image, "/proc/net/fib_trie"], group, opts);
    const noImage = (e: unknown) => e instanceof PreflightError && /No such image/i.test(e.problems.join(" "));
    try {
        return localAddresses(await probe(nodeImage(cfg)));
    } catch (err) {
        // Backups turned on for a running stack: its engines have the cluster's image until the roll.
        if (nodeImage(cfg) === cfg.image || !noImage(err)) {
            throw err;
        }
        // Neither there: said of the nodes' image, which the up pulls.
        return localAddresses(await probe(cfg.image).catch((again) => { throw noImage(again) ? err : again; }));
    }
}

/** Two host bindings clash when they name the same address or either takes all addresses. */
function sameBinding(ip: string, bindAddress: string): boolean {
    return ip === bindAddress || ip === ALL_V4 || ip === "::" || bindAddress === ALL_V4;
}

/** Tries to listen briefly; resolves to the error code when it cannot. */
function tryListen(host: string, port: number): Promise<string | undefined> {
    return new Promise((resolve) => {
        const server = net.createServer();
        server.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
        server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
    });
}

/** The plan split by engine: the stack's engine and each engine a node names, with where each node publishes. */
export function byEngine(cfg: ClusterConfig): OnEngine[] {
    const spans = spansEngines(cfg.nodes, cfg.dockerHost);
    const groups = new Map<string, OnEngine & { nodes: OnEngine["nodes"][number][] }>();
    cfg.nodes.forEach((n, index) => {
        const host = nodeEngine(n, cfg.dockerHost);
        let group = groups.get(host);
        if (!group) {
            const own = host === cfg.dockerHost;
            group = {
                engine: own ? cfg.engine : { host, source: `${NAMESPACE}:nodes[${index}].host`, local: false },
                engineKey: own ? "" : `nodes[${index}].host`,
                nodes: [],
                tryHere: own && cfg.engine.local && !spans,
            };
            groups.set(host, group);
        }
        group.nodes.push({ index, port: n.port, bind: n.hostAddress ?? cfg.bindAddress });
    });
    return [...groups.values()];
}

/** The collisions found on one engine; `down` when it did not answer (then the problem says so). */
export interface EngineCollisions {
    readonly engine: string;
    readonly problems: readonly string[];
    readonly down: boolean;
}

/** Every collision of the plan with each engine (and, for a local engine, this machine), by engine. */
export async function collisionsByEngine(cfg: ClusterConfig, opts: PreflightOptions & { silent?: ReadonlyMap<string, string> } = {}):
    Promise<EngineCollisions[]> {
    return Promise.all(byEngine(cfg).map(async (group): Promise<EngineCollisions> => {
        const silent = opts.silent?.get(group.engine.host);
        try {
            if (silent !== undefined) {
                throw new PreflightError([`cannot check the plan against the Docker engine ${group.engine.host} ` +
                    `(from ${group.engine.source}): \`docker version\` failed: ${silent}`]);
            }
            return { engine: group.engine.host, problems: await engineCollisions(cfg, group, opts), down: false };
        } catch (err) {
            if (err instanceof PreflightError && group.engineKey) {
                // A node's own engine that does not answer is a problem of that node's config.
                return { engine: group.engine.host, down: true, problems: [`${NAMESPACE}:${group.engineKey} = ` +
                    `${JSON.stringify(group.engine.host)} is not allowed: the Docker engine does not answer ` +
                    `(${err.problems.join("; ")}); ${whatToDo(cfg, group)}`] };
            }
            throw err;
        }
    }));
}

/**
 * What to do about a node's engine that does not answer, by how the docker provider reaches it
 * (engine.ts dialedAtStart), down to the commands for a machine gone for good: its resources out
 * of the state (the provider and everything that depends on it), then its nodes out of the config.
 */
function whatToDo(cfg: ClusterConfig, group: OnEngine): string {
    const host = group.engine.host;
    const names = group.nodes.map((n) => cfg.nodes[n.index].name).join(", ");
    const goneForGood = `if its machine is gone for good, take its resources out of the stack: pulumi state delete ` +
        `--target-dependents '${dockerProviderUrn(STACK_CLUSTER, cfg.nodes, cfg.dockerHost, host)}', then remove ${names} from ` +
        `${NAMESPACE}:nodes and run up (README, "A host gone for good")`;
    return dialedAtStart(host)
        ? "Pulumi's docker provider dials an engine given as unix:// or tcp:// as soon as it starts, with no time limit " +
          "(pulumi-docker 5.0.0 Configure), so no up, preview, refresh or destroy of this stack, a failover neither, " +
          "gets past it while it is silent: bring the engine back and run up again. A machine that may be lost must be " +
          `reached over ssh:// (then a failover goes on without it: README, "Losing a whole host"); ${goneForGood}`
        : "bring it back and run up again; if the primary is on it, fail over: set pg-replication:primary to a standby " +
          `on another engine; ${goneForGood}`;
}

/** Every collision of the plan with each engine (and, for a local engine, this machine); [] when none. */
export async function collisions(cfg: ClusterConfig, opts: PreflightOptions = {}): Promise<string[]> {
    return (await collisionsByEngine(cfg, opts)).flatMap((e) => e.problems);
}

async function engineCollisions(cfg: ClusterConfig, group: OnEngine, opts: PreflightOptions): Promise<string[]> {
    const addressed = group.nodes.filter((n) => cfg.nodes[n.index].hostAddress !== undefined);
    // Settled, not raced: an engine that does not answer is reported once, by the calls below.
    const probe = addressed.length === 0 ? undefined
        : hostAddresses(cfg, group, opts).then((addresses) => ({ addresses }), (error: Error) => ({ error }));
    const [nets, { ports, restarting }] = await Promise.all([networks(group, opts), published(group, cfg.labels, opts)]);
    const problems: string[] = [];
    const bad = (key: string, value: unknown, why: string) =>
        problems.push(`${NAMESPACE}:${key} = ${JSON.stringify(value)} is not allowed: ${why}`);
    const on = `on the Docker engine ${group.engine.host}`;
    const ours = (n: NetworkInfo) =>
        n.Labels?.[PROJECT_LABEL] === cfg.labels[PROJECT_LABEL] && n.Labels?.[STACK_LABEL] === cfg.labels[STACK_LABEL];

    // The backup repository: a volume of that name that is not this stack's would be adopted by
    // Docker (volume create is idempotent) and archived into.
    if (cfg.backup && group.engineKey === "") {
        const format = `{{.Name}}\t{{.Label "${PROJECT_LABEL}"}}\t{{.Label "${STACK_LABEL}"}}`;
        const volumes = (await run(["volume", "ls", "--format", format], group, opts)).split("\n").map((l) => l.split("\t"));
        const found = volumes.find(([volume]) => volume === cfg.backup!.volume);
        if (found && (found[1] !== cfg.labels[PROJECT_LABEL] || found[2] !== cfg.labels[STACK_LABEL])) {
            bad("backup.volume", cfg.backup.volume, `a volume of that name already exists ${on} and is not this stack's ` +
                `repository; set ${NAMESPACE}:backup.volume to another name, or remove that volume`);
        }
    }
    for (const n of nets.filter((x) => !ours(x))) {
        if (n.Name === cfg.networkName) {
            bad("networkName", cfg.networkName, `a network of that name already exists ${on} (id ${n.Id.slice(0, 12)}) ` +
                `and is not this stack's; set ${NAMESPACE}:networkName to another name, or remove that network`);
        }
        for (const subnet of (n.IPAM?.Config ?? []).map((c) => c.Subnet).filter((s): s is string => !!s)) {
            if (subnetsOverlap(cfg.subnet, subnet)) {
                bad("subnet", cfg.subnet, `it overlaps ${subnet} of the network "${n.Name}" ${on}; set ${NAMESPACE}:subnet ` +
                    `to a range no network uses (and the addresses in ${NAMESPACE}:nodes inside it)`);
            }
        }
    }

    const wanted: { key: string; port: number; bind: string; container?: string }[] = group.nodes.map((n) =>
        ({ key: `nodes[${n.index}].port`, port: n.port, bind: n.bind, container: `${cfg.namePrefix}-${cfg.nodes[n.index].name}` }));
    // The endpoints are published beside the nodes: on the stack's engine at bindAddress, or across
    // engines on every engine with a node, at its host's address.
    const across = spansEngines(cfg.nodes, cfg.dockerHost);
    if (cfg.endpoints && (across || group.engineKey === "")) {
        const bind = across ? group.nodes[0].bind : cfg.bindAddress;
        wanted.push({ key: "endpoints.port", port: cfg.endpoints.port, bind },
            { key: "endpoints.readPort", port: cfg.endpoints.readPort, bind });
    }
    const held = new Set<number>();
    for (const { key, port, bind } of wanted) {
        const clash = ports.filter((p) => p.port === port && sameBinding(p.ip, bind));
        clash.filter((p) => p.ours).forEach(() => held.add(port));
        const foreign = clash.find((p) => !p.ours);
        if (foreign) {
            held.add(port);
            bad(key, port, `${bind}:${port} is already published by the container "${foreign.container}" ` +
                `(${foreign.mapping}) ${on}; choose a free port for ${NAMESPACE}:${key}, or stop that container`);
        }
    }
    if (group.tryHere) {
        // A port the stack's own container holds is busy on purpose; anything else listening is not.
        for (const { key, port } of wanted.filter((w) => !held.has(w.port) && w.bind === cfg.bindAddress &&
            !(w.container && restarting.has(w.container)))) {
            const code = await tryListen(cfg.bindAddress, port);
            if (code === "EADDRINUSE") {
                bad(key, port, `${cfg.bindAddress}:${port} is in use on this machine (a program other than Docker ` +
                    `listens there, a local PostgreSQL for example); choose a free port for ${NAMESPACE}:${key}`);
            } else if (code === "EADDRNOTAVAIL") {
                bad("bindAddress", cfg.bindAddress, "not an address of this machine, so Docker cannot publish ports on " +
                    `it; use 127.0.0.1, 0.0.0.0 or one of this machine's addresses`);
                break;
            }
        }
    }
    const local = await probe;
    if (local && "error" in local) {
        const keys = addressed.map((n) => `${NAMESPACE}:nodes[${n.index}].hostAddress`).join(", ");
        const why = local.error instanceof PreflightError ? local.error.problems.join("; ") : local.error.message;
        (opts.warn ?? ((m: string) => pulumi.log.warn(m)))(`${keys} not checked against the addresses of its engine's ` +
            `host: ${why}` + (/No such image/.test(why) ? ` (up pulls ${nodeImage(cfg)}; the next preview checks)` : ""));
    } else if (local) {
        const listed = local.addresses.filter((a) => !isLoopback(a));
        for (const n of addressed) {
            const node = cfg.nodes[n.index];
            if (!local.addresses.includes(node.hostAddress!)) {
                bad(`nodes[${n.index}].hostAddress`, node.hostAddress, `${node.name} runs ${on}, whose host has the ` +
                    `addresses ${listed.join(", ") || "(none but loopback)"} and not ${node.hostAddress}, so ${node.name}'s ` +
                    `port cannot be published there; set ${NAMESPACE}:nodes[${n.index}].hostAddress to the one of those ` +
                    "the other hosts and the clients reach it at (an address that reaches the host only through NAT, " +
                    "such as a cloud VM's public one, cannot be published on: use the host's own, e.g. its private network's)");
            }
        }
    }
    return problems;
}

/** Throws PreflightError (a RunError: message only, no stack trace) when the plan collides. */
export async function preflight(cfg: ClusterConfig, opts: PreflightOptions = {}): Promise<void> {
    const problems = await collisions(cfg, opts);
    if (problems.length > 0) {
        throw new PreflightError(problems);
    }
}

/**
 * The silent engines a failover speaks for: every node on them is down in the plan, so they are
 * lost (their host gone; the plan is refused when one of their servers still answers) and nothing
 * is made there. Any other silent engine stays a config problem, and so does one the docker
 * provider would dial at its start (unix://, tcp://: engine.ts dialedAtStart), which would hold the
 * whole up however the plan reads.
 */
export function enginesLostInFailover(cfg: ClusterConfig, engines: readonly EngineCollisions[],
    failover: Pick<FailoverPlan, "engineDown"> | undefined): Set<string> {
    const down = new Set(engines.filter((e) => e.down).map((e) => e.engine));
    return new Set(failover ? byEngine(cfg)
        .filter((g) => down.has(g.engine.host) && !dialedAtStart(g.engine.host) &&
            g.nodes.every((n) => failover.engineDown.includes(cfg.nodes[n.index].name)))
        .map((g) => g.engine.host) : []);
}

/**
 * The collisions that stop this run: every engine's, but not those of the engines a failover speaks
 * for (enginesLostInFailover). Throws PreflightError naming them all; returns the engines lost.
 */
export function refuseCollisions(cfg: ClusterConfig, engines: readonly EngineCollisions[],
    failover: Pick<FailoverPlan, "engineDown"> | undefined): Set<string> {
    const lost = enginesLostInFailover(cfg, engines, failover);
    const problems = engines.filter((e) => !lost.has(e.engine)).flatMap((e) => e.problems);
    if (problems.length > 0) {
        throw new PreflightError(problems);
    }
    return lost;
}

/** What an up says of an engine left out by refuseCollisions. */
export function lostEngineNote(engine: string): string {
    return `the Docker engine ${engine} does not answer and every node on it is lost: nothing there is checked or ` +
        "changed by this up";
}
