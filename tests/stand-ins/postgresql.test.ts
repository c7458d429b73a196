// The postgresql stand-in against a real PostgreSQL 13 (SCRAM), its handlers called directly.
// Each test names the RULES ids it proves; the last test checks that every id is named.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { Client } from "pg";
import { Props, ProviderContext, StandInError, isSecret, reveal } from "../../stand-ins/provider";
import { ROLE, RULES, goHostnameCheck, postgresqlStandIn as pg } from "../../stand-ins/postgresql";

const PORT = 58341;
const CLOSED_PORT = 58349;
const SUPERUSER_PASSWORD = "su-pw-standin";
const LABEL = "pg-replication.stack=standin-pg-test";
const NAME = `standin-pg-test-${process.pid}`;
const role = pg.resources[ROLE];
const URN = "urn:pulumi:test::pg-replication::postgresql:index/role:Role::replication-role";

/** The program's provider config, as the SDK sends it (non-strings JSON-encoded). */
function programConfig(overrides: Props = {}): Props {
    return {
        host: "127.0.0.1", port: String(PORT), username: "postgres", password: SUPERUSER_PASSWORD,
        database: "postgres", sslmode: "disable", superuser: "true", connectTimeout: "15", ...overrides,
    };
}

const named: string[] = [];
function ruleTest(ids: string[], title: string, fn: () => Promise<void>): void {
    const name = `[${ids.join(", ")}] ${title}`;
    named.push(name);
    it(name, fn);
}

async function outside<T = any>(sql: string, params: unknown[] = [], user = "postgres", password = SUPERUSER_PASSWORD): Promise<T[]> {
    const c = new Client({ host: "127.0.0.1", port: PORT, user, password, database: "postgres" });
    await c.connect();
    try {
        return (await c.query(sql, params)).rows;
    } finally {
        await c.end();
    }
}

/** Turns ssl on (reload) with the certificates MAKE_TLS made; the role tlsonly may log in over TLS only. */
async function enableTls(): Promise<void> {
    if ((await outside("SHOW ssl"))[0].ssl === "on") {
        return;
    }
    execFileSync("docker", ["exec", "-u", "postgres", NAME, "sh", "-c",
        "sed -i '1i hostnossl all tlsonly all reject' \"$PGDATA/pg_hba.conf\""]);
    await outside("CREATE ROLE tlsonly SUPERUSER LOGIN PASSWORD 'tls-pw'");
    for (const [k, v] of [["ssl_cert_file", "server.crt"], ["ssl_key_file", "server.key"]]) {
        await outside(`ALTER SYSTEM SET ${k} = '${TLS_DIR}/${v}'`);
    }
    await outside("ALTER SYSTEM SET ssl = on");
    await outside("SELECT pg_reload_conf()");
    for (let i = 0; i < 50 && (await outside("SHOW ssl"))[0].ssl !== "on"; i++) {
        await new Promise((r) => setTimeout(r, 100));
    }
}

async function checkedInputs(news: Props, olds: Props = {}): Promise<Props> {
    const res = await role.check(await pg.configure({}), { urn: URN, type: ROLE, olds, news });
    assert.deepEqual(res.failures ?? [], []);
    return res.inputs;
}

const program = { name: "repuser", login: true, replication: true, connectionLimit: 5, password: "rep-pw-1" };

// TLS material made in the server's container with its own openssl: a CA, a server certificate for
// DNS:pg-standin and IP:127.0.0.1 signed by it, and another CA that signed nothing here.
const TLS_DIR = "/var/lib/postgresql/tls";
const MAKE_TLS = `set -eu; mkdir -p ${TLS_DIR}; cd ${TLS_DIR}
k() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "$@" 2>/dev/null; }
k -x509 -keyout ca.key -out ca.crt -subj "/CN=standin CA" -days 2
k -keyout server.key -out server.csr -subj "/CN=pg-standin"
printf 'subjectAltName=DNS:pg-standin,IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext 2>/dev/null
k -x509 -keyout other.key -out other.crt -subj "/CN=other CA" -days 2
chmod 600 server.key`;

