// A local S3 server for tests of S3 backup repositories: Versity Gateway (versitygw, Apache-2.0),
// an S3 protocol translator whose `posix` backend stores a bucket as a directory under its root
// and each object as a file under it (its metadata in user.* xattrs), run as a container on any
// engine (a test host's, typically) and reached over TLS with SigV4 credentials of its own.
//
// The binary: built once from the Go module github.com/versity/versitygw at VERSION with the
// machine's go, through the Go module proxy (no download site, no registry), CGO off so it is
// static, and kept in ~/.cache/pg-replication/s3/. The image: FROM pg-replication/debian:trixie
// (scripts/build-images.sh builds it; a shell and find for inspection) with the binary COPYed in,
// built on the main engine with the legacy builder (as build-images.sh does); a test host gets it
// through HostSetOptions.images like any other image.
//
// A server (startS3Server): fresh credentials and a fresh CA per server, made with the machine's
// openssl in a temporary directory; the server's certificate names ENDPOINT (the name clients
// verify, pgBackRest's repo1-s3-endpoint) and the published address (where clients connect:
// pgBackRest's repo1-storage-host; pgBackRest 2.55.1 and 2.33 verify the certificate against
// that address). The certificate and key go into the created container with `docker cp`, the CA's
// key is thrown away with the directory. The backend's root is an anonymous volume on /data, so the
// data lives as long as the container (a restart or a lost host keeps it; remove() drops both).
// The bucket is made with a real CreateBucket request (the machine's curl, SigV4), which is also the
// readiness check: it passes only once TLS verifies against the CA and the credentials are taken.
// That request goes from this machine to the published address: a test host's address or
// 127.0.0.1 on the main engine, both reachable from here.
//
// versitygw's flags used (cmd/versitygw/main.go, initFlags; cmd/internal/gwcli/posix.go):
//   --port :PORT            listen address (default :7070)
//   --region REGION         region it signs for (default us-east-1)
//   --cert FILE --key FILE  TLS (absolute paths: the posix backend chdirs to its root first)
//   ROOT_ACCESS_KEY, ROOT_SECRET_KEY (env; or --access/--secret): the root account, the only one
//                           (no IAM configured: "single account mode")
//   posix DIR               the backend and its root; a bucket is a directory DIR/<bucket>

import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The versitygw release the image runs. */
export const VERSITYGW_VERSION = "1.8.0";
const MODULE = "github.com/versity/versitygw";

/** The image on the main engine: FROM pg-replication/debian:trixie with the versitygw binary. */
export const S3_IMAGE = `pg-replication-test/s3:versitygw-${VERSITYGW_VERSION}`;
const BASE_IMAGE = "pg-replication/debian:trixie";
const CACHE_DIR = path.join(os.homedir(), ".cache", "pg-replication", "s3");
const BINARY = path.join(CACHE_DIR, `versitygw-${VERSITYGW_VERSION}-${process.arch}`);
/** The image's label holding the sha256 of the binary in it: another binary, another build. */
const BINARY_LABEL = "org.pg-replication.versitygw-sha256";

/** The TLS name every server answers to (clients verify it; it need not resolve). */
export const S3_ENDPOINT = "s3.pg-replication.test";
/** The region every server signs for. */
export const S3_REGION = "us-east-1";
/** In the container: the backend's root (a volume) and the TLS material. */
const DATA_DIR = "/data";
const TLS_DIR = "/etc/versitygw";
/** SigV4's payload hash of an empty body. */
const EMPTY_SHA256 = createHash("sha256").update("").digest("hex");

function run(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
    try {
        return execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 16 << 20, ...options }).trim();
    } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(`${file} ${args.join(" ")} failed: ${(e.stderr ?? "").trim() || e.message}`);
    }
}

function sha256File(file: string): string {
    return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** The machine's go: on PATH, or where its official archive installs it. */
function findGo(): string {
    const dirs = [...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean), "/usr/local/go/bin"];
    const found = dirs.map((d) => path.join(d, "go")).find((f) => fs.existsSync(f));
    if (!found) {
        throw new Error(`go is not on PATH nor in /usr/local/go/bin: the S3 test server (versitygw ${VERSITYGW_VERSION}) is built from ` +
            `its Go module; install Go, or put a static versitygw ${VERSITYGW_VERSION} binary at ${BINARY}`);
    }
    return found;
}

