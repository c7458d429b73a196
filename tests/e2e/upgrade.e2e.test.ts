// An existing stack upgrades in place: a stack made by an earlier commit of this project (the last
// one before the program's composition root moved to components/program.ts and the one-home
// topology work began) is brought up by this checkout's code, through the CLI as a user runs it,
// while a write probe writes to the primary. Nothing may be replaced or lose data: the same
// containers, volumes and network afterwards, every acknowledged write on every node, no failed
// write, and a second up with nothing left to change.

import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { WriteProbe } from "../../drill/probe";
import { caughtUp, leftovers, log, rows } from "./harness";
import { hasCommit, ProjectCopy, projectCopy } from "./project-copy";

/** main before this work: the stacks users have were made by it. */
const FROM = "509527f579a6dd3b1a4ef9134219b905f41c76d4";
const STACK = "e2e-upgrade";

const STACK_FILE = `config:
  pg-replication:image: postgres:13
  pg-replication:networkName: pg-replication-e2e-upgrade
  pg-replication:subnet: 172.30.84.0/24
  pg-replication:nodes:
    - name: pg1
      address: 172.30.84.101
      port: 55840
    - name: pg2
      address: 172.30.84.102
      port: 55841
    - name: pg3
      address: 172.30.84.103
      port: 55842
  pg-replication:primary: pg1
  pg-replication:mode: sync
`;

/** "+ 3 created", "~ 1 updated", ... from the update's summary, by operation. */
function changes(stdout: string): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const m of stdout.matchAll(/^\s+[+~\-±]+ (\d+) (created|updated|deleted|replaced|created replacement|to create|to update|to delete|to replace)\b/gm)) {
        counts[m[2]] = (counts[m[2]] ?? 0) + Number(m[1]);
    }
    return counts;
}

describe(`an existing stack upgrades in place: made by ${FROM.slice(0, 7)}, brought up by this code under a write probe`,
    { timeout: 15 * 60 * 1000 }, () => {
        let copy: ProjectCopy | undefined;
        let urls: Record<string, string>;
        const available = hasCommit(FROM);
        before(() => {
            if (available) {
                copy = projectCopy(STACK, STACK_FILE, FROM);
            }
        });
        after(async () => {
            if (!copy) {
                return;
            }
            try {
                await copy.deploy("destroy");
            } finally {
                copy.remove();
            }
            assert.deepEqual(leftovers(STACK), []);
        });

        test("the earlier commit's up makes the cluster; this code's up replaces nothing, loses no write, and leaves nothing to change", async (t) => {
            if (!copy) {
                const why = `NOT RUN: commit ${FROM} is not in this clone's history (a shallow clone?); ` +
                    "`git fetch --unshallow` and run again";
                process.stderr.write(`\n[e2e] ${"!".repeat(20)} ${why} ${"!".repeat(20)}\n\n`);
                t.skip(why);
                return;
            }
            await copy.deploy("up");
            const out = JSON.parse((await copy.deploy("output", "--json", "--show-secrets")).stdout);
            urls = Object.fromEntries(Object.entries(out.nodes as Record<string, { connectionString: string }>)
                .map(([name, n]) => [name, n.connectionString]));
            await rows(urls.pg1, "CREATE TABLE kept (id int PRIMARY KEY, note text)");
            await rows(urls.pg1, "INSERT INTO kept SELECT g, md5(g::text) FROM generate_series(1, 1000) g");
            const objects = leftovers(STACK).sort();
            assert.equal(objects.filter((o) => o.startsWith("container ")).length, 3, objects.join("\n"));

            const probe = new WriteProbe({ pg1: urls.pg1 }, 30, 10_000);
            await probe.start();
            copy.replaceWithCurrent();
            const upgraded = await copy.deploy("up");
            const result = await probe.stop();
            const changed = changes(upgraded.stdout);
            log(`the upgrade's up: ${JSON.stringify(changed)}; probe ${result.acks.length} acknowledged, ${result.errors} failed`);

            assert.deepEqual(leftovers(STACK).sort(), objects, "the same containers, volumes and network");
            for (const op of ["deleted", "replaced", "created replacement"]) {
                assert.equal(changed[op] ?? 0, 0, `nothing ${op}:\n${upgraded.stdout}`);
            }
            assert.equal(result.errors, 0, "no write failed while the new code's up ran");
            assert.ok(result.acks.length > 0, "the probe wrote during the up");
            const last = result.acks.at(-1)!.seq;
            for (const name of ["pg1", "pg2", "pg3"]) {
                if (name !== "pg1") {
                    await caughtUp(urls.pg1, urls[name]);
                }
                assert.deepEqual(await rows(urls[name], "SELECT count(*)::int AS n, md5(string_agg(note, ',' ORDER BY id)) AS h FROM kept"),
                    await rows(urls.pg1, "SELECT count(*)::int AS n, md5(string_agg(note, ',' ORDER BY id)) AS h FROM kept"));
                const [{ n }] = await rows(urls[name], `SELECT count(*)::int AS n FROM switchover_probe WHERE seq <= ${last}`);
                assert.equal(n, result.acks.length, `every acknowledged write is on ${name}`);
            }
            assert.deepEqual(await rows(urls.pg1, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);

            const again = await copy.deploy("up");
            assert.deepEqual(changes(again.stdout), {}, `a second up changes nothing:\n${again.stdout}`);
        });
    });
