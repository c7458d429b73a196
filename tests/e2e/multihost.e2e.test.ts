// Nodes on three Docker engines of our own (tests/support/hosts.ts: a network namespace each, with
// its own dockerd and address), through the real engine: up of a primary and two standbys with
// the tutorial's checks from outside; replication across hosts over TLS (pg_stat_ssl) and a
// standby given another CA refused; a switchover to another host.
// Hosts 10.231.5.11-13, cluster subnet 172.28.45.0/24 on each engine, ports 58540-58542.

import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { eventually, log, planOnHosts, rows, stackOnHosts } from "./harness";

const TIMEOUT = 20 * 60 * 1000;
const NET = 45;
const PORT = 58540;

/** Each standby's replication connection as the primary sees it: state, source address and whether it is TLS. */
async function replication(url: string): Promise<Record<string, string>> {
    const found = await rows(url, `SELECT r.application_name, r.state, host(r.client_addr) AS addr, s.ssl, s.version
        FROM pg_stat_replication r JOIN pg_stat_ssl s ON s.pid = r.pid ORDER BY 1`);
    return Object.fromEntries(found.map((r) => [r.application_name, `${r.state} ${r.addr} ssl=${r.ssl}${r.ssl ? ` ${r.version}` : ""}`]));
}

describe("nodes on three Docker hosts, replication over TLS (PostgreSQL 13)", { timeout: TIMEOUT }, () => {
    const on = stackOnHosts({ set: "e2e", subnet: 5, count: 3, images: ["postgres:13"] }, "e2e-hosts",
        (hosts) => planOnHosts(hosts, { net: NET, port: PORT, readyTimeoutSeconds: "60" }));
    const container = (i: number) => `pg-replication-${on.stack.name}-pg${i + 1}`;

    test("up: pg1 on host 1, pg2 and pg3 streaming from it on hosts 2 and 3; the tutorial's checks from outside", async () => {
        await on.stack.up();
        const out = await on.stack.outputs();
        assert.deepEqual(Object.values(out.nodes).map((n: any) => [n.name, n.host, n.port, n.role]), [
            ["pg1", on.set.hosts[0].address, PORT, "primary"],
            ["pg2", on.set.hosts[1].address, PORT + 1, "standby"],
            ["pg3", on.set.hosts[2].address, PORT + 2, "standby"],
        ]);
        on.set.hosts.forEach((h, i) => assert.equal(h.docker("inspect", "-f", "{{.State.Running}}", container(i)), "true"));
        const primary = out.nodes.pg1.connectionString;
        await rows(primary, "CREATE TABLE tutorial (id int primary key, note text)");
        await rows(primary, "INSERT INTO tutorial SELECT g, 'row ' || g FROM generate_series(1, 100) g");
        for (const name of ["pg2", "pg3"]) {
            const seen = await eventually(30, () => rows(out.nodes[name].connectionString, "SELECT count(*)::int AS n FROM tutorial"),
                (r) => r[0].n === 100);
            assert.equal(seen[0].n, 100);
            await assert.rejects(rows(out.nodes[name].connectionString, "INSERT INTO tutorial VALUES (999, 'x')"),
                /read-only transaction/);
        }
        // A second up changes nothing.
        await on.stack.preview(true);
    });

    test("TLS on the replication connections, from each standby's host address", async () => {
        const out = await on.stack.outputs();
        const seen = await replication(out.nodes.pg1.connectionString);
        log(`replication on pg1: ${JSON.stringify(seen)}`);
        assert.match(seen.pg2, new RegExp(`^streaming ${on.set.hosts[1].address.replace(/\./g, "\\.")} ssl=true TLSv1\\.[23]$`));
        assert.match(seen.pg3, new RegExp(`^streaming ${on.set.hosts[2].address.replace(/\./g, "\\.")} ssl=true TLSv1\\.[23]$`));
        const conninfo = await rows(out.nodes.pg2.connectionString, "SHOW primary_conninfo");
        assert.match(conninfo[0].primary_conninfo, new RegExp(`host=${on.set.hosts[0].address} port=${PORT} sslmode=verify-full`));
    });

    test("clients from another host: plaintext refused, verify-full with the CA output admitted over TLS; the provider uses TLS", async () => {
        const out = await on.stack.outputs();
        // The root namespace is another host to every node: its source address is kept (no NAT).
        assert.equal(out.tls.sslmode, "verify-full");
        assert.match(out.tls.caCert, /^-----BEGIN CERTIFICATE-----/);
        const url = new URL(out.nodes.pg2.connectionString);
        assert.equal(url.searchParams.get("sslmode"), "verify-full");
        assert.equal(url.searchParams.get("sslrootcert"), out.tls.caFile);
        assert.equal(fs.readFileSync(out.tls.caFile, "utf8"), out.tls.caCert, "the CA file on this machine is the output");
        const plaintext = new URL(url);
        plaintext.search = "";
        await assert.rejects(rows(plaintext.toString(), "SELECT 1"), new RegExp(
            `no pg_hba\\.conf entry for host "${on.set.gateway.replace(/\./g, "\\.")}", user "postgres", database "postgres", (SSL off|no encryption)`));
        // What a client elsewhere does: the CA from the stack's outputs, in a file of its own.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-client-"));
        try {
            const ca = path.join(dir, "ca.crt");
            fs.writeFileSync(ca, out.tls.caCert);
            const verified = new URL(plaintext);
            verified.searchParams.set("sslmode", "verify-full");
            verified.searchParams.set("sslrootcert", ca);
            const seen = await rows(verified.toString(), `SELECT s.ssl, host(inet_client_addr()) AS addr
                FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()`);
            assert.deepEqual(seen, [{ ssl: true, addr: on.set.gateway }]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
        // A client on the node's own host, on its bridge, needs no TLS (plaintext rule for the subnet).
        // (The docker CLI hands PGPASSWORD on from its own environment: no password in an argument.)
        const saved = process.env.PGPASSWORD;
        process.env.PGPASSWORD = decodeURIComponent(url.password);
        let local: string;
        try {
            local = on.set.hosts[0].docker("run", "--rm", "--network", `pg-replication-${on.stack.name}-net`, "-e", "PGPASSWORD",
                "-e", "PGSSLMODE=disable", "--entrypoint", "psql", "postgres:13", "-X", "-A", "-t", "-h", `172.28.${NET}.101`,
                "-U", "postgres", "-d", "postgres", "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
        } finally {
            if (saved === undefined) {
                delete process.env.PGPASSWORD;
            } else {
                process.env.PGPASSWORD = saved;
            }
        }
        assert.equal(local, "f");
        // A client on that host through its published host address is not on the bridge: TLS only.
        process.env.PGPASSWORD = decodeURIComponent(url.password);
        try {
            const viaHost = (() => {
                try {
                    return on.set.hosts[0].docker("run", "--rm", "--network", "host", "-e", "PGPASSWORD", "-e", "PGSSLMODE=disable",
                        "--entrypoint", "psql", "postgres:13", "-X", "-A", "-t", "-h", on.set.hosts[0].address, "-p", String(PORT),
                        "-U", "postgres", "-d", "postgres", "-c", "SELECT 1");
                } catch (err) {
                    return (err as Error).message;
                }
            })();
            log(`plaintext on host 1 to its own host address: ${viaHost}`);
            assert.match(viaHost, new RegExp(`no pg_hba\\.conf entry for host "${on.set.hosts[0].address.replace(/\./g, "\\.")}"`));
        } finally {
            if (saved === undefined) {
                delete process.env.PGPASSWORD;
            } else {
                process.env.PGPASSWORD = saved;
            }
        }
        // The provider made the replication role from this machine, which the primary admits over TLS
        // only; its recorded configuration is verify-full against the CA file, and a refresh reads the
        // role through it again now.
        const state = JSON.parse(fs.readFileSync(path.join(on.stack.backend, ".pulumi", "stacks", "pg-replication", `${on.stack.name}.json`), "utf8"));
        const provider = state.checkpoint.latest.resources.find((r: any) => r.type === "pulumi:providers:postgresql");
        assert.equal(provider.inputs.sslmode, "verify-full");
        assert.equal(provider.inputs.sslrootcert, out.tls.caFile);
        const role = await rows(out.nodes.pg1.connectionString, "SELECT rolreplication FROM pg_roles WHERE rolname = 'repuser'");
        assert.deepEqual(role, [{ rolreplication: true }]);
        const refreshed = await on.stack.refresh();
        log(`refresh: ${JSON.stringify(refreshed.summary.resourceChanges)}`);
        await on.stack.preview(true);
        // A machine without the file (here: the file removed) gets it written again by up.
        fs.rmSync(out.tls.caFile);
        const planned = await on.stack.preview();
        assert.equal(planned.changes.update, 1, JSON.stringify(planned.changes));
        await on.stack.up();
        assert.equal(fs.readFileSync(out.tls.caFile, "utf8"), out.tls.caCert);
        await on.stack.preview(true);
    });

    test("a standby given another CA is refused: it does not stream until its CA is back", async () => {
        const out = await on.stack.outputs();
        const h = on.set.hosts[2];
        const ca = "/var/lib/postgresql/data/tls/ca.crt";
        const original = h.docker("exec", "-u", "postgres", container(2), "cat", ca);
        const other = h.docker("run", "--rm", "--network", "none", "--entrypoint", "sh", "postgres:13", "-c",
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=other -days 1 2>/dev/null");
        assert.match(other, /BEGIN CERTIFICATE/);
        const writeCa = (pem: string) => h.docker("exec", "-u", "postgres", container(2), "sh", "-c",
            `printf '%s\\n' '${pem}' > ${ca}`);
        const kick = () => rows(out.nodes.pg1.connectionString,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = 'pg3'");
        try {
            writeCa(other);
            await kick();
            await new Promise((r) => setTimeout(r, 12_000));
            const seen = await replication(out.nodes.pg1.connectionString);
            assert.equal(seen.pg3, undefined, `pg3 still streams with another CA: ${seen.pg3}`);
            // The server logs on stderr.
            const logText = execFileSync("sh", ["-c", `docker logs --since 60s ${container(2)} 2>&1`],
                { env: { ...process.env, DOCKER_HOST: h.dockerHost }, encoding: "utf8" });
            assert.match(logText, /certificate verify failed/);
        } finally {
            writeCa(original);
        }
        await eventually(30, () => replication(out.nodes.pg1.connectionString), (r) => /^streaming .* ssl=true/.test(r.pg3 ?? ""));
    });

    test("switchover to pg2 on host 2: pg1 and pg3 follow it over TLS", async () => {
        await on.stack.setConfig({ primary: "pg2" });
        await on.stack.up();
        const out = await on.stack.outputs();
        const recovery = await rows(out.nodes.pg2.connectionString, "SELECT pg_is_in_recovery() AS r");
        assert.equal(recovery[0].r, false);
        const seen = await eventually(60, () => replication(out.nodes.pg2.connectionString),
            (r) => /^streaming .* ssl=true/.test(r.pg1 ?? "") && /^streaming .* ssl=true/.test(r.pg3 ?? ""));
        log(`replication on pg2: ${JSON.stringify(seen)}`);
        const count = await rows(out.nodes.pg1.connectionString, "SELECT count(*)::int AS n FROM tutorial");
        assert.equal(count[0].n, 100);
        await rows(out.nodes.pg2.connectionString, "INSERT INTO tutorial VALUES (101, 'after the switchover')");
        await eventually(30, () => rows(out.nodes.pg3.connectionString, "SELECT count(*)::int AS n FROM tutorial"), (r) => r[0].n === 101);
    });

    test("the primary's host lost behind a unix:// engine: a failover is refused at once (the provider would wait on it), nothing changed", async () => {
        // The docker provider dials such an engine when it starts, with no bound (components/engine.ts
        // dialedAtStart): the preview says so instead of leaving the engine to hang.
        const h = on.set.hosts[1];
        h.lose();
        try {
            await on.stack.setConfig({ primary: "pg1" });
            for (const [what, op] of [["preview", () => on.stack.preview()], ["up", () => on.stack.up()]] as const) {
                const started = Date.now();
                await assert.rejects(op(), (err: Error) => {
                    assert.match(err.message, new RegExp(`pg-replication:nodes\\[1\\]\\.host = "${h.dockerHost.replace(/[/.]/g, "\\$&")}" is not ` +
                        "allowed: the Docker engine does not answer .*; Pulumi's docker provider dials an engine given as unix:// or tcp:// " +
                        "as soon as it starts, with no time limit"));
                    assert.match(err.message, /A machine that may be lost must be reached over ssh:\/\//);
                    return true;
                });
                const seconds = (Date.now() - started) / 1000;
                log(`${what} with the primary's unix:// engine frozen and cut off: refused in ${seconds.toFixed(1)} s`);
                assert.ok(seconds < 30, `${what} took ${seconds} s`);
            }
        } finally {
            h.restore();
            await on.stack.setConfig({ primary: "pg2" });
        }
        const out = await on.stack.outputs();
        assert.deepEqual(await rows(out.nodes.pg2.connectionString, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
        await on.stack.preview(true);
    });
});
