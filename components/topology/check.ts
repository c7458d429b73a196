// Preview's topology check: observes and plans (observe.ts, plan.ts), logs the plan, and fails
// preview and up with the reasons when a switchover or failover would be unsafe (a RunError:
// message only). The topology step at up (up.ts) decides with the same functions again.

import * as pulumi from "@pulumi/pulumi";
import { ARCHIVER_SQL, archiverFromPsql, archiveTrouble } from "../archive";
import { ClusterConfig, NAMESPACE, nodeImage, synchronousStandbyNamesFor } from "../config";
import { dockerCli, dockerFailure } from "../docker-cli";
import { nodeEngine } from "../spec";
import { NodeState } from "../node-state";
import { downNodes, FailoverPlan, Refusal, refusalOf, refusalText, TopologyPlan } from "./plan";
import { nodeSql, ObserveOptions, observeAndPlan, staleDivergence } from "./observe";
import {
    describeHold, describeRoll, imageProblem, longTransactionProblem, longTransactionsSql, parseLongTransactions, planRoll, repositoryMove, RollPlan, runsOtherImage,
    serverMajor, versionNumMajor,
} from "./roll";
import {
    CLUSTER_SETTINGS_SQL, describeUpgrade, parseClusterSettings, planUpgrade, PREPARED_SQL, upgradeEnv, upgradeImageName, UpgradePlan,
} from "./upgrade";
import { fragment } from "../fragments";

export class SwitchoverRefused extends pulumi.RunError {
    constructor(readonly problems: readonly string[]) {
        super(refusalText("switchover", problems));
    }
}

export class RollRefused extends pulumi.RunError {
    constructor(readonly problems: readonly string[]) {
        super(`the image change is refused, nothing was changed:\n  - ${problems.join("\n  - ")}`);
    }
}

export class RepositoryMoveRefused extends pulumi.RunError {
    constructor(problem: string) {
        super(`the change of backup.volume is refused, nothing was changed: ${problem}`);
    }
}

export class FailoverRefused extends pulumi.RunError {
    /** The plan refused, when there is one. */
    constructor(readonly problems: readonly string[], readonly plan?: FailoverPlan) {
        super(refusalText("failover", problems));
    }
}

/** Throws the refusal plan.ts gives for this plan, if any, as preview reports it. */
function refuse(plan: TopologyPlan, allowDataLoss: boolean): void {
    const refusal = refusalOf(plan, allowDataLoss);
    if (refusal?.kind === "switchover") {
        throw new SwitchoverRefused(refusal.problems);
    }
    if (refusal) {
        throw new FailoverRefused(refusal.problems, plan.kind === "failover" ? plan : undefined);
    }
}

/**
 * The program's check: logs the switchover plan when the declared primary is not the actual
 * one, and throws SwitchoverRefused when it would be unsafe. A new cluster, or one whose primary
 * is already the declared one, costs one parallel round of `docker exec`.
 */
