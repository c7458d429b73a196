// Stand-in for the postgresql provider 3.18.0 (pulumi/pulumi-postgresql v3.18.0: the TF bridge
// v3.134.0 over cyrilgdn/terraform-provider-postgresql ff936b9), for what this program uses: the
// provider configuration and postgresql:index/role:Role. Every behaviour is a row of RULES.
// Anything the program does not use and the source does not make cheap to model throws
// StandInError rather than guessing.

import { createHash, X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import { Client, ClientConfig } from "pg";
import {
    CheckResult, DiffResult, Props, ProviderContext, ResourceHandler, Rule, StandInError, StandInProvider,
    UNKNOWN, hasUnknown, secret,
} from "./provider";

const UPSTREAM = "cyrilgdn/terraform-provider-postgresql@ff936b9548c1076f498523a2bd116915ff977142 postgresql/";
const BRIDGE = "pulumi/pulumi-terraform-bridge@v3.134.0 pkg/tfbridge/";
const PULUMI = "pulumi/pulumi-postgresql@v3.18.0 ";
const PQ = "lib/pq@v1.12.3 (1f3e3d92865dd313b4e146968684d7e3836c76e8, the provider's go.mod) ";
const X509 = "golang/go@0184fe5ece4f84fda9db04d2472b76efcaa8ef55 src/crypto/x509/verify.go:";
export const ROLE = "postgresql:index/role:Role";

export const RULES: readonly Rule[] = [
    { id: "config.check.returns-news", behaviour: "CheckConfig returns the given config unchanged (no defaults added; the SDK sent non-strings JSON-encoded and they stay so), with password made secret.", source: `${BRIDGE}provider.go:536-607 (MarkSchemaSecrets, ConfigEncoding.MarshalProperties); ${PULUMI}sdk/nodejs/provider.ts (JSON.stringify)` },
    { id: "config.check.validates", behaviour: "CheckConfig fails connectTimeout and maxConnections below -1, a scheme outside postgres/awspostgres/gcppostgres and an unparsable expectedVersion; unknown values are not validated.", source: `${BRIDGE}provider.go:586-591 validateProviderConfig; ${UPSTREAM}provider.go:32-41,181-201` },
    { id: "config.diff.never-replaces", behaviour: "DiffConfig reports changed keys (unknowns count as changed) as updates and never replaces the provider: no config key sets ForcesProviderReplace.", source: `${BRIDGE}provider.go:796-893 configDiffer; ${PULUMI}provider/resources.go:74-87 (Config has no ForcesProviderReplace)` },
    { id: "config.configure.lazy", behaviour: "Configure only builds a client: it never connects, so a provider pointed at a closed port configures fine and fails at its first CRUD call.", source: `${UPSTREAM}provider.go:333-408 providerConfigure, config.go:200-206 NewClient; facts (c)19` },
    { id: "config.configure.defaults", behaviour: "At Configure the TF schema defaults apply: host PGHOST; port PGPORT or 5432; database PGDATABASE or postgres; username PGUSER or postgres; password PGPASSWORD; superuser PGSUPERUSER or true; sslmode PGSSLMODE (else deprecated sslMode); connectTimeout PGCONNECT_TIMEOUT or 180; maxConnections 20; expectedVersion 9.0.0; scheme postgres.", source: `${UPSTREAM}provider.go:31-201; ${PULUMI}provider/resources.go:74-87` },
    { id: "config.connect.ping-and-fingerprint", behaviour: "The first CRUD call per DSN (registry per plugin process, i.e. per provider instance) opens the pool and pings; with expectedVersion at its default 9.0.0 it runs SELECT VERSION() and parses the second field. A failed connect is not cached.", source: `${UPSTREAM}config.go:286-364 Connect, fingerprintCapabilities` },
    { id: "config.connect.error", behaviour: "A failed ping errors 'error connecting to PostgreSQL server <host> (scheme: <scheme>): <lib/pq error>' with the password replaced by XXXX (at most twice).", source: `${UPSTREAM}config.go:304-310; facts F4-F6` },
    { id: "config.connect.no-idle", behaviour: "Connections are not kept idle (SetMaxIdleConns(0)): each statement outside a transaction and each transaction uses a fresh connection; once a DSN is in the registry no new ping is done, so a later dial error surfaces from the statement (e.g. 'could not start transaction: ...').", source: `${UPSTREAM}config.go:312-316, helpers.go:390-405 startTransaction` },
    { id: "config.connect.params", behaviour: "The DSN carries sslmode, connect_timeout (0 = wait forever), fallback_application_name 'Terraform provider' and sslrootcert when set (so a new path is a new registry entry); only scheme postgres and sslmode disable or verify-full are modelled.", source: `${UPSTREAM}config.go:221-274 connParams, connStr; provider.go:383,387` },
    { id: "config.ssl.modes", behaviour: "sslmode disable connects without TLS; verify-full negotiates TLS and checks the server's certificate chain against the CAs in sslrootcert and its name against the host connected to. Other modes (\"\" is require to lib/pq, prefer/allow fall back to plaintext), verify-full without sslrootcert (lib/pq then takes PGSSLROOTCERT, ~/.postgresql/root.crt or the system roots) and sslrootcert=system are not modelled.", source: `${UPSTREAM}provider.go:139-149,175-179,334-342; ${PQ}ssl.go:66-119, connector.go:309-333,640-649` },
    { id: "config.ssl.rootcert-file", behaviour: "sslrootcert is a file path on the machine running the provider, never checked at CheckConfig or Configure: each new connection, after its TCP dial succeeds and before the SSLRequest, reads it (os.ReadFile: 'open <path>: no such file or directory', 'open <path>: permission denied', 'read <path>: is a directory') and keeps its CERTIFICATE blocks ('pq: couldn't parse pem from sslrootcert' when none parses); so a file removed later fails the next connection, not the provider.", source: `${UPSTREAM}provider.go:175-179,387, config.go:242-244; ${PQ}conn.go:261-289 (dial, then cn.ssl), conn.go:1179-1210, ssl.go:131-139,234-264` },
    { id: "config.ssl.not-enabled", behaviour: "With verify-full, a server that answers the SSLRequest with N fails the connection: 'pq: SSL is not enabled on the server'.", source: `${PQ}conn.go:36,1190-1206` },
    { id: "config.ssl.verify-errors", behaviour: "A chain that does not lead to a CA in sslrootcert fails the connection 'tls: failed to verify certificate: x509: certificate signed by unknown authority' (Go adds '(possibly because of …)' when a CA of the issuer's name but another key is in the file; the stand-in gives the plain text). A name mismatch (ServerName = host; an IP host matches IP SANs only, a name matches DNS SANs only, never the CN) fails with x509.HostnameError's text: 'x509: certificate is valid for <IP SANs or DNS SANs>, not <host>', 'x509: cannot validate certificate for <ip> because it doesn't contain any IP SANs', 'x509: certificate is not valid for any names, but wanted to match <host>'. Any other TLS failure is not modelled.", source: `${PQ}ssl.go:110-111,150-168; ${X509}100-127 HostnameError.Error, 140-154 UnknownAuthorityError.Error; crypto/tls handshake_client.go (\"tls: failed to verify certificate: %w\")` },
    { id: "role.check.defaults", behaviour: "Check fills the non-falsy TF defaults that are absent (connectionLimit -1, encryptedPassword true, inherit true, validUntil infinity), lists them sorted in __defaults, and leaves falsy defaults (false, 0, \"\") out; an old default is kept.", source: `${BRIDGE}provider.go:953-1110 Check; schema.go:742-1006 applyDefaults, shouldSuppressTFSchemaDefaultValue; ${UPSTREAM}resource_postgresql_role.go:57-196` },
    { id: "role.check.validates", behaviour: "Check fails connectionLimit below -1 and statementTimeout or idleInTransactionSessionTimeout below 0 (validation.IntAtLeast).", source: `${UPSTREAM}resource_postgresql_role.go:118-124,143-148,185-190` },
    { id: "role.diff.no-force-new", behaviour: "No Role attribute is ForceNew: every change, name included, is an in-place update; unset attributes compare as their default or zero value.", source: `${UPSTREAM}resource_postgresql_role.go:57-196 (no ForceNew); ${PULUMI}provider/resources.go (no Role overrides)` },
    { id: "role.create.sql", behaviour: "Create runs, in one transaction, CREATE ROLE <ident> WITH [ENCRYPTED|UNENCRYPTED PASSWORD '<lit>' | PASSWORD NULL] VALID UNTIL '<v|infinity>' CONNECTION LIMIT n NOSUPERUSER|SUPERUSER NOCREATEDB|CREATEDB NOCREATEROLE|CREATEROLE INHERIT|NOINHERIT LOGIN|NOLOGIN [NO]BYPASSRLS (>=9.5) [NO]REPLICATION (>=9.1), then GRANTs for roles, ALTER ROLE SET search_path (always, DEFAULT when empty), statement_timeout / idle_in_transaction_session_timeout / ROLE when set; then commits, sets the id to the name and reads.", source: `${UPSTREAM}resource_postgresql_role.go:200-380, 1031-1145` },
    { id: "role.create.quoting", behaviour: "Identifiers are quoted by pq.QuoteIdentifier (double quotes doubled, cut at NUL); literals by pqQuoteLiteral (backslash doubled, quote doubled) inside '...', so a backslash reaches the server doubled.", source: `${UPSTREAM}helpers.go:47-55; lib/pq conn.go QuoteIdentifier` },
    { id: "role.read.attributes", behaviour: "Read selects from pg_roles by the id: name, superuser, inherit, createRole, createDatabase, login, connectionLimit, COALESCE(rolvaliduntil::TEXT,'infinity'), replication, bypassRowLevelSecurity, granted roles, and search_path / statement_timeout / idle_in_transaction_session_timeout / role from rolconfig; encryptedPassword is always true; skip flags come from state.", source: `${UPSTREAM}resource_postgresql_role.go:442-608` },
    { id: "role.read.scram-password", behaviour: "With login and provider superuser, Read checks the current user is superuser, reads pg_shadow: a SCRAM verifier returns the state password without comparing (a password changed outside is not seen); an md5 verifier is compared with md5(password+name); otherwise the stored verifier (or '') is returned.", source: `${UPSTREAM}resource_postgresql_role.go:536-542, 612-669; facts M8` },
    { id: "role.read.gone", behaviour: "A role missing from pg_roles (Exists, then Read) is removed from state.", source: `${UPSTREAM}resource_postgresql_role.go:425-436, 494-498; ${BRIDGE}provider.go:1421-1557 Read` },
    { id: "role.update.sql", behaviour: "Update locks the old role (SET statement_timeout = 0, pg_advisory_xact_lock), then in this order applies only what changed: ALTER ROLE RENAME TO, ALTER ROLE PASSWORD '<lit>' (also on rename), BYPASSRLS, CONNECTION LIMIT, CREATEDB, CREATEROLE, INHERIT, LOGIN, REPLICATION, SUPERUSER, VALID UNTIL; then revokes every granted role and grants the listed ones, sets search_path, timeouts and ROLE; commits and reads.", source: `${UPSTREAM}resource_postgresql_role.go:671-1029` },
    { id: "role.delete.sql", behaviour: "Delete, in one transaction on the provider's database only: lock the role, unless skipReassignOwned REASSIGN OWNED BY <role> TO <provider username> and DROP OWNED BY <role> (directly when the current user is superuser), unless skipDropRole DROP ROLE; errors 'could not reassign owned by role ...', 'could not drop owned by role ...', 'could not delete role ...'.", source: `${UPSTREAM}resource_postgresql_role.go:382-423, helpers.go:142-239 withRolesGranted, 586-604 pgLockRole` },
    { id: "role.delete.unreachable", behaviour: "Delete against a server that cannot be reached fails like every CRUD call: 'error connecting to PostgreSQL server ...' (no retry, no skip); the engine keeps the role in state.", source: `${UPSTREAM}helpers.go:14-25 PGResourceFunc, config.go:304-310; facts F5, F6` },
    { id: "role.errors.pq-prefix", behaviour: "Server errors read as lib/pq prints them: 'pq: <message>'; dial errors as Go's net package prints them ('dial tcp <ip>:<port>: connect: connection refused', '... i/o timeout').", source: "lib/pq error.go (Error: \"pq: \" + Message); Go net OpError" },
    { id: "secrets.bridge", behaviour: "Outputs are secret where the input was secret, plus the schema's sensitive properties: Role password and passwordWo; provider password.", source: `${BRIDGE}provider.go MarkSchemaSecrets; ${UPSTREAM}resource_postgresql_role.go:63-78, provider.go:66-72` },
];

// ---------------------------------------------------------------------------------------------
// Provider configuration

interface Settings {
    readonly scheme: string;
    readonly host: string;
    readonly port: number;
    readonly username: string;
    readonly password: string;
    readonly databaseUsername: string;
    readonly database: string;
    readonly superuser: boolean;
    readonly sslmode: string;
    /** A file path on this machine ("" when unset: no DSN parameter). */
    readonly sslrootcert: string;
    readonly connectTimeout: number;
    readonly maxConnections: number;
    readonly expectedVersion: string;
}

/** Provider config values come JSON-encoded as strings from the SDK (and natively from tests). */
function configValue(config: Props, key: string): unknown {
    const v = config[key];
    if (v === undefined || v === null || v === "") {
        return undefined;
    }
    return v;
}

function configInt(config: Props, key: string): number | undefined {
    const v = configValue(config, key);
    if (v === undefined) {
        return undefined;
    }
    const n = typeof v === "number" ? v : Number(v);
    if (!Number.isInteger(n)) {
        throw new StandInError(`postgresql stand-in: config ${key} = ${JSON.stringify(v)} is not an integer`);
    }
    return n;
}

function configBool(config: Props, key: string): boolean | undefined {
    const v = configValue(config, key);
    if (v === undefined) {
        return undefined;
    }
    if (v === true || v === "true") {
        return true;
    }
    if (v === false || v === "false") {
        return false;
    }
    throw new StandInError(`postgresql stand-in: config ${key} = ${JSON.stringify(v)} is not a boolean`);
}

function configString(config: Props, key: string): string | undefined {
    const v = configValue(config, key);
    return v === undefined ? undefined : String(v);
}

function envInt(name: string, fallback: number): number {
    const v = process.env[name];
    return v === undefined ? fallback : Number.parseInt(v, 10);
}

const UNMODELLED_CONFIG = ["awsRdsIamAuth", "azureIdentityAuth", "clientcert", "gcpIamImpersonateServiceAccount"];

function resolveSettings(config: Props): Settings {
    for (const key of UNMODELLED_CONFIG) {
        const v = configValue(config, key);
        if (v !== undefined && v !== "false" && v !== false) {
            throw new StandInError(`postgresql stand-in: provider config ${key} is not modelled`);
        }
    }
    const superuserEnv = process.env.PGSUPERUSER;
    return {
        scheme: configString(config, "scheme") ?? "postgres",
        host: configString(config, "host") ?? process.env.PGHOST ?? "",
        port: configInt(config, "port") ?? envInt("PGPORT", 5432),
        username: configString(config, "username") ?? process.env.PGUSER ?? "postgres",
        password: configString(config, "password") ?? process.env.PGPASSWORD ?? "",
        databaseUsername: configString(config, "databaseUsername") ?? "",
        database: configString(config, "database") ?? process.env.PGDATABASE ?? "postgres",
        superuser: configBool(config, "superuser") ?? (superuserEnv === undefined ? true : superuserEnv === "true" || superuserEnv === "1"),
        sslmode: configString(config, "sslmode") ?? process.env.PGSSLMODE ?? configString(config, "sslMode") ?? "",
        // No DefaultFunc in the schema (provider.go:175-179): only the config's value.
        sslrootcert: configString(config, "sslrootcert") ?? "",
        connectTimeout: configInt(config, "connectTimeout") ?? envInt("PGCONNECT_TIMEOUT", 180),
        maxConnections: configInt(config, "maxConnections") ?? 20,
        expectedVersion: configString(config, "expectedVersion") ?? "9.0.0",
    };
}

// ---------------------------------------------------------------------------------------------
// Versions (blang/semver ParseTolerant, for the shapes PostgreSQL prints)

type Version = readonly [number, number, number];

function parseTolerant(text: string): Version | undefined {
    const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(text.trim());
    return m ? [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)] : undefined;
}

