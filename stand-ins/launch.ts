// Starts the three stand-ins on ephemeral loopback ports and says how the engine reaches them.
// Used by the end-to-end driver (in its own process) and by main.ts (for scripts/deploy.sh).

import * as os from "node:os";
import * as path from "node:path";
import { commandStandIn } from "./command";
import { dockerStandIn } from "./docker";
import { postgresqlStandIn } from "./postgresql";
import { StandInProvider } from "./provider";
import { RunningStandIn, serveStandIn } from "./server";

export const STAND_INS: readonly StandInProvider[] = [dockerStandIn, commandStandIn, postgresqlStandIn];

export interface StandIns {
    /** The value for PULUMI_DEBUG_PROVIDERS: "docker:PORT,command:PORT,postgresql:PORT". */
    readonly debugProviders: string;
    readonly logFile: string;
    stop(): Promise<void>;
}

export function defaultLogFile(): string {
    return process.env.PG_REPLICATION_STAND_IN_LOG ?? path.join(os.tmpdir(), "pg-replication-stand-ins.log");
}

/** The banner every run that uses the stand-ins prints. */
export function banner(): string {
    const which = STAND_INS.map((p) => `${p.name} ${p.version}`).join(", ");
    return [
        "################################################################################",
        "#  STAND-IN PLUGINS IN USE: the real provider plugins could not be had here.",
        `#  ${which} are served by pg-replication's own stand-ins`,
        "#  (stand-ins/*.ts; every behaviour names the real provider's source). The Pulumi",
        "#  engine, CLI, state, program, Docker and PostgreSQL are real; the plugins are not.",
        "################################################################################",
    ].join("\n");
}

/**
 * Serves the stand-ins for the engine of one project. `pwd` is the directory the engine would
 * start real plugins in (the project directory, or an Automation API workspace's workDir): the
 * command stand-in runs its commands there, as the real plugin does. Two projects (the benchmark's
 * baseline) need two sets.
 */
export async function startStandIns(opts: { pwd: string; logFile?: string }): Promise<StandIns> {
    const logFile = opts.logFile ?? defaultLogFile();
    const running: RunningStandIn[] = [];
    for (const provider of STAND_INS) {
        running.push(await serveStandIn(provider, { logFile, pwd: opts.pwd }));
    }
    return {
        debugProviders: running.map((r) => `${r.name}:${r.port}`).join(","),
        logFile,
        stop: async () => {
            await Promise.all(running.map((r) => r.stop()));
        },
    };
}
