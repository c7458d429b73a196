// A new major on a running cluster, planned: `image` of a newer PostgreSQL major than the data's is
// an upgrade in place, never a replacement that re-initialises (README "A new major"). Pure: the
// roll's plan (roll.ts) and the two majors in, the upgrade's plan and why it must not start out.
// Preview (check.ts checkUpgrade) adds what only the running cluster can say (pg_upgrade --check on
// a scratch copy of its schema, prepared and long transactions) and refuses with every problem.
//
// The order at up: the upgrade step (components/scripts/upgrade.sh, before the primary's container
// is replaced) stops the primary cleanly, waits for the first standby to have replayed its shutdown
// checkpoint and marks that standby's old data to be kept, then runs pg_upgrade --link on the
// primary's volume in a container of the upgrade image (pg-upgrade.sh upgrade_data); a failure
// before the new server starts gives the old cluster back and starts it again. With backups on, the
// clean stop has archived every commit (checked), and the stanza is upgraded (pgBackRest
// stanza-upgrade) before the new server starts, so its first segment archives and the old major's
// backups stay restorable. Then the primary's
// container on the new image; the standbys, cloned again from it by their seeds (node-seed-check.sh,
// the marked one keeping its old data beside); the commit policy's gate; the backup check's first
// full backup of the new major (backup-check.sh); then the last step (upgrade-finish.sh):
// statistics rebuilt, the old copies removed.

import type { RollPlan } from "./roll";

/** The image pg_upgrade runs in: the new major's server with the old major's binaries (images/upgrade, scripts/build-images.sh --upgrade). */
export function upgradeImageName(from: number, to: number): string {
    return `pg-replication/postgres-upgrade:${from}-${to}`;
}

export interface UpgradePlan {
    readonly kind: "upgrade";
    readonly from: number;
    readonly to: number;
    /** The primary, upgraded in place. */
    readonly primary: string;
    /** The standbys, cloned again from the upgraded primary. */
    readonly standbys: readonly string[];
    /** The standby whose old data is kept beside its new clone until every node runs the new major; undefined with none. */
    readonly keep?: string;
    /** Backups are on: the repository's stanza is upgraded and a full backup of the new major taken. */
    readonly backup: boolean;
    readonly problems: readonly string[];
}

export interface UpgradeConfig {
    readonly primary: string;
    readonly nodes: readonly { readonly name: string }[];
    /** Whether backups are on (pg-replication:backup): their repository gets pgBackRest's stanza-upgrade. */
    readonly backup: boolean;
}

/** The upgrade `up` would do for a roll (roll.ts) whose image runs major TO on data of major FROM. */
export function planUpgrade(cfg: UpgradeConfig, roll: Exclude<RollPlan, { kind: "none" | "upgrade" | "hold" }>, from: number, to: number): UpgradePlan {
    const problems = roll.kind === "roll" ? [...roll.problems] : [];
    const primary = roll.kind === "in-place" ? roll.node : roll.actual;
    if (roll.kind === "roll" && roll.actual !== "" && roll.actual !== cfg.primary) {
        problems.push(`the primary changes in this up (from ${roll.actual} to ${cfg.primary}): switch over and upgrade in two ups`);
    }
    const standbys = cfg.nodes.map((n) => n.name).filter((n) => n !== primary);
    const keep = standbys[0];
    return { kind: "upgrade", from, to, primary, standbys, ...(keep ? { keep } : {}), backup: cfg.backup, problems };
}

/** The upgrade in words, as preview says it. */
export function describeUpgrade(plan: UpgradePlan, image: string): string {
    const steps = [`${plan.primary} stopped cleanly (writes stop)`,
        `its data upgraded in place with pg_upgrade --link in ${upgradeImageName(plan.from, plan.to)}`,
        ...(plan.backup ? [`every PostgreSQL ${plan.from} segment archived by the stop (checked) and the backup repository's ` +
            "stanza upgraded (pgbackrest stanza-upgrade)"] : []),
        `started on ${image} (writes resume)`];
    if (plan.standbys.length > 0) {
        steps.push(`${plan.standbys.join(", ")} cloned again from it (${plan.keep} keeps its PostgreSQL ${plan.from} data beside ` +
            "until every node streams on the new major)");
    }
    if (plan.backup) {
        steps.push(`a full backup of PostgreSQL ${plan.to} taken (the PostgreSQL ${plan.from} backups stay restorable, as a new stack ` +
            `on PostgreSQL ${plan.from}, until retentionFull expires them)`);
    }
    steps.push("statistics rebuilt (vacuumdb --analyze-in-stages) before up returns");
    return `image change to ${image}: PostgreSQL ${plan.from} to ${plan.to}, an upgrade: ${steps.join("; ")}. ` +
        "If pg_upgrade fails, the old cluster is started again as it was and up fails";
}

/** SQL for the primary: its prepared transactions (pg_upgrade refuses a cluster that has any). */
export const PREPARED_SQL = "SELECT count(*) FROM pg_prepared_xacts";

/** The old cluster's encoding, locale and checksums, one row "|"-separated, as pg-upgrade.sh's new_cluster takes them. */
export const CLUSTER_SETTINGS_SQL = "SELECT pg_encoding_to_char(encoding), datcollate, datctype, current_setting('data_checksums') " +
    "FROM pg_database WHERE datname = 'template0'";

export interface ClusterSettings {
    readonly encoding: string;
    readonly collate: string;
    readonly ctype: string;
    readonly checksums: string;
}

/** CLUSTER_SETTINGS_SQL's answer; undefined when it is not one row of four fields. */
export function parseClusterSettings(stdout: string): ClusterSettings | undefined {
    const fields = stdout.trim().split("|");
    if (fields.length !== 4 || fields.some((f) => f === "")) {
        return undefined;
    }
    const [encoding, collate, ctype, checksums] = fields;
    return { encoding, collate, ctype, checksums };
}

/** pg-upgrade.sh's environment for these settings. */
export function upgradeEnv(from: number, to: number, s: ClusterSettings): string[] {
    return [`OLD_MAJOR=${from}`, `NEW_MAJOR=${to}`, `ENCODING=${s.encoding}`, `COLLATE=${s.collate}`, `CTYPE=${s.ctype}`,
        `CHECKSUMS=${s.checksums}`];
}
