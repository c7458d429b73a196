// Backups of a running stack (README "Backups"): an on-demand backup, and a verified restore: the
// proof that the repository gives back the cluster as it was. What they act on comes from the
// stack's outputs (outputs.backup, the nodes); everything runs through the docker CLI, on the node
// that is primary now on its own engine, the records and the throwaway restore on the records'
// engine (every node's; across engines the first node's). Used by backup/main.ts and the e2e suite.

import { execFile } from "node:child_process";
import { dockerCli, dockerFailure } from "../components/docker-cli";
import { parseLines, scriptOf } from "../components/fragments";
import { readVerified, REPO_PATH, repoNetwork, RESTORE_POINTS_FILE, unreadableRecord, VERIFIED_FILE, VERIFY_FAILED_FILE } from "../components/pgbackrest";
import { RESTORE_POINT_NAME } from "../components/restore";
import { peersValue } from "../components/spec";

/** What the tools need from the stack's outputs. */
export interface BackupTarget {
    /**
     * The engine of the records of proven restores and of the throwaway restore: every node's, or
     * with the nodes on several engines (backup.s3) the first node's (outputs.backup.engine).
     */
    readonly engine: string;
    /** Every node's container; the primary is found among them. */
    readonly containers: readonly string[];
    /** Each container's engine. */
    readonly engines: Readonly<Record<string, string>>;
    /** With the nodes on several engines: every node as lib.sh's PEERS, for the scripts. */
    readonly peers?: string;
    readonly volume: string;
    readonly stanza: string;
    /** The backup image: the throwaway restore runs it. */
    readonly image: string;
    /** The throwaway restore's network: none for a volume repository, the engine's bridge for S3 (repoNetwork). */
    readonly network: "none" | "bridge";
    /** With backup.schedule: the scheduler's container, where a backup by hand runs too (from a standby, as its own). */
    readonly scheduler?: string;
}

/** The kinds of backup pgBackRest takes: full, or the changes since the last full (diff) or last backup (incr). */
export const BACKUP_TYPES = ["full", "diff", "incr"] as const;
export type BackupType = typeof BACKUP_TYPES[number];

/** What a verified restore found; written to the repository (VERIFIED_FILE) and printed. */
export interface VerifyResult {
    /** When the restore was proven, ISO 8601. */
    readonly verifiedAt: string;
    /** The backup set it started from (pgBackRest's label). */
    readonly backup: string;
    /** The marker row written on the primary before the restore, and whether the restore has it. */
    readonly marker: { readonly token: string; readonly writtenAt: string; readonly found: boolean };
    readonly restoreSeconds: number;
    /** Replaying the archive to its end, until the restored server promoted. */
    readonly recoverySeconds: number;
    /** The last WAL record recovery replayed: where the archive ended. */
    readonly lsn: string;
    readonly timeline: number;
    readonly tables: number;
    readonly rows: number;
    readonly indexesChecked: number;
}


export class BackupToolError extends Error {}

/** The stack's outputs as a target; refuses a stack without backups. */
export function targetFromOutputs(stack: string, outputs: Record<string, any>): BackupTarget {
    const b = outputs.backup;
    if (!b || typeof b.volume !== "string") {
        throw new BackupToolError(`stack ${stack} has no backups (set pg-replication:backup and run scripts/deploy.sh ${stack})`);
    }
    const nodes = Object.values(outputs.nodes ?? {}) as Record<string, unknown>[];
    // Stacks deployed before nodes could have engines of their own name none: the stack's.
    const stackEngine = String(outputs.engine?.host ?? "unix:///var/run/docker.sock");
    const engineOf = (n: Record<string, unknown>) => typeof n.engine === "string" && n.engine !== "" ? n.engine : stackEngine;
    const spans = new Set(nodes.map(engineOf)).size > 1;
    return {
        engine: typeof b.engine === "string" ? b.engine : nodes.length > 0 ? engineOf(nodes[0]) : stackEngine,
        containers: nodes.map((n) => String(n.containerName)),
        engines: Object.fromEntries(nodes.map((n) => [String(n.containerName), engineOf(n)])),
        // The outputs' host is the node's host address across engines (cluster.ts clientHost).
        ...(spans ? { peers: peersValue(nodes.map((n) => ({ name: n.name, container: n.containerName, engine: engineOf(n),
            address: n.address, hostAddress: n.host, port: n.port }))) } : {}),
        volume: b.volume,
        stanza: String(b.stanza),
        image: String(b.image),
        network: repoNetwork(b),
        ...(b.schedule?.containerName ? { scheduler: String(b.schedule.containerName) } : {}),
    };
}

