// Measures guest call throughput with a ~5 KB primary (no-op and render guests vs the same logic in TS) and what the default fuel budget means in time. Run with `node bench/runtime-calls.ts`.
//
// Three ways to call the same guest:
// - `wasm`: inside a worker thread, as the guest workers run it (GuestInstance: wr_alloc + copy -> metered
//   guest -> set_output copy -> status check): the guest-execution cost the targets are about.
// - `e2e`: the whole way the engine goes: GuestReconciler.reconcile -> input encoding (cached JSON spliced
//   in) -> hand-off to a guest worker over shared memory -> the above -> the output parsed and validated
//   once, on the main thread.
// - `main-thread`: GuestInstance on the main thread, as every call ran before guests moved to workers.
// `added` is what the hand-off costs a single call: the e2e median minus the in-worker median.

import { Worker } from 'node:worker_threads';
import { DEFAULT_LIMITS } from '../host/src/abi/constants.ts';
import { encodeReconcileInput } from '../host/src/abi/encode.ts';
import type { KubeObject, ReconcileOutput, ReconcileRequest } from '../host/src/abi/types.ts';
import { validateReconcileOutput } from '../host/src/abi/validate.ts';
import {
  GuestInstance,
  GuestReconciler,
  GuestWorkerPool,
  localReads,
  ModuleLoader,
  ModuleSlot,
  resolveLimits,
} from '../host/src/runtime/index.ts';
import { mapReadPort, recordingLogger } from '../test/fixtures/guests/host.ts';
import { fixture } from '../test/fixtures/guests/wat.ts';
import { type BenchResult, main, median, round } from './lib.ts';
import { openGuest } from './support/guest.ts';

/** A Deployment-like primary of about 5 KB, as the API would serve it. */
function primaryJson(): string {
  const env = Array.from({ length: 60 }, (_, i) => ({ name: `SETTING_${i}`, value: `value-${i}-${'x'.repeat(40)}` }));
  const obj = {
    apiVersion: 'demo.io/v1',
    kind: 'App',
    metadata: {
      name: 'web',
      namespace: 'shop',
      uid: '6f1c2a8e-3b7d-4c1e-9a2f-0d5e8b7c6a41',
      resourceVersion: '184467',
      generation: 7,
      labels: { 'app.kubernetes.io/name': 'web', 'app.kubernetes.io/part-of': 'shop', tier: 'frontend' },
      annotations: { 'demo.io/owner': 'team-shop', 'demo.io/revision': '42' },
    },
    spec: {
      replicas: 3,
      image: 'registry.example/shop/web:1.42.0',
      containers: [{ name: 'web', ports: [{ containerPort: 8080 }], env }],
    },
    status: { observedGeneration: 6, ready: true },
  };
  return JSON.stringify(obj);
}

function request(json: string): ReconcileRequest {
  return {
    trigger: { reason: 'updated' },
    reconciler: { name: 'bench', namespace: 'system', generation: 1 },
    primary: { json, object: () => JSON.parse(json) as KubeObject },
    deleted: false,
    children: new Map(),
    related: new Map(),
  };
}

/** The render guest's logic in TypeScript, validated the same way a guest's output is. */
function renderNative(req: ReconcileRequest): ReconcileOutput {
  const name = req.primary.object().metadata.name;
  const child = (suffix: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `${name}-${suffix}` },
    data: { k: 'v' },
  });
  return validateReconcileOutput({ children: [child('a'), child('b')], status: { ready: true, children: 2 } });
}

/**
 * Calls per second of `call`, awaited one after another: the best 1000-call batch within about `ms`, after a
 * warm-up. On a shared machine the fastest batch tracks the code's cost; an average tracks the neighbours.
 */
async function throughput(call: () => Promise<unknown>, ms = 1500): Promise<number> {
  for (let i = 0; i < 20_000; i++) await call();
  const batch = 1000;
  let best = Number.POSITIVE_INFINITY;
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const start = performance.now();
    for (let i = 0; i < batch; i++) await call();
    best = Math.min(best, performance.now() - start);
  }
  return batch / (best / 1000);
}

/** Median time of one awaited call, in microseconds. */
async function medianUs(call: () => Promise<unknown>, n = 5000): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await call();
    times.push(performance.now() - start);
  }
  return median(times) * 1000;
}

