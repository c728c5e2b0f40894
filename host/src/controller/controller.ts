// One running reconciler: shared caches -> event mapping -> its work queue -> worker -> executor.
//
// The reconcile logic (a Wasm slot or native code) is held by reference and never rebuilt here, so a
// module swap touches nothing in this file. A reconfigure (other watched kinds, permissions, concurrency)
// acquires the new caches first, then switches mapping and worker in one step, then releases what the
// old scope alone used: queued keys survive, shared watches stay open, no event falls between the two.

import type { ObjectView, ReconcileRequest, TriggerReason } from '../abi/types.ts';
import type { CachedObject, Indexer, ReflectorRegistry } from '../cache/index.ts';
import { WrError } from '../errors.ts';
import { Executor, type ExecutorClient, groupOf, type KindRef } from '../executor/index.ts';
import { kindKey } from '../kube/gvk.ts';
import type { Logger } from '../kube/index.ts';
import { EventMapper, type MappingEvent, objectKey, PeriodicResync, splitKey } from '../mapping/index.ts';
import type { ShardingRule } from '../modules/index.ts';
import { type QueueObserver, type TriggerSource, type WorkItem, WorkQueue } from '../queue/index.ts';
import type { Reconciler } from '../reconcile/types.ts';
import { ReconcileWorker, type WorkResult } from '../reconcile/worker.ts';
import { type ClaimTarget, KeyFence, type Ownership, type ShardPolicy } from '../sharding/index.ts';
import { type ReadGrant, ScopedReadPort } from './read-port.ts';
import { acquireScope, type KindCaches, shardedScope, type WatchScope } from './scope.ts';

export interface ControllerConfig {
  readonly scope: WatchScope;
  readonly readGrants: readonly ReadGrant[];
  readonly maxConcurrentReconciles: number;
  /** 0 disables periodic resync. */
  readonly resyncPeriodMs: number;
  /** The reconciler's spec.sharding, handed to the host's ShardPolicy (ignored without one). */
  readonly sharding?: ShardingRule;
}

export interface ControllerOptions {
  /** The reconciler's name: field manager, finalizer, queue and metric label derive from it. */
  readonly name: string;
  /** The WasmReconciler's namespace, reported to the guest as its identity. */
  readonly namespace?: string;
  readonly registry: ReflectorRegistry;
  readonly client: ExecutorClient;
  readonly reconciler: Reconciler;
  /** Shared with the Wasm slot so guest reads see this controller's current scope. */
  readonly readPort?: ScopedReadPort;
  readonly logger: Logger;
  readonly queueObserver?: QueueObserver;
  /** Called after every processed key, for metrics and status counters. */
  readonly onResult?: (item: WorkItem, result: WorkResult, durationMs: number) => void;
  /** Read on every reconcile, so the guest sees the current WasmReconciler generation. */
  readonly generation?: () => number | undefined;
  /** How this host shares primaries with other hosts (host/src/sharding); absent: it reconciles every one. */
  readonly sharding?: ShardPolicy;
  /** Called when the share or its unassigned count changed without an event of a primary (status may change). */
  readonly onShareChange?: () => void;
}

/** Everything derived from one ControllerConfig; replaced whole on reconfigure. */
interface Wiring {
  readonly config: ControllerConfig;
  readonly primary: KindCaches;
  readonly owned: readonly KindCaches[];
  readonly related: readonly KindCaches[];
  readonly worker: ReconcileWorker;
  readonly unsubscribe: readonly (() => void)[];
  readonly resync: PeriodicResync | undefined;
  /** This config's share of the primaries; undefined without a ShardPolicy (every primary is ours). */
  readonly ownership: Ownership | undefined;
  /** What Ownership.claim works on: the owned caches and the fenced client. */
  readonly claimTarget: ClaimTarget;
}

