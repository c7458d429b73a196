// What the status tool reads: the stack's outputs and state through the Automation API (the
// stack's own backend and secrets, found the way scripts/deploy.sh sets them), then every node
// over SQL and every container through the docker CLI on the node's own engine, all in parallel
// and each within a bound, so an engine that does not answer (a lost host) never hangs it.

import { ARCHIVER_SQL, archiverFromRow } from "../components/archive";
import { DEFAULTS } from "../components/config";
import { parseRepoInfo } from "../components/restore";
import { Client } from "pg";
import { dockerCli as runDocker, saysNoSuch } from "../components/docker-cli";
import { openWorkspace, PulumiCliMissing, WorkspaceOptions } from "../components/project";
import { movedFrom, readProof, repositoryName, unreadableRecord } from "../components/pgbackrest";
import { BackupProbe, ContainerProbe, DIVERGED_NOTE, EndpointProbe, NodeProbe, Observation, Plan, PlannedNode, ReplicationRow, SlotRow } from "./model";

/** Bounds on each probe: connecting, one statement, a whole node, one docker call. */
export const CONNECT_TIMEOUT_MS = 2000;
export const STATEMENT_TIMEOUT_MS = 2000;
export const NODE_BOUND_MS = 6000;
export const DOCKER_TIMEOUT_MS = 5000;

/** A stack that cannot be read: exit code 2, the message says why. */
export class StackUnreadable extends Error {}

/** Where the stack is read from: the project folder and the environment (components/project.ts). */
export type ReadOptions = WorkspaceOptions;

/** The CLI's own words from an Automation API error: its "error:" lines, else its first lines. */
export function cliReason(err: unknown): string {
    const text = String((err as Error)?.message ?? err);
    const errors = text.split("\n").map((l) => l.trim()).filter((l) => /^error:/i.test(l));
    return [...new Set(errors.length > 0 ? errors : text.split("\n").filter((l) => l.trim()).slice(0, 3))].join("; ");
}

type Json = Record<string, any>;

/** The plan from the stack's outputs (see the README for the contract) and the container ids in its state. */
export async function readPlan(stack: string, opts: ReadOptions): Promise<Plan> {
    let outputs: Json;
    let resources: Json[];
    try {
        const ws = await openWorkspace(opts);
        const out = await ws.stackOutputs(stack);
        outputs = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.value]));
        resources = (await ws.exportStack(stack)).deployment?.resources ?? [];
    } catch (err) {
        if (err instanceof PulumiCliMissing) {
            throw new StackUnreadable(err.message);
        }
        throw new StackUnreadable(`cannot read stack ${stack}: ${cliReason(err)}`);
    }
    return planFromOutputs(stack, outputs, resources);
}

