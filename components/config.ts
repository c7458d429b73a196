// The one place where stack configuration is read and checked. Every problem is reported at
// once, before any resource exists, naming the key, the value given and what is allowed.

import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_HOST, Engine, EngineProblems, resolveEngine } from "./engine";
import { addressAfter, isHostIn, isIPv4, isLoopback, parseSubnet, Subnet } from "./ipv4";
import { isLsn } from "./lsn";
import { RESTORE_POINT_NAME, targetEpoch } from "./restore";

export * from "./spec";
import { BackupSchedule, BackupSettings, S3Credentials, S3Repository, EndpointSettings, NAMESPACE, RestoreSettings, nodeEngine, NodeSpec, ReplicationMode, ReplicationSettings, spansEngines, standbyNamesSetting } from "./spec";

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
    /**
     * A completed WAL segment waiting longer than this, in seconds, with no archive attempt failed,
     * is a stalled archive (archive.ts archiveStall): status, preview and up warn, a major upgrade refuses.
     */
    readonly archiveStallSeconds: number;
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
     * (components/topology/plan.ts); the plan then says how much could be lost. Off by default.
     */
    readonly allowDataLoss: boolean;
    /**
     * A roll (an image change on a running cluster, topology/roll.ts) switches over only while no
     * transaction on the primary has run longer than this, in seconds: its clean stop would end them.
     */
    readonly rollMaxTransactionSeconds: number;
    /** The read-write endpoint (a PgBouncer container of the stack); none when pg-replication:endpoints is not set. */
    readonly endpoints?: EndpointSettings;
    /** WAL archiving and backups with pgBackRest; none when pg-replication:backup is not set. */
    readonly backup?: BackupSettings;
    /** A new cluster's primary restored from a repository; none when pg-replication:restore is not set. */
    readonly restore?: RestoreSettings;
}

/**
 * The image of ours derived from a cluster image postgres:<major>: pg-replication/postgres-<NAME>:<major>
 * (images/<NAME>, which scripts/build-images.sh builds); none for any other cluster image.
 */
export function derivedImageName(name: "backup" | "scheduler" | "tools", clusterImage: string): string | undefined {
    const major = /^postgres:(\d+)$/.exec(clusterImage)?.[1];
    return major ? `pg-replication/postgres-${name}:${major}` : undefined;
}

/** Keys this program understands; anything else under the namespace is a typo worth stopping for. */
export const KNOWN_KEYS = [
    "image", "namePrefix", "networkName", "subnet", "bindAddress",
    "nodes", "primary",
    "replicationUser", "replicationPassword", "replicationConnectionLimit", "superuserPassword",
    "mode", "synchronousCommit", "syncStandbys", "syncCount",
    "walKeepSize", "maxSlotWalKeepSize", "maxWalSenders", "maxSwitchoverLagBytes", "archiveCommand", "archiveStallSeconds",
    "readyTimeoutSeconds",
    "allowDataLoss", "rollMaxTransactionSeconds", "endpoints", "backup", "restore", "backupS3AccessKey", "backupS3SecretKey",
] as const;

/** The S3 credentials (backup.s3): secrets of their own, never in backup.s3's plain text. */
export const S3_SECRET_KEYS = ["backupS3AccessKey", "backupS3SecretKey"] as const;

/** The keys of the form before nodes had names (one fixed primary, a list of standbys). */
const OLD_KEYS = ["primaryAddress", "primaryPort", "standbys"];

/** The keys whose values are secrets: set with `pulumi config set --secret`, refused in plain text (secretProblems). */
export const SECRET_KEYS: ReadonlySet<string> = new Set<string>(["replicationPassword", "superuserPassword", ...S3_SECRET_KEYS]);

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
    archiveStallSeconds: 120,
    readyTimeoutSeconds: 120,
    rollMaxTransactionSeconds: 15,
    endpoints: {
        port: 6432, maxReadLagBytes: 16 * 1024 * 1024, poolMode: "transaction" as const, poolSize: 20, maxClientConnections: 200,
        queryWaitTimeoutSeconds: 120, pauseTimeoutSeconds: 10,
    },
};

/** The fields of pg-replication:backup. */
const BACKUP_FIELDS = ["image", "volume", "retentionFull", "processMax", "maxVerifiedAgeHours", "allowUnverifiedDestroy", "schedule", "s3"];
const BACKUP_DEFAULTS = { retentionFull: 2, processMax: 2, maxVerifiedAgeHours: 26 };
/** The fields of pg-replication:backup.schedule, and what `schedule: true` means: a full backup a day, an incremental one an hour. */
const SCHEDULE_FIELDS = ["full", "diff", "incr", "image", "dockerSocket", "fromStandby"];
const SCHEDULE_DEFAULTS = { full: "24h", incr: "1h" };
/** The fields of pg-replication:backup.s3 (pgBackRest's repo1-s3-* and repo1-storage-* settings). */
const S3_FIELDS = ["endpoint", "bucket", "region", "path", "uriStyle", "host", "port", "caCert"];
/** A DNS host name (the S3 endpoint): labels of letters, digits and '-', dot-separated. */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** An S3 bucket name as AWS allows it (3-63 lower-case letters, digits, '.', '-'). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** A schedule's interval: a whole number of minutes, hours or days. */
const INTERVAL = /^([1-9][0-9]{0,5})(m|h|d)$/;
const INTERVAL_SECONDS = { m: 60, h: 3600, d: 86400 } as const;

/** The fields of pg-replication:restore. */
const RESTORE_FIELDS = ["volume", "stanza", "target", "image"];
/** A restore target time: a date, a time and an explicit zone, as PostgreSQL's recovery_target_time reads it. */
const TARGET_TIME = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)$/;

/** The fields of pg-replication:endpoints. */
const ENDPOINT_FIELDS = ["image", "address", "port", "readAddress", "readPort", "maxReadLagBytes", "poolMode", "poolSize", "maxClientConnections",
    "queryWaitTimeoutSeconds", "pauseTimeoutSeconds"];

const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
// Node names double as replication slot names, application_name and container suffixes.
const NODE_NAME = /^[a-z][a-z0-9_]{0,30}$/;
const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/**
 * The oldest PostgreSQL the nodes run on (13: wal_keep_size and max_slot_wal_keep_size, node-access.sh),
 * and the major an official image's tag names (postgres:12, library/postgres:9.6-alpine). Any other
 * image, another repository named postgres included (its tags may count its own versions), is not
 * asked at preview: its server refuses the settings at up.
 */
const OLDEST_MAJOR = 13;
const OFFICIAL_MAJOR = /^(?:library\/)?postgres:(\d+)(?:$|[.\-_])/;
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
export function secretProblems(secrets: { readonly replicationPassword?: string; readonly plain?: readonly string[];
    readonly values?: Readonly<Record<string, string | undefined>>; readonly misplaced?: readonly string[] }): string[] {
    return [
        ...(secrets.plain ?? []).map((key) => `${NAMESPACE}:${key} is set in plain text (in the stack's settings file), which is not ` +
            `allowed: it is a secret; set it again with pulumi config set --secret ${key}`),
        ...(secrets.misplaced ?? []).map((key) => `${NAMESPACE}:${key} is set as a secret, which is not allowed: it is not one of the ` +
            `secret keys (${[...SECRET_KEYS].join(", ")}), so its value would be used, stored and shown in plain text; ` +
            `check its spelling, or set it again without --secret`),
        // An empty password is refused by the image's entrypoint (or clears the role's); a line break
        // ends a passfile's line and a pgbackrest.conf value early.
        ...Object.entries(secrets.values ?? {}).flatMap(([key, value]) => value === undefined ? []
            : value === "" ? [`${NAMESPACE}:${key} (secret) is empty, which is not allowed: expected at least one character`]
                : /[\r\n]/.test(value) ? [`${NAMESPACE}:${key} (secret) contains a line break, which is not allowed: expected one line`] : []),
        ...(secrets.replicationPassword?.includes("\\")
            ? [`${NAMESPACE}:replicationPassword (secret) contains a backslash, which is not allowed: the postgresql ` +
                "provider stores each backslash doubled in the role's password, so the standbys could not log in; " +
                "choose a password without '\\'"]
            : []),
    ];
}

