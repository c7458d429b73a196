import * as command from "@pulumi/command";
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
    /** Image to run, by name (RemoteImage.name). */
    readonly image: pulumi.Input<string>;
    /** The bridge network the cluster lives on. */
    readonly networkName: pulumi.Input<string>;
    /** The postgres superuser's password; a secret. */
    readonly superuserPassword: pulumi.Input<string>;
}

/** `ALTER ROLE postgres PASSWORD '…'` with the password as a SQL string literal. */
export function alterSuperuserSql(password: string): string {
    return `ALTER ROLE postgres PASSWORD '${password.replace(/'/g, "''")}';\n`;
}

/**
 * The primary: its volume, its container configured for replication from the first start (no
 * restart step), the gate that waits until it is ready, the superuser password as configured, and
 * the access rules that let the replication role in from the standbys only.
 */
export class PostgresPrimary extends pulumi.ComponentResource {
    readonly volume: docker.Volume;
    readonly container: docker.Container;
    /** Succeeds once the container is healthy and the server answers over TCP; run on every new container. */
    readonly ready: command.local.Command;
    /** Done once pg_hba.conf admits the standbys and WAL retention is set. */
    readonly access: pulumi.Resource;
    /** The superuser password, available only once the server has it (a secret). */
    readonly superuserPassword: pulumi.Output<string>;
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
            image: args.image,
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
            // The file only seeds an empty data directory (a new password is set by the
            // superuser-password command); a changed upload would replace the primary.
            ignoreChanges: ["uploads"],
        });
        this.containerName = this.container.name;

        this.ready = dockerCommand(`${name}-ready`, {
            create: script("primary-ready.sh"),
            environment: {
                PRIMARY_CONTAINER: this.container.name,
                TIMEOUT: String(cfg.readyTimeoutSeconds),
            },
            triggers: [this.container.id],
            dockerHost: cfg.dockerHost,
        }, { parent: this });

        const setPassword = dockerCommand(`${name}-superuser-password`, {
            create: script("superuser-password.sh"),
            environment: { PRIMARY_CONTAINER: this.container.name },
            stdin: pulumi.secret(pulumi.output(args.superuserPassword).apply(alterSuperuserSql)),
            triggers: [this.container.id],
            dockerHost: cfg.dockerHost,
        }, { parent: this, dependsOn: [this.ready] });
        this.superuserPassword = pulumi.secret(pulumi.all([setPassword.id, args.superuserPassword])
            .apply(([, password]) => password));

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
        }, { parent: this, dependsOn: [this.ready] });

        this.host = cfg.clientHost;
        this.port = cfg.primary.port;
        this.registerOutputs({ containerName: this.containerName, host: this.host, port: this.port });
    }
}
