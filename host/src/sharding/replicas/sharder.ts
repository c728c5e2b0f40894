// The sharder: while its replica leads the ring, labels every primary with the shard that owns it, and moves objects when members come and go.
//
// It never caches the sharded objects (timebertt's "don't watch sharded objects"): it watches only the
// unassigned ones (`!shard.wasmreconciler.dev/<ring>`), which leave its watch as soon as they are labelled,
// and on a membership change lists the assigned ones page by page without keeping them. Each object costs
// one write when it is created and three when it moves from a live member (drain, the old shard's
// acknowledgement, the new assignment); a member that is gone (Lease released or expired) has fenced
// itself, so its objects are relabelled in one write. A converged ring writes nothing.
//
// Children (the kinds a controller owns) carry the shard label of their controller owner, so every replica
// caches only its own children too. Their hash key is the owner's (childShardKey), so a child always goes
// where its owner goes. The host's executor labels every child it applies with its own member name while it
// owns the primary (host/src/executor, ExecutorOptions.childLabels); the sharder's passes move the rest, as
// timebertt's sharder moves controlled objects: directly, in one label write, without a drain, since the
// primary alone is the point the two owners synchronise on (nobody reconciles a child). A pass also adopts
// children that carry no shard label (written before sharding was on). Children are never watched here:
// passes list them page by page, like the assigned primaries.

import type { KubeObject } from '../../abi/types.ts';
import type { CachedObject, CacheHandle, LabelSelector, ReflectorRegistry } from '../../cache/index.ts';
import { errorFields, isWrError } from '../../errors.ts';
import { type ApiResource, type KubeClient, type Logger, objectPath, retryAfterMsOf } from '../../kube/index.ts';
import { Backoff, type BackoffOptions } from '../../watch/index.ts';
import type { RingLabels } from './labels.ts';
import type { RingMembers } from './members.ts';
import { childShardKey, ownerOf, shardKey } from './rendezvous.ts';
import { assignedSelector, unassignedSelector } from './selectors.ts';

/** One set of primaries to shard: a controller's primary kind in one namespace (all when absent). */
export interface ShardedSpec {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly selector?: LabelSelector;
}

/** One set of children to label with their owner's shard: a controller's owned kind, in one namespace (all when absent). */
export interface ChildSpec {
  readonly resource: ApiResource;
  readonly namespace?: string;
  /** The controller owner's kind (the primary's): children controlled by anything else are left alone. */
  readonly owner: { readonly group: string; readonly kind: string; readonly namespaced: boolean };
}

export interface SharderStats {
  /** Unassigned objects labelled with their shard. */
  readonly assigned: number;
  /** Objects asked to leave a live shard. */
  readonly drained: number;
  /** Objects of a gone shard relabelled directly. */
  readonly moved: number;
  /** Children relabelled with their owner's shard (adopted without a label, or moved with their owner). */
  readonly children: number;
  /** Rebalance passes over the assigned objects. */
  readonly passes: number;
}

export interface SharderOptions {
  readonly registry: ReflectorRegistry;
  readonly members: RingMembers;
  readonly labels: RingLabels;
  readonly logger: Logger;
  /** Label writes in flight at once. Default 8. */
  readonly writeConcurrency?: number;
  /** A full rebalance pass this often, besides the one after each membership change. Default 60 s. */
  readonly resyncMs?: number;
  /** Page size of a rebalance pass. Default 500. */
  readonly pageSize?: number;
  /** The pass retried after a failure: default 1 s doubling to 30 s, jittered, reset by a pass that succeeds. */
  readonly retry?: BackoffOptions;
}

type LabelPatch = Record<string, string | null>;

interface Watched {
  readonly spec: ShardedSpec;
  readonly handle: CacheHandle;
  readonly off: () => void;
}

export class Sharder {
  readonly #o: SharderOptions;
  readonly #specs = new Map<string, { spec: ShardedSpec; refs: number }>();
  readonly #children = new Map<string, { spec: ChildSpec; refs: number }>();
  /** Set while leading. */
  #watched: Map<string, Promise<Watched | undefined>> | undefined;
  /** The writer of the current term, fenced by the sharder's Lease. */
  #client: KubeClient | undefined;
  #offMembers: (() => void) | undefined;
  #resyncTimer: ReturnType<typeof setInterval> | undefined;
  #rebalanceTimer: ReturnType<typeof setTimeout> | undefined;
  #passes: Promise<void> = Promise.resolve();
  /** Object writes waiting or in flight, by spec and object key: one at a time per object. */
  readonly #pending = new Set<string>();
  readonly #waiting: (() => Promise<void>)[] = [];
  #inFlight = 0;
  #stats = { assigned: 0, drained: 0, moved: 0, children: 0, passes: 0 };
  /** A failing API server (or RBAC that forbids the list) gets fewer passes, not one a second forever. */
  readonly #retry: Backoff;

