// The controller of WasmReconciler resources: each one becomes a module slot plus a running controller.
//
// Per resource, in order: parse the spec -> resolve the module (disk cache first) -> load it into the
// slot (compile, validate, init; a failure leaves the serving version untouched) -> start or reconfigure
// the controller -> report status. A module change is a slot swap and nothing else: the controller, its
// caches and its queue are not touched, so no event is lost and nothing is re-listed.

import type { KubeObject } from '../abi/types.ts';
import type { CacheHandle, ReflectorRegistry } from '../cache/index.ts';
import { labelSelectorFromObject } from '../cache/index.ts';
import { type ControllerConfig, type ReadGrant, ReconcilerController, ScopedReadPort } from '../controller/index.ts';
import { isRetryable, isWrError, WrError } from '../errors.ts';
import type { CoreEvent, ExecutorClient } from '../executor/index.ts';
import type { KubeClient, Logger } from '../kube/index.ts';
import { objectKey, splitKey } from '../mapping/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { ModuleResolver, ModuleStore, ReconcilerSpec, LabelSelector as SpecSelector } from '../modules/index.ts';
import { parseReconcilerSpec, WR_API_VERSION, WR_KIND } from '../modules/index.ts';
import { type QueueObserver, WorkQueue } from '../queue/index.ts';
import {
  type GuestLogger,
  GuestReconciler,
  type GuestWorkerPool,
  type ModuleLoader,
  ModuleSlot,
} from '../runtime/index.ts';
import { type Condition, setCondition } from './conditions.ts';

export interface WasmReconcilerManagerOptions {
  readonly registry: ReflectorRegistry;
  readonly client: KubeClient;
  readonly executorClient: ExecutorClient;
  readonly resolver: ModuleResolver;
  readonly store: ModuleStore;
  readonly loader: ModuleLoader;
  /** Where every slot's guests run. */
  readonly workers: GuestWorkerPool;
  readonly logger: Logger & GuestLogger;
  readonly metrics?: Metrics;
  /** Watch WasmReconcilers in this namespace only; all namespaces when absent. */
  readonly namespace?: string;
  /** Identifies this host in Events (pod name). */
  readonly instance?: string;
}

/** The status field manager: one per host, so status fields are owned by whichever host instance writes. */
const STATUS_MANAGER = 'wasm-reconciler-host';
const SWAP_HISTORY = 10;
/** How stale status counts may get; each flush is one status write per active reconciler. */
const STATUS_FLUSH_MS = 5_000;

interface Entry {
  readonly key: string;
  readonly slot: ModuleSlot;
  readonly readPort: ScopedReadPort;
  controller: ReconcilerController | undefined;
  /** What the active version was loaded from: a change of any part is a new load. */
  moduleKey: string | undefined;
  controllerKey: string | undefined;
  /** The last module refused for a terminal reason: not fetched or loaded again until the spec changes. */
  rejected: { moduleKey: string; error: WrError } | undefined;
  generation: number | undefined;
  loadedAt: string | undefined;
  lastError: { code: string; message: string; at: string } | undefined;
  swaps: { digest: string; at: string; generation: number }[];
  reconciles: number;
  errors: number;
}

export class WasmReconcilerManager {
  readonly #o: WasmReconcilerManagerOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #queue: WorkQueue;
  #handle: CacheHandle | undefined;
  #unsubscribe: (() => void) | undefined;
  #processing: Promise<void> | undefined;
  #stopped = false;

  constructor(options: WasmReconcilerManagerOptions) {
    this.#o = options;
    // Two at a time: module loads compile (CPU) and fetch (network); more would only contend on 2 cores.
    this.#queue = new WorkQueue({ name: 'wasmreconcilers', concurrency: 2 });
  }

