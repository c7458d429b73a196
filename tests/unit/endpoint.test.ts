// The read-write endpoint (components/endpoint.ts) as the program declares it, under Pulumi's mocks:
// what exists with pg-replication:endpoints and nothing without it; its container, role, lookup and
// config command; a switchover changes only what points it; its settings, validated in one place
// (config.ts validateEndpoints), each bad value named with its key.

import * as assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { RawConfig, validateEndpoints } from "../../components/config";
import { parseSubnet, Subnet } from "../../components/ipv4";
import { poolerIni } from "../../components/pooler";
import { TopologyInput } from "../../components/topology/contract";
import { clearStrings, DEV, isSecret, outputValue, plain, Recorded, Run, runProgram } from "../support/mocked-program";

const SUBNET = (parseSubnet("172.18.0.0/24", 16, 29) as { subnet: Subnet }).subnet;
const NODES = [{ name: "pg1", address: "172.18.0.101", port: 5432 }, { name: "pg2", address: "172.18.0.102", port: 5433 }];
const raw = (endpoints: unknown): RawConfig => ({ endpoints: typeof endpoints === "string" ? endpoints : JSON.stringify(endpoints) });
const check = (endpoints: unknown, more: Partial<Parameters<typeof validateEndpoints>[1]> = {}) =>
    validateEndpoints(raw(endpoints), { image: "postgres:13", subnet: SUBNET, nodes: NODES, spans: false, ...more });
const env = (r: Recorded) => plain(r.inputs.environment) as Record<string, string>;
const differing = (a: Run, b: Run) => a.resources.filter((r) =>
    JSON.stringify(plain(r.inputs)) !== JSON.stringify(plain(b.get(r.type, r.name).inputs))).map((r) => r.name);

describe("pg-replication:endpoints, validated", () => {
    test("absent or false: no endpoint; true or {}: every default (the tools image of the major, the subnet's last host)", () => {
        assert.deepEqual(validateEndpoints({}, { image: "postgres:13", subnet: SUBNET, nodes: NODES, spans: false }), { problems: [] });
        assert.deepEqual(check("false"), { problems: [] });
        const on = check("true");
        assert.deepEqual(on, check({}));
        assert.deepEqual(on, { problems: [], endpoints: {
            image: "pg-replication/postgres-tools:13", address: "172.18.0.254", port: 6432, poolMode: "transaction", poolSize: 20,
            maxClientConnections: 200, queryWaitTimeoutSeconds: 120, pauseTimeoutSeconds: 10 } });
        assert.equal(check({}, { image: "postgres:17" }).endpoints?.image, "pg-replication/postgres-tools:17");
    });

    test("each bad value is named with its key, the value and what is allowed", () => {
        assert.deepEqual(check({ address: "172.18.0.102", port: 5433, poolMode: "statement", poolSize: 0, colour: "blue" }).problems, [
            'pg-replication:endpoints.colour = "blue" is not allowed: unknown field; endpoints has image, address, port, poolMode, ' +
                "poolSize, maxClientConnections, queryWaitTimeoutSeconds, pauseTimeoutSeconds",
            'pg-replication:endpoints.address = "172.18.0.102" is not allowed: already used by pg-replication:nodes[1].address; the endpoint needs its own',
            "pg-replication:endpoints.port = 5433 is not allowed: host port already used by pg-replication:nodes[1].port",
            'pg-replication:endpoints.poolMode = "statement" is not allowed: expected transaction (a switchover is a pause for ' +
                "clients) or session (a switchover ends every client's session)",
            "pg-replication:endpoints.poolSize = 0 is not allowed: expected a whole number from 1 to 10000",
        ]);
        assert.deepEqual(check({ address: "10.0.0.5" }).problems, ['pg-replication:endpoints.address = "10.0.0.5" is not allowed: ' +
            "expected a host address inside 172.18.0.0/24 from 172.18.0.2 to 172.18.0.254 (172.18.0.1 is the gateway)"]);
        assert.deepEqual(check([1]).problems, ["pg-replication:endpoints = [1] is not allowed: expected true, false or an object " +
            "with any of image, address, port, poolMode, poolSize, maxClientConnections, queryWaitTimeoutSeconds, pauseTimeoutSeconds"]);
    });

    test("an image of unknown make needs endpoints.image; nodes on several engines and a node named pooler are refused", () => {
        assert.match(check({}, { image: "registry.local/pg:13" }).problems[0],
            /^pg-replication:endpoints\.image = null is not allowed: expected the image of PgBouncer for registry\.local\/pg:13/);
        assert.deepEqual(check({ image: "my/pgbouncer:1" }, { image: "registry.local/pg:13" }).problems, []);
        assert.match(check({}, { spans: true }).problems[0], /^pg-replication:endpoints = \{\} is not allowed: not available yet when the nodes run on more than one Docker engine/);
        assert.deepEqual(check({}, { nodes: [...NODES, { name: "pooler", address: "172.18.0.103", port: 5434 }] }).problems,
            ['pg-replication:nodes[2].name = "pooler" is not allowed: with endpoints the name is taken by the pooler\'s container; rename the node']);
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

    test("one Endpoint component: the pooler's role, its lookup, its container, its config command, all parented under it", () => {
        const mine = on.resources.filter((r) => r.name.startsWith("cluster-endpoint")).map((r) => `${r.type}::${r.name}`).sort();
        assert.deepEqual(mine, [
            "command:local:Command::cluster-endpoint-auth-lookup",
            "command:local:Command::cluster-endpoint-auth-password",
            "command:local:Command::cluster-endpoint-config",
            "docker:index/container:Container::cluster-endpoint",
            "pg-replication:index:Endpoint::cluster-endpoint",
            "postgresql:index/role:Role::cluster-endpoint-auth-role",
        ]);
        for (const r of on.resources.filter((x) => x.name.startsWith("cluster-endpoint-") || x.type === "docker:index/container:Container" && x.name === "cluster-endpoint")) {
            assert.equal(r.parent, "cluster-endpoint", r.name);
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

    test("a switchover changes what points the endpoint (the step, its config) and never its container", () => {
        const changed = differing(on, switched).sort();
        assert.ok(changed.includes("cluster-endpoint-config"), changed.join(", "));
        assert.ok(!changed.includes("cluster-endpoint"), "the pooler's container is not replaced");
        assert.equal(env(switched.get("Command", "cluster-endpoint-config")).TARGET, "* = host=172.18.0.102 port=5432");
    });

    test("outputs.endpoints.rw: where this machine reaches it, as a secret URL", async () => {
        const rw = on.outputs.endpoints!.rw;
        assert.deepEqual({ ...rw, connectionString: undefined }, { host: "127.0.0.1", port: 6432, containerName: "pg-replication-dev-pooler",
            connectionString: undefined });
        assert.equal(await pulumi.isSecret(rw.connectionString), true);
        assert.match(await outputValue(rw.connectionString), /^postgresql:\/\/postgres:[^@]+@127\.0\.0\.1:6432\/postgres$/);
    });
});
