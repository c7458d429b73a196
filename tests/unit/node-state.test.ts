// A node's observed state (components/node-state.ts): psql's answer to STATE_SQL read into the
// NodeState the topology check plans with; anything but one whole row is never read as a primary.

import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseStateAnswer, RECEIVED_LSN_SQL, STATE_SQL } from "../../components/node-state";

describe("a node's answer to STATE_SQL", () => {
    test("a streaming standby", () => {
        assert.deepEqual(parseStateAnswer("t|0/3000148|f|1|streaming 172.28.44.101|0/3000200|172.28.44.101\n"), {
            inRecovery: true, lsn: "0/3000148", replayPaused: false, timeline: 1,
            receiver: { status: "streaming", senderHost: "172.28.44.101" }, receivedLsn: "0/3000200", upstream: "172.28.44.101",
        });
    });

    test("a primary: no receiver, no received WAL, no upstream; its timeline from its WAL file", () => {
        assert.deepEqual(parseStateAnswer("f|0/50206F0|f|2|||"), {
            inRecovery: false, lsn: "0/50206F0", replayPaused: false, timeline: 2,
            receiver: null, receivedLsn: undefined, upstream: undefined,
        });
    });

    test("a paused standby whose receiver stopped: timeline unknown, receiver without a sender", () => {
        const s = parseStateAnswer("t|0/3000148|t||stopping |0/3000148|pg1");
        assert.equal(s?.replayPaused, true);
        assert.equal(s?.timeline, null);
        assert.deepEqual(s?.receiver, { status: "stopping", senderHost: "" });
    });

    test("short, long or garbled answers are not read at all", () => {
        for (const bad of ["", "f", "f|0/1|f|1||", "f|0/1|f|1||||", "x|0/1|f|1|||", "psql: error: connection refused"]) {
            assert.equal(parseStateAnswer(bad), undefined, JSON.stringify(bad));
        }
    });

    test("the received WAL is asked with the one expression the drill also uses", () => {
        assert.ok(STATE_SQL.includes(`CASE WHEN pg_is_in_recovery() THEN ${RECEIVED_LSN_SQL} END`));
        assert.equal(STATE_SQL.split("\n").length, 8);
    });
});
