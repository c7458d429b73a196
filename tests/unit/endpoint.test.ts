// The endpoints (components/endpoint.ts) as the program declares them, under Pulumi's mocks:
// what exists with pg-replication:endpoints and nothing without it; its container, role, lookup and
// config command; a switchover changes only what points it; its settings, validated in one place
// (config.ts validateEndpoints), each bad value named with its key.

import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { checkArgs, PostgresClusterArgs } from "../../components/cluster";
import { RawConfig, validateEndpoints } from "../../components/config";
import { parseSubnet, Subnet } from "../../components/ipv4";
import { fragment } from "../../components/fragments";
import { poolerIni, poolerMembers } from "../../components/pooler";
import { TopologyInput } from "../../components/topology/contract";
import { clearStrings, DEV, isSecret, outputValue, plain, Recorded, Run, runProgram } from "../support/mocked-program";

const SUBNET = (parseSubnet("172.18.0.0/24", 16, 29) as { subnet: Subnet }).subnet;
const NODES = [{ name: "pg1", address: "172.18.0.101", port: 5432 }, { name: "pg2", address: "172.18.0.102", port: 5433 }];
const raw = (endpoints: unknown): RawConfig => ({ endpoints: typeof endpoints === "string" ? endpoints : JSON.stringify(endpoints) });
const check = (endpoints: unknown, more: Partial<Parameters<typeof validateEndpoints>[1]> = {}) =>
    validateEndpoints(raw(endpoints), { image: "postgres:13", subnet: SUBNET, nodes: NODES, ...more });
const env = (r: Recorded) => plain(r.inputs.environment) as Record<string, string>;
const differing = (a: Run, b: Run) => a.resources.filter((r) =>
    JSON.stringify(plain(r.inputs)) !== JSON.stringify(plain(b.get(r.type, r.name).inputs))).map((r) => r.name);

