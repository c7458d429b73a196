// `node bin/stand-ins/main.js --pwd DIR [--log FILE]`: serves the stand-ins until stopped (SIGTERM, SIGINT
// or the end of standard input), printing one line for the engine on standard output:
//   PULUMI_DEBUG_PROVIDERS=docker:PORT,command:PORT,postgresql:PORT
// and the banner on standard error. scripts/deploy.sh runs it when PG_REPLICATION_STAND_IN_PLUGINS=1.
// DIR is where the engine would start the real plugins: the project directory the CLI runs in.

import { parseArgs } from "node:util";
import { banner, defaultLogFile, startStandIns } from "./launch";

async function main(): Promise<void> {
    const { values } = parseArgs({ options: { log: { type: "string" }, pwd: { type: "string" } } });
    if (!values.pwd) {
        throw new Error("--pwd DIR is required: the project directory the engine runs in (where it would start the real plugins)");
    }
    const standIns = await startStandIns({ pwd: values.pwd, logFile: values.log ?? defaultLogFile() });
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
