// The benchmark's rows where a cluster grows (issue 22): a steady write load (replay lag and TPS,
// async and quorum sync; a switchover and a failover under it), the steady-state cost of our
// settings against a plain container of the same image, and a clone of a primary holding data;
// and (issue 19) a backup, a restore and the WAL archive of a primary holding data.
// bench/run.ts runs them in its rounds; the plans and each round's steps are here.

import { dockerCli } from "../components/docker-cli";
import { PASSFILE } from "../components/topology/act";
import { missingAcks, runDrill } from "../drill/core";
import { ReadProbe, WriteProbe } from "../drill/probe";
import {
    archivedUpToNow, archiveLags, backupToolSeconds, bareBasebackup, clusterBytes, containerCpuMs, ENGINE, LagSampler, pgbench, pgbenchInit,
    queryOne, verifyToolResult,
} from "./load";
import { scriptOf } from "../components/fragments";
import { derivedImageName, engineSocketPath } from "../components/config";
import { ARCHIVE_TIMEOUT_SECONDS, REPO_PATH } from "../components/pgbackrest";
import { POOLER_PORT } from "../components/pooler";

/** What a round needs from bench/run.ts: its stacks, plans and timings. */
export interface BenchContext {
    /** `pulumi ARGS --stack STACK` with the stack's plan; resolves to its output. */
    pulumi(stack: string, ...args: string[]): Promise<string>;
    writePlan(stack: string, plan: string): void;
    outputs(stack: string): Promise<Record<string, any>>;
    /** `npm run -s SCRIPT -- ARGS` in this project with the bench's backend; resolves to its output (both streams). */
    tool(script: string, ...args: string[]): Promise<string>;
    /** ms of fn. */
    time(fn: () => Promise<unknown>): Promise<number>;
    log(message: string): void;
}

/** pgbench's clients for the load rows, and its scale (one branch row per client: no lock queue on branches). */
export const LOAD_CLIENTS = 16;
const LOAD_SCALE = 16;
/** The data row's pgbench scale: about 2.2 GiB on disk. */
export const DATA_SCALE = 150;

/** Node I's address on a bench plan's network 172.31.NET.0/24. */
const address = (net: number, i: number) => `172.31.${net}.${101 + i}`;

/** Node I (pg1, pg2, ...) of a bench plan on 172.31.NET.0/24, published on PORT + I. */
export const node = (net: number, port: number, i: number) =>
    `    - name: pg${i + 1}\n      address: ${address(net, i)}\n      port: ${port + i}\n`;

/** The load rows' cluster: PostgreSQL 13, three nodes; async, or quorum sync (ANY 1 of the two standbys). */
export function loadPlan(mode: "async" | "sync", primary = "pg1"): string {
    return `config:\n  pg-replication:image: postgres:13\n  pg-replication:subnet: 172.31.80.0/24\n` +
        `  pg-replication:nodes:\n${[0, 1, 2].map((i) => node(80, 56800, i)).join("")}  pg-replication:primary: ${primary}\n` +
        `  pg-replication:mode: ${mode}\n` + (mode === "sync" ? "  pg-replication:syncCount: 1\n" : "");
}

/** The steady-state row's node: our primary alone, with every setting the stack gives it. */
export const SOLO_PLAN = `config:\n  pg-replication:image: postgres:13\n  pg-replication:subnet: 172.31.81.0/24\n` +
    `  pg-replication:nodes:\n${node(81, 56810, 0)}  pg-replication:primary: pg1\n`;

/** The data row's network (172.31.DATA_NET.0/24). */
const DATA_NET = 82;

/** The data row's cluster: pg1 alone, or with pg2 added. */
export function dataPlan(withStandby: boolean): string {
    return `config:\n  pg-replication:image: postgres:13\n  pg-replication:subnet: 172.31.${DATA_NET}.0/24\n` +
        `  pg-replication:nodes:\n${[0, ...(withStandby ? [1] : [])].map((i) => node(DATA_NET, 56820, i)).join("")}` +
        `  pg-replication:primary: pg1\n  pg-replication:mode: async\n`;
}

