// Backups with pgBackRest (README "Backups"): the repository (a Docker volume every node mounts,
// kept when the stack is destroyed, with pgBackRest's settings file in it) and, once the
// declared primary is primary, the stanza, a check that the primary's WAL reaches the archive, and
// the first full backup when the repository has none, so a stack with backups on is never
// without one; at destroy, a final backup before the nodes go. What a node needs to archive is in
// pgbackrest.ts.

import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { fragment, scriptOf } from "./fragments";
import { labelList, labelWords } from "./node";
import {
    CONFIG_FILE, pgbackrestConf, REPO_PATH, repoNetwork, repositoryName, REPOSITORY_FILE, RESTORE_POINTS_FILE, S3_CA_FILE, s3CredentialLines,
    VERIFIED_FILE, VERIFY_FAILED_FILE,
} from "./pgbackrest";
import { dockerCommand, script } from "./shell";
import type { BackupSchedule, BackupSettings, S3Credentials } from "./spec";

export interface BackupRepositoryArgs {
    readonly settings: BackupSettings;
    /** The nodes' data directory (PGDATA), the same on every node: pgBackRest's pg1-path. */
    readonly pgdata: string;
    /** The image the settings file is written with (the backup image: its repository path belongs to postgres). */
    readonly image: pulumi.Input<string>;
    /** Put on the volume. */
    readonly labels: Readonly<Record<string, string>>;
    /** The Docker engine (DOCKER_HOST form) the volume is on: every node's, or across engines one of them (cluster.ts). */
    readonly dockerHost: string;
    /** With settings.s3: its credentials (a secret), written into the settings file only. */
    readonly s3Credentials?: pulumi.Input<S3Credentials>;
}

/** The repository volume and the settings file in it; `volumeName` resolves once the file is written. */
export class BackupRepository extends pulumi.ComponentResource {
    readonly volume: docker.Volume;
    readonly settingsFile: command.local.Command;
    /** The volume's name, known once its settings file is there: what the nodes mount. */
    readonly volumeName: pulumi.Output<string>;

    constructor(name: string, args: BackupRepositoryArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:BackupRepository", name, {}, opts);
        // Kept when the stack is destroyed (the backups outlive the cluster; README "Backups" says how
        // to delete it on purpose); a stack made again with the same name finds it and its stanza, and
        // its preview refuses (program.ts checkRepositoryFree): that stanza is the old cluster's.
        this.volume = new docker.Volume(name, {
            name: args.settings.volume,
            labels: labelList({ ...args.labels, "pg-replication.role": "backup-repository" }),
        }, { parent: this, retainOnDelete: true });
        this.settingsFile = dockerCommand(`${name}-settings`, {
            create: script("backup-settings.sh"),
            update: script("backup-settings.sh"),
            environment: {
                VOLUME: this.volume.name,
                IMAGE: args.image,
                REPO_PATH,
                CONFIG_FILE,
                SETTINGS: pgbackrestConf(args.settings, args.pgdata),
                // With S3 the volume keeps the settings, the credentials and the records, the bucket the backups.
                ...(args.settings.s3 ? { S3: "1", S3_CA_FILE, S3_CA_CERT: args.settings.s3.caCert ?? "" } : {}),
            },
            ...(args.settings.s3 ? { stdin: pulumi.secret(pulumi.output(args.s3Credentials!).apply(s3CredentialLines)) } : {}),
            dockerHost: args.dockerHost,
        }, { parent: this });
        this.volumeName = pulumi.all([this.volume.name, this.settingsFile.id]).apply(([volume]) => volume);
        this.registerOutputs({ volume: this.volume.name });
    }
}

