// A new stack restored from a pgBackRest repository (pg-replication:restore), as preview plans it:
// what the repository holds (`pgbackrest info --output=json`, asked in a throwaway container with
// the repository read-only and no network), which backup set covers the target, how much WAL lies
// after it, and why a target cannot be reached. The restore itself is the first node's seed
// (components/scripts/node-seed.sh and restore.sh). No Pulumi here. README "Backups".

import { dockerCli, DockerCliOptions } from "./docker-cli";
import { fragment, parseLines } from "./fragments";
import { lsnSegment, segmentNumber } from "./lsn";
import { backupEnv, REPO_PATH } from "./pgbackrest";
import type { RestoreSettings } from "./spec";

/** One backup set as `pgbackrest info` lists it. */
export interface RepoBackup {
    readonly label: string;
    readonly type: string;
    /** Epoch seconds. */
    readonly started: number;
    readonly stopped: number;
    /** The last WAL segment it needs. */
    readonly walStop?: string;
    /** The PostgreSQL major it is a backup of ("13"): after a major upgrade the repository holds two. */
    readonly version?: string;
}

/** A stanza as `pgbackrest info --output=json` describes it. */
export interface RepoInfo {
    readonly status: string;
    /** The PostgreSQL major the stanza's current database is ("17"). */
    readonly version?: string;
    readonly backups: readonly RepoBackup[];
    /** The newest WAL segment in the archive of the current major. */
    readonly walMax?: string;
    /** The newest WAL segment in each major's archive ("13" → segment), for a restore on an older major. */
    readonly walMaxByVersion?: Readonly<Record<string, string>>;
}

/** The stanza's entry of `pgbackrest info --output=json`, or why it cannot be read. */
export function parseRepoInfo(json: string, stanza: string): RepoInfo | { problem: string; noStanza?: true } {
    let all: unknown;
    try {
        all = JSON.parse(json);
    } catch {
        return { problem: `pgbackrest info did not answer in JSON: ${JSON.stringify(json.slice(0, 120))}` };
    }
    const entry = (Array.isArray(all) ? all : []).find((e: { name?: string }) => e?.name === stanza) as Record<string, any> | undefined;
    if (!entry) {
        return { problem: `the repository has no stanza ${stanza}`, noStanza: true };
    }
    const dbs = Array.isArray(entry.db) ? entry.db : [];
    const archives = Array.isArray(entry.archive) ? entry.archive : [];
    // Each database of the stanza's history by its id: backups and archives name theirs.
    const versionOf = (id: unknown) => dbs.find((d: { id?: unknown }) => d?.id === id)?.version;
    const walMaxByVersion: Record<string, string> = {};
    for (const a of archives) {
        const v = versionOf(a?.database?.id);
        if (v !== undefined && a.max) {
            walMaxByVersion[String(v)] = String(a.max);
        }
    }
    return {
        status: String(entry.status?.message ?? "unknown"),
        version: dbs.length > 0 ? String(dbs[dbs.length - 1].version) : undefined,
        backups: (Array.isArray(entry.backup) ? entry.backup : []).map((b: Record<string, any>) => {
            const v = versionOf(b.database?.id);
            return {
                label: String(b.label), type: String(b.type), started: Number(b.timestamp?.start), stopped: Number(b.timestamp?.stop),
                walStop: b.archive?.stop ? String(b.archive.stop) : undefined, ...(v !== undefined ? { version: String(v) } : {}),
            };
        }),
        walMax: archives.length > 0 && archives[archives.length - 1].max ? String(archives[archives.length - 1].max) : undefined,
        ...(Object.keys(walMaxByVersion).length > 0 ? { walMaxByVersion } : {}),
    };
}

/** A target time (config.ts TARGET_TIME: a zone of Z, ±HH, ±HHMM or ±HH:MM) as epoch seconds. */
export function targetEpoch(time: string): number {
    const m = /^(.*?)(Z|[+-]\d{2})(:?(\d{2}))?$/.exec(time.trim().replace(" ", "T"))!;
    return Date.parse(`${m[1]}${m[2] === "Z" ? "Z" : `${m[2]}:${m[4] ?? "00"}`}`) / 1000;
}

