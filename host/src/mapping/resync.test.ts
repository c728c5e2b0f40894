// Tests for PeriodicResync under virtual time: jitter range, low lane, stop.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TriggerReason } from '../abi/types.ts';
import { WrError } from '../errors.ts';
import type { EnqueueSink } from './event.ts';
import { jitteredDelayMs, PeriodicResync } from './resync.ts';

function recordingSink(accept = true): EnqueueSink & { adds: Array<[string, TriggerReason, string]> } {
  const adds: Array<[string, TriggerReason, string]> = [];
  return {
    adds,
    add(key, options) {
      adds.push([key, options.reason, options.lane]);
      return accept;
    },
  };
}

test('jittered delays stay within [period, period * (1 + jitter)]', () => {
  assert.equal(
    jitteredDelayMs(60_000, 0.1, () => 0),
    60_000,
  );
  assert.equal(
    jitteredDelayMs(60_000, 0.1, () => 0.5),
    63_000,
  );
  assert.ok(jitteredDelayMs(60_000, 0.1, () => 1 - 2 ** -53) <= 66_000);
  for (let i = 0; i < 1000; i++) {
    const delay = jitteredDelayMs(60_000, 0.25);
    assert.ok(delay >= 60_000 && delay <= 75_000, `delay ${delay}`);
  }
});

test('enqueues every key in the low lane each jittered period until stopped', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const sink = recordingSink();
  const rolls = [0, 0.5];
  const resync = new PeriodicResync({
    periodMs: 10_000,
    jitter: 0.2,
    listKeys: () => ['ns/a', 'ns/b'],
    sink,
    random: () => rolls.shift() ?? 1,
  });
  resync.start();
  resync.start();
  t.mock.timers.tick(9_999);
  assert.equal(sink.adds.length, 0);
  t.mock.timers.tick(1);
  assert.deepEqual(sink.adds, [
    ['ns/a', 'resync', 'low'],
    ['ns/b', 'resync', 'low'],
  ]);
  // Second wait: 10 s * (1 + 0.2 * 0.5) = 11 s.
  t.mock.timers.tick(10_999);
  assert.equal(sink.adds.length, 2);
  t.mock.timers.tick(1);
  assert.equal(sink.adds.length, 4);
  resync.stop();
  t.mock.timers.tick(100_000);
  assert.equal(sink.adds.length, 4);
});

test('runNow reports how many keys the sink accepted', () => {
  const resync = new PeriodicResync({ periodMs: 1000, listKeys: () => ['a', 'b', 'c'], sink: recordingSink(false) });
  assert.equal(resync.runNow(), 0);
});

test('a sink that stops the resync while it runs is not re-armed', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let runs = 0;
  const resync: PeriodicResync = new PeriodicResync({
    periodMs: 1000,
    jitter: 0,
    listKeys: () => ['a'],
    sink: {
      add() {
        runs++;
        resync.stop();
        return true;
      },
    },
  });
  resync.start();
  t.mock.timers.tick(10_000);
  assert.equal(runs, 1);
});

test('periods below one second and jitter outside [0, 1] are rejected', () => {
  for (const options of [{ periodMs: 999 }, { periodMs: Number.POSITIVE_INFINITY }, { periodMs: 1000, jitter: 1.5 }]) {
    assert.throws(
      () => new PeriodicResync({ listKeys: () => [], sink: recordingSink(), ...options }),
      (error) => error instanceof WrError && error.code === 'WR_CONFIG_INVALID',
    );
  }
});
