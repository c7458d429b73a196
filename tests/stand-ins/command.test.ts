// Proves each row of the command stand-in's RULES table by calling its handlers directly, with a
// real /bin/sh. Each test name starts with the rule ids it proves; the last test checks that
// every row is named by some test.

import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { commandStandIn, goQuote, RULES } from "../../stand-ins/command";
import { isSecret, Props, ProviderContext, secret, StandInError, UNKNOWN } from "../../stand-ins/provider";
import { secretOutputs } from "../../stand-ins/server";

const TYPE = "command:local:Command";
const URN = "urn:pulumi:test::pg-replication::command:local:Command::clone";
const handler = commandStandIn.resources[TYPE];
const testNames: string[] = [];

interface Recorder extends ProviderContext {
    readonly logs: string[];
    readonly engine: { urn: string; severity: string; message: string }[];
}

/** A provider context as the server makes it; pwd: where the engine would have started the plugin. */
function recorder(pwd = os.tmpdir()): Recorder {
    const logs: string[] = [];
    const engine: Recorder["engine"] = [];
    return {
        config: {}, logs, engine, pwd,
        log: (m) => { logs.push(m); },
        engineLog: async (urn, severity, message) => { engine.push({ urn, severity, message }); },
    };
}

/** A test whose name lists the rule ids it proves. */
function rule(name: string, fn: () => Promise<void>) {
    testNames.push(name);
    it(name, fn);
}

const create = (inputs: Props, ctx = recorder(), extra: { preview?: boolean; timeout?: number } = {}) =>
    handler.create(ctx, { urn: URN, type: TYPE, inputs, preview: extra.preview ?? false, timeout: extra.timeout ?? 0 });
const update = (oldOutputs: Props, news: Props, ctx = recorder(), extra: { preview?: boolean; ignoreChanges?: string[] } = {}) =>
    handler.update(ctx, {
        urn: URN, type: TYPE, id: "clone1234abcd", oldInputs: {}, oldOutputs, news,
        preview: extra.preview ?? false, timeout: 0, ignoreChanges: extra.ignoreChanges ?? [],
    });
const diff = (oldInputs: Props, news: Props, oldOutputs: Props = {}, ignoreChanges: string[] = []) =>
    handler.diff(recorder(), { urn: URN, type: TYPE, id: "clone1234abcd", oldInputs, oldOutputs, news, ignoreChanges });

