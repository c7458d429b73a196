// From plan + observation to the report: each node's role and state, the commit policy as
// configured and as live, the data at risk, and the warnings with what to do. Pure functions, so
// every rule is tested on fixtures (tests/unit/status.test.ts); status/render.ts prints it. Which
// node is the primary, a former primary or one of several primaries is what components/topology/plan.ts
// planTopology decides for `up` (status/topology-input.ts gives it the observation).

import { ArchiveFailure, archiveFailure, archiveFailureAction, ArchiverRow, ArchiveStall, archiveStall, troubleOf } from "../components/archive";
import { compareLsn, lsnDiff } from "../components/lsn";
import { planTopology, TopologyPlan } from "../components/topology";
import { ContainerProbe, DIVERGED_NOTE, NodeProbe, Observation, Plan, PlannedNode, ReachableNode, ReplicationRow, SlotRow } from "./model";
import { nodeStates, planConfig } from "./topology-input";

/** A standby further behind than this (bytes not yet replayed) is "behind". */
export const BEHIND_BYTES = 16 * 1024 * 1024;
/** ...or whose replay lags by more than this many seconds. */
export const BEHIND_SECONDS = 30;
/** A slot holding this share of max_slot_wal_keep_size is near its limit. */
export const SLOT_NEAR_LIMIT = 0.8;

export type Role = "primary" | "sync" | "quorum" | "async" | "potential";

export interface NodeReport {
    name: string;
    host: string;
    port: number;
    address: string | null;
    containerName: string;
    /** The Docker engine the node runs on. */
    engine: string;
    /** primary, or the sync_state the plan promises (async, sync, quorum). */
    plannedRole: string;
    /** What the node is now: primary (accepts writes), or the sync_state the primary reports; null when unknown. */
    role: Role | null;
    /** running (a primary), streaming, catching up, starting, backing up, stopping, not streaming,
     *  promoted (a standby that accepts writes), former primary (accepts writes on a timeline older
     *  than the declared primary's: back after a failover, not yet demoted), in recovery (the
     *  declared primary as a standby), down (PostgreSQL does not answer), no answer (neither
     *  PostgreSQL nor its Docker engine answers: its host may be lost), stopped, fenced (stopped
     *  with restart policy `no`), or missing (its container). */
    state: string;
    reachable: boolean;
    /** Why the node could not be queried. */
    error: string | null;
    systemIdentifier: string | null;
    version: string | null;
    timeline: number | null;
    /** Standbys: WAL received and flushed, and replayed (X/Y). Primary: null. */
    receivedLsn: string | null;
    replayedLsn: string | null;
    lag: {
        /** WAL the primary has written that this standby has not flushed / not replayed. */
        receivedBytes: number | null;
        replayedBytes: number | null;
        /** pg_stat_replication write_lag, flush_lag, replay_lag in seconds (null when idle or unknown). */
        writeSeconds: number | null;
        flushSeconds: number | null;
        replaySeconds: number | null;
    } | null;
    slot: {
        name: string;
        active: boolean;
        /** WAL the slot holds on the primary: pg_current_wal_lsn() - restart_lsn. */
        heldBytes: number | null;
        /** max_slot_wal_keep_size in bytes; null when unlimited. */
        limitBytes: number | null;
        walStatus: string | null;
    } | null;
    container: {
        state: ContainerProbe["state"];
        id: string | null;
        /** The id Pulumi's state holds. */
        plannedId: string | null;
        image: string | null;
        startedAt: string | null;
    };
    /** Stopped with restart policy `no`: a failover or a demotion fenced it; null when its engine could not be asked. */
    fenced: boolean | null;
    /** A fenced node's `diverged` note: what it committed that the primary does not have (components/topology/act.ts demoteStale). */
    divergedNote: string | null;
}

export interface Warning {
    /** A stable identifier of the kind of problem. */
    code: string;
    node: string | null;
    message: string;
    action: string;
}

export interface ParsedPolicy {
    method: "none" | "first" | "any";
    count: number;
    /** The listed standby names; ["*"] for any standby. */
    names: string[];
}

export interface Report {
    stack: string;
    checkedAt: string;
    healthy: boolean;
    cluster: {
        systemIdentifier: string | null;
        version: string | null;
        primary: { declared: string; found: string[] };
        timeline: number | null;
        currentLsn: string | null;
    };
    policy: {
        configured: { mode: string; synchronousStandbyNames: string; synchronousCommit: string };
        live: { synchronousStandbyNames: string; synchronousCommit: string } | null;
        method: ParsedPolicy["method"];
        required: number;
        candidates: string[];
        /** Listed standbys streaming now. */
        confirming: string[];
        /** Whether commits can complete now; null when no primary was reachable. */
        satisfied: boolean | null;
    };
    nodes: NodeReport[];
    dataAtRisk: { bytes: number | null; promote: string | null; text: string };
    /** The read-write endpoint, when the stack has one: where it is, and which node a connection through it reached. */
    endpoint?: EndpointReport;
    /** The read-only endpoint, the same way: which node a connection through it reached. */
    readEndpoint?: EndpointReport;
    /** With nodes on several engines, every other host's endpoints, the same way. */
    moreEndpoints?: (EndpointReport & { kind: "rw" | "ro" })[];
    /** The backups, when the stack has them: what the repository holds and when a restore of it was last proven. */
    backup?: BackupReport;
    /** The primary's WAL archiving, when it archives (archive_mode on): what waits and whether it is failing. */
    archive?: ArchiveReport;
    warnings: Warning[];
}

