// Runs the real program against Pulumi's mocks and records every resource it registers:
// type, name, inputs as the engine would receive them (secret markers included), and the
// options that shape the graph (parent, dependsOn, provider, ...).

import * as pulumi from "@pulumi/pulumi";
import { ClusterOutputs, declareCluster, PostgresClusterArgs } from "../../components/cluster";
import { loadConfig, NAMESPACE, SECRET_KEYS } from "../../components/config";
import { clusterArgs } from "../../components/program";

// Pulumi's wire markers for a secret value (sdk/nodejs/runtime/rpc.ts).
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export interface Recorded {
    type: string;
    name: string;
    /** Inputs as serialized for the engine: secrets stay wrapped, see isSecret/plain. */
    inputs: Record<string, any>;
    parent?: string;
    dependsOn: string[];
    /** Resources whose outputs flow into this one's inputs (the engine's implicit dependencies). */
    dataDeps: string[];
    provider?: string;
    opts: pulumi.CustomResourceOptions & pulumi.ComponentResourceOptions;
    props: Record<string, any>;
}

export interface Run {
    resources: Recorded[];
    outputs: ClusterOutputs;
    /** The one resource of this type (token or its last part, e.g. "Container") and name. */
    get(type: string, name: string): Recorded;
    ofType(type: string): Recorded[];
}

export function isSecret(value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as any)[SIG_KEY] === SECRET_SIG;
}

/** The value behind secret markers, recursively. */
export function plain(value: any): any {
    if (isSecret(value)) {
        return plain(value.value);
    }
    if (Array.isArray(value)) {
        return value.map(plain);
    }
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
    }
    return value;
}

/** Every string in a value that is not inside a secret marker. */
export function clearStrings(value: any): string[] {
    if (isSecret(value)) {
        return [];
    }
    if (typeof value === "string") {
        return [value];
    }
    if (Array.isArray(value)) {
        return value.flatMap(clearStrings);
    }
    if (typeof value === "object" && value !== null) {
        return Object.values(value).flatMap(clearStrings);
    }
    return [];
}

export function outputValue<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => o.apply((v) => resolve(v)));
}

function nameOf(r: unknown): string {
    return (r as any)?.__name ?? String(r);
}

/** Names of the resources behind every Output in a value. */
async function outputResources(value: any, acc = new Set<string>()): Promise<Set<string>> {
    if (pulumi.Output.isInstance(value)) {
        const all: Set<pulumi.Resource> = await (value as any).allResources();
        all.forEach((r) => acc.add(nameOf(r)));
    } else if (Array.isArray(value)) {
        for (const v of value) {
            await outputResources(v, acc);
        }
    } else if (typeof value === "object" && value !== null && !(value instanceof pulumi.Resource)) {
        for (const v of Object.values(value)) {
            await outputResources(v, acc);
        }
    }
    return acc;
}

/** Stack config as it would be written in Pulumi.<stack>.yaml (objects are JSON-encoded). */
export type StackConfig = Record<string, unknown>;

/** Types registered by the latest run, in order, including a run that threw. */
export let lastRegistered: string[] = [];

/** The keys of CONFIG that `pulumi config set --secret` would mark (config.ts SECRET_KEYS), but those in PLAIN. */
export function secretConfigKeys(config: StackConfig, plain: readonly string[] = []): string[] {
    return Object.keys(config).filter((k) => SECRET_KEYS.has(k) && !plain.includes(k));
}

/**
 * OBSERVED stands for what the program's checks observe before declaring (program.ts checkedConfig:
 * downNodes, roll). The secret keys of CONFIG (config.ts SECRET_KEYS) are marked secret as
 * `pulumi config set --secret` marks them, unless listed in PLAIN (set without --secret); SECRETKEYS
 * marks more.
 */
