// Stand-in for the docker provider 5.0.0: pulumi-docker v5.0.0 (the TF bridge v3.126.0 over
// kreuzwerker/terraform-provider-docker v4.2.0), for exactly the resources and properties this
// program declares. Every behaviour is a row of RULES; anything else fails with StandInError.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DockerEngine, EngineError, engineFor, singleFileTar, versionLessThan } from "./docker-engine";
import {
    CheckResult, DiffKind, DiffResult, hasUnknown, InitError, Props, ProviderContext, ResourceHandler, Rule,
    StandInError, StandInProvider, UNKNOWN,
} from "./provider";

const KW = "kreuzwerker/terraform-provider-docker@619686ddb44a889cb24fc194faf8361ef9f03738 internal/provider/";
const PD = "pulumi/pulumi-docker@c2baf6a4997f3f53052ee9284bcf2ef0cf8081ae provider/";
const TB = "pulumi/pulumi-terraform-bridge@v3.126.0 pkg/tfbridge/";

export const RULES: readonly Rule[] = [
    { id: "config.host", behaviour: "The engine is docker:host, else DOCKER_HOST (non-empty), else unix:///var/run/docker.sock; the docker CLI's current context (~/.docker/config.json) is never read.", source: `${PD}resources.go:95-101; ${KW}provider.go:45-57` },
    { id: "config.context", behaviour: "docker:context, else DOCKER_CONTEXT, overrides host: the endpoint 'docker'.Host of the context whose meta.json Name matches, under ~/.docker/contexts/meta/*/; an unknown name fails Configure with \"Error loading Docker context '<name>': context '<name>' not found\".", source: `${KW}provider.go:59-64, 201-218, 257-294` },
    { id: "config.check", behaviour: "CheckConfig returns the configuration as given (defaults are applied at Configure, not stored); keys other than host/context (TLS, ssh_opts, registry_auth, ...) are not modelled and fail strictly.", source: `${TB}provider.go:514-606` },
    { id: "config.diff", behaviour: "DiffConfig reports changed keys but never replaces the provider: docker marks no config ForcesProviderReplace.", source: `${TB}provider.go:773-870; ${PD}resources.go:95-109` },
    { id: "config.ping", behaviour: "The first call pings the engine: \"Error pinging Docker server, please make sure that <host> is reachable and has a  '_ping' endpoint. Error: ...\"; the API version is negotiated down to the daemon's.", source: `${KW}config.go:116-205` },
    { id: "check.defaults", behaviour: "Check fills the TF schema defaults into the stored inputs (top level and inside list elements) and lists the filled names in __defaults; an old value that was a default is kept.", source: `${TB}provider.go:930-1066; ${TB}schema.go:738-973` },
    { id: "check.validate", behaviour: "restart must match ^(no|on-failure|always|unless-stopped)$ and health-check durations must parse as Go durations >= 0; otherwise a check failure with the provider's message.", source: `${KW}resource_docker_container.go:230-236, 1045-1096; ${KW}validators.go:92-140` },
    { id: "check.unmodelled", behaviour: "Any property this stand-in does not model fails Check with a StandInError naming it (\"not modelled by the stand-in\").", source: "stand-in policy (pg-replication team rules: strict when unsure)" },
    { id: "diff.computed", behaviour: "Diff compares the checked inputs with the stored outputs; an Optional+Computed attribute left unset never diffs, an unset Optional one diffs only against a non-zero stored value; sets compare without order.", source: `${TB}provider.go:1095-1280 (TF SDK v2 schemaMap.Diff)` },
    { id: "network.diff", behaviour: "Every Network attribute we use (name, driver, ipamConfigs, labels, ipamDriver) is ForceNew: any change replaces; no DeleteBeforeReplace from the provider.", source: `${KW}resource_docker_network.go:25-130; ${TB}provider.go:1252-1253` },
    { id: "network.create", behaviour: "NetworkCreate with labels, driver, IPAM {Driver: ipam_driver, Config: ipam_config} (CheckDuplicate on APIs < 1.44), then Read.", source: `${KW}resource_docker_network_funcs.go:26-84` },
    { id: "network.read", behaviour: "Read waits 2 s, then inspects: name, labels, driver, internal, attachable, ingress, ipv6, ipamDriver, ipamOptions, scope, options, ipamConfigs (subnet, ipRange, gateway, auxAddress when set); a missing network is gone.", source: `${KW}resource_docker_network_funcs.go:86-110, 155-200; ${KW}resource_docker_network_structures.go:11-38` },
    { id: "network.delete", behaviour: "Delete waits 2 s, treats a missing network as removed, retries \"has active endpoints\" after 5 s then every 10 s, and fails after 30 s: \"timeout while waiting for state to become 'removed' (last state: 'pending', timeout: 30s)\".", source: `${KW}resource_docker_network_funcs.go:17-24, 112-137, 202-224` },
    { id: "volume.diff", behaviour: "Volume name, labels and driver are ForceNew (name and driver Optional+Computed).", source: `${KW}resource_docker_volume.go:37-70` },
    { id: "volume.create", behaviour: "VolumeCreate with name, labels, driver; the id is the volume name; then Read: name, labels, driver, driverOpts, mountpoint; a missing volume is gone.", source: `${KW}resource_docker_volume.go:160-312` },
    { id: "volume.delete", behaviour: "Delete waits 2 s, removes with force, retries \"volume is in use\" (5 s, then 10 s) up to 30 s; other errors fail at once.", source: `${KW}resource_docker_volume.go:362-386, 429-445` },
    { id: "image.local", behaviour: "RemoteImage uses a local image of that name (inspect, then the non-dangling image list) without pulling; id = image id + name; imageId = sha256 id; repoDigest = its only RepoDigest, or the one starting with the name without tag, else \"\".", source: `${KW}resource_docker_image_funcs.go:34-54, 100-127, 162-184, 224-250, 349-386; ${KW}data_source_docker_image.go:63-100` },
    { id: "image.nopull", behaviour: "Where the real provider would pull (no local image of that name), the stand-in fails: it never pulls.", source: `stand-in policy; the pull is ${KW}resource_docker_image_funcs.go:362-366` },
    { id: "image.diff", behaviour: "name, platform, pullTriggers, triggers replace; keepLocally and forceRemove update in place (Update re-finds the image and reads it).", source: `${KW}resource_docker_image.go:35-110; ${KW}resource_docker_image_funcs.go:129-144` },
    { id: "image.delete", behaviour: "keepLocally true: delete does nothing; else the image is removed by name (force = forceRemove) if still local.", source: `${KW}resource_docker_image_funcs.go:146-222` },
    { id: "container.diff.replace", behaviour: "name, image, hostname, command, envs, labels, uploads, networksAdvanced, ports, volumes, stopSignal, stopTimeout, readOnly, networkMode, tty, stdinOpen are ForceNew: a change replaces.", source: `${KW}resource_docker_container.go:49-1000 (ForceNew flags)` },
    { id: "container.diff.update", behaviour: "healthcheck, wait, waitTimeout, restart, maxRetryCount, mustRun, destroyGraceSeconds, removeVolumes are not ForceNew: a change is an in-place update.", source: `${KW}resource_docker_container.go:76-128, 230-242, 826-830, 1045-1096` },
    { id: "container.diff.ports", behaviour: "ports differences are suppressed when old and new have the same length and every old port's internal port is in new with the same protocol, external and ip; a different length never suppresses.", source: `${KW}resource_docker_container.go:1192-1245` },
    { id: "container.dbr", behaviour: "A container replacement is always delete-before-replace (forced by pulumi-docker).", source: `${PD}resources.go:114-116; ${TB}provider.go:1252-1253` },
    { id: "container.create.sequence", behaviour: "The image must be local (no pull here); ContainerCreate (Init=false, RestartPolicy, PortBindings, Binds name:path:rw, Healthcheck in ns, Env, Cmd, Labels); with networksAdvanced: disconnect from bridge, NetworkConnect each with its ipv4Address; uploads; start; wait; then Read.", source: `${KW}resource_docker_container_funcs.go:43-503, 584-628, 673` },
    { id: "container.create.uploads", behaviour: "Each upload is one tar entry named by file, mode 0644 (0744 if executable, permissions wins), copied to / before start.", source: `${KW}resource_docker_container_funcs.go:505-582` },
    { id: "container.create.wait", behaviour: "wait polls inspect every second until Health.Status is healthy; after waitTimeout seconds: \"container failed to be in healthy state\"; with no healthcheck: the 'wait' without healthcheck error.", source: `${KW}resource_docker_container_funcs.go:590-628` },
    { id: "container.create.initerror", behaviour: "A failure after ContainerCreate (network, upload, start, wait) leaves the container and is reported as an initialization error carrying its id, with the planned state as outputs.", source: `${KW}resource_docker_container_funcs.go:460; ${TB}provider.go:1335-1390` },
    { id: "container.read.healthcheck", behaviour: "healthcheck reads back from Config.Healthcheck with Go Duration.String() spellings (\"2m0s\", \"1s\", \"0s\").", source: `${KW}resource_docker_container_funcs.go:954-965` },
    { id: "container.read.env-labels", behaviour: "envs, labels, uploads and volumes are never read back: the stored values stay.", source: `${KW}resource_docker_container_funcs.go:888-894` },
    { id: "container.read.networks", behaviour: "networksAdvanced is read back only when empty (import); networkDatas lists every attached network (name, ipAddress, ipPrefixLength, gateway, ipv6, macAddress); bridge from NetworkSettings.Bridge.", source: `${KW}resource_docker_container_funcs.go:783-808; ${KW}resource_docker_container_structures.go:61-81` },
    { id: "container.read.ports", behaviour: "ports are rebuilt from NetworkSettings.Ports, sorted by port, one entry per binding (internal, external, ip as Docker reports HostIp, protocol), when running or mustRun.", source: `${KW}resource_docker_container_funcs.go:797-804; ${KW}resource_docker_container_structures.go:35-59` },
    { id: "container.read.image", behaviour: "image reads back as the container's sha256 Image when the stored value starts with sha256:, else as Config.Image (the name as given, e.g. postgres:13).", source: `${KW}resource_docker_container_funcs.go:836-843` },
    { id: "container.read.stopped", behaviour: "A container that is not running reads back exitCode and mustRun=false, so the next up updates it and Update starts it again.", source: `${KW}resource_docker_container_funcs.go:810-825, 991-1007` },
    { id: "container.read.gone", behaviour: "A container missing from the container list reads as gone (dropped from state on refresh).", source: `${KW}resource_docker_container_funcs.go:762-773, 1127-1141` },
    { id: "container.update.applies", behaviour: "Update applies only restart, maxRetryCount, cpu and memory settings (ContainerUpdate) and starts a container whose mustRun went false -> true; healthcheck, wait, waitTimeout, destroyGraceSeconds change the state only. No read follows.", source: `${KW}resource_docker_container_funcs.go:985-1071` },
    { id: "container.delete.stop", behaviour: "Delete stops with timeout destroyGraceSeconds (0 when unset: the stop signal then an immediate kill), removes with force and v=removeVolumes, then waits for not-running.", source: `${KW}resource_docker_container_funcs.go:1073-1125` },
    { id: "container.delete.gone", behaviour: "Deleting a container that is already gone succeeds (\"No such container\" is ignored at stop, remove and wait).", source: `${KW}resource_docker_container_funcs.go:1086-1122; ${KW}helpers.go:113-121` },
    { id: "preview", behaviour: "In preview Create and Update return the planned state with computed attributes unknown and touch nothing.", source: `${TB}provider.go:1335-1356` },
    { id: "secrets.none", behaviour: "No attribute of Network, Volume, RemoteImage or Container is sensitive in the schema (uploads content included): outputs are secret only where the input was.", source: `${PD}cmd/pulumi-resource-docker/schema.json; ${KW}provider.go:126 (only registry_auth.password, not modelled)` },
];

