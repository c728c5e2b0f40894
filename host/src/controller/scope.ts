// The caches one reconciler sees: its primary, owned and related kinds, each per watched namespace.

import {
  type CachedObject,
  type CacheHandle,
  type LabelSelector,
  parseLabelSelector,
  type ReflectorRegistry,
  type StoreReader,
} from '../cache/index.ts';
import { isWrError, WrError } from '../errors.ts';
import { validateOwnedKinds } from '../executor/index.ts';
import { groupKind, type KindRef, kindKey } from '../kube/gvk.ts';
import type { Ownership } from '../sharding/index.ts';

/** What a controller watches. An empty `namespaces` list means every namespace (one cluster-wide watch). */
export interface WatchScope {
  readonly primary: {
    readonly apiVersion: string;
    readonly kind: string;
    readonly labelSelector?: LabelSelector;
    /** Set by a sharding mode whose rule the API server can filter as a field (host/src/sharding). */
    readonly fieldSelector?: string;
    /** Set by a sharding mode that reads when its rule's field last changed (CacheSpec.trackField). */
    readonly trackField?: readonly string[];
  };
  readonly namespaces: readonly string[];
  /**
   * `namespaces` is a tenancy boundary (a namespaced WasmReconciler's own namespace): every kind must be
   * namespaced, since a cluster-scoped one would be watched, read and written cluster-wide.
   */
  readonly confined?: boolean;
  readonly owns: readonly {
    readonly apiVersion: string;
    readonly kind: string;
    /** Set by a sharding mode that labels children with their primary's share (host/src/sharding). */
    readonly labelSelector?: LabelSelector;
  }[];
  readonly related: readonly {
    readonly apiVersion: string;
    readonly kind: string;
    readonly labelSelector?: LabelSelector;
  }[];
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

/**
 * Acquires (and waits for the initial list of) every handle of a scope; on any failure releases what it took.
 * Every kind is resolved first, so a kind that is not served (404) or a spec Kubernetes cannot express (a
 * namespaced primary owning a cluster-scoped kind) fails before any list is awaited. The lists are then
 * awaited together: a 403 or 404 answer fails at once, naming the missing RBAC rule or CRD; only a list that
 * is merely slow (API server busy, 5xx) uses the `syncTimeoutMs` bound.
 */
export async function acquireScope(
  registry: ReflectorRegistry,
  scope: WatchScope,
  syncTimeoutMs = 60_000,
): Promise<{ primary: KindCaches; owned: KindCaches[]; related: KindCaches[]; namespaces: readonly string[] }> {
  const taken: Acquired[] = [];
  const acquireKind = async (kind: {
    apiVersion: string;
    kind: string;
    labelSelector?: LabelSelector;
    fieldSelector?: string;
    trackField?: readonly string[];
  }) => {
    const namespaces = scope.namespaces.length === 0 ? [undefined] : scope.namespaces;
    const acquired: Acquired = { kind, handles: [], namespaces: [] };
    taken.push(acquired);
    for (const namespace of namespaces) {
      let handle: CacheHandle;
      try {
        handle = await registry.acquire({
          apiVersion: kind.apiVersion,
          kind: kind.kind,
          ...(namespace === undefined ? {} : { namespace }),
          ...(kind.labelSelector === undefined ? {} : { labelSelector: kind.labelSelector }),
          ...(kind.fieldSelector === undefined ? {} : { fieldSelector: kind.fieldSelector }),
          ...(kind.trackField === undefined ? {} : { trackField: kind.trackField }),
        });
      } catch (err) {
        throw isWrError(err, 'WR_KUBE_NOT_FOUND') ? notServed(kind, err) : err;
      }
      acquired.handles.push(handle);
      acquired.namespaces.push(handle.resource.namespaced ? namespace : undefined);
      // A cluster-scoped kind is watched once, whatever namespaces the scope names.
      if (!handle.resource.namespaced) break;
    }
    return acquired;
  };
  try {
    const primary = await acquireKind(scope.primary);
    const owned: Acquired[] = [];
    for (const kind of scope.owns) owned.push(await acquireKind(kind));
    const related: Acquired[] = [];
    for (const kind of scope.related) related.push(await acquireKind(kind));
    if (scope.confined === true) {
      confine(primary, 'spec.for', scope.namespaces);
      for (const [i, a] of owned.entries()) confine(a, `spec.owns[${i}]`, scope.namespaces);
      for (const [i, a] of related.entries()) confine(a, `spec.related[${i}]`, scope.namespaces);
    }
    validateOwnedKinds(kindRefOf(primary), owned.map(kindRefOf));
    await syncedWithin(taken, syncTimeoutMs);
    const caches = (a: Acquired) => {
      const ref = kindRefOf(a);
      return new KindCaches(ref, a.handles, ref.namespaced ? scope.namespaces : []);
    };
    return {
      primary: caches(primary),
      owned: owned.map(caches),
      related: related.map(caches),
      namespaces: scope.namespaces,
    };
  } catch (err) {
    for (const a of taken) for (const h of a.handles) h.release();
    throw err;
  }
}

interface Acquired {
  readonly kind: { readonly apiVersion: string; readonly kind: string };
  readonly handles: CacheHandle[];
  /** Per handle: the namespace it watches, undefined for all namespaces or a cluster-scoped kind. */
  readonly namespaces: (string | undefined)[];
}

function kindRefOf(a: Acquired): KindRef {
  return { apiVersion: a.kind.apiVersion, kind: a.kind.kind, namespaced: a.handles[0]!.resource.namespaced };
}

/** Refuses a cluster-scoped kind inside a tenancy boundary, before any of its lists is awaited. */
function confine(a: Acquired, path: string, namespaces: readonly string[]): void {
  if (a.handles[0]!.resource.namespaced) return;
  throw new WrError(
    'WR_SPEC_INVALID',
    `${path}: ${a.kind.apiVersion} ${a.kind.kind} is cluster-scoped, and a WasmReconciler acts only in its own ` +
      `namespace (${namespaces.join(', ')}); a ClusterWasmReconciler, which a cluster administrator creates, may ` +
      'reconcile, own or read cluster-scoped kinds',
    { details: { path, apiVersion: a.kind.apiVersion, kind: a.kind.kind } },
  );
}

function notServed(kind: { apiVersion: string; kind: string }, cause: unknown): WrError {
  return new WrError(
    'WR_KUBE_NOT_FOUND',
    `${kind.apiVersion} ${kind.kind} is not served by the API server: install the CRD for ${kind.apiVersion} ` +
      `(kind ${kind.kind}); the host retries in the background`,
    { cause, details: { apiVersion: kind.apiVersion, kind: kind.kind } },
  );
}

function forbidden(a: Acquired, handle: CacheHandle, namespace: string | undefined, cause: unknown): WrError {
  const { group, plural } = handle.resource;
  const where = namespace === undefined ? 'in all namespaces' : `in namespace ${namespace}`;
  return new WrError(
    'WR_KUBE_FORBIDDEN',
    `the host may not list ${a.kind.apiVersion} ${a.kind.kind} ${where}: grant its ServiceAccount ` +
      `{apiGroups: ["${group}"], resources: ["${plural}"], verbs: ["get", "list", "watch"]} ` +
      `(a ClusterRole labelled wasmreconciler.dev/aggregate-to-host: "true"); the host retries in the background`,
    { cause, details: { apiVersion: a.kind.apiVersion, kind: a.kind.kind, group, resource: plural } },
  );
}

/**
 * The initial lists, bounded: a kind the host may not list (RBAC) or that is not served retries forever in
 * its reflector, and a reconciler must fail visibly instead of waiting with it. A 403 or 404 from a list
 * fails at once; the timeout is for lists that are only slow.
 */
async function syncedWithin(acquired: readonly Acquired[], timeoutMs: number): Promise<void> {
  const cleanup: (() => void)[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const fatal = (a: Acquired, h: CacheHandle, namespace: string | undefined, err: unknown) => {
        if (h.hasSynced) return;
        if (isWrError(err, 'WR_KUBE_FORBIDDEN')) reject(forbidden(a, h, namespace, err));
        else if (isWrError(err, 'WR_KUBE_NOT_FOUND')) reject(notServed(a.kind, err));
      };
      for (const a of acquired) {
        a.handles.forEach((h, i) => {
          const namespace = a.namespaces[i];
          if (h.listError !== undefined) fatal(a, h, namespace, h.listError);
          const off = h.onListError?.((err) => fatal(a, h, namespace, err));
          if (off !== undefined) cleanup.push(off);
        });
      }
      const timer = setTimeout(() => {
        const waiting = acquired
          .filter((a) => a.handles.some((h) => !h.hasSynced))
          .map((a) => kindKey(a.kind.apiVersion, a.kind.kind));
        reject(
          new WrError(
            'WR_KUBE_UNAVAILABLE',
            `${waiting.join(', ')} did not finish its initial list within ${timeoutMs / 1000} s ` +
              '(the API server is slow or unreachable); the host retries in the background',
            { details: { kinds: waiting } },
          ),
        );
      }, timeoutMs);
      cleanup.push(() => clearTimeout(timer));
      Promise.all(acquired.flatMap((a) => a.handles.map((h) => h.synced))).then(() => resolve(), reject);
    });
  } finally {
    for (const off of cleanup) off();
  }
}

