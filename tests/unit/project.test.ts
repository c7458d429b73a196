// The project folder and the stack workspace the status tool, the drill and the benchmark share
// (components/project.ts): Pulumi.yaml found from below, a clear failure without one, and the
// backend and CLI chosen as scripts/deploy.sh chooses them (a fake pulumi CLI, no backend asked).

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { openWorkspace, projectRoot, PulumiCliMissing } from "../../components/project";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-project-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("projectRoot", () => {
    test("walks up from a nested folder to the nearest Pulumi.yaml", () => {
        const project = path.join(tmp, "found");
        const nested = path.join(project, "a", "b", "c");
        fs.mkdirSync(nested, { recursive: true });
        fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: x\nruntime: nodejs\n");
        assert.equal(projectRoot(nested), project);
        assert.equal(projectRoot(project), project);
        // A nearer one wins (bench/empty-project is a project of its own inside this one).
        fs.writeFileSync(path.join(project, "a", "Pulumi.yaml"), "name: y\nruntime: nodejs\n");
        assert.equal(projectRoot(nested), path.join(project, "a"));
    });

    test("by default, this repository's root, whether run from the sources or from bin/", () => {
        const root = projectRoot();
        assert.ok(fs.existsSync(path.join(root, "Pulumi.yaml")));
        assert.ok(fs.existsSync(path.join(root, "components", "project.ts")), root);
    });

    test("no Pulumi.yaml anywhere above: says so, naming where it looked from", () => {
        const lonely = path.join(tmp, "lonely", "deep");
        fs.mkdirSync(lonely, { recursive: true });
        assert.ok(!fs.existsSync(path.join(path.parse(tmp).root, "Pulumi.yaml")), "a Pulumi.yaml at / spoils this test");
        assert.throws(() => projectRoot(lonely),
            { message: `no Pulumi.yaml in ${lonely} or any folder above it: not inside a Pulumi project` });
    });
});

describe("openWorkspace", () => {
    const project = path.join(tmp, "ws");
    fs.mkdirSync(project, { recursive: true });
    fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: ws\nruntime: nodejs\n");

    /** A cache holding a built "pulumi" that logs its arguments, prints a version and fails `whoami` (not logged in). */
    function fakeCache(name: string): { cache: string; log: string } {
        const cache = path.join(tmp, name);
        const bin = path.join(cache, "pulumi", "v3.276.0", "bin");
        fs.mkdirSync(bin, { recursive: true });
        const log = path.join(cache, "calls.log");
        fs.writeFileSync(path.join(bin, "pulumi"), `#!/bin/sh\necho "$*" >> '${log}'\n` +
            `case "$1" in version) echo v3.276.0 ;; whoami) echo "error: not logged in" >&2; exit 1 ;; esac\n`, { mode: 0o755 });
        return { cache, log };
    }

    test("no CLI on PATH nor in the cache: PulumiCliMissing, saying what to do", async () => {
        const cache = path.join(tmp, "empty-cache");
        await assert.rejects(openWorkspace({ workDir: project, env: { PATH: "", PG_REPLICATION_CACHE: cache } }),
            (e: Error) => e instanceof PulumiCliMissing && e.message === "no pulumi CLI: none on PATH and none built by " +
                `scripts/pulumi-toolchain.sh in ${path.join(cache, "pulumi")}; run scripts/deploy.sh once, or install Pulumi`);
    });

    test("not logged in and no PULUMI_BACKEND_URL: the cache's CLI, on the project's own file backend", async () => {
        const { cache, log } = fakeCache("cache-a");
        const state = path.join(tmp, "state-a");
        const ws = await openWorkspace({ workDir: project, env: { PATH: "", PG_REPLICATION_CACHE: cache, PG_REPLICATION_STATE: state },
            envVars: { EXTRA: "1" } });
        assert.equal(ws.envVars.PULUMI_BACKEND_URL, `file://${state}`);
        assert.equal(ws.envVars.PULUMI_SKIP_UPDATE_CHECK, "true");
        assert.equal(ws.envVars.EXTRA, "1");
        assert.equal(ws.workDir, project);
        assert.match(fs.readFileSync(log, "utf8"), /^whoami/m);
    });

    test("PULUMI_BACKEND_URL set: taken as it is, no whoami", async () => {
        const { cache, log } = fakeCache("cache-b");
        const ws = await openWorkspace({ workDir: project,
            env: { PATH: "", PG_REPLICATION_CACHE: cache, PULUMI_BACKEND_URL: "file:///elsewhere" } });
        assert.equal(ws.envVars.PULUMI_BACKEND_URL, undefined);
        assert.doesNotMatch(fs.readFileSync(log, "utf8"), /whoami/);
    });
});