/** The repository: its backups, the newest and the last verified restore, with ages at checkedAt (seconds). */
export interface BackupReport {
    volume: string;
    stanza: string;
    /** Why pgBackRest could not be asked; null when it was. */
    error: string | null;
    stanzaStatus: string | null;
    backups: number;
    newest: { label: string; type: string; at: string; ageSeconds: number } | null;
    verified: { at: string; backup: string; ageSeconds: number } | null;
    /** The last attempt to prove a restore, when it failed: when, of which backup, why. */
    verifyFailed: { at: string; backup: string; error: string } | null;
    /** Why the proof records could not be read, when pgBackRest could: `verified` and `verifyFailed` are unknown then, not none. */
    proofUnread: string | null;
    /** With backup.schedule: the intervals and the scheduler container's state (running, stopped, missing, unknown). */
    schedule?: { container: string; state: string; fullSeconds: number; diffSeconds: number; incrSeconds: number };
}

/** The primary's archiver (components/archive.ts): the segments waiting, the last archived, the failure when failing now. */
export interface ArchiveReport {
    node: string;
    ready: number;
    lastArchived: { wal: string; at: string; ageSeconds: number } | null;
    failing: ArchiveFailure | null;
    /** Segments waiting past pg-replication:archiveStallSeconds with no attempt failed (archive_command not ending). */
    stalled: ArchiveStall | null;
}

/** Where an endpoint is, and which node a connection through it reached. */
export interface EndpointReport { address: string; containerName: string; reaches: string | null; state: "primary" | "standby" | "down"; error: string | null }

function laterLsn(a: string | null, b: string | null): string | null {
    if (a === null || b === null) {
        return a ?? b;
    }
    return compareLsn(a, b) >= 0 ? a : b;
}

/** synchronous_standby_names as the server reads it: '', '*', 'a, b', 'FIRST n (...)', 'ANY n (...)', 'n (...)'. */
export function parsePolicy(setting: string): ParsedPolicy {
    const s = setting.trim();
    if (s === "") {
        return { method: "none", count: 0, names: [] };
    }
    const m = /^(?:(FIRST|ANY)\s+)?(\d+)\s*\((.*)\)$/is.exec(s);
    const list = (text: string) => text.split(",").map((n) => n.trim().replace(/^"(.*)"$/, "$1")).filter(Boolean);
    if (m) {
        return { method: m[1]?.toUpperCase() === "ANY" ? "any" : "first", count: Number(m[2]), names: list(m[3]) };
    }
    return { method: "first", count: 1, names: list(s) };
}

export function formatBytes(bytes: number | null): string {
    if (bytes === null) {
        return "-";
    }
    const units = ["B", "kB", "MB", "GB", "TB"];
    let v = bytes;
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
    }
    return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const STATE_WORDS: Record<string, string> = {
    streaming: "streaming", catchup: "catching up", startup: "starting", backup: "backing up", stopping: "stopping",
};

function reachable(p: NodeProbe): p is ReachableNode {
    return p.reachable;
}

