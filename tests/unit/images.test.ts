// scripts/build-images.sh --pull-first (what deploy.sh runs) against a stand-in `docker` that
// records every call: a present image is used, offline nothing is pulled, otherwise a bounded
// pull comes first and a build only when it fails; the tools image is built FROM it, and again
// only when images/tools changed. No real pull or build happens here.

import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";

const SCRIPT = path.join(__dirname, "../../../scripts/build-images.sh");

// `image inspect` succeeds for the names listed in $FAKE_DIR/present; with -f (the tools image's
// digest label) it prints $FAKE_DIR/digest; `pull` exits with the code in $FAKE_DIR/pull (default 1).
const FAKE_DOCKER = `#!/bin/sh
echo "$*" >> "$FAKE_DIR/calls"
case "$1 $2 $3" in
  "image inspect -f") cat "$FAKE_DIR/digest" 2>/dev/null ;;
  "image inspect "*) grep -qx "$3" "$FAKE_DIR/present" 2>/dev/null ;;
  pull*) exit "$(cat "$FAKE_DIR/pull" 2>/dev/null || echo 1)" ;;
  *) exit 0 ;;
esac
`;

/** The tools image's digest as build-images.sh computes it (of images/tools). */
function toolsDigest(): string {
    const r = spawnSync("sh", ["-c", "find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16"],
        { cwd: path.join(__dirname, "../../../images/tools"), encoding: "utf8" });
    return r.stdout.trim();
}

function deployImages(env: Record<string, string>, present: string[], pullExit?: number, digest?: string,
    full = false, tools = digest !== undefined): string[] {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-images-"));
    try {
        fs.writeFileSync(path.join(dir, "docker"), FAKE_DOCKER, { mode: 0o755 });
        if (digest !== undefined) {
            fs.writeFileSync(path.join(dir, "digest"), `${digest}\n`);
        }
        fs.writeFileSync(path.join(dir, "present"), present.map((p) => `${p}\n`).join(""));
        if (pullExit !== undefined) {
            fs.writeFileSync(path.join(dir, "pull"), String(pullExit));
        }
        const res = spawnSync("bash", [SCRIPT, "--pull-first", ...(tools ? ["--tools"] : []), "13"], {
            env: { PATH: `${dir}:/usr/bin:/bin`, FAKE_DIR: dir, ...env }, encoding: "utf8", timeout: 30_000,
        });
        assert.equal(res.status, 0, res.stderr + res.stdout);
        const calls = path.join(dir, "calls");
        const lines = fs.existsSync(calls) ? fs.readFileSync(calls, "utf8").trim().split("\n") : [];
        return full ? lines : lines.map((c) => c.split(" ").slice(0, 2).join(" "));
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

// The debootstrapped base is "present", so a build goes straight to `docker build`.
const BASE = "pg-replication/debian:bullseye";

describe("deploy.sh's image: pull where a registry answers, build only where it does not", () => {
    test("a present image is used as is: no pull, no build; without --tools no tools image", () => {
        assert.deepEqual(deployImages({}, ["postgres:13"]), ["image inspect"]);
        assert.deepEqual(deployImages({}, ["postgres:13"], undefined, toolsDigest()), ["image inspect", "image inspect"],
            "with --tools an up-to-date tools image is only inspected");
    });
    test("the tools image is built FROM the PostgreSQL image, labelled with images/tools' digest; rebuilt when that changed", () => {
        const calls = deployImages({}, ["postgres:13"], undefined, "0123456789abcdef", true);
        const build = calls.find((c) => c.startsWith("build "));
        assert.ok(build, calls.join("\n"));
        assert.match(build, /--build-arg BASE=postgres:13 /);
        assert.match(build, new RegExp(`--label org\\.pg-replication\\.context-digest=${toolsDigest()} -t pg-replication/postgres-tools:13 `));
        assert.match(build, /images\/tools$/);
    });
    test("offline (PG_REPLICATION_LOCAL_IMAGES=1): built, never pulled", () => {
        const calls = deployImages({ PG_REPLICATION_LOCAL_IMAGES: "1" }, [BASE], 0);
        assert.ok(!calls.includes("pull postgres:13"), calls.join("\n"));
        assert.ok(calls.includes("build --build-arg"), calls.join("\n"));
    });
    test("with the stand-in plugins (this machine, CI): built, never pulled", () => {
        const calls = deployImages({ PG_REPLICATION_STAND_IN_PLUGINS: "1" }, [BASE], 0);
        assert.ok(!calls.some((c) => c.startsWith("pull")), calls.join("\n"));
    });
    test("a pull that works: the official image, no build", () => {
        assert.deepEqual(deployImages({}, [BASE], 0), ["image inspect", "pull postgres:13"]);
    });
    test("a pull that fails: then the local build", () => {
        const calls = deployImages({ PG_REPLICATION_PULL_TIMEOUT: "5" }, [BASE], 1);
        assert.deepEqual(calls.slice(0, 2), ["image inspect", "pull postgres:13"]);
        assert.ok(calls.includes("build --build-arg"), calls.join("\n"));
    });
});
