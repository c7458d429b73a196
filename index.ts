// pg-replication: a PostgreSQL primary with streaming standbys on Docker.
// The plan comes from this stack's config (Pulumi.<stack>.yaml), checked before anything is made
// (components/config.ts), then against what the Docker engine already has (components/preflight.ts);
// components/cluster.ts declares the resources, one file per part (primary.ts, standby.ts, ...).

import { declareCluster } from "./components/cluster";
import { checkedConfig } from "./components/preflight";

export = checkedConfig().then(declareCluster);
