// The caches one reconciler sees: its primary, owned and related kinds, each per watched namespace.

import type { CachedObject, CacheHandle, LabelSelector, ReflectorRegistry, StoreReader } from '../cache/index.ts';
import { WrError } from '../errors.ts';
import type { KindRef } from '../executor/index.ts';

/** What a controller watches. An empty `namespaces` list means every namespace (one cluster-wide watch). */
export interface WatchScope {
  readonly primary: { readonly apiVersion: string; readonly kind: string; readonly labelSelector?: LabelSelector };
  readonly namespaces: readonly string[];
  readonly owns: readonly { readonly apiVersion: string; readonly kind: string }[];
  readonly related: readonly {
    readonly apiVersion: string;
    readonly kind: string;
    readonly labelSelector?: LabelSelector;
  }[];
}

/** The key of a kind in the reconcile input and in scopes: "apiVersion/kind". */
export function kindKey(kind: { readonly apiVersion: string; readonly kind: string }): string {
  return `${kind.apiVersion}/${kind.kind}`;
}

/**
 * The handles of one kind across the watched namespaces, read as one store. Reads route by namespace,
 * so a get never scans a foreign namespace's cache.
 */
export class KindCaches {
  readonly kind: KindRef;
  readonly handles: readonly CacheHandle[];
  readonly #byNamespace: ReadonlyMap<string, StoreReader> | undefined;

  constructor(kind: KindRef, handles: readonly CacheHandle[], namespaces: readonly string[]) {
    this.kind = kind;
    this.handles = handles;
    // Per-namespace handles when the scope names namespaces; one cluster-wide handle otherwise.
    this.#byNamespace =
      namespaces.length === 0 || !kind.namespaced
        ? undefined
        : new Map(namespaces.map((ns, i) => [ns, handles[i]!.reader] as const));
  }

  get(namespace: string | undefined, name: string): CachedObject | undefined {
    return this.#reader(namespace)?.get(namespace, name);
  }

  list(namespace: string | undefined, labelSelector?: LabelSelector): CachedObject[] {
    const query = {
      ...(labelSelector === undefined ? {} : { labelSelector }),
      ...(namespace === undefined ? {} : { namespace }),
    };
    if (namespace !== undefined) return this.#reader(namespace)?.list(query) ?? [];
    return this.handles.flatMap((h) => h.reader.list(query));
  }

  /** Objects a list of `namespace` (undefined: every namespace in scope) may have to walk. */
  count(namespace: string | undefined): number {
    if (namespace !== undefined) return this.#reader(namespace)?.size ?? 0;
    return this.handles.reduce((n, h) => n + h.reader.size, 0);
  }

  /**
   * Objects whose controller owner has `uid`. Without a namespace every handle is asked: the reconcile
   * snapshot knows only the owner's UID, and UIDs are unique across namespaces, so this is exact.
   */
  byOwner(uid: string, namespace: string | undefined): CachedObject[] {
    if (namespace === undefined) return this.handles.flatMap((h) => h.reader.byOwner(uid));
    return this.#reader(namespace)?.byOwner(uid) ?? [];
  }

  #reader(namespace: string | undefined): StoreReader | undefined {
    if (this.#byNamespace === undefined) return this.handles[0]?.reader;
    return namespace === undefined ? undefined : this.#byNamespace.get(namespace);
  }

  release(): void {
    for (const h of this.handles) h.release();
  }
}

/** Acquires (and waits for the initial list of) every handle of a scope; on any failure releases what it took. */
export async function acquireScope(
  registry: ReflectorRegistry,
  scope: WatchScope,
  syncTimeoutMs = 60_000,
): Promise<{ primary: KindCaches; owned: KindCaches[]; related: KindCaches[] }> {
  const taken: KindCaches[] = [];
  const acquireKind = async (kind: { apiVersion: string; kind: string; labelSelector?: LabelSelector }) => {
    const namespaces = scope.namespaces.length === 0 ? [undefined] : scope.namespaces;
    const handles: CacheHandle[] = [];
    try {
      for (const namespace of namespaces) {
        const handle = await registry.acquire({
          apiVersion: kind.apiVersion,
          kind: kind.kind,
          ...(namespace === undefined ? {} : { namespace }),
          ...(kind.labelSelector === undefined ? {} : { labelSelector: kind.labelSelector }),
        });
        handles.push(handle);
        // A cluster-scoped kind is watched once, whatever namespaces the scope names.
        if (!handle.resource.namespaced) break;
      }
      await syncedWithin(handles, kind, syncTimeoutMs);
    } catch (err) {
      for (const h of handles) h.release();
      throw err;
    }
    const resource = handles[0]!.resource;
    const caches = new KindCaches(
      { apiVersion: kind.apiVersion, kind: kind.kind, namespaced: resource.namespaced },
      handles,
      resource.namespaced ? scope.namespaces : [],
    );
    taken.push(caches);
    return caches;
  };
  try {
    const primary = await acquireKind(scope.primary);
    const owned: KindCaches[] = [];
    for (const kind of scope.owns) owned.push(await acquireKind(kind));
    const related: KindCaches[] = [];
    for (const kind of scope.related) related.push(await acquireKind(kind));
    return { primary, owned, related };
  } catch (err) {
    for (const caches of taken) caches.release();
    throw err;
  }
}

/**
 * The initial lists, bounded: a kind the host may not list (RBAC) or that is not served retries forever in
 * its reflector, and a reconciler must fail visibly instead of waiting with it.
 */
async function syncedWithin(
  handles: readonly CacheHandle[],
  kind: { apiVersion: string; kind: string },
  timeoutMs: number,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new WrError(
            'WR_KUBE_UNAVAILABLE',
            `${kind.apiVersion}/${kind.kind} did not finish its initial list within ${timeoutMs / 1000} s; ` +
              "check that the host's RBAC allows list and watch on it",
            { details: { apiVersion: kind.apiVersion, kind: kind.kind } },
          ),
        ),
      timeoutMs,
    );
  });
  try {
    await Promise.race([Promise.all(handles.map((h) => h.synced)), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