// ---------------------------------------------------------------------------------------------
// Go durations (time.ParseDuration / Duration.String)

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Nanoseconds, or undefined when Go's time.ParseDuration would reject the text. */
export function parseGoDuration(text: string): number | undefined {
    let s = text;
    let sign = 1;
    if (s.startsWith("-") || s.startsWith("+")) {
        sign = s[0] === "-" ? -1 : 1;
        s = s.slice(1);
    }
    if (s === "0") {
        return 0;
    }
    if (s === "") {
        return undefined;
    }
    let total = 0;
    const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
    while (s !== "") {
        const m = re.exec(s);
        if (!m) {
            return undefined;
        }
        total += Number(m[1]) * UNIT_NS[m[2]];
        s = s.slice(m[0].length);
    }
    return sign * Math.round(total);
}

/** Go's Duration.String(). */
export function formatGoDuration(ns: number): string {
    if (ns === 0) {
        return "0s";
    }
    const neg = ns < 0 ? "-" : "";
    const d = Math.abs(ns);
    const trim = (v: string) => v.replace(/\.?0+$/, "");
    if (d < 1e3) {
        return `${neg}${d}ns`;
    }
    if (d < 1e6) {
        return `${neg}${trim((d / 1e3).toFixed(3))}µs`;
    }
    if (d < 1e9) {
        return `${neg}${trim((d / 1e6).toFixed(6))}ms`;
    }
    const h = Math.floor(d / 3600e9);
    const m = Math.floor((d % 3600e9) / 60e9);
    const secNs = d % 60e9;
    const secs = secNs % 1e9 === 0 ? String(secNs / 1e9) : trim((secNs / 1e9).toFixed(9));
    return h > 0 ? `${neg}${h}h${m}m${secs}s` : m > 0 ? `${neg}${m}m${secs}s` : `${neg}${secs}s`;
}

// ---------------------------------------------------------------------------------------------
// Schemas: the attributes we model, with their TF flags

type Kind = "scalar" | "list" | "set" | "object";

interface Attr {
    readonly kind: Kind;
    readonly forceNew?: boolean;
    readonly computed?: boolean;
    /** TF schema default, applied by Check. */
    readonly default?: unknown;
    /** Only this value is modelled (the stand-in does not implement the others). */
    readonly onlyDefault?: boolean;
    /** For list/set/object of objects: the modelled fields and their defaults. */
    readonly fields?: Readonly<Record<string, { readonly default?: unknown }>>;
}

type Schema = Readonly<Record<string, Attr>>;

const LABEL_FIELDS = { label: {}, value: {} };

const NETWORK: Schema = {
    name: { kind: "scalar", forceNew: true },
    driver: { kind: "scalar", forceNew: true, computed: true },
    ipamConfigs: { kind: "set", forceNew: true, computed: true, fields: { subnet: {}, gateway: {}, ipRange: {} } },
    labels: { kind: "set", forceNew: true, fields: LABEL_FIELDS },
    ipamDriver: { kind: "scalar", forceNew: true, default: "default", onlyDefault: true },
};

const VOLUME: Schema = {
    name: { kind: "scalar", forceNew: true, computed: true },
    labels: { kind: "set", forceNew: true, fields: LABEL_FIELDS },
    driver: { kind: "scalar", forceNew: true, computed: true },
};

