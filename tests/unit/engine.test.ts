// Each way the Docker engine is resolved, on a temporary HOME / DOCKER_CONFIG holding real
// context files in the docker CLI's layout.

import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { EngineProblems, resolveEngine } from "../../components/engine";

let home: string;

/** Writes a context as `docker context create NAME --docker host=HOST` would. */
function context(configDir: string, name: string, host: string, tls = false): void {
    const id = createHash("sha256").update(name).digest("hex");
    const dir = path.join(configDir, "contexts", "meta", id);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "meta.json"),
        JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: false } } }));
    if (tls) {
        fs.mkdirSync(path.join(configDir, "contexts", "tls", id, "docker"), { recursive: true });
    }
}

function current(configDir: string, name: string): void {
    fs.mkdirSync(configDir, { recursive: true });
    fs.writeFileSync(path.join(configDir, "config.json"), JSON.stringify({ auths: {}, currentContext: name }));
}

function problemsOf(fn: () => unknown): readonly string[] {
    try {
        fn();
    } catch (err) {
        assert.ok(err instanceof EngineProblems, String(err));
        return err.problems;
    }
    assert.fail("the engine was resolved");
}

describe("Docker engine resolution", () => {
    beforeEach(() => {
        home = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-engine-"));
    });
    afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

    test("nothing set: the default socket", () => {
        assert.deepEqual(resolveEngine({ env: {}, homeDir: home }),
            { host: "unix:///var/run/docker.sock", source: "default socket", local: true, remoteHost: undefined });
    });

    test("docker:host wins over DOCKER_HOST and the current context", () => {
        current(path.join(home, ".docker"), "colima");
        context(path.join(home, ".docker"), "colima", "unix:///home/u/.colima/docker.sock");
        const e = resolveEngine({ configHost: "tcp://10.1.2.3:2376", env: { DOCKER_HOST: "unix:///x.sock" }, homeDir: home });
        assert.equal(e.host, "tcp://10.1.2.3:2376");
        assert.equal(e.source, "docker:host");
        assert.equal(e.local, false);
        assert.equal(e.remoteHost, "10.1.2.3");
    });

    test("DOCKER_HOST wins over the current context", () => {
        current(path.join(home, ".docker"), "colima");
        context(path.join(home, ".docker"), "colima", "unix:///home/u/.colima/docker.sock");
        const e = resolveEngine({ env: { DOCKER_HOST: "ssh://deploy@db-host.example" }, homeDir: home });
        assert.deepEqual([e.host, e.source, e.local, e.remoteHost], ["ssh://deploy@db-host.example", "DOCKER_HOST", false, "db-host.example"]);
    });

    test("DOCKER_CONTEXT names a context under ~/.docker", () => {
        context(path.join(home, ".docker"), "desktop-linux", "unix:///home/u/.docker/desktop/docker.sock");
        current(path.join(home, ".docker"), "other");
        const e = resolveEngine({ env: { DOCKER_CONTEXT: "desktop-linux" }, homeDir: home });
        assert.deepEqual([e.host, e.source, e.local], ["unix:///home/u/.docker/desktop/docker.sock", 'DOCKER_CONTEXT "desktop-linux"', true]);
    });

    test("the CLI's current context from $DOCKER_CONFIG/config.json", () => {
        const cfgDir = path.join(home, "elsewhere");
        current(cfgDir, "remote");
        context(cfgDir, "remote", "tcp://build-box:2375");
        const e = resolveEngine({ env: { DOCKER_CONFIG: cfgDir }, homeDir: home });
        assert.deepEqual([e.host, e.source, e.local, e.remoteHost], ["tcp://build-box:2375", 'current context "remote"', false, "build-box"]);
    });

    test("the current context from ~/.docker/config.json; \"default\" is the default socket", () => {
        current(path.join(home, ".docker"), "rootless");
        context(path.join(home, ".docker"), "rootless", "unix:///run/user/1000/docker.sock");
        assert.equal(resolveEngine({ env: {}, homeDir: home }).host, "unix:///run/user/1000/docker.sock");
        current(path.join(home, ".docker"), "default");
        assert.equal(resolveEngine({ env: {}, homeDir: home }).host, "unix:///var/run/docker.sock");
    });

    test("a tcp engine on loopback is this machine", () => {
        const e = resolveEngine({ env: { DOCKER_HOST: "tcp://127.0.0.1:2375" }, homeDir: home });
        assert.deepEqual([e.local, e.remoteHost], [true, undefined]);
    });

    test("DOCKER_CONTEXT together with a host would split the CLI from the provider", () => {
        context(path.join(home, ".docker"), "colima", "unix:///c.sock");
        assert.deepEqual(problemsOf(() => resolveEngine({ env: { DOCKER_CONTEXT: "colima", DOCKER_HOST: "unix:///d.sock" }, homeDir: home })), [
            "DOCKER_CONTEXT=colima and DOCKER_HOST=unix:///d.sock are both set: the docker CLI would use unix:///d.sock " +
            "and the docker provider the context; unset one of them",
        ]);
    });

    test("DOCKER_CONTEXT=default, a missing context, a TLS context, a context outside ~/.docker", () => {
        assert.match(problemsOf(() => resolveEngine({ env: { DOCKER_CONTEXT: "default" }, homeDir: home }))[0],
            /^DOCKER_CONTEXT=default cannot be loaded by the docker provider/);
        assert.match(problemsOf(() => resolveEngine({ env: { DOCKER_CONTEXT: "nope" }, homeDir: home }))[0],
            /^the Docker context "nope" \(DOCKER_CONTEXT\) cannot be read from .*contexts\/meta\/[0-9a-f]{64}\/meta\.json/);
        context(path.join(home, ".docker"), "secure", "tcp://10.0.0.9:2376", true);
        assert.match(problemsOf(() => resolveEngine({ env: { DOCKER_CONTEXT: "secure" }, homeDir: home }))[0],
            /^the Docker context "secure" \(DOCKER_CONTEXT\) uses TLS material/);
        assert.match(problemsOf(() => resolveEngine({ env: { DOCKER_CONTEXT: "x", DOCKER_CONFIG: "/elsewhere" }, homeDir: home }))[0],
            /^DOCKER_CONTEXT=x with DOCKER_CONFIG=\/elsewhere: the docker provider looks for contexts only in /);
    });
});
