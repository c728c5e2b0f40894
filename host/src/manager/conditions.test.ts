// Unit tests of the WasmReconciler's conditions: the documented table, and transition times that move only on
// status changes.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Condition, reconcilerConditions, setCondition } from './conditions.ts';

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

describe('reconcilerConditions: the Conditions table of docs/operations.md', () => {
  const at = () => new Date('2026-03-01T00:00:00Z');
  const digest = `sha256:${'a'.repeat(64)}`;
  const view = (list: Condition[]) =>
    Object.fromEntries(list.map((c) => [c.type, `${c.status} ${c.reason}${c.message ? `: ${c.message}` : ''}`]));
  const serving = reconcilerConditions([], { generation: 1, serving: digest, suspended: false }, at);

  test('serving and running: Ready=True Reconciling, ModuleLoaded=True Loaded, Degraded=False AsExpected', () => {
    assert.deepEqual(view(serving), {
      Degraded: 'False AsExpected',
      ModuleLoaded: `True Loaded: serving ${digest}`,
      Ready: 'True Reconciling',
    });
    assert.ok(serving.every((c) => c.observedGeneration === 1));
  });

  test('suspended: Ready=False Suspended, the module still loaded', () => {
    const list = reconcilerConditions(serving, { generation: 2, serving: digest, suspended: true }, at);
    assert.equal(view(list).Ready, 'False Suspended: spec.suspend is true: intake paused');
    assert.equal(view(list).ModuleLoaded, `True Loaded: serving ${digest}`);
  });

  test('a refused first version: Ready and ModuleLoaded False with the reason; Degraded left alone (absent)', () => {
    for (const reason of ['SpecInvalid', 'ModuleRejected', 'Conflict']) {
      const list = reconcilerConditions(
        [],
        {
          generation: 1,
          serving: undefined,
          suspended: false,
          failure: { reason, message: 'WR_X: no', controller: false },
        },
        at,
      );
      assert.deepEqual(view(list), { ModuleLoaded: `False ${reason}: WR_X: no`, Ready: `False ${reason}: WR_X: no` });
    }
  });

  test('a refused new version while the old one serves: only Degraded changes', () => {
    const list = reconcilerConditions(
      serving,
      {
        generation: 2,
        serving: digest,
        suspended: false,
        failure: { reason: 'ModuleRejected', message: 'WR_MODULE_INVALID: bad', controller: false },
      },
      at,
    );
    assert.deepEqual(view(list), {
      Degraded: 'True ModuleRejected: WR_MODULE_INVALID: bad',
      ModuleLoaded: `True Loaded: serving ${digest}`,
      Ready: 'True Reconciling',
    });
    // The untouched ones keep the generation they were set for.
    assert.equal(list.find((c) => c.type === 'Ready')?.observedGeneration, 1);
  });

  test('a controller that could not start: Ready=False and Degraded=True with its reason; ModuleLoaded left alone', () => {
    for (const reason of ['KindNotServed', 'Forbidden', 'ControllerFailed', 'SpecInvalid']) {
      const list = reconcilerConditions(
        serving,
        { generation: 2, serving: digest, suspended: false, failure: { reason, message: 'WR_Y: m', controller: true } },
        at,
      );
      assert.deepEqual(view(list), {
        Degraded: `True ${reason}: WR_Y: m`,
        ModuleLoaded: `True Loaded: serving ${digest}`,
        Ready: `False ${reason}: WR_Y: m`,
      });
    }
    const first = reconcilerConditions(
      [],
      {
        generation: 1,
        serving: digest,
        suspended: false,
        failure: { reason: 'Forbidden', message: 'm', controller: true },
      },
      at,
    );
    assert.deepEqual(Object.keys(view(first)), ['Degraded', 'Ready']);
  });

  test('recovery sets all three back, and transition times move only for the ones that changed status', () => {
    const later = () => new Date('2026-03-02T00:00:00Z');
    const failed = reconcilerConditions(
      serving,
      {
        generation: 2,
        serving: digest,
        suspended: false,
        failure: { reason: 'ModuleRejected', message: 'm', controller: false },
      },
      later,
    );
    const back = reconcilerConditions(failed, { generation: 3, serving: digest, suspended: false }, later);
    assert.deepEqual(view(back), view(serving));
    const times = Object.fromEntries(back.map((c) => [c.type, c.lastTransitionTime]));
    assert.deepEqual(times, {
      Degraded: '2026-03-02T00:00:00Z',
      ModuleLoaded: '2026-03-01T00:00:00Z',
      Ready: '2026-03-01T00:00:00Z',
    });
  });
});
