// Commands run by @pulumi/command on the Pulumi host. Their scripts live in ./scripts as plain
// shell files (easy to read and to `sh -n`); each gets the shared lib.sh in front.

import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { fragment, scriptOf } from "./fragments";

/**
 * A script with lib.sh in front, then the files of the functions it calls; `prelude` sets variables
 * before the body runs; the in-container fragments it names ($STANDBY_CONF_SH) come along as
 * variables (fragments.ts scriptOf).
 */
export function script(file: string, prelude = ""): string {
    return scriptOf(fragment(file), prelude);
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
