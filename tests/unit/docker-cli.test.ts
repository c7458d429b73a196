// The program's docker runner (components/docker-cli.ts) against a stand-in `docker` that refuses
// as an older engine does when the CLI did not get to negotiate (docker/cli's 2 s init ping), and
// observe() never taking an answer it cannot read for a primary's.

import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { validateConfig } from "../../components/config";
import { dockerCli, engineApiVersion } from "../../components/docker-cli";
import { fragment } from "../../components/fragments";
import { observe } from "../../components/topology";

// Refuses like dockerd 20.10 unless DOCKER_API_VERSION is given; answers `exec` with $FAKE_DIR/exec.
const FAKE_DOCKER = `#!/bin/sh
echo "DOCKER_HOST=$DOCKER_HOST DOCKER_API_VERSION=\${DOCKER_API_VERSION:-} $*" >> "$FAKE_DIR/calls"
if [ -f "$FAKE_DIR/old-engine" ] && [ -z "\${DOCKER_API_VERSION:-}" ]; then
  echo "Error response from daemon: client version 1.50 is too new. Maximum supported API version is 1.41" >&2; exit 1
fi
case "$1" in
  exec) cat "$FAKE_DIR/exec" 2>/dev/null ;;
  inspect) echo "running|pg-replication-obs-net,|unless-stopped" ;;
  version) echo 20.10.24 ;;
  *) cat ;;
esac
`;

let dir: string;
const env = () => ({ PATH: `${dir}:/usr/bin:/bin`, FAKE_DIR: dir });
const calls = () => fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n");

beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-docker-cli-"));
    fs.writeFileSync(path.join(dir, "docker"), FAKE_DOCKER, { mode: 0o755 });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("the docker runner", () => {
    test("an engine's refusal names the API version it takes", () => {
        assert.equal(engineApiVersion("Error response from daemon: client version 1.50 is too new. Maximum supported API version is 1.41\n"), "1.41");
        assert.equal(engineApiVersion("Error response from daemon: No such container: x"), undefined);
    });

    test("a CLI that did not negotiate is asked again at the engine's version, which is kept for the next calls", async () => {
        fs.writeFileSync(path.join(dir, "old-engine"), "");
        const host = "ssh://root@10.0.0.1";
        const first = await dockerCli(["version"], host, { env: env() });
        assert.equal(first.err, null, first.stderr);
        assert.equal(first.stdout.trim(), "20.10.24");
        const second = await dockerCli(["ps"], host, { env: env(), input: "" });
        assert.equal(second.err, null);
        assert.deepEqual(calls(), [
            `DOCKER_HOST=${host} DOCKER_API_VERSION= version`,
            `DOCKER_HOST=${host} DOCKER_API_VERSION=1.41 version`,
            `DOCKER_HOST=${host} DOCKER_API_VERSION=1.41 ps`,
        ]);
    });

    test("standard input reaches the second ask too", async () => {
        fs.writeFileSync(path.join(dir, "old-engine"), "");
        const r = await dockerCli(["cp-like"], "ssh://root@10.0.0.2", { env: env(), input: "SELECT 1;\n" });
        assert.equal(r.stdout, "SELECT 1;\n");
    });

    test("any other failure is returned as it is, asked once", async () => {
        fs.writeFileSync(path.join(dir, "docker"), "#!/bin/sh\necho \"$*\" >> \"$FAKE_DIR/calls\"\necho 'Error response from daemon: No such container: pg1' >&2\nexit 1\n",
            { mode: 0o755 });
        const r = await dockerCli(["inspect", "pg1"], "unix:///run/x.sock", { env: env() });
        assert.ok(r.err);
        assert.match(r.stderr, /No such container/);
        assert.equal(calls().length, 1);
    });
});

