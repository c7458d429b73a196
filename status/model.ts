// The status tool's data: the plan (read from the stack's outputs and state), what was observed
// (one probe per node and per container, status/collect.ts), and the report built from both
// (status/report.ts). Only plain data here, so the report can be tested on fixtures.

import type { ArchiverRow } from "../components/archive";
export { DIVERGED_NOTE } from "../components/topology/contract";

/** A node as the stack declares it. */
export interface PlannedNode {
    readonly name: string;
    /** Where this machine reaches the node's published port. */
    readonly host: string;
    readonly port: number;
    /** The node's address on the cluster network. */
    readonly address?: string;
    readonly containerName: string;
    /** The Docker engine it runs on (docker -H): its own, or the stack's. */
    readonly engine: string;
    readonly role: "primary" | "standby";
    /** Standbys: the sync_state the commit policy promises (async, sync or quorum). */
    readonly syncState?: string;
    readonly connectionString: string;
    /** The container id Pulumi's state holds for this node, when the state could be read. */
    readonly containerId?: string;
}

export interface Plan {
    readonly stack: string;
    /** The declared primary's node name. */
    readonly primary: string;
    readonly nodes: readonly PlannedNode[];
    readonly replication: {
        readonly mode: string;
        readonly user?: string;
        readonly synchronousStandbyNames: string;
        readonly synchronousCommit: string;
        readonly walKeepSize?: string;
        readonly maxSlotWalKeepSize?: string;
        /** pg-replication:archiveStallSeconds (its default for a stack whose outputs predate it). */
        readonly archiveStallSeconds: number;
    };
    readonly network?: { readonly name?: string; readonly subnet?: string };
    /** The image the stack's nodes are to run (outputs.image); absent in outputs made before it was one. */
    readonly image?: string;
    /** The stack's Docker engine (docker -H); a node may have its own (PlannedNode.engine). */
    readonly engineHost: string;
    /** The read-write endpoint (outputs endpoints.rw), when the stack has one. */
    readonly endpoint?: { readonly host: string; readonly port: number; readonly containerName: string; readonly connectionString: string };
    /** The read-only endpoint (outputs endpoints.ro), when the stack has one. */
    readonly readEndpoint?: Plan["endpoint"];
    /**
     * With nodes on several engines, every other host's endpoints (outputs endpoints.byHost but the
     * first host's, which are `endpoint` and `readEndpoint`): each with its kind and its engine.
     */
    readonly moreEndpoints?: readonly (NonNullable<Plan["endpoint"]> & { readonly kind: "rw" | "ro"; readonly engine: string })[];
    /**
     * The backup repository (outputs.backup), when the stack has backups; `volume` names it in
     * messages: the volume, or with backup.s3 the bucket (pgbackrest.ts repositoryName).
     */
    readonly backup?: { readonly volume: string; readonly stanza: string;
        /** With the nodes on several engines (outputs.backup.engine): the engine whose settings volume keeps the records. */
        readonly engine?: string;
        /** backup.maxVerifiedAgeHours (26 for a stack whose outputs predate it): a proof older than this is stale. */
        readonly maxVerifiedAgeHours: number;
        /** backup.schedule (outputs.backup.schedule): the intervals in seconds (0 for none) and the scheduler's container. */
        readonly schedule?: { readonly containerName: string; readonly fullSeconds: number; readonly diffSeconds: number; readonly incrSeconds: number } };
}

/** The repository as pgBackRest describes it from a running node, and the last verified restore (backup/core.ts). */
export type BackupProbe = {
    readonly reachable: true;
    /** Each backup set, oldest first: its label, type and when it ended (ms since the epoch). */
    readonly backups: readonly { readonly label: string; readonly type: string; readonly stoppedAt: number }[];
    /** pgBackRest's word on the stanza ("ok", or what is wrong). */
    readonly stanzaStatus: string;
    readonly verified: { readonly verifiedAt: string; readonly backup: string; readonly marker: { readonly found: boolean } } | null;
    /** The last attempt to prove a restore, when it failed (and no proof succeeded since). */
    readonly verifyFailed?: { readonly failedAt: string; readonly backup: string; readonly error: string } | null;
    /**
     * Why the proof records could not be read (a container that did not answer, a record that is not
     * JSON): `verified` and `verifyFailed` then say nothing, and a proof may exist.
     */
    readonly proofUnread?: string;
} | { readonly reachable: false; readonly error: string };