/**
 * The secret keys (SECRET_KEYS) of ALL that were set without --secret, as the engine tells the
 * program (Pulumi's runtime isConfigSecret: the Node.js SDK exports it, its typings do not declare
 * it; without it, none can be told).
 */
function plainSecrets(all: Readonly<Record<string, string>>): string[] {
    const isSecret = configIsSecret();
    return isSecret ? [...SECRET_KEYS].filter((k) => all[`${NAMESPACE}:${k}`] !== undefined && !isSecret(`${NAMESPACE}:${k}`)) : [];
}

/**
 * The other keys of ALL that were set with --secret (a misspelt secret key; `--path` on a part of a
 * structured key marks all of it): their values must not reach the validators, whose messages show
 * values, nor the resources, which take them as plain text.
 */
function misplacedSecrets(all: Readonly<Record<string, string>>): string[] {
    const isSecret = configIsSecret();
    return isSecret ? Object.keys(all).filter((k) => k.startsWith(`${NAMESPACE}:`) && isSecret(k))
        .map((k) => k.slice(NAMESPACE.length + 1)).filter((k) => !SECRET_KEYS.has(k)) : [];
}

/** Pulumi's runtime isConfigSecret (the Node.js SDK exports it, its typings do not declare it). */
function configIsSecret(): ((key: string) => boolean) | undefined {
    return (pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean }).isConfigSecret;
}

export class ConfigError extends pulumi.RunError {
    constructor(readonly problems: readonly string[]) {
        super(`invalid stack configuration:\n  - ${problems.join("\n  - ")}`);
    }
}

/** What a section validator returns: its problems, in the order found, and the part of the config it checked. */
export type Checked<T = unknown> = T & { readonly problems: readonly string[] };

/** The one form of a problem with a value: the key, the value given and what is allowed. */
function notAllowed(key: string, value: unknown, allowed: string): string {
    return `${NAMESPACE}:${key} = ${JSON.stringify(value)} is not allowed: ${allowed}`;
}

/** One section's problems as it finds them, and the readers of raw values that report a bad one. */
class Problems {
    readonly found: string[] = [];

    constructor(private readonly raw: RawConfig = {}) {}

    bad(key: string, value: unknown, allowed: string): void {
        this.found.push(notAllowed(key, value, allowed));
    }

    /** A text key; its fallback when absent. */
    text(key: string, fallback: string, pattern: RegExp, allowed: string): string {
        const value = this.raw[key];
        if (value === undefined) {
            return fallback;
        }
        if (!pattern.test(value)) {
            this.bad(key, value, allowed);
        }
        return value;
    }

    /** A whole number from min to max, as text or a number; the fallback when absent or bad. */
    integer(key: string, value: unknown, fallback: number, min: number, max: number): number {
        if (value === undefined) {
            return fallback;
        }
        const str = typeof value === "number" ? String(value) : value;
        if (typeof str !== "string" || !/^-?\d+$/.test(str) || Number(str) < min || Number(str) > max) {
            this.bad(key, value, `expected a whole number from ${min} to ${max}`);
            return fallback;
        }
        return Number(str);
    }

    /** A key given as a YAML list or object (JSON here); undefined when absent, null when it does not parse. */
    json(key: string): unknown {
        const value = this.raw[key];
        if (value === undefined) {
            return undefined;
        }
        try {
            return JSON.parse(value);
        } catch {
            this.bad(key, value, "expected a YAML list");
            return null;
        }
    }

    /** A WAL size as bytes: a whole number of bytes, or a number with kB, MB, GB or TB. */
    /**
     * A key that is off unless set: undefined when absent or false (or bad: the problem is recorded),
     * else its fields ({} for true), each field checked against KNOWN.
     */
    optional(key: string, known: readonly string[]): Record<string, unknown> | undefined {
        const value = this.raw[key];
        if (value === undefined || value === "false") {
            return undefined;
        }
        const given = value === "true" ? {} : this.json(key);
        if (given === null) {
            return undefined;
        }
        if (typeof given !== "object" || Array.isArray(given)) {
            this.bad(key, given, `expected true, false or an object with any of ${known.join(", ")}`);
            return undefined;
        }
        const fields = given as Record<string, unknown>;
        for (const field of Object.keys(fields).filter((f) => !known.includes(f))) {
            this.bad(`${key}.${field}`, fields[field], `unknown field; ${key} has ${known.join(", ")}`);
        }
        return fields;
    }

    /**
     * KEY.image: given, else pg-replication/postgres-<NAME>:<major> for a cluster image postgres:<major>
     * (images/<NAME>, which scripts/build-images.sh builds); "" with a problem when neither.
     */
    derivedImage(key: string, given: unknown, clusterImage: string, name: "backup" | "scheduler" | "tools", tool: string): string {
        const image = given === undefined ? derivedImageName(name, clusterImage) ?? "" : given;
        if (typeof image === "string" && IMAGE_REF.test(image)) {
            return image;
        }
        this.bad(`${key}.image`, given ?? null, given === undefined
            ? `expected the image of ${tool} for ${clusterImage} (only for postgres:<major> is it known: ` +
                `pg-replication/postgres-${name}:<major>, which scripts/build-images.sh builds)`
            : `expected a Docker image reference: the cluster's PostgreSQL with ${tool}, such as pg-replication/postgres-${name}:17`);
        return "";
    }

    /** A field that is true or false (false when absent). */
    flag(key: string, value: unknown): boolean {
        if (value === undefined || value === false || value === "false") {
            return false;
        }
        if (value === true || value === "true") {
            return true;
        }
        this.bad(key, value, "expected true or false");
        return false;
    }

    byteSize(key: string, fallback: number, value: unknown = this.raw[key]): number {
        if (value === undefined) {
            return fallback;
        }
        const m = /^([1-9][0-9]{0,12})(kB|MB|GB|TB)?$/.exec(String(value));
        if (!m) {
            this.bad(key, value, "expected a whole number of bytes or a size such as 16MB (units kB, MB, GB, TB)");
            return fallback;
        }
        return Number(m[1]) * (m[2] ? UNIT_BYTES[m[2]] : 1);
    }
}

/** A problem for each value already used by an earlier key of the list ("name already used by ..."). */
function repeats(what: string, values: { key: string; value: string | number }[]): string[] {
    const first = new Map<string | number, string>();
    const problems: string[] = [];
    for (const { key, value } of values) {
        const earlier = first.get(value);
        if (earlier !== undefined) {
            problems.push(notAllowed(key, value, `${what} already used by ${NAMESPACE}:${earlier}; each node needs its own`));
        } else {
            first.set(value, key);
        }
    }
    return problems;
}

