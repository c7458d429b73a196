// Images for roll tests: the same server as a base image under another image id, which is what a
// minor release or a rebuilt image looks like to the roll (components/topology/roll.ts). Its
// entrypoint refuses to start while a marker file is in the node's volume, so a test can make one
// node fail to come back. Built on the main engine with the classic builder (no BuildKit here);
// tests on test hosts list them in their host set's images, which copies them onto every host.

import { execFileSync } from "node:child_process";

/** While this file is in a node's volume, a container of a roll image exits at once. */
export const ROLL_MARKER = "/var/lib/postgresql/data/fail-roll";

/** The wrapper entrypoint's lines, each one shell word for printf '%s\n' in the Dockerfile. */
const WRAPPER = ["#!/bin/sh", `if [ -e ${ROLL_MARKER} ]; then echo ${ROLL_MARKER} is there: not starting >&2; exit 1; fi`,
    'exec docker-entrypoint.sh "$@"'];

/** A Dockerfile: BASE's server, one more label, and the marker's wrapper as entrypoint. */
export function rollImage(base: string, label = "roll"): string {
    return [`FROM ${base}`, `LABEL pg-replication.e2e=${label}`,
        `RUN printf '%s\\n' ${WRAPPER.map((l) => `'${l}'`).join(" ")} > /usr/local/bin/roll-entrypoint.sh && chmod 755 /usr/local/bin/roll-entrypoint.sh`,
        'ENTRYPOINT ["roll-entrypoint.sh"]', ""].join("\n");
}

/** Builds each tag from its Dockerfile on the main engine, in order (a later one may be FROM an earlier one). */
export function buildImages(images: Readonly<Record<string, string>>): void {
    for (const [tag, dockerfile] of Object.entries(images)) {
        execFileSync("docker", ["build", "-q", "-t", tag, "-"], { input: dockerfile, env: { ...process.env, DOCKER_BUILDKIT: "0" },
            stdio: ["pipe", "ignore", "inherit"] });
    }
}

/** Removes the tags from the main engine, the last built first; never throws. */
export function removeImages(images: Readonly<Record<string, string>>): void {
    execFileSync("sh", ["-c", `docker rmi -f ${Object.keys(images).reverse().join(" ")} >/dev/null 2>&1 || true`]);
}