/** The docker CLI on the records' engine, or with ON on that container's engine. */
async function docker(t: BackupTarget, args: string[], timeoutMs: number, input?: string, on?: string): Promise<string> {
    const r = await dockerCli(args, on ? engineOf(t, on) : t.engine, { timeoutMs, ...(input !== undefined ? { input } : {}) });
    if (r.err) {
        throw new BackupToolError(`docker ${args.slice(0, 3).join(" ")} …: ${r.stderr.trim() || dockerFailure(r, timeoutMs)}`);
    }
    return r.stdout;
}

/** The node that is primary now: the one whose server answers that it is not in recovery. */
export async function findPrimary(t: BackupTarget): Promise<string> {
    const answers = await Promise.all(t.containers.map(async (c) => {
        const r = await dockerCli(["exec", "-u", "postgres", c, "psql", "-X", "-A", "-t", "-c", "SELECT pg_is_in_recovery()"], engineOf(t, c),
            { timeoutMs: 10_000 });
        return { c, primary: !r.err && r.stdout.trim() === "f" };
    }));
    const primaries = answers.filter((a) => a.primary).map((a) => a.c);
    if (primaries.length !== 1) {
        throw new BackupToolError(`expected one primary among ${t.containers.join(", ")}, found ${primaries.length}` +
            `${primaries.length ? ` (${primaries.join(", ")})` : ""}: run npm run status`);
    }
    return primaries[0];
}

/** pgBackRest on the primary, as postgres (the container names the stanza and the settings file). */
function pgbackrest(t: BackupTarget, primary: string, args: string[], timeoutMs: number): Promise<string> {
    return docker(t, ["exec", "-u", "postgres", primary, "pgbackrest", ...args], timeoutMs, undefined, primary);
}

/** A node container's engine (the records' when the outputs name none). */
function engineOf(t: BackupTarget, container: string): string {
    return t.engines?.[container] ?? t.engine;
}

/**
 * SCRIPT run by sh as postgres where the records are (backup-tools.sh records_sh, the same two
 * ways): in the primary's container, or across engines in a throwaway container on the records'
 * engine with the settings volume mounted.
 */
function records(t: BackupTarget, primary: string, script: string, args: string[], timeoutMs: number, input?: string):
    ReturnType<typeof dockerCli> {
    return t.peers
        ? dockerCli(["run", "--rm", "-i", "--network", "none", "-u", "postgres", "--label", "pg-replication.role=backup-records",
            "-v", `${t.volume}:${REPO_PATH}`, "--entrypoint", "/bin/sh", t.image, "-c", script, ...args], t.engine,
        { timeoutMs, input: input ?? "" })
        : dockerCli(["exec", "-i", "-u", "postgres", primary, "sh", "-c", script, ...args], engineOf(t, primary), { timeoutMs, input: input ?? "" });
}

/**
 * A function of backup-tools.sh (backup_take, backup_verify: the scheduler container runs the same)
 * on the Pulumi host with the docker CLI on the stack's engine, acting on PRIMARY; bounded by
 * TIMEOUT_MS. Its stdout, or a BackupToolError with the error line it printed or its last words.
 */
