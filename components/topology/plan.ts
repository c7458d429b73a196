// Which node should be primary and what it takes: the planners, pure functions over the nodes'
// observed states (observe.ts). Preview (check.ts) and the topology step at `up` (up.ts) both
// decide with these, so a rule lives here once. No Pulumi and no Docker here.

import { NAMESPACE, NodeSpec, ReplicationSettings, SyncPolicy, syncSet, synchronousStandbyNamesFor } from "../spec";
import { compareLsn, lsnDiff } from "../lsn";
import { NodeState } from "../node-state";

export type TopologyPlan =
    | { readonly kind: "none"; readonly primary: string }
    /** A new cluster, or no container yet: nothing to compare with. */
    | { readonly kind: "new" }
    | { readonly kind: "switchover"; readonly from: string; readonly to: string; readonly problems: readonly string[] }
    /** No reachable node runs as primary and the declared one is a reachable standby: promote it. */
    | FailoverPlan
    /** No reachable node runs as primary, and the declared primary cannot be promoted (it is the one gone). */
    | { readonly kind: "no-primary"; readonly problems: readonly string[] }
    | { readonly kind: "several-primaries"; readonly primaries: readonly string[] }
    /**
     * The declared primary runs as primary, and so do others on timelines older than its own:
     * former primaries back after a failover that could not fence them (their host was lost).
     * up demotes them (act.ts demoteStale).
     */
    | { readonly kind: "stale-primaries"; readonly primary: string; readonly stale: readonly { name: string; timeline: number }[] };

/**
 * What the planners read of the configuration: the declared primary, each node's addresses (whom
 * a standby streams from) and the commit policy. A ClusterConfig is one; the status tool builds one
 * from the stack's outputs (status/topology-input.ts).
 */
export interface PlanConfig {
    readonly primary: string;
    readonly nodes: readonly Pick<NodeSpec, "name" | "address" | "hostAddress">[];
    readonly replication: SyncPolicy & Pick<ReplicationSettings, "maxSwitchoverLagBytes">;
}

export interface FailoverPlan {
    readonly kind: "failover";
    /** The node that was primary, when it can be told (it answers, or the standbys name it); else undefined. */
    readonly from: string | undefined;
    readonly to: string;
    /** Why `from` is unreachable. */
    readonly why: string;
    /** Refusals that no switch overrides (the target is unreachable, paused, ...). */
    readonly problems: readonly string[];
    /** Refusals that pg-replication:allowDataLoss overrides: the target may lack acknowledged commits. */
    readonly risks: readonly string[];
    /** How much could be lost, in words (bytes and positions), for the output. */
    readonly loss: string;
    /** Nodes to fence before the promotion: every existing node other than the target that is unreachable and whose engine answers. */
    readonly fence: readonly string[];
    /**
     * Nodes whose host is lost: neither their engine nor their server answers. They cannot be
     * fenced; if one comes back running as primary, the next up demotes it.
     */
    readonly lost: readonly string[];
    /** Every node other than the target whose Docker engine does not answer (lost or not): this plan speaks for them. */
    readonly engineDown: readonly string[];
}

/** Why a switchover or failover is refused, as preview and the topology step both say it. */
export function refusalText(kind: "switchover" | "failover", problems: readonly string[]): string {
    return `the ${kind} is refused, nothing was changed:\n  - ${problems.join("\n  - ")}`;
}

/**
 * Why `up` must not act on this plan, in the words preview and the topology step both use;
 * undefined when it may. A failover whose target may lack acknowledged commits goes ahead only
 * with pg-replication:allowDataLoss.
 */
export function refusalOf(plan: TopologyPlan, allowDataLoss: boolean): { kind: "switchover" | "failover"; problems: string[] } | undefined {
    switch (plan.kind) {
        case "switchover":
            return plan.problems.length > 0 ? { kind: "switchover", problems: [...plan.problems] } : undefined;
        case "several-primaries":
            return { kind: "switchover", problems: [`more than one node runs as primary: ${plan.primaries.join(", ")}; stop all but one before running up`] };
        case "failover":
            if (plan.problems.length > 0) {
                return { kind: "failover", problems: [...plan.problems] };
            }
            if (plan.risks.length > 0 && !allowDataLoss) {
                return { kind: "failover", problems: [...plan.risks, `to promote ${plan.to} anyway, set ${NAMESPACE}:allowDataLoss to ` +
                    `true; what could be lost: ${plan.loss}`] };
            }
            return undefined;
        default:
            return undefined;
    }
}

/** A refusal found while observing (a former primary that is not one): preview and up report it as a switchover refusal. */
export class Refusal extends Error {
    constructor(readonly problems: readonly string[]) {
        super(refusalText("switchover", problems));
    }
}

/**
 * Nodes whose container exists but that this `up` will leave out: cut off from the network, paused,
 * or stopped by someone (restart policy not `no`). Not down: a fenced node (restart policy `no`)
 * stopped on the network, and, in a failover, a paused or stopped node about to be fenced: the
 * topology step brings both in at once (pg_rewind). The topology command takes this list as an
 * input, so the `up` after a node's fault is undone runs the topology step and brings it in.
 */
