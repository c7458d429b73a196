// What the primary and the standbys share: the server settings they start with and the shape of
// their containers. Keeping one definition means a standby could be promoted with no surprises.

import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig } from "./config";

/** Where the volume is mounted; the image declares it as a VOLUME, so mounting there leaves no anonymous volume. */
export const VOLUME_PATH = "/var/lib/postgresql/data";
/** The cluster lives one level down, so the volume can also hold the standby's passfile outside it. */
export const PGDATA = `${VOLUME_PATH}/pgdata`;
export const CONTAINER_PORT = 5432;
/**
 * How long a node container gets to stop before the docker provider kills it (on destroy and on
 * replacement): PostgreSQL's fast shutdown takes seconds; without it the provider stops with a
 * 0 s timeout and the server runs crash recovery on its next start.
 */
export const DESTROY_GRACE_SECONDS = 60;

/**
 * The containers' health check. Constant, so changing readyTimeoutSeconds never makes a
 * container diff that the provider would not apply (it applies no health check change in place);
 * the readiness gates (primary-ready.sh, standby-gate.sh) are what readyTimeoutSeconds bounds.
 * Over TCP as a named user: the image's init-time server listens on the socket only, so this
 * cannot pass before the real server is up. The start period is the old default's 2m0s, so
 * stacks made before keep their containers.
 */
export const HEALTHCHECK = {
    tests: ["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-p", String(CONTAINER_PORT), "-U", "postgres", "-d", "postgres"],
    interval: goDuration(1),
    timeout: goDuration(5),
    retries: 10,
    startPeriod: goDuration(120),
};

/**
 * A duration as Go prints it ("2m0s", not "120s"): the docker provider reads the health check
 * back in that form, so any other spelling would show as a change on every `pulumi up`.
 */
export function goDuration(totalSeconds: number): string {
    const h = Math.floor(totalSeconds / 3600);
    const m = Math.floor((totalSeconds % 3600) / 60);
    const s = totalSeconds % 60;
    return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
}

/** Settings that need a restart, fixed at first start; everything reloadable is set later by commands. */
export function serverArgs(cfg: ClusterConfig): string[] {
    const r = cfg.replication;
    const settings: [string, string | number][] = [
        ["listen_addresses", "*"],
        ["wal_level", "replica"],
        ["max_wal_senders", r.maxWalSenders],
        ["max_replication_slots", r.maxWalSenders],
        ["hot_standby", "on"],
        ["password_encryption", "scram-sha-256"],
        ["archive_mode", cfg.archiveCommand ? "on" : "off"],
    ];
    if (cfg.archiveCommand) {
        settings.push(["archive_command", cfg.archiveCommand]);
    }
    return ["postgres", ...settings.flatMap(([key, value]) => ["-c", `${key}=${value}`])];
}

/** The stack's labels plus what this object is: role (primary, standby, clone) and node name. */
export function nodeLabels(cfg: ClusterConfig, role: string, node: string): Record<string, string> {
    return { ...cfg.labels, "pg-replication.role": role, "pg-replication.node": node };
}

/** Labels in the docker provider's list form. */
export function labelList(labels: Record<string, pulumi.Input<string>>): docker.types.input.ContainerLabel[] {
    return Object.entries(labels).map(([label, value]) => ({ label, value }));
}

export interface NodeContainerArgs {
    readonly cfg: ClusterConfig;
    readonly role: "primary" | "standby";
    readonly node: string;
    readonly containerName: string;
    /** The image by name (RemoteImage.name): a moved local tag then replaces nothing on refresh. */
    readonly image: pulumi.Input<string>;
    readonly networkName: pulumi.Input<string>;
    readonly address: string;
    readonly port: number;
    readonly volumeName: pulumi.Input<string>;
    readonly envs?: pulumi.Input<string>[];
    readonly uploads?: pulumi.Input<docker.types.input.ContainerUpload>[];
    readonly extraLabels?: Record<string, pulumi.Input<string>>;
}

export function nodeContainerArgs(a: NodeContainerArgs): docker.ContainerArgs {
    return {
        name: a.containerName,
        hostname: a.node.replace(/_/g, "-"),
        image: a.image,
        command: serverArgs(a.cfg),
        envs: [`PGDATA=${PGDATA}`, ...(a.envs ?? [])],
        uploads: a.uploads,
        labels: labelList({ ...nodeLabels(a.cfg, a.role, a.node), ...a.extraLabels }),
        networksAdvanced: [{ name: a.networkName, ipv4Address: a.address }],
        ports: [{ internal: CONTAINER_PORT, external: a.port, ip: a.cfg.bindAddress }],
        volumes: [{ volumeName: a.volumeName, containerPath: VOLUME_PATH }],
        // No provider `wait`: it runs on create only and accepts an unhealthy container on the
        // next up; the readiness gates check every up instead.
        healthcheck: HEALTHCHECK,
        destroyGraceSeconds: DESTROY_GRACE_SECONDS,
        restart: "unless-stopped",
        mustRun: true,
    };
}

export function nodeVolume(name: string, volumeName: string, cfg: ClusterConfig, role: string, node: string,
    parent: pulumi.Resource): docker.Volume {
    return new docker.Volume(name, {
        name: volumeName,
        labels: labelList(nodeLabels(cfg, role, node)),
    }, { parent, deleteBeforeReplace: true });
}