export class ReconcilerController {
  readonly name: string;
  readonly #options: ControllerOptions;
  readonly readPort: ScopedReadPort;
  #queue: WorkQueue | undefined;
  #processing: Promise<void> | undefined;
  #wiring: Wiring | undefined;
  #suspended = false;
  #stopped = false;
  /** Serialises start/reconfigure/stop so two spec changes never interleave their cache switches. */
  #transition: Promise<unknown> = Promise.resolve();
  /** Ends the writes of a reconcile whose key left this host's share (sharding only). */
  readonly #fence = new KeyFence();

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.#options = options;
    this.readPort = options.readPort ?? new ScopedReadPort();
  }

  /** Acquires caches (waiting for their initial lists), then starts the workers. */
  start(config: ControllerConfig): Promise<void> {
    return this.#serial(() => this.#apply(config));
  }

  /** Replaces what the controller watches and how it runs, keeping queued keys. */
  reconfigure(config: ControllerConfig): Promise<void> {
    return this.#serial(() => this.#apply(config));
  }

  /** Pauses intake: events are still cached, but no key is processed until resume(). */
  suspend(): void {
    this.#suspended = true;
  }

  resume(): void {
    if (!this.#suspended) return;
    this.#suspended = false;
    // Events seen while suspended were dropped by the mapping sink: re-enqueue every primary so none is lost.
    this.#enqueueAll('resync');
  }

  /**
   * Enqueues every cached primary (low lane). A new module version calls this: the new logic must see
   * every object once, as a rollout of a classic controller would, without any re-list.
   */
  resyncAll(): void {
    this.#enqueueAll('resync');
  }

  get suspended(): boolean {
    return this.#suspended;
  }

  /** Stops taking work at once (queued keys are dropped, in-flight ones go on); stop() still follows. */
  closeIntake(): void {
    void this.#queue?.shutdown(false);
  }

  /**
   * Stops workers (letting in-flight reconciles finish for up to `drainMs`) and releases every cache this
   * controller held.
   */
  stop(drainMs = 30_000): Promise<void> {
    return this.#serial(async () => {
      if (this.#stopped) return;
      this.#stopped = true;
      await this.#queue?.shutdown(true, drainMs);
      await this.#processing;
      if (this.#wiring !== undefined) this.#unwire(this.#wiring);
      this.#wiring = undefined;
    });
  }

  stats() {
    return {
      queue: this.#queue?.stats(),
      primaries: this.#wiring?.primary.handles.reduce((n, h) => n + h.reader.size, 0) ?? 0,
      readsDenied: this.readPort.denied,
      /** Primaries no host reconciles, when this host counts them (sharding). */
      unassigned: this.#wiring?.ownership?.unassigned(),
    };
  }

  #serial(step: () => Promise<void>): Promise<void> {
    const next = this.#transition.then(step);
    this.#transition = next.catch(() => undefined);
    return next;
  }

  async #apply(config: ControllerConfig): Promise<void> {
    if (this.#stopped) throw new WrError('WR_SLOT_CLOSED', `controller ${this.name} is stopped`);
    if (!Number.isInteger(config.maxConcurrentReconciles) || config.maxConcurrentReconciles < 1) {
      throw new WrError('WR_SPEC_INVALID', 'maxConcurrentReconciles must be a positive integer');
    }
    const ownership = await this.#options.sharding?.ownership(
      { name: this.name, primary: config.scope.primary, namespaces: config.scope.namespaces, owns: config.scope.owns },
      config.sharding,
    );
    let caches: Awaited<ReturnType<typeof acquireScope>>;
    try {
      caches = await acquireScope(this.#options.registry, shardedScope(config.scope, ownership));
    } catch (err) {
      ownership?.close();
      throw err;
    }
    let wiring: Wiring;
    try {
      wiring = this.#wire(config, caches, ownership);
    } catch (err) {
      for (const c of [caches.primary, ...caches.owned, ...caches.related]) c.release();
      ownership?.close();
      throw err;
    }
    const previous = this.#wiring;
    this.#wiring = wiring;
    this.readPort.update([caches.primary, ...caches.owned, ...caches.related], config.readGrants);

    const queue = this.#queue;
    if (queue === undefined || previous?.config.maxConcurrentReconciles !== config.maxConcurrentReconciles) {
      // The queue's worker count is fixed at construction: a new count needs a new queue. Reconcile is
      // level-based, so enqueueing every primary on the new queue loses nothing the old one held.
      this.#queue = this.#newQueue(config);
      this.#processing = this.#queue.process((item) => this.#handle(item));
      if (queue !== undefined) await queue.shutdown(true, 30_000);
    }
    // Every primary once: the initial list on start, and a level-based catch-up after a scope change.
    this.#enqueueAll(previous === undefined ? 'created' : 'resync');
    if (previous !== undefined) this.#unwire(previous);
  }

  #newQueue(config: ControllerConfig): WorkQueue {
    return new WorkQueue({
      name: this.name,
      concurrency: config.maxConcurrentReconciles,
      // Keys the queue refused while full were events: once it has room again, a level-based pass over
      // every cached primary recovers them.
      onOverflowRecovered: () => this.#enqueueAll('resync'),
      ...(this.#options.queueObserver === undefined ? {} : { observer: this.#options.queueObserver }),
    });
  }

  #wire(
    config: ControllerConfig,
    caches: Awaited<ReturnType<typeof acquireScope>>,
    ownership: Ownership | undefined,
  ): Wiring {
    const { primary, owned, related } = caches;
    const primaryKind: KindRef = primary.kind;
    const fenced = this.#fence.client(this.#options.client);
    const { executor, worker } = scopeWorker(
      ownership === undefined
        ? this.#options
        : {
            ...this.#options,
            client: fenced,
            ...(ownership.children === undefined ? {} : { childLabels: ownership.children.labels }),
            ...(ownership.children?.ownerLabel === undefined ? {} : { childOwnerLabel: ownership.children.ownerLabel }),
          },
      caches,
    );
    const owns = (key: string) => {
      if (ownership === undefined) return true;
      const [ns, name] = splitKey(key);
      const obj = primary.get(ns, name);
      // A key whose primary is not cached (gone, or outside the share's watch) is let through: the worker
      // skips it without a write.
      return obj === undefined || ownership.owns(obj);
    };

    const sink = {
      add: (
        key: string,
        opts: { readonly reason: TriggerReason; readonly lane: 'user' | 'low'; readonly source?: TriggerSource },
      ) => !this.#suspended && this.#queue !== undefined && owns(key) && this.#queue.add(key, opts),
    };
    const primaryKeysIn = (namespace: string | undefined) =>
      primary.list(primaryKind.namespaced ? namespace : undefined).map((o) => objectKey(o.namespace, o.name));
    const mapper = new EventMapper({
      primary: primaryKind,
      ownerLookup: {
        keyForUid: (uid) => findByUid(primary, uid),
        uidForKey: (key) => {
          const [ns, name] = splitKey(key);
          return primary.get(ns, name)?.uid;
        },
      },
      related: Object.fromEntries(
        related.map((c) => [
          kindKey(c.kind.apiVersion, c.kind.kind),
          (obj: { metadata: { namespace?: string } }) => primaryKeysIn(obj.metadata.namespace),
        ]),
      ),
      sink,
    });
    const toEvent = (e: {
      type: 'added' | 'updated' | 'deleted';
      object: ObjectView;
      old?: ObjectView;
    }): MappingEvent =>
      e.type === 'updated' && e.old !== undefined
        ? { type: e.type, object: e.object.object(), oldObject: e.old.object() }
        : { type: e.type, object: e.object.object() };
    const unsubscribe: (() => void)[] = [];
    const subscribe = (c: KindCaches, handle: (event: MappingEvent) => void) => {
      // No replay: every primary is enqueued explicitly after wiring, and children/related only matter
      // through their primary.
      for (const h of c.handles) unsubscribe.push(h.subscribe((e) => handle(toEvent(e)), { replay: false }));
    };
    if (ownership !== undefined) {
      // Leaving the share: the primary left the selector watch (a deletion to this cache) or `owns` turned false.
      for (const h of primary.handles) {
        unsubscribe.push(
          h.subscribe(
            (e) => {
              if (e.type === 'deleted' || !ownership.owns(e.object)) this.#leave(ownership, executor, e.object);
            },
            { replay: false },
          ),
        );
      }
      unsubscribe.push(
        ownership.onChange(() => {
          for (const obj of primary.list(undefined)) {
            if (!ownership.owns(obj)) this.#leave(ownership, executor, obj);
          }
          this.#enqueueAll('resync');
          this.#options.onShareChange?.();
        }),
      );
    }
    subscribe(primary, (e) => mapper.primary(e));
    for (const c of owned) subscribe(c, (e) => mapper.child(e));
    for (const c of related) subscribe(c, mapper.related(kindKey(c.kind.apiVersion, c.kind.kind)));

    const resync =
      config.resyncPeriodMs > 0
        ? new PeriodicResync({ periodMs: config.resyncPeriodMs, listKeys: () => primaryKeysIn(undefined), sink })
        : undefined;
    resync?.start();
    return {
      config,
      primary,
      owned,
      related,
      worker,
      unsubscribe,
      resync,
      ownership,
      claimTarget: { owned, client: fenced },
    };
  }

  /**
   * A key left this host's share: fence its reconcile in flight, if any, and tell the policy. Once that
   * reconcile has ended, the executor forgets what it applied for the primary: the next owner may write its
   * children otherwise, and if the key comes back here, our old record must not justify skipping an apply.
   */
  #leave(ownership: Ownership, executor: Executor, primary: CachedObject): void {
    const key = objectKey(primary.namespace, primary.name);
    this.#fence.trip(key);
    const settled = this.#fence.settled(key);
    ownership.left(key, settled);
    const uid = primary.uid;
    if (uid !== undefined) void settled.then(() => executor.forget(uid));
  }

  #unwire(wiring: Wiring): void {
    wiring.resync?.stop();
    for (const off of wiring.unsubscribe) off();
    for (const c of [wiring.primary, ...wiring.owned, ...wiring.related]) c.release();
    wiring.ownership?.close();
  }

  #enqueueAll(reason: 'created' | 'resync'): void {
    const wiring = this.#wiring;
    const queue = this.#queue;
    if (wiring === undefined || queue === undefined) return;
    for (const obj of wiring.primary.list(undefined)) {
      if (wiring.ownership !== undefined && !wiring.ownership.owns(obj)) continue;
      queue.add(objectKey(obj.namespace, obj.name), { reason, lane: 'low' });
    }
  }

  async #handle(item: WorkItem): Promise<{ requeueAfterMs?: number } | undefined> {
    const wiring = this.#wiring;
    if (wiring === undefined || this.#suspended) return undefined;
    const ownership = wiring.ownership;
    if (ownership !== undefined) {
      const [ns, name] = splitKey(item.key);
      const obj = wiring.primary.get(ns, name);
      if (obj !== undefined && !ownership.owns(obj)) return undefined;
      // Moved here: held until its previous owner has stopped it (the policy's handover).
      const waitMs = obj === undefined ? 0 : ownership.admit(item.key, obj);
      if (waitMs > 0) return { requeueAfterMs: waitMs };
    }
    const started = performance.now();
    // The child or related object behind the run reaches the guest as trigger.kind/name/namespace (ABI v1).
    const trigger = triggerOf(item);
    let result: WorkResult;
    if (ownership === undefined) {
      result = await wiring.worker.process(item.key, trigger);
    } else {
      // Only a mode that claims needs the cached primary here (the worker looks it up itself).
      const obj = ownership.claim === undefined ? undefined : wiring.primary.get(...splitKey(item.key));
      result = await this.#fence.run(item.key, async () => {
        // In the fence: a claim's writes are refused, like the reconcile's, once the key has moved on.
        const claim = obj === undefined ? undefined : ownership.claim?.(item.key, obj, wiring.claimTarget);
        if (claim !== undefined) await claim;
        return wiring.worker.process(item.key, trigger);
      });
    }
    this.#options.onResult?.(item, result, performance.now() - started);
    if (result.error !== undefined) throw result.error;
    return result.requeueAfterMs === undefined ? undefined : { requeueAfterMs: result.requeueAfterMs };
  }
}

