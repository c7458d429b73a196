// The Docker Engine API as the docker provider's Go client uses it: one client per host, a ping
// first, the API version negotiated down to the daemon's, errors worded as the Go client words
// them ("Error response from daemon: ..."), which the provider matches on ("No such container",
// "has active endpoints", "volume is in use"). Only unix:// and plain tcp:// hosts are modelled.

import * as http from "node:http";
import { StandInError } from "./provider";

/** The newest API the provider's docker client speaks; negotiation takes the lower of this and the daemon's. */
const CLIENT_API_VERSION = "1.47";

export class EngineError extends Error {
    constructor(message: string, readonly status: number) {
        super(message);
    }
}

export interface EngineResponse {
    readonly status: number;
    readonly body: any;
}

function lowerVersion(a: string, b: string): string {
    const [am, an] = a.split(".").map(Number);
    const [bm, bn] = b.split(".").map(Number);
    return am < bm || (am === bm && an < bn) ? a : b;
}

export function versionLessThan(a: string, b: string): boolean {
    return lowerVersion(a, b) === a && a !== b;
}

export class DockerEngine {
    private version?: string;
    private readonly target: { socketPath: string } | { host: string; port: number };

    constructor(readonly host: string) {
        if (host.startsWith("unix://")) {
            this.target = { socketPath: host.slice("unix://".length) };
        } else if (host.startsWith("tcp://") || host.startsWith("http://")) {
            const url = new URL(host.replace(/^tcp:/, "http:"));
            this.target = { host: url.hostname, port: Number(url.port || 2375) };
        } else {
            throw new StandInError(`docker host ${JSON.stringify(host)}: only unix:// and plain tcp:// hosts are modelled by the stand-in (ssh://, npipe:// and TLS are not)`);
        }
    }

    /** The negotiated API version; pings the daemon the first time, as MakeClient does. */
    async apiVersion(): Promise<string> {
        if (this.version === undefined) {
            let res: { status: number; headers: http.IncomingHttpHeaders; text: string };
            try {
                res = await this.raw("GET", "/_ping");
            } catch (err) {
                throw new Error(`Error pinging Docker server, please make sure that ${this.host} is reachable and has a  '_ping' endpoint. Error: ${(err as Error).message}`);
            }
            const server = String(res.headers["api-version"] ?? CLIENT_API_VERSION);
            this.version = lowerVersion(server, CLIENT_API_VERSION);
        }
        return this.version;
    }

    /** One API call; non-2xx answers become EngineError with the daemon's message. */
    async call(method: string, path: string, opts: { query?: Record<string, string>; json?: unknown; tar?: Buffer } = {}): Promise<EngineResponse> {
        const version = await this.apiVersion();
        const qs = opts.query ? "?" + new URLSearchParams(opts.query).toString() : "";
        let body: Buffer | undefined;
        let contentType: string | undefined;
        if (opts.json !== undefined) {
            body = Buffer.from(JSON.stringify(opts.json));
            contentType = "application/json";
        } else if (opts.tar) {
            body = opts.tar;
            contentType = "application/x-tar";
        }
        const res = await this.raw(method, `/v${version}${path}${qs}`, body, contentType);
        let parsed: any = res.text;
        try {
            parsed = res.text === "" ? undefined : JSON.parse(res.text);
        } catch {
            // plain text answer (e.g. "OK")
        }
        if (res.status >= 400) {
            const message = typeof parsed === "object" && parsed?.message ? parsed.message : res.text.trim();
            throw new EngineError(`Error response from daemon: ${message}`, res.status);
        }
        return { status: res.status, body: parsed };
    }

    private raw(method: string, path: string, body?: Buffer, contentType?: string):
        Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
        return new Promise((resolve, reject) => {
            const headers: Record<string, string | number> = { Host: "docker" };
            if (body) {
                headers["Content-Type"] = contentType ?? "application/octet-stream";
                headers["Content-Length"] = body.length;
            }
            const req = http.request({ ...this.target, method, path, headers }, (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
                res.on("error", reject);
            });
            req.on("error", reject);
            req.end(body);
        });
    }
}

const engines = new Map<string, DockerEngine>();

/** One client per host, as the provider caches its client per configuration. */
export function engineFor(host: string): DockerEngine {
    let engine = engines.get(host);
    if (!engine) {
        engine = new DockerEngine(host);
        engines.set(host, engine);
    }
    return engine;
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
