// Public surface of the sharding folder: how hosts split primaries between them, and the per-key write fence.
export { KeyFence } from './fence.ts';
export type { ClaimTarget, Ownership, ShardedController, ShardPolicy } from './policy.ts';
