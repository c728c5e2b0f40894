// Assembles the controller engine (shared caches, mapping, queue, worker, executor) around one native reconciler.
//
// Built with the public builder (host/src/controller/builder.ts, the host's own wiring), so what the
// integration tests and bench/converge.ts prove and measure is the engine, not a variant; this file adds
// only the App defaults and the counters they assert on.

import type { KubeObject } from '../../host/src/abi/types.ts';
import type { ReflectorRegistry, ReflectorRegistryOptions } from '../../host/src/cache/index.ts';
import {
  controllerRegistry,
  type ReconcilerController,
  type StartedController,
  startController,
} from '../../host/src/controller/index.ts';
import type { ErrorCode } from '../../host/src/errors.ts';
import { type ExecutorClient, kubeExecutorClient } from '../../host/src/executor/index.ts';
import type { KubeClient } from '../../host/src/kube/index.ts';
import type { Reconciler } from '../../host/src/reconcile/index.ts';
import { APP_API_VERSION, APP_KIND } from '../fixtures/native/app-reconciler.ts';

/** API writes the executor performed, by kind of call. */
export interface WriteCounts {
  apply: number;
  applyStatus: number;
  delete: number;
  patchMetadata: number;
  createEvent: number;
  /** Count updates of an existing Event (aggregated repeats). */
  patchEvent: number;
}

export interface EngineOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly reconciler: Reconciler;
  /** The reconciler's name (field manager, finalizer). Default "apps". */
  readonly name?: string;
  /** Default: ConfigMaps and Deployments, what the App reconciler renders. */
  readonly owns?: readonly { apiVersion: string; kind: string }[];
  readonly maxConcurrentReconciles?: number;
  readonly watcher?: ReflectorRegistryOptions['watcher'];
  /** Declared related kinds (watched in the namespace). Default none. */
  readonly related?: readonly { apiVersion: string; kind: string }[];
  /** The client the executor writes through; default `client`. A separate one lets a test stall the caches alone. */
  readonly writeClient?: KubeClient;
}

export interface WatchCounts {
  readonly lists: number;
  /** Watch-lists that broke before their initial events ended, each followed by a list (both count in lists). */
  readonly watchListFallbacks: number;
  readonly relists: number;
  readonly gone: number;
  readonly stalls: number;
  readonly reconnects: number;
}

export interface Engine {
  readonly registry: ReflectorRegistry;
  readonly controller: ReconcilerController;
  readonly writes: Readonly<WriteCounts>;
  /** Keys processed, and the codes of those that failed. */
  readonly reconciles: { total: number; failed: number; codes: Map<ErrorCode, number> };
  /** List and watch counters of every shared reflector, keyed by cache key: what "no relist" is asserted on. */
  watchStats(): Map<string, WatchCounts>;
  stop(): Promise<void>;
}

export const APP_OWNS = [
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'apps/v1', kind: 'Deployment' },
] as const;

