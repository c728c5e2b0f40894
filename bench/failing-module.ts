// Measures what a module that fails on every object costs once nothing changes: 1,000 primaries whose every
// reconcile fails with WR_GUEST_TRAP, through the real work queue (default backoff and retry bucket),
// reconcile worker and executor. The reconciler is native and throws the typed trap, so the figure is the
// engine's cost of failing, not the guest's. Reported: CPU per second of wall time in the steady state (a
// window after every key was given up on), runs per key, and, for comparison, the CPU the same 1,000 keys
// cost while failing with a transient code (WR_KUBE_UNAVAILABLE), which is how a trap was retried before.
// Run with `node bench/failing-module.ts`.

import { objectView } from '../host/src/abi/testing/object-view.ts';
import type { KubeObject, ObjectView } from '../host/src/abi/types.ts';
import { type ErrorCode, WrError } from '../host/src/errors.ts';
import { Executor } from '../host/src/executor/executor.ts';
import type { KindRef } from '../host/src/executor/kinds.ts';
import { FakeExecutorClient } from '../host/src/executor/testing/fake-client.ts';
import { objectKey } from '../host/src/mapping/index.ts';
import { WorkQueue } from '../host/src/queue/index.ts';
import { ReconcileWorker } from '../host/src/reconcile/worker.ts';
import { type BenchResult, main, round } from './lib.ts';

const KEYS = 1000;
const NAMESPACE = 'bench';
const APP: KindRef = { apiVersion: 'demo.wasmreconciler.dev/v1alpha1', kind: 'App', namespaced: true };
const CONFIG_MAP: KindRef = { apiVersion: 'v1', kind: 'ConfigMap', namespaced: true };
/** The one retry of each key passes the retry bucket (10/s after a burst of 100): about 90 s for 1,000 keys. */
const SETTLE_TIMEOUT_MS = 180_000;
const WINDOW_MS = 5_000;

interface Scenario {
  readonly queue: WorkQueue;
  readonly runs: () => number;
  readonly processing: Promise<void>;
}

function app(name: string, uid: string): KubeObject {
  return {
    apiVersion: APP.apiVersion,
    kind: APP.kind,
    metadata: { name, namespace: NAMESPACE, uid, resourceVersion: '1', generation: 1 },
    spec: { image: 'registry.example/hello:1', replicas: 0 },
  };
}

/** 1,000 primaries in a cache-like map, a reconciler failing with `code`, and the queue processing them. */
function start(code: ErrorCode): Scenario {
  const views = new Map<string, ObjectView>();
  for (let i = 0; i < KEYS; i++) {
    const name = `app-${i}`;
    views.set(objectKey(NAMESPACE, name), objectView(app(name, `uid-${i}`)));
  }
  const executor = new Executor({
    name: 'bench',
    primary: APP,
    owns: [CONFIG_MAP],
    permissions: [{ apiGroups: [''], kinds: ['ConfigMap'], verbs: ['create', 'patch', 'delete'] }],
    client: new FakeExecutorClient(),
  });
  let runs = 0;
  const worker = new ReconcileWorker({
    reconciler: {
      async reconcile() {
        runs++;
        throw new WrError(code, 'unreachable executed');
      },
    },
    executor,
    identity: { name: 'bench', namespace: 'wasm-reconciler', generation: 1 },
    primaries: { get: (namespace, name) => views.get(objectKey(namespace, name)) },
    children: { byOwner: () => [] },
  });
  const queue = new WorkQueue({ name: 'bench' });
  // What ReconcilerController does with each item: run the worker, hand its error to the queue.
  const processing = queue.process(async (item) => {
    const result = await worker.process(item.key, { reason: item.reason });
    if (result.error !== undefined) throw result.error;
    return undefined;
  });
  for (const key of views.keys()) queue.add(key, { reason: 'created', lane: 'low' });
  return { queue, runs: () => runs, processing };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Milliseconds of CPU (user + system) this process used per second of wall time over `ms`. */
async function cpuPerSecond(ms: number): Promise<number> {
  const before = process.cpuUsage();
  const started = performance.now();
  await sleep(ms);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / ((performance.now() - started) / 1000);
}

async function stop(scenario: Scenario): Promise<void> {
  await scenario.queue.shutdown(true);
  await scenario.processing;
}

export async function run(): Promise<BenchResult[]> {
  const trap = start('WR_GUEST_TRAP');
  const started = performance.now();
  while (trap.queue.stats().trackedKeys > 0 && performance.now() - started < SETTLE_TIMEOUT_MS) await sleep(10);
  const settledMs = performance.now() - started;
  if (trap.queue.stats().trackedKeys > 0) throw new Error(`keys still tracked after ${SETTLE_TIMEOUT_MS} ms`);
  const runsSettled = trap.runs();
  const trapCpu = await cpuPerSecond(WINDOW_MS);
  const runsInWindow = trap.runs() - runsSettled;
  await stop(trap);

  // Before: the trap was retried like any transient failure. Measured after the retry bucket's burst.
  const transient = start('WR_KUBE_UNAVAILABLE');
  await sleep(WINDOW_MS);
  const transientCpu = await cpuPerSecond(WINDOW_MS);
  await stop(transient);

  const percent = (msPerSecond: number) => round(msPerSecond / 10, 3);
  const note = `${KEYS} keys, ${WINDOW_MS / 1000} s window`;
  return [
    {
      name: 'failing-module/trap/cpu',
      value: percent(trapCpu),
      unit: '% of a core',
      note: `${note} after every key was given up on; ${runsInWindow} runs in the window`,
    },
    { name: 'failing-module/trap/runs-per-key', value: round(runsSettled / KEYS, 2), unit: 'runs', note },
    {
      name: 'failing-module/trap/given-up',
      value: round(settledMs),
      unit: 'ms',
      note: 'until no key is tracked: the retries pass the retry bucket at 10/s',
    },
    {
      name: 'failing-module/transient/cpu',
      value: percent(transientCpu),
      unit: '% of a core',
      note: `${note}, 5-10 s after start: the same keys failing with WR_KUBE_UNAVAILABLE (retried with backoff)`,
    },
  ];
}

await main(import.meta, run);
