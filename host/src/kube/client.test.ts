// Unit tests of KubeClient against a scripted local HTTP server: error mapping, retries, SSA, watches.

import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, describe, it } from 'node:test';
import { isWrError, WrError } from '../errors.ts';
import { KubeClient } from './client.ts';
import type { ApiResource } from './paths.ts';
import {
  beginWatch,
  type FakeApiServer,
  type Handler,
  kubeStatus,
  sendJson,
  startFakeApiServer,
  writeEvent,
} from './testing/fake-api-server.ts';
import { httpTransport } from './transport.ts';

const configMaps: ApiResource = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };

const servers: FakeApiServer[] = [];
const clients: KubeClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(servers.map((s) => s.close()));
});

async function setup(handler: Handler, options: ConstructorParameters<typeof KubeClient>[1] = {}) {
  const server = await startFakeApiServer(handler);
  servers.push(server);
  const client = new KubeClient(httpTransport({ server: server.url }), options);
  clients.push(client);
  return { server, client };
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<WrError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof WrError, `expected WrError, got ${String(err)}`);
    assert.equal(err.code, code);
    return err;
  }
  assert.fail(`expected rejection with ${code}`);
}

describe('KubeClient errors', () => {
  const table: Array<[number, string]> = [
    [409, 'WR_KUBE_CONFLICT'],
    [410, 'WR_KUBE_GONE'],
    [403, 'WR_KUBE_FORBIDDEN'],
    [404, 'WR_KUBE_NOT_FOUND'],
    [400, 'WR_KUBE_INVALID'],
    [422, 'WR_KUBE_INVALID'],
    [429, 'WR_KUBE_UNAVAILABLE'],
    [500, 'WR_KUBE_UNAVAILABLE'],
    [503, 'WR_KUBE_UNAVAILABLE'],
    [401, 'WR_KUBE_REQUEST'],
  ];
  for (const [status, code] of table) {
    it(`maps HTTP ${status} to ${code} with the Status reason`, async () => {
      const { client } = await setup((_req, res) =>
        sendJson(res, status, kubeStatus(status, 'SomeReason', 'told you')),
      );
      const err = await rejectsWith(client.get(configMaps, 'ns', 'a'), code);
      assert.equal(err.details?.reason, 'SomeReason');
      assert.equal(err.details?.httpStatus, status);
      assert.match(err.message, /told you/);
    });
  }

  it('carries validation causes from a 422', async () => {
    const { client } = await setup((_req, res) =>
      sendJson(res, 422, {
        ...kubeStatus(422, 'Invalid', 'bad'),
        details: { causes: [{ reason: 'FieldValueInvalid', field: 'metadata.name', message: 'nope' }] },
      }),
    );
    const err = await rejectsWith(client.get(configMaps, 'ns', 'a'), 'WR_KUBE_INVALID');
    assert.deepEqual(err.details?.causes, [{ reason: 'FieldValueInvalid', field: 'metadata.name', message: 'nope' }]);
  });

  it('maps a non-Status error body and a refused connection to typed errors', async () => {
    const { client } = await setup((_req, res) => {
      res.writeHead(502, { 'Content-Type': 'text/html' });
      res.end('<html>bad gateway</html>');
    });
    await rejectsWith(client.get(configMaps, 'ns', 'a'), 'WR_KUBE_UNAVAILABLE');
    const dead = await startFakeApiServer(() => {});
    await dead.close();
    const orphan = new KubeClient(httpTransport({ server: dead.url }));
    clients.push(orphan);
    const err = await rejectsWith(orphan.get(configMaps, 'ns', 'a'), 'WR_KUBE_UNAVAILABLE');
    assert.equal(err.details?.errno, 'ECONNREFUSED');
  });

  it('retries 429 with Retry-After and then succeeds', async () => {
    let calls = 0;
    const { client } = await setup((_req, res) => {
      calls++;
      if (calls < 3) sendJson(res, 429, kubeStatus(429, 'TooManyRequests', 'slow down'), { 'Retry-After': '0' });
      else sendJson(res, 200, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } });
    });
    const obj = await client.get(configMaps, 'ns', 'a');
    assert.equal(obj.metadata.name, 'a');
    assert.equal(calls, 3);
  });

  it('does not retry a 5xx without Retry-After and reports the hint when it is too long', async () => {
    let calls = 0;
    const { client } = await setup(
      (_req, res) => {
        calls++;
        sendJson(res, 503, kubeStatus(503, 'ServiceUnavailable', 'later'), calls === 1 ? {} : { 'Retry-After': '120' });
      },
      { maxRetryWaitMs: 1000 },
    );
    await rejectsWith(client.get(configMaps, 'ns', 'a'), 'WR_KUBE_UNAVAILABLE');
    assert.equal(calls, 1);
    const err = await rejectsWith(client.get(configMaps, 'ns', 'a'), 'WR_KUBE_UNAVAILABLE');
    assert.equal(err.details?.retryAfterMs, 120_000);
    assert.equal(calls, 2);
  });

  it('times out a request whose answer never comes', async () => {
    const { client } = await setup(() => {}, { requestTimeoutMs: 50 });
    const err = await rejectsWith(client.get(configMaps, 'ns', 'a'), 'WR_KUBE_UNAVAILABLE');
    assert.match(err.message, /timed out/);
  });

  it('refuses an answer larger than the limit', async () => {
    const { client } = await setup((_req, res) => sendJson(res, 200, { pad: 'x'.repeat(4096) }), {
      maxResponseBytes: 1024,
    });
    await rejectsWith(client.get(configMaps, 'ns', 'a'), 'WR_KUBE_REQUEST');
  });

  it('rejects path segments that would change the URL', async () => {
    const { client, server } = await setup((_req, res) => sendJson(res, 200, {}));
    await rejectsWith(client.get(configMaps, 'ns', '../secrets'), 'WR_KUBE_INVALID');
    await rejectsWith(client.get(configMaps, undefined, 'a'), 'WR_KUBE_INVALID');
    assert.equal(server.requests.length, 0);
  });
});

