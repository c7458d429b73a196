// The backups' pgBackRest as plain data: where the repository is mounted, its settings file,
// what every node's archive_command runs, and what a node's container gets so that it does.
// Used by the cluster and its nodes (components/backup.ts, node.ts) and by the backup tool
// (backup/); no Pulumi here. README "Backups".

import { dockerCli, dockerFailure } from "./docker-cli";
import type { BackupSettings, S3Credentials, S3Repository } from "./spec";

/** Where every node (and each verified restore) mounts the repository volume. */
export const REPO_PATH = "/var/lib/pgbackrest";
/** pgBackRest's settings, in the repository volume: rewritten by an `up` that changes them, read by every node at once. */
export const CONFIG_FILE = `${REPO_PATH}/pgbackrest.conf`;
/** The last verified restore's result (backup/core.ts verifyRestore), next to the backups: status and preview read it. */
export const VERIFIED_FILE = `${REPO_PATH}/pg-replication-verified.json`;
/**
 * Which repository the records beside the settings (VERIFIED_FILE, VERIFY_FAILED_FILE,
 * RESTORE_POINTS_FILE) are of (repositoryName): with backup.s3 set, removed or moved the volume
 * stays, and backup-check.sh sets the old repository's records aside rather than take them for this one's.
 */
export const REPOSITORY_FILE = `${REPO_PATH}/pg-replication-repository`;
/**
 * The last attempt to prove a restore, when it failed (backup-tools.sh backup_verify: when, of which
 * backup, why); removed by the next proof that succeeds. Status and preview say it.
 */
export const VERIFY_FAILED_FILE = `${REPO_PATH}/pg-replication-verify-failed.json`;
/**
 * The restore points npm run restore-point made (backup/core.ts createRestorePoint), next to the
 * backups, one per line: name, LSN, timeline, time, stanza, tab-separated; restore.sh reads it.
 */
export const RESTORE_POINTS_FILE = `${REPO_PATH}/pg-replication-restore-points.tsv`;
/** With backup.s3: the CA that signed the S3 server's certificate, next to the settings (repo1-storage-ca-file). */
export const S3_CA_FILE = `${REPO_PATH}/s3-ca.pem`;
/**
 * The Docker network of a throwaway container that reads the repository (a verified restore, a
 * restore's seed, a preview's look): none for a volume, which is mounted; the engine's default
 * bridge for S3, whose endpoint is reached like any address outside the engine.
 */
export function repoNetwork(b: { readonly s3?: unknown }): "none" | "bridge" {
    return b.s3 ? "bridge" : "none";
}

/** What a primary's archiver runs for each WAL segment (a standby archives nothing: archive_mode=on). */
export const ARCHIVE_COMMAND = "pgbackrest archive-push %p";
/** archive_timeout: a WAL segment with commits in it is archived within this long, even when writes are few. */
export const ARCHIVE_TIMEOUT_SECONDS = 60;

/** A node container's environment for pgBackRest: the stanza and the settings file (both fixed for the stack's life). */
export function backupEnv(b: Pick<BackupSettings, "stanza">): string[] {
    return [`PGBACKREST_STANZA=${b.stanza}`, `PGBACKREST_CONFIG=${CONFIG_FILE}`];
}

/**
 * pgbackrest.conf. The repository is a posix path (the volume); WAL is pushed by archive_command
 * itself, one segment per call, compressed with lz4 (fast; in every pgBackRest Debian ships);
 * process-max is for backups and restores. PGDATA is the node's data directory, the same path on
 * every node.
 *
 * Not asynchronous: archive-async forks a background pusher that outlives archive_command, so in
 * a container where the postmaster is PID 1 it is reparented to the postmaster, and when it exits
 * with pgBackRest's error code (a repository without the stanza yet, or gone: 103) the postmaster
 * takes it for a crashed server process and restarts the whole server (seen: a new primary's first
 * history file pushed before the stanza existed, while backups were being turned on). A failing
 * synchronous push only fails archive_command, which PostgreSQL retries.
 */
