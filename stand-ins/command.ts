// Stand-in for the command provider 1.2.1 (pulumi/pulumi-command v1.2.1, built on
// pulumi/pulumi-go-provider v1.3.0 `infer`), for the one resource this program uses:
// command:local:Command. Every behaviour is a row of RULES with the source line it comes from;
// tests/stand-ins/command.test.ts proves each row.
//
// The process environment: the real plugin runs each command with os.Environ() of its own
// process, which the Pulumi CLI started with the CLI's environment. Here the command runs with
// process.env of the stand-in server, so whoever starts the server must start it with the
// environment the CLI would give its plugins, and say which directory the engine would start them
// in (serveStandIn's pwd: rule run.dir).

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import {
    CheckResult, DiffKind, DiffResult, isSecret, Props, ProviderContext, ResourceHandler, reveal, Rule, StandInError,
    StandInProvider, UNKNOWN,
} from "./provider";

const CMD = "pulumi/pulumi-command@7f3eb6f3b77cd0fa3895ba437a695dd393f7dd25 (v1.2.1) provider/pkg/provider";
const INFER = "pulumi/pulumi-go-provider@3bfb720d763cca9c53a2af4016e224f7259f6345 (v1.3.0)";
const ENGINE = "pulumi/pulumi pkg/v3@v3.276.0 (Go module cache)";