describe('KubeClient writes', () => {
  const discoveryAnd =
    (rest: Handler): Handler =>
    (req, res) => {
      if (req.path === '/api/v1') {
        sendJson(res, 200, {
          kind: 'APIResourceList',
          groupVersion: 'v1',
          resources: [
            { name: 'configmaps', kind: 'ConfigMap', namespaced: true },
            { name: 'namespaces', kind: 'Namespace', namespaced: false },
            { name: 'namespaces/status', kind: 'Namespace', namespaced: false },
          ],
        });
        return;
      }
      return rest(req, res);
    };

  it('server-side applies with the apply-patch content type, field manager and force', async () => {
    const { client, server } = await setup(discoveryAnd((req, res) => sendJson(res, 200, JSON.parse(req.body))));
    const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'ns' }, data: { k: 'v' } };
    const out = await client.apply(obj, { fieldManager: 'wr-test', force: true });
    assert.deepEqual(out, obj);
    const patch = server.requests.find((r) => r.method === 'PATCH');
    assert.ok(patch);
    assert.equal(patch.path, '/api/v1/namespaces/ns/configmaps/a');
    assert.equal(patch.headers['content-type'], 'application/apply-patch+yaml');
    assert.equal(patch.query.get('fieldManager'), 'wr-test');
    assert.equal(patch.query.get('force'), 'true');
  });

  it('patches status through the status subresource with only the status fields', async () => {
    const { client, server } = await setup(discoveryAnd((req, res) => sendJson(res, 200, JSON.parse(req.body))));
    await client.patchStatus(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n1' } },
      { phase: 'Active' },
      { fieldManager: 'wr-status' },
    );
    const patch = server.requests.find((r) => r.method === 'PATCH');
    assert.ok(patch);
    assert.equal(patch.path, '/api/v1/namespaces/n1/status');
    assert.equal(patch.query.get('force'), null);
    assert.deepEqual(JSON.parse(patch.body), {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'n1' },
      status: { phase: 'Active' },
    });
  });

  it('deletes with a propagation policy and preconditions, and creates', async () => {
    const { client, server } = await setup((req, res) =>
      sendJson(res, 200, req.body === '' ? {} : JSON.parse(req.body)),
    );
    await client.delete(configMaps, 'ns', 'a', { propagationPolicy: 'Foreground', preconditions: { uid: 'u1' } });
    const del = server.requests[0];
    assert.ok(del);
    assert.equal(del.method, 'DELETE');
    assert.deepEqual(JSON.parse(del.body), {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      propagationPolicy: 'Foreground',
      preconditions: { uid: 'u1' },
    });
    await client.create(configMaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b', namespace: 'ns' } });
    assert.equal(server.requests[1]?.method, 'POST');
    assert.equal(server.requests[1]?.path, '/api/v1/namespaces/ns/configmaps');
  });

  it('resolves kinds through discovery, caches them, and refetches on a miss', async () => {
    let now = 0;
    let served = [{ name: 'widgets', kind: 'Widget', namespaced: true }];
    const server = await startFakeApiServer((req, res) => {
      if (req.path === '/apis/example.com/v1') sendJson(res, 200, { resources: served });
      else sendJson(res, 404, kubeStatus(404, 'NotFound', 'no such group'));
    });
    servers.push(server);
    const client = new KubeClient(httpTransport({ server: server.url }), {
      discovery: { missRefreshMs: 1000, now: () => now },
    });
    clients.push(client);
    const widget = await client.resource('example.com/v1', 'Widget');
    assert.deepEqual(widget, {
      group: 'example.com',
      version: 'v1',
      kind: 'Widget',
      plural: 'widgets',
      namespaced: true,
    });
    await client.resource('example.com/v1', 'Widget');
    assert.equal(server.requests.length, 1);
    served = [...served, { name: 'gadgets', kind: 'Gadget', namespaced: false }];
    await rejectsWith(client.resource('example.com/v1', 'Gadget'), 'WR_KUBE_NOT_FOUND');
    assert.equal(server.requests.length, 1, 'a miss right after a fetch does not refetch');
    now = 2000;
    const gadget = await client.resource('example.com/v1', 'Gadget');
    assert.equal(gadget.namespaced, false);
    assert.equal(server.requests.length, 2);
    await rejectsWith(client.resource('other.io/v1', 'Thing'), 'WR_KUBE_NOT_FOUND');
    await rejectsWith(client.resource('a/b/c', 'Thing'), 'WR_KUBE_INVALID');
  });
});

