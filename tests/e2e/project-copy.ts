// The user's path on a copy of the project: the files `scripts/deploy.sh` needs, copied from this
// checkout or taken from an earlier commit, with node_modules linked, a stack file of the test's
// own and a file:// backend inside the copy; then `scripts/deploy.sh STACK ...` run there, timed.
// Used by the deploy test (the main job as a user runs it) and the upgrade test (a stack made by
// an earlier commit, brought up by this one).

import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { log } from "./harness";

/** This checkout (bin/tests/e2e is three levels below it). */
export const ROOT = path.resolve(__dirname, "..", "..", "..");

/** What `scripts/deploy.sh` runs on: the project's program, scripts and stand-ins. */
const COPIED = ["Pulumi.yaml", "pulumi-entry.js", "index.ts", "components", "stand-ins", "scripts", "images", "package.json",
    "package-lock.json", "tsconfig.json"];

export interface ProjectCopy {
    readonly dir: string;
    /** The environment deploy.sh runs in: the copy's own backend and passphrase. */
    readonly env: NodeJS.ProcessEnv;
    /** `scripts/deploy.sh STACK ARGS` in the copy; rejects with its output when it fails. */
    deploy(...args: string[]): Promise<{ stdout: string; stderr: string }>;
    /** The copy's project files replaced by this checkout's (its stack file and state stay). */
    replaceWithCurrent(): void;
    remove(): void;
}

function copyCurrent(dir: string): void {
    for (const entry of COPIED) {
        fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
        fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
    }
}

/** Whether COMMIT is in this checkout's history (a shallow clone may not hold it). */
export function hasCommit(commit: string): boolean {
    try {
        execFileSync("git", ["-C", ROOT, "cat-file", "-e", `${commit}^{commit}`], { stdio: "ignore" });
        return true;
    } catch {
        return false;
    }
}

/** The project files as they were at COMMIT, from this checkout's history. */
function copyCommit(dir: string, commit: string): void {
    const present = COPIED.filter((entry) => {
        try {
            execFileSync("git", ["-C", ROOT, "cat-file", "-e", `${commit}:${entry}`], { stdio: "ignore" });
            return true;
        } catch {
            return false;
        }
    });
    if (present.length === 0) {
        throw new Error(`commit ${commit} is not in the history of ${ROOT}: this test needs a clone with main's history back to it`);
    }
    execFileSync("bash", ["-c", 'git -C "$1" archive "$2" -- "${@:3}" | tar -x -C "$0"', dir, ROOT, commit, ...present].map(String),
        { stdio: ["ignore", "ignore", "pipe"] });
}

/**
 * A copy of the project for STACK with STACK_FILE as its stack file: this checkout's files, or
 * (with `commit`) those of an earlier commit.
 */
export function projectCopy(stack: string, stackFile: string, commit?: string): ProjectCopy {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pg-replication-${stack}-`));
    if (commit) {
        copyCommit(dir, commit);
    } else {
        copyCurrent(dir);
    }
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), stackFile);
    fs.mkdirSync(path.join(dir, ".state"));
    const env: NodeJS.ProcessEnv = {
        ...process.env,
        PULUMI_BACKEND_URL: `file://${path.join(dir, ".state")}`,
        PULUMI_CONFIG_PASSPHRASE: "e2e-only-passphrase",
        PG_REPLICATION_STAND_IN_LOG: path.join(dir, "stand-ins.log"),
    };
    const deploy = (...args: string[]) => {
        const started = Date.now();
        return new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
            execFile("bash", [path.join(dir, "scripts", "deploy.sh"), stack, ...args], { env, maxBuffer: 64 * 1024 * 1024 },
                (err, stdout, stderr) => {
                    log(`deploy.sh ${stack} ${args.join(" ")} took ${((Date.now() - started) / 1000).toFixed(1)} s`);
                    if (err) {
                        reject(new Error(`deploy.sh ${args.join(" ")} failed: ${err.message}\n${stdout}\n${stderr}`));
                    } else {
                        resolve({ stdout, stderr });
                    }
                });
        });
    };
    return {
        dir,
        env,
        deploy,
        replaceWithCurrent: () => copyCurrent(dir),
        remove: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
}
