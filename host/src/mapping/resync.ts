// Periodic resync: every primary key is enqueued again, jittered, in the low-priority lane.
//
// Reconciles are level-based, so a resync repairs whatever an event missed: a drift the watch cannot see
// (an external system), a key the queue refused at its bound, a reconcile that failed terminally on a
// since-fixed dependency. The jitter keeps many reconcilers (and many hosts) from resyncing in lockstep.

import { WrError } from '../errors.ts';
import type { EnqueueSink } from './event.ts';

export interface ResyncOptions {
  /** Mean time between resyncs, in milliseconds. */
  readonly periodMs: number;
  /** Each wait is periodMs * (1 + jitter * random), random in [0, 1) (k8s wait.Jitter). Default 0.1. */
  readonly jitter?: number;
  /** The primary keys as the cache holds them now. */
  readonly listKeys: () => Iterable<string>;
  readonly sink: EnqueueSink;
  /** Default Math.random; tests pin it. */
  readonly random?: () => number;
}

/** Smallest period accepted: a faster resync is a hot loop by another name. */
const MIN_PERIOD_MS = 1000;

/** A wait in [periodMs, periodMs * (1 + jitter)] (the upper end only through floating-point rounding). */
export function jitteredDelayMs(periodMs: number, jitter: number, random: () => number = Math.random): number {
  return periodMs * (1 + jitter * random());
}

export class PeriodicResync {
  readonly #periodMs: number;
  readonly #jitter: number;
  readonly #listKeys: () => Iterable<string>;
  readonly #sink: EnqueueSink;
  readonly #random: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #started = false;

  constructor(options: ResyncOptions) {
    if (!Number.isFinite(options.periodMs) || options.periodMs < MIN_PERIOD_MS) {
      throw new WrError('WR_CONFIG_INVALID', `resync periodMs must be finite and at least ${MIN_PERIOD_MS}`, {
        details: { option: 'periodMs', value: options.periodMs },
      });
    }
    const jitter = options.jitter ?? 0.1;
    if (!(jitter >= 0 && jitter <= 1)) {
      throw new WrError('WR_CONFIG_INVALID', 'resync jitter must be within [0, 1]', {
        details: { option: 'jitter', value: jitter },
      });
    }
    this.#periodMs = options.periodMs;
    this.#jitter = jitter;
    this.#listKeys = options.listKeys;
    this.#sink = options.sink;
    this.#random = options.random ?? Math.random;
  }

  /** Arms the first resync one jittered period from now; the initial list already covers the start. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#schedule();
  }

  stop(): void {
    this.#started = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Enqueues every primary key now (also used after the queue refused keys at its bound). Returns how
   * many keys the sink accepted.
   */
  runNow(): number {
    let accepted = 0;
    for (const key of this.#listKeys()) {
      if (this.#sink.add(key, { reason: 'resync', lane: 'low' })) accepted++;
    }
    return accepted;
  }

  #schedule(): void {
    this.#timer = setTimeout(
      () => {
        this.runNow();
        // A sink may stop the resync while it runs (a queue shutting down); do not re-arm then.
        if (this.#started) this.#schedule();
      },
      jitteredDelayMs(this.#periodMs, this.#jitter, this.#random),
    );
  }
}
