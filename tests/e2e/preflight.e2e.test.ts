// On the real engine, a stack that would collide with what Docker and this machine already have
// fails `up` before anything is created: a network of its name, a network on its subnet, a
// container on its primary's port and a listener on its standby's port, all named at once with
// the key to change, and nothing but the stack in the state.

import * as assert from "node:assert/strict";
import * as net from "node:net";
import { after, before, describe, test } from "node:test";
import { docker, e2eStack, leftovers } from "./harness";
import { removeStackObjects } from "../support/docker-objects";

const STACK = "e2e-preflight";
/** Label of the objects that stand for someone else's: not this stack's, removed in `after`. */
const FOREIGN = "e2e-preflight-foreign";
const NETWORK = "e2e-preflight-taken";

describe("collisions on the real engine", { timeout: 5 * 60 * 1000 }, () => {
    let listener: net.Server;

    before(async () => {
        removeStackObjects(FOREIGN);
        docker("network", "create", "--subnet", "172.28.46.0/24", "--label", `pg-replication.stack=${FOREIGN}`, NETWORK);
        docker("run", "-d", "--name", `${FOREIGN}-port`, "--label", `pg-replication.stack=${FOREIGN}`,
            "-p", "127.0.0.1:58461:5432", "--entrypoint", "sleep", "postgres:13", "600");
        listener = net.createServer();
        await new Promise<void>((resolve) => listener.listen(58462, "127.0.0.1", resolve));
    });

    after(async () => {
        await new Promise((resolve) => listener.close(resolve));
        removeStackObjects(FOREIGN);
        removeStackObjects(STACK);
    });

    test("up fails naming the network, the subnet and both ports with their keys; nothing is created", async () => {
        const s = await e2eStack(STACK, {
            networkName: NETWORK,
            subnet: "172.28.46.0/24",
            nodes: [{ name: "pg1", address: "172.28.46.101", port: 58461 }, { name: "pg2", address: "172.28.46.102", port: 58462 }],
            primary: "pg1",
        });
        try {
            await assert.rejects(s.up(), (err: Error) => {
                assert.match(err.message, new RegExp(`pg-replication:networkName = "${NETWORK}" is not allowed: a network of that name already exists`));
                assert.match(err.message, /pg-replication:subnet = "172\.28\.46\.0\/24" is not allowed: it overlaps 172\.28\.46\.0\/24 of the network "e2e-preflight-taken"/);
                assert.match(err.message, /pg-replication:nodes\[0\]\.port = 58461 is not allowed: 127\.0\.0\.1:58461 is already published by the container "e2e-preflight-foreign-port"/);
                assert.match(err.message, /pg-replication:nodes\[1\]\.port = 58462 is not allowed: 127\.0\.0\.1:58462 is in use on this machine/);
                assert.doesNotMatch(err.message, /at .*\.js:\d+/, "a RunError: no stack trace");
                return true;
            });
            assert.deepEqual(await s.resourceTypes(), ["pulumi:pulumi:Stack"], "only the stack itself is in the state");
            assert.deepEqual(leftovers(STACK), []);
        } finally {
            await s.removeOnly();
        }
    });

    test("preview fails the same way", async () => {
        const s = await e2eStack(`${STACK}-preview`, {
            networkName: NETWORK, subnet: "172.28.47.0/24", nodes: [{ name: "pg1", address: "172.28.47.101", port: 58463 }],
        });
        try {
            await assert.rejects(s.preview(), /pg-replication:networkName = "e2e-preflight-taken" is not allowed/);
        } finally {
            await s.removeOnly();
        }
    });
});
