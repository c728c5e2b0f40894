// The new owner's side of a node-sharded handover: a key that arrives in this host's share waits out the handover window first.
//
// Without a Lease there is no record of who reconciled a key last, and the old owner writes nothing when it
// lets go (a write per move would be the only way to prove it, and the old owner may be dead). What bounds
// the old owner instead: it fences the key the moment its own watch sees the key leave its share
// (sharding/fence.ts), and a watch that stops delivering is found out and resumed within the watcher's probe
// interval plus probe timeout (watch/watcher.ts: 10 s + 5 s by default). So the new owner holds every key
// that arrives - moved, created, or found at start (a restart cannot tell which) - until that window has
// passed since it first saw it. A dead old node writes nothing and needs no longer bound.

export class HandoverGate {
  readonly #windowMs: number;
  readonly #now: () => number;
  /** When this host first saw each key of its share: the window runs from there. */
  readonly #arrived = new Map<string, number>();

  constructor(windowMs: number, now: () => number = Date.now) {
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /** 0 once `key` has been in the share for the whole window; otherwise the ms still to wait. */
  admit(key: string): number {
    const now = this.#now();
    let arrived = this.#arrived.get(key);
    if (arrived === undefined) {
      arrived = now;
      this.#arrived.set(key, arrived);
    }
    return Math.max(0, arrived + this.#windowMs - now);
  }

  /** The key left the share: if it comes back, it waits the whole window again. */
  forget(key: string): void {
    this.#arrived.delete(key);
  }

  get size(): number {
    return this.#arrived.size;
  }
}
