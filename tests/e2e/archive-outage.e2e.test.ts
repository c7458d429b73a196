// The archive failing for over a minute, then recovering (README "Backups"), on PostgreSQL 17 with
// backups on: the repository's archive made unwritable under the running primary (as a full or
// broken repository would be), rows written and segments switched meanwhile. While it fails,
// `npm run status` names it (archive-failing, the segments waiting in pg_wal) and an `up` says it;
// PostgreSQL keeps every segment. Once the repository takes writes again, archiving catches up by
// itself with no gap: a verified restore replays the archive across the whole window to a marker
// written after it, and every row written during the outage is in the restored server.
// Then the stack is destroyed (the repository kept, with its stanza) and made again under the same
// names: a new cluster, which pgBackRest would refuse to archive into that stanza, so preview
// refuses it, naming the repository, with nothing made.
// Subnet 172.28.67.0/24, port 58820.

import * as assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { docker, E2EStack, e2eStack, eventually, leftovers, log, oneEnginePlan, provenAcrossWindow, rows, status, writeSwitched } from "./harness";

/** Longer than the archiver's pause after three failures in a row (pgarch.c: it waits for the next 60 s wake-up or a new segment). */
const OUTAGE_MS = 70_000;

describe("the archive failing for over a minute, then recovering: no WAL gap (PostgreSQL 17)", { timeout: 15 * 60 * 1000 }, () => {
    const name = "e2e-archive-outage";
    const volume = `pg-replication-${name}-backup`;
    const stanza = `pg-replication-${name}`;
    const container = `pg-replication-${name}-pg1`;
    let s: E2EStack | undefined;
    let again: E2EStack | undefined;
    let url = "";
    let written = 0;
    const archiveDir = `/var/lib/pgbackrest/archive/${stanza}`;

    after(async () => {
        try {
            // Whatever happened, the repository takes writes again before destroy's final backup.
            try { docker("exec", "-u", "root", container, "chmod", "-R", "u+w", archiveDir); } catch { /* gone */ }
            await s?.destroyAndRemove();
            await again?.removeOnly();
            assert.deepEqual(leftovers(name).map((o) => o.split(" ")[0]), ["volume"]);
        } finally {
            try { docker("volume", "rm", "-f", volume); } catch { /* none */ }
        }
    });

    /** N more rows, each in its own transaction, then the segment switched so that it must be archived. */
    const write = async (n: number) => { written = await writeSwitched(url, (id) => `INSERT INTO outage (id) VALUES (${id})`, written, n); };

    const report = async () => JSON.parse((await status(s!.backend, name, "--json")).stdout);

    test("the archive fails: status names it with the segments kept, an up says it; rows keep being written", async () => {
        try { docker("volume", "rm", "-f", volume); } catch { /* none */ }
        s = await e2eStack(name, oneEnginePlan(17, 67, 58820, 1, { backup: true }));
        await s.up();
        url = (await s.outputs()).nodes.pg1.connectionString;
        await rows(url, "CREATE TABLE outage (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())");
        await write(5);
        const healthy = await report();
        assert.equal(healthy.archive.failing, null, JSON.stringify(healthy.archive));

        docker("exec", "-u", "root", container, "chmod", "-R", "a-w", archiveDir);
        const started = Date.now();
        log(`archive made unwritable (${archiveDir}); writing for ${OUTAGE_MS / 1000} s`);
        await write(5);
        const failing = await eventually(30, report, (r) => r.archive?.failing !== null && r.archive?.ready > 0);
        const warning = failing.warnings.find((w: { code: string }) => w.code === "archive-failing");
        log(`status: ${warning.message}`);
        assert.equal(warning.node, "pg1");
        assert.match(warning.message, /^pg1 cannot archive WAL: its last attempt \(segment [0-9A-F]{24}, .*\) failed, nothing archived since .*; \d+ segments? waits? in pg_wal/);
        assert.match(warning.action, new RegExp(`the repository ${volume} is full, unwritable or gone`));
        const up = await s.up();
        assert.match(up.stdout, /archive: pg1 cannot archive WAL: its last attempt \(segment [0-9A-F]{24}/);
        while (Date.now() - started < OUTAGE_MS) {
            await write(3);
            await new Promise((r) => setTimeout(r, 5000));
        }
        const [{ waiting }] = await rows(url, "SELECT count(*)::int AS waiting FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'");
        log(`after ${((Date.now() - started) / 1000).toFixed(0)} s of outage: ${written} rows written, ${waiting} segments waiting in pg_wal`);
        assert.ok(waiting >= 3, `segments kept in pg_wal while the archive fails: ${waiting}`);
    });

    test("the repository writable again: archiving catches up by itself, and a restore replays across the window to a marker after it", async () => {
        docker("exec", "-u", "root", container, "chmod", "-R", "u+w", archiveDir);
        const caughtUp = Date.now();
        await write(2);
        // The verified restore writes its marker now, after the outage, and replays the archive to its end.
        await provenAcrossWindow(s!, name, written, 120);
        log(`caught up and proven ${((Date.now() - caughtUp) / 1000).toFixed(1)} s after the repository took writes again`);
    });

    test("destroyed (the repository kept) and made again under the same name: refused at preview, naming the repository's stanza", async () => {
        await s!.destroyAndRemove();
        s = undefined;
        assert.deepEqual(leftovers(name).map((o) => o.split(" ")[0]), ["volume"]);
        // The same stack name; its kept repository is not cleared as an interrupted run's leftover.
        again = await e2eStack(name, oneEnginePlan(17, 67, 58820, 1, { backup: true }), { keep: [`volume ${volume}`] });
        await assert.rejects(again.preview(), (err: Error) => {
            assert.match(err.message, new RegExp(`backup is refused, nothing was made: the backup repository ${volume} already holds stanza ` +
                `${stanza}, of another cluster \\(PostgreSQL 17, \\d+ backups, the newest \\S+ ended .*\\), and pgBackRest will not archive a new ` +
                "cluster into it"));
            return true;
        });
        assert.deepEqual(leftovers(name).map((o) => o.split(" ")[0]), ["volume"], "nothing made beside the kept repository");
    });
});
