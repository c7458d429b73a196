// Every Docker object the program makes carries pg-replication.stack=<stack>; tests find and
// clean up a stack's objects by that label alone.

import { execFileSync } from "node:child_process";

export function docker(...args: string[]): string {
    return execFileSync("docker", args, { encoding: "utf8" }).trim();
}

/** A container's id and start time: the same before and after means neither replaced nor restarted. */
export function identity(container: string): string {
    return docker("inspect", "-f", "{{.Id}} {{.State.StartedAt}}", container);
}

/** A container's log, both streams (PostgreSQL writes its log to stderr). */
export function containerLog(container: string): string {
    return execFileSync("sh", ["-c", 'docker logs "$1" 2>&1', "sh", container], { encoding: "utf8" });
}

const KINDS = [
    { kind: "container", list: ["ps", "-aq"], remove: ["rm", "-f", "-v"] },
    { kind: "volume", list: ["volume", "ls", "-q"], remove: ["volume", "rm", "-f"] },
    { kind: "network", list: ["network", "ls", "-q"], remove: ["network", "rm"] },
];

/** The containers, volumes and networks labelled with this stack, as "kind id"; on ENGINE when given (-H), else the default one. */
export function stackObjects(stack: string, engine?: string): string[] {
    return KINDS.flatMap(({ kind, list }) => docker(...(engine ? ["-H", engine] : []), ...list, "--filter", `label=pg-replication.stack=${stack}`)
        .split("\n").filter(Boolean).map((id) => `${kind} ${id}`));
}

/** Removes whatever carries this stack's label (containers first); returns what it found. */
export function removeStackObjects(stack: string, keep: readonly string[] = []): string[] {
    const found = stackObjects(stack).filter((o) => !keep.includes(o));
    for (const { kind, remove } of KINDS) {
        const ids = found.filter((o) => o.startsWith(`${kind} `)).map((o) => o.slice(kind.length + 1));
        if (ids.length > 0) {
            docker(...remove, ...ids);
        }
    }
    return found;
}
