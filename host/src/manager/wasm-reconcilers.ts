// The controller of WasmReconciler resources: each one becomes a module slot plus a running controller.
//
// Per resource, in order: parse the spec -> resolve the module (disk cache first) -> load it into the
// slot (compile, validate, init; a failure leaves the serving version untouched) -> start or reconfigure
// the controller -> report status. A module change is a slot swap and nothing else: the controller, its
// caches and its queue are not touched, so no event is lost and nothing is re-listed.

import type { KubeObject } from '../abi/types.ts';
import type { CachedObject, CacheHandle, ReflectorRegistry } from '../cache/index.ts';
import { type LabelSelector, labelSelectorFromObject } from '../cache/index.ts';
import { type ControllerConfig, type ReadGrant, ReconcilerController, ScopedReadPort } from '../controller/index.ts';
import { errorFields, isRetryable, isWrError, WrError } from '../errors.ts';
import { EventRecorder, type EventTally, type ExecutorClient } from '../executor/index.ts';
import { groupKind } from '../kube/gvk.ts';
import { isoTime, type KubeClient, type Logger } from '../kube/index.ts';
import { objectKey, splitKey } from '../mapping/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { ModuleResolver, ModuleStore, ReconcilerSpec, LabelSelector as SpecSelector } from '../modules/index.ts';
import { parseReconcilerSpec, WR_API_VERSION, WR_CLUSTER_KIND, WR_KIND } from '../modules/index.ts';
import { type QueueObserver, WorkQueue } from '../queue/index.ts';
import {
  type GuestLogger,
  GuestReconciler,
  type GuestWorkerPool,
  type ModuleLoader,
  ModuleSlot,
} from '../runtime/index.ts';
import type { ShardPolicy } from '../sharding/index.ts';
import { type Condition, reconcilerConditions } from './conditions.ts';
import { followConfigMap, type SourceFollower } from './source-follower.ts';

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
  /**
   * Watch WasmReconcilers in this namespace only; all namespaces, and ClusterWasmReconcilers, when absent. A
   * host confined to one namespace serves no cluster-scoped reconciler.
   */
  readonly namespace?: string;
  /** Where ClusterWasmReconcilers' ConfigMap sources and pull Secrets live (DEFAULT_CLUSTER_RESOURCE_NAMESPACE). */
  readonly clusterResourceNamespace?: string;
  /**
   * Serve only the WasmReconcilers and ClusterWasmReconcilers this label selector matches (a server-side
   * selector), so that several hosts can split one cluster's reconcilers between them; all when absent.
   */
  readonly selector?: LabelSelector;
  /** Identifies this host in Events (pod name). */
  readonly instance?: string;
  /**
   * How this host shares primaries with other hosts (host/src/sharding). Every host serves every
   * WasmReconciler, each for its share of the primaries; only the one the policy names writes status.
   */
  readonly sharding?: ShardPolicy;
}

/** The status field manager: one per host, so status fields are owned by whichever host instance writes. */
const STATUS_MANAGER = 'wasm-reconciler-host';
const SWAP_HISTORY = 10;
/** How stale status counts may get; each flush is one status write per active reconciler. */
const STATUS_FLUSH_MS = 5_000;

/** A failed controller start or reconfigure is retried in the background this often at most. */
const START_RETRY_MAX_MS = 30_000;
/** How often the host looks again for the ClusterWasmReconciler CRD when it is not installed. */
const CLUSTER_KIND_RETRY_MS = 30_000;
/** The manager's Events: one series per WasmReconciler and reason, aggregated like client-go's recorder. */
const EVENT_WINDOW_MS = 10 * 60_000;
const EVENT_SERIES = 1024;

