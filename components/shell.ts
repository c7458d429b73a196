// Commands run by @pulumi/command on the Pulumi host. Their scripts live in ./scripts as plain
// shell files (easy to read and to `sh -n`); each gets the shared lib.sh in front.

import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { withFragments } from "./fragments";

const cache = new Map<string, string>();

function read(file: string): string {
    let text = cache.get(file);
    if (text === undefined) {
        text = fs.readFileSync(path.join(__dirname, "scripts", file), "utf8");
        cache.set(file, text);
    }
    return text;
}

/** Host-side functions kept out of lib.sh, each in its own file, by the function's name: a script that calls one gets its file. */
const FUNCTIONS: Readonly<Record<string, string>> = { clone_node: "node-clone.sh" };

/**
 * A script with lib.sh in front, then the files of the functions it calls (FUNCTIONS); `prelude`
 * sets variables before the body runs; the in-container fragments it names ($STANDBY_CONF_SH)
 * come along as variables (fragments.ts).
 */
export function script(file: string, prelude = ""): string {
    const body = read(file);
    const functions = Object.entries(FUNCTIONS).filter(([name]) => new RegExp(`^\\s*${name}\\b`, "m").test(body)).map(([, f]) => read(f));
    return withFragments([read("lib.sh"), ...functions, prelude, body].filter((part) => part !== "").join("\n"));
}

export interface DockerCommandArgs {
    /** Nothing runs on create when omitted (a command that only acts on delete). */
    readonly create?: string;
    readonly update?: string;
    readonly delete?: string;
    /** Plain values only: they are stored in state and visible to `ps e` of the command's process. */
    readonly environment: Record<string, pulumi.Input<string>>;
    /** Secret material goes here: it reaches the script on stdin and stays a secret in state. */
    readonly stdin?: pulumi.Input<string>;
    /** Re-run from scratch (replace) when any of these change. */
    readonly triggers?: pulumi.Input<unknown>[];
    /** The engine the docker provider uses (ClusterConfig.dockerHost, from components/engine.ts). */
    readonly dockerHost: string;
}

/** A local command that drives the same Docker engine as the docker provider. */
export function dockerCommand(name: string, args: DockerCommandArgs, opts: pulumi.CustomResourceOptions): command.local.Command {
    return new command.local.Command(name, {
        create: args.create,
        update: args.update,
        delete: args.delete,
        // The command inherits the provider's environment. An explicit DOCKER_HOST makes the docker
        // CLI take its default context whatever DOCKER_CONTEXT or currentContext say (docker/cli
        // cli/command/cli.go resolveContextName), so it reaches the provider's engine.
        environment: { ...args.environment, DOCKER_HOST: args.dockerHost },
        stdin: args.stdin,
        triggers: args.triggers,
        interpreter: ["/bin/sh", "-c"],
        // Scripts print nothing on stdout and one summary line on stderr (more only on failure),
        // so the engine's log gets that line and nothing else.
        logging: "stderr",
    }, opts);
}
