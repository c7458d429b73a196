// npm run status -- STACK [--json] [--watch] [--cwd DIR]
//
// The cluster as it is now next to the stack's plan. Exit code: 0 healthy, 1 with warnings,
// 2 when the stack cannot be read. The stack's backend and passphrase are found as
// scripts/deploy.sh sets them (PULUMI_BACKEND_URL, else the logged-in backend, else
// file://~/.local/share/pg-replication/state; PULUMI_CONFIG_PASSPHRASE(_FILE), else
// ~/.config/pg-replication/passphrase). --cwd names another Pulumi project folder.

import { parseArgs } from "node:util";
import { projectRoot } from "../components/project";
import { observe, readPlan, StackUnreadable } from "./collect";
import { Plan } from "./model";
import { renderText, watchFrame } from "./render";
import { buildReport, exitCode, Report } from "./report";

const USAGE = "usage: npm run status -- STACK [--json] [--watch] [--cwd DIR]";
/** In --watch, the plan (outputs and state) is read again this often, in case an `up` ran. */
const PLAN_REFRESH_MS = 30_000;

async function once(plan: Plan): Promise<Report> {
    return buildReport(plan, await observe(plan));
}

function print(report: Report, json: boolean): string {
    return json ? `${JSON.stringify(report, null, 2)}\n` : renderText(report);
}

async function watch(stack: string, workDir: string, first: Plan, json: boolean): Promise<never> {
    let plan = first;
    let planAt = Date.now();
    let code = 0;
    const out = process.stdout;
    const stop = () => {
        out.write("\x1b[?25h");
        process.exit(code);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    out.write("\x1b[?25l\x1b[2J");
    for (;;) {
        const started = Date.now();
        if (started - planAt > PLAN_REFRESH_MS) {
            plan = await readPlan(stack, { workDir }).catch(() => plan);
            planAt = started;
        }
        const report = await once(plan);
        code = exitCode(report);
        out.write(watchFrame(print(report, json)));
        await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - started))));
    }
}

async function main(): Promise<number> {
    let parsed;
    try {
        parsed = parseArgs({
            allowPositionals: true,
            options: {
                json: { type: "boolean", default: false },
                watch: { type: "boolean", default: false },
                cwd: { type: "string" },
                help: { type: "boolean", short: "h", default: false },
            },
        });
    } catch (err) {
        process.stderr.write(`status: ${(err as Error).message}\n${USAGE}\n`);
        return 2;
    }
    const { values, positionals } = parsed;
    if (values.help) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
    }
    if (positionals.length !== 1) {
        process.stderr.write(`status: expected one stack name, got ${positionals.length}\n${USAGE}\n`);
        return 2;
    }
    const stack = positionals[0];
    const workDir = values.cwd ?? projectRoot();
    let plan: Plan;
    try {
        plan = await readPlan(stack, { workDir });
    } catch (err) {
        const why = err instanceof StackUnreadable ? err.message : `cannot read stack ${stack}: ${String((err as Error)?.message ?? err)}`;
        process.stderr.write(`status: ${why}\n`);
        return 2;
    }
    if (values.watch) {
        return watch(stack, workDir, plan, values.json);
    }
    const report = await once(plan);
    process.stdout.write(print(report, values.json));
    return exitCode(report);
}

main().then(
    (code) => { process.exitCode = code; },
    (err) => {
        process.stderr.write(`status: unexpected failure: ${String((err as Error)?.message ?? err)}\n`);
        process.exitCode = 2;
    },
);