  /** Resolves once every existing WasmReconciler has been processed once (ready or failed). */
  async start(): Promise<void> {
    this.#handle = await this.#o.registry.acquire({
      apiVersion: WR_API_VERSION,
      kind: WR_KIND,
      ...(this.#o.namespace === undefined ? {} : { namespace: this.#o.namespace }),
    });
    await this.#handle.synced;
    this.#unsubscribe = this.#handle.subscribe(
      (e) => {
        // Status-only updates (our own writes) carry no spec change: the generation tells.
        if (
          e.type === 'updated' &&
          e.old.generation === e.object.generation &&
          !!e.old.deletionTimestamp === !!e.object.deletionTimestamp
        )
          return;
        this.#queue.add(objectKey(e.object.namespace, e.object.name), { reason: 'updated', lane: 'user' });
      },
      { replay: false },
    );
    const initial = this.#handle.reader.list().map((o) => objectKey(o.namespace, o.name));
    this.#processing = this.#queue.process((item) => this.#sync(item.key));
    await Promise.all(initial.map((key) => this.#syncNow(key)));
  }

  /** Idempotent: a lost lease stops the manager before the host's own stop() does. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unsubscribe?.();
    await this.#queue.shutdown(true, 30_000);
    await this.#processing;
    await Promise.all([...this.#entries.values()].map((e) => this.#teardown(e)));
    this.#entries.clear();
    this.#handle?.release();
  }

  /** The slot of a reconciler, for diagnostics and tests. */
  slot(namespace: string, name: string): ModuleSlot | undefined {
    return this.#entries.get(objectKey(namespace, name))?.slot;
  }

  controller(namespace: string, name: string): ReconcilerController | undefined {
    return this.#entries.get(objectKey(namespace, name))?.controller;
  }

  /** Queue statistics of every running reconciler, for scrape-time metrics. */
  queueStats() {
    return [...this.#entries.values()].map((e) => ({ controller: e.key, stats: e.controller?.stats().queue }));
  }

  get ready(): boolean {
    return this.#handle?.hasSynced === true;
  }

  /** Initial sync outside the queue so start() can wait for it; later changes go through the queue. */
  async #syncNow(key: string): Promise<void> {
    try {
      await this.#sync(key);
    } catch (err) {
      if (isRetryable(err)) this.#queue.add(key, { reason: 'retry', lane: 'low' });
    }
  }

  async #sync(key: string): Promise<undefined> {
    const [namespace, name] = splitKey(key);
    const cached = this.#handle?.reader.get(namespace, name);
    const entry = this.#entries.get(key);
    if (cached === undefined || cached.deletionTimestamp !== undefined) {
      if (entry !== undefined) {
        this.#entries.delete(key);
        await this.#teardown(entry);
      }
      return undefined;
    }
    const object = cached.object();
    let spec: ReconcilerSpec;
    try {
      spec = parseReconcilerSpec(object);
    } catch (err) {
      await this.#fail(object, entry, err, 'SpecInvalid');
      return undefined;
    }
    const current = entry ?? this.#newEntry(key, spec);
    current.generation = spec.generation;
    const serving = current.slot.activeDigest === undefined ? undefined : current;
    if (current.rejected?.moduleKey === moduleKeyOf(spec)) {
      // The same refused module again (a status flush, a resync): report it, but neither fetch nor load it
      // again, nor repeat the Event.
      await this.#writeStatus(object, serving, spec, { reason: 'ModuleRejected', error: current.rejected.error });
      return undefined;
    }
    try {
      await this.#loadModule(current, spec, object);
      current.rejected = undefined;
    } catch (err) {
      await this.#fail(object, serving, err, 'ModuleRejected');
      if (!this.#entries.has(key) && current.slot.activeDigest === undefined) current.slot.close();
      // Retryable failures (registry down) are retried with backoff; terminal ones wait for a spec change.
      if (isRetryable(err)) throw err;
      if (isWrError(err)) current.rejected = { moduleKey: moduleKeyOf(spec), error: err };
      return undefined;
    }
    this.#entries.set(key, current);
    try {
      await this.#runController(current, spec);
    } catch (err) {
      // Kinds not served, forbidden to the host, or a spec the engine refuses: reported like a bad module.
      await this.#fail(object, current, err, 'ControllerFailed');
      if (isRetryable(err)) throw err;
      return undefined;
    }
    await this.#writeStatus(object, current, spec, undefined);
    return undefined;
  }

  #newEntry(key: string, spec: ReconcilerSpec): Entry {
    const readPort = new ScopedReadPort();
    const metrics = this.#o.metrics;
    const slot = new ModuleSlot({
      identity: { name: spec.name, namespace: spec.namespace },
      loader: this.#o.loader,
      workers: this.#o.workers,
      logger: this.#o.logger,
      readPort,
      maxInstances: Math.max(1, spec.maxConcurrentReconciles),
      ...(metrics === undefined
        ? {}
        : {
            observer: {
              onCall: (e) => {
                metrics.guestCallTime.labels(key).observe(e.durationMs / 1000);
                metrics.guestFuelUsed.labels(key).observe(e.fuelUsed);
                if (e.outcome !== 'ok') metrics.guestFailuresTotal.labels(key, e.outcome).inc();
              },
            },
          }),
    });
    return {
      key,
      slot,
      readPort,
      controller: undefined,
      moduleKey: undefined,
      controllerKey: undefined,
      rejected: undefined,
      generation: spec.generation,
      loadedAt: undefined,
      lastError: undefined,
      swaps: [],
      reconciles: 0,
      errors: 0,
    };
  }

  async #loadModule(entry: Entry, spec: ReconcilerSpec, object: KubeObject): Promise<void> {
    const moduleKey = moduleKeyOf(spec);
    if (entry.moduleKey === moduleKey) return;
    const resolved = await this.#o.resolver.resolve(spec.module, { maxBytes: spec.limits.moduleBytes });
    // Every limit the spec sets (parseReconcilerSpec leaves unset ones out, so deadlineMs follows fuel).
    const result = await entry.slot.load(resolved.bytes, spec.config, spec.limits);
    entry.moduleKey = moduleKey;
    // Pin the serving and the previous version: a rollback or an offline restart must find both on disk.
    const pins = [resolved.digest, ...resolved.blobs];
    if (entry.slot.previousDigest !== undefined) pins.push(entry.slot.previousDigest as typeof resolved.digest);
    await this.#o.store.setPins(entry.key, [...new Set(pins)]);
    if (result.swapped) {
      const at = new Date().toISOString();
      entry.loadedAt = at;
      entry.swaps = [{ digest: result.digest, at, generation: result.generation }, ...entry.swaps].slice(
        0,
        SWAP_HISTORY,
      );
      this.#o.metrics?.moduleSwapsTotal.labels(entry.key).inc();
      this.#o.metrics?.moduleGeneration.labels(entry.key).set(result.generation);
      // The new logic sees every primary once (from the warm cache, no re-list), as after a rollout.
      entry.controller?.resyncAll();
      await this.#event(
        object,
        'Normal',
        'ModuleLoaded',
        `module ${result.digest} is serving (generation ${result.generation})`,
      );
    }
    entry.lastError = undefined;
  }

  async #runController(entry: Entry, spec: ReconcilerSpec): Promise<void> {
    const config = controllerConfig(spec);
    const controllerKey = JSON.stringify(config);
    if (entry.controller === undefined) {
      const controller = new ReconcilerController({
        name: spec.name,
        namespace: spec.namespace,
        registry: this.#o.registry,
        client: this.#o.executorClient,
        reconciler: new GuestReconciler(entry.slot),
        readPort: entry.readPort,
        logger: this.#o.logger,
        generation: () => entry.generation,
        ...(this.#o.metrics === undefined ? {} : { queueObserver: queueMetrics(this.#o.metrics, entry.key) }),
        onResult: (_item, result, durationMs) => {
          entry.reconciles++;
          const m = this.#o.metrics;
          m?.reconcileTime.labels(entry.key).observe(durationMs / 1000);
          if (result.error !== undefined) {
            entry.errors++;
            entry.lastError = {
              code: result.error.code,
              message: result.error.message.slice(0, 1024),
              at: new Date().toISOString(),
            };
            m?.reconcileErrorsTotal.labels(entry.key, result.error.code).inc();
          }
          m?.reconcileTotal.labels(entry.key, result.error === undefined ? 'success' : 'error').inc();
          const done = result.summary;
          if (m !== undefined && done !== undefined) {
            if (done.applied > 0) m.writesTotal.labels(entry.key, 'apply', 'ok').inc(done.applied);
            if (done.pruned > 0) m.writesTotal.labels(entry.key, 'delete', 'ok').inc(done.pruned);
            if (done.statusWritten) m.writesTotal.labels(entry.key, 'status', 'ok').inc();
            if (done.events > 0) m.writesTotal.labels(entry.key, 'event', 'ok').inc(done.events);
          }
          // Counts and the last error reach status at most every STATUS_FLUSH_MS: the queue coalesces delays.
          this.#queue.requeueAfter(entry.key, STATUS_FLUSH_MS, { reason: 'requeue' });
        },
      });
      if (spec.suspend) controller.suspend();
      await controller.start(config);
      entry.controller = controller;
      entry.controllerKey = controllerKey;
      return;
    }
    if (entry.controllerKey !== controllerKey) {
      await entry.controller.reconfigure(config);
      entry.controllerKey = controllerKey;
    }
    if (spec.suspend) entry.controller.suspend();
    else entry.controller.resume();
  }

  async #teardown(entry: Entry): Promise<void> {
    await entry.controller?.stop();
    entry.slot.close();
    await this.#o.store.deletePins(entry.key);
  }

  async #fail(object: KubeObject, entry: Entry | undefined, err: unknown, reason: string): Promise<void> {
    const error = isWrError(err) ? err : new WrError('WR_HOST_INTERNAL', String(err), { cause: err });
    this.#o.logger.warn(
      { reconciler: objectKey(object.metadata.namespace, object.metadata.name), code: error.code, err: error.message },
      'WasmReconciler not applied',
    );
    this.#o.metrics?.moduleLoadFailuresTotal
      .labels(objectKey(object.metadata.namespace, object.metadata.name), error.code)
      .inc();
    if (entry !== undefined)
      entry.lastError = { code: error.code, message: error.message.slice(0, 1024), at: new Date().toISOString() };
    await this.#event(object, 'Warning', reason, `${error.code}: ${error.message}`);
    await this.#writeStatus(object, entry, undefined, { reason, error });
  }

  async #writeStatus(
    object: KubeObject,
    entry: Entry | undefined,
    spec: ReconcilerSpec | undefined,
    failure: { reason: string; error: WrError } | undefined,
  ): Promise<void> {
    const previous = (object.status ?? {}) as { conditions?: Condition[] };
    let conditions = previous.conditions ?? [];
    const generation = object.metadata.generation;
    const serving = entry?.slot.activeDigest !== undefined;
    const message = failure === undefined ? '' : `${failure.error.code}: ${failure.error.message}`.slice(0, 1024);
    if (failure === undefined) {
      const suspended = spec?.suspend === true;
      conditions = setCondition(conditions, {
        type: 'ModuleLoaded',
        status: 'True',
        reason: 'Loaded',
        message: `serving ${entry?.slot.activeDigest}`,
        observedGeneration: generation,
      });
      conditions = setCondition(conditions, {
        type: 'Degraded',
        status: 'False',
        reason: 'AsExpected',
        message: '',
        observedGeneration: generation,
      });
      conditions = setCondition(
        conditions,
        suspended
          ? {
              type: 'Ready',
              status: 'False',
              reason: 'Suspended',
              message: 'spec.suspend is true: intake paused',
              observedGeneration: generation,
            }
          : { type: 'Ready', status: 'True', reason: 'Reconciling', message: '', observedGeneration: generation },
      );
    } else if (failure.reason === 'ControllerFailed') {
      // The module loaded but nothing reconciles: not Ready, and Degraded says why.
      for (const type of ['Ready', 'Degraded'] as const) {
        conditions = setCondition(conditions, {
          type,
          status: type === 'Ready' ? 'False' : 'True',
          reason: failure.reason,
          message,
          observedGeneration: generation,
        });
      }
    } else if (serving) {
      // The last good version keeps serving: Ready stays as it was, Degraded says why the new one was refused.
      conditions = setCondition(conditions, {
        type: 'Degraded',
        status: 'True',
        reason: failure.reason,
        message,
        observedGeneration: generation,
      });
    } else {
      conditions = setCondition(conditions, {
        type: 'Ready',
        status: 'False',
        reason: failure.reason,
        message,
        observedGeneration: generation,
      });
      conditions = setCondition(conditions, {
        type: 'ModuleLoaded',
        status: 'False',
        reason: failure.reason,
        message,
        observedGeneration: generation,
      });
    }
    const status: Record<string, unknown> = { conditions };
    // observedGeneration means "this spec is what serves": a refused spec leaves it at the last good one.
    if (failure === undefined && generation !== undefined) status.observedGeneration = generation;
    if (entry !== undefined) {
      if (entry.slot.activeDigest !== undefined) status.activeDigest = entry.slot.activeDigest;
      if (entry.slot.previousDigest !== undefined) status.previousDigest = entry.slot.previousDigest;
      if (entry.loadedAt !== undefined) status.loadedAt = entry.loadedAt;
      status.moduleGeneration = entry.slot.generation;
      status.reconcileCount = entry.reconciles;
      status.errorCount = entry.errors;
      if (entry.lastError !== undefined) status.lastError = entry.lastError;
      status.swapHistory = entry.swaps;
    }
    if (failure !== undefined) {
      status.lastError = {
        code: failure.error.code,
        message: failure.error.message.slice(0, 1024),
        at: new Date().toISOString(),
      };
    }
    try {
      await this.#o.client.patchStatus(object, status, { fieldManager: STATUS_MANAGER, force: true });
    } catch (err) {
      this.#o.logger.warn({ err: String(err) }, 'could not write WasmReconciler status');
    }
  }

  async #event(object: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date().toISOString();
    const namespace = object.metadata.namespace ?? 'default';
    const event: CoreEvent = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${object.metadata.name}.`, namespace },
      involvedObject: {
        apiVersion: object.apiVersion,
        kind: object.kind,
        name: object.metadata.name,
        namespace,
        uid: object.metadata.uid,
        resourceVersion: object.metadata.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: STATUS_MANAGER },
      reportingComponent: 'wasmreconciler.dev/host',
      ...(this.#o.instance === undefined ? {} : { reportingInstance: this.#o.instance }),
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await this.#o.executorClient.createEvent(event);
    } catch (err) {
      this.#o.logger.warn({ err: String(err) }, 'could not record WasmReconciler event');
    }
  }
}

function queueMetrics(m: Metrics, controller: string): QueueObserver {
  return {
    added: () => m.queueAddsTotal.labels(controller).inc(),
    retried: () => m.queueRetriesTotal.labels(controller).inc(),
    dropped: () => m.queueDropsTotal.labels(controller).inc(),
  };
}

/** Everything a module load depends on: a change of any part is a new load. */
function moduleKeyOf(spec: ReconcilerSpec): string {
  return JSON.stringify([spec.module, spec.config, spec.limits]);
}

/** What the controller needs from a spec; everything else (module, config, limits) belongs to the slot. */
export function controllerConfig(spec: ReconcilerSpec): ControllerConfig {
  const readGrants: ReadGrant[] = spec.permissions.map((p) => ({
    apiVersion: p.apiVersion,
    kind: p.kind,
    verbs: p.verbs,
    namespaces: p.namespaces,
  }));
  return {
    scope: {
      primary: {
        apiVersion: spec.for.apiVersion,
        kind: spec.for.kind,
        ...(spec.for.labelSelector === undefined ? {} : { labelSelector: toSelector(spec.for.labelSelector) }),
      },
      namespaces: spec.for.namespaces,
      owns: spec.owns.map((k) => ({ apiVersion: k.apiVersion, kind: k.kind })),
      related: spec.related.map((r) => ({
        apiVersion: r.apiVersion,
        kind: r.kind,
        ...(r.labelSelector === undefined ? {} : { labelSelector: toSelector(r.labelSelector) }),
      })),
    },
    readGrants,
    maxConcurrentReconciles: spec.maxConcurrentReconciles,
    resyncPeriodMs: spec.resyncPeriodSeconds * 1000,
  };
}

function toSelector(selector: SpecSelector) {
  return labelSelectorFromObject({
    matchLabels: { ...selector.matchLabels },
    matchExpressions: selector.matchExpressions.map((e) => ({
      key: e.key,
      operator: e.operator,
      values: [...e.values],
    })),
  });
}
