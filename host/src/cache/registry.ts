// ReflectorRegistry: one reference-counted reflector and store per (kind, namespace scope, label selector, field selector).

import type { KubeClient } from '../kube/client.ts';
import { apiVersionOf, gvkOf } from '../kube/gvk.ts';
import { type Logger, silentLogger } from '../kube/logger.ts';
import type { ApiResource } from '../kube/paths.ts';
import { type Reflector, reflector } from '../watch/reflector.ts';
import { type WatchClient, type WatcherOptions, type WatcherStats, watcher } from '../watch/watcher.ts';
import type { Handler } from './internal/dispatcher.ts';
import { type LabelSelector, parseLabelSelector } from './label-selector.ts';
import { createStore, type Indexer, type StoreEvent, type StoreReader, type SubscribeOptions } from './store.ts';
import type { Transform } from './transform.ts';

export interface CacheSpec {
  readonly apiVersion: string;
  readonly kind: string;
  /** Omitted or "": all namespaces. Ignored for cluster-scoped kinds. */
  readonly namespace?: string;
  readonly labelSelector?: string | LabelSelector;
  /** A field selector the API server applies (e.g. `spec.nodeName=edge-1`); none when absent. */
  readonly fieldSelector?: string;
  /**
   * A field whose last change every cached object carries (StoreOptions.trackField). It keys the cache too:
   * objects already cached without it cannot get it back, their managedFields are gone.
   */
  readonly trackField?: readonly string[];
}

/** One consumer's share of a cache. Release it exactly once; subscriptions made through it end with it. */
export interface CacheHandle {
  readonly resource: ApiResource;
  readonly reader: StoreReader;
  readonly hasSynced: boolean;
  readonly synced: Promise<void>;
  /** The error of the latest list attempt when it failed (cleared by a list that succeeds). */
  readonly listError?: unknown;
  /** Called on every failed list attempt (the reflector retries on its own), until the returned function. */
  onListError?(listener: (err: unknown) => void): () => void;
  subscribe(handler: Handler<StoreEvent>, options?: SubscribeOptions): () => void;
  release(): void;
}

export interface CacheEntryStats {
  readonly key: string;
  readonly refs: number;
  readonly objects: number;
  readonly jsonChars: number;
  readonly hasSynced: boolean;
  readonly watch: Readonly<WatcherStats>;
}

export interface ReflectorRegistryOptions {
  readonly logger?: Logger;
  readonly watcher?: Omit<WatcherOptions, 'signal' | 'logger'>;
  /** Applied to every cached object after the default transform. */
  readonly transform?: Transform;
  readonly indexers?: Readonly<Record<string, Indexer>>;
}

/** Watches need list/watch; resolving a kind needs discovery. */
export type RegistryClient = WatchClient & Pick<KubeClient, 'resource'>;

interface Entry {
  readonly key: string;
  readonly reader: StoreReader;
  readonly reflector: Reflector;
  readonly stop: AbortController;
  readonly lists: ListOutcome;
  refs: number;
}

/** What the reflector's list calls answered, for consumers that must tell "forbidden" from "slow". */
interface ListOutcome {
  error: unknown;
  readonly listeners: Set<(err: unknown) => void>;
}

export class ReflectorRegistry {
  readonly #client: RegistryClient;
  readonly #options: ReflectorRegistryOptions;
  readonly #logger: Logger;
  readonly #entries = new Map<string, Entry>();
  /** Stopped reflectors still winding down, so close() can wait for their connections to end. */
  readonly #stopping = new Set<Promise<void>>();

  constructor(client: RegistryClient, options: ReflectorRegistryOptions = {}) {
    this.#client = client;
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Resolves the kind (WR_KUBE_NOT_FOUND if not served), then shares or starts its reflector. */
  async acquire(spec: CacheSpec): Promise<CacheHandle> {
    const gvk = gvkOf(spec);
    const selector =
      typeof spec.labelSelector === 'string' ? parseLabelSelector(spec.labelSelector) : spec.labelSelector;
    const resource = await this.#client.resource(apiVersionOf(gvk), gvk.kind);
    const namespace =
      resource.namespaced && spec.namespace !== undefined && spec.namespace !== '' ? spec.namespace : undefined;
    const selectorText = selector?.toString() ?? '';
    const fields = spec.fieldSelector ?? '';
    const tracked = spec.trackField;
    // A field selector and a tracked field, both rare, key a fourth and a fifth part; keys without them read
    // as they always have.
    const extra =
      (fields === '' && tracked === undefined ? '' : `|${fields}`) +
      (tracked === undefined ? '' : `|${JSON.stringify(tracked)}`);
    const key = `${apiVersionOf(resource)}/${resource.kind}|${namespace ?? '*'}|${selectorText}${extra}`;
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = this.#start(key, resource, namespace, selectorText, fields, tracked);
      this.#entries.set(key, entry);
    }
    entry.refs++;
    return this.#handle(entry, resource);
  }

