// The API server's own request counter (apiserver_request_total from /metrics), scraped and diffed: how
// tests and benches count the requests a controller made, since the counter is the one place every request
// is seen. It has no user label, so callers attribute requests by what they are.

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

/** The keys whose count grew from `before` to `after`, with how much. */
export function requestsBetween(before: RequestCounts, after: RequestCounts): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [key, count] of after) {
    const moved = count - (before.get(key) ?? 0);
    if (moved > 0) delta.set(key, moved);
  }
  return delta;
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
