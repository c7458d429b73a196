// Whether the primary's WAL reaches its archive: what pg_stat_archiver and the archive status
// directory say, read by `npm run status` (over a connection) and by every preview and up of a
// stack that archives (through docker exec psql), and the words both use. A repository that is
// full, unwritable or gone makes archive_command fail: PostgreSQL keeps each segment in pg_wal and
// retries, so nothing is lost while the disk holds, but no backup or restore can reach past the
// first segment not archived. No Pulumi here. README "Backups".

import { nodeSql } from "./topology/observe";

/**
 * The primary's archiver in one row (none on a standby, whose archiver does nothing with
 * archive_mode=on): archive_mode, the last segment archived and when, the last that failed and
 * when, the failures since the statistics were reset, how many segments wait (.ready files;
 * pg_ls_archive_statusdir, PostgreSQL 12 and later, superuser or pg_monitor) and since when the
 * oldest has (its .ready file's modification time: when the segment was complete).
 */
export const ARCHIVER_SQL = `SELECT current_setting('archive_mode') AS mode,
  last_archived_wal, to_json(last_archived_time)#>>'{}' AS last_archived_at,
  last_failed_wal, to_json(last_failed_time)#>>'{}' AS last_failed_at, failed_count::int AS failed_count,
  (SELECT count(*)::int FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') AS ready,
  (SELECT to_json(min(modification))#>>'{}' FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') AS oldest_ready_at
  FROM pg_stat_archiver WHERE NOT pg_is_in_recovery()`;

/** ARCHIVER_SQL's row. Times are ISO 8601 as PostgreSQL's JSON gives them; null when never. */
export interface ArchiverRow {
    readonly mode: string;
    readonly lastArchivedWal: string | null;
    readonly lastArchivedAt: string | null;
    readonly lastFailedWal: string | null;
    readonly lastFailedAt: string | null;
    readonly failedCount: number;
    /** Segments waiting to be archived. */
    readonly ready: number;
    /** When the oldest of them was complete; null when none waits. */
    readonly oldestReadyAt: string | null;
}

/** A row as the pg client gives it (column names of ARCHIVER_SQL). */
export function archiverFromRow(r: Record<string, unknown>): ArchiverRow {
    const text = (v: unknown) => (v === null || v === undefined || v === "" ? null : String(v));
    return { mode: String(r.mode), lastArchivedWal: text(r.last_archived_wal), lastArchivedAt: text(r.last_archived_at),
        lastFailedWal: text(r.last_failed_wal), lastFailedAt: text(r.last_failed_at), failedCount: Number(r.failed_count), ready: Number(r.ready),
        oldestReadyAt: text(r.oldest_ready_at) };
}

/** psql's unaligned answer (fields separated by "|") as a row; undefined for a standby's empty answer or anything else. */
export function archiverFromPsql(stdout: string): ArchiverRow | undefined {
    const f = stdout.trim().split("|");
    if (f.length !== 8 || !/^\d+$/.test(f[5]) || !/^\d+$/.test(f[6])) {
        return undefined;
    }
    const [mode, last_archived_wal, last_archived_at, last_failed_wal, last_failed_at, failed_count, ready, oldest_ready_at] = f;
    return archiverFromRow({ mode, last_archived_wal, last_archived_at, last_failed_wal, last_failed_at, failed_count, ready, oldest_ready_at });
}

/** What is wrong, when the archive is failing now: its last attempt failed after its last success. */
export interface ArchiveFailure {
    readonly wal: string;
    readonly failedAt: string;
    /** The last success, null when nothing was ever archived. */
    readonly lastArchivedAt: string | null;
    readonly ready: number;
}

export function archiveFailure(a: ArchiverRow): ArchiveFailure | undefined {
    if (a.mode === "off" || a.lastFailedAt === null || a.lastFailedWal === null) {
        return undefined;
    }
    if (a.lastArchivedAt !== null && Date.parse(a.lastArchivedAt) >= Date.parse(a.lastFailedAt)) {
        return undefined;
    }
    return { wal: a.lastFailedWal, failedAt: a.lastFailedAt, lastArchivedAt: a.lastArchivedAt, ready: a.ready };
}

/** The archive stalled: segments wait longer than the bound and no attempt has failed (archiveFailure says those). */
export interface ArchiveStall {
    /** When the oldest waiting segment was complete. */
    readonly since: string;
    readonly seconds: number;
    readonly ready: number;
    readonly lastArchivedAt: string | null;
}