/** Pure: the plan from the stack's outputs (primary, nodes, replication, engine) and state resources. */
export function planFromOutputs(stack: string, outputs: Json, resources: Json[] = []): Plan {
    const primary = outputs.primary as Json | undefined;
    if (!primary || typeof primary.connectionString !== "string") {
        throw new StackUnreadable(`stack ${stack} has no primary among its outputs: it was never deployed, or was destroyed ` +
            `(run scripts/deploy.sh ${stack})`);
    }
    if (typeof primary.name !== "string" || !outputs.nodes || typeof outputs.nodes !== "object") {
        throw new StackUnreadable(`stack ${stack} was deployed by an older pg-replication (its outputs name no nodes): ` +
            `run scripts/deploy.sh ${stack} once with this version`);
    }
    const primaryName: string = primary.name;
    const containerIds = new Map<string, string>();
    for (const r of resources) {
        if (r.type === "docker:index/container:Container" && typeof r.outputs?.name === "string" && typeof r.id === "string") {
            containerIds.set(r.outputs.name, r.id);
        }
    }
    const engineHost = String(outputs.engine?.host ?? process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock");
    const raw: Json[] = Object.entries(outputs.nodes as Json).map(([name, n]) => ({ name, ...(n as Json) }));
    const nodes: PlannedNode[] = raw.map((n) => ({
        name: String(n.name),
        host: String(n.host),
        port: Number(n.port),
        address: typeof n.address === "string" ? n.address : undefined,
        containerName: String(n.containerName),
        // Stacks deployed before nodes could have engines of their own name none: the stack's.
        engine: typeof n.engine === "string" && n.engine !== "" ? n.engine : engineHost,
        role: n.role === "primary" || n.name === primaryName ? "primary" : "standby",
        syncState: typeof n.syncState === "string" ? n.syncState : undefined,
        connectionString: String(n.connectionString),
        containerId: containerIds.get(String(n.containerName)),
    }));
    // The declared primary first, then standbys by name: a stable order for rows and JSON.
    nodes.sort((a, b) => Number(b.name === primaryName) - Number(a.name === primaryName) || a.name.localeCompare(b.name));
    const rep = (outputs.replication ?? {}) as Json;
    return {
        stack,
        primary: primaryName,
        nodes,
        replication: {
            mode: String(rep.mode ?? "async"),
            user: rep.user,
            synchronousStandbyNames: String(rep.synchronousStandbyNames ?? ""),
            synchronousCommit: String(rep.synchronousCommit ?? "on"),
            walKeepSize: rep.walKeepSize,
            maxSlotWalKeepSize: rep.maxSlotWalKeepSize,
            archiveStallSeconds: typeof rep.archiveStallSeconds === "number" ? rep.archiveStallSeconds : DEFAULTS.archiveStallSeconds,
        },
        network: outputs.network,
        ...(typeof outputs.image === "string" ? { image: outputs.image } : {}),
        engineHost,
        ...(outputs.endpoints?.rw?.connectionString ? { endpoint: endpointPlan(outputs.endpoints.rw) } : {}),
        ...(outputs.endpoints?.ro?.connectionString ? { readEndpoint: endpointPlan(outputs.endpoints.ro) } : {}),
        ...moreEndpoints(outputs.endpoints, nodes, engineHost),
        // With backup.s3 the repository is the bucket (the volume keeps only the settings): named so in every line.
        ...(typeof outputs.backup?.volume === "string" ? { backup: { volume: repositoryName(outputs.backup), stanza: String(outputs.backup.stanza),
            ...(typeof outputs.backup.engine === "string" ? { engine: outputs.backup.engine } : {}),
            maxVerifiedAgeHours: typeof outputs.backup.maxVerifiedAgeHours === "number" ? outputs.backup.maxVerifiedAgeHours : 26,
            ...(typeof outputs.backup.schedule?.containerName === "string" ? { schedule: {
                containerName: outputs.backup.schedule.containerName, fullSeconds: Number(outputs.backup.schedule.fullSeconds),
                diffSeconds: Number(outputs.backup.schedule.diffSeconds ?? 0), incrSeconds: Number(outputs.backup.schedule.incrSeconds ?? 0),
            } } : {}) } } : {}),
    };
}

/** Every host's endpoints but the first's (outputs endpoints.byHost), each on the engine of the nodes of its host. */
function moreEndpoints(endpoints: Json | undefined, nodes: readonly PlannedNode[], engineHost: string): Pick<Plan, "moreEndpoints"> {
    const hosts = Object.entries((endpoints?.byHost ?? {}) as Record<string, Record<string, Record<string, unknown>>>)
        .filter(([host]) => host !== String(endpoints?.rw?.host));
    if (hosts.length === 0) {
        return {};
    }
    return { moreEndpoints: hosts.flatMap(([host, pair]) => (["rw", "ro"] as const).filter((kind) => pair[kind]?.connectionString).map((kind) =>
        ({ ...endpointPlan(pair[kind]), kind, engine: nodes.find((n) => n.host === host)?.engine ?? engineHost }))) };
}

/** An endpoint as the outputs give it (components/endpoint.ts EndpointOutput). */
function endpointPlan(o: Record<string, unknown>): NonNullable<Plan["endpoint"]> {
    return { host: String(o.host), port: Number(o.port), containerName: String(o.containerName), connectionString: String(o.connectionString) };
}

const NODE_SQL = `
SELECT pg_is_in_recovery() AS in_recovery,
       (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier,
       current_setting('server_version') AS version,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS walfile,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_tli,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
       pg_last_wal_receive_lsn()::text AS receive_lsn,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       current_setting('synchronous_standby_names') AS ssn,
       current_setting('synchronous_commit') AS sc,
       pg_size_bytes(current_setting('max_slot_wal_keep_size'))::float8 AS max_slot_wal_keep_size,
       pg_size_bytes(current_setting('wal_keep_size'))::float8 AS wal_keep_size`;

const RECEIVER_SQL = "SELECT status, received_tli FROM pg_stat_wal_receiver";

const REPLICATION_SQL = `
SELECT application_name, client_addr::text, state, sync_state,
       sent_lsn::text, flush_lsn::text, replay_lsn::text,
       pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::float8 AS flush_lag_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 AS replay_lag_bytes,
       extract(epoch FROM write_lag)::float8 AS write_lag, extract(epoch FROM flush_lag)::float8 AS flush_lag,
       extract(epoch FROM replay_lag)::float8 AS replay_lag
  FROM pg_stat_replication ORDER BY application_name`;

const SLOTS_SQL = `
SELECT slot_name, slot_type, active, restart_lsn::text, wal_status,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 AS held
  FROM pg_replication_slots ORDER BY slot_name`;

function withBound<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout;
    const bound = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s (${what})`)), ms);
    });
    return Promise.race([p, bound]).finally(() => clearTimeout(timer));
}

/**
 * FN on one connection to URL, the whole bounded by NODE_BOUND_MS; never throws: a connection or
 * query that fails gives UNREACHABLE with the first line of why. `serverTimeout` sets the server's
 * statement_timeout too (not through PgBouncer, which refuses that startup parameter).
 */
async function onConnection<T>(url: string, what: string, serverTimeout: boolean, fn: (client: Client) => Promise<T>): Promise<T | { reachable: false; error: string }> {
    const client = new Client({
        connectionString: url,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
        ...(serverTimeout ? { statement_timeout: STATEMENT_TIMEOUT_MS } : {}),
        query_timeout: STATEMENT_TIMEOUT_MS + 500,
        application_name: "pg-replication-status",
    });
    // A server that goes away mid-session emits 'error' on the client; the query rejects anyway.
    client.on("error", () => undefined);
    const work = (async () => {
        await client.connect();
        return fn(client);
    })();
    try {
        return await withBound(NODE_BOUND_MS, what, work);
    } catch (err) {
        work.catch(() => undefined);
        return { reachable: false, error: String((err as Error)?.message ?? err).split("\n")[0] };
    } finally {
        client.end().catch(() => undefined);
    }
}

/** One node over SQL; never throws: a node that cannot be queried comes back unreachable, with why. */
export function probeNode(connectionString: string): Promise<NodeProbe> {
    return onConnection(connectionString, "node", true, async (client): Promise<NodeProbe> => {
        const [n] = (await client.query(NODE_SQL)).rows;
        const inRecovery: boolean = n.in_recovery;
        const receiver = inRecovery ? (await client.query(RECEIVER_SQL)).rows[0] : undefined;
        const replication: ReplicationRow[] = inRecovery ? [] : (await client.query(REPLICATION_SQL)).rows.map((r) => ({
            applicationName: r.application_name,
            clientAddr: r.client_addr,
            state: r.state,
            syncState: r.sync_state,
            sentLsn: r.sent_lsn,
            flushLsn: r.flush_lsn,
            replayLsn: r.replay_lsn,
            flushLagBytes: r.flush_lag_bytes,
            replayLagBytes: r.replay_lag_bytes,
            writeLagSeconds: r.write_lag,
            flushLagSeconds: r.flush_lag,
            replayLagSeconds: r.replay_lag,
        }));
        const slots: SlotRow[] = inRecovery ? [] : (await client.query(SLOTS_SQL)).rows.map((s) => ({
            name: s.slot_name,
            type: s.slot_type,
            active: s.active,
            restartLsn: s.restart_lsn,
            walStatus: s.wal_status,
            heldBytes: s.held,
        }));
        const archiver = inRecovery ? null : archiverFromRow((await client.query(ARCHIVER_SQL)).rows[0] ?? {});
        // A primary's timeline is in its current WAL file's name; a standby's is the one it receives.
        const timeline = n.walfile ? parseInt(String(n.walfile).slice(0, 8), 16) : receiver?.received_tli ?? n.checkpoint_tli;
        return {
            reachable: true,
            inRecovery,
            systemIdentifier: n.system_identifier,
            version: n.version,
            timeline: timeline === null || timeline === undefined ? null : Number(timeline),
            currentLsn: n.current_lsn,
            receiveLsn: n.receive_lsn,
            replayLsn: n.replay_lsn,
            receiverStatus: receiver?.status ?? null,
            synchronousStandbyNames: n.ssn,
            synchronousCommit: n.sc,
            maxSlotWalKeepSizeBytes: n.max_slot_wal_keep_size,
            walKeepSizeBytes: n.wal_keep_size,
            replication,
            slots,
            archiver,
        };
    });
}

/** Where a connection through the endpoint lands; never throws. */
export function probeEndpoint(connectionString: string): Promise<EndpointProbe> {
    return onConnection(connectionString, "endpoint", false, async (client): Promise<EndpointProbe> => {
        const [r] = (await client.query("SELECT host(inet_server_addr()) AS address, pg_is_in_recovery() AS in_recovery")).rows;
        return { reachable: true, address: String(r.address), inRecovery: r.in_recovery === true };
    });
}

/** pgBackRest is slower to answer than a query: it reads the repository. */
export const BACKUP_INFO_TIMEOUT_MS = 15_000;

/**
 * The repository as pgBackRest describes it, asked in a running node's container (each mounts it),
 * and the last verified restore; unreachable only when pgBackRest's answer is missing or not
 * understood. Never throws.
 */
export async function probeBackup(plan: Plan, at: Pick<PlannedNode, "containerName" | "engine"> | undefined,
    records: Pick<PlannedNode, "containerName" | "engine"> | undefined = at): Promise<BackupProbe> {
    if (!at) {
        return { reachable: false, error: "no node's container runs to ask pgBackRest in" };
    }
    const container = at.containerName;
    const [info, proof] = await Promise.all([
        dockerCli(at.engine, ["exec", "-u", "postgres", container, "pgbackrest", "--output=json", "info"], BACKUP_INFO_TIMEOUT_MS),
        // Across engines the records are in the settings volume on the first node's engine (plan.backup.engine).
        records ? readProof(records.engine, [records.containerName], DOCKER_TIMEOUT_MS)
            : Promise.resolve({ unread: `no node's container runs on ${plan.backup!.engine}, where the records are` })]);
    if (info.code !== 0) {
        return { reachable: false, error: info.timedOut ? `pgbackrest info gave no answer within ${seconds(BACKUP_INFO_TIMEOUT_MS)}`
            : info.stderr.trim().split("\n").pop() || `pgbackrest info exited with ${info.code}` };
    }
    const repo = parseRepoInfo(info.stdout, plan.backup!.stanza);
    if ("problem" in repo && !repo.noStanza) {
        return { reachable: false, error: repo.problem };
    }
    const read = proofRecords(proof, records?.containerName ?? container, repositoryName(plan.backup!));
    return {
        reachable: true,
        backups: "problem" in repo ? [] : repo.backups.map((b) => ({ label: b.label, type: b.type, stoppedAt: b.stopped * 1000 })),
        stanzaStatus: "problem" in repo ? "missing stanza" : repo.status,
        ...("unread" in read ? { verified: null, verifyFailed: null, proofUnread: read.unread } : read),
    };
}

