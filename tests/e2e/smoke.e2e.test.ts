// Proves the toolchain chain end to end (issue: a real engine on this machine): the engine and
// the docker plugin create a network and a container from the locally built image, the
// database answers from outside, and destroy leaves nothing with the stack's label.

import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Client } from "pg";
import { e2eStack, leftovers } from "./harness";
import { SMOKE_PORT } from "./smoke";

describe("toolchain smoke", { timeout: 10 * 60 * 1000 }, () => {
    test("up, answer from outside, destroy, nothing left", async () => {
        const name = "e2e-smoke";
        const s = await e2eStack(name, {}, "smoke");
        try {
            await s.up();
            const client = new Client({ host: "127.0.0.1", port: SMOKE_PORT, user: "postgres", password: "smoke-only" });
            await client.connect();
            try {
                const { rows } = await client.query("SELECT current_setting('server_version_num')::int / 10000 AS major");
                assert.equal(rows[0].major, 13);
            } finally {
                await client.end();
            }
        } finally {
            await s.destroyAndRemove();
        }
        assert.deepEqual(leftovers(name), []);
    });
});