describe("pg-replication:endpoints, validated", () => {
    test("absent or false: no endpoint; true or {}: every default (the tools image of the major, the subnet's last host)", () => {
        assert.deepEqual(validateEndpoints({}, { image: "postgres:13", subnet: SUBNET, nodes: NODES }), { problems: [] });
        assert.deepEqual(check("false"), { problems: [] });
        const on = check("true");
        assert.deepEqual(on, check({}));
        assert.deepEqual(on, { problems: [], endpoints: {
            image: "pg-replication/postgres-tools:13", address: "172.18.0.254", port: 6432, readAddress: "172.18.0.253", readPort: 6433,
            maxReadLagBytes: 16 * 1024 * 1024, poolMode: "transaction", poolSize: 20,
            maxClientConnections: 200, queryWaitTimeoutSeconds: 120, pauseTimeoutSeconds: 10 } });
        assert.equal(check({}, { image: "postgres:17" }).endpoints?.image, "pg-replication/postgres-tools:17");
    });

    test("each bad value is named with its key, the value and what is allowed", () => {
        assert.deepEqual(check({ address: "172.18.0.102", port: 5433, poolMode: "statement", poolSize: 0, colour: "blue" }).problems, [
            'pg-replication:endpoints.colour = "blue" is not allowed: unknown field; endpoints has image, address, port, readAddress, readPort, maxReadLagBytes, poolMode, ' +
                "poolSize, maxClientConnections, queryWaitTimeoutSeconds, pauseTimeoutSeconds",
            'pg-replication:endpoints.address = "172.18.0.102" is not allowed: already used by pg-replication:nodes[1].address; the endpoint needs its own',
            "pg-replication:endpoints.port = 5433 is not allowed: host port already used by pg-replication:nodes[1].port",
            'pg-replication:endpoints.poolMode = "statement" is not allowed: expected transaction (a switchover is a pause for ' +
                "clients) or session (a switchover ends every client's session)",
            "pg-replication:endpoints.poolSize = 0 is not allowed: expected a whole number from 1 to 10000",
        ]);
        assert.deepEqual(check({ address: "10.0.0.5" }).problems, ['pg-replication:endpoints.address = "10.0.0.5" is not allowed: ' +
            "expected a host address inside 172.18.0.0/24 from 172.18.0.2 to 172.18.0.254 (172.18.0.1 is the gateway)"]);
        assert.deepEqual(check({ port: 7000, readPort: 7000, readAddress: "172.18.0.254", maxReadLagBytes: "lots" }).problems, [
            'pg-replication:endpoints.readAddress = "172.18.0.254" is not allowed: already used by pg-replication:endpoints.address; the read-only endpoint needs its own',
            "pg-replication:endpoints.readPort = 7000 is not allowed: host port already used by pg-replication:endpoints.port",
            'pg-replication:endpoints.maxReadLagBytes = "lots" is not allowed: expected a whole number of bytes or a size such as 16MB (units kB, MB, GB, TB)',
        ]);
        assert.deepEqual(check({ port: 5431 }).problems, [
            'pg-replication:endpoints.readPort = "5432 (the default)" is not allowed: host port already used by pg-replication:nodes[0].port']);
        assert.equal(check({ maxReadLagBytes: "1MB", readPort: 7001 }).endpoints?.maxReadLagBytes, 1024 * 1024);
        assert.deepEqual(check([1]).problems, ["pg-replication:endpoints = [1] is not allowed: expected true, false or an object " +
            "with any of image, address, port, readAddress, readPort, maxReadLagBytes, poolMode, poolSize, maxClientConnections, queryWaitTimeoutSeconds, pauseTimeoutSeconds"]);
    });

    test("an image of unknown make needs endpoints.image; a node named pooler is refused; across engines a port of any node's host clashes", () => {
        assert.match(check({}, { image: "registry.local/pg:13" }).problems[0],
            /^pg-replication:endpoints\.image = null is not allowed: expected the image of PgBouncer for registry\.local\/pg:13/);
        assert.deepEqual(check({ image: "my/pgbouncer:1" }, { image: "registry.local/pg:13" }).problems, []);
        // Each engine with a node gets the pair, published beside its nodes: a node's port on any engine is taken.
        const across = [NODES[0], { ...NODES[1], port: 6432, host: "ssh://pg@10.0.0.2", hostAddress: "10.0.0.2" }];
        assert.deepEqual(check({}, { nodes: across }).problems,
            ['pg-replication:endpoints.port = "6432 (the default)" is not allowed: host port already used by pg-replication:nodes[1].port']);
        assert.deepEqual(check({ port: 7000 }, { nodes: across }).problems, []);
        assert.deepEqual(check({}, { nodes: [...NODES, { name: "pooler", address: "172.18.0.103", port: 5434 }] }).problems,
            ['pg-replication:nodes[2].name = "pooler" is not allowed: with endpoints the name is taken by the pooler\'s container; rename the node']);
    });

    test("PostgresCluster given endpoints directly (not through a stack's config) takes them on one engine and across engines", () => {
        const args = (nodes: PostgresClusterArgs["nodes"]) => ({ nodes, primary: "pg1", network: { name: "n", subnet: "172.18.0.0/24" },
            engineHost: "unix:///var/run/docker.sock", endpoints: check({}).endpoints }) as unknown as PostgresClusterArgs;
        assert.deepEqual(checkArgs(args(NODES)), []);
        assert.deepEqual(checkArgs(args([NODES[0], { ...NODES[1], host: "ssh://pg@10.0.0.2", hostAddress: "10.0.0.2" }])), []);
    });

    test("pgbouncer.ini: SCRAM with the lookup, the target included, the pool settings; no admin user", () => {
        const ini = poolerIni({ poolMode: "session", poolSize: 7, maxClientConnections: 70, queryWaitTimeoutSeconds: 30 });
        for (const line of ["%include /etc/pg-replication-pooler/target.ini", "auth_type = scram-sha-256", "auth_user = pgbouncer_auth",
            "auth_query = SELECT username, password FROM pgbouncer.get_auth($1)", "pool_mode = session", "default_pool_size = 7",
            "max_client_conn = 70", "query_wait_timeout = 30", "server_login_retry = 1", "tcp_user_timeout = 5000"]) {
            assert.ok(ini.split("\n").includes(line), line);
        }
        assert.ok(!/admin_users|stats_users/.test(ini));
        assert.ok(ini.indexOf("%include") < ini.indexOf("[pgbouncer]"), "the target is in [databases]");
        assert.ok(!ini.includes("server_round_robin"), "writes: last in, first out (PgBouncer's default)");
        const reads = poolerIni({ poolMode: "session", poolSize: 7, maxClientConnections: 70, queryWaitTimeoutSeconds: 30 }, "ro");
        assert.ok(reads.split("\n").includes("server_round_robin = 1"), "reads: server connections reused round robin");
    });
});