export function pgbackrestConf(b: Pick<BackupSettings, "stanza" | "retentionFull" | "processMax" | "s3">, pgdata: string, caFile = S3_CA_FILE): string {
    return [
        "# Managed by pg-replication: rewritten by every `pulumi up` that changes it.",
        "[global]",
        ...(b.s3 ? s3Lines(b.s3, caFile) : [`repo1-path=${REPO_PATH}`]),
        `repo1-retention-full=${b.retentionFull}`,
        `process-max=${b.processMax}`,
        "archive-async=n",
        "compress-type=lz4",
        "start-fast=y",
        "log-level-console=warn",
        "log-level-file=off",
        "",
        `[${b.stanza}]`,
        `pg1-path=${pgdata}`,
        "",
    ].join("\n");
}

/**
 * backup.s3 as pgBackRest's repository settings (repo1-type=s3; option names as in pgBackRest 2.33
 * and later: src/build/config/config.yaml). The credentials are not here (s3CredentialLines): the
 * settings file's writer puts them in from a secret, right after "[global]".
 */
function s3Lines(s3: S3Repository, caFile: string): string[] {
    return [
        "repo1-type=s3",
        `repo1-path=${s3.path}`,
        `repo1-s3-endpoint=${s3.endpoint}`,
        `repo1-s3-bucket=${s3.bucket}`,
        `repo1-s3-region=${s3.region}`,
        `repo1-s3-uri-style=${s3.uriStyle}`,
        ...(s3.host ? [`repo1-storage-host=${s3.host}`] : []),
        `repo1-storage-port=${s3.port}`,
        ...(s3.caCert ? [`repo1-storage-ca-file=${caFile}`] : []),
    ];
}

/** The S3 credentials as settings lines (repo1-s3-key, repo1-s3-key-secret): only ever written from a secret, on stdin. */
export function s3CredentialLines(c: S3Credentials): string {
    return `repo1-s3-key=${c.accessKey}\nrepo1-s3-key-secret=${c.secretKey}\n`;
}

/**
 * The repository as messages name it: its volume, or with backup.s3 (stack outputs and settings alike
 * carry endpoint, bucket and path) the bucket and where in it, at the endpoint.
 */
export function repositoryName(b: { readonly volume: string; readonly s3?: { readonly endpoint: string; readonly bucket: string; readonly path: string } }): string {
    return b.s3 ? `s3://${b.s3.bucket}${b.s3.path} at ${b.s3.endpoint}` : b.volume;
}

/** SETTINGS with the credentials' lines right after "[global]", as backup-settings.sh writes the file. */
export function withCredentials(settings: string, c: S3Credentials): string {
    return settings.replace(/^\[global\]\n/m, (g) => g + s3CredentialLines(c));
}

