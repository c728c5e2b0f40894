// The cache as a guest may read it: only kinds this reconciler watches, only what its permissions grant.

import { WrError } from '../errors.ts';
import type { ListQuery, ObjectRef, ReadPort } from '../runtime/index.ts';
import type { KindCaches } from './scope.ts';

/** One read grant, as WasmReconciler `spec.permissions` declares it. Empty `namespaces`: all watched ones. */
export interface ReadGrant {
  readonly apiVersion: string;
  readonly kind: string;
  readonly verbs: readonly ('get' | 'list')[];
  readonly namespaces: readonly string[];
}

/**
 * A ReadPort whose scope can be replaced while the slot keeps it: reconfiguring a reconciler swaps the
 * caches and grants under a running module without re-instantiating it.
 *
 * Reads are served from the caches the reconciler already holds (its primary, owned and related kinds),
 * so a guest read never costs an API round trip and never opens a new watch; a permitted kind that is not
 * declared as related is refused with a message saying so.
 */
export class ScopedReadPort implements ReadPort {
  #caches: ReadonlyMap<string, KindCaches> = new Map();
  #grants: readonly ReadGrant[] = [];
  /** Counted for status: how often the module was refused a read. */
  denied = 0;

  update(caches: readonly KindCaches[], grants: readonly ReadGrant[]): void {
    this.#caches = new Map(caches.map((c) => [`${c.kind.apiVersion}/${c.kind.kind}`, c]));
    this.#grants = grants;
  }

  get(ref: ObjectRef): string | undefined {
    const caches = this.#check('get', ref.apiVersion, ref.kind, ref.namespace);
    return caches.get(caches.kind.namespaced ? ref.namespace : undefined, ref.name)?.json;
  }

  list(query: ListQuery): { items: readonly string[]; scanned: number } {
    const caches = this.#check('list', query.apiVersion, query.kind, query.namespace);
    const namespace = caches.kind.namespaced ? query.namespace : undefined;
    const grant = this.#grant('list', query.apiVersion, query.kind, undefined);
    const objects = caches.list(namespace, query.labelSelector);
    // Priced by what the lookup may walk (every object of the namespace or kind), not by what matched:
    // a selector that matches nothing still scans.
    const scanned = Math.max(caches.count(namespace), 1);
    // A namespace-restricted grant without a namespace in the query lists only the granted namespaces.
    if (namespace === undefined && grant !== undefined && grant.namespaces.length > 0 && caches.kind.namespaced) {
      const allowed = new Set(grant.namespaces);
      const items = objects.filter((o) => o.namespace !== undefined && allowed.has(o.namespace)).map((o) => o.json);
      return { items, scanned };
    }
    return { items: objects.map((o) => o.json), scanned };
  }

  #grant(verb: 'get' | 'list', apiVersion: string, kind: string, namespace: string | undefined) {
    return this.#grants.find(
      (g) =>
        g.apiVersion === apiVersion &&
        g.kind === kind &&
        g.verbs.includes(verb) &&
        (namespace === undefined || g.namespaces.length === 0 || g.namespaces.includes(namespace)),
    );
  }

  #check(verb: 'get' | 'list', apiVersion: string, kind: string, namespace: string | undefined): KindCaches {
    if (this.#grant(verb, apiVersion, kind, namespace) === undefined) {
      this.denied++;
      throw new WrError('WR_CAPABILITY_DENIED', `spec.permissions grant no '${verb}' on ${apiVersion}/${kind}`, {
        details: { verb, apiVersion, kind, namespace },
      });
    }
    const caches = this.#caches.get(`${apiVersion}/${kind}`);
    if (caches === undefined) {
      this.denied++;
      throw new WrError(
        'WR_CAPABILITY_DENIED',
        `${apiVersion}/${kind} is not watched by this reconciler; declare it in spec.related to read it`,
        { details: { verb, apiVersion, kind, namespace } },
      );
    }
    return caches;
  }
}
