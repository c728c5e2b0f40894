// Unit tests of the elector against a scripted API server: a stalled renewal cannot hide the loss.

import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, it } from 'node:test';
import { KubeClient } from '../kube/client.ts';
import {
  type FakeApiServer,
  type RecordedRequest,
  sendJson,
  startFakeApiServer,
} from '../kube/testing/fake-api-server.ts';
import { httpTransport } from '../kube/transport.ts';
import { LeaderElector, type LeaseOptions } from './lease.ts';

const servers: FakeApiServer[] = [];
const clients: KubeClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(servers.map((s) => s.close()));
});

/** Answers the API discovery of coordination.k8s.io/v1, which the client reads before the first Lease request. */
function answeredDiscovery(req: RecordedRequest, res: ServerResponse): boolean {
  if (req.path !== '/apis/coordination.k8s.io/v1') return false;
  sendJson(res, 200, {
    kind: 'APIResourceList',
    groupVersion: 'coordination.k8s.io/v1',
    resources: [{ name: 'leases', kind: 'Lease', namespaced: true }],
  });
  return true;
}

/** Elector "a" of Lease ns/host against `server`, with no client retries; server and client closed after. */
function electorOf(
  server: FakeApiServer,
  timing: Pick<LeaseOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>,
): LeaderElector {
  servers.push(server);
  const client = new KubeClient(httpTransport({ server: server.url }), { maxRetries: 0 });
  clients.push(client);
  return new LeaderElector(client, { namespace: 'ns', name: 'host', identity: 'a', ...timing });
}

it('a renewal that never answers ends in "lost" at the renew deadline, not at the request timeout', async () => {
  let stalled = false;
  let lease: Record<string, unknown> | undefined;
  const server = await startFakeApiServer((req, res) => {
    if (answeredDiscovery(req, res)) return;
    if (stalled) return; // the path is dead: nothing answers
    if (req.method === 'GET') {
      if (lease === undefined) sendJson(res, 404, { kind: 'Status', code: 404, reason: 'NotFound' });
      else sendJson(res, 200, lease);
      return;
    }
    lease = { ...JSON.parse(req.body), metadata: { name: 'host', namespace: 'ns', resourceVersion: '1' } };
    sendJson(res, req.method === 'POST' ? 201 : 200, lease);
  });
  // The default 30 s request timeout: only the elector's own bound can end a stalled renewal in time.
  const elector = electorOf(server, { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200 });
  await elector.acquire();
  const held = elector.hold();
  await new Promise((resolve) => setTimeout(resolve, 300));
  stalled = true;
  const started = performance.now();
  assert.equal(await held, 'lost');
  const tookMs = performance.now() - started;
  assert.ok(tookMs < 2000, `lost after ${Math.round(tookMs)} ms`);
  assert.equal(elector.leading, false);
  await elector.stop();
});

it('stop() during a renewal in flight still releases the lease (no conflict with the renewal)', async () => {
  let lease: { metadata: { resourceVersion: string }; spec: Record<string, unknown> } | undefined;
  let version = 0;
  /** Set when the test wants the next renewal held in flight. */
  let holdNext = false;
  /** The held renewal: it lands when the test lets it, or just before any other write arrives. */
  let landHeld: (() => Promise<void>) | undefined;
  let renewalHeld = false;
  const write = (body: NonNullable<typeof lease>, created: boolean): [number, unknown] => {
    if (!created && body.metadata.resourceVersion !== lease?.metadata.resourceVersion) {
      return [409, { kind: 'Status', code: 409, reason: 'Conflict' }];
    }
    lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } };
    return [created ? 201 : 200, lease];
  };
  const server = await startFakeApiServer(async (req, res) => {
    if (answeredDiscovery(req, res)) return;
    if (req.method === 'GET') {
      if (lease === undefined) sendJson(res, 404, { kind: 'Status', code: 404, reason: 'NotFound' });
      else sendJson(res, 200, lease);
      return;
    }
    const body = JSON.parse(req.body) as NonNullable<typeof lease>;
    if (req.method === 'PUT' && holdNext) {
      holdNext = false;
      renewalHeld = true;
      const { promise, resolve } = Promise.withResolvers<void>();
      landHeld = async () => {
        landHeld = undefined;
        const [code, answer] = write(body, false);
        sendJson(res, code, answer);
        resolve();
      };
      return promise;
    }
    // A write that arrives while the renewal is in flight lands after it, as on a busy API server.
    await landHeld?.();
    const [code, answer] = write(body, req.method === 'POST');
    sendJson(res, code, answer);
  });
  const elector = electorOf(server, { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 100 });
  await elector.acquire();
  holdNext = true;
  const held = elector.hold();
  while (!renewalHeld) await new Promise((resolve) => setTimeout(resolve, 10));
  const stopped = elector.stop();
  await new Promise((resolve) => setTimeout(resolve, 100));
  await landHeld?.();
  await stopped;
  assert.equal(await held, 'stopped');
  assert.equal(lease?.spec.holderIdentity, '', 'released, after the renewal landed');
});