export const RULES: readonly Rule[] = [
    { id: "config.check", behaviour: "CheckConfig accepts the configuration as given: the provider declares no config (infer's complexconfig default check returns the inputs). Keys other than `version` are not modelled (strict).", source: `${INFER} middleware/complexconfig/provider.go encodeCheckConfig; ${CMD}/provider.go:31-95 (no Config)` },
    { id: "config.diff", behaviour: "DiffConfig is unimplemented (nyi); the engine then answers DiffUnknown with no replaces, so a config change never replaces the provider.", source: `${INFER} provider.go:436-440; ${ENGINE} resource/plugin/provider_plugin.go:861-876` },
    { id: "config.configure", behaviour: "Configure does nothing (infer default); the response accepts secrets, resources and outputs and supports preview.", source: `${INFER} provider.go:441-445, 777-800` },
    { id: "check.passthrough", behaviour: "Check decodes the inputs into CommandInputs and encodes them back: no defaults, nothing required (`create` is optional), secrets and unknowns kept where they were.", source: `${INFER} infer/resource.go:994-1047; ${CMD}/common/inputs.go:6-15, local/base.go:24-33 (all optional)` },
    { id: "check.types", behaviour: "An input of the wrong type or an unknown property is a decode failure in the real provider; its mapper message is not modelled, so the stand-in throws StandInError.", source: `${INFER} infer/resource.go:1098-1130, infer/internal/ende/ende.go:53-87 (IgnoreUnrecognized false)` },
    { id: "diff.old-inputs", behaviour: "Diff compares the old INPUTS the engine sends (SupportsOldInputs) with the new inputs; outputs (stdout, stderr) never cause a diff.", source: `${INFER} infer/resource.go:1194-1217` },
    { id: "diff.update", behaviour: "Every changed input path is reported (detailed diff `environment.FOO`, `triggers[0]`, ...); none is a replace except the rule diff.triggers; a change only in secretness or to an unknown value also counts.", source: `${INFER} infer/resource.go:1132-1253; pulumi sdk resource/properties_diff.go, plugin/provider.go NewDetailedDiffFromObjectDiff` },
    { id: "diff.triggers", behaviour: "`triggers` is replaceOnChanges, but infer looks the detailed-diff PATH up in the schema: adding or removing `triggers` as a whole replaces; a changed, added or removed element (`triggers[0]`) is only an update from the provider. The replace then comes from the engine, because the SDK adds replaceOnChanges: [\"triggers[*]\"] to every Command (pulumi-command#855).", source: `${CMD}/common/inputs.go:10; ${INFER} infer/resource.go:1141-1146, 1221-1231; node_modules/@pulumi/command/local/command.js:155-156` },
    { id: "diff.ignore-changes", behaviour: "For each ignoreChanges entry that is a top-level property present in the old state (outputs), the new input takes the old state's value before diffing (the engine has usually applied it already).", source: `${INFER} infer/resource.go:1159-1164` },
    { id: "diff.no-dbr", behaviour: "deleteBeforeReplace is never set by the provider (only by the program's options).", source: `${INFER} infer/resource.go:1247-1252` },
    { id: "diff.version-stripped", behaviour: "`version` and `__`-prefixed keys of the new inputs are dropped before diffing.", source: `${INFER} infer/resource.go:1166-1172` },
    { id: "create.preview", behaviour: "In preview nothing runs; the outputs are the inputs plus stdout and stderr UNKNOWN (infer marks every output that does not mirror an input as computed during a create preview).", source: `${CMD}/local/commandController.go:47-50; ${INFER} infer/resource.go:545-563` },
    { id: "create.id", behaviour: "The id is the URN's name followed by 8 random hex characters (also in preview).", source: `${CMD}/local/commandController.go:42; pulumi sdk resource/resource_id.go:66-81 NewUniqueHex` },
    { id: "create.no-command", behaviour: "Without `create` nothing runs and stdout and stderr are empty strings.", source: `${CMD}/local/commandController.go:51-53, local/base.go:131-135` },
    { id: "create.failure", behaviour: "A failed create returns a plain error (not ResourceInitFailed): nothing is recorded in state, whatever the command did.", source: `${CMD}/local/commandController.go:55-56; ${INFER} infer/resource.go:1271-1293` },
    { id: "run.interpreter", behaviour: "The command text is one argument after the interpreter, default [\"/bin/sh\", \"-c\"]; an empty interpreter list means the default.", source: `${CMD}/local/commandOutputs.go:41-51` },
    { id: "run.shell", behaviour: "A shell variable the command text sets without `export` is not in the environment of the processes it starts (POSIX sh): only the provider's environment, `environment` and PULUMI_COMMAND_* are. This is why `docker run -e VAR` after a plain `VAR=1` passes nothing (facts F1).", source: `${CMD}/local/commandOutputs.go:51, 81-95` },
    { id: "run.env", behaviour: "The environment is the provider process's own environment, then `environment` (wins over it), then PULUMI_COMMAND_STDOUT/STDERR (win over both).", source: `${CMD}/local/commandOutputs.go:81-95 (os/exec keeps the last duplicate)` },
    { id: "run.env.inherit", behaviour: "The provider's environment is os.Environ(), which the Pulumi CLI gave the plugin (its own environment plus its env store): the stand-in passes the server's process.env through unchanged.", source: `${CMD}/local/commandOutputs.go:81; pulumi sdk resource/plugin/plugin.go:500-515` },
    { id: "run.prev-output", behaviour: "When addPreviousOutputInEnv is not false, PULUMI_COMMAND_STDOUT / PULUMI_COMMAND_STDERR hold the previous stdout / stderr, each only when non-empty: never on create (no previous output), on update from the old state, and on delete from the stored state.", source: `${CMD}/local/commandOutputs.go:88-95, local/commandController.go:41, 74, 98` },
    { id: "run.stdin", behaviour: "stdin is attached only when non-empty; otherwise the command reads /dev/null.", source: `${CMD}/local/commandOutputs.go:97-99` },
    { id: "run.dir", behaviour: "The working directory is `dir`, else the provider process's cwd, which is where the engine started the plugin: the project directory (the directory of `main` when main is a file), so an Automation API program's workspace workDir (a temporary `automation-*` folder unless one is given). The server is told that directory (ProviderContext.pwd) and refuses without it; a missing dir fails with `chdir DIR: no such file or directory`.", source: `${CMD}/local/commandOutputs.go:73-80; Go os.StartProcess (chdir pre-check); ${ENGINE} engine/deployment.go:61-72, engine/project.go:45-71; pulumi sdk v3.276.0 go/common/resource/plugin/plugin.go:599 (cmd.Dir = pwd); @pulumi/pulumi 3.276.0 automation/localWorkspace.js:59-82, 865 (workDir, else mkdtemp automation-; the CLI runs there)` },
    { id: "run.trim", behaviour: "One trailing newline is removed from stdout and from stderr (no more, and not \\r).", source: `${CMD}/local/commandOutputs.go:142-143` },
    { id: "run.logging", behaviour: "`logging` unset or stdoutAndStderr streams both; stdout / stderr only that one; none nothing. Capturing into the outputs is unaffected.", source: `${CMD}/local/logging.go:27-32, local/commandOutputs.go:61-71` },
    { id: "run.log-lines", behaviour: "Logged output goes line by line (bufio.Scanner: \\n split, trailing \\r dropped; the two streams share one pipe, so an unfinished line of one can run into a line of the other) as info messages for the resource, while the command runs. The real provider sends them as LogStatus (ephemeral status), not Log. A line of 64 KiB or more stops the scanner and the real provider hangs: the stand-in throws StandInError instead.", source: `${CMD}/util/util.go:32-53; ${INFER} logging.go:56` },
    { id: "run.error", behaviour: "A failed command is the error `<exit status N | signal: NAME>: running <Go %q of the command text>:\\n<stdout and stderr interleaved, untrimmed>`; stdin is never in it. A start failure reads `fork/exec PATH: ...` or `exec: \"NAME\": executable file not found in $PATH`.", source: `${CMD}/local/commandOutputs.go:104-114` },
    { id: "run.timeout", behaviour: "A customTimeouts value (seconds) cancels the request context: the interpreter is killed with SIGKILL and the error reads `signal: killed: running ...`.", source: `${INFER} middleware/cancel/cancel.go:76-87; ${CMD}/local/commandOutputs.go:59` },
    { id: "run.utf8", behaviour: "Output that is not valid UTF-8 cannot be sent as a protobuf string by the real provider; not modelled: StandInError.", source: `${CMD}/local/commandOutputs.go:142-143 (Go strings are bytes)` },
    { id: "update.command", behaviour: "Update runs `update` if set, else `create`, else nothing, with the NEW inputs (environment, stdin, dir, interpreter, logging); outputs are the new inputs plus the new stdout/stderr (the old ones when nothing ran).", source: `${CMD}/local/commandController.go:67-90` },
    { id: "update.preview", behaviour: "In preview nothing runs; stdout/stderr keep the old values unless some input is unknown or differs from the old state's value of that property, then they are UNKNOWN.", source: `${CMD}/local/commandController.go:75-78; ${INFER} infer/resource.go:565-589, 1473-1477` },
    { id: "update.ignore-changes", behaviour: "For each ignoreChanges entry that is a top-level property present in the old state, the new input takes the old state's value before the command runs.", source: `${INFER} infer/resource.go:1419-1424` },
    { id: "update.failure", behaviour: "A failed update returns a plain error: the engine keeps the old state.", source: `${CMD}/local/commandController.go:88-89; ${INFER} infer/resource.go:1462-1464` },
    { id: "delete.stored", behaviour: "Delete runs the `delete` of the STORED STATE (outputs, not the old inputs) with its environment, stdin, dir, interpreter and logging, and its stdout/stderr as PULUMI_COMMAND_*; nothing without `delete`.", source: `${CMD}/local/commandController.go:93-99; ${INFER} infer/resource.go:1484-1499` },
    { id: "read.identity", behaviour: "Read (refresh) returns the id, state and inputs as they are: no command runs.", source: `${INFER} infer/resource.go:1353-1364 (Command has no CustomRead)` },
    { id: "secrets.same-path", behaviour: "An output is secret exactly where the input of the same name/path is secret; stdout and stderr never are (only additionalSecretOutputs, applied by the engine, makes them secret). Not 'every output when any input is secret'.", source: `${INFER} infer/resource.go:754-807, 592-630 (ensureDefaultSecrets), infer/tests/create_test.go:95-128 'unwired-secrets'; commit ea49c5f 'Separate computed and secret dependencies'` },
    { id: "assets.strict", behaviour: "assetPaths / archivePaths (globbed into assets after the command) are not modelled: StandInError.", source: `${CMD}/local/commandOutputs.go:116-140` },
    { id: "logging.enum", behaviour: "A `logging` value outside stdout, stderr, stdoutAndStderr, none is not validated by the real provider (it would log nothing); the stand-in throws StandInError.", source: `${CMD}/local/logging.go:9-32` },
];

