// A bounded pool of guest instances of one module version: one caller per instance, never re-entered.
//
// A guest call is synchronous, so an idle instance is handed out and returned within one turn of the
// event loop; the pool grows only while a replacement for a poisoned instance is being instantiated
// (async) and other calls arrive meanwhile. `max` bounds memory: max x the module's memory cap.

import { WrError } from '../../errors.ts';
import type { GuestInstance } from '../instance.ts';

export class InstancePool {
  readonly #create: () => Promise<GuestInstance>;
  readonly #max: number;
  readonly #idle: GuestInstance[] = [];
  readonly #waiters: Array<() => void> = [];
  #total = 0;
  #closed = false;
  #created = 0;
  #discarded = 0;

  constructor(create: () => Promise<GuestInstance>, max: number) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`pool size must be a positive integer, got ${max}`);
    this.#create = create;
    this.#max = max;
  }

  /** Instances created over the pool's life, including replacements of poisoned ones. */
  get created(): number {
    return this.#created;
  }

  get discarded(): number {
    return this.#discarded;
  }

  /** Creates the first instance now, so that a version is proven to instantiate and init before use. */
  async warm(): Promise<void> {
    this.#release(await this.#acquire());
  }

  /** An idle instance without waiting, or undefined: the fast path of every call. */
  tryAcquire(): GuestInstance | undefined {
    return this.#closed ? undefined : this.#idle.pop();
  }

  /** Runs `fn` on an exclusive instance; a poisoned instance is dropped instead of returned. */
  async run<T>(fn: (instance: GuestInstance) => T): Promise<T> {
    const instance = this.tryAcquire() ?? (await this.#acquire());
    try {
      return fn(instance);
    } finally {
      this.#release(instance);
    }
  }

  /** Releases an instance obtained from tryAcquire. */
  release(instance: GuestInstance): void {
    this.#release(instance);
  }

  /** Drops idle instances; instances in use are dropped when released. Waiters are failed. */
  close(): void {
    this.#closed = true;
    this.#dropAll(this.#idle.splice(0).length);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  async #acquire(): Promise<GuestInstance> {
    for (;;) {
      if (this.#closed) throw new WrError('WR_SLOT_CLOSED', 'the module version was retired');
      const idle = this.#idle.pop();
      if (idle !== undefined) return idle;
      if (this.#total < this.#max) {
        this.#total++;
        try {
          const instance = await this.#create();
          this.#created++;
          return instance;
        } catch (err) {
          this.#total--;
          this.#waiters.shift()?.();
          throw err;
        }
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  #release(instance: GuestInstance): void {
    if (instance.poisoned || this.#closed) this.#dropAll(1);
    else this.#idle.push(instance);
    this.#waiters.shift()?.();
  }

  /** Forgetting an instance is all it takes: V8 frees it and its linear memory once unreferenced. */
  #dropAll(count: number): void {
    this.#total -= count;
    this.#discarded += count;
  }
}
