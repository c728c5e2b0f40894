import assert from 'node:assert/strict';
import { it } from 'node:test';
import { BoundedMap } from './bounded-map.ts';

it('evicts the least recently written entry beyond its capacity', () => {
  const map = new BoundedMap<string, number>(2);
  map.set('a', 1);
  map.set('b', 2);
  map.set('a', 3);
  map.set('c', 4);
  assert.equal(map.size, 2);
  assert.equal(map.get('b'), undefined);
  assert.equal(map.get('a'), 3);
  assert.equal(map.get('c'), 4);
  assert.throws(() => new BoundedMap(0), RangeError);
});

it('deletes the entries a predicate matches, keeping the rest in their order', () => {
  const map = new BoundedMap<string, number>(3);
  map.set('a', 1);
  map.set('b', 2);
  map.set('c', 3);
  map.deleteWhere((v) => v % 2 === 1);
  assert.equal(map.size, 1);
  assert.equal(map.get('b'), 2);
  map.set('d', 4);
  map.set('e', 5);
  map.set('f', 6);
  assert.equal(map.get('b'), undefined, 'b is still the oldest');
});
