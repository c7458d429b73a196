// The benchmark's own pieces that can go wrong without Docker: its options, the hosts rows' plans
// (a valid config, across engines or not) and what it says when test hosts cannot be made.

import * as assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import * as yaml from "js-yaml";
import { benchOptions, hostsPlan, hostsUnavailable, STANDBY_COUNTS, standbysPlan, Unmeasured } from "../../bench/run";
import {
    archiveLags, backupToolSeconds, median, percentile, segmentTimes, tpsOf, verifyToolResult,
} from "../../bench/load";
import { segmentName, segmentNumber } from "../../components/lsn";
import { BACKUP_PLAN, dataPlan, endpointPlan, loadPlan, restorePlan, ROLL_IMAGE, rollPlan, SOLO_PLAN } from "../../bench/scale";
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

    test("options: rounds, --only hosts (npm run bench:hosts), standbys or endpoint, --baseline; anything else is refused", () => {
        assert.deepEqual(benchOptions([]), { rounds: 3, only: undefined, baseline: undefined, loadSeconds: 60, backupScale: 150,
            majorScale: 150 });
        assert.deepEqual(benchOptions(["--only", "hosts", "5"]), { rounds: 5, only: "hosts", baseline: undefined, loadSeconds: 60, backupScale: 150,
            majorScale: 150 });
        assert.deepEqual([benchOptions(["--only", "major", "--major-scale", "20"]).only, benchOptions(["--major-scale", "20"]).majorScale],
            ["major", 20]);
        assert.throws(() => benchOptions(["--major-scale", "0"]), /--major-scale must be a positive integer \(pgbench's scale\), not 0/);
        assert.deepEqual([benchOptions(["1", "--only", "backup", "--backup-scale", "5"]).only, benchOptions(["--backup-scale", "5"]).backupScale],
            ["backup", 5]);
        assert.throws(() => benchOptions(["--backup-scale", "0"]), /--backup-scale must be a positive integer \(pgbench's scale\), not 0/);
        assert.throws(() => benchOptions(["--backup-scale", "2.5"]), /--backup-scale must be a positive integer/);
        assert.equal(benchOptions(["--only", "load", "--load-seconds", "20"]).loadSeconds, 20);
        assert.throws(() => benchOptions(["--load-seconds", "5"]), /--load-seconds must be an integer of at least 10, not 5/);
        assert.equal(benchOptions(["--only", "standbys"]).only, "standbys");
        assert.equal(benchOptions(["--only", "endpoint"]).only, "endpoint");
        assert.equal(benchOptions(["--baseline", "/tmp/base"]).baseline, "/tmp/base");
        assert.equal(benchOptions(["--only", "main"]).only, "main");
        assert.throws(() => benchOptions(["--only", "dev"]), /--only dev: one of main, hosts, standbys, load, endpoint, roll, data, backup, major$/);
        assert.throws(() => benchOptions(["0"]), /ROUNDS must be a positive integer/);
    });

    test("a group of rows that fails says NOT MEASURED with what failed, is not run again, and fails the run; the others go on", async () => {
        const said: string[] = [];
        const u = new Unmeasured((l) => said.push(l));
        let loadRuns = 0;
        await u.guard("load", "round 1", async () => {
            loadRuns++;
            throw new Error("pgbench failed (1):\nconnection refused");
        });
        await u.guard("load", "round 2", async () => {
            loadRuns++;
        });
        let dataRuns = 0;
        await u.guard("data", "round 1", async () => {
            dataRuns++;
        });
        assert.equal(loadRuns, 1, "a failed group is not run again");
        assert.equal(dataRuns, 1);
        assert.equal(u.failed, true);
        assert.match(said.join(""), /!!! LOAD ROWS NOT MEASURED: round 1 failed: pgbench failed \(1\): \/ connection refused/);
        assert.deepEqual(u.lines("load", "write load", () => ["  measured"]),
            ["  write load: NOT MEASURED — round 1 failed: pgbench failed (1): / connection refused"]);
        assert.deepEqual(u.lines("data", "data", () => ["  data: 1.02"]), ["  data: 1.02"]);
    });

    test("a group that cannot be made here is said, loudly, and does not fail the run", async () => {
        const said: string[] = [];
        const u = new Unmeasured((l) => said.push(l));
        u.skip("hosts", "not root");
        let ran = false;
        await u.guard("hosts", "making the test hosts", async () => {
            ran = true;
        });
        assert.equal(ran, false);
        assert.equal(u.failed, false);
        assert.match(said.join(""), /!!! HOSTS ROWS NOT MEASURED: not root/);
        assert.deepEqual(u.lines("hosts", "three-host plan up / one-host plan up", () => []),
            ["  three-host plan up / one-host plan up: NOT MEASURED — not root"]);
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

    test("the load, steady-state, endpoint and data plans: valid configs; quorum sync is ANY 1 of the two standbys, whichever is primary", () => {
        const async = configOf(loadPlan("async"));
        assert.equal(async.replication.mode, "async");
        assert.deepEqual(async.nodes.map((n) => n.name), ["pg1", "pg2", "pg3"]);
        const sync = configOf(loadPlan("sync", "pg2"));
        assert.equal(sync.primary, "pg2");
        assert.equal(sync.replication.mode, "sync");
        assert.equal(sync.replication.syncCount, 1);
        assert.deepEqual(configOf(SOLO_PLAN).nodes.map((n) => n.name), ["pg1"]);
        assert.deepEqual(configOf(dataPlan(false)).nodes.map((n) => n.name), ["pg1"]);
        const data = configOf(dataPlan(true));
        assert.deepEqual(data.nodes.map((n) => [n.name, n.port]), [["pg1", 56820], ["pg2", 56821]]);
        const endpoint = configOf(endpointPlan("pg2"));
        assert.equal(endpoint.primary, "pg2");
        assert.deepEqual(endpoint.endpoints && [endpoint.endpoints.port, endpoint.endpoints.poolMode], [56839, "transaction"]);
        // The roll rows: the pg17 plan's nodes (17, three, quorum ANY 1), on the base image and on the one rolled to.
        const roll = configOf(rollPlan(ROLL_IMAGE, "pg2"));
        assert.deepEqual([roll.image, roll.primary, roll.replication.mode, roll.replication.syncCount, roll.nodes.length],
            [ROLL_IMAGE, "pg2", "sync", 1, 3]);
        assert.equal(configOf(rollPlan("postgres:17", "pg1")).image, "postgres:17");
        // The backup rows: pg1 with backups on and pg2 streaming from it (the backup from a standby), and the stack
        // restored from its repository (and the baseline's), on the halves of one /24; no scheduler (its proofs would run mid-round).
        const backup = configOf(BACKUP_PLAN);
        assert.deepEqual([backup.nodes.map((n) => [n.name, n.address, n.port]), backup.backup?.allowUnverifiedDestroy, backup.restore,
            backup.backup?.schedule], [[["pg1", "172.31.86.101", 56850], ["pg2", "172.31.86.102", 56852]], true, undefined, undefined]);
        const restored = configOf(restorePlan("pg-replication-bench-backup-backup", "pg-replication-bench-backup"));
        assert.deepEqual([restored.nodes.map((n) => [n.name, n.address, n.port]), restored.backup, restored.restore?.volume,
            restored.restore?.stanza, restored.restore?.target], [[["pg1", "172.31.86.229", 56851]], undefined,
            "pg-replication-bench-backup-backup", "pg-replication-bench-backup", { kind: "latest" }]);
        const base = configOf(restorePlan("pg-replication-bench-backup-backup", "pg-replication-bench-backup", true));
        assert.deepEqual(base.nodes.map((n) => [n.name, n.address, n.port]), [["pg1", "172.31.86.165", 56853]],
            "the baseline's restored stack at an address and a port of its own");
        assert.deepEqual([backup.subnet, restored.subnet, base.subnet], ["172.31.86.0/25", "172.31.86.192/26", "172.31.86.128/26"]);
        const subnets = [async.subnet, configOf(SOLO_PLAN).subnet, data.subnet, endpoint.subnet, roll.subnet,
            ...STANDBY_COUNTS.map((n) => configOf(standbysPlan(n)).subnet)];
        assert.equal(new Set(subnets).size, subnets.length, "every plan on a subnet of its own");
    });

    test("pgbench's tps line (13 and 17 wording) and nearest-rank percentiles", () => {
        assert.equal(tpsOf("latency average = 9.1 ms\ntps = 1754.318 (without initial connection time)\n"), 1754.318);
        assert.equal(tpsOf("tps = 88.5 (including connections establishing)\ntps = 90.1 (excluding connections establishing)\n"), 90.1);
        assert.throws(() => tpsOf("pgbench: error: connection lost"), /no tps in pgbench's output/);
        assert.equal(percentile([5, 1, 3, 2, 4], 50), 3);
        assert.equal(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 99), 99);
        assert.equal(percentile([7], 99), 7);
        assert.ok(Number.isNaN(percentile([], 50)));
        assert.equal(median([3, 1, 2]), 2);
        assert.equal(median([2321, 3686]), 3003.5, "two rounds: their mean, not the larger one");
        assert.ok(Number.isNaN(median([])));
    });

    test("WAL segment names and the archive lag: completion (archive-status mtime) to arrival (the repository file's mtime)", () => {
        assert.equal(segmentNumber("0000000100000002000000FF"), 2 * 256 + 255);
        assert.equal(segmentName("00000001", 2 * 256 + 255), "0000000100000002000000FF");
        assert.equal(segmentName("00000003", segmentNumber("0000000300000000000000FF") + 1), "000000030000000100000000");
        const times = segmentTimes([
            "000000010000000000000005.done 1764817200.5000000000",
            "000000010000000000000005.ready 1764817200.2500000000",
            "000000010000000000000006-0123456789abcdef0123456789abcdef01234567.lz4 1764817203.75",
            "00000002.history 1764817100.0",
            "000000010000000000000004.00000028.backup 1764817000.0",
            "000000010000000000000007.partial.done 1764817000.0",
            "",
        ].join("\n"));
        assert.deepEqual([...times.entries()], [["000000010000000000000005", 1764817200.25], ["000000010000000000000006", 1764817203.75]]);
        const status = "0000000100000000000000FE.done 100.0\n0000000100000000000000FF.done 101.5\n000000010000000100000000.ready 103.0\n";
        const repo = "0000000100000000000000FE-0123456789abcdef0123456789abcdef01234567.lz4 100.25\n" +
            "0000000100000000000000FF-0123456789abcdef0123456789abcdef01234567.lz4 104.0\n";
        assert.deepEqual(archiveLags(status, repo, "0000000100000000000000FE", "0000000100000000000000FF"), { lags: [0.25, 2.5], missing: [] });
        assert.deepEqual(archiveLags(status, repo, "0000000100000000000000FF", "000000010000000100000000"),
            { lags: [2.5], missing: ["000000010000000100000000"] }, "completed but not in the repository: missing, not a lag of 0");
        assert.deepEqual(archiveLags(status, repo, "000000010000000100000000", "0000000100000000000000FF"), { lags: [], missing: [] });
    });

    test("what npm run backup and npm run verify-backup --json print", () => {
        assert.equal(backupToolSeconds("backup: something\nfull backup 20261204-031500F of pg-replication-bench-backup taken on the primary " +
            "pg-replication-bench-backup-pg1 in 12.3 s\n"), 12.3);
        assert.equal(backupToolSeconds("full backup 20261204-031500F of s taken from the standby s-pg2 (the primary is s-pg1) in 7.5 s\n"), 7.5);
        assert.throws(() => backupToolSeconds("backup: expected one primary"), /no "taken … in N s"/);
        const json = JSON.stringify({ marker: { token: "ab", found: true }, restoreSeconds: 1.5, recoverySeconds: 2 }, null, 2);
        assert.deepEqual(verifyToolResult(`backup: marker ab written on pg1\n${json}\n`),
            { marker: { token: "ab", found: true }, restoreSeconds: 1.5, recoverySeconds: 2 });
        assert.throws(() => verifyToolResult("backup: the restore failed"), /no JSON/);
    });

    test("when test hosts cannot be made, the reason is named", () => {
        assert.match(hostsUnavailable(1000) ?? "", /^not root/);
        assert.match(hostsUnavailable(0, "/nonexistent/ip") ?? "", /^`ip netns list` failed/);
    });
});