/** Keys this program does not know (the old form's are left to validateOldForm). */
export function validateKeys(raw: RawConfig): Checked {
    const p = new Problems(raw);
    for (const key of Object.keys(raw)) {
        if (!(KNOWN_KEYS as readonly string[]).includes(key) && !OLD_KEYS.includes(key)) {
            p.bad(key, raw[key], `unknown key; known keys are ${KNOWN_KEYS.join(", ")}`);
        }
    }
    return { problems: p.found };
}

/** The names of the stack's objects: namePrefix (from project and stack by default), image, networkName. */
export function validateNames(raw: RawConfig, ctx: Pick<ConfigContext, "project" | "stack">):
    Checked<{ namePrefix: string; image: string; networkName: string }> {
    const p = new Problems(raw);
    const defaultPrefix = `${ctx.project}-${ctx.stack}`.toLowerCase().replace(/[^a-z0-9_.-]/g, "-");
    const namePrefix = p.text("namePrefix", defaultPrefix, /^[a-z0-9][a-z0-9_.-]{0,39}$/,
        "expected 1 to 40 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit");
    const image = p.text("image", DEFAULTS.image, IMAGE_REF, "expected a Docker image reference such as postgres:13");
    const major = OFFICIAL_MAJOR.exec(image)?.[1];
    if (major !== undefined && Number(major) < OLDEST_MAJOR) {
        p.bad("image", image, `expected PostgreSQL ${OLDEST_MAJOR} or later, such as postgres:${OLDEST_MAJOR}: the nodes are set with ` +
            "wal_keep_size and max_slot_wal_keep_size, which older servers do not have");
    }
    const networkName = p.text("networkName", `${namePrefix}-net`, DOCKER_NAME,
        "expected a Docker network name: letters, digits, '_', '.', '-', up to 63 characters");
    return { problems: p.found, namePrefix, image, networkName };
}

/** The engine as resolved (components/engine.ts), the local default socket when it was not; why it could not be. */
export function validateEngine(ctx: Pick<ConfigContext, "engine" | "engineProblems">): Checked<{ engine: Engine }> {
    return {
        problems: (ctx.engineProblems ?? []).map((problem) => `Docker engine: ${problem}`),
        engine: ctx.engine ?? { host: DEFAULT_HOST, source: "default socket", local: true },
    };
}

/** Which secrets are set (their values never enter the plan) and what is wrong with them (secretProblems). */
export function validateSecrets(raw: RawConfig, ctx: Pick<ConfigContext, "secretProblems">):
    Checked<{ superuserPasswordSet: boolean; replicationPasswordSet: boolean }> {
    return {
        problems: [...ctx.secretProblems ?? []],
        superuserPasswordSet: raw.superuserPassword !== undefined,
        replicationPasswordSet: raw.replicationPassword !== undefined,
    };
}

/** bindAddress, which must be reachable from here on the engine's host, and where this machine reaches the ports. */
export function validateBindAddress(raw: RawConfig, engine: Engine): Checked<{ bindAddress: string; clientHost: string }> {
    const p = new Problems(raw);
    const bindAddress = raw.bindAddress ?? DEFAULTS.bindAddress;
    if (!isIPv4(bindAddress)) {
        p.bad("bindAddress", bindAddress, "expected an IPv4 address of this host, such as 127.0.0.1 (or 0.0.0.0 for all)");
    } else if (!engine.local && isLoopback(bindAddress)) {
        // The ports would be on the remote host's loopback, out of this machine's reach.
        p.bad("bindAddress", bindAddress, `the Docker engine is remote (${engine.host}, from ${engine.source}), so ports ` +
            `published on its loopback cannot be reached from here: set ${NAMESPACE}:bindAddress to 0.0.0.0 or to an ` +
            "address of that host this machine can reach (mind that the database then listens there)");
    } else if (!engine.local && !engine.remoteHost) {
        p.found.push(`Docker engine: ${engine.host} (from ${engine.source}) is neither a local socket nor a tcp:// or ` +
            "ssh:// address, so where its published ports can be reached is unknown; use one of those forms");
    }
    return { problems: p.found, bindAddress, clientHost: clientHostFor(bindAddress, engine) };
}

/** The cluster network's subnet; undefined when it is not one. */
export function validateSubnet(raw: RawConfig): Checked<{ subnet?: Subnet }> {
    const subnetText = raw.subnet ?? DEFAULTS.subnet;
    const parsed = parseSubnet(subnetText, 16, 29);
    return "problem" in parsed
        ? { problems: [notAllowed("subnet", subnetText, parsed.problem)] }
        : { problems: [], subnet: parsed.subnet };
}

/** The form before nodes had names: one problem with the new form written out; `used` when any of its keys is given. */
export function validateOldForm(raw: RawConfig): Checked<{ used: boolean }> {
    if (!OLD_KEYS.some((k) => raw[k] !== undefined)) {
        return { problems: [], used: false };
    }
    const p = new Problems(raw);
    const standbys = p.json("standbys");
    p.found.push(oldFormProblem(raw, standbys));
    return { problems: p.found, used: true };
}

/** The nodes list, each entry checked (validateNode); the default node when absent, unless the old form is used. */
export function validateNodes(raw: RawConfig, subnet: Subnet | undefined, oldForm: boolean): Checked<{ nodes: NodeSpec[] }> {
    const p = new Problems(raw);
    const nodes: NodeSpec[] = [];
    const rawNodes = raw.nodes === undefined ? (oldForm ? [] : DEFAULTS.nodes) : p.json("nodes");
    if (rawNodes !== null && !Array.isArray(rawNodes)) {
        p.bad("nodes", rawNodes, "expected a list of {name, address, port}");
    } else if (Array.isArray(rawNodes)) {
        if (rawNodes.length === 0 && !oldForm) {
            p.bad("nodes", rawNodes, "expected at least one node {name, address, port}");
        }
        rawNodes.forEach((entry: unknown, i: number) => {
            const checked = validateNode(entry, i, subnet);
            p.found.push(...checked.problems);
            if (checked.node) {
                nodes.push(checked.node);
            }
        });
    }
    return { problems: p.found, nodes };
}

/** One entry of nodes (nodes[index]) on its own; no node when the entry is not an object. */
export function validateNode(entry: unknown, index: number, subnet: Subnet | undefined): Checked<{ node?: NodeSpec }> {
    const p = new Problems();
    const key = `nodes[${index}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
        p.bad(key, entry, "expected {name, address, port}");
        return { problems: p.found };
    }
    const fields = entry as Record<string, unknown>;
    for (const field of Object.keys(fields).filter((f) => !NODE_FIELDS.includes(f))) {
        p.bad(`${key}.${field}`, fields[field], `unknown field; a node has ${NODE_FIELDS.join(", ")}`);
    }
    const name = fields.name;
    if (typeof name !== "string" || !NODE_NAME.test(name)) {
        p.bad(`${key}.name`, name ?? null, "expected 1 to 31 characters of a-z, 0-9, '_', starting with a letter " +
            "(it is also the replication slot name and the container name's suffix)");
    }
    const address = fields.address ?? null;
    if (typeof address !== "string" || !isIPv4(address)) {
        p.bad(`${key}.address`, address, "expected an IPv4 address such as 172.18.0.101");
    } else if (subnet && !isHostIn(address, subnet)) {
        p.bad(`${key}.address`, address, `expected a host address inside ${subnet.cidr} from ${subnet.firstHost} to ` +
            `${subnet.lastHost} (${subnet.gateway} is the gateway)`);
    }
    const port = fields.port === undefined
        ? (p.bad(`${key}.port`, null, "expected a whole number from 1 to 65535"), 0)
        : p.integer(`${key}.port`, fields.port, 0, 1, 65535);
    const node: { -readonly [K in keyof NodeSpec]: NodeSpec[K] } = { name: String(name), address: String(address), port };
    if (fields.host !== undefined) {
        if (typeof fields.host !== "string" || !ENGINE_URL.test(fields.host)) {
            p.bad(`${key}.host`, fields.host, "expected a Docker engine as the docker provider takes it: " +
                "unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://USER@HOST");
        } else {
            node.host = fields.host;
        }
    }
    if (fields.hostAddress !== undefined) {
        if (typeof fields.hostAddress !== "string" || !isIPv4(fields.hostAddress) || isLoopback(fields.hostAddress)) {
            p.bad(`${key}.hostAddress`, fields.hostAddress, "expected the IPv4 address of the node's Docker host " +
                "that other nodes and clients reach it at (not a loopback address)");
        } else {
            node.hostAddress = fields.hostAddress;
            // A tcp:// or ssh:// engine named by its address says which host it is.
            const named = node.host ? /^(?:tcp|ssh):\/\/(?:[^@/]+@)?([^:/]+)/.exec(node.host)?.[1] : undefined;
            if (named && isIPv4(named) && named !== node.hostAddress) {
                p.bad(`${key}.hostAddress`, node.hostAddress, `the node's engine ${node.host} is on ${named}, ` +
                    `so its ports are published there: expected ${named}`);
            }
        }
    }
    return { problems: p.found, node };
}