function backupTools(t: BackupTarget, primary: string, call: string, timeoutMs: number, log?: (s: string) => void): Promise<string> {
    const env = { ...process.env, DOCKER_HOST: t.engine, PRIMARY_CONTAINER: primary, STANZA: t.stanza, VOLUME: t.volume,
        IMAGE: t.image, REPO_PATH, VERIFIED_FILE, VERIFY_FAILED_FILE, REPO_NETWORK: t.network, ...(t.peers ? { PEERS: t.peers } : {}) };
    return new Promise((resolve, reject) => {
        const child = execFile("/bin/sh", ["-c", scriptOf(call)], { env, timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 32 << 20 },
            (err, stdout, stderr) => {
                if (!err) {
                    resolve(`${stdout}`);
                    return;
                }
                const why = parseLines(`${stdout}`).error ?? (err.killed ? `no end within ${timeoutMs / 1000} s`
                    : `${stderr}`.trim().split("\n").slice(-3).join(" ") || err.message);
                reject(new BackupToolError(why));
            });
        // What the script says as it goes (lib.sh log), line by line.
        let partial = "";
        child.stderr?.on("data", (chunk) => {
            const lines = (partial + chunk).split("\n");
            partial = lines.pop() ?? "";
            lines.filter((l) => l !== "").forEach((l) => log?.(l));
        });
    });
}

/**
 * A backup of TYPE (backup-tools.sh backup_take); its label, how long it took, the primary and the
 * node it was read from. With a scheduler running it is taken there, as the scheduler takes its
 * own: from a standby that streams when there is one and backup.schedule.fromStandby is on (the
 * scheduler's environment says), else from the primary. Without one, on the primary from here.
 */
export async function takeBackup(t: BackupTarget, type: BackupType, timeoutSeconds: number):
    Promise<{ label: string; seconds: number; primary: string; source: string }> {
    const primary = await findPrimary(t);
    const started = Date.now();
    const call = `backup_take ${type}\necho "source=$BACKUP_SOURCE"\necho "label=$(newest_backup)"`;
    let out: string;
    if (t.scheduler && (await dockerCli(["inspect", "-f", "{{.State.Running}}", t.scheduler], t.engine, { timeoutMs: 10_000 })).stdout.trim() === "true") {
        out = await docker(t, ["exec", "-e", `PRIMARY_CONTAINER=${primary}`, t.scheduler, "sh", "-c", scriptOf(call)], timeoutSeconds * 1000);
    } else {
        out = await backupTools(t, primary, call, timeoutSeconds * 1000);
    }
    const said = parseLines(out);
    return { label: said.label || "?", seconds: (Date.now() - started) / 1000, primary, source: said.source ?? primary };
}

/**
 * The verified restore (backup-tools.sh backup_verify, which the scheduler runs after every full
 * backup): a marker row on the primary, its WAL pushed to the repository, the newest backup restored
 * in a throwaway container of the backup image with no network and the repository read-only, the
 * archive replayed to its end, the marker looked for and every table and B-tree index read. The
 * result is written next to the backups, for status, when the marker is there.
 */
export async function verifyRestore(t: BackupTarget, opts: { timeoutSeconds: number; namePrefix?: string; log?: (s: string) => void }):
    Promise<VerifyResult> {
    const log = opts.log ?? (() => undefined);
    const primary = await findPrimary(t);
    // With a dash after the prefix: no node's container (<prefix>-<node>, node names have none) can hold the name.
    const name = `${opts.namePrefix ?? t.stanza}-manual-verify`;
    const got = parseLines(await backupTools(t, primary, `backup_verify ${name} ${opts.timeoutSeconds}`,
        (opts.timeoutSeconds * 3 + 240) * 1000, log));
    return {
        // As the record next to the backups has it (backup-tools.sh): the one the status and the destroy guard read.
        verifiedAt: got.verified_at,
        backup: got.backup ?? "?",
        marker: { token: got.token, writtenAt: got.written_at, found: got.marker === "1" },
        restoreSeconds: Number(got.restore_ms) / 1000,
        recoverySeconds: Number(got.recovery_ms) / 1000,
        lsn: got.lsn,
        timeline: Number(got.timeline),
        tables: Number(got.tables),
        rows: Number(got.rows),
        indexesChecked: Number(got.indexes),
    };
}

