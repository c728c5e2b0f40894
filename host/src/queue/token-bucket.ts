// A token bucket shared by all keys of a queue: the global ceiling on how fast failed keys are retried.
//
// Same contract as golang.org/x/time/rate's Reserve (client-go's BucketRateLimiter): every retry takes a
// token now, and when none is left the retry is scheduled for when its token will exist, so a storm of
// failures spreads out at `qps` instead of being refused.

export interface TokenBucketOptions {
  /** Sustained retries per second; Infinity disables the bucket. */
  readonly qps: number;
  /** Retries allowed back to back before the rate applies. */
  readonly burst: number;
}

export const DEFAULT_TOKEN_BUCKET: TokenBucketOptions = { qps: 10, burst: 100 };

export class TokenBucket {
  readonly #qps: number;
  readonly #burst: number;
  #tokens: number;
  #updatedAt: number | undefined;

  constructor(options: TokenBucketOptions = DEFAULT_TOKEN_BUCKET) {
    this.#qps = options.qps;
    this.#burst = options.burst;
    this.#tokens = options.burst;
  }

  /** Takes one token at time `now` (milliseconds) and returns how long to wait until it is valid. */
  reserve(now: number): number {
    if (this.#qps === Number.POSITIVE_INFINITY) return 0;
    if (this.#updatedAt !== undefined && now > this.#updatedAt) {
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#updatedAt) * this.#qps) / 1000);
    }
    if (this.#updatedAt === undefined || now > this.#updatedAt) this.#updatedAt = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.#qps;
  }
}