const TYPE = "command:local:Command";
const STRING_INPUTS = ["create", "update", "delete", "stdin", "dir", "logging"] as const;
const LIST_INPUTS = ["interpreter", "assetPaths", "archivePaths"] as const;
/** Every input of CommandInputs (common.ResourceInputs + BaseInputs). */
const INPUTS = ["triggers", ...STRING_INPUTS, ...LIST_INPUTS, "environment", "addPreviousOutputInEnv"];
const LOGGING = ["stdout", "stderr", "stdoutAndStderr", "none"];
/** bufio.MaxScanTokenSize: the longest line the real provider's log scanner accepts. */
const MAX_LOG_LINE = 64 * 1024;

/** Go's strconv.Quote (what %q prints), for the error message. */
export function goQuote(text: string): string {
    const escapes: Record<string, string> = { "\x07": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v", "\\": "\\\\", "\"": "\\\"" };
    let out = "\"";
    for (const ch of text) {
        const code = ch.codePointAt(0)!;
        if (escapes[ch]) {
            out += escapes[ch];
        } else if (code < 0x20 || code === 0x7f) {
            out += `\\x${code.toString(16).padStart(2, "0")}`;
        } else if (code < 0x7f || ch === " " || /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(ch)) {
            out += ch;
        } else if (code < 0x10000) {
            out += `\\u${code.toString(16).padStart(4, "0")}`;
        } else {
            out += `\\U${code.toString(16).padStart(8, "0")}`;
        }
    }
    return out + "\"";
}