describe("command stand-in", () => {
    let dir: string;
    before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "command-stand-in-")); });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    rule("config.check config.configure: no configuration of substance; other keys are refused", async () => {
        assert.deepEqual(await commandStandIn.checkConfig({}, { version: "1.2.1" }), { inputs: { version: "1.2.1" } });
        await assert.rejects(commandStandIn.checkConfig({}, { foo: "x" }), StandInError);
        const ctx = await commandStandIn.configure({});
        assert.deepEqual(ctx.config, {});
    });

    rule("config.diff: a config change is DiffUnknown with no replaces", async () => {
        assert.deepEqual(await commandStandIn.diffConfig({ a: "1" }, {}, { a: "2" }), { changes: "unknown", replaces: [], diffs: [] });
    });

    rule("check.passthrough: inputs come back as given; create is not required, no defaults", async () => {
        const news = { update: "echo u", environment: { A: "1" }, stdin: "s", triggers: [UNKNOWN] };
        assert.deepEqual(await handler.check(recorder(), { urn: URN, type: TYPE, olds: {}, news }), { inputs: news });
        assert.deepEqual(await handler.check(recorder(), { urn: URN, type: TYPE, olds: {}, news: {} }), { inputs: {} });
    });

    rule("check.types logging.enum: wrong types, unknown properties and logging values are refused", async () => {
        const check = (news: Props) => handler.check(recorder(), { urn: URN, type: TYPE, olds: {}, news });
        await assert.rejects(check({ create: 1 }), /property "create" is not a string/);
        await assert.rejects(check({ environment: { A: 1 } }), /"environment" is not a map of strings/);
        await assert.rejects(check({ interpreter: "/bin/sh" }), /"interpreter" is not a list of strings/);
        await assert.rejects(check({ stdout: "x" }), /Command does not have/);
        await assert.rejects(check({ logging: "all" }), /logging "all" is not one of/);
    });

    rule("diff.old-inputs diff.update: an environment change is an update; outputs never diff", async () => {
        const olds = { create: "c", environment: { A: "1", B: "2" } };
        const result = await diff(olds, { create: "c", environment: { A: "1", B: "3" } }, { ...olds, stdout: "old" });
        assert.deepEqual(result, { changes: "some", replaces: [], diffs: ["environment"], detailedDiff: { "environment.B": "update" } });
        assert.equal((await diff(olds, olds, { ...olds, stdout: "anything", stderr: "else" })).changes, "none");
        const scripts = await diff({ create: "a", delete: "d" }, { create: "b", update: "u" });
        assert.deepEqual(scripts.detailedDiff, { create: "update", delete: "delete", update: "add" });
        assert.deepEqual(scripts.replaces, []);
        assert.deepEqual((await diff({ stdin: "p" }, { stdin: secret("p") })).detailedDiff, { stdin: "update" });
        assert.deepEqual((await diff({ environment: { "A-B": "1" } }, { environment: { "A-B": "2" } })).detailedDiff, { "environment[\"A-B\"]": "update" });
    });

    rule("diff.triggers: adding/removing triggers replaces; an element change is an update from the provider", async () => {
        const added = await diff({ create: "c" }, { create: "c", triggers: ["x"] });
        assert.deepEqual(added, { changes: "some", replaces: ["triggers"], diffs: ["triggers"], detailedDiff: { triggers: "add-replace" } });
        const removed = await diff({ triggers: ["x"] }, {});
        assert.deepEqual(removed.detailedDiff, { triggers: "delete-replace" });
        // The engine replaces this one because the SDK sets replaceOnChanges: ["triggers[*]"].
        const element = await diff({ triggers: ["x", "y"] }, { triggers: ["x", "z", "w"] });
        assert.deepEqual(element, { changes: "some", replaces: [], diffs: ["triggers"], detailedDiff: { "triggers[1]": "update", "triggers[2]": "add" } });
        const unknownElement = await diff({ triggers: ["id1"] }, { triggers: [UNKNOWN] });
        assert.deepEqual(unknownElement.detailedDiff, { "triggers[0]": "update" });
    });

    rule("diff.ignore-changes diff.no-dbr diff.version-stripped: ignored keys take the old state; no deleteBeforeReplace", async () => {
        const result = await diff({ create: "a", stdin: "x" }, { create: "b", stdin: "y", version: "1.2.1", __x: 1 },
            { create: "a", stdin: "x", stdout: "" }, ["stdin"]);
        assert.deepEqual(result.detailedDiff, { create: "update" });
        assert.equal(result.deleteBeforeReplace, undefined);
    });

    rule("create.preview create.id: preview runs nothing, stdout/stderr unknown, id is name + 8 hex", async () => {
        const marker = path.join(dir, "preview-ran");
        const ctx = recorder();
        const { id, outputs } = await create({ create: `touch ${marker}`, environment: { A: UNKNOWN } }, ctx, { preview: true });
        assert.equal(fs.existsSync(marker), false);
        assert.match(id, /^clone[0-9a-f]{8}$/);
        assert.deepEqual(outputs, { create: `touch ${marker}`, environment: { A: UNKNOWN }, stdout: UNKNOWN, stderr: UNKNOWN });
        assert.deepEqual(ctx.engine, []);
        const real = await create({ create: "true" });
        assert.match(real.id, /^clone[0-9a-f]{8}$/);
        assert.notEqual(real.id, id);
    });

    rule("create.no-command: without create nothing runs and stdout/stderr are empty", async () => {
        const { outputs } = await create({ delete: "echo bye" });
        assert.deepEqual(outputs, { delete: "echo bye", stdout: "", stderr: "" });
    });

    rule("run.interpreter run.env run.stdin run.env.inherit: create runs through /bin/sh -c with env + stdin", async () => {
        process.env.PG_REPLICATION_COMMAND_TEST = "from-server";
        process.env.PG_REPLICATION_COMMAND_OVERRIDE = "server";
        try {
            const { outputs } = await create({
                create: "read line; echo \"$0|$line|$FOO|$PG_REPLICATION_COMMAND_TEST|$PG_REPLICATION_COMMAND_OVERRIDE|${PULUMI_COMMAND_STDOUT-unset}\"",
                environment: { FOO: "bar", PG_REPLICATION_COMMAND_OVERRIDE: "input" },
                stdin: "secret-line\n",
                interpreter: [],
            });
            assert.equal(outputs.stdout, "/bin/sh|secret-line|bar|from-server|input|unset");
        } finally {
            delete process.env.PG_REPLICATION_COMMAND_TEST;
            delete process.env.PG_REPLICATION_COMMAND_OVERRIDE;
        }
        const bash = await create({ create: "echo \"$0\"", interpreter: ["/bin/sh", "-c"] });
        assert.equal(bash.outputs.stdout, "/bin/sh");
        // No stdin: the command reads /dev/null and sees EOF at once.
        const noStdin = await create({ create: "cat; echo end" });
        assert.equal(noStdin.outputs.stdout, "end");
        // A command that never reads a non-empty stdin still succeeds (EPIPE is ignored).
        const ignored = await create({ create: "exit 0", stdin: "x".repeat(1 << 20) });
        assert.equal(ignored.outputs.stdout, "");
    });

    rule("run.shell: a plain VAR=1 set in a prelude is not in a child's environment (why docker run -e VAR passed nothing)", async () => {
        const plain = await create({ create: "PASSFILE_ONLY=1\nenv" });
        assert.equal(plain.outputs.stdout.split("\n").some((l: string) => l.startsWith("PASSFILE_ONLY=")), false);
        const exported = await create({ create: "export PASSFILE_ONLY=1\nenv" });
        assert.ok(exported.outputs.stdout.split("\n").includes("PASSFILE_ONLY=1"));
        // What `docker run -e PASSFILE_ONLY` reads: the CLI's own environment has no such variable.
        const probe = await create({ create: "PASSFILE_ONLY=1\nsh -c 'echo \"${PASSFILE_ONLY-unset}\"'" });
        assert.equal(probe.outputs.stdout, "unset");
    });

    rule("run.trim: one trailing newline is removed from stdout and stderr", async () => {
        const { outputs } = await create({ create: "printf 'a\\n\\n'; printf 'b\\r\\n' >&2" });
        assert.equal(outputs.stdout, "a\n");
        assert.equal(outputs.stderr, "b\r");
        const none = await create({ create: "printf x" });
        assert.equal(none.outputs.stdout, "x");
    });

    rule("run.dir: dir is the working directory, else the engine's plugin directory (the project's, an Automation API workDir); without either the stand-in refuses; a missing dir fails", async () => {
        const inDir = await create({ create: "pwd", dir });
        assert.equal(inDir.outputs.stdout, fs.realpathSync(dir));
        // Not the server's own cwd: the engine of an inline program runs in its workspace's workDir.
        const workDir = fs.mkdtempSync(path.join(dir, "automation-"));
        const inPwd = await create({ create: "pwd" }, recorder(workDir));
        assert.equal(inPwd.outputs.stdout, fs.realpathSync(workDir));
        assert.notEqual(inPwd.outputs.stdout, fs.realpathSync(process.cwd()));
        await assert.rejects(create({ create: "pwd" }, { ...recorder(), pwd: undefined }), StandInError);
        const missing = path.join(dir, "missing");
        await assert.rejects(create({ create: "pwd", dir: missing }),
            { message: `chdir ${missing}: no such file or directory: running "pwd":\n` });
    });

    rule("run.logging run.log-lines: stdout and stderr lines go to the engine log as info, unless logging says otherwise", async () => {
        // Only whole lines: the two streams share one pipe, so unfinished lines may run together.
        const script = "echo out1; echo err1 >&2; printf 'out2\\r\\n'; echo tail";
        const both = recorder();
        await create({ create: script }, both);
        assert.deepEqual(both.engine.map((e) => e.message).sort(), ["err1", "out1", "out2", "tail"]);
        assert.ok(both.engine.every((e) => e.urn === URN && e.severity === "info"));
        const none = recorder();
        const { outputs } = await create({ create: script, logging: "none" }, none);
        assert.deepEqual(none.engine, []);
        assert.equal(outputs.stdout, "out1\nout2\r\ntail");
        const last = recorder();
        await create({ create: "printf 'a\\nlast'", logging: "stdout" }, last);
        assert.deepEqual(last.engine.map((e) => e.message), ["a", "last"]);
        const out = recorder();
        await create({ create: script, logging: "stdout" }, out);
        assert.deepEqual(out.engine.map((e) => e.message), ["out1", "out2", "tail"]);
        const err = recorder();
        await create({ create: script, logging: "stderr" }, err);
        assert.deepEqual(err.engine.map((e) => e.message), ["err1"]);
        const all = recorder();
        await create({ create: "echo a; echo b >&2", logging: "stdoutAndStderr" }, all);
        assert.equal(all.engine.length, 2);
        await assert.rejects(create({ create: "head -c 70000 /dev/zero | tr '\\0' x" }), /64 KiB|65536 bytes or more/);
        await create({ create: "head -c 70000 /dev/zero | tr '\\0' x", logging: "none" });
    });

    rule("run.error create.failure: a failed create is a plain error: exit status, Go-quoted command, both streams", async () => {
        const cmd = "echo to-out; echo to-err >&2; exit 3";
        const err = await create({ create: cmd, stdin: "never-shown" }).then(() => undefined, (e: Error) => e);
        assert.ok(err instanceof Error && !(err instanceof StandInError));
        assert.equal(err.constructor, Error);
        assert.equal(err.message, `exit status 3: running "echo to-out; echo to-err >&2; exit 3":\nto-out\nto-err\n`);
        assert.doesNotMatch(err.message, /never-shown/);
        await assert.rejects(create({ create: "kill -TERM $$" }), { message: "signal: terminated: running \"kill -TERM $$\":\n" });
        await assert.rejects(create({ create: "x", interpreter: ["/nonexistent/sh", "-c"] }),
            { message: "fork/exec /nonexistent/sh: no such file or directory: running \"x\":\n" });
        await assert.rejects(create({ create: "x", interpreter: ["no-such-shell-here"] }),
            { message: "exec: \"no-such-shell-here\": executable file not found in $PATH: running \"x\":\n" });
        assert.equal(goQuote("a\"b\\c\n\t\x01é\u00a0"), "\"a\\\"b\\\\c\\n\\t\\x01é\\u00a0\"");
    });

    rule("run.timeout: a customTimeouts value kills the interpreter", async () => {
        const started = Date.now();
        await assert.rejects(create({ create: "exec sleep 20" }, recorder(), { timeout: 0.3 }),
            { message: "signal: killed: running \"exec sleep 20\":\n" });
        assert.ok(Date.now() - started < 5000);
    });

    rule("run.utf8: output that is not UTF-8 is refused", async () => {
        await assert.rejects(create({ create: "printf '\\377'", logging: "none" }), StandInError);
    });

    rule("update.command run.prev-output: update runs update else create, new env, previous stdout in PULUMI_COMMAND_STDOUT", async () => {
        const first = await create({ create: "echo \"create ${PULUMI_COMMAND_STDOUT-none} $V\"", environment: { V: "1" } });
        assert.equal(first.outputs.stdout, "create none 1");
        const news = { create: "echo never", update: "echo \"update [$PULUMI_COMMAND_STDOUT] [${PULUMI_COMMAND_STDERR-none}] $V\"", environment: { V: "2" } };
        const second = await update(first.outputs, news);
        assert.deepEqual(second.outputs, { ...news, stdout: "update [create none 1] [none] 2", stderr: "" });
        // Without update, create runs again with the new inputs.
        const third = await update(second.outputs, { create: "echo \"again $V\"; echo e >&2", environment: { V: "3" } });
        assert.equal(third.outputs.stdout, "again 3");
        assert.equal(third.outputs.stderr, "e");
        const fourth = await update(third.outputs, { create: "echo \"${PULUMI_COMMAND_STDOUT-none} ${PULUMI_COMMAND_STDERR-none}\"", addPreviousOutputInEnv: false });
        assert.equal(fourth.outputs.stdout, "none none");
        // Neither: nothing runs, the old outputs stay.
        const fifth = await update(fourth.outputs, { delete: "true" });
        assert.deepEqual(fifth.outputs, { delete: "true", stdout: "none none", stderr: "" });
    });

    rule("update.preview: nothing runs; stdout stays known only when no input changed", async () => {
        const marker = path.join(dir, "update-preview-ran");
        const old = { create: "echo a", environment: { V: "1" }, stdout: "a", stderr: "" };
        const changed = await update(old, { create: `touch ${marker}`, environment: { V: "1" } }, recorder(), { preview: true });
        assert.equal(fs.existsSync(marker), false);
        assert.deepEqual(changed.outputs, { create: `touch ${marker}`, environment: { V: "1" }, stdout: UNKNOWN, stderr: UNKNOWN });
        // A newly added input that the old state lacks does not count as a change.
        const added = await update(old, { create: "echo a", environment: { V: "1" }, update: "x" }, recorder(), { preview: true });
        assert.equal(added.outputs.stdout, "a");
        const unknown = await update(old, { create: "echo a", environment: { V: UNKNOWN } }, recorder(), { preview: true });
        assert.equal(unknown.outputs.stdout, UNKNOWN);
    });

    rule("update.ignore-changes: an ignored input keeps the old state's value when the command runs", async () => {
        const old = { create: "echo \"$V\"", environment: { V: "old" }, stdout: "old", stderr: "" };
        const { outputs } = await update(old, { create: "echo \"$V\"", environment: { V: "new" }, stdin: "x" }, recorder(), { ignoreChanges: ["environment"] });
        assert.equal(outputs.stdout, "old");
        assert.deepEqual(outputs.environment, { V: "old" });
    });

    rule("update.failure: a failed update is a plain error in the run.error format", async () => {
        await assert.rejects(update({ create: "true", stdout: "", stderr: "" }, { create: "echo no; false" }),
            { message: "exit status 1: running \"echo no; false\":\nno\n" });
    });

    rule("delete.stored: delete runs the stored state's delete with its env, stdin and stdout", async () => {
        const out = path.join(dir, "deleted");
        const stored = {
            create: "echo made", delete: `{ read s; echo "$s $V $PULUMI_COMMAND_STDOUT"; } > ${out}`,
            environment: { V: "stored" }, stdin: "stored-stdin", stdout: "made", stderr: "",
        };
        const oldInputs = { create: "echo made", delete: `echo wrong > ${out}`, environment: { V: "inputs" } };
        await handler.delete(recorder(), { urn: URN, type: TYPE, id: "clone1234abcd", outputs: stored, oldInputs, timeout: 0 });
        assert.equal(fs.readFileSync(out, "utf8"), "stored-stdin stored made\n");
        await handler.delete(recorder(), { urn: URN, type: TYPE, id: "x", outputs: { create: "echo", stdout: "", stderr: "" }, oldInputs: {}, timeout: 0 });
        await assert.rejects(handler.delete(recorder(), { urn: URN, type: TYPE, id: "x", outputs: { delete: "false", stdout: "", stderr: "" }, oldInputs: {}, timeout: 0 }),
            { message: "exit status 1: running \"false\":\n" });
    });

    rule("read.identity: refresh returns the stored state and inputs unchanged, running nothing", async () => {
        const marker = path.join(dir, "read-ran");
        const inputs = { create: `touch ${marker}` };
        const state = { ...inputs, stdout: "s", stderr: "" };
        assert.deepEqual(await handler.read(recorder(), { urn: URN, type: TYPE, id: "clone1234abcd", state, inputs }),
            { id: "clone1234abcd", outputs: state, inputs });
        assert.equal(fs.existsSync(marker), false);
    });

    rule("secrets.same-path: outputs are secret only where the same input is; stdout is not", async () => {
        assert.deepEqual(commandStandIn.secrets, { kind: "infer" });
        // The server marks outputs by that rule; the stand-in's outputs mirror the inputs' paths.
        const { outputs } = await create({ create: "cat", stdin: "pw" });
        assert.deepEqual(outputs, { create: "cat", stdin: "pw", stdout: "pw", stderr: "" });
        const marked = secretOutputs(commandStandIn, "command:local:Command", { create: "cat", stdin: secret("pw") }, outputs);
        assert.ok(isSecret(marked.stdin), "the secret input stays secret");
        assert.equal(marked.stdout, "pw", "stdout is not secret although it came from a secret stdin");
        assert.equal(marked.create, "cat");
    });

    rule("assets.strict: assetPaths and archivePaths are refused", async () => {
        await assert.rejects(create({ create: "true", assetPaths: ["*"] }), StandInError);
        await assert.rejects(update({ stdout: "", stderr: "" }, { create: "true", archivePaths: ["*"] }), StandInError);
    });

    it("every RULES row is proved by a test named after it", () => {
        const covered = new Set(testNames.flatMap((n) => n.split(":")[0].split(" ")));
        const missing = RULES.map((r) => r.id).filter((id) => !covered.has(id));
        assert.deepEqual(missing, []);
        const unknown = [...covered].filter((id) => !RULES.some((r) => r.id === id));
        assert.deepEqual(unknown, []);
    });
});
