// When one field of an object last changed, read from its metadata.managedFields before the cache drops them.
//
// Each managedFields entry is one manager's set of owned fields (fieldsV1: an `f:<name>` key per level) and
// its `time`: the API server's clock, in whole seconds, at that manager's last change to ANY of its fields
// (apimachinery's managedFieldsUpdater restamps an entry whenever the operation changed a field it owns). A
// change of the field gives its changer ownership, so the latest `time` among the entries owning the field is
// at or after the field's last change: an upper bound, never too early. The create request stamps its entries
// before the API server sets creationTimestamp (field manager first, then rest.BeforeCreate), so an entry of
// the create is at or before creationTimestamp and every later change is at or after it: "every owning entry
// at or before creationTimestamp" means the field has its value from creation. A change within the creation's
// second reads the same second as the create, so it is told apart by who else wrote then: a create stamps
// exactly one entry (its manager's), so a second entry stamped within the creation's second, other than a
// status write, is a change the create's entry cannot vouch for, and the answer is that second (the field may
// have changed then), not SET_AT_CREATION. What stays unseen: the creator itself changing the field within the
// creation's second (its one entry is restamped with the same second). Node sharding's handover reads this
// (host/src/sharding/node/handover.ts); the cache keeps only the result, as CachedObject.fieldChangedAt.

import type { KubeObject } from '../abi/types.ts';

/** The field has had its value since the object was created: no entry owning it is newer than creationTimestamp. */
export const SET_AT_CREATION = 0;

interface ManagedFieldsEntry {
  readonly subresource?: string;
  readonly fieldsType?: string;
  readonly fieldsV1?: unknown;
  readonly time?: string;
}

/** Whether a fieldsV1 set owns the field at `path` (an object path, one name per level). */
function owns(fieldsV1: unknown, path: readonly string[]): boolean {
  let set: unknown = fieldsV1;
  for (const name of path) {
    if (typeof set !== 'object' || set === null) return false;
    set = (set as Record<string, unknown>)[`f:${name}`];
  }
  return set !== undefined;
}

/** A Kubernetes timestamp (RFC 3339, whole seconds) as seconds since the epoch; undefined when absent or malformed. */
function seconds(time: unknown): number | undefined {
  if (typeof time !== 'string') return undefined;
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

/**
 * When the field at `path` last changed: seconds since the epoch on the API server's clock (the latest time
 * of an entry owning it, an upper bound of the change; the creation's second when another manager wrote
 * within it), SET_AT_CREATION, or undefined when managedFields
 * cannot tell (none, no entry owning the field, an entry without a time, no creationTimestamp).
 */
export function lastFieldChange(obj: KubeObject, path: readonly string[]): number | undefined {
  const meta = obj.metadata;
  const created = seconds(meta?.creationTimestamp);
  const entries = meta?.managedFields as readonly ManagedFieldsEntry[] | undefined;
  if (created === undefined || !Array.isArray(entries)) return undefined;
  let latest: number | undefined;
  // Entries other than status writes stamped within the creation's second: the create's own, and any other
  // is a change then.
  let atCreation = 0;
  for (const entry of entries) {
    const time = seconds(entry?.time);
    if (time !== undefined && time <= created && entry.subresource !== 'status') atCreation++;
    if (entry?.fieldsType !== 'FieldsV1' || !owns(entry.fieldsV1, path)) continue;
    if (time === undefined) return undefined;
    latest = latest === undefined ? time : Math.max(latest, time);
  }
  if (latest === undefined) return undefined;
  if (latest > created) return latest;
  return atCreation > 1 ? created : SET_AT_CREATION;
}
