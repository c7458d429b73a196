// The local S3 server (tests/support/s3.ts) used by a real client: versitygw on one test host,
// pgBackRest 2.55.1 (postgres-backup:17) and 2.33 (postgres-backup:13) in containers on another,
// with an S3 repository over TLS verified against the server's own CA. pgBackRest 17 writes (a
// stanza and a full backup of a fresh cluster), 2.33 reads it back; a wrong secret and an unknown
// CA are refused; a lost server host makes a client fail within a bound, and once it is back the
// same server answers with its data.

import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { createHostSet, HostSet, removeHostSet, TestHost } from "../support/hosts";
import { ensureS3Image, S3_IMAGE, S3Server, startS3Server } from "../support/s3";
import { timed } from "../support/timed";

const SET = "s3t";
const SUBNET = 15;
const LABEL = `pg-replication.stack=${SET}`;
const STANZA = "s3t";
const IMAGES = { 17: "pg-replication/postgres-backup:17", 13: "pg-replication/postgres-backup:13" } as const;

let hostSet: HostSet;
let client: TestHost;
let serverHost: TestHost;
let server: S3Server;
let lost = false;

/** pgbackrest.conf for the server; OVERRIDES replace or add [global] options (pgBackRest refuses one set twice). */
function conf(s: S3Server, overrides: Record<string, string> = {}): string {
    const global: Record<string, string> = {
        "repo1-type": "s3",
        "repo1-s3-endpoint": s.endpoint,
        "repo1-storage-host": s.address,
        "repo1-storage-port": String(s.port),
        "repo1-s3-bucket": s.bucket,
        "repo1-s3-region": s.region,
        "repo1-s3-key": s.accessKey,
        "repo1-s3-key-secret": s.secretKey,
        "repo1-s3-uri-style": "path",
        "repo1-storage-ca-file": "/tmp/s3-ca.pem",
        "repo1-path": "/pgbackrest",
        // Errors and warnings on stderr (in a failed call's message), stdout for the command's output.
        "log-level-console": "off",
        "log-level-stderr": "warn",
        "log-level-file": "off",
        ...overrides,
    };
    return ["[global]", ...Object.entries(global).map(([k, v]) => `${k}=${v}`), "", `[${STANZA}]`, "pg1-path=/tmp/pgdata", "pg1-socket-path=/tmp", ""].join("\n");
}

/**
 * Runs SCRIPT (sh) as postgres in a throwaway container of IMAGE on the client host, with
 * /tmp/pgbackrest.conf and the CA written first (PGBACKREST_CONFIG points at the conf). Returns
 * its stdout; throws when the script fails, its stderr (pgBackRest's errors) in the message.
 */
function inClient(major: 13 | 17, script: string, config = conf(server), ca = server.caCert): string {
    return client.docker("run", "--rm", "--label", LABEL, "-u", "postgres",
        "-e", `CONF=${config}`, "-e", `CA=${ca}`, "-e", "PGBACKREST_CONFIG=/tmp/pgbackrest.conf",
        IMAGES[major], "sh", "-c",
        `printf '%s\\n' "$CONF" >/tmp/pgbackrest.conf && printf '%s\\n' "$CA" >/tmp/s3-ca.pem && ${script}`);
}

/** The error a failing call throws, as text. */
function failure(fn: () => unknown): string {
    try {
        fn();
    } catch (err) {
        return (err as Error).message;
    }
    assert.fail("expected a failure");
}

