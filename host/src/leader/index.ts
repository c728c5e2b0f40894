// Public surface of the leader folder: Lease-based leader election for replicated hosts.
export { LeaderElector, type LeaseOptions } from './lease.ts';