/** Go's signal names (syscall.Signal.String on Linux) for what ProcessState prints. */
const SIGNALS: Record<string, string> = {
    SIGHUP: "hangup", SIGINT: "interrupt", SIGQUIT: "quit", SIGILL: "illegal instruction", SIGTRAP: "trace/breakpoint trap",
    SIGABRT: "aborted", SIGBUS: "bus error", SIGFPE: "floating point exception", SIGKILL: "killed", SIGUSR1: "user defined signal 1",
    SIGSEGV: "segmentation fault", SIGUSR2: "user defined signal 2", SIGPIPE: "broken pipe", SIGALRM: "alarm clock", SIGTERM: "terminated",
};

const isPlainObject = (v: unknown): v is Props => typeof v === "object" && v !== null && !Array.isArray(v) && !isSecret(v);

/** The value with a secret marker removed at the top (types are checked on what is inside). */
const inner = (v: unknown): unknown => (isSecret(v) ? inner(v.value) : v);

/** check.types: what the real provider's decoder would reject, as a StandInError. */
function checkTypes(props: Props, what: string, extraKeys: readonly string[] = []): void {
    const bad = (key: string, expected: string) => {
        throw new StandInError(`command stand-in: ${what} property "${key}" is not ${expected} (${JSON.stringify(reveal(props[key]))}); ` +
            "the real provider rejects it with a decode failure whose message is not modelled");
    };
    for (const [key, raw] of Object.entries(props)) {
        const v = inner(raw);
        if (v === undefined || v === null || v === UNKNOWN) {
            continue;
        }
        if ((STRING_INPUTS as readonly string[]).includes(key) || (extraKeys.includes(key) && (key === "stdout" || key === "stderr"))) {
            if (typeof v !== "string") bad(key, "a string");
        } else if ((LIST_INPUTS as readonly string[]).includes(key)) {
            if (!Array.isArray(v) || v.some((e) => { const i = inner(e); return i !== UNKNOWN && typeof i !== "string"; })) bad(key, "a list of strings");
        } else if (key === "environment") {
            if (!isPlainObject(v) || Object.values(v).some((e) => { const i = inner(e); return i !== UNKNOWN && typeof i !== "string"; })) bad(key, "a map of strings");
        } else if (key === "addPreviousOutputInEnv") {
            if (typeof v !== "boolean") bad(key, "a boolean");
        } else if (key === "triggers") {
            if (!Array.isArray(v)) bad(key, "a list");
        } else if (!extraKeys.includes(key)) {
            throw new StandInError(`command stand-in: ${what} has property "${key}", which Command does not have; ` +
                "the real provider rejects it with a decode failure whose message is not modelled");
        }
    }
    const logging = inner(props.logging);
    if (typeof logging === "string" && logging !== UNKNOWN && !LOGGING.includes(logging)) {
        throw new StandInError(`command stand-in: logging "${logging}" is not one of ${LOGGING.join(", ")}; the real provider does not ` +
            "validate it and would log nothing, which the stand-in does not model");
    }
}

