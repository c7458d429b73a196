// The whole cluster as one reusable component: network, image, one PostgresNode per node, the
// replication role through the postgresql provider, the topology command that makes the declared
// primary the actual one (a switchover when it is not), and the commit policy once every node
// streams. program.ts makes its args from the stack's config and creates one; another program can
// create one from args of its own.

import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
    BackupSettings, DEFAULTS, S3Credentials, EndpointSettings, expectedSyncState, nodeEngine, NodeSpec, peersValue, ReplicationSettings, RestoreSettings, spansEngines,
    SyncState, synchronousStandbyNamesFor,
} from "./config";
import { Backup, BackupRepository, BackupScheduler } from "./backup";
import { Endpoint, EndpointOutputs, EndpointSite } from "./endpoint";
import { parseSubnet } from "./ipv4";
import { poolerContainer, PoolerRoute } from "./pooler";
import { labelList, labelWords, NodeSettings, PGDATA, PostgresNode, ReplicationSource } from "./node";
import { ARCHIVE_COMMAND, ARCHIVE_TIMEOUT_SECONDS, backupEnv, CONFIG_FILE, ProofOutput, REPO_PATH, repoNetwork } from "./pgbackrest";
import { CertificateAuthority } from "./tls";
import { configuredOrGenerated } from "./secrets";
import { dockerCommand, script } from "./shell";
import { codeDigest, STEP_SCRIPT, TopologyInput } from "./topology/contract";
import { handoverTarget, longTransactionsSql } from "./topology/roll";
import { CLUSTER_SETTINGS_SQL } from "./topology/upgrade";

/**
 * PostgresClusterArgs describe a whole cluster; nothing in them is read from stack config (program.ts
 * clusterArgs maps a stack's config to them).
 */
export interface PostgresClusterArgs {
    /** PostgreSQL image by name (13 or later); a local image of that name is used as is and kept on destroy. */
    readonly image: string;
    /** The bridge network the cluster gets: its name and IPv4 subnet (the gateway is its first address). */
    readonly network: { readonly name: string; readonly subnet: string };
    /** Every node (NodeSpec); nodes on several engines replicate across hosts over TLS, with a CA of the stack's own. */
    readonly nodes: readonly NodeSpec[];
    /** The name of the node that is to be primary. Changing it on a running cluster is a switchover. */
    readonly primary: string;
    /** The replication role, the commit policy, WAL retention and the switchover's lag bound. */
    readonly replication: ReplicationSettings;
    /** The postgres superuser's password (a secret); generated once and kept in state when omitted. */
    readonly superuserPassword?: pulumi.Input<string>;
    /** The replication role's password (a secret); generated once and kept in state when omitted. */
    readonly replicationPassword?: pulumi.Input<string>;
    /** The Docker engine (DOCKER_HOST form) for the docker provider and every command's docker CLI. */
    readonly engineHost: string;
    /** Host address the ports are published on. */
    readonly bindAddress: string;
    /** Where this machine reaches the published ports (the postgresql provider, the outputs). */
    readonly clientHost: string;
    /** Prefix of every container and volume name. */
    readonly namePrefix: string;
    /** Put on every Docker object; they must tell this cluster's objects from any other's. */
    readonly labels: Readonly<Record<string, string>>;
    /** archive_command; archiving is off without it. */
    readonly archiveCommand?: string;
    /** pg-replication:archiveStallSeconds, for the outputs (status's bound on a stalled archive). */
    readonly archiveStallSeconds: number;
    /** Bound, in seconds, on each readiness check, gate and switchover step. */
    readonly readyTimeoutSeconds: number;
    /** Nodes found down before the update (topology/plan.ts downNodes); a change re-runs the topology step, so a node back rejoins as a standby. */
    readonly downNodes?: readonly string[];
    /** A failover may promote a node that cannot be shown to hold every acknowledged commit (checked at preview). */
    readonly allowDataLoss?: boolean;
    /** A read-write endpoint (PgBouncer) that follows the primary and a read-only one; with nodes on several engines a pair on each. None when omitted. */
    readonly endpoints?: EndpointSettings;
    /** WAL archiving and backups with pgBackRest (the nodes then run settings.image); none when omitted. Nodes on one engine only. */
    readonly backup?: BackupSettings;
    /** With backup.s3: its credentials, a secret (written into the repository's settings file only). */
    readonly s3Credentials?: pulumi.Input<S3Credentials>;
    /** With backups: the repository's proof records as the up found them (program.ts), carried by outputs.backup.proof. */
    readonly backupProof?: ProofOutput;
    /**
     * An image change on a running cluster (topology/roll.ts planRoll, from what preview observed):
     * these nodes' containers are replaced one at a time, in this order, each after the previous
     * one's streaming gate; then the handover; then the declared primary's. Omitted: no roll.
     */
    readonly roll?: { readonly standbys: readonly string[] };
    /**
     * Nodes whose container keeps the image it runs in this up, by name (topology/roll.ts, a "hold":
     * a failover planned while a roll is unfinished); the next up rolls them. Omitted: none.
     */
    readonly heldImages?: Readonly<Record<string, string>>;
    /**
     * Docker engines that do not answer and whose every node a failover in this up speaks for
     * (preflight.ts enginesLostInFailover: their host is lost). Their image and their nodes'
     * containers keep the image the state has, whatever `image` says (ignoreChanges): a change would
     * replace them, and the delete would dial the lost engine and fail the up after its failover had
     * happened. The up after the host is back makes them what the config says. Omitted: none.
     */
    readonly lostEngines?: readonly string[];
    /** A new cluster's first node restored from a pgBackRest repository instead of initialised empty; none when omitted. */
    readonly restore?: RestoreSettings;
    /** A roll's handover refuses while a transaction on the primary has run longer, in seconds (default 15). */
    readonly rollMaxTransactionSeconds?: number;
}

