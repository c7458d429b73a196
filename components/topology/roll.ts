// A change of image on a running cluster, planned: which containers still run another image, in
// what order `up` replaces them, and why it must not start. A pure function over the nodes'
// observed states (observe.ts) and the topology plan (plan.ts); preview (check.ts) says the plan
// and refuses with its problems, the cluster (cluster.ts) orders the replacements by it, and the
// roll's handover (up.ts, with TopologyInput.handover) decides again when it runs.
//
// The order: every standby on the old image, one at a time, each back, streaming and within
// maxSwitchoverLagBytes of the primary before the next is stopped; then, when the primary itself
// runs the old image, a switchover to an updated standby (the handover), the old primary replaced
// as a standby, and the topology step's switchover back to the declared primary. Writes pause only
// in the two switchovers; reads keep a server while at least one other standby runs.

import { NodeSpec, ReplicationSettings } from "../spec";
import { lsnDiff } from "../lsn";
import { NodeState } from "../node-state";
import { TopologyPlan } from "./plan";
import type { UpgradePlan } from "./upgrade";

export type RollPlan =
    /** Every existing container runs the image (or none exists yet). */
    | { readonly kind: "none" }
    /** The only node: its container is replaced on its volume, the cluster down meanwhile. */
    | { readonly kind: "in-place"; readonly node: string }
    | {
        readonly kind: "roll";
        /** The nodes replaced one at a time before the handover, in this order. */
        readonly standbys: readonly string[];
        /** The standby the handover switches over to, when the primary runs the old image; else undefined. */
        readonly handover?: string;
        /** The declared primary: replaced after the handover (as a standby), then primary again. */
        readonly primary: string;
        /** The node running as primary now. */
        readonly actual: string;
        /** Why the roll must not start; empty when it may. */
        readonly problems: readonly string[];
    }
    /**
     * A failover is planned while containers run another image (the primary lost mid-roll), or
     * former primaries back from a lost host are to be demoted (DEMOTED, beside the primary TO):
     * this up does that and changes no container's image; the next up rolls. By node, the image it keeps.
     */
    | { readonly kind: "hold"; readonly to: string; readonly images: Readonly<Record<string, string>>; readonly demoted?: readonly string[] }
    /** An image of a newer major than the data's: an upgrade (upgrade.ts), planned by preview from this roll. */
    | UpgradePlan;

export interface RollConfig {
    readonly primary: string;
    readonly nodes: readonly Pick<NodeSpec, "name">[];
    readonly replication: Pick<ReplicationSettings, "maxSwitchoverLagBytes">;
}

/**
 * The backup repository the nodes mount changes while their image does not: backup.volume changed
 * on a running cluster, or backups turned on or off with backup.image the cluster's own image. Every
 * such container is replaced to mount the new one (or none), all at once rather than in a roll's
 * order (a roll follows images; a node whose image changes too is replaced in its roll). More than
 * one: a move is refused, naming the key, the volumes and the two-ups way (backups off, then on with
 * the new volume, each a roll); turning backups on or off with one image is said (it cannot be a
 * roll: an outage while the containers are replaced). One alone is replaced in place, said as for
 * an image. Undefined when no container is replaced so.
 */
export function repositoryMove(volume: string | undefined, states: readonly NodeState[], image: string):
    { readonly problem?: string; readonly warning?: string } | undefined {
    const mounts = (s: NodeState) => s.container?.repository;
    const outside = states.filter((s) => mounts(s) !== undefined && mounts(s) !== (volume ?? "") && !runsOtherImage(s, image));
    if (outside.length === 0) {
        return undefined;
    }
    const what = `${outside.map((s) => `${s.name} mounts ${mounts(s) || "no backup repository"}`).join(", ")}, ` +
        (volume === undefined ? "and backups are off" : `and backup.volume is ${JSON.stringify(volume)}`);
    if (outside.length === 1) {
        return { warning: `${what}: ${outside[0].name}'s container is replaced on its volume to mount ${volume ?? "none"} ` +
            "(the database on it down meanwhile)" };
    }
    const moved = [...new Set(outside.map(mounts).filter((m): m is string => !!m))];
    if (volume === undefined || outside.some((s) => !mounts(s))) {
        return { warning: `${what}, while their image stays ${image}: backups turned ${volume === undefined ? "off" : "on"} with ` +
            "backup.image the cluster's own image change no image, so this is no roll: every one of these containers is replaced " +
            "at once, the cluster down meanwhile (give backup.image an image of its own to make it a roll)" };
    }
    return { problem: `${what}; moving a running cluster's repository would replace every node's container at once, not one ` +
        `at a time.${moved.length === 1 ? ` Keep backup.volume ${JSON.stringify(moved[0])}, or` : ""} Move in two ups, each a roll: ` +
        "turn backups off (remove pg-replication:backup), then on with the new volume (the old volume is kept either way)" };
}

/** Whether a node's container exists and was created from another image than IMAGE. */
export function runsOtherImage(state: NodeState | undefined, image: string): boolean {
    const current = state?.container?.image;
    return current !== undefined && current !== image;
}