function atLeast(v: Version, min: Version): boolean {
    for (let i = 0; i < 3; i++) {
        if (v[i] !== min[i]) {
            return v[i] > min[i];
        }
    }
    return true;
}

const FEATURE_RLS: Version = [9, 5, 0];
const FEATURE_REPLICATION: Version = [9, 1, 0];
const FEATURE_CREATE_ROLE_WITH: Version = [8, 1, 0];

// ---------------------------------------------------------------------------------------------
// Quoting (lib/pq QuoteIdentifier; the provider's pqQuoteLiteral)

export function quoteIdentifier(name: string): string {
    const end = name.indexOf("\u0000");
    const cut = end >= 0 ? name.slice(0, end) : name;
    return `"${cut.replace(/"/g, "\"\"")}"`;
}

export function quoteLiteralBody(value: string): string {
    return value.replace(/\\/g, "\\\\").replace(/'/g, "''");
}

// ---------------------------------------------------------------------------------------------
// Connections

/**
 * The real provider's dbRegistry (DSN -> fingerprinted version) lives in its process, and the
 * engine starts one plugin process per provider instance; so here it lives in the context that
 * configure made for that instance.
 */
type Registry = Map<string, Version>;

function dsnOf(s: Settings): string {
    return JSON.stringify([s.scheme, s.username, s.password, s.host, s.port, s.database, s.sslmode, s.connectTimeout, s.sslrootcert]);
}

/** An error as lib/pq and Go's net package would print it. */
function goErrorText(err: any, s: Settings): string {
    if (err instanceof GoText) {
        return err.message;
    }
    if (err?.message === "The server does not support SSL connections") {
        return "pq: SSL is not enabled on the server";
    }
    if (UNKNOWN_AUTHORITY.includes(err?.code)) {
        return "tls: failed to verify certificate: x509: certificate signed by unknown authority";
    }
    if (typeof err?.code === "string" && (/^ERR_TLS_|^ERR_SSL_/.test(err.code) || /CERT/.test(err.code))) {
        throw new StandInError(`postgresql stand-in: a TLS failure other than an unknown authority or a name mismatch is not modelled (${err.code}: ${err.message})`);
    }
    if (err?.code === "ECONNREFUSED") {
        return `dial tcp ${err.address ?? s.host}:${err.port ?? s.port}: connect: connection refused`;
    }
    if (/timeout/i.test(String(err?.message)) && !err?.severity) {
        return `dial tcp ${s.host}:${s.port}: i/o timeout`;
    }
    if (err?.severity) {
        return `pq: ${err.message}`;
    }
    return String(err?.message ?? err);
}

/** Go's strings.Replace(s, old, "XXXX", 2), including its behaviour for an empty old. */
function replaceTwice(text: string, old: string): string {
    if (old === "") {
        const chars = Array.from(text);
        return chars.length === 0 ? "XXXX" : `XXXX${chars[0]}XXXX${chars.slice(1).join("")}`;
    }
    let out = text;
    for (let i = 0; i < 2 && out.includes(old); i++) {
        out = out.replace(old, "XXXX");
    }
    return out;
}

class Connection {
    constructor(readonly settings: Settings, readonly version: Version, private readonly log: (m: string) => void) {}

    featureSupported(min: Version): boolean {
        return atLeast(this.version, min);
    }

    /** One fresh connection for fn (SetMaxIdleConns(0)); dial errors as Go prints them. */
    async withClient<T>(fn: (c: Client) => Promise<T>): Promise<T> {
        let client: Client;
        try {
            client = await openClient(this.settings);
        } catch (err) {
            throw new Error(goErrorText(err, this.settings));
        }
        try {
            return await fn(client);
        } finally {
            await client.end().catch(() => undefined);
        }
    }

    /** startTransaction + deferredRollback: fn's errors roll back; commit errors are wrapped. */
    async transaction(fn: (q: Query) => Promise<void>): Promise<void> {
        let client: Client;
        try {
            client = await openClient(this.settings);
            await client.query("BEGIN");
        } catch (err) {
            throw new Error(`could not start transaction: ${goErrorText(err, this.settings)}`);
        }
        try {
            await fn(this.query(client));
            try {
                await client.query("COMMIT");
            } catch (err) {
                throw new WrappedError("could not commit transaction", err, this.settings);
            }
        } catch (err) {
            await client.query("ROLLBACK").catch(() => undefined);
            throw err;
        } finally {
            await client.end().catch(() => undefined);
        }
    }

    query(client: Client): Query {
        return async (sql: string, params: unknown[] = []) => {
            this.log(`sql: ${sql.replace(/PASSWORD '(?:[^']|'')*'/g, "PASSWORD '***'")}`);
            return (await client.query(sql, params)).rows;
        };
    }

    /** One statement on its own connection (db.QueryRow outside a transaction). */
    async queryOnce(sql: string, params: unknown[] = []): Promise<any[]> {
        return this.withClient((c) => this.query(c)(sql, params));
    }
}

type Query = (sql: string, params?: unknown[]) => Promise<any[]>;

/** fmt.Errorf("<prefix>: %w", err) with err as lib/pq prints it. */
class WrappedError extends Error {
    constructor(prefix: string, cause: unknown, settings: Settings) {
        super(`${prefix}: ${goErrorText(cause, settings)}`);
    }
}

/** An error whose message is already the text lib/pq or Go prints. */
class GoText extends Error {}

/** Node's codes for a chain that leads to no trusted CA (Go: x509.UnknownAuthorityError). */
const UNKNOWN_AUTHORITY = ["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT",
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "UNABLE_TO_GET_ISSUER_CERT"];

/** sslrootcert as lib/pq reads it (os.ReadFile, then AppendCertsFromPEM): the certificates, or Go's error text. */
function readRootCert(file: string): { pem: string } | { error: string } {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err: any) {
        const why: Record<string, string> = {
            ENOENT: `open ${file}: no such file or directory`,
            EACCES: `open ${file}: permission denied`,
            EISDIR: `read ${file}: is a directory`,
            ENOTDIR: `open ${file}: not a directory`,
        };
        if (why[err?.code]) {
            return { error: why[err.code] };
        }
        throw new StandInError(`postgresql stand-in: reading sslrootcert ${file} failed with ${err?.code}, not modelled`);
    }
    const blocks = (text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).filter((b) => {
        try {
            new X509Certificate(b);
            return true;
        } catch {
            return false;
        }
    });
    return blocks.length > 0 ? { pem: blocks.join("\n") + "\n" } : { error: "pq: couldn't parse pem from sslrootcert" };
}