interface Entry {
  readonly key: string;
  readonly slot: ModuleSlot;
  readonly readPort: ScopedReadPort;
  /** The running controller: set once its first start succeeded. */
  controller: ReconcilerController | undefined;
  /** What the active version was loaded from: a change of any part is a new load. */
  moduleKey: string | undefined;
  /** The controller config that runs. */
  controllerKey: string | undefined;
  /**
   * A controller start or reconfigure, run off the manager's queue so one reconciler waiting for its
   * caches never holds up another; when it settles the key is queued again and that sync reports it.
   */
  transition: Transition | undefined;
  /** The last controller config refused for a terminal reason: not tried again until the spec changes. */
  controllerRejected: { controllerKey: string; reason: string; error: WrError } | undefined;
  /** Consecutive failed controller starts: the background retry backs off with them. */
  startFailures: number;
  /** The message of the last controller failure reported, so a retry failing the same way adds no Event. */
  lastStartFailure: string | undefined;
  /** The last module refused for a terminal reason: not fetched or loaded again until the spec changes. */
  rejected: { moduleKey: string; error: WrError } | undefined;
  /** The watch of a ConfigMap module source, so a change to it is a new load (source-follower.ts). */
  follower: { readonly source: string; readonly handle: SourceFollower } | undefined;
  /** The followed source changed since the last load: read it again, past the disk cache. */
  sourceChanged: boolean;
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
  /** WasmReconcilers (keys `namespace/name`) and ClusterWasmReconcilers (keys `name`): two kinds, one queue. */
  #namespaced: CacheHandle | undefined;
  #cluster: CacheHandle | undefined;
  readonly #unsubscribe: (() => void)[] = [];
  #clusterRetry: NodeJS.Timeout | undefined;
  #processing: Promise<void> | undefined;
  #stopped = false;
  /** Initial keys not yet processed once; start() resolves when it empties. */
  readonly #initial = new Set<string>();
  #initialDone: (() => void) | undefined;
  /** Keys refused with Conflict: queued again whenever another WasmReconciler changes or goes. */
  readonly #conflicted = new Set<string>();
  /** Parsed `for` of every WasmReconciler by UID, for the conflict check (undefined: the spec does not parse). */
  readonly #claims = new Map<string, { generation: number | undefined; claim: Claim | undefined }>();
  /** Controllers of torn-down entries that were still starting: stop() waits for them. */
  readonly #stopping = new Set<Promise<void>>();

  /**
   * The manager's own Events (load failures, swaps), recorded the way the executor records a module's: retried,
   * bounded and aggregated, so one WasmReconciler failing the same way every few seconds makes one Event whose
   * count grows.
   */
  readonly #events: EventRecorder;
  readonly #eventTally: EventTally = { created: 0, suppressed: 0, failed: 0 };

