// Per-key write fence: once a key leaves this host's share, no write of a reconcile of it still in flight leaves the process.
//
// The process-wide fence (the API client's write fence) ends every write at once when a Lease is lost; a
// key moving to another host must end that key's writes only. The reconcile of a key runs inside
// `run(key, ...)`; the ExecutorClient from `client()` looks the key up in the async context of each write
// and refuses it (WR_SHARD_MOVED) once `trip(key)` was called. A write already on the wire completes: the
// new owner's handover wait covers it.

import { AsyncLocalStorage } from 'node:async_hooks';
import { WrError } from '../errors.ts';
import type { ExecutorClient } from '../executor/index.ts';

interface Run {
  readonly key: string;
  tripped: boolean;
  /** Resolves when the run has ended, however it ended. */
  readonly ended: Promise<void>;
}

export class KeyFence {
  readonly #context = new AsyncLocalStorage<Run>();
  /** Runs in flight by key (one at a time per key: the work queue never runs a key twice at once). */
  readonly #running = new Map<string, Run>();

  /** Runs `fn` as the reconcile of `key`: writes made from it are refused once the key is tripped. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let end!: () => void;
    const run: Run = { key, tripped: false, ended: new Promise((resolve) => (end = resolve)) };
    this.#running.set(key, run);
    try {
      return await this.#context.run(run, fn);
    } finally {
      if (this.#running.get(key) === run) this.#running.delete(key);
      end();
    }
  }

  /** Fences the reconcile of `key` in flight, if any; true when one was. */
  trip(key: string): boolean {
    const run = this.#running.get(key);
    if (run === undefined) return false;
    run.tripped = true;
    return true;
  }

  /** Resolves when no reconcile of `key` runs any more (at once when none does). */
  settled(key: string): Promise<void> {
    return this.#running.get(key)?.ended ?? Promise.resolve();
  }

  /** `inner`, with every write checked against the fence of the reconcile it is made from. */
  client(inner: ExecutorClient): ExecutorClient {
    const check = () => {
      const run = this.#context.getStore();
      if (run?.tripped === true) {
        throw new WrError('WR_SHARD_MOVED', `${run.key} left this host's share: its remaining writes are fenced`, {
          details: { key: run.key },
        });
      }
    };
    /** `write`, refused when called from a fenced reconcile. */
    const guard =
      <A extends unknown[], R>(write: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        check();
        return write(...args);
      };
    const fenced: ExecutorClient = {
      get: (ref) => inner.get(ref),
      apply: guard((object, options) => inner.apply(object, options)),
      applyStatus: guard((object, options) => inner.applyStatus(object, options)),
      delete: guard((ref, options) => inner.delete(ref, options)),
      patchMetadata: guard((ref, patch, options) => inner.patchMetadata(ref, patch, options)),
      createEvent: guard((event) => inner.createEvent(event)),
    };
    const patchEvent = inner.patchEvent?.bind(inner);
    if (patchEvent !== undefined) fenced.patchEvent = guard(patchEvent);
    return fenced;
  }
}
