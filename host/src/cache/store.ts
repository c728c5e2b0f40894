// createStore(): the indexed object cache, split into a private writer and a shareable read-only reader.

import type { KubeObject } from '../abi/types.ts';
import { type Logger, silentLogger } from '../kube/logger.ts';
import { type CachedObject, toCachedObject } from './cached-object.ts';
import { lastFieldChange } from './field-change.ts';
import { Dispatcher, type Handler } from './internal/dispatcher.ts';
import { type LabelSelector, parseLabelSelector } from './label-selector.ts';
import { type Transform, withDefaultTransform } from './transform.ts';

export type StoreEvent =
  | { readonly type: 'added'; readonly object: CachedObject }
  | { readonly type: 'updated'; readonly object: CachedObject; readonly old: CachedObject }
  /** `object` is the final state: the last one the watch reported, or the last one cached before a relist. */
  | { readonly type: 'deleted'; readonly object: CachedObject };

/** Maps an object to the values it is found under in a custom index. */
export type Indexer = (obj: CachedObject) => readonly string[];

export interface StoreOptions {
  /** Runs after the default transform (managedFields and last-applied annotation are always dropped). */
  readonly transform?: Transform;
  readonly indexers?: Readonly<Record<string, Indexer>>;
  /**
   * A field (object path, one name per level) whose last change each cached object carries as
   * CachedObject.fieldChangedAt, read off metadata.managedFields before the transform drops them.
   */
  readonly trackField?: readonly string[];
  readonly logger?: Logger;
  /** Included in handler-failure logs, e.g. the resource and scope. */
  readonly name?: string;
}

export interface ListQuery {
  readonly namespace?: string;
  readonly labelSelector?: string | LabelSelector;
}

export interface SubscribeOptions {
  /** Deliver every cached object as `added` first (default true), so a late subscriber misses nothing. */
  readonly replay?: boolean;
}

/** What everyone but the reflector gets: reads and subscriptions, never writes. */
export interface StoreReader {
  get(namespace: string | undefined, name: string): CachedObject | undefined;
  list(query?: ListQuery): CachedObject[];
  /** Objects whose controller ownerReference points at `uid`. */
  byOwner(uid: string): CachedObject[];
  byIndex(index: string, value: string): CachedObject[];
  readonly size: number;
  /** Sum of cached JSON lengths in characters: the dominant, measurable part of the store's memory. */
  readonly jsonChars: number;
  readonly hasSynced: boolean;
  /** Resolves once the first complete list is in the store. */
  readonly synced: Promise<void>;
  subscribe(handler: Handler<StoreEvent>, options?: SubscribeOptions): () => void;
}

/** A relist in progress: objects are added as they arrive and swapped in at once on commit. */
export interface Resync {
  add(obj: KubeObject): void;
  /** Replaces the store's content, emitting deletes for vanished objects and updates for changed ones. */
  commit(): void;
}

/** Held only by the reflector. */
export interface StoreWriter {
  apply(obj: KubeObject): void;
  delete(obj: KubeObject): void;
  resync(): Resync;
}

export interface Store {
  readonly reader: StoreReader;
  readonly writer: StoreWriter;
}

const EMPTY: ReadonlySet<CachedObject> = new Set();

/** A multimap whose empty buckets are dropped, so memory follows the live objects only. */
class Index {
  readonly #buckets = new Map<string, Set<CachedObject>>();

  add(value: string, obj: CachedObject): void {
    let bucket = this.#buckets.get(value);
    if (bucket === undefined) {
      bucket = new Set();
      this.#buckets.set(value, bucket);
    }
    bucket.add(obj);
  }

  remove(value: string, obj: CachedObject): void {
    const bucket = this.#buckets.get(value);
    if (bucket === undefined) return;
    bucket.delete(obj);
    if (bucket.size === 0) this.#buckets.delete(value);
  }

  get(value: string): ReadonlySet<CachedObject> {
    return this.#buckets.get(value) ?? EMPTY;
  }
}

