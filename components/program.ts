// The program's composition root, in the order it runs: the stack's config read and checked
// (config.ts), then against the Docker engines (preflight.ts) and the running nodes (topology/),
// both before anything is declared; then the cluster (cluster.ts). index.ts runs it, and so does
// the e2e driver.

import * as pulumi from "@pulumi/pulumi";
import { ClusterOutputs, declareCluster, PostgresClusterArgs } from "./cluster";
import { LoadedConfig, loadConfig, nodeEngine, nodeImage, spansEngines } from "./config";
import { verifiedNote } from "./pgbackrest";
import { collisionsByEngine, lostEngineNote, refuseCollisions } from "./preflight";
import { checkTopology, FailoverRefused, RollPlan, silentEngines } from "./topology";

/** The stack's config once checked against the engine, with the nodes found down. */
export interface CheckedConfig extends LoadedConfig {
    readonly downNodes: readonly string[];
    /** An image change on a running cluster: the nodes' order (topology/roll.ts). */
    readonly roll: RollPlan;
}

/**
 * The stack's config, checked against the engine: collisions (preflight.ts), and whether the
 * declared primary is the actual one, a switchover or failover to it safe (topology/); which
 * nodes are down goes to the topology command (a node that is back is brought in as a standby by
 * the next up).
 */
export async function checkedConfig(): Promise<CheckedConfig> {
    const cfg = loadConfig();
    // Across engines each is asked once first, so a silent one costs one bound, not one per check.
    const silent = spansEngines(cfg.nodes, cfg.dockerHost)
        ? await silentEngines(cfg.nodes.map((n) => nodeEngine(n, cfg.dockerHost))) : undefined;
    const [engines, topology] = await Promise.all([collisionsByEngine(cfg, { silent }),
        checkTopology(cfg, { silent }).then((plan) => ({ plan }), (error: Error) => ({ error }))]);
    const plan = "plan" in topology ? topology.plan : undefined;
    const failover = plan?.kind === "failover" ? plan
        : "error" in topology && topology.error instanceof FailoverRefused ? topology.error.plan : undefined;
    const lostEngines = refuseCollisions(cfg, engines, failover);
    if ("error" in topology) {
        throw topology.error;
    }
    lostEngines.forEach((engine) => pulumi.log.info(lostEngineNote(engine)));
    // With backups, every preview and up says when a restore of them was last proven (README "Backups").
    if (cfg.backup) {
        const note = await verifiedNote(cfg.dockerHost, cfg.nodes.map((n) => `${cfg.namePrefix}-${n.name}`), pulumi.getStack(), cfg.backup.volume);
        if (note) {
            pulumi.log[note.level](note.text);
        }
    }
    return { ...cfg, downNodes: plan!.down, roll: plan!.roll };
}

/** The component's args from the stack's validated config (downNodes only once checked against the engine). */
export function clusterArgs(cfg: LoadedConfig & { readonly downNodes?: readonly string[]; readonly roll?: RollPlan }): PostgresClusterArgs {
    return {
        // With backups every node runs the cluster's image with pgBackRest.
        image: nodeImage(cfg),
        network: { name: cfg.networkName, subnet: cfg.subnet },
        nodes: cfg.nodes,
        primary: cfg.primary,
        replication: cfg.replication,
        superuserPassword: cfg.superuserPassword,
        replicationPassword: cfg.replicationPassword,
        engineHost: cfg.dockerHost,
        bindAddress: cfg.bindAddress,
        clientHost: cfg.clientHost,
        namePrefix: cfg.namePrefix,
        labels: cfg.labels,
        archiveCommand: cfg.archiveCommand,
        readyTimeoutSeconds: cfg.readyTimeoutSeconds,
        downNodes: cfg.downNodes,
        allowDataLoss: cfg.allowDataLoss,
        endpoints: cfg.endpoints,
        backup: cfg.backup,
        ...(cfg.roll?.kind === "roll" ? { roll: { standbys: cfg.roll.standbys } } : {}),
        rollMaxTransactionSeconds: cfg.rollMaxTransactionSeconds,
    };
}

/** The stack: its config checked, then one cluster; its outputs are the stack's outputs. */
export async function program(): Promise<ClusterOutputs> {
    return declareCluster(clusterArgs(await checkedConfig()));
}
