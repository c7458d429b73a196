// The status tool's plan and observation in the shape the topology planners read
// (components/topology/plan.ts planTopology over components/node-state.ts NodeState), so status shows
// the verdict `up` would reach (which node is primary, a former primary, several primaries)
// instead of deciding it again. Status observes over SQL from this machine, not inside the
// containers: it does not read a standby's sender host, primary_conninfo or paused replay, and the
// outputs carry no switchover bound, so it takes the plan's kind and nodes, never its problems or risks.

import { compareLsn } from "../components/lsn";
import { PlanConfig } from "../components/topology";
import { NodeState } from "../components/node-state";
import { NodeProbe, Observation, Plan } from "./model";

/** The outputs do not carry maxSwitchoverLagBytes; status shows no switchover problem, so none is bounded. */
const NO_SWITCHOVER_BOUND = Number.MAX_SAFE_INTEGER;

export function planConfig(plan: Plan): PlanConfig {
    // The declared primary's setting as the program writes it (config.ts standbyNamesSetting): FIRST 1 (...) or ANY k (...).
    const count = /^(?:FIRST|ANY) (\d+) \(/.exec(plan.replication.synchronousStandbyNames)?.[1];
    return {
        primary: plan.primary,
        nodes: plan.nodes.map((n) => ({ name: n.name, address: n.address ?? "" })),
        replication: {
            mode: plan.replication.mode === "sync" ? "sync" : "async",
            syncStandbys: plan.nodes.filter((n) => n.syncState === "sync" || n.syncState === "quorum").map((n) => n.name),
            syncCount: count === undefined ? 0 : Number(count),
            maxSwitchoverLagBytes: NO_SWITCHOVER_BOUND,
        },
    };
}

/** Each planned node's probe and container as a NodeState, in the plan's order (the declared primary first). */
export function nodeStates(plan: Plan, obs: Observation): NodeState[] {
    return plan.nodes.map((n): NodeState => {
        const p: NodeProbe = obs.nodes[n.name]?.probe ?? { reachable: false, error: "not probed" };
        const c = obs.nodes[n.name]?.container ?? { state: "unknown" as const };
        // An engine that cannot be asked is taken to hold the container, as topology/observe.ts does.
        const exists = c.state !== "missing";
        if (!p.reachable) {
            return { name: n.name, exists, unreachable: p.error,
                ...c.state === "unknown" ? { engineDown: c.error ?? "its Docker engine does not answer" } : {} };
        }
        const received = [p.receiveLsn, p.replayLsn].filter((x): x is string => x !== null);
        return {
            name: n.name,
            exists,
            inRecovery: p.inRecovery,
            lsn: (p.inRecovery ? p.replayLsn : p.currentLsn) ?? undefined,
            timeline: p.timeline,
            ...p.inRecovery && received.length > 0 ? { receivedLsn: received.reduce((a, b) => (compareLsn(a, b) >= 0 ? a : b)) } : {},
        };
    });
}
