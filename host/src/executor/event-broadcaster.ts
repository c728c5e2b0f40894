// Records core/v1 Events asynchronously: a bounded queue, retries with backoff, and aggregation of repeats.
//
// Modelled on client-go's event broadcaster and correlator. Events are best-effort: record() never waits for
// the API server and never throws, so a reconcile is never held up by an event. Behind it:
//
// - A bounded queue (default 1,000 pending writes, client-go's buffer size). A record beyond it is dropped
//   and counted; the queue never grows and the caller never blocks.
// - Each write is retried on retryable failures (429, 5xx, timeouts: the API server did not act) a few
//   times with exponential backoff, honouring a Retry-After hint; after the last attempt the event is
//   dropped and counted. Non-retryable failures (403, 422) drop it at once.
// - Aggregation, as the Kubernetes event recorder does: the same object, type, reason and message within
//   the window make one Event whose `count` and `lastTimestamp` follow the repeats. A repeat while the first
//   write is still queued only raises the count it will carry; a repeat after it landed is a merge patch of
//   count and lastTimestamp (at most one queued per series, carrying the latest count). Without a client
//   that can patch events, repeats within the window are suppressed (counted, not written).

import { isRetryable } from '../errors.ts';
import { retryAfterMsOf } from '../kube/internal/status.ts';
import { backoffDelayMs } from '../queue/backoff.ts';
import { BoundedMap } from './internal/bounded-map.ts';
import type { CoreEvent, ExecutorClient } from './ports.ts';

export interface EventBroadcasterOptions {
  readonly client: Pick<ExecutorClient, 'createEvent' | 'patchEvent'>;
  /** Pending writes at most; beyond it records are dropped. Default 1000. */
  readonly maxQueued?: number;
  /** Attempts per write, the first included. Default 5. */
  readonly maxAttempts?: number;
  /** Backoff between attempts: base doubles per attempt up to cap. Default 200 ms, 5 s. */
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
  /** Repeats within this window of a series' first event aggregate into it. Default 10 minutes (client-go). */
  readonly aggregateWindowMs?: number;
  /** Series remembered for aggregation. Default 4096. */
  readonly aggregateEntries?: number;
  /** Writes in flight at once. Default 2. */
  readonly concurrency?: number;
  readonly now?: () => number;
  /** Waits between attempts; tests pass a fast one. Default an unref'd timer. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called for each event given up: the queue was full, or every attempt failed. */
  readonly onDrop?: (reason: 'queue-full' | 'failed', event: CoreEvent, err?: unknown) => void;
}

export interface EventBroadcasterStats {
  /** Events created on the API server. */
  created: number;
  /** Count updates patched onto an existing Event. */
  patched: number;
  /** Records folded into an existing series (queued or landed) instead of a new Event. */
  aggregated: number;
  /** Attempts that failed and were tried again. */
  retried: number;
  /** Records refused because the queue was full. */
  droppedQueueFull: number;
  /** Writes given up after their last attempt, or at once on a non-retryable failure. */
  droppedFailed: number;
  /** Writes pending or in flight now. */
  queued: number;
}

export type RecordResult = 'queued' | 'aggregated' | 'dropped';

interface Series {
  readonly firstMs: number;
  event: CoreEvent;
  count: number;
  /** The created Event's name, once it landed (and the client told it). */
  name: string | undefined;
  /** A create or patch for this series is pending in the queue: it sends the series' state when it runs. */
  pending: boolean;
  /** The create failed for good: later repeats start a new Event. */
  failed: boolean;
}

interface Task {
  readonly series: Series;
  /** When this task was handed out, for delivery(). */
  readonly done: Array<() => void>;
}