/** Only the TCP dial (lib/pq dials before it reads sslrootcert): its error, or nothing. */
function dialOnly(s: Settings): Promise<void> {
    return new Promise((resolve, reject) => {
        const socket = net.connect({ host: s.host, port: s.port });
        const timer = s.connectTimeout > 0 ? setTimeout(() => {
            socket.destroy();
            reject(new GoText(`dial tcp ${s.host}:${s.port}: i/o timeout`));
        }, s.connectTimeout * 1000) : undefined;
        socket.once("connect", () => {
            clearTimeout(timer);
            socket.destroy();
            resolve();
        });
        socket.once("error", (err) => {
            clearTimeout(timer);
            reject(err);
        });
    });
}

/**
 * Go's VerifyHostname with the text of x509.HostnameError: an IP host against the IP SANs only, a
 * name against the DNS SANs only (case-insensitive, a leading "*." for one label), never the CN.
 */
export function goHostnameCheck(host: string, cert: { subject?: { CN?: string | string[] }; subjectaltname?: string }): Error | undefined {
    const entries = (cert.subjectaltname ?? "").split(", ").filter((e) => e !== "");
    const dns = entries.filter((e) => e.startsWith("DNS:")).map((e) => e.slice(4));
    const ips = entries.filter((e) => e.startsWith("IP Address:")).map((e) => e.slice(11));
    if (net.isIPv6(host) || ips.some((ip) => net.isIPv6(ip))) {
        throw new StandInError("postgresql stand-in: IPv6 in verify-full host checks is not modelled");
    }
    const isIp = net.isIPv4(host);
    const lower = host.toLowerCase();
    const matches = isIp ? ips.includes(host) : dns.some((d) => {
        const name = d.toLowerCase();
        return name === lower || (name.startsWith("*.") && lower.includes(".") && lower.slice(lower.indexOf(".")) === name.slice(1));
    });
    if (matches) {
        return undefined;
    }
    const text = (why: string) => new GoText(`tls: failed to verify certificate: ${why}`);
    const cn = ([] as string[]).concat(cert.subject?.CN ?? [])[0] ?? "";
    if (entries.length === 0 && cert.subjectaltname === undefined && cn.toLowerCase() === lower) {
        return text("x509: certificate relies on legacy Common Name field, use SANs instead");
    }
    if (isIp && ips.length === 0) {
        return text(`x509: cannot validate certificate for ${host} because it doesn't contain any IP SANs`);
    }
    const valid = isIp ? ips.join(", ") : dns.join(", ");
    return text(valid === "" ? `x509: certificate is not valid for any names, but wanted to match ${host}`
        : `x509: certificate is valid for ${valid}, not ${host}`);
}

