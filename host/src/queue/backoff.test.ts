// Tests for backoffDelayMs: the exact client-go sequence and its cap.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelayMs } from './backoff.ts';

test('the default sequence is 5 ms doubling to a 1000 s cap', () => {
  const delays = Array.from({ length: 22 }, (_, i) => backoffDelayMs(i + 1));
  assert.deepEqual(delays.slice(0, 5), [5, 10, 20, 40, 80]);
  assert.equal(delays[17], 5 * 2 ** 17);
  assert.deepEqual(delays.slice(18), [1_000_000, 1_000_000, 1_000_000, 1_000_000]);
});

test('no failures means no delay, and huge failure counts stay at the cap', () => {
  assert.equal(backoffDelayMs(0), 0);
  assert.equal(backoffDelayMs(1_000_000), 1_000_000);
  assert.equal(backoffDelayMs(3, { baseMs: 100, capMs: 250 }), 250);
});