  constructor(options: WasmReconcilerManagerOptions) {
    this.#o = options;
    this.#events = new EventRecorder({
      client: options.executorClient,
      reportingController: 'wasmreconciler.dev/host',
      reportingInstance: options.instance,
      dedupeWindowMs: EVENT_WINDOW_MS,
      dedupeEntries: EVENT_SERIES,
      now: Date.now,
      onError: (err, event) =>
        options.logger.warn({ event: event.reason, ...errorFields(err) }, 'could not record WasmReconciler event'),
    });
    // Two at a time: module loads compile (CPU) and fetch (network); more would only contend on 2 cores.
    this.#queue = new WorkQueue({ name: 'wasmreconcilers', concurrency: 2 });
  }

  /** Resolves once every existing WasmReconciler has been processed once (ready or failed). */
  async start(): Promise<void> {
    const namespaced = await this.#o.registry.acquire({
      apiVersion: WR_API_VERSION,
      kind: WR_KIND,
      ...(this.#o.namespace === undefined ? {} : { namespace: this.#o.namespace }),
      ...this.#selector,
    });
    this.#namespaced = namespaced;
    await namespaced.synced;
    this.#subscribe(namespaced);
    const sharding = this.#o.sharding;
    if (sharding !== undefined) {
      // A new status writer writes every WasmReconciler's status once; the old one no longer does.
      this.#unsubscribe.push(
        sharding.onStatusWriterChange(() => {
          if (this.#stopped || !sharding.writesStatus()) return;
          for (const o of this.#all())
            this.#queue.add(objectKey(o.namespace, o.name), { reason: 'resync', lane: 'low' });
        }),
      );
    }
    // A host confined to one namespace has no business with cluster-scoped reconcilers (nor, usually, the RBAC).
    if (this.#o.namespace === undefined) await this.#watchClusterKind();
    // Every sync, the initial ones included, goes through the queue: one sync per key at a time, so an
    // update during startup can never build a second controller for the same WasmReconciler.
    for (const o of this.#all()) this.#initial.add(objectKey(o.namespace, o.name));
    const initialDone = new Promise<void>((resolve) => {
      this.#initialDone = resolve;
    });
    if (this.#initial.size === 0) this.#initialDone?.();
    for (const key of this.#initial) this.#queue.add(key, { reason: 'created', lane: 'low' });
    this.#processing = this.#queue.process(async (item) => {
      try {
        return await this.#sync(item.key);
      } finally {
        // Processed once: ready or failed. A controller still starting is reported by the sync it triggers.
        if (this.#initial.has(item.key) && this.#entries.get(item.key)?.transition === undefined) {
          this.#initial.delete(item.key);
          if (this.#initial.size === 0) this.#initialDone?.();
        }
      }
    });
    await initialDone;
  }

  /**
   * Stops intake everywhere at once (this queue and every reconciler's), then lets in-flight work finish
   * for up to `drainMs` per queue. Idempotent: a lost lease stops the manager before the host's own stop()
   * does. The host bounds the whole stop and fences writes when the drain runs out.
   */
  async stop(options: { drainMs?: number } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const drainMs = options.drainMs ?? 30_000;
    clearTimeout(this.#clusterRetry);
    for (const off of this.#unsubscribe) off();
    const entries = [...this.#entries.values()];
    for (const e of entries) e.controller?.closeIntake();
    await this.#queue.shutdown(true, drainMs);
    await this.#processing;
    await Promise.all(entries.map((e) => this.#teardown(e, drainMs)));
    this.#entries.clear();
    await Promise.all(this.#stopping);
    this.#namespaced?.release();
    this.#cluster?.release();
    // Best-effort: what is still queued gets as long as the drain, then the host's fence ends it.
    await Promise.race([this.#events.flush(), new Promise((resolve) => setTimeout(resolve, drainMs).unref())]);
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
    return [...this.#entries.values()].map((e) => {
      const stats = e.controller?.stats();
      return { controller: e.key, stats: stats?.queue, unassigned: stats?.unassigned };
    });
  }

  get ready(): boolean {
    return this.#namespaced?.hasSynced === true;
  }

  /** Queues the WasmReconcilers of `handle` on every spec change, and what a change may unblock. */
  #subscribe(handle: CacheHandle): void {
    const off = handle.subscribe(
      (e) => {
        // Status-only updates (our own writes) carry no spec change: the generation tells.
        if (
          e.type === 'updated' &&
          e.old.generation === e.object.generation &&
          !!e.old.deletionTimestamp === !!e.object.deletionTimestamp
        )
          return;
        if (e.type === 'deleted' && e.object.uid !== undefined) this.#claims.delete(e.object.uid);
        const key = objectKey(e.object.namespace, e.object.name);
        this.#queue.add(key, { reason: 'updated', lane: 'user' });
        // Whatever a refused reconciler conflicted with may have just moved out of its way.
        for (const other of this.#conflicted) {
          if (other !== key) this.#queue.add(other, { reason: 'updated', lane: 'user' });
        }
      },
      { replay: false },
    );
    this.#unsubscribe.push(off);
  }

  /**
   * Watches ClusterWasmReconcilers beside the namespaced kind. Neither a missing CRD (an install from before the
   * kind existed) nor RBAC that does not grant it stops the host from serving namespaced reconcilers: each is
   * said once at warn level, the CRD is looked for again every CLUSTER_KIND_RETRY_MS, and a list that succeeds
   * later queues every object it brings.
   */
  async #watchClusterKind(): Promise<void> {
    let handle: CacheHandle;
    try {
      handle = await this.#o.registry.acquire({ apiVersion: WR_API_VERSION, kind: WR_CLUSTER_KIND, ...this.#selector });
    } catch (err) {
      if (!isWrError(err, 'WR_KUBE_NOT_FOUND') && !isRetryable(err)) throw err;
      if (this.#clusterRetry === undefined) {
        this.#o.logger.warn(
          { ...errorFields(err) },
          `${WR_CLUSTER_KIND} is not served: cluster-scoped reconcilers are off until its CRD ` +
            '(deploy/crd/clusterwasmreconciler.yaml) is installed; the host looks again every 30 s',
        );
      }
      this.#clusterRetry = setTimeout(() => {
        if (!this.#stopped) void this.#watchClusterKind().catch(() => undefined);
      }, CLUSTER_KIND_RETRY_MS).unref();
      return;
    }
    if (this.#stopped) {
      handle.release();
      return;
    }
    this.#cluster = handle;
    this.#subscribe(handle);
    const forbidden = new Promise<unknown>((resolve) => {
      if (isWrError(handle.listError, 'WR_KUBE_FORBIDDEN')) resolve(handle.listError);
      const off = handle.onListError?.((err) => {
        if (isWrError(err, 'WR_KUBE_FORBIDDEN')) resolve(err);
      });
      void handle.synced.then(() => off?.());
    });
    const outcome = await Promise.race([handle.synced.then(() => undefined), forbidden]);
    if (outcome !== undefined) {
      this.#o.logger.warn(
        { ...errorFields(outcome) },
        `the host may not list ${WR_CLUSTER_KIND}s: cluster-scoped reconcilers are off until it may ` +
          '(deploy/rbac grants it); the host keeps trying',
      );
    }
    // Whatever the first list brings, now or once it is allowed: queued like any change (the queue coalesces).
    void handle.synced.then(() => {
      if (this.#stopped) return;
      for (const o of handle.reader.list()) this.#queue.add(o.name, { reason: 'created', lane: 'low' });
    });
  }

  /** Every WasmReconciler and ClusterWasmReconciler the host sees. */
  #all(): CachedObject[] {
    return [...(this.#namespaced?.reader.list() ?? []), ...(this.#cluster?.reader.list() ?? [])];
  }

  async #sync(key: string): Promise<{ requeueAfterMs: number } | undefined> {
    const [namespace, name] = splitKey(key);
    const cached =
      namespace === undefined
        ? this.#cluster?.reader.get(undefined, name)
        : this.#namespaced?.reader.get(namespace, name);
    const entry = this.#entries.get(key);
    if (cached === undefined || cached.deletionTimestamp !== undefined) {
      this.#conflicted.delete(key);
      if (entry !== undefined) {
        this.#entries.delete(key);
        await this.#teardown(entry);
      }
      return undefined;
    }
    const object = cached.object();
    let spec: ReconcilerSpec;
    try {
      spec = parseReconcilerSpec(object, this.#parseOptions);
    } catch (err) {
      await this.#fail(object, entry, err, 'SpecInvalid');
      return undefined;
    }
    // Two reconcilers of the same objects would fight (and the one without the right `owns` would stamp
    // CapabilityDenied on every user object): the older one serves, the later one does not start.
    const holder = this.#conflictFor(cached, spec);
    if (holder !== undefined) {
      const first = !this.#conflicted.has(key);
      this.#conflicted.add(key);
      if (entry !== undefined) {
        this.#entries.delete(key);
        await this.#teardown(entry);
      }
      const error = new WrError(
        'WR_SPEC_INVALID',
        `${holder.includes('/') ? WR_KIND : WR_CLUSTER_KIND} ${holder} already reconciles ${spec.for.kind} (${spec.for.apiVersion}) objects in ` +
          `${spec.for.namespaces.length === 0 ? 'all namespaces' : spec.for.namespaces.join(', ')}; this one ` +
          'starts once that one is removed or their for.namespaces or for.labelSelector no longer overlap',
        { details: { conflictsWith: holder } },
      );
      if (first) await this.#fail(object, undefined, error, 'Conflict');
      else await this.#writeStatus(object, undefined, spec, { reason: 'Conflict', error });
      return undefined;
    }
    this.#conflicted.delete(key);
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
      await this.#follow(current, spec);
    } catch (err) {
      await this.#fail(object, serving, err, 'ModuleRejected');
      if (!this.#entries.has(key) && current.slot.activeDigest === undefined) current.slot.close();
      // Retryable failures (registry down) are retried with backoff; terminal ones wait for a spec change.
      if (isRetryable(err)) throw err;
      if (isWrError(err)) current.rejected = { moduleKey: moduleKeyOf(spec), error: err };
      return undefined;
    }
    this.#entries.set(key, current);
    const controllerKey = JSON.stringify(controllerConfig(spec));
    const refused = current.controllerRejected;
    if (refused !== undefined && refused.controllerKey === controllerKey) {
      await this.#writeStatus(object, current, spec, {
        reason: refused.reason,
        error: refused.error,
        controller: true,
      });
      return undefined;
    }
    current.controllerRejected = undefined;
    let running: boolean;
    try {
      running = this.#runController(current, spec);
    } catch (err) {
      // Kinds not served or forbidden to the host, or a spec the engine refuses: Ready=False, and why.
      const reason = controllerFailureReason(err);
      const error = isWrError(err) ? err : new WrError('WR_HOST_INTERNAL', String(err), { cause: err });
      const repeated = current.lastStartFailure === error.message;
      current.lastStartFailure = error.message;
      await this.#fail(object, current, error, reason, { controller: true, quiet: repeated });
      if (reason === 'KindNotServed' || reason === 'Forbidden' || isRetryable(err)) {
        // Retried in the background: a CRD installed or a rule granted later starts it without any touch.
        current.startFailures++;
        return { requeueAfterMs: Math.min(START_RETRY_MAX_MS, 1000 * 2 ** (current.startFailures - 1)) };
      }
      current.controllerRejected = { controllerKey, reason, error };
      return undefined;
    }
    // Still starting: the sync its outcome triggers writes the status.
    if (!running) return undefined;
    current.startFailures = 0;
    current.lastStartFailure = undefined;
    await this.#writeStatus(object, current, spec, undefined);
    return undefined;
  }

  get #selector() {
    return this.#o.selector === undefined ? {} : { labelSelector: this.#o.selector };
  }

  get #parseOptions() {
    return this.#o.clusterResourceNamespace === undefined
      ? {}
      : { clusterResourceNamespace: this.#o.clusterResourceNamespace };
  }

  /**
   * The WasmReconciler that already reconciles (some of) the primaries `spec` names, if any. A
   * ClusterWasmReconciler goes before every namespaced one (a tenant cannot lock an administrator's reconciler
   * out of the tenant's namespace by creating one first); within a scope the older one serves.
   */
  #conflictFor(self: CachedObject, spec: ReconcilerSpec): string | undefined {
    const mine = claimOf(spec);
    const mineRank = rankOf(self);
    const selfKey = objectKey(self.namespace, self.name);
    for (const other of this.#all()) {
      const otherKey = objectKey(other.namespace, other.name);
      if (otherKey === selfKey || other.deletionTimestamp !== undefined || other.uid === undefined) continue;
      let memo = this.#claims.get(other.uid);
      if (memo === undefined || memo.generation !== other.generation) {
        let claim: Claim | undefined;
        try {
          claim = claimOf(parseReconcilerSpec(other.object(), this.#parseOptions));
        } catch {
          claim = undefined;
        }
        memo = { generation: other.generation, claim };
        this.#claims.set(other.uid, memo);
      }
      if (memo.claim === undefined || !claimsOverlap(mine, memo.claim)) continue;
      // Scope, then creation time, then key: every host replica decides alike.
      const otherRank = rankOf(other);
      if (otherRank < mineRank || (otherRank === mineRank && otherKey < selfKey)) return otherKey;
    }
    return undefined;
  }

  #newEntry(key: string, spec: ReconcilerSpec): Entry {
    const readPort = new ScopedReadPort();
    const metrics = this.#o.metrics;
    const slot = new ModuleSlot({
      identity: { name: spec.name, ...(spec.namespace === undefined ? {} : { namespace: spec.namespace }) },
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
      follower: undefined,
      sourceChanged: false,
      transition: undefined,
      controllerRejected: undefined,
      startFailures: 0,
      lastStartFailure: undefined,
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
    const resolved = await this.#o.resolver.resolve(spec.module, {
      maxBytes: spec.limits.moduleBytes,
      ...(entry.sourceChanged ? { fresh: true } : {}),
    });
    entry.sourceChanged = false;
    // Every limit the spec sets (parseReconcilerSpec leaves unset ones out, so deadlineMs follows fuel).
    const result = await entry.slot.load(resolved.bytes, spec.config, spec.limits);
    entry.moduleKey = moduleKey;
    // Pin the serving and the previous version: a rollback or an offline restart must find both on disk.
    const pins = [resolved.digest, ...resolved.blobs];
    if (entry.slot.previousDigest !== undefined) pins.push(entry.slot.previousDigest as typeof resolved.digest);
    await this.#o.store.setPins(entry.key, [...new Set(pins)]);
    if (result.swapped) {
      // A swap back to the digest that served before this one is a rollback: said so, since it is what an
      // operator looks for after a bad rollout.
      const rollback = entry.swaps[1]?.digest === result.digest;
      this.#o.logger.info(
        {
          reconciler: entry.key,
          digest: result.digest,
          generation: result.generation,
          ...(entry.slot.previousDigest === undefined ? {} : { previousDigest: entry.slot.previousDigest }),
        },
        entry.swaps.length === 0 ? 'module loaded' : rollback ? 'module rolled back' : 'module swapped',
      );
      const at = isoTime(Date.now());
      entry.loadedAt = at;
      entry.swaps = [{ digest: result.digest, at, generation: result.generation }, ...entry.swaps].slice(
        0,
        SWAP_HISTORY,
      );
      this.#o.metrics?.moduleSwapsTotal.labels(entry.key).inc();
      this.#o.metrics?.moduleGeneration.labels(entry.key).set(result.generation);
      // The new logic sees every primary once (from the warm cache, no re-list), as after a rollout.
      entry.controller?.resyncAll();
      this.#event(
        object,
        'Normal',
        'ModuleLoaded',
        `module ${result.digest} is serving (generation ${result.generation})`,
      );
    }
    entry.lastError = undefined;
  }

  /**
   * Keeps a watch on the spec's ConfigMap module source, if it has one: an update of the ConfigMap is then a
   * new load (a swap when unpinned; a digest mismatch reported, the old version serving, when pinned).
   */
  async #follow(entry: Entry, spec: ReconcilerSpec): Promise<void> {
    const source = spec.module.type === 'configMap' ? spec.module : undefined;
    const id = source === undefined ? undefined : `${source.namespace}/${source.name}/${source.key}`;
    if (entry.follower?.source === id) return;
    entry.follower?.handle.stop();
    entry.follower = undefined;
    if (source === undefined || id === undefined || this.#stopped) return;
    const configMaps = await this.#o.client.resource('v1', 'ConfigMap');
    const handle = followConfigMap(
      this.#o.client,
      configMaps,
      source,
      () => {
        entry.sourceChanged = true;
        entry.moduleKey = undefined;
        entry.rejected = undefined;
        if (!this.#stopped) this.#queue.add(entry.key, { reason: 'updated', lane: 'user' });
      },
      this.#o.logger,
    );
    entry.follower = { source: id, handle };
  }

  /**
   * Brings the controller to `spec`'s config. True when it runs that config; false while a start or
   * reconfigure is under way off the queue (its outcome queues the key again); throws what the last one
   * for this config failed with.
   */
  #runController(entry: Entry, spec: ReconcilerSpec): boolean {
    const config = controllerConfig(spec);
    const controllerKey = JSON.stringify(config);
    const transition = entry.transition;
    if (transition !== undefined) {
      if (!transition.settled) return false;
      entry.transition = undefined;
      if (transition.error !== undefined && transition.controllerKey === controllerKey) throw transition.error;
    }
    if (entry.controllerKey !== controllerKey) {
      this.#beginTransition(entry, spec, config, controllerKey);
      return false;
    }
    if (spec.suspend) entry.controller?.suspend();
    else entry.controller?.resume();
    return true;
  }

  #beginTransition(entry: Entry, spec: ReconcilerSpec, config: ControllerConfig, controllerKey: string): void {
    const existing = entry.controller;
    const controller = existing ?? this.#newController(entry, spec);
    const transition: Transition = { controllerKey, controller, settled: false, error: undefined };
    entry.transition = transition;
    const step = existing === undefined ? controller.start(config) : controller.reconfigure(config);
    void step.then(
      () => {
        transition.settled = true;
        entry.controller = controller;
        entry.controllerKey = controllerKey;
        if (!this.#stopped) this.#queue.add(entry.key, { reason: 'updated', lane: 'user' });
      },
      (err: unknown) => {
        transition.settled = true;
        transition.error = err;
        if (!this.#stopped) this.#queue.add(entry.key, { reason: 'updated', lane: 'user' });
      },
    );
  }

  #newController(entry: Entry, spec: ReconcilerSpec): ReconcilerController {
    const controller = new ReconcilerController({
      name: spec.name,
      ...(spec.namespace === undefined ? {} : { namespace: spec.namespace }),
      registry: this.#o.registry,
      client: this.#o.executorClient,
      reconciler: new GuestReconciler(entry.slot),
      readPort: entry.readPort,
      logger: this.#o.logger,
      generation: () => entry.generation,
      ...(this.#o.sharding === undefined
        ? {}
        : {
            sharding: this.#o.sharding,
            // An unassigned count is part of the status: written again (by the writer) when it changes.
            onShareChange: () => {
              if (!this.#stopped) this.#queue.add(entry.key, { reason: 'updated', lane: 'low' });
            },
          }),
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
            at: isoTime(Date.now()),
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
          m.writeWindow.add(entry.key, done.applied + done.pruned + (done.statusWritten ? 1 : 0) + done.events);
        }
        // Counts and the last error reach status at most every STATUS_FLUSH_MS: the queue coalesces delays.
        this.#queue.requeueAfter(entry.key, STATUS_FLUSH_MS, { reason: 'requeue' });
      },
    });
    if (spec.suspend) controller.suspend();
    return controller;
  }

  async #teardown(entry: Entry, drainMs?: number): Promise<void> {
    entry.follower?.handle.stop();
    entry.follower = undefined;
    // A controller still starting holds no worker yet: it stops as soon as its start settles, without
    // holding up this queue (stop() waits for it).
    const starting = entry.transition?.controller;
    if (starting !== undefined && starting !== entry.controller) {
      const stopping = starting.stop(drainMs).catch(() => undefined);
      this.#stopping.add(stopping);
      void stopping.then(() => this.#stopping.delete(stopping));
    }
    await entry.controller?.stop(drainMs);
    const digest = entry.slot.activeDigest;
    this.#o.metrics?.writeWindow.forget(entry.key);
    entry.slot.close();
    await this.#o.store.deletePins(entry.key);
    if (digest !== undefined) {
      this.#o.logger.info({ reconciler: entry.key, digest, generation: entry.slot.generation }, 'module unloaded');
    }
  }

  async #fail(
    object: KubeObject,
    entry: Entry | undefined,
    err: unknown,
    reason: string,
    options: { controller?: boolean; quiet?: boolean } = {},
  ): Promise<void> {
    const error = isWrError(err) ? err : new WrError('WR_HOST_INTERNAL', String(err), { cause: err });
    this.#o.logger.warn(
      { reconciler: objectKey(object.metadata.namespace, object.metadata.name), code: error.code, err: error.message },
      'WasmReconciler not applied',
    );
    this.#o.metrics?.moduleLoadFailuresTotal
      .labels(objectKey(object.metadata.namespace, object.metadata.name), error.code)
      .inc();
    if (entry !== undefined)
      entry.lastError = { code: error.code, message: error.message.slice(0, 1024), at: isoTime(Date.now()) };
    if (options.quiet !== true) this.#event(object, 'Warning', reason, `${error.code}: ${error.message}`);
    await this.#writeStatus(object, entry, undefined, {
      reason,
      error,
      ...(options.controller === true ? { controller: true } : {}),
    });
  }

  async #writeStatus(
    object: KubeObject,
    entry: Entry | undefined,
    spec: ReconcilerSpec | undefined,
    failure: { reason: string; error: WrError; controller?: boolean } | undefined,
  ): Promise<void> {
    // Sharded hosts all serve the reconciler; one of them writes its status (the policy says which).
    if (this.#o.sharding !== undefined && !this.#o.sharding.writesStatus()) return;
    const previous = (object.status ?? {}) as { conditions?: Condition[] };
    const generation = object.metadata.generation;
    const conditions = reconcilerConditions(previous.conditions ?? [], {
      generation,
      serving: entry?.slot.activeDigest,
      suspended: spec?.suspend === true,
      failure:
        failure === undefined
          ? undefined
          : {
              reason: failure.reason,
              message: `${failure.error.code}: ${failure.error.message}`.slice(0, 1024),
              controller: failure.controller === true,
            },
    });
    const status: Record<string, unknown> = { conditions };
    // observedGeneration means "this spec is what serves": a refused spec leaves it at the last good one.
    if (failure === undefined && generation !== undefined) status.observedGeneration = generation;
    if (entry !== undefined) {
      if (entry.slot.activeDigest !== undefined) {
        status.activeDigest = entry.slot.activeDigest;
        // `kubectl get wr` shows this: JSONPath cannot shorten a string. sha256: plus 12 hex digits.
        status.activeDigestShort = entry.slot.activeDigest.slice(0, 19);
      }
      if (entry.slot.previousDigest !== undefined) status.previousDigest = entry.slot.previousDigest;
      if (entry.loadedAt !== undefined) status.loadedAt = entry.loadedAt;
      status.moduleGeneration = entry.slot.generation;
      status.reconcileCount = entry.reconciles;
      status.errorCount = entry.errors;
      if (entry.lastError !== undefined) status.lastError = entry.lastError;
      status.swapHistory = entry.swaps;
      const unassigned = entry.controller?.stats().unassigned;
      if (this.#o.sharding !== undefined && unassigned !== undefined) {
        status.sharding = { mode: this.#o.sharding.mode, unassigned };
      }
    }
    if (failure !== undefined) {
      status.lastError = {
        code: failure.error.code,
        message: failure.error.message.slice(0, 1024),
        at: isoTime(Date.now()),
      };
    }
    try {
      await this.#o.client.patchStatus(object, status, { fieldManager: STATUS_MANAGER, force: true });
    } catch (err) {
      this.#o.logger.warn(
        { reconciler: objectKey(object.metadata.namespace, object.metadata.name), ...errorFields(err) },
        'could not write WasmReconciler status',
      );
    }
  }

  #event(object: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    void this.#events.record(object, [{ type, reason, message: message.slice(0, 1024) }], this.#eventTally);
  }
}

