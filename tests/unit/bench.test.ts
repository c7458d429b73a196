// The benchmark's own pieces that can go wrong without Docker: its options, the hosts rows' plans
// (a valid config, across engines or not) and what it says when test hosts cannot be made.

import * as assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import * as yaml from "js-yaml";
import { benchOptions, hostsPlan, hostsUnavailable, STANDBY_COUNTS, standbysPlan } from "../../bench/run";
import { loadConfig, spansEngines } from "../../components/config";

const HOSTS = [0, 1, 2].map((i) => ({ dockerHost: `unix:///run/pg-replication-hosts/bench/pgrh-bench-${i}/docker.sock`, address: `10.231.6.${11 + i}` }));

function configOf(plan: string) {
    const values = (yaml.load(plan) as { config: Record<string, unknown> }).config;
    pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(values)
        .map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])), []);
    return loadConfig();
}

describe("npm run bench", () => {
    before(async () => {
        await pulumi.runtime.setMocks({ newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs }), call: (a) => a.inputs },
            "pg-replication", "bench-hosts", false);
    });

    test("options: rounds, --only hosts (npm run bench:hosts) or standbys, --baseline; anything else is refused", () => {
        assert.deepEqual(benchOptions([]), { rounds: 3, only: undefined, baseline: undefined });
        assert.deepEqual(benchOptions(["--only", "hosts", "5"]), { rounds: 5, only: "hosts", baseline: undefined });
        assert.equal(benchOptions(["--only", "standbys"]).only, "standbys");
        assert.equal(benchOptions(["--baseline", "/tmp/base"]).baseline, "/tmp/base");
        assert.throws(() => benchOptions(["--only", "dev"]), /--only dev: one of hosts, standbys/);
        assert.throws(() => benchOptions(["0"]), /ROUNDS must be a positive integer/);
    });

    test("the hosts rows' plans: three nodes on one engine, or one per engine (then across engines)", () => {
        const one = configOf(hostsPlan(HOSTS, false));
        assert.deepEqual(one.nodes.map((n) => [n.name, n.host, n.hostAddress]),
            [["pg1", HOSTS[0].dockerHost, HOSTS[0].address], ["pg2", HOSTS[0].dockerHost, HOSTS[0].address], ["pg3", HOSTS[0].dockerHost, HOSTS[0].address]]);
        assert.equal(spansEngines(one.nodes, one.dockerHost), false);
        const three = configOf(hostsPlan(HOSTS, true));
        assert.deepEqual(three.nodes.map((n) => [n.host, n.hostAddress]), HOSTS.map((h) => [h.dockerHost, h.address]));
        assert.equal(spansEngines(three.nodes, three.dockerHost), true);
        assert.equal(three.readyTimeoutSeconds, 60);
    });

    test("the standbys rows' plans: a valid config with room for every clone at once, each on its own subnet and ports", () => {
        const seen = new Set<string>();
        for (const n of STANDBY_COUNTS) {
            const c = configOf(standbysPlan(n));
            assert.equal(c.nodes.length, n + 1);
            assert.equal(c.primary, "pg1");
            assert.ok(c.replication.connectionLimit >= 2 * n && c.replication.maxWalSenders >= 2 * n);
            assert.equal(spansEngines(c.nodes, c.dockerHost), false);
            for (const key of [c.subnet, ...c.nodes.map((x) => String(x.port))]) {
                assert.ok(!seen.has(key), `${key} is used by two sizes`);
                seen.add(key);
            }
        }
    });

    test("when test hosts cannot be made, the reason is named", () => {
        assert.match(hostsUnavailable(1000) ?? "", /^not root/);
        assert.match(hostsUnavailable(0, "/nonexistent/ip") ?? "", /^`ip netns list` failed/);
    });
});
