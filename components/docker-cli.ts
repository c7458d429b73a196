// The docker CLI, as the program runs it on an engine: bounded, and asked again at the engine's
// API version when a CLI newer than the engine did not get to negotiate it.
//
// The CLI learns the engine's API version from a ping it gives 2 s (docker/cli v28.5.2
// cli/command/cli.go initializeFromClient, defaultInitTimeout). When that ping is late (an ssh
// engine on a loaded machine) it asks with its own version, and an older engine refuses: "client
// version 1.50 is too new. Maximum supported API version is 1.41". The answer names the version
// the engine takes; the call is made once more at that version (DOCKER_API_VERSION, which the CLI
// takes as given), and the engine's version is kept for every later call to it.

import { execFile } from "node:child_process";

export interface DockerRun {
    readonly err: (Error & { killed?: boolean; code?: unknown }) | null;
    readonly stdout: string;
    readonly stderr: string;
}

export interface DockerCliOptions {
    /** Environment for the docker CLI (tests put a fake `docker` first on PATH); process.env by default. */
    readonly env?: NodeJS.ProcessEnv;
    /** Bound on the call; 10 s by default. */
    readonly timeoutMs?: number;
    /** Written to the CLI's standard input. */
    readonly input?: string;
    readonly maxBuffer?: number;
}

const TOO_NEW = /client version \S+ is too new\. Maximum supported API version is (\d+\.\d+)/;

/** The API version each engine was found to take, by DOCKER_HOST, for this process's life. */
const pinned = new Map<string, string>();

/** The engine's API version, when an answer named it; undefined otherwise. */
export function engineApiVersion(stderr: string): string | undefined {
    return TOO_NEW.exec(stderr)?.[1];
}

function once(args: readonly string[], host: string, opts: DockerCliOptions, version?: string): Promise<DockerRun> {
    const env = { ...(opts.env ?? process.env), DOCKER_HOST: host, ...(version ? { DOCKER_API_VERSION: version } : {}) };
    return new Promise((resolve) => {
        // Killed outright at the bound: a frozen engine accepts the connection and never answers.
        const child = execFile("docker", [...args], { env, timeout: opts.timeoutMs ?? 10_000, killSignal: "SIGKILL",
            maxBuffer: opts.maxBuffer ?? 32 << 20 },
            (err, stdout, stderr) => resolve({ err, stdout: `${stdout}`, stderr: `${stderr}` }));
        if (opts.input !== undefined) {
            // A docker that exits before reading (an engine that refused the call) closes the pipe:
            // the write fails with EPIPE, which would otherwise throw; the exit carries the error.
            child.stdin?.on("error", () => undefined);
            child.stdin?.end(opts.input);
        }
    });
}

/** `docker ARGS` on the engine HOST (DOCKER_HOST form); never rejects: the result carries the error. */
export async function dockerCli(args: readonly string[], host: string, opts: DockerCliOptions = {}): Promise<DockerRun> {
    const known = opts.env?.DOCKER_API_VERSION ?? pinned.get(host);
    const first = await once(args, host, opts, known);
    const version = first.err && !known ? engineApiVersion(first.stderr) : undefined;
    if (version === undefined) {
        return first;
    }
    pinned.set(host, version);
    return once(args, host, opts, version);
}

/** Why a docker call failed, in a few words: the bound it ran out of, else the CLI's last line. */
export function dockerFailure(r: DockerRun, timeoutMs = 10_000): string {
    return r.err?.killed ? `no answer within ${timeoutMs / 1000} s` : r.stderr.trim().split("\n").pop() || `${r.err?.message}`;
}

/**
 * Whether a failed inspect's STDERR is the engine saying the object is not there ("Error: No such
 * object", "error: no such object" in newer CLIs, "No such container", "no such volume"), as
 * against a failure to ask it.
 */
export function saysNoSuch(stderr: string): boolean {
    return /no such (container|object|volume)/i.test(stderr);
}