export function buildReport(plan: Plan, obs: Observation): Report {
    const probe = (n: PlannedNode): NodeProbe => obs.nodes[n.name]?.probe ?? { reachable: false, error: "not probed" };
    const containerOf = (n: PlannedNode): ContainerProbe => obs.nodes[n.name]?.container ?? { state: "unknown" };
    const writers = plan.nodes.filter((n) => { const p = probe(n); return reachable(p) && !p.inRecovery; });
    const states = nodeStates(plan, obs);
    const topology = planTopology(planConfig(plan), states);
    // The node whose views of replication count: the one the plan finds running as primary (of several, the declared one).
    const primaryName = primaryOf(topology, plan.primary);
    const primaryNode = plan.nodes.find((n) => n.name === primaryName);
    const primary = primaryNode ? probe(primaryNode) as ReachableNode : null;
    const rowOf = (name: string): ReplicationRow | undefined => primary?.replication.find((r) => r.applicationName === name);
    const slotOf = (name: string): SlotRow | undefined => primary?.slots.find((s) => s.name === name);
    const limit = primary && primary.maxSlotWalKeepSizeBytes >= 0 ? primary.maxSlotWalKeepSizeBytes : null;
    const warnings: Warning[] = [];
    const warn = (code: string, node: string | null, message: string, action: string) =>
        warnings.push({ code, node, message, action });
    const deploy = `scripts/deploy.sh ${plan.stack}`;
    const dockerOf = (engine: string) => `docker -H ${engine}`;

    // A former primary back after a failover that could not fence it (its host was lost): the plan's
    // stale-primaries, which the next up demotes; a writer the plan does not call stale is "promoted".
    const stale = (n: PlannedNode): boolean => topology.kind === "stale-primaries" && topology.stale.some((s) => s.name === n.name);
    const declaredTimeline = states.find((s) => s.name === plan.primary)?.timeline ?? null;

    const nodes: NodeReport[] = plan.nodes.map((n) => {
        const p = probe(n);
        const c = containerOf(n);
        const isWriter = reachable(p) && !p.inRecovery;
        const row = n === primaryNode ? undefined : rowOf(n.name);
        const slot = n !== primaryNode ? slotOf(n.name) : undefined;
        let state: string;
        let role: Role | null = null;
        const fenced = c.state === "stopped" && c.restartPolicy === "no";
        if (!reachable(p)) {
            state = fenced ? "fenced" : c.state === "stopped" || c.state === "missing" ? c.state : c.silent ? "no answer" : "down";
        } else if (isWriter) {
            role = "primary";
            state = n.name === plan.primary ? "running" : stale(n) ? "former primary" : "promoted";
        } else if (row) {
            role = row.syncState as Role;
            state = STATE_WORDS[row.state] ?? row.state;
        } else {
            state = n.name === plan.primary ? "in recovery" : "not streaming";
        }
        const standbyView = reachable(p) && p.inRecovery;
        const receivedLsn = standbyView ? laterLsn(row?.flushLsn ?? null, p.receiveLsn) : row?.flushLsn ?? null;
        const replayedLsn = standbyView ? laterLsn(row?.replayLsn ?? null, p.replayLsn) : row?.replayLsn ?? null;
        const behind = (lsn: string | null, fromRow: number | null | undefined): number | null => {
            if (fromRow !== null && fromRow !== undefined) {
                return Math.max(0, fromRow);
            }
            return lsn && primary?.currentLsn ? Math.max(0, Number(lsnDiff(primary.currentLsn, lsn))) : null;
        };
        return {
            name: n.name,
            host: n.host,
            port: n.port,
            address: n.address ?? null,
            containerName: n.containerName,
            engine: n.engine,
            plannedRole: n.role === "primary" ? "primary" : n.syncState ?? "async",
            role,
            state,
            reachable: p.reachable,
            error: reachable(p) ? null : p.error,
            systemIdentifier: reachable(p) ? p.systemIdentifier : null,
            version: reachable(p) ? p.version : null,
            timeline: reachable(p) ? p.timeline : null,
            receivedLsn: isWriter ? null : receivedLsn,
            replayedLsn: isWriter ? null : replayedLsn,
            lag: isWriter || n === primaryNode ? null : {
                receivedBytes: row ? behind(row.flushLsn, row.flushLagBytes) : behind(receivedLsn, null),
                replayedBytes: row ? behind(row.replayLsn, row.replayLagBytes) : behind(replayedLsn, null),
                writeSeconds: row?.writeLagSeconds ?? null,
                flushSeconds: row?.flushLagSeconds ?? null,
                replaySeconds: row?.replayLagSeconds ?? null,
            },
            slot: slot ? { name: slot.name, active: slot.active, heldBytes: slot.heldBytes, limitBytes: limit, walStatus: slot.walStatus } : null,
            container: {
                state: c.state,
                id: c.id ?? null,
                plannedId: n.containerId ?? null,
                image: c.image ?? null,
                startedAt: c.startedAt ?? null,
            },
            fenced: c.state === "unknown" ? null : fenced,
            divergedNote: c.divergedNote ?? null,
        };
    });
    const byName = new Map(nodes.map((n) => [n.name, n]));

    // The commit policy: what the plan says, what the primary runs, and whether it can be met now.
    const live = primary ? { synchronousStandbyNames: primary.synchronousStandbyNames, synchronousCommit: primary.synchronousCommit } : null;
    const policy = parsePolicy(live?.synchronousStandbyNames ?? plan.replication.synchronousStandbyNames);
    const standbyNames = plan.nodes.filter((n) => n !== primaryNode).map((n) => n.name);
    const candidates = policy.names.includes("*") ? standbyNames : policy.names;
    const streamingNow = (primary?.replication ?? []).filter((r) => r.state === "streaming").map((r) => r.applicationName);
    const confirming = candidates.filter((name) => streamingNow.includes(name));
    const waits = live !== null && !["off", "local"].includes(live.synchronousCommit);
    const satisfied = primary === null ? null : policy.method === "none" || !waits || confirming.length >= policy.count;

    // Who to promote: the reachable standby with the most WAL received.
    const promotable = nodes.filter((n) => n.reachable && n.role !== "primary" && n.receivedLsn !== null &&
        (primary === null || n.timeline === null || n.timeline === primary.timeline));
    const best = promotable.sort((a, b) => compareLsn(b.receivedLsn!, a.receivedLsn!) || a.name.localeCompare(b.name))[0];
    const dataAtRisk = riskInWords(primary, best, policy, candidates, confirming, satisfied, live?.synchronousCommit ?? "");

    // Warnings, each with what to do.
    for (const n of nodes) {
        const planned = plan.nodes.find((p) => p.name === n.name)!;
        const isStandby = planned.role === "standby";
        const c = containerOf(planned);
        const dockerCmd = dockerOf(n.engine);
        if (n.container.state === "unknown") {
            // Its engine is the node's problem, not the tool's: said once per node, which engine and how.
            const how = c.silent ? (c.error ?? "does not answer") : `could not be asked: ${(c.error ?? "no answer").split("\n")[0]}`;
            warn("engine-unreachable", n.name, `${n.name}: its Docker engine ${n.engine} ${how}` + (n.reachable
                ? `; its PostgreSQL at ${n.host}:${n.port} answers`
                : `, and its PostgreSQL at ${n.host}:${n.port} does not answer either (${n.error})` +
                    (c.silent ? ": its host may be lost" : "")),
            `check that host and its engine (${dockerCmd} info)` + (!n.reachable && c.silent && n.name === plan.primary && primary === null
                ? `; if the host is lost, fail over: declare another node the primary, then pulumi up (${deploy})` : ""));
        } else if (n.container.state === "missing") {
            warn("container-missing", n.name, `${n.name}: its container ${n.containerName} does not exist`,
                `recreate it from the plan: pulumi refresh, then pulumi up (${deploy} refresh; ${deploy})`);
        } else if (n.container.state === "stopped" && n.divergedNote !== null) {
            warn("diverged", n.name, `${n.name}: fenced (stopped, restart policy no) after it ran as a second primary; ` +
                `its note ${DIVERGED_NOTE} says: ${n.divergedNote}`,
            `to read what it wrote, start it (${dockerCmd} start ${n.containerName}: it comes up read-only with its own data); ` +
                `to discard that and bring it in as a standby: pulumi config set pg-replication:allowDataLoss true, ` +
                `then pulumi up (${deploy})`);
        } else if (n.container.state === "stopped") {
            warn("container-stopped", n.name, `${n.name}: its container ${n.containerName} is stopped` +
                (n.fenced ? " and fenced (restart policy no)" : "") +
                (c.noteError ? `; whether it diverged could not be read (${c.noteError})` : ""),
            `start it: ${dockerCmd} start ${n.containerName}` + (isStandby ? " (it resumes from its slot)" : ""));
        } else if (n.container.id && n.container.plannedId && n.container.id !== n.container.plannedId) {
            warn("container-replaced", n.name, `${n.name}: container ${n.containerName} is ${n.container.id.slice(0, 12)}, ` +
                `not the ${n.container.plannedId.slice(0, 12)} Pulumi made: it was replaced by hand`,
                `bring state and engine together: pulumi refresh, then pulumi up (${deploy} refresh; ${deploy})`);
        } else if (!n.reachable && n.container.state === "running") {
            warn("node-unreachable", n.name, `${n.name}: the container runs but PostgreSQL does not answer at ${n.host}:${n.port} (${n.error})`,
                `look at its log: ${dockerCmd} logs --tail 50 ${n.containerName}`);
        } else if (!n.reachable) {
            warn("node-unreachable", n.name, `${n.name}: PostgreSQL does not answer at ${n.host}:${n.port} (${n.error})`,
                `check the container: ${dockerCmd} ps -a --filter name=${n.containerName}`);
        }
        if (n.state === "former primary") {
            warn("stale-primary", n.name, `${n.name} accepts writes on timeline ${n.timeline}, older than the declared primary ` +
                `${plan.primary}'s ${declaredTimeline}: former primary back after a failover, not yet demoted: run pulumi up`,
            `run pulumi up (${deploy}): it fences ${n.name} and keeps what it wrote after the failover aside; until then ` +
                `keep clients off ${n.host}:${n.port}: what they write there is not on ${plan.primary}`);
        }
        if (n.state === "promoted") {
            const declaredWrites = topology.kind === "several-primaries" && topology.primaries.includes(plan.primary);
            warn("primary-not-declared", n.name, declaredWrites
                ? `${n.name} accepts writes while the declared primary ${plan.primary} does too: two primaries`
                : `the primary is ${n.name}, not the declared ${plan.primary}`,
            declaredWrites
                ? `stop the one that must not take writes (${dockerOf(n.engine)} stop ${n.containerName}, or ` +
                    `${dockerOf(byName.get(plan.primary)!.engine)} stop ${byName.get(plan.primary)!.containerName}) before clients write to both`
                : `make the plan match: declare ${n.name} as the primary in the stack config, then pulumi up (${deploy})`);
        }
        if (n.name === plan.primary && n.state === "in recovery") {
            warn("primary-not-declared", n.name, `the declared primary ${n.name} is in recovery (a standby)`,
                `promote the right node or declare the one that accepts writes as the primary, then pulumi up (${deploy})`);
        }
        if (n.reachable && primary && n.systemIdentifier !== primary.systemIdentifier) {
            warn("foreign-cluster", n.name, `${n.name} belongs to another cluster (system identifier ${n.systemIdentifier}, ` +
                `the primary's is ${primary.systemIdentifier})`, `re-clone it from the primary: remove its volume, then pulumi up (${deploy})`);
            continue;
        }
        if (!isStandby || n.role === "primary") {
            continue;
        }
        if (n.reachable && primary && n.timeline !== null && n.timeline !== primary.timeline) {
            warn("timeline", n.name, `${n.name} is on timeline ${n.timeline}, the primary on ${primary.timeline}`,
                `it cannot follow the primary: re-clone it (remove its volume, then pulumi up: ${deploy})`);
        } else if (n.reachable && primary && n.state === "not streaming") {
            warn("not-streaming", n.name, `${n.name} is up but not streaming from the primary`,
                `look at its log: ${dockerCmd} logs --tail 50 ${n.containerName}`);
        }
        if (n.lag && ((n.lag.replayedBytes ?? 0) > BEHIND_BYTES || (n.lag.replaySeconds ?? 0) > BEHIND_SECONDS)) {
            warn("behind", n.name, `${n.name} is behind: ${formatBytes(n.lag.replayedBytes)} not replayed` +
                (n.lag.replaySeconds !== null ? `, replay lag ${n.lag.replaySeconds.toFixed(1)} s` : ""),
            `check its disk and load, and the network to the primary; queries on it see old data meanwhile`);
        }
        if (n.role !== null && n.role !== "potential" && n.plannedRole !== n.role) {
            warn("role-differs", n.name, `${n.name} is ${n.role}, the plan says ${n.plannedRole}`,
                `re-apply the commit policy: pulumi up (${deploy})`);
        }
        if (primary && !n.slot) {
            warn("slot-missing", n.name, `${n.name} has no replication slot on the primary: the primary may remove WAL it still needs`,
                `create it on the primary: SELECT pg_create_physical_replication_slot('${n.name}')`);
        } else if (n.slot?.walStatus === "lost") {
            warn("slot-lost", n.name, `${n.name}'s slot has lost WAL it needs: the standby can no longer catch up`,
                `re-clone it: remove its volume, then pulumi up (${deploy})`);
        } else if (n.slot && (n.slot.walStatus === "unreserved" ||
            (limit !== null && n.slot.heldBytes !== null && n.slot.heldBytes >= SLOT_NEAR_LIMIT * limit))) {
            warn("slot-near-limit", n.name, `${n.name}'s slot holds ${formatBytes(n.slot.heldBytes)} of WAL, ` +
                `limit ${formatBytes(limit)} (max_slot_wal_keep_size), wal_status ${n.slot.walStatus}`,
            `bring ${n.name} back to streaming soon, or it will need a re-clone`);
        }
    }
    for (const s of primary?.slots ?? []) {
        if (!plan.nodes.some((n) => n.name === s.name) && !s.active) {
            warn("slot-unplanned", null, `slot ${s.name} belongs to no node of the plan and holds ${formatBytes(s.heldBytes)} of WAL`,
                `drop it on the primary: SELECT pg_drop_replication_slot('${s.name}')`);
        }
    }
    if (primary === null) {
        const start = `${dockerOf(byName.get(plan.primary)?.engine ?? plan.engineHost)} start ${byName.get(plan.primary)?.containerName}`;
        warn("no-primary", null, "no node accepts writes: the cluster has no primary", dataAtRisk.promote
            ? `start the primary (${start}), or promote ${dataAtRisk.promote}`
            : `start the primary: ${start}`);
    } else {
        if (satisfied === false) {
            warn("sync-unmet", null, `commits on the primary hang: synchronous_standby_names = '${live!.synchronousStandbyNames}' ` +
                `needs ${policy.count} of ${candidates.join(", ")} and ${confirming.length === 0 ? "none streams" : `only ${confirming.join(", ")} streams`}`,
            `bring ${candidates.filter((c) => !confirming.includes(c)).join(" or ")} back, or relax the policy ` +
                `(pulumi config set pg-replication:mode async, then pulumi up)`);
        }
        if (live && (norm(live.synchronousStandbyNames) !== norm(plan.replication.synchronousStandbyNames) ||
            live.synchronousCommit !== plan.replication.synchronousCommit)) {
            warn("policy-differs", null, `the live commit policy (synchronous_standby_names = '${live.synchronousStandbyNames}', ` +
                `synchronous_commit = ${live.synchronousCommit}) differs from the plan ('${plan.replication.synchronousStandbyNames}', ` +
                `${plan.replication.synchronousCommit})`, `re-apply the plan: pulumi up (${deploy})`);
        }
    }
    const streamingStandbys = streamingNow.filter((name) => name !== primaryName);
    /** The warnings about one endpoint: down, or sending writes elsewhere than the primary, or reads to it while standbys stream. */
    const endpointWarnings = (kind: "rw" | "ro", e: EndpointReport, engine: string) => {
        if (kind === "rw" && e.state === "down") {
            warn("endpoint-down", null, `the read-write endpoint ${e.address} does not answer: ${e.error}`,
                `start it (${dockerOf(engine)} start ${e.containerName}), then run up (${deploy}): it re-points it`);
        } else if (kind === "rw" && e.reaches !== primaryName) {
            warn("endpoint-not-primary", null, `the read-write endpoint ${e.address} sends writes to ${e.reaches ?? "an address of no node"}` +
                `${e.state === "standby" ? " (a standby: writes fail)" : ""}, not to the primary ${primaryName ?? "(none)"}`,
                `run up (${deploy}): the topology step points it at the declared primary`);
        } else if (kind === "ro" && e.state === "down") {
            warn("read-endpoint-down", null, `the read-only endpoint ${e.address} does not answer: ${e.error}`,
                `start it (${dockerOf(engine)} start ${e.containerName}); its watcher starts with it`);
        } else if (kind === "ro" && e.state === "primary" && streamingStandbys.length > 0) {
            warn("read-endpoint-primary", null, `the read-only endpoint ${e.address} sends reads to the primary ` +
                `${e.reaches} while ${streamingStandbys.join(", ")} stream${streamingStandbys.length === 1 ? "s" : ""}: ` +
                "further behind than endpoints.maxReadLagBytes, or its watcher is not running",
                `see the watcher's lines in ${dockerOf(engine)} logs ${e.containerName}`);
        }
    };
    // The first host's endpoints run on the engine of that host's nodes (the stack's on one engine).
    const firstEngine = plan.nodes.find((n) => n.host === plan.endpoint?.host)?.engine ?? plan.engineHost;
    const endpoint = plan.endpoint ? endpointReport(plan, plan.endpoint, obs.endpoint) : undefined;
    const readEndpoint = plan.readEndpoint ? endpointReport(plan, plan.readEndpoint, obs.readEndpoint) : undefined;
    const moreEndpoints = plan.moreEndpoints?.map((e, i) => ({ kind: e.kind, ...endpointReport(plan, e, obs.moreEndpoints?.[i]) }));
    for (const [kind, e, engine] of [["rw", endpoint, firstEngine], ["ro", readEndpoint, firstEngine],
        ...(moreEndpoints ?? []).map((e, i) => [e.kind, e, plan.moreEndpoints![i].engine])] as ["rw" | "ro", EndpointReport | undefined, string][]) {
        if (e) {
            endpointWarnings(kind, e, engine);
        }
    }
    // A node on another image than the stack's: a roll (an image change) that stopped midway, or a container changed by hand.
    for (const n of nodes.filter((x) => plan.image !== undefined && x.container.image !== null && x.container.image !== plan.image)) {
        warn("image-differs", n.name, `${n.name} runs ${n.container.image}${n.version ? ` (PostgreSQL ${n.version})` : ""}, the stack's ` +
            `image is ${plan.image}: an image change that stopped midway, or a container changed by hand`,
            `run up (${deploy}): it rolls the nodes still on another image, one at a time`);
    }
    const backup = plan.backup ? backupReport(plan.backup, obs) : undefined;
    if (backup?.error) {
        warn("backup-unreadable", null, `pgBackRest could not describe the backup repository ${backup.volume}: ${backup.error}`,
            "start a node (the repository is read through one), then run status again");
    } else if (backup && backup.backups === 0) {
        warn("backup-none", null, `the backup repository ${backup.volume} holds no backup (stanza ${backup.stanza}: ${backup.stanzaStatus})`,
            `run up (${deploy}): it takes the first full backup; or npm run backup -- ${plan.stack} full`);
    } else if (backup?.proofUnread) {
        // Unknown is neither never proven nor fresh: a warning of its own, not backup-unverified and not silence.
        warn("backup-proof-unreadable", null, `the records of the restores proven from ${backup.volume} could not be read ` +
            `(${backup.proofUnread}): whether one is proven, and how long ago, is unknown`,
            `npm run status again; a record that stays unreadable is written anew by a proof: npm run verify-backup -- ${plan.stack}`);
    } else if (backup && backup.verified === null) {
        warn("backup-unverified", null, `no restore of the backups in ${backup.volume} has been proven`,
            `npm run verify-backup -- ${plan.stack}`);
    } else if (backup?.verified && backup.verified.ageSeconds > plan.backup!.maxVerifiedAgeHours * 3600) {
        warn("backup-stale", null, `the last restore of the backups in ${backup.volume} was proven longer ago than ` +
            `backup.maxVerifiedAgeHours (${plan.backup!.maxVerifiedAgeHours} h): ${backup.verified.at}; destroy refuses meanwhile`,
            `npm run verify-backup -- ${plan.stack}`);
    }
    if (backup?.verifyFailed) {
        const f = backup.verifyFailed;
        warn("backup-verify-failed", null, `the last attempt to prove a restore of the backups in ${backup.volume} failed at ${f.at}` +
            `${f.backup ? ` (backup ${f.backup})` : ""}: ${f.error}`, backup.schedule
            ? `${dockerOf(plan.engineHost)} logs ${backup.schedule.container}; then npm run verify-backup -- ${plan.stack}`
            : `npm run verify-backup -- ${plan.stack}`);
    }
    if (backup?.schedule?.state === "unknown") {
        // Not asked is not down: its engine did not answer (engine-unreachable says the rest).
        warn("backup-scheduler-unknown", null, `the backup scheduler ${backup.schedule.container} could not be checked` +
            `${obs.backupScheduler?.error ? ` (${obs.backupScheduler.error})` : ""}: whether backups are taken on schedule is unknown`,
            `bring the engine back (${dockerOf(plan.engineHost)} version), then npm run status again`);
    } else if (backup?.schedule && backup.schedule.state !== "running") {
        warn("backup-scheduler-down", null, `the backup scheduler ${backup.schedule.container} is ${backup.schedule.state}: no backup is taken ` +
            "and no restore proven on schedule", backup.schedule.state === "stopped"
            ? `${dockerOf(plan.engineHost)} start ${backup.schedule.container}` : `run up (${deploy}): it makes the scheduler again`);
    }
    // A schedule that turns: the newest backup no older than twice its shortest interval (and ten minutes' grace for a long backup).
    const due = backup?.schedule ? Math.min(...[backup.schedule.fullSeconds, backup.schedule.diffSeconds, backup.schedule.incrSeconds].filter((x) => x > 0)) : 0;
    if (backup?.schedule && backup.newest && backup.newest.ageSeconds > Math.max(2 * due, due + 600)) {
        warn("backup-overdue", null, `the newest backup in ${backup.volume} (${backup.newest.label}) ended ${backup.newest.at}, longer ago than twice ` +
            `the schedule's shortest interval (${due} s): scheduled backups are failing`,
            `${dockerOf(plan.engineHost)} logs ${backup.schedule.container}`);
    }
    const archive = primaryNode && primary?.archiver && primary.archiver.mode !== "off" ? archiveReport(primaryNode.name, primary.archiver, obs, plan.replication.archiveStallSeconds) : undefined;
    const trouble = archive ? troubleOf(archive.node, archive.failing, archive.stalled) : undefined;
    if (trouble) {
        warn(trouble.code, archive!.node, trouble.text,
            archiveFailureAction(plan.backup?.volume, `${dockerOf(primaryNode!.engine)} logs ${primaryNode!.containerName}`));
    }
    const sysIds = nodes.map((n) => n.systemIdentifier).filter((x): x is string => x !== null);
    return {
        stack: plan.stack,
        checkedAt: obs.checkedAt,
        healthy: warnings.length === 0,
        cluster: {
            systemIdentifier: primary?.systemIdentifier ?? sysIds[0] ?? null,
            version: primary?.version ?? nodes.find((n) => n.version)?.version ?? null,
            primary: { declared: plan.primary, found: writers.map((n) => n.name) },
            timeline: primary?.timeline ?? null,
            currentLsn: primary?.currentLsn ?? null,
        },
        policy: {
            configured: {
                mode: plan.replication.mode,
                synchronousStandbyNames: plan.replication.synchronousStandbyNames,
                synchronousCommit: plan.replication.synchronousCommit,
            },
            live,
            method: policy.method,
            required: policy.count,
            candidates,
            confirming,
            satisfied,
        },
        nodes,
        dataAtRisk,
        ...(endpoint ? { endpoint } : {}),
        ...(readEndpoint ? { readEndpoint } : {}),
        ...(moreEndpoints ? { moreEndpoints } : {}),
        ...(backup ? { backup } : {}),
        ...(archive ? { archive } : {}),
        warnings,
    };
}

