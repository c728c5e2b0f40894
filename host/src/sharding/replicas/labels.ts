// The label vocabulary of replica sharding: which shard owns an object, which object is being handed over, and which Leases are members.
//
// After timebertt/kubernetes-controller-sharding: one label key per ring, so two host Deployments with
// rings of their own can shard the same objects independently, and every replica watches only
// `shard.wasmreconciler.dev/<ring>=<itself>`.

import { WrError } from '../../errors.ts';

/** On a primary: the shard (member name) that reconciles it. Key name part: the ring. */
const SHARD_PREFIX = 'shard.wasmreconciler.dev/';
/** On a primary: the sharder asks its current shard to let go; the shard acknowledges by removing both labels. */
const DRAIN_PREFIX = 'drain.wasmreconciler.dev/';
/** On a member Lease: the ring it belongs to (members are listed and watched by this label). */
export const RING_LABEL = 'sharding.wasmreconciler.dev/ring';
/** On a member Lease: the member's shard name, the value objects carry in their shard label. */
export const MEMBER_LABEL = 'sharding.wasmreconciler.dev/shard';

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

export interface RingLabels {
  readonly ring: string;
  /** `shard.wasmreconciler.dev/<ring>` */
  readonly shard: string;
  /** `drain.wasmreconciler.dev/<ring>` */
  readonly drain: string;
}

/** The label keys of one ring; the ring and member names must be valid label names (63 characters at most). */
export function ringLabels(ring: string): RingLabels {
  checkName('ring', ring);
  return { ring, shard: `${SHARD_PREFIX}${ring}`, drain: `${DRAIN_PREFIX}${ring}` };
}

/** Refuses a ring or member name that cannot be a label name or value. */
export function checkName(what: 'ring' | 'shard', name: string): void {
  if (!LABEL_NAME.test(name)) {
    throw new WrError(
      'WR_CONFIG_INVALID',
      `sharding: the ${what} name ${JSON.stringify(name)} must be a label value (at most 63 letters, digits, '-', '_' or '.', alphanumeric at both ends)`,
      { details: { [what]: name } },
    );
  }
}
