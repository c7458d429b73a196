// What a cluster is, as the planners and the topology step read it: the nodes, the engine each
// runs on and the replication policy, with the rules that derive the commit policy from them.
// No Pulumi here: the topology step (components/topology/up.ts) loads this without the SDK;
// components/config.ts reads and checks the stack configuration into these types.

export const NAMESPACE = "pg-replication";

export type ReplicationMode = "async" | "sync";
/** What pg_stat_replication.sync_state should say for a standby once the policy is applied. */
export type SyncState = "async" | "sync" | "quorum";

/** One PostgreSQL node: the same container whatever its role; the name is also its slot name. */
export interface NodeSpec {
    readonly name: string;
    /** Its address on the cluster network. */
    readonly address: string;
    /** The host port its 5432 is published on. */
    readonly port: number;
    /**
     * The Docker engine it runs on (DOCKER_HOST form: unix://, tcp:// or ssh://); the stack's
     * engine when absent.
     */
    readonly host?: string;
    /**
     * The address of its engine's host that its port is published on (instead of bindAddress) and
     * that other nodes and clients reach it at; needed once the nodes span more than one engine.
     */
    readonly hostAddress?: string;
}

/** The engine a node runs on: its own `host`, else the stack's. */
export function nodeEngine(node: Pick<NodeSpec, "host">, stackEngine: string): string {
    return node.host ?? stackEngine;
}

/** Whether the nodes run on more than one Docker engine (then replication crosses hosts, over TLS). */
export function spansEngines(nodes: readonly Pick<NodeSpec, "host">[], stackEngine: string): boolean {
    return new Set(nodes.map((n) => nodeEngine(n, stackEngine))).size > 1;
}

/** One node as lib.sh's PEERS reads it (peer_field): its fields in this order. */
export interface Peer {
    readonly name: unknown; readonly container: unknown; readonly engine: string;
    readonly address: unknown; readonly hostAddress: unknown; readonly port: unknown;
}

/** lib.sh's PEERS: every node as "name|container|engine|address|hostAddress|port", separated by blanks. */
export function peersValue(nodes: readonly Peer[]): string {
    return nodes.map((n) => [n.name, n.container, n.engine, n.address, n.hostAddress, n.port].join("|")).join(" ");
}

/** The pooler that gives clients one address for writes (README "Endpoints"); config.ts validateEndpoints. */
export interface EndpointSettings {
    /** Its image: PgBouncer on the cluster's PostgreSQL image (images/tools). */
    readonly image: string;
    /** Its address on the cluster network. */
    readonly address: string;
    /** The host port the read-write endpoint is published on (bindAddress). */
    readonly port: number;
    /** The read-only endpoint's own pooler's address on the cluster network. */
    readonly readAddress: string;
    /** The host port the read-only endpoint is published on (bindAddress). */
    readonly readPort: number;
    /** A standby further behind the primary than this (bytes of WAL not replayed) gets no reads. */
    readonly maxReadLagBytes: number;
    /** PgBouncer's pool_mode: transaction (a switchover is a pause for clients) or session. */
    readonly poolMode: "transaction" | "session";
    /** default_pool_size: server connections per user and database. */
    readonly poolSize: number;
    /** max_client_conn. */
    readonly maxClientConnections: number;
    /** query_wait_timeout: how long a client waits for a server connection before an error. */
    readonly queryWaitTimeoutSeconds: number;
    /** The bound on PAUSE in a switchover: transactions still open after it make the switchover refuse. */
    readonly pauseTimeoutSeconds: number;
}

export interface ReplicationSettings {
    readonly user: string;
    readonly connectionLimit: number;
    readonly mode: ReplicationMode;
    /** synchronous_commit; "on" in async mode, where no standby is waited for. */
    readonly synchronousCommit: string;
    /**
     * The nodes that count for synchronous commit as configured (empty in async mode); whichever
     * of them is the primary is left out when the policy is applied.
     */
    readonly syncStandbys: readonly string[];
    readonly syncCount: number;
    /** The synchronous_standby_names value the declared primary gets. */
    readonly synchronousStandbyNames: string;
    readonly walKeepSize: string;
    readonly maxSlotWalKeepSize: string;
    readonly maxWalSenders: number;
    /** A switchover refuses a target whose replay is further behind than this (bytes of WAL). */
    readonly maxSwitchoverLagBytes: number;
}

export type SyncPolicy = Pick<ReplicationSettings, "mode" | "syncStandbys" | "syncCount">;

/** One standby counts as FIRST 1; two or more form a quorum, so one can be down without blocking commits. */
export function standbyNamesSetting(names: readonly string[], count: number): string {
    const list = names.map((n) => `"${n}"`).join(", ");
    return names.length === 1 ? `FIRST 1 (${list})` : `ANY ${count} (${list})`;
}

/** The nodes whose confirmation a commit on `primary` waits for (the configured set minus the primary). */
export function syncSet(replication: SyncPolicy, primary: string): string[] {
    return replication.mode === "sync" ? replication.syncStandbys.filter((n) => n !== primary) : [];
}