describe("postgresql stand-in", { timeout: 120_000 }, () => {
    let ctx: ProviderContext;
    const files = fs.mkdtempSync(path.join(os.tmpdir(), "pg-standin-tls-"));
    const caFile = path.join(files, "ca.crt");
    const otherCa = path.join(files, "other.crt");
    const tlsConfig = (overrides: Props = {}) => programConfig({
        username: "tlsonly", password: "tls-pw", sslmode: "verify-full", sslrootcert: caFile, ...overrides,
    });

    before(async () => {
        execFileSync("docker", ["run", "-d", "--name", NAME, "--label", LABEL, "-e", `POSTGRES_PASSWORD=${SUPERUSER_PASSWORD}`,
            // As components/primary.ts does: PostgreSQL 13's initdb would otherwise store the superuser's md5.
            "-e", "POSTGRES_INITDB_ARGS=--auth-host=scram-sha-256",
            "-p", `127.0.0.1:${PORT}:5432`, "postgres:13", "postgres", "-c", "password_encryption=scram-sha-256"]);
        const deadline = Date.now() + 60_000;
        for (;;) {
            try {
                await outside("SELECT 1");
                break;
            } catch (err) {
                if (Date.now() > deadline) {
                    throw err;
                }
                await new Promise((r) => setTimeout(r, 300));
            }
        }
        ctx = await pg.configure(programConfig());
        execFileSync("docker", ["exec", "-u", "postgres", NAME, "sh", "-c", MAKE_TLS]);
        for (const [from, to] of [["ca.crt", caFile], ["other.crt", otherCa]]) {
            fs.writeFileSync(to, execFileSync("docker", ["exec", NAME, "cat", `${TLS_DIR}/${from}`]));
        }
    });

    after(() => {
        execFileSync("docker", ["rm", "-f", "-v", NAME], { stdio: "ignore" });
        fs.rmSync(files, { recursive: true, force: true });
    });

    ruleTest(["config.check.returns-news", "secrets.bridge"], "CheckConfig returns the config as given, password secret; Role password is sensitive", async () => {
        const news = programConfig();
        const res = await pg.checkConfig({}, news);
        assert.deepEqual(res.failures ?? [], []);
        assert.ok(isSecret(res.inputs.password));
        assert.deepEqual(reveal(res.inputs), news);
        assert.deepEqual(pg.secrets, { kind: "bridge", sensitive: { [ROLE]: ["password", "passwordWo"], "pulumi:providers:postgresql": ["password"] } });
    });

    ruleTest(["config.check.validates"], "CheckConfig fails connectTimeout below -1 and a bad scheme", async () => {
        const res = await pg.checkConfig({}, programConfig({ connectTimeout: "-2", scheme: "mysql" }));
        assert.deepEqual(res.failures, [
            { property: "connectTimeout", reason: "expected connect_timeout to be at least (-1), got -2" },
            { property: "scheme", reason: "expected scheme to be one of [\"postgres\" \"awspostgres\" \"gcppostgres\"], got mysql" },
        ]);
    });

    ruleTest(["config.diff.never-replaces"], "a new host is an update of the provider, never a replacement", async () => {
        const res = await pg.diffConfig(programConfig(), programConfig(), programConfig({ host: "127.0.0.2" }));
        assert.equal(res.changes, "some");
        assert.deepEqual(res.replaces, []);
        assert.deepEqual(res.diffs, ["host"]);
        assert.equal((await pg.diffConfig(programConfig(), programConfig(), programConfig())).changes, "none");
    });

    ruleTest(["config.configure.lazy", "config.connect.error"], "configure against a closed port succeeds; create fails with the provider's message", async () => {
        const closed = await pg.configure(programConfig({ port: String(CLOSED_PORT) }));
        const inputs = await checkedInputs({ ...program, name: "never" });
        await assert.rejects(role.create(closed, { urn: URN, type: ROLE, inputs, preview: false, timeout: 0 }), {
            message: `error connecting to PostgreSQL server 127.0.0.1 (scheme: postgres): dial tcp 127.0.0.1:${CLOSED_PORT}: connect: connection refused`,
        });
    });

    ruleTest(["config.connect.params", "config.ssl.modes"], "sslmode other than disable or verify-full, and verify-full without a file, are refused as not modelled, at the first CRUD call only", async () => {
        const inputs = await checkedInputs({ ...program, name: "never" });
        for (const config of [programConfig({ sslmode: "require" }), programConfig({ sslmode: "" }), tlsConfig({ sslrootcert: "" }),
            tlsConfig({ sslrootcert: "system" })]) {
            const tls = await pg.configure(config);
            await assert.rejects(role.create(tls, { urn: URN, type: ROLE, inputs, preview: false, timeout: 0 }), StandInError);
        }
    });

    ruleTest(["config.ssl.not-enabled"], "verify-full against a server with ssl off fails the ping: 'pq: SSL is not enabled on the server'", async () => {
        assert.equal((await outside("SHOW ssl"))[0].ssl, "off");
        const inputs = await checkedInputs({ ...program, name: "never" });
        await assert.rejects(role.create(await pg.configure(tlsConfig({ username: "postgres", password: SUPERUSER_PASSWORD })),
            { urn: URN, type: ROLE, inputs, preview: false, timeout: 0 }), {
            message: "error connecting to PostgreSQL server 127.0.0.1 (scheme: postgres): pq: SSL is not enabled on the server",
        });
    });

    ruleTest(["config.ssl.rootcert-file", "config.check.returns-news", "config.configure.lazy"], "a missing sslrootcert passes CheckConfig and Configure; the connection fails after its dial, with Go's open error", async () => {
        const missing = path.join(files, "nowhere", "ca.crt");
        const news = tlsConfig({ sslrootcert: missing });
        const checked = await pg.checkConfig({}, news);
        assert.deepEqual(checked.failures ?? [], []);
        assert.deepEqual(reveal(checked.inputs), news);
        const inputs = await checkedInputs({ ...program, name: "never" });
        const create = async (config: Props) => role.create(await pg.configure(config), { urn: URN, type: ROLE, inputs, preview: false, timeout: 0 });
        await assert.rejects(create(news), {
            message: `error connecting to PostgreSQL server 127.0.0.1 (scheme: postgres): open ${missing}: no such file or directory`,
        });
        // The dial comes first: a closed port is what is reported, whatever the file.
        await assert.rejects(create(tlsConfig({ sslrootcert: missing, port: String(CLOSED_PORT) })), {
            message: `error connecting to PostgreSQL server 127.0.0.1 (scheme: postgres): dial tcp 127.0.0.1:${CLOSED_PORT}: connect: connection refused`,
        });
        const garbage = path.join(files, "garbage.crt");
        fs.writeFileSync(garbage, "-----BEGIN CERTIFICATE-----\nnot base64 DER\n-----END CERTIFICATE-----\n");
        await assert.rejects(create(tlsConfig({ sslrootcert: garbage })), {
            message: "error connecting to PostgreSQL server 127.0.0.1 (scheme: postgres): pq: couldn't parse pem from sslrootcert",
        });
        await assert.rejects(create(tlsConfig({ sslrootcert: files })), {
            message: `error connecting to PostgreSQL server 127.0.0.1 (scheme: postgres): read ${files}: is a directory`,
        });
    });

    ruleTest(["config.ssl.modes", "config.connect.params"], "verify-full with the CA's file: the role is made over TLS (the user may not log in without it)", async () => {
        await enableTls();
        const tls = await pg.configure(tlsConfig());
        const inputs = await checkedInputs({ ...program, name: "over_tls" });
        const made = await role.create(tls, { urn: URN, type: ROLE, inputs, preview: false, timeout: 0 });
        assert.equal(made.id, "over_tls");
        assert.deepEqual(await outside("SELECT rolname FROM pg_authid WHERE rolname = 'over_tls'"), [{ rolname: "over_tls" }]);
        // The same user without TLS is rejected by pg_hba: the create above went over TLS.
        await assert.rejects(role.read(await pg.configure(tlsConfig({ sslmode: "disable" })),
            { urn: URN, type: ROLE, id: made.id, state: made.outputs, inputs }), /pg_hba\.conf rejects connection for host "[0-9.]+", user "tlsonly"/);
        await role.delete(tls, { urn: URN, type: ROLE, id: made.id, outputs: made.outputs, oldInputs: inputs, timeout: 0 });
    });

    ruleTest(["config.ssl.rootcert-file", "config.connect.no-idle"], "the file is read at each connection: removed after the ping, the next statement fails to connect", async () => {
        await enableTls();
        const copy = path.join(files, "copy.crt");
        fs.copyFileSync(caFile, copy);
        const tls = await pg.configure(tlsConfig({ sslrootcert: copy }));
        const inputs = await checkedInputs({ ...program, name: "read_each_time" });
        const made = await role.create(tls, { urn: URN, type: ROLE, inputs, preview: false, timeout: 0 });
        fs.rmSync(copy);
        await assert.rejects(role.delete(tls, { urn: URN, type: ROLE, id: made.id, outputs: made.outputs, oldInputs: inputs, timeout: 0 }), {
            message: `could not start transaction: open ${copy}: no such file or directory`,
        });
        fs.copyFileSync(caFile, copy);
        await role.delete(tls, { urn: URN, type: ROLE, id: made.id, outputs: made.outputs, oldInputs: inputs, timeout: 0 });
    });

    ruleTest(["config.ssl.verify-errors"], "another CA, or a host name the certificate does not carry, fails with Go's x509 text", async () => {
        await enableTls();
        const inputs = await checkedInputs({ ...program, name: "never" });
        const create = async (config: Props) => role.create(await pg.configure(config), { urn: URN, type: ROLE, inputs, preview: false, timeout: 0 });
        await assert.rejects(create(tlsConfig({ sslrootcert: otherCa })), {
            message: "error connecting to PostgreSQL server 127.0.0.1 (scheme: postgres): tls: failed to verify certificate: x509: certificate signed by unknown authority",
        });
        await assert.rejects(create(tlsConfig({ host: "localhost" })), {
            message: "error connecting to PostgreSQL server localhost (scheme: postgres): tls: failed to verify certificate: x509: certificate is valid for pg-standin, not localhost",
        });
        // The other branches of x509.HostnameError, on the check itself.
        const text = (host: string, cert: Parameters<typeof goHostnameCheck>[1]) => goHostnameCheck(host, cert)?.message;
        const san = { subject: { CN: "pg1" }, subjectaltname: "DNS:pg1, IP Address:10.0.0.1, IP Address:10.0.0.2" };
        assert.equal(text("10.0.0.2", san), undefined);
        assert.equal(text("PG1", san), undefined);
        assert.equal(text("10.0.0.9", san), "tls: failed to verify certificate: x509: certificate is valid for 10.0.0.1, 10.0.0.2, not 10.0.0.9");
        assert.equal(text("10.0.0.9", { subjectaltname: "DNS:pg1" }),
            "tls: failed to verify certificate: x509: cannot validate certificate for 10.0.0.9 because it doesn't contain any IP SANs");
        assert.equal(text("db", { subjectaltname: "IP Address:10.0.0.1" }),
            "tls: failed to verify certificate: x509: certificate is not valid for any names, but wanted to match db");
        assert.equal(text("db", { subject: { CN: "db" } }),
            "tls: failed to verify certificate: x509: certificate relies on legacy Common Name field, use SANs instead");
        assert.equal(text("a.example", { subjectaltname: "DNS:*.example" }), undefined);
    });

    ruleTest(["role.check.defaults"], "Check adds the non-falsy defaults and __defaults, leaves falsy ones out", async () => {
        const inputs = await checkedInputs(program);
        assert.deepEqual(inputs, {
            ...program, encryptedPassword: true, inherit: true, validUntil: "infinity",
            __defaults: ["encryptedPassword", "inherit", "validUntil"],
        });
        const bare = await checkedInputs({ name: "x" });
        assert.equal(bare.connectionLimit, -1);
        assert.deepEqual(bare.__defaults, ["connectionLimit", "encryptedPassword", "inherit", "validUntil"]);
    });

    ruleTest(["role.check.validates"], "Check fails connectionLimit -2 with the TF validator's text", async () => {
        const res = await role.check(ctx, { urn: URN, type: ROLE, olds: {}, news: { ...program, connectionLimit: -2 } });
        assert.deepEqual(res.failures, [{ property: "connectionLimit", reason: "expected connection_limit to be at least (-1), got -2" }]);
    });

    let created: { id: string; outputs: Props };
    let inputs: Props;

    ruleTest(["role.create.sql", "config.connect.ping-and-fingerprint"], "create makes the role with exactly the program's attributes and a SCRAM verifier", async () => {
        inputs = await checkedInputs(program);
        created = await role.create(ctx, { urn: URN, type: ROLE, inputs, preview: false, timeout: 0 });
        assert.equal(created.id, "repuser");
        const [a] = await outside("SELECT * FROM pg_authid WHERE rolname = 'repuser'");
        assert.deepEqual(
            [a.rolsuper, a.rolinherit, a.rolcreaterole, a.rolcreatedb, a.rolcanlogin, a.rolreplication, a.rolbypassrls, a.rolconnlimit],
            [false, true, false, false, true, true, false, 5]);
        assert.equal((await outside("SELECT rolvaliduntil::text AS v FROM pg_authid WHERE rolname = 'repuser'"))[0].v, "infinity");
        assert.match(a.rolpassword, /^SCRAM-SHA-256\$/);
        assert.deepEqual(await outside("SELECT current_user AS u", [], "repuser", "rep-pw-1"), [{ u: "repuser" }]);
    });

    ruleTest(["role.read.attributes"], "read returns every default and no diff against the checked inputs", async () => {
        const read = await role.read(ctx, { urn: URN, type: ROLE, id: "repuser", state: created.outputs, inputs });
        assert.ok(read);
        assert.deepEqual(read.outputs, {
            id: "repuser", name: "repuser", login: true, replication: true, connectionLimit: 5, password: "rep-pw-1",
            superuser: false, createDatabase: false, createRole: false, inherit: true, bypassRowLevelSecurity: false,
            encryptedPassword: true, validUntil: "infinity", skipDropRole: false, skipReassignOwned: false, roles: [],
            searchPaths: [], assumeRole: "", statementTimeout: 0, idleInTransactionSessionTimeout: 0,
            passwordWo: null, passwordWoVersion: null, encrypted: null,
        });
        assert.deepEqual(read.outputs, created.outputs);
        const diff = await role.diff(ctx, { urn: URN, type: ROLE, id: "repuser", oldInputs: inputs, oldOutputs: read.outputs, news: inputs, ignoreChanges: [] });
        assert.equal(diff.changes, "none");
    });

    ruleTest(["role.update.sql", "role.diff.no-force-new"], "a password change is an update and ALTER ROLE changes the verifier", async () => {
        const before = (await outside("SELECT rolpassword FROM pg_authid WHERE rolname = 'repuser'"))[0].rolpassword;
        const news = await checkedInputs({ ...program, password: "rep-pw-2" }, inputs);
        const diff = await role.diff(ctx, { urn: URN, type: ROLE, id: "repuser", oldInputs: inputs, oldOutputs: created.outputs, news, ignoreChanges: [] });
        assert.deepEqual([diff.changes, diff.replaces, diff.diffs], ["some", [], ["password"]]);
        const updated = await role.update(ctx, { urn: URN, type: ROLE, id: "repuser", oldInputs: inputs, oldOutputs: created.outputs, news, preview: false, timeout: 0, ignoreChanges: [] });
        assert.equal(updated.outputs.password, "rep-pw-2");
        const after = (await outside("SELECT rolpassword FROM pg_authid WHERE rolname = 'repuser'"))[0].rolpassword;
        assert.notEqual(after, before);
        await outside("SELECT 1", [], "repuser", "rep-pw-2");
        await assert.rejects(outside("SELECT 1", [], "repuser", "rep-pw-1"), /password authentication failed/);
        inputs = news;
        created = { id: "repuser", outputs: updated.outputs };
    });

    ruleTest(["role.read.scram-password"], "a password changed outside is not seen by read (M8)", async () => {
        await outside("ALTER ROLE repuser PASSWORD 'changed-outside'");
        const read = await role.read(ctx, { urn: URN, type: ROLE, id: "repuser", state: created.outputs, inputs });
        assert.equal(read?.outputs.password, "rep-pw-2");
        const diff = await role.diff(ctx, { urn: URN, type: ROLE, id: "repuser", oldInputs: inputs, oldOutputs: read!.outputs, news: inputs, ignoreChanges: [] });
        assert.equal(diff.changes, "none");
    });

    ruleTest(["role.diff.no-force-new", "role.update.sql"], "a new name is an in-place ALTER ROLE ... RENAME TO, not a replacement", async () => {
        const news = await checkedInputs({ ...program, name: "repuser2", password: "rep-pw-2" }, inputs);
        const diff = await role.diff(ctx, { urn: URN, type: ROLE, id: "repuser", oldInputs: inputs, oldOutputs: created.outputs, news, ignoreChanges: [] });
        assert.deepEqual([diff.replaces, diff.diffs], [[], ["name"]]);
        const oid = (await outside("SELECT oid FROM pg_authid WHERE rolname = 'repuser'"))[0].oid;
        const updated = await role.update(ctx, { urn: URN, type: ROLE, id: "repuser", oldInputs: inputs, oldOutputs: created.outputs, news, preview: false, timeout: 0, ignoreChanges: [] });
        assert.equal(updated.outputs.id, "repuser2");
        assert.deepEqual(await outside("SELECT rolname FROM pg_authid WHERE oid = $1", [oid]), [{ rolname: "repuser2" }]);
        await outside("SELECT 1", [], "repuser2", "rep-pw-2");
        inputs = news;
        created = { id: "repuser2", outputs: updated.outputs };
    });

    ruleTest(["role.create.quoting"], "identifiers and literals are quoted as the provider does (a backslash reaches the server doubled)", async () => {
        const weird = await checkedInputs({ name: "we\"ird", login: true, password: "it's\\x" });
        const made = await role.create(ctx, { urn: URN, type: ROLE, inputs: weird, preview: false, timeout: 0 });
        assert.equal(made.id, "we\"ird");
        await outside("SELECT 1", [], "we\"ird", "it's\\\\x");
        await role.delete(ctx, { urn: URN, type: ROLE, id: made.id, outputs: made.outputs, oldInputs: weird, timeout: 0 });
    });

    ruleTest(["config.connect.ping-and-fingerprint"], "with a non-default expectedVersion there is no fingerprint: 9.4 sends no BYPASSRLS", async () => {
        const old = await pg.configure(programConfig({ expectedVersion: "9.4" }));
        const rls = await checkedInputs({ name: "rls_role", bypassRowLevelSecurity: true });
        const made = await role.create(old, { urn: URN, type: ROLE, inputs: rls, preview: false, timeout: 0 });
        assert.deepEqual(await outside("SELECT rolbypassrls FROM pg_authid WHERE rolname = 'rls_role'"), [{ rolbypassrls: false }]);
        await role.delete(old, { urn: URN, type: ROLE, id: made.id, outputs: made.outputs, oldInputs: rls, timeout: 0 });
    });

    ruleTest(["config.configure.defaults"], "an empty config takes host, port, user and password from PG* variables at configure", async () => {
        const saved = { ...process.env };
        Object.assign(process.env, { PGHOST: "127.0.0.1", PGPORT: String(PORT), PGUSER: "postgres", PGPASSWORD: SUPERUSER_PASSWORD, PGSSLMODE: "disable" });
        let envCtx: ProviderContext;
        try {
            envCtx = await pg.configure({});
        } finally {
            process.env = saved;
        }
        const read = await role.read(envCtx, { urn: URN, type: ROLE, id: "repuser2", state: created.outputs, inputs });
        assert.equal(read?.outputs.name, "repuser2");
    });

    ruleTest(["role.read.gone"], "a role dropped outside is gone from state on read", async () => {
        await outside("CREATE ROLE ghost LOGIN");
        const ghost = await checkedInputs({ name: "ghost", login: true });
        await outside("DROP ROLE ghost");
        assert.equal(await role.read(ctx, { urn: URN, type: ROLE, id: "ghost", state: { ...ghost, id: "ghost" }, inputs: ghost }), undefined);
    });

    ruleTest(["role.errors.pq-prefix", "role.delete.sql"], "deleting a missing role fails at REASSIGN OWNED with lib/pq's text", async () => {
        await assert.rejects(role.delete(ctx, { urn: URN, type: ROLE, id: "ghost", outputs: { name: "ghost" }, oldInputs: {}, timeout: 0 }), {
            message: "could not reassign owned by role ghost to postgres: pq: role \"ghost\" does not exist",
        });
    });

    ruleTest(["role.delete.sql"], "delete reassigns what the role owns, drops it, and drops the role", async () => {
        await outside("GRANT CREATE ON SCHEMA public TO repuser2");
        const c = new Client({ host: "127.0.0.1", port: PORT, user: "repuser2", password: "rep-pw-2", database: "postgres" });
        await c.connect();
        await c.query("CREATE TABLE owned_by_rep (id int)");
        await c.end();
        await role.delete(ctx, { urn: URN, type: ROLE, id: "repuser2", outputs: created.outputs, oldInputs: inputs, timeout: 0 });
        assert.deepEqual(await outside("SELECT rolname FROM pg_authid WHERE rolname = 'repuser2'"), []);
        assert.deepEqual(await outside("SELECT tableowner FROM pg_tables WHERE tablename = 'owned_by_rep'"), [{ tableowner: "postgres" }]);
    });

    ruleTest(["role.delete.unreachable", "config.connect.error", "config.connect.no-idle"], "delete against a stopped server fails with the provider's messages", async () => {
        const again = await checkedInputs({ name: "stay", login: true });
        const made = await role.create(ctx, { urn: URN, type: ROLE, inputs: again, preview: false, timeout: 0 });
        execFileSync("docker", ["stop", "-t", "5", NAME], { stdio: "ignore" });
        const fresh = await pg.configure(programConfig());
        await assert.rejects(role.delete(fresh, { urn: URN, type: ROLE, id: made.id, outputs: made.outputs, oldInputs: again, timeout: 0 }), {
            message: `error connecting to PostgreSQL server 127.0.0.1 (scheme: postgres): dial tcp 127.0.0.1:${PORT}: connect: connection refused`,
        });
        // The instance that connected before has the DSN in its registry: no ping; the transaction's dial fails.
        await assert.rejects(role.delete(ctx, { urn: URN, type: ROLE, id: made.id, outputs: made.outputs, oldInputs: again, timeout: 0 }), {
            message: `could not start transaction: dial tcp 127.0.0.1:${PORT}: connect: connection refused`,
        });
    });

    it("every RULES id is proved by a test that names it", () => {
        const missing = RULES.map((r) => r.id).filter((id) => !named.some((n) => n.includes(id)));
        assert.deepEqual(missing, []);
    });
});