interface Transition {
  readonly controllerKey: string;
  readonly controller: ReconcilerController;
  settled: boolean;
  error: unknown;
}

/** Orders reconcilers claiming the same objects: cluster-scoped first, then the older, as a sortable string. */
function rankOf(o: CachedObject): string {
  return `${o.namespace === undefined ? 0 : 1}${o.object().metadata.creationTimestamp ?? ''}`;
}

/** The Ready reason of a controller that could not start. */
function controllerFailureReason(err: unknown): string {
  if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return 'KindNotServed';
  if (isWrError(err, 'WR_KUBE_FORBIDDEN')) return 'Forbidden';
  if (isWrError(err, 'WR_SPEC_INVALID')) return 'SpecInvalid';
  return 'ControllerFailed';
}

/** The primaries a reconciler reconciles: kind (by group, any version), namespaces, label selector. */
interface Claim {
  readonly groupKind: string;
  readonly namespaces: readonly string[];
  readonly selector: SpecSelector | undefined;
}

function claimOf(spec: ReconcilerSpec): Claim {
  return {
    groupKind: groupKind(spec.for.apiVersion, spec.for.kind),
    namespaces: spec.for.namespaces,
    selector: spec.for.labelSelector,
  };
}

/** True unless the two provably reconcile different objects (other kind, namespaces or disjoint selectors). */
export function claimsOverlap(a: Claim, b: Claim): boolean {
  if (a.groupKind !== b.groupKind) return false;
  if (a.namespaces.length > 0 && b.namespaces.length > 0 && !a.namespaces.some((ns) => b.namespaces.includes(ns)))
    return false;
  return !selectorsDisjoint(a.selector, b.selector);
}

