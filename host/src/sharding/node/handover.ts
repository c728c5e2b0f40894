// The new owner's side of a node-sharded handover: a key that may have had another owner recently waits out the handover window.
//
// Without a Lease there is no record of who reconciled a key last, and the old owner writes nothing when it
// lets go (a write per move would be the only way to prove it, and the old owner may be dead). What bounds
// the old owner instead: it fences the key the moment its own watch sees the key leave its share
// (sharding/fence.ts), and a watch that stops delivering is found out and resumed within the watcher's probe
// interval plus probe timeout (watch/watcher.ts: 10 s + 5 s by default): the window. A dead old node writes
// nothing and needs no longer bound.
//
// Only a key whose assignment changed within the window can have an old owner still acting on it, and the
// primary says when its assignment (the rule's label or field) last changed: its managedFields, which the
// cache reads into CachedObject.fieldChangedAt (cache/field-change.ts: an upper bound, on the API server's
// clock, in whole seconds). So a key is admitted at once when
//  - its assignment has its value from the primary's creation (SET_AT_CREATION): no other host ever owned
//    it. A move by another manager within the creation's second does not read as creation (its entry is
//    a second one stamped then: field-change.ts); the residual risks are the creator itself moving it within
//    that second, and a primary deleted on one node and created again under the same name on another within
//    the window;
//  - its assignment last changed longer ago than the window (plus the second the timestamp truncates): any
//    old owner's watch has seen the move by now. This compares the API server's clock with this host's: a
//    host whose clock runs S ahead admits such a key up to S early (behind: it waits longer, but never
//    longer than the next rule allows). Keep node clocks synchronised (NTP); the moves within the last
//    window, the only ones this affects, are few.
// Otherwise (a fresh change, or managedFields that cannot tell) the key waits until the window has passed
// since the change or since this host first saw it in its share, whichever comes first: the move happened
// before the sighting, so the sighting's window bounds it too. A key once admitted stays admitted until it
// leaves the share: a later change by the manager that owns the assignment restamps its managedFields entry
// without moving anything.

import { SET_AT_CREATION } from '../../cache/index.ts';

/** A key that has been admitted: its window is over whatever its primary says next. */
const ADMITTED = Number.NEGATIVE_INFINITY;

export class HandoverGate {
  readonly #windowMs: number;
  readonly #now: () => number;
  /** Per key of the share: when this host first saw it (the window runs from there), or ADMITTED. */
  readonly #arrived = new Map<string, number>();

  constructor(windowMs: number, now: () => number = Date.now) {
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /**
   * 0 when `key` may start now; otherwise the ms still to wait. `changedAt` is when its assignment last
   * changed (CachedObject.fieldChangedAt: seconds on the API server's clock, SET_AT_CREATION, or undefined
   * when unknown).
   */
  admit(key: string, changedAt: number | undefined): number {
    const arrived = this.#arrived.get(key);
    if (arrived === ADMITTED) return 0;
    const now = this.#now();
    let waitMs = (arrived ?? now) + this.#windowMs - now;
    if (changedAt === SET_AT_CREATION) waitMs = 0;
    else if (changedAt !== undefined) waitMs = Math.min(waitMs, (changedAt + 1) * 1000 + this.#windowMs - now);
    if (waitMs <= 0) {
      this.#arrived.set(key, ADMITTED);
      return 0;
    }
    if (arrived === undefined) this.#arrived.set(key, now);
    return waitMs;
  }

  /** The key left the share: if it comes back, it is judged again. */
  forget(key: string): void {
    this.#arrived.delete(key);
  }

  get size(): number {
    return this.#arrived.size;
  }
}
