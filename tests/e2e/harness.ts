// End-to-end plumbing: the real Pulumi engine through the Automation API (inline program = the
// same declareCluster the CLI runs; each operation in its own process, see driver.ts), a
// file:// backend in a temporary folder, a Postgres client from outside, and `docker` to look at
// what is left behind.

import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Client } from "pg";
import { after, before, describe } from "node:test";
import { targetFromOutputs, verifyRestore } from "../../backup/core";
import type { DrillStack } from "../../drill/core";
import type { ProbeResult, WriteProbe } from "../../drill/probe";
import { createHostSet, HostSet, HostSetOptions, TestHost } from "../support/hosts";
import { removeStackObjects } from "../support/docker-objects";
import { timed as timedIn } from "../support/timed";

export interface E2EStack {
    name: string;
    /** The stack's file:// backend folder (for tools pointed at it with PULUMI_BACKEND_URL). */
    backend: string;
    /** Timed `up`; the timing is printed. Rejects with the engine's message on failure. */
    up(): Promise<{ summary: { resourceChanges?: Record<string, number> }; stdout: string }>;
    /** `pulumi refresh`: state read back from Docker and PostgreSQL through the providers. */
    refresh(): Promise<{ summary: { resourceChanges?: Record<string, number> } }>;
    preview(expectNoChanges?: boolean): Promise<{ changes: Record<string, number> }>;
    destroy(): Promise<void>;
    destroyAndRemove(): Promise<void>;
    /** Removes the stack and its backend without a destroy (for stacks that made nothing). */
    removeOnly(): Promise<void>;
    setConfig(values: Record<string, unknown>): Promise<void>;
    outputs(): Promise<Record<string, any>>;
    /** The types of the resources the stack's state holds. */
    resourceTypes(): Promise<string[]>;
    /** `pulumi state delete --target-dependents URN` through the CLI; its output. */
    stateDelete(urn: string): Promise<string>;
}

/**
 * One suite per case, the suites side by side and the tests within each one after another: for
 * suites that mostly wait on the clock (a backup's due time, an archive bound), each with its own
 * stack, subnet, ports and repository, so that CI's time is not the sum of their waits.
 */
export function sideBySide<T>(cases: readonly T[], title: (c: T) => string, options: { timeout: number }, body: (c: T) => void): void {
    describe(`side by side: ${cases.map(title).join("; ")}`, { concurrency: cases.length }, () => {
        for (const c of cases) {
            // concurrency 1: a suite's tests would otherwise take the one above and run at once.
            describe(title(c), { ...options, concurrency: 1 }, () => body(c));
        }
    });
}

export function log(message: string): void {
    process.stderr.write(`[e2e] ${message}\n`);
}

const DRIVER = path.join(__dirname, "driver.js");

function drive(op: string, stack: string, backend: string, config?: Record<string, unknown>, ...more: string[]): Promise<any> {
    const args = [DRIVER, op, stack, backend, ...(config ? [JSON.stringify(config)] : []), ...more];
    return new Promise((resolve, reject) => {
        execFile(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
            const line = stdout.trim().split("\n").pop() ?? "";
            let result: any;
            try {
                result = JSON.parse(line);
            } catch {
                reject(new Error(`driver ${op} ${stack} gave no result (${err?.message ?? "no error"}):\n${stderr}`));
                return;
            }
            if (result.ok) {
                resolve(result);
            } else {
                reject(new Error(result.error));
            }
        });
    });
}

const timed = <T>(what: string, fn: () => Promise<T>) => timedIn("e2e", what, fn);

/** A stack of the cluster program, with its own file:// backend in a temporary folder. */
export async function e2eStack(name: string, config: Record<string, unknown>, opts: { keep?: readonly string[] } = {}): Promise<E2EStack> {
    // Each run's state lives in a new backend, so what an earlier run of this stack left on Docker
    // when it was killed midway (seen in CI: its network made the next `up` fail "already exists")
    // is in no state: removed here by the stack's label, and said; except what KEEP names
    // ("volume NAME"), which a test left on purpose.
    const left = removeStackObjects(name, opts.keep);
    if (left.length > 0) {
        console.log(`[e2e] WARNING: removed ${left.length} Docker object(s) of stack ${name} left by an earlier, interrupted run: ${left.join(", ")}`);
    }
    const backend = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-e2e-"));
    // Stack config lives in the workspace folder, which each driver process makes anew, so the
    // whole config travels with every operation.
    let current: Record<string, unknown> = { ...config };
    const take = () => current;
    const cleanup = () => fs.rmSync(backend, { recursive: true, force: true });
    return {
        name,
        backend,
        up: () => timed(`up ${name}`, () => drive("up", name, backend, take())),
        refresh: () => timed(`refresh ${name}`, () => drive("refresh", name, backend, take())),
        preview: (expectNoChanges = false) => drive(expectNoChanges ? "preview-no-changes" : "preview", name, backend, take()),
        async destroy() {
            await timed(`destroy ${name}`, () => drive("destroy", name, backend, take()));
        },
        async destroyAndRemove() {
            try {
                await timed(`destroy ${name}`, () => drive("destroy", name, backend, take()));
                await drive("rm", name, backend, undefined);
            } finally {
                cleanup();
            }
        },
        async removeOnly() {
            try {
                await drive("rm", name, backend, take());
            } finally {
                cleanup();
            }
        },
        async setConfig(values) {
            current = { ...current, ...values };
        },
        async outputs() {
            return (await drive("outputs", name, backend, take())).outputs;
        },
        async resourceTypes() {
            return (await drive("outputs", name, backend, take())).resourceTypes;
        },
        async stateDelete(urn) {
            return (await drive("state-delete", name, backend, take(), urn)).stdout;
        },
    };
}

