// Tests for Fifo: order, lazy removal, re-insertion and compaction.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Fifo, type FifoNode } from './fifo.ts';

interface Node extends FifoNode {
  id: number;
}

const nodes = (count: number): Node[] => Array.from({ length: count }, (_, id) => ({ id, ticket: 0 }));

test('shifts in insertion order and skips removed nodes', () => {
  const fifo = new Fifo<Node>();
  const [a, b, c] = nodes(3) as [Node, Node, Node];
  fifo.push(a);
  fifo.push(b);
  fifo.push(c);
  fifo.remove(b);
  fifo.remove(b);
  assert.equal(fifo.size, 2);
  assert.equal(fifo.shift(), a);
  assert.equal(fifo.shift(), c);
  assert.equal(fifo.shift(), undefined);
  assert.equal(fifo.size, 0);
});

test('a removed node pushed again takes its new place, not its stale one', () => {
  const fifo = new Fifo<Node>();
  const [a, b] = nodes(2) as [Node, Node];
  fifo.push(a);
  fifo.push(b);
  fifo.remove(a);
  fifo.push(a);
  assert.deepEqual(
    fifo.clear().map((n) => n.id),
    [1, 0],
  );
});

test('order survives compaction of many stale and consumed slots', () => {
  const fifo = new Fifo<Node>();
  const all = nodes(10_000);
  for (const n of all) fifo.push(n);
  for (const n of all) if (n.id % 3 !== 0) fifo.remove(n);
  for (let i = 0; i < 1000; i++) assert.equal(fifo.shift()?.id, i * 3);
  const rest = fifo.clear().map((n) => n.id);
  assert.equal(rest.length, 3334 - 1000);
  assert.equal(rest[0], 3000);
  assert.equal(rest.at(-1), 9999);
});
