// The host's Prometheus metrics: one prom-client registry holding every instrument named in names.ts.

import {
  cacheObjectsHook,
  type MetricSources,
  queueGaugeHook,
  type SourceSlot,
  unassignedGaugeHook,
  watchCounterHook,
  workersGaugeHook,
  workersReplacedHook,
} from './collect.ts';
import { LABEL, METRIC } from './names.ts';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from './prom.ts';
import { WriteWindow } from './write-window.ts';

const c = LABEL.controller;

/** Latency buckets from 100 us to ~10 s: guest calls are microseconds, API round trips milliseconds. */
const SECONDS_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics(registry);
  const registers = [registry];
  const sources: SourceSlot = { current: undefined };
  const writeWindow = new WriteWindow();
  return {
    registry,
    /** Every write the executor made, by controller, over the last minute (the gauge below reads it). */
    writeWindow,
    /** Connects the scrape-time metrics (watches, cache, queues) to the stages that count them. */
    collectFrom(current: MetricSources) {
      sources.current = current;
    },
    reconcileTotal: new Counter({
      name: METRIC.reconcileTotal,
      help: 'Reconciles by controller and result (success, error, requeue, requeue_after).',
      labelNames: [c, LABEL.result],
      registers,
    }),
    reconcileErrorsTotal: new Counter({
      name: METRIC.reconcileErrorsTotal,
      help: 'Reconcile errors by controller and stable error code.',
      labelNames: [c, LABEL.code],
      registers,
    }),
    reconcileTime: new Histogram({
      name: METRIC.reconcileTime,
      help: 'Whole reconcile time: snapshot, guest call, executor writes.',
      labelNames: [c],
      buckets: SECONDS_BUCKETS,
      registers,
    }),
    activeWorkers: new Gauge({
      name: METRIC.activeWorkers,
      collect: queueGaugeHook(sources, 'inFlight'),
      help: 'Reconciles in flight.',
      labelNames: [c],
      registers,
    }),
    queueDepth: new Gauge({
      name: METRIC.queueDepth,
      collect: queueGaugeHook(sources, 'depth'),
      help: 'Keys waiting.',
      labelNames: [LABEL.name],
      registers,
    }),
    queueAddsTotal: new Counter({
      name: METRIC.queueAddsTotal,
      help: 'Keys added to the work queue.',
      labelNames: [LABEL.name],
      registers,
    }),
    queueRetriesTotal: new Counter({
      name: METRIC.queueRetriesTotal,
      help: 'Keys re-added after a failure.',
      labelNames: [LABEL.name],
      registers,
    }),
    queueDropsTotal: new Counter({
      name: METRIC.queueDropsTotal,
      help: 'Keys refused because the queue reached its bound.',
      labelNames: [LABEL.name],
      registers,
    }),
    guestCallTime: new Histogram({
      name: METRIC.guestCallTime,
      help: 'Time inside one guest export call.',
      labelNames: [c],
      buckets: SECONDS_BUCKETS,
      registers,
    }),
    guestFuelUsed: new Histogram({
      name: METRIC.guestFuelUsed,
      help: 'Fuel consumed by one guest call.',
      labelNames: [c],
      buckets: [1e3, 1e4, 1e5, 1e6, 1e7, 1e8],
      registers,
    }),
    guestFailuresTotal: new Counter({
      name: METRIC.guestFailuresTotal,
      help: 'Guest calls that failed, by stable error code (trap, budget, memory, output).',
      labelNames: [c, LABEL.code],
      registers,
    }),
    moduleSwapsTotal: new Counter({
      name: METRIC.moduleSwapsTotal,
      help: 'Module versions that became active.',
      labelNames: [c],
      registers,
    }),
    moduleLoadFailuresTotal: new Counter({
      name: METRIC.moduleLoadFailuresTotal,
      help: 'Module versions refused, by stable error code; the previous version kept serving.',
      labelNames: [c, LABEL.code],
      registers,
    }),
    guestWorkers: new Gauge({
      name: METRIC.guestWorkers,
      collect: workersGaugeHook(sources),
      help: 'Worker threads running guest code.',
      registers,
    }),
    guestWorkersReplacedTotal: new Counter({
      name: METRIC.guestWorkersReplacedTotal,
      collect: workersReplacedHook(sources),
      help: 'Guest worker threads terminated for a call deadline or lost to a crash (and replaced).',
      registers,
    }),
    moduleGeneration: new Gauge({
      name: METRIC.moduleGeneration,
      help: 'Generation of the active module version in each slot.',
      labelNames: [c],
      registers,
    }),
    watchListsTotal: new Counter({
      name: METRIC.watchListsTotal,
      collect: watchCounterHook(sources, 'lists'),
      help: 'Full lists issued by reflectors.',
      labelNames: [LABEL.kind],
      registers,
    }),
    watchReconnectsTotal: new Counter({
      name: METRIC.watchReconnectsTotal,
      collect: watchCounterHook(sources, 'reconnects'),
      help: 'Watch streams re-opened from the last resourceVersion.',
      labelNames: [LABEL.kind],
      registers,
    }),
    watchEventsTotal: new Counter({
      name: METRIC.watchEventsTotal,
      collect: watchCounterHook(sources, 'events'),
      help: 'Watch events received, bookmarks included.',
      labelNames: [LABEL.kind],
      registers,
    }),
    cacheObjects: new Gauge({
      name: METRIC.cacheObjects,
      collect: cacheObjectsHook(sources),
      help: 'Objects held in the shared cache.',
      labelNames: [LABEL.kind],
      registers,
    }),
    writesTotal: new Counter({
      name: METRIC.writesTotal,
      help: 'API writes performed by the executor, by verb and result.',
      labelNames: [c, LABEL.verb, LABEL.result],
      registers,
    }),
    writesLastMinute: new Gauge({
      name: METRIC.writesLastMinute,
      help: 'API writes performed by the executor in the last 60 s (applies, prunes, status, events): the edge write budget.',
      labelNames: [c],
      registers,
      collect() {
        this.reset();
        for (const controller of writeWindow.controllers()) {
          this.labels(controller).set(writeWindow.lastMinute(controller));
        }
      },
    }),
    unassignedPrimaries: new Gauge({
      name: METRIC.unassignedPrimaries,
      collect: unassignedGaugeHook(sources),
      help: 'Primaries that match no sharded host (no node label, or a node no host serves), counted by the status-writing host.',
      labelNames: [c],
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