/** The node the plan finds running as primary (of several, which up refuses: the declared one, else the first); undefined when none does. */
function primaryOf(topology: TopologyPlan, declared: string): string | undefined {
    switch (topology.kind) {
        case "none": return topology.primary;
        case "switchover": return topology.from;
        case "stale-primaries": return topology.primary;
        case "several-primaries": return topology.primaries.includes(declared) ? declared : topology.primaries[0];
        default: return undefined;
    }
}

function norm(s: string): string {
    return s.replace(/\s+/g, " ").trim();
}

function riskInWords(primary: ReachableNode | null, best: NodeReport | undefined, policy: ParsedPolicy, candidates: string[],
    confirming: string[], satisfied: boolean | null, synchronousCommit: string): Report["dataAtRisk"] {
    const promote = best?.name ?? null;
    const behind = best && primary?.currentLsn ? Math.max(0, Number(lsnDiff(primary.currentLsn, best.receivedLsn!))) : null;
    const promoteWords = !best ? "" : `; promote ${best.name}: it has received the most WAL` +
        (behind !== null && behind > 0 ? ` (${formatBytes(behind)} behind the primary)` : "");
    if (primary === null) {
        return { bytes: null, promote, text: best
            ? `no primary is reachable; the standby to promote is ${best.name}: it has received the most WAL (${best.receivedLsn})`
            : "no primary and no standby is reachable" };
    }
    if (policy.method !== "none" && !["off", "local"].includes(synchronousCommit)) {
        const soft = synchronousCommit === "remote_write" ? " (remote_write: a commit is lost only if that standby's machine also fails)" : "";
        if (!satisfied) {
            return { bytes: 0, promote, text: `commits wait for ${policy.count} of ${candidates.join(", ")} to confirm, so none is ` +
                `acknowledged and none acknowledged can be lost; but writes hang until then${promoteWords}` };
        }
        const who = policy.method === "first" && policy.count === 1
            ? `standby ${confirming[0]} confirms`
            : `${policy.count} of ${confirming.join(", ")} confirm${policy.count === 1 ? "s" : ""}`;
        return { bytes: 0, promote, text: `no acknowledged commit can be lost while ${who}${soft}${promoteWords}` };
    }
    if (!best || !primary.currentLsn) {
        return { bytes: null, promote: null, text: "if the primary failed now, no standby could take over: every commit since the last backup could be lost" };
    }
    const bytes = behind ?? 0;
    return { bytes, promote, text: `if the primary failed now, up to ${bytes} bytes (${formatBytes(bytes)}) of acknowledged ` +
        `commits could be lost; promote ${best.name}: it has received the most WAL` };
}

