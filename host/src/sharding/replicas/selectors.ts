// The label selectors of a ring: what a shard watches, what the sharder assigns, what it rebalances.

import { type LabelSelector, parseLabelSelector } from '../../cache/index.ts';
import type { RingLabels } from './labels.ts';

/** `base` AND `requirement`; the canonical text keeps equal selectors sharing one cache in the registry. */
export function and(base: LabelSelector | undefined, requirement: string): LabelSelector {
  const text = base?.toString() ?? '';
  return parseLabelSelector(text === '' ? requirement : `${text},${requirement}`);
}

/** What shard `member` watches: the objects assigned to it (draining ones included, until it lets go). */
export function shardSelector(labels: RingLabels, member: string, base?: LabelSelector): LabelSelector {
  return and(base, `${labels.shard}=${member}`);
}

/** What the sharder watches: objects not assigned yet. They leave the watch once labelled, so it stays small. */
export function unassignedSelector(labels: RingLabels, base?: LabelSelector): LabelSelector {
  return and(base, `!${labels.shard}`);
}

/** What a rebalance pass lists (page by page, not cached): every assigned object. */
export function assignedSelector(labels: RingLabels, base?: LabelSelector): LabelSelector {
  return and(base, labels.shard);
}