/** Whether no label set can match both selectors, judged key by key (sound, not complete). */
function selectorsDisjoint(a: SpecSelector | undefined, b: SpecSelector | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const keys = new Set([...keysOf(a), ...keysOf(b)]);
  for (const key of keys) {
    const va = allowedValues(a, key);
    const vb = allowedValues(b, key);
    if (va !== undefined && vb !== undefined && ![...va].some((v) => vb.has(v))) return true;
    if ((va !== undefined || requiresKey(a, key)) && forbidsKey(b, key)) return true;
    if ((vb !== undefined || requiresKey(b, key)) && forbidsKey(a, key)) return true;
    if (va !== undefined && [...va].every((v) => excludedValues(b, key).has(v))) return true;
    if (vb !== undefined && [...vb].every((v) => excludedValues(a, key).has(v))) return true;
  }
  return false;
}

function keysOf(s: SpecSelector): string[] {
  return [...Object.keys(s.matchLabels), ...s.matchExpressions.map((e) => e.key)];
}

/** The values `key` may take under `s` (matchLabels and In, intersected); undefined when unconstrained. */
function allowedValues(s: SpecSelector, key: string): Set<string> | undefined {
  let values: Set<string> | undefined;
  const narrow = (next: readonly string[]) => {
    values = values === undefined ? new Set(next) : new Set(next.filter((v) => values!.has(v)));
  };
  const label = s.matchLabels[key];
  if (label !== undefined) narrow([label]);
  for (const e of s.matchExpressions) if (e.key === key && e.operator === 'In') narrow(e.values);
  return values;
}

function requiresKey(s: SpecSelector, key: string): boolean {
  return s.matchExpressions.some((e) => e.key === key && e.operator === 'Exists');
}

function forbidsKey(s: SpecSelector, key: string): boolean {
  return s.matchExpressions.some((e) => e.key === key && e.operator === 'DoesNotExist');
}

function excludedValues(s: SpecSelector, key: string): Set<string> {
  return new Set(s.matchExpressions.filter((e) => e.key === key && e.operator === 'NotIn').flatMap((e) => e.values));
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
      // A namespaced WasmReconciler's namespaces are a tenancy boundary: cluster-scoped kinds are outside it.
      confined: spec.scope === 'Namespaced',
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
    ...(spec.sharding === undefined ? {} : { sharding: spec.sharding }),
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