export class EventBroadcaster {
  readonly #client: EventBroadcasterOptions['client'];
  readonly #maxQueued: number;
  readonly #maxAttempts: number;
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #windowMs: number;
  readonly #concurrency: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #onDrop: EventBroadcasterOptions['onDrop'];
  readonly #series: BoundedMap<string, Series>;
  readonly #queue: Task[] = [];
  #running = 0;
  #idle: Array<() => void> = [];
  readonly #stats: Omit<EventBroadcasterStats, 'queued'> = {
    created: 0,
    patched: 0,
    aggregated: 0,
    retried: 0,
    droppedQueueFull: 0,
    droppedFailed: 0,
  };

  constructor(options: EventBroadcasterOptions) {
    this.#client = options.client;
    this.#maxQueued = options.maxQueued ?? 1000;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.#baseMs = options.backoffBaseMs ?? 200;
    this.#capMs = options.backoffCapMs ?? 5000;
    this.#windowMs = options.aggregateWindowMs ?? 10 * 60_000;
    this.#concurrency = Math.max(1, options.concurrency ?? 2);
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? unrefSleep;
    this.#onDrop = options.onDrop;
    this.#series = new BoundedMap(options.aggregateEntries ?? 4096);
  }

  /**
   * Hands one event over; returns at once. `onSettled` runs when its write landed or was given up (a record
   * aggregated into a landed series settles when the patch does; a suppressed or dropped one at once).
   */
  record(event: CoreEvent, onSettled?: () => void): RecordResult {
    const nowMs = this.#now();
    const key = seriesKey(event);
    const series = this.#series.get(key);
    if (series !== undefined && !series.failed && nowMs - series.firstMs < this.#windowMs) {
      series.count++;
      series.event = { ...series.event, lastTimestamp: event.lastTimestamp, count: series.count };
      this.#stats.aggregated++;
      if (series.pending) {
        // The queued write sends the latest count when it runs.
        if (onSettled !== undefined) this.#taskOf(series)?.done.push(onSettled);
        return 'aggregated';
      }
      if (series.name === undefined || this.#client.patchEvent === undefined) {
        onSettled?.();
        return 'aggregated';
      }
      if (!this.#enqueue(series, onSettled)) return 'dropped';
      return 'aggregated';
    }
    const fresh: Series = {
      firstMs: nowMs,
      event: { ...event, count: 1 },
      count: 1,
      name: undefined,
      pending: false,
      failed: false,
    };
    if (!this.#enqueue(fresh, onSettled)) return 'dropped';
    this.#series.set(key, fresh);
    return 'queued';
  }

  /** Resolves once nothing is queued or in flight (tests, shutdown). */
  flush(): Promise<void> {
    if (this.#queue.length === 0 && this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  stats(): EventBroadcasterStats {
    return { ...this.#stats, queued: this.#queue.length + this.#running };
  }

  #taskOf(series: Series): Task | undefined {
    return this.#queue.find((t) => t.series === series) ?? this.#inFlight.get(series);
  }

  readonly #inFlight = new Map<Series, Task>();

  #enqueue(series: Series, onSettled: (() => void) | undefined): boolean {
    if (this.#queue.length + this.#running >= this.#maxQueued) {
      this.#stats.droppedQueueFull++;
      this.#onDrop?.('queue-full', series.event);
      onSettled?.();
      return false;
    }
    series.pending = true;
    this.#queue.push({ series, done: onSettled === undefined ? [] : [onSettled] });
    this.#pump();
    return true;
  }

  #pump(): void {
    while (this.#running < this.#concurrency && this.#queue.length > 0) {
      const task = this.#queue.shift() as Task;
      this.#running++;
      this.#inFlight.set(task.series, task);
      void this.#run(task).finally(() => {
        this.#inFlight.delete(task.series);
        this.#running--;
        for (const settle of task.done) settle();
        this.#pump();
        if (this.#queue.length === 0 && this.#running === 0) {
          const idle = this.#idle;
          this.#idle = [];
          for (const resolve of idle) resolve();
        }
      });
    }
  }

  async #run(task: Task): Promise<void> {
    const series = task.series;
    for (let attempt = 1; ; attempt++) {
      // Taken at each attempt: repeats recorded meanwhile ride along in the count.
      const patching = series.name !== undefined && this.#client.patchEvent !== undefined;
      const count = series.count;
      const lastTimestamp = series.event.lastTimestamp;
      try {
        if (patching) {
          await this.#client.patchEvent?.(
            { namespace: series.event.metadata.namespace, name: series.name as string },
            { count, lastTimestamp },
          );
          this.#stats.patched++;
        } else {
          const created = await this.#client.createEvent({ ...series.event, count });
          if (created && typeof created.name === 'string') series.name = created.name;
          this.#stats.created++;
        }
        series.pending = false;
        // A repeat that arrived while this write was in flight needs one more patch.
        if (series.count !== count && series.name !== undefined && this.#client.patchEvent !== undefined) {
          this.#enqueue(series, undefined);
        }
        return;
      } catch (err) {
        if (patching && isNotFound(err)) {
          // The Event expired (its TTL) or was deleted: the series starts over as a new Event.
          series.name = undefined;
          attempt = 0;
          continue;
        }
        if (!isRetryable(err) || attempt >= this.#maxAttempts) {
          series.pending = false;
          if (!patching) series.failed = true;
          this.#stats.droppedFailed++;
          this.#onDrop?.('failed', series.event, err);
          return;
        }
        this.#stats.retried++;
        const hinted = retryAfterMsOf(err);
        const backoff = backoffDelayMs(attempt, { baseMs: this.#baseMs, capMs: this.#capMs });
        await this.#sleep(hinted === undefined ? backoff : Math.min(Math.max(hinted, backoff), this.#capMs));
      }
    }
  }
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'WR_KUBE_NOT_FOUND';
}

/** The correlator's aggregation key: the object (by uid), who reports, type, reason and message. */
function seriesKey(event: CoreEvent): string {
  const o = event.involvedObject;
  return [
    o.uid ?? `${o.apiVersion}/${o.kind}/${o.namespace ?? ''}/${o.name}`,
    event.reportingComponent,
    event.reportingInstance ?? '',
    event.type,
    event.reason,
    event.message,
  ].join('\u0000');
}

function unrefSleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref?.();
  });
}