/** What the repository holds, as of the observation. */
function backupReport(b: NonNullable<Plan["backup"]>, obs: Observation): BackupReport {
    const seen = obs.backup ?? { reachable: false as const, error: "not probed" };
    const base = { volume: b.volume, stanza: b.stanza, ...(b.schedule ? { schedule: { container: b.schedule.containerName,
        state: obs.backupScheduler?.state ?? "unknown", fullSeconds: b.schedule.fullSeconds, diffSeconds: b.schedule.diffSeconds,
        incrSeconds: b.schedule.incrSeconds } } : {}) };
    if (!seen.reachable) {
        return { ...base, error: seen.error, stanzaStatus: null, backups: 0, newest: null, verified: null, verifyFailed: null, proofUnread: null };
    }
    const now = Date.parse(obs.checkedAt);
    const age = (at: number) => Math.max(0, Math.round((now - at) / 1000));
    const last = seen.backups[seen.backups.length - 1];
    const v = seen.verified?.marker.found ? seen.verified : null;
    return {
        ...base, error: null, stanzaStatus: seen.stanzaStatus, backups: seen.backups.length,
        newest: last ? { label: last.label, type: last.type, at: new Date(last.stoppedAt).toISOString(), ageSeconds: age(last.stoppedAt) } : null,
        verified: v ? { at: v.verifiedAt, backup: v.backup, ageSeconds: age(Date.parse(v.verifiedAt)) } : null,
        verifyFailed: seen.verifyFailed ? { at: seen.verifyFailed.failedAt, backup: seen.verifyFailed.backup, error: seen.verifyFailed.error } : null,
        proofUnread: seen.proofUnread ?? null,
    };
}