/** One node as the outputs describe it. */
export interface NodeOutput {
    name: string;
    host: string;
    port: number;
    /** The node's address on the cluster network. */
    address: string;
    /** The Docker engine it runs on. */
    engine: string;
    containerName: pulumi.Output<string>;
    role: "primary" | "standby";
    /** The PostgreSQL version its container started with ("17.12 (Debian 17.12-1.pgdg13+1)"), as its readiness gate saw it. */
    version: pulumi.Output<string>;
    /** Standbys only: the sync_state the commit policy promises. */
    syncState?: SyncState;
    /**
     * postgresql:// URL for the superuser; a secret. With TLS it ends in
     * `?sslmode=verify-full&sslrootcert=<tls.caFile>`: elsewhere, save `tls.caCert` and point sslrootcert at it.
     */
    connectionString: pulumi.Output<string>;
}

/** What a client needs to reach nodes on several hosts (TLS on). */
export interface TlsOutput {
    /** Every client from another host must use TLS and check the node's name: libpq's sslmode. */
    sslmode: "verify-full";
    /** The stack's CA certificate, PEM (public): what clients verify the nodes against (sslrootcert). */
    caCert: pulumi.Output<string>;
    /** Where the last `up` wrote caCert on the machine that ran it (the connection strings name it). */
    caFile: string;
}

export interface ClusterOutputs {
    /** The declared primary. */
    primary: { name: string; host: string; port: number; containerName: pulumi.Output<string>; connectionString: pulumi.Output<string> };
    nodes: Record<string, NodeOutput>;
    replication: {
        mode: string;
        user: string;
        synchronousStandbyNames: string;
        synchronousCommit: string;
        walKeepSize: string;
        maxSlotWalKeepSize: string;
        /** A segment waiting longer than this (s) with no attempt failed is a stalled archive (pg-replication:archiveStallSeconds). */
        archiveStallSeconds: number;
    };
    network: { name: pulumi.Output<string>; subnet: string };
    /** The image every node is to run (by name); status names a node whose container runs another (a roll stopped midway). */
    image: string;
    /** The Docker engine everything runs on. */
    engine: { host: string };
    /** Only when the nodes span engines: TLS for replication and for clients from other hosts. */
    tls?: TlsOutput;
    /**
     * Only with endpoints: `rw` always reaches the primary, through a switchover and a failover;
     * `ro` reaches the standbys within endpoints.maxReadLagBytes (the primary when none is). With
     * nodes on several engines these are the first node's host's, and `byHost` has every host's.
     */
    endpoints?: EndpointOutputs;
    /** Only with backups: the repository volume, the stanza, the image that can restore them; `checked` once the archive was. */
    backup?: {
        volume: string; stanza: string; image: string; checked: pulumi.Output<boolean>; maxVerifiedAgeHours: number;
        /** With the nodes on several engines: the engine whose settings volume keeps the records (the first node's). */
        engine?: string;
        /**
         * The last verified restore and a failed attempt since, as the repository's records had them when
         * the last up began (empty before the first proof; npm run status says how old it is now).
         */
        proof: ProofOutput;
        /** With backup.s3: where the backups are (the volume then keeps the settings and the records). */
        s3?: { endpoint: string; bucket: string; path: string };
        /** With backup.schedule: the intervals (seconds; 0 for none) and the scheduler's container. */
        schedule?: { fullSeconds: number; diffSeconds: number; incrSeconds: number; containerName: pulumi.Output<string> };
    };
}

/**
 * Where `up` writes a stack's CA certificate on the machine that runs it: under the user's data
 * directory, by organization, project, stack and component, so stacks never share one.
 */
export function caFilePath(component: string, env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string {
    const data = env.XDG_DATA_HOME || path.join(home, ".local", "share");
    return path.join(data, "pg-replication", "tls", pulumi.getOrganization(), pulumi.getProject(), pulumi.getStack(),
        `${component}-ca.crt`);
}

/**
 * The id of this machine's copy of the CA file, kept beside it; a new id when there is no copy here
 * (another machine ran the last `up`, or the file was removed). A new id is a changed input of the
 * command that writes the file, so `up` writes it again; with the copy in place nothing changes.
 */
export function caFileCopyId(file: string): string {
    try {
        if (fs.existsSync(file)) {
            const id = fs.readFileSync(`${file}.id`, "utf8").trim();
            if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) {
                return id;
            }
        }
    } catch {
        // No readable copy here: a new one is written.
    }
    return crypto.randomUUID();
}

