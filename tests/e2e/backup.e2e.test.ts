// Backups (pgBackRest, README "Backups") on the real engine, PostgreSQL 13 (two nodes, async) and
// 17 (three, quorum): the first `up` archives from the start and leaves a full backup; a verified
// restore (backup/core.ts) of a cluster with data finds the marker written just before it and reads
// every table and index (through `npm run verify-backup`, and status says so); an incremental
// backup on demand (`npm run backup`); after a switchover the new primary archives, and a restore
// replays across the new timeline to a marker written on it; on 17 the same after the drill's kill
// and failover; each `up` says when a restore was last proven; a second `up` changes nothing;
// `destroy` takes a final backup and keeps the repository volume and nothing else. On 13 another
// backup.volume for the running cluster is refused at preview (it would replace every node at once).
// Subnets 172.28.58-59.0/24, ports 58700-58719.

import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { backupTool, docker, drillStack, E2EStack, e2eStack, leftovers, log, oneEnginePlan, rows, status } from "./harness";
import { BackupTarget, lastVerified, targetFromOutputs, verifyRestore, VerifyResult } from "../../backup/core";
import { runDrill } from "../../drill/core";

const TIMEOUT = 20 * 60 * 1000;


for (const { major, mode, count, net, port } of [
    { major: 13 as const, mode: "async", count: 2, net: 58, port: 58700 },
    { major: 17 as const, mode: "sync", count: 3, net: 59, port: 58710 },
]) {
    describe(`backups on PostgreSQL ${major}, ${mode}, ${count} nodes`, { timeout: TIMEOUT }, () => {
        const name = `e2e-backup${major}`;
        const volume = `pg-replication-${name}-backup`;
        let s: E2EStack;
        let target: BackupTarget;

        before(async () => {
            // A repository left by an earlier run of this suite would hold another cluster's stanza.
            try { docker("volume", "rm", "-f", volume); } catch { /* none */ }
            s = await e2eStack(name, oneEnginePlan(major, net, port, count, { mode, backup: { retentionFull: 2 } }));
            await s.up();
            target = targetFromOutputs(name, await s.outputs());
        });
        /** The backup sets in the repository, read by a throwaway container (it works with the cluster gone too). */
        const backupSets = (): string[] => (JSON.parse(docker("run", "--rm", "--network", "none", "-u", "postgres",
            "-v", `${volume}:/var/lib/pgbackrest:ro`, "-e", `PGBACKREST_STANZA=pg-replication-${name}`,
            "-e", "PGBACKREST_CONFIG=/var/lib/pgbackrest/pgbackrest.conf", "--entrypoint", "pgbackrest",
            `pg-replication/postgres-backup:${major}`, "--output=json", "info"))[0].backup ?? []).map((b: { label: string }) => b.label);
        after(async () => {
            const before = s ? backupSets() : [];
            await s?.destroyAndRemove();
            try {
                assert.deepEqual(leftovers(name).map((o) => o.split(" ")[0]), ["volume"], "destroy keeps the repository and nothing else");
                assert.equal(docker("volume", "inspect", "-f", "{{.Name}}", volume), volume);
                const kept = backupSets();
                log(`destroy took a final backup: ${kept[kept.length - 1]} (${before.length} backups before, ${kept.length} kept)`);
                assert.equal(kept.length, before.length + 1, "destroy took a final backup before removing the nodes");
                assert.match(kept[kept.length - 1], /I$/);
            } finally {
                docker("volume", "rm", "-f", volume);
            }
        });

        test("the first up archives from the start and leaves a full backup; every node mounts the repository, only the primary archives", async () => {
            const out = await s.outputs();
            assert.deepEqual([out.backup.volume, out.backup.stanza, out.backup.image],
                [volume, `pg-replication-${name}`, `pg-replication/postgres-backup:${major}`]);
            const info = docker("exec", "-u", "postgres", out.nodes.pg1.containerName, "pgbackrest", "info");
            assert.match(info, /status: ok/);
            assert.match(info, /^\s*full backup: \S+F$/m);
            // A segment completed before the stanza existed fails its first pushes (PostgreSQL retries it): the
            // archiver is healthy once its last success is newer than its last failure.
            const [archiver] = await rows(out.primary.connectionString,
                "SELECT archived_count::int AS archived, failed_count::int AS failed, " +
                "coalesce(last_archived_time > last_failed_time, true) AS healthy FROM pg_stat_archiver");
            assert.ok(archiver.archived > 0, `the primary archived ${archiver.archived} segments`);
            assert.equal(archiver.healthy, true, `archiving succeeded after its ${archiver.failed} failed attempts`);
            const [standby] = await rows(out.nodes.pg2.connectionString, "SELECT archived_count::int AS archived FROM pg_stat_archiver");
            assert.equal(standby.archived, 0, "a standby archives nothing");
            await s.preview(true);
            const again = await s.up();
            assert.match(again.stdout, new RegExp(`backup: no restore of the backups in ${volume} has been proven yet; prove one: npm run verify-backup -- ${name}`));
            assert.deepEqual((await s.outputs()).backup.proof, {}, "the outputs carry no proof before the first");
            const st = await status(s.backend, name);
            assert.equal(st.code, 1, "a backup whose restore was never proven is a warning");
            assert.match(st.stdout, new RegExp(`^backup    ${volume} \\(stanza pg-replication-${name}\\): 1 backup, newest full \\S+F \\d+s ago; restore NEVER VERIFIED$`, "m"));
            assert.match(st.stdout, /no restore of the backups in .* has been proven/);
        });

        if (count === 2) {
            test("another backup.volume on the running cluster: preview refuses, naming the key, both volumes and the two-ups way", async () => {
                await s.setConfig({ backup: { retentionFull: 2, volume: `${volume}-moved` } });
                try {
                    await assert.rejects(s.preview(), (err: Error) => {
                        assert.match(err.message, new RegExp(`the change of backup\\.volume is refused, nothing was changed: pg1 mounts ${volume}, ` +
                            `pg2 mounts ${volume}, and backup\\.volume is "${volume}-moved"; moving a running cluster's repository would ` +
                            `replace every node's container at once, not one at a time\\. Keep backup\\.volume "${volume}", or Move in two ups`));
                        return true;
                    });
                } finally {
                    await s.setConfig({ backup: { retentionFull: 2 } });
                }
                await s.preview(true);
            });
        }

        test("a verified restore of a cluster with data: the marker written just before it, every table and index read", async () => {
            const out = await s.outputs();
            await rows(out.primary.connectionString, "CREATE TABLE orders AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 5000) g");
            await rows(out.primary.connectionString, "ALTER TABLE orders ADD PRIMARY KEY (id)");
            // As a user would: npm run verify-backup -- STACK --json.
            const run = await backupTool(s.backend, name, "--verify", "--json");
            assert.equal(run.code, 0, run.stdout + run.stderr);
            const r = JSON.parse(run.stdout) as VerifyResult;
            log(`verified restore on ${major} (npm run verify-backup, ${run.ms} ms in all): ${JSON.stringify(r)}`);
            assert.equal(r.marker.found, true);
            assert.ok(r.tables >= 2 && r.rows >= 5001, `${r.tables} tables, ${r.rows} rows`);
            assert.ok(r.indexesChecked > 100, `${r.indexesChecked} B-tree indexes checked (the catalogs' and orders')`);
            assert.equal(r.timeline, 2, "the restore promoted at the end of the archive: a timeline of its own");
            assert.deepEqual(await lastVerified(target, out.primary.containerName), r, "the result is kept in the repository");
            assert.deepEqual(docker("ps", "-a", "-q", "--filter", "label=pg-replication.role=verify-restore"), "", "the throwaway container is gone");
            const st = await status(s.backend, name);
            assert.equal(st.code, 0, st.stdout);
            assert.match(st.stdout, new RegExp(`; restore verified \\d+s ago \\(of ${r.backup}\\)$`, "m"));
        });

        test("an incremental backup on demand (npm run backup -- STACK incr)", async () => {
            const run = await backupTool(s.backend, name, "incr");
            log(`npm run backup: ${run.stdout.trim()}`);
            assert.equal(run.code, 0, run.stdout + run.stderr);
            assert.match(run.stdout, new RegExp(`^incr backup \\S+I of pg-replication-${name} taken on the primary pg-replication-${name}-pg1 in [\\d.]+ s$`, "m"));
            const bad = await backupTool(s.backend, name, "weekly");
            assert.equal(bad.code, 2);
            assert.match(bad.stderr, /at most one of full, diff, incr/);
        });

        if (major === 13) {
            test("a proof that fails is kept and said (status, up); the next that succeeds clears it", async () => {
                // The newest backup's manifest (and its copy) out of the way: pgBackRest cannot restore that set.
                const out = await s.outputs();
                const node = out.nodes.pg1.containerName as string;
                const sets = backupSets();
                const dir = `/var/lib/pgbackrest/backup/pg-replication-${name}/${sets[sets.length - 1]}`;
                docker("exec", "-u", "postgres", node, "sh", "-c", `mv ${dir}/backup.manifest ${dir}/backup.manifest.copy /tmp/`);
                try {
                    await assert.rejects(verifyRestore(target, { timeoutSeconds: 120, log }), (err: Error) => {
                        log(`the failed proof: ${err.message}`);
                        return true;
                    });
                    const failed = JSON.parse(docker("exec", node, "cat", "/var/lib/pgbackrest/pg-replication-verify-failed.json"));
                    assert.equal(failed.backup, sets[sets.length - 1]);
                    assert.ok(failed.error.length > 0);
                    const st = await status(s.backend, name);
                    assert.equal(st.code, 1);
                    assert.match(st.stdout, /, LAST PROOF FAILED \S+$/m);
                    assert.match(st.stdout, /the last attempt to prove a restore of the backups in .* failed at /);
                    const up = await s.up();
                    assert.match(up.stdout, new RegExp(`backup: the last attempt to prove a restore from ${volume} FAILED \\(\\S+, backup ${sets[sets.length - 1]}\\)`));
                    const proof = (await s.outputs()).backup.proof;
                    assert.deepEqual([proof.lastFailed?.backup, proof.lastFailed?.failedAt], [failed.backup, failed.failedAt], "the outputs carry the failure");
                    assert.ok(proof.lastVerified, "and the last proof before it");
                } finally {
                    docker("exec", "-u", "postgres", node, "sh", "-c", `mv /tmp/backup.manifest /tmp/backup.manifest.copy ${dir}/`);
                }
                const r = await verifyRestore(target, { timeoutSeconds: 120, log });
                assert.equal(r.marker.found, true);
                assert.throws(() => docker("exec", node, "cat", "/var/lib/pgbackrest/pg-replication-verify-failed.json"), /No such file/);
                assert.equal((await status(s.backend, name)).code, 0);
            });
        }

        test("after a switchover the new primary archives: a restore replays across the new timeline to a marker written on it", async () => {
            const proven = await lastVerified(target, (await s.outputs()).primary.containerName);
            await s.setConfig({ primary: "pg2" });
            const up = await s.up();
            assert.match(up.stdout, new RegExp(`backup: a restore of ${proven!.backup} from ${volume} was proven \\d+s ago`), "the up says when a restore was last proven");
            const out = await s.outputs();
            assert.deepEqual(out.backup.proof, { lastVerified: { backup: proven!.backup, verifiedAt: proven!.verifiedAt } }, "and so do the outputs");
            await rows(out.nodes.pg2.connectionString, "INSERT INTO orders SELECT g, 'after' FROM generate_series(5001, 6000) g");
            const r = await verifyRestore(target, { timeoutSeconds: 120, log });
            log(`verified restore after the switchover on ${major}: ${JSON.stringify(r)}`);
            assert.equal(r.marker.found, true, "the marker written on the new primary is in the restore");
            assert.ok(r.rows >= 6002, `${r.rows} rows`);
            assert.equal(r.timeline, 3, "backup on timeline 1, the switchover's timeline 2 replayed, the restore's own 3");
            await s.preview(true);
        });

        if (count === 3) {
            test("after the drill's kill and the failover the new primary archives: a restore replays across both timelines to a marker written after it", async () => {
                const d = await runDrill(drillStack(s), "kill", log);
                assert.equal(d.lost, 0);
                const r = await verifyRestore(target, { timeoutSeconds: 120, log });
                log(`verified restore after the failover ${d.from} → ${d.to} on ${major}: ${JSON.stringify(r)}`);
                assert.equal(r.marker.found, true, `the marker written on the new primary ${d.to} is in the restore`);
                assert.equal(r.timeline, 4, "timeline 1 (backup), 2 (switchover), 3 (failover) replayed; the restore's own 4");
                assert.ok(r.rows >= 6002 + d.acknowledged, `${r.rows} rows: the drill's ${d.acknowledged} acknowledged writes among them`);
            });
        }
    });
}
