// One Automation API operation on one stack, in a process of its own: the inline program runs in
// the process that drives it, and when the program or a resource fails the SDK leaves promise
// rejections behind that node's test runner would count against whichever test is running.
//
//   node driver.js OP STACK BACKEND_DIR [CONFIG_JSON [URN]]    OP: up | refresh | preview |
//                                        preview-no-changes | destroy | outputs | rm | state-delete
// (state-delete URN: `pulumi state delete --target-dependents URN`, through the CLI as a user types it)
// Prints one JSON line: {"ok":true, ...} or {"ok":false,"error":"..."}.
// With PG_REPLICATION_STAND_IN_PLUGINS=1 the engine attaches to the stand-in plugins, served from
// this process for the one operation (stand-ins/launch.ts); nothing is installed as a plugin.
// The workspace's workDir holds the project (see projectWorkDir): the engine starts the plugins
// there, so the commands run where they run for `pulumi up` in the project directory.

import { execFileSync } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import * as fs from "node:fs";
import { ConfigMap, LocalWorkspace } from "@pulumi/pulumi/automation";
import { SECRET_KEYS } from "../../components/config";
import { program } from "../../components/program";
import { startStandIns, StandIns } from "../../stand-ins/launch";
import { PLAIN_SECRETS } from "./plain-secrets";

function builtToolchain(): boolean {
    const cache = process.env.PG_REPLICATION_CACHE ?? path.join(os.homedir(), ".cache", "pg-replication");
    const found = (process.env.PATH ?? "").split(path.delimiter).find((dir) => fs.existsSync(path.join(dir, "pulumi")));
    return found !== undefined && path.resolve(found).startsWith(path.resolve(cache) + path.sep);
}

/**
 * The stack's config as `pulumi config set` would write it: the secret keys (config.ts SECRET_KEYS) with
 * --secret, unless listed in the reserved key PLAIN_SECRETS (set without it, as a user might).
 */
function configMap(values: Record<string, unknown>): ConfigMap {
    const plain = (values[PLAIN_SECRETS] ?? []) as string[];
    return Object.fromEntries(Object.entries(values).filter(([k]) => k !== PLAIN_SECRETS).map(([k, v]) =>
        [`pg-replication:${k}`, { value: typeof v === "string" ? v : JSON.stringify(v),
            secret: SECRET_KEYS.has(k) && !plain.includes(k) }]));
}

/** This checkout (bin/tests/e2e is three levels below it). */
const ROOT = path.resolve(__dirname, "..", "..", "..");

/**
 * The workspace's workDir. The CLI runs there, so the engine starts the plugins there and the
 * command provider runs its commands there (engine/project.go getPwdMain; the SDK's default is an
 * empty `automation-*` folder). As the project directory does for `pulumi up`, it holds the
 * project: every entry of this checkout linked, but Pulumi.yaml and the stack files, which the
 * workspace writes itself.
 */
function projectWorkDir(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-e2e-work-"));
    for (const entry of fs.readdirSync(ROOT)) {
        if (entry !== ".git" && !/^Pulumi(\..+)?\.ya?ml$/.test(entry)) {
            fs.symlinkSync(path.join(ROOT, entry), path.join(dir, entry));
        }
    }
    return dir;
}

let standIns: StandIns | undefined;
let workDir: string | undefined;

async function main(): Promise<unknown> {
    const [op, stackName, backend, configJson, urn] = process.argv.slice(2);
    workDir = projectWorkDir();
    if (process.env.PG_REPLICATION_STAND_IN_PLUGINS === "1") {
        standIns = await startStandIns({ pwd: workDir });
    }
    const stack = await LocalWorkspace.createOrSelectStack({
        stackName,
        projectName: "pg-replication",
        // What index.ts runs: the config read and checked against the engine, then the cluster.
        program,
    }, {
        workDir,
        projectSettings: { name: "pg-replication", runtime: "nodejs", backend: { url: `file://${backend}` } },
        secretsProvider: "passphrase",
        envVars: {
            PULUMI_CONFIG_PASSPHRASE: "e2e-only-passphrase",
            PULUMI_BACKEND_URL: `file://${backend}`,
            PULUMI_SKIP_UPDATE_CHECK: "true",
            // A toolchain built by scripts/pulumi-toolchain.sh has its plugins installed and
            // must never try to download one; a usual install may fetch its own.
            ...(builtToolchain() || standIns ? { PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true" } : {}),
            ...(standIns ? { PULUMI_DEBUG_PROVIDERS: standIns.debugProviders } : {}),
        },
    });
    if (configJson) {
        await stack.setAllConfig(configMap(JSON.parse(configJson)));
    }
    const quiet = { onOutput: () => undefined };
    switch (op) {
        case "up": {
            // The engine's own output comes back too: the commands' summary lines are in it.
            const result = await stack.up(quiet);
            return { summary: result.summary, stdout: result.stdout };
        }
        case "refresh":
            return { summary: (await stack.refresh(quiet)).summary };
        case "preview":
            return { changes: (await stack.preview(quiet)).changeSummary };
        case "preview-no-changes":
            return { changes: (await stack.preview({ ...quiet, expectNoChanges: true })).changeSummary };
        case "destroy":
            return { summary: (await stack.destroy(quiet)).summary };
        case "outputs": {
            const out = await stack.outputs();
            const state = await stack.exportStack();
            return {
                outputs: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.value])),
                resourceTypes: (state.deployment.resources ?? []).map((r: { type: string }) => r.type),
            };
        }
        case "rm":
            await stack.workspace.removeStack(stackName);
            return {};
        case "state-delete": {
            // The Automation API has no verb for it; the CLI in the stack's workspace, as a user runs it.
            const out = execFileSync("pulumi", ["state", "delete", urn, "--target-dependents", "--yes", "--non-interactive",
                "--stack", stackName], { cwd: stack.workspace.workDir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"],
                env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: "e2e-only-passphrase", PULUMI_BACKEND_URL: `file://${backend}`,
                    PULUMI_SKIP_UPDATE_CHECK: "true" } });
            return { stdout: out };
        }
        default:
            throw new Error(`unknown operation ${op}`);
    }
}

/** The one JSON line, then exit once it is written: a pipe takes a large line in several writes. */
function reply(result: object): void {
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

async function cleanUp(): Promise<void> {
    await standIns?.stop();
    if (workDir) {
        fs.rmSync(workDir, { recursive: true, force: true });   // the links, not what they point at
    }
}

main().then(
    async (result) => {
        await cleanUp();
        reply({ ok: true, ...(result as object) });
    },
    async (err: Error) => {
        await cleanUp();
        reply({ ok: false, error: String(err?.message ?? err) });
    },
);
