// The benchmark's load and data tools: pgbench run inside a node's container (over its local
// socket as the postgres user, so no password is on any command line or in any file), replay lag
// sampled on the primary from pg_stat_replication, a bare pg_basebackup to compare a clone with,
// and percentiles.

import { Client } from "pg";
import { dockerCli } from "../components/docker-cli";
import { DEFAULT_HOST } from "../components/engine";
import { segmentName, segmentNumber } from "../components/lsn";

/** This machine's Docker engine, which the bench's stacks use. */
export const ENGINE = process.env.DOCKER_HOST ?? DEFAULT_HOST;

/** `docker ARGS` on this machine's engine; rejects with docker's own words when it fails. */
async function docker(args: string[], timeoutMs: number): Promise<string> {
    const r = await dockerCli(args, ENGINE, { timeoutMs });
    if (r.err) {
        throw new Error(`docker ${args.slice(0, 4).join(" ")} ... failed: ${r.stderr.trim() || r.err.message}`);
    }
    return r.stdout;
}

/**
 * CONTAINER's CPU time so far (ms), from its own cgroup as the container sees it: cgroup v2's
 * cpu.stat usage_usec, else v1's cpuacct.usage (ns).
 */
export async function containerCpuMs(container: string): Promise<number> {
    const out = await docker(["exec", container, "sh", "-c", "if [ -r /sys/fs/cgroup/cpu.stat ]; then " +
        "sed -n 's/^usage_usec //p' /sys/fs/cgroup/cpu.stat; else echo $(( $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage) / 1000 )); fi"], 30_000);
    const usec = Number(out.trim());
    if (!Number.isFinite(usec) || out.trim() === "") {
        throw new Error(`no CPU time of ${container} in its cgroup: ${JSON.stringify(out)}`);
    }
    return usec / 1000;
}

/** `pgbench -i -s SCALE` (pgbench's tables, filled server-side) in CONTAINER's database postgres. */
export async function pgbenchInit(container: string, scale: number): Promise<void> {
    await docker(["exec", "-u", "postgres", container, "pgbench", "-i", "-q", "-I", "dtGvp", "-s", String(scale), "postgres"],
        60 * 60 * 1000);
}

/** pgbench's TPS without connection set-up: "excluding connections establishing" (13), "without initial connection time" (14+). */
export function tpsOf(output: string): number {
    const found = /tps = ([\d.]+) \((?:excluding connections establishing|without initial connection time)\)/.exec(output);
    if (!found) {
        throw new Error(`no tps in pgbench's output:\n${output}`);
    }
    return Number(found[1]);
}

/** Where pgbench connects instead of its container's own socket: HOST:PORT over TCP as postgres, the password on stdin (never on a command line). */
export interface OverTcp {
    readonly host: string;
    readonly port: number;
    readonly password: string;
}

/**
 * The TPC-B-like write load: CLIENTS connections on two threads for SECONDS in CONTAINER, on its
 * own socket or, with OVER, over TCP (through the endpoint and straight to the primary from the
 * same container, so the two differ by the pooler alone). With `tolerateAbort` (a switchover or
 * failover stops the server under it) a pgbench that ends in error gives NaN instead of rejecting.
 */
export async function pgbench(container: string, clients: number, seconds: number, tolerateAbort = false, over?: OverTcp): Promise<number> {
    const load = ["pgbench", "-n", "-c", String(clients), "-j", "2", "-T", String(seconds), "postgres"];
    const r = over
        ? await dockerCli(["exec", "-i", container, "sh", "-c",
            `IFS= read -r PGPASSWORD && export PGPASSWORD && exec pgbench -n -h "$0" -p "$1" -U postgres ${load.slice(2).join(" ")}`,
            over.host, String(over.port)], ENGINE, { timeoutMs: (seconds + 120) * 1000, input: `${over.password}\n` })
        : await dockerCli(["exec", "-u", "postgres", container, ...load], ENGINE, { timeoutMs: (seconds + 120) * 1000 });
    if (r.err) {
        if (tolerateAbort) {
            return Number.NaN;
        }
        throw new Error(`pgbench in ${container}${over ? ` to ${over.host}:${over.port}` : ""} failed: ${r.stderr.trim() || r.err.message}`);
    }
    return tpsOf(r.stdout);
}

