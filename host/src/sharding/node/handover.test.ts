// HandoverGate: a key waits the window from its first sighting, and again after it left and came back.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HandoverGate } from './handover.ts';

test('a key is held for the window from when it was first seen, then admitted', () => {
  let now = 1_000;
  const gate = new HandoverGate(5_000, () => now);
  assert.equal(gate.admit('ns/a'), 5_000);
  now += 2_000;
  assert.equal(gate.admit('ns/a'), 3_000, 'the window runs from the first sighting, not from each ask');
  assert.equal(gate.admit('ns/b'), 5_000, 'each key has its own window');
  now += 3_000;
  assert.equal(gate.admit('ns/a'), 0);
  assert.equal(gate.admit('ns/b'), 2_000);
});

test('a key that left and came back waits the whole window again', () => {
  let now = 0;
  const gate = new HandoverGate(1_000, () => now);
  gate.admit('ns/a');
  now = 1_000;
  assert.equal(gate.admit('ns/a'), 0);
  gate.forget('ns/a');
  assert.equal(gate.size, 0);
  assert.equal(gate.admit('ns/a'), 1_000);
});
