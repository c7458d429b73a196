// What another Pulumi program imports to build a cluster of its own:
//   import { PostgresCluster } from "pg-replication/components";
//   new PostgresCluster("db", { image: "postgres:17", nodes: [...], primary: "pg1", ... });
// Call checkTopology (or do the same check) before `new PostgresCluster` when a switchover may be
// planned, so an unsafe one fails preview before anything changes.

export { ClusterOutputs, NodeOutput, PostgresCluster, PostgresClusterArgs } from "./cluster";
export { ClusterConfig, loadConfig, NodeSpec, ReplicationSettings, validateConfig } from "./config";
export { NodeSettings, PostgresNode } from "./node";
export { checkTopology, planTopology, SwitchoverRefused, TopologyPlan } from "./topology";
