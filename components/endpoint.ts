// The endpoints: one address for writes that follows the primary through switchovers and
// failovers, and one for reads that reaches the standbys within the lag bound. Each is a PgBouncer
// container of the stack on the cluster network, published on bindAddress; clients authenticate
// with their own roles (SCRAM, looked up on the server). The topology step pauses the read-write
// one around a switchover and re-points it (topology/act.ts), so clients in transaction pooling
// see a pause, not an error; the read-only one's watcher (scripts/pooler-watch.sh) follows the
// nodes' roles and lag by itself. README "Endpoints".

import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { labelList, pgIsReadyCheck } from "./node";
import { adminPsql, POOLER_AUTH_USER, POOLER_DIR, POOLER_PORT, poolerContainer, poolerIni, PoolerKind, poolerMembers, poolerTarget,
    READ_WATCH_INTERVAL_SECONDS } from "./pooler";
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
    /** Every node's name and address on the cluster network: the read-only endpoint's watcher asks each. */
    readonly nodes: readonly { name: string; address: string }[];
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

/** An endpoint as the outputs describe it. */
export interface EndpointOutput {
    host: string;
    port: number;
    containerName: string;
    /** postgresql:// URL for the superuser through the endpoint; a secret. Any login role works the same way. */
    connectionString: pulumi.Output<string>;
}

/** The pooler's health check: its listener answers (a refusal of the admin database over TCP is an answer). */
export const POOLER_HEALTHCHECK = pgIsReadyCheck(POOLER_PORT, "pgbouncer", "pgbouncer", { intervalSeconds: 2, retries: 5, startSeconds: 60 });

/**
 * The container's command: PgBouncer once pooler-config.sh has written its settings (a restart finds
 * them there); the read-only one's with its watcher beside it, which chooses where reads go.
 */
export function poolerCommand(kind: PoolerKind): string[] {
    const watcher = kind === "ro" ? `sh ${POOLER_DIR}/watch.sh ${POOLER_DIR} & ` : "";
    return ["sh", "-c", `until [ -s ${POOLER_DIR}/pgbouncer.ini ]; do sleep 0.2; done; ${watcher}exec pgbouncer ${POOLER_DIR}/pgbouncer.ini`];
}

export class Endpoint extends pulumi.ComponentResource {
    /** The read-write endpoint's pooler and the read-only one's. */
    readonly containers: Record<PoolerKind, docker.Container>;
    /** Done once each pooler has its settings and reaches a node; re-run when they or the primary change. */
    readonly configs: Record<PoolerKind, command.local.Command>;
    readonly outputs: Record<PoolerKind, EndpointOutput>;

    constructor(name: string, args: EndpointArgs, opts?: pulumi.ComponentResourceOptions) {
        // Args stay out of super(): they hold secrets, and component inputs are saved in state.
        super("pg-replication:index:Endpoint", name, {}, opts);

        // The poolers' own role: it may only run the password lookup (and, on the read-only
        // endpoint's watcher, ask each node whether it is in recovery and where its WAL is).
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

        const s = args.settings;
        const rw = this.pooler(name, args, "rw", { address: s.address, port: s.port }, password, lookup,
            { TARGET: poolerTarget(args.primaryAddress) });
        const ro = this.pooler(`${name}-ro`, args, "ro", { address: s.readAddress, port: s.readPort }, password, lookup, {
            READS: "1",
            MEMBERS: poolerMembers(args.nodes),
            MAX_LAG_BYTES: String(s.maxReadLagBytes),
            INTERVAL: String(READ_WATCH_INTERVAL_SECONDS),
        });
        this.containers = { rw: rw.container, ro: ro.container };
        this.configs = { rw: rw.config, ro: ro.config };
        this.outputs = { rw: rw.output, ro: ro.output };
        this.registerOutputs({ rw: rw.output.containerName, ro: ro.output.containerName });
    }

    /** One pooler: its container on the cluster network and the command that configures and checks it. */
    private pooler(name: string, args: EndpointArgs, kind: PoolerKind, at: { address: string; port: number },
        password: pulumi.Input<string>, lookup: pulumi.Resource, target: Record<string, string>) {
        const containerName = poolerContainer(args.namePrefix, kind);
        const container = new docker.Container(name, {
            name: containerName,
            hostname: kind === "rw" ? "pooler" : "pooler-ro",
            image: args.settings.image,
            command: poolerCommand(kind),
            labels: labelList({ ...args.labels, "pg-replication.role": kind === "rw" ? "pooler" : "pooler-ro", "pg-replication.address": at.address }),
            networksAdvanced: [{ name: args.networkName, ipv4Address: at.address }],
            ports: [{ internal: POOLER_PORT, external: at.port, ip: args.bindAddress }],
            healthcheck: POOLER_HEALTHCHECK,
            restart: "unless-stopped",
            mustRun: true,
        }, { parent: this, deleteBeforeReplace: true });

        const config = dockerCommand(`${name}-config`, {
            create: script("pooler-config.sh"),
            update: script("pooler-config.sh"),
            environment: {
                POOLER_CONTAINER: container.name,
                POOLER_DIR,
                POOLER_INI: poolerIni(args.settings, kind),
                ...target,
                AUTH_USER: POOLER_AUTH_USER,
                TIMEOUT: String(args.readyTimeoutSeconds),
                ADMIN_PSQL: adminPsql().join(" "),
                POOLER_PORT: String(POOLER_PORT),
            },
            stdin: password,
            // A new container gets everything written again.
            triggers: [container.id],
            dockerHost: args.dockerHost,
        }, { parent: this, dependsOn: [lookup, ...args.after] });

        const output: EndpointOutput = {
            host: args.clientHost,
            port: at.port,
            containerName,
            connectionString: pulumi.secret(pulumi.all([pulumi.output(args.superuserPassword), config.id]).apply(([p]) =>
                `postgresql://postgres:${encodeURIComponent(p)}@${args.clientHost}:${at.port}/postgres`)),
        };
        return { container, config, output };
    }
}
