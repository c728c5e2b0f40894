import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSubset, jsonEqual } from './compare.ts';

describe('isSubset', () => {
  it('ignores fields only the observed value has', () => {
    assert.equal(isSubset({ a: 1, m: { x: 'y' } }, { a: 1, b: 2, m: { x: 'y', z: 'w' } }), true);
    assert.equal(isSubset({}, { a: 1 }), true);
  });

  it('needs every desired field with an equal value', () => {
    assert.equal(isSubset({ a: 1 }, { a: '1' }), false);
    assert.equal(isSubset({ a: 1 }, {}), false);
    assert.equal(isSubset({ m: { x: 'y' } }, { m: 'x' }), false);
    assert.equal(isSubset({ a: false }, { a: false }), true);
  });

  it('compares arrays element-wise with equal length', () => {
    assert.equal(isSubset([{ name: 'a' }], [{ name: 'a', image: 'x' }]), true);
    assert.equal(isSubset([{ name: 'a' }], [{ name: 'a' }, { name: 'b' }]), false);
    assert.equal(isSubset([1, 2], [2, 1]), false);
    assert.equal(isSubset([], {}), false);
  });

  it('never treats a desired null as present', () => {
    assert.equal(isSubset({ a: null }, { a: null }), false);
    assert.equal(isSubset({ a: null }, {}), false);
  });

  it('does not follow inherited properties', () => {
    assert.equal(isSubset({ toString: 'x' }, {}), false);
  });
});

describe('jsonEqual', () => {
  it('is deep equality regardless of key order', () => {
    assert.equal(jsonEqual({ a: [1, { b: 2 }], c: 'x' }, { c: 'x', a: [1, { b: 2 }] }), true);
    assert.equal(jsonEqual({ a: 1 }, { a: 1, b: undefined }), false);
    assert.equal(jsonEqual([1], { 0: 1 }), false);
    assert.equal(jsonEqual(undefined, {}), false);
    assert.equal(jsonEqual(null, null), true);
  });
});
