// Runs one reconcile of a module on given objects through the host's own pipeline, with no cluster.
//
// Every stage is production's: the ReflectorRegistry and stores (over FixtureApi instead of the API
// server), the controller's scope and ScopedReadPort for guest reads, the ModuleLoader, ModuleSlot and guest
// workers with the spec's limits and fuel, the snapshot and encoder of the ReconcileWorker, and the Executor
// with its planner and capability checks, built by the controller's own scopeWorker. Only the writes are
// replaced: RecordingClient keeps them as the result. This is what `wasm-reconciler test`, `render` and
// `inspect --fixture` run, so what they report is what the host would do with the same objects.

import type { GuestEvent, KubeObject, ReconcileOutput, ReconcileRequest } from '../abi/types.ts';
import { acquireScope, controllerRegistry, ScopedReadPort, scopeWorker } from '../controller/index.ts';
import type { ObjectRef } from '../executor/index.ts';
import { silentLogger } from '../kube/index.ts';
import { controllerConfig } from '../manager/wasm-reconcilers.ts';
import { objectKey } from '../mapping/index.ts';
import type { ReconcilerSpec } from '../modules/index.ts';
import type { Reconciler } from '../reconcile/types.ts';
import type { WorkResult } from '../reconcile/worker.ts';
import {
  type CallEvent,
  type GuestLogger,
  GuestReconciler,
  GuestWorkerPool,
  ModuleLoader,
  ModuleSlot,
} from '../runtime/index.ts';
import { FixtureApi } from './fixture-api.ts';
import { type RecordedWrite, RecordingClient } from './recording-client.ts';

/** Nothing is slow offline: an initial list that has not finished by then is a bug, said so. */
const SYNC_TIMEOUT_MS = 10_000;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type GuestLogLevel = (typeof LOG_LEVELS)[number];

export interface OfflineRun {
  /** The WasmReconciler the module runs as: name, capabilities (for, owns, related, permissions), config, limits. */
  readonly spec: ReconcilerSpec;
  readonly primary: KubeObject;
  /** Everything else the cache holds: children (with their owner references), related objects, readable objects. */
  readonly observed: readonly KubeObject[];
  readonly trigger: ReconcileRequest['trigger'];
  /** Kinds ("apiVersion/kind") to serve cluster-scoped beyond the built-in ones (FixtureApi). */
  readonly clusterScoped?: readonly string[];
}

export interface GuestLog {
  readonly level: GuestLogLevel;
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface OfflineResult {
  /** 'skipped': the primary is outside the reconciler's scope, or deleted without its finalizer (as in the host). */
  readonly outcome: WorkResult['outcome'];
  /** Children the executor applied, as it would send them (owner reference, namespace, sanitised metadata). */
  readonly children: readonly KubeObject[];
  /** Children the plan prunes. */
  readonly deleted: readonly ObjectRef[];
  /**
   * The primary's status after the reconcile when the module set one: what the executor wrote, or the
   * observed status when it already held exactly that (the executor then writes nothing).
   */
  readonly status: Record<string, unknown> | undefined;
  readonly statusWritten: boolean;
  /** Events as recorded (within the executor's bound), Warnings about a rejected output included. */
  readonly events: readonly GuestEvent[];
  readonly finalizer: 'added' | 'removed' | 'none';
  /** Already clamped as the work queue would use it. */
  readonly requeueAfterMs: number | undefined;
  readonly error: { readonly code: string; readonly message: string; readonly retryable: boolean } | undefined;
  /** What the guest returned, before the executor; undefined when the call itself failed. */
  readonly output: ReconcileOutput | undefined;
  /** Guest calls in order (wr_init, then wr_reconcile or wr_finalize) with the fuel each used. */
  readonly calls: readonly CallEvent[];
  readonly logs: readonly GuestLog[];
  /** Every write in order, as the executor made it. */
  readonly writes: readonly RecordedWrite[];
  /** The field manager of the applies: `wasm-reconciler/<name>`. */
  readonly fieldManager: string;
}

export interface OfflineEngineOptions {
  /** Guest logs at or above this level are captured; the guest sees the same level check. Default 'info'. */
  readonly logLevel?: GuestLogLevel;
}

/** One module, run on as many object sets as needed; close() when done. */
export class OfflineEngine {
  readonly #bytes: Uint8Array;
  readonly #loader = new ModuleLoader();
  readonly #workers = new GuestWorkerPool({ size: 1 });
  readonly #logLevel: GuestLogLevel;

  constructor(bytes: Uint8Array, options: OfflineEngineOptions = {}) {
    this.#bytes = bytes;
    this.#logLevel = options.logLevel ?? 'info';
  }