function archiveReport(node: string, a: ArchiverRow, obs: Observation, stallSeconds: number): ArchiveReport {
    const now = Date.parse(obs.checkedAt);
    return {
        node,
        ready: a.ready,
        lastArchived: a.lastArchivedWal && a.lastArchivedAt
            ? { wal: a.lastArchivedWal, at: a.lastArchivedAt, ageSeconds: Math.max(0, Math.round((now - Date.parse(a.lastArchivedAt)) / 1000)) } : null,
        failing: archiveFailure(a) ?? null,
        stalled: archiveStall(a, now, stallSeconds) ?? null,
    };
}

/** Which node a connection through an endpoint reached (by its cluster address), and as what. */
function endpointReport(plan: Plan, e: NonNullable<Plan["endpoint"]>, probe: Observation["endpoint"]): EndpointReport {
    const seen = probe ?? { reachable: false as const, error: "not probed" };
    const base = { address: `${e.host}:${e.port}`, containerName: e.containerName };
    if (!seen.reachable) {
        return { ...base, reaches: null, state: "down", error: seen.error };
    }
    const node = plan.nodes.find((n) => n.address === seen.address)?.name ?? null;
    return { ...base, reaches: node ?? seen.address, state: seen.inRecovery ? "standby" : "primary", error: null };
}

/** 0 healthy, 1 with warnings. */
export function exitCode(report: Report): number {
    return report.healthy ? 0 : 1;
}
