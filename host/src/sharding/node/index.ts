// Public surface of node sharding: the policy a DaemonSet's hosts run with.
export { DEFAULT_HANDOVER_MS, type NodeShardingOptions, NodeShardPolicy } from './policy.ts';
