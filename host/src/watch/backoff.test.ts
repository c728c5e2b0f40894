// Unit tests of the jittered exponential backoff: bounds, growth, cap, reset after health, Retry-After.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from './backoff.ts';

describe('Backoff', () => {
  it('draws each delay uniformly below a ceiling that doubles up to the cap', () => {
    const draws = [0.999, 0.5, 0, 0.999, 0.999, 0.999, 0.999, 0.999, 0.999];
    let i = 0;
    const backoff = new Backoff({ initialMs: 800, maxMs: 30_000, random: () => draws[i++] ?? 0.999 });
    const delays = draws.map(() => backoff.failure());
    assert.deepEqual(delays, [799, 800, 0, 6393, 12787, 25574, 29970, 29970, 29970]);
    for (const d of delays) assert.ok(d >= 0 && d < 30_000);
  });

  it('keeps every delay within [0, cap) over a long outage with real randomness', () => {
    const backoff = new Backoff({ initialMs: 800, maxMs: 30_000 });
    for (let n = 0; n < 200; n++) {
      const d = backoff.failure();
      assert.ok(d >= 0 && d < 30_000, `delay ${d} out of bounds`);
    }
    assert.equal(backoff.ceilingMs, 30_000);
  });

  it('resets only after a healthy period at least resetAfterMs long', () => {
    let now = 0;
    const backoff = new Backoff({
      initialMs: 100,
      maxMs: 10_000,
      resetAfterMs: 1000,
      random: () => 0.5,
      now: () => now,
    });
    backoff.failure();
    backoff.failure();
    backoff.failure();
    assert.equal(backoff.ceilingMs, 800);
    backoff.healthy();
    now += 999;
    backoff.failure();
    assert.equal(backoff.ceilingMs, 1600, 'a short healthy spell does not reset');
    backoff.healthy();
    now += 1000;
    assert.equal(backoff.failure(), 50, 'first delay after a reset uses the initial ceiling');
  });

  it('waits at least the server Retry-After', () => {
    const backoff = new Backoff({ initialMs: 100, random: () => 0 });
    assert.equal(backoff.failure(5000), 5000);
  });
});