/**
 * A stack on the default engine: PostgreSQL MAJOR, COUNT nodes pg1.. at 172.28.NET.101.. on host
 * ports PORTBASE.., pg1 the primary, every readiness bound 60 s; EXTRA keys on top.
 */
export function oneEnginePlan(major: 13 | 17, net: number, portBase: number, count: number, extra: Record<string, unknown> = {}) {
    return {
        image: `postgres:${major}`,
        subnet: `172.28.${net}.0/24`,
        nodes: Array.from({ length: count }, (_, i) => ({ name: `pg${i + 1}`, address: `172.28.${net}.${101 + i}`, port: portBase + i })),
        primary: "pg1",
        readyTimeoutSeconds: "60",
        ...extra,
    };
}

/** Every file under DIR (a stack's backend, say), as text: for checks that a secret is nowhere plain in it. */
export function filesUnder(dir: string): string {
    return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
        .map((e) => fs.readFileSync(path.join(e.parentPath, e.name), "utf8")).join("\n");
}

/** Runs fn with a connected client; the URL comes from the stack's (secret) outputs. */
export async function withClient<T>(url: string, fn: (c: Client) => Promise<T>, database?: string): Promise<T> {
    const u = new URL(url);
    if (database) {
        u.pathname = `/${database}`;
    }
    const client = new Client({ connectionString: u.toString(), connectionTimeoutMillis: 10_000 });
    await client.connect();
    try {
        return await fn(client);
    } finally {
        await client.end();
    }
}

export async function rows(url: string, sql: string, database?: string): Promise<any[]> {
    return withClient(url, async (c) => (await c.query(sql)).rows, database);
}

/**
 * Runs ACT with PROBE writing from 1.5 s before it to 1.5 s after it: what ACT returned, how long
 * it took, and what the probe saw. When ACT fails, the probe is stopped before the failure goes on.
 */
export async function underWriteProbe<T>(probe: WriteProbe, act: () => Promise<T>): Promise<{ value: T; seconds: number; writes: ProbeResult }> {
    const settle = () => new Promise((r) => setTimeout(r, 1500));
    await probe.start();
    await settle();
    const started = Date.now();
    const value = await act().catch(async (e: unknown) => {
        await probe.stop().catch(() => undefined);
        throw e;
    });
    const seconds = (Date.now() - started) / 1000;
    await settle();
    return { value, seconds, writes: await probe.stop() };
}