/**
 * A segment waiting longer than BOUND_SECONDS (pg-replication:archiveStallSeconds, 120 by default) with
 * no attempt failed since the last success means archive_command is running and not ending: a segment
 * normally leaves within seconds of being complete, and pgBackRest retries each request to a
 * repository that does not answer (an S3 host that drops packets) within its io-timeout (60 s) before
 * an attempt fails, minutes later.
 */
export function archiveStall(a: ArchiverRow, now: number, boundSeconds: number): ArchiveStall | undefined {
    if (a.mode === "off" || a.oldestReadyAt === null || archiveFailure(a)) {
        return undefined;
    }
    const seconds = Math.round((now - Date.parse(a.oldestReadyAt)) / 1000);
    return seconds > boundSeconds ? { since: a.oldestReadyAt, seconds, ready: a.ready, lastArchivedAt: a.lastArchivedAt } : undefined;
}

/** The stall in the words status and preview both use. */
export function archiveStallText(node: string, s: ArchiveStall): string {
    return `${node} archives nothing: ${s.ready === 1 ? "the one segment" : `the oldest of the ${s.ready} segments`} waiting in pg_wal has waited ` +
        `${s.seconds}s (complete at ${s.since}), ${s.lastArchivedAt ? `nothing archived since ${s.lastArchivedAt}` : "nothing archived yet"}, ` +
        "and no attempt has failed: archive_command is running and not ending (a repository that does not answer); " +
        "a restore cannot reach past them meanwhile";
}

/**
 * What is wrong with the archive now, in the words status, preview and the upgrade check use, and
 * status's warning code: failing (archiveFailure), else stalled (archiveStall); none while it keeps up.
 */
export function archiveTrouble(node: string, a: ArchiverRow, now: number, stallSeconds: number): ArchiveTrouble | undefined {
    return troubleOf(node, archiveFailure(a), archiveStall(a, now, stallSeconds));
}

export interface ArchiveTrouble {
    readonly code: "archive-failing" | "archive-stalled";
    readonly text: string;
}

/** archiveTrouble from a failure and a stall already found (status's report has both). */
export function troubleOf(node: string, failure: ArchiveFailure | null | undefined, stall: ArchiveStall | null | undefined):
    ArchiveTrouble | undefined {
    return failure ? { code: "archive-failing", text: archiveFailureText(node, failure) }
        : stall ? { code: "archive-stalled", text: archiveStallText(node, stall) } : undefined;
}

/** The failure in the words status and preview both use. */
export function archiveFailureText(node: string, f: ArchiveFailure): string {
    return `${node} cannot archive WAL: its last attempt (segment ${f.wal}, ${f.failedAt}) failed, ` +
        `${f.lastArchivedAt ? `nothing archived since ${f.lastArchivedAt}` : "nothing archived yet"}; ${f.ready} ` +
        `${f.ready === 1 ? "segment waits" : "segments wait"} in pg_wal (kept until archived: a restore cannot reach past them meanwhile)`;
}

/** What to do about it, in the words status and preview both use: where to look, and that it resumes by itself. */
export function archiveFailureAction(repository: string | undefined, logsCommand: string): string {
    return repository ? `the repository ${repository} is full, unwritable or gone: see ${logsCommand}; archiving resumes by itself once it takes writes`
        : `archive_command fails: see ${logsCommand}; archiving resumes by itself once it succeeds`;
}

/**
 * What a preview says when the primary's archive is failing or stalled now: asked of every node's
 * container at once (only the primary answers ARCHIVER_SQL with a row); nothing when none answers or
 * all is well. Never throws: a node that cannot be asked is the topology check's business.
 */
export async function archiveTroubleNote(nodes: readonly { name: string; container: string; engine: string }[], repository: string | undefined,
    stallSeconds: number, timeoutMs = 5000): Promise<string | undefined> {
    const answers = await Promise.all(nodes.map(async (n) => {
        const r = await nodeSql(n.container, n.engine, ARCHIVER_SQL, { timeoutMs });
        const row = r.err ? undefined : archiverFromPsql(r.stdout);
        const trouble = row ? archiveTrouble(n.name, row, Date.now(), stallSeconds) : undefined;
        return trouble ? `${trouble.text}; ${archiveFailureAction(repository, `docker -H ${n.engine} logs ${n.container}`)}` : undefined;
    }));
    return answers.find((a) => a !== undefined);
}