/** A restore point's name as npm run restore-point makes one (PostgreSQL allows 63 bytes; these characters are safe everywhere). */
export const RESTORE_POINT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** The backup set restore.sh chooses for an LSN or restore-point target (its RESTORE_SELECT_ONLY output). */
export interface RestoreSelection {
    /** The backup set's label and the LSN it ended at. */
    readonly set: string;
    readonly setStop: string;
    /** The target LSN (a restore point's, from the repository's record). */
    readonly lsn: string;
    /** A restore point's timeline; empty for an LSN (recovery follows the newest timeline). */
    readonly timeline: string;
}

/** A time as UTC ISO without milliseconds. */
const iso = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

/** WAL segments from A to B (names of 24 hex digits, 16 MB segments), on one timeline or not: a count for the plan's words. */
export function segmentsBetween(a: string, b: string): number {
    return Math.max(0, segmentNumber(b) - segmentNumber(a));
}


/** Which backup set the restore uses and what it replays, in words; or why the target cannot be reached. */
export function planRestore(info: RepoInfo, target: RestoreSettings["target"], major: string | undefined,
    nowSeconds: number, selection?: RestoreSelection | { problem: string }): { backup: RepoBackup; text: string; window: string } | { problem: string } {
    if (info.backups.length === 0) {
        return { problem: "the repository holds no backup yet" };
    }
    // After a major upgrade the repository holds backups of two majors; the image restores its own major's (restore.sh).
    const backups = major === undefined ? info.backups : info.backups.filter((b) => (b.version ?? info.version) === major);
    if (backups.length === 0) {
        const held = [...new Set(info.backups.map((b) => b.version ?? info.version))].join(" and ");
        return { problem: `the repository holds PostgreSQL ${held} and the stack's image is PostgreSQL ${major}` };
    }
    const older = major !== undefined && info.version !== undefined && major !== info.version;
    const walMax = older ? info.walMaxByVersion?.[major!] : info.walMax;
    const first = backups[0];
    let backup = backups[backups.length - 1];
    let to = older ? `the end of its PostgreSQL ${major} archive (where the cluster was upgraded to PostgreSQL ${info.version})`
        : "the end of its archive";
    if (target.kind === "time") {
        const t = targetEpoch(target.time);
        if (t < first.stopped) {
            // A set of another major that ended by the target (first is of the image's major, so never one).
            const other = info.backups.find((b) => b.stopped <= t && b.version !== undefined && b.version !== major);
            return { problem: `the target ${target.time} is before the end of the first backup${backups.length < info.backups.length
                ? ` of PostgreSQL ${major}` : ""} (${first.label}): the earliest recoverable time is ${iso(first.stopped)}` +
                (other ? `; backups of PostgreSQL ${other.version} cover it: restore with an image of that major` : "") };
        }
        if (t > nowSeconds) {
            return { problem: `the target ${target.time} is in the future: the latest recoverable time is what the archive holds now` };
        }
        // pgBackRest's own choice (restore's auto-select, since 2.24; restore.sh's among one major's): the newest set that ended by the target.
        backup = [...backups].reverse().find((b) => b.stopped <= t)!;
        to = `the first commit after ${target.time}${older ? ` or the end of the PostgreSQL ${major} archive, whichever comes first` : ""}`;
    }
    if (target.kind === "lsn" || target.kind === "name") {
        if (!selection || "problem" in selection) {
            return { problem: selection?.problem ?? "no backup set was chosen for the target" };
        }
        if (walMax && lsnSegment(selection.lsn) > segmentNumber(walMax)) {
            return { problem: `the target LSN ${selection.lsn} is beyond the archive, which ends with segment ${walMax}: ` +
                "the latest recoverable LSN is in that segment (a segment is archived once full or switched)" };
        }
        const chosen = backups.find((b) => b.label === selection.set);
        if (!chosen) {
            return { problem: `backup set ${selection.set}, chosen for the target, is not in pgbackrest info` };
        }
        backup = chosen;
        to = target.kind === "lsn" ? `LSN ${selection.lsn}`
            : `restore point ${target.name} (LSN ${selection.lsn}, timeline ${selection.timeline})`;
    }
    const wal = backup.walStop && walMax ? segmentsBetween(backup.walStop, walMax) : undefined;
    return {
        backup,
        text: `from backup ${backup.label} (${backup.type}, ended ${iso(backup.stopped)}${selection && !("problem" in selection) ? ` at LSN ${selection.setStop}` : ""}), recovered to ${to}` +
            (wal !== undefined ? ` (the archive holds ${wal} WAL segment${wal === 1 ? "" : "s"} after it, up to ${walMax})` : ""),
        window: `the repository's recoverable window starts at ${iso(first.stopped)}`,
    };
}

