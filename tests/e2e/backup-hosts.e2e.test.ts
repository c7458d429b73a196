// Backups (pgBackRest, README "Backups") with the nodes on two Docker engines of our own
// (tests/support/hosts.ts) and the repository an S3 bucket (backup.s3) on a third: the S3 server
// (Versity Gateway, tests/support/s3.ts) over TLS. The first node's engine (host 1's) keeps the
// records of proven restores, even once pg2 is the primary. PostgreSQL 13, pg1 on host 1, pg2 on host 2.
// - backup without backup.s3, the nodes on two engines: preview refuses, naming pg-replication:backup
//   and backup.s3; nothing made on any engine;
// - with backup.s3: up makes the stanza and the first full backup in the bucket, WAL archived there;
//   the settings volume on each node's engine, its pgbackrest.conf postgres's only (600) with the
//   bucket and the credentials; nothing of the stack on the stack's own engine (this machine's);
//   the S3 keys nowhere plain in the stack's state;
// - npm run verify-backup: its marker written on pg1, the throwaway restore started on host 1's
//   engine (the records') and reaching the bucket; the record in host 1's volume and not in host 2's;
//   npm run status shows the proof;
// - switchover to pg2 on host 2 by config: pg2 archives from its engine (00000002.history and its
//   segments in the bucket); npm run backup -- STACK incr taken on pg2; npm run verify-backup again,
//   its marker written on pg2 (host 2), the restore and the record still on host 1;
// - destroy: the final backup (incremental) taken on pg2 through host 2's engine, one more in the
//   bucket; host 1's volume kept with the records, host 2's settings volume kept too, nothing else
//   of the stack on either.
// - a restore of the latest from the bucket as a new stack on both hosts: pg1 restored on host 1
//   through the kept volume's settings (the backup came from a cluster with TLS on: its ssl settings
//   are reset, and set again with the new stack's certificates), pg2 cloned on host 2 over TLS.
// Host set "bhosts": hosts 10.231.18.11-13 (the S3 server on host 3's :9443), cluster subnet
// 172.28.84.0/24 on each node's engine, ports 58920-58921; the restored stack 172.28.85.0/24, 58925-58926.

import * as assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { CONFIG_FILE, REPO_PATH, VERIFIED_FILE } from "../../components/pgbackrest";
import { removeStackObjects } from "../support/docker-objects";
import { createHostSet, HostSet, TestHost } from "../support/hosts";
import { ensureS3Image, S3_IMAGE, S3Server, startS3Server } from "../support/s3";
import { backupTool, docker, E2EStack, e2eStack, eventually, filesUnder, leftovers, log, planOnHosts, rows, status } from "./harness";

const TIMEOUT = 20 * 60 * 1000;
const NAME = "e2e-backup-hosts";
const STANZA = `pg-replication-${NAME}`;
/** backup.volume's default (components/config.ts validateBackup): <namePrefix>-backup. */
const VOLUME = `${STANZA}-backup`;
const IMAGE = "pg-replication/postgres-backup:13";
const NET = 84;
const PORT = 58920;
const S3_PORT = 9443;
const ARCHIVE = `pg-replication/archive/${STANZA}/13-1/`;
const BACKUPS = `pg-replication/backup/${STANZA}/`;

/** What a throwaway container of the backup image sees in VOLUME on an engine (RUN: its docker CLI), no network, read-only. */
function inVolume(run: (...args: string[]) => string, script: string): string {
    return run("run", "--rm", "--network", "none", "-v", `${VOLUME}:${REPO_PATH}:ro`, "--entrypoint", "sh", IMAGE, "-c", script);
}

/** The labels of the backup sets in the bucket (a backup.manifest each), in order. */
function backupLabels(s3: S3Server): string[] {
    return s3.keys(BACKUPS).map((k) => /\/([^/]+)\/backup\.manifest$/.exec(k)?.[1]).filter((l): l is string => l !== undefined);
}

