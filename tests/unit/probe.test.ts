// The drill's write probe (drill/probe.ts): its loop's failure waits for stop().

import * as assert from "node:assert/strict";
import { test } from "node:test";
import { WriteProbe } from "../../drill/probe";

test("a probe that finds no writable node fails at stop(), not as an unhandled rejection that would end the drill mid-fault", async () => {
    class Failing extends WriteProbe {
        protected override async loop(): Promise<void> {
            throw new Error("the probe found no writable node for 0 s");
        }
        run(): void {
            this.begin(1);
        }
    }
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
        const probe = new Failing({ pg1: "postgresql://127.0.0.1:1/postgres" });
        probe.run();
        await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual(unhandled, []);
        await assert.rejects(probe.stop(), /no writable node/);
    } finally {
        process.off("unhandledRejection", onUnhandled);
    }
});
