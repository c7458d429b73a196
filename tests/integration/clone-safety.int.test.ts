// F1 for real: a node's seed scripts (node-passfile.sh, node-seed.sh, node-seed-check.sh),
// including the part that runs inside the container, on a real PostgreSQL 13 primary and a real
// volume holding a real cloned cluster. Proves that a password change (the passfile command) and
// any other change of the seed (its update) leave the standby's data in place and that it streams
// with the new password, that a seed never clones into a volume that holds a cluster or that a
// container uses, that a half-finished clone is cleaned, and that the old code's update path
// (PASSFILE_ONLY never exported) deleted the data directory.
// Everything carries pg-replication.stack=clone-safety-int and is removed in `after`.

import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { script } from "../../components/shell";
import { docker, removeStackObjects } from "../support/docker-objects";

const STACK = "clone-safety-int";
const LABEL = `pg-replication.stack=${STACK}`;
const NET = "pg-replication-clone-safety";
const SUBNET = "172.28.41.0/24";
const PRIMARY = "pg-replication-clone-safety-primary";
const PRIMARY_ADDRESS = "172.28.41.101";
const STANDBY = "pg-replication-clone-safety-standby1";
const STANDBY_ADDRESS = "172.28.41.102";
const VOLUME = "pg-replication-clone-safety-standby1-data";
const STANDBY2_ADDRESS = "172.28.41.103";
const VOLUME2 = "pg-replication-clone-safety-standby2-data";
const IMAGE = "postgres:13";
const TIMEOUT = 10 * 60 * 1000;

const helperEnv = { IMAGE, VOLUME, NODE: "standby1", DOCKER_LABELS: `${LABEL} pg-replication.role=seed` };
const seedEnv = {
    ...helperEnv, STACK_LABELS: LABEL, NETWORK: NET, NODE_ADDRESS: STANDBY_ADDRESS,
    REPLICATION_USER: "repuser", HELPER_CONTAINER: "pg-replication-clone-safety-standby1-seed",
};
/** The second standby's seed: a fresh volume. */
const seed2Env = {
    ...seedEnv, VOLUME: VOLUME2, NODE: "standby2", NODE_ADDRESS: STANDBY2_ADDRESS,
    HELPER_CONTAINER: "pg-replication-clone-safety-standby2-seed",
};
const passline = (password: string) => `*:5432:*:repuser:${password}\n`;

/** Runs one of the program's scripts as the command provider would: /bin/sh -c, env, stdin. */
function runScript(file: string, env: Record<string, string>, stdin = ""): { status: number | null; stderr: string } {
    const res = spawnSync("/bin/sh", ["-c", script(file)], { env: { ...process.env, ...env }, input: stdin, encoding: "utf8", timeout: 120_000 });
    return { status: res.status, stderr: res.stderr };
}

