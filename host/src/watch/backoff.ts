// Exponential backoff with full jitter that forgets past failures after a healthy period.

export interface BackoffOptions {
  readonly initialMs?: number;
  readonly maxMs?: number;
  readonly factor?: number;
  /** A connection healthy for this long wipes the failure history (client-go resets after 2 minutes). */
  readonly resetAfterMs?: number;
  readonly random?: () => number;
  readonly now?: () => number;
}

/**
 * Full jitter (a uniform draw in [0, ceiling)) spreads reconnects of many hosts after a shared outage
 * instead of synchronising them into a storm; the ceiling doubles per consecutive failure up to `maxMs`.
 */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #factor: number;
  readonly #resetAfterMs: number;
  readonly #random: () => number;
  readonly #now: () => number;
  #attempt = 0;
  #healthySince: number | undefined;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? 800;
    this.#maxMs = options.maxMs ?? 30_000;
    this.#factor = options.factor ?? 2;
    this.#resetAfterMs = options.resetAfterMs ?? 120_000;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
  }

  /** The upper bound of the next delay, for logs and tests. */
  get ceilingMs(): number {
    return Math.min(this.#maxMs, this.#initialMs * this.#factor ** this.#attempt);
  }

  /** Records a failure and returns how long to wait; `atLeastMs` honours a server's Retry-After. */
  failure(atLeastMs = 0): number {
    if (this.#healthySince !== undefined && this.#now() - this.#healthySince >= this.#resetAfterMs) this.#attempt = 0;
    this.#healthySince = undefined;
    const delay = Math.floor(this.#random() * this.ceilingMs);
    // Stop growing once at the cap so the exponent cannot overflow to Infinity over a long outage.
    if (this.ceilingMs < this.#maxMs) this.#attempt++;
    return Math.max(delay, Math.min(atLeastMs, this.#maxMs * 10));
  }

  /** Marks the start of a healthy period (a list finished, a watch opened); a later failure may reset. */
  healthy(): void {
    this.#healthySince ??= this.#now();
  }
}
