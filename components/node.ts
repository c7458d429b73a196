// One PostgreSQL node: the same definition whatever its role. Which node is primary is state in
// the data directory (standby.signal, primary_conninfo), set by the seed and by the topology
// step (components/topology/up.ts), never a different resource type.

import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { NodeSpec, ReplicationSettings, RestoreSettings } from "./config";
import { POOLER_AUTH_USER } from "./pooler";
import { dockerCommand, script } from "./shell";
import { CONFIG_FILE, REPO_PATH } from "./pgbackrest";

/** Where the volume is mounted; the image declares it as a VOLUME, so mounting there leaves no anonymous volume. */
export const VOLUME_PATH = "/var/lib/postgresql/data";
/** The cluster lives one level down, so the volume can also hold the node's passfile outside it. */
export const PGDATA = `${VOLUME_PATH}/pgdata`;
export const CONTAINER_PORT = 5432;
/** Read once by the image's entrypoint when it initialises an empty data directory. */
export const PASSWORD_FILE = "/run/secrets/pg-replication/superuser-password";
/**
 * How long a node container gets to stop before the docker provider kills it (on destroy and on
 * replacement): PostgreSQL's fast shutdown takes seconds; without it the provider stops with a
 * 0 s timeout and the server runs crash recovery on its next start.
 */
export const DESTROY_GRACE_SECONDS = 60;

/**
 * The containers' health check. Constant, so changing readyTimeoutSeconds never makes a
 * container diff that the provider would not apply (it applies no health check change in place);
 * the readiness gates (node-ready.sh, the policy) are what readyTimeoutSeconds bounds.
 * Over TCP as a named user: the image's init-time server listens on the socket only, so this
 * cannot pass before the real server is up.
 */
export const HEALTHCHECK = pgIsReadyCheck(CONTAINER_PORT, "postgres", "postgres", { intervalSeconds: 1, retries: 10, startSeconds: 120 });

/** A Docker health check: pg_isready over TCP to 127.0.0.1:PORT as USER for DATABASE, each look bounded by 5 s. */
export function pgIsReadyCheck(port: number, user: string, database: string,
    o: { intervalSeconds: number; retries: number; startSeconds: number }): docker.types.input.ContainerHealthcheck {
    return {
        tests: ["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", database],
        interval: goDuration(o.intervalSeconds),
        timeout: goDuration(5),
        retries: o.retries,
        startPeriod: goDuration(o.startSeconds),
    };
}

/**
 * A duration as Go prints it ("2m0s", not "120s"): the docker provider reads the health check
 * back in that form, so any other spelling would show as a change on every `pulumi up`.
 */
export function goDuration(totalSeconds: number): string {
    const h = Math.floor(totalSeconds / 3600);
    const m = Math.floor((totalSeconds % 3600) / 60);
    const s = totalSeconds % 60;
    return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
}

/**
 * Settings that need a restart, fixed at first start and the same on every node; everything
 * reloadable is set later by commands. wal_log_hints lets pg_rewind bring back a former primary
 * whose timeline diverged.
 */
export function serverArgs(replication: Pick<ReplicationSettings, "maxWalSenders">, archiveCommand?: string,
    archiveTimeoutSeconds?: number): string[] {
    const settings: [string, string | number][] = [
        ["listen_addresses", "*"],
        ["wal_level", "replica"],
        ["max_wal_senders", replication.maxWalSenders],
        ["max_replication_slots", replication.maxWalSenders],
        ["hot_standby", "on"],
        ["wal_log_hints", "on"],
        ["password_encryption", "scram-sha-256"],
        ["archive_mode", archiveCommand ? "on" : "off"],
    ];
    if (archiveCommand) {
        settings.push(["archive_command", archiveCommand]);
    }
    if (archiveCommand && archiveTimeoutSeconds) {
        settings.push(["archive_timeout", archiveTimeoutSeconds]);
    }
    return ["postgres", ...settings.flatMap(([key, value]) => ["-c", `${key}=${value}`])];
}

/** Labels in the docker provider's list form. */
export function labelList(labels: Record<string, pulumi.Input<string>>): docker.types.input.ContainerLabel[] {
    return Object.entries(labels).map(([label, value]) => ({ label, value }));
}

/** "k=v k=v": labels as the scripts take them. */
export function labelWords(labels: Record<string, string>): string {
    return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(" ");
}

/** Escapes a value for one field of a libpq passfile line. */
export function passfileField(value: string): string {
    return value.replace(/\\/g, "\\\\").replace(/:/g, "\\:");
}