const IMAGE: Schema = {
    name: { kind: "scalar", forceNew: true },
    keepLocally: { kind: "scalar" },
    forceRemove: { kind: "scalar" },
    platform: { kind: "scalar", forceNew: true, default: "", onlyDefault: true },
};

const CONTAINER: Schema = {
    name: { kind: "scalar", forceNew: true },
    image: { kind: "scalar", forceNew: true },
    hostname: { kind: "scalar", forceNew: true, computed: true },
    command: { kind: "list", forceNew: true, computed: true },
    envs: { kind: "set", forceNew: true, computed: true },
    labels: { kind: "set", forceNew: true, computed: true, fields: LABEL_FIELDS },
    uploads: { kind: "set", forceNew: true, fields: { file: {}, content: {}, executable: { default: false }, permissions: {} } },
    networksAdvanced: { kind: "set", forceNew: true, fields: { name: {}, ipv4Address: {} } },
    ports: { kind: "list", forceNew: true, fields: { internal: {}, external: {}, ip: { default: "0.0.0.0" }, protocol: { default: "tcp" } } },
    volumes: { kind: "set", forceNew: true, fields: { volumeName: {}, containerPath: {}, readOnly: {} } },
    healthcheck: {
        kind: "object", computed: true,
        fields: { tests: {}, interval: { default: "0s" }, timeout: { default: "0s" }, startPeriod: { default: "0s" }, startInterval: { default: "0s" }, retries: { default: 0 } },
    },
    stopSignal: { kind: "scalar", forceNew: true, computed: true },
    stopTimeout: { kind: "scalar", forceNew: true, computed: true },
    wait: { kind: "scalar", default: false },
    waitTimeout: { kind: "scalar", default: 60 },
    restart: { kind: "scalar", default: "no" },
    maxRetryCount: { kind: "scalar" },
    mustRun: { kind: "scalar", default: true },
    destroyGraceSeconds: { kind: "scalar" },
    removeVolumes: { kind: "scalar", default: true },
    containerReadRefreshTimeoutMilliseconds: { kind: "scalar", default: 15000 },
    // Defaults the bridge fills in; only their default behaviour is modelled.
    rm: { kind: "scalar", default: false, onlyDefault: true },
    readOnly: { kind: "scalar", forceNew: true, default: false, onlyDefault: true },
    start: { kind: "scalar", default: true, onlyDefault: true },
    attach: { kind: "scalar", default: false, onlyDefault: true },
    logs: { kind: "scalar", default: false, onlyDefault: true },
    memoryReservation: { kind: "scalar", default: 0, onlyDefault: true },
    networkMode: { kind: "scalar", forceNew: true, default: "bridge", onlyDefault: true },
    tty: { kind: "scalar", forceNew: true, default: false, onlyDefault: true },
    stdinOpen: { kind: "scalar", forceNew: true, default: false, onlyDefault: true },
};

/** Every attribute of the Container schema: outputs carry them all, null where nothing sets them. */
const CONTAINER_ALL = ["attach", "bridge", "capabilities", "cgroupParent", "cgroupnsMode", "command", "containerLogs",
    "containerReadRefreshTimeoutMilliseconds", "cpuPeriod", "cpuQuota", "cpuSet", "cpuShares", "cpus", "destroyGraceSeconds",
    "deviceReadBps", "deviceReadIops", "deviceRequests", "deviceWriteBps", "deviceWriteIops", "devices", "dns", "dnsOpts",
    "dnsSearches", "domainname", "entrypoints", "envs", "exitCode", "gpus", "groupAdds", "healthcheck", "hostname", "hosts",
    "image", "init", "ipcMode", "labels", "logDriver", "logOpts", "logs", "maxRetryCount", "memory", "memoryReservation",
    "memorySwap", "mounts", "mustRun", "name", "networkDatas", "networkMode", "networksAdvanced", "pidMode", "platform", "ports",
    "privileged", "publishAllPorts", "readOnly", "removeVolumes", "restart", "rm", "runtime", "securityOpts", "shmSize", "start",
    "stdinOpen", "stopSignal", "stopTimeout", "storageOpts", "sysctls", "tmpfs", "tty", "ulimits", "uploads", "user",
    "usernsMode", "volumes", "wait", "waitTimeout", "workingDir"];
const NETWORK_ALL = ["attachable", "driver", "ingress", "internal", "ipamConfigs", "ipamDriver", "ipamOptions", "ipv6", "labels", "name", "options", "scope"];
const VOLUME_ALL = ["cluster", "driver", "driverOpts", "labels", "mountpoint", "name"];
const IMAGE_ALL = ["build", "forceRemove", "imageId", "keepLocally", "name", "platform", "pullTriggers", "repoDigest", "triggers"];

const DEFAULTS_KEY = "__defaults";

// ---------------------------------------------------------------------------------------------
// Check

function checkInputs(type: string, schema: Schema, olds: Props, news: Props): Props {
    const out: Props = {};
    for (const [key, value] of Object.entries(news)) {
        if (key === DEFAULTS_KEY || value === null || value === undefined) {
            continue;
        }
        const attr = schema[key];
        if (!attr) {
            throw new StandInError(`${type}: property "${key}" is not modelled by the stand-in`);
        }
        if (attr.onlyDefault && value !== UNKNOWN && value !== attr.default) {
            throw new StandInError(`${type}: property "${key}" = ${JSON.stringify(value)} is not modelled by the stand-in (only its default ${JSON.stringify(attr.default)})`);
        }
        out[key] = attr.fields ? withNestedDefaults(type, key, attr, value) : value;
    }
    // Top-level TF defaults; an old value that was itself a default is kept (bridge schema.go:938-958).
    const oldDefaults = Array.isArray(olds[DEFAULTS_KEY]) ? new Set<string>(olds[DEFAULTS_KEY]) : undefined;
    const filled: string[] = [];
    for (const [key, attr] of Object.entries(schema)) {
        if (attr.default === undefined || key in out) {
            continue;
        }
        const useOld = key in olds && olds[key] !== null && (oldDefaults === undefined || oldDefaults.has(key));
        out[key] = useOld ? olds[key] : attr.default;
        filled.push(key);
    }
    out[DEFAULTS_KEY] = filled.sort();
    return out;
}

function withNestedDefaults(type: string, key: string, attr: Attr, value: unknown): unknown {
    const fill = (element: unknown): unknown => {
        if (typeof element !== "object" || element === null || Array.isArray(element)) {
            return element;
        }
        const result: Props = {};
        for (const [field, v] of Object.entries(element as Props)) {
            if (field === DEFAULTS_KEY || v === null || v === undefined) {
                continue;
            }
            if (!attr.fields![field]) {
                throw new StandInError(`${type}: property "${key}.${field}" is not modelled by the stand-in`);
            }
            result[field] = v;
        }
        const filled: string[] = [];
        for (const [field, spec] of Object.entries(attr.fields!)) {
            if (spec.default !== undefined && !(field in result)) {
                result[field] = spec.default;
                filled.push(field);
            }
        }
        result[DEFAULTS_KEY] = filled.sort();
        return result;
    };
    if (value === UNKNOWN) {
        return value;
    }
    return attr.kind === "object" ? fill(value) : Array.isArray(value) ? value.map(fill) : value;
}

