// What every preview and up says of the primary's archive (components/archive.ts archiveTroubleNote):
// each node asked ARCHIVER_SQL through `docker exec` (a stand-in docker CLI answers as psql would),
// a warning when the primary's archiver fails or has stalled, nothing when it keeps up or no node
// answers. Status's words for the same rows are in status.test.ts.

import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import { archiveTroubleNote } from "../../components/archive";
import { DEFAULTS } from "../../components/config";

const STALL = DEFAULTS.archiveStallSeconds;
import { FakeDocker } from "./fake-docker";

const NODES = [{ name: "pg1", container: "p-pg1", engine: "unix:///fake.sock" }, { name: "pg2", container: "p-pg2", engine: "unix:///fake.sock" }];
const iso = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000).toISOString();

/** The note when pg1 answers ROW (psql's unaligned fields) and pg2, a standby, answers nothing. */
async function note(row: string, stallSeconds = STALL): Promise<string | undefined> {
    const fake = new FakeDocker([{ when: "^exec -u postgres p-pg1 psql", out: `${row}\n` }, { when: "^exec -u postgres p-pg2 psql", out: "" }]);
    const path = process.env.PATH;
    process.env.PATH = fake.env.PATH;
    try {
        return await archiveTroubleNote(NODES, "p-backup", stallSeconds);
    } finally {
        process.env.PATH = path;
        fake.cleanup();
    }
}

describe("preview's word on the primary's archive", () => {
    test("keeping up (a segment complete a moment ago on its way): nothing; the same row long waiting is said (the answer was read)", async () => {
        assert.equal(await note(`on|000000010000000000000007|${iso(5)}|||0|1|${iso(3)}`), undefined);
        assert.equal(await note(`on|000000010000000000000007|${iso(5)}|||0|0|`), undefined);
        assert.match(await note(`on|000000010000000000000007|${iso(500)}|||0|1|${iso(300)}`) ?? "",
            /^pg1 archives nothing: the one segment waiting in pg_wal has waited 30\ds/);
    });

    test("the last attempt failed after the last success: pg1 cannot archive WAL, with the repository to look at", async () => {
        const said = await note(`on|000000010000000000000007|${iso(300)}|000000010000000000000008|${iso(10)}|4|3|${iso(200)}`);
        assert.match(said ?? "", /^pg1 cannot archive WAL: its last attempt \(segment 000000010000000000000008, .*\) failed, nothing archived since .*; 3 segments wait in pg_wal/);
        assert.match(said ?? "", /; the repository p-backup is full, unwritable or gone: see docker -H unix:\/\/\/fake.sock logs p-pg1;/);
    });

    test(`no attempt failed but a segment waits longer than ${STALL} s (the default): pg1 archives nothing (archive_command not ending)`, async () => {
        const said = await note(`on|000000010000000000000007|${iso(400)}|||0|3|${iso(STALL + 30)}`);
        assert.match(said ?? "", /^pg1 archives nothing: the oldest of the 3 segments waiting in pg_wal has waited 15\ds \(complete at .*\), nothing archived since .*, and no attempt has failed: archive_command is running and not ending/);
        assert.match(said ?? "", /; the repository p-backup is full, unwritable or gone: see docker -H unix:\/\/\/fake.sock logs p-pg1;/);
    });

    test("the bound is pg-replication:archiveStallSeconds: a wait of 60 s is a stall past a bound of 45, not of the default", async () => {
        const row = `on|000000010000000000000007|${iso(400)}|||0|2|${iso(60)}`;
        assert.equal(await note(row), undefined);
        assert.match(await note(row, 45) ?? "", /^pg1 archives nothing: the oldest of the 2 segments waiting in pg_wal has waited 6\ds/);
    });
});