export async function checkTopology(cfg: ClusterConfig, opts: ObserveOptions = {}): Promise<TopologyPlan & { down: string[]; roll: RollPlan }> {
    const { states, plan: planned } = await observeAndPlan(cfg, opts);
    const move = repositoryMove(cfg.backup?.volume, states, nodeImage(cfg));
    if (move?.problem) {
        throw new RepositoryMoveRefused(move.problem);
    } else if (move?.warning) {
        pulumi.log.warn(move.warning);
    }
    const roll = await checkRoll(cfg, states, planned, opts);
    const plan = { ...planned, down: downNodes(states, planned), roll };
    if (plan.kind === "switchover") {
        const names = synchronousStandbyNamesFor(cfg.replication, plan.to);
        pulumi.log.info(`switchover planned: ${plan.to} will be promoted, ${plan.from} demoted to a standby of ` +
            `${plan.to}; synchronous_standby_names on ${plan.to} = '${names}'` +
            (cfg.replication.mode === "sync" ? `, synchronous_commit = ${cfg.replication.synchronousCommit}` : ""));
        refuse(plan, cfg.allowDataLoss);
    } else if (plan.kind === "stale-primaries") {
        const byName = new Map(states.map((s) => [s.name, s]));
        const { diverged } = await staleDivergence(cfg, byName.get(plan.primary)!, plan.stale.map((p) => byName.get(p.name)!), opts)
            .catch((e: unknown) => { throw e instanceof Refusal ? new SwitchoverRefused(e.problems) : e; });
        pulumi.log.warn(`${diverged.map((d) => `${d.name} (timeline ${byName.get(d.name)!.timeline}; ${d.bytes} bytes of WAL ` +
            `since ${plan.primary} left that timeline at ${d.switchpoint})`).join(", ")} run as primary next to ` +
            `${plan.primary}: former primaries back after a failover that could not fence them (their host was lost). ` +
            `up fences them at once and brings them in as standbys of ${plan.primary} (pg_rewind); if one committed user ` +
            `data after ${plan.primary} was promoted, it stays fenced and up says so, and bringing it in needs ` +
            `${NAMESPACE}:allowDataLoss`);
    } else if (plan.kind === "several-primaries") {
        refuse(plan, cfg.allowDataLoss);
    } else if (plan.kind === "failover") {
        const names = synchronousStandbyNamesFor(cfg.replication, plan.to);
        pulumi.log.info(`failover planned: the primary ${plan.from ?? "(unknown)"} is unreachable (${plan.why}); ` +
            `${plan.fence.join(", ") || "nothing"} fenced first (restart policy no, stopped, standby.signal pointing at ` +
            `${plan.to}), then ${plan.to} promoted; synchronous_standby_names on ${plan.to} = '${names}'. A fenced node ` +
            "comes back read-only; once its container runs again, the next up brings it in as a standby (pg_rewind " +
            "when it diverged)");
        if (plan.lost.length > 0 && plan.problems.length === 0) {
            pulumi.log.warn(`host lost: ${plan.lost.join(", ")} (neither engine nor server answers) cannot be fenced. ` +
                "When its host is back it may run as a primary on the old timeline until the next up, which demotes it " +
                (cfg.replication.mode === "sync" ? "(under the synchronous policy it cannot acknowledge a commit meanwhile: " +
                    `its synchronous standbys follow ${plan.to})` : "(under the async policy it can acknowledge commits " +
                    "meanwhile; the next up finds them and refuses to discard them without allowDataLoss)") +
                "; point clients at the new primary");
        }
        refuse(plan, cfg.allowDataLoss);
        if (plan.risks.length > 0 || plan.loss !== "nothing") {
            pulumi.log.warn(`failover to ${plan.to}${plan.risks.length > 0 ? ` with data loss accepted ` +
                `(${NAMESPACE}:allowDataLoss): ${plan.risks.join("; ")}` : ""}; could be lost: ${plan.loss}`);
        }
    } else if (plan.kind === "no-primary") {
        pulumi.log.warn(`${plan.problems.join("; ")}: up will fail at the topology step unless ${cfg.primary} ` +
            "runs as primary by then");
    }
    if (cfg.allowDataLoss && plan.kind !== "failover" && plan.kind !== "stale-primaries") {
        pulumi.log.warn(`${NAMESPACE}:allowDataLoss is true but no failover is planned (it still lets up discard what a ` +
            "fenced former primary committed after a failover, when up said so); set it back to false");
    }
    return plan;
}

/**
 * An image change on a running cluster: says the roll's order (roll.ts), warns that a single node
 * is replaced in place, and throws RollRefused when a standby does not stream or lags, or a
 * transaction on the primary has run longer than rollMaxTransactionSeconds. An image of a newer
 * major than the data's is an upgrade instead (upgrade.ts, checkUpgrade).
 */
