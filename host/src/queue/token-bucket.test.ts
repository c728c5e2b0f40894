// Tests for TokenBucket: burst, then one token per 1/qps seconds, reserved ahead like x/time/rate.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucket } from './token-bucket.ts';

test('a burst passes undelayed, then reservations queue up at the rate', () => {
  const bucket = new TokenBucket({ qps: 10, burst: 100 });
  for (let i = 0; i < 100; i++) assert.equal(bucket.reserve(0), 0);
  assert.equal(bucket.reserve(0), 100);
  assert.equal(bucket.reserve(0), 200);
});

test('tokens refill with time up to the burst', () => {
  const bucket = new TokenBucket({ qps: 2, burst: 2 });
  assert.equal(bucket.reserve(0), 0);
  assert.equal(bucket.reserve(0), 0);
  assert.equal(bucket.reserve(0), 500);
  // At 10 s the debt of one token is long repaid and the bucket is full again, not fuller.
  assert.equal(bucket.reserve(10_000), 0);
  assert.equal(bucket.reserve(10_000), 0);
  assert.equal(bucket.reserve(10_000), 500);
});

test('an infinite rate never delays', () => {
  const bucket = new TokenBucket({ qps: Number.POSITIVE_INFINITY, burst: 1 });
  for (let i = 0; i < 1000; i++) assert.equal(bucket.reserve(0), 0);
});
