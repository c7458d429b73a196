// `npm run status` against a cluster the real engine built: healthy, a standby stopped, a sync
// policy whose only standby is down, lag under a write load, and the --json form field by field.
// The tool runs as a child process, as a user runs it, pointed at the harness's file:// backend
// through PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE. Subnet 172.30.90.0/24, ports 55900+.

import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { docker, e2eStack, E2EStack, eventually, leftovers, log, rows, status, withClient } from "./harness";

const TIMEOUT = 15 * 60 * 1000;
const STACK = "e2e-status";
const ROOT = path.resolve(__dirname, "..", "..", "..");
const TOOL = path.join(ROOT, "bin", "status", "main.js");
const PRIMARY = "primary";

/** The stack config for this test: PRIMARY and the given standbys as named nodes. */
function clusterConfig(standbys: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
    const nodes = [PRIMARY, ...standbys].map((name, i) => ({ name, address: `172.30.90.${101 + i}`, port: 55900 + i }));
    const placement = { nodes, primary: PRIMARY };
    return { image: "postgres:13", subnet: "172.30.90.0/24", ...placement, readyTimeoutSeconds: "60", ...extra };
}

async function statusJson(backend: string): Promise<{ code: number; report: any }> {
    const r = await status(backend, STACK, "--json");
    assert.ok([0, 1].includes(r.code), `status exited ${r.code}: ${r.stderr}`);
    return { code: r.code, report: JSON.parse(r.stdout) };
}

const node = (report: any, name: string) => report.nodes.find((n: any) => n.name === name);
const LSN = /^[0-9A-F]+\/[0-9A-F]+$/;

