// `npm run bench [-- ROUNDS]`: the user's path against the tutorial's own steps, interleaved in
// one run and reported as ratios (absolute seconds depend on the machine; ratios from one run do
// not). Each round runs, in this order:
//   tutorial   bench/tutorial.sh up, then down (the docker CLI, as the tutorial does it by hand)
//   dev        `pulumi up --yes` of the dev plan (CLI + language host on this project), a no-op
//              `pulumi up --yes` (also with the program through ts-node, as before pulumi-entry.js),
//              `pulumi preview`, then `pulumi destroy --yes`
//              between the no-op up and the destroy, two switchovers (pg1 → pg2, then back) under
//              the write probe (drill/probe.ts): the write downtime (last
//              acknowledged write on the old primary to the first on the new one) and the `up`
//   pg17       `pulumi up --yes` and `pulumi destroy --yes` of the pg17 plan (three nodes)
//   empty      `pulumi up --yes` of a project with no resource (bench/empty-project): the engine's
//              and the language host's fixed cost
//   standbys   `pulumi up --yes` of a primary with 1, 2, 4 and 6 standbys on this engine (each
//              followed by an untimed destroy): what one more standby costs when the clones run
//              side by side
//   load       a cluster of three (PostgreSQL 13): pgbench's write load (16 clients, --load-seconds,
//              60 by default) on the primary, with each standby's replay lag sampled, in async and
//              in quorum sync (ANY 1); a switchover under that load beside the write probe; the
//              drill's `kill` of the primary under that load (a failover in quorum sync); and the
//              same load on our primary alone against a plain `docker run` of the image (bench/scale.ts)
//   endpoint   two nodes (PostgreSQL 13) with the read-write endpoint: pgbench TPS through PgBouncer
//              against straight to the primary (both from the pooler's container over TCP), and a
//              switchover with pgbench and the write probe through the endpoint: the longest stall,
//              client errors, acknowledged writes lost (bench/scale.ts endpointRound)
//   roll       three nodes (PostgreSQL 17, quorum sync ANY 1, as the pg17 plan's), the write probe on
//              whichever node is primary and a read probe on the nodes that stay standbys: a plain
//              switchover, then an image change rolled onto the three nodes (bench/scale.ts rollRound):
//              the longest write gap, the longest read gap, the whole up as a ratio to the switchover's
//   data       a primary holding pgbench's tables at scale 150 (about 2.2 GiB, made once per run):
//              the `up` that adds a standby against a bare pg_basebackup of the same primary
//   backup     a primary (PostgreSQL 13) with the stack's backups on (pg-replication:backup: its `up`
//              made the stanza and the first full backup) and a standby streaming from it, holding
//              pgbench's tables at --backup-scale
//              (made once per run, its WAL archived before the first round), then in each round
//              (bench/scale.ts backupRound): a bare pg_basebackup of it (-X stream -c fast, from its own
//              container to its own filesystem, on the disk of the repository volume) and
//              `npm run backup -- STACK full` (pgBackRest on the primary with the stack's settings, as
//              the first `up` runs it), the bare one first in odd rounds; a full backup the way the
//              backup scheduler takes it, from the standby and on the primary (standby first in odd
//              rounds), with the primary's CPU time during each; a new stack restored from
//              that repository (`pulumi up` with pg-replication:restore, one node, to the end of the
//              archive: what a user runs to restore), destroyed untimed; `npm run verify-backup`;
//              then --load-seconds of pgbench's write load (16 clients) with each WAL segment's
//              archive lag: its completion (its archive_status file's mtime) to its file's mtime in
//              the repository. Backup, restore and verify-backup are ratios to the bare copy (or to
//              the restore) of the same round; the lag is p50/p99 seconds against archive_timeout
//   hosts      `pulumi up --yes` of three nodes on one test host, then of the same three nodes on
//              three test hosts (one per Docker engine, replication over TLS), each followed by an
//              untimed destroy. The hosts are our own (tests/support/hosts.ts: network namespaces,
//              each with its own dockerd), made once before the first round and removed at the end;
//              that needs root and `ip netns`.
//   major      three nodes (PostgreSQL 13, quorum sync ANY 1) holding pgbench's tables at --major-scale,
//              made again in each round (bench/scale.ts majorRound): a bare initdb and pg_upgrade --link
//              of a copy of the same data in the upgrade image, then `image: postgres:17` (pulumi up)
//              under the write probe: the write downtime (its longest gap) and the whole up, each also
//              as a ratio to the bare upgrade; acknowledged writes lost
// A group of rows (hosts, standbys, load, endpoint, roll, data, backup, major) that cannot be made or fails says NOT MEASURED with
// the reason, loudly, and everything else is measured as usual (class Unmeasured); a failure makes
// the run's exit status non-zero.
// Plans are the shipped stack files' with subnets and ports moved off them. With
// PG_REPLICATION_STAND_IN_PLUGINS=1 the engine attaches to the stand-in plugins (said in the
// output), and their log gives each resource's create time.
//
// Options (after `npm run bench --`):
//   ROUNDS            how many rounds (default 3)
//   --only main       only the tutorial, dev, pg17 and empty rows (with --baseline: a change's before/after on them)
//   --only hosts      only the hosts rows (`npm run bench:hosts`); fails when the hosts cannot be made
//   --only standbys   only the standbys rows (likewise: --only load, --only endpoint, --only roll, --only data,
//                     --only backup, --only major)
//   --load-seconds N  how long each load measurement runs (default 60; the backup rows' archive lag too)
//   --backup-scale N  pgbench's scale of the backup rows' primary (default 150, as the data row's: about
//                     2.2 GiB; the real figures want ≥ 2 GB); a small one (5: about 0.1 GiB) checks that the
//                     rows run, and the output then says it is below 2 GiB
//   --major-scale N   pgbench's scale of the major rows' cluster (default 150, about 2.2 GiB: the issue's 2 GB)
//   --baseline DIR    also measure the dev plan's up, no-op up, switchovers and destroy from DIR (each pair in turn first), another
//                     checkout of this project (e.g. `git worktree add DIR <commit>` plus its
//                     node_modules), in the same rounds: a change's before/after as ratios; with the
//                     backup rows, also the restore as a new stack (the same repository, in turn)

