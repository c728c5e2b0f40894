// The new owner's claim on a moved primary's children: each is relabelled into this node's share, and cached here, before the primary's first reconcile.
//
// Children carry their host's node label, and each host watches only its own (ownership.ts), so a primary
// that moved here arrives without its children in this host's cache. Reconciled at once, its reconciler
// would see none of them (configmap-app reports Ready=False "Creating" and announces a creation that does not
// happen) and prune none it no longer renders: those would stay, outside every host's watch, until the
// primary's deletion. The claim finds them by the owner label (CHILD_OWNER_LABEL=<the primary's UID>, which
// the executor sets beside the node label), moves each into this share with one label write (a merge patch
// conditional on the listed resourceVersion: a child changed meanwhile is listed again) and waits until this
// host's watch has delivered them. The reconcile then sees what the old owner left, and its apply of each
// child it still renders finds the node label already right.
//
// The caller (NodeOwnership.claim) decides when: once per arrival in the share, only for a primary whose
// assignment did not come with its creation and none of whose children this host caches. It runs inside the
// key's fence, after the handover gate: the old owner has stopped writing the children, and if the primary
// moves on during the claim, its remaining writes are refused.

import type { KubeObject } from '../../abi/types.ts';
import type { CachedObject } from '../../cache/index.ts';
import { isWrError } from '../../errors.ts';
import type { KubeClient } from '../../kube/index.ts';
import type { ClaimTarget } from '../policy.ts';

/** The label every child of a node-sharded host carries, set to its controller owner's UID. */
export const CHILD_OWNER_LABEL = 'sharding.wasmreconciler.dev/owner';

/** A claim's list, write and wait are tried this many times when a child changes under it (409). */
const ATTEMPTS = 3;
const PAGE = 500;

export interface ClaimOptions {
  readonly client: Pick<KubeClient, 'resource' | 'list'>;
  /** The node label and value this host's children carry (ownership.ts, nodeChildren). */
  readonly label: string;
  readonly nodeName: string;
  /** Where a cluster-scoped primary's namespaced children may be: the controller's namespaces (empty: all). */
  readonly namespaces: readonly string[];
  /** The longest the claim waits for this host's watch to deliver a relabelled child. */
  readonly cacheWaitMs: number;
}

/** What a claim did: children relabelled into this share, and whether the cache had them all before the reconcile. */
export interface ClaimResult {
  readonly relabelled: number;
  readonly cached: boolean;
}

/** Relabels `primary`'s children outside this share into it and waits (at most cacheWaitMs) until they are cached. */
export async function claimChildren(o: ClaimOptions, primary: CachedObject, target: ClaimTarget): Promise<ClaimResult> {
  const uid = primary.uid;
  if (uid === undefined) return { relabelled: 0, cached: true };
  const awaited: { readonly kind: number; readonly uid: string }[] = [];
  for (const [index, owned] of target.owned.entries()) {
    const resource = await o.client.resource(owned.kind.apiVersion, owned.kind.kind);
    for (const namespace of searchNamespaces(o, primary, resource.namespaced)) {
      for (let attempt = 1; ; attempt++) {
        try {
          for (const child of await listForeign(o, resource, namespace, uid)) {
            const ref = {
              apiVersion: owned.kind.apiVersion,
              kind: owned.kind.kind,
              namespace: child.metadata.namespace,
              name: child.metadata.name ?? '',
            };
            const patch = { labels: { [o.label]: o.nodeName } };
            const stored = await target.client
              .patchMetadata(ref, patch, { resourceVersion: child.metadata.resourceVersion ?? '' })
              .catch((err: unknown) => {
                // Gone since the list: nothing to claim of it; its siblings still are.
                if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return undefined;
                throw err;
              });
            if (stored !== undefined) awaited.push({ kind: index, uid: stored.metadata.uid ?? '' });
          }
          break;
        } catch (err) {
          // Changed since the list: list again (what was relabelled is no longer listed), a few times.
          if (!isWrError(err, 'WR_KUBE_CONFLICT') || attempt === ATTEMPTS) throw err;
        }
      }
    }
  }
  const cached = await cachedWithin(o.cacheWaitMs, target, primary, awaited);
  return { relabelled: awaited.length, cached };
}

/** Where the primary's children of a kind may be: its own namespace, the controller's, or the whole cluster. */
function searchNamespaces(
  o: ClaimOptions,
  primary: CachedObject,
  namespaced: boolean,
): readonly (string | undefined)[] {
  if (!namespaced) return [undefined];
  if (primary.namespace !== undefined && primary.namespace !== '') return [primary.namespace];
  return o.namespaces.length === 0 ? [undefined] : o.namespaces;
}

/** The primary's children (controller owner `uid`) of one kind in one namespace that carry another share's label. */
async function listForeign(
  o: ClaimOptions,
  resource: Awaited<ReturnType<ClaimOptions['client']['resource']>>,
  namespace: string | undefined,
  uid: string,
): Promise<KubeObject[]> {
  const found: KubeObject[] = [];
  let next: string | undefined;
  do {
    const page = await o.client.list(resource, {
      labelSelector: `${CHILD_OWNER_LABEL}=${uid},${o.label}!=${o.nodeName}`,
      limit: PAGE,
      ...(namespace === undefined ? {} : { namespace }),
      ...(next === undefined ? {} : { continue: next }),
    });
    // The label is the host's, but anyone may write labels: only the primary's controlled children are its.
    for (const item of page.items) {
      if (item.metadata.ownerReferences?.some((r) => r.controller === true && r.uid === uid)) found.push(item);
    }
    next = page.metadata.continue || undefined;
  } while (next !== undefined);
  return found;
}

/** Resolves true once every awaited child is in its kind's cache under the primary, false after `ms`. */
function cachedWithin(
  ms: number,
  target: ClaimTarget,
  primary: CachedObject,
  awaited: readonly { readonly kind: number; readonly uid: string }[],
): Promise<boolean> {
  const ns = primary.namespace === '' ? undefined : primary.namespace;
  const namespace = (kind: number) => (target.owned[kind]!.kind.namespaced ? ns : undefined);
  const missing = () =>
    awaited.some(
      (a) => !target.owned[a.kind]!.byOwner(primary.uid ?? '', namespace(a.kind)).some((c) => c.uid === a.uid),
    );
  if (!missing()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const offs: (() => void)[] = [];
    const done = (cached: boolean) => {
      clearTimeout(timer);
      for (const off of offs) off();
      resolve(cached);
    };
    const timer = setTimeout(() => done(false), ms);
    for (const owned of target.owned) {
      for (const handle of owned.handles)
        offs.push(handle.subscribe(() => !missing() && done(true), { replay: false }));
    }
  });
}
