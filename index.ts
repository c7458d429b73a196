// pg-replication: a PostgreSQL primary with streaming standbys on Docker.
// The plan comes from this stack's config (Pulumi.<stack>.yaml), checked before anything is made;
// components/cluster.ts declares the resources, one file per part (primary.ts, standby.ts, ...).

import { declareCluster } from "./components/cluster";
import { loadConfig } from "./components/config";

export = declareCluster(loadConfig());