/** Starts the engine for Apps in one namespace; resolves once every cache listed and the workers run. */
export async function startEngine(options: EngineOptions): Promise<Engine> {
  // Built here rather than by startController so the watcher options reach it; stop() closes it.
  const registry = controllerRegistry(
    options.client,
    options.watcher === undefined ? {} : { watcher: options.watcher },
  );
  const { client: executorClient, counts } = countingExecutorClient(
    kubeExecutorClient(options.writeClient ?? options.client),
  );
  const reconciles = { total: 0, failed: 0, codes: new Map<ErrorCode, number>() };
  let started: StartedController;
  try {
    started = await startController({
      client: options.client,
      name: options.name ?? 'apps',
      reconciler: options.reconciler,
      for: { apiVersion: APP_API_VERSION, kind: APP_KIND },
      namespaces: [options.namespace],
      owns: options.owns ?? APP_OWNS,
      related: options.related ?? [],
      maxConcurrentReconciles: options.maxConcurrentReconciles ?? 4,
      // No periodic resync: convergence after a fault must come from watch events alone.
      resyncPeriodMs: 0,
      registry,
      executorClient,
      onResult: (_item, result) => {
        reconciles.total++;
        if (result.error === undefined) return;
        reconciles.failed++;
        reconciles.codes.set(result.error.code, (reconciles.codes.get(result.error.code) ?? 0) + 1);
      },
    });
  } catch (err) {
    await registry.close();
    throw err;
  }
  return {
    registry,
    controller: started.controller,
    writes: counts,
    reconciles,
    watchStats: () =>
      new Map(
        registry.stats().map((s) => [
          s.key,
          {
            lists: s.watch.lists,
            watchListFallbacks: s.watch.watchListFallbacks,
            relists: s.watch.relists,
            gone: s.watch.gone,
            stalls: s.watch.stalls,
            reconnects: s.watch.reconnects,
          },
        ]),
      ),
    async stop() {
      await started.stop();
      await registry.close();
    },
  };
}

/** Wraps an executor port so every write it performs is counted. */
export function countingExecutorClient(inner: ExecutorClient): { client: ExecutorClient; counts: WriteCounts } {
  const counts: WriteCounts = { apply: 0, applyStatus: 0, delete: 0, patchMetadata: 0, createEvent: 0, patchEvent: 0 };
  return {
    counts,
    client: {
      get: (ref) => inner.get(ref),
      apply: (object, opts) => {
        counts.apply++;
        return inner.apply(object, opts);
      },
      applyStatus: (object, opts) => {
        counts.applyStatus++;
        return inner.applyStatus(object, opts);
      },
      delete: (ref, opts) => {
        counts.delete++;
        return inner.delete(ref, opts);
      },
      patchMetadata: (ref, patch, opts) => {
        counts.patchMetadata++;
        return inner.patchMetadata(ref, patch, opts);
      },
      createEvent: (event) => {
        counts.createEvent++;
        return inner.createEvent(event);
      },
      ...(inner.patchEvent === undefined
        ? {}
        : {
            patchEvent: (ref, patch) => {
              counts.patchEvent++;
              return inner.patchEvent?.(ref, patch) ?? Promise.resolve();
            },
          }),
    },
  };
}

export function totalWrites(counts: WriteCounts): number {
  return (
    counts.apply + counts.applyStatus + counts.delete + counts.patchMetadata + counts.createEvent + counts.patchEvent
  );
}

/** An App the native App reconciler accepts; replicas 0 lets it report Ready without a Deployment controller. */
export function appObject(namespace: string, name: string, config: Record<string, string>, replicas = 0): KubeObject {
  return {
    apiVersion: APP_API_VERSION,
    kind: APP_KIND,
    metadata: { name, namespace },
    spec: { image: 'registry.example/hello:1', replicas, message: 'hi', config },
  };
}

/** Runs `task` over `items` with at most `concurrency` in flight; the first failure rejects. */
export async function forEachBounded<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await task(items[next++] as T);
  });
  await Promise.all(lanes);
}

type Condition = { type: string; status: string; observedGeneration?: number };

/**
 * Whether the App reconciler's output for this App's current spec is in place: status written for the
 * current generation and Ready, and the ConfigMap holding the current config.
 */
export function appSettled(app: KubeObject, configMap: KubeObject | undefined): boolean {
  const status = (app.status ?? {}) as { observedGeneration?: number; conditions?: Condition[] };
  const generation = app.metadata.generation;
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  if (status.observedGeneration !== generation || ready?.status !== 'True') return false;
  if (ready.observedGeneration !== generation || configMap === undefined) return false;
  const config = ((app.spec as { config?: Record<string, string> }).config ?? {}) as Record<string, string>;
  const data = (configMap.data ?? {}) as Record<string, string>;
  return Object.entries(config).every(([k, v]) => data[k] === v);
}