/** An age in the largest whole unit: 42s, 5m, 3h, 2d. */
export function age(seconds: number): string {
    const s = Math.max(0, Math.round(seconds));
    return s < 120 ? `${s}s` : s < 7200 ? `${Math.floor(s / 60)}m` : s < 172800 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86400)}d`;
}

/** What every reader of the last verified restore's record needs of it (backup/core.ts VerifyResult has it all). */
export interface VerifiedRecord {
    readonly verifiedAt: string;
    readonly backup: string;
    readonly marker: { readonly found: boolean };
}

/**
 * The last verified restore's record, read in CONTAINER (every node mounts the repository): the
 * record; none when no restore was verified yet; unreadable when the file is there but not JSON;
 * error when the container could not be asked.
 */
export function readVerified(engine: string, container: string, timeoutMs: number):
    Promise<{ record: VerifiedRecord } | { none: true } | { unreadable: string } | { error: string }> {
    return readRecord<VerifiedRecord>(engine, container, VERIFIED_FILE, timeoutMs);
}

/** What the last failed attempt to prove a restore left (VERIFY_FAILED_FILE). */
export interface VerifyFailure {
    readonly failedAt: string;
    /** The backup it tried, when it got as far as the restore ("" before). */
    readonly backup: string;
    readonly error: string;
}

/** The last failed attempt to prove a restore, as readVerified reads the last success. */
function readVerifyFailure(engine: string, container: string, timeoutMs: number):
    Promise<{ record: VerifyFailure } | { none: true } | { unreadable: string } | { error: string }> {
    return readRecord<VerifyFailure>(engine, container, VERIFY_FAILED_FILE, timeoutMs);
}

async function readRecord<T>(engine: string, container: string, file: string, timeoutMs: number):
    Promise<{ record: T } | { none: true } | { unreadable: string } | { error: string }> {
    const r = await readText(engine, container, file, timeoutMs);
    if (!("text" in r)) {
        return r;
    }
    try {
        return { record: JSON.parse(r.text) as T };
    } catch (err) {
        return { unreadable: (err as Error).message };
    }
}

/** A file in CONTAINER: its text; none when it is not there; error when the container could not be asked. */
async function readText(engine: string, container: string, file: string, timeoutMs: number):
    Promise<{ text: string } | { none: true } | { error: string }> {
    const r = await dockerCli(["exec", container, "cat", file], engine, { timeoutMs });
    if (r.err) {
        return /No such file/i.test(r.stderr) ? { none: true } : { error: dockerFailure(r, timeoutMs) };
    }
    return { text: r.stdout };
}

/** The repository's records of its proofs, as one node read them (readProof). */
export interface BackupProof {
    readonly verified: Awaited<ReturnType<typeof readVerified>>;
    readonly failed: Awaited<ReturnType<typeof readVerifyFailure>>;
    /** The repository the records are of (REPOSITORY_FILE), "" when not written yet. */
    readonly recordsOf: string;
}

/**
 * The proof records, read in the first of CONTAINERS that answers all three reads (each mounts the
 * repository): a container that answers some and not the others is passed over, so that a failure
 * record, or the note that the records are another repository's, is never lost to a read that
 * failed; none before the nodes exist; `unread` when a node's
 * container is there but none answered (an engine or a container in trouble: the records may hold
 * a proof). Each read is bounded by TIMEOUTMS. Never throws.
 */
export async function readProof(engine: string, containers: readonly string[], timeoutMs = 5000):
    Promise<BackupProof | { unread: string } | undefined> {
    let unread: string | undefined;
    for (const container of containers) {
        const [verified, failed, noted] = await Promise.all([readVerified(engine, container, timeoutMs),
            readVerifyFailure(engine, container, timeoutMs), readText(engine, container, REPOSITORY_FILE, timeoutMs)]);
        const error = [verified, failed, noted].map((r) => "error" in r ? r.error : undefined).find((e) => e !== undefined);
        if (error === undefined) {
            return { verified, failed, recordsOf: "text" in noted ? noted.text.trim() : "" };
        }
        if (!/No such container/i.test(error)) {
            unread ??= `${container}: ${error}`;
        }
    }
    return unread === undefined ? undefined : { unread };
}

/**
 * The words for a proof record that is there but not JSON (a write cut short, a hand's edit), the
 * same in preview, the stack outputs, status and npm run backup: a proof may exist, or have failed.
 */
export function unreadableRecord(which: "verified" | "failed", why: string): string {
    return `${which === "verified" ? "the last verified restore's record" : "the last failed proof's record"} cannot be read (${why})`;
}

/** The records are another repository's: the backups move to VOLUME in this up, whose check sets them aside (backup-check.sh). */
export function movedFrom(proof: BackupProof, volume: string): string | undefined {
    return proof.recordsOf && proof.recordsOf !== volume ? proof.recordsOf : undefined;
}

/**
 * What a preview says about the backups' proof: when a restore of them was last verified, a
 * warning when never, when the last attempt failed or when the backups move to another
 * repository; nothing before the nodes exist.
 */
export function verifiedNote(proof: BackupProof | { unread: string } | undefined, stack: string, volume: string, maxAgeHours: number,
    now = Date.now()): { level: "info" | "warn"; text: string } | undefined {
    if (!proof || "unread" in proof) {
        return undefined;   // a node that does not answer is the topology check's to say
    }
    const { verified: v, failed } = proof;
    const previous = movedFrom(proof, volume);
    if (previous) {
        return { level: "warn", text: `backup: the backups move from ${previous} to ${volume} in this up, which takes a full ` +
            `backup there; no restore of it is proven yet (those proven of ${previous} do not count for it): prove one after ` +
            `the up: npm run verify-backup -- ${stack}` };
    }
    if ("unreadable" in failed) {
        return { level: "warn", text: `backup: ${unreadableRecord("failed", failed.unreadable)} in ${volume}: a proof may have failed ` +
            `since the last one that succeeded; see: npm run verify-backup -- ${stack}` };
    }
    if ("record" in failed) {
        return { level: "warn", text: `backup: the last attempt to prove a restore from ${volume} FAILED (${failed.record.failedAt}` +
            `${failed.record.backup ? `, backup ${failed.record.backup}` : ""}): ${failed.record.error}; ` +
            `${"record" in v ? `the last proven one is of ${v.record.backup} (${v.record.verifiedAt})` : "none was ever proven"}; ` +
            `see: npm run verify-backup -- ${stack}` };
    }
    if ("record" in v) {
        const seconds = (now - Date.parse(v.record.verifiedAt)) / 1000;
        const stale = seconds > maxAgeHours * 3600;
        return { level: stale ? "warn" : "info", text: `backup: a restore of ${v.record.backup} from ${volume} was proven ` +
            `${age(seconds)} ago (${v.record.verifiedAt})${stale ? `, longer ago than backup.maxVerifiedAgeHours (${maxAgeHours} h): ` +
                "destroy refuses until one is proven again" : ""}; prove the newest: npm run verify-backup -- ${stack}` };
    }
    if ("unreadable" in v) {
        return { level: "warn", text: `backup: ${unreadableRecord("verified", v.unreadable)} in ${volume}; prove one: npm run verify-backup -- ${stack}` };
    }
    return { level: "warn", text: `backup: no restore of the backups in ${volume} has been proven yet; prove one: npm run verify-backup -- ${stack}` };
}

/**
 * The stack outputs' word on the proof (outputs.backup.proof): the last verified restore and the
 * last failed attempt since, as the repository's records had them when the up began; neither
 * when the backups move to VOLUME in this up (the records are the old repository's); `unread`,
 * never an empty answer, when they could not be read.
 */
export function proofOutput(proof: BackupProof | { unread: string } | undefined, volume: string): ProofOutput {
    if (proof && "unread" in proof) {
        return { unread: `the records could not be read when the up began (${proof.unread}); npm run status reads them now` };
    }
    if (!proof || movedFrom(proof, volume)) {
        return {};
    }
    const { verified: v, failed } = proof;
    const unread = [
        ...("unreadable" in v ? [`${unreadableRecord("verified", v.unreadable)}; prove one: npm run verify-backup`] : []),
        ...("unreadable" in failed ? [unreadableRecord("failed", failed.unreadable)] : []),
    ];
    return {
        ...("record" in v ? { lastVerified: { backup: v.record.backup, verifiedAt: v.record.verifiedAt } } : {}),
        ...("record" in failed ? { lastFailed: { ...failed.record } } : {}),
        ...(unread.length ? { unread: unread.join("; ") } : {}),
    };
}

/** outputs.backup.proof (proofOutput). */
export interface ProofOutput {
    /** The newest restore proven (npm run verify-backup or the scheduler): of which backup, when (ISO 8601). */
    readonly lastVerified?: { readonly backup: string; readonly verifiedAt: string };
    /** The last attempt to prove one, when it failed after the last success. */
    readonly lastFailed?: VerifyFailure;
    /** Why the records could not be read (a node that did not answer, a record that is not JSON): a proof may exist. */
    readonly unread?: string;
}
