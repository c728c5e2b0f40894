// Polling until a condition holds: one helper for integration tests (waitFor) and unit tests (until).

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitForOptions {
  /** Give up after this long. Default 30 s. */
  readonly timeoutMs?: number;
  /** Pause between attempts. Default 100 ms. */
  readonly intervalMs?: number;
  /** What is being waited for, for the timeout message. */
  readonly description?: string;
}

/**
 * Calls `fn` until it returns something other than undefined, null or false, and returns that. A throw
 * counts as "not yet" (a 404 before an object appears); the last one becomes the timeout error's cause.
 */
export async function waitFor<T>(
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitForOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${options.description ?? 'a condition'}`, {
        cause: lastError,
      });
    }
    await sleep(options.intervalMs ?? 100);
  }
}

/** For unit tests against in-process fakes: a synchronous condition, polled every 5 ms, 5 s by default. */
export async function until(what: string, fn: () => boolean, timeoutMs = 5000): Promise<void> {
  try {
    await waitFor(fn, { description: what, timeoutMs, intervalMs: 5 });
  } catch (err) {
    assert.fail((err as Error).message);
  }
}