/** One round of the load rows: what run.ts records. */
export interface LoadRound {
    readonly tps: { async: number; sync: number };
    /** Replay lag samples (ms) of each standby, by mode. */
    readonly lag: { async: Map<string, number[]>; sync: Map<string, number[]> };
    readonly switchover: { downtimeMs: number; lost: number; upMs: number };
    readonly failover: { downtimeMs: number; lost: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measured(url: string, container: string, seconds: number): Promise<{ tps: number; lag: Map<string, number[]> }> {
    const sampler = new LagSampler(url);
    await sampler.start();
    const tps = await pgbench(container, LOAD_CLIENTS, seconds);
    return { tps, lag: await sampler.stop() };
}

/**
 * A round of the load rows on STACK: up (async), pgbench's tables, SECONDS of load measured in
 * async and then in quorum sync; a switchover to pg2 under the same load (the write probe beside
 * pgbench: downtime and acknowledged commits missing on pg2); then, still in quorum sync, the
 * drill's `kill` of pg2 under load (failover to the standby with the most WAL); then destroy.
 */
export async function loadRound(ctx: BenchContext, stack: string, seconds: number): Promise<LoadRound> {
    ctx.writePlan(stack, loadPlan("async"));
    await ctx.pulumi(stack, "up", "--yes");
    let nodes = (await ctx.outputs(stack)).nodes;
    await pgbenchInit(nodes.pg1.containerName, LOAD_SCALE);
    ctx.log(`load: async, ${LOAD_CLIENTS} clients, ${seconds} s`);
    const async = await measured(nodes.pg1.connectionString, nodes.pg1.containerName, seconds);

    ctx.writePlan(stack, loadPlan("sync"));
    await ctx.pulumi(stack, "up", "--yes");
    ctx.log(`load: quorum sync (ANY 1), ${LOAD_CLIENTS} clients, ${seconds} s`);
    const sync = await measured(nodes.pg1.connectionString, nodes.pg1.containerName, seconds);

    ctx.log("load: switchover pg1 → pg2 under load");
    const onPg1 = pgbench(nodes.pg1.containerName, LOAD_CLIENTS, seconds, true);
    const probe = new WriteProbe({ pg1: nodes.pg1.connectionString, pg2: nodes.pg2.connectionString });
    await probe.start();
    await sleep(3000);
    ctx.writePlan(stack, loadPlan("sync", "pg2"));
    const upMs = await ctx.time(() => ctx.pulumi(stack, "up", "--yes"));
    await sleep(1000);
    const switched = await probe.stop();
    await onPg1;
    if (switched.lastNode !== "pg2") {
        throw new Error(`after the switchover under load the probe wrote to ${switched.lastNode}`);
    }
    const switchover = { downtimeMs: switched.downtimeMs, lost: (await missingAcks(nodes.pg2.connectionString, switched.acks)).length, upMs };

    ctx.log("load: failover from pg2 (killed) under load");
    nodes = (await ctx.outputs(stack)).nodes;
    const onPg2 = pgbench(nodes.pg2.containerName, LOAD_CLIENTS, seconds, true);
    await sleep(3000);
    const drill = await runDrill({
        outputs: () => ctx.outputs(stack),
        failover: async (to) => {
            ctx.writePlan(stack, loadPlan("sync", to));
            return ctx.pulumi(stack, "up", "--yes");
        },
        up: () => ctx.pulumi(stack, "up", "--yes"),
    }, "kill", (m) => ctx.log(`drill: ${m}`));
    await onPg2;
    await ctx.pulumi(stack, "destroy", "--yes");
    return {
        tps: { async: async.tps, sync: sync.tps },
        lag: { async: async.lag, sync: sync.lag },
        switchover,
        failover: { downtimeMs: drill.faultToFirstWriteSeconds * 1000, lost: drill.lost },
    };
}

const PLAIN = "pg-replication-bench-plain";

/**
 * The steady-state row: SECONDS of the same load on our primary alone (STACK, SOLO_PLAN) and on a
 * plain `docker run` of the same image with PostgreSQL's defaults (which already are all that
 * replication needs on 13: wal_level replica, max_wal_senders 10), no network (pgbench uses the
 * local socket; trust there, as initdb sets it). Resolves to both TPS.
 */
export async function steadyRound(ctx: BenchContext, stack: string, seconds: number): Promise<{ ours: number; plain: number }> {
    ctx.writePlan(stack, SOLO_PLAN);
    await ctx.pulumi(stack, "up", "--yes");
    const solo = (await ctx.outputs(stack)).nodes.pg1.containerName;
    await pgbenchInit(solo, LOAD_SCALE);
    ctx.log(`steady state: our primary, ${seconds} s`);
    const ours = await pgbench(solo, LOAD_CLIENTS, seconds);
    await ctx.pulumi(stack, "destroy", "--yes");

    await dockerCli(["rm", "-f", "-v", PLAIN], ENGINE);
    const started = await dockerCli(["run", "-d", "--name", PLAIN, "--network", "none", "-e", "POSTGRES_HOST_AUTH_METHOD=trust",
        "postgres:13"], ENGINE, { timeoutMs: 60_000 });
    if (started.err) {
        throw new Error(`docker run of the plain container failed: ${started.stderr}`);
    }
    try {
        // Ready once the real server answers on loopback (the entrypoint's temporary one listens on the socket only).
        const deadline = Date.now() + 120_000;
        while ((await dockerCli(["exec", "-u", "postgres", PLAIN, "pg_isready", "-q", "-h", "127.0.0.1"], ENGINE)).err) {
            if (Date.now() > deadline) {
                throw new Error("the plain container was not ready in 120 s");
            }
            await sleep(200);
        }
        await pgbenchInit(PLAIN, LOAD_SCALE);
        ctx.log(`steady state: plain docker run, ${seconds} s`);
        return { ours, plain: await pgbench(PLAIN, LOAD_CLIENTS, seconds) };
    } finally {
        await dockerCli(["rm", "-f", "-v", PLAIN], ENGINE, { timeoutMs: 60_000 });
    }
}

/** The endpoint rows' network (172.31.ENDPOINT_NET.0/24). */
const ENDPOINT_NET = 83;

/** The endpoint rows' cluster: PostgreSQL 13, two nodes, async, the read-write endpoint on 56839 (read-only on 56838). */
export function endpointPlan(primary = "pg1"): string {
    return `config:\n  pg-replication:image: postgres:13\n  pg-replication:subnet: 172.31.${ENDPOINT_NET}.0/24\n` +
        `  pg-replication:nodes:\n${[0, 1].map((i) => node(ENDPOINT_NET, 56830, i)).join("")}  pg-replication:primary: ${primary}\n` +
        "  pg-replication:endpoints:\n    port: 56839\n    readPort: 56838\n";
}

/** One round of the endpoint rows. */
export interface EndpointRound {
    /** pgbench TPS from the pooler's container: through PgBouncer, and straight to the primary over TCP. */
    readonly tps: { through: number; straight: number };
    /** A switchover under pgbench's load through the endpoint, with the write probe through it too. */
    readonly switchover: { longestStallMs: number; probeErrors: number; pgbenchFailed: boolean; lost: number; upMs: number };
}

/**
 * A round of the endpoint rows on STACK: up; pgbench's tables; SECONDS of load straight to the
 * primary and then through the endpoint, both from the pooler's container over TCP (the same
 * path but for PgBouncer); then a switchover to pg2 with pgbench and the write probe running
 * through the endpoint only: the probe's longest stall and errors, whether pgbench saw an error,
 * acknowledged writes missing on pg2; then destroy.
 */
export async function endpointRound(ctx: BenchContext, stack: string, seconds: number): Promise<EndpointRound> {
    ctx.writePlan(stack, endpointPlan());
    await ctx.pulumi(stack, "up", "--yes");
    const out = await ctx.outputs(stack);
    const pooler: string = out.endpoints.rw.containerName;
    const password = decodeURIComponent(new URL(out.primary.connectionString).password);
    await pgbenchInit(out.nodes.pg1.containerName, LOAD_SCALE);
    ctx.log(`endpoint: straight to pg1 from the pooler's container, ${LOAD_CLIENTS} clients, ${seconds} s`);
    const straight = await pgbench(pooler, LOAD_CLIENTS, seconds, false, { host: address(ENDPOINT_NET, 0), port: 5432, password });
    ctx.log(`endpoint: through PgBouncer, ${LOAD_CLIENTS} clients, ${seconds} s`);
    const endpoint = { host: "127.0.0.1", port: POOLER_PORT, password };
    const through = await pgbench(pooler, LOAD_CLIENTS, seconds, false, endpoint);

    ctx.log("endpoint: switchover pg1 → pg2 under load through the endpoint");
    const load = pgbench(pooler, LOAD_CLIENTS, seconds, true, endpoint);
    const probe = new WriteProbe({ rw: out.endpoints.rw.connectionString }, 60, 30_000);
    await probe.start();
    await sleep(3000);
    ctx.writePlan(stack, endpointPlan("pg2"));
    const upMs = await ctx.time(() => ctx.pulumi(stack, "up", "--yes"));
    await sleep(1000);
    const seen = await probe.stop();
    const pgbenchFailed = Number.isNaN(await load);
    const lost = (await missingAcks(out.nodes.pg2.connectionString, seen.acks)).length;
    await ctx.pulumi(stack, "destroy", "--yes");
    return { tps: { through, straight },
        switchover: { longestStallMs: seen.longestGapMs, probeErrors: seen.errors, pgbenchFailed, lost, upMs } };
}

/** Made once per run before the data rows: pg1 alone, filled with pgbench's tables at DATA_SCALE. */
export async function dataSetUp(ctx: BenchContext, stack: string): Promise<{ bytes: number }> {
    ctx.writePlan(stack, dataPlan(false));
    await ctx.pulumi(stack, "up", "--yes");
    const pg1 = (await ctx.outputs(stack)).nodes.pg1;
    ctx.log(`data: pgbench -i -s ${DATA_SCALE} on pg1 (made once per run)`);
    await pgbenchInit(pg1.containerName, DATA_SCALE);
    return { bytes: await clusterBytes(pg1.connectionString) };
}

/**
 * A round of the data row: the `up` that adds pg2 (a clone of everything pg1 holds), and a bare
 * pg_basebackup of pg1 from pg2's container to the same disk; then pg2 removed again (untimed).
 */
export async function dataRound(ctx: BenchContext, stack: string): Promise<{ upMs: number; bareMs: number }> {
    ctx.writePlan(stack, dataPlan(true));
    const upMs = await ctx.time(() => ctx.pulumi(stack, "up", "--yes"));
    // From pg2's container, as its clone came: the replication role, pg2's passfile, pg1's address on the network.
    const pg2 = (await ctx.outputs(stack)).nodes.pg2;
    const bareMs = await ctx.time(() => bareBasebackup(pg2.containerName,
        `host=${address(DATA_NET, 0)} port=5432 user=repuser passfile=${PASSFILE} application_name=bench-bare`));
    ctx.writePlan(stack, dataPlan(false));
    await ctx.pulumi(stack, "up", "--yes");
    return { upMs, bareMs };
}

/** The roll rows' network (172.31.ROLL_NET.0/24). */
const ROLL_NET = 84;
/** The image the roll rows roll to: the base image of 17 under another id (one more label), as a minor release looks to the roll. */
export const ROLL_IMAGE = "pg-replication-bench/postgres-roll:17";

/** The roll rows' cluster, as the pg17 plan's nodes: PostgreSQL 17, three nodes, quorum sync (ANY 1). */
export function rollPlan(image: string, primary: string): string {
    return `config:\n  pg-replication:image: ${image}\n  pg-replication:subnet: 172.31.${ROLL_NET}.0/24\n` +
        `  pg-replication:nodes:\n${[0, 1, 2].map((i) => node(ROLL_NET, 56840, i)).join("")}  pg-replication:primary: ${primary}\n` +
        "  pg-replication:mode: sync\n  pg-replication:syncCount: 1\n";
}

/** Made once per run before the roll rows: ROLL_IMAGE from postgres:17 with one more label (never pulled). */
export async function rollSetUp(): Promise<void> {
    const r = await dockerCli(["build", "-q", "-t", ROLL_IMAGE, "-"], ENGINE, { timeoutMs: 120_000,
        input: "FROM postgres:17\nLABEL pg-replication.bench=roll\n", env: { ...process.env, DOCKER_BUILDKIT: "0" } });
    if (r.err) {
        throw new Error(`docker build of ${ROLL_IMAGE} from postgres:17 failed: ${r.stderr.trim()}`);
    }
}

/** What the probes saw over one `up`: the longest write gap (any node), the longest time no standby answered a read, the up. */
export interface ProbedUp { readonly upMs: number; readonly writeGapMs: number; readonly readGapMs: number; readonly lost: number }

/**
 * A round of the roll rows on STACK: up on postgres:17 (pg1 primary); then, with the write probe on
 * whichever node is primary and the read probe on the nodes that stay standbys, a plain switchover
 * to pg2; then the roll to ROLL_IMAGE (pg2 stays the declared primary: pg1 and pg3 rolled one at a
 * time, a handover to pg1 and back); acknowledged writes missing on pg2 after each; then destroy.
 */
export async function rollRound(ctx: BenchContext, stack: string): Promise<{ switchover: ProbedUp; roll: ProbedUp }> {
    ctx.writePlan(stack, rollPlan("postgres:17", "pg1"));
    await ctx.pulumi(stack, "up", "--yes");
    const out = await ctx.outputs(stack);
    const urls = Object.fromEntries(["pg1", "pg2", "pg3"].map((n) => [n, out.nodes[n].connectionString as string]));
    const probed = async (plan: string, primary: string, readers: string[]): Promise<ProbedUp> => {
        // The probe's table is made on its first candidate: the primary now.
        const writes = new WriteProbe(Object.fromEntries([primary, ...["pg1", "pg2", "pg3"].filter((n) => n !== primary)]
            .map((n) => [n, urls[n]])), 60, 30_000);
        const reads = new ReadProbe(readers.map((n) => urls[n]));
        await writes.start();
        reads.start();
        await sleep(2000);
        ctx.writePlan(stack, plan);
        const upMs = await ctx.time(() => ctx.pulumi(stack, "up", "--yes"));
        await sleep(1000);
        const w = await writes.stop();
        const r = await reads.stop();
        return { upMs, writeGapMs: w.longestGapMs, readGapMs: r.longestGapMs, lost: (await missingAcks(urls.pg2, w.acks)).length };
    };
    ctx.log("roll: a plain switchover pg1 → pg2 under the probes");
    const switchover = await probed(rollPlan("postgres:17", "pg2"), "pg1", ["pg3"]);
    ctx.log(`roll: ${ROLL_IMAGE} rolled onto the three nodes under the probes`);
    const roll = await probed(rollPlan(ROLL_IMAGE, "pg2"), "pg2", ["pg1", "pg3"]);
    await ctx.pulumi(stack, "destroy", "--yes");
    return { switchover, roll };
}

/**
 * The backup rows' /24, 172.31.BACKUP_NET.0/24: the stack with backups on the lower half (pg1 on
 * 56850, pg2 on 56852); the stack restored from its repository on .192/26 (pg1 on 56851), and with
 * --baseline the baseline's restored stack on .128/26 (pg1 on 56853), so that one left by a round
 * that failed mid-up never collides with the other.
 */
const BACKUP_NET = 86;

/**
 * The backup rows' cluster: pg1 (PostgreSQL 13) with backups on, every setting the stack's own
 * (pgBackRest's settings file, synchronous archive-push, lz4, process-max 2), and pg2 streaming
 * from it, for the backup from a standby; destroy without a proven restore allowed, so that the
 * bench's clean-up never stops at the final backup's check. No scheduler: its own proofs would
 * restore in the middle of a round; the round runs its backup the scheduler's way (schedulerBackup).
 */
/** The backup rows' cluster image. */
const BACKUP_IMAGE = "postgres:13";

export const BACKUP_PLAN = `config:\n  pg-replication:image: ${BACKUP_IMAGE}\n  pg-replication:subnet: 172.31.${BACKUP_NET}.0/25\n` +
    `  pg-replication:nodes:\n${node(BACKUP_NET, 56850, 0)}${node(BACKUP_NET, 56851, 1)}  pg-replication:primary: pg1\n` +
    "  pg-replication:backup:\n    allowUnverifiedDestroy: true\n";

/**
 * A full backup the way the backup scheduler takes it (backup-tools.sh backup_take in a throwaway
 * container of the scheduler image, with the engine's socket and the repository volume mounted and
 * the scheduler's environment), from a streaming standby (FROM_STANDBY) or on the primary; how long
 * it took, which node it read, and the primary container's CPU time meanwhile (its cgroup's).
 */
export async function schedulerBackup(out: Record<string, any>, fromStandby: boolean):
    Promise<{ ms: number; primaryCpuMs: number; source: string }> {
    const pg1 = out.nodes.pg1.containerName as string;
    const labels = await dockerCli(["inspect", "-f", "pg-replication.project={{index .Config.Labels \"pg-replication.project\"}} " +
        "pg-replication.stack={{index .Config.Labels \"pg-replication.stack\"}}", pg1], ENGINE, { timeoutMs: 30_000 });
    // The image backup.schedule would run for the plan's cluster image (the plan has no schedule, so no output names it).
    const image = derivedImageName("scheduler", BACKUP_IMAGE)!;
    const socket = engineSocketPath(ENGINE);
    const args = ["run", "--rm", "--network", "none", "-v", `${socket}:/var/run/docker.sock`, "-v", `${out.backup.volume}:${REPO_PATH}`,
        "-e", `STACK_LABELS=${labels.stdout.trim()}`, "-e", `STANZA=${out.backup.stanza}`, "-e", `REPO_PATH=${REPO_PATH}`,
        "-e", `PRIMARY_CONTAINER=${pg1}`, ...(fromStandby ? ["-e", "FROM_STANDBY=1"] : []),
        "--entrypoint", "sh", image, "-c", scriptOf('backup_take full\necho "source=$BACKUP_SOURCE"')];
    const cpu = await containerCpuMs(pg1);
    const started = Date.now();
    const r = await dockerCli(args, ENGINE, { timeoutMs: 60 * 60 * 1000 });
    const ms = Date.now() - started;
    if (r.err) {
        throw new Error(`the scheduler's full backup${fromStandby ? " from a standby" : ""} failed: ${r.stderr.trim().split("\n").slice(-3).join(" ")}`);
    }
    const source = /source=(\S+)/.exec(r.stdout)?.[1] ?? "?";
    if ((source === pg1) === fromStandby) {
        throw new Error(`the scheduler's full backup${fromStandby ? " from a standby" : " on the primary"} read ${source}: ${r.stderr.trim()}`);
    }
    return { ms, primaryCpuMs: await containerCpuMs(pg1) - cpu, source };
}

/**
 * The restore row's stack: one node, restored from VOLUME's stanza STANZA to the end of its archive
 * (pg-replication:restore); the baseline's on a subnet and port of its own (BACKUP_NET).
 */
export function restorePlan(volume: string, stanza: string, baseline = false): string {
    const [subnet, host, port] = baseline ? [128, 165, 56853] : [192, 229, 56851];
    return `config:\n  pg-replication:image: ${BACKUP_IMAGE}\n  pg-replication:subnet: 172.31.${BACKUP_NET}.${subnet}/26\n` +
        `  pg-replication:nodes:\n    - name: pg1\n      address: 172.31.${BACKUP_NET}.${host}\n      port: ${port}\n` +
        `  pg-replication:primary: pg1\n  pg-replication:restore:\n    volume: ${volume}\n    stanza: ${stanza}\n`;
}

/**
 * Made once per run before the backup rows: STACK's pg1 with backups on (its `up` made the stanza
 * and the first full backup), filled with pgbench's tables at SCALE, every segment that wrote
 * archived before the first round.
 */
export async function backupSetUp(ctx: BenchContext, stack: string, scale: number): Promise<{ bytes: number }> {
    ctx.writePlan(stack, BACKUP_PLAN);
    await ctx.pulumi(stack, "up", "--yes");
    const pg1 = (await ctx.outputs(stack)).nodes.pg1;
    ctx.log(`backup: pgbench -i -s ${scale} on pg1 (made once per run), then its WAL archived`);
    await pgbenchInit(pg1.containerName, scale);
    await archivedUpToNow(pg1.connectionString, 60 * 60 * 1000);
    return { bytes: await clusterBytes(pg1.connectionString) };
}

/** One round of the backup rows (ms unless said). */
export interface BackupRound {
    /** A bare pg_basebackup of pg1 in its own container to that container's filesystem. */
    readonly bareMs: number;
    /** `npm run backup -- STACK full`, the whole command; and the backup as the tool reports it. */
    readonly backupMs: number;
    readonly backupToolMs: number;
    /** A full backup as the scheduler takes it, from pg2 (the standby) and on pg1; and pg1's CPU time during each. */
    readonly standbyBackupMs: number;
    readonly standbyBackupPrimaryCpuMs: number;
    readonly primaryBackupMs: number;
    readonly primaryBackupPrimaryCpuMs: number;
    /** `pulumi up` of the restore stack (pg-replication:restore, one node): restored, recovered, promoted and serving. */
    readonly restoreUpMs: number;
    /** With a baseline restore stack: the same `up` from the baseline's checkout (bench --baseline). */
    readonly baselineRestoreUpMs?: number;
    /** `npm run verify-backup -- STACK --json`, the whole command; and its own `pgbackrest restore` and replay. */
    readonly verifyMs: number;
    readonly verifyRestoreMs: number;
    readonly verifyRecoveryMs: number;
    /** The WAL archive lag of each segment completed under the load (s), and the load's TPS. */
    readonly archiveLagSeconds: number[];
    readonly tps: number;
}

/**
 * A round of the backup rows: a bare pg_basebackup of STACK's pg1 (`-X stream -c fast`, plain,
 * from pg1's own container to its address on the network, into that container's filesystem, on the disk that
 * holds the repository volume) and a full backup with `npm run backup -- STACK full` (pgBackRest
 * on pg1, as the stack's settings file has it), in the order BARE_FIRST says; a full backup the
 * scheduler's way from pg2 and on pg1 (schedulerBackup), likewise; then RESTORE_STACK
 * made from that backup (`pulumi up`, then destroyed, untimed); then `npm run verify-backup`;
 * then SECONDS of pgbench's write load on pg1 with its WAL archive lag.
 */
export async function backupRound(ctx: BenchContext, stack: string, restoreStack: string, seconds: number, bareFirst: boolean,
    baselineRestoreStack?: string): Promise<BackupRound> {
    const out = await ctx.outputs(stack);
    const pg1 = out.nodes.pg1;
    // From pg1's own container (where pgBackRest runs) to its own address: pg_hba.conf admits the
    // replication role from each node's address only (the socket's `local all` rule does not
    // cover replication); pg1's passfile, as the data row's clone uses pg2's.
    const bare = () => ctx.time(() => bareBasebackup(pg1.containerName,
        `host=${address(BACKUP_NET, 0)} port=5432 user=repuser passfile=${PASSFILE} application_name=bench-bare`));
    let backupToolMs = 0;
    const backup = () => ctx.time(async () => {
        backupToolMs = backupToolSeconds(await ctx.tool("backup", stack, "full")) * 1000;
    });
    ctx.log(`backup: ${bareFirst ? "bare pg_basebackup, then npm run backup -- full" : "npm run backup -- full, then bare pg_basebackup"}`);
    let bareMs: number;
    let backupMs: number;
    if (bareFirst) {
        bareMs = await bare();
        backupMs = await backup();
    } else {
        backupMs = await backup();
        bareMs = await bare();
    }

    // The scheduler's way, from the standby and on the primary, in the same alternating order.
    ctx.log(`backup: the scheduler's full backup ${bareFirst ? "from the standby, then on the primary" : "on the primary, then from the standby"}`);
    const fromStandby = bareFirst ? await schedulerBackup(out, true) : undefined;
    const onPrimary = await schedulerBackup(out, false);
    const standby = fromStandby ?? await schedulerBackup(out, true);

    // The same restore from the baseline's checkout too (one after the other, each at its own address), first in even rounds.
    const restoreUp = async (name: string) => {
        ctx.log(`backup: ${name} restored from ${out.backup.volume} (pulumi up)`);
        ctx.writePlan(name, restorePlan(out.backup.volume, out.backup.stanza, name === baselineRestoreStack));
        const ms = await ctx.time(() => ctx.pulumi(name, "up", "--yes"));
        await ctx.pulumi(name, "destroy", "--yes");
        return ms;
    };
    const baselineFirst = baselineRestoreStack && !bareFirst ? await restoreUp(baselineRestoreStack) : undefined;
    const restoreUpMs = await restoreUp(restoreStack);
    const baselineRestoreUpMs = baselineFirst ?? (baselineRestoreStack ? await restoreUp(baselineRestoreStack) : undefined);

    ctx.log("backup: npm run verify-backup");
    let verified: ReturnType<typeof verifyToolResult> | undefined;
    const verifyMs = await ctx.time(async () => {
        verified = verifyToolResult(await ctx.tool("verify-backup", stack, "--json"));
    });
    if (!verified!.marker.found) {
        throw new Error("verify-backup's restore lacks the marker written before it");
    }

    ctx.log(`backup: WAL archive lag under pgbench (${LOAD_CLIENTS} clients, ${seconds} s)`);
    const lag = await archiveLagUnderLoad(pg1.containerName, pg1.connectionString, out.backup.stanza, seconds);
    return { bareMs, backupMs, backupToolMs, standbyBackupMs: standby.ms, standbyBackupPrimaryCpuMs: standby.primaryCpuMs,
        primaryBackupMs: onPrimary.ms, primaryBackupPrimaryCpuMs: onPrimary.primaryCpuMs, restoreUpMs,
        ...(baselineRestoreUpMs === undefined ? {} : { baselineRestoreUpMs }), verifyMs, verifyRestoreMs: verified!.restoreSeconds * 1000,
        verifyRecoveryMs: verified!.recoverySeconds * 1000, archiveLagSeconds: lag.lags, tps: lag.tps };
}

/**
 * SECONDS of pgbench's write load on the primary CONTAINER (URL), with the WAL archive lag of
 * every segment completed under it: its archive-status file's mtime (the segment's completion,
 * listed every half second while the load runs, as a checkpoint may remove it afterwards) to
 * the mtime of its file in the repository (listed once every completed segment is archived).
 * pgBackRest's archive-push writes that file with no modification time of its own
 * (src/command/archive/push/file.c: storageNewWriteP without timeModified), into a temporary
 * file renamed into place, so its mtime is when its last byte was written, just before it is
 * there to restore.
 */
async function archiveLagUnderLoad(container: string, url: string, stanza: string, seconds: number): Promise<{ lags: number[]; tps: number }> {
    const statusDir = "/var/lib/postgresql/data/pgdata/pg_wal/archive_status";
    const listStatus = `find "$1" -maxdepth 1 \\( -name '*.ready' -o -name '*.done' \\) -printf '%f %T@\\n'`;
    const first = await queryOne(url, "SELECT pg_walfile_name(pg_current_wal_lsn())");
    const watch = dockerCli(["exec", "-u", "postgres", container, "sh", "-c",
        `end=$(($(date +%s) + $0)); while :; do ${listStatus}; [ "$(date +%s)" -lt "$end" ] || break; sleep 0.5; done`,
        String(seconds + 2), statusDir], ENGINE, { timeoutMs: (seconds + 60) * 1000 });
    const tps = await pgbench(container, LOAD_CLIENTS, seconds);
    const watched = await watch;
    if (watched.err) {
        throw new Error(`listing ${statusDir} in ${container} failed: ${watched.stderr.trim()}`);
    }
    const last = await archivedUpToNow(url, (ARCHIVE_TIMEOUT_SECONDS + 120) * 1000);
    const listed = await dockerCli(["exec", "-u", "postgres", container, "sh", "-c",
        `${listStatus}; echo --repository--; find "$2" -type f -printf '%f %T@\\n'`, "list", statusDir, `${REPO_PATH}/archive/${stanza}`], ENGINE,
    { timeoutMs: 60_000 });
    if (listed.err) {
        throw new Error(`listing the archive in ${container} failed: ${listed.stderr.trim()}`);
    }
    const [statusNow, repo] = listed.stdout.split("--repository--\n");
    const { lags, missing } = archiveLags(`${watched.stdout}\n${statusNow}`, repo ?? "", first, last);
    if (missing.length > 0 || lags.length === 0) {
        throw new Error(`WAL segments ${first}–${last} completed under the load; ${missing.length ? `not found completed and ` +
            `in the repository: ${missing.join(", ")}` : "none"}`);
    }
    return { lags, tps };
}

/** The major rows' network (172.31.MAJOR_NET.0/24), nodes published on 56860-56862. */
const MAJOR_NET = 87;

/** The major rows' cluster: IMAGE, three nodes, quorum sync (ANY 1), as the pg17 plan's. */
export function majorPlan(image: string): string {
    return `config:\n  pg-replication:image: ${image}\n  pg-replication:subnet: 172.31.${MAJOR_NET}.0/24\n` +
        `  pg-replication:nodes:\n${[0, 1, 2].map((i) => node(MAJOR_NET, 56860, i)).join("")}  pg-replication:primary: pg1\n` +
        "  pg-replication:mode: sync\n  pg-replication:syncCount: 1\n";
}

/** One round of the major rows (ms unless said). */
export interface MajorRound {
    readonly bytes: number;
    /** A bare initdb and pg_upgrade --link of a copy of the same data, in the upgrade image. */
    readonly bareMs: number;
    /** The whole `pulumi up` that upgrades the cluster from 13 to 17. */
    readonly upMs: number;
    /** The write probe's longest gap over that up: the write downtime. */
    readonly writeGapMs: number;
    readonly lost: number;
}

/**
 * A round of the major rows on STACK: three nodes on PostgreSQL 13 with pgbench's tables at SCALE;
 * a bare upgrade of the same data (a pg_basebackup of pg1 from pg3's container into pg3's volume
 * beside its cluster, started and stopped once by 13 so that it is a cleanly shut down primary,
 * then initdb and pg_upgrade --link on it in the upgrade image, as upgrade_data runs them; removed
 * after); then `image: postgres:17` (`pulumi up`) under the write probe; acknowledged writes
 * missing on pg1 counted; destroy.
 */
export async function majorRound(ctx: BenchContext, stack: string, scale: number): Promise<MajorRound> {
    ctx.writePlan(stack, majorPlan("postgres:13"));
    await ctx.pulumi(stack, "up", "--yes");
    const out = await ctx.outputs(stack);
    const urls = Object.fromEntries(["pg1", "pg2", "pg3"].map((n) => [n, out.nodes[n].connectionString as string]));
    ctx.log(`major: pgbench -i -s ${scale} on pg1`);
    await pgbenchInit(out.nodes.pg1.containerName, scale);
    const bytes = await clusterBytes(urls.pg1);

    const pg3 = out.nodes.pg3.containerName as string;
    const copy = "/var/lib/postgresql/data/bench-bare";
    const volume = `${pg3}-data`;
    const inUpgradeImage = (image: string, sh: string, timeoutMs = 10 * 60 * 1000) => dockerCli(["run", "--rm", "--network", "none",
        "-u", "postgres", "-v", `${volume}:/var/lib/postgresql/data`, "--entrypoint", "/bin/sh", image, "-c", sh], ENGINE, { timeoutMs });
    const must = async (what: string, r: Promise<{ err: Error | null; stderr: string }>) => {
        const done = await r;
        if (done.err) {
            throw new Error(`major: ${what} failed: ${done.stderr.trim()}`);
        }
    };
    ctx.log("major: a copy of pg1's data beside pg3's cluster, made a cleanly shut down primary by 13");
    await must("the copy", dockerCli(["exec", "-u", "postgres", pg3, "sh", "-c", `rm -rf ${copy} && pg_basebackup -d ` +
        `'host=${address(MAJOR_NET, 0)} port=5432 user=repuser passfile=${PASSFILE} application_name=bench-bare' -D ${copy} -X stream -c fast`],
    ENGINE, { timeoutMs: 30 * 60 * 1000 }));
    await must("13's start and stop of the copy", inUpgradeImage("postgres:13", `set -e; rm -f ${copy}/standby.signal; ` +
        `pg_ctl -D ${copy} -w -t 600 -o "-c listen_addresses='' -c unix_socket_directories=/tmp -c archive_mode=off" start >/dev/null; ` +
        `pg_ctl -D ${copy} -w -m fast stop >/dev/null`));
    const upgradeImage = "pg-replication/postgres-upgrade:13-17";
    ctx.log(`major: bare initdb and pg_upgrade --link of the copy in ${upgradeImage}`);
    const bareMs = await ctx.time(() => must("the bare pg_upgrade", inUpgradeImage(upgradeImage, `set -e; cd /tmp; rm -rf ${copy}.17; ` +
        `/usr/lib/postgresql/17/bin/initdb -D ${copy}.17 -U postgres --auth-local=peer --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null; ` +
        `/usr/lib/postgresql/17/bin/pg_upgrade --link -b /usr/lib/postgresql/13/bin -B /usr/lib/postgresql/17/bin -d ${copy} -D ${copy}.17 ` +
        "-U postgres >/dev/null")));
    await must("removing the copy", inUpgradeImage(upgradeImage, `rm -rf ${copy} ${copy}.17`));

    const writes = new WriteProbe(urls, 60, 60_000);
    await writes.start();
    await sleep(2000);
    ctx.log("major: image postgres:17 (pulumi up) under the write probe");
    ctx.writePlan(stack, majorPlan("postgres:17"));
    let upMs: number;
    try {
        upMs = await ctx.time(() => ctx.pulumi(stack, "up", "--yes"));
    } catch (e) {
        await writes.stop().catch(() => undefined);
        throw e;
    }
    await sleep(1000);
    const w = await writes.stop();
    const lost = (await missingAcks(urls.pg1, w.acks)).length;
    await ctx.pulumi(stack, "destroy", "--yes");
    return { bytes, bareMs, upMs, writeGapMs: w.longestGapMs, lost };
}
