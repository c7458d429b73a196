// A script's loop over the databases, cut out of the script as it is and run by a shell with a
// stand-in for its `sql` (psql in the server) that records each call's arguments: its databases are
// one with a blank in its name and one named *, so that a name split or globbed shows. Used by the
// tests of backup-restore.sh and restore.sh.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** What the stand-in `sql` lists for SELECT datname. */
export const DATABASES = ["app", "my app", "*", "postgres", "template1"];

/**
 * TEXT from START up to END, run by SHELL with `set -eu` in a directory holding a file (a name taken
 * for a glob becomes that file's name). CASES are more branches of the stand-in's `case "$*"`;
 * FAIL_IN in their environment names the database where one is to fail. Each call's arguments, in order.
 */
export function runDatabaseLoop(o: { shell: string; text: string; start: string; end: string; cases: string; env?: Record<string, string> }):
    { status: number | null; stdout: string; stderr: string; calls: string[][] } {
    const from = o.text.indexOf(o.start);
    if (from < 0) {
        throw new Error(`the loop is not where the test looks for it: no ${JSON.stringify(o.start)}`);
    }
    const loop = o.text.slice(from, o.text.indexOf(o.end, from));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-databases-"));
    try {
        const prelude = `set -eu
sql() {
    printf '%s|' "$@" >> "$FAKE/calls"; echo >> "$FAKE/calls"
    case "$*" in
        *"SELECT datname"*) printf '%s\\n' ${DATABASES.map((d) => `'${d}'`).join(" ")} ;;
${o.cases}
    esac
}
`;
        const r = spawnSync(o.shell, ["-c", prelude + loop], { cwd: dir, encoding: "utf8", env: { PATH: process.env.PATH, FAKE: dir, ...o.env } });
        const calls = fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n").map((l) => l.split("|").slice(0, -1));
        return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
