// A start-up check of the host's identity: can it list WasmReconcilers at all?
//
// Without it, a host whose RBAC grants nothing (for example deploy/'s aggregated ClusterRole on a cluster
// whose controller manager does not aggregate) starts, logs nothing at warn level, and retries its lists
// forever. One cheap list (limit=1) at start turns that into one clear line naming the code and the fix.

import { isWrError } from '../errors.ts';
import type { KubeClient } from './client.ts';
import type { Logger } from './logger.ts';

export interface AccessProblem {
  /** WR_KUBE_FORBIDDEN (403: the identity may not list them) or WR_KUBE_NOT_FOUND (404: the CRD is not installed). */
  readonly code: 'WR_KUBE_FORBIDDEN' | 'WR_KUBE_NOT_FOUND';
  readonly path: string;
  readonly message: string;
}

const WASM_RECONCILERS = '/apis/wasmreconciler.dev/v1alpha1';

/**
 * Lists at most one WasmReconciler in `namespace` (all namespaces when absent). Returns the problem when the
 * answer is 403 or 404; undefined when the list works or fails otherwise (a network error is reported, and
 * retried, by the watches themselves).
 */
export async function probeWasmReconcilerAccess(
  client: KubeClient,
  namespace?: string,
  signal?: AbortSignal,
): Promise<AccessProblem | undefined> {
  const path =
    namespace === undefined
      ? `${WASM_RECONCILERS}/wasmreconcilers`
      : `${WASM_RECONCILERS}/namespaces/${encodeURIComponent(namespace)}/wasmreconcilers`;
  try {
    await client.request('GET', path, { query: { limit: 1 }, ...(signal === undefined ? {} : { signal }) });
    return undefined;
  } catch (err) {
    if (isWrError(err, 'WR_KUBE_FORBIDDEN') || isWrError(err, 'WR_KUBE_NOT_FOUND')) {
      return { code: err.code as AccessProblem['code'], path, message: err.message };
    }
    return undefined;
  }
}

/** Runs probeWasmReconcilerAccess and logs one warn line when the host can serve nothing; never throws. */
export async function warnIfNoAccess(
  client: KubeClient,
  logger: Logger,
  namespace?: string,
  signal?: AbortSignal,
): Promise<AccessProblem | undefined> {
  const problem = await probeWasmReconcilerAccess(client, namespace, signal);
  if (problem === undefined) return undefined;
  const where = namespace === undefined ? 'in any namespace' : `in namespace ${namespace}`;
  const fix =
    problem.code === 'WR_KUBE_FORBIDDEN'
      ? 'grant this identity get/list/watch on wasmreconcilers.wasmreconciler.dev (deploy/rbac: its ClusterRole is ' +
        'aggregated, so the cluster must run the clusterrole-aggregation controller); see docs/operations.md#rbac'
      : 'install the CRD (deploy/crd/wasmreconciler.yaml)';
  logger.warn(
    { code: problem.code, path: problem.path, error: problem.message },
    `cannot list WasmReconcilers ${where} (${problem.code}): the host will serve nothing until it can; ${fix}`,
  );
  return problem;
}