  /** Per shared reflector: who uses it, what it holds, and its list/watch counters (for metrics and tests). */
  stats(): CacheEntryStats[] {
    return [...this.#entries.values()].map((e) => ({
      key: e.key,
      refs: e.refs,
      objects: e.reader.size,
      jsonChars: e.reader.jsonChars,
      hasSynced: e.reflector.hasSynced,
      watch: e.reflector.stats,
    }));
  }

  /** Stops every reflector regardless of references and waits for their connections to close. */
  async close(): Promise<void> {
    for (const entry of [...this.#entries.values()]) this.#stopEntry(entry);
    await Promise.all(this.#stopping);
  }

  #start(
    key: string,
    resource: ApiResource,
    namespace: string | undefined,
    selector: string,
    fields: string,
    trackField: readonly string[] | undefined,
  ): Entry {
    const stop = new AbortController();
    const logger = this.#logger;
    const store = createStore({
      logger,
      name: key,
      ...(trackField === undefined ? {} : { trackField }),
      ...(this.#options.transform !== undefined ? { transform: this.#options.transform } : {}),
      ...(this.#options.indexers !== undefined ? { indexers: this.#options.indexers } : {}),
    });
    const lists: ListOutcome = { error: undefined, listeners: new Set() };
    const client = this.#client;
    const observed: WatchClient = {
      list: async (res, options) => {
        try {
          const page = await client.list(res, options);
          lists.error = undefined;
          return page;
        } catch (err) {
          if (!stop.signal.aborted) {
            lists.error = err;
            for (const listener of [...lists.listeners]) listener(err);
          }
          throw err;
        }
      },
      watch: (res, options) => client.watch(res, options),
    };
    const source = watcher(
      observed,
      {
        resource,
        ...(namespace !== undefined ? { namespace } : {}),
        ...(selector !== '' ? { labelSelector: selector } : {}),
        ...(fields !== '' ? { fieldSelector: fields } : {}),
      },
      { ...this.#options.watcher, logger, signal: stop.signal },
    );
    logger.debug({ cache: key }, 'starting shared reflector');
    return {
      key,
      reader: store.reader,
      reflector: reflector(store.writer, source, { logger, name: key }),
      stop,
      lists,
      refs: 0,
    };
  }

  #stopEntry(entry: Entry): void {
    if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
    entry.stop.abort();
    const done = entry.reflector.done;
    this.#stopping.add(done);
    void done.then(() => this.#stopping.delete(done));
    this.#logger.debug({ cache: entry.key }, 'stopped shared reflector');
  }

  #handle(entry: Entry, resource: ApiResource): CacheHandle {
    const subscriptions = new Set<() => void>();
    let released = false;
    return {
      resource,
      reader: entry.reader,
      get hasSynced() {
        return entry.reflector.hasSynced;
      },
      synced: entry.reflector.synced,
      get listError() {
        return entry.lists.error;
      },
      onListError: (listener) => {
        entry.lists.listeners.add(listener);
        return () => entry.lists.listeners.delete(listener);
      },
      subscribe: (handler, options) => {
        if (released) throw new Error('cache handle already released');
        const unsubscribe = entry.reader.subscribe(handler, options);
        subscriptions.add(unsubscribe);
        return () => {
          subscriptions.delete(unsubscribe);
          unsubscribe();
        };
      },
      release: () => {
        if (released) return;
        released = true;
        for (const unsubscribe of subscriptions) unsubscribe();
        subscriptions.clear();
        entry.refs--;
        if (entry.refs === 0) this.#stopEntry(entry);
      },
    };
  }
}