/** Calls per second and median call of `bytes` inside a worker thread (bench/support/in-worker-calls.ts). */
function inWorker(bytes: Uint8Array, input: string): Promise<{ callsPerSecond: number; p50Us: number }> {
  const worker = new Worker(new URL('./support/in-worker-calls.ts', import.meta.url), {
    workerData: { bytes, input, ms: 1500 },
  });
  return new Promise((resolve, reject) => {
    worker.once('message', (m) => {
      resolve(m);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

/** GuestInstance on the main thread: the call path before guests moved to worker threads. */
async function mainThread(bytes: Uint8Array, input: string): Promise<number> {
  const guest = await openGuest(bytes);
  return throughput(async () => guest.call('wr_reconcile', input));
}

/**
 * Time for one call of a guest that spins until the default budget runs out: first on freshly compiled
 * baseline (Liftoff) code, then once V8 has optimised the function. Each fresh module differs by its
 * initial fuel, so V8's code cache cannot hand back already-optimised code.
 */
async function budgetTimes(): Promise<{ first: number[]; optimised: number[] }> {
  const bytes = await fixture('loop-forever');
  const loader = new ModuleLoader();
  const first: number[] = [];
  const optimised: number[] = [];
  for (let round = 0; round < 5; round++) {
    const limits = resolveLimits({ fuel: DEFAULT_LIMITS.fuel - round });
    const compiled = await loader.load(bytes, limits);
    const options = {
      initInput: '{}',
      limits: resolveLimits(),
      logger: recordingLogger().logger,
      logBindings: {},
      reads: localReads(mapReadPort([]), resolveLimits().resultBytes),
    };
    for (let call = 0; call < 4; call++) {
      const instance = await GuestInstance.create(compiled, options);
      const t0 = performance.now();
      try {
        instance.call('wr_reconcile', '{}');
      } catch {
        // The budget error is the expected outcome; only its timing matters here.
      }
      (call === 0 ? first : optimised).push(performance.now() - t0);
    }
  }
  return { first, optimised };
}

export async function run(): Promise<BenchResult[]> {
  const json = primaryJson();
  const req = request(json);
  const input = encodeReconcileInput(req);
  const sizeNote = `${(json.length / 1024).toFixed(1)} KiB primary`;
  const loader = new ModuleLoader();
  const pool = new GuestWorkerPool({ size: 1 });
  const reconcilerFor = async (name: string) => {
    const slot = new ModuleSlot({
      identity: { name },
      loader,
      logger: recordingLogger().logger,
      readPort: mapReadPort([]),
      workers: pool,
    });
    await slot.load(await fixture(name), null);
    return new GuestReconciler(slot);
  };

  const noop = await reconcilerFor('noop');
  const render = await reconcilerFor('render');
  const rendered = await render.reconcile(req);
  if (JSON.stringify(rendered) !== JSON.stringify(renderNative(req))) {
    throw new Error(`the render guest and its TypeScript twin disagree: ${JSON.stringify(rendered)}`);
  }

  const noopNativeFn = async (_: ReconcileRequest): Promise<ReconcileOutput> => validateReconcileOutput({});
  const renderNativeFn = async (r: ReconcileRequest) => renderNative(r);
  const noopWorker = await inWorker(await fixture('noop'), input);
  const renderWorker = await inWorker(await fixture('render'), input);
  const noopE2e = await throughput(() => noop.reconcile(req));
  const renderE2e = await throughput(() => render.reconcile(req));
  const noopE2eUs = await medianUs(() => noop.reconcile(req));
  const renderE2eUs = await medianUs(() => render.reconcile(req));
  const noopMain = await mainThread(await fixture('noop'), input);
  const renderMain = await mainThread(await fixture('render'), input);
  const tsNoop = await throughput(() => noopNativeFn(req));
  const tsRender = await throughput(() => renderNativeFn(req));
  await pool.close();
  const budget = await budgetTimes();
  const fuel = DEFAULT_LIMITS.fuel;
  const handOff = 'e2e median minus in-worker median, one call at a time';

  return [
    {
      name: 'calls/noop/wasm',
      value: round(noopWorker.callsPerSecond),
      unit: 'calls/s',
      note: `in a worker; ${sizeNote}`,
    },
    { name: 'calls/noop/e2e', value: round(noopE2e), unit: 'calls/s', note: 'GuestReconciler -> guest worker -> back' },
    { name: 'calls/noop/main-thread', value: round(noopMain), unit: 'calls/s', note: 'before the worker design' },
    { name: 'calls/noop/added', value: round(noopE2eUs - noopWorker.p50Us, 1), unit: 'us', note: handOff },
    { name: 'calls/noop/ts', value: round(tsNoop), unit: 'calls/s', note: 'returns {} after validation' },
    {
      name: 'calls/render/wasm',
      value: round(renderWorker.callsPerSecond),
      unit: 'calls/s',
      note: `in a worker; ${sizeNote}; 2 children + status`,
    },
    {
      name: 'calls/render/e2e',
      value: round(renderE2e),
      unit: 'calls/s',
      note: 'GuestReconciler -> guest worker -> back',
    },
    { name: 'calls/render/main-thread', value: round(renderMain), unit: 'calls/s', note: 'before the worker design' },
    { name: 'calls/render/added', value: round(renderE2eUs - renderWorker.p50Us, 1), unit: 'us', note: handOff },
    { name: 'calls/render/ts', value: round(tsRender), unit: 'calls/s', note: 'parses the primary per call' },
    {
      name: 'budget/spin/first-call',
      value: round(median(budget.first), 1),
      unit: 'ms',
      note: `default fuel ${fuel}, baseline code; ${round((median(budget.first) * 1e6) / fuel, 2)} ns/unit`,
    },
    {
      name: 'budget/spin/optimised',
      value: round(median(budget.optimised), 1),
      unit: 'ms',
      note: `default fuel ${fuel}, tiered-up code; ${round((median(budget.optimised) * 1e6) / fuel, 2)} ns/unit`,
    },
  ];
}

await main(import.meta, run);