/** Writes the CA certificate (stdin) to $CA_FILE, readable by all (it is public), and its copy id beside it. */
export const WRITE_CA_FILE = [
    "set -eu",
    "mkdir -p \"$(dirname \"$CA_FILE\")\"",
    "cat > \"$CA_FILE.new\"",
    "chmod 644 \"$CA_FILE.new\"",
    "mv \"$CA_FILE.new\" \"$CA_FILE\"",
    "printf '%s\\n' \"$COPY_ID\" > \"$CA_FILE.id\"",
    "echo \"CA certificate written to $CA_FILE\" >&2",
].join("\n");

/**
 * The topology step: node on its process script (STEP_SCRIPT: components/topology/up.ts's main, from
 * the program's compiled copy), from the project directory, where the engine starts the command
 * provider (a relative path, so the input is the same on every machine). The engine's directory
 * is the folder of Pulumi.yaml: an Automation API workspace's workDir, which must then hold the project.
 */
export const TOPOLOGY_COMMAND = [
    `[ -f ${STEP_SCRIPT} ] || { echo "error: ${STEP_SCRIPT} is not in $(pwd), where the engine started the command provider:` +
        ` run pulumi in the project directory (an Automation API workspace: a workDir that holds the project)" >&2; exit 1; }`,
    `exec node ${STEP_SCRIPT}`,
].join("\n");

/** Removes the file and its id, and the stack's directory when that leaves it empty. */
export const REMOVE_CA_FILE = [
    "rm -f \"$CA_FILE\" \"$CA_FILE.id\"",
    "rmdir \"$(dirname \"$CA_FILE\")\" 2>/dev/null || true",
    "echo \"removed $CA_FILE\" >&2",
].join("\n");

/** The stack's engine keeps the names it always had; another engine's objects are named after its first node. */
export function engineSuffix(nodes: readonly NodeSpec[], stackEngine: string, engine: string): string {
    return engine === stackEngine ? "" : `-${nodes.find((n) => nodeEngine(n, stackEngine) === engine)!.name}`;
}

/** The name, in the stack's CA, of the certificate of the poolers on the engine whose objects end in SUFFIX (node names have no "-"). */
const poolerCertificate = (suffix: string) => `pooler${suffix}`;

/** The URN of the docker provider a PostgresCluster named `component` has for `engine`, in this stack. */
export function dockerProviderUrn(component: string, nodes: readonly NodeSpec[], stackEngine: string, engine: string): string {
    return `urn:pulumi:${pulumi.getStack()}::${pulumi.getProject()}::pg-replication:index:PostgresCluster$pulumi:providers:docker::` +
        `${component}-docker${engineSuffix(nodes, stackEngine, engine)}`;
}

export class PostgresCluster extends pulumi.ComponentResource {
    readonly nodes: Readonly<Record<string, PostgresNode>>;
    readonly outputs: ClusterOutputs;