/**
 * The standby the handover switches over to: the first node of the config that is not the declared
 * primary. Fixed by the config alone, so the handover's input does not change from one up to the next.
 */
export function handoverTarget(cfg: Pick<RollConfig, "primary" | "nodes">): string | undefined {
    return cfg.nodes.find((n) => n.name !== cfg.primary)?.name;
}

/**
 * The roll `up` would do to bring every container onto IMAGE. RECLONED: standbys whose data is of
 * an older major than the primary's (an upgrade that stopped before cloning them again): they
 * cannot stream, and their seeds clone them again when they are replaced.
 */
export function planRoll(cfg: RollConfig, states: readonly NodeState[], topology: TopologyPlan, image: string,
    recloned: readonly string[] = []): Exclude<RollPlan, UpgradePlan> {
    const byName = new Map(states.map((s) => [s.name, s]));
    const stale = cfg.nodes.map((n) => n.name).filter((n) => runsOtherImage(byName.get(n), image));
    if (stale.length === 0) {
        return { kind: "none" };
    }
    if (cfg.nodes.length === 1) {
        return { kind: "in-place", node: stale[0] };
    }
    // The primary lost before or in a roll: without a primary there is nothing to roll behind, and
    // refusing would leave no way out by config (every image is some node's "other" one). The
    // failover goes first, each container keeping the image it runs. So does the demotion of a
    // former primary back from a lost host (a roll would replace it as a standby before the
    // topology step had rewound it).
    const images = () => Object.fromEntries(stale.map((n) => [n, byName.get(n)!.container!.image!]));
    if (topology.kind === "failover") {
        return { kind: "hold", to: topology.to, images: images() };
    }
    if (topology.kind === "stale-primaries") {
        return { kind: "hold", to: topology.primary, images: images(), demoted: topology.stale.map((s) => s.name) };
    }
    const problems: string[] = [];
    const actual = topology.kind === "none" ? topology.primary : topology.kind === "switchover" ? topology.from : undefined;
    if (actual === undefined) {
        problems.push(`no node runs as the one primary (${describe(topology)}): bring the cluster back with the image it runs ` +
            `(${[...new Set(stale.map((n) => byName.get(n)!.container!.image))].join(", ")}), then change the image`);
        return { kind: "roll", standbys: [], primary: cfg.primary, actual: "", problems };
    }
    if (actual !== cfg.primary && stale.includes(actual)) {
        problems.push(`the primary changes in this up (a switchover from ${actual} to ${cfg.primary}) while ${actual} runs ` +
            `another image: change the primary and the image in two ups`);
    }
    const primaryState = byName.get(actual)!;
    for (const s of states.filter((x) => x.name !== actual && x.exists && !recloned.includes(x.name))) {
        if (s.unreachable !== undefined) {
            problems.push(`${s.name} cannot be asked (${s.unreachable}): every standby must stream before a roll`);
        } else if (s.receiver?.status !== "streaming") {
            problems.push(`${s.name} is not streaming from the primary ${actual}: its WAL receiver ` +
                (s.receiver ? `is ${s.receiver.status}` : "is not running"));
        } else if (s.lsn && primaryState.lsn) {
            const behind = lsnDiff(primaryState.lsn, s.lsn);
            if (behind > BigInt(cfg.replication.maxSwitchoverLagBytes)) {
                problems.push(`${s.name} has replayed up to ${s.lsn} while the primary ${actual} is at ${primaryState.lsn}: ` +
                    `${behind} bytes behind, more than maxSwitchoverLagBytes (${cfg.replication.maxSwitchoverLagBytes})`);
            }
        }
    }
    const handover = stale.includes(actual) ? handoverTarget(cfg) : undefined;
    if (handover !== undefined && !byName.get(handover)?.exists) {
        problems.push(`${handover}, the standby the primary hands over to, has no container yet: add nodes and change the image in two ups`);
    }
    return {
        kind: "roll",
        standbys: stale.filter((n) => n !== cfg.primary && n !== actual),
        ...(handover ? { handover } : {}),
        primary: cfg.primary,
        actual,
        problems,
    };
}

function describe(plan: TopologyPlan): string {
    switch (plan.kind) {
        case "several-primaries": return `${plan.primaries.join(", ")} run as primary`;
        case "stale-primaries": return `${plan.stale.map((s) => s.name).join(", ")} run as primary beside ${plan.primary}`;
        default: return `none answers as primary`;
    }
}

/** A hold in words, as preview says it. */
export function describeHold(plan: Extract<RollPlan, { kind: "hold" }>, image: string): string {
    const held = Object.entries(plan.images).map(([n, i]) => `${n} on ${i}`).join(", ");
    const runs = (n: number) => n === 1 ? "runs" : "run";
    const demoted = plan.demoted?.join(", ");
    const planned = plan.demoted ? `${demoted} ${runs(plan.demoted.length)} as primary beside ${plan.to}, to be demoted,`
        : `a failover to ${plan.to} is planned`;
    return `${planned} while ${held} ${runs(Object.keys(plan.images).length)} another image than ${image}: this up ` +
        `${plan.demoted ? `demotes ${demoted}` : "fails over"} and leaves every container on the image it runs; the next up rolls them ` +
        `onto ${image}, one at a time, once every standby streams`;
}

