import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig } from "./config";
import { nodeContainerArgs, nodeVolume } from "./node";
import { dockerCommand, script } from "./shell";

/** Read once by the image's entrypoint when it initialises an empty data directory. */
const PASSWORD_FILE = "/run/secrets/pg-replication/superuser-password";

export interface PostgresPrimaryArgs {
    /** The validated stack plan. */
    readonly cfg: ClusterConfig;
    /** Image to run (RemoteImage.imageId). */
    readonly imageId: pulumi.Input<string>;
    /** The bridge network the cluster lives on. */
    readonly networkName: pulumi.Input<string>;
    /** The postgres superuser's password; a secret. */
    readonly superuserPassword: pulumi.Input<string>;
}

/**
 * The primary: its volume, its container configured for replication from the first start (no
 * restart step), and the access rules that let the replication role in from the standbys only.
 */
export class PostgresPrimary extends pulumi.ComponentResource {
    readonly volume: docker.Volume;
    readonly container: docker.Container;
    /** Done once pg_hba.conf admits the standbys and WAL retention is set. */
    readonly access: pulumi.Resource;
    readonly containerName: pulumi.Output<string>;
    readonly host: string;
    readonly port: number;

    constructor(name: string, args: PostgresPrimaryArgs, opts?: pulumi.ComponentResourceOptions) {
        // Args stay out of super(): they hold a secret, and component inputs are saved in state.
        super("pg-replication:index:Primary", name, {}, opts);
        const { cfg } = args;
        const prefix = `${cfg.namePrefix}-primary`;

        this.volume = nodeVolume(`${name}-data`, `${prefix}-data`, cfg, "primary", "primary", this);
        this.container = new docker.Container(name, nodeContainerArgs({
            cfg,
            role: "primary",
            node: "primary",
            containerName: prefix,
            imageId: args.imageId,
            networkName: args.networkName,
            address: cfg.primary.address,
            port: cfg.primary.port,
            volumeName: this.volume.name,
            envs: [
                `POSTGRES_PASSWORD_FILE=${PASSWORD_FILE}`,
                "POSTGRES_HOST_AUTH_METHOD=scram-sha-256",
                "POSTGRES_INITDB_ARGS=--auth-local=peer --auth-host=scram-sha-256",
            ],
            uploads: [{ file: PASSWORD_FILE, content: args.superuserPassword }],
        }), {
            parent: this,
            deleteBeforeReplace: true,
            // The file only seeds an empty data directory; a new password must not restart the primary.
            ignoreChanges: ["uploads"],
        });
        this.containerName = this.container.name;

        this.access = dockerCommand(`${name}-access`, {
            create: script("primary-access.sh"),
            environment: {
                PRIMARY_CONTAINER: this.container.name,
                REPLICATION_USER: cfg.replication.user,
                STANDBY_ADDRESSES: cfg.standbys.map((s) => s.address).join(" "),
                WAL_KEEP_SIZE: cfg.replication.walKeepSize,
                MAX_SLOT_WAL_KEEP_SIZE: cfg.replication.maxSlotWalKeepSize,
            },
            // A new container (same volume or not) gets its rules written again.
            triggers: [this.container.id],
            dockerHost: cfg.dockerHost,
        }, { parent: this });

        this.host = cfg.clientHost;
        this.port = cfg.primary.port;
        this.registerOutputs({ containerName: this.containerName, host: this.host, port: this.port });
    }
}