function newClient(s: Settings, ca?: string): Client {
    const config: ClientConfig = {
        host: s.host,
        port: s.port,
        user: s.username,
        password: s.password,
        database: s.database,
        // verify-full: the chain against sslrootcert's CAs only, then the name as Go checks it.
        ssl: ca === undefined ? false : { ca, rejectUnauthorized: true, checkServerIdentity: goHostnameCheck },
        connectionTimeoutMillis: s.connectTimeout > 0 ? s.connectTimeout * 1000 : 0,
        fallback_application_name: "Terraform provider",
    };
    return new Client(config);
}

/** One new connection as lib/pq opens it: dial, then (verify-full) sslrootcert read, SSLRequest and TLS, then startup. */
async function openClient(s: Settings): Promise<Client> {
    let ca: string | undefined;
    if (s.sslmode === "verify-full") {
        const root = readRootCert(s.sslrootcert);
        if ("error" in root) {
            await dialOnly(s);
            throw new GoText(root.error);
        }
        ca = root.pem;
    }
    const client = newClient(s, ca);
    try {
        await client.connect();
    } catch (err) {
        await client.end().catch(() => undefined);
        throw err;
    }
    return client;
}

/** Client.Connect: the registry, else ping and (with the default expected version) fingerprint. */
async function connect(ctx: ProviderContext): Promise<Connection> {
    const s = settingsOf(ctx);
    if (s.scheme !== "postgres") {
        throw new StandInError(`postgresql stand-in: scheme ${s.scheme} is not modelled`);
    }
    if (s.sslmode !== "disable" && s.sslmode !== "verify-full") {
        throw new StandInError(`postgresql stand-in: sslmode ${JSON.stringify(s.sslmode)} is not modelled ` +
            "(lib/pq treats an empty sslmode as require); only disable and verify-full are");
    }
    if (s.sslmode === "verify-full" && (s.sslrootcert === "" || s.sslrootcert === "system")) {
        throw new StandInError(`postgresql stand-in: verify-full with sslrootcert ${JSON.stringify(s.sslrootcert)} is not modelled ` +
            "(lib/pq would use PGSSLROOTCERT, ~/.postgresql/root.crt or the system roots); only a file path is");
    }
    if (s.host === "") {
        throw new StandInError("postgresql stand-in: an empty host (lib/pq's default host) is not modelled");
    }
    const registry = registryOf(ctx);
    const dsn = dsnOf(s);
    const known = registry.get(dsn);
    if (known) {
        return new Connection(s, known, ctx.log);
    }
    const probe = new Connection(s, [0, 0, 0], ctx.log);
    try {
        await probe.withClient(async () => undefined);
    } catch (err) {
        const text = replaceTwice((err as Error).message, s.password);
        throw new Error(`error connecting to PostgreSQL server ${s.host} (scheme: ${s.scheme}): ${text}`);
    }
    let version = parseTolerant(s.expectedVersion);
    if (!version) {
        throw new StandInError(`postgresql stand-in: expectedVersion ${s.expectedVersion} is not a version it parses`);
    }
    if (version[0] === 9 && version[1] === 0 && version[2] === 0) {
        let text: string;
        try {
            text = (await probe.queryOnce("SELECT VERSION()"))[0].version;
        } catch (err) {
            throw new Error(`error detecting capabilities: error PostgreSQL version: ${goErrorText(err, s)}`);
        }
        const fields = text.split(/[\s,]+/).filter((f) => f !== "");
        if (fields.length < 2) {
            throw new Error(`error detecting capabilities: error determining the server version: ${JSON.stringify(text)}`);
        }
        version = parseTolerant(fields[1]);
        if (!version) {
            throw new StandInError(`postgresql stand-in: server version ${JSON.stringify(fields[1])} is not a form it parses`);
        }
    }
    registry.set(dsn, version);
    return new Connection(s, version, ctx.log);
}