    constructor(name: string, args: PostgresClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        const problems = checkArgs(args);
        if (problems.length > 0) {
            throw new Error(`PostgresCluster ${name}: ${problems.join("; ")}`);
        }
        // Args stay out of super(): they hold secrets, and component inputs are saved in state.
        super("pg-replication:index:PostgresCluster", name, {}, opts);
        const r = args.replication;
        const subnet = parseSubnet(args.network.subnet, 16, 29);
        const gateway = "subnet" in subnet ? subnet.subnet.gateway : undefined;
        const primary = args.nodes.find((n) => n.name === args.primary)!;
        const syncNames = synchronousStandbyNamesFor(r, args.primary);
        if (r.mode === "sync" && r.syncStandbys.filter((n) => n !== args.primary).length === r.syncCount) {
            pulumi.log.warn(`synchronous_standby_names = '${syncNames}' waits for every listed standby: while any of ` +
                "them is down, commits on the primary wait. With two or more standbys and syncCount below their " +
                "number, one can be down without blocking writes.", this);
        }

        // One explicit provider per engine, shared with the commands for that engine's nodes; each
        // engine gets the image and a bridge network of the same name and subnet. The stack's own
        // engine keeps the names it always had.
        const engineOf = (n: NodeSpec) => nodeEngine(n, args.engineHost);
        const spans = spansEngines(args.nodes, args.engineHost);
        // Each engine's objects, its names' suffix, and its host's address (its first node's; across engines every node has one).
        const perEngine = new Map<string, {
            provider: docker.Provider; network: docker.Network; image: docker.RemoteImage; suffix: string; hostAddress?: string;
        }>();
        for (const n of args.nodes) {
            const host = engineOf(n);
            if (perEngine.has(host)) {
                continue;
            }
            const suffix = engineSuffix(args.nodes, args.engineHost, host);
            // Its own ping before an engine's first use stays on (kreuzwerker MakeClient): without
            // it a network's read or delete takes any failure for "gone" and drops it from the
            // state. A lost ssh:// engine is never dialed by a failover's up (engine.ts dialedAtStart).
            const provider = new docker.Provider(`${name}-docker${suffix}`, { host }, { parent: this });
            const dockerOpts = { parent: this, provider };
            perEngine.set(host, {
                suffix,
                hostAddress: n.hostAddress,
                provider,
                network: new docker.Network(`${name}-network${suffix}`, {
                    name: args.network.name,
                    driver: "bridge",
                    ipamConfigs: [{ subnet: args.network.subnet, gateway }],
                    labels: labelList({ ...args.labels }),
                }, { ...dockerOpts, deleteBeforeReplace: true }),
                // keepLocally: its delete removes nothing from the engine (kreuzwerker removeImage), yet
                // the provider dials the engine first (MakeClient). retainOnDelete leaves the provider
                // out of it: the same nothing, and a replaced image's delete, pending after an up that
                // failed midway (a stopped roll), cannot fail a later up whose engine is lost.
                image: new docker.RemoteImage(`${name}-image${suffix}`, { name: args.image, keepLocally: true }, {
                    ...dockerOpts, retainOnDelete: true, ...(args.lostEngines?.includes(host) ? { ignoreChanges: ["name"] } : {}),
                }),
            });
        }
        const on = (n: NodeSpec) => perEngine.get(engineOf(n))!;
        const network = on(primary).network;
        const image = on(primary).image;
        const primaryEngine = engineOf(primary);
        /** Where this machine reaches a node's published port: its host's address when it has one. */
        const clientHost = (n: NodeSpec) => n.hostAddress ?? args.clientHost;

        const superuserPassword = args.superuserPassword
            ? pulumi.secret(args.superuserPassword) : configuredOrGenerated(`${name}-superuser-password`, undefined, this);
        const replicationPassword = args.replicationPassword
            ? pulumi.secret(args.replicationPassword) : configuredOrGenerated(`${name}-replication-password`, undefined, this);

        // With backups, the repository and its settings come first: every node mounts it and archives to it.
        // Across engines (backup.s3 only) each engine with a node has a settings volume of its own, of
        // the same name, which its nodes mount; the records of proven restores are in the one on the
        // first node's engine (recordsEngine), where the verified restores run too. Every one is kept
        // by destroy and by a change of the nodes (Pulumi never removes a volume a node may mount).
        const recordsEngine = spans ? engineOf(args.nodes[0]) : primaryEngine;
        const repositories = new Map<string, BackupRepository>();
        for (const host of args.backup ? [recordsEngine, ...[...perEngine.keys()].filter((e) => e !== recordsEngine)] : []) {
            const first = args.nodes.find((n) => engineOf(n) === host)!;
            repositories.set(host, new BackupRepository(`${name}-backup-repository${host === recordsEngine ? "" : `-${first.name}`}`, {
                settings: args.backup!,
                pgdata: PGDATA,
                image: on(first).image.name,
                labels: args.labels,
                dockerHost: host,
                s3Credentials: args.s3Credentials,
            }, { parent: this, providers: [on(first).provider] }));
        }
        const repository = repositories.get(recordsEngine);

        const settings: NodeSettings = {
            namePrefix: args.namePrefix,
            // By name, not id: a moved local tag then replaces nothing on refresh; an upgrade is a change of `image`.
            image: image.name,
            networkName: network.name,
            allAddresses: args.nodes.map((n) => n.address),
            bindAddress: args.bindAddress,
            replication: r,
            archiveCommand: args.backup ? ARCHIVE_COMMAND : args.archiveCommand,
            ...(args.backup && repository ? { backup: {
                volume: repository.volumeName, env: backupEnv(args.backup), archiveTimeoutSeconds: ARCHIVE_TIMEOUT_SECONDS,
            } } : {}),
            readyTimeoutSeconds: args.readyTimeoutSeconds,
            ...(args.restore ? { restore: args.restore } : {}),
            labels: args.labels,
            dockerHost: args.engineHost,
            superuserPassword,
            replicationPassword,
        };
        const nodeName = (n: NodeSpec) => `${name}-${n.name}`;
        const peers = spans ? peersValue(args.nodes.map((n) =>
            ({ name: n.name, container: `${args.namePrefix}-${n.name}`, engine: engineOf(n), address: n.address, hostAddress: n.hostAddress, port: n.port })))
            : undefined;
        // Across engines: a CA of the stack's own and a certificate per node for both its addresses.
        const ca = spans ? new CertificateAuthority(`${name}-tls`, {
            nodes: [
                ...args.nodes.map((n) => ({ name: n.name, addresses: [n.hostAddress!, n.address] })),
                // With endpoints, each engine's poolers: clients reach them at their host's address.
                ...(args.endpoints ? [...perEngine.values()].map((at) => ({
                    name: poolerCertificate(at.suffix),
                    addresses: [at.hostAddress!, args.endpoints!.address, args.endpoints!.readAddress],
                })) : []),
            ],
            image: image.name,
            dockerHost: primaryEngine,
            labels: { ...args.labels, "pg-replication.role": "helper" },
        }, { parent: this, dependsOn: [image] }) : undefined;
        /** A node admits replication from the nodes on its engine at their cluster address, from the others at their host's address over TLS. */
        const sources = (n: NodeSpec): ReplicationSource[] | undefined => spans ? [
            ...args.nodes.filter((m) => engineOf(m) === engineOf(n)).map((m) => ({ address: m.address, tls: false })),
            ...[...new Set(args.nodes.filter((m) => engineOf(m) !== engineOf(n)).map((m) => m.hostAddress!))]
                .map((address) => ({ address, tls: true })),
        ] : undefined;
        const nodeArgs = (spec: NodeSpec) => ({
            spec,
            settings: {
                ...settings,
                image: args.heldImages?.[spec.name] ?? on(spec).image.name,
                networkName: on(spec).network.name,
                dockerHost: engineOf(spec),
                // A node with a host address is published there: that is where others reach it.
                bindAddress: spec.hostAddress ?? args.bindAddress,
                // Its own engine's settings volume (the same name on every engine): the node waits for it to be written.
                ...(settings.backup ? { backup: { ...settings.backup, volume: repositories.get(engineOf(spec))!.volumeName } } : {}),
            },
            replicationSources: sources(spec),
            tls: ca ? { ...ca.certificates[spec.name], ca: ca.caCert } : undefined,
            // With TLS, plaintext clients only from the node's own bridge (its host); others over TLS.
            clientSubnet: ca ? args.network.subnet : undefined,
            peers,
            engineLost: args.lostEngines?.includes(engineOf(spec)) ?? false,
        });
        const nodeOpts = (spec: NodeSpec) => ({ parent: this, providers: [on(spec).provider] });

        // With TLS the postgresql provider (and clients on this machine) verify the nodes against
        // the CA in a file on the machine running Pulumi. Written by a command, so destroy removes
        // it; its input holds the id of this machine's copy, so an `up` on a machine without the
        // file (another machine, or the file removed) writes it again.
        const caFile = ca ? caFilePath(name) : undefined;
        const caFileCommand = ca ? new command.local.Command(`${name}-ca-file`, {
            create: WRITE_CA_FILE,
            update: WRITE_CA_FILE,
            delete: REMOVE_CA_FILE,
            environment: { CA_FILE: caFile!, COPY_ID: caFileCopyId(caFile!) },
            stdin: ca.caCert,
            interpreter: ["/bin/sh", "-c"],
            logging: "stderr",
        }, { parent: this }) : undefined;

        // The topology step's input for a primary: the declared one for the step, the handover's target for a roll's handover.
        const expected = args.nodes.filter((n) => n.name !== args.primary)
            .map((n) => `${n.name}=${expectedSyncState(r, args.primary, n.name)}`).join(" ");
        const topologyInput = (primaryName: string, handover?: TopologyInput["handover"]) =>
            pulumi.all([image.name, network.name]).apply(([imageName, networkName]) => JSON.stringify({
                namePrefix: args.namePrefix,
                dockerHost: args.engineHost,
                networkName,
                image: imageName,
                helperLabels: { ...args.labels, "pg-replication.role": "helper" },
                nodes: args.nodes,
                primary: primaryName,
                replication: {
                    user: r.user, mode: r.mode, syncStandbys: r.syncStandbys, syncCount: r.syncCount,
                    synchronousCommit: r.synchronousCommit, maxSwitchoverLagBytes: r.maxSwitchoverLagBytes,
                },
                timeoutSeconds: args.readyTimeoutSeconds,
                downNodes: args.downNodes ?? [],
                allowDataLoss: args.allowDataLoss ?? false,
                ...(args.endpoints ? { endpoint: {
                    container: poolerContainer(args.namePrefix), pauseTimeoutSeconds: args.endpoints.pauseTimeoutSeconds,
                    // Across engines a pair on each engine with a node: the step pauses and points every one.
                    ...(spans ? { engines: [...perEngine.keys()] } : {}),
                } } : {}),
                ...(handover ? { handover } : {}),
            } satisfies TopologyInput));
        const stepEnvironment = (input: pulumi.Output<string>) => ({ TOPOLOGY_INPUT: input, TOPOLOGY_CODE: codeDigest() });

        // A roll's handover (topology/roll.ts): when the primary runs another image than the
        // nodes' image, a switchover to the first standby of the config, which by then runs it;
        // otherwise nothing. Declared on every cluster with a standby, with the same input on every
        // up, so neither a roll nor the up after one adds or removes anything.
        const target = handoverTarget(args);
        const handover = (dependsOn: pulumi.Resource[]) => target === undefined ? undefined : dockerCommand(`${name}-handover`, {
            create: TOPOLOGY_COMMAND,
            environment: stepEnvironment(topologyInput(target, {
                image: args.image, maxTransactionSeconds: args.rollMaxTransactionSeconds ?? DEFAULTS.rollMaxTransactionSeconds,
            })),
            dockerHost: primaryEngine,
        }, { parent: this, dependsOn });

        // In a roll the standbys on the old image come first, one at a time, each container after
        // the previous node's streaming gate; then the handover; the declared primary's container
        // after it. Dependencies only: they change no input, so the graph of the up after is no diff.
        const byName: Record<string, PostgresNode> = {};
        let rollHandover: command.local.Command | undefined;
        if (args.roll) {
            let previous: pulumi.Resource[] = [];
            for (const spec of args.roll.standbys.map((n) => args.nodes.find((m) => m.name === n)!)) {
                byName[spec.name] = new PostgresNode(nodeName(spec), { ...nodeArgs(spec), containerAfter: previous }, nodeOpts(spec));
                previous = [byName[spec.name].streaming];
            }
            rollHandover = handover(previous);
        }

        // A major upgrade's step (topology/upgrade.ts, components/scripts/upgrade.sh): on an image
        // change, before the declared primary's node is touched, pg_upgrade --link on its volume when
        // its data is of an older major than the image's; otherwise nothing. Declared on every
        // cluster with the same inputs on every up, so an upgrade adds and removes nothing.
        const upgrade = dockerCommand(`${name}-upgrade`, {
            create: script("upgrade.sh"),
            environment: {
                NODE: primary.name,
                NODE_CONTAINER: `${args.namePrefix}-${primary.name}`,
                VOLUME: `${args.namePrefix}-${primary.name}-data`,
                // A held primary keeps its image: nothing to upgrade in this up.
                IMAGE: args.heldImages?.[primary.name] ?? image.name,
                KEEP_CONTAINER: target === undefined ? "" : `${args.namePrefix}-${target}`,
                LONG_TX_SQL: longTransactionsSql(args.rollMaxTransactionSeconds ?? DEFAULTS.rollMaxTransactionSeconds),
                SETTINGS_SQL: CLUSTER_SETTINGS_SQL,
                TIMEOUT: String(args.readyTimeoutSeconds),
                DOCKER_LABELS: labelWords({ ...args.labels, "pg-replication.role": "helper" }),
                HELPER_CONTAINER: `${args.namePrefix}-${primary.name}-upgrade`,
                // With backups, the repository follows the upgrade: no segment left unarchived at the stop, the stanza upgraded.
                ...(args.backup && repository ? { BACKUP_VOLUME: repositories.get(primaryEngine)!.volumeName, REPO_PATH, STANZA: args.backup.stanza, CONFIG_FILE,
                    ...(args.backup.s3 ? { REPO_NETWORK: repoNetwork(args.backup) } : {}) } : {}),
                // Across engines the kept standby is on its own.
                ...(peers ? { PEERS: peers } : {}),
            },
            dockerHost: primaryEngine,
        }, { parent: this });

        // The declared primary first: on a new cluster it is the bootstrap node, and everything
        // that talks to the primary waits for its readiness gate. Its passfile and seed wait for the
        // upgrade step, its seed not for the network (a restore runs during the network's create).
        const primaryNode = new PostgresNode(nodeName(primary), {
            ...nodeArgs(primary), after: [upgrade], seedNetworkName: args.network.name,
            ...(rollHandover ? { containerAfter: [rollHandover] } : {}),
        }, nodeOpts(primary));
        byName[primary.name] = primaryNode;

        // Makes the declared primary the actual one: nothing when it already is, a switchover when
        // another node is primary, a failover when none answers (components/topology/up.ts, with the
        // planners preview used). Before the role and the seeds, so they talk to the primary the
        // configuration names. One JSON input; the code's digest beside it, so new code re-runs it.
        const topology = dockerCommand(`${name}-topology`, {
            create: TOPOLOGY_COMMAND,
            environment: stepEnvironment(topologyInput(args.primary)),
            dockerHost: primaryEngine,
        }, { parent: this, dependsOn: [primaryNode] });

        // The superuser password as configured, on the declared primary once it is primary.
        const setPassword = dockerCommand(`${name}-set-superuser-password`, {
            create: script("superuser-password.sh"),
            environment: { PRIMARY_CONTAINER: primaryNode.containerName, PRIMARY_CONTAINER_ID: primaryNode.container.id },
            stdin: pulumi.secret(pulumi.output(superuserPassword).apply(alterSuperuserSql)),
            dockerHost: primaryEngine,
        }, { parent: this, dependsOn: [topology] });

        // Pointed at the declared primary, configured only once topology made it primary and it
        // has the password, so nothing connects to a standby or with a password it does not have.
        const sql = new postgresql.Provider(`${name}-sql`, {
            host: setPassword.id.apply(() => clientHost(primary)),
            port: primary.port,
            username: "postgres",
            password: pulumi.secret(pulumi.all([setPassword.id, superuserPassword]).apply(([, p]) => p)),
            database: "postgres",
            // Across hosts the primary admits this machine over TLS only (node-access.sh); the
            // provider checks its certificate and name against the CA file (lib/pq reads the
            // file at each connection, so it must be there before the provider connects).
            ...(caFileCommand ? {
                sslmode: "verify-full",
                sslrootcert: caFileCommand.id.apply(() => caFile!),
            } : { sslmode: "disable" }),
            superuser: true,
            connectTimeout: 15,
        }, { parent: this });
        const role = new postgresql.Role(`${name}-replication-role`, {
            name: r.user,
            login: true,
            replication: true,
            connectionLimit: r.connectionLimit,
            password: replicationPassword,
        }, {
            parent: this,
            provider: sql,
            // The role lives in the volumes: when they go (destroy), nothing needs to connect, so
            // destroy succeeds with the primary stopped or gone.
            deletedWith: primaryNode.volume,
        });

        // The other nodes are seeded (cloned) from the primary once it has the role. The wait is
        // on their passfiles and seeds, not on the whole node: a dependsOn on the component would
        // also order their volumes before the primary's teardown on destroy.
        for (const spec of args.nodes.filter((n) => byName[n.name] === undefined)) {
            byName[spec.name] = new PostgresNode(nodeName(spec), { ...nodeArgs(spec), after: [primaryNode, topology, role] },
                nodeOpts(spec));
        }
        this.nodes = byName;
        const all = Object.values(byName);
        if (!args.roll) {
            handover(all);
        }

        // The commit policy on the declared primary once every node streams, and the last gate:
        // each standby in the promised sync_state; those on an engine found lost are not asked.
        const lostNodes = args.nodes.filter((n) => args.lostEngines?.includes(engineOf(n))).map((n) => n.name).join(" ");
        const policy = dockerCommand(`${name}-replication-policy`, {
            create: script("sync-policy.sh"),
            delete: script("sync-policy-reset.sh"),
            environment: {
                PRIMARY_CONTAINER: primaryNode.containerName,
                PRIMARY_CONTAINER_ID: primaryNode.container.id,
                SYNC_NAMES: syncNames,
                SYNC_COMMIT: r.synchronousCommit,
                EXPECTED: expected,
                TIMEOUT: String(args.readyTimeoutSeconds),
                // Each standby's container is asked on its own engine (lib.sh dk); without it one on
                // another engine was asked on the primary's, "not there", and never waited for.
                ...(peers ? { PEERS: peers } : {}),
                ...(lostNodes ? { LOST_NODES: lostNodes } : {}),
            },
            dockerHost: primaryEngine,
        }, { parent: this, dependsOn: all });

        // A major upgrade's last step, once every node streams in its promised state: statistics
        // rebuilt on the primary, the old cluster's copies removed (upgrade-finish.sh); otherwise nothing.
        dockerCommand(`${name}-upgrade-finish`, {
            create: script("upgrade-finish.sh"),
            environment: {
                PRIMARY_CONTAINER: primaryNode.containerName,
                IMAGE: image.name,
                STACK_LABELS: labelWords(args.labels),
                ...(peers ? { PEERS: peers } : {}),
            },
            // It leaves the finish to a later up while a node is down or its engine lost (said so):
            // that up runs it again once they are back, as what preview found changes.
            triggers: [JSON.stringify({ down: [...(args.downNodes ?? [])].sort(), lost: [...(args.lostEngines ?? [])].sort() })],
            dockerHost: primaryEngine,
        }, { parent: this, dependsOn: [policy] });

        const query = caFile ? `?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile).replace(/%2F/g, "/")}` : "";
        // The endpoint once the declared primary is primary and has the superuser's password; the
        // step re-points it in a switchover, its config command checks it reaches the primary.
        const endpoint = args.endpoints ? new Endpoint(`${name}-endpoint`, {
            settings: args.endpoints,
            namePrefix: args.namePrefix,
            sites: [...perEngine.entries()].map(([host, at]): EndpointSite => {
                const route = (n: NodeSpec): PoolerRoute => engineOf(n) === host ? { address: n.address } : { address: n.hostAddress!, port: n.port };
                return {
                    dockerHost: host,
                    suffix: at.suffix,
                    provider: at.provider,
                    networkName: at.network.name,
                    bindAddress: spans ? at.hostAddress! : args.bindAddress,
                    clientHost: spans ? at.hostAddress! : args.clientHost,
                    primary: route(primary),
                    members: [...args.nodes.filter((n) => engineOf(n) === host), ...args.nodes.filter((n) => engineOf(n) !== host)]
                        .map((n) => ({ name: n.name, ...route(n) })),
                    ...(ca ? { tls: { ...ca.certificates[poolerCertificate(at.suffix)], ca: ca.caCert } } : {}),
                    lost: args.lostEngines?.includes(host) ?? false,
                };
            }),
            primaryContainer: primaryNode.containerName,
            sqlProvider: sql,
            roleDeletedWith: primaryNode.volume,
            after: [topology, setPassword],
            superuserPassword,
            urlQuery: query,
            labels: args.labels,
            dockerHost: primaryEngine,
            readyTimeoutSeconds: args.readyTimeoutSeconds,
        }, { parent: this }) : undefined;

        // Backups once the declared primary is primary: the stanza, the archive checked, the first full backup.
        const backup = args.backup && repository ? new Backup(`${name}-backup`, {
            settings: args.backup,
            primaryContainer: primaryNode.containerName,
            image: image.name,
            after: [topology, ...repositories.values()],
            nodes: all,
            dockerHost: recordsEngine,
            ...(spans ? { peers } : {}),
            ...(spans && args.lostEngines?.includes(recordsEngine) ? { recordsLost: true } : {}),
        }, { parent: this }) : undefined;
        // Backups and proven restores on a schedule, once up's first full backup is there.
        const scheduler = args.backup?.schedule && backup ? new BackupScheduler(`${name}-backup-scheduler`, {
            settings: args.backup,
            schedule: args.backup.schedule,
            containerName: `${args.namePrefix}-backup-scheduler`,
            labels: args.labels,
            after: [backup.final],
        }, { parent: this, providers: [on(primary).provider] }) : undefined;

        const url = (n: NodeSpec) => pulumi.secret(pulumi.interpolate
            `postgresql://postgres:${superuserPassword.apply(encodeURIComponent)}@${clientHost(n)}:${n.port}/postgres${query}`);
        const nodes: Record<string, NodeOutput> = Object.fromEntries(args.nodes.map((n): [string, NodeOutput] => [n.name, {
            name: n.name,
            host: clientHost(n),
            port: n.port,
            address: n.address,
            engine: engineOf(n),
            containerName: this.nodes[n.name].container.name,
            role: n.name === args.primary ? "primary" : "standby",
            version: this.nodes[n.name].ready.stdout.apply((v) => (v ?? "").trim()),
            ...(n.name === args.primary ? {} : { syncState: expectedSyncState(r, args.primary, n.name) }),
            connectionString: url(n),
        }]));
        this.outputs = {
            primary: {
                name: primary.name,
                host: clientHost(primary),
                port: primary.port,
                containerName: primaryNode.container.name,
                connectionString: nodes[primary.name].connectionString,
            },
            nodes,
            replication: {
                mode: r.mode,
                user: r.user,
                synchronousStandbyNames: syncNames,
                synchronousCommit: r.synchronousCommit,
                walKeepSize: r.walKeepSize,
                maxSlotWalKeepSize: r.maxSlotWalKeepSize,
                archiveStallSeconds: args.archiveStallSeconds,
            },
            network: { name: network.name, subnet: args.network.subnet },
            image: args.image,
            engine: { host: args.engineHost },
            ...(ca ? { tls: { sslmode: "verify-full" as const, caCert: ca.caCert, caFile: caFile! } } : {}),
            ...(endpoint ? { endpoints: endpoint.outputs } : {}),
            ...(args.backup && backup ? { backup: {
                volume: args.backup.volume, stanza: args.backup.stanza, image: args.backup.image,
                // Across engines: where the records and the verified restores are (on one engine, every node's).
                ...(spans ? { engine: recordsEngine } : {}),
                ...(args.backup.s3 ? { s3: { endpoint: args.backup.s3.endpoint, bucket: args.backup.s3.bucket, path: args.backup.s3.path } } : {}),
                checked: backup.check.id.apply(() => true), maxVerifiedAgeHours: args.backup.maxVerifiedAgeHours,
                proof: args.backupProof ?? {},
                ...(args.backup.schedule && scheduler ? { schedule: {
                    fullSeconds: args.backup.schedule.fullSeconds, diffSeconds: args.backup.schedule.diffSeconds ?? 0,
                    incrSeconds: args.backup.schedule.incrSeconds ?? 0, containerName: scheduler.container.name,
                } } : {}),
            } } : {}),
        };
        this.registerOutputs({ primary: primary.name });
    }
}

