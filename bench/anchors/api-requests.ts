// Counts the API requests a controller makes, from the apiserver's own apiserver_request_total, diffed.
//
// The counter has no user label, so requests are attributed by what they are: the bench itself only creates
// and patches Apps (and watches), and kube-controller-manager, on these Apps' Deployments, only writes
// ReplicaSets and Deployment status with PUT. What both controllers send is server-side apply (APPLY) of
// children and App status, Events (POST, PATCH for repeats), prunes (DELETE), reads (GET, LIST), and for
// the Wasm host its WasmReconciler status. Watches are left out: the counter records a watch when it ends,
// and it costs per connection, not per object.

import { type RequestCounts, requestsBetween, scrapeRequestCounts } from '../../test/support/apiserver-requests.ts';

export { type RequestCounts, scrapeRequestCounts };

/** Whether a request of this kind comes from the controller under test (see the file comment). */
export function isControllerRequest(key: string): boolean {
  const [verb = '', path = ''] = key.split(' ');
  const [group, resource, subresource = ''] = path.split('/');
  const reads = verb === 'GET' || verb === 'LIST';
  // The counter names a server-side apply APPLY, other patches PATCH.
  const writes = verb === 'APPLY' || verb === 'PATCH';
  switch (`${group}/${resource}`) {
    case 'demo.wasmreconciler.dev/apps':
      return subresource === 'status' ? writes : reads;
    case '/configmaps':
    case 'apps/deployments':
      return subresource === '' && (reads || writes || verb === 'DELETE');
    case '/events':
    case 'events.k8s.io/events':
      return verb === 'POST' || verb === 'PATCH';
    case 'wasmreconciler.dev/wasmreconcilers':
      return verb !== 'WATCH';
    default:
      return false;
  }
}

export interface RequestDiff {
  readonly total: number;
  /** Non-zero controller counts by key, largest first: the note shows where the requests went. */
  readonly byKind: readonly (readonly [string, number])[];
}

export function controllerRequests(before: RequestCounts, after: RequestCounts): RequestDiff {
  const byKind = [...requestsBetween(before, after)].filter(([key]) => isControllerRequest(key));
  byKind.sort((a, b) => b[1] - a[1]);
  return { total: byKind.reduce((n, [, c]) => n + c, 0), byKind };
}
