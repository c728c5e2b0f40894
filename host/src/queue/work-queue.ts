// The per-reconciler work queue: deduplicated keys, one reconcile per key at a time, two fair lanes, backoff.
//
// Semantics follow client-go's workqueue and controller-runtime's priority queue, with these choices:
//
// - One entry per key. A key is `ready` (in a lane), `delayed` (in the deadline heap), `dirty` (added
//   while a worker holds it; ready again on done()), or absent. Adding merges into the existing entry:
//   the higher lane and the merged trigger reason win (see trigger.ts).
// - add() on a delayed key makes it ready now and drops the deadline: the reconcile that runs declares
//   again whatever requeue it still needs. requeueAfter() on a ready or dirty key is dropped for the same
//   reason; on a delayed key the earliest deadline wins. A deadline that falls due while the key is being
//   processed marks it dirty instead of running it concurrently with itself.
// - Two lanes: `user` (watch events) and `low` (initial list, relist, resync). Dequeue is weighted
//   round-robin, not strict priority: after `userWeight` user picks in a row, one low pick is due if the
//   low lane holds anything. A fresh user event therefore waits behind at most one low item however large
//   the initial list is, and a steady stream of user events cannot starve the low lane
//   (controller-runtime #3496, where a strict priority queue starved initial-list items forever).
// - Retries (addRateLimited) wait max(per-key exponential backoff, global token bucket). Both decide only
//   retries; fresh events are paced by the worker count. A new event for a failing key runs it now but
//   keeps its failure count, so the next failure backs off further.
// - A deterministic failure (isDeterministic: a trap, a budget, a refused output) is retried once, with
//   the same backoff; the second one in a row is terminal. The same input would fail the same way on
//   every retry, so retrying it forever only burns CPU: 1,000 such keys would run at the retry bucket's
//   10 per second for minutes, then about once a second for good (each key every 17 minutes at the
//   backoff cap). The key then waits, like after any terminal error, for its next event (a change of
//   the object or its inputs, a resync, a module swap).
// - At most `maxKeys` distinct keys are tracked (ready, delayed, in flight or remembered for backoff). A
//   new key beyond that is refused, counted in `dropsTotal` and reported to the observer; once tracking
//   falls to half the bound, `onOverflowRecovered` fires so the owner can resync from the cache. Keys name
//   cached objects and reconciles are level-based, so the resync recovers every refused key; only the
//   trigger reason of the refused event is lost. Size `maxKeys` above the number of primaries.

import type { TriggerReason } from '../abi/types.ts';
import { isDeterministic, isRetryable, WrError } from '../errors.ts';
import { type BackoffOptions, backoffDelayMs, DEFAULT_BACKOFF } from './backoff.ts';
import { DeadlineHeap, type HeapNode } from './internal/deadline-heap.ts';
import { Fifo, type FifoNode } from './internal/fifo.ts';
import { DEFAULT_TOKEN_BUCKET, TokenBucket, type TokenBucketOptions } from './token-bucket.ts';
import { mergeTriggerReason } from './trigger.ts';

/** `user`: changes observed by a watch. `low`: the initial list, relists and periodic resyncs. */
export type Lane = 'user' | 'low';

export interface WorkQueueOptions {
  /** Name for metrics labels and diagnostics (the reconciler's name). */
  readonly name: string;
  /** Keys processed at the same time (controller-runtime MaxConcurrentReconciles). Default 1. */
  readonly concurrency?: number;
  /** Distinct keys tracked at most. Default 100 000. */
  readonly maxKeys?: number;
  /** User-lane picks in a row before one low-lane pick is due. Default 4. */
  readonly userWeight?: number;
  readonly backoff?: BackoffOptions;
  readonly retryBucket?: TokenBucketOptions;
  readonly observer?: QueueObserver;
  /** Called once each time the queue refused keys and has since drained to half of `maxKeys`. */
  readonly onOverflowRecovered?: () => void;
  /** Monotonic milliseconds; tests pass a clock driven by mock timers. Default performance.now. */
  readonly now?: () => number;
}

