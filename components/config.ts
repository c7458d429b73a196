// The one place where stack configuration is read and checked. Every problem is reported at
// once, before any resource exists, naming the key, the value given and what is allowed.

import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_HOST, Engine, EngineProblems, resolveEngine } from "./engine";
import { isHostIn, isIPv4, isLoopback, parseSubnet, Subnet } from "./ipv4";

export const NAMESPACE = "pg-replication";

export type ReplicationMode = "async" | "sync";
/** What pg_stat_replication.sync_state should say for a standby once the policy is applied. */
export type SyncState = "async" | "sync" | "quorum";

/** One PostgreSQL node: the same container whatever its role; the name is also its slot name. */
export interface NodeSpec {
    readonly name: string;
    /** Its address on the cluster network. */
    readonly address: string;
    /** The host port its 5432 is published on. */
    readonly port: number;
    /**
     * The Docker engine it runs on (DOCKER_HOST form: unix://, tcp:// or ssh://); the stack's
     * engine when absent.
     */
    readonly host?: string;
    /**
     * The address of its engine's host that its port is published on (instead of bindAddress) and
     * that other nodes and clients reach it at; needed once the nodes span more than one engine.
     */
    readonly hostAddress?: string;
}

/** The engine a node runs on: its own `host`, else the stack's. */
export function nodeEngine(node: Pick<NodeSpec, "host">, stackEngine: string): string {
    return node.host ?? stackEngine;
}

/** Whether the nodes run on more than one Docker engine (then replication crosses hosts, over TLS). */
export function spansEngines(nodes: readonly Pick<NodeSpec, "host">[], stackEngine: string): boolean {
    return new Set(nodes.map((n) => nodeEngine(n, stackEngine))).size > 1;
}

export interface ReplicationSettings {
    readonly user: string;
    readonly connectionLimit: number;
    readonly mode: ReplicationMode;
    /** synchronous_commit; "on" in async mode, where no standby is waited for. */
    readonly synchronousCommit: string;
    /**
     * The nodes that count for synchronous commit as configured (empty in async mode); whichever
     * of them is the primary is left out when the policy is applied.
     */
    readonly syncStandbys: readonly string[];
    readonly syncCount: number;
    /** The synchronous_standby_names value the declared primary gets. */
    readonly synchronousStandbyNames: string;
    readonly walKeepSize: string;
    readonly maxSlotWalKeepSize: string;
    readonly maxWalSenders: number;
    /** A switchover refuses a target whose replay is further behind than this (bytes of WAL). */
    readonly maxSwitchoverLagBytes: number;
}

export interface ClusterConfig {
    readonly namePrefix: string;
    readonly image: string;
    readonly networkName: string;
    readonly subnet: string;
    readonly gateway: string;
    readonly bindAddress: string;
    /** Where this machine reaches the published ports (the postgresql provider, outputs). */
    readonly clientHost: string;
    /** Every node, in the configured order. */
    readonly nodes: readonly NodeSpec[];
    /** The declared primary's node name. */
    readonly primary: string;
    readonly replication: ReplicationSettings;
    readonly archiveCommand?: string;
    readonly readyTimeoutSeconds: number;
    /** The Docker engine (components/engine.ts) that the docker provider and every command use. */
    readonly engine: Engine;
    /** engine.host: what the commands get as DOCKER_HOST. */
    readonly dockerHost: string;
    /** Put on every Docker object so a stack's leftovers can always be found. */
    readonly labels: Readonly<Record<string, string>>;
    readonly superuserPasswordSet: boolean;
    readonly replicationPasswordSet: boolean;
    /**
     * A failover may promote a node that cannot be shown to hold every acknowledged commit
     * (components/topology.ts); the plan then says how much could be lost. Off by default.
     */
    readonly allowDataLoss: boolean;
}

/** Keys this program understands; anything else under the namespace is a typo worth stopping for. */
export const KNOWN_KEYS = [
    "image", "namePrefix", "networkName", "subnet", "bindAddress",
    "nodes", "primary",
    "replicationUser", "replicationPassword", "replicationConnectionLimit", "superuserPassword",
    "mode", "synchronousCommit", "syncStandbys", "syncCount",
    "walKeepSize", "maxSlotWalKeepSize", "maxWalSenders", "maxSwitchoverLagBytes", "archiveCommand", "readyTimeoutSeconds",
    "allowDataLoss",
] as const;

