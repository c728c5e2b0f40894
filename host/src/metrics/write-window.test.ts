// Unit tests of the one-minute write window: counts within 60 s, forgets older seconds, per controller.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WriteWindow } from './write-window.ts';

test('counts the writes of the last 60 seconds, per controller, and lets older ones fall out', () => {
  let now = 1_000_000_000_000;
  const w = new WriteWindow(() => now);
  w.add('a', 3);
  w.add('b', 1);
  now += 30_000;
  w.add('a', 2);
  assert.equal(w.lastMinute('a'), 5);
  assert.equal(w.lastMinute('b'), 1);
  now += 30_000; // the first writes are now 60 s old: out of the window
  assert.equal(w.lastMinute('a'), 2);
  assert.equal(w.lastMinute('b'), 0);
  now += 60_000 * 5; // a slot reused many windows later starts from zero
  w.add('a', 1);
  assert.equal(w.lastMinute('a'), 1);
  assert.equal(w.lastMinute('unknown'), 0);
  w.forget('a');
  assert.deepEqual([...w.controllers()], ['b']);
});

test('adds within one second accumulate; nothing is counted for zero', () => {
  const w = new WriteWindow(() => 5_000);
  w.add('a', 0);
  assert.deepEqual([...w.controllers()], []);
  w.add('a', 1);
  w.add('a', 4);
  assert.equal(w.lastMinute('a'), 5);
});