/**
 * The proof records as status says them, or why they could not be read: records that could not be
 * read are not "never verified", and take nothing from what pgBackRest said of the repository.
 * Records of another repository than REPOSITORY (the config moved the backups, the next up sets
 * them aside: backup-check.sh) prove nothing of it, as preview says (pgbackrest.ts movedFrom).
 */
function proofRecords(proof: Awaited<ReturnType<typeof readProof>>, container: string, repository: string):
    Pick<Extract<BackupProbe, { reachable: true }>, "verified" | "verifyFailed"> | { unread: string } {
    if (!proof || "unread" in proof) {
        return { unread: proof?.unread ?? `no container ${container}` };
    }
    if (movedFrom(proof, repository)) {
        return { verified: null, verifyFailed: null };
    }
    const { verified, failed } = proof;
    if ("unreadable" in verified) {
        return { unread: unreadableRecord("verified", verified.unreadable) };
    }
    if ("unreadable" in failed) {
        return { unread: unreadableRecord("failed", failed.unreadable) };
    }
    return { verified: "record" in verified ? verified.record : null, verifyFailed: "record" in failed ? failed.record : null };
}

/** Where a node's volume is mounted (components/node.ts). */
const VOLUME_PATH = "/var/lib/postgresql/data";
/** Reading the note starts a container: more than an inspect, still bounded. */
export const NOTE_TIMEOUT_MS = 15_000;

