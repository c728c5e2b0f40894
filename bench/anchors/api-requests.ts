// Counts the API requests a controller makes, from the apiserver's own apiserver_request_total, diffed.
//
// The counter has no user label, so requests are attributed by what they are: the bench itself only creates
// and patches Apps (and watches), and kube-controller-manager, on these Apps' Deployments, only writes
// ReplicaSets and Deployment status with PUT. What both controllers send is server-side apply (APPLY) of
// children and App status, Events (POST, PATCH for repeats), prunes (DELETE), reads (GET, LIST), and for
// the Wasm host its WasmReconciler status. Watches are left out: the counter records a watch when it ends,
// and it costs per connection, not per object.

import { type RequestOptions, request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** Request counts keyed "VERB group/resource[/subresource][ code]" ("" group for the core API; code unless 2xx). */
export type RequestCounts = ReadonlyMap<string, number>;

const SAMPLE = /^apiserver_request_total\{([^}]*)\} (\S+)$/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

export async function scrapeRequestCounts(kubeConfig: KubeConfig, server: string): Promise<RequestCounts> {
  const text = await getMetrics(kubeConfig, server);
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = SAMPLE.exec(line);
    if (match === null) continue;
    const labels = new Map<string, string>();
    for (const [, name, value] of match[1]!.matchAll(LABEL)) labels.set(name!, value!);
    const subresource = labels.get('subresource') ?? '';
    const code = labels.get('code') ?? '';
    // A refused request is still a request, and worth seeing apart: its code is part of the key.
    const key =
      `${labels.get('verb')} ${labels.get('group') ?? ''}/${labels.get('resource') ?? ''}` +
      `${subresource === '' ? '' : `/${subresource}`}${code.startsWith('2') ? '' : ` ${code}`}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(match[2]));
  }
  return counts;
}

async function getMetrics(kubeConfig: KubeConfig, server: string): Promise<string> {
  const url = new URL('/metrics', server);
  const options: RequestOptions = { hostname: url.hostname, port: url.port, path: url.pathname };
  await kubeConfig.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`GET /metrics: HTTP ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

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
  const byKind: [string, number][] = [];
  for (const [key, count] of after) {
    const delta = count - (before.get(key) ?? 0);
    if (delta > 0 && isControllerRequest(key)) byKind.push([key, delta]);
  }
  byKind.sort((a, b) => b[1] - a[1]);
  return { total: byKind.reduce((n, [, c]) => n + c, 0), byKind };
}
