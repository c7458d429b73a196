import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

/** Prints 32 random letters and digits, no newline. */
export const GENERATE = "LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32";

/**
 * The `update` of a command that makes a secret once (a password, a key): it prints what it
 * made before. pulumi-command 1.2.1 runs `update` with the previous stdout in PULUMI_COMMAND_STDOUT
 * (local/commandOutputs.go, addPreviousOutputInEnv defaults to true); without an `update` it would
 * run `create` again and make a new one on any input change (an edited script, a new image).
 */
export function keepPrevious(what: string): string {
    return `[ -n "\${PULUMI_COMMAND_STDOUT:-}" ] || { echo "the previous ${what} is not available in state" >&2; exit 1; }; ` +
        'printf %s "$PULUMI_COMMAND_STDOUT"';
}

/** A generator's update: the password it already has, never a new one. */
export const KEEP_PREVIOUS = keepPrevious("password");

/**
 * A configured secret, or a password generated once on first `up` and kept in state as a secret,
 * so a stack deploys with no set-up. A command rather than @pulumi/random keeps the plugin set to
 * the three providers the project pins.
 */
export function configuredOrGenerated(name: string, configured: pulumi.Output<string> | undefined,
    parent?: pulumi.Resource): pulumi.Output<string> {
    if (configured) {
        return pulumi.secret(configured);
    }
    const generated = new command.local.Command(name, {
        create: GENERATE,
        update: KEEP_PREVIOUS,
        logging: "none",
    }, { parent, additionalSecretOutputs: ["stdout", "stderr"] });
    return pulumi.secret(generated.stdout);
}