/** What every node of one cluster shares. */
export interface NodeSettings {
    /** Prefix of container and volume names: `<prefix>-<node>`, `<prefix>-<node>-data`. */
    readonly namePrefix: string;
    /** The image by name (RemoteImage.name): a moved local tag then replaces nothing on refresh. */
    readonly image: pulumi.Input<string>;
    readonly networkName: pulumi.Input<string>;
    /** Every node's address: each node admits replication from all of them (any can become primary). */
    readonly allAddresses: readonly string[];
    readonly bindAddress: string;
    readonly replication: ReplicationSettings;
    readonly archiveCommand?: string;
    /** With backups: the repository volume every node mounts at REPO_PATH, pgBackRest's environment, archive_timeout. */
    readonly backup?: { readonly volume: pulumi.Input<string>; readonly env: readonly string[]; readonly archiveTimeoutSeconds: number };
    readonly readyTimeoutSeconds: number;
    /** A new cluster's first node restored from this repository (pg-replication:restore); the seed's bootstrap case only. */
    readonly restore?: RestoreSettings;
    /** The stack's labels, on every Docker object; the scripts find the nodes by them. */
    readonly labels: Readonly<Record<string, string>>;
    readonly dockerHost: string;
    /** A secret: seeds an empty data directory (the bootstrap primary's) through an uploaded file. */
    readonly superuserPassword: pulumi.Input<string>;
    /** A secret: written to the node's passfile. */
    readonly replicationPassword: pulumi.Input<string>;
}

/** Where the node's TLS material lives in its volume, outside the data directory (a clone does not copy it). */
export const TLS_DIR = `${VOLUME_PATH}/tls`;

/** A node's TLS material (PEM; key and cert secrets), for replication that leaves its host. */
export interface NodeTls {
    readonly key: pulumi.Input<string>;
    readonly cert: pulumi.Input<string>;
    /** The stack's CA certificate: what the node verifies the primary against (verify-full). */
    readonly ca: pulumi.Input<string>;
}

/** One pg_hba replication rule's source: a node as this node sees it, over TLS when it comes from another host. */
export interface ReplicationSource {
    readonly address: string;
    readonly tls: boolean;
}

export interface PostgresNodeArgs {
    /** The node's name, address and host port. */
    readonly spec: NodeSpec;
    readonly settings: NodeSettings;
    /** Whom it admits for replication; every node's cluster address (settings.allAddresses) when omitted. */
    readonly replicationSources?: readonly ReplicationSource[];
    /** TLS on (ssl=on with this key, certificate and CA); off when omitted. */
    readonly tls?: NodeTls;
    /**
     * With tls: the subnet clients may connect from without TLS (the node's bridge network, which
     * a client on its own host reaching a published port comes from); any other client needs TLS.
     */
    readonly clientSubnet?: string;
    /**
     * Every node as "name|container|engine|address|hostAddress|port", for the scripts that look for
     * the primary on more than one engine (components/scripts/lib.sh PEERS); omitted on one engine.
     */
    readonly peers?: string;
    /**
     * What the node's passfile and seed (and so its clone, container, gate and rules) wait for: for
     * a standby, the primary's node, the topology step and the replication role. The volume and TLS
     * files do not wait, so on destroy a standby's volume goes beside the primary's teardown
     * instead of before it (the docker provider waits 2 s on each volume delete).
     */
    readonly after?: readonly pulumi.Resource[];
    /**
     * The declared primary's node: the network's name as configured, for its seed alone. Its seed makes
     * a new cluster (initdb, or a restore, which runs over no network or the default bridge) and needs
     * no network, so it does not wait for the network's create, which the docker provider ends with a
     * 2 s wait (a restore's seed runs meanwhile). Every other node's seed may clone over the network:
     * it gets the network's name from the network resource, and so waits for it. (A declared primary
     * whose seed clones has a running cluster, hence a network, on its engine: a switchover or
     * failover to a node that has no container yet is refused at preview.)
     */
    readonly seedNetworkName?: string;
    /**
     * What the container alone waits for: in an image change's roll (topology/roll.ts), the previous
     * node's streaming gate, or the handover. Never an input, so it changes no diff.
     */
    readonly containerAfter?: readonly pulumi.Resource[];
    /**
     * The node's engine is lost in this up (PostgresClusterArgs.lostEngines): its container keeps
     * the image the state has, so nothing dials that engine. Omitted: false.
     */
    readonly engineLost?: boolean;
}

/**
 * A node: its volume, the replication passfile in it, the seed (a clone of the current primary
 * when the volume is empty, nothing for the bootstrap primary), its container, its readiness gate,
 * and its access rules. A seed's update never touches data; its delete drops the node's slot on
 * whichever node is primary then.
 */