describe("a stack with endpoints", () => {
    const ON = { ...DEV, endpoints: { port: 6432 } };
    let off: Run;
    let on: Run;
    let switched: Run;
    before(async () => {
        off = await runProgram(DEV);
        on = await runProgram(ON);
        switched = await runProgram({ ...ON, primary: "pg2" });
    });

    test("without the key: no pooler of any kind", () => {
        assert.deepEqual(off.resources.filter((r) => /endpoint|pooler/.test(r.name)), []);
        assert.equal(off.outputs.endpoints, undefined);
    });

    test("one Endpoint component: the poolers' role, its lookup, each pooler's container and config command, all parented under it", () => {
        const mine = on.resources.filter((r) => r.name.startsWith("cluster-endpoint")).map((r) => `${r.type}::${r.name}`).sort();
        assert.deepEqual(mine, [
            "command:local:Command::cluster-endpoint-auth-lookup",
            "command:local:Command::cluster-endpoint-auth-password",
            "command:local:Command::cluster-endpoint-config",
            "command:local:Command::cluster-endpoint-ro-config",
            "docker:index/container:Container::cluster-endpoint",
            "docker:index/container:Container::cluster-endpoint-ro",
            "pg-replication:index:Endpoint::cluster-endpoint",
            "postgresql:index/role:Role::cluster-endpoint-auth-role",
        ]);
        for (const r of on.resources.filter((x) => x.name.startsWith("cluster-endpoint-") || x.type === "docker:index/container:Container" && x.name === "cluster-endpoint")) {
            assert.equal(r.parent, "cluster-endpoint", r.name);
        }
    });

    test("endpoints turned off: the lookup goes from every database before the poolers' role; at destroy both go with the primary's volume", () => {
        const lookup = on.get("Command", "cluster-endpoint-auth-lookup");
        const role = on.get("postgresql:index/role:Role", "cluster-endpoint-auth-role");
        assert.deepEqual(lookup.dependsOn, ["cluster-endpoint-auth-role"], "deleted before the role");
        assert.match(String(lookup.inputs.delete), /DROP FUNCTION IF EXISTS pgbouncer\.get_auth\(text\);/);
        assert.match(String(lookup.inputs.delete), /SELECT datname FROM pg_database WHERE datallowconn/, "in every database, as pooler-auth.sh made it");
        for (const r of [lookup, role]) {
            assert.equal((r.opts.deletedWith as any)?.__name, "cluster-pg1-data", r.name);
        }
    });

    test("its container: the tools image, the cluster network at the subnet's last host, published on 127.0.0.1, no secret in its inputs", () => {
        const c = on.get("docker:index/container:Container", "cluster-endpoint");
        const i = plain(c.inputs) as Record<string, unknown>;
        assert.equal(i.name, "pg-replication-dev-pooler");
        assert.equal(i.image, "pg-replication/postgres-tools:13");
        assert.deepEqual(i.networksAdvanced, [{ name: "dockernetwork", ipv4Address: "172.18.0.254" }]);
        assert.deepEqual(i.ports, [{ internal: 6432, external: 6432, ip: "127.0.0.1" }]);
        assert.equal(i.uploads, undefined);
        assert.equal(i.restart, "unless-stopped");
    });

    test("the config command points it at the declared primary, its password on stdin as a secret, re-run for a new container", async () => {
        const cmd = on.get("Command", "cluster-endpoint-config");
        assert.equal(env(cmd).TARGET, "* = host=172.18.0.101 port=5432");
        assert.equal(isSecret(cmd.inputs.stdin), true);
        assert.deepEqual(clearStrings(cmd.inputs).filter((s) => /password/i.test(s) && !/auth_|PASSWORD|password FROM/.test(s)), []);
        assert.equal(plain(cmd.inputs.triggers).length, 1);
        const step = JSON.parse(env(on.get("Command", "cluster-topology")).TOPOLOGY_INPUT) as TopologyInput;
        assert.deepEqual(step.endpoint, { container: "pg-replication-dev-pooler", pauseTimeoutSeconds: 10 });
    });

    test("the read-only pooler: its own address and port, its watcher started beside PgBouncer, given every node and the lag bound", () => {
        const i = plain(on.get("docker:index/container:Container", "cluster-endpoint-ro").inputs) as Record<string, unknown>;
        assert.equal(i.name, "pg-replication-dev-pooler-ro");
        assert.deepEqual(i.networksAdvanced, [{ name: "dockernetwork", ipv4Address: "172.18.0.253" }]);
        assert.deepEqual(i.ports, [{ internal: 6432, external: 6433, ip: "127.0.0.1" }]);
        assert.match((i.command as string[])[2], /; sh \/etc\/pg-replication-pooler\/watch\.sh \/etc\/pg-replication-pooler & exec pgbouncer /);
        assert.doesNotMatch((plain(on.get("docker:index/container:Container", "cluster-endpoint").inputs) as { command: string[] }).command[2],
            /watch/, "the read-write pooler has no watcher: the topology step points it");
        const e = env(on.get("Command", "cluster-endpoint-ro-config"));
        assert.deepEqual([e.READS, e.MEMBERS, e.MAX_LAG_BYTES, e.INTERVAL, e.TARGET],
            ["1", "pg1 172.18.0.101\npg2 172.18.0.102", String(16 * 1024 * 1024), "1", undefined]);
        assert.match(e.POOLER_INI, /^server_round_robin = 1$/m);
        assert.equal(isSecret(on.get("Command", "cluster-endpoint-ro-config").inputs.stdin), true);
    });

    test("a switchover changes what points the endpoint (the step, its config) and never its container", () => {
        const changed = differing(on, switched).sort();
        assert.ok(changed.includes("cluster-endpoint-config"), changed.join(", "));
        assert.ok(!changed.includes("cluster-endpoint"), "the pooler's container is not replaced");
        assert.ok(!changed.some((n) => n.startsWith("cluster-endpoint-ro")), "the read-only endpoint follows the roles by itself");
        assert.equal(env(switched.get("Command", "cluster-endpoint-config")).TARGET, "* = host=172.18.0.102 port=5432");
    });

    test("outputs.endpoints.ro: the read-only endpoint's port, as a secret URL", async () => {
        const ro = on.outputs.endpoints!.ro;
        assert.deepEqual([ro.host, ro.port, ro.containerName], ["127.0.0.1", 6433, "pg-replication-dev-pooler-ro"]);
        assert.equal(await pulumi.isSecret(ro.connectionString), true);
        assert.match(await outputValue(ro.connectionString), /^postgresql:\/\/postgres:[^@]+@127\.0\.0\.1:6433\/postgres$/);
    });

    test("outputs.endpoints.rw: where this machine reaches it, as a secret URL", async () => {
        const rw = on.outputs.endpoints!.rw;
        assert.deepEqual({ ...rw, connectionString: undefined }, { host: "127.0.0.1", port: 6432, containerName: "pg-replication-dev-pooler",
            connectionString: undefined });
        assert.equal(await pulumi.isSecret(rw.connectionString), true);
        assert.match(await outputValue(rw.connectionString), /^postgresql:\/\/postgres:[^@]+@127\.0\.0\.1:6432\/postgres$/);
    });
});

