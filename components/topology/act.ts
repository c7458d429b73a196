// The steps the topology step takes at `up` to make the declared primary the actual one, in the
// order that loses no acknowledged commit. What to do is decided by the planners (plan.ts) over
// what the nodes say (observe.ts); this file only acts, one small named step each, over one Docker
// runner (docker-cli.ts). Shell remains only for what runs inside a throwaway container on a
// node's volume (the standby config rewrite, pg_rewind, a fresh clone, pg_waldump); those fragments
// are the constants below and take their values from the container's environment, never spliced in.
//
// Switchover (another node is primary, the declared one streams from it):
//   1. the checks (planTopology: streaming from it, same timeline, replay not paused, lag bound);
//   2. prepareTarget: on the target, still a standby, a slot for every other node and the commit
//      policy, so both are in place the moment it is promoted;
//   3. stopCleanly: the old primary stopped (`docker stop -t 60`: fast shutdown; a container stopped
//      this way is not restarted by its `unless-stopped` policy), its shutdown checkpoint read from
//      its volume (pg_controldata); awaitCheckpoint: the target has replayed it, so it holds every
//      commit the old primary ever acknowledged. Otherwise the old primary is started again as it was;
//   4. promote (pg_promote); 5. repoint every other running standby (ALTER SYSTEM, reload: no
//      restart from PostgreSQL 13); 6. rejoin the old primary as a standby of the new one (its volume
//      rewritten, started; pg_rewind if it cannot follow; a fresh clone if that fails too, said);
//   7. gates: every running standby streams from the new primary in its promised sync_state.
// Failover (no reachable node runs as primary; planFailover: the target holds every acknowledged
// commit it can be shown to, or pg-replication:allowDataLoss):
//   F1. fence every other node that is down: restart policy `no` (Docker never starts it again by
//       itself, not on a daemon restart or a reboot), killed, its volume a standby of the target;
//       a node whose host is lost (neither engine nor server answers) cannot be fenced: said;
//   F2. prepareTarget, promote, repoint (as 2, 4, 5).
// With an endpoint (pooler.ts), a switchover pauses it before 3 (PAUSE: each client's transaction
// ends, then clients wait; a transaction open past pauseTimeoutSeconds makes the switchover refuse
// with nothing stopped) and after 4 points it at the new primary and resumes it (RELOAD, RESUME), so
// its clients see a pause. A failover pauses it after F1 (never refusing) and does the same after F2.
// With nodes on several engines every engine's endpoint is paused, pointed and resumed at once, but
// a silent engine's (its host is lost), which is left alone.
// Former primaries back after a failover that could not fence them (stale-primaries): demoteStale.
// Then, on every up, each running node that does not stream from the primary is brought in (rejoin).

import { dockerCli, dockerFailure, DockerRun, saysNoSuch } from "../docker-cli";
import { fragment } from "../fragments";
import { compareLsn } from "../lsn";
import { expectedSyncState, nodeEngine, NodeSpec, spansEngines, synchronousStandbyNamesFor } from "../spec";
import { NodeState } from "../node-state";
import { adminPsql, POOLER_DIR, poolerTarget } from "../pooler";
import { describeRejoin, DIVERGED_NOTE, RejoinPath, TopologyInput, TopologyResult } from "./contract";
import { FailoverPlan, refusalOf, refusalText, TopologyPlan } from "./plan";
import { staleDivergence } from "./observe";
import { versionNumMajor } from "./roll";

export const VOLUME_PATH = "/var/lib/postgresql/data";
const PGDATA = `${VOLUME_PATH}/pgdata`;
/** The replication role's passfile in every node's volume (what a standby's primary_conninfo names). */
export const PASSFILE = `${VOLUME_PATH}/replication.pgpass`;
/** With nodes on several engines: the stack's CA in each node's volume (node.ts TLS_DIR). */
const CA_FILE = `${VOLUME_PATH}/tls/ca.crt`;
/** What a demoted former primary committed that nobody else has (contract.ts DIVERGED_NOTE). */
const DIVERGED = DIVERGED_NOTE;
const STOP_SECONDS = 60;
/** How long a failover waits for the endpoint's clients' transactions to end before it goes on regardless. */
const FAILOVER_PAUSE_SECONDS = 2;

/** Bounds, in seconds; tests shorten them. */
export interface Bounds {
    /** A rewritten node to follow after its start. */
    readonly followSeconds: number;
    /** A running standby to show up streaming before it is taken as not following. */
    readonly joinCheckSeconds: number;
    readonly pollMs: number;
    /** Any one docker call, but for the ones that copy data (pg_rewind, a clone), which have none. */
    readonly callMs: number;
}
export const BOUNDS: Bounds = { followSeconds: 30, joinCheckSeconds: 10, pollMs: 200, callMs: 120_000 };

/** A failure of the step: printed as "error: <message>", the step fails. */
export class StepFailed extends Error {}

// In-container fragments. Each runs as the postgres user with the node's volume at VOLUME_PATH.

/** The volume made a standby of $CONNINFO with slot $SLOT (standby-conf.sh, shared with the clone). */
const REWRITE_SH = `set -eu
${fragment("standby-conf.sh").trimEnd()}
standby_conf ${PGDATA} "$CONNINFO" "$SLOT"`;

/**
 * pg_rewind from $SOURCE. It copies the source's configuration files: the node's own pg_hba.conf is
 * put back after it (across hosts each node admits the others' addresses, not its own). A killed
 * node is rewound too: pg_rewind (13+) first finishes its crash recovery in single-user mode, which
 * refuses standby.signal, so the signal goes (REWRITE_SH puts it back whatever happens); the killed
 * server's postmaster.pid names PID 1, alive in this throwaway container, so the stale lock goes
 * too; that single-user server does not get the node's command line, so wal_log_hints goes into
 * postgresql.auto.conf, or the control file it leaves would say off and pg_rewind would refuse.
 * A DIVERGED note means the rewind discards commits nobody else has: exit 42 with the note, unless
 * $ALLOW_DATA_LOSS is true.
 */
const REWIND_SH = `if [ -e ${DIVERGED} ]; then
    [ "$ALLOW_DATA_LOSS" = true ] || { cat ${DIVERGED}; exit 42; }
    echo "discarding, as pg-replication:allowDataLoss allows: $(cat ${DIVERGED})" >&2
    rm -f ${DIVERGED}
fi
cd ${PGDATA} && rm -f standby.signal postmaster.pid && cp -p pg_hba.conf /tmp/pg_hba.conf.own &&
{ grep -q '^wal_log_hints' postgresql.auto.conf || echo "wal_log_hints = 'on'" >> postgresql.auto.conf; } &&
pg_rewind --target-pgdata=${PGDATA} --source-server="$SOURCE" && cp -p /tmp/pg_hba.conf.own pg_hba.conf`;

