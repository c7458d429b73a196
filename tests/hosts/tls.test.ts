// components/tls.ts for real: the commands it declares are run as the command provider would
// run them (their create text by /bin/sh, their environment, their stdin), on a test host's
// engine. The result is checked with the machine's own openssl and Node's X509Certificate, then
// used: a PostgreSQL on one host serves the node certificate, and libpq 13 and 17 on another host
// connect with sslmode=verify-full to its address, and are refused with another CA.

import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate, createPrivateKey } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { CertificateAuthority } from "../../components/tls";
import { createHostSet, HostSet, removeHostSet } from "../support/hosts";
import { plain } from "../support/mocked-program";

const SET = "htl";
const SUBNET = 3;
const LABEL = `pg-replication.stack=${SET}`;
const PASSWORD = "tls-test-only";

const value = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply(resolve));

interface Made {
    caCert: string;
    certs: Record<string, { cert: string; key: string }>;
}

/** Declares a CertificateAuthority on mocks that run each command's create for real. */
async function make(name: string, nodes: { name: string; addresses: string[] }[], dockerHost: string, image: string): Promise<Made> {
    await pulumi.runtime.setMocks({
        newResource(a: pulumi.runtime.MockResourceArgs) {
            if (a.type !== "command:local:Command") {
                return { id: a.name, state: a.inputs };
            }
            const inputs = plain(a.inputs);
            assert.deepEqual(inputs.interpreter, ["/bin/sh", "-c"]);
            const started = Date.now();
            const result = execFileSync("/bin/sh", ["-c", inputs.create], {
                env: { ...process.env, ...inputs.environment },
                input: inputs.stdin ?? "",
                encoding: "utf8",
                stdio: ["pipe", "pipe", "pipe"],
            });
            process.stderr.write(`[tls] ${a.name} took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
            return { id: a.name, state: { ...a.inputs, stdout: result.trimEnd(), stderr: "" } };
        },
        call: (a: pulumi.runtime.MockCallArgs) => a.inputs,
    }, "pg-replication", SET, false);
    let ca!: CertificateAuthority;
    await pulumi.runtime.runInPulumiStack(async () => {
        ca = new CertificateAuthority(name, { nodes, image, dockerHost, validityDays: 30, labels: { "pg-replication.stack": SET } });
        return {};
    });
    const certs: Made["certs"] = {};
    for (const [node, c] of Object.entries(ca.certificates)) {
        certs[node] = { cert: await value(c.cert), key: await value(c.key) };
    }
    return { caCert: await value(ca.caCert), certs };
}

let hostSet: HostSet;
let made: Made;
let other: Made;
let dir: string;

describe("TLS material made for real and used by libpq with verify-full", { timeout: 300_000 }, () => {
    before(async () => {
        hostSet = await createHostSet({ set: SET, subnet: SUBNET, count: 2, images: ["postgres:13", "postgres:17"] });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-tls-"));
        const [a] = hostSet.hosts;
        // openssl runs on a test host's engine: the engine argument is honoured, not the local socket.
        made = await make("stack", [{ name: "alpha", addresses: [a.address] }, { name: "beta", addresses: ["db-beta.internal"] }],
            a.dockerHost, "postgres:13");
        other = await make("other", [{ name: "alpha", addresses: [a.address] }], a.dockerHost, "postgres:17");
        fs.writeFileSync(path.join(dir, "ca.pem"), made.caCert);
        fs.writeFileSync(path.join(dir, "other-ca.pem"), other.caCert);
        for (const [node, c] of Object.entries(made.certs)) {
            fs.writeFileSync(path.join(dir, `${node}.pem`), c.cert);
        }
    });

    after(async () => {
        fs.rmSync(dir, { recursive: true, force: true });
        if (hostSet) {
            await hostSet.teardown();
        } else {
            await removeHostSet(SET, SUBNET);
        }
    });

    test("openssl verify: each node certificate chains to the stack's CA, not to another stack's", () => {
        const out = execFileSync("openssl", ["verify", "-CAfile", path.join(dir, "ca.pem"), path.join(dir, "alpha.pem"), path.join(dir, "beta.pem")],
            { encoding: "utf8" });
        assert.equal(out.trim(), `${path.join(dir, "alpha.pem")}: OK\n${path.join(dir, "beta.pem")}: OK`);
        assert.throws(() => execFileSync("openssl", ["verify", "-CAfile", path.join(dir, "other-ca.pem"), path.join(dir, "alpha.pem")],
            { stdio: "pipe" }), /Command failed/);
    });

    test("subject, SANs, CA constraints, validity and each key matching its certificate", () => {
        const ca = new X509Certificate(made.caCert);
        assert.equal(ca.ca, true);
        assert.equal(ca.subject, "CN=stack CA");
        const alpha = new X509Certificate(made.certs.alpha.cert);
        assert.equal(alpha.ca, false);
        assert.equal(alpha.subject, "CN=alpha");
        assert.equal(alpha.subjectAltName, `DNS:alpha, IP Address:${hostSet.hosts[0].address}, DNS:${hostSet.hosts[0].address}`);
        assert.equal(new X509Certificate(made.certs.beta.cert).subjectAltName, "DNS:beta, DNS:db-beta.internal");
        assert.ok(alpha.checkIssued(ca) && alpha.verify(ca.publicKey), "alpha is not signed by the CA");
        const days = (Date.parse(alpha.validTo) - Date.now()) / 86_400_000;
        assert.ok(days > 29 && days <= 30, `valid for ${days} days`);
        assert.ok(alpha.checkPrivateKey(createPrivateKey(made.certs.alpha.key)), "alpha's key does not match its certificate");
        assert.ok(!alpha.checkPrivateKey(createPrivateKey(made.certs.beta.key)), "beta's key matches alpha's certificate");
        assert.match(made.certs.alpha.key, /^-----BEGIN PRIVATE KEY-----\n/);
    });

    test("no throwaway container is left on the engine", () => {
        assert.equal(hostSet.hosts[0].docker("ps", "-aq", "--filter", `label=${LABEL}`), "");
    });

    test("libpq 13 and 17 on another host connect with verify-full to the node's address; another CA is refused", async () => {
        const [a, b] = hostSet.hosts;
        a.docker("run", "-d", "--name", `${SET}-alpha`, "--label", LABEL, "-e", `POSTGRES_PASSWORD=${PASSWORD}`,
            "-p", `${a.address}:5432:5432`, "postgres:13");
        // The key goes in on stdin, owned by postgres and 0600 as the server demands; ssl is reloadable.
        execFileSync("docker", ["-H", a.dockerHost, "exec", "-i", `${SET}-alpha`, "sh", "-c",
            "umask 077 && cat >/var/lib/postgresql/server.pem && chown postgres /var/lib/postgresql/server.pem"],
        { input: made.certs.alpha.key + made.certs.alpha.cert });
        const deadline = Date.now() + 60_000;
        for (;;) {
            try {
                a.docker("exec", "-u", "postgres", `${SET}-alpha`, "psql", "-h", "127.0.0.1", "-At",
                    "-c", "ALTER SYSTEM SET ssl_cert_file = '/var/lib/postgresql/server.pem'",
                    "-c", "ALTER SYSTEM SET ssl_key_file = '/var/lib/postgresql/server.pem'",
                    "-c", "ALTER SYSTEM SET ssl = on", "-c", "SELECT pg_reload_conf()");
                break;
            } catch (err) {
                if (Date.now() > deadline) {
                    throw err;
                }
                await new Promise((resolve) => setTimeout(resolve, 500));
            }
        }
        const connect = (image: string, ca: string) => execFileSync("docker", ["-H", b.dockerHost, "run", "--rm", "-i", "--label", LABEL,
            "-e", `PGPASSWORD=${PASSWORD}`, image, "sh", "-c",
            `cat >/tmp/ca.pem && psql "host=${a.address} user=postgres dbname=postgres sslmode=verify-full sslrootcert=/tmp/ca.pem" ` +
            "-Atc 'SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()' 2>&1"],
        { input: ca, encoding: "utf8" }).trim();
        await new Promise((resolve) => setTimeout(resolve, 500));
        for (const image of ["postgres:13", "postgres:17"]) {
            assert.match(connect(image, made.caCert), /^t\|TLSv1\.[23]$/, image);
            assert.throws(() => connect(image, other.caCert), (err: any) => /certificate verify failed/.test(String(err.stdout)), image);
        }
    });
});
