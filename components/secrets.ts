import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

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
        create: "LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32",
        logging: "none",
    }, { parent, additionalSecretOutputs: ["stdout"] });
    return pulumi.secret(generated.stdout);
}