/** The object whose event caused a run, when it is not the primary itself (a child or related object). */
export interface TriggerSource {
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

export interface AddOptions {
  readonly reason: TriggerReason;
  /** Default `user`. */
  readonly lane?: Lane;
  readonly source?: TriggerSource;
}

export interface DelayOptions {
  /** Default `requeue`. */
  readonly reason?: TriggerReason;
  /** Default: the lane of the key's in-flight or pending run, else `user`. */
  readonly lane?: Lane;
}

export interface WorkItem {
  readonly key: string;
  /** Merged reason of every event coalesced into this run. */
  readonly reason: TriggerReason;
  /** The object behind `reason` when it is a child or related object (reconcile input trigger.kind/name). */
  readonly source?: TriggerSource;
  readonly lane: Lane;
  /** Consecutive retryable failures before this run (0 on a first attempt). */
  readonly retries: number;
}

export interface HandlerResult {
  /** Run the key again after this many milliseconds (the reconcile output's requeueAfterMs). */
  readonly requeueAfterMs?: number;
}

export type WorkHandler = (item: WorkItem) => Promise<HandlerResult | undefined>;

/**
 * Hooks for metrics and logs; each maps onto a controller-runtime workqueue metric where one exists.
 * Hooks run inside queue operations and must not throw.
 */
export interface QueueObserver {
  /** A key gained a pending run (workqueue_adds_total). Coalesced adds are not reported. */
  added?(key: string, reason: TriggerReason, lane: Lane): void;
  /** A worker took a key after it waited `waitedMs` ready (workqueue_queue_duration_seconds). */
  dequeued?(item: WorkItem, waitedMs: number): void;
  /** A worker finished a key after `workedMs` (workqueue_work_duration_seconds). */
  finished?(key: string, workedMs: number): void;
  /** A failed key was scheduled for retry in `delayMs` (workqueue_retries_total). */
  retried?(key: string, delayMs: number): void;
  /** A new key was refused because `maxKeys` keys are tracked (wasm_reconciler_workqueue_drops_total). */
  dropped?(key: string): void;
  /** A handler run by process() failed; `retrying` is false for terminal errors. */
  failed?(item: WorkItem, error: unknown, retrying: boolean): void;
}

export interface QueueStats {
  /** Ready keys in both lanes (workqueue_depth). */
  readonly depth: number;
  readonly depthUser: number;
  readonly depthLow: number;
  /** Keys waiting for a deadline (requeue or retry). */
  readonly delayed: number;
  readonly inFlight: number;
  /** Distinct keys held in any state; bounded by maxKeys. */
  readonly trackedKeys: number;
  readonly addsTotal: number;
  readonly retriesTotal: number;
  readonly terminalFailuresTotal: number;
  readonly dropsTotal: number;
  /** Sum of the running time of in-flight keys (workqueue_unfinished_work_seconds). */
  readonly unfinishedWorkSeconds: number;
  /** Running time of the oldest in-flight key (workqueue_longest_running_processor_seconds). */
  readonly longestRunningProcessorSeconds: number;
}

export interface ShutdownReport {
  /** Ready, dirty and delayed keys thrown away; the next leader's initial list covers them. */
  readonly discarded: number;
  /** In-flight keys still running when shutdown returned (always 0 after a drain that did not time out). */
  readonly abandoned: number;
}

type Phase = 'none' | 'ready' | 'delayed' | 'dirty';

interface KeyState extends HeapNode, FifoNode {
  readonly key: string;
  phase: Phase;
  /** Merged reason of the pending run (ready, delayed or dirty). */
  reason: TriggerReason | undefined;
  /** The source that came with the event whose reason won the merge. */
  source: TriggerSource | undefined;
  /** Lane of the pending run. */
  lane: Lane;
  /** When the pending run became ready, for queue-duration metrics. */
  readyAt: number;
  processing: boolean;
  /** Lane of the in-flight run: retries and requeues keep it, as controller-runtime retains priority. */
  runLane: Lane;
  startedAt: number;
  failures: number;
  /** Deterministic failures since the key last succeeded or was given up on. */
  deterministicFailures: number;
}

/** Runs of a key that may fail deterministically in a row: the first run and one retry on a fresh instance. */
export const DETERMINISTIC_ATTEMPTS = 2;

/** setTimeout accepts at most 2^31-1 ms; a later deadline re-arms when this much time has passed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class WorkQueue {
  readonly name: string;
  readonly #concurrency: number;
  readonly #maxKeys: number;
  readonly #userWeight: number;
  readonly #backoff: BackoffOptions;
  readonly #bucket: TokenBucket;
  readonly #observer: QueueObserver;
  readonly #onOverflowRecovered: (() => void) | undefined;
  readonly #now: () => number;

  readonly #states = new Map<string, KeyState>();
  readonly #user = new Fifo<KeyState>();
  readonly #low = new Fifo<KeyState>();
  readonly #delayed = new DeadlineHeap<KeyState>();
  readonly #inFlight = new Set<KeyState>();
  readonly #waiters: Array<(item: WorkItem | undefined) => void> = [];
  #userStreak = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerDeadline = Number.NaN;
  #overflowed = false;
  #closed = false;
  readonly #drainWaiters: Array<() => void> = [];

  #addsTotal = 0;
  #retriesTotal = 0;
  #terminalFailuresTotal = 0;
  #dropsTotal = 0;

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.#concurrency = integerOption('concurrency', options.concurrency ?? 1, 1, 1024);
    this.#maxKeys = integerOption('maxKeys', options.maxKeys ?? 100_000, 1, 10_000_000);
    this.#userWeight = integerOption('userWeight', options.userWeight ?? 4, 1, 1_000_000);
    const backoff = options.backoff ?? DEFAULT_BACKOFF;
    positiveOption('backoff.baseMs', backoff.baseMs);
    positiveOption('backoff.capMs', backoff.capMs);
    if (backoff.capMs < backoff.baseMs) {
      throw new WrError('WR_CONFIG_INVALID', 'backoff.capMs must not be below backoff.baseMs', {
        details: { option: 'backoff.capMs', value: backoff.capMs },
      });
    }
    this.#backoff = backoff;
    const bucket = options.retryBucket ?? DEFAULT_TOKEN_BUCKET;
    if (!(bucket.qps > 0)) {
      throw new WrError('WR_CONFIG_INVALID', 'retryBucket.qps must be positive (Infinity disables it)', {
        details: { option: 'retryBucket.qps', value: bucket.qps },
      });
    }
    integerOption('retryBucket.burst', bucket.burst, 1, Number.MAX_SAFE_INTEGER);
    this.#bucket = new TokenBucket(bucket);
    this.#observer = options.observer ?? {};
    this.#onOverflowRecovered = options.onOverflowRecovered;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Queues a run of `key`. Returns false when the key was refused: the queue is shut down, or `maxKeys`
   * keys are tracked and this one is new (counted in `dropsTotal`).
   */
  add(key: string, options: AddOptions): boolean {
    const state = this.#track(key);
    if (state === undefined) return false;
    const lane = options.lane ?? 'user';
    switch (state.phase) {
      case 'ready':
        if (lane === 'user' && state.lane === 'low') {
          this.#low.remove(state);
          this.#user.push(state);
        }
        this.#merge(state, options.reason, lane, options.source);
        return true;
      case 'dirty':
        this.#merge(state, options.reason, lane, options.source);
        return true;
      case 'delayed':
        this.#delayed.remove(state);
        this.#merge(state, options.reason, lane, options.source);
        this.#makeDue(state);
        this.#arm();
        return true;
      case 'none':
        state.reason = options.reason;
        state.source = options.source;
        state.lane = lane;
        this.#makeDue(state);
        return true;
    }
  }

