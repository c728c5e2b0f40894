// Resolves a kind to its resource (plural, scope) through API discovery, cached per group version.

import { WrError } from '../errors.ts';
import { apiVersionOf, type GroupVersionKind } from './gvk.ts';
import { type ApiResource, groupVersionPath } from './paths.ts';

/** The parts of a metav1.APIResourceList that discovery reads. */
interface ApiResourceList {
  resources?: Array<{ name?: string; kind?: string; namespaced?: boolean }>;
}

export interface DiscoveryOptions {
  /** A miss refetches the group version only if its cached copy is older than this, so typos cannot hammer. */
  readonly missRefreshMs?: number;
  /** Cached group versions older than this are refetched on the next lookup (new CRD versions, removals). */
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

interface Entry {
  readonly fetchedAt: number;
  /** kind -> resource; subresources ("pods/status") are left out. */
  readonly byKind: ReadonlyMap<string, ApiResource>;
}

export class Discovery {
  readonly #get: (path: string) => Promise<unknown>;
  readonly #missRefreshMs: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, Entry>();
  /** One fetch per group version at a time: concurrent resolves share it. */
  readonly #inflight = new Map<string, Promise<Entry>>();

  constructor(get: (path: string) => Promise<unknown>, options: DiscoveryOptions = {}) {
    this.#get = get;
    this.#missRefreshMs = options.missRefreshMs ?? 5_000;
    this.#maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** Throws WR_KUBE_NOT_FOUND (retryable: a CRD may be on its way) when the kind is not served. */
  async resolve(gvk: GroupVersionKind): Promise<ApiResource> {
    const gv = apiVersionOf(gvk);
    let entry = this.#cache.get(gv);
    if (entry === undefined || this.#now() - entry.fetchedAt > this.#maxAgeMs) entry = await this.#fetch(gvk);
    let found = entry.byKind.get(gvk.kind);
    if (found === undefined && this.#now() - entry.fetchedAt >= this.#missRefreshMs) {
      entry = await this.#fetch(gvk);
      found = entry.byKind.get(gvk.kind);
    }
    if (found === undefined) {
      throw new WrError('WR_KUBE_NOT_FOUND', `kind ${gvk.kind} is not served by ${gv}`, {
        details: { apiVersion: gv, kind: gvk.kind },
      });
    }
    return found;
  }

  /** Forgets everything, e.g. after a CRD was removed or its versions changed. */
  invalidate(): void {
    this.#cache.clear();
  }

  #fetch(gv: { group: string; version: string }): Promise<Entry> {
    const key = apiVersionOf(gv);
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    const work = (async () => {
      try {
        const list = (await this.#get(groupVersionPath(gv))) as ApiResourceList;
        const byKind = new Map<string, ApiResource>();
        for (const r of list.resources ?? []) {
          if (typeof r.name !== 'string' || typeof r.kind !== 'string' || r.name.includes('/')) continue;
          byKind.set(r.kind, {
            group: gv.group,
            version: gv.version,
            kind: r.kind,
            plural: r.name,
            namespaced: r.namespaced === true,
          });
        }
        const entry = { fetchedAt: this.#now(), byKind };
        this.#cache.set(key, entry);
        return entry;
      } finally {
        this.#inflight.delete(key);
      }
    })();
    this.#inflight.set(key, work);
    return work;
  }
}