export interface BackupArgs {
    readonly settings: BackupSettings;
    /** The declared primary's container: where the stanza is made, checked and the first backup taken. */
    readonly primaryContainer: pulumi.Input<string>;
    /**
     * The image the nodes run: a change replaces the primary's container, which is checked again; after
     * a major upgrade that is where the new major's first full backup is taken.
     */
    readonly image: pulumi.Input<string>;
    /** What must be done first: the topology step (the declared primary is primary) and the repository. */
    readonly after: readonly pulumi.Resource[];
    /**
     * Every node: the destroy guard depends on them all, so on destroy no node's container or volume is
     * removed before the guard has checked the proof and taken the final backup.
     */
    readonly nodes: readonly pulumi.Resource[];
    /** Where the records of proven restores are: the primary's engine, or across engines the first node's (cluster.ts). */
    readonly dockerHost: string;
    /** Across engines: every node as lib.sh's PEERS, so the primary is asked on its own engine. */
    readonly peers?: string;
    /** Across engines: the records' engine (dockerHost) found lost at preview; the check leaves the records alone. */
    readonly recordsLost?: boolean;
}

/**
 * The stanza, the archive check and the first full backup; again (stanza and check) whenever the
 * primary or the nodes' image changes (a major upgrade's new major gets its first full backup); and
 * at destroy, before any node goes, a proven restore within the bound and a final backup
 * (scripts/backup-final.sh).
 */
export class Backup extends pulumi.ComponentResource {
    readonly check: command.local.Command;
    /** Does nothing on create; its delete is backup-final.sh, before any node is removed. */
    readonly final: command.local.Command;

    constructor(name: string, args: BackupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:Backup", name, {}, opts);
        this.check = dockerCommand(`${name}-check`, {
            // Its create is backups turned on (or on again): the repository may hold older backups, before a gap in its archive.
            create: `CHECK_RUN=create\n${script("backup-check.sh")}`,
            update: script("backup-check.sh"),
            environment: {
                PRIMARY_CONTAINER: args.primaryContainer,
                STANZA: args.settings.stanza,
                IMAGE: args.image,
                // Where the backups go: a new repository (backup.s3 set, removed or moved; a single node's
                // new volume) runs the check again, which makes its stanza and takes its first full backup.
                REPOSITORY: repositoryName(args.settings),
                REPOSITORY_FILE,
                RECORDS: [VERIFIED_FILE, VERIFY_FAILED_FILE, RESTORE_POINTS_FILE].join(" "),
                // Its backup's lock is there, where every other backup of the stanza takes it.
                REPO_PATH,
                // Across engines the records are in this engine's volume (backup-tools.sh records_sh).
                ...(args.peers ? { PEERS: args.peers, VOLUME: args.settings.volume } : {}),
                ...(args.recordsLost ? { RECORDS_LOST: "1" } : {}),
            },
            dockerHost: args.dockerHost,
        }, { parent: this, dependsOn: [...args.after] });
        // Deleted before every node it depends on: the proof checked and a last backup while the
        // primary still runs; when either fails, the destroy stops with every node and volume there.
        this.final = dockerCommand(`${name}-final`, {
            delete: script("backup-final.sh"),
            environment: {
                PRIMARY_CONTAINER: args.primaryContainer,
                STANZA: args.settings.stanza,
                VOLUME: args.settings.volume,
                // What the messages name as the backups' place: with backup.s3 the volume holds only the settings and records.
                REPOSITORY: repositoryName(args.settings),
                IMAGE: args.settings.image,
                REPO_PATH,
                VERIFIED_FILE,
                MAX_VERIFIED_AGE_HOURS: String(args.settings.maxVerifiedAgeHours),
                ALLOW_UNVERIFIED_DESTROY: String(args.settings.allowUnverifiedDestroy),
                ...(args.peers ? { PEERS: args.peers } : {}),
            },
            dockerHost: args.dockerHost,
        }, { parent: this, dependsOn: [this.check, ...args.nodes] });
        this.registerOutputs({ stanza: args.settings.stanza });
    }
}