export class PostgresNode extends pulumi.ComponentResource {
    readonly volume: docker.Volume;
    readonly passfile: command.local.Command;
    readonly seed: command.local.Command;
    readonly container: docker.Container;
    /** Succeeds once the container is healthy and the server answers over TCP; runs for every new container. */
    readonly ready: command.local.Command;
    /** Done once pg_hba.conf admits every node and WAL retention is set. */
    readonly access: command.local.Command;
    /**
     * Succeeds at once on a primary; on a standby once it streams and has replayed to within
     * maxSwitchoverLagBytes of the primary. Runs for every new container; a roll waits on it.
     */
    readonly streaming: command.local.Command;
    readonly containerName: string;

    constructor(name: string, args: PostgresNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        if (args.tls && !args.clientSubnet) {
            throw new Error(`PostgresNode ${name}: clientSubnet is required with tls`);
        }
        // Args stay out of super(): they hold secrets, and component inputs are saved in state.
        super("pg-replication:index:PostgresNode", name, {}, opts);
        const { spec, settings: s } = args;
        const prefix = `${s.namePrefix}-${spec.name}`;
        this.containerName = prefix;
        const nodeLabels = { ...s.labels, "pg-replication.node": spec.name };
        const user = s.replication.user;

        this.volume = new docker.Volume(`${name}-data`, {
            name: `${prefix}-data`,
            labels: labelList({ ...nodeLabels, "pg-replication.role": "node-data" }),
        }, { parent: this, deleteBeforeReplace: true });

        const helper = {
            IMAGE: s.image,
            VOLUME: this.volume.name,
            NODE: spec.name,
            DOCKER_LABELS: labelWords({ ...nodeLabels, "pg-replication.role": "helper" }),
        };

        // Written before the seed (whose clone reads it) and rewritten, in place, on a new password.
        // Any host: the node follows whichever node is primary. Across engines the primary is
        // reached at its published port, so any port.
        const passPort = args.peers ? "*" : String(CONTAINER_PORT);
        this.passfile = dockerCommand(`${name}-passfile`, {
            create: script("node-passfile.sh"),
            environment: helper,
            stdin: pulumi.secret(pulumi.output(s.replicationPassword).apply((password) =>
                `*:${passPort}:*:${passfileField(user)}:${passfileField(password)}\n`)),
            triggers: [this.volume.name],
            dockerHost: s.dockerHost,
        }, { parent: this, dependsOn: [...(args.after ?? [])] });

        // The key, certificate and CA in the volume before the seed (a clone across hosts verifies
        // the primary against the CA) and before the container; through a throwaway container so a
        // new certificate never replaces the node's container.
        const tlsFiles = args.tls ? [dockerCommand(`${name}-tls`, {
            create: script("node-tls.sh"),
            environment: { ...helper, TLS_DIR },
            stdin: pulumi.secret(pulumi.all([args.tls.key, args.tls.cert, args.tls.ca])
                .apply(([key, cert, ca]) => [key, cert, ca].map((pem) => pem.trim()).join("\n") + "\n")),
            triggers: [this.volume.name],
            dockerHost: s.dockerHost,
        }, { parent: this })] : [];

        // No secret, no timeout and nothing about roles among its inputs: a switchover, a password
        // or a timeout change never reaches it, and whatever does change, its update never clones.
        this.seed = dockerCommand(`${name}-seed`, {
            create: script("node-seed.sh"),
            update: script("node-seed-check.sh"),
            delete: script("node-drop-slot.sh"),
            environment: {
                ...helper,
                STACK_LABELS: labelWords(s.labels),
                NETWORK: args.seedNetworkName ?? s.networkName,
                NODE_ADDRESS: spec.address,
                REPLICATION_USER: user,
                HELPER_CONTAINER: `${prefix}-seed`,
                ...(args.peers ? { PEERS: args.peers, TLS_DIR } : {}),
                // The same on every node (whichever is the first to be seeded is restored), fixed by the config.
                ...(s.restore ? {
                    RESTORE_VOLUME: s.restore.volume,
                    RESTORE_STANZA: s.restore.stanza,
                    RESTORE_CONFIG: CONFIG_FILE,
                    RESTORE_TARGET_TIME: s.restore.target.kind === "time" ? s.restore.target.time : "",
                    // Only when set: a stack restored to a time or the latest keeps the inputs it had.
                    ...(s.restore.target.kind === "lsn" ? { RESTORE_TARGET_LSN: s.restore.target.lsn } : {}),
                    ...(s.restore.target.kind === "name" ? { RESTORE_TARGET_NAME: s.restore.target.name } : {}),
                    RESTORE_IMAGE: s.restore.image,
                    AUTH_USER: POOLER_AUTH_USER,
                } : {}),
            },
            // A new volume means seeding afresh.
            triggers: [this.volume.name],
            dockerHost: s.dockerHost,
        }, {
            parent: this,
            dependsOn: [this.passfile, ...tlsFiles, ...(args.after ?? [])],
            // The old slot must be dropped before the new seed creates one of the same name.
            deleteBeforeReplace: true,
        });

        this.container = new docker.Container(name, {
            name: prefix,
            hostname: spec.name.replace(/_/g, "-"),
            image: s.image,
            command: serverArgs(s.replication, s.archiveCommand, s.backup?.archiveTimeoutSeconds),
            // The same on every node: the password file only matters to an empty data directory.
            envs: [
                `PGDATA=${PGDATA}`,
                `POSTGRES_PASSWORD_FILE=${PASSWORD_FILE}`,
                "POSTGRES_HOST_AUTH_METHOD=scram-sha-256",
                "POSTGRES_INITDB_ARGS=--auth-local=peer --auth-host=scram-sha-256",
                ...(s.backup?.env ?? []),
            ],
            uploads: [{ file: PASSWORD_FILE, content: s.superuserPassword }],
            labels: labelList({
                ...nodeLabels,
                "pg-replication.role": "node",
                "pg-replication.address": spec.address,
                // Ties the container to one seed: a new seed replaces it rather than swapping data under it.
                "pg-replication.seed": this.seed.id,
            }),
            networksAdvanced: [{ name: s.networkName, ipv4Address: spec.address }],
            ports: [{ internal: CONTAINER_PORT, external: spec.port, ip: s.bindAddress }],
            volumes: [{ volumeName: this.volume.name, containerPath: VOLUME_PATH },
                ...(s.backup ? [{ volumeName: s.backup.volume, containerPath: REPO_PATH }] : [])],
            // No provider `wait`: it runs on create only and accepts an unhealthy container on the
            // next up; the readiness gate checks every new container instead.
            healthcheck: HEALTHCHECK,
            destroyGraceSeconds: DESTROY_GRACE_SECONDS,
            // A container stopped with `docker stop` (the switchover's clean stop) stays stopped.
            restart: "unless-stopped",
            mustRun: true,
        }, {
            parent: this,
            deleteBeforeReplace: true,
            dependsOn: [this.passfile, ...tlsFiles, this.seed, ...(args.containerAfter ?? [])],
            // The file only seeds an empty data directory (a new password is set by the
            // superuser-password command); a changed upload would replace the node.
            ignoreChanges: ["uploads", ...(args.engineLost ? ["image"] : [])],
        });

        this.ready = dockerCommand(`${name}-ready`, {
            create: script("node-ready.sh"),
            environment: { NODE_CONTAINER: this.container.name, TIMEOUT: String(s.readyTimeoutSeconds) },
            triggers: [this.container.id],
            dockerHost: s.dockerHost,
        }, { parent: this });

        this.access = dockerCommand(`${name}-access`, {
            create: script("node-access.sh"),
            environment: {
                NODE_CONTAINER: this.container.name,
                REPLICATION_USER: user,
                NODE_ADDRESSES: (args.replicationSources?.filter((r) => !r.tls).map((r) => r.address) ?? s.allAddresses).join(" "),
                ...(args.tls ? {
                    TLS_DIR,
                    TLS_ADDRESSES: (args.replicationSources ?? []).filter((r) => r.tls).map((r) => r.address).join(" "),
                    CLIENT_SUBNET: args.clientSubnet!,
                } : {}),
                WAL_KEEP_SIZE: s.replication.walKeepSize,
                MAX_SLOT_WAL_KEEP_SIZE: s.replication.maxSlotWalKeepSize,
            },
            // A new container (same volume or not) gets its rules written again.
            triggers: [this.container.id],
            dockerHost: s.dockerHost,
        }, { parent: this, dependsOn: [this.ready] });

        this.streaming = dockerCommand(`${name}-streaming`, {
            create: script("node-streaming.sh"),
            environment: {
                NODE_CONTAINER: this.container.name,
                NODE: spec.name,
                MAX_LAG_BYTES: String(s.replication.maxSwitchoverLagBytes),
                TIMEOUT: String(s.readyTimeoutSeconds),
                STACK_LABELS: labelWords(s.labels),
                ...(args.peers ? { PEERS: args.peers } : {}),
            },
            triggers: [this.container.id],
            dockerHost: s.dockerHost,
        }, { parent: this, dependsOn: [this.ready] });

        this.registerOutputs({ containerName: this.containerName });
    }
}