describe('KubeClient list and watch', () => {
  it('fills apiVersion and kind into list items', async () => {
    const { client, server } = await setup((_req, res) =>
      sendJson(res, 200, {
        kind: 'ConfigMapList',
        metadata: { resourceVersion: '5' },
        items: [{ metadata: { name: 'a' } }],
      }),
    );
    const list = await client.list(configMaps, { namespace: 'ns', limit: 10, labelSelector: 'app=x' });
    assert.equal(list.items[0]?.apiVersion, 'v1');
    assert.equal(list.items[0]?.kind, 'ConfigMap');
    assert.equal(server.requests[0]?.query.get('limit'), '10');
    assert.equal(server.requests[0]?.query.get('labelSelector'), 'app=x');
  });

  it('streams events split across chunks and throws ERROR 410 as WR_KUBE_GONE', async () => {
    const { client, server } = await setup((_req, res) => {
      beginWatch(res);
      const first = JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '2' } } });
      res.write(first.slice(0, 10));
      setTimeout(() => {
        res.write(`${first.slice(10)}\n{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"3"}}}\n`);
        writeEvent(res, 'ERROR', kubeStatus(410, 'Expired', 'too old resource version'));
      }, 5);
    });
    const stream = await client.watch(configMaps, { namespace: 'ns', resourceVersion: '1', allowWatchBookmarks: true });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of stream) seen.push(`${event.type}:${event.object.metadata.resourceVersion}`);
      })(),
      (err) => isWrError(err, 'WR_KUBE_GONE'),
    );
    assert.deepEqual(seen, ['ADDED:2', 'BOOKMARK:3']);
    const query = server.requests[0]?.query;
    assert.equal(query?.get('watch'), 'true');
    assert.equal(query?.get('allowWatchBookmarks'), 'true');
    assert.equal(query?.get('resourceVersion'), '1');
  });

  it('rejects the watch call itself on an HTTP error', async () => {
    const { client } = await setup((_req, res) => sendJson(res, 410, kubeStatus(410, 'Gone', 'gone')));
    await rejectsWith(client.watch(configMaps, {}), 'WR_KUBE_GONE');
  });

  it('surfaces the abort reason when the caller aborts a running watch', async () => {
    const { client } = await setup((_req, res) => beginWatch(res));
    const ctl = new AbortController();
    const stream = await client.watch(configMaps, { signal: ctl.signal });
    const reason = new WrError('WR_WATCH_STALLED', 'silent');
    setTimeout(() => ctl.abort(reason), 5);
    await assert.rejects(
      (async () => {
        for await (const _ of stream) assert.fail('no event expected');
      })(),
      (err) => err === reason,
    );
  });

  it('treats a stream cut mid-event as unavailable', async () => {
    const { client } = await setup((_req, res) => {
      beginWatch(res);
      res.end('{"type":"ADDED","obj');
    });
    const stream = await client.watch(configMaps, {});
    await assert.rejects(
      (async () => {
        for await (const _ of stream) assert.fail('no event expected');
      })(),
      (err) => isWrError(err, 'WR_KUBE_UNAVAILABLE'),
    );
  });
});

