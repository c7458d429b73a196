// Before anything changes: which node is primary now, and, when the configuration names another
// one, is a switchover to it safe, or, when the primary is unreachable, a failover to it? One
// bounded `docker exec psql` and one `docker inspect` per node, in parallel. The plan is logged
// (pulumi.log.info) and an unsafe switchover or failover fails preview and up with its reasons
// (a RunError: message only). topology.sh checks the same things again when it runs.

import * as pulumi from "@pulumi/pulumi";
import { dockerCli as runDocker, dockerFailure, DockerRun } from "./docker-cli";
import { ClusterConfig, NAMESPACE, nodeEngine, NodeSpec, ReplicationSettings, SyncPolicy, syncSet, synchronousStandbyNamesFor } from "./config";
import { compareLsn, lsnDiff } from "./lsn";
import { NodeState, parseStateAnswer, STATE_SQL } from "./node-state";

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
     * up demotes them (topology.sh demote_stale).
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

export class SwitchoverRefused extends pulumi.RunError {
    constructor(readonly problems: readonly string[]) {
        super(`the switchover is refused, nothing was changed:\n  - ${problems.join("\n  - ")}`);
    }
}

export class FailoverRefused extends pulumi.RunError {
    /** The plan refused, when there is one. */
    constructor(readonly problems: readonly string[], readonly plan?: FailoverPlan) {
        super(`the failover is refused, nothing was changed:\n  - ${problems.join("\n  - ")}`);
    }
}

