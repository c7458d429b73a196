// The main job as a user runs it: `scripts/deploy.sh STACK up` — the Pulumi CLI and the Node.js
// language host on the project directory (TypeScript compiled by the SDK, preview then update),
// then the tutorial's checks from outside with a Postgres client, `output`, and `destroy`. It runs
// on a copy of the project (so no stack file lands in the repository) with the dev stack's plan
// moved to its own subnet and ports, and a file:// backend of its own.

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { caughtUp, leftovers, rows, withClient } from "./harness";
import { ProjectCopy, projectCopy, ROOT } from "./project-copy";

const STACK = "e2e-deploy";

/**
 * The README's main job runs Pulumi.dev.yaml as committed: the test runs that file, moved off the
 * tutorial's network name, subnet and ports (which a user's own run of it may hold) and nothing
 * else, so a committed stack file that fails on a new machine fails here (as one with an
 * `encryptionsalt` of its author's passphrase did).
 */
function devPlanMoved(): string {
    let text = fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8");
    for (const [from, to] of [["networkName: dockernetwork", "networkName: pg-replication-e2e-deploy"], ["172.18.0.", "172.30.80."],
        ["port: 5432\n", "port: 55800\n"], ["port: 5433\n", "port: 55801\n"], ["port: 6432\n", "port: 55802\n"], ["readPort: 6433\n", "readPort: 55803\n"]]) {
        assert.ok(text.includes(from), `Pulumi.dev.yaml has "${from.trim()}" to move`);
        text = text.replaceAll(from, to);
    }
    assert.doesNotMatch(text, /172\.18\.|: (5432|5433|6432|6433)\b/, "nothing of the tutorial's addresses and ports is left");
    return text;
}

describe("scripts/deploy.sh: the user's path through the CLI and the language host", { timeout: 10 * 60 * 1000 }, () => {
    let copy: ProjectCopy;
    before(() => {
        copy = projectCopy(STACK, devPlanMoved());
    });
    after(async () => {
        try {
            await copy.deploy("destroy");
        } finally {
            copy.remove();
        }
        assert.deepEqual(leftovers(STACK), []);
    });

    test("up builds the dev plan, the tutorial's rows reach the standby, destroy removes it all", async () => {
        const up = await copy.deploy("up");
        if (copy.env.PG_REPLICATION_STAND_IN_PLUGINS === "1") {
            assert.match(up.stderr, /STAND-IN PLUGINS IN USE/, "the run says the stand-ins are in use");
            assert.match(up.stdout, /stand-in plugin in use: docker 5\.0\.0/, "so does the update's own output");
        }
        assert.match(up.stdout, /Resources:\s+\+ \d+ created/);

        const { stdout } = await copy.deploy("output", "--json", "--show-secrets");
        const out = JSON.parse(stdout);
        const primary = out.primary.connectionString;
        const standby = out.nodes.pg2.connectionString;
        await withClient(primary, (c) => c.query("CREATE DATABASE test"));
        await withClient(primary, async (c) => {
            await c.query('CREATE TABLE test ("id" int4 NOT NULL, "value" varchar(255), PRIMARY KEY ("id"))');
            await c.query("INSERT INTO test SELECT generate_series(1,10), md5(random()::text)");
        }, "test");
        await caughtUp(primary, standby);
        const onPrimary = await rows(primary, "SELECT id, value FROM test ORDER BY id", "test");
        assert.equal(onPrimary.length, 10);
        assert.deepEqual(await rows(standby, "SELECT id, value FROM test ORDER BY id", "test"), onPrimary);
        assert.deepEqual(await rows(out.endpoints.rw.connectionString, "SELECT pg_is_in_recovery() AS standby"), [{ standby: false }],
            "the plan's read-write endpoint reaches the primary");

        const again = await copy.deploy("up");
        assert.doesNotMatch(again.stdout, /[+~-] \d+ (created|updated|deleted|replaced)/, "a second up changes nothing");

        await copy.deploy("destroy");
        assert.deepEqual(leftovers(STACK), []);
    });
});