function containerFailures(inputs: Props): { property: string; reason: string }[] {
    const failures: { property: string; reason: string }[] = [];
    const pattern = "^(no|on-failure|always|unless-stopped)$";
    if (typeof inputs.restart === "string" && !new RegExp(pattern).test(inputs.restart)) {
        failures.push({ property: "restart", reason: `'${inputs.restart}' doesn't match the pattern '${pattern}'` });
    }
    const hc = inputs.healthcheck;
    if (hc && typeof hc === "object") {
        for (const field of ["interval", "timeout", "startPeriod", "startInterval"]) {
            const v = hc[field];
            if (typeof v !== "string" || v === UNKNOWN) {
                continue;
            }
            const ns = parseGoDuration(v);
            if (ns === undefined) {
                failures.push({ property: `healthcheck.${field}`, reason: `'${v}' is not a valid duration` });
            } else if (ns < 0) {
                failures.push({ property: `healthcheck.${field}`, reason: `'${v}' duration must not be negative` });
            }
        }
    }
    for (const port of Array.isArray(inputs.ports) ? inputs.ports : []) {
        if (port && typeof port === "object" && port.external === undefined) {
            throw new StandInError("docker:index/container:Container: a port without \"external\" (a random host port) is not modelled by the stand-in");
        }
    }
    return failures;
}

// ---------------------------------------------------------------------------------------------
// Diff

/** TF's view of "unset": null, "", 0, false, empty list/object, and the bridge's __defaults bookkeeping. */
function normalize(value: unknown): unknown {
    if (value === null || value === undefined || value === "" || value === 0 || value === false) {
        return undefined;
    }
    if (Array.isArray(value)) {
        const items = value.map(normalize).filter((v) => v !== undefined);
        return items.length === 0 ? undefined : items;
    }
    if (typeof value === "object") {
        const entries = Object.entries(value as Props)
            .filter(([k]) => k !== DEFAULTS_KEY)
            .map(([k, v]) => [k, normalize(v)] as const)
            .filter(([, v]) => v !== undefined)
            .sort(([a], [b]) => a.localeCompare(b));
        return entries.length === 0 ? undefined : Object.fromEntries(entries);
    }
    return value;
}

function sameValue(attr: Attr, a: unknown, b: unknown): boolean {
    const na = normalize(a);
    const nb = normalize(b);
    if (attr.kind === "set" && Array.isArray(na) && Array.isArray(nb)) {
        const key = (v: unknown) => JSON.stringify(v);
        return na.length === nb.length && JSON.stringify(na.map(key).sort()) === JSON.stringify(nb.map(key).sort());
    }
    return JSON.stringify(na) === JSON.stringify(nb);
}

/** suppressIfPortsDidNotChangeForMigrationV0ToV1, over whole lists. */
function portsSuppressed(olds: unknown, news: unknown): boolean {
    const o = Array.isArray(olds) ? olds as Props[] : [];
    const n = Array.isArray(news) ? news as Props[] : [];
    if (o.length !== n.length) {
        return false;
    }
    return o.every((op) => {
        for (const np of n) {
            if (np.internal !== op.internal) {
                continue;
            }
            if (np.protocol !== op.protocol) {
                if (n.some((p) => p.internal === op.internal && p.protocol === op.protocol)) {
                    continue;
                }
                return false;
            }
            return np.external === op.external && np.ip === op.ip;
        }
        return false;
    });
}

function applyIgnoreChanges(type: string, news: Props, oldInputs: Props, ignoreChanges: readonly string[]): Props {
    const result = { ...news };
    for (const p of ignoreChanges) {
        if (!/^[A-Za-z0-9_]+$/.test(p)) {
            throw new StandInError(`${type}: ignoreChanges path "${p}" (below the top level) is not modelled by the stand-in`);
        }
        if (p in oldInputs) {
            result[p] = oldInputs[p];
        } else {
            delete result[p];
        }
    }
    return result;
}

function diffAgainstState(type: string, schema: Schema, oldOutputs: Props, news: Props, dbr: boolean): DiffResult {
    const diffs: string[] = [];
    const replaces: string[] = [];
    const detailedDiff: Record<string, DiffKind> = {};
    for (const [key, attr] of Object.entries(schema)) {
        const nv = news[key];
        const ov = oldOutputs[key];
        if (nv === undefined || nv === null) {
            if (attr.computed || normalize(ov) === undefined) {
                continue;
            }
        } else if (!hasUnknown(nv)) {
            if (sameValue(attr, ov, nv)) {
                continue;
            }
            if (type === "docker:index/container:Container" && key === "ports" && portsSuppressed(ov, nv)) {
                continue;
            }
        }
        diffs.push(key);
        const base: "add" | "delete" | "update" = normalize(ov) === undefined ? "add" : (nv === undefined || nv === null) ? "delete" : "update";
        if (attr.forceNew) {
            replaces.push(key);
            detailedDiff[key] = `${base}-replace` as DiffKind;
        } else {
            detailedDiff[key] = base;
        }
    }
    return {
        changes: diffs.length > 0 ? "some" : "none",
        replaces: replaces.sort(),
        diffs: diffs.sort(),
        deleteBeforeReplace: dbr && replaces.length > 0,
        detailedDiff,
    };
}

// ---------------------------------------------------------------------------------------------
// Engine access

const DEFAULT_HOST = "unix:///var/run/docker.sock";

/** The host the provider would talk to for this configuration, resolved as Configure does. */
export function resolveHost(config: Props, env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string {
    const contextName = config.context || env.DOCKER_CONTEXT || "";
    if (contextName) {
        const dir = path.join(home, ".docker", "contexts", "meta");
        let entries: string[];
        try {
            entries = fs.readdirSync(dir);
        } catch (err) {
            throw new Error(`Error loading Docker context '${contextName}': could not read contexts directory: ${(err as Error).message}`);
        }
        for (const entry of entries) {
            try {
                const meta = JSON.parse(fs.readFileSync(path.join(dir, entry, "meta.json"), "utf8"));
                if (meta.Name === contextName && meta.Endpoints?.docker) {
                    return meta.Endpoints.docker.Host;
                }
            } catch {
                // skipped, as the provider skips unreadable meta files
            }
        }
        throw new Error(`Error loading Docker context '${contextName}': context '${contextName}' not found`);
    }
    return config.host || env.DOCKER_HOST || DEFAULT_HOST;
}

/** MakeClient: the cached client for the configured host, pinged before its first use. */
async function client(ctx: ProviderContext): Promise<DockerEngine> {
    const e = engineFor(resolveHost(ctx.config));
    try {
        await e.apiVersion();
    } catch (err) {
        throw new Error(`failed to create Docker client: ${(err as Error).message}`);
    }
    return e;
}

function isNotFound(err: unknown): boolean {
    return err instanceof EngineError && err.status === 404;
}

function ignorable(err: unknown, ...messages: string[]): boolean {
    const text = String((err as Error)?.message ?? err).toLowerCase();
    return messages.some((m) => text.includes(m.toLowerCase()));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * retry.StateChangeConf as the provider configures it for network/volume delete and network
 * read: Delay before the first refresh, then waits of max(2^n x 100 ms, MinTimeout) capped at 10 s.
 */
async function stateChange(delayMs: number, minTimeoutMs: number, timeoutMs: number, target: string,
    refresh: () => Promise<string>): Promise<void> {
    const started = Date.now();
    await sleep(delayMs);
    let wait = 100;
    for (;;) {
        const state = await refresh();
        if (state === target) {
            return;
        }
        wait = Math.min(Math.max(wait * 2, minTimeoutMs), 10_000);
        if (Date.now() + wait - started >= timeoutMs) {
            await sleep(Math.max(0, timeoutMs - (Date.now() - started)));
            throw new Error(`timeout while waiting for state to become '${target}' (last state: '${state}', timeout: ${timeoutMs / 1000}s)`);
        }
        await sleep(wait);
    }
}

const labelList = (labels: Record<string, string> | null | undefined) =>
    Object.entries(labels ?? {}).map(([label, value]) => ({ label, value }));
const labelMap = (labels: unknown) =>
    Object.fromEntries((Array.isArray(labels) ? labels : []).map((l: Props) => [l.label, l.value]));

/** Outputs come from the TF state: every schema attribute, no __defaults bookkeeping. */
function withAll(all: readonly string[], values: Props): Props {
    const out: Props = Object.fromEntries(all.map((k) => [k, null]));
    for (const [k, v] of Object.entries(values)) {
        if (k !== DEFAULTS_KEY) {
            out[k] = withoutDefaults(v);
        }
    }
    return out;
}

function withoutDefaults(value: unknown): unknown {
    if (Array.isArray(value)) {
        return value.map(withoutDefaults);
    }
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).filter(([k]) => k !== DEFAULTS_KEY).map(([k, v]) => [k, withoutDefaults(v)]));
    }
    return value;
}

