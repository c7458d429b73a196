// Engines and ssh commands of the docker stand-in tests' own, to show what the stand-in does on
// the wire: a unix-socket HTTP server that passes requests on to the real engine and records
// them with their bodies (or holds them unanswered, or answers some itself), and `ssh`
// executables that record their argv and run the remote command here, as sshd would run it
// (`sh -c "<command>"`).

import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export interface Recorded {
    /** Which connection (1, 2, ...) the request came on. */
    readonly conn: number;
    readonly method: string;
    readonly url: string;
    readonly userAgent: string;
    readonly host: string;
    /** The request's body as far as it has arrived (JSON for a create). */
    readonly body: string;
}

export type Override = (req: http.IncomingMessage) => { status: number; headers?: Record<string, string>; body?: string } | undefined;

export interface FakeEngine {
    /** unix://<socket> */
    readonly host: string;
    readonly requests: Recorded[];
    /** Requests the stand-in made (Go's User-Agent), not the docker CLI's own (dial-stdio pings). */
    goRequests(): string[];
    /** Connections accepted and connections since closed. */
    readonly connections: { opened: number; closed: number };
    /** From now on: pass requests on (the default), hold them unanswered, or hang up on them. */
    mode: "proxy" | "frozen" | "hangup";
    override?: Override;
    /** Closes the listener and every connection, and removes the socket: the engine refuses. */
    close(): Promise<void>;
}

/** Where the real engine listens (the tests run against a unix-socket engine). */
export function engineSocket(host: string): string {
    if (!host.startsWith("unix://")) {
        throw new Error(`the fake engines pass requests on to a unix-socket engine; DOCKER_HOST is ${host}`);
    }
    return host.slice("unix://".length);
}

export function tempDir(prefix: string): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), `standin-docker-${prefix}-`));
}

const open = new Set<FakeEngine>();

/** Closes every fake engine still open (a failed test leaves its own). */
export async function closeFakeEngines(): Promise<void> {
    await Promise.all([...open].map((f) => f.close()));
}

export async function fakeEngine(realHost: string): Promise<FakeEngine> {
    const socket = path.join(tempDir("engine"), "docker.sock");
    const sockets = new Set<net.Socket>();
    const connections = { opened: 0, closed: 0 };
    const requests: Recorded[] = [];
    const connIds = new WeakMap<net.Socket, number>();
    const fake: FakeEngine = {
        host: `unix://${socket}`,
        requests,
        connections,
        mode: "proxy",
        goRequests: () => requests.filter((r) => r.userAgent === "Go-http-client/1.1").map((r) => `${r.method} ${r.url}`),
        close: () => new Promise((resolve) => {
            open.delete(fake);
            server.close(() => resolve());
            sockets.forEach((s) => s.destroy());
            fs.rmSync(socket, { force: true });
        }),
    };
    const server = http.createServer((req, res) => {
        const recorded = { conn: connIds.get(req.socket) ?? 0, method: req.method!, url: req.url!, userAgent: String(req.headers["user-agent"] ?? ""), host: String(req.headers.host ?? ""), body: "" };
        requests.push(recorded);
        req.on("data", (chunk: Buffer) => (recorded.body += chunk.toString("utf8")));
        if (fake.mode === "frozen") {
            return; // accepted, read, never answered
        }
        if (fake.mode === "hangup") {
            req.socket.destroy();
            return;
        }
        const answer = fake.override?.(req);
        if (answer) {
            res.writeHead(answer.status, answer.headers ?? {});
            res.end(answer.body ?? "");
            return;
        }
        const upstream = http.request({ socketPath: engineSocket(realHost), method: req.method, path: req.url, headers: req.headers }, (up) => {
            res.writeHead(up.statusCode ?? 500, up.headers);
            up.pipe(res);
        });
        upstream.on("error", () => res.destroy());
        req.pipe(upstream);
    });
    server.keepAliveTimeout = 0; // the daemon does not close idle connections
    server.on("connection", (s: net.Socket) => {
        connections.opened += 1;
        connIds.set(s, connections.opened);
        sockets.add(s);
        s.on("close", () => {
            connections.closed += 1;
            sockets.delete(s);
        });
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    open.add(fake);
    return fake;
}

export interface FakeSsh {
    /** PATH with the fake ssh first. */
    readonly path: string;
    /** Each run's argv (without "ssh"), in order. */
    argvs(): string[][];
}

/**
 * An `ssh` that records its argv and either runs the remote command (the argument after "--"
 * and the host) with /bin/sh -c and DOCKER_HOST=<engine>, or, with `fail`, writes `fail` to
 * stderr and exits 255 as ssh does when it cannot connect.
 */
export function fakeSsh(opts: { engine?: string; fail?: string }): FakeSsh {
    const dir = tempDir("ssh");
    const log = path.join(dir, "argv.jsonl");
    fs.writeFileSync(log, "");
    const record = `'${process.execPath}' -e 'require("fs").appendFileSync(process.argv[1], JSON.stringify(process.argv.slice(2)) + "\\n")' '${log}' "$@"`;
    const body = opts.fail !== undefined
        ? `printf '%s\\n' '${opts.fail}' >&2\nsleep 0.2\nexit 255`
        : `while [ "$1" != "--" ]; do shift; done\nshift 2\nDOCKER_HOST='${opts.engine}' exec /bin/sh -c "$1"`;
    fs.writeFileSync(path.join(dir, "ssh"), `#!/bin/sh\n${record}\n${body}\n`, { mode: 0o755 });
    return {
        path: `${dir}:${process.env.PATH}`,
        argvs: () => fs.readFileSync(log, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)),
    };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** "returned", "failed" or "pending" after ms. */
export function settledWithin(p: Promise<unknown>, ms: number): Promise<"returned" | "failed" | "pending"> {
    return Promise.race([p.then(() => "returned" as const, () => "failed" as const), sleep(ms).then(() => "pending" as const)]);
}
