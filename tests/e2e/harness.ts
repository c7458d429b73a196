// End-to-end plumbing: the real Pulumi engine through the Automation API (inline program = the
// same declareCluster the CLI runs), a file:// backend in a temporary folder, a Postgres client
// from outside, and `docker` to look at what is left behind.

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConfigMap, LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { Client } from "pg";
import { declareCluster } from "../../components/cluster";
import { loadConfig } from "../../components/config";

export interface E2EStack {
    stack: Stack;
    name: string;
    /** Timed `up`; the timing is printed. */
    up(): Promise<Awaited<ReturnType<Stack["up"]>>>;
    destroyAndRemove(): Promise<void>;
    setConfig(values: Record<string, unknown>): Promise<void>;
    outputs(): Promise<Record<string, any>>;
}

export function log(message: string): void {
    process.stderr.write(`[e2e] ${message}\n`);
}

async function timed<T>(what: string, run: () => Promise<T>): Promise<T> {
    const started = Date.now();
    try {
        return await run();
    } finally {
        log(`${what} took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
}

function builtToolchain(): boolean {
    const cache = process.env.PG_REPLICATION_CACHE ?? path.join(os.homedir(), ".cache", "pg-replication");
    const found = (process.env.PATH ?? "").split(path.delimiter).find((dir) => fs.existsSync(path.join(dir, "pulumi")));
    return found !== undefined && path.resolve(found).startsWith(path.resolve(cache) + path.sep);
}

function configMap(values: Record<string, unknown>): ConfigMap {
    return Object.fromEntries(Object.entries(values).map(([k, v]) =>
        [`pg-replication:${k}`, { value: typeof v === "string" ? v : JSON.stringify(v), secret: k.endsWith("Password") }]));
}

export async function e2eStack(name: string, config: Record<string, unknown>): Promise<E2EStack> {
    const backend = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-e2e-"));
    const stack = await LocalWorkspace.createOrSelectStack({
        stackName: name,
        projectName: "pg-replication",
        program: async () => declareCluster(loadConfig()),
    }, {
        projectSettings: { name: "pg-replication", runtime: "nodejs", backend: { url: `file://${backend}` } },
        secretsProvider: "passphrase",
        envVars: {
            PULUMI_CONFIG_PASSPHRASE: "e2e-only-passphrase",
            PULUMI_BACKEND_URL: `file://${backend}`,
            PULUMI_SKIP_UPDATE_CHECK: "true",
            // A toolchain built by scripts/pulumi-toolchain.sh has its plugins installed and
            // must never try to download one; a usual install may fetch its own.
            ...(builtToolchain() ? { PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true" } : {}),
        },
    });
    await stack.setAllConfig(configMap(config));
    return {
        stack,
        name,
        up: () => timed(`up ${name}`, () => stack.up({ onOutput: () => undefined })),
        async destroyAndRemove() {
            try {
                await timed(`destroy ${name}`, () => stack.destroy({ onOutput: () => undefined }));
                await stack.workspace.removeStack(name);
            } finally {
                fs.rmSync(backend, { recursive: true, force: true });
            }
        },
        setConfig: (values) => stack.setAllConfig(configMap(values)),
        async outputs() {
            const out = await stack.outputs();
            return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.value]));
        },
    };
}

/** Runs fn with a connected client; the URL comes from the stack's (secret) outputs. */
export async function withClient<T>(url: string, fn: (c: Client) => Promise<T>, database?: string): Promise<T> {
    const u = new URL(url);
    if (database) {
        u.pathname = `/${database}`;
    }
    const client = new Client({ connectionString: u.toString(), connectionTimeoutMillis: 10_000 });
    await client.connect();
    try {
        return await fn(client);
    } finally {
        await client.end();
    }
}

export async function rows(url: string, sql: string, database?: string): Promise<any[]> {
    return withClient(url, async (c) => (await c.query(sql)).rows, database);
}

/** Polls until check passes or the bound runs out; returns the last value either way. */
export async function eventually<T>(seconds: number, probe: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
    const deadline = Date.now() + seconds * 1000;
    let value = await probe();
    while (!ok(value) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        value = await probe();
    }
    return value;
}

export function docker(...args: string[]): string {
    return execFileSync("docker", args, { encoding: "utf8" }).trim();
}

/** Containers, volumes and networks that carry this stack's label. */
export function leftovers(stackName: string): string[] {
    const filter = `label=pg-replication.stack=${stackName}`;
    return [
        ...docker("ps", "-aq", "--filter", filter).split("\n").filter(Boolean).map((id) => `container ${id}`),
        ...docker("volume", "ls", "-q", "--filter", filter).split("\n").filter(Boolean).map((v) => `volume ${v}`),
        ...docker("network", "ls", "-q", "--filter", filter).split("\n").filter(Boolean).map((n) => `network ${n}`),
    ];
}