/** The planned state of a preview: inputs, computed attributes unknown. */
function planned(all: readonly string[], inputs: Props, computed: readonly string[]): Props {
    const out = withAll(all, inputs);
    for (const k of computed) {
        if (out[k] === null) {
            out[k] = UNKNOWN;
        }
    }
    out.id = UNKNOWN;
    return out;
}

// ---------------------------------------------------------------------------------------------
// Network

const NETWORK_TYPE = "docker:index/network:Network";

async function readNetwork(ctx: ProviderContext, id: string, base: Props): Promise<Props | undefined> {
    const e = await client(ctx);
    let found: Props | undefined;
    await stateChange(2000, 5000, 30_000, "all_fields", async () => {
        try {
            const n = (await e.call("GET", `/networks/${encodeURIComponent(id)}`)).body;
            if (n.Scope === "overlay") {
                throw new StandInError("overlay networks are not modelled by the stand-in");
            }
            found = n;
        } catch (err) {
            if (err instanceof StandInError) {
                throw err;
            }
            found = undefined;
        }
        return "all_fields";
    });
    if (!found) {
        return undefined;
    }
    const n = found;
    return withAll(NETWORK_ALL, {
        ...base,
        id: n.Id,
        name: n.Name,
        labels: labelList(n.Labels),
        driver: n.Driver,
        internal: n.Internal,
        attachable: n.Attachable,
        ingress: n.Ingress,
        ipv6: n.EnableIPv6,
        ipamDriver: n.IPAM?.Driver,
        ipamOptions: n.IPAM?.Options ?? null,
        scope: n.Scope,
        options: n.Options ?? {},
        ipamConfigs: (n.IPAM?.Config ?? []).map((c: Props) => Object.fromEntries(Object.entries({
            subnet: c.Subnet, ipRange: c.IPRange, gateway: c.Gateway,
            auxAddress: c.AuxAddress && Object.keys(c.AuxAddress).length > 0 ? c.AuxAddress : undefined,
        }).filter(([, v]) => v))),
    });
}

const network: ResourceHandler = {
    async check(_ctx, req) {
        return { inputs: checkInputs(NETWORK_TYPE, NETWORK, req.olds, req.news) };
    },
    async diff(_ctx, req) {
        return diffAgainstState(NETWORK_TYPE, NETWORK, req.oldOutputs, applyIgnoreChanges(NETWORK_TYPE, req.news, req.oldInputs, req.ignoreChanges), false);
    },
    async create(ctx, req) {
        const inputs = req.inputs;
        if (req.preview) {
            return { id: "", outputs: planned(NETWORK_ALL, inputs, ["driver", "internal", "ipamConfigs", "options", "scope"]) };
        }
        const e = await client(ctx);
        const body: Props = { Name: inputs.name };
        if (versionLessThan(await e.apiVersion(), "1.44")) {
            body.CheckDuplicate = true;
        }
        if (inputs.labels?.length) {
            body.Labels = labelMap(inputs.labels);
        }
        if (inputs.driver) {
            body.Driver = inputs.driver;
        }
        body.IPAM = {
            Driver: inputs.ipamDriver,
            ...(inputs.ipamConfigs?.length ? {
                Config: inputs.ipamConfigs.map((c: Props) => ({ Subnet: c.subnet ?? "", IPRange: c.ipRange ?? "", Gateway: c.gateway ?? "", AuxAddress: {} })),
            } : {}),
        };
        let id: string;
        try {
            id = (await e.call("POST", "/networks/create", { json: body })).body.Id;
        } catch (err) {
            throw new Error(`Unable to create network: ${(err as Error).message}`);
        }
        ctx.log(`network ${inputs.name} created: ${id}`);
        const outputs = await readNetwork(ctx, id, inputs);
        if (!outputs) {
            throw new Error(`network ${id} vanished right after its creation`);
        }
        return { id, outputs };
    },
    async read(ctx, req) {
        const outputs = await readNetwork(ctx, req.id, req.state);
        return outputs && { id: req.id, outputs, inputs: requireInputs(NETWORK_TYPE, req.inputs) };
    },
    async update() {
        // Every modelled attribute is ForceNew; the TF resource has no Update at all.
        throw new StandInError(`${NETWORK_TYPE}: an in-place update is not possible (every attribute is ForceNew)`);
    },
    async delete(ctx, req) {
        const e = await client(ctx);
        await stateChange(2000, 5000, 30_000, "removed", async () => {
            try {
                await e.call("GET", `/networks/${encodeURIComponent(req.id)}`);
            } catch {
                return "removed";
            }
            try {
                await e.call("DELETE", `/networks/${encodeURIComponent(req.id)}`);
            } catch (err) {
                if (ignorable(err, "has active endpoints")) {
                    ctx.log(`network ${req.id} still has active endpoints`);
                    return "pending";
                }
                throw err;
            }
            return "removed";
        });
    },
};

function requireInputs(type: string, inputs: Props): Props {
    if (!inputs || Object.keys(inputs).length === 0) {
        throw new StandInError(`${type}: read without stored inputs (import) is not modelled by the stand-in`);
    }
    return inputs;
}

// ---------------------------------------------------------------------------------------------
// Volume

const VOLUME_TYPE = "docker:index/volume:Volume";

async function readVolume(ctx: ProviderContext, id: string, base: Props): Promise<Props | undefined> {
    const e = await client(ctx);
    let v: Props;
    try {
        v = (await e.call("GET", `/volumes/${encodeURIComponent(id)}`)).body;
    } catch (err) {
        if (isNotFound(err)) {
            return undefined;
        }
        throw new Error(`Unable to inspect volume: ${(err as Error).message}`);
    }
    if (v.ClusterVolume) {
        throw new StandInError("cluster volumes are not modelled by the stand-in");
    }
    return withAll(VOLUME_ALL, {
        ...base,
        id: v.Name,
        name: v.Name,
        labels: labelList(v.Labels),
        driver: v.Driver,
        driverOpts: v.Options ?? null,
        mountpoint: v.Mountpoint,
    });
}

