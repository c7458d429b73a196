// The endpoint's PgBouncer as plain data: its container's name, its settings file, where it sends
// writes, and how to reach its admin console. Used by the endpoint component (endpoint.ts) and by
// the topology step (topology/act.ts), which pauses and re-points it in a switchover or failover.
// No Pulumi here: the step loads this without the SDK.

import type { EndpointSettings } from "./spec";

/** Where PgBouncer listens inside its container (the published port maps to it). */
export const POOLER_PORT = 6432;
/** Its settings, target and password files, in the container (written by pooler-config.sh and the step). */
export const POOLER_DIR = "/etc/pg-replication-pooler";
/** Its unix socket's directory: the admin console is reached there (never over TCP). */
export const ADMIN_SOCKET = "/var/run/postgresql";
/** The role PgBouncer looks clients' passwords up with (pooler-auth.sh). */
export const POOLER_AUTH_USER = "pgbouncer_auth";

/** Which endpoint a pooler serves: writes (always the primary) or reads (standbys under the lag bound). */
export type PoolerKind = "rw" | "ro";

/** The pooler's container: `${namePrefix}-pooler`, the read-only one's `${namePrefix}-pooler-ro`. */
export function poolerContainer(namePrefix: string, kind: PoolerKind = "rw"): string {
    return kind === "rw" ? `${namePrefix}-pooler` : `${namePrefix}-pooler-ro`;
}

/** How often the read-only endpoint's watcher (scripts/pooler-watch.sh) measures the standbys' lag, in seconds. */
export const READ_WATCH_INTERVAL_SECONDS = 1;

/** Where a pooler reaches a node: its cluster address on the pooler's own bridge, its host's address and published port from another engine. */
export interface PoolerRoute { readonly address: string; readonly port?: number }

/**
 * The read-only endpoint's watcher's list of nodes: "name address [port]" per line (no port: 5432
 * on the pooler's bridge), in the order it prefers them (the nodes on its own engine first: reads
 * stay on the host when they can).
 */
export function poolerMembers(nodes: readonly ({ name: string } & PoolerRoute)[]): string {
    return nodes.map((n) => [n.name, n.address, ...(n.port === undefined ? [] : [n.port])].join(" ")).join("\n");
}

/**
 * Where writes go: every database the client names, on the primary at ADDRESS (the wildcard entry;
 * no user in it, so each client logs in to the server as itself, with SCRAM pass-through).
 */
export function poolerTarget(address: string, port = 5432): string {
    return `* = host=${address} port=${port}`;
}

/**
 * With nodes on several engines: the files of the pooler's TLS (pooler-config.sh writes them). It
 * verifies every node it reaches against the stack's CA (verify-full: a node's certificate names
 * both its addresses), and takes clients over TLS only, with a certificate of its own from that CA.
 */
export const POOLER_TLS = { ca: `${POOLER_DIR}/ca.crt`, cert: `${POOLER_DIR}/server.crt`, key: `${POOLER_DIR}/server.key` };

/**
 * pgbouncer.ini. Clients authenticate with SCRAM against the secret auth_query reads from the
 * server (pooler-auth.sh); PgBouncer then logs in to the server with the client's own SCRAM keys
 * (pass-through, PgBouncer 1.14 and later), so no client password is in any file. Only its own
 * role's password is (auth_file): PgBouncer before 1.19 needs it in plain text to run auth_query.
 * No admin_users: the admin console answers only on the socket, to the OS user PgBouncer runs as.
 */
export function poolerIni(s: Pick<EndpointSettings, "poolMode" | "poolSize" | "maxClientConnections" | "queryWaitTimeoutSeconds">,
    kind: PoolerKind = "rw", tls = false): string {
    return [
        "; Managed by pg-replication: rewritten by every `pulumi up` that changes it.",
        "[databases]",
        `%include ${POOLER_DIR}/target.ini`,
        "",
        "[pgbouncer]",
        "listen_addr = *",
        `listen_port = ${POOLER_PORT}`,
        `unix_socket_dir = ${ADMIN_SOCKET}`,
        "auth_type = scram-sha-256",
        `auth_file = ${POOLER_DIR}/userlist.txt`,
        `auth_user = ${POOLER_AUTH_USER}`,
        "auth_query = SELECT username, password FROM pgbouncer.get_auth($1)",
        `pool_mode = ${s.poolMode}`,
        `default_pool_size = ${s.poolSize}`,
        `max_client_conn = ${s.maxClientConnections}`,
        `query_wait_timeout = ${s.queryWaitTimeoutSeconds}`,
        // The primary can move: a failed login to the old one is retried after 1 s, not 15, once the
        // target is the new one; a connection to a host that is gone fails within 5 s.
        "server_login_retry = 1",
        "server_connect_timeout = 5",
        // A server connection whose primary died mid-query (killed: no reset ever comes) fails after
        // 5 s of unacknowledged data instead of holding its client until the kernel gives up (minutes).
        "tcp_user_timeout = 5000",
        // pgJDBC sends it in its startup packet; PgBouncer would refuse the connection over it.
        "ignore_startup_parameters = extra_float_digits",
        // Reads: server connections are reused round robin instead of last-in-first-out, so each
        // standby the watcher lists keeps getting its share (PgBouncer's FAQ on load balancing).
        ...(kind === "ro" ? ["server_round_robin = 1"] : []),
        // Across engines (POOLER_TLS): every server connection verified against the stack's CA, as
        // the standbys do; clients over TLS only, as the nodes take clients from other hosts.
        ...(tls ? [
            "server_tls_sslmode = verify-full",
            `server_tls_ca_file = ${POOLER_TLS.ca}`,
            "client_tls_sslmode = require",
            // Loaded even when client certificates are not asked for: without it PgBouncer loads the
            // system's default CA file, which Debian does not have ("failed to load CA"), and exits.
            `client_tls_ca_file = ${POOLER_TLS.ca}`,
            `client_tls_cert_file = ${POOLER_TLS.cert}`,
            `client_tls_key_file = ${POOLER_TLS.key}`,
        ] : []),
        "",
    ].join("\n");
}

/** `psql` on the admin console, as `docker exec` arguments after the container's name. */
export function adminPsql(): string[] {
    return ["psql", "-X", "-q", "-A", "-t", "-h", ADMIN_SOCKET, "-p", String(POOLER_PORT), "-U", "pgbouncer", "-d", "pgbouncer"];
}
