// HandoverGate: only a key whose assignment may have moved recently waits, from the change or its first sighting.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SET_AT_CREATION } from '../../cache/index.ts';
import { HandoverGate } from './handover.ts';

const WINDOW = 15_000;
/** This host's clock, in ms; the API server's timestamps below are whole seconds on the same clock. */
const T0 = 1_700_000_000_000;

test('an assignment set at creation is admitted at once: no other host ever owned the key', () => {
  const gate = new HandoverGate(WINDOW, () => T0);
  assert.equal(gate.admit('ns/new', SET_AT_CREATION), 0);
});

test('an assignment changed longer ago than the window is admitted at once (a restarted host)', () => {
  const gate = new HandoverGate(WINDOW, () => T0);
  // The timestamp truncates to the second: a change read as T0-16 s may have been at T0-15.x s.
  assert.equal(gate.admit('ns/settled', T0 / 1000 - 17), 0);
  assert.equal(gate.admit('ns/edge', T0 / 1000 - 16), 0, 'window plus the truncated second, exactly');
  assert.equal(gate.admit('ns/just-inside', T0 / 1000 - 15), 1_000);
});

test('a fresh move waits the window from the change, not from when this host saw it', () => {
  let now = T0;
  const gate = new HandoverGate(WINDOW, () => now);
  const changed = T0 / 1000 - 4; // moved 4-5 s before this host saw it
  assert.equal(gate.admit('ns/moved', changed), 12_000);
  now += 2_000;
  assert.equal(gate.admit('ns/moved', changed), 10_000);
  now += 10_000;
  assert.equal(gate.admit('ns/moved', changed), 0);
});

test('a change time ahead of this clock waits no longer than the window from the first sighting', () => {
  let now = T0;
  const gate = new HandoverGate(WINDOW, () => now);
  const ahead = T0 / 1000 + 60; // the API server's clock a minute ahead of this host's
  assert.equal(gate.admit('ns/a', ahead), WINDOW);
  now += WINDOW;
  assert.equal(gate.admit('ns/a', ahead), 0);
});

test('managedFields that cannot tell: the key waits the window from its first sighting', () => {
  let now = T0;
  const gate = new HandoverGate(5_000, () => now);
  assert.equal(gate.admit('ns/a', undefined), 5_000);
  now += 2_000;
  assert.equal(gate.admit('ns/a', undefined), 3_000, 'the window runs from the first sighting, not from each ask');
  assert.equal(gate.admit('ns/b', undefined), 5_000, 'each key has its own window');
  now += 3_000;
  assert.equal(gate.admit('ns/a', undefined), 0);
  assert.equal(gate.admit('ns/b', undefined), 2_000);
});

test('an admitted key stays admitted while in the share: a later edit by the assignment owner restamps its entry', () => {
  let now = T0;
  const gate = new HandoverGate(WINDOW, () => now);
  assert.equal(gate.admit('ns/a', SET_AT_CREATION), 0);
  now += 1_000;
  assert.equal(gate.admit('ns/a', now / 1000), 0, 'the same manager changed the spec: no move');
});

test('a key that left and came back is judged again', () => {
  let now = T0;
  const gate = new HandoverGate(1_000, () => now);
  assert.equal(gate.admit('ns/a', SET_AT_CREATION), 0);
  gate.forget('ns/a');
  assert.equal(gate.size, 0);
  assert.equal(gate.admit('ns/a', now / 1000), 1_000, 'moved back just now');
  now += 1_000;
  assert.equal(gate.admit('ns/a', undefined), 0, 'the window from its return has passed');
});
