// The real Pulumi engine rejects a bad plan before any resource exists. This part
// of the end-to-end suite needs only the CLI (no provider plugin is loaded when the program
// stops in its config check), so it runs where the plugins cannot be had.

import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PLAIN_SECRETS } from "./plain-secrets";
import { e2eStack, leftovers } from "./harness";

describe("bad config on the real engine", { timeout: 5 * 60 * 1000 }, () => {
    test("up fails at once naming each key, value and what is allowed, and nothing is created", async () => {
        const s = await e2eStack("e2e-bad-config", {
            nodes: [{ name: "pg1", address: "172.18.0.101", port: 99999 }, { name: "pg2", address: "10.0.0.5", port: 5433 }],
            primary: "pg1",
            mode: "sometimes",
        });
        try {
            await assert.rejects(s.up(), (err: Error) => {
                assert.match(err.message, /pg-replication:nodes\[0\]\.port = 99999 is not allowed: expected a whole number from 1 to 65535/);
                assert.match(err.message, /pg-replication:mode = "sometimes" is not allowed: expected async or sync/);
                assert.match(err.message, /pg-replication:nodes\[1\]\.address = "10\.0\.0\.5" is not allowed: expected a host address inside 172\.18\.0\.0\/24/);
                assert.doesNotMatch(err.message, /at .*\.js:\d+/, "a RunError: no stack trace");
                return true;
            });
            assert.deepEqual(await s.resourceTypes(), ["pulumi:pulumi:Stack"], "only the stack itself is in the state");
        } finally {
            await s.removeOnly();
        }
    });

    test("a password set without --secret is refused naming the key, never the value; set with --secret it is not", async () => {
        // Both plans also have a bad mode, so neither makes anything: what differs is the secret's word alone.
        const plan = { nodes: [{ name: "pg1", address: "172.18.0.101", port: 5432 }], primary: "pg1", mode: "sometimes",
            superuserPassword: "plain-hunter2" };
        for (const [name, plain] of [["e2e-plain-secret", true], ["e2e-secret-secret", false]] as const) {
            const s = await e2eStack(name, { ...plan, ...(plain ? { [PLAIN_SECRETS]: ["superuserPassword"] } : {}) });
            try {
                await assert.rejects(s.up(), (err: Error) => {
                    assert.match(err.message, /pg-replication:mode = "sometimes" is not allowed/);
                    (plain ? assert.match : assert.doesNotMatch)(err.message, new RegExp("pg-replication:superuserPassword is set in plain text " +
                        "\\(in the stack's settings file\\), which is not allowed: it is a secret; set it again with pulumi config set --secret superuserPassword"));
                    assert.doesNotMatch(err.message, /hunter2/, "the value is never said");
                    return true;
                });
                assert.deepEqual(await s.resourceTypes(), ["pulumi:pulumi:Stack"]);
            } finally {
                await s.removeOnly();
            }
        }
    });

    test("a stack file in the old form fails with the new form written out", async () => {
        const s = await e2eStack("e2e-old-config", {
            primaryAddress: "172.18.0.101",
            primaryPort: "5432",
            standbys: [{ name: "standby1", address: "172.18.0.102", port: 5433 }],
        });
        try {
            await assert.rejects(s.up(), (err: Error) => {
                assert.match(err.message, /pg-replication:primaryAddress, pg-replication:primaryPort, pg-replication:standbys: the old form/);
                assert.match(err.message, /pg-replication:primary: pg1\n +pg-replication:nodes:\n +- name: pg1\n +address: 172\.18\.0\.101\n +port: 5432\n +- name: standby1/);
                return true;
            });
            assert.deepEqual(await s.resourceTypes(), ["pulumi:pulumi:Stack"], "only the stack itself is in the state");
            assert.deepEqual(leftovers("e2e-old-config"), []);
        } finally {
            await s.removeOnly();
        }
    });
});