// Kept on the context under symbols, which survive a spread copy of it.
const SETTINGS = Symbol("postgresql.settings");
const REGISTRY = Symbol("postgresql.registry");

function settingsOf(ctx: ProviderContext): Settings {
    const s = (ctx as any)[SETTINGS];
    if (!s) {
        throw new StandInError("postgresql stand-in: a CRUD call on a provider that configure did not make");
    }
    return s;
}

function registryOf(ctx: ProviderContext): Registry {
    return (ctx as any)[REGISTRY];
}

// ---------------------------------------------------------------------------------------------
// The Role schema

type Kind = "string" | "bool" | "int" | "list" | "set";
interface Attr {
    readonly kind: Kind;
    readonly tf: string;
    /** The TF schema Default, if any. */
    readonly def?: unknown;
}

const ATTRS: Readonly<Record<string, Attr>> = {
    name: { kind: "string", tf: "name" },
    password: { kind: "string", tf: "password" },
    passwordWo: { kind: "string", tf: "password_wo" },
    passwordWoVersion: { kind: "string", tf: "password_wo_version" },
    encrypted: { kind: "string", tf: "encrypted" },
    roles: { kind: "set", tf: "roles" },
    searchPaths: { kind: "list", tf: "search_path" },
    encryptedPassword: { kind: "bool", tf: "encrypted_password", def: true },
    validUntil: { kind: "string", tf: "valid_until", def: "infinity" },
    connectionLimit: { kind: "int", tf: "connection_limit", def: -1 },
    superuser: { kind: "bool", tf: "superuser", def: false },
    createDatabase: { kind: "bool", tf: "create_database", def: false },
    createRole: { kind: "bool", tf: "create_role", def: false },
    idleInTransactionSessionTimeout: { kind: "int", tf: "idle_in_transaction_session_timeout" },
    inherit: { kind: "bool", tf: "inherit", def: true },
    login: { kind: "bool", tf: "login", def: false },
    replication: { kind: "bool", tf: "replication", def: false },
    bypassRowLevelSecurity: { kind: "bool", tf: "bypass_row_level_security", def: false },
    skipDropRole: { kind: "bool", tf: "skip_drop_role", def: false },
    skipReassignOwned: { kind: "bool", tf: "skip_reassign_owned", def: false },
    statementTimeout: { kind: "int", tf: "statement_timeout" },
    assumeRole: { kind: "string", tf: "assume_role" },
};

const DEFAULTS_KEY = "__defaults";
const UNMODELLED_ROLE = ["passwordWo", "passwordWoVersion", "encrypted"];

function zeroOf(kind: Kind): unknown {
    switch (kind) {
        case "string": return "";
        case "bool": return false;
        case "int": return 0;
        default: return [];
    }
}

function isFalsy(v: unknown): boolean {
    return v === false || v === 0 || v === "";
}

/** The value TF sees for an attribute: the given one, else the schema default, else zero. */
function effective(props: Props, key: string, withDefault: boolean): unknown {
    const a = ATTRS[key];
    const v = props[key];
    if (v !== undefined && v !== null) {
        return a.kind === "set" && Array.isArray(v) ? [...v].sort() : v;
    }
    return withDefault && a.def !== undefined ? a.def : zeroOf(a.kind);
}

function same(a: unknown, b: unknown): boolean {
    return JSON.stringify(a) === JSON.stringify(b);
}

function str(v: unknown): string {
    return v === undefined || v === null ? "" : String(v);
}

function checkRole(olds: Props, news: Props): CheckResult {
    for (const key of Object.keys(news)) {
        if (!(key in ATTRS) && key !== DEFAULTS_KEY) {
            throw new StandInError(`postgresql stand-in: Role input ${key} is not in the 3.18.0 schema`);
        }
    }
    for (const key of UNMODELLED_ROLE) {
        if (news[key] !== undefined && news[key] !== null) {
            throw new StandInError(`postgresql stand-in: Role input ${key} is not modelled`);
        }
    }
    if (news.name === undefined || news.name === null) {
        throw new StandInError("postgresql stand-in: Role autonaming (no name given) is not modelled");
    }
    const failures: { property: string; reason: string }[] = [];
    const atLeastCheck = (key: string, min: number) => {
        const v = news[key];
        if (typeof v === "number" && v < min) {
            failures.push({ property: key, reason: `expected ${ATTRS[key].tf} to be at least (${min}), got ${v}` });
        }
    };
    atLeastCheck("connectionLimit", -1);
    atLeastCheck("statementTimeout", 0);
    atLeastCheck("idleInTransactionSessionTimeout", 0);

    const inputs: Props = {};
    for (const [k, v] of Object.entries(news)) {
        if (k !== DEFAULTS_KEY && v !== null && v !== undefined) {
            inputs[k] = v;
        }
    }
    const oldDefaults = Array.isArray(olds[DEFAULTS_KEY]) ? new Set<string>(olds[DEFAULTS_KEY]) : undefined;
    const defaults: string[] = [];
    for (const [key, attr] of Object.entries(ATTRS)) {
        if (key in inputs || attr.def === undefined) {
            continue;
        }
        const oldIsDefault = key in olds && (oldDefaults === undefined || oldDefaults.has(key));
        if (oldIsDefault) {
            inputs[key] = olds[key];
        } else if (isFalsy(attr.def)) {
            continue;
        } else {
            inputs[key] = attr.def;
        }
        defaults.push(key);
    }
    inputs[DEFAULTS_KEY] = defaults.sort();
    return { inputs, failures };
}

function diffRole(oldOutputs: Props, news: Props, ignoreChanges: readonly string[]): DiffResult {
    const newsIC: Props = { ...news };
    for (const path of ignoreChanges) {
        if (!(path in ATTRS)) {
            throw new StandInError(`postgresql stand-in: ignoreChanges path ${path} is not modelled (top-level Role properties only)`);
        }
        newsIC[path] = oldOutputs[path];
    }
    const diffs: string[] = [];
    for (const key of Object.keys(ATTRS)) {
        if (hasUnknown(newsIC[key])) {
            diffs.push(key);
        } else if (!same(effective(oldOutputs, key, true), effective(newsIC, key, true))) {
            diffs.push(key);
        }
    }
    return {
        changes: diffs.length > 0 ? "some" : "none",
        replaces: [],
        diffs,
        deleteBeforeReplace: false,
        detailedDiff: Object.fromEntries(diffs.map((k) => [k, "update" as const])),
    };
}

// ---------------------------------------------------------------------------------------------
// Role SQL

async function grantRoles(q: Query, props: Props): Promise<void> {
    const role = str(props.name);
    for (const granted of effective(props, "roles", false) as string[]) {
        try {
            await q(`GRANT ${quoteIdentifier(granted)} TO ${quoteIdentifier(role)}`);
        } catch (err) {
            throw new Error(`could not grant role ${granted} to ${role}: ${goErrorText(err, {} as Settings)}`);
        }
    }
}

