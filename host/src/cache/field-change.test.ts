// lastFieldChange: when a field last changed, from the managedFields entries that own it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../abi/types.ts';
import { lastFieldChange, SET_AT_CREATION } from './field-change.ts';

const LABEL = ['metadata', 'labels', 'wasmreconciler.dev/node'];
const CREATED = '2026-01-02T03:04:05Z';
const CREATED_S = Date.parse(CREATED) / 1000;

function entry(manager: string, time: string | undefined, fieldsV1: unknown) {
  return {
    manager,
    operation: 'Update',
    apiVersion: 'v1',
    fieldsType: 'FieldsV1',
    fieldsV1,
    ...(time ? { time } : {}),
  };
}
const labelFields = { 'f:metadata': { 'f:labels': { '.': {}, 'f:wasmreconciler.dev/node': {} } } };
const specFields = { 'f:spec': { 'f:message': {} } };

function obj(managedFields: unknown): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'a', creationTimestamp: CREATED, ...(managedFields === undefined ? {} : { managedFields }) },
  };
}

test('every owning entry at or before creationTimestamp: set at creation', () => {
  assert.equal(lastFieldChange(obj([entry('kubectl', CREATED, labelFields)]), LABEL), SET_AT_CREATION);
  // The create stamps its entry before creationTimestamp is set: it may read a second earlier.
  assert.equal(lastFieldChange(obj([entry('kubectl', '2026-01-02T03:04:04Z', labelFields)]), LABEL), SET_AT_CREATION);
  // Another manager, newer, that does not own the label changes nothing.
  const later = entry('other', '2026-01-02T04:00:00Z', specFields);
  assert.equal(lastFieldChange(obj([entry('kubectl', CREATED, labelFields), later]), LABEL), SET_AT_CREATION);
});

test('an owning entry newer than creation: its time, the latest of the owners', () => {
  const moved = entry('mover', '2026-01-02T03:10:00Z', labelFields);
  const shared = entry('applier', '2026-01-02T03:05:00Z', labelFields);
  assert.equal(lastFieldChange(obj([shared, moved]), LABEL), CREATED_S + 355);
  // The owner's entry is restamped by a change to any of its fields: "maybe moved", the safe direction.
  const both = { ...labelFields, ...specFields };
  assert.equal(lastFieldChange(obj([entry('kubectl', '2026-01-02T03:04:15Z', both)]), LABEL), CREATED_S + 10);
});

test('a field path reads the same way', () => {
  const e = entry('scheduler', '2026-01-02T03:04:09Z', { 'f:spec': { 'f:nodeName': {} } });
  assert.equal(lastFieldChange(obj([e]), ['spec', 'nodeName']), CREATED_S + 4);
});

test('managedFields that cannot tell: undefined', () => {
  assert.equal(lastFieldChange(obj(undefined), LABEL), undefined, 'none');
  assert.equal(lastFieldChange(obj([entry('other', CREATED, specFields)]), LABEL), undefined, 'nobody owns the field');
  assert.equal(lastFieldChange(obj([entry('kubectl', undefined, labelFields)]), LABEL), undefined, 'no time');
  const noCreation = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', managedFields: [] } };
  assert.equal(lastFieldChange(noCreation, LABEL), undefined);
});

test('another manager writing within the creation second: that second, not set at creation', () => {
  // Created labelled by one manager and relabelled by another within the same second: the mover now owns the
  // label, and its entry reads the creation's second like the create's.
  const created = entry('kubectl-create', CREATED, specFields);
  const moved = entry('kubectl-label', CREATED, labelFields);
  assert.equal(lastFieldChange(obj([created, moved]), LABEL), CREATED_S);
  // A write to any other field by another manager then leaves the same doubt: the entries cannot say which
  // manager changed the label within that second.
  const annotated = entry('other', CREATED, { 'f:metadata': { 'f:annotations': { 'f:a': {} } } });
  assert.equal(lastFieldChange(obj([entry('kubectl', CREATED, labelFields), annotated]), LABEL), CREATED_S);
  // A status write within the creation's second (the host reconciling at once) changes no label.
  const status = { ...entry('wasm-reconciler', CREATED, { 'f:status': { 'f:ready': {} } }), subresource: 'status' };
  assert.equal(lastFieldChange(obj([entry('kubectl', CREATED, labelFields), status]), LABEL), SET_AT_CREATION);
  // Writes by others after the creation's second say nothing about it.
  const later = entry('other', '2026-01-02T03:04:06Z', specFields);
  assert.equal(lastFieldChange(obj([entry('kubectl', CREATED, labelFields), later]), LABEL), SET_AT_CREATION);
});