/** The last verified restore's result, when there is one (pgbackrest.ts readVerified); throws when it cannot be read. */
export async function lastVerified(t: BackupTarget, container: string): Promise<VerifyResult | undefined> {
    const v = await readVerified(t.engine, container, 10_000);
    if ("unreadable" in v) {
        throw new BackupToolError(unreadableRecord("verified", v.unreadable));
    }
    return "record" in v ? v.record as VerifyResult : undefined;
}

/** A restore point as the repository records it (RESTORE_POINTS_FILE). */
export interface RestorePoint {
    readonly name: string;
    readonly lsn: string;
    readonly timeline: number;
    /** When it was made, ISO 8601. */
    readonly time: string;
    readonly stanza: string;
}

/** The repository's record of restore points: one per tab-separated line (name, LSN, timeline, time, stanza). */
export function parseRestorePoints(text: string): RestorePoint[] {
    return text.split("\n").map((l) => l.split("\t")).filter((f) => f.length === 5)
        .map(([name, lsn, timeline, time, stanza]) => ({ name, lsn, timeline: Number(timeline), time, stanza }));
}

/**
 * A named restore point on the primary (pg_create_restore_point), its WAL pushed to the repository
 * (pgbackrest check switches the segment and waits for it), then recorded next to the backups, so
 * that `restore.target: {name: NAME}` can be planned at preview. A name already recorded for the
 * stanza is refused: PostgreSQL stops at the first of two points of one name, which is rarely what
 * the second's maker meant.
 */
export async function createRestorePoint(t: BackupTarget, name: string): Promise<RestorePoint & { primary: string }> {
    if (!RESTORE_POINT_NAME.test(name)) {
        throw new BackupToolError(`restore point name ${JSON.stringify(name)}: expected up to 63 letters, digits, dots, dashes and ` +
            "underscores, starting with a letter or digit");
    }
    const primary = await findPrimary(t);
    const recorded = await records(t, primary, 'cat "$0"', [RESTORE_POINTS_FILE], 30_000);
    if (recorded.err && !/No such file/i.test(recorded.stderr)) {
        throw new BackupToolError(`the repository's record of restore points cannot be read: ${recorded.stderr.trim() || dockerFailure(recorded)}`);
    }
    const taken = parseRestorePoints(recorded.err ? "" : recorded.stdout).find((p) => p.name === name && p.stanza === t.stanza);
    if (taken) {
        throw new BackupToolError(`a restore point named ${name} was made at ${taken.time} (LSN ${taken.lsn}); choose another name`);
    }
    // The name is checked above, so it can stand in the SQL text as a literal.
    const [lsn, timeline, time] = (await docker(t, ["exec", "-i", "-u", "postgres", primary, "psql", "-X", "-A", "-t", "-q", "-F", "\t",
        "-v", "ON_ERROR_STOP=1", "-d", "postgres"], 30_000,
    `SELECT lsn, ('x' || substr(pg_walfile_name(lsn), 1, 8))::bit(32)::int, to_json(now())#>>'{}' ` +
        `FROM pg_create_restore_point('${name}') AS lsn;\n`, primary)).trim().split("\t");
    await pgbackrest(t, primary, ["check"], 120_000);
    const point: RestorePoint = { name, lsn, timeline: Number(timeline), time, stanza: t.stanza };
    const appended = await records(t, primary, 'cat >> "$0"', [RESTORE_POINTS_FILE], 30_000,
        `${[point.name, point.lsn, point.timeline, point.time, point.stanza].join("\t")}\n`);
    if (appended.err) {
        throw new BackupToolError(`the restore point ${name} was made, but not recorded in the repository: ${appended.stderr.trim() || dockerFailure(appended)}`);
    }
    return { ...point, primary };
}