/** The last resort: a fresh clone of $CONNINFO with slot $SLOT replaces the data, its own pg_hba.conf kept (clone.sh, the seed's own). */
const CLONE_SH = `set -eu
${fragment("standby-conf.sh").trimEnd()}
${fragment("clone.sh").trimEnd()}
clone_into ${PGDATA} "$CONNINFO" "$SLOT" keep-hba`;

/** Functions pg_rewind needs on its source, granted to the replication role. */
const REWIND_GRANTS = ["pg_ls_dir(text, boolean, boolean)", "pg_stat_file(text, boolean)", "pg_read_binary_file(text)",
    "pg_read_binary_file(text, bigint, bigint, boolean)"];

/** What a former primary committed beyond a switchpoint, read from its pg_waldump output. */
export interface Commits {
    /** Transactions writing user data committed after the promotion (or all, when its time is unknown). */
    readonly after: number;
    readonly before: number;
    /** The last WAL position in the dump. */
    readonly end: string | undefined;
    /** The commit time of the first one after. */
    readonly first: string | undefined;
}

/**
 * Counts the transactions that wrote to a user relation (relfilenode >= 16384, so autovacuum's
 * statistics are not counted) in a pg_waldump listing, split by commit time against `promoted`
 * (the END_OF_RECOVERY record's time; every commit counts as after without it). Times compare as
 * text in pg_waldump's one format.
 */
export function countCommits(waldump: string, promoted: string | undefined): Commits {
    const user = new Set<string>();
    let after = 0;
    let before = 0;
    let end: string | undefined;
    let first: string | undefined;
    for (const line of waldump.split("\n")) {
        const tx = /tx: *(\d+)/.exec(line)?.[1];
        end = /lsn: ([0-9A-F]+\/[0-9A-F]+)/.exec(line)?.[1] ?? end;
        const rel = /rel \d+\/\d+\/(\d+)/.exec(line);
        if (tx !== undefined && tx !== "0" && rel && Number(rel[1]) >= 16384) {
            user.add(tx);
        }
        const commit = /desc: COMMIT (.*)$/.exec(line);
        if (commit && tx !== undefined && user.has(tx)) {
            const at = commit[1].slice(0, 26);
            if (promoted === undefined || at > promoted) {
                after++;
                first ??= at;
            } else {
                before++;
            }
        }
    }
    return { after, before, end, first };
}

/**
 * Whether a pg_waldump listing (stdout and stderr) read the WAL to its end. pg_waldump always stops
 * with an error, which says where: "error in WAL record at …" or "could not find a valid record
 * after …" is the end of the valid WAL; "could not find file …" after a record was listed is the end
 * of the WAL at a segment's end (segments are removed oldest first, so none is missing between the
 * first and the last). That file missing before any record is the end too when the listing also
 * holds pg_controldata's "Latest checkpoint's REDO location" and it is before SWITCHPOINT: a
 * segment is removed only by a checkpoint whose redo lies in a later segment, so the switchpoint's
 * segment was never made (a node killed right after a segment switch). Otherwise (the first
 * segment recycled or removed: a node that wrote more than its WAL keeps), no such line or any
 * other error: what the WAL holds from there is unknown, and the reason is given.
 */
export function walReadToEnd(listing: string, switchpoint?: string): { readonly end: true } | { readonly unread: string } {
    const lines = listing.split("\n").map((l) => l.trim()).filter(Boolean);
    // Its one error line, wherever stderr fell among the records (PostgreSQL flushes stdout first).
    const stop = lines.find((l) => /^pg_waldump: (fatal|error): /.test(l));
    const records = lines.some((l) => l.startsWith("rmgr: "));
    if (stop && (/^pg_waldump: (fatal|error): (error in WAL record at |could not find a valid record after )/.test(stop) ||
        (/^pg_waldump: (fatal|error): could not find file /.test(stop) && (records || neverMade(lines, switchpoint))))) {
        return { end: true };
    }
    return { unread: stop ?? lines[lines.length - 1] ?? "pg_waldump printed nothing" };
}

