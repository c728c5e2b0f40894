// A first-in first-out list of nodes with O(1) amortised push, shift and removal of any node.
//
// Removal is lazy (the node's ticket no longer matches its slot) because a key moves from the low lane
// to the user lane when a user event arrives for it; compacting stale slots and dropping the consumed
// prefix keep memory proportional to the number of queued keys.

export interface FifoNode {
  /** Non-zero while the node sits in a Fifo; owned by the Fifo. */
  ticket: number;
}

const COMPACT_MIN_SLOTS = 1024;

export class Fifo<T extends FifoNode> {
  #nodes: T[] = [];
  #tickets: number[] = [];
  #head = 0;
  #live = 0;
  #nextTicket = 0;

  get size(): number {
    return this.#live;
  }

  push(node: T): void {
    node.ticket = ++this.#nextTicket;
    this.#nodes.push(node);
    this.#tickets.push(node.ticket);
    this.#live++;
  }

  shift(): T | undefined {
    while (this.#head < this.#nodes.length) {
      const index = this.#head++;
      const node = this.#nodes[index] as T;
      const ticket = this.#tickets[index] as number;
      if (node.ticket === ticket) {
        node.ticket = 0;
        this.#live--;
        this.#compact();
        return node;
      }
    }
    return undefined;
  }

  remove(node: T): void {
    if (node.ticket === 0) return;
    node.ticket = 0;
    this.#live--;
    this.#compact();
  }

  clear(): T[] {
    const live: T[] = [];
    for (let node = this.shift(); node !== undefined; node = this.shift()) live.push(node);
    return live;
  }

  #compact(): void {
    if (this.#head === this.#nodes.length) {
      this.#reset();
      return;
    }
    const slots = this.#nodes.length - this.#head;
    const consumedPrefixIsLarge = this.#head >= COMPACT_MIN_SLOTS && 2 * this.#head >= this.#nodes.length;
    const mostlyStale = slots >= COMPACT_MIN_SLOTS && slots > 2 * this.#live;
    if (!consumedPrefixIsLarge && !mostlyStale) return;
    const nodes: T[] = [];
    const tickets: number[] = [];
    for (let i = this.#head; i < this.#nodes.length; i++) {
      const node = this.#nodes[i] as T;
      const ticket = this.#tickets[i] as number;
      if (node.ticket === ticket) {
        nodes.push(node);
        tickets.push(ticket);
      }
    }
    this.#nodes = nodes;
    this.#tickets = tickets;
    this.#head = 0;
  }

  #reset(): void {
    this.#nodes = [];
    this.#tickets = [];
    this.#head = 0;
  }
}