/** The median: the middle value, or the mean of the two middle ones for an even count (two rounds: their mean); NaN for none. */
export function median(xs: readonly number[]): number {
    if (xs.length === 0) {
        return Number.NaN;
    }
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The p-th percentile (0–100) by nearest rank; NaN for no samples. */
export function percentile(xs: readonly number[], p: number): number {
    if (xs.length === 0) {
        return Number.NaN;
    }
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Replay lag of each standby as the primary reports it (pg_stat_replication.replay_lag: from the
 * primary flushing WAL to the standby saying it replayed it), sampled every INTERVAL ms. A standby
 * with nothing to replay reports NULL, which is counted as 0 ms.
 */
export class LagSampler {
    private readonly samples = new Map<string, number[]>();
    private stopped = false;
    private running: Promise<void> | undefined;

    constructor(private readonly primaryUrl: string, private readonly intervalMs = 100) {}

    async start(): Promise<void> {
        const client = new Client({ connectionString: this.primaryUrl, connectionTimeoutMillis: 5000 });
        await client.connect();
        this.running = (async () => {
            try {
                while (!this.stopped) {
                    const { rows } = await client.query(
                        "SELECT application_name AS name, coalesce(extract(epoch FROM replay_lag) * 1000, 0)::float8 AS ms FROM pg_stat_replication");
                    for (const r of rows) {
                        this.samples.set(r.name, [...(this.samples.get(r.name) ?? []), Number(r.ms)]);
                    }
                    await new Promise((done) => setTimeout(done, this.intervalMs));
                }
            } finally {
                await client.end();
            }
        })();
    }

    /** Each standby's samples (ms). */
    async stop(): Promise<Map<string, number[]>> {
        this.stopped = true;
        await this.running;
        return this.samples;
    }
}

/**
 * A bare clone for the data row: `pg_basebackup -Xs -c fast` run in a standby's container (FROM,
 * an address the primary's pg_hba.conf admits for replication), from the primary at CONNINFO (the
 * node's own passfile: no password on the command line), into a directory of that container's own
 * filesystem (outside PGDATA; Docker keeps it on the disk that holds the volumes the clones write
 * to); removed afterwards.
 */
export async function bareBasebackup(from: string, conninfo: string): Promise<void> {
    const dir = "/var/lib/postgresql/bench-bare-copy";
    await docker(["exec", "-u", "postgres", from, "rm", "-rf", dir], 60_000);
    try {
        await docker(["exec", "-u", "postgres", from, "pg_basebackup", "-d", conninfo, "-D", dir, "-X", "stream", "-c", "fast"], 60 * 60 * 1000);
    } finally {
        await docker(["exec", "-u", "postgres", from, "rm", "-rf", dir], 10 * 60 * 1000);
    }
}

/** The size of the database cluster's files (pg_database_size of every database), bytes. */
export async function clusterBytes(url: string): Promise<number> {
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
        const { rows } = await client.query("SELECT sum(pg_database_size(datname))::bigint AS bytes FROM pg_database");
        return Number(rows[0].bytes);
    } finally {
        await client.end();
    }
}

/**
 * `find -printf '%f %T@\n'` lines (a file name, its mtime in epoch seconds with a fraction) as the
 * earliest mtime of each WAL segment named at the start of a file name: 24 hex digits, then the
 * end or one of ".ready", ".done" (pg_wal/archive_status) or "-" (pgBackRest's archive file,
 * SEGMENT-SHA1[.lz4]). Other files (history, .backup, .partial) are left out.
 */
export function segmentTimes(listing: string): Map<string, number> {
    const times = new Map<string, number>();
    for (const line of listing.split("\n")) {
        const found = /^([0-9A-F]{24})(?:\.ready|\.done|-[0-9a-f]{40}(?:\.\w+)?)? (\d+(?:\.\d+)?)$/.exec(line.trim());
        if (found) {
            const t = Number(found[2]);
            times.set(found[1], Math.min(t, times.get(found[1]) ?? Infinity));
        }
    }
    return times;
}

/**
 * The WAL archive lag of each segment from FIRST to LAST (names on one timeline, both included):
 * from its completion (its archive-status file's mtime: PostgreSQL creates the .ready file once
 * the segment is written whole, and renaming it .done keeps that mtime) to its arrival in the
 * repository (the mtime of pgBackRest's file there), in seconds; the segments missing from
 * either listing are named.
 */
export function archiveLags(statusListing: string, repoListing: string, first: string, last: string): { lags: number[]; missing: string[] } {
    const done = segmentTimes(statusListing);
    const arrived = segmentTimes(repoListing);
    const lags: number[] = [];
    const missing: string[] = [];
    for (let n = segmentNumber(first); n <= segmentNumber(last); n++) {
        const name = segmentName(first.slice(0, 8), n);
        const [from, to] = [done.get(name), arrived.get(name)];
        if (from === undefined || to === undefined) {
            missing.push(name);
        } else {
            lags.push(Math.max(0, to - from));
        }
    }
    return { lags, missing };
}

/**
 * The seconds `npm run backup` reports for the backup it took ("full backup LABEL of STANZA taken on
 * the primary NODE in 12.3 s", or "… taken from the standby NODE (the primary is NODE) in 12.3 s").
 */
export function backupToolSeconds(output: string): number {
    const found = /backup \S+ of \S+ taken (?:on the primary \S+|from the standby \S+ \(the primary is \S+\)) in ([\d.]+) s$/m.exec(output);
    if (!found) {
        throw new Error(`no "taken … in N s" in npm run backup's output:\n${output}`);
    }
    return Number(found[1]);
}

/** The JSON object `npm run verify-backup -- STACK --json` prints last (its log lines on stderr may come before it). */
export function verifyToolResult(output: string): { marker: { found: boolean }; restoreSeconds: number; recoverySeconds: number } {
    const lines = output.split("\n");
    const start = lines.lastIndexOf("{");
    if (start < 0) {
        throw new Error(`no JSON in npm run verify-backup's output:\n${output}`);
    }
    return JSON.parse(lines.slice(start).join("\n"));
}

/** The first column of the first row of SQL on the server at URL, as text. */
export async function queryOne(url: string, sql: string): Promise<string> {
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
        const { rows } = await client.query({ text: sql, rowMode: "array" });
        return String(rows[0][0]);
    } finally {
        await client.end();
    }
}

/**
 * Resolves once every WAL segment the primary at URL has completed is in its archive
 * (pg_stat_archiver.last_archived_wal has reached the segment before the one being written;
 * archive_command returns once pgBackRest has the segment in the repository); rejects after
 * TIMEOUT_MS. Resolves to that last completed segment's name.
 */
export async function archivedUpToNow(url: string, timeoutMs: number): Promise<string> {
    const current = await queryOne(url, "SELECT pg_walfile_name(pg_current_wal_lsn())");
    const last = segmentName(current.slice(0, 8), segmentNumber(current) - 1);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const archived = await queryOne(url, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver");
        if (/^[0-9A-F]{24}/.test(archived) && archived.slice(0, 8) === last.slice(0, 8) && segmentNumber(archived) >= segmentNumber(last)) {
            return last;
        }
        if (Date.now() > deadline) {
            throw new Error(`the archive did not reach ${last} within ${timeoutMs / 1000} s (last archived: ${archived || "none"})`);
        }
        await new Promise((r) => setTimeout(r, 200));
    }
}
