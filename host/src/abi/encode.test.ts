// Unit tests for the ABI input encoders: exact JSON shape, and cached JSON spliced byte for byte.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isWrError } from '../errors.ts';
import { encodeInitInput, encodeReconcileInput } from './encode.ts';
import type { KubeObject, ObjectView, ReconcileRequest } from './types.ts';

/** A view whose object() must never be called: the encoder has to use the JSON text. */
function view(json: string): ObjectView {
  return {
    json,
    object(): KubeObject {
      throw new Error('the encoder parsed a cached object');
    },
  };
}

describe('encodeReconcileInput', () => {
  it('splices cached JSON verbatim (key order and spacing kept) into a valid document', () => {
    const primaryJson =
      '{"kind":"App","apiVersion":"demo.io/v1","metadata":{"name":"a","namespace":"ns"},  "spec":{"z":1,"a":2}}';
    const childJson = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a-cm"}}';
    const request: ReconcileRequest = {
      trigger: { reason: 'child', kind: 'ConfigMap', name: 'a-cm', namespace: 'ns' },
      reconciler: { name: 'apps', namespace: 'system', generation: 3 },
      primary: view(primaryJson),
      deleted: false,
      children: new Map([['v1/ConfigMap', [view(childJson), view(childJson)]]]),
      related: new Map(),
    };
    const text = encodeReconcileInput(request);
    assert.ok(text.includes(`"primary":${primaryJson}`));
    assert.ok(text.includes(`"children":{"v1/ConfigMap":[${childJson},${childJson}]}`));
    assert.deepEqual(JSON.parse(text), {
      abi: 1,
      trigger: { reason: 'child', kind: 'ConfigMap', name: 'a-cm', namespace: 'ns' },
      reconciler: { name: 'apps', namespace: 'system', generation: 3 },
      deleted: false,
      primary: JSON.parse(primaryJson),
      children: { 'v1/ConfigMap': [JSON.parse(childJson), JSON.parse(childJson)] },
      related: {},
    });
  });

  it('marks tombstones, keeps empty groups, and drops fields the request type does not declare', () => {
    const request = {
      trigger: { reason: 'deleted', secret: 'x' },
      reconciler: { name: 'apps' },
      primary: view('{"apiVersion":"v1","kind":"X","metadata":{"name":"gone"}}'),
      deleted: true,
      children: new Map([['apps/v1/Deployment', []]]),
      related: new Map([['v1/Secret', [view('{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}')]]]),
    } as unknown as ReconcileRequest;
    const parsed = JSON.parse(encodeReconcileInput(request));
    assert.equal(parsed.deleted, true);
    assert.deepEqual(parsed.trigger, { reason: 'deleted' });
    assert.deepEqual(parsed.children, { 'apps/v1/Deployment': [] });
    assert.equal(parsed.related['v1/Secret'][0].metadata.name, 's');
  });
});

describe('encodeInitInput', () => {
  it('carries the config once, as JSON', () => {
    assert.deepEqual(JSON.parse(encodeInitInput({ name: 'apps', namespace: 'ns' }, { replicas: 2 })), {
      abi: 1,
      reconciler: { name: 'apps', namespace: 'ns' },
      config: { replicas: 2 },
    });
    assert.equal(JSON.parse(encodeInitInput({ name: 'apps' }, undefined)).config, null);
  });

  it('rejects config that is not JSON', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(
      () => encodeInitInput({ name: 'a' }, cyclic),
      (e: unknown) => isWrError(e, 'WR_SPEC_INVALID'),
    );
    assert.throws(
      () => encodeInitInput({ name: 'a' }, () => 1),
      (e: unknown) => isWrError(e, 'WR_SPEC_INVALID'),
    );
  });
});
