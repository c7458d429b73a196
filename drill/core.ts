// The fault drill: a sequence-numbered write probe runs against the stack's nodes, a fault hits
// the current primary (kill, pause, disconnect), the stack fails over through its own config and
// `up` (the caller says how: the Automation API for a user's stack, the e2e harness in tests),
// and what the probe saw is measured: time from the fault to the first acknowledged write on the
// new primary, the `up` alone, acknowledged commits missing on the new primary, its rows. Then
// the fault is undone, A is checked to be fenced (read-only), a second `up` brings it back, and
// its data is compared with the new primary's.

import { Client } from "pg";
import { dockerCli as runDocker } from "../components/docker-cli";
import { compareLsn } from "../components/lsn";
import { RECEIVED_LSN_SQL } from "../components/node-state";
import { describeRejoin, topologyResults } from "../components/topology/contract";
import { ENDPOINT_PROBE_TABLE, PROBE_TABLE, WriteProbe } from "./probe";

export const FAULTS = ["kill", "pause", "disconnect", "host"] as const;
export type Fault = (typeof FAULTS)[number];

/**
 * For the `host` fault: how to lose a whole host and bring it back (the drill cannot do that
 * through Docker: the engine is part of what is lost). The user's commands in drill/main.ts
 * (--lose-host, --restore-host), the test hosts' own in tests.
 */
export interface HostControl {
    /** The host of `engine` (a node's Docker engine, its address `address`) is lost: engine and address unreachable. */
    lose(engine: string, address: string): Promise<void>;
    /** That host is back. */
    restore(engine: string, address: string): Promise<void>;
}

/** What the drill needs from a stack: its outputs, and the user's two moves. */
export interface DrillStack {
    outputs(): Promise<Record<string, any>>;
    /** Sets pg-replication:primary to `to` and runs `up`; resolves to the engine's output when known. */
    failover(to: string): Promise<string>;
    /** Runs `up` with the config as it is; resolves to the engine's output when known. */
    up(): Promise<string>;
}

export interface DrillResult {
    fault: Fault;
    from: string;
    to: string;
    /** Why `to`: the standby with the most WAL, and its position. */
    chosen: string;
    faultToFirstWriteSeconds: number;
    upSeconds: number;
    acknowledged: number;
    /** Acknowledged before the fault and missing on the new primary. */
    lost: number;
    lostSeqs: number[];
    rowsOnNewPrimary: number;
    /**
     * A's restart policy as Docker holds it right after the failover's up, before the fault is
     * undone: "no" while A is fenced (no restart by Docker, a daemon restart or a reboot), back to
     * "unless-stopped" once the same up has already brought A in.
     */
    restartPolicyAfterFailover: string;
    /**
     * After the fault was undone and A started: was A read-only (pg_is_in_recovery) or not running?
     * NO ANSWER: it runs but its server did not say within the bound; not counted as fenced.
     * After a `host` fault A could not be fenced: WRITABLE there is the window a lost host leaves,
     * closed by the next up (see demotedByUp).
     */
    fencedAfterRestart: "read-only" | "not running" | "WRITABLE" | "NO ANSWER";
    /** The same after `docker restart` of A ("not applicable" after a `host` fault: its host came back as it was). */
    fencedAfterDockerRestart: DrillResult["fencedAfterRestart"] | "not applicable";
    /** After the second up: A is a standby (pg_is_in_recovery). */
    demotedByUp: boolean;
    rejoinSeconds: number;
    /** How A came back, from the output of the failover's or the second up when available. */
    rejoinPath: string;
    /** After the rejoin: A's probe rows equal the new primary's (same count and checksum). */
    consistentAfterRejoin: boolean;
    /**
     * With a read-write endpoint: what a second probe, writing only through it, saw (clients of the
     * endpoint do not pick a node: the endpoint does).
     */
    endpoint?: {
        acknowledged: number;
        /** Acknowledged through the endpoint and missing on the new primary. */
        lost: number;
        /** Failed attempts: errors a client of the endpoint saw. */
        clientErrors: number;
        /** Longest gap between two acknowledged writes through the endpoint. */
        longestStallSeconds: number;
    };
}

async function dockerCli(host: string, ...args: string[]): Promise<string> {
    const { err, stdout, stderr } = await runDocker(args, host, { timeoutMs: 60_000 });
    if (err) {
        throw new Error(`docker ${args.join(" ")}: ${stderr.trim() || err.message}`);
    }
    return stdout.trim();
}

async function query<T = any>(url: string, sql: string, timeoutMs = 3000): Promise<T[]> {
    const c = new Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
    c.on("error", () => undefined);
    await c.connect();
    try {
        return (await c.query(sql)).rows;
    } finally {
        await c.end().catch(() => undefined);
    }
}

