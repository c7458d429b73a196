// A node's hostAddress must be an address of its engine's host, checked at preview on Docker hosts
// of our own (tests/support/hosts.ts), through the real engine: with each node's own host address
// the preview passes; with pg2's set to host 3's address it fails naming pg2 and its key, and
// nothing exists on any engine afterwards (the probe's throwaway containers included).
// Hosts 10.231.7.11-13 (set "addr"), cluster subnet 172.28.48.0/24 on each engine, ports 58570-58572.

import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TestHost } from "../support/hosts";
import { log, planOnHosts, stackOnHosts } from "./harness";

const TIMEOUT = 10 * 60 * 1000;
const NET = 48;
const PORT = 58570;
const STACK = "e2e-addr";

/** pg1-pg3 on hosts 1-3, each published on the address given for it. */

/** Every container (labelled or not), and the stack's volumes and networks, on each host. */
function objectsOnHosts(hosts: readonly TestHost[]): string[] {
    const label = `label=pg-replication.stack=${STACK}`;
    return hosts.flatMap((h) => [
        ...h.docker("ps", "-aq").split("\n").filter(Boolean).map((id) => `${h.name} container ${id}`),
        ...h.docker("volume", "ls", "-q", "--filter", label).split("\n").filter(Boolean).map((id) => `${h.name} volume ${id}`),
        ...h.docker("network", "ls", "-q", "--filter", label).split("\n").filter(Boolean).map((id) => `${h.name} network ${id}`),
    ]);
}

describe("a node's hostAddress is an address of its engine's host, on three Docker hosts", { timeout: TIMEOUT }, () => {
    const on = stackOnHosts({ set: "addr", subnet: 7, count: 3, images: ["postgres:13"] }, STACK,
        (hosts) => planOnHosts(hosts, { net: NET, port: PORT }), { removeOnly: true });

    test("each node on its own host's address: the preview passes and leaves nothing behind", async () => {
        const started = Date.now();
        await on.stack.preview();
        log(`preview of the three-host plan with the address probe: ${((Date.now() - started) / 1000).toFixed(1)} s`);
        assert.deepEqual(objectsOnHosts(on.set.hosts), []);
    });

    test("pg2 on host 3's address: the preview fails naming pg2 and its key; nothing exists on any engine", async () => {
        const [h1, h2, h3] = on.set.hosts;
        await on.stack.setConfig(planOnHosts(on.set.hosts, { net: NET, port: PORT, hostAddresses: [h1.address, h3.address, h3.address] }));
        await assert.rejects(on.stack.preview(), (err: Error) => {
            log(`preview refused: ${err.message.split("\n").find((l) => l.includes("hostAddress"))?.trim()}`);
            assert.match(err.message, new RegExp(`pg-replication:nodes\\[1\\]\\.hostAddress = "${h3.address.replace(/\./g, "\\.")}" ` +
                `is not allowed: pg2 runs on the Docker engine ${h2.dockerHost}, whose host has the addresses .*` +
                `${h2.address.replace(/\./g, "\\.")}.* and not ${h3.address.replace(/\./g, "\\.")}`));
            assert.doesNotMatch(err.message, /nodes\[[02]\]\.hostAddress/, "only pg2's address is wrong");
            assert.doesNotMatch(err.message, /at .*\.js:\d+/, "a RunError: no stack trace");
            return true;
        });
        assert.deepEqual(objectsOnHosts(on.set.hosts), []);
    });
});
