// The endpoints: one address for writes that follows the primary through switchovers and
// failovers, and one for reads that reaches the standbys within the lag bound. Each is a PgBouncer
// container of the stack on the cluster network, published on bindAddress; clients authenticate
// with their own roles (SCRAM, looked up on the server). The topology step pauses the read-write
// one around a switchover and re-points it (topology/act.ts), so clients in transaction pooling
// see a pause, not an error; the read-only one's watcher (scripts/pooler-watch.sh) follows the
// nodes' roles and lag by itself. With nodes on several Docker engines each engine that has a node
// gets its own pair (an EndpointSite): at the same addresses on its own bridge, published on its
// host's address, reaching nodes on other engines over TLS (verify-full against the stack's CA)
// and taking clients over TLS only; the step pauses and re-points every one. README "Endpoints".

import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { labelList, pgIsReadyCheck } from "./node";
import { adminPsql, POOLER_AUTH_USER, POOLER_DIR, POOLER_PORT, poolerContainer, poolerIni, PoolerKind, poolerMembers, PoolerRoute,
    poolerTarget, READ_WATCH_INTERVAL_SECONDS } from "./pooler";
import { configuredOrGenerated } from "./secrets";
import { dockerCommand, script } from "./shell";
import type { EndpointSettings } from "./spec";

/**
 * One Docker engine's pair of poolers: the stack's engine alone, or with nodes on several engines
 * each engine that has a node (clients use the one on their host; each follows the primary).
 */
export interface EndpointSite {
    /** The Docker engine (DOCKER_HOST form) the poolers run on. */
    readonly dockerHost: string;
    /** Appended to the resources' names: "" on the stack's engine (the names it always had), else engineSuffix's. */
    readonly suffix: string;
    /** The docker provider of that engine. */
    readonly provider: docker.Provider;
    /** The cluster network on that engine (the same name and subnet on each). */
    readonly networkName: pulumi.Input<string>;
    /** Host address the ports are published on: bindAddress, or across engines that engine's hostAddress. */
    readonly bindAddress: string;
    /** Where this machine reaches the published ports (the outputs). */
    readonly clientHost: string;
    /** Where the poolers here reach the declared primary: writes go there once the topology step has run. */
    readonly primary: PoolerRoute;
    /** Where they reach each node, the ones on this engine first: the read-only endpoint's watcher asks each. */
    readonly members: readonly ({ name: string } & PoolerRoute)[];
    /** Nodes on several engines: the pooler's certificate and key from the stack's CA (secrets), and the CA's certificate. */
    readonly tls?: { readonly cert: pulumi.Input<string>; readonly key: pulumi.Input<string>; readonly ca: pulumi.Input<string> };
    /**
     * Its engine's host is lost and a failover in this up speaks for it (cluster.ts lostEngines):
     * its poolers keep what the state says, so nothing in this up dials the engine.
     */
    readonly lost?: boolean;
}

export interface EndpointArgs {
    /** The poolers' image, addresses, published ports and pool settings (config.ts validateEndpoints). */
    readonly settings: EndpointSettings;
    /** Prefix of the containers' names: `<prefix>-pooler`, `<prefix>-pooler-ro` (on each engine). */
    readonly namePrefix: string;
    /** The engines with a pair of poolers; the first one's are the outputs' `rw` and `ro`. */
    readonly sites: readonly EndpointSite[];
    /** The declared primary's container: the password lookup is created there. */
    readonly primaryContainer: pulumi.Input<string>;
    /** The postgresql provider on the declared primary (the pooler's role). */
    readonly sqlProvider: postgresql.Provider;
    /** The role lives in this volume (the primary's): destroying it needs no connection. */
    readonly roleDeletedWith: pulumi.Resource;
    /** What must be done before the endpoint is pointed at the primary: the topology step, at least. */
    readonly after: readonly pulumi.Resource[];
    /** The superuser's password (a secret), for the outputs' connection strings. */
    readonly superuserPassword: pulumi.Input<string>;
    /** Appended to the outputs' connection strings (with TLS: sslmode=verify-full and the CA file). */
    readonly urlQuery: string;
    /** Put on the containers. */
    readonly labels: Readonly<Record<string, string>>;
    /** The declared primary's Docker engine (DOCKER_HOST form): the password lookup runs there. */
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

/** The endpoints in the outputs: `rw` and `ro` on the first engine, and with nodes on several engines each engine's by its host's address. */
export interface EndpointOutputs {
    rw: EndpointOutput;
    ro: EndpointOutput;
    byHost?: Record<string, { rw: EndpointOutput; ro: EndpointOutput }>;
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
    /** The read-write endpoint's pooler and the read-only one's, on the first site's engine. */
    readonly containers: Record<PoolerKind, docker.Container>;
    /** Done once each pooler has its settings and reaches a node; re-run when they or the primary change. */
    readonly configs: Record<PoolerKind, command.local.Command>;
    /** The first site's endpoints; with several sites, `byHost` has each one's by its host's address. */
    readonly outputs: EndpointOutputs;

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
        // Endpoints turned off: the lookup goes from every database before the role (which the
        // provider could not drop with a grant left in another database); at destroy both go with the cluster.
        const lookup = dockerCommand(`${name}-auth-lookup`, {
            create: script("pooler-auth.sh"),
            delete: script("pooler-auth-drop.sh"),
            environment: { PRIMARY_CONTAINER: args.primaryContainer, AUTH_USER: POOLER_AUTH_USER },
            dockerHost: args.dockerHost,
        }, { parent: this, dependsOn: [role], deletedWith: args.roleDeletedWith });