/**
 * `scope` with the share's label selector ANDed into the primary watch, so the API server sends only the share,
 * and the field whose last change the share's admit() reads; with the share's child selector on every owned
 * kind that no related watch caches whole (that cache holds every child already: a narrowed second one would
 * only add memory, and the children are read from the whole one as before).
 */
export function shardedScope(scope: WatchScope, ownership: Ownership | undefined): WatchScope {
  if (ownership === undefined) return scope;
  const and = (base: LabelSelector | undefined, requirement: string) => {
    const text = base?.toString() ?? '';
    return parseLabelSelector(text === '' ? requirement : `${text},${requirement}`);
  };
  let primary = scope.primary;
  if (ownership.selector !== undefined)
    primary = { ...primary, labelSelector: and(primary.labelSelector, ownership.selector) };
  if (ownership.fieldSelector !== undefined) primary = { ...primary, fieldSelector: ownership.fieldSelector };
  if (ownership.trackField !== undefined) primary = { ...primary, trackField: ownership.trackField };
  const children = ownership.children;
  if (children === undefined) return { ...scope, primary };
  const wholeRelated = new Set(
    scope.related.filter((r) => r.labelSelector === undefined).map((r) => groupKind(r.apiVersion, r.kind)),
  );
  const owns = scope.owns.map((k) =>
    wholeRelated.has(groupKind(k.apiVersion, k.kind))
      ? k
      : { ...k, labelSelector: and(k.labelSelector, children.selector) },
  );
  return { ...scope, primary, owns };
}
