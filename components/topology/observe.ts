// What the nodes say about themselves, asked through Docker: one bounded `docker exec psql` and
// one `docker inspect` per node, in parallel; engines that do not answer are found first and
// their nodes not asked. Preview (check.ts) and the topology step (up.ts) observe with these.

import { dockerCli as runDocker, dockerFailure, DockerRun } from "../docker-cli";
import type { ClusterConfig } from "../config";
import { nodeEngine, NodeSpec } from "../spec";
import { lsnDiff } from "../lsn";
import { REPO_PATH } from "../pgbackrest";
import { NodeState, parseStateAnswer, STATE_SQL } from "../node-state";
import { PlanConfig, planTopology, Refusal, switchpointIn, TopologyPlan } from "./plan";

/**
 * "status|network,network|restart policy|image|repository volume" of a container; its networks say
 * whether it is cut off, its image (by the name it was created with) whether an image change still
 * has to replace it, the volume at the repository's path which backup repository it archives to.
 */
const INSPECT_FORMAT = "{{.State.Status}}|{{range $k, $v := .NetworkSettings.Networks}}{{$k}},{{end}}|{{.HostConfig.RestartPolicy.Name}}|{{.Config.Image}}|" +
    `{{range .Mounts}}{{if eq .Destination "${REPO_PATH}"}}{{.Name}}{{end}}{{end}}`;

export interface ObserveOptions {
    /** Environment for the docker CLI (tests put a fake `docker` first on PATH). */
    readonly env?: NodeJS.ProcessEnv;
    /** Bound on each docker call. */
    readonly timeoutMs?: number;
    /** Engines already found silent (engine.ts silentEngines), with why: their nodes are not asked. */
    readonly silent?: ReadonlyMap<string, string>;
}

function dockerCli(args: string[], dockerHost: string, opts: ObserveOptions): Promise<DockerRun> {
    return runDocker(args, dockerHost, opts);
}

/**
 * SQL in a node's container through `docker exec psql` as the OS user postgres (peer auth), unaligned
 * tuples separated by "|"; never throws (the run says how it went).
 */
export function nodeSql(container: string, dockerHost: string, sql: string, opts: ObserveOptions = {}): Promise<DockerRun> {
    return dockerCli(["exec", "-u", "postgres", container, "psql", "-X", "-A", "-t", "-F", "|", "-d", "postgres", "-c", sql], dockerHost, opts);
}

/** Why a docker call failed, in a few words: the bound it ran out of, else the CLI's last line. */
function failure(r: DockerRun, opts: ObserveOptions): string {
    return dockerFailure(r, opts.timeoutMs ?? 10_000);
}

/** How long an engine has to answer `docker version` before the program takes it as down (several engines only). */
export const ENGINE_PROBE_MS = 5_000;

/**
 * Which of these engines do not answer `docker version` within the bound, and why; asked once
 * each, in parallel. Other checks then skip a silent engine instead of each waiting its own
 * bound on it (a frozen engine lets a call hang until its caller gives up).
 */
export async function silentEngines(engines: readonly string[], opts: ObserveOptions = {}): Promise<Map<string, string>> {
    const bounded = { ...opts, timeoutMs: opts.timeoutMs ?? ENGINE_PROBE_MS };
    const answers = await Promise.all([...new Set(engines)].map(async (host): Promise<[string, DockerRun]> =>
        [host, await dockerCli(["version", "--format", "{{.Server.Version}}"], host, bounded)]));
    return new Map(answers.filter(([, r]) => r.err).map(([host, r]) => [host, failure(r, bounded)]));
}

/** Asks one node, by its container name, for its role and WAL position, and Docker for its container. */
async function observeNode(node: NodeSpec, container: string, network: string, dockerHost: string,
    opts: ObserveOptions): Promise<NodeState> {
    const timeout = opts.timeoutMs ?? 10_000;
    const silent = opts.silent?.get(dockerHost);
    if (silent !== undefined) {
        // Taken to exist: a stack whose engine is silent before anything was made fails preflight anyway.
        const engineDown = `its Docker engine (${dockerHost}) does not answer: ${silent}`;
        return { name: node.name, exists: true, unreachable: engineDown, engineDown };
    }
    const [sql, inspect] = await Promise.all([
        nodeSql(container, dockerHost, STATE_SQL, opts),
        dockerCli(["inspect", "-f", INSPECT_FORMAT, container], dockerHost, opts),
    ]);
    let docker: NodeState["container"];
    let engineDown: string | undefined;
    if (inspect.err && !/No such (object|container)/i.test(inspect.stderr)) {
        engineDown = `its Docker engine (${dockerHost}) does not answer: ${failure(inspect, opts)}`;
    }
    if (!inspect.err) {
        const [status, networks, restartPolicy, image, repository] = inspect.stdout.trim().split("|");
        docker = { status, onNetwork: (networks ?? "").split(",").includes(network), restartPolicy, ...(image ? { image } : {}),
            repository: repository ?? "" };
    }
    if (sql.err) {
        const text = sql.stderr.trim();
        const exists = !/No such container/i.test(text) && !/No such object/i.test(inspect.stderr);
        const why = engineDown ? engineDown : sql.err.killed ? `no answer within ${timeout / 1000} s`
            : /is paused/i.test(text) ? "its container is paused"
                : /is not running/i.test(text) ? "its container is not running"
                    : !exists ? "its container does not exist" : (text.split("\n").pop() || sql.err.message);
        return { name: node.name, unreachable: why, exists, container: docker, engineDown };
    }
    const answer = parseStateAnswer(sql.stdout);
    if (answer === undefined) {
        // Never read a short or garbled answer as "not in recovery": that would be a primary.
        return { name: node.name, unreachable: `its answer could not be read: ${JSON.stringify(sql.stdout.trim().slice(0, 120))}`,
            exists: true, container: docker, engineDown };
    }
    return {
        name: node.name,
        // Answering `docker exec` is not enough: a node cut off from the cluster network reaches nobody.
        unreachable: docker && !docker.onNetwork ? `its container is not connected to the network ${network}` : undefined,
        exists: true,
        ...answer,
        container: docker,
    };
}