async function alterSearchPath(q: Query, props: Props): Promise<void> {
    const role = str(props.name);
    const parts = effective(props, "searchPaths", false) as string[];
    for (const part of parts) {
        if (part.includes(", ")) {
            throw new Error(`search_path cannot contain \`, \`: ${part}`);
        }
    }
    const searchPath = parts.length > 0 ? parts.map(quoteIdentifier).join(", ") : "DEFAULT";
    try {
        await q(`ALTER ROLE ${quoteIdentifier(role)} SET search_path TO ${searchPath}`);
    } catch (err) {
        throw new Error(`could not set search_path ${searchPath} for ${role}: ${goErrorText(err, {} as Settings)}`);
    }
}

async function setTimeout_(q: Query, props: Props, key: "statementTimeout" | "idleInTransactionSessionTimeout"): Promise<void> {
    const role = str(props.name);
    const setting = ATTRS[key].tf;
    const value = effective(props, key, false) as number;
    try {
        await q(value !== 0
            ? `ALTER ROLE ${quoteIdentifier(role)} SET ${setting} TO ${value}`
            : `ALTER ROLE ${quoteIdentifier(role)} RESET ${setting}`);
    } catch (err) {
        const what = value !== 0 ? `could not set ${setting} ${value} for ${role}` : `could not reset ${setting} for ${role}`;
        throw new Error(`${what}: ${goErrorText(err, {} as Settings)}`);
    }
}

async function setAssumeRole(q: Query, props: Props): Promise<void> {
    const role = str(props.name);
    const assume = str(props.assumeRole);
    try {
        await q(assume !== ""
            ? `ALTER ROLE ${quoteIdentifier(role)} SET ROLE TO ${quoteIdentifier(assume)}`
            : `ALTER ROLE ${quoteIdentifier(role)} RESET ROLE`);
    } catch (err) {
        const what = assume !== "" ? `could not set role ${assume} for ${role}` : `could not reset role for ${role}`;
        throw new Error(`${what}: ${goErrorText(err, {} as Settings)}`);
    }
}

export function createRoleSql(props: Props, version: Version): string {
    const opts: string[] = [];
    const password = str(props.password);
    if (password !== "") {
        if (password.toUpperCase() === "NULL") {
            opts.push("PASSWORD NULL");
        } else {
            opts.push(effective(props, "encryptedPassword", true) ? "ENCRYPTED" : "UNENCRYPTED");
            opts.push(`PASSWORD '${quoteLiteralBody(password)}'`);
        }
    }
    const validUntil = str(effective(props, "validUntil", true));
    opts.push(validUntil === "" || validUntil.toLowerCase() === "infinity"
        ? "VALID UNTIL 'infinity'"
        : `VALID UNTIL '${quoteLiteralBody(validUntil)}'`);
    opts.push(`CONNECTION LIMIT ${effective(props, "connectionLimit", true)}`);
    const flag = (key: string, on: string, off: string) => opts.push(effective(props, key, true) ? on : off);
    flag("superuser", "SUPERUSER", "NOSUPERUSER");
    flag("createDatabase", "CREATEDB", "NOCREATEDB");
    flag("createRole", "CREATEROLE", "NOCREATEROLE");
    flag("inherit", "INHERIT", "NOINHERIT");
    flag("login", "LOGIN", "NOLOGIN");
    if (atLeast(version, FEATURE_RLS)) {
        flag("bypassRowLevelSecurity", "BYPASSRLS", "NOBYPASSRLS");
    }
    if (atLeast(version, FEATURE_REPLICATION)) {
        flag("replication", "REPLICATION", "NOREPLICATION");
    }
    const withWord = atLeast(version, FEATURE_CREATE_ROLE_WITH) ? " WITH " : " ";
    return `CREATE ROLE ${quoteIdentifier(str(props.name))}${withWord}${opts.join(" ")}`;
}

async function lockRole(q: Query, role: string): Promise<void> {
    try {
        await q("SET statement_timeout = 0");
    } catch (err) {
        throw new Error(`could not disable statement_timeout: ${goErrorText(err, {} as Settings)}`);
    }
    try {
        await q("SELECT pg_advisory_xact_lock(oid::bigint) FROM pg_roles WHERE rolname = $1", [role]);
    } catch (err) {
        throw new Error(`could not get advisory lock for role ${role}: ${goErrorText(err, {} as Settings)}`);
    }
    try {
        await q("SELECT pg_advisory_xact_lock(member::bigint) FROM pg_auth_members JOIN pg_roles ON roleid = pg_roles.oid WHERE rolname = $1", [role]);
    } catch (err) {
        throw new Error(`could not get advisory lock for members of role ${role}: ${goErrorText(err, {} as Settings)}`);
    }
}

function md5Verifier(password: string, role: string): string {
    return "md5" + createHash("md5").update(password + role).digest("hex");
}

/** resourcePostgreSQLRoleReadImpl; undefined when the role is gone. */
async function readRole(db: Connection, id: string, state: Props): Promise<Props | undefined> {
    const columns = ["rolname", "rolsuper", "rolinherit", "rolcreaterole", "rolcreatedb", "rolcanlogin", "rolconnlimit",
        "COALESCE(rolvaliduntil::TEXT, 'infinity') AS rolvaliduntil", "rolconfig"];
    const replication = db.featureSupported(FEATURE_REPLICATION);
    const rls = db.featureSupported(FEATURE_RLS);
    if (replication) {
        columns.push("rolreplication");
    }
    if (rls) {
        columns.push("rolbypassrls");
    }
    let rows: any[];
    try {
        // ::text[] only so that node-postgres parses the array (lib/pq scans it as a ByteaArray).
        rows = await db.queryOnce(`SELECT ARRAY(
            SELECT pg_get_userbyid(roleid) FROM pg_catalog.pg_auth_members members WHERE member = pg_roles.oid
        )::text[] AS roles, ${columns.join(", ")} FROM pg_catalog.pg_roles WHERE rolname=$1`, [id]);
    } catch (err) {
        throw new Error(`error reading ROLE: ${goErrorText(err, db.settings)}`);
    }
    if (rows.length === 0) {
        return undefined;
    }
    const r = rows[0];
    const config: string[] = r.rolconfig ?? [];
    const fromConfig = (prefix: string) => config.filter((c) => c.startsWith(prefix));
    const searchPathEntry = fromConfig("search_path")[0];
    const timeout = (setting: string): number => {
        const entry = fromConfig(setting)[0];
        if (entry === undefined) {
            return 0;
        }
        const n = Number.parseInt(entry.slice(setting.length + 1).split(", ")[0], 10);
        if (Number.isNaN(n)) {
            throw new Error(`error reading statement_timeout: strconv.Atoi: parsing ${JSON.stringify(entry)}: invalid syntax`);
        }
        return n;
    };
    const roleEntries = fromConfig("role");
    const outputs: Props = {
        id: r.rolname,
        name: r.rolname,
        connectionLimit: r.rolconnlimit,
        createDatabase: r.rolcreatedb,
        createRole: r.rolcreaterole,
        encryptedPassword: true,
        inherit: r.rolinherit,
        login: r.rolcanlogin,
        skipDropRole: Boolean(state.skipDropRole),
        skipReassignOwned: Boolean(state.skipReassignOwned),
        superuser: r.rolsuper,
        validUntil: r.rolvaliduntil,
        replication: replication ? r.rolreplication : false,
        bypassRowLevelSecurity: rls ? r.rolbypassrls : false,
        roles: [...(r.roles as string[])].sort(),
        searchPaths: searchPathEntry === undefined ? [] :
            searchPathEntry.slice("search_path=".length).split(", ").map((p) => p.replace(/^"+|"+$/g, "")),
        assumeRole: roleEntries.length > 0 ? roleEntries[roleEntries.length - 1].replace(/^role=/, "") : "",
        statementTimeout: timeout("statement_timeout"),
        idleInTransactionSessionTimeout: timeout("idle_in_transaction_session_timeout"),
        password: state.password ?? null,
        passwordWo: null,
        passwordWoVersion: null,
        encrypted: null,
    };
    if (str(state.password) !== "") {
        outputs.password = await readRolePassword(db, r.rolname, str(state.password), r.rolcanlogin);
    }
    return outputs;
}

