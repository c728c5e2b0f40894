// The parts of prom-client the host uses, required file by file instead of through its index.
//
// Why: prom-client's index loads every part, and its default metrics load @opentelemetry/api for the CPU
// counters' exemplars, which the host never enables. That one import is ~7 MB of RSS and ~10 ms of start-up
// CPU here (docs/benchmarks.md#footprint). The default metrics are prom-client's own modules, all but the
// CPU counters, which are defined below under the same names; /metrics serves the same series.

import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry = require('prom-client/lib/registry') as typeof Prom.Registry;
export const Counter = require('prom-client/lib/counter') as typeof Prom.Counter;
export const Gauge = require('prom-client/lib/gauge') as typeof Prom.Gauge;
export const Histogram = require('prom-client/lib/histogram') as typeof Prom.Histogram;

type DefaultMetric = (registry: Prom.Registry, config: object) => void;

/** collectDefaultMetrics' list in prom-client 15, without processCpuTotal (the OpenTelemetry import). */
const DEFAULT_METRICS = [
  'processStartTime',
  'osMemoryHeap',
  'processOpenFileDescriptors',
  'processMaxFileDescriptors',
  'eventLoopLag',
  'processResources',
  'processHandles',
  'processRequests',
  'heapSizeAndUsed',
  'heapSpacesSizeAndUsed',
  'version',
  'gc',
] as const;

/** What collectDefaultMetrics({ register: registry }) registers, with the same names and help. */
export function collectDefaultMetrics(registry: Prom.Registry): void {
  const registers = [registry];
  let last = process.cpuUsage();
  new Counter({
    name: 'process_cpu_user_seconds_total',
    help: 'Total user CPU time spent in seconds.',
    registers,
    // One collect sets all three, as prom-client's does.
    collect() {
      const now = process.cpuUsage();
      const user = (now.user - last.user) / 1e6;
      const sys = (now.system - last.system) / 1e6;
      last = now;
      this.inc(user);
      system.inc(sys);
      total.inc(user + sys);
    },
  });
  const system = new Counter({
    name: 'process_cpu_system_seconds_total',
    help: 'Total system CPU time spent in seconds.',
    registers,
  });
  const total = new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers,
  });
  // The event-loop delay histogram samples on a timer. prom-client's 10 ms wakes an idle host 100 times a
  // second: 4.1 ms of CPU per second on this machine's VM (0.7 ms at 100 ms, 0.04 ms with none), which an
  // edge node pays for ever. The cost: a stall shorter than 100 ms is caught only when a sample falls due
  // inside it (chance: its length / 100 ms); a longer one always is, with its full delay.
  const config = { eventLoopMonitoringPrecision: 100 };
  for (const name of DEFAULT_METRICS) (require(`prom-client/lib/metrics/${name}`) as DefaultMetric)(registry, config);
}