// The read-only endpoint's watcher (scripts/pooler-watch.sh), run for real by /bin/sh with a
// stand-in psql on PATH that answers for each node address what a node would (in recovery or not,
// and its WAL position), or fails as an unreachable node does, and a stand-in pgbouncer --version.
describe("the read-only endpoint's watcher chooses where reads go", () => {
    const MEMBERS = poolerMembers([{ name: "pg1", address: "10.0.0.1" }, { name: "pg2", address: "10.0.0.2" }, { name: "pg3", address: "10.0.0.3" }]);
    type WatchOpts = { version?: string; current?: string; maxLag?: number; members?: string; tls?: boolean; interval?: string };
    /** watch.conf as pooler-config.sh writes it. */
    const watchConf = (opts: WatchOpts) => `MAX_LAG_BYTES=${opts.maxLag ?? 16 * 1024 * 1024}\nINTERVAL=${opts.interval ?? "1"}\n` +
        `AUTH_USER='pgbouncer_auth'\nADMIN_PSQL='false'\nTLS=${opts.tls ? "1" : ""}\n`;
    /** A watcher's directory with each address's answer ("t 0/3000000", or absent: unreachable), and the stand-ins' environment. */
    function watchDir(answers: Record<string, string>, opts: WatchOpts) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-watch-"));
        const bin = path.join(dir, "bin");
        fs.mkdirSync(bin);
        fs.writeFileSync(path.join(bin, "psql"), '#!/bin/sh\necho "${PGSSLMODE:-none} ${PGSSLROOTCERT:-none}" > "$FAKE/ssl"\n' +
            'while [ $# -gt 0 ]; do [ "$1" = -h ] && h=$2; [ "$1" = -p ] && echo "$2" > "$FAKE/port.$h"; shift; done\n' +
            '[ -f "$FAKE/answer.$h" ] || { echo "could not connect to $h" >&2; exit 2; }\ncat "$FAKE/answer.$h"\n', { mode: 0o755 });
        fs.writeFileSync(path.join(bin, "pgbouncer"), `#!/bin/sh\necho "${opts.version ?? "PgBouncer 1.24.1"}"\n`, { mode: 0o755 });
        for (const [address, answer] of Object.entries(answers)) {
            fs.writeFileSync(path.join(dir, `answer.${address}`), `${answer}\n`);
        }
        fs.writeFileSync(path.join(dir, "members"), `${opts.members ?? MEMBERS}\n`);
        fs.writeFileSync(path.join(dir, "watch.conf"), watchConf(opts));
        if (opts.current) {
            fs.writeFileSync(path.join(dir, "target.ini"), `${opts.current}\n`);
        }
        fs.writeFileSync(path.join(dir, "watch.sh"), fragment("pooler-watch.sh"));
        return { dir, env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE: dir } };
    }
    /** Runs `watch.sh DIR --once` with each address's answer ("t 0/3000000", or absent: unreachable). */
    function choose(answers: Record<string, string>, opts: WatchOpts = {}) {
        const { dir, env } = watchDir(answers, opts);
        const run = spawnSync("sh", [path.join(dir, "watch.sh"), dir, "--once"], { encoding: "utf8", env, timeout: 20_000 });
        const target = fs.existsSync(path.join(dir, "target.ini")) ? fs.readFileSync(path.join(dir, "target.ini"), "utf8").trim() : undefined;
        const ssl = fs.readFileSync(path.join(dir, "ssl"), "utf8").trim().replace(dir, "DIR");
        const ports = Object.fromEntries(fs.readdirSync(dir).filter((f) => f.startsWith("port.")).map((f) =>
            [f.slice(5), fs.readFileSync(path.join(dir, f), "utf8").trim()]));
        const left = fs.readdirSync(dir).filter((f) => /^(why|target\.ini\.new)/.test(f));
        fs.rmSync(dir, { recursive: true, force: true });
        return { status: run.status, stdout: run.stdout.trim(), stderr: run.stderr.trim(), target, ssl, ports, left };
    }

    test("every standby within the bound, as one multi-host entry (PgBouncer 1.17 and later); never the primary", () => {
        const r = choose({ "10.0.0.1": "f 0/3000000", "10.0.0.2": "t 0/3000000", "10.0.0.3": "t 0/2FFF000" });
        assert.deepEqual([r.status, r.target], [0, "* = host=10.0.0.2,10.0.0.3 port=5432"]);
        assert.equal(r.stdout, "standbys within 16777216 bytes: pg2 pg3");
    });

    test("a standby further behind than the bound is left out; back in once it is within it", () => {
        const behind = choose({ "10.0.0.1": "f 1/00000000", "10.0.0.2": "t 0/FEFFFFFF", "10.0.0.3": "t 0/FFFFF000" });
        assert.equal(behind.target, "* = host=10.0.0.3 port=5432", "pg2 is 16 MB and 1 byte behind, over the bound across the 4 GB boundary");
        const within = choose({ "10.0.0.1": "f 1/00000000", "10.0.0.2": "t 0/FF000000", "10.0.0.3": "t 0/FFFFF000" },
            { current: behind.target });
        assert.equal(within.target, "* = host=10.0.0.2,10.0.0.3 port=5432", "exactly 16 MB behind is within it");
    });

    test("--once leaves no file of its own behind: the running loop beside it has its own", () => {
        const r = choose({ "10.0.0.1": "f 0/3000000", "10.0.0.2": "t 0/3000000" });
        assert.deepEqual([r.status, r.left], [0, []]);
        assert.deepEqual(choose({ "10.0.0.2": "t 0/3000000" }).left, [], "nor when it fails");
    });

    /** Polls READ (a file's text, trimmed; "" when absent) every 50 ms until it is WANT; gives up after 10 s. */
    async function until(read: () => string, want: string): Promise<string> {
        const deadline = Date.now() + 10_000;
        let got = read();
        while (got !== want && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 50));
            got = read();
        }
        return got;
    }
    const text = (file: string) => () => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim() : "");
    /** The loop in the background, in a process group of its own; `stop` ends it with its children, then removes DIR. */
    function loop(dir: string, env: NodeJS.ProcessEnv) {
        const child = spawn("sh", [path.join(dir, "watch.sh"), dir], { env, stdio: "ignore", detached: true });
        const ended = new Promise((resolve) => child.once("exit", resolve));
        const stop = async () => {
            try {
                process.kill(-child.pid!, "SIGKILL");
            } catch {
                // Ended already.
            }
            await ended;
            fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
        };
        return { pid: child.pid, stop };
    }

    test("the loop follows a rewritten watch.conf (an update's new maxReadLagBytes, TLS turned off) at its next pass", async () => {
        // pg2 is 96 MiB behind: over a 1 KiB bound, within a 1 GiB one.
        const { dir, env } = watchDir({ "10.0.0.1": "f 0/9000000", "10.0.0.2": "t 0/3000000" }, { maxLag: 1024, tls: true, interval: "0.1" });
        const watcher = loop(dir, env);
        try {
            assert.equal(await until(text(path.join(dir, "target.ini")), "* = host=10.0.0.1 port=5432"), "* = host=10.0.0.1 port=5432");
            assert.equal(await until(text(path.join(dir, "ssl")), `verify-full ${dir}/ca.crt`), `verify-full ${dir}/ca.crt`);
            // As pooler-config.sh puts it: the whole file replaced.
            fs.writeFileSync(path.join(dir, "watch.conf.new"), watchConf({ maxLag: 1024 * 1024 * 1024, interval: "0.1" }));
            fs.renameSync(path.join(dir, "watch.conf.new"), path.join(dir, "watch.conf"));
            assert.equal(await until(text(path.join(dir, "target.ini")), "* = host=10.0.0.2 port=5432"), "* = host=10.0.0.2 port=5432",
                "the new bound, not the one the loop started with");
            assert.equal(await until(text(path.join(dir, "ssl")), "none none"), "none none", "TLS off again");
        } finally {
            await watcher.stop();
        }
    });

    test("the loop runs a rewritten watch.sh (an update's new code) in its own process", async () => {
        const { dir, env } = watchDir({ "10.0.0.1": "f 0/3000000", "10.0.0.2": "t 0/3000000" }, { interval: "0.1" });
        const watcher = loop(dir, env);
        try {
            assert.equal(await until(text(path.join(dir, "target.ini")), "* = host=10.0.0.2 port=5432"), "* = host=10.0.0.2 port=5432");
            fs.writeFileSync(path.join(dir, "watch.sh.new"), 'echo "$$ $*" > "$1/new-code"\n');
            fs.renameSync(path.join(dir, "watch.sh.new"), path.join(dir, "watch.sh"));
            assert.equal(await until(text(path.join(dir, "new-code")), `${watcher.pid} ${dir}`), `${watcher.pid} ${dir}`);
        } finally {
            await watcher.stop();
        }
    });

    test("no standby within the bound, or none answering: the primary takes the reads", () => {
        assert.equal(choose({ "10.0.0.1": "f 0/9000000", "10.0.0.2": "t 0/3000000" }, { maxLag: 1024 }).target, "* = host=10.0.0.1 port=5432");
        const r = choose({ "10.0.0.2": "f 0/3000000" });
        assert.deepEqual([r.target, r.stdout], ["* = host=10.0.0.2 port=5432", "no standby within 16777216 bytes: the primary pg2"]);
    });

    test("without exactly one primary answering (mid-switchover) it measures nothing and changes nothing; --once then fails", () => {
        const current = "* = host=10.0.0.2,10.0.0.3 port=5432";
        const none = choose({ "10.0.0.2": "t 0/3000000", "10.0.0.3": "t 0/3000000" }, { current });
        assert.deepEqual([none.status, none.target], [1, current]);
        assert.match(none.stderr, /no single primary among the nodes \(0 primaries answer\)/);
        const two = choose({ "10.0.0.1": "f 0/3000000", "10.0.0.2": "f 0/3000000", "10.0.0.3": "t 0/3000000" }, { current });
        assert.deepEqual([two.status, two.target], [1, current]);
    });

    test("across engines: its own host's fit standbys first; else the others' that share the first fit one's port; each asked at its port over TLS", () => {
        // pg1 and pg2 on the pooler's engine (bridge, 5432); pg3 and pg4 on other hosts, published on 5440 and 5441; pg5 on 5440.
        const members = poolerMembers([{ name: "pg1", address: "10.0.0.1" }, { name: "pg2", address: "10.0.0.2" },
            { name: "pg3", address: "10.9.0.3", port: 5440 }, { name: "pg4", address: "10.9.0.4", port: 5441 },
            { name: "pg5", address: "10.9.0.5", port: 5440 }]);
        assert.equal(members, "pg1 10.0.0.1\npg2 10.0.0.2\npg3 10.9.0.3 5440\npg4 10.9.0.4 5441\npg5 10.9.0.5 5440");
        const fit = { "10.0.0.1": "f 0/3000000", "10.9.0.3": "t 0/3000000", "10.9.0.4": "t 0/3000000", "10.9.0.5": "t 0/3000000" };
        const local = choose({ ...fit, "10.0.0.2": "t 0/3000000" }, { members, tls: true });
        assert.equal(local.target, "* = host=10.0.0.2 port=5432", "the standby on its own host, not the ones across the network");
        assert.deepEqual(local.ports, { "10.0.0.1": "5432", "10.0.0.2": "5432", "10.9.0.3": "5440", "10.9.0.4": "5441", "10.9.0.5": "5440" });
        assert.equal(local.ssl, "verify-full DIR/ca.crt", "nodes verified against the stack's CA");
        const remote = choose({ ...fit, "10.0.0.2": "t 0/1000000" }, { members, tls: true });
        assert.equal(remote.target, "* = host=10.9.0.3,10.9.0.5 port=5440", "one entry takes one port: pg4 on 5441 is left out");
        const primary = poolerMembers([{ name: "pg1", address: "10.0.0.1" }, { name: "pg2", address: "10.9.0.2", port: 5440 }]);
        assert.equal(choose({ "10.0.0.1": "t 0/1000000", "10.9.0.2": "f 0/3000000" }, { members: primary }).target,
            "* = host=10.9.0.2 port=5440", "no fit standby: the primary on another host, at its port");
        assert.equal(choose({ "10.0.0.1": "f 0/3000000", "10.0.0.2": "t 0/3000000" }).ssl, "none none", "one engine: no TLS");
    });

    test("PgBouncer before 1.17 (one host per database): one fit standby, the one reads already go to while it stays fit", () => {
        const answers = { "10.0.0.1": "f 0/3000000", "10.0.0.2": "t 0/3000000", "10.0.0.3": "t 0/3000000" };
        assert.equal(choose(answers, { version: "PgBouncer 1.15.0" }).target, "* = host=10.0.0.2 port=5432");
        assert.equal(choose(answers, { version: "PgBouncer 1.15.0", current: "* = host=10.0.0.3 port=5432" }).target,
            "* = host=10.0.0.3 port=5432");
    });

    test("PgBouncer before 1.17 across engines: a fit standby on its own host takes the reads from one on another host (seen in CI on 13)", () => {
        // pg2 on the pooler's engine had not caught up at the first choice, so reads went to pg3 across the network.
        const members = poolerMembers([{ name: "pg2", address: "10.0.0.2" }, { name: "pg1", address: "10.9.0.1", port: 5440 },
            { name: "pg3", address: "10.9.0.3", port: 5442 }]);
        const answers = { "10.9.0.1": "f 0/3000000", "10.0.0.2": "t 0/3000000", "10.9.0.3": "t 0/3000000" };
        const across = "* = host=10.9.0.3 port=5442";
        assert.equal(choose(answers, { version: "PgBouncer 1.15.0", members, current: across }).target, "* = host=10.0.0.2 port=5432");
        // While its own is not fit, it stays where it is; another host's fit standby does not take them from it either.
        const behind = { ...answers, "10.0.0.2": "t 0/1000000" };
        assert.equal(choose(behind, { version: "PgBouncer 1.15.0", members, current: across, maxLag: 1024 }).target, across);
        const pg4 = poolerMembers([{ name: "pg4", address: "10.9.0.4", port: 5443 }]);
        assert.equal(choose({ ...behind, "10.9.0.4": "t 0/3000000" }, { version: "PgBouncer 1.15.0", members: `${members}\n${pg4}`, current: across,
            maxLag: 1024 }).target, across);
    });
});
