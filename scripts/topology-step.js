// The topology step's process (components/cluster.ts TOPOLOGY_COMMAND runs `node` on this file in
// the project directory): components/topology/up.ts's main, from the program's compiled copy of
// these very sources (scripts/program-cache.js), as pulumi-entry.js runs the program, so the step
// starts without loading TypeScript or ts-node.
"use strict";

const path = require("node:path");
const { compiledEntry } = require("./program-cache");

const root = path.join(__dirname, "..");
require(path.join(path.dirname(compiledEntry(root)), "components", "topology", "up.js")).main();