/** The cached binary, built first when missing (written under another name, then renamed). */
function ensureBinary(log: (line: string) => void): string {
    if (fs.existsSync(BINARY)) {
        return BINARY;
    }
    const go = findGo();
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-versitygw-"));
    const partial = `${BINARY}.partial-${process.pid}`;
    const started = Date.now();
    try {
        // A module of our own requiring exactly that release: go resolves and checks its
        // dependencies (go.sum) through the module proxy, as for any module.
        fs.writeFileSync(path.join(work, "go.mod"), `module vgwwrap\n\ngo 1.25.0\n\nrequire ${MODULE} v${VERSITYGW_VERSION}\n`);
        log(`building versitygw ${VERSITYGW_VERSION} with ${go} (about a minute the first time)`);
        run(go, ["build", "-trimpath", "-ldflags", `-s -w -X main.Version=v${VERSITYGW_VERSION}`, "-o", partial, `${MODULE}/cmd/versitygw`], {
            cwd: work,
            env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=mod" },
        });
        fs.renameSync(partial, BINARY);
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
        fs.rmSync(partial, { force: true });
    }
    log(`versitygw built in ${((Date.now() - started) / 1000).toFixed(1)} s: ${BINARY}`);
    return BINARY;
}

/**
 * Builds (once) the versitygw binary, cached under ~/.cache/pg-replication/s3/, and S3_IMAGE on the
 * main engine; fast when both are there. Returns S3_IMAGE. Throws when go or the base image is missing.
 */