const volume: ResourceHandler = {
    async check(_ctx, req) {
        return { inputs: checkInputs(VOLUME_TYPE, VOLUME, req.olds, req.news) };
    },
    async diff(_ctx, req) {
        return diffAgainstState(VOLUME_TYPE, VOLUME, req.oldOutputs, applyIgnoreChanges(VOLUME_TYPE, req.news, req.oldInputs, req.ignoreChanges), false);
    },
    async create(ctx, req) {
        const inputs = req.inputs;
        if (req.preview) {
            return { id: "", outputs: planned(VOLUME_ALL, inputs, ["name", "driver", "mountpoint"]) };
        }
        const body: Props = {};
        if (inputs.name) {
            body.Name = inputs.name;
        }
        if (inputs.labels?.length) {
            body.Labels = labelMap(inputs.labels);
        }
        if (inputs.driver) {
            body.Driver = inputs.driver;
        }
        const e = await client(ctx);
        let name: string;
        try {
            name = (await e.call("POST", "/volumes/create", { json: body })).body.Name;
        } catch (err) {
            throw new Error(`Unable to create volume: ${(err as Error).message}`);
        }
        ctx.log(`volume ${name} created`);
        const outputs = await readVolume(ctx, name, inputs);
        if (!outputs) {
            throw new Error(`volume ${name} vanished right after its creation`);
        }
        return { id: name, outputs };
    },
    async read(ctx, req) {
        const outputs = await readVolume(ctx, req.id, req.state);
        return outputs && { id: req.id, outputs, inputs: requireInputs(VOLUME_TYPE, req.inputs) };
    },
    async update(_ctx, req) {
        // resourceDockerVolumeUpdate only touches cluster.availability, which is not modelled.
        return { outputs: withAll(VOLUME_ALL, { ...req.oldOutputs, ...req.news }) };
    },
    async delete(ctx, req) {
        const e = await client(ctx);
        await stateChange(2000, 5000, 30_000, "removed", async () => {
            try {
                await e.call("DELETE", `/volumes/${encodeURIComponent(req.id)}`, { query: { force: "true" } });
            } catch (err) {
                if (ignorable(err, "volume is in use")) {
                    ctx.log(`volume ${req.id} is still in use`);
                    return "in_use";
                }
                throw err;
            }
            return "removed";
        });
    },
};

// ---------------------------------------------------------------------------------------------
// RemoteImage

const IMAGE_TYPE = "docker:index/remoteImage:RemoteImage";

interface LocalImage {
    readonly Id: string;
    readonly RepoDigests?: string[] | null;
}

/** searchLocalImages: inspect by name, then the same id among the non-dangling images. */
async function findLocalImage(e: DockerEngine, name: string): Promise<LocalImage | undefined> {
    if (!name) {
        throw new Error("empty image name is not allowed");
    }
    const list: LocalImage[] = (await e.call("GET", "/images/json")).body;
    let inspected: Props;
    try {
        inspected = (await e.call("GET", `/images/${encodeURIComponent(name)}/json`)).body;
    } catch (err) {
        if (isNotFound(err)) {
            return undefined;
        }
        throw new Error(`unable to inspect image ${name}: ${(err as Error).message}`);
    }
    return list.find((i) => i.Id === inspected.Id);
}

function repoDigestOf(name: string, image: LocalImage): string {
    const digests = image.RepoDigests ?? [];
    if (digests.length === 0) {
        return "";
    }
    if (digests.length === 1) {
        return digests[0];
    }
    const colon = name.indexOf(":");
    const bare = colon === -1 ? name : name.slice(0, colon);
    return digests.find((d) => d.startsWith(bare)) ?? (() => {
        throw new StandInError(`image ${name}: several repo digests and none starting with its name is not modelled by the stand-in`);
    })();
}

async function findOrRefuse(ctx: ProviderContext, name: string): Promise<LocalImage> {
    const found = await findLocalImage(await client(ctx), name);
    if (!found) {
        throw new StandInError(`Unable to read Docker image into resource: image ${name} is not present locally, and the docker stand-in does not pull images (the real provider would pull it here)`);
    }
    return found;
}

function imageOutputs(name: string, image: LocalImage, base: Props): Props {
    return withAll(IMAGE_ALL, { ...base, id: image.Id + name, name, imageId: image.Id, repoDigest: repoDigestOf(name, image) });
}

const remoteImage: ResourceHandler = {
    async check(_ctx, req) {
        return { inputs: checkInputs(IMAGE_TYPE, IMAGE, req.olds, req.news) };
    },
    async diff(_ctx, req) {
        return diffAgainstState(IMAGE_TYPE, IMAGE, req.oldOutputs, applyIgnoreChanges(IMAGE_TYPE, req.news, req.oldInputs, req.ignoreChanges), false);
    },
    async create(ctx, req) {
        if (req.preview) {
            return { id: "", outputs: planned(IMAGE_ALL, req.inputs, ["imageId", "repoDigest"]) };
        }
        const image = await findOrRefuse(ctx, req.inputs.name);
        return { id: image.Id + req.inputs.name, outputs: imageOutputs(req.inputs.name, image, req.inputs) };
    },
    async read(ctx, req) {
        const name = req.state.name;
        const image = await findLocalImage(await client(ctx), name);
        return image && { id: image.Id + name, outputs: imageOutputs(name, image, req.state), inputs: requireInputs(IMAGE_TYPE, req.inputs) };
    },
    async update(ctx, req) {
        const base = { ...req.oldOutputs, ...req.news };
        if (req.preview) {
            return { outputs: withAll(IMAGE_ALL, base) };
        }
        const image = await findOrRefuse(ctx, req.news.name);
        return { outputs: imageOutputs(req.news.name, image, base) };
    },
    async delete(ctx, req) {
        const state = req.outputs;
        if (state.keepLocally) {
            return;
        }
        const e = await client(ctx);
        if (await findLocalImage(e, state.name)) {
            try {
                await e.call("DELETE", `/images/${encodeURIComponent(state.name)}`, { query: { force: String(Boolean(state.forceRemove)) } });
            } catch (err) {
                throw new Error(`Unable to remove Docker image: ${(err as Error).message}`);
            }
        }
    },
};

// ---------------------------------------------------------------------------------------------
// Container

const CONTAINER_TYPE = "docker:index/container:Container";
const CONTAINER_COMPUTED = ["bridge", "command", "containerLogs", "entrypoints", "envs", "exitCode", "healthcheck", "hostname",
    "init", "ipcMode", "labels", "logDriver", "networkDatas", "platform", "runtime", "securityOpts", "shmSize", "stopSignal", "stopTimeout"];

function containerCreateBody(inputs: Props): { config: Props; query: Record<string, string> } {
    const config: Props = {
        Image: inputs.image,
        Hostname: inputs.hostname ?? "",
        Domainname: "",
        Tty: false,
        OpenStdin: false,
        StopSignal: inputs.stopSignal ?? "",
    };
    if (inputs.stopTimeout !== undefined && inputs.stopTimeout !== null) {
        config.StopTimeout = inputs.stopTimeout;
    }
    if (inputs.envs?.length) {
        config.Env = inputs.envs;
    }
    if (inputs.command?.length) {
        if (inputs.command.some((c: string) => c === "")) {
            throw new Error("values for command may not be empty");
        }
        config.Cmd = inputs.command;
    }
    const exposed: Props = {};
    const bindings: Record<string, Props[]> = {};
    for (const p of inputs.ports ?? []) {
        const key = `${p.internal}/${p.protocol}`;
        exposed[key] = {};
        (bindings[key] ??= []).push({ HostIp: p.ip, HostPort: String(p.external) });
    }
    if (Object.keys(exposed).length > 0) {
        config.ExposedPorts = exposed;
    }
    const volumes: Props = {};
    const binds: string[] = [];
    for (const v of inputs.volumes ?? []) {
        if (!v.containerPath) {
            throw new Error("Unable to parse volumes: volume entry without container path or source container");
        }
        volumes[v.containerPath] = {};
        if (v.volumeName) {
            binds.push(`${v.volumeName}:${v.containerPath}:${v.readOnly ? "ro" : "rw"}`);
        }
    }
    if (Object.keys(volumes).length > 0) {
        config.Volumes = volumes;
    }
    if (inputs.labels?.length) {
        config.Labels = labelMap(inputs.labels);
    }
    const hc = inputs.healthcheck;
    if (hc) {
        config.Healthcheck = {
            Test: hc.tests ?? [],
            Interval: parseGoDuration(hc.interval) ?? 0,
            Timeout: parseGoDuration(hc.timeout) ?? 0,
            StartPeriod: parseGoDuration(hc.startPeriod) ?? 0,
            StartInterval: parseGoDuration(hc.startInterval) ?? 0,
            Retries: hc.retries ?? 0,
        };
    }
    config.HostConfig = {
        Privileged: false,
        PublishAllPorts: false,
        RestartPolicy: { Name: inputs.restart, MaximumRetryCount: inputs.maxRetryCount ?? 0 },
        Runtime: "",
        Mounts: [],
        AutoRemove: false,
        ReadonlyRootfs: false,
        LogConfig: { Type: "" },
        NetworkMode: inputs.networkMode,
        Init: false,
        ...(Object.keys(bindings).length > 0 ? { PortBindings: bindings } : {}),
        ...(binds.length > 0 ? { Binds: binds } : {}),
    };
    return { config, query: { name: inputs.name } };
}

