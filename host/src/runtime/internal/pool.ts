// A bounded pool of guest instances of one module version: one caller per instance, never re-entered.
//
// Instances are created on demand, up to `max` (concurrent calls of the version): `max` bounds memory,
// max x the module's memory cap. Callers beyond it wait in FIFO order.

import { WrError } from '../../errors.ts';

/** What the pool needs of an instance. */
export interface PooledInstance {
  readonly poisoned: boolean;
  /** Frees the instance; called once, when it is dropped. */
  dispose(): void;
}

export class InstancePool<I extends PooledInstance> {
  readonly #create: () => Promise<I>;
  readonly #max: number;
  readonly #idle: I[] = [];
  readonly #waiters: Array<() => void> = [];
  #total = 0;
  #closed = false;
  #created = 0;
  #discarded = 0;

  constructor(create: () => Promise<I>, max: number) {
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

  /** Runs `fn` on an exclusive instance; a poisoned instance is dropped instead of returned. */
  async run<T>(fn: (instance: I) => Promise<T>): Promise<T> {
    const instance = this.#idleInstance() ?? (await this.#acquire());
    try {
      return await fn(instance);
    } finally {
      this.#release(instance);
    }
  }

  /** Drops idle instances; instances in use are dropped when released. Waiters are failed. */
  close(): void {
    this.#closed = true;
    for (const instance of this.#idle.splice(0)) this.#drop(instance);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  async #acquire(): Promise<I> {
    for (;;) {
      if (this.#closed) throw new WrError('WR_SLOT_CLOSED', 'the module version was retired');
      const idle = this.#idleInstance();
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

  /** An idle instance that is still usable: one can be lost while idle (its worker thread died). */
  #idleInstance(): I | undefined {
    for (let instance = this.#idle.pop(); instance !== undefined; instance = this.#idle.pop()) {
      if (!instance.poisoned) return instance;
      this.#drop(instance);
    }
    return undefined;
  }

  #release(instance: I): void {
    if (instance.poisoned || this.#closed) this.#drop(instance);
    else this.#idle.push(instance);
    this.#waiters.shift()?.();
  }

  #drop(instance: I): void {
    instance.dispose();
    this.#total--;
    this.#discarded++;
  }
}
