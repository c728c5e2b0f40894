// Public surface of replica sharding: N host replicas split primaries by rendezvous hashing over their member Leases.
export { DEFAULT_RING, memberLease, type ReplicaRing, ReplicaShardPolicy, type RingTiming } from './policy.ts';