export interface BackupSchedulerArgs {
    readonly settings: BackupSettings;
    readonly schedule: BackupSchedule;
    /** The scheduler container's name (`<prefix>-backup-scheduler`). */
    readonly containerName: string;
    /** The stack's labels: on the container, and how it finds the stack's nodes (find_primary). */
    readonly labels: Readonly<Record<string, string>>;
    /**
     * What must be there first: the Backup's destroy guard, so the scheduler starts once up's first
     * full backup is taken, and on destroy is gone before the guard's final backup.
     */
    readonly after: readonly pulumi.Resource[];
}

/** How often the scheduler looks (seconds): a due backup starts within this of its time. */
export const SCHEDULER_POLL_SECONDS = 30;
/** Bound on each step of a scheduled verified restore (seconds), as `npm run verify-backup`'s. */
export const SCHEDULED_VERIFY_TIMEOUT_SECONDS = 1800;
/** Where the engine's socket is inside the scheduler container (the docker CLI's default). */
const SOCKET_IN_CONTAINER = "/var/run/docker.sock";

/** The scheduler container's environment: its settings, nothing secret. */
export function schedulerEnv(b: BackupSettings, s: BackupSchedule, labels: Readonly<Record<string, string>>): string[] {
    return [
        `STACK_LABELS=${labelWords(labels)}`,
        `STANZA=${b.stanza}`,
        `VOLUME=${b.volume}`,
        `IMAGE=${b.image}`,
        `REPO_PATH=${REPO_PATH}`,
        ...(b.s3 ? [`REPO_NETWORK=${repoNetwork(b)}`] : []),
        `VERIFIED_FILE=${VERIFIED_FILE}`,
        `VERIFY_FAILED_FILE=${VERIFY_FAILED_FILE}`,
        `FULL_SECONDS=${s.fullSeconds}`,
        `DIFF_SECONDS=${s.diffSeconds ?? 0}`,
        `INCR_SECONDS=${s.incrSeconds ?? 0}`,
        `POLL_SECONDS=${SCHEDULER_POLL_SECONDS}`,
        `VERIFY_TIMEOUT=${SCHEDULED_VERIFY_TIMEOUT_SECONDS}`,
        ...(s.fromStandby ? ["FROM_STANDBY=1"] : []),
    ];
}

/**
 * Backups and proven restores on a schedule (backup.schedule; README "Backups"): one container on
 * the stack's engine, of the scheduler image (the backup image with the docker CLI and jq), running
 * backup-schedule.sh. It reaches the nodes through the engine's socket, mounted from the engine's
 * host (root on that engine, as the stack's own commands have). Nothing listens in it; it has no
 * network, except the engine's default bridge with an S3 repository, which its backups from a
 * standby (schedule.fromStandby) write to. For those it mounts the repository volume too, where
 * pgBackRest runs in it (backup-tools.sh standby_backup).
 */
export class BackupScheduler extends pulumi.ComponentResource {
    readonly container: docker.Container;

    constructor(name: string, args: BackupSchedulerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:BackupScheduler", name, {}, opts);
        this.container = new docker.Container(name, {
            name: args.containerName,
            image: args.schedule.image,
            command: ["sh", "-c", scriptOf(fragment("backup-schedule.sh"))],
            envs: schedulerEnv(args.settings, args.schedule, args.labels),
            labels: labelList({ ...args.labels, "pg-replication.role": "backup-scheduler" }),
            networkMode: args.schedule.fromStandby ? repoNetwork(args.settings) : "none",
            volumes: [
                { hostPath: args.schedule.dockerSocket, containerPath: SOCKET_IN_CONTAINER },
                ...(args.schedule.fromStandby ? [{ volumeName: args.settings.volume, containerPath: REPO_PATH }] : []),
            ],
            restart: "unless-stopped",
            mustRun: true,
        }, { parent: this, deleteBeforeReplace: true, dependsOn: [...args.after] });
        this.registerOutputs({ containerName: this.container.name });
    }
}