/** Every node's state, asked in parallel. */
export function observe(cfg: Pick<ClusterConfig, "nodes" | "namePrefix" | "dockerHost" | "networkName">,
    opts: ObserveOptions = {}): Promise<NodeState[]> {
    return Promise.all(cfg.nodes.map((n) =>
        observeNode(n, `${cfg.namePrefix}-${n.name}`, cfg.networkName, nodeEngine(n, cfg.dockerHost), opts)));
}

/**
 * For each node whose engine is down: does its server answer at the address `from` reaches it at
 * (its cluster address on one engine, its published address and port across engines)? Asked
 * with pg_isready inside `from`'s container: exit 2 is "no response", 0 or 1 is a live server.
 */
export async function probeServers(cfg: Pick<ClusterConfig, "nodes" | "namePrefix" | "dockerHost">, from: string,
    states: readonly NodeState[], opts: ObserveOptions = {}): Promise<NodeState[]> {
    const source = cfg.nodes.find((n) => n.name === from)!;
    const sourceEngine = nodeEngine(source, cfg.dockerHost);
    return Promise.all(states.map(async (s) => {
        if (s.engineDown === undefined || s.name === from) {
            return s;
        }
        const node = cfg.nodes.find((n) => n.name === s.name)!;
        const [host, port] = nodeEngine(node, cfg.dockerHost) === sourceEngine ? [node.address, 5432]
            : [node.hostAddress ?? node.address, node.port];
        const r = await dockerCli(["exec", "-u", "postgres", `${cfg.namePrefix}-${from}`, "pg_isready", "-q",
            "-h", host, "-p", String(port), "-t", "3"], sourceEngine, opts);
        const code = r.err ? (r.err as { code?: unknown }).code : 0;
        // Anything but a clean "no response" (a failed exec, a timeout) counts as answering: strict.
        return { ...s, serverAnswers: code !== 2 };
    }));
}

/**
 * For each former primary: where the declared primary left its timeline, and how many bytes of
 * WAL it has written beyond that (what a rewind discards; up reads which commits are in them).
 * Asks the declared primary for its timeline history (one bounded `docker exec`). A node whose
 * timeline is not in that history is not a former primary of it: refused, as two primaries are.
 */
/** A former primary beside the declared one: where it left the declared primary's timeline, and how far it went on. */
export interface Divergence {
    readonly name: string;
    readonly switchpoint: string;
    readonly bytes: bigint;
}

/**
 * The declared primary's timeline history, and for each stale primary where it left that history.
 * One that is not in it is no former primary of it: a Refusal.
 */
export async function staleDivergence(cfg: Pick<ClusterConfig, "nodes" | "namePrefix" | "dockerHost">, primary: NodeState,
    stale: readonly NodeState[], opts: ObserveOptions = {}): Promise<{ history: string; diverged: Divergence[] }> {
    const node = cfg.nodes.find((n) => n.name === primary.name)!;
    const file = `pg_wal/${primary.timeline!.toString(16).toUpperCase().padStart(8, "0")}.history`;
    const r = await nodeSql(`${cfg.namePrefix}-${primary.name}`, nodeEngine(node, cfg.dockerHost), `SELECT pg_read_file('${file}')`, opts);
    const diverged = stale.map((s) => {
        const switchpoint = r.err ? undefined : switchpointIn(r.stdout, s.timeline!);
        if (switchpoint === undefined) {
            throw new Refusal([`more than one node runs as primary: ${primary.name} and ${s.name}; ${s.name}'s ` +
                `timeline ${s.timeline} is not in ${primary.name}'s history (${r.err ? r.stderr.trim() || r.err.message : file}), ` +
                "so it is not a former primary of it; stop all but one before running up"]);
        }
        return { name: s.name, switchpoint, bytes: s.lsn ? lsnDiff(s.lsn, switchpoint) : 0n };
    });
    return { history: r.stdout, diverged };
}

/** The cluster as `observe` sees it and the planners read it: ClusterConfig's topology part. */
export type TopologyView = Pick<ClusterConfig, "nodes" | "namePrefix" | "dockerHost" | "networkName"> & PlanConfig;

/**
 * Observe, plan, and for a failover with engines down, ask from the target whether their servers
 * answer and plan again: what preview shows and what up acts on.
 */
export async function observeAndPlan(cfg: TopologyView, opts: ObserveOptions = {}): Promise<{ states: NodeState[]; plan: TopologyPlan }> {
    let states = await observe(cfg, opts);
    let plan = planTopology(cfg, states);
    if (plan.kind === "failover" && states.some((s) => s.engineDown !== undefined)) {
        states = await probeServers(cfg, plan.to, states, opts);
        plan = planTopology(cfg, states);
    }
    return { states, plan };
}
