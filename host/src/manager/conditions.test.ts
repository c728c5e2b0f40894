// Unit tests of condition upkeep: transition times move only on status changes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setCondition } from './conditions.ts';

test('lastTransitionTime is kept while the status holds and moves when it changes', () => {
  const t1 = () => new Date('2026-01-01T00:00:00.123Z');
  const t2 = () => new Date('2026-01-02T00:00:00Z');
  let list = setCondition([], { type: 'Ready', status: 'False', reason: 'Loading', message: '' }, t1);
  assert.equal(list[0]!.lastTransitionTime, '2026-01-01T00:00:00Z', 'RFC 3339 without fractions, as metav1.Time');
  list = setCondition(list, { type: 'Ready', status: 'False', reason: 'Still', message: 'x' }, t2);
  assert.equal(list[0]!.lastTransitionTime, '2026-01-01T00:00:00Z');
  assert.equal(list[0]!.reason, 'Still');
  list = setCondition(list, { type: 'Ready', status: 'True', reason: 'Loaded', message: '' }, t2);
  assert.equal(list[0]!.lastTransitionTime, '2026-01-02T00:00:00Z');
});

test('conditions stay one per type, sorted, so unchanged status serialises identically', () => {
  let list = setCondition([], { type: 'Ready', status: 'True', reason: 'A', message: '' });
  list = setCondition(list, { type: 'Degraded', status: 'False', reason: 'B', message: '', observedGeneration: 3 });
  list = setCondition(list, { type: 'Ready', status: 'True', reason: 'A', message: '' });
  assert.deepEqual(
    list.map((c) => c.type),
    ['Degraded', 'Ready'],
  );
  assert.equal(list[0]!.observedGeneration, 3);
  assert.equal('observedGeneration' in list[1]!, false);
});
