// `npm run bench:hosts [-- ROUNDS]`: `up` of the three-host plan (a primary and two standbys, one
// per Docker engine, replication over TLS) against the one-host plan of the same size (the three
// nodes on one of those engines, no TLS), interleaved in one run and reported as a ratio of
// medians. The hosts are our own (tests/support/hosts.ts: network namespaces with their own
// dockerd), made and removed by this run; each up is followed by a destroy, not timed here.
// Through the e2e harness's Automation API driver (with PG_REPLICATION_STAND_IN_PLUGINS=1, the
// stand-in plugins).

import { createHostSet, TestHost } from "../tests/support/hosts";
import { e2eStack } from "../tests/e2e/harness";

const ROUNDS = Number(process.argv[2] ?? 3);
const NET = 46;
const PORT = 58550;

function plan(hosts: readonly TestHost[], spread: boolean) {
    return {
        image: "postgres:13",
        subnet: `172.28.${NET}.0/24`,
        nodes: [0, 1, 2].map((i) => {
            const h = spread ? hosts[i] : hosts[0];
            // The test hosts' ports are not on this machine's loopback: each node is published on,
            // and reached at, its host's address.
            return { name: `pg${i + 1}`, address: `172.28.${NET}.${101 + i}`, port: PORT + i, host: h.dockerHost, hostAddress: h.address };
        }),
        primary: "pg1",
        readyTimeoutSeconds: "60",
    };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timedUp(name: string, config: Record<string, unknown>): Promise<number> {
    const s = await e2eStack(name, config);
    try {
        const started = Date.now();
        await s.up();
        return (Date.now() - started) / 1000;
    } finally {
        await s.destroyAndRemove();
    }
}

async function main(): Promise<void> {
    const set = await createHostSet({ set: "bench", subnet: 6, count: 3, images: ["postgres:13"] });
    const one: number[] = [];
    const three: number[] = [];
    try {
        for (let round = 1; round <= ROUNDS; round++) {
            one.push(await timedUp(`bench-hosts-one-${round}`, plan(set.hosts, false)));
            three.push(await timedUp(`bench-hosts-three-${round}`, plan(set.hosts, true)));
            process.stderr.write(`[bench:hosts] round ${round}: one host ${one.at(-1)!.toFixed(1)} s, ` +
                `three hosts ${three.at(-1)!.toFixed(1)} s\n`);
        }
    } finally {
        await set.teardown();
    }
    const result = {
        rounds: ROUNDS,
        upOneHostSeconds: median(one),
        upThreeHostsSeconds: median(three),
        ratio: Number((median(three) / median(one)).toFixed(2)),
        standIns: process.env.PG_REPLICATION_STAND_IN_PLUGINS === "1",
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : err}\n`);
    process.exit(1);
});
