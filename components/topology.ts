// Before anything changes: which node is primary now, and, when the configuration names another
// one, is a switchover to it safe? One bounded `docker exec psql` per node, in parallel. The plan
// is logged (pulumi.log.info) and an unsafe switchover fails preview and up with its reasons
// (a RunError: message only). topology.sh checks the same things again when it runs.

import { execFile } from "node:child_process";
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig, NodeSpec, synchronousStandbyNamesFor } from "./config";

/** What one node says about itself. */
export interface NodeState {
    readonly name: string;
    /** Why it could not be asked (not running, no such container, no answer); undefined when it answered. */
    readonly unreachable?: string;
    /** Whether a container of that name exists at all (running or not). */
    readonly exists: boolean;
    readonly inRecovery?: boolean;
    /** Primary: pg_current_wal_lsn(); standby: pg_last_wal_replay_lsn(). */
    readonly lsn?: string;
    readonly replayPaused?: boolean;
    /** Primary: the timeline it writes; standby: the timeline its WAL receiver receives (null without one). */
    readonly timeline?: number | null;
    /** Standby: its WAL receiver's status and the address it streams from. */
    readonly receiver?: { readonly status: string; readonly senderHost: string } | null;
}

export type TopologyPlan =
    | { readonly kind: "none"; readonly primary: string }
    /** A new cluster, or no container yet: nothing to compare with. */
    | { readonly kind: "new" }
    | { readonly kind: "switchover"; readonly from: string; readonly to: string; readonly problems: readonly string[] }
    /** No node runs as primary: a failover (not done by this version: topology.sh refuses it). */
    | { readonly kind: "no-primary"; readonly problems: readonly string[] }
    | { readonly kind: "several-primaries"; readonly primaries: readonly string[] };

export class SwitchoverRefused extends pulumi.RunError {
    constructor(readonly problems: readonly string[]) {
        super(`the switchover is refused, nothing was changed:\n  - ${problems.join("\n  - ")}`);
    }
}

const STATE_SQL = `SELECT pg_is_in_recovery(),
  CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,
  CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END,
  CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli FROM pg_stat_wal_receiver)
       ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
  (SELECT status || ' ' || coalesce(sender_host, '') FROM pg_stat_wal_receiver)`;

export interface ObserveOptions {
    /** Environment for the docker CLI (tests put a fake `docker` first on PATH). */
    readonly env?: NodeJS.ProcessEnv;
    /** Bound on each docker call. */
    readonly timeoutMs?: number;
}

/** Asks one node, by its container name, for its role and WAL position. */
function observeNode(node: NodeSpec, container: string, dockerHost: string, opts: ObserveOptions): Promise<NodeState> {
    const timeout = opts.timeoutMs ?? 10_000;
    const env = { ...(opts.env ?? process.env), DOCKER_HOST: dockerHost };
    return new Promise((resolve) => {
        execFile("docker", ["exec", "-u", "postgres", container, "psql", "-X", "-A", "-t", "-F", "|", "-d", "postgres",
            "-c", STATE_SQL], { env, timeout }, (err, stdout, stderr) => {
            if (err) {
                const text = `${stderr}`.trim();
                const exists = !/No such container/i.test(text);
                const why = err.killed ? `no answer within ${timeout / 1000} s`
                    : /is not running/i.test(text) ? "its container is not running"
                        : !exists ? "its container does not exist" : (text.split("\n").pop() || err.message);
                resolve({ name: node.name, unreachable: why, exists });
                return;
            }
            const [recovery, lsn, paused, tli, receiver] = stdout.trim().split("|");
            const [status, senderHost] = (receiver ?? "").split(" ");
            resolve({
                name: node.name,
                exists: true,
                inRecovery: recovery === "t",
                lsn,
                replayPaused: paused === "t",
                timeline: tli === "" || tli === undefined ? null : Number(tli),
                receiver: receiver ? { status, senderHost: senderHost ?? "" } : null,
            });
        });
    });
}

/** Every node's state, asked in parallel. */
export function observe(cfg: Pick<ClusterConfig, "nodes" | "namePrefix" | "dockerHost">, opts: ObserveOptions = {}): Promise<NodeState[]> {
    return Promise.all(cfg.nodes.map((n) => observeNode(n, `${cfg.namePrefix}-${n.name}`, cfg.dockerHost, opts)));
}

