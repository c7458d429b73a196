// The program's composition root, in the order it runs: the stack's config read and checked
// (config.ts), then against the Docker engines (preflight.ts) and the running nodes (topology/),
// both before anything is declared; then the cluster (cluster.ts). index.ts runs it, and so does
// the e2e driver.

import * as pulumi from "@pulumi/pulumi";
import { ClusterOutputs, declareCluster, PostgresClusterArgs } from "./cluster";
import { LoadedConfig, loadConfig, nodeEngine, nodeImage, primaryNode, s3CredentialsText, spansEngines } from "./config";
import { PGDATA } from "./node";
import { pgbackrestConf, proofOutput, ProofOutput, readProof, repositoryName, verifiedNote, withCredentials } from "./pgbackrest";
import { planRestore, readRepoInfo, readRestoreSelection, readS3RepoInfo, S3_LOOK_CA_FILE, stanzaTakenProblem, volumeRepoNetwork } from "./restore";
import { archiveTroubleNote } from "./archive";
import { collisionsByEngine, lostEngineNote, refuseCollisions } from "./preflight";
import { checkTopology, FailoverRefused, RollPlan, silentEngines } from "./topology";

/** The stack's config once checked against the engine, with the nodes found down. */
export interface CheckedConfig extends LoadedConfig {
    readonly downNodes: readonly string[];
    /** An image change on a running cluster: the nodes' order (topology/roll.ts). */
    readonly roll: RollPlan;
    /** Engines a failover speaks for (preflight.ts enginesLostInFailover): nothing on them is changed by this up. */
    readonly lostEngines: readonly string[];
    /** With backups: the repository's records of its proofs as this up found them (outputs.backup.proof). */
    readonly backupProof?: ProofOutput;
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
    if (cfg.restore) {
        await checkRestore(cfg, plan!.kind === "new");
    }
    if (cfg.backup?.s3) {
        // From every engine with a node (each one's nodes archive to the bucket), but those found lost or silent.
        await checkS3Repository(cfg.backup, plan!.kind === "new", [...new Set(cfg.nodes.map((n) => nodeEngine(n, cfg.dockerHost)))]
            .filter((e) => !lostEngines.has(e) && !silent?.has(e)));
    } else if (cfg.backup && plan!.kind === "new") {
        // A volume repository is on the nodes' one engine.
        await checkRepositoryFree(cfg.backup, nodeEngine(cfg.nodes[0], cfg.dockerHost));
    }
    // A primary that cannot archive (failing or stalled) is said in every preview and up: no backup or restore reaches past it.
    if (cfg.backup || cfg.archiveCommand) {
        const trouble = await archiveTroubleNote(cfg.nodes.filter((n) => !silent?.has(nodeEngine(n, cfg.dockerHost))).map((n) =>
            ({ name: n.name, container: `${cfg.namePrefix}-${n.name}`, engine: nodeEngine(n, cfg.dockerHost) })),
            cfg.backup && repositoryName(cfg.backup), cfg.archiveStallSeconds);
        if (trouble) {
            pulumi.log.warn(`archive: ${trouble}`);
        }
    }
    // With backups, every preview and up says when a restore of them was last proven (README "Backups"), and the outputs carry it.
    let backupProof: ProofOutput | undefined;
    if (cfg.backup) {
        // In the volume on the first node's engine (every node's, or across engines the records': cluster.ts), read through a node there.
        const recordsEngine = nodeEngine(cfg.nodes[0], cfg.dockerHost);
        const proof = await readProof(recordsEngine, cfg.nodes.filter((n) => nodeEngine(n, cfg.dockerHost) === recordsEngine)
            .map((n) => `${cfg.namePrefix}-${n.name}`));
        const note = verifiedNote(proof, pulumi.getStack(), repositoryName(cfg.backup), cfg.backup.maxVerifiedAgeHours);
        if (note) {
            pulumi.log[note.level](note.text);
        }
        backupProof = proofOutput(proof, repositoryName(cfg.backup));
    }
    return { ...cfg, downNodes: plan!.down, roll: plan!.roll, lostEngines: [...lostEngines], ...(backupProof ? { backupProof } : {}) };
}

export class RestoreRefused extends pulumi.RunError {
    constructor(readonly problem: string) {
        super(`the restore is refused, nothing was made: ${problem}`);
    }
}

export class BackupRefused extends pulumi.RunError {
    constructor(readonly problem: string) {
        super(`backup is refused, nothing was made: ${problem}`);
    }
}

/**
 * A new cluster's own repository must not hold its stanza already (another cluster's: a stack
 * destroyed and made again keeps its repository). A volume that is not there, or has no such
 * stanza, is free; one that cannot be read is left to the up's own check (backup-check.sh).
 */
async function checkRepositoryFree(backup: NonNullable<LoadedConfig["backup"]>, engine: string): Promise<void> {
    const info = await readRepoInfo(backup, engine);
    const problem = "problem" in info ? undefined : stanzaTakenProblem(info, backup.volume, backup.stanza);
    if (problem) {
        throw new BackupRefused(problem);
    }
}