/** What nodes must not share: a name, an address, a port on one engine, and across engines a host address and port. */
export function validateDistinctNodes(nodes: readonly NodeSpec[], stackEngine: string): Checked {
    const p = new Problems();
    p.found.push(...repeats("name", nodes.map((n, i) => ({ key: `nodes[${i}].name`, value: n.name }))));
    p.found.push(...repeats("address", nodes.map((n, i) => ({ key: `nodes[${i}].address`, value: n.address }))));
    // Ports are per engine: two nodes on different hosts may publish the same one.
    const portOwner = new Map<string, number>();
    nodes.forEach((n, i) => {
        const where = `${nodeEngine(n, stackEngine)} ${n.port}`;
        const earlier = portOwner.get(where);
        if (earlier === undefined) {
            portOwner.set(where, i);
        } else {
            p.bad(`nodes[${i}].port`, n.port, `host port already used by ${NAMESPACE}:nodes[${earlier}].port on the same ` +
                `Docker engine (${nodeEngine(n, stackEngine)}); each node on an engine needs its own`);
        }
    });
    if (spansEngines(nodes, stackEngine)) {
        nodes.forEach((n, i) => {
            if (n.hostAddress === undefined) {
                p.bad(`nodes[${i}].hostAddress`, null, `the nodes run on more than one Docker engine, so ${n.name} needs ` +
                    `the address of its engine's host (${nodeEngine(n, stackEngine)}) that the other nodes reach it at`);
            }
        });
        p.found.push(...repeats("host address and port", nodes.filter((n) => n.hostAddress).map((n) =>
            ({ key: `nodes[${nodes.indexOf(n)}].hostAddress`, value: `${n.hostAddress}:${n.port}` }))));
    }
    return { problems: p.found };
}

/** The declared primary: one of the nodes, named whenever there are several. */
export function validatePrimary(raw: RawConfig, nodes: readonly Pick<NodeSpec, "name">[]): Checked<{ primary: string }> {
    const p = new Problems(raw);
    const nodeNames = nodes.map((n) => n.name);
    const primary = raw.primary ?? nodeNames[0] ?? "";
    if (raw.primary === undefined && nodes.length > 1) {
        p.bad("primary", null, `expected the name of the node that is primary, one of ${nodeNames.join(", ")}`);
    } else if (nodes.length > 0 && !nodeNames.includes(primary)) {
        p.bad("primary", primary, `expected one of the nodes: ${nodeNames.join(", ")}`);
    }
    return { problems: p.found, primary };
}

/** The replication role and its room: connections and WAL senders for the standbys' clones, the switchover's lag bound. */
export function validateReplication(raw: RawConfig, standbyCount: number):
    Checked<Pick<ReplicationSettings, "user" | "connectionLimit" | "maxWalSenders" | "maxSwitchoverLagBytes">> {
    const p = new Problems(raw);
    const user = p.text("replicationUser", DEFAULTS.replicationUser, ROLE_NAME,
        "expected a role name of a-z, 0-9, '_' (up to 63 characters), not starting with a digit");
    if (user === "postgres") {
        p.bad("replicationUser", user, "the superuser must not double as the replication role");
    }
    // pg_basebackup -Xs holds two walsender connections while a standby is cloned, and standbys
    // are cloned in parallel, so both limits need room for two per standby.
    const perCloneNeed = Math.max(2 * standbyCount, 1);
    const connectionLimit = p.integer("replicationConnectionLimit", raw.replicationConnectionLimit,
        DEFAULTS.replicationConnectionLimit, -1, 10000);
    if (connectionLimit !== -1 && connectionLimit < perCloneNeed) {
        p.bad("replicationConnectionLimit", raw.replicationConnectionLimit ?? `${connectionLimit} (the default)`,
            `expected -1 (no limit) or at least ${perCloneNeed}: each of the ${standbyCount} standbys uses ` +
            "two connections while pg_basebackup -Xs clones it");
    }
    const maxWalSenders = p.integer("maxWalSenders", raw.maxWalSenders, DEFAULTS.maxWalSenders, 1, 1000);
    if (maxWalSenders < perCloneNeed) {
        p.bad("maxWalSenders", raw.maxWalSenders ?? `${maxWalSenders} (the default)`,
            `expected at least ${perCloneNeed}: two WAL senders per standby while it is cloned`);
    }
    const maxSwitchoverLagBytes = p.byteSize("maxSwitchoverLagBytes", DEFAULTS.maxSwitchoverLagBytes);
    return { problems: p.found, user, connectionLimit, maxWalSenders, maxSwitchoverLagBytes };
}

/** The commit policy: async, or sync with the nodes that count, how many, and synchronous_commit. */
export function validateCommitPolicy(raw: RawConfig, nodeNames: readonly string[], primary: string): Checked<Pick<ReplicationSettings,
    "mode" | "synchronousCommit" | "syncStandbys" | "syncCount" | "synchronousStandbyNames">> {
    const p = new Problems(raw);
    const standbyCount = Math.max(nodeNames.length - 1, 0);
    const mode = (raw.mode ?? DEFAULTS.mode) as ReplicationMode;
    if (mode !== "async" && mode !== "sync") {
        p.bad("mode", mode, "expected async or sync");
    }
    let syncStandbys: readonly string[] = [];
    let syncCount = 0;
    let synchronousCommit = DEFAULTS.synchronousCommit;
    if (mode === "sync") {
        if (standbyCount === 0) {
            p.bad("mode", mode, `sync needs at least two nodes in ${NAMESPACE}:nodes (a primary and a standby)`);
        }
        const listed = p.json("syncStandbys");
        if (listed === undefined) {
            syncStandbys = nodeNames;
        } else if (!Array.isArray(listed) || listed.length === 0 || !listed.every((n) => typeof n === "string")) {
            p.bad("syncStandbys", listed, "expected a non-empty list of node names");
        } else {
            syncStandbys = listed as string[];
            for (const name of syncStandbys.filter((n) => !nodeNames.includes(n))) {
                p.bad("syncStandbys", name, `not a node of this stack; nodes are ${nodeNames.join(", ") || "(none)"}`);
            }
            p.found.push(...repeats("name", syncStandbys.map((n) => ({ key: "syncStandbys", value: n }))));
            if (syncStandbys.every((n) => n === primary)) {
                p.bad("syncStandbys", listed, `lists only the primary (${primary}); name at least one other node`);
            }
        }
        const effective = syncStandbys.filter((n) => n !== primary).length;
        syncCount = p.integer("syncCount", raw.syncCount, DEFAULTS.syncCount, 1, Math.max(effective, 1));
        synchronousCommit = raw.synchronousCommit ?? DEFAULTS.synchronousCommit;
        if (!SYNC_COMMIT_LEVELS.includes(synchronousCommit)) {
            p.bad("synchronousCommit", synchronousCommit, `expected one of ${SYNC_COMMIT_LEVELS.join(", ")}`);
        }
    } else {
        for (const key of ["syncStandbys", "syncCount", "synchronousCommit"]) {
            if (raw[key] !== undefined) {
                p.bad(key, raw[key], `only used when ${NAMESPACE}:mode is sync (it is ${mode})`);
            }
        }
    }
    const synchronousStandbyNames = mode === "sync"
        ? standbyNamesSetting(syncStandbys.filter((n) => n !== primary), syncCount) : "";
    return { problems: p.found, mode, synchronousCommit, syncStandbys, syncCount, synchronousStandbyNames };
}