import { execFile, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { projectRoot } from "../components/project";
import { removeStackObjects } from "../tests/support/docker-objects";
import { createHostSet, HostSet, TestHost } from "../tests/support/hosts";
import { WriteProbe } from "../drill/probe";
import { banner, startStandIns, StandIns } from "../stand-ins/launch";
import { median, percentile } from "./load";
import {
    backupRound, backupSetUp, BenchContext, DATA_SCALE, dataRound, dataSetUp, endpointRound, LOAD_CLIENTS, loadRound, majorRound, node, rollRound,
    rollSetUp,
    steadyRound,
} from "./scale";
import { ARCHIVE_TIMEOUT_SECONDS } from "../components/pgbackrest";

const ROOT = projectRoot();

/** Which rows `--only` can pick. */
export const ONLY = ["main", "hosts", "standbys", "load", "endpoint", "roll", "data", "backup", "major"] as const;
export type Only = (typeof ONLY)[number];

/** `[ROUNDS] [--only main|hosts|standbys|load|endpoint|roll|data|backup|major] [--baseline DIR] [--load-seconds N] [--backup-scale N] [--major-scale N]`. */
export function benchOptions(argv: string[]): { rounds: number; only?: Only; baseline?: string; loadSeconds: number; backupScale: number;
    majorScale: number } {
    const { values, positionals } = parseArgs({ args: argv, options: { only: { type: "string" }, baseline: { type: "string" },
        "load-seconds": { type: "string" }, "backup-scale": { type: "string" }, "major-scale": { type: "string" } }, allowPositionals: true });
    const rounds = Number(positionals[0] ?? 3);
    const loadSeconds = Number(values["load-seconds"] ?? 60);
    if (!Number.isInteger(loadSeconds) || loadSeconds < 10) {
        throw new Error(`--load-seconds must be an integer of at least 10, not ${values["load-seconds"]}`);
    }
    const backupScale = Number(values["backup-scale"] ?? DATA_SCALE);
    if (!Number.isInteger(backupScale) || backupScale < 1) {
        throw new Error(`--backup-scale must be a positive integer (pgbench's scale), not ${values["backup-scale"]}`);
    }
    const majorScale = Number(values["major-scale"] ?? DATA_SCALE);
    if (!Number.isInteger(majorScale) || majorScale < 1) {
        throw new Error(`--major-scale must be a positive integer (pgbench's scale), not ${values["major-scale"]}`);
    }
    if (values.only !== undefined && !(ONLY as readonly string[]).includes(values.only)) {
        throw new Error(`--only ${values.only}: one of ${ONLY.join(", ")}`);
    }
    if (!Number.isInteger(rounds) || rounds < 1) {
        throw new Error(`ROUNDS must be a positive integer, not ${positionals[0]}`);
    }
    return { rounds, only: values.only as Only | undefined, baseline: values.baseline === undefined ? undefined : path.resolve(values.baseline),
        loadSeconds, backupScale, majorScale };
}

/** The groups of rows that are measured on their own: one that fails or cannot be made says why, the others go on. */
export type RowGroup = "hosts" | "standbys" | "load" | "endpoint" | "roll" | "data" | "backup" | "major";

/**
 * Why a group of rows is not measured. A group that cannot be made here (no root for the test
 * hosts) is only said; one that fails makes the run's exit status non-zero. Either way the rest of
 * the bench goes on, and the group's line in the results says NOT MEASURED with the reason.
 */
export class Unmeasured {
    private readonly why = new Map<RowGroup, string>();
    /** A group failed (not a missing prerequisite): the run exits non-zero. */
    failed = false;
    constructor(private readonly say: (line: string) => void = (l) => process.stderr.write(l)) {}

    reason(group: RowGroup): string | undefined {
        return this.why.get(group);
    }
    /** GROUP cannot be measured here, for REASON (not a failure). */
    skip(group: RowGroup, reason: string): void {
        this.why.set(group, reason);
        this.say(`\n!!! ${group.toUpperCase()} ROWS NOT MEASURED: ${reason}\n\n`);
    }
    /** FN for GROUP, unless the group is already out; a failure takes the group out, saying WHAT failed. */
    async guard(group: RowGroup, what: string, fn: () => Promise<void>): Promise<void> {
        if (this.why.has(group)) {
            return;
        }
        try {
            await fn();
        } catch (err) {
            this.failed = true;
            this.skip(group, `${what} failed: ${(err as Error).message.trim().split("\n").slice(0, 6).join(" / ")}`);
        }
    }
    /** LINES when GROUP was measured, else its one NOT MEASURED line under LABEL. */
    lines(group: RowGroup, label: string, lines: () => string[]): string[] {
        const why = this.why.get(group);
        return why === undefined ? lines() : [`  ${label}: NOT MEASURED — ${why}`];
    }
}

/** The standbys rows' sizes; each is measured against the first. */
export const STANDBY_COUNTS = [1, 2, 4, 6] as const;

/**
 * A primary and `standbys` standbys on this engine (subnet 172.31.7N.0/24, ports 567N0..): the role's
 * connection limit and max_wal_senders at what the clones side by side need (two each, config.ts
 * validateReplication), never below the defaults.
 */
export function standbysPlan(standbys: number): string {
    const net = 70 + standbys;
    const nodes = Array.from({ length: standbys + 1 }, (_, i) => node(net, 56700 + standbys * 10, i)).join("");
    return `config:\n  pg-replication:image: postgres:13\n  pg-replication:subnet: 172.31.${net}.0/24\n` +
        `  pg-replication:nodes:\n${nodes}  pg-replication:primary: pg1\n  pg-replication:mode: async\n` +
        `  pg-replication:replicationConnectionLimit: ${Math.max(5, 2 * standbys)}\n` +
        `  pg-replication:maxWalSenders: ${Math.max(10, 2 * standbys)}\n`;
}

const DEV_PLAN = `config:
  pg-replication:image: postgres:13
  pg-replication:networkName: bench-dev-net
  pg-replication:subnet: 172.31.61.0/24
  pg-replication:nodes:
    - name: pg1
      address: 172.31.61.101
      port: 56610
    - name: pg2
      address: 172.31.61.102
      port: 56611
  pg-replication:primary: pg1
  pg-replication:replicationUser: repuser
  pg-replication:replicationConnectionLimit: 5
  pg-replication:mode: async
`;
const PG17_PLAN = `config:
  pg-replication:image: postgres:17
  pg-replication:subnet: 172.31.62.0/24
  pg-replication:nodes:
    - name: pg1
      address: 172.31.62.101
      port: 56620
    - name: pg2
      address: 172.31.62.102
      port: 56621
    - name: pg3
      address: 172.31.62.103
      port: 56622
  pg-replication:primary: pg1
  pg-replication:mode: sync
  pg-replication:syncCount: 1
`;

/** Like the dev plan, on a subnet and ports of its own: the baseline checkout's stack (--baseline). */
const BASE_PLAN = DEV_PLAN.replace(/172\.31\.61\./g, "172.31.64.").replace("bench-dev-net", "bench-base-net")
    .replace("56610", "56640").replace("56611", "56641");

/** Three nodes on the test hosts: all on the first host, or one per host (then across engines, over TLS). */
export function hostsPlan(hosts: readonly Pick<TestHost, "dockerHost" | "address">[], spread: boolean): string {
    const nodes = [0, 1, 2].map((i) => {
        const h = spread ? hosts[i] : hosts[0];
        // The test hosts' ports are not on this machine's loopback: each node is published on, and
        // reached at, its host's address.
        return `    - name: pg${i + 1}\n      address: 172.28.46.${101 + i}\n      port: ${58550 + i}\n` +
            `      host: ${h.dockerHost}\n      hostAddress: ${h.address}\n`;
    }).join("");
    return `config:\n  pg-replication:image: postgres:13\n  pg-replication:subnet: 172.28.46.0/24\n` +
        `  pg-replication:nodes:\n${nodes}  pg-replication:primary: pg1\n  pg-replication:readyTimeoutSeconds: "60"\n`;
}

/** Why test hosts cannot be made here, or undefined when they can be tried. */
export function hostsUnavailable(uid = process.getuid?.(), ip = "ip"): string | undefined {
    if (uid !== 0) {
        return "not root (test hosts are network namespaces, each with its own dockerd)";
    }
    try {
        execFileSync(ip, ["netns", "list"], { stdio: "ignore" });
    } catch (err) {
        return `\`ip netns list\` failed (${(err as Error).message.split("\n")[0]})`;
    }
    return undefined;
}

interface Run {
    ms: number;
    /** Stand-in log lines written during the run. */
    standInLog: string[];
}

async function main(): Promise<void> {
    const { rounds: ROUNDS, only: ONLY_ROWS, baseline: BASELINE, loadSeconds: LOAD_SECONDS, backupScale: BACKUP_SCALE, majorScale: MAJOR_SCALE } =
        benchOptions(process.argv.slice(2));
    const ONLY_HOSTS = ONLY_ROWS === "hosts";
    /** The dev, pg17, empty and tutorial rows (and the baseline's): without --only, or with --only main. */
    const MAIN_ROWS = ONLY_ROWS === undefined || ONLY_ROWS === "main";
    const STANDBY_ROWS = ONLY_ROWS === undefined || ONLY_ROWS === "standbys";
    const HOST_ROWS = ONLY_ROWS === undefined || ONLY_HOSTS;
    const LOAD_ROWS = ONLY_ROWS === undefined || ONLY_ROWS === "load";
    const DATA_ROWS = ONLY_ROWS === undefined || ONLY_ROWS === "data";
    const ENDPOINT_ROWS = ONLY_ROWS === undefined || ONLY_ROWS === "endpoint";
    const ROLL_ROWS = ONLY_ROWS === undefined || ONLY_ROWS === "roll";
    const BACKUP_ROWS = ONLY_ROWS === undefined || ONLY_ROWS === "backup";
    const MAJOR_ROWS = ONLY_ROWS === undefined || ONLY_ROWS === "major";
    if (BASELINE && !fs.existsSync(path.join(BASELINE, "node_modules", "@pulumi", "pulumi"))) {
        throw new Error(`--baseline ${BASELINE}: not a checkout of this project with its node_modules ` +
            "(git worktree add DIR <commit>; ln -s <this checkout>/node_modules DIR/node_modules)");
    }
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-bench-"));
    const standInLog = path.join(work, "stand-ins.log");
    // The stand-ins are told where the engine would start the real plugins, and so where commands
    // run: this checkout's project directory, and the baseline's for its own runs.
    let standIns: StandIns | undefined;
    let baselineStandIns: StandIns | undefined;
    if (process.env.PG_REPLICATION_STAND_IN_PLUGINS === "1") {
        standIns = await startStandIns({ pwd: ROOT, logFile: standInLog });
        baselineStandIns = BASELINE ? await startStandIns({ pwd: path.resolve(BASELINE), logFile: standInLog }) : undefined;
        process.stderr.write(`${banner()}\n`);
    }
    fs.mkdirSync(path.join(work, "state"));
    const env: NodeJS.ProcessEnv = {
        ...process.env,
        PULUMI_BACKEND_URL: `file://${path.join(work, "state")}`,
        PULUMI_CONFIG_PASSPHRASE: "bench-only",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        ...(standIns ? { PULUMI_DEBUG_PROVIDERS: standIns.debugProviders, PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true" } : {}),
    };
    const plans: Record<string, string> = { "bench-dev": DEV_PLAN, "bench-pg17": PG17_PLAN, "bench-base": BASE_PLAN,
        ...Object.fromEntries(STANDBY_COUNTS.map((n) => [`bench-s${n}`, standbysPlan(n)])) };

    const logLines = () => (fs.existsSync(standInLog) ? fs.readFileSync(standInLog, "utf8").split("\n") : []);
    const timed = async (fn: () => Promise<unknown>): Promise<Run> => {
        const before = logLines().length;
        const started = process.hrtime.bigint();
        await fn();
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        return { ms, standInLog: logLines().slice(before) };
    };
    const run = (cmd: string, args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}) => new Promise<string>((resolve, reject) => {
        const child = spawn(cmd, args, { cwd, env: { ...env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (out += d));
        child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} failed (${code}):\n${out}`))));
    });
    const withConfig = ["up", "preview", "destroy", "refresh"];
    /** The stacks of the baseline's checkout (--baseline): its dev plan, and with the backup rows its restore. */
    const BASELINE_STACKS = ["bench-base", "bench-restore-base"];
    const projectDir = (stack: string) => (stack === "bench-empty" ? path.join(ROOT, "bench", "empty-project")
        : BASELINE_STACKS.includes(stack) ? BASELINE! : ROOT);
    const pulumi = (stack: string, ...args: string[]) => run("pulumi", [...args, "--stack", stack, "--non-interactive",
        ...(withConfig.includes(args[0]) ? ["--config-file", path.join(work, `${stack}.yaml`)] : [])], projectDir(stack),
        BASELINE_STACKS.includes(stack) && baselineStandIns ? { PULUMI_DEBUG_PROVIDERS: baselineStandIns.debugProviders } : {});
    // `stack init` writes Pulumi.<stack>.yaml (the passphrase's salt) into the project; it moves to
    // the run's own config file, so the repository is left as it was.
    const salts = new Map<string, string>();
    const writePlan = (stack: string, plan: string) =>
        fs.writeFileSync(path.join(work, `${stack}.yaml`), `${salts.get(stack) ?? ""}\n${plan}`);
    const initStack = async (stack: string) => {
        removeStackObjects(stack);
        await pulumi(stack, "stack", "init", "--secrets-provider", "passphrase");
        const stackFile = path.join(projectDir(stack), `Pulumi.${stack}.yaml`);
        salts.set(stack, fs.readFileSync(stackFile, "utf8").split("\n").find((l) => l.startsWith("encryptionsalt:")) ?? "");
        fs.rmSync(stackFile);
        writePlan(stack, plans[stack] ?? "");
    };
    const tutorial = (...args: string[]) => run("bash", [path.join(ROOT, "bench", "tutorial.sh"), ...args], ROOT);
    const outputs = (stack: string) => new Promise<Record<string, any>>((resolve, reject) => execFile("pulumi",
        ["stack", "output", "--json", "--show-secrets", "--stack", stack, "--non-interactive"], { cwd: ROOT, env },
        (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout)))));
    /** A switchover of the dev plan (or the baseline's copy of it) to `to` under the write probe: the `up`, and the probe's write downtime. */
    const switchover = async (stack: "bench-dev" | "bench-base", from: string, to: string): Promise<{ up: Run; downtime: Run }> => {
        const nodes = (await outputs(stack)).nodes;
        const probe = new WriteProbe({ [from]: nodes[from].connectionString, [to]: nodes[to].connectionString });
        await probe.start();
        await new Promise((r) => setTimeout(r, 1000));
        writePlan(stack, (stack === "bench-dev" ? DEV_PLAN : BASE_PLAN).replace("pg-replication:primary: pg1", `pg-replication:primary: ${to}`));
        const up = await timed(() => pulumi(stack, "up", "--yes"));
        await new Promise((r) => setTimeout(r, 1000));
        const result = await probe.stop();
        if (result.lastNode !== to) {
            throw new Error(`after the switchover to ${to} the probe wrote to ${result.lastNode} (${stack})`);
        }
        return { up, downtime: { ms: result.downtimeMs, standInLog: [] } };
    };

    // The test hosts, before anything else: when they cannot be made, say so now and at the end.
    const unmeasured = new Unmeasured();
    let hostSet: HostSet | undefined;
    if (HOST_ROWS) {
        const unavailable = hostsUnavailable();
        if (unavailable !== undefined) {
            unmeasured.skip("hosts", unavailable);
        }
        await unmeasured.guard("hosts", "making the test hosts", async () => {
            hostSet = await createHostSet({ set: "bench", subnet: 6, count: 3, images: ["postgres:13"] });
        });
        if (ONLY_HOSTS && unmeasured.reason("hosts") !== undefined) {
            await Promise.all([standIns?.stop(), baselineStandIns?.stop()]);
            throw new Error(`npm run bench:hosts cannot run: ${unmeasured.reason("hosts")}`);
        }
    }
    if (hostSet) {
        plans["bench-hosts1"] = hostsPlan(hostSet!.hosts, false);
        plans["bench-hosts3"] = hostsPlan(hostSet!.hosts, true);
    }
    const stacks = [
        ...(MAIN_ROWS ? ["bench-dev", "bench-pg17", "bench-empty", ...(BASELINE ? ["bench-base"] : [])] : []),
        ...(STANDBY_ROWS ? STANDBY_COUNTS.map((n) => `bench-s${n}`) : []),
        ...(LOAD_ROWS ? ["bench-load", "bench-solo"] : []),
        ...(ENDPOINT_ROWS ? ["bench-endpoint"] : []),
        ...(ROLL_ROWS ? ["bench-roll"] : []),
        ...(DATA_ROWS ? ["bench-data"] : []),
        ...(BACKUP_ROWS ? ["bench-backup", "bench-restore", ...(BASELINE ? ["bench-restore-base"] : [])] : []),
        ...(MAJOR_ROWS ? ["bench-major"] : []),
        ...(hostSet ? ["bench-hosts1", "bench-hosts3"] : []),
    ];

    const results = new Map<string, Run[]>();
    const add = (key: string, r: Run) => results.set(key, [...(results.get(key) ?? []), r]);
    /** Figures that are not durations (TPS, commits lost), by name, one per round. */
    const figures = new Map<string, number[]>();
    const note = (key: string, v: number) => figures.set(key, [...(figures.get(key) ?? []), v]);
    /** Replay lag samples (ms), pooled over the rounds, by mode and standby. */
    const lag = { async: new Map<string, number[]>(), sync: new Map<string, number[]>() };
    let dataBytes = 0;
    let backupBytes = 0;
    let majorBytes = 0;
    /** WAL archive lag samples (s), one per segment, pooled over the rounds. */
    const archiveLag: number[] = [];
    const ctx: BenchContext = {
        pulumi, writePlan, outputs,
        tool: (script, ...args) => run("npm", ["run", "-s", script, "--", ...args], ROOT),
        time: async (fn) => (await timed(fn)).ms,
        log: (m) => process.stderr.write(`${m}\n`),
    };
    try {
        for (const stack of stacks) {
            await initStack(stack);
        }
        if (MAIN_ROWS) {
            removeStackObjects("bench-tutorial");
        }
        if (ROLL_ROWS) {
            await unmeasured.guard("roll", "building the image the roll rows roll to", rollSetUp);
        }
        if (DATA_ROWS) {
            await unmeasured.guard("data", "making the data row's primary", async () => {
                dataBytes = (await dataSetUp(ctx, "bench-data")).bytes;
            });
        }
        if (BACKUP_ROWS) {
            await unmeasured.guard("backup", "making the backup rows' primary", async () => {
                backupBytes = (await backupSetUp(ctx, "bench-backup", BACKUP_SCALE)).bytes;
            });
        }
        for (let round = 1; round <= ROUNDS; round++) {
            process.stderr.write(`round ${round}/${ROUNDS}\n`);
            if (MAIN_ROWS) {
                add("tutorial up", await timed(() => tutorial("up", "bench-tutorial", "172.31.60", "56600")));
                add("tutorial down", await timed(() => tutorial("down", "bench-tutorial")));
                // This checkout's step and the baseline's, each first in turn: the one right after the tutorial's
                // down (or the other's step) would otherwise always meet what that leaves the engine to do.
                const inTurn = async (mine: () => Promise<unknown>, theirs: () => Promise<unknown>) => {
                    for (const step of !BASELINE ? [mine] : round % 2 === 1 ? [mine, theirs] : [theirs, mine]) {
                        await step();
                    }
                };
                await inTurn(async () => add("dev up", await timed(() => pulumi("bench-dev", "up", "--yes"))),
                    async () => add("baseline dev up", await timed(() => pulumi("bench-base", "up", "--yes"))));
                await inTurn(async () => add("dev no-op up", await timed(() => pulumi("bench-dev", "up", "--yes"))),
                    async () => add("baseline dev no-op up", await timed(() => pulumi("bench-base", "up", "--yes"))));
                // As before pulumi-entry.js: the program through ts-node (transpile only) on each of up's two runs.
                add("dev no-op up, through ts-node", await timed(() => run("pulumi", ["up", "--yes", "--stack", "bench-dev",
                    "--non-interactive", "--config-file", path.join(work, "bench-dev.yaml")], ROOT, { PG_REPLICATION_PROGRAM: "ts-node" })));
                add("dev preview", await timed(() => pulumi("bench-dev", "preview")));
                for (const [from, to] of [["pg1", "pg2"], ["pg2", "pg1"]]) {
                    await inTurn(async () => {
                        const { up, downtime } = await switchover("bench-dev", from, to);
                        add("dev switchover up", up);
                        add("dev switchover write downtime", downtime);
                    }, async () => {
                        const base = await switchover("bench-base", from, to);
                        add("baseline dev switchover up", base.up);
                        add("baseline dev switchover write downtime", base.downtime);
                    });
                }
                await inTurn(async () => add("dev destroy", await timed(() => pulumi("bench-dev", "destroy", "--yes"))),
                    async () => add("baseline dev destroy", await timed(() => pulumi("bench-base", "destroy", "--yes"))));
                add("pg17 up", await timed(() => pulumi("bench-pg17", "up", "--yes")));
                add("pg17 destroy", await timed(() => pulumi("bench-pg17", "destroy", "--yes")));
                add("empty up", await timed(() => pulumi("bench-empty", "up", "--yes")));
            }
            if (STANDBY_ROWS) {
                // The sizes in a new order each round, so a machine that slows down over the run
                // does not weigh on one size only.
                const order = [...STANDBY_COUNTS.slice(round % STANDBY_COUNTS.length), ...STANDBY_COUNTS.slice(0, round % STANDBY_COUNTS.length)];
                await unmeasured.guard("standbys", `round ${round}`, async () => {
                    for (const n of order) {
                        add(`up with ${n} standbys`, await timed(() => pulumi(`bench-s${n}`, "up", "--yes")));
                        await pulumi(`bench-s${n}`, "destroy", "--yes");
                    }
                });
            }
            if (LOAD_ROWS) {
                await unmeasured.guard("load", `round ${round}`, async () => {
                    const r = await loadRound(ctx, "bench-load", LOAD_SECONDS);
                    note("load async tps", r.tps.async);
                    note("load sync tps", r.tps.sync);
                    for (const mode of ["async", "sync"] as const) {
                        for (const [standby, ms] of r.lag[mode]) {
                            lag[mode].set(standby, [...(lag[mode].get(standby) ?? []), ...ms]);
                        }
                    }
                    add("load switchover write downtime", { ms: r.switchover.downtimeMs, standInLog: [] });
                    add("load switchover up", { ms: r.switchover.upMs, standInLog: [] });
                    note("load switchover lost", r.switchover.lost);
                    add("load failover write downtime", { ms: r.failover.downtimeMs, standInLog: [] });
                    note("load failover lost", r.failover.lost);
                    const steady = await steadyRound(ctx, "bench-solo", LOAD_SECONDS);
                    note("steady ours tps", steady.ours);
                    note("steady plain tps", steady.plain);
                });
            }
            if (ENDPOINT_ROWS) {
                await unmeasured.guard("endpoint", `round ${round}`, async () => {
                    const r = await endpointRound(ctx, "bench-endpoint", LOAD_SECONDS);
                    note("endpoint through tps", r.tps.through);
                    note("endpoint straight tps", r.tps.straight);
                    add("endpoint switchover stall", { ms: r.switchover.longestStallMs, standInLog: [] });
                    add("endpoint switchover up", { ms: r.switchover.upMs, standInLog: [] });
                    note("endpoint switchover probe errors", r.switchover.probeErrors);
                    note("endpoint switchover pgbench failed", r.switchover.pgbenchFailed ? 1 : 0);
                    note("endpoint switchover lost", r.switchover.lost);
                });
            }
            if (ROLL_ROWS) {
                await unmeasured.guard("roll", `round ${round}`, async () => {
                    const r = await rollRound(ctx, "bench-roll");
                    for (const [kind, p] of [["switchover", r.switchover], ["roll", r.roll]] as const) {
                        add(`roll ${kind} up`, { ms: p.upMs, standInLog: [] });
                        add(`roll ${kind} write gap`, { ms: p.writeGapMs, standInLog: [] });
                        add(`roll ${kind} read gap`, { ms: p.readGapMs, standInLog: [] });
                        note(`roll ${kind} lost`, p.lost);
                    }
                });
            }
            if (MAJOR_ROWS) {
                await unmeasured.guard("major", `round ${round}`, async () => {
                    const r = await majorRound(ctx, "bench-major", MAJOR_SCALE);
                    majorBytes = r.bytes;
                    add("major up", { ms: r.upMs, standInLog: [] });
                    add("major write gap", { ms: r.writeGapMs, standInLog: [] });
                    add("major bare pg_upgrade", { ms: r.bareMs, standInLog: [] });
                    note("major lost", r.lost);
                });
            }
            if (DATA_ROWS) {
                await unmeasured.guard("data", `round ${round}`, async () => {
                    const r = await dataRound(ctx, "bench-data");
                    add("data up adding a standby", { ms: r.upMs, standInLog: [] });
                    add("data bare pg_basebackup", { ms: r.bareMs, standInLog: [] });
                });
            }
            if (BACKUP_ROWS) {
                await unmeasured.guard("backup", `round ${round}`, async () => {
                    // The bare copy first in odd rounds, the backup first in even ones: neither always reads a warmer cache.
                    const r = await backupRound(ctx, "bench-backup", "bench-restore", LOAD_SECONDS, round % 2 === 1,
                        BASELINE ? "bench-restore-base" : undefined);
                    add("backup bare pg_basebackup", { ms: r.bareMs, standInLog: [] });
                    add("backup full, as npm run backup reports it", { ms: r.backupToolMs, standInLog: [] });
                    add("backup npm run backup -- full", { ms: r.backupMs, standInLog: [] });
                    add("backup full from the standby, the scheduler's way", { ms: r.standbyBackupMs, standInLog: [] });
                    add("backup full on the primary, the scheduler's way", { ms: r.primaryBackupMs, standInLog: [] });
                    note("backup primary cpu ms, standby backup", r.standbyBackupPrimaryCpuMs);
                    note("backup primary cpu ms, primary backup", r.primaryBackupPrimaryCpuMs);
                    add("backup restore stack up", { ms: r.restoreUpMs, standInLog: [] });
                    if (r.baselineRestoreUpMs !== undefined) {
                        add("baseline backup restore stack up", { ms: r.baselineRestoreUpMs, standInLog: [] });
                    }
                    add("backup npm run verify-backup", { ms: r.verifyMs, standInLog: [] });
                    add("backup verify-backup's pgbackrest restore", { ms: r.verifyRestoreMs, standInLog: [] });
                    add("backup verify-backup's replay", { ms: r.verifyRecoveryMs, standInLog: [] });
                    archiveLag.push(...r.archiveLagSeconds);
                    note("backup load tps", r.tps);
                });
            }
            if (hostSet) {
                await unmeasured.guard("hosts", `round ${round}`, async () => {
                    for (const [key, stack] of [["one-host plan up", "bench-hosts1"], ["three-host plan up", "bench-hosts3"]]) {
                        add(key, await timed(() => pulumi(stack, "up", "--yes")));
                        await pulumi(stack, "destroy", "--yes");
                    }
                });
            }
        }
    } finally {
        for (const stack of stacks.filter((st) => st !== "bench-empty")) {
            await pulumi(stack, "destroy", "--yes").catch(() => undefined);
            removeStackObjects(stack);
        }
        if (MAIN_ROWS) {
            await tutorial("down", "bench-tutorial").catch(() => undefined);
        }
        await hostSet?.teardown().catch((err) => process.stderr.write(`teardown of the test hosts: ${(err as Error).message}\n`));
        await Promise.all([standIns?.stop(), baselineStandIns?.stop()]);
    }

    const m = (key: string) => median(results.get(key)!.map((r) => r.ms));
    const ratio = (a: string, b: string, goal?: number) =>
        `  ${a} / ${b}: ${(m(a) / m(b)).toFixed(2)}${goal === undefined ? "" : `  (goal ≤ ${goal})`}`;
    const lines = [
        `pg-replication benchmark: medians of ${ROUNDS} interleaved rounds, as ratios (${standIns ? "through the STAND-IN plugins" : "real plugins"}; CLI ${execFileSync("pulumi", ["version"], { encoding: "utf8" }).trim()})`,
    ];
    if (MAIN_ROWS) {
        lines.push(
            ratio("dev up", "tutorial up", 1.5),
            ratio("dev no-op up", "tutorial up", 0.6),
            ratio("dev no-op up", "dev no-op up, through ts-node"),
            ratio("dev destroy", "tutorial down", 1.5),
            ratio("dev destroy", "tutorial up"),
            ratio("pg17 up", "dev up", 1.3),
            ratio("dev preview", "tutorial up"),
            ratio("empty up", "tutorial up"),
            ratio("empty up", "dev up"),
            `  switchover (dev plan, PostgreSQL 13, async; medians of ${results.get("dev switchover up")!.length} switchovers): ` +
            `write downtime ${(m("dev switchover write downtime") / 1000).toFixed(2)} s (goal < 5 s), ` +
            `whole up ${(m("dev switchover up") / 1000).toFixed(1)} s; ` +
            `up / tutorial up ${(m("dev switchover up") / m("tutorial up")).toFixed(2)}`,
        );
    }
    if (STANDBY_ROWS) {
        const one = `up with ${STANDBY_COUNTS[0]} standbys`;
        const label = "standbys (one engine, PostgreSQL 13, clones side by side)";
        lines.push(...unmeasured.lines("standbys", label, () => [`  ${label}: ` + STANDBY_COUNTS.slice(1)
            .map((n) => `${n} / ${STANDBY_COUNTS[0]}: ${(m(`up with ${n} standbys`) / m(one)).toFixed(2)}`).join(", ") +
            `  (goal: 6 / 1 ≤ 1.3)`]));
    }
    const fig = (key: string) => median(figures.get(key)!);
    /** A over B round by round (both measured back to back in each round), then the median of those ratios. */
    const paired = (a: string, b: string) => median(figures.get(a)!.map((x, i) => x / figures.get(b)![i]));
    if (LOAD_ROWS) {
        const lagText = (mode: "async" | "sync") => [...lag[mode].entries()].sort(([a], [b]) => a.localeCompare(b))
            .map(([n, xs]) => `${n} ${percentile(xs, 50).toFixed(1)}/${percentile(xs, 99).toFixed(1)} ms`).join(", ");
        lines.push(...unmeasured.lines("load", "write load, switchover and failover under it, steady state", () => [
            `  write load (PostgreSQL 13, three nodes, pgbench ${LOAD_CLIENTS} clients for ${LOAD_SECONDS} s; medians of the rounds):`,
            `    TPS quorum sync / async: ${paired("load sync tps", "load async tps").toFixed(2)} (async ${fig("load async tps").toFixed(0)} tps, quorum sync ${fig("load sync tps").toFixed(0)} tps)`,
            `    replay lag p50/p99, async: ${lagText("async")} (goal p99 < 100 ms); quorum sync: ${lagText("sync")}`,
            `    switchover pg1 → pg2 under the load: write downtime ${(m("load switchover write downtime") / 1000).toFixed(2)} s (goal < 1 s), ` +
            `acknowledged commits lost ${Math.max(...figures.get("load switchover lost")!)} (must be 0), whole up ${(m("load switchover up") / 1000).toFixed(1)} s`,
            `    failover (quorum sync, primary killed) under the load: fault to first write ${(m("load failover write downtime") / 1000).toFixed(2)} s, ` +
            `acknowledged commits lost ${Math.max(...figures.get("load failover lost")!)} (must be 0)`,
            `  steady state, pgbench TPS on our primary alone / a plain docker run of the image: ${paired("steady ours tps", "steady plain tps").toFixed(2)} ` +
            `(goal ≥ 0.95; ours ${fig("steady ours tps").toFixed(0)}, plain ${fig("steady plain tps").toFixed(0)} tps)`,
        ]));
    }
    if (ENDPOINT_ROWS) {
        const worst = (key: string) => Math.max(...figures.get(key)!);
        lines.push(...unmeasured.lines("endpoint", "the read-write endpoint", () => [
            `  endpoint (PostgreSQL 13, two nodes, PgBouncer in transaction pooling; pgbench ${LOAD_CLIENTS} clients for ${LOAD_SECONDS} s):`,
            `    TPS through the endpoint / straight to the primary (same container, TCP, paired): ` +
            `${paired("endpoint through tps", "endpoint straight tps").toFixed(2)} (goal ≥ 0.9; through ${fig("endpoint through tps").toFixed(0)}, ` +
            `straight ${fig("endpoint straight tps").toFixed(0)} tps)`,
            `    switchover pg1 → pg2 with pgbench and the write probe through it: longest stall ${(m("endpoint switchover stall") / 1000).toFixed(2)} s ` +
            `(goal < 2 s), client errors: probe ${worst("endpoint switchover probe errors")}, pgbench ` +
            `${worst("endpoint switchover pgbench failed") ? "FAILED in a round" : "none"} (goal 0), acknowledged writes lost ` +
            `${worst("endpoint switchover lost")} (must be 0), whole up ${(m("endpoint switchover up") / 1000).toFixed(1)} s`,
        ]));
    }
    if (ROLL_ROWS) {
        const s = (key: string) => (m(key) / 1000).toFixed(2);
        const lost = (kind: string) => Math.max(...figures.get(`roll ${kind} lost`)!);
        lines.push(...unmeasured.lines("roll", "an image change rolled onto three nodes", () => [
            `  roll (PostgreSQL 17, three nodes, quorum sync; medians of the rounds): whole up / a plain switchover's up: ` +
            `${(m("roll roll up") / m("roll switchover up")).toFixed(2)} (roll ${s("roll roll up")} s, switchover ${s("roll switchover up")} s)`,
            `    longest write gap: roll ${s("roll roll write gap")} s (goal < 2 s), switchover ${s("roll switchover write gap")} s; ` +
            `longest read gap on the standbys: roll ${s("roll roll read gap")} s (goal ≤ 1 s), switchover ${s("roll switchover read gap")} s; ` +
            `acknowledged writes lost: roll ${lost("roll")}, switchover ${lost("switchover")} (must be 0)`,
        ]));
    }
    if (MAJOR_ROWS) {
        const s = (key: string) => (m(key) / 1000).toFixed(2);
        lines.push(...unmeasured.lines("major", "a major upgrade (13 to 17) of three nodes", () => [
            `  major (PostgreSQL 13 to 17, three nodes, quorum sync, pgbench scale ${MAJOR_SCALE}, ${(majorBytes / (1 << 30)).toFixed(2)} GiB; ` +
            `medians of the rounds): write downtime ${s("major write gap")} s (goal < 30 s), whole up ${s("major up")} s; ` +
            `as ratios to a bare initdb + pg_upgrade --link of the same data (${s("major bare pg_upgrade")} s): write downtime ` +
            `${(m("major write gap") / m("major bare pg_upgrade")).toFixed(2)}, whole up ${(m("major up") / m("major bare pg_upgrade")).toFixed(2)}; ` +
            `acknowledged writes lost ${Math.max(...figures.get("major lost")!)} (must be 0)`,
        ]));
    }
    if (DATA_ROWS) {
        const mib = dataBytes / (1 << 20);
        lines.push(...unmeasured.lines("data", `data (pgbench scale ${DATA_SCALE}): up adding a standby / bare pg_basebackup`, () => [
            `  data (pgbench scale ${DATA_SCALE}, ${(mib / 1024).toFixed(2)} GiB): up adding a standby / bare pg_basebackup to the same disk: ` +
            `${(m("data up adding a standby") / m("data bare pg_basebackup")).toFixed(2)} (goal ≤ 1.1); ` +
            `${(mib / (m("data up adding a standby") / 1000)).toFixed(0)} MiB/s through up, ${(mib / (m("data bare pg_basebackup") / 1000)).toFixed(0)} MiB/s bare`]));
    }
    if (BACKUP_ROWS) {
        const gib = (backupBytes / (1 << 30)).toFixed(2);
        const r = (a: string, b: string) => (m(a) / m(b)).toFixed(2);
        const s = (key: string) => (m(key) / 1000).toFixed(1);
        lines.push(...unmeasured.lines("backup", `backup (pgbench scale ${BACKUP_SCALE})`, () => [
            `  backup (PostgreSQL 13, pgBackRest as the stack sets it: lz4, process-max 2, synchronous archive-push; pgbench scale ${BACKUP_SCALE}, ` +
            `${gib} GiB; medians of ${ROUNDS} rounds${backupBytes < 2 * (1 << 30) ? "; BELOW 2 GiB: a small-scale run" : ""}):`,
            `    full backup (npm run backup -- STACK full, as it reports it) / bare pg_basebackup of the same primary to the same disk: ` +
            `${r("backup full, as npm run backup reports it", "backup bare pg_basebackup")} (goal ≤ 1.0; backup ${s("backup full, as npm run backup reports it")} s, ` +
            `bare ${s("backup bare pg_basebackup")} s); the whole command: ${r("backup npm run backup -- full", "backup bare pg_basebackup")}`,
            `    full backup from the standby / on the primary, both the scheduler's way (backup.schedule.fromStandby; pgBackRest in the ` +
            `scheduler image, its remote protocol over docker exec): ${r("backup full from the standby, the scheduler's way", "backup full on the primary, the scheduler's way")} ` +
            `(${s("backup full from the standby, the scheduler's way")} s, ${s("backup full on the primary, the scheduler's way")} s); ` +
            `the primary's CPU time during it: ${(fig("backup primary cpu ms, standby backup") / 1000).toFixed(1)} s from the standby, ` +
            `${(fig("backup primary cpu ms, primary backup") / 1000).toFixed(1)} s on the primary (` +
            `${(fig("backup primary cpu ms, standby backup") / fig("backup primary cpu ms, primary backup")).toFixed(2)})`,
            `    restore as a new stack (pulumi up, pg-replication:restore, one node, to the end of the archive) / the same bare pg_basebackup: ` +
            `${r("backup restore stack up", "backup bare pg_basebackup")} (goal ≤ 1.0; up ${s("backup restore stack up")} s); ` +
            `verify-backup's pgbackrest restore alone / bare: ${r("backup verify-backup's pgbackrest restore", "backup bare pg_basebackup")}`,
            `    WAL archive lag (a segment's completion to its file in the repository) under pgbench, ${LOAD_CLIENTS} clients for ${LOAD_SECONDS} s: ` +
            `p50 ${percentile(archiveLag, 50).toFixed(2)} s, p99 ${percentile(archiveLag, 99).toFixed(2)} s over ${archiveLag.length} segments ` +
            `(goal p99 < archive_timeout, ${ARCHIVE_TIMEOUT_SECONDS} s; ${fig("backup load tps").toFixed(0)} tps)`,
            `    npm run verify-backup / restore as a new stack: ${r("backup npm run verify-backup", "backup restore stack up")} (goal < 2; ` +
            `verify-backup ${s("backup npm run verify-backup")} s, of which its restore ${s("backup verify-backup's pgbackrest restore")} s ` +
            `and replay ${s("backup verify-backup's replay")} s)`,
        ]));
    }
    if (HOST_ROWS) {
        lines.push(...unmeasured.lines("hosts", "three-host plan up / one-host plan up", () =>
            [`${ratio("three-host plan up", "one-host plan up")}  (three nodes either way; three engines work in parallel, with TLS)`]));
    }
    if (BASELINE) {
        lines.push(`  this checkout against the baseline ${BASELINE} (same rounds):`, ...(!MAIN_ROWS && !results.has("baseline backup restore stack up")
            ? ["    nothing: the baseline is measured only with the main rows and the backup rows"] : []), ...(MAIN_ROWS ? [
            ratio("dev up", "baseline dev up"),
            ratio("dev no-op up", "baseline dev no-op up"),
            ratio("dev destroy", "baseline dev destroy"),
            ratio("dev switchover up", "baseline dev switchover up"),
            ratio("dev switchover write downtime", "baseline dev switchover write downtime")] : []),
            ...(results.has("baseline backup restore stack up") ? [ratio("backup restore stack up", "baseline backup restore stack up")] : []));
    }
    if (standIns && MAIN_ROWS) {
        // Where dev up's time goes: each resource's create, from the stand-ins' own log.
        const shares = new Map<string, number[]>();
        for (const r of results.get("dev up")!) {
            for (const line of r.standInLog) {
                const found = /Create (urn:\S+) -> .* \(took (\d+) ms\)/.exec(line);
                if (found) {
                    const name = found[1].split("::").pop()!;
                    shares.set(name, [...(shares.get(name) ?? []), Number(found[2]) / r.ms]);
                }
            }
        }
        const top = [...shares.entries()].map(([k, v]) => [k, median(v)] as const).filter(([, v]) => v >= 0.02)
            .sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`);
        lines.push(`  share of dev up spent in each resource's create (≥ 2%): ${top.join(", ")}`);
        lines.push(`  program and engine outside creates: see dev preview and empty up above`);
    }
    // Each measurement's spread, so the noise of the run is on record beside its medians.
    lines.push(`  spread (min–max seconds over the rounds): ${[...results.entries()].map(([k, v]) =>
        `${k} ${(Math.min(...v.map((r) => r.ms)) / 1000).toFixed(1)}–${(Math.max(...v.map((r) => r.ms)) / 1000).toFixed(1)}`).join("; ")}`);
    if (figures.size > 0) {
        lines.push(`  spread of the other figures (min–max over the rounds): ${[...figures.entries()].map(([k, v]) =>
            `${k} ${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)}`).join("; ")}`);
    }
    console.log(lines.join("\n"));
    fs.rmSync(work, { recursive: true, force: true });
    if (unmeasured.failed) {
        process.exitCode = 1;
    }
}

if (require.main === module) {
    main().catch((err) => {
        console.error(err);
        process.exit(1);
    });
}
