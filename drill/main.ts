// npm run drill -- STACK FAULT [--json] [--cwd DIR] [--lose-host CMD --restore-host CMD]
//   FAULT: kill | pause | disconnect (the primary's container) | host (its whole host, through
//   the two commands: see hostControl)
//
// Runs the fault drill (drill/core.ts) on a running stack, the way a user fails over: the stack's
// config `pg-replication:primary` set to the standby with the most WAL and `pulumi up`, through
// the Automation API on the project folder, with the backend and passphrase scripts/deploy.sh
// uses (unless the environment already names them). Prints a table, or one JSON object with --json.
// Exit code: 0 when no acknowledged commit was lost (straight to the nodes, or through the stack's
// read-write endpoint when it has one), the old primary stayed fenced and rejoined
// with the same rows; 1 otherwise; 2 when the drill could not run.

import { execFile } from "node:child_process";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { Stack } from "@pulumi/pulumi/automation";
import Table = require("cli-table3");
import { openWorkspace, projectRoot } from "../components/project";
import { startStandIns, StandIns } from "../stand-ins/launch";
import { DrillResult, DrillStack, Fault, FAULTS, HostControl, runDrill } from "./core";

const USAGE = `usage: npm run drill -- STACK FAULT [--json] [--cwd DIR] [--lose-host CMD --restore-host CMD]   ` +
    `(FAULT: ${FAULTS.join(", ")}; host needs both commands)`;

/** The stack on its backend, as scripts/deploy.sh and the status tool find it (components/project.ts). */
async function selectStack(name: string, workDir: string, standIns?: StandIns): Promise<Stack> {
    const envVars = standIns
        ? { PULUMI_DEBUG_PROVIDERS: standIns.debugProviders, PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true" }
        : undefined;
    return Stack.select(name, await openWorkspace({ workDir, envVars }));
}

function asDrillStack(stack: Stack): DrillStack {
    const up = async () => {
        let text = "";
        await stack.up({ onOutput: (o) => { text += o; } });
        return text;
    };
    return {
        outputs: async () => Object.fromEntries(Object.entries(await stack.outputs()).map(([k, v]) => [k, v.value])),
        async failover(to) {
            await stack.setConfig("pg-replication:primary", { value: to });
            return up();
        },
        up,
    };
}

/**
 * The host fault through the user's own commands, run with sh and ENGINE (the node's Docker
 * engine) and ADDRESS (its host's address) in the environment, e.g. over ssh:
 *   --lose-host 'ssh "$ADDRESS" sudo systemctl stop docker.socket docker'
 *   --restore-host 'ssh "$ADDRESS" sudo systemctl start docker'
 */
export function hostControl(lose: string | undefined, restore: string | undefined): HostControl | undefined {
    if (!lose || !restore) {
        return undefined;
    }
    const run = (cmd: string, engine: string, address: string) => new Promise<void>((resolve, reject) =>
        execFile("sh", ["-c", cmd], { env: { ...process.env, ENGINE: engine, ADDRESS: address }, timeout: 300_000 },
            (err, _stdout, stderr) => err ? reject(new Error(`${cmd}: ${`${stderr}`.trim() || err.message}`)) : resolve()));
    return { lose: (e, a) => run(lose, e, a), restore: (e, a) => run(restore, e, a) };
}

export function renderTable(r: DrillResult): string {
    // No colours: the text goes to logs and pipes as often as to a terminal.
    const t = new Table({ head: ["drill", r.fault], style: { head: [], border: [] } });
    t.push(
        ["failed over", `${r.from} → ${r.to} (${r.chosen})`],
        ["fault → first acknowledged write on new primary", `${r.faultToFirstWriteSeconds.toFixed(2)} s`],
        ["up alone", `${r.upSeconds.toFixed(2)} s`],
        ["acknowledged commits", String(r.acknowledged)],
        ["acknowledged commits lost", r.lost === 0 ? "0" : `${r.lost} (seq ${r.lostSeqs.slice(0, 10).join(", ")}${r.lost > 10 ? ", …" : ""})`],
        ["rows on new primary", String(r.rowsOnNewPrimary)],
        [`${r.from} restart policy after the failover`, r.restartPolicyAfterFailover],
        [`${r.from} after docker start / docker restart`, `${r.fencedAfterRestart} / ${r.fencedAfterDockerRestart}`],
        [`${r.from} rejoin (second up)`, `${r.rejoinPath}, ${r.rejoinSeconds.toFixed(2)} s`],
        [`${r.from} a standby after the second up`, r.demotedByUp ? "yes" : "NO"],
        [`${r.from} rows = ${r.to} rows after rejoin`, r.consistentAfterRejoin ? "yes" : "NO"],
    );
    if (r.endpoint) {
        const e = r.endpoint;
        t.push(
            ["through the endpoint: acknowledged, lost", `${e.acknowledged}, ${e.lost}`],
            ["through the endpoint: client errors, longest stall", `${e.clientErrors}, ${e.longestStallSeconds.toFixed(2)} s`],
        );
    }
    return t.toString();
}

async function main(argv: string[]): Promise<number> {
    let parsed;
    try {
        parsed = parseArgs({ args: argv, allowPositionals: true, options: {
            json: { type: "boolean" }, cwd: { type: "string" }, "lose-host": { type: "string" }, "restore-host": { type: "string" },
        } });
    } catch (err) {
        process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
        return 2;
    }
    const { values, positionals: [stackName, fault] } = parsed;
    const json = values.json === true;
    const workDir = values.cwd ? path.resolve(values.cwd) : projectRoot();
    const hosts = hostControl(values["lose-host"], values["restore-host"]);
    if (!stackName || !(FAULTS as readonly string[]).includes(fault) || (fault === "host" && !hosts)) {
        process.stderr.write(`${USAGE}\n`);
        return 2;
    }
    const standIns = process.env.PG_REPLICATION_STAND_IN_PLUGINS === "1" ? await startStandIns({ pwd: workDir }) : undefined;
    try {
        const stack = await selectStack(stackName, workDir, standIns);
        const log = json ? () => undefined : (m: string) => process.stderr.write(`drill: ${m}\n`);
        const r = await runDrill(asDrillStack(stack), fault as Fault, log, hosts);
        process.stdout.write(json ? `${JSON.stringify(r)}\n` : `${renderTable(r)}\n`);
        // After a host fault A could not be fenced: writable until the second up is the documented window.
        // A server that never answered is not shown fenced: the drill fails rather than pass on an unknown.
        const fenced = (f: string) => f === "read-only" || f === "not running" || f === "not applicable";
        const fencedOk = r.fault === "host" || (fenced(r.fencedAfterRestart) && fenced(r.fencedAfterDockerRestart));
        const ok = r.lost === 0 && (r.endpoint?.lost ?? 0) === 0 && fencedOk && r.demotedByUp && r.consistentAfterRejoin;
        return ok ? 0 : 1;
    } finally {
        await standIns?.stop();
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
        process.stderr.write(`drill: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(2);
    });
}
