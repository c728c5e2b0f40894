// A healthy reconciler beside hostile neighbours on one guest worker pool, in process: how long the main thread's event loop stalls and how slow healthy calls get. Run with `node bench/hostile-neighbour.ts`.
//
// The hostile slots are the sandbox-liveness integration test's guests: one burns its fuel, one grows its
// table and memory to the cap, one floods get/list, one floods malformed gets, one overruns a 200 ms
// deadline on every call (its worker is terminated each time). Each runs back to back for the whole phase.
// The healthy slot is the configmap-app module (the SDK's AssemblyScript build), called through
// GuestReconciler as the engine does, one reconcile at a time, paced like a busy controller.
// The main thread's event-loop delay (monitorEventLoopDelay) is what the Lease renewals, probes and watches
// see; the healthy latencies are whole GuestReconciler.reconcile calls, queueing on the workers included.

import { readFile } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildV1 } from '../examples/configmap-app/test/modules.ts';
import type { KubeObject, ReconcileRequest } from '../host/src/abi/types.ts';
import {
  GuestReconciler,
  GuestWorkerPool,
  type LimitOverrides,
  ModuleLoader,
  ModuleSlot,
} from '../host/src/runtime/index.ts';
import { mapReadPort, recordingLogger } from '../test/fixtures/guests/host.ts';
import { fixture } from '../test/fixtures/guests/wat.ts';
import { type BenchResult, main, percentile, round } from './lib.ts';

const APP = 'demo.wasmreconciler.dev/v1alpha1';
const PHASE_MS = 10_000;
const BASELINE_MS = 3_000;
/** Pause between healthy reconciles: a controller with a steady trickle of work, not a saturating loop. */
const HEALTHY_PACE_MS = 5;

const ALL_HOSTILE: readonly { name: string; fixture: string; limits: LimitOverrides }[] = [
  { name: 'spin', fixture: 'loop-forever', limits: {} },
  { name: 'grow', fixture: 'hostile-grow', limits: { memoryPages: 1024 } },
  { name: 'flood', fixture: 'hostile-flood', limits: {} },
  { name: 'get-flood', fixture: 'hostile-get-flood', limits: {} },
  { name: 'deadline', fixture: 'loop-forever', limits: { fuel: 2_000_000_000, deadlineMs: 200 } },
];
/** WR_BENCH_HOSTILE=deadline,flood runs only those neighbours (to tell which one costs what). */
const ONLY = process.env.WR_BENCH_HOSTILE?.split(',');
const HOSTILE = ONLY === undefined ? ALL_HOSTILE : ALL_HOSTILE.filter((h) => ONLY.includes(h.name));

function app(name: string): KubeObject {
  return {
    apiVersion: APP,
    kind: 'App',
    metadata: { name, namespace: 'bench', uid: `uid-${name}`, generation: 1, labels: { tier: 'healthy' } },
    spec: { image: `registry.example/${name}:1`, replicas: 2, message: `hello ${name}`, config: { NAME: name } },
  };
}

function request(object: KubeObject): ReconcileRequest {
  const json = JSON.stringify(object);
  return {
    trigger: { reason: 'updated' },
    reconciler: { name: 'healthy', namespace: 'bench', generation: 1 },
    primary: { json, object: () => JSON.parse(json) as KubeObject },
    deleted: false,
    children: new Map(),
    related: new Map(),
  };
}

interface Phase {
  readonly loopP99: number;
  readonly loopMax: number;
  readonly healthy: number[];
  readonly healthyFailures: Map<string, number>;
}

/** Runs the healthy reconciler for `ms` while `busy` is true for the hostile loops; measures the main thread. */
async function phase(healthy: GuestReconciler, ms: number): Promise<Phase> {
  const requests = Array.from({ length: 50 }, (_, i) => request(app(`app-${i}`)));
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  const latencies: number[] = [];
  const failures = new Map<string, number>();
  const until = performance.now() + ms;
  for (let i = 0; performance.now() < until; i++) {
    const started = performance.now();
    try {
      await healthy.reconcile(requests[i % requests.length]!);
      latencies.push(performance.now() - started);
    } catch (err) {
      const code = (err as { code?: string }).code ?? String(err);
      failures.set(code, (failures.get(code) ?? 0) + 1);
    }
    await sleep(HEALTHY_PACE_MS);
  }
  histogram.disable();
  return {
    loopP99: histogram.percentile(99) / 1e6,
    loopMax: histogram.max / 1e6,
    healthy: latencies,
    healthyFailures: failures,
  };
}

