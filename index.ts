// pg-replication: PostgreSQL nodes on Docker, one of them primary, the others streaming from it.
// The plan comes from this stack's config (Pulumi.<stack>.yaml), checked before anything is made
// (components/config.ts), then against what the Docker engine already has and runs
// (components/preflight.ts, components/topology/); the PostgresCluster component
// (components/cluster.ts) declares the resources. components/program.ts runs those steps in order.

import { program } from "./components/program";

export = program();
