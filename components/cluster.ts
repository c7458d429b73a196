// The whole stack, in the order the tutorial does it by hand: network, image, primary, role,
// then each standby cloned with pg_basebackup, then the commit policy once they all stream.

import * as docker from "@pulumi/docker";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { loadConfig } from "./config";
import { labelList } from "./node";
import { PostgresPrimary } from "./primary";
import { ReplicationPolicy } from "./replication";
import { configuredOrGenerated } from "./secrets";
import { StandbyReplica } from "./standby";

export type LoadedConfig = ReturnType<typeof loadConfig>;

export interface NodeOutput {
    host: string;
    port: number;
    /** "primary", or the sync_state the primary reports for this standby. */
    mode: string;
    containerName: pulumi.Output<string>;
    /** postgresql:// URL for the superuser; a secret. */
    connectionString: pulumi.Output<string>;
}

/** One node of the plan, as the status tool (status/) reads it. */
export interface PlannedNode {
    name: string;
    host: string;
    port: number;
    /** The node's address on the cluster network. */
    address: string;
    containerName: pulumi.Output<string>;
    role: "primary" | "standby";
    /** Standbys only: the sync_state the commit policy promises. */
    syncState?: string;
    /** postgresql:// URL for the superuser; a secret. */
    connectionString: pulumi.Output<string>;
}

export interface ClusterOutputs {
    network: { name: pulumi.Output<string>; subnet: string };
    primary: NodeOutput;
    standbys: Record<string, NodeOutput>;
    nodes: Record<string, PlannedNode>;
    /** The Docker engine everything runs on (components/engine.ts). */
    engine: { host: string };
    replication: { mode: string; user: string; synchronousStandbyNames: string; synchronousCommit: string };
}

export function declareCluster(cfg: LoadedConfig): ClusterOutputs {
    if (cfg.replication.mode === "sync" && cfg.replication.syncCount === cfg.replication.syncStandbys.length) {
        pulumi.log.warn(`synchronous_standby_names = '${cfg.replication.synchronousStandbyNames}' waits for every ` +
            "listed standby: while any of them is down, commits on the primary wait. With two or more standbys " +
            "and syncCount below their number, one can be down without blocking writes.");
    }

    // One explicit provider on the engine the commands use too (components/engine.ts); the
    // components pass it on to their children through `providers`.
    const engine = new docker.Provider("docker", { host: cfg.engine.host });
    const onEngine: pulumi.ComponentResourceOptions = { providers: [engine] };

    const network = new docker.Network("network", {
        name: cfg.networkName,
        driver: "bridge",
        ipamConfigs: [{ subnet: cfg.subnet, gateway: cfg.gateway }],
        labels: labelList(cfg.labels),
    }, { provider: engine, deleteBeforeReplace: true });

    // A local image of the same name is used as is; destroy leaves it for the next stack.
    const image = new docker.RemoteImage("image", { name: cfg.image, keepLocally: true }, { provider: engine });

    const superuserPassword = configuredOrGenerated("superuser-password", cfg.superuserPassword);
    const replicationPassword = configuredOrGenerated("replication-password", cfg.replicationPassword);

    const primary = new PostgresPrimary("primary", {
        cfg,
        // By name, not id: a moved local tag then replaces nothing on refresh; an upgrade is a
        // change of the image key.
        image: image.name,
        networkName: network.name,
        superuserPassword,
    }, onEngine);

    // Configured from the primary's readiness gate and the password it holds, so nothing connects
    // before the server is ready or with a password it does not have yet.
    const sql = new postgresql.Provider("primary-sql", {
        host: primary.ready.id.apply(() => cfg.clientHost),
        port: cfg.primary.port,
        username: "postgres",
        password: primary.superuserPassword,
        database: "postgres",
        sslmode: "disable",
        superuser: true,
        connectTimeout: 15,
    });
    const role = new postgresql.Role("replication-role", {
        name: cfg.replication.user,
        login: true,
        replication: true,
        connectionLimit: cfg.replication.connectionLimit,
        password: replicationPassword,
    }, {
        provider: sql,
        dependsOn: [primary],
        // The role lives in the primary's volume: when both go (destroy), nothing needs to connect,
        // so destroy succeeds with the primary stopped or gone.
        deletedWith: primary.volume,
    });

    const standbys = cfg.standbys.map((spec) => new StandbyReplica(`standby-${spec.name}`, {
        cfg,
        spec,
        image: image.name,
        networkName: network.name,
        primaryContainer: primary.containerName,
        replicationPassword,
    }, pulumi.mergeOptions(onEngine, { dependsOn: [primary, role] })));

    new ReplicationPolicy("replication-policy", {
        cfg,
        primaryContainer: primary.containerName,
        primaryContainerId: primary.container.id,
    }, { dependsOn: [primary, ...standbys] });

    const url = (host: string, port: number) => pulumi.secret(pulumi.interpolate
        `postgresql://postgres:${superuserPassword.apply(encodeURIComponent)}@${host}:${port}/postgres`);
    return {
        network: { name: network.name, subnet: cfg.subnet },
        primary: {
            host: primary.host,
            port: primary.port,
            mode: "primary",
            containerName: primary.containerName,
            connectionString: url(primary.host, primary.port),
        },
        standbys: Object.fromEntries(standbys.map((s, i) => [cfg.standbys[i].name, {
            host: s.host,
            port: s.port,
            mode: s.syncState,
            containerName: s.container.name,
            connectionString: url(s.host, s.port),
        }])),
        nodes: Object.fromEntries([
            ["primary", {
                name: "primary",
                host: primary.host,
                port: primary.port,
                address: cfg.primary.address,
                containerName: primary.containerName,
                role: "primary" as const,
                connectionString: url(primary.host, primary.port),
            }],
            ...standbys.map((s, i): [string, PlannedNode] => [cfg.standbys[i].name, {
                name: cfg.standbys[i].name,
                host: s.host,
                port: s.port,
                address: cfg.standbys[i].address,
                containerName: s.container.name,
                role: "standby",
                syncState: s.syncState,
                connectionString: url(s.host, s.port),
            }]),
        ]),
        engine: { host: cfg.dockerHost },
        replication: {
            mode: cfg.replication.mode,
            user: cfg.replication.user,
            synchronousStandbyNames: cfg.replication.synchronousStandbyNames,
            synchronousCommit: cfg.replication.synchronousCommit,
        },
    };
}