export async function runProgram(config: StackConfig, secretKeys: string[] = [], stack = "dev",
    observed: Pick<PostgresClusterArgs, "downNodes" | "roll" | "heldImages"> = {}, plain: string[] = []): Promise<Run> {
    const registered = new Map<string, { type: string; inputs: Record<string, any> }>();
    lastRegistered = [];
    await pulumi.runtime.setMocks({
        newResource(args: pulumi.runtime.MockResourceArgs) {
            registered.set(`${args.type}::${args.name}`, { type: args.type, inputs: args.inputs });
            lastRegistered.push(args.type);
            const state: Record<string, any> = { ...args.inputs };
            if (args.type === "docker:index/remoteImage:RemoteImage") {
                state.imageId = `sha256:0123456789ab${args.inputs.name}`;
            }
            if (args.type === "command:local:Command") {
                // Across engines the TLS commands answer with PEM as tls.ts expects; every other command with its name.
                const pem = (what: string) => `-----BEGIN ${what}-----\nAAAA\n-----END ${what}-----\n`;
                state.stdout = args.name.endsWith("-tls-ca") ? JSON.stringify({ caCert: pem("CERTIFICATE"), caKey: pem("PRIVATE KEY") })
                    : /-tls-/.test(args.name) ? JSON.stringify({ cert: pem("CERTIFICATE"), key: pem("PRIVATE KEY") }) : `stdout-of-${args.name}`;
            }
            return { id: `${args.name}-id`, state };
        },
        call(args: pulumi.runtime.MockCallArgs) {
            return args.inputs;
        },
    }, "pg-replication", stack, false, "organization");
    const flat: Record<string, string> = {};
    for (const [key, value] of Object.entries(config)) {
        flat[`${NAMESPACE}:${key}`] = typeof value === "string" ? value : JSON.stringify(value);
    }
    const secrets = new Set([...secretKeys, ...secretConfigKeys(config, plain)]);
    pulumi.runtime.setAllConfig(flat, [...secrets].map((k) => `${NAMESPACE}:${k}`));

    // As in program.ts: config is loaded (and may throw) before anything is declared.
    const cfg = loadConfig();
    const seen: Omit<Recorded, "inputs" | "dataDeps">[] = [];
    let outputs!: ClusterOutputs;
    await pulumi.runtime.runInPulumiStack(async () => {
        pulumi.runtime.registerStackTransformation((a) => {
            const opts = a.opts as Recorded["opts"];
            const deps = opts.dependsOn === undefined ? [] : ([] as unknown[]).concat(opts.dependsOn);
            seen.push({
                type: a.type,
                name: a.name,
                parent: opts.parent ? nameOf(opts.parent) : undefined,
                dependsOn: deps.map(nameOf),
                provider: opts.provider ? nameOf(opts.provider) : undefined,
                opts,
                props: a.props,
            });
            return undefined;
        });
        outputs = declareCluster({ ...clusterArgs(cfg), ...observed });
        return outputs;
    });
    // Outputs need not depend on every resource: wait until each declared one reached the mocks.
    const custom = () => seen.filter((r) => !r.type.startsWith("pg-replication:") && r.type !== "pulumi:pulumi:Stack");
    for (let i = 0; i < 200 && custom().some((r) => !registered.has(`${r.type}::${r.name}`)); i++) {
        await new Promise((r) => setTimeout(r, 10));
    }
    const resources: Recorded[] = [];
    for (const r of seen) {
        resources.push({
            ...r,
            inputs: registered.get(`${r.type}::${r.name}`)?.inputs ?? {},
            dataDeps: [...await outputResources(r.props)].sort(),
        });
    }
    const typeMatches = (r: Recorded, type: string) => r.type === type || r.type.endsWith(`:${type}`);
    return {
        resources,
        outputs,
        get(type, name) {
            const found = resources.filter((r) => typeMatches(r, type) && r.name === name);
            if (found.length !== 1) {
                throw new Error(`expected one ${type} named ${name}, found ${found.length}; have ` +
                    resources.map((r) => `${r.type}::${r.name}`).join(", "));
            }
            return found[0];
        },
        ofType(type) {
            return resources.filter((r) => typeMatches(r, type));
        },
    };
}

/** The tutorial's plan as Pulumi.dev.yaml writes it. */
export const DEV: StackConfig = {
    image: "postgres:13",
    networkName: "dockernetwork",
    subnet: "172.18.0.0/24",
    nodes: [{ name: "pg1", address: "172.18.0.101", port: 5432 }, { name: "pg2", address: "172.18.0.102", port: 5433 }],
    primary: "pg1",
    replicationUser: "repuser",
    replicationConnectionLimit: "5",
    mode: "async",
};