/**
 * An S3 repository (backup.s3), asked at every preview and up as the nodes will ask it: the
 * endpoint reached over TLS, the credentials and the bucket accepted, and on a new cluster its
 * stanza free. A new cluster is refused when it cannot use the repository (nothing made: its
 * archive would fail from the first segment); a running one is warned (its archiving and backups
 * fail until the repository answers again: npm run status says how far behind).
 */
async function checkS3Repository(backup: NonNullable<LoadedConfig["backup"]>, isNew: boolean, engines: readonly string[]): Promise<void> {
    const s3 = backup.s3!;
    const credentials = s3CredentialsText();
    if (!credentials || engines.length === 0) {
        return;     // refused by the config's own check already; or no engine to ask from (all lost: said already)
    }
    const where = `${repositoryName(backup)}:${s3.port}${s3.host ? ` (${s3.host})` : ""}`;
    const conf = withCredentials(pgbackrestConf(backup, PGDATA, S3_LOOK_CA_FILE), credentials);
    const infos = await Promise.all(engines.map((engine) => readS3RepoInfo(backup, conf, s3.caCert, engine)));
    // The first engine's answer, unless another could not use the repository: that one is said.
    const info = infos.find((i) => "problem" in i && !("noStanza" in i && i.noStanza)) ?? infos[0];
    if ("problem" in info && !("noStanza" in info && info.noStanza)) {
        if (isNew) {
            throw new BackupRefused(`the S3 repository ${where} cannot be used (backup.s3, backupS3AccessKey, backupS3SecretKey): ${info.problem}`);
        }
        pulumi.log.warn(`backup: the S3 repository ${where} cannot be used: ${info.problem}; WAL archiving and backups fail until it can ` +
            "(npm run status)");
        return;
    }
    const taken = isNew && !("problem" in info) ? stanzaTakenProblem(info, where, backup.stanza, backup.volume) : undefined;
    if (taken) {
        throw new BackupRefused(taken);
    }
}

/**
 * pg-replication:restore on a new cluster: which backup set and how much WAL, said at preview, or
 * refused when the repository cannot give the target. On a cluster that exists it restores nothing.
 */
async function checkRestore(cfg: LoadedConfig, isNew: boolean): Promise<void> {
    const restore = cfg.restore!;
    if (!isNew) {
        pulumi.log.info(`restore is set, but the cluster exists: nothing is restored (it only seeds a new cluster's first node)`);
        return;
    }
    // On the declared primary's engine, where its seed restores from the volume (the others clone from it).
    const engine = nodeEngine(primaryNode(cfg), cfg.dockerHost);
    // Asked once: whether the source volume's repository is in S3 (its containers then need the bridge).
    const network = await volumeRepoNetwork(restore, engine);
    const info = await readRepoInfo(restore, engine, network);
    const selection = restore.target.kind === "lsn" || restore.target.kind === "name"
        ? await readRestoreSelection(restore, engine, network) : undefined;
    const plan = "problem" in info ? info
        : planRestore(info, restore.target, /^postgres:(\d+)$/.exec(cfg.image)?.[1], Date.now() / 1000, selection);
    if ("problem" in plan) {
        throw new RestoreRefused(plan.problem);
    }
    pulumi.log.info(`restore planned: ${cfg.primary} restored from volume ${restore.volume} (stanza ${restore.stanza}) ${plan.text} ` +
        `and promoted on a new timeline, the other nodes cloned from it; ${plan.window}`);
}

/** The component's args from the stack's validated config (downNodes only once checked against the engine). */
export function clusterArgs(cfg: LoadedConfig & Partial<Pick<CheckedConfig, "downNodes" | "roll" | "lostEngines" | "backupProof">>): PostgresClusterArgs {
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
        archiveStallSeconds: cfg.archiveStallSeconds,
        readyTimeoutSeconds: cfg.readyTimeoutSeconds,
        downNodes: cfg.downNodes,
        allowDataLoss: cfg.allowDataLoss,
        endpoints: cfg.endpoints,
        backup: cfg.backup,
        ...(cfg.backupProof ? { backupProof: cfg.backupProof } : {}),
        ...(cfg.s3Credentials ? { s3Credentials: cfg.s3Credentials } : {}),
        restore: cfg.restore,
        ...(cfg.roll?.kind === "roll" ? { roll: { standbys: cfg.roll.standbys } } : {}),
        ...(cfg.roll?.kind === "hold" ? { heldImages: cfg.roll.images } : {}),
        ...(cfg.lostEngines?.length ? { lostEngines: cfg.lostEngines } : {}),
        rollMaxTransactionSeconds: cfg.rollMaxTransactionSeconds,
    };
}

/** The stack: its config checked, then one cluster; its outputs are the stack's outputs. */
export async function program(): Promise<ClusterOutputs> {
    return declareCluster(clusterArgs(await checkedConfig()));
}