async function readRolePassword(db: Connection, id: string, statePassword: string, canLogin: boolean): Promise<string> {
    if (!canLogin || !db.settings.superuser) {
        return statePassword;
    }
    let superuser: boolean;
    try {
        superuser = (await db.queryOnce("SELECT rolsuper FROM pg_roles WHERE rolname = CURRENT_USER"))[0].rolsuper;
    } catch (err) {
        throw new Error(`could not check if current user is superuser: ${goErrorText(err, db.settings)}`);
    }
    if (!superuser) {
        throw new Error(`could not read role password from Postgres as connected user ${db.settings.databaseUsername || db.settings.username} ` +
            "is not a SUPERUSER. You can set `superuser = false` in the provider configuration so it will not try to read the password from Postgres");
    }
    let rows: any[];
    try {
        rows = await db.queryOnce("SELECT COALESCE(passwd, '') AS passwd FROM pg_catalog.pg_shadow AS s WHERE s.usename = $1", [id]);
    } catch (err) {
        throw new Error(`error reading role: ${goErrorText(err, db.settings)}`);
    }
    if (rows.length === 0) {
        return "";
    }
    const stored: string = rows[0].passwd;
    if (statePassword !== "" && !statePassword.startsWith("md5") && !statePassword.startsWith("SCRAM-SHA-256")) {
        if (stored.startsWith("md5") && md5Verifier(statePassword, id) === stored) {
            return statePassword;
        }
        if (stored.startsWith("SCRAM-SHA-256")) {
            return statePassword;
        }
    }
    return stored;
}

async function exists(db: Connection, id: string): Promise<boolean> {
    try {
        return (await db.queryOnce("SELECT rolname FROM pg_catalog.pg_roles WHERE rolname=$1", [id])).length > 0;
    } catch (err) {
        throw new Error(goErrorText(err, db.settings));
    }
}

/** What the plan shows in preview: the inputs with the schema's defaults, the id unknown. */
function plannedOutputs(inputs: Props): Props {
    const out: Props = { id: UNKNOWN };
    for (const [key, attr] of Object.entries(ATTRS)) {
        const v = inputs[key];
        out[key] = v !== undefined && v !== null ? v : (attr.def ?? null);
    }
    return out;
}

function stripDefaultsKey(props: Props): Props {
    const { [DEFAULTS_KEY]: _ignored, ...rest } = props;
    return rest;
}

const roleHandler: ResourceHandler = {
    async check(_ctx, req) {
        return checkRole(req.olds, req.news);
    },

    async diff(_ctx, req) {
        return diffRole(req.oldOutputs, stripDefaultsKey(req.news), req.ignoreChanges);
    },

    async create(ctx, req) {
        const inputs = stripDefaultsKey(req.inputs);
        if (req.preview) {
            return { id: "", outputs: plannedOutputs(inputs) };
        }
        const db = await connect(ctx);
        const role = str(inputs.name);
        await db.transaction(async (q) => {
            try {
                await q(createRoleSql(inputs, db.version));
            } catch (err) {
                throw new Error(`error creating role ${role}: ${goErrorText(err, db.settings)}`);
            }
            await grantRoles(q, inputs);
            await alterSearchPath(q, inputs);
            if (effective(inputs, "statementTimeout", false) !== 0) {
                await setTimeout_(q, inputs, "statementTimeout");
            }
            if (effective(inputs, "idleInTransactionSessionTimeout", false) !== 0) {
                await setTimeout_(q, inputs, "idleInTransactionSessionTimeout");
            }
            if (str(inputs.assumeRole) !== "") {
                await setAssumeRole(q, inputs);
            }
        });
        const outputs = await readRole(db, role, inputs);
        if (!outputs) {
            throw new Error(`postgresql stand-in: role ${role} vanished right after its creation`);
        }
        return { id: role, outputs };
    },

    async read(ctx, req) {
        const db = await connect(ctx);
        if (!(await exists(db, req.id))) {
            return undefined;
        }
        const outputs = await readRole(db, req.id, req.state);
        if (!outputs) {
            return undefined;
        }
        const inputs: Props = {};
        for (const key of Object.keys(req.inputs)) {
            inputs[key] = key in outputs && key in ATTRS ? outputs[key] : req.inputs[key];
        }
        return { id: outputs.id, outputs, inputs };
    },

    async update(ctx, req) {
        const news = stripDefaultsKey(req.news);
        if (req.preview) {
            return { outputs: { ...plannedOutputs(news), id: req.id } };
        }
        const olds = req.oldOutputs;
        const changed = (key: string) => !same(effective(olds, key, true), effective(news, key, true));
        const db = await connect(ctx);
        const oldName = str(olds.name);
        const name = str(news.name);
        const ident = quoteIdentifier(name);
        await db.transaction(async (q) => {
            await lockRole(q, oldName);
            const alter = async (sql: string, what: string) => {
                try {
                    await q(sql);
                } catch (err) {
                    throw new Error(`error updating role ${what}: ${goErrorText(err, db.settings)}`);
                }
            };
            if (changed("name")) {
                if (name === "") {
                    throw new Error("error setting role name to an empty string");
                }
                await alter(`ALTER ROLE ${quoteIdentifier(oldName)} RENAME TO ${ident}`, "NAME");
            }
            if ((changed("password") || changed("name")) && str(news.password) !== "") {
                await alter(`ALTER ROLE ${ident} PASSWORD '${quoteLiteralBody(str(news.password))}'`, "password");
            }
            if (changed("bypassRowLevelSecurity")) {
                if (!db.featureSupported(FEATURE_RLS)) {
                    throw new Error(`PostgreSQL client is talking with a server ("${db.version.join(".")}") that does not support PostgreSQL Row-Level Security`);
                }
                await alter(`ALTER ROLE ${ident} WITH ${news.bypassRowLevelSecurity ? "BYPASSRLS" : "NOBYPASSRLS"}`, "BYPASSRLS");
            }
            if (changed("connectionLimit")) {
                await alter(`ALTER ROLE ${ident} CONNECTION LIMIT ${effective(news, "connectionLimit", true)}`, "CONNECTION LIMIT");
            }
            const flags: [string, string, string, string][] = [
                ["createDatabase", "CREATEDB", "NOCREATEDB", "CREATEDB"],
                ["createRole", "CREATEROLE", "NOCREATEROLE", "CREATEROLE"],
                ["inherit", "INHERIT", "NOINHERIT", "INHERIT"],
                ["login", "LOGIN", "NOLOGIN", "LOGIN"],
                ["replication", "REPLICATION", "NOREPLICATION", "REPLICATION"],
                ["superuser", "SUPERUSER", "NOSUPERUSER", "SUPERUSER"],
            ];
            for (const [key, on, off, what] of flags) {
                if (changed(key)) {
                    await alter(`ALTER ROLE ${ident} WITH ${effective(news, key, true) ? on : off}`, what);
                }
            }
            if (changed("validUntil")) {
                let validUntil = str(effective(news, "validUntil", true));
                if (validUntil !== "") {
                    if (validUntil.toLowerCase() === "infinity") {
                        validUntil = "infinity";
                    }
                    await alter(`ALTER ROLE ${ident} VALID UNTIL '${quoteLiteralBody(validUntil)}'`, "VALID UNTIL");
                }
            }
            let granted: any[];
            try {
                granted = await q(`SELECT pg_get_userbyid(roleid) AS role FROM pg_catalog.pg_auth_members members
                    JOIN pg_catalog.pg_roles ON members.member = pg_roles.oid WHERE rolname = $1`, [name]);
            } catch (err) {
                throw new Error(`could not get roles list for role ${name}: ${goErrorText(err, db.settings)}`);
            }
            for (const { role } of granted) {
                try {
                    await q(`REVOKE ${quoteIdentifier(role)} FROM ${ident}`);
                } catch (err) {
                    throw new Error(`could not revoke role ${role} from ${name}: ${goErrorText(err, db.settings)}`);
                }
            }
            await grantRoles(q, news);
            await alterSearchPath(q, news);
            if (changed("statementTimeout")) {
                await setTimeout_(q, news, "statementTimeout");
            }
            if (changed("idleInTransactionSessionTimeout")) {
                await setTimeout_(q, news, "idleInTransactionSessionTimeout");
            }
            if (changed("assumeRole")) {
                await setAssumeRole(q, news);
            }
        });
        const outputs = await readRole(db, name, news);
        if (!outputs) {
            throw new Error(`postgresql stand-in: role ${name} vanished right after its update`);
        }
        return { outputs };
    },

    async delete(ctx, req) {
        const db = await connect(ctx);
        const role = str(req.outputs.name);
        await db.transaction(async (q) => {
            await lockRole(q, role);
            if (!req.outputs.skipReassignOwned) {
                let current: string;
                let superuser: boolean;
                try {
                    current = (await q("SELECT CURRENT_USER AS u"))[0].u;
                } catch (err) {
                    throw new Error(`error while looking for the current user: ${goErrorText(err, db.settings)}`);
                }
                try {
                    superuser = (await q("SELECT rolsuper FROM pg_roles WHERE rolname = $1", [current]))[0].rolsuper;
                } catch (err) {
                    throw new Error(`could not check if role ${current} is superuser: ${goErrorText(err, db.settings)}`);
                }
                if (!superuser) {
                    throw new StandInError("postgresql stand-in: Role delete as a non-superuser (withRolesGranted's temporary GRANT) is not modelled");
                }
                const owner = db.settings.databaseUsername || db.settings.username;
                try {
                    await q(`REASSIGN OWNED BY ${quoteIdentifier(role)} TO ${quoteIdentifier(owner)}`);
                } catch (err) {
                    throw new Error(`could not reassign owned by role ${role} to ${owner}: ${goErrorText(err, db.settings)}`);
                }
                try {
                    await q(`DROP OWNED BY ${quoteIdentifier(role)}`);
                } catch (err) {
                    throw new Error(`could not drop owned by role ${role}: ${goErrorText(err, db.settings)}`);
                }
            }
            if (!req.outputs.skipDropRole) {
                try {
                    await q(`DROP ROLE ${quoteIdentifier(role)}`);
                } catch (err) {
                    throw new Error(`could not delete role ${role}: ${goErrorText(err, db.settings)}`);
                }
            }
        });
    },
};

