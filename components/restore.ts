// A new stack restored from a pgBackRest repository (pg-replication:restore), as preview plans it:
// what the repository holds (`pgbackrest info --output=json`, asked in a throwaway container with
// the repository read-only and no network; on the engine's bridge when the repository is in S3), which backup set covers the target, how much WAL lies
// after it, and why a target cannot be reached. The restore itself is the first node's seed
// (components/scripts/node-seed.sh and restore.sh). No Pulumi here. README "Backups".

import { dockerCli, DockerCliOptions, dockerFailure } from "./docker-cli";
import { inContainer, parseLines } from "./fragments";
import { lsnSegment, segmentNumber } from "./lsn";
import { backupEnv, CONFIG_FILE, REPO_PATH } from "./pgbackrest";
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
    const unread = stanzaUnread(entry, stanza);
    if (unread) {
        return unread;
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

/**
 * Why pgBackRest did not read the stanza: `pgbackrest info` exits 0 either way and says it in the
 * stanza's status (command/info/info.c INFO_STANZA_STATUS_CODE_*, the same in 2.33 and 2.55). 0 (ok)
 * and 2 (no valid backups) are a read; 1 (missing stanza path) is no stanza; any other (3, its
 * backup.info missing; 99, an error such as an S3 server that refused, whose words are in the
 * repository's own status) is not a read, never "no backups" (backup-schedule.sh unread says the same).
 */
function stanzaUnread(entry: Record<string, any>, stanza: string): { problem: string; noStanza?: true } | undefined {
    const code = entry.status?.code;
    if (code === 0 || code === 2) {
        return undefined;
    }
    if (code === 1) {
        return { problem: `the repository has no stanza ${stanza} (missing stanza path)`, noStanza: true };
    }
    const errors = (Array.isArray(entry.repo) ? entry.repo : []).filter((r: any) => r?.status?.code === 99)
        .map((r: any) => String(r.status.message ?? "").split("\n")[0]).filter(Boolean);
    const why = errors.length > 0 ? errors.join("; ") : typeof entry.status?.message === "string" ? entry.status.message : "no status given";
    return { problem: `pgBackRest could not read the stanza ${stanza} in the repository (status ${code ?? "missing"}): ${why}` };
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

/**
 * What the repository holds, asked on ENGINE in a container on NETWORK (none for a volume that is the
 * repository; volumeRepoNetwork says which); a problem when the volume or the stanza is not there or the image cannot ask.
 */
export async function readRepoInfo(restore: Pick<RestoreSettings, "volume" | "stanza" | "image">, engine: string,
    network: "none" | "bridge" = "none", opts: DockerCliOptions = {}):
    Promise<RepoInfo | { problem: string }> {
    const volume = await dockerCli(["volume", "inspect", "-f", "{{.Name}}", restore.volume], engine, opts);
    if (volume.err) {
        return { problem: `there is no volume ${restore.volume} on the Docker engine ${engine}` };
    }
    const r = await dockerCli(["run", "--rm", "--pull", "never", "--network", network, "-v", `${restore.volume}:${REPO_PATH}:ro`,
        ...backupEnv(restore).flatMap((e) => ["-e", e]), "--entrypoint", "pgbackrest", restore.image, "info", "--output=json"], engine, opts);
    if (r.err) {
        return { problem: `pgbackrest info in ${restore.image} on ${engine} failed: ${(r.stderr.trim() || r.err.message).split("\n").pop()}` };
    }
    return parseRepoInfo(r.stdout, restore.stanza);
}

/**
 * The network a throwaway container needs to read the repository of a stack's volume: the bridge
 * when its settings file says the repository is in S3 (backup.s3: the volume holds only the settings),
 * none when the volume is the repository (read in a first container with no network; node-seed.sh
 * asks the same before a restore).
 */
export async function volumeRepoNetwork(r: { readonly volume: string; readonly image: string }, engine: string, opts: DockerCliOptions = {}):
    Promise<"none" | "bridge"> {
    const found = await dockerCli(["run", "--rm", "--pull", "never", "--network", "none", "-v", `${r.volume}:${REPO_PATH}:ro`,
        "--entrypoint", "/bin/sh", r.image, "-c", `grep -q '^repo1-type=s3$' ${CONFIG_FILE} && echo bridge || echo none`], engine, opts);
    return found.stdout.trim() === "bridge" ? "bridge" : "none";
}

/**
 * Bound on one S3 request in preview's look at an S3 repository (pgBackRest's io-timeout, seconds).
 * pgBackRest retries a failed request within it, per request: an unreachable server took 19 s with 2
 * and 46 s with 5 (tests/hosts/s3.test.ts); the look as a whole is bounded by S3_CHECK_TIMEOUT_MS.
 */
export const S3_CHECK_IO_TIMEOUT_SECONDS = 3;
const S3_CHECK_TIMEOUT_MS = 90_000;

/**
 * What an S3 repository holds (backup.s3), asked at preview from a throwaway container of the
 * backup image on ENGINE's default bridge, as the nodes will ask it: the settings and the
 * credentials (CONF, a secret's text: it goes on stdin, never on a command line) and the CA written
 * inside it only. First `pgbackrest repo-ls` (the endpoint reached over TLS, the credentials and the
 * bucket accepted: a problem naming pgBackRest's error when not), then `info` of the stanza. The
 * settings must name CA_FILE as repo1-storage-ca-file when a CA is given (pgbackrestConf's caFile).
 */
export async function readS3RepoInfo(b: { readonly stanza: string; readonly image: string }, conf: string, caCert: string | undefined,
    engine: string, opts: DockerCliOptions = {}): Promise<RepoInfo | { problem: string; noStanza?: true }> {
    const r = await dockerCli(["run", "--rm", "-i", "--pull", "never", "--network", "bridge", "-u", "postgres", "--entrypoint", "/bin/sh",
        b.image, "-c", S3_LOOK_SH, "s3-look", b.stanza, S3_LOOK_CA_FILE, String(S3_CHECK_IO_TIMEOUT_SECONDS)], engine,
    { timeoutMs: S3_CHECK_TIMEOUT_MS, ...opts, input: `${conf}\n#ca\n${caCert ?? ""}` });
    if (r.err) {
        // pgBackRest's error line ("ERROR: [039]: HTTP request failed with 403 …"); what follows it is the response's detail.
        // (pgBackRest's console log, where its errors are, is its stdout.)
        const lines = `${r.stdout}\n${r.stderr}`.split("\n").filter((l) => l.trim());
        const why = lines.find((l) => /ERROR: \[\d+\]/.test(l))?.replace(/^.*?ERROR: /, "ERROR: ") ?? lines.pop() ?? dockerFailure(r, opts.timeoutMs ?? S3_CHECK_TIMEOUT_MS);
        // Not the repository's fault: the image that asks it is not on that engine (never pulled by a preview).
        if (/No such image/i.test(r.stderr)) {
            return { problem: `pgbackrest could not be asked on ${engine}: the backup image ${b.image} is not there (scripts/build-images.sh --backup ` +
                "builds it; load it onto that engine)" };
        }
        return { problem: `pgbackrest in ${b.image} on ${engine} could not use it: ${why.trim()}` };
    }
    return parseRepoInfo(r.stdout, b.stanza);
}

/** Where S3_LOOK_SH writes the CA inside its container. */
export const S3_LOOK_CA_FILE = "/tmp/s3-ca.pem";
/** readS3RepoInfo's container: stdin is the settings, a line "#ca", the CA; $1 the stanza, $2 the CA's path, $3 io-timeout. */
const S3_LOOK_SH = `umask 077 && cat > /tmp/in && sed '/^#ca$/,$d' /tmp/in > /tmp/pgbackrest.conf && sed '1,/^#ca$/d' /tmp/in > "$2" &&
{ out=$(pgbackrest --config=/tmp/pgbackrest.conf --io-timeout="$3" --log-level-console=error repo-ls) || { printf '%s\n' "$out"; exit 1; }; } &&
exec pgbackrest --config=/tmp/pgbackrest.conf --io-timeout="$3" --log-level-console=error --stanza="$1" info --output=json`;

/**
 * The backup set restore.sh would restore for an LSN or restore-point target, asked as the seed
 * asks it (its own selection, RESTORE_SELECT_ONLY) in a throwaway container with the repository
 * read-only and no network (on NETWORK, as readRepoInfo); a problem when the target cannot be reached or the image cannot ask.
 */
export async function readRestoreSelection(restore: RestoreSettings, engine: string, network: "none" | "bridge" = "none",
    opts: DockerCliOptions = {}):
    Promise<RestoreSelection | { problem: string }> {
    const target = restore.target.kind === "lsn" ? ["-e", `RESTORE_TARGET_LSN=${restore.target.lsn}`]
        : restore.target.kind === "name" ? ["-e", `RESTORE_TARGET_NAME=${restore.target.name}`] : [];
    const r = await dockerCli(["run", "--rm", "--pull", "never", "--network", network, "-u", "postgres", "-v", `${restore.volume}:${REPO_PATH}:ro`,
        ...backupEnv(restore).flatMap((e) => ["-e", e]), "-e", "RESTORE_SELECT_ONLY=1", "-e", "RESTORE_TARGET_TIME=", ...target,
        "--entrypoint", "/bin/sh", restore.image, "-c", inContainer("restore.sh")], engine, opts);
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
 * Why a new cluster cannot use this repository (WHERE: its volume, or its bucket) for its own
 * backups: it already holds the stanza, made by another cluster (a stack destroyed and made again
 * under the same name keeps its repository). pgBackRest refuses to archive a cluster of another
 * system identifier into it, so the new cluster would run with its archive failing. Undefined when
 * the stanza is not there. With S3SETTINGS (backup.s3: the volume that holds only the settings) the
 * ways out are the bucket's: a restore names that volume, whose name is the new stack's own
 * backup.volume unless it gets another, and removing the volume leaves the stanza in the bucket.
 */
export function stanzaTakenProblem(info: RepoInfo, where: string, stanza: string, s3Settings?: string): string | undefined {
    if (info.version === undefined && info.backups.length === 0) {
        return undefined;
    }
    const newest = info.backups[info.backups.length - 1];
    const ways = s3Settings === undefined
        ? "Restore from it (pg-replication:restore with this volume and stanza, and another backup.volume), give backup.volume another " +
            "name, or delete it on purpose (README \"Backups\")"
        : `Restore from it (pg-replication:restore with the settings volume ${s3Settings} and this stanza, and another backup.volume ` +
            `and backup.s3.path), give backup.s3.path another value, or delete the stanza's backup/ and archive/ in the bucket on ` +
            `purpose (README "Backups"; removing the volume ${s3Settings} leaves them)`;
    return `the backup repository ${where} already holds stanza ${stanza}, of another cluster (PostgreSQL ${info.version ?? "?"}, ` +
        `${info.backups.length} backup${info.backups.length === 1 ? "" : "s"}${newest ? `, the newest ${newest.label} ended ${iso(newest.stopped)}` : ""}), ` +
        `and pgBackRest will not archive a new cluster into it. ${ways}`;
}