/** Events of an engine (RUN: its docker CLI) from SINCE (unix seconds) until now, filtered, one formatted line each. */
function events(run: (...args: string[]) => string, since: number, filters: string[], format: string): string[] {
    return run("events", "--since", String(since), "--until", String(Math.ceil(Date.now() / 1000)),
        ...filters.flatMap((f) => ["--filter", f]), "--format", format).split("\n").filter(Boolean);
}

describe("backups to an S3 bucket with the nodes on two Docker hosts (PostgreSQL 13)", { timeout: TIMEOUT }, () => {
    let hosts: HostSet | undefined;
    let s3: S3Server | undefined;
    let s: E2EStack | undefined;
    let restored: E2EStack | undefined;
    let nodeHosts: TestHost[] = [];

    before(async () => {
        ensureS3Image(log);
        // postgres:13 for the restored stack's nodes (they run the cluster's image; the seed the backup image).
        hosts = await createHostSet({ set: "bhosts", subnet: 18, count: 3, images: [IMAGE, S3_IMAGE, "postgres:13"] });
        nodeHosts = hosts.hosts.slice(0, 2);
        const h3 = hosts.hosts[2];
        s3 = startS3Server({ docker: (...a) => h3.docker(...a), name: "pg-replication-e2e-s3-hosts", address: h3.address, port: S3_PORT,
            bucket: "pg-backups", log });
        s = await e2eStack(NAME, { ...planOnHosts(nodeHosts, { net: NET, port: PORT, readyTimeoutSeconds: "60" }), backup: {} });
    });

    after(async () => {
        try {
            // A destroy that cannot finish (a test failed before a restore was proven) leaves the node
            // engines to the teardown below; what is on this machine's engine is removed by its label.
            await restored?.destroyAndRemove().catch((err: Error) => log(`destroy of the restored stack in after(): ${err.message.split("\n")[0]}`));
            await s?.destroyAndRemove().catch((err: Error) => log(`destroy in after(): ${err.message.split("\n")[0]}`));
            removeStackObjects(NAME);
            assert.deepEqual(leftovers(NAME), [], "nothing of the stack left on the stack's engine");
        } finally {
            try { s3?.remove(); } catch { /* gone with the host */ }
            await hosts?.teardown();
        }
    });

    test("backup without backup.s3, the nodes on two engines: preview refuses, naming the key and backup.s3; nothing made", async () => {
        await assert.rejects(s!.preview(), (err: Error) => {
            log(`refused: ${err.message.split("\n").find((l) => l.includes("pg-replication:backup")) ?? err.message}`);
            assert.match(err.message, /pg-replication:backup\b/);
            assert.match(err.message, /backup\.s3/);
            return true;
        });
        assert.deepEqual(leftovers(NAME), [], "nothing on the stack's engine");
        nodeHosts.forEach((h) => assert.deepEqual(leftovers(NAME, h.socketHost), [], `nothing on ${h.name}`));
    });

    test("with backup.s3: up makes the stanza and a full backup in the bucket, WAL archived; a settings volume on each node's engine", async () => {
        const b = s3!;
        await s!.setConfig({
            backup: { s3: { endpoint: b.endpoint, bucket: b.bucket, region: b.region, host: b.address, port: b.port, caCert: b.caCert } },
            backupS3AccessKey: b.accessKey,
            backupS3SecretKey: b.secretKey,
        });
        await s!.up();
        const out = await s!.outputs();
        assert.deepEqual(Object.values(out.nodes).map((n: any) => [n.name, n.host, n.role]),
            [["pg1", nodeHosts[0].address, "primary"], ["pg2", nodeHosts[1].address, "standby"]]);
        assert.deepEqual([out.backup.volume, out.backup.stanza], [VOLUME, STANZA]);
        nodeHosts.forEach((h, i) => assert.equal(h.docker("inspect", "-f", "{{.Config.Image}} {{.State.Running}}", out.nodes[`pg${i + 1}`].containerName),
            `${IMAGE} true`));

        assert.ok(b.keys(`pg-replication/archive/${STANZA}/`).includes(`pg-replication/archive/${STANZA}/archive.info`), "the stanza's archive.info in the bucket");
        const full = backupLabels(b);
        assert.equal(full.length, 1, `one backup in the bucket: ${full.join(", ")}`);
        assert.match(full[0], /^\d{8}-\d{6}F$/);
        await rows(out.nodes.pg1.connectionString, "CREATE TABLE hostrows AS SELECT g AS id FROM generate_series(1, 1000) g");
        const [{ wal }] = await rows(out.nodes.pg1.connectionString, "SELECT pg_walfile_name(pg_switch_wal()) AS wal");
        const archived = await eventually(120, async () => b.keys(ARCHIVE), (k) => k.some((key) => key.includes(`/${wal}-`)));
        assert.ok(archived.some((k) => k.includes(`/${wal}-`)), `${wal}, switched on pg1, archived into the bucket: ${archived.slice(-4).join(", ")}`);

        // Each node's engine: the volume with pgBackRest's settings, postgres's only, naming the bucket, with the credentials.
        for (const h of nodeHosts) {
            const seen = inVolume((...a) => h.docker(...a), `stat -c '%a %U' ${CONFIG_FILE}; ls -A ${REPO_PATH}; echo ---; cat ${CONFIG_FILE}`);
            const [head, conf] = [seen.slice(0, seen.indexOf("\n---\n")), seen.slice(seen.indexOf("\n---\n") + 5)];
            log(`${VOLUME} on ${h.name}: ${head.split("\n").join(" ")}`);
            assert.match(head, /^600 postgres\n/, `${h.name}: pgbackrest.conf is postgres's only`);
            assert.match(conf, new RegExp(`^repo1-s3-bucket=${b.bucket}$`, "m"), `${h.name}: the settings name the bucket`);
            assert.ok(conf.split("\n").includes(`repo1-s3-key=${b.accessKey}`), `${h.name}: the access key in the settings`);
            assert.ok(conf.split("\n").includes(`repo1-s3-key-secret=${b.secretKey}`), `${h.name}: the secret key in the settings`);
            assert.ok(leftovers(NAME, h.socketHost).includes(`volume ${VOLUME}`), `${h.name}: the volume carries the stack's label`);
        }
        // The stack's engine: no node, nothing of the stack.
        assert.deepEqual(leftovers(NAME), [], "nothing on the stack's engine");

        const state = filesUnder(s!.backend);
        assert.ok(!state.includes(b.secretKey), "the secret key is nowhere plain in the stack's state");
        assert.ok(!state.includes(b.accessKey), "nor the access key");
    });

    test("npm run verify-backup: the marker written on pg1, the restore on host 1 (the records' engine) from the bucket, the record there; status shows it", async () => {
        const out = await s!.outputs();
        const since = Math.floor(Date.now() / 1000) - 1;
        const run = await backupTool(s!.backend, NAME, "--verify", "--json");
        log(`npm run verify-backup (${run.ms} ms):\n${run.stderr}`);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        const r = JSON.parse(run.stdout);
        assert.equal(r.marker.found, true);
        assert.ok(r.rows >= 1000, `${r.rows} rows read`);
        assert.equal(r.backup, backupLabels(s3!)[0], "restored from the bucket's full backup");
        assert.ok(run.stderr.includes(`marker ${r.marker.token} written on ${out.nodes.pg1.containerName}`), "the marker written on the primary pg1");

        const restores = (run2: (...a: string[]) => string) =>
            events(run2, since, ["type=container", "event=start", "label=pg-replication.role=verify-restore"], "{{.Actor.Attributes.name}}");
        const [h1, h2] = nodeHosts;
        assert.deepEqual(restores((...a) => h1.docker(...a)), [`${STANZA}-manual-verify`], "the throwaway restore ran on host 1's engine");
        assert.deepEqual(restores(docker), [], "not on the stack's engine");
        assert.deepEqual(restores((...a) => h2.docker(...a)), [], "nor on host 2's");

        const record = JSON.parse(inVolume((...a) => h1.docker(...a), `cat ${VERIFIED_FILE}`));
        assert.deepEqual([record.backup, record.verifiedAt, record.marker.token], [r.backup, r.verifiedAt, r.marker.token],
            "the record in host 1's volume");
        assert.doesNotMatch(inVolume((...a) => h2.docker(...a), `ls -A ${REPO_PATH}`), new RegExp(`^${path.basename(VERIFIED_FILE)}$`, "m"),
            "no record in host 2's settings volume");

        const st = await eventually(30, () => status(s!.backend, NAME), (x) => x.code === 0);
        log(`status:\n${st.stdout}${st.stderr}`);
        assert.equal(st.code, 0, st.stdout + st.stderr);
        assert.match(st.stdout, new RegExp(`^backup    s3://${s3!.bucket}/pg-replication at ${s3!.endpoint.replace(/\./g, "\\.")} \\(stanza ${STANZA}\\): ` +
            `1 backup, newest full ${r.backup} \\d+[smhd] ago; restore verified \\d+[smhd] ago \\(of ${r.backup}\\)$`, "m"));
    });

    test("switchover to pg2 on host 2: it archives from its engine into the bucket; npm run backup there; verify-backup with its marker on pg2", async () => {
        await s!.setConfig({ primary: "pg2" });
        await s!.up();
        const out = await s!.outputs();
        const pg2 = out.nodes.pg2.connectionString;
        assert.deepEqual(await rows(pg2, "SELECT pg_is_in_recovery() AS r"), [{ r: false }]);
        await rows(pg2, "INSERT INTO hostrows SELECT g FROM generate_series(1001, 2000) g");
        const [{ wal }] = await rows(pg2, "SELECT pg_walfile_name(pg_switch_wal()) AS wal");
        assert.match(wal, /^00000002/, "pg2 writes on timeline 2");
        const archived = await eventually(120, async () => s3!.keys(ARCHIVE),
            (k) => k.includes(`${ARCHIVE}00000002.history`) && k.some((key) => key.includes(`/${wal}-`)));
        log(`archive after the switchover: ${archived.filter((k) => /\/00000002/.test(k)).join(", ")}`);
        assert.ok(archived.includes(`${ARCHIVE}00000002.history`), "the new timeline's history file in the bucket");
        assert.ok(archived.some((k) => k.includes(`/${wal}-`)), `${wal}, switched on pg2, archived into the bucket`);
        const [archiver] = await rows(pg2, "SELECT last_archived_wal FROM pg_stat_archiver");
        assert.ok((archiver.last_archived_wal ?? "") >= wal, `pg2's own archiver pushed it: ${JSON.stringify(archiver)}`);
        const state = filesUnder(s!.backend);
        assert.ok(!state.includes(s3!.secretKey) && !state.includes(s3!.accessKey), "the S3 keys nowhere plain in the state after the switchover's up");

        const backup = await backupTool(s!.backend, NAME, "incr");
        log(`npm run backup: ${backup.stdout.trim()}`);
        assert.equal(backup.code, 0, backup.stdout + backup.stderr);
        const taken = new RegExp(`^incr backup (\\S+I) of ${STANZA} taken on the primary ${out.nodes.pg2.containerName} in [\\d.]+ s$`, "m").exec(backup.stdout);
        assert.ok(taken, `taken on pg2: ${backup.stdout}`);
        const labels = backupLabels(s3!);
        assert.equal(labels[labels.length - 1], taken[1], `the incremental backup in the bucket: ${labels.join(", ")}`);

        const run = await backupTool(s!.backend, NAME, "--verify", "--json");
        log(`npm run verify-backup after the switchover (${run.ms} ms):\n${run.stderr}`);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        const r = JSON.parse(run.stdout);
        assert.equal(r.marker.found, true, "the marker written on pg2 is in the restore");
        assert.ok(run.stderr.includes(`marker ${r.marker.token} written on ${out.nodes.pg2.containerName}`), "the marker written on the primary pg2");
        assert.equal(r.backup, taken[1], "restored from the incremental backup");
        assert.equal(r.timeline, 3, "the backup on timeline 2, the restore's own 3");
        assert.ok(r.rows >= 2000, `${r.rows} rows read`);
        const record = JSON.parse(inVolume((...a) => nodeHosts[0].docker(...a), `cat ${VERIFIED_FILE}`));
        assert.deepEqual([record.backup, record.marker.token], [r.backup, r.marker.token], "the record in host 1's volume replaced, pg2 the primary");
    });

    test("destroy: the final backup taken on pg2 through host 2's engine; each host keeps its settings volume, host 1's with the records", async () => {
        const before = backupLabels(s3!);
        const pg2 = (await s!.outputs()).nodes.pg2.containerName;
        const since = Math.floor(Date.now() / 1000) - 1;
        await s!.destroyAndRemove();
        s = undefined;
        const kept = backupLabels(s3!);
        log(`destroy's final backup: ${kept[kept.length - 1]} (${before.length} backups before, ${kept.length} after)`);
        assert.equal(kept.length, before.length + 1, "one more backup in the bucket: destroy's final one");
        assert.match(kept[kept.length - 1], /^\d{8}-\d{6}F_\d{8}-\d{6}I$/, "incremental");
        const execs = events((...a) => nodeHosts[1].docker(...a), since, ["type=container", "event=exec_start"], "{{.Actor.Attributes.name}}|{{.Action}}");
        assert.ok(execs.some((e) => e.startsWith(`${pg2}|exec_start: pgbackrest `) && / --type=incr backup$/.test(e)),
            `pgBackRest's backup ran in ${pg2} on host 2: ${execs.filter((e) => e.includes("pgbackrest")).join("; ")}`);

        const [h1, h2] = nodeHosts;
        assert.deepEqual(leftovers(NAME), [], "nothing of the stack on the stack's engine");
        assert.deepEqual(leftovers(NAME, h1.socketHost), [`volume ${VOLUME}`], "host 1 keeps the records' volume and nothing else");
        const record = JSON.parse(inVolume((...a) => h1.docker(...a), `cat ${VERIFIED_FILE}`));
        assert.equal(record.backup, before[before.length - 1], "with the last proof in it");
        assert.deepEqual(leftovers(NAME, h2.socketHost), [`volume ${VOLUME}`], "host 2 keeps its settings volume and nothing else");
        assert.doesNotMatch(inVolume((...a) => h2.docker(...a), `ls -A ${REPO_PATH}`), new RegExp(`^${path.basename(VERIFIED_FILE)}$`, "m"),
            "no records in host 2's");
    });
    test("restored from the bucket as a new stack across both hosts: pg1 on host 1 through the kept volume, pg2 cloned on host 2 over TLS; every row", async () => {
        const [h1, h2] = nodeHosts;
        const RESTORED = `${NAME}-restored`;
        restored = await e2eStack(RESTORED, { ...planOnHosts(nodeHosts, { net: NET + 1, port: PORT + 5, readyTimeoutSeconds: "60" }),
            restore: { volume: VOLUME, stanza: STANZA, target: "latest" } });
        const up = await restored.up();
        assert.match(up.stdout, new RegExp(`restore planned: pg1 restored from volume ${VOLUME} \\(stanza ${STANZA}\\) from backup \\S+`));
        const out = await restored.outputs();
        assert.deepEqual(await rows(out.nodes.pg1.connectionString, "SELECT count(*)::int AS n, max(id) AS top FROM hostrows"), [{ n: 2000, top: 2000 }]);
        const seen = await eventually(30, () => rows(out.nodes.pg2.connectionString, "SELECT count(*)::int AS n FROM hostrows"), (r) => r[0].n === 2000);
        assert.equal(seen[0].n, 2000, "pg2 on host 2 has every row");
        // TLS on again, with this stack's own certificates (the old cluster's ssl settings were reset by the restore).
        const [repl] = await rows(out.nodes.pg1.connectionString, `SELECT r.state, s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s ON s.pid = r.pid
            WHERE r.application_name = 'pg2'`);
        assert.deepEqual(repl, { state: "streaming", ssl: true }, "pg2 streams from host 2 over TLS");
        await restored.destroyAndRemove();
        restored = undefined;
        assert.deepEqual(leftovers(RESTORED, h1.socketHost), [], "nothing of the restored stack left on host 1");
        assert.deepEqual(leftovers(RESTORED, h2.socketHost), [], "nor on host 2");
    });
});