/** Whether LINES hold a last checkpoint's redo before SWITCHPOINT (walReadToEnd). */
function neverMade(lines: readonly string[], switchpoint: string | undefined): boolean {
    const redo = lines.map((l) => /^Latest checkpoint's REDO location:\s+(\S+)$/.exec(l)?.[1]).find(Boolean);
    try {
        return !!redo && !!switchpoint && compareLsn(redo, switchpoint) < 0;
    } catch {
        return false;   // not a WAL position: nothing is known
    }
}

/** The END_OF_RECOVERY record's time in a pg_waldump listing: when a promotion happened. */
export function promotionTime(waldump: string): string | undefined {
    return /END_OF_RECOVERY.*; time (\d{4}-[0-9-]* [0-9:.]*)/.exec(waldump)?.[1];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends readonly (infer E)[] ? E[] : T[K] };

/** One run of the topology step over the cluster of `input`. */
export class TopologyRun {
    readonly result: Mutable<Omit<TopologyResult, "ok" | "error" | "seconds">>;
    private readonly byName: ReadonlyMap<string, NodeSpec>;
    private readonly spans: boolean;
    private readonly syncNames: string;
    /** The declared primary: the new one in a switchover or failover. */
    private readonly primary: string;
    private changed = false;

    constructor(readonly input: TopologyInput, readonly silent: ReadonlyMap<string, string>,
        readonly log: (line: string) => void, readonly bounds: Bounds = BOUNDS, readonly env?: NodeJS.ProcessEnv) {
        this.byName = new Map(input.nodes.map((n) => [n.name, n]));
        this.spans = spansEngines(input.nodes, input.dockerHost);
        this.primary = input.primary;
        this.syncNames = synchronousStandbyNamesFor(input.replication, input.primary);
        this.result = { primary: input.primary, action: "none", fenced: [], lost: [], demoted: [], rejoined: [], standbys: {} };
    }

    // ---- names and the Docker runner ---------------------------------------------------------

    container(node: string): string {
        return `${this.input.namePrefix}-${node}`;
    }
    private volume(node: string): string {
        return `${this.input.namePrefix}-${node}-data`;
    }
    private spec(node: string): NodeSpec {
        return this.byName.get(node)!;
    }
    private engine(node: string): string {
        return nodeEngine(this.spec(node), this.input.dockerHost);
    }
    /** Its engine did not answer at the start of this run: nothing is sent to it. */
    lost(node: string): boolean {
        return this.silent.has(this.engine(node));
    }

    /** `docker ARGS` on NODE's engine; never throws. */
    docker(node: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<DockerRun> {
        return dockerCli(args, this.engine(node), { env: this.env, timeoutMs: opts.timeoutMs ?? this.bounds.callMs, input: opts.input });
    }
    /** `docker ARGS` on NODE's engine; throws StepFailed with the CLI's words when it fails. */
    async must(node: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
        const r = await this.docker(node, args, opts);
        if (r.err) {
            throw new StepFailed(`docker ${args.slice(0, 2).join(" ")} on ${node}: ${r.err.killed ? "no answer within " +
                `${(opts.timeoutMs ?? this.bounds.callMs) / 1000} s` : r.stderr.trim() || r.err.message}`);
        }
        return r.stdout;
    }
    /**
     * Whether `docker ARGS` (an inspect) on NODE's engine finds WHAT: false only when the engine says
     * there is no such object; any other failure (no answer within the bound, a daemon error) throws
     * StepFailed, so that a fence never passes over a container it could not see.
     */
    private async exists(node: string, args: readonly string[], what: string): Promise<boolean> {
        const r = await this.docker(node, args);
        if (!r.err) {
            return true;
        }
        if (!r.err.killed && saysNoSuch(r.stderr)) {
            return false;
        }
        throw new StepFailed(`${node}: whether its ${what} exists could not be read (${r.err.killed
            ? `no answer within ${this.bounds.callMs / 1000} s` : r.stderr.trim() || r.err.message}); it is not fenced and nothing was promoted`);
    }
    /** SQL on NODE through `docker exec psql` as the OS user postgres (peer auth: no password anywhere); unaligned tuples. */
    async sql(node: string, text: string, timeoutMs?: number): Promise<string> {
        return (await this.must(node, ["exec", "-i", "-u", "postgres", this.container(node), "psql", "-X", "-q", "-A", "-t",
            "-v", "ON_ERROR_STOP=1", "-d", "postgres"], { input: `${text}\n`, timeoutMs })).trim();
    }
    /** A throwaway container on NODE's volume (no network unless `ip` places it at NODE's address). */
    private helper(node: string, script: string, env: Record<string, string>, opts: { readOnly?: boolean; ip?: string; timeoutMs?: number;
        entrypoint?: string; args?: string[] } = {}): Promise<DockerRun> {
        const labels = Object.entries(this.input.helperLabels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
        const network = opts.ip ? ["--network", this.input.networkName, "--ip", opts.ip] : ["--network", "none"];
        const vars = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
        return this.docker(node, ["run", "--rm", ...labels, ...network, "--user", "postgres", ...vars,
            "-v", `${this.volume(node)}:${VOLUME_PATH}${opts.readOnly ? ":ro" : ""}`,
            "--entrypoint", opts.entrypoint ?? "/bin/sh", this.input.image, ...(opts.args ?? ["-c", script])], { timeoutMs: opts.timeoutMs });
    }

    private async waitFor(seconds: number, check: () => Promise<boolean>): Promise<boolean> {
        const deadline = Date.now() + seconds * 1000;
        for (;;) {
            if (await check().catch(() => false)) {
                return true;
            }
            if (Date.now() >= deadline) {
                return false;
            }
            await new Promise((r) => setTimeout(r, this.bounds.pollMs));
        }
    }

    // ---- what a node is ------------------------------------------------------------------------

    /**
     * Whether NODE is up: running, not paused, and on the cluster network (a node cut off from it
     * reaches nobody). Down only on its engine's answer (another state, or no such container); when
     * the inspect fails otherwise (no answer within the bound, a daemon error), or its engine has been
     * silent since the start of the run, why it could not be told: never taken for down.
     */
    async upState(node: string): Promise<"up" | "down" | { readonly unknown: string }> {
        if (this.lost(node)) {
            return { unknown: "its Docker engine does not answer" };
        }
        const r = await this.docker(node, ["inspect", "-f",
            `{{.State.Status}} {{if index .NetworkSettings.Networks "${this.input.networkName}"}}on{{end}}`, this.container(node)]);
        if (!r.err) {
            return r.stdout.trim() === "running on" ? "up" : "down";
        }
        return !r.err.killed && saysNoSuch(r.stderr) ? "down" : { unknown: dockerFailure(r, this.bounds.callMs) };
    }
    private async restartPolicy(node: string): Promise<string> {
        return (await this.must(node, ["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", this.container(node)])).trim();
    }
    private async setRestart(node: string, policy: "no" | "unless-stopped"): Promise<void> {
        await this.must(node, ["update", `--restart=${policy}`, this.container(node)]);
    }
    private async stop(node: string): Promise<void> {
        await this.must(node, ["stop", "-t", String(STOP_SECONDS), this.container(node)], { timeoutMs: (STOP_SECONDS + 60) * 1000 });
    }
    private async start(node: string): Promise<boolean> {
        return !(await this.docker(node, ["start", this.container(node)])).err;
    }
    /** Whether NODE streams from the primary. */
    private async follows(node: string): Promise<boolean> {
        return await this.sql(this.primary, `SELECT state FROM pg_stat_replication WHERE application_name = '${node}'`) === "streaming";
    }

    /**
     * The host part of a conninfo for node FROM to reach node TO: TO's cluster address over the
     * bridge when both are on one engine; else TO's published address and port, over TLS,
     * verifying TO's certificate against the stack's CA in FROM's volume.
     */
    route(from: string, to: string): string {
        const target = this.spec(to);
        return this.spans && this.engine(from) !== this.engine(to)
            ? `host=${target.hostAddress} port=${target.port} sslmode=verify-full sslrootcert=${CA_FILE}`
            : `host=${target.address} port=5432`;
    }
    /** "host:port" at which node FROM reaches node TO. */
    private endpoint(from: string, to: string): string {
        const m = /^host=(\S+) port=(\d+)/.exec(this.route(from, to))!;
        return `${m[1]}:${m[2]}`;
    }
    /** NODE's primary_conninfo for following the primary. */
    conninfo(node: string): string {
        return `${this.route(node, this.primary)} user=${this.input.replication.user} application_name=${node} passfile=${PASSFILE}`;
    }

    // ---- the endpoint (pooler.ts) ---------------------------------------------------------------

    /**
     * The engines whose endpoint this run acts on: the stack's, or across engines each one with a
     * node, but for an engine silent at the start of the run (its host is lost: nothing is sent there).
     */
    private endpointEngines(): string[] {
        const e = this.input.endpoint!;
        const all = e.engines ?? [this.input.dockerHost];
        for (const h of all.filter((x) => this.silent.has(x))) {
            this.log(`the endpoint on ${h} is left alone: its engine does not answer (${this.silent.get(h)}); its clients have no endpoint ` +
                "until its host is back and an up points it");
        }
        return all.filter((h) => !this.silent.has(h));
    }
    /** The endpoint's container as the log names it: with pairs on several engines, with its engine. */
    private poolerName(engine: string): string {
        const e = this.input.endpoint!;
        return e.engines ? `${e.container} on ${engine}` : e.container;
    }
    /** `docker ARGS` on ENGINE, where one of the endpoint's containers runs. */
    private pooler(engine: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<DockerRun> {
        return dockerCli(args, engine, { env: this.env, timeoutMs: opts.timeoutMs ?? this.bounds.callMs, input: opts.input });
    }
    /** A command on the endpoint's admin console on ENGINE, bounded inside the container too (`timeout`), so a PAUSE that waits ends there. */
    private admin(engine: string, command: string, seconds = 10): Promise<DockerRun> {
        return this.pooler(engine, ["exec", this.input.endpoint!.container, "timeout", String(seconds), ...adminPsql(), "-c", command],
            { timeoutMs: (seconds + 10) * 1000 });
    }
    /** The engines among ENGINES whose endpoint answers. */
    private async answering(engines: readonly string[]): Promise<string[]> {
        const up = await Promise.all(engines.map(async (h) => !(await this.admin(h, "SHOW VERSION")).err));
        return engines.filter((_, i) => up[i]);
    }

    /**
     * Pauses the endpoint on every engine where it answers, at once: the engines where it is
     * paused. PAUSE returns when every client's transaction has ended; meanwhile and after,
     * clients' new queries wait. Past pauseTimeoutSeconds, unless `force` (a failover, which never
     * waits on clients), every one is resumed and the switchover refuses with nothing stopped.
     */
    async pauseEndpoint(force: boolean, engines: readonly string[]): Promise<string[]> {
        const e = this.input.endpoint;
        if (!e) {
            return [];
        }
        const answer = await this.answering(engines);
        for (const h of engines.filter((x) => !answer.includes(x))) {
            this.log(`the endpoint (${this.poolerName(h)}) does not answer; it is not paused (the up's endpoint check re-points it)`);
        }
        const started = Date.now();
        // A failover waits little: a transaction on the dead primary never ends by itself.
        const bound = force ? Math.min(FAILOVER_PAUSE_SECONDS, e.pauseTimeoutSeconds) : e.pauseTimeoutSeconds;
        const runs = await Promise.all(answer.map((h) => this.admin(h, "PAUSE", bound)));
        const paused: string[] = [];
        const held: string[] = [];
        runs.forEach((r, i) => {
            // Left paused by a step that died mid-switchover (admin.c admin_cmd_pause: "already suspended/paused"): paused all the same.
            if (!r.err || /already suspended\/paused/.test(r.stderr)) {
                this.log(`endpoint ${this.poolerName(answer[i])} paused in ${((Date.now() - started) / 1000).toFixed(2)}s: its clients wait`);
                paused.push(answer[i]);
            } else if (force) {
                // PAUSE mode is set at once; only the wait for transactions to end was cut short.
                this.log(`endpoint ${this.poolerName(answer[i])}: transactions still open after ${bound}s (on the old primary: they fail); ` +
                    "new queries wait meanwhile");
                paused.push(answer[i]);
            } else {
                held.push(answer[i]);
            }
        });
        if (paused.length > 0) {
            this.result.endpoint = { paused: true };
        }
        if (held.length === 0) {
            return paused;
        }
        await Promise.all(answer.map((h) => this.admin(h, "RESUME")));
        throw new StepFailed(`switchover refused: clients of the endpoint (${held.map((h) => this.poolerName(h)).join(", ")}) kept ` +
            `transactions open for more than ${e.pauseTimeoutSeconds}s (pg-replication:endpoints.pauseTimeoutSeconds), so it could not be ` +
            "paused; nothing was stopped and the endpoint is resumed. Run up again when they are done, or raise the bound");
    }

    /**
     * The endpoint on ENGINES sends writes to the primary from now on (a changed target closes each
     * server connection as its transaction ends): on the primary's engine at its cluster address, on
     * another at its host's address and published port. Where it is among RESUME, it is resumed in
     * the same call (one `docker exec` per engine: over ssh each is a round trip clients wait on);
     * the engines resumed so: `resumed`.
     */
    async pointEndpoint(engines: readonly string[], resume: readonly string[] = []): Promise<void> {
        const e = this.input.endpoint!;
        const p = this.spec(this.primary);
        const admin = (command: string) => ["timeout", "10", ...adminPsql(), "-c", command].join(" ");
        const failed: string[] = [];
        await Promise.all(engines.map(async (h) => {
            const target = !e.engines || h === this.engine(this.primary) ? poolerTarget(p.address) : poolerTarget(p.hostAddress!, p.port);
            const resumeToo = resume.includes(h);
            const r = await this.pooler(h, ["exec", "-i", e.container, "sh", "-c",
                `cat > ${POOLER_DIR}/target.ini.new && mv ${POOLER_DIR}/target.ini.new ${POOLER_DIR}/target.ini && ${admin("RELOAD")}` +
                (resumeToo ? ` && ${admin("RESUME")}` : "")], { input: `${target}\n`, timeoutMs: 30_000 });
            if (r.err) {
                failed.push(`${this.poolerName(h)}: ${r.stderr.trim() || r.err.message}`);
                return;
            }
            if (resumeToo) {
                this.resumed.add(h);
            }
            this.log(`endpoint ${this.poolerName(h)}: writes go to ${this.primary} (${target})${resumeToo ? ", resumed" : ""}`);
        }));
        if (failed.length > 0) {
            throw new StepFailed(`the endpoint could not be pointed at ${this.primary}: ${failed.join("; ")}`);
        }
        this.result.endpoint = { paused: this.result.endpoint?.paused ?? false, target: this.primary };
    }
    /** The engines whose endpoint pointEndpoint resumed. */
    private readonly resumed = new Set<string>();

    /** Clients' waiting queries go on (to the primary the endpoint now names), on ENGINES. */
    async resumeEndpoint(engines: readonly string[]): Promise<void> {
        await Promise.all(engines.map(async (h) => {
            const r = await this.admin(h, "RESUME");
            if (r.err) {
                this.log(`the endpoint (${this.poolerName(h)}) could not be resumed: ${r.stderr.trim() || r.err.message}; ` +
                    "the up's endpoint check resumes it");
            }
        }));
    }

    /** FN with the endpoint paused (pauseEndpoint), pointed at the primary and resumed if FN succeeds, resumed whatever happens. */
    private async withEndpointPaused(force: boolean, fn: () => Promise<void>): Promise<void> {
        const engines = this.input.endpoint ? this.endpointEngines() : [];
        const paused = await this.pauseEndpoint(force, engines);
        try {
            await fn();
            if (this.input.endpoint) {
                const others = await this.answering(engines.filter((h) => !paused.includes(h)));
                if (paused.length + others.length > 0) {
                    await this.pointEndpoint([...paused, ...others], paused);
                }
            }
        } finally {
            const left = paused.filter((h) => !this.resumed.has(h));
            if (left.length > 0) {
                await this.resumeEndpoint(left);
            }
        }
    }

    // ---- the steps -----------------------------------------------------------------------------

    /** NODE's volume made a standby of the primary, through a throwaway container without network. */
    async rewrite(node: string): Promise<boolean> {
        const r = await this.helper(node, REWRITE_SH, { CONNINFO: this.conninfo(node), SLOT: node });
        return !r.err;
    }

    /** On the target while it is still a standby: a slot for every other node and the commit policy. */
    async prepareTarget(): Promise<void> {
        const slots = this.input.nodes.filter((n) => n.name !== this.primary).map((n) => `SELECT pg_create_physical_replication_slot('${n.name}', true)
    WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '${n.name}');`);
        await this.sql(this.primary, [...slots,
            `ALTER SYSTEM SET synchronous_standby_names = '${this.syncNames.replace(/'/g, "''")}';`,
            `ALTER SYSTEM SET synchronous_commit = '${this.input.replication.synchronousCommit}';`,
            "SELECT pg_reload_conf();"].join("\n"));
    }

    async promote(): Promise<void> {
        const t = this.input.timeoutSeconds;
        if (await this.sql(this.primary, `SELECT pg_promote(true, ${t})`, (t + 30) * 1000) !== "t") {
            throw new StepFailed(`${this.primary} did not finish promotion within ${t}s`);
        }
    }

    /**
     * Every other running standby follows the primary, by reload (no restart). One that could not be
     * told running is said and passed over, not the end of the step: the primary is promoted by now,
     * and the others (the old primary's rejoin too) are still to follow it; the gates fail on it.
     */
    async repoint(skip?: string): Promise<void> {
        for (const n of this.input.nodes.map((x) => x.name).filter((x) => x !== this.primary && x !== skip)) {
            const up = await this.upState(n);
            if (up !== "up") {
                this.log(up === "down" ? `${n} (${this.container(n)}) is not running; it is not repointed`
                    : `${n}: whether its container ${this.container(n)} runs could not be read (${up.unknown}); it is not repointed`);
                continue;
            }
            await this.sql(n, `ALTER SYSTEM SET primary_conninfo = '${this.conninfo(n)}';
ALTER SYSTEM SET primary_slot_name = '${n}';
SELECT pg_reload_conf();`);
        }
    }

    /**
     * A checkpoint on the old primary while it still takes writes, so that its shutdown checkpoint
     * (inside the write downtime) has only what was dirtied since to flush. Autobase does the same
     * before it stops a primary (its upgrade and update roles: "Execute CHECKPOINT before stopping
     * PostgreSQL"). Only a speed-up: when it fails or overruns, the clean stop still flushes everything.
     */
    async checkpointBeforeStop(old: string): Promise<void> {
        await this.sql(old, "CHECKPOINT", STOP_SECONDS * 1000).catch((err) =>
            this.log(`the checkpoint on ${old} before its stop failed (${(err as Error).message.split("\n")[0]}); its clean stop flushes instead`));
    }

    /** The old primary stopped cleanly; its shutdown checkpoint, read from its volume. Started again on an unclean stop. */
    async stopCleanly(old: string): Promise<string> {
        await this.stop(old);
        const control = await this.helper(old, "", {}, { readOnly: true, entrypoint: "pg_controldata", args: [PGDATA] });
        const state = /^Database cluster state: *(.*)$/m.exec(control.stdout)?.[1];
        const checkpoint = /^Latest checkpoint location: *(.*)$/m.exec(control.stdout)?.[1];
        if (control.err || state !== "shut down" || checkpoint === undefined) {
            await this.start(old);
            throw new StepFailed(`switchover aborted: ${old} did not shut down cleanly (cluster state '${state ?? control.stderr.trim()}'); ` +
                "it was started again as primary");
        }
        return checkpoint;
    }

    /** The target has replayed the old primary's shutdown checkpoint: it holds every commit the old one acknowledged. */
    async awaitCheckpoint(old: string, checkpoint: string): Promise<void> {
        const t = this.input.timeoutSeconds;
        if (!await this.waitFor(t, async () => await this.sql(this.primary, `SELECT pg_last_wal_replay_lsn() > '${checkpoint}'::pg_lsn`) === "t")) {
            await this.start(old);
            const replayed = await this.sql(this.primary, "SELECT pg_last_wal_replay_lsn()").catch(() => "unknown");
            throw new StepFailed(`switchover aborted: ${this.primary} did not replay ${old}'s shutdown checkpoint ${checkpoint} within ` +
                `${t}s (replayed: ${replayed}); ${old} was started again as primary`);
        }
    }

    async switchover(old: string): Promise<void> {
        this.log(`switchover: ${this.primary} (${this.container(this.primary)}) becomes the primary, ${old} (${this.container(old)}) a standby of it`);
        this.result.action = "switchover";
        this.result.from = old;
        await this.prepareTarget();
        await this.checkpointBeforeStop(old);
        await this.withEndpointPaused(false, async () => {
            const checkpoint = await this.stopCleanly(old);
            await this.awaitCheckpoint(old, checkpoint);
            await this.promote();
        });
        await this.repoint(old);
        const path = await this.rejoin(old, "start");
        // Slots the old primary kept for its standbys would hold WAL on it now that nobody uses them.
        await this.sql(old, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active").catch(() =>
            this.log(`the old slots on ${old} could not be dropped; drop them by hand (SELECT * FROM pg_replication_slots on ${this.container(old)})`));
        this.log(`switchover: ${this.primary} is the primary; ${old} rejoined as its standby ${describeRejoin(path)}`);
    }

    /**
     * NODE can never come back as a primary: Docker will not start it by itself (restart policy no,
     * which a daemon restart or a reboot honours), it is not running (killed; a paused one too:
     * unpausing it would let it take writes), and its volume says standby of the primary. A node
     * whose engine does not answer cannot be told anything: planFailover refused the failover unless
     * its server does not answer either (its host is lost), and then it is said, not fenced.
     */
    async fence(node: string): Promise<void> {
        const c = this.container(node);
        if (this.lost(node)) {
            this.result.lost.push(node);
            this.log(`${node}'s host is lost: its engine does not answer and its server at ${this.endpoint(this.primary, node)} ` +
                `does not answer from ${this.primary}; it cannot be fenced now. If it comes back running as a primary, the next up demotes it ` +
                "(and says what it wrote meanwhile)");
            return;
        }
        if (await this.exists(node, ["inspect", c], `container ${c}`)) {
            await this.setRestart(node, "no");
            // Killed, not stopped: a server cut off from its standbys would hold a clean shutdown until its
            // walsenders gave up, and the node diverged anyway (it is rewound when it comes back).
            const status = (await this.must(node, ["inspect", "-f", "{{.State.Status}}", c])).trim();
            if (["paused", "restarting", "running"].includes(status)) {
                await this.must(node, ["kill", c]);
            }
            const seen = (await this.must(node, ["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} {{.State.Running}}", c])).trim();
            if (seen !== "no false") {
                throw new StepFailed(`${node} (${c}) could not be fenced (restart policy, running: ${seen}); nothing was promoted`);
            }
        }
        if (await this.exists(node, ["volume", "inspect", this.volume(node)], `volume ${this.volume(node)}`) && !await this.rewrite(node)) {
            throw new StepFailed(`${node}'s volume ${this.volume(node)} could not be rewritten as a standby of ${this.primary}; nothing was promoted`);
        }
        this.result.fenced.push(node);
        this.log(`${node} fenced: restart policy no, stopped, its volume a standby of ${this.primary}`);
    }

    async failover(plan: FailoverPlan, states: readonly NodeState[]): Promise<void> {
        const target = states.find((s) => s.name === this.primary)!;
        const down = states.filter((s) => s.name !== this.primary && !(s.unreachable === undefined && s.inRecovery === true)).map((s) => s.name);
        this.result.action = "failover";
        this.result.from = plan.from;
        this.log(`failover: no reachable primary; ${this.primary} (${this.container(this.primary)}, WAL up to ${target.receivedLsn}) becomes ` +
            `the primary; fencing: ${down.join(" ") || "nothing"}`);
        for (const n of down) {
            await this.fence(n);
        }
        await this.prepareTarget();
        await this.withEndpointPaused(true, () => this.promote());
        await this.repoint();
        const tli = await this.sql(this.primary, "SELECT timeline_id FROM pg_control_checkpoint()").catch(() => "?");
        this.log(`failover: ${this.primary} is the primary (timeline ${tli})`);
    }

    /**
     * Brings NODE in as a standby of the primary. `first` is "start" after a clean switchover
     * (nothing to rewind), "rewind" for a node that may have diverged. pg_rewind reads the
     * source's control file, which promotion updates only at its checkpoint: one is asked first.
     */
    async rejoin(node: string, first: "start" | "rewind"): Promise<RejoinPath> {
        const c = this.container(node);
        await this.stop(node);
        if (first === "start") {
            await this.rewriteOrFail(node);
            if (await this.start(node) && await this.waitFor(this.bounds.followSeconds, () => this.follows(node))) {
                await this.setRestart(node, "unless-stopped");
                return this.rejoined(node, { via: "start" });
            }
            this.log(`${node} does not follow ${this.primary} after ${this.bounds.followSeconds}s; rewinding it with pg_rewind`);
            await this.stop(node);
        }
        await this.sql(this.primary, "CHECKPOINT");
        await this.sql(this.primary, REWIND_GRANTS.map((f) => `GRANT EXECUTE ON FUNCTION pg_catalog.${f} TO "${this.input.replication.user}";`).join("\n"));
        const source = `${this.route(node, this.primary)} user=${this.input.replication.user} dbname=postgres passfile=${PASSFILE}`;
        const rewind = await this.helper(node, REWIND_SH, { SOURCE: source, ALLOW_DATA_LOSS: String(this.input.allowDataLoss) },
            { ip: this.spec(node).address, timeoutMs: 0 });
        const out = `${rewind.stdout}${rewind.stderr}`;
        await this.rewriteOrFail(node);
        if (rewind.err && (rewind.err as { code?: unknown }).code === 42) {
            const note = rewind.stdout.trim();
            this.result.kept = { node, note };
            throw new StepFailed(`${node} is not brought in: ${note}. pg_rewind would discard them. ${node} is fenced (stopped, restart ` +
                `policy no) and its data untouched: to read them, start it (docker start ${c}: it comes up read-only with its own ` +
                "data); to discard them and bring it in, set pg-replication:allowDataLoss to true and run up");
        }
        if (!rewind.err && await this.start(node) && await this.waitFor(this.bounds.followSeconds, () => this.follows(node))) {
            await this.setRestart(node, "unless-stopped");
            const said = out.split("\n").find((l) => /diverged at|no rewind required/.test(l))?.replace(/^.*pg_rewind: /, "");
            return this.rejoined(node, { via: "pg_rewind", said: said ?? "rewound" });
        }
        this.log(out.trim());
        this.log(`pg_rewind did not bring ${node} back; LAST RESORT: ${node} is cloned afresh from ${this.primary} (its data is replaced)`);
        await this.stop(node);
        await this.sql(this.primary, `SELECT pg_drop_replication_slot('${node}') FROM pg_replication_slots WHERE slot_name = '${node}' AND NOT active`);
        const clone = await this.helper(node, CLONE_SH, { CONNINFO: this.conninfo(node), SLOT: node }, { ip: this.spec(node).address, timeoutMs: 0 });
        this.log(`${clone.stdout}${clone.stderr}`.trim());
        await this.rewriteOrFail(node);
        await this.start(node);
        if (!await this.waitFor(this.input.timeoutSeconds, () => this.follows(node))) {
            throw new StepFailed(`${node} does not follow ${this.primary} even after a fresh clone`);
        }
        await this.setRestart(node, "unless-stopped");
        return this.rejoined(node, { via: "fresh clone" });
    }

    private async rewriteOrFail(node: string): Promise<void> {
        if (!await this.rewrite(node)) {
            throw new StepFailed(`${node}'s volume ${this.volume(node)} could not be rewritten as a standby of ${this.primary}`);
        }
    }

    private rejoined(node: string, path: RejoinPath): RejoinPath {
        this.result.rejoined.push({ node, path });
        this.changed = true;
        return path;
    }

    /**
     * NODE runs as primary on TIMELINE, which the declared primary left at SWITCHPOINT when it was
     * promoted: it came back after a failover that could not fence it (its host was lost). Fenced
     * now, then what it committed beyond the switchpoint is read from its WAL (countCommits), split
     * by commit time against the promotion's (the END_OF_RECOVERY record the new primary wrote at the
     * switchpoint): committed before is the loss the failover announced (said, rewound away);
     * committed after are writes taken while another node was primary, written down in its volume
     * (DIVERGED): its rejoin needs allowDataLoss, and until then it stays fenced, data untouched.
     * Commit times come from each host's clock: hosts are expected to keep time (NTP).
     */
    async demoteStale(node: string, timeline: number, switchpoint: string, history: string, primaryTimeline: number): Promise<void> {
        this.log(`${node} runs as primary on timeline ${timeline}, which ${this.primary} left at ${switchpoint} when it was promoted: ` +
            `${node} is a former primary back after a failover that could not fence it; fencing it now`);
        await this.fence(node);
        // The timeline that began at the switchpoint: the one after TIMELINE in the history, else the current one.
        const lines = history.split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => /^\d+$/.test(f[0] ?? ""));
        const at = lines.findIndex((f) => Number(f[0]) === timeline);
        const child = at >= 0 && at + 1 < lines.length ? Number(lines[at + 1][0]) : primaryTimeline;
        const dump = await this.docker(this.primary, ["exec", "-u", "postgres", this.container(this.primary), "sh", "-c",
            `pg_waldump -p "$PGDATA/pg_wal" -t ${child} -s ${switchpoint} -n 20 2>/dev/null`]);
        const promoted = promotionTime(dump.stdout);
        // Its WAL must be read to the end: a listing cut short (its first segment gone, the helper
        // failing) counts nothing it did not show, and a count of none would let the rewind discard.
        const own = await this.helper(node, `pg_waldump -p ${PGDATA}/pg_wal -t ${timeline} -s ${switchpoint} 2>&1 || true; ` +
            `pg_controldata ${PGDATA} | grep '^Latest checkpoint.s REDO location:' || true`, {}, { readOnly: true, timeoutMs: 0 });
        const read = own.err ? { unread: `the helper container failed: ${own.stderr.trim() || own.err.message}` }
            : walReadToEnd(own.stdout, switchpoint);
        const seen = countCommits(own.stdout, promoted);
        this.result.demoted.push({ node, committedBefore: seen.before, committedAfter: seen.after, ...("unread" in read ? { unread: read.unread } : {}) });
        if (seen.before > 0) {
            this.log(`${node} holds ${seen.before} transaction(s) writing user data committed before ${this.primary} was promoted` +
                `${promoted ? ` (${promoted})` : ""} that ${this.primary} does not have: the loss the failover announced; its rewind discards them`);
        }
        if (seen.after > 0 || "unread" in read) {
            const note = "unread" in read
                ? `${node} may have committed transactions writing user data after ${this.primary} was promoted: its WAL on timeline ` +
                    `${timeline} from ${switchpoint} could not be read to its end (${read.unread}), so what it holds counts as diverged` +
                    (seen.after > 0 ? ` (${seen.after} such transaction(s) among what was read, up to ${seen.end})` : "")
                : `${node} committed ${seen.after} transaction(s) writing user data after ${this.primary} was promoted` +
                    (promoted ? ` (${promoted}; the first at ${seen.first}), while it was cut off`
                        : ", or may have: the time of the promotion could not be read, so every one counts") +
                    ` (its WAL on timeline ${timeline} from ${switchpoint} up to ${seen.end ?? switchpoint})`;
            const w = await this.helper(node, `printf '%s\\n' "$NOTE" > ${DIVERGED}`, { NOTE: note });
            if (w.err) {
                throw new StepFailed(`${node}: the note of what it committed could not be written to its volume: ${w.stderr.trim()}`);
            }
            this.log(`WARNING: ${note}`);
        } else {
            this.log(`${node} wrote no user data after ${this.primary} was promoted (its WAL from ${switchpoint} on timeline ${timeline})`);
        }
    }

    /** Nodes whose data is of another major than the primary's, left to their seeds (bringIn), not gated. */
    private readonly otherMajors = new Set<string>();
    private primaryMajor?: Promise<number>;

    /**
     * N's and the primary's PostgreSQL majors when they differ, else undefined: a major upgrade half
     * done (N older), or one given up by config (N newer: the failed upgrade's primary, after a
     * failover to a standby of the old major). N's is its server's when it runs, else its volume's
     * PG_VERSION, read by a throwaway container.
     */
    private async otherMajor(n: string, running: boolean): Promise<{ node: number; primary: number } | undefined> {
        const asked = async (x: string) => versionNumMajor(await this.sql(x, "SHOW server_version_num").catch(() => ""));
        const stored = async (x: string) => {
            const r = await this.helper(x, "", {}, { readOnly: true, entrypoint: "cat", args: [`${PGDATA}/PG_VERSION`] });
            return r.err ? NaN : Number(r.stdout.trim());
        };
        this.primaryMajor ??= asked(this.primary);
        const [node, primary] = await Promise.all([running ? asked(n) : stored(n), this.primaryMajor]);
        return node >= 10 && primary >= 10 && node !== primary ? { node, primary } : undefined;
    }

    /** Says why N is left to its seed, and remembers it for the gates. */
    private leaveToSeed(n: string, majors: { node: number; primary: number }): void {
        this.log(`${n} holds PostgreSQL ${majors.node} data and the primary ${this.primary} runs ${majors.primary}: not brought in ` +
            `here; its seed clones it again from ${this.primary} when its container is replaced on the stack's image` +
            (majors.node > majors.primary ? ` (its PostgreSQL ${majors.node} data kept beside, README "A new major")` : ""));
        this.otherMajors.add(n);
    }

    /** Every running node that does not stream from the primary is brought in as its standby. */
    async bringIn(): Promise<void> {
        const net = this.input.networkName;
        for (const n of this.input.nodes.map((x) => x.name).filter((x) => x !== this.primary)) {
            if (this.lost(n)) {
                this.log(`${n} is not brought in now: its Docker engine does not answer; the up after its host is back does it`);
                continue;
            }
            const c = this.container(n);
            const up = await this.upState(n);
            if (typeof up === "object") {
                // The gates, after, fail on it unless it answers by then.
                this.log(`${n}: whether its container ${c} runs could not be read (${up.unknown}); it is not brought in now`);
                continue;
            }
            if (up === "down") {
                // A fenced node that is stopped on the cluster network (killed, or its fault undone) is back:
                // it is rewound now. One still paused or cut off waits for the up after its fault is undone.
                const r = await this.docker(n, ["inspect", "-f",
                    `{{.HostConfig.RestartPolicy.Name}} {{.State.Status}} {{if index .NetworkSettings.Networks "${net}"}}on{{end}}`, c]);
                const seen = r.err ? "" : r.stdout.trim();
                if (seen !== "no exited on" && seen !== "no created on") {
                    if (seen.startsWith("no ")) {
                        this.log(`${n} is fenced (${seen}): undo its fault (unpause it, connect it to ${net}) and run up again ` +
                            `to bring it in as a standby of ${this.primary}`);
                    }
                    continue;
                }
                const other = await this.otherMajor(n, false);
                if (other) {
                    this.leaveToSeed(n, other);
                    continue;
                }
                this.log(`${n} is fenced and stopped on ${net}; bringing it in as a standby of ${this.primary}`);
                this.log(`${n} rejoined as a standby of ${this.primary} ${describeRejoin(await this.rejoin(n, "rewind"))}`);
                continue;
            }
            const other = await this.otherMajor(n, true);
            if (other) {
                // No server of one major can follow a primary of another; its seed clones it again.
                this.leaveToSeed(n, other);
                continue;
            }
            if (await this.waitFor(this.bounds.joinCheckSeconds, () => this.follows(n))) {
                // A fenced node that followed by itself once started (it had not diverged) is ordinary again.
                if (await this.restartPolicy(n) === "no") {
                    await this.setRestart(n, "unless-stopped");
                    this.rejoined(n, { via: "followed" });
                    this.log(`${n} follows ${this.primary}; its restart policy is unless-stopped again`);
                }
                continue;
            }
            this.log(`${n} runs but does not stream from ${this.primary}; bringing it in as a standby`);
            this.log(`${n} rejoined as a standby of ${this.primary} ${describeRejoin(await this.rejoin(n, "rewind"))}`);
        }
    }

    /**
     * Every running standby streams from the primary, in its promised sync_state once the promised
     * policy is in place. A switchover or failover applies it (prepareTarget); a changed policy
     * alone (async -> sync, say) is the replication-policy command's, which runs after every node,
     * so until then a standby is waited for as streaming only.
     */
    async gates(): Promise<void> {
        const live = await this.sql(this.primary, "SHOW synchronous_standby_names").catch(() => undefined);
        for (const n of this.input.nodes.map((x) => x.name).filter((x) => x !== this.primary)) {
            const up = await this.upState(n);
            if (up === "down") {
                this.log(`${n} is not running; not waited for`);
                this.result.standbys[n] = "not running";
                continue;
            }
            if (up !== "up") {
                // A node whose engine was silent when the run began is left alone, said (nothing is sent there);
                // any other could be running without streaming.
                if (!this.lost(n)) {
                    throw new StepFailed(`${n}: whether its container ${this.container(n)} runs could not be read (${up.unknown}), so whether ` +
                        `it streams from ${this.primary} is not known`);
                }
                this.log(`${n} is not waited for: its Docker engine does not answer`);
                this.result.standbys[n] = "its engine does not answer";
                continue;
            }
            if (this.otherMajors.has(n)) {
                this.result.standbys[n] = "another major";
                continue;
            }
            const promised = expectedSyncState(this.input.replication, this.primary, n);
            const any = live !== this.syncNames;
            let seen = "";
            const inState = async () => {
                seen = await this.sql(this.primary, `SELECT state || '/' || sync_state FROM pg_stat_replication WHERE application_name = '${n}'`);
                return any ? seen.split("/")[0] === "streaming" : seen === `streaming/${promised}`;
            };
            if (!await this.waitFor(this.input.timeoutSeconds, inState)) {
                throw new StepFailed(`${n} should stream from ${this.primary} as ${any ? "any sync_state (the new policy is applied later)" : promised} ` +
                    `but is ${seen || "not connected"} after ${this.input.timeoutSeconds}s`);
            }
            this.result.standbys[n] = seen;
        }
    }

    /** Acts on the plan: refuses what the planners refuse, else switches, fails over or demotes, then brings in and gates. */
    async act(plan: TopologyPlan, states: readonly NodeState[]): Promise<void> {
        const refusal = refusalOf(plan, this.input.allowDataLoss);
        if (refusal) {
            throw new StepFailed(refusalText(refusal.kind, refusal.problems));
        }
        switch (plan.kind) {
            case "new":
                throw new StepFailed(`failover refused: no node of the cluster exists (${states.map((s) => `${s.name}: ${s.unreachable}`).join(", ")})`);
            case "no-primary":
                throw new StepFailed(`failover refused: ${plan.problems.join("; ")}`);
            case "switchover":
                await this.switchover(plan.from);
                this.changed = true;
                break;
            case "failover":
                await this.failover(plan, states);
                this.changed = true;
                break;
            case "stale-primaries": {
                const byName = new Map(states.map((s) => [s.name, s]));
                const declared = byName.get(plan.primary)!;
                const { history, diverged } = await staleDivergence(this.input, declared, plan.stale.map((p) => byName.get(p.name)!),
                    { env: this.env });
                for (const d of diverged) {
                    await this.demoteStale(d.name, byName.get(d.name)!.timeline!, d.switchpoint, history, declared.timeline!);
                }
                this.changed = true;
                break;
            }
            case "none":
            case "several-primaries":
                break;
        }
        await this.bringIn();
        await this.gates();
        // What the gates saw, not the policy again: they passed, so a running standby is in its promised state.
        const seen = Object.entries(this.result.standbys).map(([n, state]) => `${n}=${state}`);
        this.log(this.changed || this.result.rejoined.length > 0 ? `topology: ${this.primary} is the primary; standbys: ${seen.join(" ") || "none"}`
            : `${this.primary} is the primary; nothing to switch`);
    }
}
