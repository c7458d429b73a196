// Before anything is declared: would this stack collide with what the Docker engine (or, for a
// local engine, this machine) already has? A network of the same name, an overlapping subnet,
// a host port that is taken. Docker would refuse each only halfway through `up`, after other
// objects exist; here they fail preview and up at once, every problem named with its key.
// Objects labelled as this stack's own (pg-replication.project/stack) are never a collision.
// Cost: `docker network ls` + one `docker network inspect`, and one `docker ps`, in parallel.

import { execFile } from "node:child_process";
import * as net from "node:net";
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig, loadConfig, NAMESPACE } from "./config";
import { subnetsOverlap } from "./ipv4";
import { checkTopology } from "./topology";

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

function run(args: string[], cfg: ClusterConfig, opts: PreflightOptions): Promise<string> {
    const timeout = opts.timeoutMs ?? 15_000;
    // The same engine the commands reach: DOCKER_HOST wins over any DOCKER_CONTEXT in the CLI.
    const env = { ...(opts.env ?? process.env), DOCKER_HOST: cfg.engine.host };
    return new Promise((resolve, reject) => {
        execFile("docker", args, { env, timeout, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
            if (err) {
                const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "the docker CLI is not on PATH"
                    : err.killed ? `no answer within ${timeout / 1000} s`
                        : (stderr.trim().split("\n").pop() || err.message);
                reject(new PreflightError([`cannot check the plan against the Docker engine ${cfg.engine.host} ` +
                    `(from ${cfg.engine.source}): \`docker ${args[0]} ${args[1] ?? ""}\` failed: ${why}`]));
            } else {
                resolve(stdout);
            }
        });
    });
}

async function networks(cfg: ClusterConfig, opts: PreflightOptions): Promise<NetworkInfo[]> {
    const ids = (await run(["network", "ls", "-q", "--no-trunc"], cfg, opts)).split("\n").filter(Boolean);
    return ids.length === 0 ? [] : JSON.parse(await run(["network", "inspect", ...ids], cfg, opts));
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

async function published(cfg: ClusterConfig, opts: PreflightOptions): Promise<Published[]> {
    const format = `{{.Names}}\t{{.Label "${PROJECT_LABEL}"}}\t{{.Label "${STACK_LABEL}"}}\t{{.Ports}}`;
    const lines = (await run(["ps", "--no-trunc", "--format", format], cfg, opts)).split("\n").filter(Boolean);
    return lines.flatMap((line) => {
        const [container, project, stack, ports] = line.split("\t");
        const ours = project === cfg.labels[PROJECT_LABEL] && stack === cfg.labels[STACK_LABEL];
        return publishedPorts(ports ?? "").map((p) => ({ ...p, container, ours }));
    });
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

/** Every collision of the plan with the engine (and, for a local engine, this machine); [] when none. */
export async function collisions(cfg: ClusterConfig, opts: PreflightOptions = {}): Promise<string[]> {
    const [nets, ports] = await Promise.all([networks(cfg, opts), published(cfg, opts)]);
    const problems: string[] = [];
    const bad = (key: string, value: unknown, why: string) =>
        problems.push(`${NAMESPACE}:${key} = ${JSON.stringify(value)} is not allowed: ${why}`);
    const on = `on the Docker engine ${cfg.engine.host}`;
    const ours = (n: NetworkInfo) =>
        n.Labels?.[PROJECT_LABEL] === cfg.labels[PROJECT_LABEL] && n.Labels?.[STACK_LABEL] === cfg.labels[STACK_LABEL];

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

    const wanted = cfg.nodes.map((n, i) => ({ key: `nodes[${i}].port`, port: n.port }));
    const held = new Set<number>();
    for (const { key, port } of wanted) {
        const clash = ports.filter((p) => p.port === port && sameBinding(p.ip, cfg.bindAddress));
        clash.filter((p) => p.ours).forEach(() => held.add(port));
        const foreign = clash.find((p) => !p.ours);
        if (foreign) {
            held.add(port);
            bad(key, port, `${cfg.bindAddress}:${port} is already published by the container "${foreign.container}" ` +
                `(${foreign.mapping}) ${on}; choose a free port for ${NAMESPACE}:${key}, or stop that container`);
        }
    }
    if (cfg.engine.local) {
        // A port the stack's own container holds is busy on purpose; anything else listening is not.
        for (const { key, port } of wanted.filter((w) => !held.has(w.port))) {
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
 * The program's start: config checked (config.ts), then against the engine: collisions here,
 * and whether the declared primary is the actual one, a switchover or failover to it safe
 * (topology.ts); which nodes are down goes to the topology command (a node that is back is
 * brought in as a standby by the next up).
 */
export async function checkedConfig(): Promise<ReturnType<typeof loadConfig> & { downNodes: readonly string[] }> {
    const cfg = loadConfig();
    await preflight(cfg);
    const plan = await checkTopology(cfg);
    return { ...cfg, downNodes: plan.down };
}