/** The roll in words, in its order, as preview says it. */
export function describeRoll(plan: Extract<RollPlan, { kind: "roll" }>, image: string): string {
    const steps: string[] = [];
    if (plan.standbys.length > 0) {
        steps.push(`${plan.standbys.join(", then ")} replaced one at a time (each back, streaming and within ` +
            "maxSwitchoverLagBytes of the primary before the next stops)");
    }
    if (plan.handover) {
        steps.push(`a switchover to ${plan.handover} (writes pause), ${plan.primary} replaced as its standby, ` +
            `then a switchover back to ${plan.primary}, the declared primary`);
    } else if (plan.actual !== plan.primary) {
        steps.push(`${plan.primary} replaced as a standby of ${plan.actual}, then a switchover back to ${plan.primary}`);
    }
    return `image change to ${image}: a roll, one node at a time: ${steps.join("; then ")}`;
}

/** A transaction on the primary that a switchover's clean stop would end. */
export interface LongTransaction {
    readonly pid: number;
    readonly user: string;
    readonly seconds: number;
    readonly state: string;
    /** The start of its current or last query, whitespace folded. */
    readonly query: string;
}

/**
 * The client transactions open on a node for longer than SECONDS, one per line for
 * `psql -X -A -t -F "|"` (parseLongTransactions); the query text last, so a "|" in it is kept.
 */
export function longTransactionsSql(seconds: number): string {
    return "SELECT pid, coalesce(usename, ''), floor(extract(epoch FROM now() - xact_start))::int, coalesce(state, ''), " +
        "left(regexp_replace(query, '\\s+', ' ', 'g'), 80) FROM pg_stat_activity " +
        `WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND xact_start < now() - interval '${Math.floor(seconds)} seconds' ` +
        "ORDER BY xact_start";
}

export function parseLongTransactions(stdout: string): LongTransaction[] {
    return stdout.split("\n").filter((l) => l.trim() !== "").map((line) => {
        const [pid, user, seconds, state, ...query] = line.split("|");
        return { pid: Number(pid), user, seconds: Number(seconds), state, query: query.join("|") };
    });
}

/** Why the handover must wait, naming each transaction; undefined when there is none. */
export function longTransactionProblem(node: string, found: readonly LongTransaction[], bound: number): string | undefined {
    if (found.length === 0) {
        return undefined;
    }
    return `${found.length === 1 ? "a transaction has" : `${found.length} transactions have`} run on the primary ${node} for longer ` +
        `than rollMaxTransactionSeconds (${bound} s), and the switchover's clean stop would end ${found.length === 1 ? "it" : "them"}: ` +
        found.map((t) => `pid ${t.pid} (${t.user}, ${t.seconds} s, ${t.state}: ${JSON.stringify(t.query)})`).join(", ") +
        "; end or wait for them and run up again";
}

/** The major version in `postgres --version`'s answer ("postgres (PostgreSQL) 17.2 (Debian 17.2-1)": 17); undefined when it is not one. */
export function serverMajor(versionOutput: string): number | undefined {
    const m = /\(PostgreSQL\) (\d+)/.exec(versionOutput);
    return m ? Number(m[1]) : undefined;
}

/** The major in SHOW server_version_num's answer ("130016": 13); NaN when it is not a number. */
export function versionNumMajor(serverVersionNum: string): number {
    return Math.floor(Number(serverVersionNum.trim() || NaN) / 10000);
}

/**
 * Why IMAGE cannot take over data of major DATA_MAJOR, from its `postgres --version` run on ENGINE
 * (`answer`, or the docker error); undefined when it is the same major or a newer one (a new major
 * cannot start on the old data directory: that is an upgrade, upgrade.ts).
 */
export function imageProblem(image: string, engine: string, answer: { stdout: string } | { error: string }, dataMajor: number): string | undefined {
    if ("error" in answer) {
        return /No such image/i.test(answer.error)
            ? `${image} is not on the Docker engine ${engine}: pull or build it there (docker pull ${image}), so preview can check ` +
              "its PostgreSQL version, and run up again"
            : `${image} is not a PostgreSQL server image: \`postgres --version\` in it failed on ${engine}: ${answer.error}`;
    }
    const major = serverMajor(answer.stdout);
    if (major === undefined) {
        return `${image} is not a PostgreSQL server image: \`postgres --version\` in it said ${JSON.stringify(answer.stdout.trim().slice(0, 80))}`;
    }
    if (major < dataMajor) {
        return `${image} runs PostgreSQL ${major}, older than the data's ${dataMajor}: a data directory never goes back to an ` +
            `older major; give an image of PostgreSQL ${dataMajor}`;
    }
    // A newer major is an upgrade (upgrade.ts), checked by its own rules.
    return undefined;
}
