// The topology step's contract: one typed JSON input (built by the cluster, components/cluster.ts,
// stored as the step's input) and one JSON result line (printed by up.ts, read by the drill).
// No Pulumi here: the step loads this without the SDK.

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { NodeSpec, ReplicationSettings } from "../spec";

/** Everything the topology step needs, as plain data: no machine-specific path, so an up elsewhere shows no diff. */
export interface TopologyInput {
    /** Node `n` runs in container `${namePrefix}-${n}` on volume `${namePrefix}-${n}-data`. */
    readonly namePrefix: string;
    /** The engine of every node without a `host` of its own (DOCKER_HOST form). */
    readonly dockerHost: string;
    readonly networkName: string;
    /** The image the step's throwaway containers run (pg_controldata, rewrites, pg_rewind, clones). */
    readonly image: string;
    /** Labels of those throwaway containers. */
    readonly helperLabels: Readonly<Record<string, string>>;
    readonly nodes: readonly NodeSpec[];
    /** The declared primary. */
    readonly primary: string;
    readonly replication: Pick<ReplicationSettings, "user" | "mode" | "syncStandbys" | "syncCount" | "synchronousCommit" |
        "maxSwitchoverLagBytes">;
    /** Bound on promotion, on a standby following, on the gates. */
    readonly timeoutSeconds: number;
    /** Nodes preview found down (check.ts downNodes): an input, so the up after one is back runs the step. */
    readonly downNodes: readonly string[];
    /** pg-replication:allowDataLoss. */
    readonly allowDataLoss: boolean;
    /**
     * The read-write endpoint, when the stack has one: paused around a switchover (bounded by
     * pauseTimeoutSeconds) and re-pointed at the new primary in a switchover or failover.
     */
    readonly endpoint?: {
        readonly container: string;
        readonly pauseTimeoutSeconds: number;
        /** Nodes on several engines: each engine (DOCKER_HOST form) with the container; else the stack's engine alone. */
        readonly engines?: readonly string[];
    };
    /**
     * Only in a roll's handover (roll.ts; the cluster's `-handover` command): `primary` is the standby
     * to hand over to, and the step acts only while the node running as primary has a container of
     * another image than `image`, after no transaction on it has run longer than maxTransactionSeconds.
     */
    readonly handover?: { readonly image: string; readonly maxTransactionSeconds: number };
}

/** How a node came in as a standby of the primary. */
export type RejoinPath =
    /** A switchover's old primary after its clean shutdown: nothing to rewind. */
    | { readonly via: "start" }
    /** pg_rewind brought it back; `said` is pg_rewind's own line ("servers diverged at ...", "no rewind required"). */
    | { readonly via: "pg_rewind"; readonly said: string }
    /** The last resort: its data replaced by a fresh clone of the primary. */
    | { readonly via: "fresh clone" }
    /** A fenced node that followed by itself once started (it had not diverged). */
    | { readonly via: "followed" };

/** What one run of the topology step did; printed as one line, RESULT_PREFIX then JSON. */
export interface TopologyResult {
    /** False when the step failed; `error` says why. */
    readonly ok: boolean;
    readonly error?: string;
    /** The primary when the step ended (the declared one, once it succeeded). */
    readonly primary: string;
    readonly action: "none" | "switchover" | "failover";
    /** The node that was primary before a switchover or failover, when known. */
    readonly from?: string;
    /** Nodes fenced by this run (restart policy no, stopped, their volume a standby of the primary). */
    readonly fenced: readonly string[];
    /** Nodes whose host was lost (neither engine nor server answers): not fenced, not asked. */
    readonly lost: readonly string[];
    /** Former primaries back after a failover that could not fence them, demoted by this run. */
    readonly demoted: readonly { readonly node: string; readonly committedBefore: number; readonly committedAfter: number;
        /** Why its WAL could not be read to the end (act.ts walReadToEnd): then it counts as diverged, whatever was counted. */
        readonly unread?: string }[];
    /** Nodes brought in as standbys by this run, and how. */
    readonly rejoined: readonly { readonly node: string; readonly path: RejoinPath }[];
    /** A node not brought in because that would discard what it committed after the promotion: its note. */
    readonly kept?: { readonly node: string; readonly note: string };
    /** With an endpoint: whether this run paused it, and the node it was pointed at. */
    readonly endpoint?: { readonly paused: boolean; readonly target?: string };
    /** The node's standbys as the gates saw them ("streaming/async", ...; "not running"; "its engine does not answer": a lost host's). */
    readonly standbys: Record<string, string>;
    /** A roll's handover (TopologyInput.handover): what it found to do. */
    readonly handover?: "switched over" | "nothing to hand over";
    readonly seconds: number;
}

/**
 * In a node's volume, outside its data directory: what a demoted former primary committed that
 * nobody else has (act.ts demoteStale); its rejoin needs allowDataLoss while this is there. The
 * status tool shows it.
 */
export const DIVERGED_NOTE = "/var/lib/postgresql/data/diverged";

export const RESULT_PREFIX = "topology result: ";

/** Every result line in a text (an up's output or error), in order. */
export function topologyResults(text: string): TopologyResult[] {
    return text.split("\n").filter((l) => l.includes(RESULT_PREFIX))
        .map((l) => JSON.parse(l.slice(l.indexOf(RESULT_PREFIX) + RESULT_PREFIX.length).trim()) as TopologyResult);
}

/** A rejoin path in words, for the drill's report and the step's log. */
export function describeRejoin(path: RejoinPath): string {
    switch (path.via) {
        case "start": return "after its clean shutdown, without a rewind";
        case "pg_rewind": return `after pg_rewind (${path.said})`;
        case "fresh clone": return "after a FRESH CLONE (last resort)";
        case "followed": return "by following once started (it had not diverged)";
    }
}

/**
 * The step's process, relative to the project directory the engine starts the command provider in:
 * it runs up.ts's main from the program's compiled copy (scripts/program-cache.js).
 */
export const STEP_SCRIPT = "scripts/topology-step.js";

/**
 * A digest of the step's code: the entry and every module it imports, transitively (relative
 * imports, .ts sources, else the compiled .js), and the in-container fragments they send along. An input of the step, so changed code re-runs it.
 */
export function codeDigest(entry = path.join(__dirname, "up")): string {
    const hash = createHash("sha256");
    const seen = new Set<string>();
    const visit = (base: string): void => {
        const file = [`${base}.ts`, `${base}.js`, path.join(base, "index.ts"), path.join(base, "index.js")].find((f) => fs.existsSync(f));
        if (file === undefined || seen.has(file)) {
            return;
        }
        seen.add(file);
        const text = fs.readFileSync(file, "utf8");
        hash.update(`${path.relative(path.join(__dirname, ".."), file).replace(/\.js$/, ".ts")}\0${text}\0`);
        // Type-only imports are erased: they are not the step's code.
        for (const m of text.replace(/^import type .*$/gm, "").matchAll(/(?:from |require\()"(\.{1,2}\/[^"]+)"/g)) {
            visit(path.resolve(path.dirname(file), m[1]));
        }
        // In-container fragments it sends along (fragments.ts) are its code too.
        for (const m of text.matchAll(/fragment\("([^"]+)"\)/g)) {
            hash.update(`${m[1]}\0${fs.readFileSync(path.join(__dirname, "..", "scripts", m[1]), "utf8")}\0`);
        }
    };
    visit(entry);
    return hash.digest("hex").slice(0, 16);
}