/** synchronous_standby_names for `primary` under the configured policy ("" when async). */
export function synchronousStandbyNamesFor(replication: SyncPolicy, primary: string): string {
    const set = syncSet(replication, primary);
    return set.length === 0 ? "" : standbyNamesSetting(set, Math.min(replication.syncCount, set.length));
}

/** The sync_state pg_stat_replication must show for a standby of `primary` under the configured policy. */
export function expectedSyncState(replication: SyncPolicy, primary: string, standby: string): SyncState {
    const set = syncSet(replication, primary);
    if (!set.includes(standby)) {
        return "async";
    }
    return set.length === 1 ? "sync" : "quorum";
}

/** Backups with pgBackRest (README "Backups"); config.ts validateBackup. */
/**
 * A new stack's primary bootstrapped from a pgBackRest repository instead of an empty data directory
 * (pg-replication:restore): restored, recovered to the target, promoted; the other nodes cloned from it.
 */
export interface RestoreSettings {
    /** The repository: a Docker volume on the stack's engine (another stack's `backup.volume` output). */
    readonly volume: string;
    /** Its stanza (the other stack's `backup.stanza` output). */
    readonly stanza: string;
    /**
     * Where recovery stops: the end of the archive, the first commit after a time (with its zone),
     * an LSN, or a restore point recorded in the repository (npm run restore-point).
     */
    readonly target: { readonly kind: "latest" } | { readonly kind: "time"; readonly time: string } |
        { readonly kind: "lsn"; readonly lsn: string } | { readonly kind: "name"; readonly name: string };
    /** An image of the cluster's major with pgBackRest (the backup image, by default). */
    readonly image: string;
}

export interface BackupSettings {
    /** The nodes' image with pgBackRest: archive_command runs it in every node (images/backup). */
    readonly image: string;
    /**
     * A Docker volume on the stack's engine, kept when the stack is destroyed, that every node mounts:
     * the repository itself, or with `s3` pgBackRest's settings (and the S3 credentials) only, the
     * backups being in the bucket. The records of proven restores are in it either way.
     */
    readonly volume: string;
    /** The repository in an S3-compatible object store instead of the volume; none when unset. */
    readonly s3?: S3Repository;
    /** pgBackRest's stanza: the stack's name prefix (one cluster per repository path). */
    readonly stanza: string;
    /** Full backups kept (repo1-retention-full); older ones and the WAL only they need are expired. */
    readonly retentionFull: number;
    /** Parallel processes for backup and restore (process-max); archive-push is synchronous, one process per segment. */
    readonly processMax: number;
    /** A restore proven longer ago than this (hours) is too old: preview and status warn, destroy refuses. */
    readonly maxVerifiedAgeHours: number;
    /** Destroy goes on when no restore was proven within maxVerifiedAgeHours (set by an up before the destroy). */
    readonly allowUnverifiedDestroy: boolean;
    /** Backups and proven restores on a schedule, by the stack's scheduler container; none when unset. */
    readonly schedule?: BackupSchedule;
}

/**
 * backup.s3: an S3-compatible bucket as pgBackRest's repository (repo1-type=s3). The credentials are
 * not here: they are the secrets pg-replication:backupS3AccessKey and backupS3SecretKey, written only
 * into the settings file in the volume.
 */
export interface S3Repository {
    /** The endpoint's host name (repo1-s3-endpoint): what the server's TLS certificate must name. */
    readonly endpoint: string;
    readonly bucket: string;
    readonly region: string;
    /** Where in the bucket (repo1-path): the stanza's backups and archive go under it. */
    readonly path: string;
    /** path (bucket in the path; what most S3-compatible servers want) or host (bucket in the host name). */
    readonly uriStyle: "path" | "host";
    /** Connect to this address instead of resolving the endpoint (repo1-storage-host); none when unset. */
    readonly host?: string;
    /** The port (repo1-storage-port): 443 unless set. */
    readonly port: number;
    /** PEM of the CA that signed the server's certificate (repo1-storage-ca-file); the system's CAs when unset. */
    readonly caCert?: string;
}

/** The S3 repository's credentials (pgBackRest's repo1-s3-key, repo1-s3-key-secret): only ever inside a Pulumi secret. */
export interface S3Credentials {
    readonly accessKey: string;
    readonly secretKey: string;
}

/** backup.schedule: what the scheduler container (components/backup.ts BackupScheduler) runs and how often. */
export interface BackupSchedule {
    /** The backup image with the docker CLI and jq (images/scheduler, pg-replication/postgres-scheduler:<major>). */
    readonly image: string;
    /** A full backup when the newest is this old (seconds); a restore of it is proven right after. */
    readonly fullSeconds: number;
    /** A differential backup when the newest full or differential one is this old; none when unset. */
    readonly diffSeconds?: number;
    /** An incremental backup when the newest backup of any kind is this old; none when unset. */
    readonly incrSeconds?: number;
    /** The engine's socket on the engine's host, mounted into the scheduler: how it reaches the nodes. */
    readonly dockerSocket: string;
    /**
     * The scheduled backups come from a standby that streams from the primary when there is one
     * (pgBackRest's backup-standby, its remote protocol over `docker exec`), else from the primary.
     */
    readonly fromStandby: boolean;
}
