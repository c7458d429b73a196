// A sequence-numbered write probe (used by the drill, the switchover and failover tests, and the
// benchmark): one connection at a time, inserting 1, 2, 3, ... into a
// table of its own and recording each commit the server acknowledged, with its time and the node
// that acknowledged it. When a write fails (the primary stopping, a standby refusing writes), it
// moves on to the next candidate URL, with a bounded retry, so it follows a switchover to the new
// primary by itself. What it measures: acknowledged commits (to be found on the new primary) and
// the write downtime (last acknowledged write on one node to the first on another).

import { Client } from "pg";

export interface Ack {
    readonly seq: number;
    readonly at: number;
    readonly node: string;
}

export interface ProbeResult {
    readonly acks: readonly Ack[];
    /** Failed attempts, for the log. */
    readonly errors: number;
    /** Longest gap between two acknowledged writes on different nodes (ms); 0 when all went to one node. */
    readonly downtimeMs: number;
    /** The node that acknowledged the last write. */
    readonly lastNode: string | undefined;
    /** Longest gap between two consecutive acknowledged writes (ms), wherever they went: through an endpoint, its stall. */
    readonly longestGapMs: number;
}

export const PROBE_TABLE = "switchover_probe";
/** The table of a second probe that writes only through the stack's read-write endpoint (the drill's). */
export const ENDPOINT_PROBE_TABLE = "switchover_probe_endpoint";

export class WriteProbe {
    private stopped = false;
    private readonly acks: Ack[] = [];
    private errors = 0;
    private running: Promise<void> | undefined;

    /**
     * candidates: node name → connection URL; the first is where writes start. queryTimeoutMs
     * bounds one INSERT: a paused primary holds it until then (the drill keeps it short).
     */
    constructor(private readonly candidates: Record<string, string>, private readonly retrySeconds = 60,
        private readonly queryTimeoutMs = 10_000, private readonly table = PROBE_TABLE) {}

    async start(): Promise<void> {
        const [first] = Object.values(this.candidates);
        const c = new Client({ connectionString: first, connectionTimeoutMillis: 5000 });
        // A server that ends the session later (a shutdown) must not crash the process: the error is the query's to report.
        c.on("error", () => undefined);
        try {
            await c.connect();
            await c.query(`CREATE TABLE IF NOT EXISTS ${this.table} (seq bigint PRIMARY KEY, node text, at timestamptz DEFAULT now())`);
            const { rows } = await c.query(`SELECT coalesce(max(seq), 0)::bigint AS last FROM ${this.table}`);
            this.begin(Number(rows[0].last) + 1);
        } finally {
            await c.end().catch(() => undefined);
        }
    }

    /**
     * The writing loop from FIRSTSEQ, its failure (no writable node within retrySeconds) kept for
     * stop(): until then nothing awaits it, and an unhandled rejection would end the process with
     * the drill's fault still in place.
     */
    protected begin(firstSeq: number): void {
        this.running = this.loop(firstSeq);
        this.running.catch(() => undefined);
    }

    protected async loop(firstSeq: number): Promise<void> {
        const names = Object.keys(this.candidates);
        let i = 0;
        let seq = firstSeq;
        let failingSince: number | undefined;
        while (!this.stopped) {
            const node = names[i % names.length];
            const client = new Client({ connectionString: this.candidates[node], connectionTimeoutMillis: 2000,
                query_timeout: this.queryTimeoutMs });
            try {
                await client.connect();
                client.on("error", () => undefined);
                while (!this.stopped) {
                    await client.query(`INSERT INTO ${this.table} (seq, node) VALUES ($1, $2)`, [seq, node]);
                    this.acks.push({ seq, at: Date.now(), node });
                    seq++;
                    failingSince = undefined;
                }
            } catch {
                this.errors++;
                // A failed INSERT may have committed or not: that sequence number is never reused.
                seq++;
                failingSince ??= Date.now();
                if (Date.now() - failingSince > this.retrySeconds * 1000) {
                    throw new Error(`the probe found no writable node for ${this.retrySeconds} s`);
                }
                i++;
                await new Promise((r) => setTimeout(r, 50));
            } finally {
                await client.end().catch(() => undefined);
            }
        }
    }

    /** What was acknowledged so far, while it keeps writing. */
    peek(): readonly Ack[] {
        return this.acks;
    }

    /** Stops writing and returns what was acknowledged. */
    async stop(): Promise<ProbeResult> {
        this.stopped = true;
        await this.running;
        let downtimeMs = 0;
        let longestGapMs = 0;
        for (let k = 1; k < this.acks.length; k++) {
            const gap = this.acks[k].at - this.acks[k - 1].at;
            longestGapMs = Math.max(longestGapMs, gap);
            if (this.acks[k].node !== this.acks[k - 1].node) {
                downtimeMs = Math.max(downtimeMs, gap);
            }
        }
        return { acks: [...this.acks], errors: this.errors, downtimeMs, lastNode: this.acks.at(-1)?.node, longestGapMs };
    }
}

/**
 * A read probe beside the write probe: a read (`SELECT 1`, a new connection each time, 1 s bounds)
 * on each URL every 100 ms, each URL in a loop of its own so one that hangs does not hold the
 * others back. What it measures: the longest time no URL answered a read.
 */
export class ReadProbe {
    private stopped = false;
    private lastOk = Date.now();
    private longestGapMs = 0;
    private reads = 0;
    private loop?: Promise<void>;
    constructor(private readonly urls: readonly string[]) {}

    private async read(url: string): Promise<void> {
        const c = new Client({ connectionString: url, connectionTimeoutMillis: 1000, query_timeout: 1000 });
        c.on("error", () => undefined);
        try {
            await c.connect();
            await c.query("SELECT 1");
            const now = Date.now();
            this.longestGapMs = Math.max(this.longestGapMs, now - this.lastOk);
            this.lastOk = now;
            this.reads++;
        } catch {
            // Not answering: the gap grows.
        } finally {
            await c.end().catch(() => undefined);
        }
    }

    start(): void {
        this.lastOk = Date.now();
        this.loop = Promise.all(this.urls.map(async (url) => {
            while (!this.stopped) {
                await Promise.all([this.read(url), new Promise((r) => setTimeout(r, 100))]);
            }
        })).then(() => undefined);
    }

    async stop(): Promise<{ reads: number; longestGapMs: number }> {
        this.stopped = true;
        await this.loop;
        return { reads: this.reads, longestGapMs: Math.max(this.longestGapMs, Date.now() - this.lastOk) };
    }
}
