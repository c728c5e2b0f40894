// Tests for DeadlineHeap: ordering, FIFO ties, removal and re-keying against a sorted reference.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeadlineHeap, type HeapNode } from './deadline-heap.ts';

interface Node extends HeapNode {
  id: number;
}

function node(id: number, deadline: number): Node {
  return { id, deadline, heapIndex: -1, heapSeq: 0 };
}

test('pops in deadline order, equal deadlines first-in first-out', () => {
  const heap = new DeadlineHeap<Node>();
  for (const [id, deadline] of [
    [1, 30],
    [2, 10],
    [3, 20],
    [4, 10],
    [5, 0],
  ] as const) {
    heap.push(node(id, deadline));
  }
  const order: number[] = [];
  for (let top = heap.pop(); top !== undefined; top = heap.pop()) order.push(top.id);
  assert.deepEqual(order, [5, 2, 4, 3, 1]);
  assert.equal(heap.size, 0);
});

test('random pushes, removals and updates match a sorted reference', () => {
  let seed = 42;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const heap = new DeadlineHeap<Node>();
  const live: Node[] = [];
  for (let i = 0; i < 2000; i++) {
    const roll = random();
    if (roll < 0.5 || live.length === 0) {
      const n = node(i, Math.floor(random() * 500));
      heap.push(n);
      live.push(n);
    } else if (roll < 0.7) {
      const [n] = live.splice(Math.floor(random() * live.length), 1) as [Node];
      heap.remove(n);
      assert.equal(n.heapIndex, -1);
    } else {
      const n = live[Math.floor(random() * live.length)] as Node;
      heap.update(n, Math.floor(random() * 500));
    }
    assert.equal(heap.size, live.length);
  }
  const expected = live.toSorted((a, b) => a.deadline - b.deadline || a.heapSeq - b.heapSeq).map((n) => n.id);
  const actual: number[] = [];
  for (let top = heap.pop(); top !== undefined; top = heap.pop()) actual.push(top.id);
  assert.deepEqual(actual, expected);
});

test('clear empties the heap and detaches every node', () => {
  const heap = new DeadlineHeap<Node>();
  const nodes = [node(1, 5), node(2, 1)];
  for (const n of nodes) heap.push(n);
  assert.equal(heap.clear().length, 2);
  assert.equal(heap.size, 0);
  assert.equal(heap.peek(), undefined);
  assert.deepEqual(
    nodes.map((n) => n.heapIndex),
    [-1, -1],
  );
});
