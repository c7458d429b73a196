// The topology step: what `pulumi up` runs to make the declared primary the actual one. A local
// command of the cluster (components/cluster.ts) runs this file's main in the project directory
// (through scripts/topology-step.js, from the program's compiled copy),
// after the declared primary's node and before the replication role and the clones, whenever its
// input (TOPOLOGY_INPUT, one JSON TopologyInput) or its code (TOPOLOGY_CODE, contract.ts
// codeDigest) changes. It observes and plans with the very functions preview used (observe.ts,
// plan.ts), acts (act.ts), logs what it does on stderr, and ends with one result line (RESULT_PREFIX
// and a TopologyResult as JSON) that the drill reads. Nothing on stdout: that would go into state.

import { nodeEngine, spansEngines } from "../spec";
import { BOUNDS, Bounds, StepFailed, TopologyRun } from "./act";
import { RESULT_PREFIX, TopologyInput, TopologyResult } from "./contract";
import { ENGINE_PROBE_MS, observeAndPlan, silentEngines } from "./observe";
import { Refusal } from "./plan";
import { longTransactionProblem, longTransactionsSql, parseLongTransactions, runsOtherImage } from "./roll";

export interface StepOptions {
    /** Environment for the docker CLI (tests put a fake `docker` first on PATH). */
    readonly env?: NodeJS.ProcessEnv;
    readonly bounds?: Bounds;
}

/** One run of the step over INPUT; never throws: a failure is a result with ok false and its error. */
export async function runTopologyStep(input: TopologyInput, log: (line: string) => void, opts: StepOptions = {}): Promise<TopologyResult> {
    const started = Date.now();
    // Across engines, a node whose engine does not answer (its host lost: stopped, cut off) is not
    // asked anything: a docker call to it would wait until the engine came back. Each engine is
    // asked once, in parallel, bounded.
    const silent = spansEngines(input.nodes, input.dockerHost)
        ? await silentEngines(input.nodes.map((n) => nodeEngine(n, input.dockerHost)), { env: opts.env })
        : new Map<string, string>();
    const run = new TopologyRun(input, silent, log, opts.bounds ?? BOUNDS, opts.env);
    for (const n of input.nodes.filter((x) => run.lost(x.name))) {
        log(`${n.name}: its Docker engine (${nodeEngine(n, input.dockerHost)}) does not answer within ${ENGINE_PROBE_MS / 1000}s`);
    }
    try {
        const { states, plan } = await observeAndPlan(input, { silent, env: opts.env });
        if (input.handover) {
            // A roll's handover: only while the primary runs the old image, to a standby on the new one.
            const h = input.handover;
            const actual = states.find((st) => st.unreachable === undefined && st.inRecovery === false);
            if (actual === undefined || !runsOtherImage(actual, h.image) || plan.kind !== "switchover") {
                log(`handover: ${actual ? `the primary ${actual.name} runs ${actual.container?.image ?? "an unknown image"}` :
                    "no node answers as primary"}: nothing to hand over (the topology step decides the rest)`);
                return { ok: true, ...run.result, primary: actual?.name ?? "", handover: "nothing to hand over",
                    seconds: (Date.now() - started) / 1000 };
            }
            const target = states.find((st) => st.name === input.primary)!;
            if (runsOtherImage(target, h.image)) {
                throw new StepFailed(`handover: ${input.primary} still runs ${target.container!.image}, not ${h.image}`);
            }
            const problem = longTransactionProblem(actual.name,
                parseLongTransactions(await run.sql(actual.name, longTransactionsSql(h.maxTransactionSeconds))), h.maxTransactionSeconds);
            if (problem) {
                throw new StepFailed(`handover refused, nothing was stopped: ${problem}`);
            }
            log(`handover: the primary ${actual.name} runs ${actual.container!.image}; switching over to ${input.primary}, on ${h.image}`);
            await run.act(plan, states);
            return { ok: true, ...run.result, handover: "switched over", seconds: (Date.now() - started) / 1000 };
        }
        await run.act(plan, states);
        return { ok: true, ...run.result, seconds: (Date.now() - started) / 1000 };
    } catch (e) {
        const error = e instanceof StepFailed || e instanceof Refusal ? e.message : `${(e as Error)?.stack ?? e}`;
        return { ok: false, error, ...run.result, seconds: (Date.now() - started) / 1000 };
    }
}

/** The input from the environment, or a StepFailed naming what is wrong with it. */
export function readInput(env: NodeJS.ProcessEnv): TopologyInput {
    const text = env.TOPOLOGY_INPUT;
    if (!text) {
        throw new StepFailed("TOPOLOGY_INPUT is not set: the topology step takes its input as JSON there");
    }
    try {
        return JSON.parse(text) as TopologyInput;
    } catch (e) {
        throw new StepFailed(`TOPOLOGY_INPUT is not JSON: ${(e as Error).message}`);
    }
}

/** The step's process (scripts/topology-step.js): the input from the environment, the log and the result line on stderr, the exit status. */
export function main(): Promise<void> {
    const say = (line: string) => process.stderr.write(`${line}\n`);
    return Promise.resolve().then(() => runTopologyStep(readInput(process.env), say)).catch((e: unknown): TopologyResult => ({
        ok: false, error: (e as Error).message, primary: "", action: "none", fenced: [], lost: [], demoted: [], rejoined: [], standbys: {}, seconds: 0,
    })).then((result) => {
        if (!result.ok) {
            say(`error: ${result.error}`);
        }
        say(`${RESULT_PREFIX}${JSON.stringify(result)}`);
        process.exitCode = result.ok ? 0 : 1;
    });
}

if (require.main === module) {
    void main();
}
