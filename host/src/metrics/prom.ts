// The parts of prom-client the host uses, imported file by file instead of through its index.
//
// Why: prom-client's index loads every part, and its default metrics load @opentelemetry/api for the CPU
// counters' exemplars, which the host never enables. That one import is ~7 MB of RSS and ~10 ms of start-up
// CPU here (docs/benchmarks.md#footprint). The default metrics are prom-client's own modules, all but the
// CPU counters, which are defined below under the same names; /metrics serves the same series.
//
// Static imports, not a createRequire() per file: the bundle (host/tools/bundle.ts) can only take in what it
// sees imported, and loading these 23 files through Node's CommonJS loader at start is what made its path
// functions hot enough for TurboFan (docs/benchmarks.md#footprint).

import type * as Prom from 'prom-client';
import counter from 'prom-client/lib/counter.js';
import gauge from 'prom-client/lib/gauge.js';
import histogram from 'prom-client/lib/histogram.js';
import eventLoopLag from 'prom-client/lib/metrics/eventLoopLag.js';
import gc from 'prom-client/lib/metrics/gc.js';
import heapSizeAndUsed from 'prom-client/lib/metrics/heapSizeAndUsed.js';
import heapSpacesSizeAndUsed from 'prom-client/lib/metrics/heapSpacesSizeAndUsed.js';
import osMemoryHeap from 'prom-client/lib/metrics/osMemoryHeap.js';
import processHandles from 'prom-client/lib/metrics/processHandles.js';
import processMaxFileDescriptors from 'prom-client/lib/metrics/processMaxFileDescriptors.js';
import processOpenFileDescriptors from 'prom-client/lib/metrics/processOpenFileDescriptors.js';
import processRequests from 'prom-client/lib/metrics/processRequests.js';
import processResources from 'prom-client/lib/metrics/processResources.js';
import processStartTime from 'prom-client/lib/metrics/processStartTime.js';
import version from 'prom-client/lib/metrics/version.js';
import registryClass from 'prom-client/lib/registry.js';

export const Registry = registryClass as typeof Prom.Registry;
export const Counter = counter as typeof Prom.Counter;
export const Gauge = gauge as typeof Prom.Gauge;
export const Histogram = histogram as typeof Prom.Histogram;

type DefaultMetric = (registry: Prom.Registry, config: object) => void;

/** collectDefaultMetrics' list in prom-client 15, in its order, without processCpuTotal (the OpenTelemetry import). */
const DEFAULT_METRICS = [
  processStartTime,
  osMemoryHeap,
  processOpenFileDescriptors,
  processMaxFileDescriptors,
  eventLoopLag,
  processResources,
  processHandles,
  processRequests,
  heapSizeAndUsed,
  heapSpacesSizeAndUsed,
  version,
  gc,
] as DefaultMetric[];

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
  for (const metric of DEFAULT_METRICS) metric(registry, config);
}
