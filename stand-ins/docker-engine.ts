// The Docker Engine API as the docker provider's Go code reaches it: docker/docker's client
// (v28.5.2) over Go's http.Transport (go1.25.8), dialing a unix or plain tcp socket
// (docker/go-connections sockets) or running `ssh` through docker/cli's connection helper and
// commandconn (v28.5.2). What the Go code does is modelled, not approximated: the ping (HEAD
// /_ping, GET as fallback), the lazy API-version negotiation before the first versioned request,
// keep-alive connections (one ssh process carries several requests; at most two idle per
// client, closed after 30 s idle), no deadline but the caller's context, and every error worded
// as Go words it. The rows of docker.ts's RULES table name the source lines; TLS and npipe
// engines are not modelled and fail with StandInError.

import { spawn, ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { StandInError } from "./provider";

/** api.DefaultVersion of docker/docker v28.5.2: the client starts at it and negotiates down. */
export const DEFAULT_API_VERSION = "1.51";
/** fallbackAPIVersion: assumed when a ping answer carries no API-Version header. */
const FALLBACK_API_VERSION = "1.24";
/** The dummy host of a connection helper (connhelper.go:64); DaemonHost() of an ssh client. */
const HELPER_HOST = "http://docker.example.com";

// ---------------------------------------------------------------------------------------------
// Go contexts

/**
 * A Go context as the provider passes it to the docker client: context.Background() (Configure's
 * ping, a volume delete's refresh) never ends; each CRUD call of the TF SDK runs under
 * context.WithTimeout and is cancelled when the call returns (`defer cancel()`).
 */
export class GoContext {
    private readonly controller = new AbortController();
    private timer?: NodeJS.Timeout;

    private constructor(private readonly cancellable: boolean) {}

    static background(): GoContext {
        return new GoContext(false);
    }

    /** context.WithTimeout(parent, ms): ends at the deadline, or when the parent ends. */
    static withTimeout(ms: number, parent?: GoContext): GoContext {
        const ctx = new GoContext(true);
        ctx.timer = setTimeout(() => ctx.controller.abort("context deadline exceeded"), ms);
        if (parent) {
            const onParent = () => {
                clearTimeout(ctx.timer);
                ctx.controller.abort(parent.err());
            };
            if (parent.err()) {
                onParent();
            } else {
                parent.signal.addEventListener("abort", onParent, { once: true });
                ctx.signal.addEventListener("abort", () => parent.signal.removeEventListener("abort", onParent), { once: true });
            }
        }
        return ctx;
    }

    get signal(): AbortSignal {
        return this.controller.signal;
    }

    /** ctx.Err(): undefined while the context is live. */
    err(): string | undefined {
        return this.controller.signal.aborted ? String(this.controller.signal.reason) : undefined;
    }

    cancel(): void {
        if (!this.cancellable) {
            return;
        }
        clearTimeout(this.timer);
        if (!this.controller.signal.aborted) {
            this.controller.abort("context canceled");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors, as the Go client words them

/** The daemon answered with an error status (checkResponseErr); status kept for errdefs checks. */
export class EngineError extends Error {
    constructor(message: string, readonly status: number) {
        super(message);
    }
}

/** errConnectionFailed: what IsErrConnectionFailed recognises (Ping does not retry with GET). */
export class ConnectionFailed extends Error {}

/** A dial error: its Go text, and what Go's error types would say of it. */
class DialError extends Error {
    constructor(message: string, readonly timeout = false, readonly permission = false) {
        super(message);
    }
}

/** The request's context ended (ctx.Err()); doRequest returns it undecorated. */
class ContextError extends Error {}

/** The promise, or ContextError when the context ends first (the transport then closes the conn). */
function raceContext<T>(ctx: GoContext, p: Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
        const onAbort = () => reject(new ContextError(ctx.err()));
        if (ctx.err()) {
            onAbort();
            return;
        }
        ctx.signal.addEventListener("abort", onAbort, { once: true });
        p.then((v) => {
            ctx.signal.removeEventListener("abort", onAbort);
            resolve(v);
        }, (e) => {
            ctx.signal.removeEventListener("abort", onAbort);
            reject(e);
        });
    });
}

/** A failure of the connection before any response byte; `nothingWritten` when the write failed. */
class TransportError extends Error {
    constructor(message: string, readonly nothingWritten: boolean, readonly readFailure: boolean) {
        super(message);
    }
}

/** Go's syscall error texts for the errno codes the dialers and sockets meet. */
const ERRNO_TEXT: Record<string, string> = {
    ENOENT: "no such file or directory",
    ECONNREFUSED: "connection refused",
    EACCES: "permission denied",
    EAGAIN: "resource temporarily unavailable",
    EHOSTUNREACH: "no route to host",
    ENETUNREACH: "network is unreachable",
    ECONNRESET: "connection reset by peer",
    EPIPE: "broken pipe",
};

function errnoText(err: NodeJS.ErrnoException, what: string): string {
    const text = err.code ? ERRNO_TEXT[err.code] : undefined;
    if (!text) {
        throw new StandInError(`${what}: ${err.code ?? err.message} is not modelled by the stand-in`);
    }
    return text;
}

// ---------------------------------------------------------------------------------------------
// Wires: a byte stream to the engine (a socket, or an ssh process's stdin/stdout)

interface Wire {
    onData(fn: (chunk: Buffer) => void): void;
    /** The read side ended: the error Go's Read returns then ("EOF", or commandconn's text). */
    onEnd(fn: (err: string) => void): void;
    /** Resolves when written; rejects with the Go write error text. */
    write(data: Buffer): Promise<void>;
    close(): void;
    /** Whether the wire keeps the Node process alive (idle connections do not). */
    setRef(ref: boolean): void;
}

class SocketWire implements Wire {
    private ended = false;
    private endFns: ((err: string) => void)[] = [];

    constructor(private readonly socket: net.Socket, private readonly netName: "unix" | "tcp", private readonly remote: string) {
        socket.on("end", () => this.end("EOF"));
        socket.on("error", (err: NodeJS.ErrnoException) => this.end(`read ${this.addrs()}: read: ${errnoText(err, "engine socket read")}`));
        socket.on("close", () => this.end("EOF"));
    }

    private addrs(): string {
        const local = this.netName === "unix" ? "@" : `${this.socket.localAddress}:${this.socket.localPort}`;
        return `${this.netName} ${local}->${this.remote}`;
    }

    private end(err: string): void {
        if (!this.ended) {
            this.ended = true;
            this.endFns.forEach((fn) => fn(err));
        }
    }

    onData(fn: (chunk: Buffer) => void): void {
        this.socket.on("data", fn);
    }

    onEnd(fn: (err: string) => void): void {
        this.endFns.push(fn);
    }

    write(data: Buffer): Promise<void> {
        return new Promise((resolve, reject) => {
            this.socket.write(data, (err?: NodeJS.ErrnoException | null) => {
                if (err) {
                    reject(new Error(`write ${this.addrs()}: write: ${errnoText(err, "engine socket write")}`));
                } else {
                    resolve();
                }
            });
        });
    }

    close(): void {
        this.socket.destroy();
    }

    setRef(ref: boolean): void {
        if (ref) {
            this.socket.ref();
        } else {
            this.socket.unref();
        }
    }
}

/** Go's strings for the signals an ssh process may die of (syscall.Signal.String on linux). */
const SIGNAL_TEXT: Record<string, string> = {
    SIGHUP: "hangup", SIGINT: "interrupt", SIGQUIT: "quit", SIGILL: "illegal instruction", SIGTRAP: "trace/breakpoint trap",
    SIGABRT: "aborted", SIGBUS: "bus error", SIGFPE: "floating point exception", SIGKILL: "killed", SIGUSR1: "user defined signal 1",
    SIGSEGV: "segmentation fault", SIGUSR2: "user defined signal 2", SIGPIPE: "broken pipe", SIGALRM: "alarm clock", SIGTERM: "terminated",
};

/** Go's %q of a string (strconv.Quote) for the printable-ASCII-and-newline texts ssh writes. */
function goQuote(s: string): string {
    return `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t")
        .replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)}"`;
}

/** exec.LookPath: the first executable regular file named `name` on PATH. */
export function lookPath(name: string, env: NodeJS.ProcessEnv): string {
    for (const dir of (env.PATH ?? "").split(":")) {
        const candidate = path.join(dir === "" ? "." : dir, name);
        try {
            const st = fs.statSync(candidate);
            if (st.isFile() && (st.mode & 0o111) !== 0) {
                if (!path.isAbsolute(candidate)) {
                    throw new DialError(`exec: "${name}": cannot run executable found relative to current directory`);
                }
                return candidate;
            }
        } catch (err) {
            if (err instanceof DialError) {
                throw err;
            }
        }
    }
    throw new DialError(`exec: "${name}": executable file not found in $PATH`);
}

/**
 * commandconn: `ssh` started in its own session with the plugin's environment, the HTTP stream
 * on its stdin/stdout, stderr kept (the last 4 KiB or so) for the error text. At EOF on stdout
 * the process is waited for (10 s at most): a clean exit is a plain EOF, a failure is
 * "command [ssh ...] has exited with <status>, ...: stderr=...". Closing it closes both pipes
 * and sends SIGTERM, then SIGKILL after 3 s. The context of the dial is not passed on.
 */
class CommandWire implements Wire {
    private readonly child: ChildProcess;
    private stderr = "";
    private exited?: string;
    private readonly exitWaiters: ((status: string) => void)[] = [];
    private ended = false;
    private endFns: ((err: string) => void)[] = [];
    private closing = false;

    constructor(private readonly args: readonly string[], env: NodeJS.ProcessEnv) {
        const file = lookPath("ssh", env);
        this.child = spawn(file, args, { argv0: "ssh", env, stdio: ["pipe", "pipe", "pipe"], detached: true });
        this.child.stderr!.on("data", (d: Buffer) => {
            if (Buffer.byteLength(this.stderr) > 4096) {
                this.stderr = "";
            }
            this.stderr += d.toString("utf8");
        });
        this.child.stdin!.on("error", () => undefined); // reported through write()'s callback
        this.child.on("error", () => undefined); // lookPath found it; a failed exec shows as an exit
        this.child.on("exit", (code, signal) => {
            this.exited = code !== null ? (code === 0 ? "" : `exit status ${code}`) : `signal: ${SIGNAL_TEXT[signal ?? ""] ?? signal}`;
            this.exitWaiters.splice(0).forEach((fn) => fn(this.exited!));
        });
        this.child.stdout!.on("end", () => void this.handleEOF());
        this.child.stdout!.on("error", () => void this.handleEOF());
    }

    private waitExit(ms: number): Promise<string | undefined> {
        if (this.exited !== undefined) {
            return Promise.resolve(this.exited);
        }
        return new Promise((resolve) => {
            const timer = setTimeout(() => resolve(undefined), ms);
            this.exitWaiters.push((status) => {
                clearTimeout(timer);
                resolve(status);
            });
        });
    }

    private async handleEOF(): Promise<void> {
        if (this.ended) {
            return;
        }
        if (this.closing) {
            this.end("EOF");
            return;
        }
        const status = await this.waitExit(10_000);
        const argv = `[ssh ${this.args.join(" ")}]`;
        if (status === undefined) {
            this.end(`command ${argv} did not exit after EOF: stderr=${goQuote(this.stderr)}`);
        } else if (status === "") {
            this.end("EOF");
        } else {
            this.end(`command ${argv} has exited with ${status}, make sure the URL is valid, and Docker 18.09 or later is installed on the remote host: stderr=${this.stderr}`);
        }
    }

    private end(err: string): void {
        if (!this.ended) {
            this.ended = true;
            this.endFns.forEach((fn) => fn(err));
        }
    }

    onData(fn: (chunk: Buffer) => void): void {
        this.child.stdout!.on("data", fn);
    }

    onEnd(fn: (err: string) => void): void {
        this.endFns.push(fn);
    }

    write(data: Buffer): Promise<void> {
        return new Promise((resolve, reject) => {
            this.child.stdin!.write(data, (err?: NodeJS.ErrnoException | null) => {
                if (err) {
                    // os.File.Write on the pipe Go made for stdin ("|1"); not EOF, so returned as is.
                    reject(new Error(`write |1: ${errnoText(err, "ssh stdin write")}`));
                } else {
                    resolve();
                }
            });
        });
    }

    close(): void {
        this.closing = true;
        this.child.stdout!.destroy();
        this.child.stdin!.destroy();
        if (this.exited === undefined) {
            this.child.kill("SIGTERM");
            void this.waitExit(3000).then((status) => {
                if (status === undefined) {
                    this.child.kill("SIGKILL");
                }
            });
        }
    }

    setRef(ref: boolean): void {
        const handles = [this.child, this.child.stdin, this.child.stdout, this.child.stderr] as unknown as { ref(): void; unref(): void }[];
        for (const h of handles) {
            if (ref) {
                h.ref?.();
            } else {
                h.unref?.();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Targets: how a client reaches its engine

export interface Target {
    /** DaemonHost(): the host as configured, or HELPER_HOST for a connection helper. */
    readonly daemonHost: string;
    /** req.URL.Host: the socket path for unix, host:port for tcp, docker.example.com for ssh. */
    readonly urlHost: string;
    /** The Host header: api.moby.localhost (DummyHost) for unix sockets. */
    readonly hostHeader: string;
    readonly basePath: string;
    /** Transport.DisableCompression is false (Accept-Encoding: gzip) except for unix sockets. */
    readonly compression: boolean;
    dial(ctx: GoContext): Promise<Wire>;
}

/** sockets.ConfigureTransport's dialers: a net.Dialer with a 10 s timeout. */
function dialSocket(ctx: GoContext, netName: "unix" | "tcp", addr: string): Promise<Wire> {
    return new Promise((resolve, reject) => {
        let socket: net.Socket;
        if (netName === "unix") {
            socket = net.connect({ path: addr });
        } else {
            const colon = addr.lastIndexOf(":");
            if (colon < 0) {
                reject(new DialError(`dial tcp: address ${addr}: missing port in address`));
                return;
            }
            socket = net.connect({ host: addr.slice(0, colon).replace(/^\[|\]$/g, ""), port: Number(addr.slice(colon + 1)) });
        }
        const done = () => {
            clearTimeout(timer);
            ctx.signal.removeEventListener("abort", onAbort);
            socket.removeListener("error", onError);
        };
        const onError = (err: NodeJS.ErrnoException) => {
            done();
            try {
                const text = errnoText(err, `dial ${netName} ${addr}`);
                reject(new DialError(`dial ${netName} ${addr}: connect: ${text}`, false, err.code === "EACCES"));
            } catch (e) {
                reject(e);
            }
        };
        const onAbort = () => {
            done();
            socket.destroy();
            reject(new ContextError(ctx.err()));
        };
        const timer = setTimeout(() => {
            done();
            socket.destroy();
            reject(new DialError(`dial ${netName} ${addr}: i/o timeout`, true));
        }, 10_000);
        socket.once("error", onError);
        ctx.signal.addEventListener("abort", onAbort, { once: true });
        socket.once("connect", () => {
            done();
            resolve(new SocketWire(socket, netName, addr));
        });
    });
}

/** client.WithHost(host): ParseHostURL and sockets.ConfigureTransport. */
export function directTarget(host: string): Target {
    const sep = host.indexOf("://");
    if (sep < 0 || sep + 3 === host.length) {
        throw new Error(`unable to parse docker host \`${host}\``);
    }
    const proto = host.slice(0, sep);
    let addr = host.slice(sep + 3);
    if (proto === "unix") {
        if (Buffer.byteLength(addr) > 108) {
            throw new Error(`unix socket path "${addr}" is too long`);
        }
        return { daemonHost: host, urlHost: addr, hostHeader: "api.moby.localhost", basePath: "", compression: false, dial: (ctx) => dialSocket(ctx, "unix", addr) };
    }
    if (proto !== "tcp" && proto !== "http") {
        throw new StandInError(`docker host ${JSON.stringify(host)}: only unix://, plain tcp:// and ssh:// hosts are modelled by the stand-in (npipe:// and TLS are not)`);
    }
    let basePath = "";
    if (proto === "tcp") {
        const m = /^([^/?#]*)(\/[^?#]*)?$/.exec(addr);
        if (!m) {
            throw new StandInError(`docker host ${JSON.stringify(host)}: this tcp:// form is not modelled by the stand-in`);
        }
        addr = m[1];
        basePath = m[2] ?? "";
    }
    return { daemonHost: host, urlHost: addr, hostHeader: addr, basePath, compression: true, dial: (ctx) => dialSocket(ctx, "tcp", addr) };
}

/** syntax.Quote(s, LangPOSIX) of docker/cli's vendored mvdan/sh. */
export function shellQuote(s: string): string {
    if (s === "") {
        return "''";
    }
    let shellChars = false;
    let offset = 0;
    for (const ch of s) {
        if (ch === "\0") {
            throw new Error(`cannot quote character at byte ${offset}: shell strings cannot contain null bytes`);
        }
        if (!/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch)) {
            throw new Error(`cannot quote character at byte ${offset}: POSIX shell lacks escape sequences`);
        }
        if (";\"'()$|&><`  \t\r\n\\#{~*?[=".includes(ch)) {
            shellChars = true;
        }
        offset += Buffer.byteLength(ch);
    }
    const keywords = ["!", "[[", "]]", "case", "coproc", "do", "done", "else", "esac", "fi", "for", "function", "if", "in", "select", "then", "time", "until", "while", "{", "}"];
    if (!shellChars && !keywords.includes(s)) {
        return s;
    }
    if (!s.includes("'")) {
        return `'${s}'`;
    }
    return `"${s.replace(/["\\`$]/g, (c) => `\\${c}`)}"`;
}

/**
 * connhelper.GetConnectionHelperWithSSHOpts for an ssh:// URL: ssh's argv (without "ssh").
 * Throws the texts the Go code returns for a URL it refuses.
 */
export function sshArgs(daemonURL: string, sshOpts: readonly string[]): string[] {
    const m = /^ssh:\/\/(?:([^@/?#]*)@)?([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/.exec(daemonURL);
    if (!m || /[%\s]/.test(daemonURL)) {
        throw new StandInError(`ssh host ${JSON.stringify(daemonURL)}: this URL form (escapes, spaces, no authority) is not modelled by the stand-in`);
    }
    const [, userinfo, authority, urlPath, query, fragment] = m;
    const invalid = (why: string) => new Error(`ssh host connection is not valid: invalid SSH URL: ${why}`);
    let user = "";
    if (userinfo !== undefined) {
        if (userinfo.includes(":")) {
            throw invalid("plain-text password is not supported");
        }
        user = userinfo;
    }
    const hp = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(authority);
    if (!hp) {
        throw new StandInError(`ssh host ${JSON.stringify(daemonURL)}: this host:port form is not modelled by the stand-in`);
    }
    const host = hp[1].replace(/^\[|\]$/g, "");
    const port = hp[2] ?? "";
    if (host === "") {
        throw invalid("hostname is empty");
    }
    if (query !== undefined && query !== "") {
        throw invalid(`query parameters are not allowed: ${goQuote(query)}`);
    }
    if (fragment !== undefined && fragment !== "") {
        throw invalid(`fragments are not allowed: ${goQuote(fragment)}`);
    }
    const flags = [...sshOpts];
    if (!flags.join("").includes("ConnectTimeout")) {
        flags.push("-o ConnectTimeout=30");
    }
    if (!flags.includes("-T")) {
        flags.push("-T");
    }
    const remote = urlPath.replace(/^\/+|\/+$/g, "") !== ""
        ? ["docker", `--host=unix://${urlPath}`, "system", "dial-stdio"]
        : ["docker", "system", "dial-stdio"];
    const args: string[] = [];
    const quoted = (what: string, v: string) => {
        try {
            return shellQuote(v);
        } catch (err) {
            throw new Error(`invalid ${what}: ${(err as Error).message}`);
        }
    };
    if (user !== "") {
        args.push("-l", quoted("user", user));
    }
    if (port !== "") {
        args.push("-p", quoted("port", port));
    }
    args.push(...flags, "--", quoted("host", host));
    args.push(remote.map((a) => quoted("argument", a)).join(" "));
    return args;
}

/** The connection helper's client: WithHost(HELPER_HOST) then WithDialContext(commandconn). */
export function sshTarget(daemonURL: string, sshOpts: readonly string[], env: NodeJS.ProcessEnv): Target {
    const args = sshArgs(daemonURL, sshOpts);
    return {
        daemonHost: HELPER_HOST,
        urlHost: "docker.example.com",
        hostHeader: "docker.example.com",
        basePath: "",
        compression: true,
        dial: async () => new CommandWire(args, env),
    };
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 over a wire, and the pool (Go's http.Transport as the docker client sets it up)

interface RawResponse {
    readonly status: number;
    /** resp.Status: "404 Not Found". */
    readonly statusText: string;
    readonly headers: Readonly<Record<string, string>>;
    readonly body: Buffer;
}

class PersistConn {
    reused = false;
    private buf = Buffer.alloc(0);
    private endErr?: string;
    private wake?: () => void;
    private idleTimer?: NodeJS.Timeout;
    private idle = false;
    closed = false;

    constructor(private readonly wire: Wire, private readonly onIdleClosed: (c: PersistConn) => void) {
        wire.onData((chunk) => {
            this.buf = Buffer.concat([this.buf, chunk]);
            if (this.idle) {
                // readLoop: bytes while idle are an unsolicited response; the conn is closed.
                this.close();
                this.onIdleClosed(this);
            }
            this.wake?.();
        });
        wire.onEnd((err) => {
            this.endErr = err;
            if (this.idle) {
                // readLoop's Peek fails while idle: the conn leaves the pool.
                this.close();
                this.onIdleClosed(this);
            }
            this.wake?.();
        });
    }

    setIdle(idle: boolean, onTimeout?: () => void): void {
        this.idle = idle;
        this.wire.setRef(!idle);
        clearTimeout(this.idleTimer);
        if (idle && onTimeout) {
            this.idleTimer = setTimeout(onTimeout, 30_000);
            this.idleTimer.unref();
        }
    }

    close(): void {
        if (!this.closed) {
            this.closed = true;
            clearTimeout(this.idleTimer);
            this.wire.close();
        }
    }

    /** Waits for more bytes; false at the end of the stream. Rejects when the context ends. */
    private more(ctx: GoContext): Promise<boolean> {
        if (this.endErr !== undefined) {
            return Promise.resolve(false);
        }
        return new Promise((resolve, reject) => {
            const onAbort = () => {
                this.wake = undefined;
                reject(new ContextError(ctx.err()));
            };
            if (ctx.err()) {
                onAbort();
                return;
            }
            this.wake = () => {
                this.wake = undefined;
                ctx.signal.removeEventListener("abort", onAbort);
                resolve(true);
            };
            ctx.signal.addEventListener("abort", onAbort, { once: true });
        });
    }

    private take(n: number): Buffer {
        const out = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        return out;
    }

    /** Bytes up to and without the next CRLF; undefined at EOF. */
    private async line(ctx: GoContext): Promise<string | undefined> {
        let idx: number;
        while ((idx = this.buf.indexOf("\r\n")) < 0) {
            if (!(await this.more(ctx))) {
                return undefined;
            }
        }
        const text = this.take(idx).toString("latin1");
        this.take(2);
        return text;
    }

    private async exactly(ctx: GoContext, n: number): Promise<Buffer | undefined> {
        while (this.buf.length < n) {
            if (!(await this.more(ctx))) {
                return undefined;
            }
        }
        return Buffer.from(this.take(n));
    }

    /** One request and its response. The caller closes or pools the conn afterwards. */
    async roundTrip(ctx: GoContext, request: Buffer, head: boolean): Promise<{ res: RawResponse; keepAlive: boolean }> {
        try {
            await raceContext(ctx, this.wire.write(request));
        } catch (err) {
            this.close();
            if (err instanceof ContextError) {
                throw err;
            }
            throw new TransportError((err as Error).message, true, false);
        }
        // Status line and headers.
        while (this.buf.length === 0 && this.endErr === undefined) {
            await this.more(ctx);
        }
        if (this.buf.length === 0) {
            this.close();
            // The read error of the first byte, returned as Go's transport returns it (Issue 16465).
            throw new TransportError(this.endErr!, false, true);
        }
        const broken = (why: string) => {
            this.close();
            return new TransportError(`net/http: HTTP/1.x transport connection broken: ${why}`, false, false);
        };
        const statusLine = await this.line(ctx);
        const sm = statusLine === undefined ? undefined : /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(statusLine);
        if (statusLine === undefined) {
            throw broken("unexpected EOF");
        }
        if (!sm) {
            throw broken(`malformed HTTP response ${goQuote(statusLine)}`);
        }
        const headers: Record<string, string> = {};
        for (;;) {
            const h = await this.line(ctx);
            if (h === undefined) {
                throw broken("unexpected EOF");
            }
            if (h === "") {
                break;
            }
            const colon = h.indexOf(":");
            const key = h.slice(0, colon).trim().toLowerCase();
            const value = h.slice(colon + 1).trim();
            headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
        }
        const status = Number(sm[2]);
        const connection = (headers.connection ?? "").toLowerCase();
        let keepAlive = sm[1] === "1" ? connection !== "close" : connection === "keep-alive";
        // The body (the docker client reads it whole: JSON decoding, then ensureReaderClosed).
        const unexpectedEOF = () => {
            this.close();
            return new Error("unexpected EOF");
        };
        let body: Buffer = Buffer.alloc(0);
        if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) {
            // no body
        } else if ((headers["transfer-encoding"] ?? "").toLowerCase() === "chunked") {
            const chunks: Buffer[] = [];
            for (;;) {
                const sizeLine = await this.line(ctx);
                if (sizeLine === undefined) {
                    throw unexpectedEOF();
                }
                const size = parseInt(sizeLine.split(";")[0], 16);
                if (size === 0) {
                    while ((await this.line(ctx)) !== "") {
                        // trailers
                    }
                    break;
                }
                const chunk = await this.exactly(ctx, size + 2);
                if (!chunk) {
                    throw unexpectedEOF();
                }
                chunks.push(chunk.subarray(0, size));
            }
            body = Buffer.concat(chunks);
        } else if (headers["content-length"] !== undefined) {
            const chunk = await this.exactly(ctx, Number(headers["content-length"]));
            if (!chunk) {
                throw unexpectedEOF();
            }
            body = chunk;
        } else {
            while (await this.more(ctx)) {
                // read until the server closes
            }
            body = this.take(this.buf.length);
            keepAlive = false;
        }
        return { res: { status, statusText: `${sm[2]} ${sm[3] ?? ""}`.trim(), headers, body }, keepAlive };
    }
}

/** %XX of each UTF-8 byte of the characters outside `keep`. */
function percentEncode(text: string, keep: RegExp): string {
    return [...text].map((c) => (keep.test(c) ? c : [...Buffer.from(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""))).join("");
}

/** Go's url.URL.String() escaping of a host (encodeHost): "/" becomes %2F. */
function escapeHost(host: string): string {
    return percentEncode(host, /[A-Za-z0-9\-._~!$&'()*+,;=:[\]]/);
}

/** url.URL.EscapedPath() of a path the client builds (shouldEscape, encodePath). */
function escapePath(p: string): string {
    return percentEncode(p, /[A-Za-z0-9\-._~$&+,/:;=@]/);
}

/** url.Values.Encode(): keys sorted, QueryEscape (space as "+"). */
function encodeQuery(query: Record<string, string>): string {
    const esc = (v: string) => percentEncode(v, /[A-Za-z0-9\-._~ ]/).replace(/ /g, "+");
    return Object.keys(query).sort().map((k) => `${esc(k)}=${esc(query[k])}`).join("&");
}

/** The http.Transport of one docker client: idle connections reused most-recent first. */
class Transport {
    private readonly idle: PersistConn[] = [];

    constructor(private readonly target: Target) {}

    private putIdle(conn: PersistConn): void {
        // tryPutIdleConn: MaxIdleConnsPerHost is unset, so DefaultMaxIdleConnsPerHost (2).
        if (this.idle.length >= 2) {
            conn.close();
            return;
        }
        conn.reused = true;
        this.idle.push(conn);
        conn.setIdle(true, () => {
            this.drop(conn);
            conn.close();
        });
    }

    private drop(conn: PersistConn): void {
        const i = this.idle.indexOf(conn);
        if (i >= 0) {
            this.idle.splice(i, 1);
        }
    }

    closeIdle(): void {
        this.idle.splice(0).forEach((c) => c.close());
    }

    async roundTrip(ctx: GoContext, method: string, request: Buffer): Promise<RawResponse> {
        for (;;) {
            if (ctx.err()) {
                throw new ContextError(ctx.err());
            }
            let conn = this.idle.pop();
            if (conn) {
                conn.setIdle(false);
            } else {
                conn = new PersistConn(await this.target.dial(ctx), (c) => this.drop(c));
            }
            try {
                const { res, keepAlive } = await conn.roundTrip(ctx, request, method === "HEAD");
                if (keepAlive && !conn.closed) {
                    this.putIdle(conn);
                } else {
                    conn.close();
                }
                return res;
            } catch (err) {
                conn.close();
                // shouldRetryRequest: only a reused conn, and only when nothing was written or
                // the first read failed on a replayable (GET/HEAD) request.
                const replayable = method === "GET" || method === "HEAD";
                if (err instanceof TransportError && conn.reused && (err.nothingWritten || (err.readFailure && replayable))) {
                    continue;
                }
                throw err;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The docker client

export interface EngineResponse {
    readonly status: number;
    readonly body: any;
}

export interface CallOptions {
    readonly query?: Record<string, string>;
    readonly json?: unknown;
    readonly tar?: Buffer;
    /** The method calls cli.checkVersion itself and returns its error (NetworkCreate, ImageList, ...). */
    readonly negotiateFirst?: boolean;
}

function lowerVersion(a: string, b: string): string {
    const [am, an] = a.split(".").map(Number);
    const [bm, bn] = b.split(".").map(Number);
    return am < bm || (am === bm && an < bn) ? a : b;
}

export function versionLessThan(a: string, b: string): boolean {
    return lowerVersion(a, b) === a && a !== b;
}

const STATUS_TEXT: Record<number, string> = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
};

/** docker/docker's client.Client with WithAPIVersionNegotiation(). */
export class DockerClient {
    /** ClientVersion(): DefaultVersion until negotiated. */
    version = DEFAULT_API_VERSION;
    private negotiated = false;
    /** negotiateLock: one negotiation at a time, a Go mutex (it does not watch contexts). */
    private lock: Promise<void> = Promise.resolve();
    private readonly transport: Transport;

    constructor(readonly target: Target) {
        this.transport = new Transport(target);
    }

    get daemonHost(): string {
        return this.target.daemonHost;
    }

    closeIdle(): void {
        this.transport.closeIdle();
    }

    /** doRequest: the HTTP round trip, its failures worded and classed as the client does. */
    private async doRequest(ctx: GoContext, method: string, pathAndQuery: string, body?: Buffer, contentType?: string): Promise<RawResponse> {
        const url = `http://${escapeHost(this.target.urlHost)}${pathAndQuery}`;
        const lines = [`${method} ${pathAndQuery} HTTP/1.1`, `Host: ${this.target.hostHeader}`, "User-Agent: Go-http-client/1.1"];
        if (body) {
            lines.push(`Content-Length: ${body.length}`);
        } else if (method === "POST" || method === "PUT") {
            lines.push("Content-Length: 0");
        }
        if (contentType) {
            lines.push(`Content-Type: ${contentType}`);
        }
        if (this.target.compression && method !== "HEAD") {
            lines.push("Accept-Encoding: gzip");
        }
        const request = Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1"), body ?? Buffer.alloc(0)]);
        let res: RawResponse;
        try {
            res = await this.transport.roundTrip(ctx, method, request);
        } catch (err) {
            if (err instanceof StandInError) {
                throw err;
            }
            const urlError = `${method[0]}${method.slice(1).toLowerCase()} ${JSON.stringify(url)}: ${(err as Error).message}`;
            if (err instanceof ContextError) {
                throw new Error(urlError);
            }
            if (urlError.includes("malformed HTTP response")) {
                throw new ConnectionFailed(`${urlError}.\n* Are you trying to connect to a TLS-enabled daemon without TLS?`);
            }
            if (err instanceof DialError && err.permission) {
                throw new ConnectionFailed(`permission denied while trying to connect to the Docker daemon socket at ${this.daemonHost}: ${urlError}`);
            }
            if ((err instanceof DialError && err.timeout) || urlError.includes("connection refused") || urlError.includes("dial unix")) {
                throw new ConnectionFailed(`Cannot connect to the Docker daemon at ${this.daemonHost}. Is the docker daemon running?`);
            }
            throw new ConnectionFailed(`error during connect: ${urlError}`);
        }
        if (res.headers["content-encoding"] === "gzip" && this.target.compression && method !== "HEAD") {
            res = { ...res, body: zlib.gunzipSync(res.body) };
        }
        return res;
    }

    /** checkResponseErr: a status of 400 or more becomes "Error response from daemon: ...". */
    private checkResponse(res: RawResponse, url: string): void {
        if (res.status < 400) {
            return;
        }
        if (res.body.length === 0) {
            throw new EngineError(`request returned ${res.statusText} for API route and version ${url}, check if the server supports the requested API version`, res.status);
        }
        let message: string;
        if (res.headers["content-type"] === "application/json") {
            let parsed: any;
            try {
                parsed = JSON.parse(res.body.toString("utf8"));
            } catch {
                throw new StandInError(`an error answer with invalid JSON (${res.status}) is not modelled by the stand-in`);
            }
            message = typeof parsed?.message === "string" && parsed.message !== ""
                ? parsed.message.trim()
                : `API returned a ${res.status} (${STATUS_TEXT[res.status] ?? res.statusText}) but provided no error-message`;
        } else {
            message = res.body.toString("utf8").trim();
        }
        throw new EngineError(`Error response from daemon: ${message}`, res.status);
    }

    /** Ping: HEAD /_ping; GET /_ping when HEAD failed otherwise than by a connection failure. */
    async ping(ctx: GoContext): Promise<{ apiVersion: string }> {
        const p = path.posix.join(this.target.basePath || "/", "_ping");
        let res: RawResponse | undefined;
        try {
            res = await this.doRequest(ctx, "HEAD", p);
        } catch (err) {
            if (err instanceof ConnectionFailed || err instanceof StandInError) {
                throw err;
            }
        }
        if (!res || (res.status !== 200 && res.status !== 500)) {
            res = await this.doRequest(ctx, "GET", p);
        }
        this.checkResponse(res, `http://${escapeHost(this.target.urlHost)}${p}`);
        return { apiVersion: res.headers["api-version"] ?? "" };
    }

    /** checkVersion: the lazy negotiation, once, under negotiateLock. */
    async checkVersion(ctx: GoContext): Promise<void> {
        if (this.negotiated) {
            return;
        }
        const previous = this.lock;
        let release!: () => void;
        this.lock = new Promise((r) => (release = r));
        await previous;
        try {
            if (this.negotiated) {
                return;
            }
            const ping = await this.ping(ctx);
            // negotiateAPIVersionPing
            const server = ping.apiVersion || FALLBACK_API_VERSION;
            if (versionLessThan(server, this.version)) {
                this.version = server;
            }
            this.negotiated = true;
        } finally {
            release();
        }
    }

    /** ServerVersion: GET /v<version>/version. */
    async serverVersion(ctx: GoContext): Promise<unknown> {
        return (await this.call(ctx, "GET", "/version")).body;
    }

    /** One API call (getAPIPath negotiates first, ignoring a failed ping); errors as the client words them. */
    async call(ctx: GoContext, method: string, apiPath: string, opts: CallOptions = {}): Promise<EngineResponse> {
        if (opts.negotiateFirst) {
            await this.checkVersion(ctx);
        } else {
            await this.checkVersion(ctx).catch(() => undefined);
        }
        const qs = opts.query && Object.keys(opts.query).length > 0 ? `?${encodeQuery(opts.query)}` : "";
        const full = escapePath(path.posix.join(this.target.basePath || "/", `v${this.version}`, apiPath)) + qs;
        let body: Buffer | undefined;
        let contentType: string | undefined;
        if (opts.json !== undefined) {
            body = Buffer.from(JSON.stringify(opts.json) + "\n");
            contentType = "application/json";
        } else if (opts.tar) {
            // CopyToContainer sends no Content-Type; buildRequest sets text/plain for a body.
            body = opts.tar;
            contentType = "text/plain";
        }
        const res = await this.doRequest(ctx, method, full, body, contentType);
        this.checkResponse(res, `http://${escapeHost(this.target.urlHost)}${full}`);
        const text = res.body.toString("utf8");
        let parsed: any = text;
        try {
            parsed = text === "" ? undefined : JSON.parse(text);
        } catch {
            // plain text answer (e.g. "OK")
        }
        return { status: res.status, body: parsed };
    }
}

/**
 * A tar archive holding one regular file, as Go's archive/tar writes it for a name that fits
 * the USTAR header (the provider writes exactly one such entry per upload).
 */
export function singleFileTar(name: string, content: Buffer, mode: number, mtime: Date): Buffer {
    if (Buffer.byteLength(name) > 100) {
        throw new StandInError(`upload file ${JSON.stringify(name)}: names longer than 100 bytes (PAX headers) are not modelled by the stand-in`);
    }
    const header = Buffer.alloc(512, 0);
    const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, "0") + "\0";
    header.write(name, 0, 100, "utf8");
    header.write(octal(mode, 8), 100, "ascii");
    header.write(octal(0, 8), 108, "ascii");
    header.write(octal(0, 8), 116, "ascii");
    header.write(octal(content.length, 12), 124, "ascii");
    header.write(octal(Math.floor(mtime.getTime() / 1000), 12), 136, "ascii");
    header.write("        ", 148, "ascii");
    header.write("0", 156, "ascii");
    header.write("ustar\u000000", 257, "binary");
    let sum = 0;
    for (const byte of header) {
        sum += byte;
    }
    header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "ascii");
    const padding = Buffer.alloc((512 - (content.length % 512)) % 512, 0);
    return Buffer.concat([header, content, padding, Buffer.alloc(1024, 0)]);
}
