// A new stack restored from a pgBackRest repository (pg-replication:restore), as preview plans it:
// what the repository holds (`pgbackrest info --output=json`, asked in a throwaway container with
// the repository read-only and no network), which backup set covers the target, how much WAL lies
// after it, and why a target cannot be reached. The restore itself is the first node's seed
// (components/scripts/node-seed.sh and restore.sh). No Pulumi here. README "Backups".

import { dockerCli, DockerCliOptions } from "./docker-cli";
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
}

/** A stanza as `pgbackrest info --output=json` describes it. */
export interface RepoInfo {
    readonly status: string;
    /** The PostgreSQL major the stanza's current database is ("17"). */
    readonly version?: string;
    readonly backups: readonly RepoBackup[];
    /** The newest WAL segment in the archive. */
    readonly walMax?: string;
}

/** The stanza's entry of `pgbackrest info --output=json`, or why it cannot be read. */
export function parseRepoInfo(json: string, stanza: string): RepoInfo | { problem: string } {
    let all: unknown;
    try {
        all = JSON.parse(json);
    } catch {
        return { problem: `pgbackrest info did not answer in JSON: ${JSON.stringify(json.slice(0, 120))}` };
    }
    const entry = (Array.isArray(all) ? all : []).find((e: { name?: string }) => e?.name === stanza) as Record<string, any> | undefined;
    if (!entry) {
        return { problem: `the repository has no stanza ${stanza}` };
    }
    const dbs = Array.isArray(entry.db) ? entry.db : [];
    const archives = Array.isArray(entry.archive) ? entry.archive : [];
    return {
        status: String(entry.status?.message ?? "unknown"),
        version: dbs.length > 0 ? String(dbs[dbs.length - 1].version) : undefined,
        backups: (Array.isArray(entry.backup) ? entry.backup : []).map((b: Record<string, any>) => ({
            label: String(b.label), type: String(b.type), started: Number(b.timestamp?.start), stopped: Number(b.timestamp?.stop),
            walStop: b.archive?.stop ? String(b.archive.stop) : undefined,
        })),
        walMax: archives.length > 0 && archives[archives.length - 1].max ? String(archives[archives.length - 1].max) : undefined,
    };
}

/** A target time (config.ts TARGET_TIME: a zone of Z, ±HH, ±HHMM or ±HH:MM) as epoch seconds. */
export function targetEpoch(time: string): number {
    const m = /^(.*?)(Z|[+-]\d{2})(:?(\d{2}))?$/.exec(time.trim().replace(" ", "T"))!;
    return Date.parse(`${m[1]}${m[2] === "Z" ? "Z" : `${m[2]}:${m[4] ?? "00"}`}`) / 1000;
}

/** A time as UTC ISO without milliseconds. */
const iso = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

/** WAL segments from A to B (names of 24 hex digits, 16 MB segments), on one timeline or not: a count for the plan's words. */
export function segmentsBetween(a: string, b: string): number {
    const n = (s: string) => parseInt(s.slice(8, 16), 16) * 256 + parseInt(s.slice(16, 24), 16);
    return Math.max(0, n(b) - n(a));
}

/** Which backup set the restore uses and what it replays, in words; or why the target cannot be reached. */
export function planRestore(info: RepoInfo, target: RestoreSettings["target"], major: string | undefined,
    nowSeconds: number): { backup: RepoBackup; text: string; window: string } | { problem: string } {
    if (info.backups.length === 0) {
        return { problem: "the repository holds no backup yet" };
    }
    if (major !== undefined && info.version !== undefined && info.version !== major) {
        return { problem: `the repository holds PostgreSQL ${info.version} and the stack's image is PostgreSQL ${major}` };
    }
    const first = info.backups[0];
    let backup = info.backups[info.backups.length - 1];
    let to = "the end of its archive";
    if (target.kind === "time") {
        const t = targetEpoch(target.time);
        if (t < first.stopped) {
            return { problem: `the target ${target.time} is before the end of the first backup (${first.label}): the earliest ` +
                `recoverable time is ${iso(first.stopped)}` };
        }
        if (t > nowSeconds) {
            return { problem: `the target ${target.time} is in the future: the latest recoverable time is what the archive holds now` };
        }
        // pgBackRest's own choice (restore's auto-select, since 2.24): the newest set that ended by the target.
        backup = [...info.backups].reverse().find((b) => b.stopped <= t)!;
        to = `the first commit after ${target.time}`;
    }
    const wal = backup.walStop && info.walMax ? segmentsBetween(backup.walStop, info.walMax) : undefined;
    return {
        backup,
        text: `from backup ${backup.label} (${backup.type}, ended ${iso(backup.stopped)}), recovered to ${to}` +
            (wal !== undefined ? ` (the archive holds ${wal} WAL segment${wal === 1 ? "" : "s"} after it, up to ${info.walMax})` : ""),
        window: `the repository's recoverable window starts at ${iso(first.stopped)}`,
    };
}

/** What the repository holds, asked on ENGINE; a problem when the volume or the stanza is not there or the image cannot ask. */
export async function readRepoInfo(restore: RestoreSettings, engine: string, opts: DockerCliOptions = {}): Promise<RepoInfo | { problem: string }> {
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