export function downNodes(states: readonly NodeState[], plan?: TopologyPlan): string[] {
    const fencing = plan?.kind === "failover" ? plan.fence : [];
    return states.filter((s) => {
        const c = s.container;
        // A node on an engine that does not answer is down: the up after its host is back sees
        // it up again, and the topology step (its input changed) runs.
        if (s.exists && s.engineDown !== undefined) {
            return true;
        }
        if (!s.exists || c === undefined || (c.status === "running" && c.onNetwork)) {
            return false;
        }
        if (!c.onNetwork) {
            return true;
        }
        if (fencing.includes(s.name)) {
            return false;
        }
        return c.status === "paused" || c.restartPolicy !== "no";
    }).map((s) => s.name).sort();
}

/**
 * Where a timeline ended, from a timeline history file ("parentTLI<TAB>switchpoint<TAB>reason" a
 * line): the switchpoint of `timeline` when it is an ancestor in that history, else undefined.
 */
export function switchpointIn(history: string, timeline: number): string | undefined {
    const line = history.split("\n").map((l) => l.trim().split(/\s+/)).find((f) => Number(f[0]) === timeline);
    return line?.[1];
}

/** What `up` will do about the primary, and why a switchover would be unsafe. */
export function planTopology(cfg: PlanConfig, states: readonly NodeState[]): TopologyPlan {
    const primaries = states.filter((s) => s.unreachable === undefined && s.inRecovery === false);
    if (primaries.length > 1) {
        const declared = primaries.find((p) => p.name === cfg.primary);
        const others = primaries.filter((p) => p.name !== cfg.primary);
        if (declared?.timeline != null && others.every((p) => p.timeline != null && p.timeline < declared.timeline!)) {
            return { kind: "stale-primaries", primary: declared.name, stale: others.map((p) => ({ name: p.name, timeline: p.timeline! })) };
        }
        return { kind: "several-primaries", primaries: primaries.map((p) => p.name) };
    }
    if (primaries.length === 0) {
        if (states.every((s) => !s.exists)) {
            return { kind: "new" };
        }
        return planFailover(cfg, states);
    }
    const from = primaries[0];
    const to = cfg.primary;
    if (from.name === to) {
        return { kind: "none", primary: to };
    }
    const target = states.find((s) => s.name === to)!;
    const fromSpec = cfg.nodes.find((n) => n.name === from.name)!;
    const fromAddress = fromSpec.address;
    // From another engine the target streams from the primary's published address.
    const senders = [fromSpec.address, ...fromSpec.hostAddress ? [fromSpec.hostAddress] : []];
    const problems: string[] = [];
    if (target.unreachable !== undefined) {
        problems.push(`${to} cannot take over: ${target.unreachable}`);
    } else {
        if (target.receiver?.status !== "streaming" || !senders.includes(target.receiver.senderHost)) {
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
            const behind = lsnDiff(from.lsn, target.lsn);
            if (behind > BigInt(cfg.replication.maxSwitchoverLagBytes)) {
                problems.push(`${to} has replayed up to ${target.lsn} while the primary ${from.name} is at ${from.lsn}: ` +
                    `${behind} bytes behind, more than maxSwitchoverLagBytes (${cfg.replication.maxSwitchoverLagBytes})`);
            }
        }
    }
    return { kind: "switchover", from: from.name, to, problems };
}

/** The reachable standbys, furthest WAL first. */
function standbysByWal(states: readonly NodeState[]): NodeState[] {
    return states.filter((s) => s.unreachable === undefined && s.inRecovery === true && s.receivedLsn)
        .sort((a, b) => compareLsn(b.receivedLsn!, a.receivedLsn!));
}

/**
 * No reachable primary: can the declared primary take over without losing an acknowledged commit?
 * A promotion keeps exactly the WAL the target holds, so:
 *  - another reachable standby holding more WAL means the target would drop what that one has;
 *  - under a synchronous policy each acknowledged commit was confirmed (flushed) by k members of
 *    the old primary's set (FIRST k: the k highest-priority members connected at the time, which
 *    may change from commit to commit; ANY k: any k). If fewer than k members are unreachable,
 *    every acknowledged commit is on at least one reachable member, hence on the reachable standby
 *    with the most WAL, which the rule above makes the target. With k or more unreachable, a
 *    commit confirmed only by them cannot be shown to be anywhere else. A target outside the set
 *    never confirmed anything, so it may lack commits even when it has the most WAL of those left.
 *  - under async no standby confirmed anything: whatever the old primary acknowledged after the
 *    target's position is lost, and how much is unknown unless the old primary still answers.
 */