/** The sequence numbers of ACKS (the write probe's) that the node at URL does not hold. */
export async function missingAcks(url: string, acks: readonly { seq: number }[], table = PROBE_TABLE): Promise<number[]> {
    const found = new Set((await query(url, `SELECT seq FROM ${table}`, 10_000)).map((r) => Number(r.seq)));
    return acks.filter((a) => !found.has(a.seq)).map((a) => a.seq);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Applies the fault to a container. */
export async function injectFault(host: string, fault: Fault, container: string, network: string): Promise<void> {
    if (fault === "kill") {
        await dockerCli(host, "kill", "--signal", "KILL", container);
    } else if (fault === "pause") {
        await dockerCli(host, "pause", container);
    } else {
        await dockerCli(host, "network", "disconnect", network, container);
    }
}

/** Undoes the fault: the container runs on its network again (fencing may have stopped or killed it). */
export async function undoFault(host: string, fault: Fault, container: string, network: string, address: string): Promise<void> {
    const state = await dockerCli(host, "inspect", "-f", "{{.State.Status}}", container);
    if (state === "paused") {
        await dockerCli(host, "unpause", container);
    }
    if (fault === "disconnect") {
        const nets = await dockerCli(host, "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", container);
        if (!nets.split(" ").includes(network)) {
            await dockerCli(host, "network", "connect", "--ip", address, network, container);
        }
    }
    if ((await dockerCli(host, "inspect", "-f", "{{.State.Running}}", container)) !== "true") {
        await dockerCli(host, "start", container);
    }
}

/** Whether the container's server is in recovery, once it answers (bounded); "not running" when it is not. */
export async function fencedState(host: string, container: string, seconds = 60): Promise<DrillResult["fencedAfterRestart"]> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
        if ((await dockerCli(host, "inspect", "-f", "{{.State.Running}}", container)) !== "true") {
            return "not running";
        }
        const answer = await dockerCli(host, "exec", "-u", "postgres", container, "psql", "-X", "-A", "-t", "-d", "postgres",
            "-c", "SELECT pg_is_in_recovery()").catch(() => "");
        if (answer === "t") {
            return "read-only";
        }
        if (answer === "f") {
            return "WRITABLE";
        }
        if (Date.now() > deadline) {
            return "NO ANSWER";   // it runs: a server still recovering may yet come up writable
        }
        await sleep(250);
    }
}

/** How NODE rejoined, from the topology step's result lines in an up's output. */
export function rejoinPath(output: string, node: string): string {
    if (!output) {
        return "unknown (no output)";
    }
    const path = topologyResults(output).flatMap((r) => r.rejoined).filter((r) => r.node === node).pop()?.path;
    if (path === undefined) {
        return "not in the output";
    }
    switch (path.via) {
        case "fresh clone": return "fresh clone (last resort)";
        case "pg_rewind": return `pg_rewind: ${path.said}`;
        default: return describeRejoin(path);
    }
}

const CHECKSUM_SQL = `SELECT count(*)::int AS n, coalesce(md5(string_agg(seq::text || ':' || node, ',' ORDER BY seq)), '') AS sum
  FROM ${PROBE_TABLE}`;

