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