// ---------------------------------------------------------------------------------------------
// The provider

const CONFIG_KEYS = ["awsRdsIamAuth", "awsRdsIamProfile", "awsRdsIamProviderRoleArn", "awsRdsIamRegion", "azureIdentityAuth",
    "azureTenantId", "clientcert", "connectTimeout", "database", "databaseUsername", "expectedVersion",
    "gcpIamImpersonateServiceAccount", "host", "maxConnections", "password", "port", "scheme", "sslMode", "sslmode",
    "sslrootcert", "superuser", "username", "version", "pluginDownloadURL"];

async function checkConfig(_olds: Props, news: Props): Promise<CheckResult> {
    const failures: { property: string; reason: string }[] = [];
    for (const key of Object.keys(news)) {
        if (!CONFIG_KEYS.includes(key)) {
            throw new StandInError(`postgresql stand-in: provider config ${key} is not in the 3.18.0 schema`);
        }
    }
    const known = (key: string) => news[key] !== undefined && !hasUnknown(news[key]);
    for (const key of ["connectTimeout", "maxConnections"]) {
        if (known(key)) {
            const n = configInt(news, key);
            if (n !== undefined && n < -1) {
                const tf = key === "connectTimeout" ? "connect_timeout" : "max_connections";
                failures.push({ property: key, reason: `expected ${tf} to be at least (-1), got ${n}` });
            }
        }
    }
    if (known("scheme") && !["postgres", "awspostgres", "gcppostgres"].includes(str(news.scheme))) {
        failures.push({ property: "scheme", reason: `expected scheme to be one of ["postgres" "awspostgres" "gcppostgres"], got ${str(news.scheme)}` });
    }
    if (known("expectedVersion") && parseTolerant(str(news.expectedVersion)) === undefined) {
        failures.push({ property: "expectedVersion", reason: `invalid version (${JSON.stringify(str(news.expectedVersion))})` });
    }
    if (failures.length > 0) {
        return { inputs: news, failures };
    }
    const inputs: Props = { ...news };
    if (inputs.password !== undefined && inputs.password !== null) {
        inputs.password = secret(inputs.password);
    }
    return { inputs };
}

async function diffConfig(oldInputs: Props, _oldOutputs: Props, news: Props): Promise<DiffResult> {
    const keys = new Set([...Object.keys(oldInputs), ...Object.keys(news)]);
    const diffs = [...keys].filter((k) => hasUnknown(news[k]) || !same(oldInputs[k], news[k])).sort();
    return {
        changes: diffs.length > 0 ? "some" : "none",
        replaces: [],
        diffs,
        deleteBeforeReplace: false,
        detailedDiff: Object.fromEntries(diffs.map((k) => [k, (k in oldInputs ? (k in news ? "update" : "delete") : "add") as "update" | "delete" | "add"])),
    };
}

async function configure(config: Props): Promise<ProviderContext> {
    const settings = resolveSettings(config);
    const ctx: ProviderContext & { [SETTINGS]: Settings; [REGISTRY]: Registry } = {
        config,
        [SETTINGS]: settings,
        [REGISTRY]: new Map(),
        log: (message: string) => process.stderr.write(`postgresql stand-in: ${message}\n`),
        engineLog: async () => undefined,
    };
    return ctx;
}

export const postgresqlStandIn: StandInProvider = {
    name: "postgresql",
    version: "3.18.0",
    rules: RULES,
    secrets: { kind: "bridge", sensitive: { [ROLE]: ["password", "passwordWo"], "pulumi:providers:postgresql": ["password"] } },
    checkConfig,
    diffConfig,
    configure,
    resources: { [ROLE]: roleHandler },
};
