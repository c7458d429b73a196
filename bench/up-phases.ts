// How long `up` of the dev plan takes and where the time goes, measured on the real engine with
// the integration replay (tests/integration/replay.ts). Variants run interleaved in one session
// and are reported as ratios to the first, never as bare timings: absolute seconds depend on
// the machine. Usage: npm run bench [-- ROUNDS]
//
// Variant knob: POLL_INTERVAL, how often the readiness gate and the policy re-check
// pg_stat_replication (components/scripts/lib.sh). Measured here on 2026-11-27: 3 rounds
// gave 0.95 for 0.2 s against 1 s, 7 rounds gave 1.00 (the gate usually passes on its first
// look), so the default stayed at 1 s. The primary becoming healthy (initdb, first health
// check) was 46% of up, the clone 24%, the standby becoming healthy 19%.

import { DEV, runProgram } from "../tests/support/mocked-program";
import { Replayer } from "../tests/integration/replay";
import { removeStackObjects } from "../tests/support/docker-objects";

const ROUNDS = Number(process.argv[2] ?? 3);
const VARIANTS = ["1", "0.2"];
const STACK = "bench";

function plan() {
    return {
        ...DEV, networkName: "pg-replication-bench", subnet: "172.31.40.0/24", primaryAddress: "172.31.40.101",
        primaryPort: "56532", standbys: [{ name: "standby1", address: "172.31.40.102", port: 56533 }],
        superuserPassword: "bench-only", replicationPassword: "bench-only",
    };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
    const totals = new Map<string, number[]>(VARIANTS.map((v) => [v, []]));
    const phases = new Map<string, Map<string, number[]>>(VARIANTS.map((v) => [v, new Map()]));
    for (let round = 0; round < ROUNDS; round++) {
        for (const variant of VARIANTS) {
            removeStackObjects(STACK);
            process.env.POLL_INTERVAL = variant;
            const run = await runProgram(plan(), ["superuserPassword", "replicationPassword"], STACK);
            const replay = new Replayer();
            const started = Date.now();
            await replay.up(run);
            totals.get(variant)!.push(Date.now() - started);
            for (const t of replay.timings) {
                const key = `${t.type} ${t.name}`;
                const list = phases.get(variant)!.get(key) ?? [];
                list.push(t.ms);
                phases.get(variant)!.set(key, list);
            }
            await replay.destroy(run);
        }
    }
    removeStackObjects(STACK);
    const base = median(totals.get(VARIANTS[0])!);
    console.log(`up of the dev plan (1 standby), median of ${ROUNDS} interleaved rounds, relative to POLL_INTERVAL=${VARIANTS[0]}:`);
    for (const v of VARIANTS) {
        console.log(`  POLL_INTERVAL=${v}: ${(median(totals.get(v)!) / base).toFixed(2)}`);
    }
    for (const v of VARIANTS) {
        const total = median(totals.get(v)!);
        const shares = [...phases.get(v)!.entries()]
            .map(([k, ms]) => [k, median(ms) / total] as const)
            .filter(([, share]) => share >= 0.02)
            .sort((a, b) => b[1] - a[1])
            .map(([k, share]) => `${k} ${(share * 100).toFixed(0)}%`);
        console.log(`share of up, POLL_INTERVAL=${v}: ${shares.join(", ")}`);
    }
}

main().catch((err) => {
    removeStackObjects(STACK);
    console.error(err);
    process.exit(1);
});
