// Per-key exponential backoff: how long a key waits before its next retry after consecutive failures.

export interface BackoffOptions {
  /** Delay after the first failure, in milliseconds (client-go: 5 ms). */
  readonly baseMs: number;
  /** Upper bound of any delay, in milliseconds (client-go: 1000 s). */
  readonly capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 5, capMs: 1_000_000 };

/**
 * Delay before retry number `failures` (1 = the first failure): base, 2*base, 4*base, ... capped.
 * The exponent is clamped first so a key that has failed thousands of times never computes Infinity * 0.
 */
export function backoffDelayMs(failures: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  if (failures <= 0) return 0;
  const exponent = Math.min(failures - 1, 1023);
  return Math.min(options.capMs, options.baseMs * 2 ** exponent);
}
