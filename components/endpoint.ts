// The read-write endpoint: one address for writes that follows the primary through switchovers
// and failovers. A PgBouncer container of the stack on the cluster network, published on
// bindAddress; clients authenticate with their own roles (SCRAM, looked up on the server), and
// the topology step pauses it around a switchover and re-points it (topology/act.ts), so clients
// in transaction pooling see a pause, not an error. README "Endpoints".

import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { labelList, pgIsReadyCheck } from "./node";
import { adminPsql, POOLER_AUTH_USER, POOLER_DIR, POOLER_PORT, poolerContainer, poolerIni, poolerTarget } from "./pooler";
import { configuredOrGenerated } from "./secrets";
import { dockerCommand, script } from "./shell";
import type { EndpointSettings } from "./spec";

export interface EndpointArgs {
    /** The pooler's image, address, published port and pool settings (config.ts validateEndpoints). */
    readonly settings: EndpointSettings;
    /** Prefix of the container's name: `<prefix>-pooler`. */
    readonly namePrefix: string;
    /** The cluster network the nodes are on. */
    readonly networkName: pulumi.Input<string>;
    /** Host address the port is published on. */
    readonly bindAddress: string;
    /** Where this machine reaches the published port (the outputs). */
    readonly clientHost: string;
    /** The declared primary's address on the cluster network: where writes go once the topology step has run. */
    readonly primaryAddress: string;
    /** The declared primary's container: the password lookup is created there. */
    readonly primaryContainer: pulumi.Input<string>;
    /** The postgresql provider on the declared primary (the pooler's role). */
    readonly sqlProvider: postgresql.Provider;
    /** The role lives in this volume (the primary's): destroying it needs no connection. */
    readonly roleDeletedWith: pulumi.Resource;
    /** What must be done before the endpoint is pointed at the primary: the topology step, at least. */
    readonly after: readonly pulumi.Resource[];
    /** The superuser's password (a secret), for the outputs' connection string. */
    readonly superuserPassword: pulumi.Input<string>;
    /** Put on the container. */
    readonly labels: Readonly<Record<string, string>>;
    /** The Docker engine (DOCKER_HOST form): the stack's, where the primary's provider is. */
    readonly dockerHost: string;
    readonly readyTimeoutSeconds: number;
}

/** The read-write endpoint as the outputs describe it. */
export interface EndpointOutput {
    host: string;
    port: number;
    containerName: string;
    /** postgresql:// URL for the superuser through the endpoint; a secret. Any login role works the same way. */
    connectionString: pulumi.Output<string>;
}

/** The pooler's health check: its listener answers (a refusal of the admin database over TCP is an answer). */
export const POOLER_HEALTHCHECK = pgIsReadyCheck(POOLER_PORT, "pgbouncer", "pgbouncer", { intervalSeconds: 2, retries: 5, startSeconds: 60 });

/** The container's command: PgBouncer once pooler-config.sh has written its settings (a restart finds them there). */
export const POOLER_COMMAND = ["sh", "-c",
    `until [ -s ${POOLER_DIR}/pgbouncer.ini ]; do sleep 0.2; done; exec pgbouncer ${POOLER_DIR}/pgbouncer.ini`];

export class Endpoint extends pulumi.ComponentResource {
    readonly container: docker.Container;
    /** Done once the pooler has its settings and reaches a primary; re-run when they or the primary change. */
    readonly config: command.local.Command;
    readonly output: EndpointOutput;

    constructor(name: string, args: EndpointArgs, opts?: pulumi.ComponentResourceOptions) {
        // Args stay out of super(): they hold secrets, and component inputs are saved in state.
        super("pg-replication:index:Endpoint", name, {}, opts);
        const s = args.settings;
        const containerName = poolerContainer(args.namePrefix);

        // The pooler's own role: it may only run the password lookup.
        const password = configuredOrGenerated(`${name}-auth-password`, undefined, this);
        const role = new postgresql.Role(`${name}-auth-role`, {
            name: POOLER_AUTH_USER,
            login: true,
            password,
        }, { parent: this, provider: args.sqlProvider, dependsOn: [...args.after], deletedWith: args.roleDeletedWith });
        const lookup = dockerCommand(`${name}-auth-lookup`, {
            create: script("pooler-auth.sh"),
            environment: { PRIMARY_CONTAINER: args.primaryContainer, AUTH_USER: POOLER_AUTH_USER },
            dockerHost: args.dockerHost,
        }, { parent: this, dependsOn: [role] });

        this.container = new docker.Container(name, {
            name: containerName,
            hostname: "pooler",
            image: s.image,
            command: POOLER_COMMAND,
            labels: labelList({ ...args.labels, "pg-replication.role": "pooler", "pg-replication.address": s.address }),
            networksAdvanced: [{ name: args.networkName, ipv4Address: s.address }],
            ports: [{ internal: POOLER_PORT, external: s.port, ip: args.bindAddress }],
            healthcheck: POOLER_HEALTHCHECK,
            restart: "unless-stopped",
            mustRun: true,
        }, { parent: this, deleteBeforeReplace: true });

        const target = poolerTarget(args.primaryAddress);
        this.config = dockerCommand(`${name}-config`, {
            create: script("pooler-config.sh"),
            update: script("pooler-config.sh"),
            environment: {
                POOLER_CONTAINER: this.container.name,
                POOLER_DIR,
                POOLER_INI: poolerIni(s),
                TARGET: target,
                AUTH_USER: POOLER_AUTH_USER,
                TIMEOUT: String(args.readyTimeoutSeconds),
                ADMIN_PSQL: adminPsql().join(" "),
                POOLER_PORT: String(POOLER_PORT),
            },
            stdin: password,
            // A new container gets everything written again.
            triggers: [this.container.id],
            dockerHost: args.dockerHost,
        }, { parent: this, dependsOn: [lookup, ...args.after] });

        this.output = {
            host: args.clientHost,
            port: s.port,
            containerName,
            connectionString: pulumi.secret(pulumi.all([pulumi.output(args.superuserPassword), this.config.id]).apply(([p]) =>
                `postgresql://postgres:${encodeURIComponent(p)}@${args.clientHost}:${s.port}/postgres`)),
        };
        this.registerOutputs({ containerName, port: s.port });
    }
}
