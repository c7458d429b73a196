import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig, expectedSyncState } from "./config";
import { dockerCommand, script } from "./shell";

export interface ReplicationPolicyArgs {
    /** The validated stack plan. */
    readonly cfg: ClusterConfig;
    /** Name of the primary's container, where the policy is set. */
    readonly primaryContainer: pulumi.Input<string>;
    /** Changes whenever the primary container is replaced, so the policy is applied again. */
    readonly primaryContainerId: pulumi.Input<string>;
}

/**
 * The commit policy (synchronous_standby_names, synchronous_commit), applied only once every
 * standby streams, so no write waits for a standby that is still being cloned. It is also the
 * deployment's last gate: it succeeds only when each standby shows the promised sync_state.
 */
export class ReplicationPolicy extends pulumi.ComponentResource {
    readonly synchronousStandbyNames: string;

    constructor(name: string, args: ReplicationPolicyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pg-replication:index:ReplicationPolicy", name, {}, opts);
        const { cfg } = args;
        const r = cfg.replication;
        dockerCommand(`${name}-apply`, {
            create: script("sync-policy.sh"),
            delete: script("sync-policy-reset.sh"),
            environment: {
                PRIMARY_CONTAINER: args.primaryContainer,
                SYNC_NAMES: r.synchronousStandbyNames,
                SYNC_COMMIT: r.synchronousCommit,
                EXPECTED: cfg.standbys.map((s) => `${s.name}=${expectedSyncState(r, s.name)}`).join(" "),
                TIMEOUT: String(cfg.readyTimeoutSeconds),
            },
            triggers: [args.primaryContainerId],
            dockerHost: cfg.dockerHost,
        }, {
            parent: this,
            // Replaced means reset then apply; the other order would reset the new policy.
            deleteBeforeReplace: true,
        });
        this.synchronousStandbyNames = r.synchronousStandbyNames;
        this.registerOutputs({ synchronousStandbyNames: this.synchronousStandbyNames });
    }
}