export function ensureS3Image(log: (line: string) => void = (line) => process.stderr.write(`[s3] ${line}\n`)): string {
    const binary = ensureBinary(log);
    const digest = sha256File(binary);
    let built = "";
    try {
        built = run("docker", ["image", "inspect", "--format", `{{index .Config.Labels "${BINARY_LABEL}"}}`, S3_IMAGE]);
    } catch {
        // not built yet
    }
    if (built === digest) {
        return S3_IMAGE;
    }
    try {
        run("docker", ["image", "inspect", "--format", "{{.Id}}", BASE_IMAGE]);
    } catch {
        throw new Error(`image ${BASE_IMAGE} is not on the main engine: build it first (scripts/build-images.sh)`);
    }
    const context = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-s3-image-"));
    const started = Date.now();
    try {
        fs.copyFileSync(binary, path.join(context, "versitygw"));
        fs.writeFileSync(path.join(context, "Dockerfile"), [
            `FROM ${BASE_IMAGE}`,
            `COPY versitygw /usr/local/bin/versitygw`,
            `LABEL ${BINARY_LABEL}=${digest} org.pg-replication.versitygw-version=${VERSITYGW_VERSION}`,
            `ENTRYPOINT ["/usr/local/bin/versitygw"]`,
            `CMD ["--help"]`,
            "",
        ].join("\n"));
        // Legacy builder on purpose, as scripts/build-images.sh: the engine's client has no buildx.
        run("docker", ["build", "-q", "-t", S3_IMAGE, context], { env: { ...process.env, DOCKER_BUILDKIT: "0" } });
    } finally {
        fs.rmSync(context, { recursive: true, force: true });
    }
    log(`image ${S3_IMAGE} built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return S3_IMAGE;
}

export interface S3Server {
    /** The TLS name clients verify (pgBackRest's repo1-s3-endpoint): S3_ENDPOINT. */
    readonly endpoint: string;
    /** The address it is published on, where clients connect (pgBackRest's repo1-storage-host). */
    readonly address: string;
    readonly port: number;
    /** The region it signs for (pgBackRest's repo1-s3-region): S3_REGION. */
    readonly region: string;
    readonly bucket: string;
    /** The root account's credentials, random per server. */
    readonly accessKey: string;
    readonly secretKey: string;
    /** PEM of a CA made for this server only; the server's certificate (SAN: DNS endpoint, IP and DNS address) is signed by it. */
    readonly caCert: string;
    /** The container's name on its engine. */
    readonly container: string;
    /**
     * Object keys under PREFIX in the bucket, sorted: the files under the bucket's directory in the
     * backend (docker exec find), without versitygw's own temporary ones. Needs the engine answering.
     */
    keys(prefix?: string): string[];
    /** Removes the container and its data (its volume); never throws for a container already gone. */
    remove(): void;
}

export interface S3ServerOptions {
    /** Runs the docker CLI against the engine and returns its stdout (as TestHost.docker does). */
    readonly docker: (...args: string[]) => string;
    /** The container's name; a leftover of that name (a killed run's) is removed first. */
    readonly name: string;
    /** Where the port is published (a test host's own address, 127.0.0.1); must be reachable from this machine. */
    readonly address: string;
    readonly port: number;
    /** The bucket made on start (S3 rules: 3-63 lower-case letters, digits, dots, hyphens). */
    readonly bucket: string;
    /** Labels on the container (e.g. pg-replication.stack=<set>, for a test's leftover checks). */
    readonly labels?: Readonly<Record<string, string>>;
    /** Bound on the wait for the server to answer; default 30 s. */
    readonly timeoutMs?: number;
    readonly log?: (line: string) => void;
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Random characters of an alphabet that needs no quoting anywhere (conf files, URLs, shells). */
function randomToken(length: number, alphabet: string): string {
    return Array.from(randomBytes(length), (b) => alphabet[b % alphabet.length]).join("");
}

/** A CA for this server only, and the server's key and certificate signed by it, in DIR. */
function makeTls(dir: string, name: string, address: string): void {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run("openssl", ["req", "-x509", "-new", ...ec, "-keyout", path.join(dir, "ca.key"), "-out", path.join(dir, "ca.pem"), "-days", "7",
        "-subj", `/CN=pg-replication test S3 CA ${name}`,
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    run("openssl", ["req", "-new", ...ec, "-keyout", path.join(dir, "server.key"), "-out", path.join(dir, "server.csr"),
        "-subj", `/CN=${S3_ENDPOINT}`]);
    const ip = /^[0-9.]+$/.test(address) || address.includes(":");
    // The address as an IP SAN and, for verifiers that look at DNS names only, as a DNS SAN too.
    const sans = [`DNS:${S3_ENDPOINT}`, ...(ip ? [`IP:${address}`] : []), `DNS:${address}`];
    fs.writeFileSync(path.join(dir, "server.ext"), [
        `subjectAltName=${sans.join(",")}`,
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth",
        "",
    ].join("\n"));
    run("openssl", ["x509", "-req", "-in", path.join(dir, "server.csr"), "-CA", path.join(dir, "ca.pem"), "-CAkey", path.join(dir, "ca.key"),
        "-set_serial", `0x${randomBytes(16).toString("hex")}`, "-days", "7", "-extfile", path.join(dir, "server.ext"),
        "-out", path.join(dir, "server.pem")]);
}

/**
 * Runs versitygw as container NAME on the engine DOCKER, TLS on, published on ADDRESS:PORT, with
 * a fresh bucket BUCKET in its posix backend, and returns once the bucket is made through the S3
 * API (TLS verified, credentials taken). On failure the container is removed and the error has its log.
 */
export function startS3Server(opts: S3ServerOptions): S3Server {
    const { docker, name, address, port, bucket } = opts;
    const log = opts.log ?? ((line: string) => process.stderr.write(`[s3] ${line}\n`));
    const timeoutMs = opts.timeoutMs ?? 30_000;
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes("..")) {
        throw new Error(`bucket name "${bucket}" is not allowed: 3-63 lower-case letters, digits, dots and hyphens`);
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new Error(`port ${port} is not allowed`);
    }
    const accessKey = `PGRT${randomToken(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")}`;
    const secretKey = randomToken(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
    const host = address.includes(":") ? `[${address}]` : address;
    const remove = () => {
        try {
            if (docker("ps", "-aq", "--filter", `name=^${name}$`) !== "") {
                docker("rm", "-f", "-v", name);
            }
        } catch {
            // already gone
        }
    };
    const started = Date.now();
    remove();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-s3-tls-"));
    let caCert: string;
    try {
        const tls = path.join(dir, "tls");
        fs.mkdirSync(tls, { mode: 0o700 });
        makeTls(tls, name, address);
        caCert = fs.readFileSync(path.join(tls, "ca.pem"), "utf8");
        fs.rmSync(path.join(tls, "ca.key"));
        fs.rmSync(path.join(tls, "server.csr"));
        fs.rmSync(path.join(tls, "server.ext"));
        docker("create", "--name", name,
            ...Object.entries(opts.labels ?? {}).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
            "-e", `ROOT_ACCESS_KEY=${accessKey}`, "-e", `ROOT_SECRET_KEY=${secretKey}`,
            "-v", DATA_DIR, "-p", `${host}:${port}:${port}`,
            // A boot of its host (TestHost.powerOn) starts it again, as one of a real machine's services.
            "--restart", "unless-stopped",
            S3_IMAGE, "--port", `:${port}`, "--region", S3_REGION,
            "--cert", `${TLS_DIR}/server.pem`, "--key", `${TLS_DIR}/server.key`, "posix", DATA_DIR);
        // The directory becomes TLS_DIR (absent in the image): certificate, key, CA certificate.
        docker("cp", tls, `${name}:${TLS_DIR}`);
        docker("start", name);

        // CreateBucket, signed (curl's SigV4 needs the payload hash given), until it is answered.
        const url = `https://${S3_ENDPOINT}:${port}/${bucket}`;
        const caFile = path.join(tls, "ca.pem");
        const curl = ["-sS", "--noproxy", "*", "--max-time", "5", "--cacert", caFile, "--resolve", `${S3_ENDPOINT}:${port}:${host}`,
            "--aws-sigv4", `aws:amz:${S3_REGION}:s3`, "--user", `${accessKey}:${secretKey}`, "-H", `x-amz-content-sha256:${EMPTY_SHA256}`,
            "-X", "PUT", "-w", "\n%{http_code}", url];
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            let answer: string | undefined;
            let failure = "";
            try {
                answer = run("curl", curl);
            } catch (err) {
                failure = (err as Error).message;
            }
            if (answer !== undefined) {
                const code = answer.slice(answer.lastIndexOf("\n") + 1);
                if (code !== "200") {
                    throw new Error(`CreateBucket ${bucket} on ${url} (at ${address}) answered ${code}: ${answer}`);
                }
                break;
            }
            const state = docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name);
            if (!state.startsWith("running") || Date.now() > deadline) {
                throw new Error(`S3 server ${name} on ${address}:${port} not answering after ${((Date.now() - started) / 1000).toFixed(1)} s ` +
                    `(container ${state}): ${failure}`);
            }
            sleepSync(200);
        }
    } catch (err) {
        let logs = "";
        try {
            logs = docker("logs", "--tail", "20", name);
        } catch {
            // no container
        }
        remove();
        throw new Error(`${(err as Error).message}${logs ? `\nlast lines of its log:\n${logs}` : ""}`);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
    log(`S3 server ${name} (versitygw ${VERSITYGW_VERSION}) on ${address}:${port}, bucket ${bucket}, ` +
        `answering in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return {
        endpoint: S3_ENDPOINT,
        address,
        port,
        region: S3_REGION,
        bucket,
        accessKey,
        secretKey,
        caCert,
        container: name,
        keys: (prefix = "") => {
            // .sgwtmp: versitygw's in-flight uploads and multipart parts, inside each bucket.
            const out = docker("exec", name, "find", `${DATA_DIR}/${bucket}`, "-path", `${DATA_DIR}/${bucket}/.sgwtmp`, "-prune",
                "-o", "-type", "f", "-printf", "%P\\n");
            return out.split("\n").filter((k) => k !== "" && k.startsWith(prefix)).sort();
        },
        remove,
    };
}
