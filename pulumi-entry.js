// The program as the Pulumi CLI starts it (Pulumi.yaml `main`): index.ts's program, run from a
// compiled copy of exactly the sources in this folder (scripts/program-cache.js; made by the first
// run after an edit, reused by every later one). It replaces the language host's ts-node, which
// loads TypeScript and transpiles the modules on each of `pulumi up`'s two program runs, and whose
// source-map hook makes each of the SDK's per-output stack traces slow.
// PG_REPLICATION_PROGRAM=ts-node runs index.ts through ts-node instead, as before (the benchmark
// compares the two).
"use strict";

if (process.env.PG_REPLICATION_PROGRAM === "ts-node") {
    require("ts-node").register({ project: require("node:path").join(__dirname, "tsconfig.json") });
    module.exports = require("./index.ts");
} else {
    module.exports = require(require("./scripts/program-cache").compiledEntry(__dirname));
}