        const s = args.settings;
        const sites = args.sites.map((site) => {
            const rw = this.pooler(`${name}${site.suffix}`, args, site, "rw", { address: s.address, port: s.port }, password, lookup,
                { TARGET: poolerTarget(site.primary.address, site.primary.port) });
            const ro = this.pooler(`${name}${site.suffix}-ro`, args, site, "ro", { address: s.readAddress, port: s.readPort }, password, lookup, {
                READS: "1",
                MEMBERS: poolerMembers(site.members),
                MAX_LAG_BYTES: String(s.maxReadLagBytes),
                INTERVAL: String(READ_WATCH_INTERVAL_SECONDS),
            });
            return { host: site.clientHost, rw, ro };
        });
        const first = sites[0];
        this.containers = { rw: first.rw.container, ro: first.ro.container };
        this.configs = { rw: first.rw.config, ro: first.ro.config };
        this.outputs = {
            rw: first.rw.output,
            ro: first.ro.output,
            ...(sites.length > 1 ? { byHost: Object.fromEntries(sites.map((x) => [x.host, { rw: x.rw.output, ro: x.ro.output }])) } : {}),
        };
        this.registerOutputs({ rw: first.rw.output.containerName, ro: first.ro.output.containerName });
    }

    /** One pooler: its container on its engine's cluster network and the command that configures and checks it. */
    private pooler(name: string, args: EndpointArgs, site: EndpointSite, kind: PoolerKind, at: { address: string; port: number },
        password: pulumi.Input<string>, lookup: pulumi.Resource, target: Record<string, string>) {
        const containerName = poolerContainer(args.namePrefix, kind);
        const container = new docker.Container(name, {
            name: containerName,
            hostname: kind === "rw" ? "pooler" : "pooler-ro",
            image: args.settings.image,
            command: poolerCommand(kind),
            labels: labelList({ ...args.labels, "pg-replication.role": kind === "rw" ? "pooler" : "pooler-ro", "pg-replication.address": at.address }),
            networksAdvanced: [{ name: site.networkName, ipv4Address: at.address }],
            ports: [{ internal: POOLER_PORT, external: at.port, ip: site.bindAddress }],
            healthcheck: POOLER_HEALTHCHECK,
            restart: "unless-stopped",
            mustRun: true,
        }, { parent: this, provider: site.provider, deleteBeforeReplace: true, ...(site.lost ? { ignoreChanges: ["image"] } : {}) });

        const config = dockerCommand(`${name}-config`, {
            create: script("pooler-config.sh"),
            update: script("pooler-config.sh"),
            environment: {
                POOLER_CONTAINER: container.name,
                POOLER_DIR,
                POOLER_INI: poolerIni(args.settings, kind, site.tls !== undefined),
                ...target,
                ...(site.tls ? { TLS: "1", CA_CERT: site.tls.ca } : {}),
                AUTH_USER: POOLER_AUTH_USER,
                TIMEOUT: String(args.readyTimeoutSeconds),
                ADMIN_PSQL: adminPsql().join(" "),
                POOLER_PORT: String(POOLER_PORT),
            },
            // With TLS the pooler's certificate and key follow the password (a secret, never in the environment).
            stdin: site.tls ? pulumi.secret(pulumi.interpolate`${password}\n${site.tls.cert}${site.tls.key}`) : password,
            // A new container gets everything written again.
            triggers: [container.id],
            dockerHost: site.dockerHost,
        }, {
            parent: this, dependsOn: [lookup, ...args.after],
            // A lost engine's pooler is not pointed anywhere by this up: its settings stay the state's.
            ...(site.lost ? { ignoreChanges: ["environment", "stdin", "triggers"] } : {}),
        });

        const output: EndpointOutput = {
            host: site.clientHost,
            port: at.port,
            containerName,
            connectionString: pulumi.secret(pulumi.all([pulumi.output(args.superuserPassword), config.id]).apply(([p]) =>
                `postgresql://postgres:${encodeURIComponent(p)}@${site.clientHost}:${at.port}/postgres${args.urlQuery}`)),
        };
        return { container, config, output };
    }
}