/** assets.strict */
function refuseAssets(props: Props): void {
    for (const key of ["assetPaths", "archivePaths"]) {
        if (props[key] !== undefined && props[key] !== null) {
            throw new StandInError(`command stand-in: ${key} is not modelled (the real provider globs files into assets after the command)`);
        }
    }
}

const hasValue = (v: unknown) => v !== undefined && v !== null;

/** PropertyValue.DeepEquals: secret only equals secret; unknown equals nothing known. */
function deepEqual(a: unknown, b: unknown): boolean {
    if (isSecret(a) || isSecret(b)) {
        return isSecret(a) && isSecret(b) && deepEqual(a.value, b.value);
    }
    if (Array.isArray(a) || Array.isArray(b)) {
        return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
    }
    if (isPlainObject(a) || isPlainObject(b)) {
        if (!isPlainObject(a) || !isPlainObject(b)) {
            return false;
        }
        const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
        return [...keys].every((k) => (hasValue(a[k]) || hasValue(b[k]) ? deepEqual(a[k] ?? null, b[k] ?? null) : true));
    }
    return (a ?? null) === (b ?? null);
}

/** PropertyPath.String for one more step. */
function pathJoin(prefix: string, key: string | number): string {
    if (typeof key === "number") {
        return `${prefix}[${key}]`;
    }
    if (/^[A-Za-z0-9_]+$/.test(key)) {
        return prefix === "" ? key : `${prefix}.${key}`;
    }
    return `${prefix}["${key.replace(/"/g, "\\\"")}"]`;
}

type Kind = "add" | "delete" | "update";

/** The detailed diff of two property maps (pulumi sdk ObjectDiff + NewDetailedDiffFromObjectDiff). */
function objectDiff(olds: Props, news: Props, prefix: string, out: Record<string, Kind>): void {
    for (const key of new Set([...Object.keys(olds), ...Object.keys(news)])) {
        const [o, n] = [olds[key], news[key]];
        const path = pathJoin(prefix, key);
        if (!(key in news)) {
            if (hasValue(o)) out[path] = "delete";
        } else if (!(key in olds)) {
            if (hasValue(n)) out[path] = "add";
        } else if (!valueSame(o, n)) {
            if (!hasValue(o)) out[path] = "add";
            else if (!hasValue(n)) out[path] = "delete";
            else valueDiff(o, n, path, out);
        }
    }
}

function valueSame(o: unknown, n: unknown): boolean {
    const probe: Record<string, Kind> = {};
    valueDiff(o, n, "", probe);
    return Object.keys(probe).length === 0;
}