/** Polls until ok(value) or the bound runs out; returns the last value (or throws the probe's last error). */
export async function eventually<T>(seconds: number, probe: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
    const deadline = Date.now() + seconds * 1000;
    // A probe that fails (a table a standby has not replayed yet, a node restarting) is a "not yet"
    // until the bound; then its last error is the answer.
    const attempt = () => probe().then((value) => ({ value }), (error: unknown) => ({ error }));
    let last = await attempt();
    while (!("value" in last && ok(last.value)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        last = await attempt();
    }
    if ("error" in last) {
        throw last.error;
    }
    return last.value;
}

/**
 * What the archive fault tests write through a fault: rows FROM+1 .. FROM+N, each in its own
 * transaction (INSERT gives the statement for an id), then the WAL segment switched so that it
 * must be archived. Returns the new count.
 */
export async function writeSwitched(url: string, insert: (id: number) => string, from: number, n: number): Promise<number> {
    for (let id = from + 1; id <= from + n; id++) {
        await rows(url, insert(id));
    }
    await rows(url, "SELECT pg_switch_wal()");
    return from + n;
}

/**
 * After an archive fault is cleared: archiving caught up by itself (status: nothing failing,
 * nothing waiting, within SECONDS), then a restore proven (backup/core.ts verifyRestore, which
 * writes its marker now) that replays across the window to that marker and has every one of the
 * WRITTEN rows.
 */
export async function provenAcrossWindow(s: E2EStack, name: string, written: number, seconds = 180): Promise<void> {
    const report = async () => JSON.parse((await status(s.backend, name, "--json")).stdout);
    const healed = await eventually(seconds, report, (r) => r.archive?.failing === null && r.archive?.ready === 0);
    log(`archiving caught up: last ${healed.archive.lastArchived.wal}`);
    assert.deepEqual(healed.warnings.filter((w: { code: string }) => w.code === "archive-failing"), []);
    const r = await verifyRestore(targetFromOutputs(name, await s.outputs()), { timeoutSeconds: 300, log });
    log(`verified restore: backup ${r.backup}, replayed in ${r.recoverySeconds.toFixed(1)} s, ${r.rows} rows read`);
    assert.equal(r.marker.found, true, "the restore replayed across the window to the marker written after it");
    assert.ok(r.rows >= written, `every row written before the marker is in the restore: ${r.rows} rows read, ${written} written`);
}

/** Waits until a standby has replayed everything the primary has written so far. */
/** Each node's connection string (a stack's `nodes` output), by node name. */
export async function nodeUrls(s: Pick<E2EStack, "outputs">): Promise<Record<string, string>> {
    return Object.fromEntries(Object.entries((await s.outputs()).nodes).map(([n, o]) => [n, (o as { connectionString: string }).connectionString]));
}

export async function caughtUp(primaryUrl: string, standbyUrl: string): Promise<void> {
    const [{ lsn }] = await rows(primaryUrl, "SELECT pg_current_wal_lsn()::text AS lsn");
    const replayed = await eventually(30, () => rows(standbyUrl,
        `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn AS done`), (r) => r[0].done === true);
    if (replayed[0].done !== true) {
        throw new Error(`standby did not replay up to ${lsn} within 30 s`);
    }
}

export { containerLog, docker, identity, stackObjects as leftovers } from "../support/docker-objects";

/** The drill's view of an e2e stack (drill/core.ts): failover = set the primary and up. */
export function drillStack(s: E2EStack): DrillStack {
    return {
        outputs: () => s.outputs(),
        async failover(to) {
            await s.setConfig({ primary: to });
            return (await s.up()).stdout;
        },
        async up() {
            return (await s.up()).stdout;
        },
    };
}

/** pg1..pgN, one on each test host: cluster subnet 172.28.NET.0/24, ports PORT.. published on each host's address. */
export function planOnHosts(hosts: readonly TestHost[], opts: { net: number; port: number; primary?: string;
    hostAddresses?: readonly string[]; readyTimeoutSeconds?: string }): Record<string, unknown> {
    return {
        image: "postgres:13",
        subnet: `172.28.${opts.net}.0/24`,
        nodes: hosts.map((h, i) => ({
            name: `pg${i + 1}`, address: `172.28.${opts.net}.${101 + i}`, port: opts.port + i, host: h.dockerHost,
            hostAddress: opts.hostAddresses?.[i] ?? h.address,
        })),
        primary: opts.primary ?? "pg1",
        ...(opts.readyTimeoutSeconds ? { readyTimeoutSeconds: opts.readyTimeoutSeconds } : {}),
    };
}

/**
 * For a describe() on test hosts of its own: the host set and the stack are made in before() and
 * removed in after() — every host restored first (a test may have lost one), the stack destroyed
 * (or, with `removeOnly`, only removed: for stacks that made nothing), then the hosts torn down.
 */
export function stackOnHosts(hosts: HostSetOptions, name: string, config: (hosts: readonly TestHost[]) => Record<string, unknown>,
    opts: { removeOnly?: boolean } = {}): { readonly set: HostSet; readonly stack: E2EStack } {
    const made = {} as { set: HostSet; stack: E2EStack };
    before(async () => {
        made.set = await createHostSet(hosts);
        made.stack = await e2eStack(name, config(made.set.hosts));
    });
    after(async () => {
        made.set?.hosts.forEach((h) => { try { h.restore(); } catch { /* never lost */ } });
        try {
            await (opts.removeOnly ? made.stack?.removeOnly() : made.stack?.destroyAndRemove());
        } finally {
            await made.set?.teardown();
        }
    });
    return made;
}

/** What one of our tools (`npm run status`, `npm run backup`: the built bin/<tool>/main.js) printed, its exit code and how long it took. */
export interface StatusRun { code: number; stdout: string; stderr: string; ms: number }

/** Runs bin/TOOL/main.js with ARGS (the stack's name first) on a backend, as a user would with PULUMI_BACKEND_URL; bounded. */
function runTool(tool: "status" | "backup", timeoutMs: number, backend: string, args: string[]): Promise<StatusRun> {
    const root = path.resolve(__dirname, "..", "..", "..");
    const started = Date.now();
    return new Promise((resolve) => {
        execFile(process.execPath, [path.join(root, "bin", tool, "main.js"), ...args, "--cwd", root], {
            env: { ...process.env, PULUMI_BACKEND_URL: `file://${backend}`, PULUMI_CONFIG_PASSPHRASE: "e2e-only-passphrase" },
            timeout: timeoutMs,
        }, (err, stdout, stderr) => {
            const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1) : 0;
            resolve({ code, stdout, stderr, ms: Date.now() - started });
        });
    });
}

/** `npm run status -- ARGS`. */
export function status(backend: string, ...args: string[]): Promise<StatusRun> {
    return runTool("status", 60_000, backend, args);
}

/** `npm run backup -- ARGS` (`--verify` for `npm run verify-backup`). */
export function backupTool(backend: string, ...args: string[]): Promise<StatusRun> {
    return runTool("backup", 600_000, backend, args);
}
