// Topology: which node is primary, and making the declared one the actual one.
//  plan.ts     the rules (pure): planTopology, planFailover, downNodes
//  observe.ts  what the nodes say (Docker, psql), observeAndPlan
//  roll.ts     an image change on a running cluster (pure): planRoll, the order and its refusals
//  upgrade.ts  a new major on a running cluster (pure): planUpgrade, pg_upgrade in place
//  check.ts    preview's check and its refusals (Pulumi)
//  act.ts      the steps the up takes (fence, stop, promote, repoint, rejoin, demote)
//  up.ts       the topology step run by `pulumi up` (one JSON input, one JSON result)
export * from "./plan";
export * from "./observe";
export * from "./check";
export * from "./roll";
export * from "./upgrade";
