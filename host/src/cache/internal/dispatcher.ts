// Delivers store events to subscribers asynchronously, in order, with each handler's failures contained.

import { errorFields } from '../../errors.ts';
import type { Logger } from '../../kube/logger.ts';

/** A returned promise is observed only for rejection: delivery never waits for it. */
export type Handler<E> = (event: E) => unknown;

interface Subscription<E> {
  readonly handler: Handler<E>;
  queue: E[];
  active: boolean;
}

/**
 * Events are queued per subscriber and drained on the next turn of the event loop (setImmediate), so a
 * store write never runs consumer code inline and a slow or throwing handler cannot block the reflector.
 */
export class Dispatcher<E> {
  readonly #subs = new Set<Subscription<E>>();
  readonly #logger: Logger;
  readonly #context: Record<string, unknown>;
  #scheduled = false;

  constructor(logger: Logger, context: Record<string, unknown>) {
    this.#logger = logger;
    this.#context = context;
  }

  get size(): number {
    return this.#subs.size;
  }

  /** `initial` events are queued for this subscriber alone, ahead of anything emitted later. */
  subscribe(handler: Handler<E>, initial: E[] = []): () => void {
    const sub: Subscription<E> = { handler, queue: initial, active: true };
    this.#subs.add(sub);
    if (initial.length > 0) this.#schedule();
    return () => {
      sub.active = false;
      sub.queue = [];
      this.#subs.delete(sub);
    };
  }

  emit(event: E): void {
    if (this.#subs.size === 0) return;
    for (const sub of this.#subs) sub.queue.push(event);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#drain());
  }

  #drain(): void {
    this.#scheduled = false;
    for (const sub of this.#subs) {
      const batch = sub.queue;
      sub.queue = [];
      for (const event of batch) {
        if (!sub.active) break;
        this.#deliver(sub, event);
      }
    }
  }

  #deliver(sub: Subscription<E>, event: E): void {
    try {
      const result = sub.handler(event);
      if (result instanceof Promise) result.then(undefined, (err: unknown) => this.#report(err));
    } catch (err) {
      this.#report(err);
    }
  }

  #report(err: unknown): void {
    this.#logger.error(
      { ...this.#context, ...errorFields(err), ...(err instanceof Error ? { stack: err.stack } : {}) },
      'cache event handler failed; the event is dropped for this handler only',
    );
  }
}
