// Measures time for N primaries to converge on the local control plane with the controller engine (shared
// caches, event mapping, work queue, 4 workers, executor) and the native App reconciler. Run with
// `node bench/converge.ts [N]` (N = 1000 by default).
//
// Burst: the engine runs while N Apps are created with 8 client requests in flight; the time runs from the
// first create until every App is settled in the engine's cache (status Ready for its generation and its
// ConfigMap holding its config), which is what a user waits for. Restart: a fresh engine starts on the N
// settled Apps, as a restarted host would; the time runs until every App was reconciled once and the
// queue is idle. Both phases count reconciles and the API writes the executor performed.

import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ApiResource, KubeClient } from '../host/src/kube/index.ts';
import { type ControlPlane, startControlPlane } from '../test/controlplane/index.ts';
import { APP_API_VERSION, APP_KIND, createAppReconciler } from '../test/fixtures/native/app-reconciler.ts';
import { installCrd } from '../test/support/crds.ts';
import {
  appObject,
  appSettled,
  type Engine,
  forEachBounded,
  startEngine,
  totalWrites,
} from '../test/support/engine.ts';
import { type BenchResult, main, round } from './lib.ts';

const ROOT = path.join(import.meta.dirname, '..');
const NAMESPACE = 'bench-converge';
const DEFAULT_COUNT = 1000;
const WORKERS = 4;
const CLIENT_CONCURRENCY = 8;
/** A phase taking longer than this is a failure, not a slow figure. */
const PHASE_TIMEOUT_MS = 10 * 60_000;
const POLL_MS = 50;

async function waitUntil(what: string, probe: () => boolean): Promise<void> {
  const deadline = performance.now() + PHASE_TIMEOUT_MS;
  while (!probe()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${PHASE_TIMEOUT_MS} ms waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

function idle(engine: Engine): boolean {
  const queue = engine.controller.stats().queue;
  return queue !== undefined && queue.depth === 0 && queue.inFlight === 0 && queue.delayed === 0;
}

/**
 * Creates `count` Apps and waits until the engine's cache shows each settled; returns the elapsed ms and this
 * process's CPU time meanwhile (the engine's, plus the creates and the polling, so an upper bound).
 */
async function burst(
  client: KubeClient,
  apps: ApiResource,
  engine: Engine,
  count: number,
): Promise<{ elapsedMs: number; cpuMs: number }> {
  const appCache = await engine.registry.acquire({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: NAMESPACE });
  const cmCache = await engine.registry.acquire({ apiVersion: 'v1', kind: 'ConfigMap', namespace: NAMESPACE });
  try {
    const names = Array.from({ length: count }, (_, i) => `app-${String(i).padStart(5, '0')}`);
    // Only unsettled Apps are re-checked, so watching for the end costs less as the engine gets there.
    const pending = new Set(names);
    const started = performance.now();
    const cpu = process.cpuUsage();
    const creating = forEachBounded(names, CLIENT_CONCURRENCY, async (name) => {
      await client.create(apps, appObject(NAMESPACE, name, { INDEX: name }));
    });
    await waitUntil(`${count} Apps to settle`, () => {
      for (const name of pending) {
        const app = appCache.reader.get(NAMESPACE, name);
        if (app === undefined) continue;
        if (appSettled(app.object(), cmCache.reader.get(NAMESPACE, `${name}-config`)?.object())) pending.delete(name);
      }
      return pending.size === 0;
    });
    const elapsedMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    await creating;
    return { elapsedMs, cpuMs: (used.user + used.system) / 1000 };
  } finally {
    appCache.release();
    cmCache.release();
  }
}

export async function run(count = DEFAULT_COUNT): Promise<BenchResult[]> {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`N must be a positive integer, not ${count}`);
  const controlPlane: ControlPlane = await startControlPlane({ report: (line) => process.stderr.write(`${line}\n`) });
  const client = await KubeClient.fromKubeConfig(controlPlane.kubeConfig);
  try {
    await installCrd(client, path.join(ROOT, 'examples/configmap-app/crd.yaml'));
    const namespaces = await client.resource('v1', 'Namespace');
    await client.create(namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    const apps = await client.resource(APP_API_VERSION, APP_KIND);
    const options = {
      client,
      namespace: NAMESPACE,
      reconciler: createAppReconciler(),
      maxConcurrentReconciles: WORKERS,
    };

    const first = await startEngine(options);
    let burstMs: number;
    let burstCpuMs: number;
    try {
      ({ elapsedMs: burstMs, cpuMs: burstCpuMs } = await burst(client, apps, first, count));
    } finally {
      await first.stop();
    }
    const burstWrites = totalWrites(first.writes);

    const restartStarted = performance.now();
    const second = await startEngine(options);
    let restartMs: number;
    try {
      await waitUntil(
        'the restarted engine to reconcile every App',
        () => second.reconciles.total >= count && idle(second),
      );
      restartMs = performance.now() - restartStarted;
    } finally {
      await second.stop();
    }
    if (first.reconciles.failed + second.reconciles.failed > 0) {
      throw new Error(`reconciles failed: ${JSON.stringify([...first.reconciles.codes, ...second.reconciles.codes])}`);
    }
    const note = `${count} Apps, ${WORKERS} workers, native App reconciler`;
    return [
      {
        name: 'converge/burst/seconds',
        value: round(burstMs / 1000, 1),
        unit: 's',
        note: `${note}; first create to all settled`,
      },
      {
        name: 'converge/burst/reconciles-per-second',
        value: round((first.reconciles.total / burstMs) * 1000),
        unit: '1/s',
        note: `${first.reconciles.total} reconciles`,
      },
      {
        name: 'converge/burst/host-cpu-per-reconcile',
        value: round(burstCpuMs / first.reconciles.total, 2),
        unit: 'ms',
        note: 'CPU time of this process (engine, creates, polling) per reconcile; the rest is the API server',
      },
      {
        name: 'converge/burst/api-writes-per-app',
        value: round(burstWrites / count, 2),
        unit: 'writes',
        note: `${burstWrites} writes: ${JSON.stringify(first.writes)}`,
      },
      {
        name: 'converge/restart/seconds',
        value: round(restartMs / 1000, 1),
        unit: 's',
        note: 'engine start (initial lists) to every settled App reconciled once',
      },
      {
        name: 'converge/restart/api-writes-per-app',
        value: round(totalWrites(second.writes) / count, 2),
        unit: 'writes',
        note: `${JSON.stringify(second.writes)}`,
      },
    ];
  } finally {
    client.close();
    await controlPlane.stop();
  }
}

await main(import.meta, () => run(process.argv[2] === undefined ? DEFAULT_COUNT : Number(process.argv[2])));