interface DockerResult { code: number; stdout: string; stderr: string; timedOut: boolean }

/** One docker CLI call to one engine, killed at the bound (components/docker-cli.ts). */
async function dockerCli(host: string, args: string[], timeoutMs = DOCKER_TIMEOUT_MS): Promise<DockerResult> {
    const { err, stdout, stderr } = await runDocker(args, host, { timeoutMs });
    const timedOut = Boolean(err?.killed);
    const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
    return { code, stdout, stderr: timedOut ? "" : stderr || (err && !stderr ? String(err.message) : ""), timedOut };
}

const seconds = (ms: number) => `${ms / 1000} s`;

/** One container through the docker CLI on the node's engine; never throws. A fenced node's note is read too. */
export async function probeContainer(host: string, name: string, bounds = { dockerMs: DOCKER_TIMEOUT_MS, noteMs: NOTE_TIMEOUT_MS }): Promise<ContainerProbe> {
    const r = await dockerCli(host, ["container", "inspect", "--format", "{{json .}}", name], bounds.dockerMs);
    if (r.timedOut) {
        return { state: "unknown", silent: true, error: `does not answer within ${seconds(bounds.dockerMs)}` };
    }
    if (r.code !== 0) {
        return saysNoSuch(r.stderr)
            ? { state: "missing" }
            : { state: "unknown", error: r.stderr.trim() || `docker exited with ${r.code}` };
    }
    const c = JSON.parse(r.stdout);
    const probe: ContainerProbe = {
        state: c.State?.Running ? "running" : "stopped",
        id: c.Id,
        status: c.State?.Status,
        startedAt: c.State?.StartedAt,
        image: c.Config?.Image,
        restartPolicy: c.HostConfig?.RestartPolicy?.Name,
    };
    // Only a fenced node can hold a note, so a healthy cluster costs no extra container.
    if (probe.state !== "stopped" || probe.restartPolicy !== "no") {
        return probe;
    }
    const volume = (c.Mounts ?? []).find((m: Json) => m.Destination === VOLUME_PATH && m.Type === "volume")?.Name;
    if (typeof volume !== "string" || typeof probe.image !== "string") {
        return { ...probe, noteError: `no volume at ${VOLUME_PATH} or no image in its inspect` };
    }
    return { ...probe, ...await readNote(host, probe.image, volume, helperLabels(c.Config?.Labels ?? {}), bounds.noteMs) };
}