describe("status tool on a real cluster", { timeout: TIMEOUT }, () => {
    let s: E2EStack;
    let backend: string;
    let out: Record<string, any>;

    before(async () => {
        s = await e2eStack(STACK, clusterConfig(["standby1", "standby2"], { mode: "async" }));
        await s.up();
        out = await s.outputs();
        backend = s.backend;
    });
    after(async () => {
        try {
            await s?.destroyAndRemove();
        } finally {
            assert.deepEqual(leftovers(STACK), []);
        }
    });

    test("healthy: exit 0, a row per node, the data at risk", async () => {
        const r = await status(backend, STACK);
        log(`status (healthy), ${r.ms} ms:\n${r.stdout}`);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /^stack e2e-status .* HEALTHY$/m);
        assert.match(r.stdout, /^primary +declared primary +found primary$/m);
        assert.match(r.stdout, /^primary +127\.0\.0\.1:55900 +primary +running +1 /m);
        assert.match(r.stdout, /^standby1 +127\.0\.0\.1:55901 +async standby +streaming +1 +[0-9A-F]+\/[0-9A-F]+ /m);
        assert.match(r.stdout, /^standby2 +127\.0\.0\.1:55902 +async standby +streaming +1 /m);
        assert.match(r.stdout, /^data at risk: if the primary failed now, up to \d+ bytes .* of acknowledged commits could be lost; promote standby[12]/m);
        assert.doesNotMatch(r.stdout, /warnings:/);
    });

    test("--json, field by field, against what the cluster and the engine say", async () => {
        const { code, report } = await statusJson(backend);
        assert.equal(code, 0);
        const primaryUrl = out.primary.connectionString;
        const [facts] = await rows(primaryUrl, "SELECT system_identifier::text AS id, current_setting('server_version') AS version " +
            "FROM pg_control_system()");
        assert.equal(report.stack, STACK);
        assert.equal(report.healthy, true);
        assert.ok(!Number.isNaN(Date.parse(report.checkedAt)));
        assert.equal(report.cluster.systemIdentifier, facts.id);
        assert.equal(report.cluster.version, facts.version);
        assert.deepEqual(report.cluster.primary, { declared: PRIMARY, found: [PRIMARY] });
        assert.equal(report.cluster.timeline, 1);
        assert.match(report.cluster.currentLsn, LSN);
        assert.deepEqual(report.policy, {
            configured: { mode: "async", synchronousStandbyNames: "", synchronousCommit: "on" },
            live: { synchronousStandbyNames: "", synchronousCommit: "on" },
            method: "none", required: 0, candidates: [], confirming: [], satisfied: true,
        });
        assert.deepEqual(report.nodes.map((n: any) => n.name), [PRIMARY, "standby1", "standby2"]);
        for (const [i, n] of report.nodes.entries()) {
            const planned = out.nodes[n.name];
            assert.equal(n.host, "127.0.0.1");
            assert.equal(n.port, 55900 + i);
            assert.equal(n.address, `172.30.90.${101 + i}`);
            assert.equal(n.containerName, planned.containerName);
            assert.equal(n.reachable, true);
            assert.equal(n.error, null);
            assert.equal(n.systemIdentifier, facts.id);
            assert.equal(n.version, facts.version);
            assert.equal(n.timeline, 1);
            const id = docker("inspect", "-f", "{{.Id}}", n.containerName);
            assert.deepEqual({ ...n.container, startedAt: undefined },
                { state: "running", id, plannedId: id, image: "postgres:13", startedAt: undefined });
            assert.ok(!Number.isNaN(Date.parse(n.container.startedAt)));
        }
        const [p, s1] = report.nodes;
        assert.deepEqual([p.plannedRole, p.role, p.state, p.receivedLsn, p.replayedLsn, p.lag, p.slot],
            ["primary", "primary", "running", null, null, null, null]);
        assert.deepEqual([s1.plannedRole, s1.role, s1.state], ["async", "async", "streaming"]);
        assert.match(s1.receivedLsn, LSN);
        assert.match(s1.replayedLsn, LSN);
        assert.deepEqual(Object.keys(s1.lag), ["receivedBytes", "replayedBytes", "writeSeconds", "flushSeconds", "replaySeconds"]);
        assert.ok(s1.lag.replayedBytes >= 0 && s1.lag.receivedBytes >= 0);
        assert.deepEqual({ ...s1.slot, heldBytes: undefined },
            { name: "standby1", active: true, heldBytes: undefined, limitBytes: 1024 ** 3, walStatus: "reserved" });
        assert.ok(s1.slot.heldBytes >= 0);
        assert.match(report.dataAtRisk.text, /^if the primary failed now, up to \d+ bytes/);
        assert.ok(["standby1", "standby2"].includes(report.dataAtRisk.promote));
        assert.equal(typeof report.dataAtRisk.bytes, "number");
        assert.deepEqual(report.warnings, []);
    });

    test("lag under a write load is shown as non-zero, then back to zero", async () => {
        const primaryUrl = out.primary.connectionString;
        await rows(primaryUrl, "CREATE TABLE IF NOT EXISTS load (id bigserial PRIMARY KEY, pad text)");
        let writing = true;
        const load = withClient(primaryUrl, async (c) => {
            while (writing) {
                await c.query("INSERT INTO load (pad) SELECT repeat(md5(random()::text), 30) FROM generate_series(1, 5000)");
            }
        });
        const seen: any[] = [];
        try {
            const lagging = await eventually(60, async () => {
                const { report } = await statusJson(backend);
                seen.push(node(report, "standby1").lag);
                return report;
            }, (r) => {
                const lag = node(r, "standby1").lag;
                return lag.replayedBytes > 0 || (lag.replaySeconds ?? 0) > 0;
            });
            const lag = node(lagging, "standby1").lag;
            log(`under load: ${JSON.stringify(lag)}`);
            assert.ok(lag.replayedBytes > 0 || lag.replaySeconds > 0, `no lag seen under load: ${JSON.stringify(seen)}`);
        } finally {
            writing = false;
            await load;
        }
        const settled = await eventually(60, async () => (await statusJson(backend)).report,
            (r) => r.nodes.every((n: any) => n.lag === null || n.lag.replayedBytes === 0));
        assert.deepEqual(settled.nodes.map((n: any) => n.lag?.replayedBytes ?? null), [null, 0, 0]);
    });

    test("a stopped standby: its row, the warning, the data at risk; exit 1", async () => {
        const container = out.nodes.standby1.containerName;
        docker("stop", container);
        try {
            const r = await status(backend, STACK);
            log(`status (standby1 stopped), ${r.ms} ms:\n${r.stdout}`);
            assert.equal(r.code, 1, r.stdout + r.stderr);
            assert.match(r.stdout, /^stack e2e-status .* 1 WARNING$/m);
            assert.match(r.stdout, /^standby1 +127\.0\.0\.1:55901 +async standby \(planned\) +stopped +(- +){7}inactive /m);
            assert.match(r.stdout, new RegExp(`^  ! standby1: its container ${container} is stopped$`, "m"));
            assert.match(r.stdout, new RegExp(`^    → start it: docker -H \\S+ start ${container} \\(it resumes from its slot\\)$`, "m"));
            assert.match(r.stdout, /^data at risk: if the primary failed now, up to \d+ bytes .* could be lost; promote standby2: it has received the most WAL$/m);
            assert.ok(r.ms < 30_000, `status took ${r.ms} ms with a node down`);
            const { report } = await statusJson(backend);
            assert.deepEqual(report.warnings.map((w: any) => [w.code, w.node]), [["container-stopped", "standby1"]]);
            assert.equal(node(report, "standby1").reachable, false);
            assert.equal(node(report, "standby1").container.state, "stopped");
        } finally {
            docker("start", container);
        }
        const back = await eventually(60, () => statusJson(backend), (r) => r.code === 0);
        assert.equal(back.code, 0, JSON.stringify(back.report.warnings));
    });

    test("sync policy whose only standby is down: the warning that writes hang", async () => {
        await s.setConfig(clusterConfig(["standby1", "standby2"], { mode: "sync", syncStandbys: ["standby1"] }));
        await s.up();
        const healthy = await statusJson(backend);
        assert.equal(healthy.code, 0, JSON.stringify(healthy.report.warnings));
        assert.equal(healthy.report.policy.live.synchronousStandbyNames, 'FIRST 1 ("standby1")');
        assert.deepEqual([healthy.report.policy.method, healthy.report.policy.required, healthy.report.policy.candidates,
            healthy.report.policy.satisfied], ["first", 1, ["standby1"], true]);
        assert.equal(node(healthy.report, "standby1").role, "sync");
        assert.match(healthy.report.dataAtRisk.text, /^no acknowledged commit can be lost while standby standby1 confirms/);
        const container = out.nodes.standby1.containerName;
        docker("stop", container);
        try {
            const r = await status(backend, STACK);
            log(`status (sync standby stopped), ${r.ms} ms:\n${r.stdout}`);
            assert.equal(r.code, 1);
            assert.match(r.stdout, /satisfied now: NO$/m);
            assert.match(r.stdout, /^  ! commits on the primary hang: synchronous_standby_names = 'FIRST 1 \("standby1"\)' needs 1 of standby1 and none streams$/m);
            assert.match(r.stdout, /^    → bring standby1 back, or relax the policy/m);
            assert.match(r.stdout, /^data at risk: commits wait for 1 of standby1 to confirm/m);
        } finally {
            docker("start", container);
        }
    });

    test("--watch redraws in place until interrupted", async () => {
        const child = spawn(process.execPath, [TOOL, STACK, "--watch", "--cwd", ROOT], {
            env: { ...process.env, PULUMI_BACKEND_URL: `file://${backend}`, PULUMI_CONFIG_PASSPHRASE: "e2e-only-passphrase" },
        });
        let stdout = "";
        child.stdout.on("data", (d) => { stdout += d; });
        const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
        await eventually(30, async () => stdout.split("\x1b[H").length - 1, (frames) => frames >= 3);
        child.kill("SIGINT");
        const code = await exited;
        const frames = stdout.split("\x1b[H").slice(1);
        assert.ok(frames.length >= 3, `only ${frames.length} frames`);
        assert.equal(stdout.split("\x1b[2J").length - 1, 1, "the screen is cleared once, at the start");
        assert.match(stdout, /\x1b\[\?25h$/, "the cursor is shown again on exit");
        for (const f of frames.slice(0, -1)) {
            assert.match(f, /^stack e2e-status /);
            assert.match(f, /\x1b\[J$/);
        }
        // The last frame's code: standby1 was just restarted, so it may or may not stream yet.
        assert.ok(code === 0 || code === 1, `exit code ${code}`);
    });

    test("a stack that cannot be read: exit 2 and why", async () => {
        const r = await status(backend, "e2e-status-nonexistent");
        assert.equal(r.code, 2);
        assert.match(r.stderr, /^status: cannot read stack e2e-status-nonexistent: .*no stack named/m);
        assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
});
