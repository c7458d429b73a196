// `npm run status` with nodes on two Docker hosts of our own (tests/support/hosts.ts): healthy, then
// the standby's host lost (its engine frozen, its link down): the tool answers within its bounds,
// shows that node's engine as not answering and the primary as usual, exit 1; the host back.
// Hosts 10.231.9.11-12, cluster subnet 172.28.49.0/24 on each engine, ports 58580-58581.

import * as assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { eventually, log, planOnHosts, StatusRun, stackOnHosts, status } from "./harness";

const TIMEOUT = 15 * 60 * 1000;
const NET = 49;
const PORT = 58580;
describe("status with a host lost (two Docker hosts, PostgreSQL 13)", { timeout: TIMEOUT }, () => {
    const on = stackOnHosts({ set: "stat", subnet: 9, count: 2, images: ["postgres:13"] }, "e2e-stat-hosts",
        (hosts) => planOnHosts(hosts, { net: NET, port: PORT, readyTimeoutSeconds: "60" }));
    before(() => on.stack.up());

    test("healthy, then the standby's host lost: its engine not answering within the bound, the primary as usual; back", async () => {
        const [h1, h2] = on.set.hosts;
        const healthy = await eventually(30, () => status(on.stack.backend, on.stack.name), (r) => r.code === 0);
        log(`status (healthy), ${healthy.ms} ms:\n${healthy.stdout}${healthy.stderr}`);
        assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
        assert.match(healthy.stdout, new RegExp(`^pg1 +${h1.address}:${PORT} +primary +running +1 .* ${h1.dockerHost}$`, "m"));
        assert.match(healthy.stdout, new RegExp(`^pg2 +${h2.address}:${PORT + 1} +async standby +streaming +1 .* ${h2.dockerHost}$`, "m"));

        h2.lose();
        let lost: StatusRun;
        try {
            lost = await status(on.stack.backend, on.stack.name);
        } finally {
            h2.restore();
        }
        log(`status (pg2's host lost), ${lost.ms} ms:\n${lost.stdout}${lost.stderr}`);
        assert.equal(lost.code, 1, lost.stdout + lost.stderr);
        assert.equal(lost.stderr, "");
        // The docker bound (5 s) and the node bound (6 s) run in parallel; the rest is reading the stack.
        assert.ok(lost.ms < healthy.ms + 10_000, `status took ${lost.ms} ms with a host lost (healthy: ${healthy.ms} ms)`);
        assert.match(lost.stdout, /^stack e2e-stat-hosts .* ENGINE NOT ANSWERING: pg2$/m);
        assert.match(lost.stdout, new RegExp(`^pg1 +${h1.address}:${PORT} +primary +running +1 `, "m"));
        assert.match(lost.stdout, new RegExp(`^pg2 +${h2.address}:${PORT + 1} +async standby \\(planned\\) +no answer +.* ${h2.dockerHost}$`, "m"));
        assert.ok(lost.stdout.includes(`  ! pg2: its Docker engine ${h2.dockerHost} does not answer within 5 s, and its PostgreSQL at ` +
            `${h2.address}:${PORT + 1} does not answer either (`), lost.stdout);
        assert.match(lost.stdout, /: its host may be lost$/m);

        const back = await eventually(60, () => status(on.stack.backend, on.stack.name), (r) => r.code === 0);
        assert.equal(back.code, 0, back.stdout + back.stderr);
    });
});