describe('KubeClient write fence', () => {
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'ns' } };

  it('sends no write once the fence is aborted, keeps reading, and leaves the unfenced client alone', async () => {
    const seen: string[] = [];
    const { client } = await setup((req, res) => {
      seen.push(`${req.method} ${req.path}`);
      sendJson(res, 200, cm);
    });
    const fence = new AbortController();
    const fenced = client.withWriteFence(fence.signal);
    await fenced.create(configMaps, cm);
    fence.abort(new WrError('WR_LEADERSHIP_LOST', 'lost'));
    await rejectsWith(fenced.create(configMaps, cm), 'WR_LEADERSHIP_LOST');
    await rejectsWith(fenced.replace(configMaps, cm), 'WR_LEADERSHIP_LOST');
    await rejectsWith(fenced.delete(configMaps, 'ns', 'a'), 'WR_LEADERSHIP_LOST');
    await rejectsWith(
      fenced.request('PATCH', '/api/v1/namespaces/ns/configmaps/a', { body: {} }),
      'WR_LEADERSHIP_LOST',
    );
    await fenced.get(configMaps, 'ns', 'a');
    await client.replace(configMaps, cm);
    assert.deepEqual(seen, [
      'POST /api/v1/namespaces/ns/configmaps',
      'GET /api/v1/namespaces/ns/configmaps/a',
      'PUT /api/v1/namespaces/ns/configmaps/a',
    ]);
  });

  it('aborts a write in flight when the fence closes', async () => {
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    const { client } = await setup(() => arrived()); // never answers
    const fence = new AbortController();
    const pending = client.withWriteFence(fence.signal).create(configMaps, cm);
    await arrival;
    const started = performance.now();
    fence.abort(new WrError('WR_LEADERSHIP_LOST', 'lost'));
    await rejectsWith(pending, 'WR_LEADERSHIP_LOST');
    assert.ok(performance.now() - started < 1000);
  });

  it("follows the caller's signal beside the fence, and lets go of both once a write ends", async () => {
    let arrived!: () => void;
    let arrival = new Promise<void>((resolve) => (arrived = resolve));
    let answer = true;
    const { client } = await setup((_req, res) => {
      arrived();
      if (answer) sendJson(res, 200, cm);
    });
    const fence = new AbortController();
    const fenced = client.withWriteFence(fence.signal);
    const caller = new AbortController();
    for (let i = 0; i < 20; i++) await fenced.create(configMaps, cm, { signal: caller.signal });
    // Twenty writes, none left listening: a long-lived fence would otherwise collect a listener per write.
    assert.equal(getEventListeners(fence.signal, 'abort').length, 0);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
    answer = false;
    arrival = new Promise<void>((resolve) => (arrived = resolve));
    const pending = fenced.create(configMaps, cm, { signal: caller.signal });
    await arrival;
    caller.abort(new WrError('WR_SHARD_MOVED', 'the key moved'));
    await rejectsWith(pending, 'WR_SHARD_MOVED');
    assert.equal(getEventListeners(fence.signal, 'abort').length, 0);
  });
});