/** What scopeWorker needs from a controller's options. */
export type WorkerWiring = Pick<
  ControllerOptions,
  'name' | 'namespace' | 'client' | 'reconciler' | 'logger' | 'generation'
> & {
  /** Labels set on every child the executor applies: the share's (Ownership.children), when sharded. */
  readonly childLabels?: Readonly<Record<string, string>>;
  /** Set on every child to its primary's UID: the share's (Ownership.children), when sharded. */
  readonly childOwnerLabel?: string;
};

/**
 * The executor and worker that reconcile one key of a scope, as every controller wires them. The offline
 * engine (host/src/offline) builds its runs from this same function, so a fixture run cannot drift from
 * what a running controller does with the key.
 */
export function scopeWorker(
  options: WorkerWiring,
  caches: {
    readonly primary: KindCaches;
    readonly owned: readonly KindCaches[];
    readonly related: readonly KindCaches[];
    /** The scope's namespaces (empty: all): where a cluster-scoped primary's namespaced children may go. */
    readonly namespaces: readonly string[];
  },
): { readonly executor: Executor; readonly worker: ReconcileWorker } {
  const { primary, owned, related } = caches;
  const ownedKinds = owned.map((c) => c.kind);
  // Writes are exactly what the reconciler owns: spec.owns is the grant. A namespaced primary's children live
  // in its namespace; a cluster-scoped primary's namespaced children (a ClusterWasmReconciler's: a namespaced
  // WasmReconciler cannot have one) may go to any namespace its scope watches, every one when it names none.
  const childNamespaces = (k: KindRef) =>
    primary.kind.namespaced || !k.namespaced
      ? {}
      : { namespaces: caches.namespaces.length === 0 ? ['*'] : caches.namespaces };
  const executor = new Executor({
    name: options.name,
    primary: primary.kind,
    owns: ownedKinds,
    permissions: ownedKinds.map((k) => ({
      apiGroups: [groupOf(k.apiVersion)],
      kinds: [k.kind],
      verbs: ['create', 'patch', 'delete'] as const,
      ...childNamespaces(k),
    })),
    client: options.client,
    logger: options.logger,
    ...(options.childLabels === undefined ? {} : { childLabels: options.childLabels }),
    ...(options.childOwnerLabel === undefined ? {} : { childOwnerLabel: options.childOwnerLabel }),
  });
  const relatedByKey = new Map(related.map((c) => [kindKey(c.kind.apiVersion, c.kind.kind), c] as const));
  const ownedByKey = new Map(owned.map((c) => [kindKey(c.kind.apiVersion, c.kind.kind), c] as const));
  const worker = new ReconcileWorker({
    reconciler: options.reconciler,
    executor,
    identity: {
      name: options.name,
      ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      get generation() {
        return options.generation?.();
      },
    } as ReconcileRequest['reconciler'],
    primaries: { get: (ns, name) => primary.get(ns, name) },
    children: {
      byOwner: (uid, kind) => ownedByKey.get(kindKey(kind.apiVersion, kind.kind))?.byOwner(uid, undefined) ?? [],
    },
    related: {
      // Related objects are those of the declared kinds in the primary's namespace (narrowed by the
      // declared label selector when the watch was opened); the guest filters further.
      related: (obj) => {
        const out = new Map<string, readonly ObjectView[]>();
        for (const [key, c] of relatedByKey) {
          out.set(key, c.kind.namespaced ? c.list(obj.metadata.namespace) : c.list(undefined));
        }
        return out;
      },
    },
  });
  return { executor, worker };
}

/** The reconcile input's trigger for a work item: its reason, plus the object behind it when it is not the primary. */
export function triggerOf(item: Pick<WorkItem, 'reason' | 'source'>): ReconcileRequest['trigger'] {
  const source = item.source;
  if (source === undefined) return { reason: item.reason };
  return {
    reason: item.reason,
    kind: source.kind,
    name: source.name,
    ...(source.namespace === undefined ? {} : { namespace: source.namespace }),
  };
}

/** The registry indexer the controller needs to map a child's owner UID to its primary's key. */
export const UID_INDEX = 'uid';
export const uidIndexer: Indexer = (obj: CachedObject) => (obj.uid === undefined ? [] : [obj.uid]);

function findByUid(primary: KindCaches, uid: string): string | undefined {
  for (const h of primary.handles) {
    const hit = h.reader.byIndex(UID_INDEX, uid)[0];
    if (hit !== undefined) return objectKey(hit.namespace, hit.name);
  }
  return undefined;
}
