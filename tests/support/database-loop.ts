// A script's loop over the databases, cut out of the script as it is and run by a shell with a
// stand-in for its `sql` (psql in the server) that records each call's arguments: its databases are
// one with a blank in its name and one named *, so that a name split or globbed shows, and ones libpq
// would read as a connection string if passed bare, so that such a name passed so shows
// (libpqDatabase). Used by the tests of backup-restore.sh and restore.sh.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fragment, inContainer } from "../../components/fragments";

/** What the stand-in `sql` lists for SELECT datname. */
export const DATABASES = ["app", "my app", "*", "a=b", "dbname=postgres", "postgresql://x", "postgres://y", "it's", "back\\slash",
    "postgres", "template1"];

/**
 * The database libpq connects to when psql is given ARG as its dbname (-d), as fe-connect.c reads it:
 * ARG itself, unless it holds "=" or starts with postgresql:// or postgres:// (recognized_connection_string);
 * then ARG is a connection string, and here only one of keyword=value pairs naming dbname alone is a
 * database (conninfo_parse: a value bare or in single quotes, a backslash taking the next character as
 * it is). Anything else a connection string may be throws, saying what libpq would do instead.
 */
export function libpqDatabase(arg: string): string {
    if (/^postgres(ql)?:\/\//.test(arg)) {
        throw new Error(`libpq reads ${JSON.stringify(arg)} as a connection URI, not as a database's name`);
    }
    if (!arg.includes("=")) {
        return arg;
    }
    const settings = new Map<string, string>();
    let i = 0;
    const space = () => { while (i < arg.length && /\s/.test(arg[i])) i++; };
    for (space(); i < arg.length; space()) {
        const start = i;
        while (i < arg.length && arg[i] !== "=" && !/\s/.test(arg[i])) i++;
        const key = arg.slice(start, i);
        space();
        if (arg[i] !== "=") {
            throw new Error(`libpq refuses ${JSON.stringify(arg)}: missing "=" after "${key}" in connection info string`);
        }
        i++;
        space();
        let value = "";
        const quoted = arg[i] === "'";
        if (quoted) i++;
        for (;;) {
            if (i >= arg.length) {
                if (quoted) throw new Error(`libpq refuses ${JSON.stringify(arg)}: unterminated quoted string in connection info string`);
                break;
            }
            if (!quoted && /\s/.test(arg[i])) break;
            if (quoted && arg[i] === "'") { i++; break; }
            if (arg[i] === "\\" && i + 1 < arg.length) i++;
            value += arg[i++];
        }
        settings.set(key, value);
    }
    if ([...settings.keys()].join(" ") !== "dbname") {
        throw new Error(`libpq reads ${JSON.stringify(arg)} as the connection settings ${[...settings.keys()].join(", ")}, not as a database's name`);
    }
    return settings.get("dbname")!;
}

/**
 * FILE's text (an in-container fragment) from START up to END, run by SHELL with `set -eu`, after the
 * shared functions the fragment is sent with (fragments.ts inContainer), in a directory holding a file
 * (a name taken for a glob becomes that file's name). CASES are more branches of the stand-in's
 * `case "$*"`; FAIL_IN in their environment names the database where one is to fail. Each call's
 * arguments, in order.
 */
export function runDatabaseLoop(o: { shell: string; file: string; start: string; end: string; cases: string; env?: Record<string, string> }):
    { status: number | null; stdout: string; stderr: string; calls: string[][] } {
    const text = inContainer(o.file);
    const shared = text.slice(0, text.indexOf(fragment(o.file)));
    const from = text.indexOf(o.start);
    if (from < 0) {
        throw new Error(`the loop is not where the test looks for it: no ${JSON.stringify(o.start)}`);
    }
    const loop = text.slice(from, text.indexOf(o.end, from));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-databases-"));
    try {
        const prelude = `set -eu
sql() {
    printf '%s|' "$@" >> "$FAKE/calls"; echo >> "$FAKE/calls"
    case "$*" in
        *"SELECT datname"*) printf '%s\\n' ${DATABASES.map((d) => `'${d.replace(/'/g, "'\\''")}'`).join(" ")} ;;
${o.cases}
    esac
}
`;
        const r = spawnSync(o.shell, ["-c", shared + prelude + loop], { cwd: dir, encoding: "utf8", env: { PATH: process.env.PATH, FAKE: dir, ...o.env } });
        const calls = fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n").map((l) => l.split("|").slice(0, -1));
        return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