/** "status|network,network|restart policy" of a container; a container's networks say whether it is cut off. */
const INSPECT_FORMAT = "{{.State.Status}}|{{range $k, $v := .NetworkSettings.Networks}}{{$k}},{{end}}|{{.HostConfig.RestartPolicy.Name}}";

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
        dockerCli(["exec", "-u", "postgres", container, "psql", "-X", "-A", "-t", "-F", "|", "-d", "postgres",
            "-c", STATE_SQL], dockerHost, opts),
        dockerCli(["inspect", "-f", INSPECT_FORMAT, container], dockerHost, opts),
    ]);
    let docker: NodeState["container"];
    let engineDown: string | undefined;
    if (inspect.err && !/No such (object|container)/i.test(inspect.stderr)) {
        engineDown = `its Docker engine (${dockerHost}) does not answer: ${failure(inspect, opts)}`;
    }
    if (!inspect.err) {
        const [status, networks, restartPolicy] = inspect.stdout.trim().split("|");
        docker = { status, onNetwork: (networks ?? "").split(",").includes(network), restartPolicy };
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

/**
 * For each former primary: where the declared primary left its timeline, and how many bytes of
 * WAL it has written beyond that (what a rewind discards; up reads which commits are in them).
 * Asks the declared primary for its timeline history (one bounded `docker exec`). A node whose
 * timeline is not in that history is not a former primary of it: refused, as two primaries are.
 */
export async function staleDivergence(cfg: Pick<ClusterConfig, "nodes" | "namePrefix" | "dockerHost">, primary: NodeState,
    stale: readonly NodeState[], opts: ObserveOptions = {}): Promise<{ name: string; switchpoint: string; bytes: bigint }[]> {
    const node = cfg.nodes.find((n) => n.name === primary.name)!;
    const file = `pg_wal/${primary.timeline!.toString(16).toUpperCase().padStart(8, "0")}.history`;
    const r = await dockerCli(["exec", "-u", "postgres", `${cfg.namePrefix}-${primary.name}`, "psql", "-X", "-A", "-t", "-d", "postgres",
        "-c", `SELECT pg_read_file('${file}')`], nodeEngine(node, cfg.dockerHost), opts);
    return stale.map((s) => {
        const switchpoint = r.err ? undefined : switchpointIn(r.stdout, s.timeline!);
        if (switchpoint === undefined) {
            throw new SwitchoverRefused([`more than one node runs as primary: ${primary.name} and ${s.name}; ${s.name}'s ` +
                `timeline ${s.timeline} is not in ${primary.name}'s history (${r.err ? r.stderr.trim() || r.err.message : file}), ` +
                "so it is not a former primary of it; stop all but one before running up"]);
        }
        return { name: s.name, switchpoint, bytes: s.lsn ? lsnDiff(s.lsn, switchpoint) : 0n };
    });
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
    const from = isolated?.name ?? cfg.nodes.find((n) => n.address === followed || n.hostAddress === followed)?.name;
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

/**
 * The program's check: logs the switchover plan when the declared primary is not the actual
 * one, and throws SwitchoverRefused when it would be unsafe. A new cluster, or one whose primary
 * is already the declared one, costs one parallel round of `docker exec`.
 */
export async function checkTopology(cfg: ClusterConfig, opts: ObserveOptions = {}): Promise<TopologyPlan & { down: string[] }> {
    let states = await observe(cfg, opts);
    let planned = planTopology(cfg, states);
    if (planned.kind === "failover" && states.some((s) => s.engineDown !== undefined)) {
        states = await probeServers(cfg, planned.to, states, opts);
        planned = planTopology(cfg, states);
    }
    const plan = { ...planned, down: downNodes(states, planned) };
    if (plan.kind === "switchover") {
        const names = synchronousStandbyNamesFor(cfg.replication, plan.to);
        pulumi.log.info(`switchover planned: ${plan.to} will be promoted, ${plan.from} demoted to a standby of ` +
            `${plan.to}; synchronous_standby_names on ${plan.to} = '${names}'` +
            (cfg.replication.mode === "sync" ? `, synchronous_commit = ${cfg.replication.synchronousCommit}` : ""));
        if (plan.problems.length > 0) {
            throw new SwitchoverRefused(plan.problems);
        }
    } else if (plan.kind === "stale-primaries") {
        const byName = new Map(states.map((s) => [s.name, s]));
        const diverged = await staleDivergence(cfg, byName.get(plan.primary)!, plan.stale.map((p) => byName.get(p.name)!), opts);
        pulumi.log.warn(`${diverged.map((d) => `${d.name} (timeline ${byName.get(d.name)!.timeline}; ${d.bytes} bytes of WAL ` +
            `since ${plan.primary} left that timeline at ${d.switchpoint})`).join(", ")} run as primary next to ` +
            `${plan.primary}: former primaries back after a failover that could not fence them (their host was lost). ` +
            `up fences them at once and brings them in as standbys of ${plan.primary} (pg_rewind); if one committed user ` +
            `data after ${plan.primary} was promoted, it stays fenced and up says so, and bringing it in needs ` +
            `${NAMESPACE}:allowDataLoss`);
    } else if (plan.kind === "several-primaries") {
        throw new SwitchoverRefused([`more than one node runs as primary: ${plan.primaries.join(", ")}; ` +
            "stop all but one before running up"]);
    } else if (plan.kind === "failover") {
        const names = synchronousStandbyNamesFor(cfg.replication, plan.to);
        pulumi.log.info(`failover planned: the primary ${plan.from ?? "(unknown)"} is unreachable (${plan.why}); ` +
            `${plan.fence.join(", ") || "nothing"} fenced first (restart policy no, stopped, standby.signal pointing at ` +
            `${plan.to}), then ${plan.to} promoted; synchronous_standby_names on ${plan.to} = '${names}'. A fenced node ` +
            "comes back read-only; once its container runs again, the next up brings it in as a standby (pg_rewind " +
            "when it diverged)");
        if (plan.lost.length > 0 && plan.problems.length === 0) {
            pulumi.log.warn(`host lost: ${plan.lost.join(", ")} (neither engine nor server answers) cannot be fenced. ` +
                "When its host is back it may run as a primary on the old timeline until the next up, which demotes it " +
                (cfg.replication.mode === "sync" ? "(under the synchronous policy it cannot acknowledge a commit meanwhile: " +
                    `its synchronous standbys follow ${plan.to})` : "(under the async policy it can acknowledge commits " +
                    "meanwhile; the next up finds them and refuses to discard them without allowDataLoss)") +
                "; point clients at the new primary");
        }
        if (plan.problems.length > 0) {
            throw new FailoverRefused(plan.problems, plan);
        }
        if (plan.risks.length > 0 && !cfg.allowDataLoss) {
            throw new FailoverRefused([...plan.risks, `to promote ${plan.to} anyway, set ${NAMESPACE}:allowDataLoss to ` +
                `true; what could be lost: ${plan.loss}`], plan);
        }
        if (plan.risks.length > 0 || plan.loss !== "nothing") {
            pulumi.log.warn(`failover to ${plan.to}${plan.risks.length > 0 ? ` with data loss accepted ` +
                `(${NAMESPACE}:allowDataLoss): ${plan.risks.join("; ")}` : ""}; could be lost: ${plan.loss}`);
        }
    } else if (plan.kind === "no-primary") {
        pulumi.log.warn(`${plan.problems.join("; ")}: up will fail at the topology step unless ${cfg.primary} ` +
            "runs as primary by then");
    }
    if (cfg.allowDataLoss && plan.kind !== "failover" && plan.kind !== "stale-primaries") {
        pulumi.log.warn(`${NAMESPACE}:allowDataLoss is true but no failover is planned (it still lets up discard what a ` +
            "fenced former primary committed after a failover, when up said so); set it back to false");
    }
    return plan;
}