export function planFailover(cfg: PlanConfig,
    states: readonly NodeState[]): FailoverPlan | { kind: "no-primary"; problems: string[] } {
    const to = cfg.primary;
    const byName = new Map(states.map((s) => [s.name, s]));
    const target = byName.get(to)!;
    const ranked = standbysByWal(states);
    const best = ranked[0];
    // The old primary: one that still answers as primary (cut off), else the one the standbys follow.
    const isolated = states.find((s) => s.inRecovery === false);
    const followed = states.map((s) => s.upstream).find((u) => u !== undefined);
    const from = isolated?.name ?? (followed === undefined ? undefined
        : cfg.nodes.find((n) => n.address === followed || n.hostAddress === followed)?.name);
    const seen = states.map((s) => `${s.name}: ${s.unreachable ?? (s.inRecovery ? "a standby" : "primary")}`).join(", ");
    if (from === to || target.unreachable !== undefined && from === undefined) {
        const hint = best && best.name !== to
            ? `; to fail over, set ${NAMESPACE}:primary to ${best.name} (of the reachable standbys it has received the most WAL, ` +
              `up to ${best.receivedLsn}) and run up`
            : "";
        return { kind: "no-primary", problems: [`no reachable node runs as primary (${seen})${hint}`] };
    }
    const why = from ? byName.get(from)!.unreachable ?? "unreachable" : "unknown";
    const problems: string[] = [];
    const risks: string[] = [];
    if (target.unreachable !== undefined) {
        problems.push(`${to} cannot take over: ${target.unreachable}`);
    } else if (target.replayPaused) {
        problems.push(`${to} has its replay paused; run SELECT pg_wal_replay_resume() on it first`);
    }
    const targetLsn = target.receivedLsn;
    const lossParts: string[] = [];
    if (best && targetLsn && best.name !== to && compareLsn(best.receivedLsn!, targetLsn) > 0) {
        const bytes = lsnDiff(best.receivedLsn!, targetLsn);
        risks.push(`${best.name} has received more WAL than ${to}: ${best.name} up to ${best.receivedLsn}, ${to} up to ` +
            `${targetLsn} (${bytes} bytes more); promote ${best.name} instead`);
        lossParts.push(`${bytes} bytes of WAL that ${best.name} holds beyond ${to}'s ${targetLsn} (up to ${best.receivedLsn})`);
    }
    const oldState = from ? byName.get(from) : undefined;
    if (oldState?.lsn && targetLsn && oldState.inRecovery === false) {
        const bytes = lsnDiff(oldState.lsn, targetLsn);
        if (bytes > 0n) {
            lossParts.push(`${bytes} bytes the old primary ${from} wrote beyond ${targetLsn} (it is at ${oldState.lsn})`);
        }
    }
    if (cfg.replication.mode === "sync" && from) {
        const set = syncSet(cfg.replication, from);
        const names = synchronousStandbyNamesFor(cfg.replication, from);
        const k = Math.min(cfg.replication.syncCount, set.length);
        const gone = set.filter((n) => n !== to && byName.get(n)?.unreachable !== undefined);
        if (!set.includes(to)) {
            risks.push(`${to} is not a synchronous standby of ${from} (synchronous_standby_names = '${names}'), so it ` +
                `confirmed no commit and may lack some that ${from} acknowledged; promote one of ${set.join(", ")}`);
        } else if (gone.length >= k) {
            risks.push(`under '${names}' each commit ${from} acknowledged was confirmed by ${k} of ${set.join(", ")}; ` +
                `${gone.join(", ")} cannot be asked, so a commit confirmed only by ${gone.length === 1 ? "it" : "them"} ` +
                `may be missing on ${to}`);
        }
    } else if (cfg.replication.mode === "sync") {
        risks.push("the old primary cannot be told (it does not answer and no standby names it), so whether " +
            `${to} confirmed every acknowledged commit cannot be shown`);
    } else if (cfg.replication.mode === "async" && !(oldState?.lsn && oldState.inRecovery === false)) {
        lossParts.push(`whatever ${from ?? "the old primary"} acknowledged after ${targetLsn ?? "the target's position"} ` +
            "(the policy is async and it cannot be asked: the amount is unknown)");
    }
    const down = states.filter((s) => s.name !== to && s.exists && s.unreachable !== undefined);
    const fence = down.filter((s) => s.engineDown === undefined).map((s) => s.name);
    const engineDown = down.filter((s) => s.engineDown !== undefined);
    const lost = engineDown.filter((s) => s.serverAnswers === false);
    for (const s of engineDown) {
        if (s.serverAnswers !== false) {
            problems.push(`${s.name} cannot be fenced: ${s.engineDown}, but its server ` +
                (s.serverAnswers ? `answers, seen from ${to}` : `was not asked from ${to}`) +
                `: ${s.name} is not lost and may be taking writes. Bring its engine back (or stop that server) and run up again`);
        }
    }
    return { kind: "failover", from, to, why, problems, risks, loss: lossParts.join("; ") || "nothing", fence, lost: lost.map((s) => s.name),
        engineDown: engineDown.map((s) => s.name) };
}