  constructor(options: SharderOptions) {
    this.#o = options;
    this.#retry = new Backoff({ initialMs: 1_000, maxMs: 30_000, ...options.retry, resetAfterMs: 0 });
  }

  get stats(): SharderStats {
    return { ...this.#stats };
  }

  /** Shards `spec` (reference-counted: controllers of the same kind and scope share it); returns the release. */
  shard(spec: ShardedSpec): () => void {
    const key = specKey(spec);
    const entry = this.#specs.get(key);
    if (entry !== undefined) entry.refs++;
    else {
      this.#specs.set(key, { spec, refs: 1 });
      if (this.#watched !== undefined) this.#watch(key, spec);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const e = this.#specs.get(key);
      if (e === undefined || --e.refs > 0) return;
      this.#specs.delete(key);
      void this.#unwatch(key);
    };
  }

  /**
   * Labels the children of `spec` with their owner's shard from the next pass on (reference-counted like
   * shard()); returns the release. A new set gets a pass soon, so children written before sharding was on
   * are adopted at once, not at the next resync.
   */
  shardChildren(spec: ChildSpec): () => void {
    const key = childSpecKey(spec);
    const entry = this.#children.get(key);
    if (entry !== undefined) entry.refs++;
    else {
      this.#children.set(key, { spec, refs: 1 });
      this.#scheduleRebalance(250);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const e = this.#children.get(key);
      if (e !== undefined && --e.refs === 0) this.#children.delete(key);
    };
  }

  /** Starts assigning and rebalancing: the replica now leads the ring, and `client` is fenced by that lead. */
  start(client: KubeClient): void {
    if (this.#watched !== undefined) return;
    this.#client = client;
    this.#watched = new Map();
    for (const [key, { spec }] of this.#specs) this.#watch(key, spec);
    this.#offMembers = this.#o.members.onChange(() => this.#membersChanged());
    this.#resyncTimer = setInterval(() => this.#scheduleRebalance(0), this.#o.resyncMs ?? 60_000);
    this.#resyncTimer.unref?.();
    this.#scheduleRebalance(0);
  }

  /** Stops at once (leadership lost or the host stopping); writes still in flight fail on the fence. */
  async stop(): Promise<void> {
    const watched = this.#watched;
    if (watched === undefined) return;
    this.#watched = undefined;
    this.#offMembers?.();
    clearInterval(this.#resyncTimer);
    clearTimeout(this.#rebalanceTimer);
    this.#waiting.length = 0;
    for (const key of [...watched.keys()]) await this.#unwatch(key, watched);
  }

  #watch(key: string, spec: ShardedSpec): void {
    const watched = this.#watched!;
    const started = this.#o.registry
      .acquire({
        apiVersion: spec.apiVersion,
        kind: spec.kind,
        ...(spec.namespace === undefined ? {} : { namespace: spec.namespace }),
        labelSelector: unassignedSelector(this.#o.labels, spec.selector),
      })
      .then(
        (handle) => {
          const off = handle.subscribe((e) => {
            if (e.type !== 'deleted') this.#assign(key, handle.resource, e.object);
          });
          return { spec, handle, off };
        },
        (err: unknown) => {
          this.#o.logger.warn({ ...errorFields(err), kind: spec.kind }, 'sharder: cannot watch unassigned objects');
          return undefined;
        },
      );
    watched.set(key, started);
  }

  async #unwatch(key: string, watched = this.#watched): Promise<void> {
    const started = watched?.get(key);
    if (started === undefined) return;
    watched!.delete(key);
    const w = await started;
    w?.off();
    w?.handle.release();
  }

  #membersChanged(): void {
    // Unassigned objects that had no live member to go to get one now.
    for (const started of this.#watched?.values() ?? []) {
      void started.then((w) => {
        if (w !== undefined) this.#assignCached(w);
      });
    }
    // Coalesces a burst of Lease changes (a rollout) into one pass.
    this.#scheduleRebalance(250);
  }

  /** Assigns every object the unassigned watch holds; those with a write of their own in flight are seen again when it ends. */
  #assignCached(w: Watched): void {
    for (const obj of w.handle.reader.list()) this.#assign(specKey(w.spec), w.handle.resource, obj);
  }

  #assign(key: string, res: ApiResource, obj: CachedObject): void {
    if (!this.#o.members.synced) return;
    const owner = ownerOf(shardKey(res.group, res.kind, obj.namespace, obj.name), this.#o.members.live());
    if (owner === undefined) return;
    this.#write(key, res, obj.namespace, obj.name, obj.resourceVersion, { [this.#o.labels.shard]: owner }, 'assigned');
  }

  /** Assigns the cached unassigned object again if the cache holds a version other than `seen` (any, when absent). */
  async #reassign(
    key: string,
    res: ApiResource,
    namespace: string | undefined,
    name: string,
    seen: string | undefined,
  ): Promise<void> {
    const w = await this.#watched?.get(key);
    const obj = w?.handle.reader.get(namespace, name);
    if (obj !== undefined && obj.resourceVersion !== seen) this.#assign(key, res, obj);
  }

  /** A pass or a write failed: the next pass after the backoff, or the server's Retry-After. */
  #retryAfter(err: unknown): void {
    this.#scheduleRebalance(this.#retry.failure(retryAfterMsOf(err)));
  }

  #scheduleRebalance(delayMs: number): void {
    if (this.#watched === undefined) return;
    clearTimeout(this.#rebalanceTimer);
    this.#rebalanceTimer = setTimeout(() => {
      this.#passes = this.#passes.then(() => this.#rebalance());
    }, delayMs);
    this.#rebalanceTimer.unref?.();
  }

  async #rebalance(): Promise<void> {
    const watched = this.#watched;
    if (watched === undefined || !this.#o.members.synced) return;
    const live = this.#o.members.live();
    if (live.length === 0) return;
    this.#stats.passes++;
    let failed = false;
    const { shard, drain } = this.#o.labels;
    for (const [key, started] of watched) {
      const w = await started;
      if (w === undefined || this.#watched !== watched) continue;
      // The pass lists only assigned objects; the unassigned ones are in memory already.
      this.#assignCached(w);
      const res = w.handle.resource;
      let page: string | undefined;
      try {
        do {
          const list = await this.#client!.list(res, {
            ...(w.spec.namespace === undefined ? {} : { namespace: w.spec.namespace }),
            labelSelector: assignedSelector(this.#o.labels, w.spec.selector).toString(),
            limit: this.#o.pageSize ?? 500,
            ...(page === undefined ? {} : { continue: page }),
          });
          for (const item of list.items) {
            const { namespace, name, labels = {}, resourceVersion } = item.metadata;
            const current = labels[shard];
            const owner = ownerOf(shardKey(res.group, res.kind, namespace, name), live);
            if (owner === undefined || current === undefined || current === owner) continue;
            if (this.#o.members.gone(current)) {
              this.#write(key, res, namespace, name, resourceVersion, { [shard]: owner, [drain]: null }, 'moved');
            } else if (labels[drain] === undefined) {
              this.#write(key, res, namespace, name, resourceVersion, { [drain]: 'true' }, 'drained');
            }
          }
          page = list.metadata.continue || undefined;
        } while (page !== undefined && this.#watched === watched);
      } catch (err) {
        this.#o.logger.warn({ ...errorFields(err), kind: res.kind }, 'sharder: rebalance pass failed; retrying');
        failed = true;
        this.#retryAfter(err);
      }
    }
    // Children after their owners: the drains are queued first, so an old owner is mostly told to stop before
    // its children leave its cache. If it reconciles once more in between, it writes back the children it
    // renders with its own label; the new owner's first apply (which skips nothing: it has no record yet) or
    // the next pass moves them again. Nothing is lost either way: a label never makes a child look unwanted.
    for (const [key, { spec }] of this.#children) {
      if (this.#watched !== watched) return;
      if (!(await this.#rebalanceChildren(key, spec, live, watched))) failed = true;
    }
    if (!failed) this.#retry.healthy();
  }

  /**
   * Every child of `spec` (labelled or not) whose label is not its owner's shard gets it, in one write.
   * False when the list failed (a retry is scheduled).
   */
  async #rebalanceChildren(
    key: string,
    spec: ChildSpec,
    live: readonly string[],
    watched: Map<string, Promise<Watched | undefined>>,
  ): Promise<boolean> {
    const { shard } = this.#o.labels;
    const res = spec.resource;
    let page: string | undefined;
    try {
      do {
        const list = await this.#client!.list(res, {
          ...(spec.namespace === undefined ? {} : { namespace: spec.namespace }),
          limit: this.#o.pageSize ?? 500,
          ...(page === undefined ? {} : { continue: page }),
        });
        for (const item of list.items) {
          const hashKey = childShardKey(item, spec.owner);
          if (hashKey === undefined) continue;
          const owner = ownerOf(hashKey, live);
          const { namespace, name, labels = {}, resourceVersion } = item.metadata;
          if (owner === undefined || labels[shard] === owner) continue;
          this.#write(key, res, namespace, name, resourceVersion, { [shard]: owner }, 'children');
        }
        page = list.metadata.continue || undefined;
      } while (page !== undefined && this.#watched === watched);
    } catch (err) {
      this.#o.logger.warn({ ...errorFields(err), kind: res.kind }, 'sharder: children pass failed; retrying');
      this.#retryAfter(err);
      return false;
    }
    return true;
  }

  /** One label patch, conditional on the resourceVersion the decision was made on. */
  #write(
    key: string,
    res: ApiResource,
    namespace: string | undefined,
    name: string,
    resourceVersion: string | undefined,
    labels: LabelPatch,
    counter: keyof Omit<SharderStats, 'passes'>,
  ): void {
    const id = `${key}|${namespace ?? ''}/${name}`;
    if (this.#pending.has(id) || this.#watched === undefined) return;
    this.#pending.add(id);
    this.#waiting.push(async () => {
      let conflict = false;
      try {
        await patchLabels(this.#client!, res, namespace, name, resourceVersion, labels);
        this.#stats[counter]++;
      } catch (err) {
        if (isWrError(err, 'WR_KUBE_CONFLICT')) {
          conflict = true;
          // The object changed since: an assigned one is seen again by the next pass.
          if (counter !== 'assigned') this.#scheduleRebalance(1_000);
        } else if (!isWrError(err, 'WR_KUBE_NOT_FOUND') && !isWrError(err, 'WR_LEADERSHIP_LOST')) {
          this.#o.logger.warn({ ...errorFields(err), kind: res.kind, namespace, name }, 'sharder: label write failed');
          this.#retryAfter(err);
        }
      } finally {
        this.#pending.delete(id);
      }
      // An unassigned object that changed while this write was on the wire had its newer version delivered
      // then, and dropped as pending: assign that version now. If it has not arrived yet, its event will.
      if (conflict && counter === 'assigned') void this.#reassign(key, res, namespace, name, resourceVersion);
      // A drain can be acknowledged before its own response is read (the old owner may be this process):
      // the unassigned object then arrived while the drain was pending, and is assigned now.
      else if (counter === 'drained') void this.#reassign(key, res, namespace, name, undefined);
    });
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight < (this.#o.writeConcurrency ?? 8) && this.#waiting.length > 0) {
      const job = this.#waiting.shift()!;
      this.#inFlight++;
      void job().finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }
}

/** A JSON merge patch of labels (null removes one), refused with WR_KUBE_CONFLICT if the object changed since `resourceVersion`. */
export async function patchLabels(
  client: KubeClient,
  res: ApiResource,
  namespace: string | undefined,
  name: string,
  resourceVersion: string | undefined,
  labels: LabelPatch,
): Promise<KubeObject> {
  return client.request<KubeObject>('PATCH', objectPath(res, namespace, name), {
    body: { metadata: { labels, ...(resourceVersion === undefined ? {} : { resourceVersion }) } },
    contentType: 'application/merge-patch+json',
  });
}

function childSpecKey(spec: ChildSpec): string {
  const { resource: r, owner } = spec;
  return `children:${r.group}/${r.version}/${r.kind}|${spec.namespace ?? '*'}|${owner.group}/${owner.kind}`;
}

function specKey(spec: ShardedSpec): string {
  return `${spec.apiVersion}/${spec.kind}|${spec.namespace ?? '*'}|${spec.selector?.toString() ?? ''}`;
}