describe("local S3 server (versitygw) with pgBackRest as its client", { timeout: 600_000 }, () => {
    before(async () => {
        await timed("s3", "ensureS3Image", async () => ensureS3Image());
        hostSet = await createHostSet({ set: SET, subnet: SUBNET, count: 2, images: [S3_IMAGE, IMAGES[17], IMAGES[13]] });
        [client, serverHost] = hostSet.hosts;
        server = await timed("s3", "startS3Server", async () => startS3Server({
            docker: (...args) => serverHost.docker(...args), name: `${SET}-s3`, address: serverHost.address, port: 7443,
            bucket: "pg-backups", labels: { "pg-replication.stack": SET },
        }));
    });

    after(async () => {
        if (lost) {
            serverHost.restore();
        }
        server?.remove();
        if (hostSet) {
            await hostSet.teardown();
        } else {
            await removeHostSet(SET, SUBNET);
        }
    });

    test("the server: random root credentials, its own CA, a fresh empty bucket", () => {
        assert.match(server.accessKey, /^PGRT[A-Z2-7]{16}$/);
        assert.match(server.secretKey, /^[A-Za-z0-9]{40}$/);
        assert.match(server.caCert, /^-----BEGIN CERTIFICATE-----\n/);
        assert.equal(server.endpoint, "s3.pg-replication.test");
        assert.deepEqual(server.keys(), []);
    });

    test("pgBackRest 2.55.1 and 2.33 list the empty repository over TLS", () => {
        assert.equal(inClient(17, "pgbackrest version && pgbackrest repo-ls"), "pgBackRest 2.55.1");
        assert.equal(inClient(13, "pgbackrest version && pgbackrest repo-ls"), "pgBackRest 2.33");
    });

    test("pgBackRest 2.55.1 writes a stanza and a full backup; keys() sees them; 2.33 reads them back", async () => {
        const out = await timed("s3", "initdb + stanza-create + full backup", async () => inClient(17, [
            "initdb -A trust -D /tmp/pgdata >/dev/null",
            `pg_ctl -D /tmp/pgdata -l /tmp/pg.log -w -o "-k /tmp -c listen_addresses='' -c wal_level=replica -c archive_mode=on ` +
                `-c archive_command='pgbackrest --stanza=${STANZA} archive-push %p'" start >/dev/null`,
            `pgbackrest --stanza=${STANZA} stanza-create`,
            `pgbackrest --stanza=${STANZA} --type=full backup`,
            `pgbackrest --stanza=${STANZA} --output=json info`,
        ].join(" && ")));
        const info = JSON.parse(out.slice(out.indexOf("[")));
        assert.equal(info[0].status.message, "ok");
        assert.equal(info[0].backup.length, 1);
        const label = info[0].backup[0].label as string;

        const keys = server.keys("pgbackrest/");
        for (const key of [`pgbackrest/archive/${STANZA}/archive.info`, `pgbackrest/backup/${STANZA}/backup.info`,
            `pgbackrest/backup/${STANZA}/${label}/backup.manifest`]) {
            assert.ok(keys.includes(key), `${key} is not among ${keys.length} keys: ${keys.slice(0, 20).join(" ")}`);
        }
        assert.ok(keys.some((k) => k.startsWith(`pgbackrest/archive/${STANZA}/17-1/`)), "no WAL archived");
        assert.deepEqual(server.keys(), keys, "keys outside the repository path");
        assert.deepEqual(keys, [...keys].sort());

        assert.equal(inClient(13, `pgbackrest repo-ls backup/${STANZA} | grep -c "^${label}$"`), "1");
        assert.match(inClient(13, `pgbackrest repo-get archive/${STANZA}/archive.info`), /db-version="17"/);
    });

    test("a wrong secret key is refused (403), and so is a server certificate of an unknown CA", () => {
        const started = Date.now();
        const wrongKey = failure(() => inClient(17, "pgbackrest repo-ls", conf(server, { "repo1-s3-key-secret": "x".repeat(40) })));
        assert.match(wrongKey, /HTTP request failed with 403 \(Forbidden\)/);
        // A GET has the error document in its answer (repo-ls's HEAD has none).
        const wrongKeyGet = failure(() => inClient(13, `pgbackrest repo-get archive/${STANZA}/archive.info`,
            conf(server, { "repo1-s3-key-secret": "x".repeat(40) })));
        assert.match(wrongKeyGet, /403[\s\S]*SignatureDoesNotMatch/);
        process.stderr.write(`[s3] wrong secret refused in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
        // Another CA of the same name: the handshake fails (retried until io-timeout).
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-s3-test-"));
        let otherCa: string;
        try {
            execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                "-keyout", path.join(dir, "ca.key"), "-out", path.join(dir, "ca.pem"), "-subj", `/CN=pg-replication test S3 CA ${SET}-s3`],
            { stdio: "pipe" });
            otherCa = fs.readFileSync(path.join(dir, "ca.pem"), "utf8");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
        const unknownCa = failure(() => inClient(17, "pgbackrest repo-ls", conf(server, { "io-timeout": "3" }), otherCa));
        assert.match(unknownCa, /certificate verify failed|unable to verify/);
    });

    test("its host lost: a client fails within a bound; restored: the same server answers with its data", async () => {
        const before = server.keys();
        serverHost.lose();
        lost = true;
        try {
            // pgBackRest retries the connection (nested retries, each bounded by io-timeout): with
            // io-timeout=2 it gave up after ~20 s here, with 5 after ~46 s (2.55.1) and ~24 s (2.33).
            const started = Date.now();
            const error = failure(() => inClient(17, "pgbackrest repo-ls", conf(server, { "io-timeout": "2" })));
            const seconds = (Date.now() - started) / 1000;
            process.stderr.write(`[s3] repo-ls against the lost host failed after ${seconds.toFixed(1)} s\n`);
            assert.match(error, /HostConnectError|timeout connecting|No route to host/);
            assert.ok(seconds < 60, `took ${seconds} s`);
        } finally {
            serverHost.restore();
            lost = false;
        }
        const deadline = Date.now() + 30_000;
        for (;;) {
            try {
                assert.equal(inClient(17, "pgbackrest repo-ls"), "archive\nbackup");
                break;
            } catch (err) {
                if (Date.now() > deadline) {
                    throw err;
                }
                await new Promise((resolve) => setTimeout(resolve, 500));
            }
        }
        assert.deepEqual(server.keys(), before);
    });

    test("remove() takes the container and its volume; no client container is left", () => {
        const volumes = serverHost.docker("inspect", "--format", "{{range .Mounts}}{{.Name}}{{end}}", server.container);
        assert.notEqual(volumes, "");
        server.remove();
        server.remove();
        assert.equal(serverHost.docker("ps", "-aq", "--filter", `name=^${server.container}$`), "");
        assert.equal(serverHost.docker("volume", "ls", "-q", "--filter", `name=${volumes}`), "");
        assert.equal(client.docker("ps", "-aq", "--filter", `label=${LABEL}`), "");
    });
});