/** What a connection through the endpoint reached: the server's address on the cluster network, and whether it is in recovery. */
export type EndpointProbe = { readonly reachable: true; readonly address: string; readonly inRecovery: boolean }
    | { readonly reachable: false; readonly error: string };

/** A row of the primary's pg_stat_replication. LSNs as PostgreSQL prints them (X/Y). */
export interface ReplicationRow {
    readonly applicationName: string;
    readonly clientAddr: string | null;
    readonly state: string;
    readonly syncState: string;
    readonly sentLsn: string | null;
    readonly flushLsn: string | null;
    readonly replayLsn: string | null;
    /** pg_current_wal_lsn() - flush_lsn, taken in the same query. */
    readonly flushLagBytes: number | null;
    /** pg_current_wal_lsn() - replay_lsn, taken in the same query. */
    readonly replayLagBytes: number | null;
    readonly writeLagSeconds: number | null;
    readonly flushLagSeconds: number | null;
    readonly replayLagSeconds: number | null;
}

/** A row of the primary's pg_replication_slots. */
export interface SlotRow {
    readonly name: string;
    readonly type: string;
    readonly active: boolean;
    readonly restartLsn: string | null;
    /** reserved, extended, unreserved or lost (PostgreSQL 13+). */
    readonly walStatus: string | null;
    /** pg_current_wal_lsn() - restart_lsn. */
    readonly heldBytes: number | null;
}

export interface ReachableNode {
    readonly reachable: true;
    readonly inRecovery: boolean;
    readonly systemIdentifier: string;
    readonly version: string;
    readonly timeline: number | null;
    /** Not in recovery: pg_current_wal_lsn(). */
    readonly currentLsn: string | null;
    /** In recovery: pg_last_wal_receive_lsn() and pg_last_wal_replay_lsn(). */
    readonly receiveLsn: string | null;
    readonly replayLsn: string | null;
    /** In recovery: pg_stat_wal_receiver's status, or null when no receiver runs. */
    readonly receiverStatus: string | null;
    readonly synchronousStandbyNames: string;
    readonly synchronousCommit: string;
    /** max_slot_wal_keep_size in bytes; -1 is unlimited. */
    readonly maxSlotWalKeepSizeBytes: number;
    readonly walKeepSizeBytes: number;
    readonly replication: readonly ReplicationRow[];
    readonly slots: readonly SlotRow[];
    /** Not in recovery: its archiver (components/archive.ts ARCHIVER_SQL). */
    readonly archiver?: ArchiverRow | null;
}

export type NodeProbe = ReachableNode | { readonly reachable: false; readonly error: string };

export interface ContainerProbe {
    /** unknown: the engine could not be asked. */
    readonly state: "running" | "stopped" | "missing" | "unknown";
    readonly id?: string;
    readonly status?: string;
    readonly startedAt?: string;
    readonly image?: string;
    /** Why the engine could not be asked. */
    readonly error?: string;
    /** The engine did not answer within the bound (a frozen engine, a lost host), as opposed to refusing. */
    readonly silent?: boolean;
    /** HostConfig.RestartPolicy.Name: `no` on a node a failover or a demotion fenced. */
    readonly restartPolicy?: string;
    /**
     * Only for a fenced node (stopped, restart policy `no`): the text of the `diverged` note in its
     * volume (components/topology/act.ts demoteStale), null when there is none; undefined when not looked at.
     */
    readonly divergedNote?: string | null;
    /** Why the note could not be read. */
    readonly noteError?: string;
}

export interface Observation {
    readonly checkedAt: string;
    readonly nodes: Readonly<Record<string, { readonly probe: NodeProbe; readonly container: ContainerProbe }>>;
    /** Only when the plan has an endpoint. */
    readonly endpoint?: EndpointProbe;
    /** Only when the plan has a read-only endpoint. */
    readonly readEndpoint?: EndpointProbe;
    /** Only when the plan has moreEndpoints: each one's, in the same order. */
    readonly moreEndpoints?: readonly EndpointProbe[];
    /** Only when the plan has backups. */
    readonly backup?: BackupProbe;
    /** Only when the plan has a backup schedule: its container. */
    readonly backupScheduler?: ContainerProbe;
}
