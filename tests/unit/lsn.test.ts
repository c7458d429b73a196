// WAL positions (components/lsn.ts): the one parser, formatter, comparison and difference the
// topology check, the status tool and the drill share.

import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import { compareLsn, formatLsn, lsnDiff, parseLsn } from "../../components/lsn";

describe("WAL positions", () => {
    test("X/Y is (X << 32) + Y, in either case of hex", () => {
        assert.equal(parseLsn("0/0"), 0n);
        assert.equal(parseLsn("0/50206F0"), 0x50206F0n);
        assert.equal(parseLsn("16/b374d848"), (0x16n << 32n) + 0xB374D848n);
        assert.equal(parseLsn("FFFFFFFF/FFFFFFFF"), (1n << 64n) - 1n);
    });

    test("text pg_lsn would not take is rejected, naming it", () => {
        for (const bad of ["nope", "", "0/", "/0", "0-0", "0/0/0", " 0/0", "0/0 ", "1FFFFFFFF/0", "0/100000000", "0x1/0", "-1/0"]) {
            assert.throws(() => parseLsn(bad), { message: `not a WAL position: ${JSON.stringify(bad)}` }, bad);
        }
    });

    test("formatted as PostgreSQL prints it, and back", () => {
        assert.equal(formatLsn(0n), "0/0");
        assert.equal(formatLsn(0x50206F0n), "0/50206F0");
        assert.equal(formatLsn((0x16n << 32n) + 0xB374D848n), "16/B374D848");
        assert.equal(formatLsn((1n << 64n) - 1n), "FFFFFFFF/FFFFFFFF");
        for (const text of ["0/1", "1/0", "A/B374D848", "FFFFFFFF/0"]) {
            assert.equal(formatLsn(parseLsn(text)), text);
        }
        assert.throws(() => formatLsn(-1n), /not a WAL position: -1 is outside/);
        assert.throws(() => formatLsn(1n << 64n), /not a WAL position: 18446744073709551616 is outside/);
    });

    test("compared as positions, not as text", () => {
        // As text "10/0" < "9/0" and "0/A0" < "0/B"; as positions both are the other way round.
        assert.equal(compareLsn("10/0", "9/0"), 1);
        assert.equal(compareLsn("0/B", "0/A0"), -1);
        assert.equal(compareLsn("0/a0", "0/A0"), 0);
        assert.equal(compareLsn("FFFFFFFF/FFFFFFFF", "FFFFFFFF/FFFFFFFE"), 1);
        assert.throws(() => compareLsn("0/1", "later"), /not a WAL position: "later"/);
    });

    test("differences in bytes, exact across the 32-bit boundary and beyond a double's precision", () => {
        assert.equal(lsnDiff("1/0", "0/FFFFFFFF"), 1n);
        assert.equal(lsnDiff("0/3000100", "0/3000000"), 256n);
        assert.equal(lsnDiff("0/3000000", "0/3000100"), -256n);
        assert.equal(lsnDiff("FFFFFFFF/FFFFFFFF", "0/0"), (1n << 64n) - 1n);
        // 2^53 + 1 bytes apart: a double would round it away.
        assert.equal(lsnDiff("200000/1", "0/0"), (1n << 53n) + 1n);
    });
});
