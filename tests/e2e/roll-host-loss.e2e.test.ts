// The primary's host lost in the middle of a roll (issue 21, item 4), on three Docker hosts of our
// own (tests/support/hosts.ts), reached over ssh:// as machines elsewhere are: an image change
// stopped after pg2 and pg3 took the new image (pg3 did not come back at first, then did by its
// restart policy), then host 1 (pg1, the primary, still on the old image) cut off: its link down,
// its engine frozen. The failover by config changes nothing on the lost host, though pg1's image is
// not the stack's (cluster.ts lostEngines). The host back, its old primary still running on the old
// timeline: up demotes it and brings it in by pg_rewind, holding the roll (roll.ts "hold"); the up
// after rolls it onto the stack's image as a standby; nothing acknowledged is lost. PostgreSQL 13.
// Hosts 10.231.11.11-13, cluster subnet 172.28.48.0/24 on each engine, ports 58590-58592.

import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { topologyResults } from "../../components/topology/contract";
import { caughtUp, eventually, log, nodeUrls, planOnHosts, rows, stackOnHosts, status } from "./harness";
import { buildImages, removeImages, rollImage, ROLL_MARKER } from "./roll-images";

const BASE = "postgres:13";
/** BASE under another image id, its entrypoint refusing to start while ROLL_MARKER is in the volume. */
const ROLLED = "pg-replication-e2e/postgres-roll:13";
const IMAGES = { [ROLLED]: rollImage(BASE) };