/** The stack's and the node's labels of a node container, as the project's throwaway containers carry them. */
export function helperLabels(labels: Record<string, string>): Record<string, string> {
    const own = ["pg-replication.project", "pg-replication.stack", "pg-replication.node"];
    return { ...Object.fromEntries(own.filter((k) => k in labels).map((k) => [k, labels[k]])), "pg-replication.role": "helper" };
}

/**
 * The `diverged` note in a node's volume, read by a throwaway container on the node's engine:
 * no network, the volume read-only, the node's own image (never pulled), removed on exit.
 */
async function readNote(host: string, image: string, volume: string,
    labels: Record<string, string>, timeoutMs: number): Promise<Pick<ContainerProbe, "divergedNote" | "noteError">> {
    const NONE = 3;
    const r = await dockerCli(host, ["run", "--rm", "--pull", "never", "--network", "none", "--user", "postgres",
        ...Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
        "-v", `${volume}:${VOLUME_PATH}:ro`, "--entrypoint", "/bin/sh", image,
        "-c", `[ -e ${DIVERGED_NOTE} ] || exit ${NONE}; cat ${DIVERGED_NOTE}`], timeoutMs);
    if (r.code === 0) {
        return { divergedNote: r.stdout.trim() };
    }
    if (r.code === NONE) {
        return { divergedNote: null };
    }
    return { noteError: r.timedOut ? `no answer within ${seconds(timeoutMs)}` : r.stderr.trim().split("\n").pop() || `docker exited with ${r.code}` };
}

/** Every node and container at once, each container on its node's own engine; bounded by the slowest probe's bound. */
export async function observe(plan: Plan): Promise<Observation> {
    const checkedAt = new Date().toISOString();
    const [entries, endpoint, readEndpoint, moreEndpoints] = await Promise.all([Promise.all(plan.nodes.map(async (n) => {
        const [probe, container] = await Promise.all([probeNode(n.connectionString), probeContainer(n.engine, n.containerName)]);
        return [n.name, { probe, container }] as const;
    })), plan.endpoint ? probeEndpoint(plan.endpoint.connectionString) : undefined,
    plan.readEndpoint ? probeEndpoint(plan.readEndpoint.connectionString) : undefined,
    plan.moreEndpoints ? Promise.all(plan.moreEndpoints.map((e) => probeEndpoint(e.connectionString))) : undefined]);
    const running = plan.nodes.filter((n) => entries.find(([name]) => name === n.name)?.[1].container.state === "running");
    const recordsEngine = plan.backup?.engine ?? running[0]?.engine;
    const schedule = plan.backup?.schedule;
    const [backup, backupScheduler] = await Promise.all([
        plan.backup ? probeBackup(plan, running[0], running.find((n) => n.engine === recordsEngine)) : undefined,
        // The scheduler runs on the nodes' engine (a schedule is on one), which a stack's own engine need not be.
        schedule ? probeContainer(plan.nodes[0]?.engine ?? plan.engineHost, schedule.containerName) : undefined]);
    return { checkedAt, nodes: Object.fromEntries(entries), ...(endpoint ? { endpoint } : {}), ...(readEndpoint ? { readEndpoint } : {}),
        ...(moreEndpoints ? { moreEndpoints } : {}),
        ...(backup ? { backup } : {}), ...(backupScheduler ? { backupScheduler } : {}) };
}
