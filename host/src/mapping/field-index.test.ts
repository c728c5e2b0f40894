// Tests for FieldRefIndex: related objects to the primaries that name them, kept current from events.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../abi/types.ts';
import { WrError } from '../errors.ts';
import { FieldRefIndex } from './field-index.ts';

const app = (name: string, namespace: string, spec: unknown): KubeObject => ({
  apiVersion: 'example.com/v1',
  kind: 'App',
  metadata: { name, namespace },
  spec,
});
const configMap = (name: string, namespace?: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, ...(namespace === undefined ? {} : { namespace }) },
});

test('finds primaries whose field equals the related name, in the same namespace only', () => {
  const index = new FieldRefIndex({ path: 'spec.configRef' });
  index.apply({ type: 'added', object: app('a', 'ns', { configRef: 'cfg' }) });
  index.apply({ type: 'added', object: app('b', 'ns', { configRef: 'cfg' }) });
  index.apply({ type: 'added', object: app('c', 'other', { configRef: 'cfg' }) });
  index.apply({ type: 'added', object: app('d', 'ns', { configRef: 'else' }) });
  assert.deepEqual(index.keysFor(configMap('cfg', 'ns')).toSorted(), ['ns/a', 'ns/b']);
  assert.deepEqual(index.keysFor(configMap('missing', 'ns')), []);
});

test('updates refile and deletions unfile', () => {
  const index = new FieldRefIndex({ path: 'spec.configRef' });
  index.apply({ type: 'added', object: app('a', 'ns', { configRef: 'one' }) });
  index.apply({ type: 'updated', object: app('a', 'ns', { configRef: 'two' }) });
  assert.deepEqual(index.keysFor(configMap('one', 'ns')), []);
  assert.deepEqual(index.keysFor(configMap('two', 'ns')), ['ns/a']);
  index.apply({ type: 'deleted', object: app('a', 'ns', { configRef: 'two' }) });
  assert.deepEqual(index.keysFor(configMap('two', 'ns')), []);
  assert.equal(index.size, 0);
});

test('arrays on the path fan out, and cluster-scoped related objects match every namespace', () => {
  const index = new FieldRefIndex({ path: 'spec.sources.issuer', relatedScope: 'cluster' });
  index.apply({ type: 'added', object: app('a', 'x', { sources: [{ issuer: 'i1' }, { issuer: 'i2' }] }) });
  index.apply({ type: 'added', object: app('b', 'y', { sources: [{ issuer: 'i2' }, { other: 1 }] }) });
  assert.deepEqual(index.keysFor(configMap('i1')), ['x/a']);
  assert.deepEqual(index.keysFor(configMap('i2')).toSorted(), ['x/a', 'y/b']);
});

test('non-string values are ignored and references beyond the limit are counted', () => {
  const index = new FieldRefIndex({ path: 'spec.refs', maxValuesPerObject: 2 });
  index.apply({ type: 'added', object: app('a', 'ns', { refs: ['r1', 'r2', 'r3', 4, null] }) });
  index.apply({ type: 'added', object: app('b', 'ns', { refs: 7 }) });
  assert.equal(index.truncated, 1);
  assert.deepEqual(index.keysFor(configMap('r2', 'ns')), ['ns/a']);
  assert.deepEqual(index.keysFor(configMap('r3', 'ns')), []);
  assert.equal(index.size, 1);
});

test('malformed paths and limits are rejected with WR_CONFIG_INVALID', () => {
  for (const options of [
    { path: '' },
    { path: 'spec..ref' },
    { path: 'spec.ref[0]' },
    { path: 'a', maxValuesPerObject: 0 },
  ]) {
    assert.throws(
      () => new FieldRefIndex(options),
      (error) => error instanceof WrError && error.code === 'WR_CONFIG_INVALID',
    );
  }
});