/** What the repository holds, asked on ENGINE; a problem when the volume or the stanza is not there or the image cannot ask. */
export async function readRepoInfo(restore: Pick<RestoreSettings, "volume" | "stanza" | "image">, engine: string, opts: DockerCliOptions = {}):
    Promise<RepoInfo | { problem: string }> {
    const volume = await dockerCli(["volume", "inspect", "-f", "{{.Name}}", restore.volume], engine, opts);
    if (volume.err) {
        return { problem: `there is no volume ${restore.volume} on the Docker engine ${engine}` };
    }
    const r = await dockerCli(["run", "--rm", "--pull", "never", "--network", "none", "-v", `${restore.volume}:${REPO_PATH}:ro`,
        ...backupEnv(restore).flatMap((e) => ["-e", e]), "--entrypoint", "pgbackrest", restore.image, "info", "--output=json"], engine, opts);
    if (r.err) {
        return { problem: `pgbackrest info in ${restore.image} on ${engine} failed: ${(r.stderr.trim() || r.err.message).split("\n").pop()}` };
    }
    return parseRepoInfo(r.stdout, restore.stanza);
}

/**
 * The backup set restore.sh would restore for an LSN or restore-point target, asked as the seed
 * asks it (its own selection, RESTORE_SELECT_ONLY) in a throwaway container with the repository
 * read-only and no network; a problem when the target cannot be reached or the image cannot ask.
 */
export async function readRestoreSelection(restore: RestoreSettings, engine: string, opts: DockerCliOptions = {}):
    Promise<RestoreSelection | { problem: string }> {
    const target = restore.target.kind === "lsn" ? ["-e", `RESTORE_TARGET_LSN=${restore.target.lsn}`]
        : restore.target.kind === "name" ? ["-e", `RESTORE_TARGET_NAME=${restore.target.name}`] : [];
    const r = await dockerCli(["run", "--rm", "--pull", "never", "--network", "none", "-u", "postgres", "-v", `${restore.volume}:${REPO_PATH}:ro`,
        ...backupEnv(restore).flatMap((e) => ["-e", e]), "-e", "RESTORE_SELECT_ONLY=1", "-e", "RESTORE_TARGET_TIME=", ...target,
        "--entrypoint", "/bin/sh", restore.image, "-c", fragment("restore.sh")], engine, opts);
    return selectionFrom(r.err ? undefined : r.stdout, r.stderr);
}

/** restore.sh's selection output as a selection or a problem. */
export function selectionFrom(stdout: string | undefined, stderr = ""): RestoreSelection | { problem: string } {
    const got = stdout === undefined ? {} : parseLines(stdout);
    if (got.problem) {
        return { problem: got.problem };
    }
    if (!got.set || !got.lsn || !got.set_stop) {
        return { problem: `the backup set could not be chosen: ${stderr.trim().split("\n").pop() || "restore.sh printed no set"}` };
    }
    return { set: got.set, setStop: got.set_stop, lsn: got.lsn, timeline: got.timeline ?? "" };
}

/**
 * Why a new cluster cannot use this repository for its own backups: it already holds the stanza,
 * made by another cluster (a stack destroyed and made again under the same name keeps its
 * repository). pgBackRest refuses to archive a cluster of another system identifier into it, so
 * the new cluster would run with its archive failing. Undefined when the stanza is not there.
 */
export function stanzaTakenProblem(info: RepoInfo, volume: string, stanza: string): string | undefined {
    if (info.version === undefined && info.backups.length === 0) {
        return undefined;
    }
    const newest = info.backups[info.backups.length - 1];
    return `the backup repository ${volume} already holds stanza ${stanza}, of another cluster (PostgreSQL ${info.version ?? "?"}, ` +
        `${info.backups.length} backup${info.backups.length === 1 ? "" : "s"}${newest ? `, the newest ${newest.label} ended ${iso(newest.stopped)}` : ""}), ` +
        "and pgBackRest will not archive a new cluster into it. Restore from it (pg-replication:restore with this volume and stanza, " +
        "and another backup.volume), give backup.volume another name, or delete it on purpose (README \"Backups\")";
}
