// A backup repository that fills up (README "Backups"), on PostgreSQL 17: the repository volume is
// made beforehand as a tmpfs of 96 MB (Docker's `local` driver), with the labels the stack gives its
// repository (preflight refuses a volume of that name that is not the stack's; volume create gets
// the one there), so it can be filled for real; a container of the test holds it mounted (Docker
// drops a tmpfs volume's contents with its last user). Once the stack runs and its first
// full backup is in, the rest of the volume is filled with a file; rows written and segments
// switched then cannot be archived (ENOSPC): status names the failure and the segments kept in
// pg_wal, an up says it. The file removed, archiving catches up by itself with no gap: a restore
// proven afterwards replays across the window to a marker written after it, with every row.
// Subnet 172.28.80.0/24, port 58880.

import * as assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { docker, E2EStack, e2eStack, eventually, leftovers, log, oneEnginePlan, provenAcrossWindow, rows, status, writeSwitched } from "./harness";

describe("the backup repository full, then freed: no WAL gap (PostgreSQL 17)", { timeout: 15 * 60 * 1000 }, () => {
    const name = "e2e-repo-full";
    const volume = `pg-replication-${name}-backup`;
    const container = `pg-replication-${name}-pg1`;
    const filler = "/var/lib/pgbackrest/filler";
    const holder = `${name}-volume-holder`;
    let s: E2EStack | undefined;
    let url = "";
    let written = 0;

    after(async () => {
        try {
            // Whatever happened, the repository has room again before destroy's final backup.
            try { docker("exec", container, "rm", "-f", filler); } catch { /* gone */ }
            await s?.destroyAndRemove();
        } finally {
            try { docker("rm", "-f", "-v", holder); } catch { /* none */ }
            try { docker("volume", "rm", "-f", volume); } catch { /* none */ }
        }
        assert.deepEqual(leftovers(name), []);
    });

    const write = async (n: number) => {
        written = await writeSwitched(url, (id) => `INSERT INTO full_repo (id, pad) VALUES (${id}, repeat('x', 2000))`, written, n);
    };
    const report = async () => JSON.parse((await status(s!.backend, name, "--json")).stdout);

    test("full: the archive fails with the segments kept, status names it, an up says it", async () => {
        try { docker("rm", "-f", "-v", holder); } catch { /* none */ }
        try { docker("volume", "rm", "-f", volume); } catch { /* none */ }
        // With the labels the stack puts on its repository: preflight refuses a volume of that name that is not the stack's.
        docker("volume", "create", "--label", "pg-replication.project=pg-replication", "--label", `pg-replication.stack=${name}`,
            "--label", "pg-replication.role=backup-repository",
            "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=96m,uid=999,gid=999,mode=0750", volume);
        // Docker mounts a tmpfs volume while a container uses it and drops it with the last one: a
        // container holding it keeps it (and what the stack writes into it) for the whole test.
        docker("run", "-d", "--name", holder, "--network", "none", "-v", `${volume}:/held`, "--entrypoint", "sleep",
            "pg-replication/postgres-backup:17", "infinity");
        s = await e2eStack(name, oneEnginePlan(17, 80, 58880, 1, { backup: true }), { keep: [`volume ${volume}`] });
        await s.up();
        url = (await s.outputs()).nodes.pg1.connectionString;
        await rows(url, "CREATE TABLE full_repo (id int PRIMARY KEY, pad text, at timestamptz NOT NULL DEFAULT now())");
        await write(3);
        assert.equal((await report()).archive.failing, null);

        // dd stops at the first write that finds no room (status 1: "No space left on device").
        const dd = docker("exec", "-u", "postgres", container, "sh", "-c",
            `dd if=/dev/zero of=${filler} bs=1M 2>&1; df -k /var/lib/pgbackrest | tail -n 1`);
        log(`repository filled: ${dd.split("\n").slice(-2).join(" | ")}`);
        assert.match(dd, /No space left on device/);
        await write(5);
        const failing = await eventually(120, report, (r) => r.archive?.failing !== null && r.archive?.ready > 0);
        const warning = failing.warnings.find((w: { code: string }) => w.code === "archive-failing");
        log(`status: ${warning?.message}`);
        assert.match(warning?.message ?? "", /^pg1 cannot archive WAL: its last attempt \(segment [0-9A-F]{24}, .*\) failed, nothing archived since .*; \d+ segments? waits? in pg_wal/);
        assert.match(warning.action, new RegExp(`the repository ${volume} is full, unwritable or gone`));
        const up = await s.up();
        assert.match(up.stdout, /archive: pg1 cannot archive WAL: its last attempt \(segment [0-9A-F]{24}/);
        await write(3);
        const [{ waiting }] = await rows(url, "SELECT count(*)::int AS waiting FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'");
        assert.ok(waiting >= 2, `segments kept in pg_wal while the repository is full: ${waiting}`);
    });

    test("room again: archiving catches up by itself, and a restore replays across the window to a marker after it", async () => {
        docker("exec", container, "rm", "-f", filler);
        await write(1);
        await provenAcrossWindow(s!, name, written);
    });
});