function valueDiff(o: unknown, n: unknown, path: string, out: Record<string, Kind>): void {
    if (Array.isArray(o) && Array.isArray(n)) {
        for (let i = 0; i < Math.max(o.length, n.length); i++) {
            if (i >= o.length) out[pathJoin(path, i)] = "add";
            else if (i >= n.length) out[pathJoin(path, i)] = "delete";
            else if (!valueSame(o[i], n[i])) valueDiff(o[i], n[i], pathJoin(path, i), out);
        }
    } else if (isPlainObject(o) && isPlainObject(n)) {
        objectDiff(o, n, path, out);
    } else if (!deepEqual(o, n)) {
        out[path] = !hasValue(o) ? "add" : !hasValue(n) ? "delete" : "update";
    }
}

/** The top-level property a detailed-diff path starts with. */
const head = (path: string) => (path.startsWith("[\"") ? JSON.parse(path.slice(1, path.indexOf("\"]") + 2)) : path.split(/[.[]/)[0]);

/** infer's Diff for a resource with Update: only a path that is itself a replaceOnChanges property replaces. */
export function diffInputs(oldInputs: Props, news: Props): DiffResult {
    const detailed: Record<string, Kind> = {};
    objectDiff(oldInputs, news, "", detailed);
    const detailedDiff: Record<string, DiffKind> = {};
    const replaces = new Set<string>();
    const diffs = new Set<string>();
    for (const [path, kind] of Object.entries(detailed)) {
        const replace = path === "triggers";
        detailedDiff[path] = replace ? `${kind}-replace` : kind;
        diffs.add(head(path));
        if (replace) replaces.add(head(path));
    }
    return {
        changes: Object.keys(detailed).length > 0 ? "some" : "none",
        replaces: [...replaces].sort(),
        diffs: [...diffs].sort(),
        detailedDiff,
    };
}

/** diff.ignore-changes / update.ignore-changes: a top-level key takes the old state's value. */
function applyIgnoreChanges(news: Props, oldState: Props, ignoreChanges: readonly string[]): Props {
    const out = { ...news };
    for (const key of ignoreChanges) {
        if (key in oldState) {
            out[key] = oldState[key];
        }
    }
    return out;
}

interface Previous { readonly stdout: string; readonly stderr: string }

/** Runs one command the way commandOutputs.go `run` does; returns the trimmed stdout and stderr. */
async function run(ctx: ProviderContext, urn: string, command: string, rawInputs: Props, previous: Previous, timeoutSeconds: number): Promise<Previous> {
    const inputs = reveal<Props>(rawInputs);
    const interpreter: string[] = Array.isArray(inputs.interpreter) && inputs.interpreter.length > 0 ? inputs.interpreter : ["/bin/sh", "-c"];
    const [file, ...args] = [...interpreter, command];
    const logging: string | undefined = inputs.logging ?? undefined;
    const logStdout = logging === undefined || logging === "stdout" || logging === "stdoutAndStderr";
    const logStderr = logging === undefined || logging === "stderr" || logging === "stdoutAndStderr";

    const env: NodeJS.ProcessEnv = { ...process.env, ...(inputs.environment ?? {}) };
    if (inputs.addPreviousOutputInEnv !== false) {
        if (previous.stdout !== "") env.PULUMI_COMMAND_STDOUT = previous.stdout;
        if (previous.stderr !== "") env.PULUMI_COMMAND_STDERR = previous.stderr;
    }
    if (inputs.dir === undefined && ctx.pwd === undefined) {
        throw new StandInError("command: no `dir` and the server was not told the engine's plugin directory (ProviderContext.pwd)");
    }
    const cwd: string = inputs.dir ?? ctx.pwd;
    const fail = (cause: string, combined = "") => new Error(`${cause}: running ${goQuote(command)}:\n${combined}`);

    // os.StartProcess checks the directory first, to give this clearer error.
    if (!fs.existsSync(cwd)) {
        throw fail(`chdir ${cwd}: no such file or directory`);
    }
    const stdin: string = inputs.stdin ?? "";
    const child = spawn(file, args, { cwd, env, stdio: [stdin.length > 0 ? "pipe" : "ignore", "pipe", "pipe"] });

    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const combined: Buffer[] = [];
    let pending = Buffer.alloc(0);
    let logChain: Promise<void> = Promise.resolve();
    let tooLong = false;
    const emit = (line: Buffer) => {
        const text = line.toString("utf8").replace(/\r$/, "");
        logChain = logChain.then(() => ctx.engineLog(urn, "info", text));
    };
    const toLog = (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        let nl: number;
        while ((nl = pending.indexOf(0x0a)) >= 0) {
            if (nl >= MAX_LOG_LINE) tooLong = true;
            emit(pending.subarray(0, nl));
            pending = pending.subarray(nl + 1);
        }
        if (pending.length >= MAX_LOG_LINE) tooLong = true;
    };
    child.stdout!.on("data", (chunk: Buffer) => {
        stdout.push(chunk);
        combined.push(chunk);
        if (logStdout) toLog(chunk);
    });
    child.stderr!.on("data", (chunk: Buffer) => {
        stderr.push(chunk);
        combined.push(chunk);
        if (logStderr) toLog(chunk);
    });
    if (child.stdin) {
        // A command that exits without reading its stdin: os/exec ignores EPIPE on the copy.
        child.stdin.on("error", () => undefined);
        child.stdin.end(stdin);
    }
    const timer = timeoutSeconds > 0 ? setTimeout(() => child.kill("SIGKILL"), timeoutSeconds * 1000) : undefined;
    const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: NodeJS.ErrnoException }>((resolve) => {
        child.on("error", (error: NodeJS.ErrnoException) => resolve({ code: null, signal: null, error }));
        child.on("close", (code, signal) => resolve({ code, signal }));
    });
    if (timer) clearTimeout(timer);
    if (pending.length > 0) emit(pending);
    await logChain;

    if (outcome.error) {
        const e = outcome.error;
        if (e.code === "ENOENT" && !file.includes("/")) throw fail(`exec: ${goQuote(file)}: executable file not found in $PATH`);
        if (e.code === "ENOENT") throw fail(`fork/exec ${file}: no such file or directory`);
        if (e.code === "EACCES") throw fail(`fork/exec ${file}: permission denied`);
        throw new StandInError(`command stand-in: starting ${file} failed (${e.message}); the real provider's message is not modelled`);
    }
    if (tooLong) {
        throw new StandInError(`command stand-in: the command logged a line of ${MAX_LOG_LINE} bytes or more; the real provider's log scanner ` +
            "stops there and the command hangs, which the stand-in does not model (set logging: \"none\" or shorten the line)");
    }
    if (outcome.signal || outcome.code !== 0) {
        const cause = outcome.signal ? `signal: ${SIGNALS[outcome.signal] ?? outcome.signal}` : `exit status ${outcome.code}`;
        throw fail(cause, Buffer.concat(combined).toString("utf8"));
    }
    const decode = (chunks: Buffer[], name: string) => {
        try {
            return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
        } catch {
            throw new StandInError(`command stand-in: ${name} is not valid UTF-8; what the real provider sends then is not modelled`);
        }
    };
    const trim = (s: string) => (s.endsWith("\n") ? s.slice(0, -1) : s);
    return { stdout: trim(decode(stdout, "stdout")), stderr: trim(decode(stderr, "stderr")) };
}