export async function run(): Promise<BenchResult[]> {
  const workers = new GuestWorkerPool();
  const loader = new ModuleLoader();
  const logger = recordingLogger('info').logger;
  const objects = Array.from({ length: 20 }, (_, i) => JSON.stringify(app(`hostile-${i}`)));
  const slot = (name: string, limits: LimitOverrides) =>
    new ModuleSlot({
      identity: { name, namespace: 'bench' },
      loader,
      logger,
      readPort: mapReadPort(objects),
      workers,
      limits,
    });

  const healthySlot = slot('healthy', {});
  await healthySlot.load(await readFile((await buildV1()).wasmPath), null);
  const healthy = new GuestReconciler(healthySlot);
  // Warm-up, then the baseline: the healthy reconciler alone on the pool.
  for (let i = 0; i < 2000; i++) await healthy.reconcile(request(app(`warm-${i % 10}`)));
  const alone = await phase(healthy, BASELINE_MS);

  const hostile = await Promise.all(
    HOSTILE.map(async (h) => {
      const s = slot(h.name, h.limits);
      await s.load(await fixture(h.fixture), null);
      return { ...h, slot: s, outcomes: new Map<string, number>() };
    }),
  );
  let busy = true;
  const loops = hostile.map(async (h) => {
    const input = JSON.stringify({ primary: JSON.parse(objects[0]!) });
    while (busy) {
      const code = await h.slot.call('wr_reconcile', input).then(
        () => 'ok',
        (err: { code?: string }) => err.code ?? 'unknown',
      );
      h.outcomes.set(code, (h.outcomes.get(code) ?? 0) + 1);
    }
  });
  const replacedBefore = workers.stats().replaced;
  const neighbours = await phase(healthy, PHASE_MS);
  busy = false;
  await Promise.all(loops);
  const replaced = workers.stats().replaced - replacedBefore;
  await Promise.all([healthySlot.close(), ...hostile.map((h) => h.slot.close())]);
  await workers.close();

  const failed = [...neighbours.healthyFailures].map(([code, n]) => `${code} x${n}`).join(', ') || 'none';
  const outcomes = hostile
    .map((h) => `${h.name}: ${[...h.outcomes].map(([code, n]) => `${code} x${n}`).join(', ')}`)
    .join('; ');
  const note = `${workers.size} workers; ${PHASE_MS / 1000} s with ${HOSTILE.length} hostile neighbours`;
  return [
    { name: 'hostile-neighbour/loop-delay/p99', value: round(neighbours.loopP99, 1), unit: 'ms', note },
    { name: 'hostile-neighbour/loop-delay/max', value: round(neighbours.loopMax, 1), unit: 'ms' },
    { name: 'hostile-neighbour/healthy/p50', value: round(percentile(neighbours.healthy, 50), 2), unit: 'ms' },
    { name: 'hostile-neighbour/healthy/p99', value: round(percentile(neighbours.healthy, 99), 2), unit: 'ms' },
    {
      name: 'hostile-neighbour/healthy/calls',
      value: neighbours.healthy.length,
      unit: 'calls',
      note: `healthy calls failed: ${failed}`,
    },
    {
      name: 'hostile-neighbour/healthy/failed',
      value: [...neighbours.healthyFailures.values()].reduce((a, b) => a + b, 0),
      unit: 'calls',
    },
    { name: 'hostile-neighbour/workers-replaced', value: replaced, unit: 'workers', note: outcomes },
    { name: 'alone/loop-delay/p99', value: round(alone.loopP99, 1), unit: 'ms', note: 'the healthy reconciler alone' },
    { name: 'alone/loop-delay/max', value: round(alone.loopMax, 1), unit: 'ms' },
    { name: 'alone/healthy/p50', value: round(percentile(alone.healthy, 50), 2), unit: 'ms' },
    { name: 'alone/healthy/p99', value: round(percentile(alone.healthy, 99), 2), unit: 'ms' },
  ];
}

await main(import.meta, run);