export function createStore(options: StoreOptions = {}): Store {
  const transform = withDefaultTransform(options.transform);
  const logger = options.logger ?? silentLogger;
  const objects = new Map<string, CachedObject>();
  const byNamespace = new Index();
  const byOwner = new Index();
  /** Keyed by `key=value`: equality and set-based selector requirements start from the smallest bucket. */
  const byLabel = new Index();
  const custom = new Map<string, { indexer: Indexer; index: Index }>();
  for (const [name, indexer] of Object.entries(options.indexers ?? {}))
    custom.set(name, { indexer, index: new Index() });
  const dispatcher = new Dispatcher<StoreEvent>(logger, { store: options.name });
  const namespaces = new Map<string, string>();
  const intern = (s: string): string => {
    const known = namespaces.get(s);
    if (known !== undefined) return known;
    namespaces.set(s, s);
    return s;
  };
  let jsonChars = 0;
  let hasSynced = false;
  let markSynced: () => void = () => {};
  const synced = new Promise<void>((resolve) => {
    markSynced = resolve;
  });

  const tracked = options.trackField;
  const toCached =
    tracked === undefined
      ? (obj: KubeObject): CachedObject => toCachedObject(transform(obj), intern)
      : (obj: KubeObject): CachedObject => {
          const changedAt = lastFieldChange(obj, tracked);
          return toCachedObject(transform(obj), intern, changedAt);
        };

  const link = (obj: CachedObject) => {
    objects.set(obj.key, obj);
    jsonChars += obj.json.length;
    if (obj.namespace !== undefined) byNamespace.add(obj.namespace, obj);
    if (obj.controllerUid !== undefined) byOwner.add(obj.controllerUid, obj);
    for (const [k, v] of Object.entries(obj.labels)) byLabel.add(`${k}=${v}`, obj);
    for (const { indexer, index } of custom.values()) for (const value of indexer(obj)) index.add(value, obj);
  };

  const unlink = (obj: CachedObject) => {
    objects.delete(obj.key);
    jsonChars -= obj.json.length;
    if (obj.namespace !== undefined) byNamespace.remove(obj.namespace, obj);
    if (obj.controllerUid !== undefined) byOwner.remove(obj.controllerUid, obj);
    for (const [k, v] of Object.entries(obj.labels)) byLabel.remove(`${k}=${v}`, obj);
    for (const { indexer, index } of custom.values()) for (const value of indexer(obj)) index.remove(value, obj);
  };

  /** Stores `next`, emitting added/updated; an unchanged resourceVersion is a no-op (relists, replays). */
  const put = (next: CachedObject) => {
    const old = objects.get(next.key);
    if (old !== undefined && old.resourceVersion !== undefined && old.resourceVersion === next.resourceVersion) return;
    if (old !== undefined) unlink(old);
    link(next);
    dispatcher.emit(old === undefined ? { type: 'added', object: next } : { type: 'updated', object: next, old });
  };

  const remove = (key: string, finalState: CachedObject) => {
    const old = objects.get(key);
    if (old === undefined) return;
    unlink(old);
    dispatcher.emit({ type: 'deleted', object: finalState });
  };

  const writer: StoreWriter = {
    apply(obj) {
      put(toCached(obj));
    },
    delete(obj) {
      const cached = toCached(obj);
      remove(cached.key, cached);
    },
    resync() {
      const incoming = new Map<string, CachedObject>();
      let done = false;
      return {
        add(obj) {
          if (done) throw new Error('resync already committed');
          const cached = toCached(obj);
          incoming.set(cached.key, cached);
        },
        commit() {
          if (done) throw new Error('resync already committed');
          done = true;
          for (const [key, old] of [...objects]) if (!incoming.has(key)) remove(key, old);
          for (const next of incoming.values()) put(next);
          if (!hasSynced) {
            hasSynced = true;
            markSynced();
          }
        },
      };
    },
  };

  const candidates = (namespace: string | undefined, selector: LabelSelector | undefined): Iterable<CachedObject> => {
    let best: Iterable<CachedObject> = namespace === undefined ? objects.values() : byNamespace.get(namespace);
    let bestSize = namespace === undefined ? objects.size : byNamespace.get(namespace).size;
    for (const r of selector?.requirements ?? []) {
      if (r.operator !== 'in') continue;
      const buckets = r.values.map((v) => byLabel.get(`${r.key}=${v}`));
      const size = buckets.reduce((n, b) => n + b.size, 0);
      if (size < bestSize) {
        bestSize = size;
        best = buckets.length === 1 ? buckets[0]! : buckets.flatMap((b) => [...b]);
      }
    }
    return best;
  };

  const reader: StoreReader = {
    get(namespace, name) {
      return objects.get(namespace === undefined || namespace === '' ? name : `${namespace}/${name}`);
    },
    list(query = {}) {
      const selector =
        typeof query.labelSelector === 'string' ? parseLabelSelector(query.labelSelector) : query.labelSelector;
      const namespace = query.namespace === '' ? undefined : query.namespace;
      const out: CachedObject[] = [];
      for (const obj of candidates(namespace, selector)) {
        if (namespace !== undefined && obj.namespace !== namespace) continue;
        if (selector !== undefined && !selector.matches(obj.labels)) continue;
        out.push(obj);
      }
      return out;
    },
    byOwner(uid) {
      return [...byOwner.get(uid)];
    },
    byIndex(index, value) {
      const entry = custom.get(index);
      if (entry === undefined) throw new RangeError(`store has no index named ${JSON.stringify(index)}`);
      return [...entry.index.get(value)];
    },
    get size() {
      return objects.size;
    },
    get jsonChars() {
      return jsonChars;
    },
    get hasSynced() {
      return hasSynced;
    },
    synced,
    subscribe(handler, subscribeOptions = {}) {
      const replay: StoreEvent[] =
        subscribeOptions.replay === false ? [] : [...objects.values()].map((object) => ({ type: 'added', object }));
      return dispatcher.subscribe(handler, replay);
    },
  };

  return { reader, writer };
}