describe("lib.sh's docker: the same, for the stack's commands", () => {
    // Each call also looks for the input in the temporary directory: a copy of a password on disk, however brief.
    const SCANNING = `#!/bin/sh
grep -rl "s3cret-line" "$TMPDIR" >> "$FAKE_DIR/copies" 2>/dev/null || true
${FAKE_DOCKER.split("\n").slice(1).join("\n")}`;

    test("standard input reaches the second ask whole, trailing newlines kept, and never touches a file", () => {
        fs.writeFileSync(path.join(dir, "docker"), SCANNING, { mode: 0o755 });
        fs.writeFileSync(path.join(dir, "old-engine"), "");
        const tmp = fs.mkdtempSync(path.join(dir, "tmp-"));
        const input = "ALTER ROLE postgres PASSWORD 's3cret-line';\n\n";
        const r = spawnSync("/bin/sh", ["-c", `${fragment("lib.sh")}\ndocker run -i pg1 psql`], { input, encoding: "utf8",
            env: { ...env(), TMPDIR: tmp } });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, input, "the second ask read it all");
        assert.deepEqual(calls().map((c) => c.split(" ").slice(1, 2)[0]), ["DOCKER_API_VERSION=", "DOCKER_API_VERSION=1.41"]);
        assert.equal(fs.existsSync(path.join(dir, "copies")) ? fs.readFileSync(path.join(dir, "copies"), "utf8") : "", "", "no copy of the input on disk");
        const none = spawnSync("/bin/sh", ["-c", `${fragment("lib.sh")}\ndocker ps`], { input: "not read", encoding: "utf8", env: { ...env(), TMPDIR: tmp } });
        assert.equal(none.stdout, "", "without -i the call reads nothing");
    });
});

describe("observe: an answer it cannot read is never a primary's", () => {
    const cfg = () => validateConfig({ nodes: JSON.stringify([{ name: "pg1", address: "172.18.0.101", port: 58441 }]) },
        { project: "pg-replication", stack: "obs" });

    test("an empty answer from `docker exec` leaves the node unreachable, with what came back", async () => {
        fs.writeFileSync(path.join(dir, "exec"), "");
        const [state] = await observe(cfg(), { env: env(), timeoutMs: 2000 });
        assert.equal(state.inRecovery, undefined);
        assert.equal(state.unreachable, 'its answer could not be read: ""');
    });

    test("a whole answer is read as before", async () => {
        fs.writeFileSync(path.join(dir, "exec"), "t|0/3000148|f|1|streaming 172.28.44.102|0/3000148|172.28.44.102\n");
        const [state] = await observe(cfg(), { env: env(), timeoutMs: 2000 });
        assert.equal(state.unreachable, undefined);
        assert.equal(state.inRecovery, true);
        assert.equal(state.lsn, "0/3000148");
    });
});

describe("the scripts' docker (components/scripts/lib.sh), the same rule in shell", () => {
    const lib = fs.readFileSync(path.join(__dirname, "..", "..", "components", "scripts", "lib.sh"), "utf8");
    const sh = (body: string, input = "") => require("node:child_process").spawnSync("/bin/sh", ["-c", `${lib}\n${body}`],
        { env: { ...env(), DOCKER_HOST: "ssh://root@10.0.0.3" }, input, encoding: "utf8" });

    test("refused for its API version: asked again at the engine's, standard input kept for it", () => {
        fs.writeFileSync(path.join(dir, "old-engine"), "");
        fs.writeFileSync(path.join(dir, "exec"), "2\n");
        const r = sh("docker exec -i -u postgres pg1 psql", "SELECT 2;\n");
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "2\n");
        assert.deepEqual(calls(), ["DOCKER_HOST=ssh://root@10.0.0.3 DOCKER_API_VERSION= exec -i -u postgres pg1 psql",
            "DOCKER_HOST=ssh://root@10.0.0.3 DOCKER_API_VERSION=1.41 exec -i -u postgres pg1 psql"]);
        const cat = sh("docker run -i x", "kept\n");
        assert.equal(cat.stdout, "kept\n");
    });

    test("another failure: its exit status and its message, asked once", () => {
        fs.writeFileSync(path.join(dir, "docker"), "#!/bin/sh\necho \"$*\" >> \"$FAKE_DIR/calls\"\necho 'No such container: pg1' >&2\nexit 3\n", { mode: 0o755 });
        const r = sh("docker inspect pg1 || echo \"rc=$?\"");
        assert.equal(r.stdout, "rc=3\n");
        assert.match(r.stderr, /No such container: pg1/);
        assert.equal(calls().length, 1);
    });
});
