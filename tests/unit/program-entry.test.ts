// The compiled copy of the program (scripts/program-cache.js) that pulumi-entry.js and the topology
// step run: one copy per version of the sources, never a copy of other sources, and the step's
// code digest the same whether the program runs from the copy or through ts-node.

import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { projectRoot } from "../../components/project";

const ROOT = projectRoot();
// eslint-disable-next-line @typescript-eslint/no-require-imports
const cache: { compiledEntry(root: string, cache?: string): string; programFiles(root: string): string[] } =
    require(path.join(ROOT, "scripts", "program-cache.js"));

describe("the program's compiled copy", () => {
    let work: string;
    before(() => { work = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-program-")); });
    after(() => fs.rmSync(work, { recursive: true, force: true }));

    test("every module of the program is transpiled beside its source and the scripts it reads", () => {
        const entry = cache.compiledEntry(ROOT, path.join(work, "cache"));
        const dir = path.dirname(entry);
        assert.equal(path.basename(entry), "index.js");
        for (const f of cache.programFiles(ROOT)) {
            assert.equal(fs.readFileSync(path.join(dir, f), "utf8"), fs.readFileSync(path.join(ROOT, f), "utf8"), `${f} copied as it is`);
            if (f.endsWith(".ts")) {
                assert.ok(fs.existsSync(path.join(dir, f.replace(/\.ts$/, ".js"))), `${f} transpiled`);
            }
        }
        assert.ok(cache.programFiles(ROOT).includes(path.join("components", "scripts", "node-seed.sh")));
        assert.equal(cache.compiledEntry(ROOT, path.join(work, "cache")), entry, "the same sources: the same copy, not made again");
    });

    test("the topology step's code digest is the same from the copy as through ts-node (no diff when the way the program runs changes)", () => {
        const entry = cache.compiledEntry(ROOT, path.join(work, "cache"));
        const fromCopy = execFileSync(process.execPath, ["-e",
            `process.stdout.write(require(${JSON.stringify(path.join(path.dirname(entry), "components", "topology", "contract.js"))}).codeDigest())`],
        { cwd: ROOT, encoding: "utf8" });
        const throughTsNode = execFileSync(process.execPath, ["--require", "ts-node/register/transpile-only", "-e",
            "process.stdout.write(require('./components/topology/contract').codeDigest())"], { cwd: ROOT, encoding: "utf8" });
        assert.match(fromCopy, /^[0-9a-f]{16}$/);
        assert.equal(fromCopy, throughTsNode);
    });

    test("an edited source makes a new copy with the edit; the earlier copy is never run for it", () => {
        const project = path.join(work, "project");
        for (const f of ["index.ts", "tsconfig.json", path.join("scripts", "program-cache.js"), "components"]) {
            fs.cpSync(path.join(ROOT, f), path.join(project, f), { recursive: true });
        }
        fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(project, "node_modules"));
        const copies = path.join(work, "edited-cache");
        const before = cache.compiledEntry(project, copies);
        fs.appendFileSync(path.join(project, "components", "spec.ts"), "\nexport const EDITED_FOR_THE_TEST = 1;\n");
        const afterEdit = cache.compiledEntry(project, copies);
        assert.notEqual(afterEdit, before);
        assert.match(fs.readFileSync(path.join(path.dirname(afterEdit), "components", "spec.js"), "utf8"), /EDITED_FOR_THE_TEST = 1/);
        assert.doesNotMatch(fs.readFileSync(path.join(path.dirname(before), "components", "spec.js"), "utf8"), /EDITED_FOR_THE_TEST/);
        // A script the program reads is part of it too.
        fs.appendFileSync(path.join(project, "components", "scripts", "node-seed.sh"), "\n# edited\n");
        assert.notEqual(cache.compiledEntry(project, copies), afterEdit);
    });

    test("a staging folder left by a killed run is neither taken nor in the way", () => {
        const copies = path.join(work, "killed-cache");
        const entry = cache.compiledEntry(ROOT, copies);
        const dir = path.dirname(entry);
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(`${dir}.999999.staging`, { recursive: true });
        fs.writeFileSync(path.join(`${dir}.999999.staging`, "half"), "");
        assert.equal(cache.compiledEntry(ROOT, copies), entry);
        assert.ok(fs.existsSync(entry));
        assert.ok(!fs.existsSync(path.join(dir, "half")));
    });

    test("a source that does not transpile fails the run naming the file", () => {
        const project = path.join(work, "broken");
        for (const f of ["index.ts", "tsconfig.json", path.join("scripts", "program-cache.js"), "components"]) {
            fs.cpSync(path.join(ROOT, f), path.join(project, f), { recursive: true });
        }
        fs.appendFileSync(path.join(project, "components", "spec.ts"), "\nexport const = ;\n");
        assert.throws(() => cache.compiledEntry(project, path.join(work, "broken-cache")), /components\/spec\.ts: /);
        assert.deepEqual(fs.readdirSync(path.join(work, "broken-cache")), [], "nothing left behind");
    });
});
