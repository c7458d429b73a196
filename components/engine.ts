// Which Docker engine this stack uses, resolved once for the docker provider and for every
// command's `docker` CLI, so both always talk to the same daemon.
//
// Order, as the docker CLI resolves it (docker/cli cli/command/cli.go resolveContextName:
// --host / DOCKER_HOST first, then DOCKER_CONTEXT, then config.json's currentContext, else the
// built-in "default" context, i.e. the local socket): `docker:host` config, env DOCKER_HOST,
// env DOCKER_CONTEXT, `currentContext` in $DOCKER_CONFIG/config.json (else ~/.docker/config.json),
// else unix:///var/run/docker.sock. A named context's endpoint is in
// <config dir>/contexts/meta/<sha256 of the name>/meta.json, Endpoints.docker.Host
// (docker/cli cli/context/store/metadatastore.go and store.go contextdirOf).

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { isLoopback } from "./ipv4";

export const DEFAULT_HOST = "unix:///var/run/docker.sock";

export interface Engine {
    /** The daemon address the provider and the commands are given (DOCKER_HOST form). */
    readonly host: string;
    /** Where it came from, for messages: "docker:host", "DOCKER_HOST", "context desktop-linux", ... */
    readonly source: string;
    /** A unix socket (or Windows pipe) on this machine: published ports are on this machine too. */
    readonly local: boolean;
    /** For tcp:// and ssh:// engines, the host name the ports are published on. */
    readonly remoteHost?: string;
}

/** What the resolution reads; tests pass a temporary HOME / DOCKER_CONFIG. */
export interface EngineInputs {
    /** The `docker:host` stack config, if set. */
    readonly configHost?: string;
    readonly env: Readonly<Record<string, string | undefined>>;
    readonly homeDir?: string;
}

/** Thrown with every reason the engine cannot be resolved unambiguously; config.ts reports them. */
export class EngineProblems extends Error {
    constructor(readonly problems: readonly string[]) {
        super(problems.join("; "));
    }
}

function describe(host: string, source: string): Engine {
    const remote = /^(?:tcp|ssh|https?):\/\/(?:[^@/]+@)?(\[[^\]]+\]|[^:/]+)/.exec(host);
    const name = remote?.[1];
    // tcp://127.0.0.1:2375 is still this machine: its ports are published here.
    const loopbackName = name !== undefined && (name === "localhost" || name === "[::1]" || isLoopback(name));
    return {
        host,
        source,
        local: /^(unix|npipe):\/\//.test(host) || loopbackName,
        remoteHost: loopbackName ? undefined : name,
    };
}

function configDir(inputs: EngineInputs): string {
    return inputs.env.DOCKER_CONFIG || path.join(inputs.homeDir ?? os.homedir(), ".docker");
}

function contextEngine(name: string, source: string, inputs: EngineInputs): Engine {
    if (name === "default") {
        return describe(DEFAULT_HOST, source);
    }
    const dir = configDir(inputs);
    const id = createHash("sha256").update(name).digest("hex");
    const metaFile = path.join(dir, "contexts", "meta", id, "meta.json");
    let meta: { Endpoints?: { docker?: { Host?: string } } };
    try {
        meta = JSON.parse(fs.readFileSync(metaFile, "utf8"));
    } catch (err) {
        throw new EngineProblems([`the Docker context "${name}" (${source}) cannot be read from ${metaFile}: ` +
            `${(err as Error).message}; run \`docker context ls\`, or set docker:host`]);
    }
    const host = meta.Endpoints?.docker?.Host;
    if (!host) {
        throw new EngineProblems([`the Docker context "${name}" (${source}) has no docker endpoint in ${metaFile}; set docker:host`]);
    }
    // TLS material would be lost when only the host is handed on, so refuse rather than connect without it.
    const tls = path.join(dir, "contexts", "tls", id, "docker");
    if (fs.existsSync(tls)) {
        throw new EngineProblems([`the Docker context "${name}" (${source}) uses TLS material (${tls}), which this program ` +
            "does not hand on; set DOCKER_HOST, DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH instead"]);
    }
    return describe(host, `${source} "${name}"`);
}

/** Resolves the engine; throws EngineProblems when it cannot be, or when the provider would pick another one. */
export function resolveEngine(inputs: EngineInputs): Engine {
    const { env } = inputs;
    const context = env.DOCKER_CONTEXT;
    const host = inputs.configHost ? { host: inputs.configHost, source: "docker:host" }
        : env.DOCKER_HOST ? { host: env.DOCKER_HOST, source: "DOCKER_HOST" } : undefined;
    if (context) {
        // The docker provider reads DOCKER_CONTEXT itself and lets it override its host, and it
        // finds contexts by name under ~/.docker only, never "default" (terraform-provider-docker
        // internal/provider/provider.go configure and getContextHost). The CLI puts DOCKER_HOST
        // first. Each of these would split the two, so they stop here.
        if (host) {
            throw new EngineProblems([`DOCKER_CONTEXT=${context} and ${host.source}=${host.host} are both set: the docker ` +
                `CLI would use ${host.host} and the docker provider the context; unset one of them`]);
        }
        if (context === "default") {
            throw new EngineProblems(["DOCKER_CONTEXT=default cannot be loaded by the docker provider (it reads only " +
                "named contexts); unset DOCKER_CONTEXT"]);
        }
        const home = path.join(inputs.homeDir ?? os.homedir(), ".docker");
        if (env.DOCKER_CONFIG && path.resolve(env.DOCKER_CONFIG) !== path.resolve(home)) {
            throw new EngineProblems([`DOCKER_CONTEXT=${context} with DOCKER_CONFIG=${env.DOCKER_CONFIG}: the docker provider ` +
                `looks for contexts only in ${home}; set DOCKER_HOST to the context's endpoint instead`]);
        }
        return contextEngine(context, "DOCKER_CONTEXT", inputs);
    }
    if (host) {
        return describe(host.host, host.source);
    }
    const configFile = path.join(configDir(inputs), "config.json");
    let current: string | undefined;
    if (fs.existsSync(configFile)) {
        try {
            current = JSON.parse(fs.readFileSync(configFile, "utf8")).currentContext;
        } catch (err) {
            throw new EngineProblems([`${configFile} is not valid JSON (${(err as Error).message}); fix it or set docker:host`]);
        }
    }
    if (current) {
        return contextEngine(current, "current context", inputs);
    }
    return describe(DEFAULT_HOST, "default socket");
}

/**
 * Whether Pulumi's docker provider dials this engine as soon as it starts, before any resource
 * and without a time limit: pulumi-docker 5.0.0's Configure (provider/provider.go, Configure)
 * builds a client with configureDockerClient(config, true), which pings every engine but one
 * reached through docker/cli's ssh connection helper (provider/image.go configureDockerClient:
 * cli.Ping(context.Background()), skipped when the daemon host is "http://docker.example.com").
 * A silent engine of that kind holds up every up, preview, refresh and destroy of the stack. An
 * ssh:// one is dialed only by an operation that needs a client (kreuzwerker internal/provider/
 * config.go MakeClient: create, read, update, delete), which a failover's up has none of on a lost
 * machine's resources: they are only checked and diffed.
 */
export function dialedAtStart(host: string): boolean {
    return !host.startsWith("ssh://");
}
