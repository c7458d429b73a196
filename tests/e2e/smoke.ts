// The toolchain's smoke program: the smallest stack that needs the engine, the docker plugin
// and the locally built image together. A network, one container from postgres:13 published on
// loopback, healthy before `up` returns.

import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

export const SMOKE_PORT = 56599;

export async function smokeProgram(): Promise<Record<string, unknown>> {
    const labels = [{ label: "pg-replication.stack", value: pulumi.getStack() }];
    const network = new docker.Network("smoke-net", {
        name: `pg-replication-${pulumi.getStack()}`,
        ipamConfigs: [{ subnet: "172.31.99.0/24", gateway: "172.31.99.1" }],
        labels,
    });
    const image = new docker.RemoteImage("smoke-image", { name: "postgres:13", keepLocally: true });
    const container = new docker.Container("smoke", {
        name: `pg-replication-${pulumi.getStack()}`,
        image: image.imageId,
        envs: ["POSTGRES_PASSWORD=smoke-only"],
        labels,
        networksAdvanced: [{ name: network.name, ipv4Address: "172.31.99.10" }],
        ports: [{ internal: 5432, external: SMOKE_PORT, ip: "127.0.0.1" }],
        healthcheck: { tests: ["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-U", "postgres"], interval: "1s", retries: 30 },
        wait: true,
        waitTimeout: 120,
    });
    return { container: container.name };
}
