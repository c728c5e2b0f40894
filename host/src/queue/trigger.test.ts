// Tests for mergeTriggerReason: the reason a coalesced run reports.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TriggerReason } from '../abi/types.ts';
import { mergeTriggerReason } from './trigger.ts';

function mergeAll(reasons: TriggerReason[]): TriggerReason | undefined {
  let merged: TriggerReason | undefined;
  for (const reason of reasons) merged = mergeTriggerReason(merged, reason);
  return merged;
}

test('the first reason of an empty entry is kept as is', () => {
  assert.equal(mergeTriggerReason(undefined, 'resync'), 'resync');
});

test('the first user-visible reason wins over later user-visible ones', () => {
  assert.equal(mergeAll(['created', 'updated', 'child']), 'created');
  assert.equal(mergeAll(['child', 'related', 'updated']), 'child');
});

test('a user-visible reason replaces scheduling reasons', () => {
  assert.equal(mergeAll(['retry', 'requeue', 'updated', 'resync']), 'updated');
  assert.equal(mergeAll(['resync', 'related']), 'related');
});

test('the first scheduling reason is kept among scheduling reasons', () => {
  assert.equal(mergeAll(['requeue', 'retry', 'resync']), 'requeue');
});

test('the latest lifecycle reason wins because it tells whether the object exists', () => {
  assert.equal(mergeAll(['created', 'updated', 'deleted']), 'deleted');
  assert.equal(mergeAll(['deleted', 'created']), 'created');
  assert.equal(mergeAll(['deleted', 'child', 'resync']), 'deleted');
  assert.equal(mergeAll(['updated', 'created']), 'created');
});
