// A binary min-heap of nodes ordered by deadline, with O(log n) removal and re-keying of any node.
//
// Nodes carry their own heap index so the work queue can move or drop a delayed key without a search,
// and one timer armed for `peek()` serves every delayed key (no setTimeout per key).

export interface HeapNode {
  /** Absolute time (the queue's clock) at which the node becomes due. */
  deadline: number;
  /** Position in the heap array, or -1 when the node is not in a heap; owned by the heap. */
  heapIndex: number;
  /** Insertion order among equal deadlines, so ties resolve first-in first-out; owned by the heap. */
  heapSeq: number;
}

export class DeadlineHeap<T extends HeapNode> {
  readonly #nodes: T[] = [];
  #seq = 0;

  get size(): number {
    return this.#nodes.length;
  }

  peek(): T | undefined {
    return this.#nodes[0];
  }

  push(node: T): void {
    node.heapSeq = ++this.#seq;
    node.heapIndex = this.#nodes.length;
    this.#nodes.push(node);
    this.#up(node.heapIndex);
  }

  pop(): T | undefined {
    const top = this.#nodes[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** Moves a node already in the heap to a new deadline (earlier or later). */
  update(node: T, deadline: number): void {
    node.deadline = deadline;
    this.#up(node.heapIndex);
    this.#down(node.heapIndex);
  }

  remove(node: T): void {
    const index = node.heapIndex;
    const last = this.#nodes.pop() as T;
    node.heapIndex = -1;
    if (last === node) return;
    this.#nodes[index] = last;
    last.heapIndex = index;
    this.#up(index);
    this.#down(last.heapIndex);
  }

  clear(): T[] {
    const all = this.#nodes.splice(0);
    for (const node of all) node.heapIndex = -1;
    return all;
  }

  #less(a: T, b: T): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.heapSeq < b.heapSeq);
  }

  #up(index: number): void {
    const nodes = this.#nodes;
    const node = nodes[index] as T;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = nodes[parentIndex] as T;
      if (!this.#less(node, parent)) break;
      nodes[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    nodes[index] = node;
    node.heapIndex = index;
  }

  #down(index: number): void {
    const nodes = this.#nodes;
    const length = nodes.length;
    const node = nodes[index] as T;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && this.#less(nodes[right] as T, nodes[left] as T) ? right : left;
      const childNode = nodes[child] as T;
      if (!this.#less(childNode, node)) break;
      nodes[index] = childNode;
      childNode.heapIndex = index;
      index = child;
    }
    nodes[index] = node;
    node.heapIndex = index;
  }
}