/** resourceDockerContainerRead over the state `base` (planned or stored); undefined when gone. */
async function readContainer(ctx: ProviderContext, id: string, base: Props): Promise<Props | undefined> {
    const e = await client(ctx);
    const list: Props[] = (await e.call("GET", "/containers/json", { query: { all: "true" } })).body;
    if (!list.some((c) => c.Id === id)) {
        return undefined;
    }
    const c = (await e.call("GET", `/containers/${id}/json`)).body;
    const s: Props = withAll(CONTAINER_ALL, base);
    const ns = c.NetworkSettings;
    if (ns) {
        s.bridge = ns.Bridge ?? "";
        if (c.State?.Running || s.mustRun) {
            const keys = Object.keys(ns.Ports ?? {}).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
            s.ports = keys.flatMap((key) => (ns.Ports[key] ?? []).map((b: Props) => ({
                internal: parseInt(key, 10),
                external: parseInt(b.HostPort, 10) || 0,
                ip: b.HostIp,
                protocol: key.split("/")[1],
            })));
        }
        s.networkDatas = Object.entries(ns.Networks ?? {}).map(([networkName, n]: [string, any]) => ({
            networkName,
            ipAddress: n.IPAddress,
            ipPrefixLength: n.IPPrefixLen,
            gateway: n.Gateway,
            globalIpv6Address: n.GlobalIPv6Address,
            globalIpv6PrefixLength: n.GlobalIPv6PrefixLen,
            ipv6Gateway: n.IPv6Gateway,
            macAddress: n.MacAddress,
        }));
    }
    if (!c.State?.Running) {
        s.exitCode = c.State?.ExitCode ?? 0;
        if (s.mustRun) {
            ctx.log(`container ${id} is stopped but mustRun is true: mustRun=false in state`);
            s.mustRun = false;
        }
    }
    const hcfg = c.HostConfig ?? {};
    const cfg = c.Config ?? {};
    Object.assign(s, {
        id: c.Id,
        name: String(c.Name).replace(/^\/+/, ""),
        rm: hcfg.AutoRemove,
        readOnly: hcfg.ReadonlyRootfs,
        image: String(base.image ?? "").startsWith("sha256:") ? c.Image : cfg.Image,
        hostname: cfg.Hostname,
        domainname: cfg.Domainname,
        command: cfg.Cmd ?? null,
        entrypoints: cfg.Entrypoint ?? null,
        user: cfg.User,
        dns: hcfg.Dns ?? null,
        dnsOpts: hcfg.DnsOptions ?? null,
        securityOpts: hcfg.SecurityOpt ?? null,
        dnsSearches: hcfg.DnsSearch ?? null,
        publishAllPorts: hcfg.PublishAllPorts,
        restart: hcfg.RestartPolicy?.Name,
        maxRetryCount: hcfg.RestartPolicy?.MaximumRetryCount,
        init: hcfg.Init ?? false,
        workingDir: cfg.WorkingDir,
        runtime: hcfg.Runtime,
        platform: c.Platform,
        memory: Math.floor((hcfg.Memory ?? 0) / 1024 / 1024),
        memoryReservation: Math.floor((hcfg.MemoryReservation ?? 0) / 1024 / 1024),
        memorySwap: hcfg.MemorySwap > 0 ? Math.floor(hcfg.MemorySwap / 1024 / 1024) : hcfg.MemorySwap,
        shmSize: Math.floor((hcfg.ShmSize ?? 0) / 1024 / 1024),
        cpuShares: hcfg.CpuShares,
        cpuSet: hcfg.CpusetCpus,
        logDriver: hcfg.LogConfig?.Type,
        networkMode: hcfg.NetworkMode,
        pidMode: hcfg.PidMode,
        usernsMode: hcfg.UsernsMode,
        ipcMode: hcfg.IpcMode,
        privileged: hcfg.Privileged,
        tty: cfg.Tty,
        stdinOpen: cfg.OpenStdin,
        stopSignal: cfg.StopSignal ?? "",
        stopTimeout: cfg.StopTimeout ?? 0,
    });
    if (cfg.Healthcheck) {
        const h = cfg.Healthcheck;
        s.healthcheck = {
            tests: h.Test ?? null,
            interval: formatGoDuration(h.Interval ?? 0),
            timeout: formatGoDuration(h.Timeout ?? 0),
            startPeriod: formatGoDuration(h.StartPeriod ?? 0),
            startInterval: formatGoDuration(h.StartInterval ?? 0),
            retries: h.Retries ?? 0,
        };
    }
    return s;
}

/** The state the SDK keeps when Create fails after SetId: the planned values, nothing read. */
function plannedContainer(id: string, inputs: Props): Props {
    return { ...withAll(CONTAINER_ALL, inputs), id };
}

async function waitHealthy(ctx: ProviderContext, id: string, timeoutSeconds: number): Promise<void> {
    const deadline = Date.now() + timeoutSeconds * 1000;
    for (;;) {
        const c = (await (await client(ctx)).call("GET", `/containers/${id}/json`)).body;
        if (!c.State?.Health) {
            throw new Error("you have supplied a 'wait' argument, but the container does not have a healthcheck defined. Please remove the 'wait' argument or add a 'healthcheck' attribute");
        }
        if (c.State.Health.Status === "healthy") {
            return;
        }
        if (Date.now() + 1000 > deadline) {
            await sleep(Math.max(0, deadline - Date.now()));
            throw new Error("container failed to be in healthy state");
        }
        await sleep(1000);
    }
}