describe("the primary's host lost mid-roll: failover first on the images they run, the host back, its old primary rolled in (PostgreSQL 13)",
    { timeout: 20 * 60 * 1000 }, () => {
        // Registered before the host set's own before(), which copies the images onto the hosts.
        before(() => {
            removeImages(IMAGES);
            buildImages(IMAGES);
        });
        after(() => removeImages(IMAGES));
        const on = stackOnHosts({ set: "rollh", subnet: 11, count: 3, images: [BASE, ROLLED], ssh: true }, "e2e-roll-hosts",
            (hosts) => planOnHosts(hosts, { net: 48, port: 58590, readyTimeoutSeconds: "60" }));
        const container = (i: number) => `pg-replication-${on.stack.name}-pg${i + 1}`;
        const image = (i: number) => on.set.hosts[i].docker("inspect", "-f", "{{.Config.Image}}", container(i));
        const images = () => [0, 1, 2].map(image);
        let urls: Record<string, string> = {};
        let pg1Id = "";
        const count = async (name: string) => (await rows(urls[name], "SELECT count(*)::int AS n FROM kept"))[0].n as number;
        const streaming = (name: string) => rows(urls[name],
            "SELECT string_agg(application_name, ',' ORDER BY application_name) AS s FROM pg_stat_replication WHERE state = 'streaming'");

        test("up on three hosts; 1000 rows; a roll stopped at pg3, which comes back on the new image by its restart policy", async () => {
            await on.stack.up();
            urls = await nodeUrls(on.stack);
            await rows(urls.pg1, "CREATE TABLE kept AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 1000) g");
            on.set.hosts[2].docker("exec", "-u", "postgres", container(2), "touch", ROLL_MARKER);
            await on.stack.setConfig({ image: ROLLED, readyTimeoutSeconds: "10" });
            await assert.rejects(on.stack.up(), new RegExp(`${container(2)}.*(is not ready after 10s|not running)`));
            on.set.hosts[2].docker("run", "--rm", "-v", `${container(2)}-data:/var/lib/postgresql/data`, "--entrypoint", "rm", BASE, "-f", ROLL_MARKER);
            await eventually(120, () => streaming("pg1"), (r) => r[0].s === "pg2,pg3");
            assert.deepEqual(images(), [BASE, ROLLED, ROLLED]);
        });

        test("host 1 lost (link down, engine frozen): the failover to pg2; nothing on host 1 is changed, though its image is not the stack's", async () => {
            await rows(urls.pg1, "INSERT INTO kept VALUES (0, 'the last write before host 1 was lost')");
            for (const n of ["pg2", "pg3"]) {
                await caughtUp(urls.pg1, urls[n]);
            }
            pg1Id = on.set.hosts[0].docker("inspect", "-f", "{{.Id}}", container(0));
            on.set.hosts[0].lose();
            await on.stack.setConfig({ primary: "pg2", readyTimeoutSeconds: "60" });
            const started = Date.now();
            // Before: pg1's container, on postgres:13 in the state, was replaced by the stack's image, and the
            // delete dialed the lost engine: the up failed after its failover (the state's image kept now).
            const up = await on.stack.up();
            log(`failover up with host 1 lost mid-roll: ${((Date.now() - started) / 1000).toFixed(1)} s`);
            assert.match(up.stdout, /the Docker engine ssh:\/\/root@10\.231\.11\.11 does not answer and every node on it is lost: nothing there is checked or changed by this up/);
            assert.match(up.stdout, /pg1's host is lost: its engine does not answer and its server at 10\.231\.11\.11:58590 does not answer from pg2/);
            urls = await nodeUrls(on.stack);
            assert.deepEqual(await rows(urls.pg2, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
            assert.deepEqual(await rows(urls.pg2, "SELECT note FROM kept WHERE id = 0"), [{ note: "the last write before host 1 was lost" }]);
            assert.deepEqual([image(1), image(2)], [ROLLED, ROLLED]);
            await rows(urls.pg2, "INSERT INTO kept VALUES (-1, 'written on pg2 after the failover')");
            assert.equal(await eventually(60, () => count("pg3"), (n) => n === 1002), 1002);
        });

        test("host 1 back, its old primary writable on timeline 1 and on the old image: up demotes it and holds the roll", async () => {
            on.set.hosts[0].restore();
            await eventually(30, () => rows(urls.pg1, "SELECT pg_is_in_recovery() AS r"), (r) => r[0].r === false);
            assert.equal(on.set.hosts[0].docker("inspect", "-f", "{{.Id}}", container(0)), pg1Id, "pg1's container untouched");
            assert.equal(image(0), BASE);
            const st = await status(on.stack.backend, on.stack.name);
            assert.equal(st.code, 1, st.stdout + st.stderr);
            assert.match(st.stdout, /pg1 accepts writes on timeline 1, older than the declared primary/);
            const up = await on.stack.up();
            log(up.stdout.split("\n").filter((l) => /to be demoted|rewind|wrote no user data/.test(l)).join("\n"));
            assert.match(up.stdout, new RegExp(`pg1 runs as primary beside pg2, to be demoted, while pg1 on ${BASE} runs another image than ` +
                `${ROLLED}: this up demotes pg1 and leaves every container on the image it runs`));
            assert.match(up.stdout, /pg1 wrote no user data after pg2 was promoted/);
            assert.match(up.stdout, /pg1 rejoined as a standby of pg2 after pg_rewind/);
            assert.deepEqual(images(), [BASE, ROLLED, ROLLED]);
            assert.deepEqual(await rows(urls.pg1, "SELECT pg_is_in_recovery() AS r"), [{ r: true }]);
            assert.equal(await eventually(30, () => count("pg1"), (n) => n === 1002), 1002);
        });

        test("the next up rolls pg1 onto the image as a standby of pg2: no handover, nothing lost", async () => {
            const up = await on.stack.up();
            log(up.stdout.split("\n").filter((l) => /image change to|handover:/.test(l)).join("\n"));
            assert.match(up.stdout, new RegExp(`image change to ${ROLLED}: a roll, one node at a time: pg1 replaced`));
            assert.deepEqual(images(), [ROLLED, ROLLED, ROLLED]);
            assert.ok(!topologyResults(up.stdout).some((x) => x.handover === "switched over"), "no handover: pg2 is the declared primary");
            assert.deepEqual(await rows(urls.pg2, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
            await eventually(60, () => streaming("pg2"), (r) => r[0].s === "pg1,pg3");
            await rows(urls.pg2, "INSERT INTO kept VALUES (-2, 'written on pg2 after the roll')");
            for (const n of ["pg1", "pg3"]) {
                assert.equal(await eventually(30, () => count(n), (x) => x === 1003), 1003, `${n} has every acknowledged row`);
            }
            await on.stack.preview(true);
        });
    });
