// A stand-in `docker` CLI for unit tests of code that drives Docker from TypeScript: put first on
// PATH, it records every call (argv, DOCKER_HOST, what it read on stdin) and answers by the first
// rule whose pattern matches "argv joined by spaces" + "\n" + stdin. A rule with `once` answers
// one call only (then the next matching rule answers); one with `after` only once an earlier call
// matched its pattern. No rule: exit 1, "fake docker: no rule".

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface Rule {
    /** A regular expression (source) over "argv joined by spaces\nstdin". */
    readonly when: string;
    /** Only calls to this DOCKER_HOST. */
    readonly host?: string;
    readonly out?: string;
    readonly err?: string;
    readonly code?: number;
    readonly once?: boolean;
    /** Only once an earlier call matched this pattern (same form as `when`): a state the cluster reaches. */
    readonly after?: string;
}

export interface Call {
    readonly argv: string;
    readonly host: string;
    readonly stdin: string;
}

const FAKE = `#!/usr/bin/env node
const fs = require("node:fs");
const path = require("node:path");
const dir = path.dirname(process.argv[1]);
const argv = process.argv.slice(2).join(" ");
const stdin = process.argv.includes("-i") ? fs.readFileSync(0, "utf8") : "";
const host = process.env.DOCKER_HOST || "";
fs.appendFileSync(path.join(dir, "calls.jsonl"), JSON.stringify({ argv, host, stdin }) + "\\n");
const rules = JSON.parse(fs.readFileSync(path.join(dir, "rules.json"), "utf8"));
const usedFile = path.join(dir, "used.json");
const used = fs.existsSync(usedFile) ? JSON.parse(fs.readFileSync(usedFile, "utf8")) : [];
const earlier = fs.readFileSync(path.join(dir, "calls.jsonl"), "utf8").trim().split("\\n").slice(0, -1).map((l) => JSON.parse(l));
const i = rules.findIndex((r, k) => !(r.once && used.includes(k)) && (!r.host || r.host === host) &&
    (!r.after || earlier.some((c) => new RegExp(r.after).test(c.argv + "\\n" + c.stdin))) &&
    new RegExp(r.when).test(argv + "\\n" + stdin));
if (i < 0) { process.stderr.write("fake docker: no rule for: " + argv + "\\n"); process.exit(1); }
const r = rules[i];
if (r.once) { used.push(i); fs.writeFileSync(usedFile, JSON.stringify(used)); }
if (r.out) process.stdout.write(r.out);
if (r.err) process.stderr.write(r.err);
process.exit(r.code || 0);
`;

export class FakeDocker {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-fake-docker-"));
    readonly env: NodeJS.ProcessEnv;

    constructor(rules: readonly Rule[]) {
        fs.writeFileSync(path.join(this.dir, "docker"), FAKE, { mode: 0o755 });
        fs.writeFileSync(path.join(this.dir, "rules.json"), JSON.stringify(rules));
        this.env = { PATH: `${this.dir}:${path.dirname(process.execPath)}:/usr/bin:/bin` };
    }

    calls(): Call[] {
        const f = path.join(this.dir, "calls.jsonl");
        return fs.existsSync(f) ? fs.readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Call) : [];
    }

    /** Index of the first call matching the pattern (over "argv\nstdin"), -1 when none. */
    index(pattern: RegExp): number {
        return this.calls().findIndex((c) => pattern.test(`${c.argv}\n${c.stdin}`));
    }

    cleanup(): void {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}
