// A new major on a running cluster (components/topology/upgrade.ts): the upgrade planned from the
// roll's plan, its refusals in words, how preview says it, and what pg-upgrade.sh is given; the
// stale-standby exemption of the roll (planRoll's recloned) that lets a stopped upgrade resume.

import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { NodeState } from "../../components/node-state";
import { fragment } from "../../components/fragments";
import {
    describeUpgrade, parseClusterSettings, planRoll, planTopology, planUpgrade, upgradeEnv, upgradeImageName, UpgradeConfig,
    versionNumMajor,
} from "../../components/topology";

const nodes = [{ name: "pg1" }, { name: "pg2" }, { name: "pg3" }];
const cfg: UpgradeConfig = { primary: "pg1", nodes, backup: false };
const roll = { kind: "roll" as const, standbys: ["pg2", "pg3"], handover: "pg2", primary: "pg1", actual: "pg1", problems: [] };

describe("a new major on a running cluster", () => {
    test("the primary upgraded in place, every other node cloned again, the first standby keeping the old data", () => {
        const p = planUpgrade(cfg, roll, 13, 17);
        assert.deepEqual(p, { kind: "upgrade", from: 13, to: 17, primary: "pg1", standbys: ["pg2", "pg3"], keep: "pg2", backup: false, problems: [] });
        assert.equal(describeUpgrade(p, "postgres:17"),
            "image change to postgres:17: PostgreSQL 13 to 17, an upgrade: pg1 stopped cleanly (writes stop); its data upgraded in " +
            "place with pg_upgrade --link in pg-replication/postgres-upgrade:13-17; started on postgres:17 (writes resume); pg2, pg3 " +
            "cloned again from it (pg2 keeps its PostgreSQL 13 data beside until every node streams on the new major); statistics " +
            "rebuilt (vacuumdb --analyze-in-stages) before up returns. If pg_upgrade fails, the old cluster is started again as it was and up fails");
        assert.equal(upgradeImageName(15, 18), "pg-replication/postgres-upgrade:15-18");
    });

    test("a single node: upgraded in place, no copy kept", () => {
        const p = planUpgrade({ ...cfg, nodes: [nodes[0]] }, { kind: "in-place", node: "pg1" }, 13, 17);
        assert.deepEqual(p, { kind: "upgrade", from: 13, to: 17, primary: "pg1", standbys: [], backup: false, problems: [] });
        assert.doesNotMatch(describeUpgrade(p, "postgres:17"), /cloned again/);
    });

    test("with backups on: the repository's stanza upgraded before the new server starts, a full backup of the new major after", () => {
        const p = planUpgrade({ ...cfg, backup: true }, roll, 13, 17);
        assert.deepEqual(p.problems, []);
        assert.equal(p.backup, true);
        assert.equal(describeUpgrade(p, "pg-replication/postgres-backup:17"),
            "image change to pg-replication/postgres-backup:17: PostgreSQL 13 to 17, an upgrade: pg1 stopped cleanly (writes stop); " +
            "its data upgraded in place with pg_upgrade --link in pg-replication/postgres-upgrade:13-17; every PostgreSQL 13 segment " +
            "archived by the stop (checked) and the backup repository's stanza upgraded (pgbackrest stanza-upgrade); started on " +
            "pg-replication/postgres-backup:17 (writes resume); pg2, pg3 cloned again from it (pg2 keeps its PostgreSQL 13 data beside " +
            "until every node streams on the new major); a full backup of PostgreSQL 17 taken (the PostgreSQL 13 backups stay " +
            "restorable, as a new stack on PostgreSQL 13, until retentionFull expires them); statistics rebuilt (vacuumdb " +
            "--analyze-in-stages) before up returns. If pg_upgrade fails, the old cluster is started again as it was and up fails");
    });

    test("refused, with what to do: a switchover in the same up, and the roll's own problems", () => {
        const p = planUpgrade({ ...cfg, primary: "pg2" },
            { ...roll, problems: ["pg3 is not streaming from the primary pg1: its WAL receiver is waiting"] }, 13, 17);
        assert.deepEqual(p.problems, [
            "pg3 is not streaming from the primary pg1: its WAL receiver is waiting",
            "the primary changes in this up (from pg1 to pg2): switch over and upgrade in two ups",
        ]);
    });

    test("a major from SHOW server_version_num; no answer is no major", () => {
        assert.deepEqual(["130016\n", "170012", "90624", "", "error"].map(versionNumMajor), [13, 17, 9, NaN, NaN]);
    });

    test("the old cluster's settings, read and handed to pg-upgrade.sh as they are; a short answer is none", () => {
        const s = parseClusterSettings("UTF8|C.UTF-8|C.UTF-8|off\n");
        assert.deepEqual(s, { encoding: "UTF8", collate: "C.UTF-8", ctype: "C.UTF-8", checksums: "off" });
        assert.deepEqual(upgradeEnv(13, 17, s!), ["OLD_MAJOR=13", "NEW_MAJOR=17", "ENCODING=UTF8", "COLLATE=C.UTF-8", "CTYPE=C.UTF-8",
            "CHECKSUMS=off"]);
        assert.equal(parseClusterSettings("UTF8|C.UTF-8"), undefined);
        assert.equal(parseClusterSettings(""), undefined);
    });

    test("pg-upgrade.sh is valid sh and gives the old cluster back when pg_upgrade fails", () => {
        const text = fragment("pg-upgrade.sh");
        assert.equal(spawnSync("/bin/sh", ["-n"], { input: text, encoding: "utf8" }).status, 0);
        assert.match(text, /\[ ! -f "\$_data\/global\/pg_control\.old" \] \|\| mv "\$_data\/global\/pg_control\.old" "\$_data\/global\/pg_control"/);
        // The swap only after pg_upgrade, the settings copy and the new server's look at them all succeeded.
        assert.match(text, /-C server_version[^\n]*; then\n[\s\S]*return 1\n    fi\n    rm -f "\$_next\.initdb\.log"\n    mv "\$_data" "\$_kept"\n    mv "\$_next" "\$_data"\n}/);
    });

    test("a roll after an upgrade that stopped: standbys still on the old major need not stream; the others still must", () => {
        const st = (name: string, over: Partial<NodeState>): NodeState => ({ name, exists: true, replayPaused: false, timeline: 1,
            container: { status: "running", onNetwork: true, restartPolicy: "unless-stopped", image: "postgres:13" }, ...over });
        const states = [st("pg1", { inRecovery: false, lsn: "0/5000000", container: { status: "running", onNetwork: true,
            restartPolicy: "unless-stopped", image: "postgres:17" } }),
        st("pg2", { inRecovery: true, lsn: "0/3000000", receiver: { status: "waiting", senderHost: "" }, upstream: "172.18.0.101" }),
        st("pg3", { inRecovery: true, lsn: "0/3000000", receiver: { status: "waiting", senderHost: "" }, upstream: "172.18.0.101" })];
        const c = { primary: "pg1", nodes: nodes.map((n, i) => ({ ...n, address: `172.18.0.10${i + 1}` })),
            replication: { maxSwitchoverLagBytes: 1024, mode: "async" as const } };
        const topo = planTopology(c as never, states);
        const refused = planRoll(c, states, topo, "postgres:17");
        assert.equal(refused.kind === "roll" && refused.problems.length, 2);
        const resumed = planRoll(c, states, topo, "postgres:17", ["pg2"]);
        assert.deepEqual(resumed.kind === "roll" && resumed.problems, ["pg3 is not streaming from the primary pg1: its WAL receiver is waiting"]);
        assert.deepEqual(resumed.kind === "roll" && resumed.standbys, ["pg2", "pg3"]);
    });
});
