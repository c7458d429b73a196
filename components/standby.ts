import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig, expectedSyncState, StandbySpec, SyncState } from "./config";
import { CONTAINER_PORT, nodeContainerArgs, nodeLabels, nodeVolume } from "./node";
import { dockerCommand, script } from "./shell";

export interface StandbyReplicaArgs {
    /** The validated stack plan. */
    readonly cfg: ClusterConfig;
    /** This standby's name, address and host port. */
    readonly spec: StandbySpec;
    /** Image to run, by name (RemoteImage.name); also what the clone's `docker run` uses. */
    readonly image: pulumi.Input<string>;
    /** The bridge network the cluster lives on. */
    readonly networkName: pulumi.Input<string>;
    /** Name of the primary's container, for commands that run SQL on it. */
    readonly primaryContainer: pulumi.Input<string>;
    /** The replication role's password; a secret. */
    readonly replicationPassword: pulumi.Input<string>;
}

/** Escapes a value for one field of a libpq passfile line. */
export function passfileField(value: string): string {
    return value.replace(/\\/g, "\\\\").replace(/:/g, "\\:");
}

/**
 * One streaming standby: its volume, the replication passfile in it, the pg_basebackup clone into
 * it (with its own physical slot, dropped again when the standby is removed), its container, and
 * the gate that waits until the primary sees it streaming.
 */
export class StandbyReplica extends pulumi.ComponentResource {
    readonly volume: docker.Volume;
    /** Writes the passfile; the only part a password change touches. */
    readonly passfile: command.local.Command;
    readonly clone: command.local.Command;
    readonly container: docker.Container;
    readonly streaming: command.local.Command;
    readonly host: string;
    readonly port: number;
    readonly syncState: SyncState;

    constructor(name: string, args: StandbyReplicaArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:StandbyReplica", name, {}, opts);
        const { cfg, spec } = args;
        const prefix = `${cfg.namePrefix}-${spec.name}`;
        const user = cfg.replication.user;

        this.volume = nodeVolume(`${name}-data`, `${prefix}-data`, cfg, "standby", spec.name, this);
        const helper = {
            IMAGE: args.image,
            VOLUME: this.volume.name,
            SLOT: spec.name,
            DOCKER_LABELS: Object.entries(nodeLabels(cfg, "clone", spec.name)).map(([k, v]) => `${k}=${v}`).join(" "),
        };

        // Written before the clone (which reads it) and rewritten, in place, on a new password.
        this.passfile = dockerCommand(`${name}-passfile`, {
            create: script("standby-passfile.sh"),
            environment: helper,
            stdin: pulumi.secret(pulumi.output(args.replicationPassword).apply((password) =>
                `${cfg.primary.address}:${CONTAINER_PORT}:*:${passfileField(user)}:${passfileField(password)}\n`)),
            triggers: [this.volume.name],
            dockerHost: cfg.dockerHost,
        }, { parent: this });

        // No secret and no readyTimeoutSeconds among its inputs, so neither a password nor a
        // timeout change reaches it; and whatever does change, its update never clones.
        this.clone = dockerCommand(`${name}-clone`, {
            create: script("standby-clone.sh"),
            update: script("standby-clone-check.sh"),
            delete: script("standby-drop-slot.sh"),
            environment: {
                ...helper,
                PRIMARY_CONTAINER: args.primaryContainer,
                PRIMARY_ADDRESS: cfg.primary.address,
                NETWORK: args.networkName,
                STANDBY_ADDRESS: spec.address,
                REPLICATION_USER: user,
                HELPER_CONTAINER: `${prefix}-clone`,
            },
            // A new volume or a moved primary means cloning afresh.
            triggers: [this.volume.name, cfg.primary.address],
            dockerHost: cfg.dockerHost,
        }, {
            parent: this,
            dependsOn: [this.passfile],
            // The old slot must be dropped before the new clone creates one of the same name.
            deleteBeforeReplace: true,
        });

        this.container = new docker.Container(name, nodeContainerArgs({
            cfg,
            role: "standby",
            node: spec.name,
            containerName: prefix,
            image: args.image,
            networkName: args.networkName,
            address: spec.address,
            port: spec.port,
            volumeName: this.volume.name,
            // Ties the container to one clone: a new clone replaces it rather than swapping data under it.
            extraLabels: { "pg-replication.clone": this.clone.id },
        }), { parent: this, deleteBeforeReplace: true, dependsOn: [this.passfile, this.clone] });

        this.streaming = dockerCommand(`${name}-streaming`, {
            create: script("standby-gate.sh"),
            environment: {
                PRIMARY_CONTAINER: args.primaryContainer,
                STANDBY_CONTAINER: this.container.name,
                SLOT: spec.name,
                TIMEOUT: String(cfg.readyTimeoutSeconds),
            },
            triggers: [this.container.id],
            dockerHost: cfg.dockerHost,
        }, { parent: this });

        this.host = cfg.clientHost;
        this.port = spec.port;
        this.syncState = expectedSyncState(cfg.replication, spec.name);
        this.registerOutputs({ containerName: this.container.name, host: this.host, port: this.port, syncState: this.syncState });
    }
}
