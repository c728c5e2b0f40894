// How the trigger reasons of several events coalesced on one queued key merge into the one a reconcile reports.

import type { TriggerReason } from '../abi/types.ts';

/** Reasons caused by a change somebody made, as opposed to the host's own scheduling (resync, requeue, retry). */
const USER_VISIBLE: ReadonlySet<TriggerReason> = new Set(['created', 'updated', 'deleted', 'child', 'related']);

/**
 * - The latest of `created`/`deleted` wins over everything: it tells whether the object the reconcile
 *   sees exists (created then deleted is a deletion; deleted then re-created is a creation).
 * - Otherwise the first user-visible reason is kept (created then updated stays created).
 * - A user-visible reason replaces a scheduling one (a retry that a spec change overtook reports updated).
 * - Among scheduling reasons the first is kept.
 */
export function mergeTriggerReason(current: TriggerReason | undefined, next: TriggerReason): TriggerReason {
  if (current === undefined || next === 'created' || next === 'deleted') return next;
  if (USER_VISIBLE.has(current)) return current;
  return USER_VISIBLE.has(next) ? next : current;
}