export async function checkRoll(cfg: ClusterConfig, states: readonly NodeState[], topology: TopologyPlan,
    opts: ObserveOptions = {}): Promise<RollPlan> {
    const image = nodeImage(cfg);
    const engineOf = (name: string) => nodeEngine(cfg.nodes.find((n) => n.name === name)!, cfg.dockerHost);
    const exec = (name: string, sql: string) => nodeSql(`${cfg.namePrefix}-${name}`, engineOf(name), sql, opts);
    const first = planRoll(cfg, states, topology, image);
    if (first.kind === "none") {
        return first;
    }
    if (first.kind === "hold") {
        pulumi.log.warn(describeHold(first, image));
        return first;
    }
    let roll = first;
    // The server the data was written by: asked of the node running as primary (the only node when in place).
    const asked = roll.kind === "in-place" ? roll.node : roll.actual;
    const version = asked ? await exec(asked, "SHOW server_version_num") : undefined;
    const dataMajor = version && !version.err ? versionNumMajor(version.stdout) : NaN;
    if (roll.kind === "roll" && dataMajor >= 10) {
        // Nodes whose data is of another major than the primary's (an upgrade that stopped before cloning them,
        // or one given up) are cloned again when their containers are replaced.
        const other = await otherMajorStandbys(cfg, states, roll.actual, dataMajor, image, engineOf, exec, opts);
        if (other.length > 0) {
            pulumi.log.info(`${other.join(", ")} hold data of another major than the primary's PostgreSQL ${dataMajor}: each is ` +
                "cloned again from the primary when its container is replaced (data of a newer major is kept beside, README \"A new major\")");
            const replanned = planRoll(cfg, states, topology, image, other);
            roll = replanned.kind === "none" || replanned.kind === "hold" ? roll : replanned;
        }
    }
    const problems = roll.kind === "roll" ? [...roll.problems] : [];
    let newer: number | undefined;
    if (asked && problems.length === 0) {
        if (!(dataMajor >= 10) && roll.kind === "in-place") {
            // A single node that does not answer may be down for the very image being replaced: said, not refused.
            pulumi.log.warn(`${asked} does not answer, so the new image's PostgreSQL version is not checked against its data`);
        } else if (!(dataMajor >= 10)) {
            problems.push(`${asked} could not be asked for its server version: ${version?.stderr.trim() || version?.stdout.trim()}`);
        } else {
            // The new image's server version on each engine that has a node to replace: never pulled here.
            const engines = [...new Set(states.filter((st) => runsOtherImage(st, image)).map((st) => engineOf(st.name)))];
            for (const engine of engines) {
                const r = await dockerCli(["run", "--rm", "--pull", "never", "--network", "none", "--entrypoint", "postgres", image, "--version"],
                    engine, opts);
                const problem = imageProblem(image, engine, r.err ? { error: r.stderr.trim() || r.err.message } : { stdout: r.stdout }, dataMajor);
                if (problem) {
                    problems.push(problem);
                } else if (!r.err && (serverMajor(r.stdout) ?? 0) > dataMajor) {
                    newer = serverMajor(r.stdout);
                }
            }
        }
    }
    if (newer !== undefined && problems.length === 0) {
        return checkUpgrade(cfg, planUpgrade({ primary: cfg.primary, nodes: cfg.nodes, backup: cfg.backup !== undefined }, roll, dataMajor, newer),
            image, engineOf, exec, opts);
    }
    if (roll.kind === "in-place" && problems.length === 0) {
        pulumi.log.warn(`image change to ${image}: ${roll.node} is the only node, so its container is replaced on its volume ` +
            "and the database is down meanwhile (a roll without downtime needs a standby)");
    }
    if (roll.kind === "roll") {
        pulumi.log.info(describeRoll(roll, image));
    }
    if (roll.kind === "roll" && roll.handover && problems.length === 0) {
        const problem = await longTransactions(roll.actual, cfg.rollMaxTransactionSeconds, exec);
        if (problem) {
            problems.push(problem);
        }
    }
    if (problems.length > 0) {
        throw new RollRefused(problems);
    }
    return roll;
}

type NodeExec = (name: string, sql: string) => ReturnType<typeof nodeSql>;

/** Why the primary must not be stopped now: its transactions older than SECONDS; undefined when there is none. */
async function longTransactions(primary: string, seconds: number, exec: NodeExec): Promise<string | undefined> {
    const r = await exec(primary, longTransactionsSql(seconds));
    return r.err ? `the primary ${primary} could not be asked for long transactions: ${r.stderr.trim() || r.err.message}`
        : longTransactionProblem(primary, parseLongTransactions(r.stdout), seconds);
}

/**
 * The nodes other than the primary that do not stream and whose data is of another major than
 * MAJOR: older (an upgrade that stopped before cloning them again) or newer (an upgrade given up by
 * config: its primary, after a failover to a standby of the old major). A running server is asked;
 * a stopped one's volume is read (PG_VERSION, in a throwaway container of IMAGE with no network).
 */
async function otherMajorStandbys(cfg: ClusterConfig, states: readonly NodeState[], primary: string, major: number, image: string,
    engineOf: (name: string) => string, exec: NodeExec, opts: ObserveOptions): Promise<string[]> {
    const idle = states.filter((s) => s.name !== primary && s.exists && !s.engineDown && s.receiver?.status !== "streaming");
    const majors = await Promise.all(idle.map(async (s) => {
        if (s.inRecovery !== undefined) {
            const r = await exec(s.name, "SHOW server_version_num");
            return r.err ? NaN : versionNumMajor(r.stdout);
        }
        const r = await dockerCli(["run", "--rm", "--pull", "never", "--network", "none", "-u", "postgres", "-v",
            `${cfg.namePrefix}-${s.name}-data:/var/lib/postgresql/data:ro`, "--entrypoint", "cat", image,
            "/var/lib/postgresql/data/pgdata/PG_VERSION"], engineOf(s.name), { ...opts, timeoutMs: 30_000 });
        return r.err ? NaN : Number(r.stdout.trim());
    }));
    return idle.filter((_, i) => majors[i] >= 10 && majors[i] !== major).map((s) => s.name);
}

/**
 * A major upgrade's preview: says the plan (upgrade.ts) and throws RollRefused, before anything
 * stops, when it must not start: its own problems, the upgrade image missing or of other majors,
 * prepared or long transactions on the primary, and whatever pg_upgrade --check finds in a scratch
 * copy of the primary's schema (no data: pg-upgrade.sh upgrade_check, a few seconds).
 */
