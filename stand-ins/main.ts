// `node bin/stand-ins/main.js [--log FILE]`: serves the stand-ins until stopped (SIGTERM, SIGINT
// or the end of standard input), printing one line for the engine on standard output:
//   PULUMI_DEBUG_PROVIDERS=docker:PORT,command:PORT,postgresql:PORT
// and the banner on standard error. scripts/deploy.sh runs it when PG_REPLICATION_STAND_IN_PLUGINS=1.

import { parseArgs } from "node:util";
import { banner, defaultLogFile, startStandIns } from "./launch";

async function main(): Promise<void> {
    const { values } = parseArgs({ options: { log: { type: "string" } } });
    const standIns = await startStandIns(values.log ?? defaultLogFile());
    process.stderr.write(`${banner()}\n(stand-in log: ${standIns.logFile})\n`);
    process.stdout.write(`PULUMI_DEBUG_PROVIDERS=${standIns.debugProviders}\n`);
    const stop = () => {
        standIns.stop().finally(() => process.exit(0));
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    process.stdin.on("end", stop);
    process.stdin.resume();
}

main().catch((err) => {
    process.stderr.write(`stand-ins: ${err?.stack ?? err}\n`);
    process.exit(1);
});
