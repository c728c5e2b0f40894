// Scrape-time hooks for the metrics whose truth lives in other stages' own counters (reflectors, queues).
//
// Reflectors and queues count for themselves (their tests assert on those counts); turning the counts
// into samples only when Prometheus scrapes keeps every metrics call off the hot paths.

import type { Counter, Gauge } from 'prom-client';
import type { CacheEntryStats } from '../cache/index.ts';
import type { QueueStats } from '../queue/index.ts';

export interface MetricSources {
  /** One entry per shared reflector. */
  caches(): readonly CacheEntryStats[];
  /** One entry per running reconciler, by controller label. */
  queues(): readonly {
    readonly controller: string;
    readonly stats: QueueStats | undefined;
    /** Primaries no sharded host reconciles, where this host counts them (the status writer). */
    readonly unassigned?: number | undefined;
  }[];
  /** The guest worker pool: threads alive, and threads lost to a deadline or a crash so far. */
  workers(): { readonly workers: number; readonly replaced: number };
}

/** Where the hooks read from; set once the host has built its registry and manager. */
export interface SourceSlot {
  current: MetricSources | undefined;
}

const kindOf = (key: string) => key.slice(0, key.indexOf('|'));

/** A counter that advances by the growth of one WatcherStats total, per reflector. */
export function watchCounterHook(slot: SourceSlot, field: 'lists' | 'reconnects' | 'events') {
  const seen = new Map<string, number>();
  return function (this: Counter<string>) {
    for (const entry of slot.current?.caches() ?? []) {
      const total = entry.watch[field];
      const last = seen.get(entry.key) ?? 0;
      // A released and re-created reflector counts from 0 again.
      const delta = total >= last ? total - last : total;
      if (delta > 0) this.labels(kindOf(entry.key)).inc(delta);
      seen.set(entry.key, total);
    }
  };
}

export function cacheObjectsHook(slot: SourceSlot) {
  return function (this: Gauge<string>) {
    this.reset();
    for (const entry of slot.current?.caches() ?? []) this.labels(kindOf(entry.key)).inc(entry.objects);
  };
}

export function queueGaugeHook(slot: SourceSlot, field: 'depth' | 'inFlight') {
  return function (this: Gauge<string>) {
    this.reset();
    for (const { controller, stats } of slot.current?.queues() ?? []) {
      if (stats !== undefined) this.labels(controller).set(stats[field]);
    }
  };
}

export function unassignedGaugeHook(slot: SourceSlot) {
  return function (this: Gauge<string>) {
    this.reset();
    for (const { controller, unassigned } of slot.current?.queues() ?? []) {
      if (unassigned !== undefined) this.labels(controller).set(unassigned);
    }
  };
}

export function workersGaugeHook(slot: SourceSlot) {
  return function (this: Gauge<string>) {
    this.set(slot.current?.workers().workers ?? 0);
  };
}

/** Counts the growth of the pool's replaced total since the last scrape. */
export function workersReplacedHook(slot: SourceSlot) {
  let seen = 0;
  return function (this: Counter<string>) {
    const total = slot.current?.workers().replaced ?? 0;
    if (total > seen) this.inc(total - seen);
    seen = total;
  };
}
