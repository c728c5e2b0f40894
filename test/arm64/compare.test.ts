// The fuel comparison of the arm64 run: equal records pass, and each kind of difference is named.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CaseRecord, type FuelRecord, fuelByCase, fuelDifferences } from './compare.ts';

const ok: CaseRecord = {
  digest: 'sha256:aa',
  result: 'reconciled',
  calls: [
    { export: 'wr_init', outcome: 'ok', fuelUsed: 120 },
    { export: 'wr_reconcile', outcome: 'ok', fuelUsed: 4567 },
  ],
};

function record(arch: string, cases: Record<string, CaseRecord>): FuelRecord {
  return { arch, node: 'v24.21.0', cases };
}

test('equal records have no differences, whatever the architecture', () => {
  assert.deepEqual(fuelDifferences(record('x64', { a: ok }), record('arm64', { a: structuredClone(ok) })), []);
});

test('one unit of fuel more on one call is a difference naming the case and the call', () => {
  const more = { ...ok, calls: [ok.calls[0]!, { ...ok.calls[1]!, fuelUsed: 4568 }] };
  assert.deepEqual(fuelDifferences(record('x64', { a: ok }), record('arm64', { a: more })), [
    'a: call 2: x64 wr_reconcile ok 4567 fuel, arm64 wr_reconcile ok 4568 fuel',
  ]);
});

test('a missing call, another outcome, other bytes and a missing case are differences', () => {
  const deadline: CaseRecord = {
    digest: 'sha256:bb',
    result: 'reconcile failed: WR_GUEST_DEADLINE_EXCEEDED',
    calls: [ok.calls[0]!],
  };
  assert.deepEqual(fuelDifferences(record('x64', { a: ok, b: ok }), record('arm64', { a: deadline })), [
    'a: different module bytes (x64 sha256:aa, arm64 sha256:bb)',
    'a: x64 "reconciled", arm64 "reconcile failed: WR_GUEST_DEADLINE_EXCEEDED"',
    'a: call 2: x64 wr_reconcile ok 4567 fuel, arm64 no call',
    'b: only on x64',
  ]);
});

test('fuel per case sums its calls', () => {
  assert.deepEqual(fuelByCase(record('x64', { a: ok, b: { ...ok, calls: [] } })), { a: 4687, b: 0 });
});