/** The inputs as infer encodes them back (absent and null optional fields are left out). */
function mirror(inputs: Props): Props {
    return Object.fromEntries(Object.entries(inputs).filter(([, v]) => v !== undefined && v !== null));
}

const urnName = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);
const textOf = (v: unknown): string | undefined => (typeof inner(v) === "string" ? inner(v) as string : undefined);

const commandHandler: ResourceHandler = {
    async check(_ctx, req): Promise<CheckResult> {
        checkTypes(req.news, "input");
        return { inputs: req.news };
    },

    async diff(_ctx, req) {
        let news = applyIgnoreChanges(req.news, req.oldOutputs, req.ignoreChanges);
        news = Object.fromEntries(Object.entries(news).filter(([k]) => k !== "version" && !k.startsWith("__")));
        return diffInputs(req.oldInputs, news);
    },

    async create(ctx, req) {
        refuseAssets(req.inputs);
        const id = urnName(req.urn) + randomBytes(4).toString("hex");
        if (req.preview) {
            return { id, outputs: { ...mirror(req.inputs), stdout: UNKNOWN, stderr: UNKNOWN } };
        }
        const create = textOf(req.inputs.create);
        let result: Previous = { stdout: "", stderr: "" };
        if (create !== undefined) {
            result = await run(ctx, req.urn, create, req.inputs, result, req.timeout);
        }
        ctx.log(`created ${req.urn} as ${id}${create === undefined ? " (no create command)" : ""}`);
        return { id, outputs: { ...mirror(req.inputs), ...result } };
    },

    async read(_ctx, req) {
        checkTypes(req.inputs, "stored input");
        checkTypes(req.state, "stored state", ["stdout", "stderr", "assets", "archive"]);
        return { id: req.id, outputs: req.state, inputs: req.inputs };
    },

    async update(ctx, req) {
        const news = applyIgnoreChanges(req.news, req.oldOutputs, req.ignoreChanges);
        refuseAssets(news);
        const previous: Previous = { stdout: textOf(req.oldOutputs.stdout) ?? "", stderr: textOf(req.oldOutputs.stderr) ?? "" };
        if (req.preview) {
            const stale = INPUTS.some((k) => hasUnknown(news[k]) || (k in req.oldOutputs && !deepEqual(news[k] ?? null, req.oldOutputs[k])));
            const shown = stale ? { stdout: UNKNOWN, stderr: UNKNOWN } : previous;
            return { outputs: { ...mirror(news), ...shown } };
        }
        const cmd = textOf(news.update) ?? textOf(news.create);
        const result = cmd === undefined ? previous : await run(ctx, req.urn, cmd, news, previous, req.timeout);
        ctx.log(`updated ${req.urn}${cmd === undefined ? " (no update or create command)" : ""}`);
        return { outputs: { ...mirror(news), ...result } };
    },

    async delete(ctx, req) {
        const state = req.outputs;
        if (typeof inner(state.stdout) !== "string" || typeof inner(state.stderr) !== "string") {
            throw new StandInError("command stand-in: the stored state has no stdout/stderr; the real provider fails to decode it (message not modelled)");
        }
        const del = textOf(state.delete);
        if (del === undefined) {
            return;
        }
        refuseAssets(state);
        await run(ctx, req.urn, del, state, { stdout: textOf(state.stdout)!, stderr: textOf(state.stderr)! }, req.timeout);
        ctx.log(`deleted ${req.urn} (ran its stored delete)`);
    },
};

function hasUnknown(v: unknown): boolean {
    if (v === UNKNOWN) return true;
    if (isSecret(v)) return hasUnknown(v.value);
    if (Array.isArray(v)) return v.some(hasUnknown);
    if (isPlainObject(v)) return Object.values(v).some(hasUnknown);
    return false;
}

export const commandStandIn: StandInProvider = {
    name: "command",
    version: "1.2.1",
    rules: RULES,
    // secrets.same-path: infer v1.3.0's default is exactly the path rule below with nothing
    // sensitive, which provider.ts calls "bridge"; its "infer" rule (everything secret when any
    // input is) is not what this version does.
    secrets: { kind: "infer" },

    async checkConfig(_olds, news) {
        const extra = Object.keys(news).filter((k) => k !== "version");
        if (extra.length > 0) {
            throw new StandInError(`command stand-in: provider configuration ${extra.join(", ")} is not modelled ` +
                "(the real provider declares none and accepts anything, JSON-decoding string values)");
        }
        return { inputs: news };
    },

    async diffConfig() {
        return { changes: "unknown", replaces: [], diffs: [] };
    },

    async configure(config) {
        return { config, log: () => undefined, engineLog: async () => undefined };
    },

    resources: { [TYPE]: commandHandler },
};