/** `ALTER ROLE postgres PASSWORD '…'` with the password as a SQL string literal. */
export function alterSuperuserSql(password: string): string {
    return `ALTER ROLE postgres PASSWORD '${password.replace(/'/g, "''")}';\n`;
}

/** What the component cannot work with, checked before any child exists (config.ts checks more, with keys). */
export function checkArgs(args: PostgresClusterArgs): string[] {
    const problems: string[] = [];
    const names = args.nodes.map((n) => n.name);
    if (names.length === 0) {
        problems.push("nodes is empty");
    }
    for (const n of names.filter((x) => !/^[a-z][a-z0-9_]{0,30}$/.test(x))) {
        problems.push(`node name "${n}" is not 1 to 31 characters of a-z, 0-9, '_' starting with a letter`);
    }
    if (new Set(names).size !== names.length) {
        problems.push(`node names repeat: ${names.join(", ")}`);
    }
    if (!names.includes(args.primary)) {
        problems.push(`primary "${args.primary}" is not one of the nodes (${names.join(", ")})`);
    }
    if ("problem" in parseSubnet(args.network.subnet, 16, 29)) {
        problems.push(`network.subnet "${args.network.subnet}" is not an IPv4 CIDR from /16 to /29`);
    }
    if (args.backup && !args.backup.s3 && spansEngines(args.nodes, args.engineHost)) {
        problems.push("backup with the nodes on several Docker engines needs backup.s3");
    }
    if (args.backup?.schedule && spansEngines(args.nodes, args.engineHost)) {
        problems.push("backup.schedule needs every node on one Docker engine");
    }
    if (args.backup?.s3 && !args.s3Credentials) {
        problems.push("backup.s3 needs its credentials (s3Credentials)");
    }
    if (args.backup && args.archiveCommand) {
        problems.push("archiveCommand and backup both set archive_command; give one");
    }
    return problems;
}

/** The name of the stack's one PostgresCluster (declareCluster). */
export const STACK_CLUSTER = "cluster";

/** The stack's one cluster; its outputs are the stack's outputs. */
export function declareCluster(args: PostgresClusterArgs): ClusterOutputs {
    return new PostgresCluster(STACK_CLUSTER, args).outputs;
}