  /**
   * Loads the module as `run.spec` says (config, limits) and reconciles `run.primary` once. Throws what the
   * host would report before any reconcile: WR_SPEC_INVALID for a scope Kubernetes cannot serve,
   * WR_MODULE_* for a module the loader refuses, WR_GUEST_INIT_FAILED when wr_init fails. Failures of the
   * reconcile itself come back as `result.error`.
   */
  async run(run: OfflineRun): Promise<OfflineResult> {
    const { spec } = run;
    const api = new FixtureApi([run.primary, ...run.observed], run.clusterScoped);
    const registry = controllerRegistry(api, { watcher: { initialSync: 'list' } });
    const calls: CallEvent[] = [];
    const logs: GuestLog[] = [];
    try {
      const config = controllerConfig(spec);
      const caches = await acquireScope(registry, config.scope, SYNC_TIMEOUT_MS);
      const readPort = new ScopedReadPort();
      readPort.update([caches.primary, ...caches.owned, ...caches.related], config.readGrants);
      const slot = new ModuleSlot({
        identity: { name: spec.name, ...(spec.namespace === undefined ? {} : { namespace: spec.namespace }) },
        loader: this.#loader,
        workers: this.#workers,
        logger: this.#guestLogger(logs),
        readPort,
        maxInstances: 1,
        observer: { onCall: (e) => calls.push(e) },
      });
      try {
        await slot.load(this.#bytes, spec.config, spec.limits);
        const guest = new GuestReconciler(slot);
        let output: ReconcileOutput | undefined;
        const reconciler: Reconciler = {
          reconcile: async (request) => (output = await guest.reconcile(request)),
          finalize: async (request) => (output = await guest.finalize(request)),
        };
        const client = new RecordingClient(api.objects);
        const { executor, worker } = scopeWorker(
          {
            name: spec.name,
            ...(spec.namespace === undefined ? {} : { namespace: spec.namespace }),
            client,
            reconciler,
            logger: silentLogger,
            generation: () => spec.generation,
          },
          caches,
        );
        const primary = run.primary.metadata;
        const result = await worker.process(objectKey(primary.namespace, primary.name), run.trigger);
        await executor.flushEvents();
        return summarise(result, output, client.writes, caches.primary.get(primary.namespace, primary.name)?.object(), {
          calls,
          logs,
          fieldManager: executor.names.fieldManager,
        });
      } finally {
        await slot.close();
        for (const c of [caches.primary, ...caches.owned, ...caches.related]) c.release();
      }
    } finally {
      await registry.close();
    }
  }

  async close(): Promise<void> {
    await this.#workers.close();
  }

  #guestLogger(logs: GuestLog[]): GuestLogger {
    const min = LOG_LEVELS.indexOf(this.#logLevel);
    const at =
      (level: GuestLogLevel) =>
      (fields: object, message: string): void => {
        if (LOG_LEVELS.indexOf(level) >= min) logs.push({ level, message, fields: { ...fields } });
      };
    return {
      trace: at('trace'),
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      isLevelEnabled: (level) => LOG_LEVELS.indexOf(level as GuestLogLevel) >= min,
    };
  }
}

function summarise(
  result: WorkResult,
  output: ReconcileOutput | undefined,
  writes: readonly RecordedWrite[],
  primary: KubeObject | undefined,
  rest: Pick<OfflineResult, 'calls' | 'logs' | 'fieldManager'>,
): OfflineResult {
  const children: KubeObject[] = [];
  const deleted: ObjectRef[] = [];
  const events: GuestEvent[] = [];
  let status: Record<string, unknown> | undefined;
  let finalizer: OfflineResult['finalizer'] = 'none';
  for (const w of writes) {
    if (w.type === 'apply') children.push(w.object);
    else if (w.type === 'delete') deleted.push(w.ref);
    else if (w.type === 'applyStatus') status = w.object.status as Record<string, unknown>;
    else if (w.type === 'event') events.push({ type: w.event.type, reason: w.event.reason, message: w.event.message });
  }
  const statusWritten = status !== undefined;
  // Nothing written for a status the module did set: the primary already held exactly it.
  if (status === undefined && output?.status !== undefined && result.summary !== undefined) {
    status = (primary?.status ?? {}) as Record<string, unknown>;
  }
  if (result.summary !== undefined) finalizer = result.summary.finalizer;
  return {
    outcome: result.outcome,
    children,
    deleted,
    status,
    statusWritten,
    events,
    finalizer,
    requeueAfterMs: result.requeueAfterMs,
    error:
      result.error === undefined
        ? undefined
        : { code: result.error.code, message: result.error.message, retryable: result.error.retryable },
    output,
    writes,
    ...rest,
  };
}