/** The WAL kept for standbys and slots, the archive command, and how long a segment may wait for it. */
export function validateRetention(raw: RawConfig):
    Checked<{ walKeepSize: string; maxSlotWalKeepSize: string; archiveCommand?: string; archiveStallSeconds: number }> {
    const p = new Problems(raw);
    const walKeepSize = p.text("walKeepSize", DEFAULTS.walKeepSize, WAL_SIZE, "expected a size such as 128MB (units kB, MB, GB, TB)");
    const maxSlotWalKeepSize = p.text("maxSlotWalKeepSize", DEFAULTS.maxSlotWalKeepSize, WAL_SIZE,
        "expected a size such as 1GB (units kB, MB, GB, TB); it bounds the WAL a slot may hold for an absent standby");
    // Both settings are in MB on the server, at most MAX_KILOBYTES, INT_MAX on 64-bit (guc_tables.c: wal_keep_size and
    // max_slot_wal_keep_size, GUC_UNIT_MB): more is refused by ALTER SYSTEM ("Value exceeds integer range"), after the nodes exist.
    for (const [key, size] of [["walKeepSize", walKeepSize], ["maxSlotWalKeepSize", maxSlotWalKeepSize]] as const) {
        const m = /^(\d+)(kB|MB|GB|TB)$/.exec(size);
        if (m && Number(m[1]) * { kB: 1 / 1024, MB: 1, GB: 1024, TB: 1024 * 1024 }[m[2] as "kB"] > 2147483647) {
            p.bad(key, size, "expected at most 2147483647MB (2047TB), PostgreSQL's limit for the setting");
        }
    }
    const archiveCommand = raw.archiveCommand;
    if (archiveCommand !== undefined && (archiveCommand.trim() === "" || /[\n\r']/.test(archiveCommand))) {
        p.bad("archiveCommand", archiveCommand, "expected a one-line shell command without single quotes, using %p and %f");
    }
    // At least 30 s: a segment normally leaves within seconds, and a shorter bound would call a slow repository's one
    // attempt a stall.
    const archiveStallSeconds = p.integer("archiveStallSeconds", raw.archiveStallSeconds, DEFAULTS.archiveStallSeconds, 30, 86400);
    return { problems: p.found, walKeepSize, maxSlotWalKeepSize, archiveCommand, archiveStallSeconds };
}

/** Whether a failover may lose data, and the bound on each readiness check and switchover step. */
export function validateFailoverAndTimeout(raw: RawConfig):
    Checked<{ allowDataLoss: boolean; readyTimeoutSeconds: number; rollMaxTransactionSeconds: number }> {
    const p = new Problems(raw);
    const allowDataLoss = raw.allowDataLoss ?? "false";
    if (allowDataLoss !== "true" && allowDataLoss !== "false") {
        p.bad("allowDataLoss", allowDataLoss, "expected true or false");
    }
    const readyTimeoutSeconds = p.integer("readyTimeoutSeconds", raw.readyTimeoutSeconds, DEFAULTS.readyTimeoutSeconds, 10, 3600);
    const rollMaxTransactionSeconds = p.integer("rollMaxTransactionSeconds", raw.rollMaxTransactionSeconds,
        DEFAULTS.rollMaxTransactionSeconds, 1, 3600);
    return { problems: p.found, allowDataLoss: allowDataLoss === "true", readyTimeoutSeconds, rollMaxTransactionSeconds };
}

/**
 * The read-write endpoint: off unless pg-replication:endpoints is set (true, or an object of
 * ENDPOINT_FIELDS). Its image defaults to the tools image of the cluster's major
 * (pg-replication/postgres-tools:<major>, scripts/build-images.sh), its address to the subnet's
 * last host; both must stay clear of the nodes.
 */
export function validateEndpoints(raw: RawConfig, ctx: { image: string; subnet?: Subnet; nodes: readonly NodeSpec[] }): Checked<{ endpoints?: EndpointSettings }> {
    const p = new Problems(raw);
    // With nodes on several engines every engine with a node gets the pair, at the same addresses on its own bridge.
    const fields = p.optional("endpoints", ENDPOINT_FIELDS);
    if (!fields) {
        return { problems: p.found };
    }
    const d = DEFAULTS.endpoints;
    const image = p.derivedImage("endpoints", fields.image, ctx.image, "tools", "PgBouncer");
    // Each pooler's address on the cluster network and host port: clear of the nodes and of each other.
    const place = (addressKey: "address" | "readAddress", fallbackAddress: string | undefined, portKey: "port" | "readPort",
        fallbackPort: number, other?: { address: unknown; port: number }) => {
        const address = fields[addressKey] ?? fallbackAddress;
        const key = `endpoints.${addressKey}`;
        if (typeof address !== "string" || !isIPv4(address)) {
            p.bad(key, address ?? null, "expected an IPv4 address on the cluster network");
        } else if (ctx.subnet && !isHostIn(address, ctx.subnet)) {
            p.bad(key, address, `expected a host address inside ${ctx.subnet.cidr} from ${ctx.subnet.firstHost} ` +
                `to ${ctx.subnet.lastHost} (${ctx.subnet.gateway} is the gateway)`);
        } else if (ctx.nodes.some((n) => n.address === address)) {
            const node = ctx.nodes.findIndex((n) => n.address === address);
            p.bad(key, address, `already used by ${NAMESPACE}:nodes[${node}].address; the endpoint needs its own`);
        } else if (other && other.address === address) {
            p.bad(key, address, "already used by pg-replication:endpoints.address; the read-only endpoint needs its own");
        }
        const port = p.integer(`endpoints.${portKey}`, fields[portKey], fallbackPort, 1, 65535);
        // Published beside the nodes: on the stack's engine, or on every engine with a node.
        const taken = ctx.nodes.findIndex((n) => n.port === port);
        if (taken >= 0) {
            p.bad(`endpoints.${portKey}`, fields[portKey] ?? `${port} (the default)`, `host port already used by ${NAMESPACE}:nodes[${taken}].port`);
        } else if (other && other.port === port) {
            p.bad(`endpoints.${portKey}`, fields[portKey] ?? `${port} (the default)`, "host port already used by pg-replication:endpoints.port");
        }
        return { address, port };
    };
    const rw = place("address", ctx.subnet?.lastHost, "port", d.port);
    const ro = place("readAddress", ctx.subnet ? addressAfter(ctx.subnet.lastHost, -1) : undefined, "readPort", Math.min(rw.port + 1, 65535), rw);
    const poolMode = fields.poolMode ?? d.poolMode;
    if (poolMode !== "transaction" && poolMode !== "session") {
        p.bad("endpoints.poolMode", poolMode, "expected transaction (a switchover is a pause for clients) or session " +
            "(a switchover ends every client's session)");
    }
    const named = ctx.nodes.findIndex((n) => n.name === "pooler");
    if (named >= 0) {
        p.bad(`nodes[${named}].name`, "pooler", "with endpoints the name is taken by the pooler's container; rename the node");
    }
    return {
        problems: p.found,
        endpoints: {
            image,
            address: String(rw.address),
            port: rw.port,
            readAddress: String(ro.address),
            readPort: ro.port,
            maxReadLagBytes: p.byteSize("endpoints.maxReadLagBytes", d.maxReadLagBytes, fields.maxReadLagBytes),
            poolMode: poolMode as EndpointSettings["poolMode"],
            poolSize: p.integer("endpoints.poolSize", fields.poolSize, d.poolSize, 1, 10000),
            maxClientConnections: p.integer("endpoints.maxClientConnections", fields.maxClientConnections, d.maxClientConnections, 1, 100000),
            queryWaitTimeoutSeconds: p.integer("endpoints.queryWaitTimeoutSeconds", fields.queryWaitTimeoutSeconds,
                d.queryWaitTimeoutSeconds, 1, 86400),
            pauseTimeoutSeconds: p.integer("endpoints.pauseTimeoutSeconds", fields.pauseTimeoutSeconds, d.pauseTimeoutSeconds, 1, 600),
        },
    };
}

/**
 * Backups: off unless pg-replication:backup is set (true, or an object of BACKUP_FIELDS). The nodes
 * then run the backup image of the cluster's major (pg-replication/postgres-backup:<major>,
 * scripts/build-images.sh --backup), archive to the repository volume (<prefix>-backup) with
 * pgBackRest, and archiveCommand (a command of the user's own) is refused beside it.
 */
export function validateBackup(raw: RawConfig, ctx: { image: string; namePrefix: string; spans: boolean; engineHost?: string }):
    Checked<{ backup?: BackupSettings }> {
    const p = new Problems(raw);
    const fields = p.optional("backup", BACKUP_FIELDS);
    if (!fields) {
        s3Of(p, undefined, raw);
        return { problems: p.found };
    }
    // Across engines every node archives to, and every backup reads from, a bucket all of them reach;
    // each engine with a node gets a settings volume of its own (cluster.ts), the first node's keeps the records.
    if (ctx.spans && fields.s3 === undefined) {
        p.bad("backup", fields, "with the nodes on more than one Docker engine the repository must be an S3 bucket every node " +
            "reaches (backup.s3): a volume repository is on one engine, and every node mounts it; set backup.s3, or keep the nodes on one engine");
    }
    if (ctx.spans && fields.schedule !== undefined && fields.schedule !== false && fields.schedule !== "false") {
        p.bad("backup.schedule", fields.schedule, "not available yet when the nodes run on more than one Docker engine: the scheduler " +
            "reaches the nodes through its own engine's socket; take backups with npm run backup and prove them with npm run verify-backup, " +
            "or keep the nodes on one engine");
    }
    if (raw.archiveCommand !== undefined) {
        p.bad("archiveCommand", raw.archiveCommand, "not with pg-replication:backup, whose archive_command is pgBackRest's; " +
            "remove one of the two");
    }
    const image = p.derivedImage("backup", fields.image, ctx.image, "backup", "pgBackRest");
    const volume = fields.volume ?? `${ctx.namePrefix}-backup`;
    if (typeof volume !== "string" || !DOCKER_NAME.test(volume)) {
        p.bad("backup.volume", volume, "expected a Docker volume name: letters, digits, '_', '.', '-', starting with a letter or digit");
    }
    return {
        problems: p.found,
        backup: {
            image,
            volume: String(volume),
            stanza: ctx.namePrefix,
            retentionFull: p.integer("backup.retentionFull", fields.retentionFull, BACKUP_DEFAULTS.retentionFull, 1, 9999),
            processMax: p.integer("backup.processMax", fields.processMax, BACKUP_DEFAULTS.processMax, 1, 32),
            maxVerifiedAgeHours: p.integer("backup.maxVerifiedAgeHours", fields.maxVerifiedAgeHours, BACKUP_DEFAULTS.maxVerifiedAgeHours, 1, 8760),
            allowUnverifiedDestroy: p.flag("backup.allowUnverifiedDestroy", fields.allowUnverifiedDestroy),
            ...scheduleOf(p, fields.schedule, { ...ctx, maxVerifiedAgeHours: fields.maxVerifiedAgeHours === undefined
                ? BACKUP_DEFAULTS.maxVerifiedAgeHours : Number(fields.maxVerifiedAgeHours) }),
            ...s3Of(p, fields.s3, raw),
        },
    };
}

/**
 * backup.s3: the repository in an S3-compatible bucket (README "Backups"). endpoint, bucket and
 * region are required; the credentials are the secrets backupS3AccessKey and backupS3SecretKey
 * (`pulumi config set --secret`), both required with it and refused without it. pgBackRest speaks
 * S3 over TLS only (before 2.58), so caCert names the CA of a server with a certificate of its own.
 */
function s3Of(p: Problems, given: unknown, raw: RawConfig): { s3?: S3Repository } {
    const secretsSet = S3_SECRET_KEYS.filter((k) => raw[k] !== undefined);
    if (given === undefined || given === false) {
        for (const key of secretsSet) {
            p.bad(key, "(secret)", "only with pg-replication:backup.s3, whose credentials it is; remove it or set backup.s3");
        }
        return {};
    }
    if (typeof given !== "object" || given === null || Array.isArray(given)) {
        p.bad("backup.s3", given, `expected an object with ${S3_FIELDS.join(", ")} (endpoint, bucket and region required)`);
        return {};
    }
    const f = given as Record<string, unknown>;
    for (const field of Object.keys(f).filter((k) => !S3_FIELDS.includes(k))) {
        p.bad(`backup.s3.${field}`, f[field], `unknown field; backup.s3 has ${S3_FIELDS.join(", ")}`);
    }
    for (const key of S3_SECRET_KEYS.filter((k) => raw[k] === undefined)) {
        p.bad(key, null, "required with backup.s3: set it as a secret (pulumi config set --secret " + key + ")");
    }
    const text = (field: string, pattern: RegExp, allowed: string, fallback?: string): string => {
        const value = f[field] ?? fallback;
        if (typeof value !== "string" || !pattern.test(value)) {
            p.bad(`backup.s3.${field}`, f[field] ?? null, allowed);
            return "";
        }
        return value;
    };
    const endpoint = text("endpoint", HOST_NAME, "expected the S3 endpoint's host name (what its TLS certificate names), such as s3.example.internal");
    const bucket = text("bucket", BUCKET, "expected an S3 bucket name: 3-63 lower-case letters, digits, '.' and '-'");
    const region = text("region", /^[a-z0-9-]{1,64}$/, "expected the bucket's region, such as us-east-1");
    const path = text("path", /^\/[A-Za-z0-9._\/-]*$/, "expected a path in the bucket starting with '/', such as /pg-replication", "/pg-replication");
    const uriStyle = text("uriStyle", /^(path|host)$/, "expected path (the bucket in the URL's path) or host (in its host name)", "path");
    let host: string | undefined;
    if (f.host !== undefined) {
        host = text("host", HOST_NAME, "expected an address or host name to connect to instead of resolving the endpoint");
    }
    let caCert: string | undefined;
    if (f.caCert !== undefined) {
        if (typeof f.caCert !== "string" || !/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/.test(f.caCert.trim())) {
            p.bad("backup.s3.caCert", typeof f.caCert === "string" ? `${f.caCert.slice(0, 40)}…` : f.caCert,
                "expected the PEM text of the CA certificate that signed the server's (-----BEGIN CERTIFICATE----- …)");
        } else {
            caCert = `${f.caCert.trim()}\n`;
        }
    }
    return {
        s3: {
            endpoint, bucket, region, path, uriStyle: uriStyle === "host" ? "host" : "path",
            ...(host ? { host } : {}),
            port: p.integer("backup.s3.port", f.port, 443, 1, 65535),
            ...(caCert ? { caCert } : {}),
        },
    };
}

/** The engine's socket on the engine's host: a unix:// engine's own path, else Docker's default. */
export function engineSocketPath(engineHost: string | undefined): string {
    return engineHost?.startsWith("unix://") ? engineHost.slice("unix://".length) : "/var/run/docker.sock";
}

/**
 * backup.schedule: off unless set; `true` for SCHEDULE_DEFAULTS, or an object of SCHEDULE_FIELDS.
 * Each interval is a whole number of minutes, hours or days (at most 365 days); diff and incr must
 * be shorter than full, incr shorter than diff, and full shorter than maxVerifiedAgeHours: a
 * restore is proven after every full backup, so the proof would otherwise age past the bound.
 * incr defaults to 1h when that is shorter than full (and diff). dockerSocket defaults to the
 * engine's own socket path for a unix:// engine, else /var/run/docker.sock (on the engine's host).
 * fromStandby (default true): the scheduled backups come from a streaming standby when there is one.
 */
function scheduleOf(p: Problems, given: unknown, ctx: { image: string; engineHost?: string; maxVerifiedAgeHours: number }):
    { schedule?: BackupSchedule } {
    if (given === undefined || given === false || given === "false") {
        return {};
    }
    if (given !== true && given !== "true" && (typeof given !== "object" || given === null || Array.isArray(given))) {
        p.bad("backup.schedule", given, `expected true, false or an object with any of ${SCHEDULE_FIELDS.join(", ")}`);
        return {};
    }
    const fields = (typeof given === "object" ? given : {}) as Record<string, unknown>;
    for (const field of Object.keys(fields).filter((f) => !SCHEDULE_FIELDS.includes(f))) {
        p.bad(`backup.schedule.${field}`, fields[field], `unknown field; backup.schedule has ${SCHEDULE_FIELDS.join(", ")}`);
    }
    const interval = (field: "full" | "diff" | "incr", fallback?: string): number | undefined => {
        const value = fields[field] ?? fallback;
        // No full backups would leave full at 0: the scheduler would take one, and prove it, at every poll.
        if (field !== "full" && (value === undefined || value === null || value === false || value === "false")) {
            return undefined;
        }
        const m = typeof value === "string" ? INTERVAL.exec(value) : null;
        const seconds = m ? Number(m[1]) * INTERVAL_SECONDS[m[2] as keyof typeof INTERVAL_SECONDS] : 0;
        if (!m || seconds > 365 * 86400) {
            p.bad(`backup.schedule.${field}`, value, `expected an interval of whole minutes, hours or days, such as 30m, 6h or 7d (at most 365d)${
                field === "full" ? "" : ", or false for none"}`);
            return undefined;
        }
        return seconds;
    };
    const full = interval("full", SCHEDULE_DEFAULTS.full) ?? 0;
    const diff = interval("diff");
    const incrDefault = 3600 < Math.min(full || Infinity, diff ?? Infinity) ? SCHEDULE_DEFAULTS.incr : undefined;
    const incr = interval("incr", incrDefault);
    const maxAge = ctx.maxVerifiedAgeHours;
    if (full > 0 && full >= maxAge * 3600) {
        p.bad("backup.schedule.full", fields.full ?? SCHEDULE_DEFAULTS.full, `expected an interval shorter than backup.maxVerifiedAgeHours ` +
            `(${maxAge}h): a restore is proven after every full backup, and the proof must not age past that bound between two`);
    }
    for (const [field, seconds] of [["diff", diff], ["incr", incr]] as const) {
        if (seconds !== undefined && full > 0 && seconds >= full) {
            p.bad(`backup.schedule.${field}`, fields[field], `expected an interval shorter than backup.schedule.full (${fields.full ?? SCHEDULE_DEFAULTS.full})`);
        }
    }
    if (diff !== undefined && incr !== undefined && incr >= diff) {
        p.bad("backup.schedule.incr", fields.incr, `expected an interval shorter than backup.schedule.diff (${fields.diff})`);
    }
    const socket = fields.dockerSocket ?? engineSocketPath(ctx.engineHost);
    if (typeof socket !== "string" || !/^\/[^\s:]*$/.test(socket)) {
        p.bad("backup.schedule.dockerSocket", socket, "expected the absolute path of the Docker engine's socket on the engine's host");
    }
    return { schedule: {
        image: p.derivedImage("backup.schedule", fields.image, ctx.image, "scheduler", "pgBackRest, the docker CLI and jq"),
        fullSeconds: full,
        ...(diff !== undefined ? { diffSeconds: diff } : {}),
        ...(incr !== undefined ? { incrSeconds: incr } : {}),
        dockerSocket: String(socket),
        fromStandby: fields.fromStandby === undefined ? true : p.flag("backup.schedule.fromStandby", fields.fromStandby),
    } };
}

/**
 * A restore: off unless pg-replication:restore is set (an object of RESTORE_FIELDS). The volume and
 * stanza are required (another stack's `backup` outputs); the target is `latest` (the default),
 * `{time: "2026-12-03 10:00:00+00"}`, `{lsn: "0/3000060"}` or `{name: <a recorded restore point>}`; the image defaults to the backup image of the cluster's major.
 */
export function validateRestore(raw: RawConfig, ctx: { image: string; ownRepository?: string }):
    Checked<{ restore?: RestoreSettings }> {
    const p = new Problems(raw);
    if (raw.restore === undefined) {
        return { problems: [] };
    }
    // Across engines too: the declared primary is restored on its engine (the volume must be there), the others clone from it.
    const fields = p.optional("restore", RESTORE_FIELDS);
    if (!fields) {
        return { problems: p.found };
    }
    for (const key of ["volume", "stanza"] as const) {
        if (typeof fields[key] !== "string" || !DOCKER_NAME.test(fields[key] as string)) {
            p.bad(`restore.${key}`, fields[key] ?? null, key === "volume"
                ? "expected the repository's Docker volume name (the other stack's backup.volume output)"
                : "expected the repository's stanza (the other stack's backup.stanza output)");
        }
    }
    if (ctx.ownRepository !== undefined && fields.volume === ctx.ownRepository) {
        p.bad("restore.volume", fields.volume, "not this stack's own repository (backup.volume): restore from another stack's");
    }
    let target: RestoreSettings["target"] = { kind: "latest" };
    const t = fields.target;
    if (t !== undefined && t !== "latest") {
        const [key, value] = typeof t === "object" && t !== null && Object.keys(t).length === 1 ? Object.entries(t)[0] : [];
        if (key === "time" && typeof value === "string" && TARGET_TIME.test(value) && !Number.isNaN(targetEpoch(value))) {
            target = { kind: "time", time: value };
        } else if (key === "lsn" && typeof value === "string" && isLsn(value)) {
            target = { kind: "lsn", lsn: value.toUpperCase() };
        } else if (key === "name" && typeof value === "string" && RESTORE_POINT_NAME.test(value)) {
            target = { kind: "name", name: value };
        } else {
            p.bad("restore.target", t, "expected latest, {time: <date and time with its zone>} such as " +
                "{time: \"2026-12-03 10:00:00+00\"}, {lsn: <an LSN such as 0/3000060>} or {name: <a restore point " +
                "made by npm run restore-point: up to 63 letters, digits, dots, dashes and underscores>}");
        }
    }
    const image = p.derivedImage("restore", fields.image, ctx.image, "backup", "pgBackRest");
    return { problems: p.found, restore: { volume: String(fields.volume), stanza: String(fields.stanza), target, image } };
}

/**
 * Checks raw config and returns the cluster plan; throws ConfigError listing every problem, section
 * by section in the order they are listed here.
 */
export function validateConfig(raw: RawConfig, ctx: ConfigContext): ClusterConfig {
    const keys = validateKeys(raw);
    const names = validateNames(raw, ctx);
    const engine = validateEngine(ctx);
    const secrets = validateSecrets(raw, ctx);
    const bind = validateBindAddress(raw, engine.engine);
    const subnet = validateSubnet(raw);
    const oldForm = validateOldForm(raw);
    const nodes = validateNodes(raw, subnet.subnet, oldForm.used);
    const distinct = validateDistinctNodes(nodes.nodes, engine.engine.host);
    const primary = validatePrimary(raw, nodes.nodes);
    const replication = validateReplication(raw, Math.max(nodes.nodes.length - 1, 0));
    const policy = validateCommitPolicy(raw, nodes.nodes.map((n) => n.name), primary.primary);
    const retention = validateRetention(raw);
    const failover = validateFailoverAndTimeout(raw);
    const endpoints = validateEndpoints(raw, { image: names.image, subnet: subnet.subnet, nodes: nodes.nodes });
    const backup = validateBackup(raw, { image: names.image, namePrefix: names.namePrefix,
        spans: spansEngines(nodes.nodes, engine.engine.host), engineHost: engine.engine.host });
    const restore = validateRestore(raw, { image: names.image, ownRepository: backup.backup?.volume });
    const problems = [keys, names, engine, secrets, bind, subnet, oldForm, nodes, distinct, primary, replication, policy,
        retention, failover, endpoints, backup, restore].flatMap((section) => section.problems);
    if (problems.length > 0) {
        throw new ConfigError(problems);
    }
    return {
        namePrefix: names.namePrefix,
        image: names.image,
        networkName: names.networkName,
        subnet: subnet.subnet!.cidr,
        gateway: subnet.subnet!.gateway,
        bindAddress: bind.bindAddress,
        clientHost: bind.clientHost,
        nodes: nodes.nodes,
        primary: primary.primary,
        replication: {
            user: replication.user, connectionLimit: replication.connectionLimit, mode: policy.mode,
            synchronousCommit: policy.synchronousCommit, syncStandbys: policy.syncStandbys, syncCount: policy.syncCount,
            synchronousStandbyNames: policy.synchronousStandbyNames, walKeepSize: retention.walKeepSize,
            maxSlotWalKeepSize: retention.maxSlotWalKeepSize, maxWalSenders: replication.maxWalSenders,
            maxSwitchoverLagBytes: replication.maxSwitchoverLagBytes,
        },
        archiveCommand: retention.archiveCommand,
        archiveStallSeconds: retention.archiveStallSeconds,
        readyTimeoutSeconds: failover.readyTimeoutSeconds,
        engine: engine.engine,
        dockerHost: engine.engine.host,
        labels: { "pg-replication.project": ctx.project, "pg-replication.stack": ctx.stack },
        superuserPasswordSet: secrets.superuserPasswordSet,
        replicationPasswordSet: secrets.replicationPasswordSet,
        allowDataLoss: failover.allowDataLoss,
        rollMaxTransactionSeconds: failover.rollMaxTransactionSeconds,
        ...(endpoints.endpoints ? { endpoints: endpoints.endpoints } : {}),
        ...(backup.backup ? { backup: backup.backup } : {}),
        ...(restore.restore ? { restore: restore.restore } : {}),
    };
}

/** What the commit policy of any primary follows from. */
/** The image every node runs: with backups, the cluster's image with pgBackRest. */
export function nodeImage(cfg: Pick<ClusterConfig, "image" | "backup">): string {
    return cfg.backup?.image ?? cfg.image;
}

/** The declared primary's spec. */
export function primaryNode(cfg: Pick<ClusterConfig, "nodes" | "primary">): NodeSpec {
    return cfg.nodes.find((n) => n.name === cfg.primary)!;
}

/**
 * The problem for a stack file in the old form (primaryAddress, primaryPort, standbys), with the
 * new form written out from the values it gives, ready to paste.
 */
function oldFormProblem(raw: RawConfig, standbys: unknown): string {
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
    /** With backup.s3: its credentials (backupS3AccessKey, backupS3SecretKey), secret. */
    readonly s3Credentials?: pulumi.Output<S3Credentials>;
}

/**
 * The S3 credentials as text, for preview's look at the repository (program.ts checkS3Repository,
 * which hands them to the container on stdin): read here, never logged, never in the plan.
 */
export function s3CredentialsText(): S3Credentials | undefined {
    const all = pulumi.runtime.allConfig();
    const [accessKey, secretKey] = S3_SECRET_KEYS.map((k) => all[`${NAMESPACE}:${k}`]);
    return accessKey !== undefined && secretKey !== undefined ? { accessKey, secretKey } : undefined;
}

/** Reads this stack's config through Pulumi and validates it. */
export function loadConfig(): LoadedConfig {
    const all = pulumi.runtime.allConfig();
    const misplaced = misplacedSecrets(all);
    const raw: Record<string, string> = {};
    for (const [fullKey, value] of Object.entries(all)) {
        if (fullKey.startsWith(`${NAMESPACE}:`)) {
            const key = fullKey.slice(NAMESPACE.length + 1);
            // A secret's text never enters the plan: only that it is set (another key's, not even that: refused).
            if (!misplaced.includes(key)) {
                raw[key] = SECRET_KEYS.has(key) ? "(secret)" : value;
            }
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
        secretProblems: secretProblems({ replicationPassword: all[`${NAMESPACE}:replicationPassword`], plain: plainSecrets(all), misplaced,
            values: Object.fromEntries([...SECRET_KEYS].map((k) => [k, all[`${NAMESPACE}:${k}`]])) }),
    });
    const config = new pulumi.Config(NAMESPACE);
    return {
        ...cfg,
        superuserPassword: config.getSecret("superuserPassword"),
        replicationPassword: config.getSecret("replicationPassword"),
        ...(cfg.backup?.s3 ? { s3Credentials: pulumi.secret(pulumi.all([config.requireSecret("backupS3AccessKey"),
            config.requireSecret("backupS3SecretKey")]).apply(([accessKey, secretKey]) => ({ accessKey, secretKey }))) } : {}),
    };
}