export async function runDrill(stack: DrillStack, fault: Fault, log: (m: string) => void = () => undefined,
    hosts?: HostControl): Promise<DrillResult> {
    const out = await stack.outputs();
    const network: string = out.network.name;
    const from: string = out.primary.name;
    const nodes: Record<string, any> = out.nodes;
    // A's own engine (nodes on several engines), else the stack's.
    const host: string = nodes[from].engine ?? out.engine.host;
    if (fault === "host" && !hosts) {
        throw new Error("the host fault needs a way to lose and restore a host (drill: --lose-host and --restore-host)");
    }
    const url = (n: string): string => nodes[n].connectionString;
    const order = [from, ...Object.keys(nodes).filter((n) => n !== from)];
    if (order.length < 2) {
        throw new Error(`stack has one node (${from}); a failover needs a standby`);
    }
    const probe = new WriteProbe(Object.fromEntries(order.map((n) => [n, url(n)])), 120, 2000);
    // Through the endpoint too, when the stack has one: what its clients see.
    const rw: string | undefined = out.endpoints?.rw?.connectionString;
    const viaEndpoint = rw ? new WriteProbe({ endpoint: rw }, 120, 30_000, ENDPOINT_PROBE_TABLE) : undefined;
    await Promise.all([probe.start(), viaEndpoint?.start()]);
    await sleep(2000);

    log(`fault: ${fault} on ${from} (${fault === "host" ? `its host ${nodes[from].host}, engine ${host}` : nodes[from].containerName})`);
    const faultAt = Date.now();
    if (fault === "host") {
        await hosts!.lose(host, nodes[from].host);
    } else {
        await injectFault(host, fault, nodes[from].containerName, network);
    }
    // The standby that has received the most WAL, as an operator would pick it.
    const positions = await Promise.all(order.slice(1).map(async (n) => {
        const r = await query(url(n), `SELECT ${RECEIVED_LSN_SQL}::text AS lsn`)
            .catch(() => [{ lsn: null }]);
        return { n, lsn: r[0].lsn as string | null };
    }));
    // Never 0, as it always was: on a tie the drill keeps picking the standby it always picked.
    const best = positions.filter((p) => p.lsn).sort((a, b) => (compareLsn(b.lsn!, a.lsn!) > 0 ? 1 : -1))[0];
    if (!best) {
        await Promise.all([probe.stop(), viaEndpoint?.stop()]);
        throw new Error("no standby answers; nothing to fail over to");
    }
    const to = best.n;
    log(`failover: primary = ${to} (it has received the most WAL, up to ${best.lsn}); up`);
    const upStart = Date.now();
    const failoverOutput = await stack.failover(to);
    const upSeconds = (Date.now() - upStart) / 1000;
    // The first write the new primary acknowledged after the fault.
    const firstDeadline = Date.now() + 30_000;
    let first: number | undefined;
    while (first === undefined && Date.now() < firstDeadline) {
        first = probe.peek().find((a) => a.node === to && a.at > faultAt)?.at;
        if (first === undefined) {
            await sleep(100);
        }
    }
    await sleep(1000);
    const [result, throughEndpoint] = await Promise.all([probe.stop(), viaEndpoint?.stop()]);
    const lostSeqs = await missingAcks(url(to), result.acks);
    log(`${result.acks.length} acknowledged, ${lostSeqs.length} missing on ${to}`);
    const endpoint = throughEndpoint && {
        acknowledged: throughEndpoint.acks.length,
        lost: (await missingAcks(url(to), throughEndpoint.acks, ENDPOINT_PROBE_TABLE)).length,
        clientErrors: throughEndpoint.errors,
        longestStallSeconds: throughEndpoint.longestGapMs / 1000,
    };
    if (endpoint) {
        log(`through the endpoint: ${endpoint.acknowledged} acknowledged, ${endpoint.lost} missing on ${to}, ` +
            `${endpoint.clientErrors} client errors, longest stall ${endpoint.longestStallSeconds.toFixed(2)} s`);
    }

    let restartPolicyAfterFailover: string;
    let fenced: DrillResult["fencedAfterRestart"];
    let fencedRestart: DrillResult["fencedAfterDockerRestart"];
    if (fault === "host") {
        restartPolicyAfterFailover = "not asked (its host is lost)";
        await hosts!.restore(host, nodes[from].host);
        fenced = await fencedState(host, nodes[from].containerName);
        fencedRestart = "not applicable";
        log(`${from}'s host is back: ${from} is ${fenced}${fenced === "WRITABLE" ? " (it could not be fenced; the next up demotes it)" : ""}`);
    } else {
        restartPolicyAfterFailover = await dockerCli(host, "inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}",
            nodes[from].containerName);
        await undoFault(host, fault, nodes[from].containerName, network, nodes[from].address);
        fenced = await fencedState(host, nodes[from].containerName);
        await dockerCli(host, "restart", "-t", "10", nodes[from].containerName);
        fencedRestart = await fencedState(host, nodes[from].containerName);
        log(`${from} started after the fault was undone: ${fenced}; after docker restart: ${fencedRestart}`);
    }
    const rejoinStart = Date.now();
    // A refusal to bring A in (it committed after the promotion: split-brain writes, kept) is a
    // result of the drill, not its failure: reported, and the stack left as up left it.
    let refused: string | undefined;
    const output = await stack.up().catch((err: Error) => {
        refused = topologyResults(err.message).pop()?.kept?.note;
        if (refused === undefined) {
            throw err;
        }
        log(`the second up refused to bring ${from} in: ${refused}`);
        return "";
    });
    const rejoinSeconds = (Date.now() - rejoinStart) / 1000;
    // A caught up: same rows and checksum as the new primary.
    const [{ lsn }] = await query(url(to), "SELECT pg_current_wal_lsn()::text AS lsn");
    let consistent = false;
    for (const deadline = Date.now() + 30_000; !consistent && Date.now() < deadline; await sleep(250)) {
        const [done] = await query(url(from), `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn AS d`).catch(() => [{ d: false }]);
        if (done.d) {
            const [a, b] = await Promise.all([query(url(from), CHECKSUM_SQL), query(url(to), CHECKSUM_SQL)]);
            consistent = a[0].n === b[0].n && a[0].sum === b[0].sum;
            break;
        }
    }
    const [{ n }] = await query(url(to), `SELECT count(*)::int AS n FROM ${PROBE_TABLE}`);
    const [{ r: demoted }] = await query(url(from), "SELECT pg_is_in_recovery() AS r").catch(() => [{ r: false }]);
    return {
        fault, from, to,
        chosen: `${to}: most WAL received (${best.lsn})`,
        faultToFirstWriteSeconds: first === undefined ? NaN : (first - faultAt) / 1000,
        upSeconds,
        acknowledged: result.acks.length,
        lost: lostSeqs.length,
        lostSeqs,
        rowsOnNewPrimary: n,
        restartPolicyAfterFailover,
        fencedAfterRestart: fenced,
        fencedAfterDockerRestart: fencedRestart,
        demotedByUp: demoted === true,
        rejoinSeconds,
        // A killed or paused primary is back at once (stopped on its network): the failover's own up rewinds it.
        rejoinPath: refused !== undefined ? `refused (kept, fenced; allowDataLoss to discard): ${refused}`
            : rejoinPath(`${failoverOutput}${output}`, from),
        consistentAfterRejoin: consistent,
        ...(endpoint ? { endpoint } : {}),
    };
}