const container: ResourceHandler = {
    async check(_ctx, req) {
        const inputs = checkInputs(CONTAINER_TYPE, CONTAINER, req.olds, req.news);
        const failures = containerFailures(inputs);
        return failures.length > 0 ? { inputs, failures } : { inputs };
    },
    async diff(_ctx, req) {
        return diffAgainstState(CONTAINER_TYPE, CONTAINER, req.oldOutputs, applyIgnoreChanges(CONTAINER_TYPE, req.news, req.oldInputs, req.ignoreChanges), true);
    },
    async create(ctx, req) {
        const inputs = req.inputs;
        if (req.preview) {
            return { id: "", outputs: planned(CONTAINER_ALL, inputs, CONTAINER_COMPUTED) };
        }
        const e = await client(ctx);
        if (!(await findLocalImage(e, inputs.image))) {
            throw new StandInError(`Unable to create container with image ${inputs.image}: not present locally, and the docker stand-in does not pull images (the real provider would pull it here)`);
        }
        const { config, query } = containerCreateBody(inputs);
        let id: string;
        try {
            id = (await e.call("POST", "/containers/create", { json: config, query })).body.Id;
        } catch (err) {
            throw new Error(`Unable to create container: ${(err as Error).message}`);
        }
        ctx.log(`container ${inputs.name} created: ${id}`);
        try {
            if (inputs.networksAdvanced?.length) {
                try {
                    await e.call("POST", "/networks/bridge/disconnect", { json: { Container: id, Force: false } });
                } catch (err) {
                    if (!ignorable(err, "is not connected to the network bridge")) {
                        throw new Error(`Unable to disconnect the default network: ${(err as Error).message}`);
                    }
                }
                for (const n of inputs.networksAdvanced) {
                    const endpoint = {
                        Aliases: [], IPAMConfig: { IPv4Address: n.ipv4Address ?? "", IPv6Address: "", LinkLocalIPs: [] },
                        MacAddress: "", DriverOpts: {}, GwPriority: 0,
                    };
                    try {
                        await e.call("POST", `/networks/${encodeURIComponent(n.name)}/connect`, { json: { Container: id, EndpointConfig: endpoint } });
                    } catch (err) {
                        throw new Error(`Unable to connect to network '${n.name}': ${(err as Error).message}`);
                    }
                }
            }
            for (const u of inputs.uploads ?? []) {
                if (typeof u.content !== "string" || u.content === "") {
                    throw new Error("error with upload content: one of 'content', 'content_base64', or 'source' must be set");
                }
                const mode = u.permissions ? parseInt(u.permissions, 8) : u.executable ? 0o744 : 0o644;
                const tar = singleFileTar(u.file, Buffer.from(u.content, "utf8"), mode, new Date());
                try {
                    await e.call("PUT", `/containers/${id}/archive`, { query: { path: "/" }, tar });
                } catch (err) {
                    throw new Error(`Unable to upload volume content: ${(err as Error).message}`);
                }
            }
            try {
                await e.call("POST", `/containers/${id}/start`);
            } catch (err) {
                throw new Error(`Unable to start container: ${(err as Error).message}`);
            }
            if (inputs.wait) {
                await waitHealthy(ctx, id, inputs.waitTimeout);
            }
        } catch (err) {
            if (err instanceof StandInError) {
                throw err;
            }
            const reason = `creating ${req.urn}: ${(err as Error).message}`;
            throw new InitError(reason, id, plannedContainer(id, inputs), [reason]);
        }
        const outputs = await readContainer(ctx, id, inputs);
        if (!outputs) {
            throw new InitError(`container ${id} vanished after its creation`, id, plannedContainer(id, inputs), [`container ${id} vanished after its creation`]);
        }
        return { id, outputs };
    },
    async read(ctx, req) {
        const outputs = await readContainer(ctx, req.id, req.state);
        return outputs && { id: outputs.id, outputs, inputs: requireInputs(CONTAINER_TYPE, req.inputs) };
    },
    async update(ctx, req) {
        const old = req.oldOutputs;
        // The planned state: configured values replace the stored ones; unset Optional+Computed ones stay.
        const next: Props = withAll(CONTAINER_ALL, old);
        for (const [key, attr] of Object.entries(CONTAINER)) {
            const v = req.news[key];
            if (v !== undefined && v !== null) {
                next[key] = v;
            } else if (!attr.computed) {
                next[key] = null;
            }
        }
        if (req.preview) {
            return { outputs: next };
        }
        const e = await client(ctx);
        if (!old.mustRun && next.mustRun) {
            ctx.log(`mustRun false -> true: starting container ${req.id}`);
            try {
                await e.call("POST", `/containers/${req.id}/start`);
            } catch (err) {
                throw new Error(`Unable to start container: ${(err as Error).message}`);
            }
        }
        const changed = (k: string) => JSON.stringify(normalize(old[k])) !== JSON.stringify(normalize(next[k]));
        if (["restart", "maxRetryCount"].some(changed)) {
            const body = {
                RestartPolicy: { Name: next.restart, MaximumRetryCount: next.maxRetryCount ?? 0 },
                CpuShares: 0, Memory: 0, MemoryReservation: (next.memoryReservation ?? 0) * 1024 * 1024, CpusetCpus: "",
            };
            try {
                await e.call("POST", `/containers/${req.id}/update`, { json: body });
            } catch (err) {
                throw new Error(`Unable to update a container: ${(err as Error).message}`);
            }
            ctx.log(`container ${req.id} updated: restart=${next.restart}`);
        }
        return { outputs: next };
    },
    async delete(ctx, req) {
        const e = await client(ctx);
        const state = req.outputs;
        const id = req.id;
        if (state.attach) {
            throw new StandInError(`${CONTAINER_TYPE}: delete of an attached container is not modelled by the stand-in`);
        }
        const timeout = state.destroyGraceSeconds > 0 ? state.destroyGraceSeconds : 0;
        ctx.log(`stopping container ${id} with timeout ${timeout}`);
        try {
            await e.call("POST", `/containers/${id}/stop`, { query: { t: String(timeout) } });
        } catch (err) {
            if (!ignorable(err, "No such container")) {
                throw new Error(`Error stopping container ${id}: ${(err as Error).message}`);
            }
        }
        try {
            await e.call("DELETE", `/containers/${id}`, { query: { v: String(state.removeVolumes !== false), force: "true" } });
        } catch (err) {
            if (!ignorable(err, "No such container", "is already in progress")) {
                throw new Error(`Error deleting container ${id}: ${(err as Error).message}`);
            }
        }
        try {
            await e.call("POST", `/containers/${id}/wait`, { query: { condition: "not-running" } });
        } catch (err) {
            if (!ignorable(err, "No such container", "is already in progress")) {
                throw new Error(`Error waiting for container removal '${id}': ${(err as Error).message}`);
            }
        }
    },
};

// ---------------------------------------------------------------------------------------------
// Provider

const CONFIG_KEYS = new Set(["host", "context", "version"]);

export const dockerStandIn: StandInProvider = {
    name: "docker",
    version: "5.0.0",
    rules: RULES,
    secrets: { kind: "bridge", sensitive: {} },
    async checkConfig(_olds, news): Promise<CheckResult> {
        for (const key of Object.keys(news)) {
            if (!CONFIG_KEYS.has(key)) {
                throw new StandInError(`docker provider configuration "${key}" is not modelled by the stand-in`);
            }
        }
        return { inputs: news };
    },
    async diffConfig(oldInputs, _oldOutputs, news): Promise<DiffResult> {
        const keys = new Set([...Object.keys(oldInputs), ...Object.keys(news)]);
        const diffs = [...keys].filter((k) => JSON.stringify(oldInputs[k] ?? null) !== JSON.stringify(news[k] ?? null)).sort();
        return {
            changes: diffs.length > 0 ? "some" : "none",
            replaces: [],
            diffs,
            deleteBeforeReplace: false,
            detailedDiff: Object.fromEntries(diffs.map((k) => [k, oldInputs[k] === undefined ? "add" : news[k] === undefined ? "delete" : "update"])),
        };
    },
    async configure(config): Promise<ProviderContext> {
        for (const env of ["DOCKER_CERT_PATH", "DOCKER_CA_MATERIAL", "DOCKER_CERT_MATERIAL", "DOCKER_KEY_MATERIAL", "DOCKER_SSH_OPTS"]) {
            if (process.env[env]) {
                throw new StandInError(`${env} is set: TLS and ssh options of the docker provider are not modelled by the stand-in`);
            }
        }
        const host = resolveHost(config);
        engineFor(host); // rejects hosts the stand-in cannot reach the way the provider would
        return {
            config,
            log: (message) => process.stderr.write(`[docker stand-in] ${message}\n`),
            engineLog: async () => undefined,
        };
    },
    resources: {
        [NETWORK_TYPE]: network,
        [VOLUME_TYPE]: volume,
        [IMAGE_TYPE]: remoteImage,
        [CONTAINER_TYPE]: container,
    },
};
