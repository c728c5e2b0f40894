// API writes per controller over the last minute: the edge write budget as one gauge.
//
// On a single-node k3s every write is a SQLite row, so "how many writes did this reconciler make in the last
// minute" is the figure an operator budgets; a counter's rate() answers it only where Prometheus runs, and
// edge sites often have none. One-second buckets in a ring: adding and reading cost O(60) at most, memory is
// 60 numbers per controller, and a controller that stops writing reads 0 a minute later.

const WINDOW_SECONDS = 60;

interface Ring {
  readonly counts: number[];
  /** The second (since the epoch) each slot counts; a slot of an older second is stale. */
  readonly seconds: number[];
}

export class WriteWindow {
  readonly #rings = new Map<string, Ring>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Counts `writes` for `controller` now. */
  add(controller: string, writes: number): void {
    if (writes <= 0) return;
    let ring = this.#rings.get(controller);
    if (ring === undefined) {
      ring = { counts: new Array(WINDOW_SECONDS).fill(0), seconds: new Array(WINDOW_SECONDS).fill(-1) };
      this.#rings.set(controller, ring);
    }
    const second = Math.floor(this.#now() / 1000);
    const slot = second % WINDOW_SECONDS;
    if (ring.seconds[slot] !== second) {
      ring.seconds[slot] = second;
      ring.counts[slot] = 0;
    }
    ring.counts[slot]! += writes;
  }

  /** Writes of `controller` in the last 60 s (the current second included). */
  lastMinute(controller: string): number {
    const ring = this.#rings.get(controller);
    if (ring === undefined) return 0;
    const oldest = Math.floor(this.#now() / 1000) - WINDOW_SECONDS + 1;
    let total = 0;
    for (let i = 0; i < WINDOW_SECONDS; i++) if (ring.seconds[i]! >= oldest) total += ring.counts[i]!;
    return total;
  }

  controllers(): IterableIterator<string> {
    return this.#rings.keys();
  }

  /** Forgets a controller (its WasmReconciler is gone), so its series ends. */
  forget(controller: string): void {
    this.#rings.delete(controller);
  }
}
