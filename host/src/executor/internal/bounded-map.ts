// A Map capped at a fixed number of entries that forgets the least recently written one first.

export class BoundedMap<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, V>();

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    return this.#map.get(key);
  }

  /** Re-inserting moves the key to the young end, so eviction follows write recency. */
  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next();
      if (oldest.done !== true) this.#map.delete(oldest.value);
    }
  }

  delete(key: K): void {
    this.#map.delete(key);
  }

  /** Deletes every entry whose value matches: a walk over all of them, for rare, bulk forgetting. */
  deleteWhere(matches: (value: V) => boolean): void {
    for (const [key, value] of this.#map) if (matches(value)) this.#map.delete(key);
  }
}