/** An LSN ("16/B374D848") as a byte position. */
export function lsnBytes(lsn: string): bigint {
    const [hi, lo] = lsn.split("/");
    return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

/** What `up` will do about the primary, and why a switchover would be unsafe. */
export function planTopology(cfg: Pick<ClusterConfig, "nodes" | "primary" | "replication">, states: readonly NodeState[]): TopologyPlan {
    const primaries = states.filter((s) => s.unreachable === undefined && s.inRecovery === false);
    if (primaries.length > 1) {
        return { kind: "several-primaries", primaries: primaries.map((p) => p.name) };
    }
    if (primaries.length === 0) {
        if (states.every((s) => !s.exists)) {
            return { kind: "new" };
        }
        const seen = states.map((s) => `${s.name}: ${s.unreachable ?? "a standby"}`).join(", ");
        return { kind: "no-primary", problems: [`no node runs as primary (${seen})`] };
    }
    const from = primaries[0];
    const to = cfg.primary;
    if (from.name === to) {
        return { kind: "none", primary: to };
    }
    const target = states.find((s) => s.name === to)!;
    const fromAddress = cfg.nodes.find((n) => n.name === from.name)!.address;
    const problems: string[] = [];
    if (target.unreachable !== undefined) {
        problems.push(`${to} cannot take over: ${target.unreachable}`);
    } else {
        if (target.receiver?.status !== "streaming" || target.receiver.senderHost !== fromAddress) {
            problems.push(`${to} is not streaming from the primary ${from.name} (${fromAddress}): its WAL receiver ` +
                (target.receiver ? `is ${target.receiver.status} from ${target.receiver.senderHost || "nowhere"}` : "is not running"));
        }
        if (target.replayPaused) {
            problems.push(`${to} has its replay paused; run SELECT pg_wal_replay_resume() on it first`);
        }
        if (target.timeline !== null && target.timeline !== undefined && target.timeline !== from.timeline) {
            problems.push(`${to} is on timeline ${target.timeline}, the primary ${from.name} on timeline ${from.timeline}`);
        }
        if (target.lsn && from.lsn) {
            const behind = lsnBytes(from.lsn) - lsnBytes(target.lsn);
            if (behind > BigInt(cfg.replication.maxSwitchoverLagBytes)) {
                problems.push(`${to} has replayed up to ${target.lsn} while the primary ${from.name} is at ${from.lsn}: ` +
                    `${behind} bytes behind, more than maxSwitchoverLagBytes (${cfg.replication.maxSwitchoverLagBytes})`);
            }
        }
    }
    return { kind: "switchover", from: from.name, to, problems };
}

/**
 * The program's check: logs the switchover plan when the declared primary is not the actual
 * one, and throws SwitchoverRefused when it would be unsafe. A new cluster, or one whose primary
 * is already the declared one, costs one parallel round of `docker exec`.
 */
export async function checkTopology(cfg: ClusterConfig, opts: ObserveOptions = {}): Promise<TopologyPlan> {
    const plan = planTopology(cfg, await observe(cfg, opts));
    if (plan.kind === "switchover") {
        const names = synchronousStandbyNamesFor(cfg.replication, plan.to);
        pulumi.log.info(`switchover planned: ${plan.to} will be promoted, ${plan.from} demoted to a standby of ` +
            `${plan.to}; synchronous_standby_names on ${plan.to} = '${names}'` +
            (cfg.replication.mode === "sync" ? `, synchronous_commit = ${cfg.replication.synchronousCommit}` : ""));
        if (plan.problems.length > 0) {
            throw new SwitchoverRefused(plan.problems);
        }
    } else if (plan.kind === "several-primaries") {
        throw new SwitchoverRefused([`more than one node runs as primary: ${plan.primaries.join(", ")}; ` +
            "stop all but one before running up"]);
    } else if (plan.kind === "no-primary") {
        pulumi.log.warn(`${plan.problems.join("; ")}: up will fail at the topology step unless ${cfg.primary} ` +
            "runs as primary by then (failover is not part of this version)");
    }
    return plan;
}
