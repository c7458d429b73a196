// Where the Pulumi project is, and how the tools beside the program (status, the drill, the
// benchmark) open its stacks: the project folder found from Pulumi.yaml, and a workspace with the
// backend, passphrase and pulumi CLI that scripts/deploy.sh uses, unless the environment names them.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, PulumiCommand } from "@pulumi/pulumi/automation";

/** No pulumi CLI to run: none on PATH and none built by scripts/pulumi-toolchain.sh. */
export class PulumiCliMissing extends Error {}

/** The project folder: the nearest folder at or above `from` (this file's) with a Pulumi.yaml. */
export function projectRoot(from = __dirname): string {
    for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
        if (fs.existsSync(path.join(dir, "Pulumi.yaml"))) {
            return dir;
        }
        if (path.dirname(dir) === dir) {
            throw new Error(`no Pulumi.yaml in ${from} or any folder above it: not inside a Pulumi project`);
        }
    }
}

export interface WorkspaceOptions {
    /** The Pulumi project folder (Pulumi.yaml). */
    readonly workDir: string;
    /** Where PATH, PULUMI_* and PG_REPLICATION_* are read from; process.env by default. */
    readonly env?: NodeJS.ProcessEnv;
    /** More variables for the CLI, e.g. the stand-in plugins' (the drill). */
    readonly envVars?: Readonly<Record<string, string>>;
}

/** The pulumi CLI: on PATH (undefined: the Automation API's own lookup), else the one scripts/pulumi-toolchain.sh built. */
async function pulumiCommand(env: NodeJS.ProcessEnv): Promise<PulumiCommand | undefined> {
    const onPath = (env.PATH ?? "").split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, "pulumi")));
    if (onPath) {
        return undefined;
    }
    const cache = path.join(env.PG_REPLICATION_CACHE ?? path.join(os.homedir(), ".cache", "pg-replication"), "pulumi");
    const built = fs.existsSync(cache) ? fs.readdirSync(cache).filter((d) => /^v\d/.test(d) &&
        fs.existsSync(path.join(cache, d, "bin", "pulumi"))).sort() : [];
    if (built.length === 0) {
        throw new PulumiCliMissing("no pulumi CLI: none on PATH and none built by scripts/pulumi-toolchain.sh " +
            `in ${cache}; run scripts/deploy.sh once, or install Pulumi`);
    }
    return PulumiCommand.get({ root: path.join(cache, built[built.length - 1]), skipVersionCheck: true });
}

/**
 * A workspace on the project with the backend and passphrase scripts/deploy.sh chooses, unless the
 * environment already names them: PULUMI_BACKEND_URL, else the logged-in backend, else
 * file://~/.local/share/pg-replication/state (PG_REPLICATION_STATE); PULUMI_CONFIG_PASSPHRASE(_FILE),
 * else ~/.config/pg-replication/passphrase when it exists. Throws PulumiCliMissing without a CLI.
 */
export async function openWorkspace(opts: WorkspaceOptions): Promise<LocalWorkspace> {
    const env = opts.env ?? process.env;
    const envVars: Record<string, string> = { PULUMI_SKIP_UPDATE_CHECK: "true", ...opts.envVars };
    if (!env.PULUMI_CONFIG_PASSPHRASE && !env.PULUMI_CONFIG_PASSPHRASE_FILE) {
        const passfile = path.join(os.homedir(), ".config", "pg-replication", "passphrase");
        if (fs.existsSync(passfile)) {
            envVars.PULUMI_CONFIG_PASSPHRASE_FILE = passfile;
        }
    }
    const cmd = await pulumiCommand(env);
    let ws = await LocalWorkspace.create({ workDir: opts.workDir, envVars, pulumiCommand: cmd });
    if (!env.PULUMI_BACKEND_URL) {
        const loggedIn = await ws.whoAmI().then(() => true, () => false);
        if (!loggedIn) {
            const state = env.PG_REPLICATION_STATE ?? path.join(os.homedir(), ".local", "share", "pg-replication", "state");
            envVars.PULUMI_BACKEND_URL = `file://${state}`;
            ws = await LocalWorkspace.create({ workDir: opts.workDir, envVars, pulumiCommand: cmd });
        }
    }
    return ws;
}
