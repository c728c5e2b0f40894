// Adds or removes the reconciler's finalizer on a primary with compare-and-swap patches, retrying conflicts.
//
// A merge patch replaces the whole finalizers list, so each patch carries the resourceVersion it was computed
// from: a concurrent writer's finalizer can never be dropped, only make us re-read and try again.

import type { KubeObject } from '../abi/types.ts';
import { isWrError, WrError } from '../errors.ts';
import type { ExecutorClient, ObjectRef } from './ports.ts';

export type FinalizerChange = 'added' | 'removed' | 'none';

/** Three tries absorb a stale cache and one concurrent writer; beyond that the queue's backoff takes over. */
export const FINALIZER_ATTEMPTS = 3;

export async function updateFinalizer(
  client: Pick<ExecutorClient, 'get' | 'patchMetadata'>,
  primary: KubeObject,
  finalizer: string,
  intent: 'ensure' | 'release',
): Promise<FinalizerChange> {
  const change = await updateFinalizerOrGone(client, primary, finalizer, intent);
  return change === 'gone' ? 'none' : change;
}

/**
 * updateFinalizer, telling apart 'gone': the API server answered 404 for the primary, or serves a same-named
 * successor. The executor ends the reconcile there instead of writing children for an owner that is gone.
 */
export async function updateFinalizerOrGone(
  client: Pick<ExecutorClient, 'get' | 'patchMetadata'>,
  primary: KubeObject,
  finalizer: string,
  intent: 'ensure' | 'release',
): Promise<FinalizerChange | 'gone'> {
  const ref: ObjectRef = {
    apiVersion: primary.apiVersion,
    kind: primary.kind,
    namespace: primary.metadata.namespace || undefined,
    name: primary.metadata.name,
  };
  // The first attempt trusts the cache; every retry reads the API server, which is what resolves a conflict.
  let current: KubeObject | undefined = primary.metadata.resourceVersion === undefined ? undefined : primary;
  let lastConflict: WrError | undefined;
  for (let attempt = 1; attempt <= FINALIZER_ATTEMPTS; attempt++) {
    if (current === undefined) {
      current = await client.get(ref);
      // Gone, or a same-named successor: neither is the object this decision was made about.
      if (current === undefined || current.metadata.uid !== primary.metadata.uid) return 'gone';
    }
    const finalizers = current.metadata.finalizers ?? [];
    const present = finalizers.includes(finalizer);
    let next: string[];
    if (intent === 'ensure') {
      // The API server refuses new finalizers once deletion started.
      if (present || current.metadata.deletionTimestamp !== undefined) return 'none';
      next = [...finalizers, finalizer];
    } else {
      if (!present) return 'none';
      next = finalizers.filter((f) => f !== finalizer);
    }
    const resourceVersion = current.metadata.resourceVersion;
    if (resourceVersion === undefined) {
      throw new WrError('WR_KUBE_REQUEST', `${ref.kind} ${ref.name} was served without a resourceVersion`);
    }
    try {
      await client.patchMetadata(ref, { finalizers: next }, { resourceVersion });
      return intent === 'ensure' ? 'added' : 'removed';
    } catch (err) {
      if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return 'gone';
      if (!isWrError(err, 'WR_KUBE_CONFLICT')) throw err;
      lastConflict = err;
      current = undefined;
    }
  }
  throw new WrError(
    'WR_KUBE_CONFLICT',
    `${intent === 'ensure' ? 'adding' : 'removing'} finalizer ${finalizer} on ${ref.kind} ${ref.namespace ?? ''}/${ref.name} conflicted ${FINALIZER_ATTEMPTS} times`,
    { cause: lastConflict, details: { attempts: FINALIZER_ATTEMPTS } },
  );
}