function primarySql(sql: string): string {
    return docker("exec", "-u", "postgres", PRIMARY, "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql);
}

/** Runs a shell line in a throwaway container on the standby's volume (no server on it). */
function onVolume(line: string): string {
    return docker("run", "--rm", "--label", LABEL, "--network", "none", "--user", "postgres",
        "-v", `${VOLUME}:/var/lib/postgresql/data`, "--entrypoint", "/bin/sh", IMAGE, "-c", line);
}

/** What identifies the cluster in the volume: its system identifier and a digest of every file. */
function volumeFingerprint(): { systemIdentifier: string; files: string } {
    const control = onVolume("pg_controldata /var/lib/postgresql/data/pgdata");
    const systemIdentifier = /Database system identifier:\s+(\d+)/.exec(control)?.[1] ?? "";
    const files = onVolume("cd /var/lib/postgresql/data/pgdata && find . -type f | sort | xargs md5sum | md5sum");
    return { systemIdentifier, files };
}

function startStandby(): void {
    docker("run", "-d", "--name", STANDBY, "--label", LABEL, "--network", NET, "--ip", STANDBY_ADDRESS,
        "-e", "PGDATA=/var/lib/postgresql/data/pgdata", "-v", `${VOLUME}:/var/lib/postgresql/data`, IMAGE,
        "postgres", "-c", "hot_standby=on");
}

function stopStandby(): void {
    docker("stop", "-t", "60", STANDBY);
    docker("rm", "-v", STANDBY);
}

async function until(seconds: number, probe: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    while (!probe()) {
        if (Date.now() > deadline) {
            throw new Error(`${what} not within ${seconds}s`);
        }
        await new Promise((r) => setTimeout(r, 250));
    }
}

const streaming = () => primarySql("SELECT state FROM pg_stat_replication WHERE application_name = 'standby1'") === "streaming";

function standbyRows(): string {
    return docker("exec", "-u", "postgres", STANDBY, "psql", "-X", "-A", "-t", "-c", "SELECT string_agg(v, ',' ORDER BY id) FROM t");
}

describe("the standby clone keeps a cloned cluster's data (F1), on real PostgreSQL 13", { timeout: TIMEOUT }, () => {
    let before1: { systemIdentifier: string; files: string };

    before(async () => {
        removeStackObjects(STACK);
        docker("network", "create", "--label", LABEL, "--subnet", SUBNET, NET);
        docker("volume", "create", "--label", LABEL, VOLUME);
        docker("volume", "create", "--label", LABEL, VOLUME2);
        // Labelled as the program labels a node: the seed finds the primary by these labels.
        docker("run", "-d", "--name", PRIMARY, "--label", LABEL, "--label", "pg-replication.role=node",
            "--label", "pg-replication.node=primary", "--label", `pg-replication.address=${PRIMARY_ADDRESS}`,
            "--network", NET, "--ip", PRIMARY_ADDRESS,
            "-e", "POSTGRES_PASSWORD=test-only-superuser", "-e", "POSTGRES_HOST_AUTH_METHOD=scram-sha-256",
            "-e", "POSTGRES_INITDB_ARGS=--auth-local=peer --auth-host=scram-sha-256",
            "-e", "PGDATA=/var/lib/postgresql/data/pgdata",
            "--health-cmd", "pg_isready -q -h 127.0.0.1 -U postgres -d postgres", "--health-interval", "1s",
            IMAGE, "postgres", "-c", "wal_level=replica", "-c", "max_wal_senders=10", "-c", "max_replication_slots=10",
            "-c", "password_encryption=scram-sha-256", "-c", "listen_addresses=*");
        for (const [file, env] of [
            ["node-ready.sh", { NODE_CONTAINER: PRIMARY, TIMEOUT: "120" }],
            ["node-access.sh", {
                NODE_CONTAINER: PRIMARY, REPLICATION_USER: "repuser",
                NODE_ADDRESSES: `${PRIMARY_ADDRESS} ${STANDBY_ADDRESS} ${STANDBY2_ADDRESS}`,
                WAL_KEEP_SIZE: "128MB", MAX_SLOT_WAL_KEEP_SIZE: "1GB",
            }],
        ] as [string, Record<string, string>][]) {
            const res = runScript(file, env);
            assert.equal(res.status, 0, `${file}: ${res.stderr}`);
        }
        primarySql("CREATE ROLE repuser LOGIN REPLICATION PASSWORD 'first-password'");
        primarySql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'one'), (2, 'two')");

        const passfile = runScript("node-passfile.sh", helperEnv, passline("first-password"));
        assert.equal(passfile.status, 0, passfile.stderr);
        const clone = runScript("node-seed.sh", seedEnv);
        assert.equal(clone.status, 0, clone.stderr);
        before1 = volumeFingerprint();
        assert.match(before1.systemIdentifier, /^\d{10,}$/);
    });

    after(() => {
        removeStackObjects(STACK);
    });

    test("the clone is complete: the primary's system identifier, no staging directory left", () => {
        const primaryId = primarySql("SELECT system_identifier FROM pg_control_system()");
        assert.equal(before1.systemIdentifier, primaryId);
        assert.equal(onVolume("ls /var/lib/postgresql/data"), "pgdata\nreplication.pgpass");
        assert.equal(onVolume("stat -c '%a %U' /var/lib/postgresql/data/replication.pgpass"), "600 postgres");
    });

    test("a password change (the passfile command) and the clone's update leave every file in place; the standby streams with the new password", async () => {
        startStandby();
        await until(60, streaming, "standby streaming");
        primarySql("INSERT INTO t VALUES (3, 'three')");
        await until(30, () => standbyRows() === "one,two,three", "rows on the standby");

        // The rotation as `up` does it: ALTER ROLE (the Role), then the passfile, with the standby running.
        primarySql("ALTER ROLE repuser PASSWORD 'second-password'");
        const passfile = runScript("node-passfile.sh", helperEnv, passline("second-password"));
        assert.equal(passfile.status, 0, passfile.stderr);
        const update = runScript("node-seed-check.sh", helperEnv);
        assert.equal(update.status, 0, update.stderr);

        // Forced reconnect: the walsender goes, the standby logs in again with the passfile.
        primarySql("SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = 'standby1'");
        await until(60, streaming, "standby streaming again with the new password");
        primarySql("INSERT INTO t VALUES (4, 'four')");
        await until(30, () => standbyRows() === "one,two,three,four", "rows written after the rotation on the standby");
        assert.equal(docker("exec", "-u", "postgres", STANDBY, "psql", "-X", "-A", "-t", "-c",
            "SELECT system_identifier FROM pg_control_system()"), before1.systemIdentifier);
        assert.equal(onVolume("cat /var/lib/postgresql/data/replication.pgpass"), passline("second-password").trimEnd());
        stopStandby();
        assert.equal(volumeFingerprint().systemIdentifier, before1.systemIdentifier);
    });

    test("with the standby stopped, the seed's update and the passfile command change no file of the cluster", () => {
        const fingerprint = volumeFingerprint();
        assert.equal(runScript("node-passfile.sh", helperEnv, passline("second-password")).status, 0);
        assert.equal(runScript("node-seed-check.sh", helperEnv).status, 0);
        assert.deepEqual(volumeFingerprint(), fingerprint);
    });

    test("a seed run again on a volume that holds a cluster keeps it: no clone, no file changed", () => {
        const fingerprint = volumeFingerprint();
        const res = runScript("node-seed.sh", seedEnv);
        assert.equal(res.status, 0, res.stderr);
        assert.match(res.stderr, new RegExp(`node standby1: volume ${VOLUME} already holds a cluster; kept`));
        assert.deepEqual(volumeFingerprint(), fingerprint);
        assert.equal(onVolume("ls /var/lib/postgresql/data"), "pgdata\nreplication.pgpass");
    });

    test("the seed refuses an empty volume that a container uses", () => {
        docker("run", "-d", "--name", "pg-replication-clone-safety-user", "--label", LABEL, "-v", `${VOLUME2}:/x`,
            "--entrypoint", "sleep", IMAGE, "600");
        try {
            const res = runScript("node-seed.sh", seed2Env);
            assert.notEqual(res.status, 0);
            assert.match(res.stderr, new RegExp(`volume ${VOLUME2} is in use by pg-replication-clone-safety-user`));
        } finally {
            docker("rm", "-f", "-v", "pg-replication-clone-safety-user");
        }
    });

    test("a leftover half-clone is cleaned and replaced by a complete clone", () => {
        docker("run", "--rm", "--label", LABEL, "--network", "none", "-v", `${VOLUME2}:/var/lib/postgresql/data`,
            "--entrypoint", "/bin/sh", IMAGE, "-c", "chown postgres /var/lib/postgresql/data");
        assert.equal(runScript("node-passfile.sh", { ...helperEnv, VOLUME: VOLUME2, NODE: "standby2" },
            passline("second-password")).status, 0);
        const onVolume2 = (line: string) => docker("run", "--rm", "--label", LABEL, "--network", "none", "--user", "postgres",
            "-v", `${VOLUME2}:/var/lib/postgresql/data`, "--entrypoint", "/bin/sh", IMAGE, "-c", line);
        onVolume2("mkdir -p /var/lib/postgresql/data/pgdata.clone/base && echo partial > /var/lib/postgresql/data/pgdata.clone/base/junk");
        const res = runScript("node-seed.sh", seed2Env);
        assert.equal(res.status, 0, res.stderr);
        assert.equal(onVolume2("ls /var/lib/postgresql/data"), "pgdata\nreplication.pgpass");
        assert.match(onVolume2("pg_controldata /var/lib/postgresql/data/pgdata"),
            new RegExp(`Database system identifier:\\s+${before1.systemIdentifier}`));
        assert.equal(onVolume2("test -e /var/lib/postgresql/data/pgdata/base/junk && echo found || echo gone"), "gone");
    });

    test("the old update path (commit 1b66140: PASSFILE_ONLY=1 never exported) deleted the data directory; the new one does not", () => {
        assert.equal(onVolume("test -f /var/lib/postgresql/data/pgdata/PG_VERSION && echo present"), "present");
        // The new update path first, on the same cluster: nothing goes.
        assert.equal(runScript("node-passfile.sh", helperEnv, passline("second-password")).status, 0);
        assert.equal(runScript("node-seed-check.sh", helperEnv).status, 0);
        assert.equal(onVolume("test -f /var/lib/postgresql/data/pgdata/PG_VERSION && echo present"), "present");

        // The old one, as it ran: `-e PASSFILE_ONLY` with the variable set but not exported, so
        // the container sees none and goes on to `rm -rf` before pg_basebackup fails off the network.
        const old = spawnSync("/bin/sh", ["-c", `PASSFILE_ONLY=1
docker run --rm -i --label ${LABEL} --network none --user postgres -v ${VOLUME}:/var/lib/postgresql/data \\
    -e PRIMARY_ADDRESS -e REPLICATION_USER -e SLOT -e PASSFILE_ONLY --entrypoint /bin/sh ${IMAGE} -c "$OLD_IN_CONTAINER"`], {
            env: { ...process.env, OLD_IN_CONTAINER, PRIMARY_ADDRESS, REPLICATION_USER: "repuser", SLOT: "standby1" },
            input: passline("second-password"), encoding: "utf8",
        });
        assert.notEqual(old.status, 0, "the old update failed");
        assert.equal(onVolume("test -e /var/lib/postgresql/data/pgdata && echo present || echo deleted"), "deleted");
    });
});

/** The in-container part of standby-clone.sh at commit 1b66140 (our own old code, kept to show the bug). */
const OLD_IN_CONTAINER = `set -eu
umask 077
root=/var/lib/postgresql/data
pgdata=$root/pgdata
passfile=$root/replication.pgpass
cat > "$passfile.new"
mv "$passfile.new" "$passfile"
[ "\${PASSFILE_ONLY:-}" != 1 ] || exit 0
rm -rf "$pgdata"
conninfo="host=$PRIMARY_ADDRESS port=5432 user=$REPLICATION_USER application_name=$SLOT passfile=$passfile"
pg_basebackup -D "$pgdata" -R -X stream -C -S "$SLOT" -c fast -d "$conninfo"`;