/** The keys of the form before nodes had names (one fixed primary, a list of standbys). */
const OLD_KEYS = ["primaryAddress", "primaryPort", "standbys"];

const SECRET_KEYS = new Set(["replicationPassword", "superuserPassword"]);

export const DEFAULTS = {
    image: "postgres:13",
    subnet: "172.18.0.0/24",
    bindAddress: "127.0.0.1",
    nodes: [{ name: "pg1", address: "172.18.0.101", port: 5432 }] as NodeSpec[],
    replicationUser: "repuser",
    replicationConnectionLimit: 5,
    mode: "async" as ReplicationMode,
    synchronousCommit: "on",
    syncCount: 1,
    walKeepSize: "128MB",
    maxSlotWalKeepSize: "1GB",
    maxWalSenders: 10,
    maxSwitchoverLagBytes: 16 * 1024 * 1024,
    readyTimeoutSeconds: 120,
};

const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
// Node names double as replication slot names, application_name and container suffixes.
const NODE_NAME = /^[a-z][a-z0-9_]{0,30}$/;
const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const IMAGE_REF = /^[a-z0-9][a-z0-9._\/:-]*[a-z0-9](:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;
const WAL_SIZE = /^[1-9][0-9]{0,8}(kB|MB|GB|TB)$/;
const UNIT_BYTES: Record<string, number> = { kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
const SYNC_COMMIT_LEVELS = ["on", "remote_write", "remote_apply"];
const NODE_FIELDS = ["name", "address", "port", "host", "hostAddress"];
const ENGINE_URL = /^(unix:\/\/\/\S+|tcp:\/\/[^\s/]+|ssh:\/\/[^\s/]+)$/;

/** Config as it arrives: key → raw text (objects as JSON), secrets only as "set". */
export type RawConfig = Readonly<Record<string, string | undefined>>;

export interface ConfigContext {
    readonly project: string;
    readonly stack: string;
    /** The resolved engine; the local default socket when not given. */
    readonly engine?: Engine;
    /** Why the engine could not be resolved (components/engine.ts); reported with the rest. */
    readonly engineProblems?: readonly string[];
    /** What is wrong with a secret's value (secretProblems), named by key only; reported with the rest. */
    readonly secretProblems?: readonly string[];
}

/**
 * Problems with the secrets' values that must stop a deployment, worded without the value.
 * The postgresql provider sends a role's password as '...' with every backslash doubled
 * (cyrilgdn/terraform-provider-postgresql@ff936b9 postgresql/helpers.go:51-55 pqQuoteLiteral,
 * used by resource_postgresql_role.go:299 and :808), and with standard_conforming_strings on
 * the server keeps both: the role would get another password than the standbys' passfiles.
 */
export function secretProblems(secrets: { readonly replicationPassword?: string }): string[] {
    return secrets.replicationPassword?.includes("\\")
        ? [`${NAMESPACE}:replicationPassword (secret) contains a backslash, which is not allowed: the postgresql ` +
            "provider stores each backslash doubled in the role's password, so the standbys could not log in; " +
            "choose a password without '\\'"]
        : [];
}

export class ConfigError extends pulumi.RunError {
    constructor(readonly problems: readonly string[]) {
        super(`invalid stack configuration:\n  - ${problems.join("\n  - ")}`);
    }
}

/** Checks raw config and returns the cluster plan; throws ConfigError listing every problem. */
export function validateConfig(raw: RawConfig, ctx: ConfigContext): ClusterConfig {
    const problems: string[] = [];
    const bad = (key: string, value: unknown, allowed: string) =>
        problems.push(`${NAMESPACE}:${key} = ${JSON.stringify(value)} is not allowed: ${allowed}`);

    for (const key of Object.keys(raw)) {
        if (!(KNOWN_KEYS as readonly string[]).includes(key) && !OLD_KEYS.includes(key)) {
            bad(key, raw[key], `unknown key; known keys are ${KNOWN_KEYS.join(", ")}`);
        }
    }

    const text = (key: string, fallback: string, pattern: RegExp, allowed: string): string => {
        const value = raw[key];
        if (value === undefined) {
            return fallback;
        }
        if (!pattern.test(value)) {
            bad(key, value, allowed);
        }
        return value;
    };
    const integer = (key: string, value: unknown, fallback: number, min: number, max: number): number => {
        if (value === undefined) {
            return fallback;
        }
        const str = typeof value === "number" ? String(value) : value;
        if (typeof str !== "string" || !/^-?\d+$/.test(str) || Number(str) < min || Number(str) > max) {
            bad(key, value, `expected a whole number from ${min} to ${max}`);
            return fallback;
        }
        return Number(str);
    };
    const json = (key: string): unknown => {
        const value = raw[key];
        if (value === undefined) {
            return undefined;
        }
        try {
            return JSON.parse(value);
        } catch {
            bad(key, value, "expected a YAML list");
            return null;
        }
    };

    const defaultPrefix = `${ctx.project}-${ctx.stack}`.toLowerCase().replace(/[^a-z0-9_.-]/g, "-");
    const namePrefix = text("namePrefix", defaultPrefix, /^[a-z0-9][a-z0-9_.-]{0,39}$/,
        "expected 1 to 40 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit");
    const image = text("image", DEFAULTS.image, IMAGE_REF, "expected a Docker image reference such as postgres:13");
    const networkName = text("networkName", `${namePrefix}-net`, DOCKER_NAME,
        "expected a Docker network name: letters, digits, '_', '.', '-', up to 63 characters");
    for (const problem of ctx.engineProblems ?? []) {
        problems.push(`Docker engine: ${problem}`);
    }
    problems.push(...ctx.secretProblems ?? []);
    const engine = ctx.engine ?? { host: DEFAULT_HOST, source: "default socket", local: true };
    const bindAddress = raw.bindAddress ?? DEFAULTS.bindAddress;
    if (!isIPv4(bindAddress)) {
        bad("bindAddress", bindAddress, "expected an IPv4 address of this host, such as 127.0.0.1 (or 0.0.0.0 for all)");
    } else if (!engine.local && isLoopback(bindAddress)) {
        // The ports would be on the remote host's loopback, out of this machine's reach.
        bad("bindAddress", bindAddress, `the Docker engine is remote (${engine.host}, from ${engine.source}), so ports ` +
            `published on its loopback cannot be reached from here: set ${NAMESPACE}:bindAddress to 0.0.0.0 or to an ` +
            "address of that host this machine can reach (mind that the database then listens there)");
    } else if (!engine.local && !engine.remoteHost) {
        problems.push(`Docker engine: ${engine.host} (from ${engine.source}) is neither a local socket nor a tcp:// or ` +
            "ssh:// address, so where its published ports can be reached is unknown; use one of those forms");
    }

    const subnetText = raw.subnet ?? DEFAULTS.subnet;
    const parsed = parseSubnet(subnetText, 16, 29);
    let subnet: Subnet | undefined;
    if ("problem" in parsed) {
        bad("subnet", subnetText, parsed.problem);
    } else {
        subnet = parsed.subnet;
    }
    const checkAddress = (key: string, value: unknown): string => {
        if (typeof value !== "string" || !isIPv4(value)) {
            bad(key, value, "expected an IPv4 address such as 172.18.0.101");
        } else if (subnet && !isHostIn(value, subnet)) {
            bad(key, value, `expected a host address inside ${subnet.cidr} from ${subnet.firstHost} to ` +
                `${subnet.lastHost} (${subnet.gateway} is the gateway)`);
        }
        return String(value);
    };

    const oldForm = OLD_KEYS.filter((k) => raw[k] !== undefined);
    if (oldForm.length > 0) {
        problems.push(oldFormProblem(raw, json));
    }

    const nodes: NodeSpec[] = [];
    const rawNodes = raw.nodes === undefined ? (oldForm.length > 0 ? [] : DEFAULTS.nodes) : json("nodes");
    if (rawNodes !== null && !Array.isArray(rawNodes)) {
        bad("nodes", rawNodes, "expected a list of {name, address, port}");
    } else if (Array.isArray(rawNodes)) {
        if (rawNodes.length === 0 && oldForm.length === 0) {
            bad("nodes", rawNodes, "expected at least one node {name, address, port}");
        }
        rawNodes.forEach((entry: unknown, i: number) => {
            const key = `nodes[${i}]`;
            if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
                bad(key, entry, "expected {name, address, port}");
                return;
            }
            const fields = entry as Record<string, unknown>;
            for (const field of Object.keys(fields).filter((f) => !NODE_FIELDS.includes(f))) {
                bad(`${key}.${field}`, fields[field], `unknown field; a node has ${NODE_FIELDS.join(", ")}`);
            }
            const name = fields.name;
            if (typeof name !== "string" || !NODE_NAME.test(name)) {
                bad(`${key}.name`, name ?? null, "expected 1 to 31 characters of a-z, 0-9, '_', starting with a letter " +
                    "(it is also the replication slot name and the container name's suffix)");
            }
            const address = checkAddress(`${key}.address`, fields.address ?? null);
            const port = fields.port === undefined
                ? (bad(`${key}.port`, null, "expected a whole number from 1 to 65535"), 0)
                : integer(`${key}.port`, fields.port, 0, 1, 65535);
            const node: { -readonly [K in keyof NodeSpec]: NodeSpec[K] } = { name: String(name), address, port };
            if (fields.host !== undefined) {
                if (typeof fields.host !== "string" || !ENGINE_URL.test(fields.host)) {
                    bad(`${key}.host`, fields.host, "expected a Docker engine as the docker provider takes it: " +
                        "unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://USER@HOST");
                } else {
                    node.host = fields.host;
                }
            }
            if (fields.hostAddress !== undefined) {
                if (typeof fields.hostAddress !== "string" || !isIPv4(fields.hostAddress) || isLoopback(fields.hostAddress)) {
                    bad(`${key}.hostAddress`, fields.hostAddress, "expected the IPv4 address of the node's Docker host " +
                        "that other nodes and clients reach it at (not a loopback address)");
                } else {
                    node.hostAddress = fields.hostAddress;
                    // A tcp:// or ssh:// engine named by its address says which host it is.
                    const named = node.host ? /^(?:tcp|ssh):\/\/(?:[^@/]+@)?([^:/]+)/.exec(node.host)?.[1] : undefined;
                    if (named && isIPv4(named) && named !== node.hostAddress) {
                        bad(`${key}.hostAddress`, node.hostAddress, `the node's engine ${node.host} is on ${named}, ` +
                            `so its ports are published there: expected ${named}`);
                    }
                }
            }
            nodes.push(node);
        });
    }

    const seen = (what: string, values: { key: string; value: string | number }[]) => {
        const first = new Map<string | number, string>();
        for (const { key, value } of values) {
            const earlier = first.get(value);
            if (earlier !== undefined) {
                bad(key, value, `${what} already used by ${NAMESPACE}:${earlier}; each node needs its own`);
            } else {
                first.set(value, key);
            }
        }
    };
    seen("name", nodes.map((n, i) => ({ key: `nodes[${i}].name`, value: n.name })));
    seen("address", nodes.map((n, i) => ({ key: `nodes[${i}].address`, value: n.address })));
    // Ports are per engine: two nodes on different hosts may publish the same one.
    const stackEngine = engine.host;
    const portOwner = new Map<string, number>();
    nodes.forEach((n, i) => {
        const where = `${nodeEngine(n, stackEngine)} ${n.port}`;
        const earlier = portOwner.get(where);
        if (earlier === undefined) {
            portOwner.set(where, i);
        } else {
            bad(`nodes[${i}].port`, n.port, `host port already used by ${NAMESPACE}:nodes[${earlier}].port on the same ` +
                `Docker engine (${nodeEngine(n, stackEngine)}); each node on an engine needs its own`);
        }
    });
    if (spansEngines(nodes, stackEngine)) {
        nodes.forEach((n, i) => {
            if (n.hostAddress === undefined) {
                bad(`nodes[${i}].hostAddress`, null, `the nodes run on more than one Docker engine, so ${n.name} needs ` +
                    `the address of its engine's host (${nodeEngine(n, stackEngine)}) that the other nodes reach it at`);
            }
        });
        seen("host address and port", nodes.filter((n) => n.hostAddress).map((n) =>
            ({ key: `nodes[${nodes.indexOf(n)}].hostAddress`, value: `${n.hostAddress}:${n.port}` })));
    }

    const nodeNames = nodes.map((n) => n.name);
    const primary = raw.primary ?? nodeNames[0] ?? "";
    if (raw.primary === undefined && nodes.length > 1) {
        bad("primary", null, `expected the name of the node that is primary, one of ${nodeNames.join(", ")}`);
    } else if (nodes.length > 0 && !nodeNames.includes(primary)) {
        bad("primary", primary, `expected one of the nodes: ${nodeNames.join(", ")}`);
    }
    const standbyCount = Math.max(nodes.length - 1, 0);

    const user = text("replicationUser", DEFAULTS.replicationUser, ROLE_NAME,
        "expected a role name of a-z, 0-9, '_' (up to 63 characters), not starting with a digit");
    if (user === "postgres") {
        bad("replicationUser", user, "the superuser must not double as the replication role");
    }
    // pg_basebackup -Xs holds two walsender connections while a standby is cloned, and standbys
    // are cloned in parallel, so both limits need room for two per standby.
    const perCloneNeed = Math.max(2 * standbyCount, 1);
    const connectionLimit = integer("replicationConnectionLimit", raw.replicationConnectionLimit,
        DEFAULTS.replicationConnectionLimit, -1, 10000);
    if (connectionLimit !== -1 && connectionLimit < perCloneNeed) {
        bad("replicationConnectionLimit", raw.replicationConnectionLimit ?? `${connectionLimit} (the default)`,
            `expected -1 (no limit) or at least ${perCloneNeed}: each of the ${standbyCount} standbys uses ` +
            "two connections while pg_basebackup -Xs clones it");
    }
    const maxWalSenders = integer("maxWalSenders", raw.maxWalSenders, DEFAULTS.maxWalSenders, 1, 1000);
    if (maxWalSenders < perCloneNeed) {
        bad("maxWalSenders", raw.maxWalSenders ?? `${maxWalSenders} (the default)`,
            `expected at least ${perCloneNeed}: two WAL senders per standby while it is cloned`);
    }
    const maxSwitchoverLagBytes = byteSize("maxSwitchoverLagBytes", raw.maxSwitchoverLagBytes,
        DEFAULTS.maxSwitchoverLagBytes, bad);

    const mode = (raw.mode ?? DEFAULTS.mode) as ReplicationMode;
    if (mode !== "async" && mode !== "sync") {
        bad("mode", mode, "expected async or sync");
    }
    let syncStandbys: string[] = [];
    let syncCount = 0;
    let synchronousCommit = DEFAULTS.synchronousCommit;
    if (mode === "sync") {
        if (standbyCount === 0) {
            bad("mode", mode, `sync needs at least two nodes in ${NAMESPACE}:nodes (a primary and a standby)`);
        }
        const listed = json("syncStandbys");
        if (listed === undefined) {
            syncStandbys = nodeNames;
        } else if (!Array.isArray(listed) || listed.length === 0 || !listed.every((n) => typeof n === "string")) {
            bad("syncStandbys", listed, "expected a non-empty list of node names");
        } else {
            syncStandbys = listed as string[];
            for (const name of syncStandbys.filter((n) => !nodeNames.includes(n))) {
                bad("syncStandbys", name, `not a node of this stack; nodes are ${nodeNames.join(", ") || "(none)"}`);
            }
            seen("name", syncStandbys.map((n) => ({ key: "syncStandbys", value: n })));
            if (syncStandbys.every((n) => n === primary)) {
                bad("syncStandbys", listed, `lists only the primary (${primary}); name at least one other node`);
            }
        }
        const effective = syncStandbys.filter((n) => n !== primary).length;
        syncCount = integer("syncCount", raw.syncCount, DEFAULTS.syncCount, 1, Math.max(effective, 1));
        synchronousCommit = raw.synchronousCommit ?? DEFAULTS.synchronousCommit;
        if (!SYNC_COMMIT_LEVELS.includes(synchronousCommit)) {
            bad("synchronousCommit", synchronousCommit, `expected one of ${SYNC_COMMIT_LEVELS.join(", ")}`);
        }
    } else {
        for (const key of ["syncStandbys", "syncCount", "synchronousCommit"]) {
            if (raw[key] !== undefined) {
                bad(key, raw[key], `only used when ${NAMESPACE}:mode is sync (it is ${mode})`);
            }
        }
    }

    const walKeepSize = text("walKeepSize", DEFAULTS.walKeepSize, WAL_SIZE, "expected a size such as 128MB (units kB, MB, GB, TB)");
    const maxSlotWalKeepSize = text("maxSlotWalKeepSize", DEFAULTS.maxSlotWalKeepSize, WAL_SIZE,
        "expected a size such as 1GB (units kB, MB, GB, TB); it bounds the WAL a slot may hold for an absent standby");
    const archiveCommand = raw.archiveCommand;
    if (archiveCommand !== undefined && (archiveCommand.trim() === "" || /[\n\r']/.test(archiveCommand))) {
        bad("archiveCommand", archiveCommand, "expected a one-line shell command without single quotes, using %p and %f");
    }
    const allowDataLoss = raw.allowDataLoss ?? "false";
    if (allowDataLoss !== "true" && allowDataLoss !== "false") {
        bad("allowDataLoss", allowDataLoss, "expected true or false");
    }
    const readyTimeoutSeconds = integer("readyTimeoutSeconds", raw.readyTimeoutSeconds, DEFAULTS.readyTimeoutSeconds, 10, 3600);

    if (problems.length > 0) {
        throw new ConfigError(problems);
    }

    const synchronousStandbyNames = mode === "sync"
        ? standbyNamesSetting(syncStandbys.filter((n) => n !== primary), syncCount) : "";
    return {
        namePrefix,
        image,
        networkName,
        subnet: subnet!.cidr,
        gateway: subnet!.gateway,
        bindAddress,
        clientHost: clientHostFor(bindAddress, engine),
        nodes,
        primary,
        replication: {
            user, connectionLimit, mode, synchronousCommit, syncStandbys, syncCount,
            synchronousStandbyNames, walKeepSize, maxSlotWalKeepSize, maxWalSenders, maxSwitchoverLagBytes,
        },
        archiveCommand,
        readyTimeoutSeconds,
        engine,
        dockerHost: engine.host,
        labels: { "pg-replication.project": ctx.project, "pg-replication.stack": ctx.stack },
        superuserPasswordSet: raw.superuserPassword !== undefined,
        replicationPasswordSet: raw.replicationPassword !== undefined,
        allowDataLoss: allowDataLoss === "true",
    };
}

/** One standby counts as FIRST 1; two or more form a quorum, so one can be down without blocking commits. */
export function standbyNamesSetting(names: readonly string[], count: number): string {
    const list = names.map((n) => `"${n}"`).join(", ");
    return names.length === 1 ? `FIRST 1 (${list})` : `ANY ${count} (${list})`;
}

/** The nodes whose confirmation a commit on `primary` waits for (the configured set minus the primary). */
export function syncSet(replication: ReplicationSettings, primary: string): string[] {
    return replication.mode === "sync" ? replication.syncStandbys.filter((n) => n !== primary) : [];
}

/** synchronous_standby_names for `primary` under the configured policy ("" when async). */
export function synchronousStandbyNamesFor(replication: ReplicationSettings, primary: string): string {
    const set = syncSet(replication, primary);
    return set.length === 0 ? "" : standbyNamesSetting(set, Math.min(replication.syncCount, set.length));
}

/** The sync_state pg_stat_replication must show for a standby of `primary` under the configured policy. */
export function expectedSyncState(replication: ReplicationSettings, primary: string, standby: string): SyncState {
    const set = syncSet(replication, primary);
    if (!set.includes(standby)) {
        return "async";
    }
    return set.length === 1 ? "sync" : "quorum";
}

/** The declared primary's spec. */
export function primaryNode(cfg: Pick<ClusterConfig, "nodes" | "primary">): NodeSpec {
    return cfg.nodes.find((n) => n.name === cfg.primary)!;
}

/** A WAL size as bytes: a whole number of bytes, or a number with kB, MB, GB or TB. */
function byteSize(key: string, value: string | undefined, fallback: number,
    bad: (key: string, value: unknown, allowed: string) => void): number {
    if (value === undefined) {
        return fallback;
    }
    const m = /^([1-9][0-9]{0,12})(kB|MB|GB|TB)?$/.exec(value);
    if (!m) {
        bad(key, value, "expected a whole number of bytes or a size such as 16MB (units kB, MB, GB, TB)");
        return fallback;
    }
    return Number(m[1]) * (m[2] ? UNIT_BYTES[m[2]] : 1);
}

/**
 * The problem for a stack file in the old form (primaryAddress, primaryPort, standbys), with the
 * new form written out from the values it gives, ready to paste.
 */
function oldFormProblem(raw: RawConfig, json: (key: string) => unknown): string {
    const standbys = json("standbys");
    const list = Array.isArray(standbys) ? standbys.filter((s) => typeof s === "object" && s !== null) as Record<string, unknown>[] : [];
    const taken = new Set(list.map((s) => String(s.name)));
    const primaryName = ["pg1", "primary", "node0"].find((n) => !taken.has(n))!;
    const lines = [
        `${NAMESPACE}:primary: ${primaryName}`,
        `${NAMESPACE}:nodes:`,
        `  - name: ${primaryName}`,
        `    address: ${raw.primaryAddress ?? "172.18.0.101"}`,
        `    port: ${raw.primaryPort ?? 5432}`,
        ...list.flatMap((s) => [`  - name: ${s.name}`, `    address: ${s.address}`, `    port: ${s.port}`]),
    ];
    const given = OLD_KEYS.filter((k) => raw[k] !== undefined).map((k) => `${NAMESPACE}:${k}`).join(", ");
    return `${given}: the old form (a fixed primary and a list of standbys) is no longer read; every node is named ` +
        `once in ${NAMESPACE}:nodes and ${NAMESPACE}:primary names the primary. In Pulumi.<stack>.yaml, instead of ` +
        `${given}:\n${lines.map((l) => `      ${l}`).join("\n")}`;
}

/** Where this machine reaches a published port: the engine's host decides, then the bind address. */
function clientHostFor(bindAddress: string, engine: Engine): string {
    if (bindAddress !== "0.0.0.0") {
        return bindAddress;
    }
    return engine.local ? "127.0.0.1" : engine.remoteHost ?? "127.0.0.1";
}

/** The stack's validated config with its secrets, as loadConfig reads them. */
export interface LoadedConfig extends ClusterConfig {
    readonly superuserPassword?: pulumi.Output<string>;
    readonly replicationPassword?: pulumi.Output<string>;
}

/** Reads this stack's config through Pulumi and validates it. */
export function loadConfig(): LoadedConfig {
    const all = pulumi.runtime.allConfig();
    const raw: Record<string, string> = {};
    for (const [fullKey, value] of Object.entries(all)) {
        if (fullKey.startsWith(`${NAMESPACE}:`)) {
            const key = fullKey.slice(NAMESPACE.length + 1);
            // A secret's text never enters the plan: only that it is set.
            raw[key] = SECRET_KEYS.has(key) ? "(secret)" : value;
        }
    }
    let engine: Engine | undefined;
    let engineProblems: readonly string[] = [];
    try {
        engine = resolveEngine({ configHost: new pulumi.Config("docker").get("host"), env: process.env });
    } catch (err) {
        if (!(err instanceof EngineProblems)) {
            throw err;
        }
        engineProblems = err.problems;
    }
    const cfg = validateConfig(raw, {
        project: pulumi.getProject(), stack: pulumi.getStack(), engine, engineProblems,
        secretProblems: secretProblems({ replicationPassword: all[`${NAMESPACE}:replicationPassword`] }),
    });
    const config = new pulumi.Config(NAMESPACE);
    return {
        ...cfg,
        superuserPassword: config.getSecret("superuserPassword"),
        replicationPassword: config.getSecret("replicationPassword"),
    };
}