  /** Queues a run of `key` in `delayMs`; see the file comment for how it coalesces. */
  requeueAfter(key: string, delayMs: number, options: DelayOptions = {}): boolean {
    if (!(delayMs >= 0) || !Number.isFinite(delayMs)) {
      throw new WrError('WR_QUEUE_MISUSE', 'requeueAfter needs a finite, non-negative delay', {
        details: { key, delayMs },
      });
    }
    const reason = options.reason ?? 'requeue';
    const existing = this.#states.get(key);
    const lane = options.lane ?? (existing?.processing ? existing.runLane : existing?.lane) ?? 'user';
    if (delayMs === 0) return this.add(key, { reason, lane });
    const state = this.#track(key);
    if (state === undefined) return false;
    const deadline = this.#now() + delayMs;
    switch (state.phase) {
      case 'ready':
      case 'dirty':
        return true;
      case 'delayed':
        this.#merge(state, reason, lane, undefined);
        if (deadline < state.deadline) {
          this.#delayed.update(state, deadline);
          this.#arm();
        }
        return true;
      case 'none':
        state.phase = 'delayed';
        state.reason = reason;
        state.lane = lane;
        state.deadline = deadline;
        this.#delayed.push(state);
        this.#arm();
        return true;
    }
  }

  /**
   * Schedules a retry after a retryable failure: max(per-key backoff, global bucket). Returns the delay
   * in milliseconds, or undefined when the queue is shut down or full.
   */
  addRateLimited(key: string, options: { readonly lane?: Lane } = {}): number | undefined {
    if (this.#closed) return undefined;
    const state = this.#states.get(key);
    const failures = (state?.failures ?? 0) + 1;
    const delayMs = Math.max(backoffDelayMs(failures, this.#backoff), this.#bucket.reserve(this.#now()));
    const delayOptions: DelayOptions = {
      reason: 'retry',
      ...(options.lane === undefined ? {} : { lane: options.lane }),
    };
    if (!this.requeueAfter(key, delayMs, delayOptions)) return undefined;
    (this.#states.get(key) as KeyState).failures = failures;
    this.#retriesTotal++;
    this.#observer.retried?.(key, delayMs);
    return delayMs;
  }

  /** Consecutive failures recorded for `key` (client-go NumRequeues). */
  retries(key: string): number {
    return this.#states.get(key)?.failures ?? 0;
  }

  /** Clears the failure counts of `key`: its next failure backs off from the base delay again. */
  forget(key: string): void {
    const state = this.#states.get(key);
    if (state === undefined) return;
    state.failures = 0;
    state.deterministicFailures = 0;
    this.#releaseIfIdle(state);
  }

  /**
   * Resolves with the next key to process once one is ready and fewer than `concurrency` keys are in
   * flight; resolves undefined once the queue is shut down. Every item must be passed to done().
   */
  get(): Promise<WorkItem | undefined> {
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#dispatch();
    });
  }

  /** Ends the processing of `key`: a dirty key becomes ready again, an idle one is forgotten. */
  done(key: string): void {
    const state = this.#states.get(key);
    if (state === undefined || !state.processing) {
      throw new WrError('WR_QUEUE_MISUSE', 'done() for a key that is not being processed', { details: { key } });
    }
    state.processing = false;
    this.#inFlight.delete(state);
    this.#observer.finished?.(key, this.#now() - state.startedAt);
    if (this.#closed) {
      this.#states.delete(key);
      if (this.#inFlight.size === 0) for (const drained of this.#drainWaiters.splice(0)) drained();
      return;
    }
    if (state.phase === 'dirty') {
      state.phase = 'ready';
      this.#pushLane(state);
    }
    this.#releaseIfIdle(state);
    this.#dispatch();
  }

  /**
   * Runs `handler` on `concurrency` workers until shutdown. Success forgets the key's failures (and
   * honours requeueAfterMs); a retryable error retries with backoff, a deterministic one only once; a
   * terminal error (isRetryable false), or the second deterministic one in a row, forgets the key until
   * a new event adds it again.
   */
  async process(handler: WorkHandler): Promise<void> {
    const worker = async (): Promise<void> => {
      for (let item = await this.get(); item !== undefined; item = await this.get()) {
        await this.#run(handler, item);
      }
    };
    await Promise.all(Array.from({ length: this.#concurrency }, worker));
  }

  /**
   * Stops intake: further adds are refused, queued and delayed keys are discarded, waiting get() calls
   * resolve undefined. With `drain`, resolves once every in-flight key is done (or after `timeoutMs`).
   */
  async shutdown(drain: boolean, timeoutMs = Number.POSITIVE_INFINITY): Promise<ShutdownReport> {
    let discarded = 0;
    if (!this.#closed) {
      this.#closed = true;
      this.#clearTimer();
      // In-flight keys may sit in the heap (a requeue) or be dirty; either way their next run is discarded.
      discarded = this.#user.size + this.#low.size + this.#delayed.size;
      for (const state of this.#inFlight) if (state.phase === 'dirty') discarded++;
      this.#user.clear();
      this.#low.clear();
      this.#delayed.clear();
      this.#states.clear();
      for (const state of this.#inFlight) {
        state.phase = 'none';
        this.#states.set(state.key, state);
      }
      for (const waiter of this.#waiters.splice(0)) waiter(undefined);
    }
    if (drain && this.#inFlight.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(timeoutMs) ? setTimeout(resolve, timeoutMs) : undefined;
        this.#drainWaiters.push(() => {
          if (timer !== undefined) clearTimeout(timer);
          resolve();
        });
      });
    }
    return { discarded, abandoned: this.#inFlight.size };
  }

  get closed(): boolean {
    return this.#closed;
  }

  stats(): QueueStats {
    const now = this.#now();
    let unfinishedMs = 0;
    let longestMs = 0;
    for (const state of this.#inFlight) {
      const runningMs = now - state.startedAt;
      unfinishedMs += runningMs;
      if (runningMs > longestMs) longestMs = runningMs;
    }
    return {
      depth: this.#user.size + this.#low.size,
      depthUser: this.#user.size,
      depthLow: this.#low.size,
      delayed: this.#delayed.size,
      inFlight: this.#inFlight.size,
      trackedKeys: this.#states.size,
      addsTotal: this.#addsTotal,
      retriesTotal: this.#retriesTotal,
      terminalFailuresTotal: this.#terminalFailuresTotal,
      dropsTotal: this.#dropsTotal,
      unfinishedWorkSeconds: unfinishedMs / 1000,
      longestRunningProcessorSeconds: longestMs / 1000,
    };
  }

  async #run(handler: WorkHandler, item: WorkItem): Promise<void> {
    try {
      const result = await handler(item);
      this.forget(item.key);
      if (result?.requeueAfterMs !== undefined) this.requeueAfter(item.key, result.requeueAfterMs);
    } catch (error) {
      const retrying = this.#retries(item.key, error);
      if (retrying) {
        this.addRateLimited(item.key);
      } else {
        this.#terminalFailuresTotal++;
        this.forget(item.key);
      }
      this.#observer.failed?.(item, error, retrying);
    } finally {
      this.done(item.key);
    }
  }

  /** Whether a failure of the in-flight `key` is retried; counts it when it is deterministic. */
  #retries(key: string, error: unknown): boolean {
    if (!isRetryable(error)) return false;
    if (!isDeterministic(error)) return true;
    const state = this.#states.get(key) as KeyState;
    state.deterministicFailures++;
    return state.deterministicFailures < DETERMINISTIC_ATTEMPTS;
  }

  /** The state of `key`, created if new and allowed; undefined when the key is refused. */
  #track(key: string): KeyState | undefined {
    if (typeof key !== 'string' || key.length === 0) {
      throw new WrError('WR_QUEUE_MISUSE', 'queue keys must be non-empty strings', { details: { key } });
    }
    if (this.#closed) return undefined;
    const existing = this.#states.get(key);
    if (existing !== undefined) return existing;
    if (this.#states.size >= this.#maxKeys) {
      this.#dropsTotal++;
      this.#overflowed = true;
      this.#observer.dropped?.(key);
      return undefined;
    }
    const state: KeyState = {
      key,
      phase: 'none',
      reason: undefined,
      source: undefined,
      lane: 'user',
      readyAt: 0,
      processing: false,
      runLane: 'user',
      startedAt: 0,
      failures: 0,
      deterministicFailures: 0,
      deadline: 0,
      heapIndex: -1,
      heapSeq: 0,
      ticket: 0,
    };
    this.#states.set(key, state);
    return state;
  }

  #merge(state: KeyState, reason: TriggerReason, lane: Lane, source: TriggerSource | undefined): void {
    const merged = mergeTriggerReason(state.reason, reason);
    if (merged !== state.reason) state.source = source;
    state.reason = merged;
    if (lane === 'user') state.lane = 'user';
  }

  /** Turns a key with no queued run (phase none, or just taken off the heap) into a ready or dirty one. */
  #makeDue(state: KeyState): void {
    this.#addsTotal++;
    this.#observer.added?.(state.key, state.reason as TriggerReason, state.lane);
    if (state.processing) {
      state.phase = 'dirty';
      return;
    }
    state.phase = 'ready';
    this.#pushLane(state);
    this.#dispatch();
  }

  #pushLane(state: KeyState): void {
    state.readyAt = this.#now();
    (state.lane === 'user' ? this.#user : this.#low).push(state);
  }

  #dispatch(): void {
    while (this.#waiters.length > 0 && this.#inFlight.size < this.#concurrency) {
      const state = this.#pick();
      if (state === undefined) return;
      const waiter = this.#waiters.shift() as (item: WorkItem | undefined) => void;
      const item: WorkItem = {
        key: state.key,
        reason: state.reason as TriggerReason,
        ...(state.source === undefined ? {} : { source: state.source }),
        lane: state.lane,
        retries: state.failures,
      };
      const now = this.#now();
      state.phase = 'none';
      state.reason = undefined;
      state.source = undefined;
      state.processing = true;
      state.runLane = item.lane;
      state.startedAt = now;
      this.#inFlight.add(state);
      this.#observer.dequeued?.(item, now - state.readyAt);
      waiter(item);
    }
  }