export async function checkUpgrade(cfg: ClusterConfig, plan: UpgradePlan, image: string, engineOf: (name: string) => string,
    exec: NodeExec, opts: ObserveOptions = {}): Promise<UpgradePlan> {
    pulumi.log.info(describeUpgrade(plan, image));
    const problems = [...plan.problems];
    const upgradeImage = upgradeImageName(plan.from, plan.to);
    const engine = engineOf(plan.primary);
    if (problems.length === 0) {
        const [prepared, settings, long, archiver] = await Promise.all([exec(plan.primary, PREPARED_SQL), exec(plan.primary, CLUSTER_SETTINGS_SQL),
            longTransactions(plan.primary, cfg.rollMaxTransactionSeconds, exec), plan.backup ? exec(plan.primary, ARCHIVER_SQL) : undefined]);
        if (long) {
            problems.push(long);
        }
        // The new major starts a WAL history of its own: what the old one has not archived by then never reaches the repository.
        const row = archiver && !archiver.err ? archiverFromPsql(archiver.stdout) : undefined;
        const trouble = row ? archiveTrouble(plan.primary, row, Date.now(), cfg.archiveStallSeconds) : undefined;
        if (archiver && (!row || trouble)) {
            problems.push(trouble ? `${trouble.text}: ` +
                "the old major's WAL must all reach the backup repository before its data is upgraded (npm run status; archiving " +
                "resumes by itself once the repository takes writes)"
                : `the primary ${plan.primary} could not be asked how its archive stands: ${archiver.stderr.trim() || archiver.stdout.trim()}`);
        }
        if (prepared.err || Number(prepared.stdout.trim()) > 0) {
            problems.push(prepared.err ? `the primary ${plan.primary} could not be asked for prepared transactions: ${prepared.stderr.trim()}`
                : `the primary ${plan.primary} has ${prepared.stdout.trim()} prepared transactions (pg_prepared_xacts), which ` +
                    "pg_upgrade refuses: COMMIT PREPARED or ROLLBACK PREPARED them first");
        }
        const s = settings.err ? undefined : parseClusterSettings(settings.stdout);
        if (!s) {
            problems.push(`the primary ${plan.primary} could not be asked for its encoding and locale: ${settings.stderr.trim() || settings.stdout.trim()}`);
        } else if (problems.length === 0) {
            const check = await upgradeCheck(`${cfg.namePrefix}-${plan.primary}`, engine, upgradeImage, upgradeEnv(plan.from, plan.to, s), opts);
            if (check) {
                problems.push(check);
            }
        }
    }
    if (problems.length > 0) {
        throw new RollRefused(problems);
    }
    if (!plan.keep) {
        pulumi.log.warn(`image change to ${image}: ${plan.primary} is the only node: no standby keeps a copy of the PostgreSQL ` +
            `${plan.from} data during the upgrade (a failure before the new server starts still gives the old cluster back)`);
    }
    return plan;
}

/**
 * pg_upgrade --check from the primary's schema (pg_dumpall --schema-only --no-role-passwords in its
 * own container) in a throwaway container of the upgrade image; why it fails, or undefined.
 */
async function upgradeCheck(container: string, engine: string, upgradeImage: string, env: readonly string[],
    opts: ObserveOptions): Promise<string | undefined> {
    const dump = await dockerCli(["exec", "-u", "postgres", container, "pg_dumpall", "--schema-only", "--no-role-passwords"], engine,
        { ...opts, timeoutMs: 60_000 });
    if (dump.err) {
        return `the schema of ${container} could not be read for pg_upgrade --check: ${dockerFailure(dump, 60_000)}`;
    }
    const r = await dockerCli(["run", "--rm", "-i", "--pull", "never", "--network", "none", "-u", "postgres", ...env.flatMap((e) => ["-e", e]),
        "--entrypoint", "/bin/sh", upgradeImage, "-c", `set -eu\n${fragment("pg-upgrade.sh")}\nupgrade_check`], engine,
        { ...opts, timeoutMs: 120_000, input: dump.stdout });
    if (!r.err) {
        return undefined;
    }
    if (/No such image/i.test(r.stderr)) {
        return `${upgradeImage}, the image pg_upgrade runs in, is not on the Docker engine ${engine}: build it with ` +
            `scripts/build-images.sh --upgrade ${upgradeImage.split(":")[1].replace("-", " ")} and run up again`;
    }
    return `pg_upgrade --check on a copy of ${container}'s schema refuses the upgrade:\n    ` +
        `${(r.stdout.trim() || dockerFailure(r, 120_000)).split("\n").join("\n    ")}`;
}