  /** Weighted round-robin: `userWeight` user picks, then one low pick when the low lane is not empty. */
  #pick(): KeyState | undefined {
    const lowDue = this.#userStreak >= this.#userWeight && this.#low.size > 0;
    if (this.#user.size > 0 && !lowDue) {
      this.#userStreak++;
      return this.#user.shift();
    }
    this.#userStreak = 0;
    return this.#low.shift();
  }

  #releaseIfIdle(state: KeyState): void {
    if (state.phase !== 'none' || state.processing || state.failures > 0) return;
    this.#states.delete(state.key);
    if (this.#overflowed && this.#states.size <= this.#maxKeys / 2) {
      this.#overflowed = false;
      this.#onOverflowRecovered?.();
    }
  }

  #arm(): void {
    const next = this.#delayed.peek();
    if (next === undefined) {
      this.#clearTimer();
      return;
    }
    if (next.deadline === this.#timerDeadline) return;
    this.#clearTimer();
    this.#timerDeadline = next.deadline;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next.deadline - this.#now()));
    this.#timer = setTimeout(() => this.#fire(), delay);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerDeadline = Number.NaN;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerDeadline = Number.NaN;
    const now = this.#now();
    for (let next = this.#delayed.peek(); next !== undefined && next.deadline <= now; next = this.#delayed.peek()) {
      this.#delayed.pop();
      this.#makeDue(next);
    }
    this.#arm();
  }
}

function integerOption(option: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new WrError('WR_CONFIG_INVALID', `${option} must be an integer in [${min}, ${max}]`, {
      details: { option, value },
    });
  }
  return value;
}

function positiveOption(option: string, value: number): void {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new WrError('WR_CONFIG_INVALID', `${option} must be a positive finite number`, {
      details: { option, value },
    });
  }
}
