// Proves the watcher and reflector against a real kube-apiserver: list+watch, cut and stalled connections, 410.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { createStore, type Store, type StoreEvent } from '../../host/src/cache/index.ts';
import {
  type ApiResource,
  apiVersionOf,
  KubeClient,
  type KubeClientOptions,
  kubeConfigTransport,
  type Transport,
} from '../../host/src/kube/index.ts';
import { reflector, type WatcherOptions, watcher } from '../../host/src/watch/index.ts';
import { createTestNamespace, getTestCluster, waitFor } from '../support/cluster.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const FIELD_MANAGER = 'wr-watch-test';
/** Every namespace gets a kube-root-ca.crt ConfigMap from the controller manager; the selector leaves it out. */
const SELECTOR = 'wasm-reconciler.dev/test-object=watch';

/** An object of the harness's kind; custom resources here keep unknown fields, so `data` fits both. */
function item(h: Harness, name: string, value: string): KubeObject {
  return {
    apiVersion: apiVersionOf(h.resource),
    kind: h.resource.kind,
    metadata: { name, namespace: h.namespace, labels: { 'wasm-reconciler.dev/test-object': 'watch' } },
    data: { value },
  };
}

interface Harness {
  readonly direct: KubeClient;
  /** The kind under test: ConfigMaps, or a custom resource where the test needs its own watch cache. */
  readonly resource: ApiResource;
  readonly namespace: string;
}

async function harness(t: test.TestContext, prefix: string): Promise<Harness> {
  const kc = await getTestCluster();
  const namespace = await createTestNamespace(t, prefix);
  const direct = await KubeClient.fromKubeConfig(kc);
  t.after(() => direct.close());
  return { direct, resource: await direct.resource('v1', 'ConfigMap'), namespace };
}

/**
 * A namespaced custom resource installed for one test. Its watch cache starts when the CRD is established,
 * so any resourceVersion from before that is one the API server reports as expired (410 Gone).
 */
async function customResourceHarness(t: test.TestContext, prefix: string): Promise<Harness> {
  const h = await harness(t, prefix);
  const group = 'watch-test.wasm-reconciler.dev';
  const plural = `widgets${randomBytes(3).toString('hex')}`;
  const crds = await h.direct.resource('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
  await h.direct.create(crds, {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural, singular: plural, kind: `Widget${plural}` },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  });
  t.after(() => h.direct.delete(crds, undefined, `${plural}.${group}`));
  const resource = await waitFor(() => h.direct.resource(`${group}/v1`, `Widget${plural}`), {
    description: 'the custom resource to be served',
  });
  await waitFor(() => h.direct.list(resource, { namespace: h.namespace }), {
    description: 'the custom resource to list',
  });
  return { ...h, resource };
}

/** Starts watcher + reflector into a fresh store; stops them when the test ends. */
function startReflector(
  t: test.TestContext,
  client: KubeClient,
  h: Harness,
  options: Omit<WatcherOptions, 'signal'> = {},
): { store: Store; r: ReturnType<typeof reflector>; events: StoreEvent[] } {
  const stop = new AbortController();
  const store = createStore();
  const r = reflector(
    store.writer,
    watcher(
      client,
      { resource: h.resource, namespace: h.namespace, labelSelector: SELECTOR },
      { ...options, signal: stop.signal },
    ),
  );
  const events: StoreEvent[] = [];
  store.reader.subscribe((e) => events.push(e), { replay: false });
  t.after(async () => {
    stop.abort();
    await r.done;
  });
  return { store, r, events };
}

/** Waits until the store holds exactly the ConfigMaps (name -> value) the API server holds. */
async function converged(store: Store, h: Harness, description: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    async () => {
      const live = await h.direct.list(h.resource, { namespace: h.namespace, labelSelector: SELECTOR });
      const want = new Map(live.items.map((o) => [o.metadata.name, o.metadata.resourceVersion]));
      const have = new Map(store.reader.list({ namespace: h.namespace }).map((o) => [o.name, o.resourceVersion]));
      if (want.size !== have.size) return false;
      for (const [name, rv] of want) if (have.get(name) !== rv) return false;
      return true;
    },
    { timeoutMs, description },
  );
}

async function proxiedClient(
  t: test.TestContext,
  options: KubeClientOptions = {},
): Promise<{ client: KubeClient; proxy: TcpProxy }> {
  const kc = await getTestCluster();
  const server = new URL(kc.getCurrentCluster()!.server);
  const proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 443) });
  // Same host (127.0.0.1, a SAN of the serving certificate), another port: TLS verifies through the proxy.
  const client = await KubeClient.fromKubeConfig(kc, { ...options, server: `https://127.0.0.1:${proxy.port}` });
  t.after(async () => {
    client.close();
    await proxy.close();
  });
  return { client, proxy };
}

test('a reflector lists page by page, then follows adds, updates and deletes', async (t) => {
  const h = await harness(t, 'watch-basic');
  for (const name of ['a', 'b', 'c', 'd', 'e']) await h.direct.create(h.resource, item(h, name, '0'));
  // The paginated path; the watch-list one (the default) has its own file, watch-list.test.ts.
  const { store, r, events } = startReflector(t, h.direct, h, { pageSize: 2, initialSync: 'list' });
  await r.synced;
  assert.equal(store.reader.size, 5);
  assert.equal(r.stats.listPages, 3);
  const a = store.reader.get(h.namespace, 'a');
  assert.ok(a);
  assert.doesNotMatch(a.json, /managedFields/, 'the transform drops managedFields');
  assert.equal(a.object().kind, 'ConfigMap');

  await h.direct.apply(item(h, 'f', '1'), { fieldManager: FIELD_MANAGER });
  await h.direct.apply(item(h, 'a', '2'), { fieldManager: FIELD_MANAGER, force: true });
  await h.direct.delete(h.resource, h.namespace, 'b');
  await converged(store, h, 'the store to follow the changes');
  await waitFor(() => events.length >= 8, { description: 'eight events' });
  const summary = events.map((e) => `${e.type}:${e.object.name}`);
  // The subscription was made before the first list, so that list arrives as adds.
  assert.deepEqual(summary, [
    'added:a',
    'added:b',
    'added:c',
    'added:d',
    'added:e',
    'added:f',
    'updated:a',
    'deleted:b',
  ]);
  const update = events[6];
  assert.ok(update?.type === 'updated');
  assert.equal((update.old.object().data as Record<string, string>).value, '0');
  assert.equal((update.object.object().data as Record<string, string>).value, '2');
  assert.equal(r.stats.lists, 1);
});

test('a watch cut mid-stream resumes from its resourceVersion and converges without a relist', async (t) => {
  const h = await harness(t, 'watch-cut');
  const { client, proxy } = await proxiedClient(t);
  const { store, r } = startReflector(t, client, h);
  await r.synced;
  await h.direct.create(h.resource, item(h, 'before', '1'));
  await converged(store, h, 'the first object');
  for (let round = 0; round < 3; round++) {
    // Hold new connections so the changes below happen while the reflector is certainly disconnected.
    proxy.pause();
    proxy.cut();
    await h.direct.create(h.resource, item(h, `during-${round}`, '1'));
    await h.direct.apply(item(h, 'before', String(round + 2)), {
      fieldManager: FIELD_MANAGER,
      force: true,
    });
    if (round === 1) await h.direct.delete(h.resource, h.namespace, 'during-0');
    proxy.resume();
    await converged(store, h, `convergence after cut ${round}`);
  }
  assert.equal(r.stats.lists, 1, 'no relist for an ordinary reconnect');
  assert.ok(r.stats.reconnects >= 3, `reconnects: ${r.stats.reconnects}`);
  t.diagnostic(
    `lists per reconnect: ${((r.stats.lists - 1) / r.stats.reconnects).toFixed(2)} (${r.stats.reconnects} reconnects)`,
  );
});

test('a stalled watch is abandoned by the watchdog and resumed once the path recovers', async (t) => {
  const h = await harness(t, 'watch-stall');
  const { client, proxy } = await proxiedClient(t, { watchConnectTimeoutMs: 2000 });
  const watchdogMs = 1500;
  const { store, r } = startReflector(t, client, h, { watchdogMs });
  await r.synced;
  // A steady trickle of changes keeps a healthy watch busy, so the watchdog must stay quiet until the stall.
  let beat = 0;
  const heartbeat = setInterval(() => {
    void h.direct
      .apply(item(h, 'heartbeat', String(beat++)), { fieldManager: FIELD_MANAGER, force: true })
      .catch(() => {});
  }, 250);
  t.after(() => clearInterval(heartbeat));
  await waitFor(() => (store.reader.get(h.namespace, 'heartbeat') ? true : undefined), { description: 'a heartbeat' });
  await new Promise((resolve) => setTimeout(resolve, watchdogMs * 2));
  assert.equal(r.stats.stalls, 0, 'a busy healthy watch is never declared stalled');

  proxy.pause();
  await h.direct.create(h.resource, item(h, 'during-stall', '1'));
  await waitFor(() => r.stats.stalls >= 1, { timeoutMs: 20_000, description: 'the watchdog to fire' });
  proxy.resume();
  clearInterval(heartbeat);
  await converged(store, h, 'convergence after the stall');
  assert.ok(store.reader.get(h.namespace, 'during-stall'));
  assert.equal(r.stats.lists, 1, 'a stall resumes the watch, it does not relist');
});

/** How long the frozen-connection test blacks the path out; WR_TEST_FREEZE_MS=40000 reproduces the field report. */
const FREEZE_MS = Number(process.env.WR_TEST_FREEZE_MS ?? 12_000);
/** How long the cache may take to catch up once new connections work; raise it to measure a slow recovery. */
const RECOVERY_LIMIT_MS = Number(process.env.WR_TEST_RECOVERY_LIMIT_MS ?? 30_000);

test('a watch frozen by a proxy that lost its state is replaced within 30 s once new connections work', async (t) => {
  const h = await harness(t, 'watch-frozen');
  // Production defaults throughout: the client's timeouts and the watcher's watchdog and probe.
  const { client, proxy } = await proxiedClient(t);
  const { store, r } = startReflector(t, client, h);
  await r.synced;
  await h.direct.create(h.resource, item(h, 'before', '1'));
  await h.direct.create(h.resource, item(h, 'doomed', '1'));
  await converged(store, h, 'the first objects');

  // A blackhole: nothing passes, new connections included. When it ends, the connections that were open
  // stay frozen for good (no FIN, no RST) while new ones work again.
  proxy.pause();
  proxy.freeze();
  const frozenAt = Date.now();
  await h.direct.create(h.resource, item(h, 'during', '1'));
  await h.direct.apply(item(h, 'before', '2'), { fieldManager: FIELD_MANAGER, force: true });
  await h.direct.delete(h.resource, h.namespace, 'doomed');
  await new Promise((resolve) => setTimeout(resolve, FREEZE_MS));
  proxy.resume();
  const backAt = Date.now();
  await h.direct.create(h.resource, item(h, 'after', '1'));
  await converged(store, h, 'every change in the cache after the freeze', RECOVERY_LIMIT_MS);
  const recoveredMs = Date.now() - backAt;
  t.diagnostic(
    `freeze ${FREEZE_MS} ms; cache caught up ${recoveredMs} ms after new connections worked ` +
      `(${Date.now() - frozenAt} ms after the freeze began); stalls=${r.stats.stalls} ` +
      `probes=${r.stats.probes} frozen=${r.stats.frozen} lists=${r.stats.lists}`,
  );
  assert.ok(recoveredMs < 30_000, `caught up in ${recoveredMs} ms`);
  assert.equal(r.stats.lists, 1, 'a frozen watch is resumed from its resourceVersion, not relisted');
});

/** Wraps a transport so a test can hold watch requests and make the next one ask for an expired resourceVersion. */
function expiringTransport(inner: Transport) {
  let gate: Promise<void> | undefined;
  let expireNext = false;
  let active: { destroy(): void } | undefined;
  const transport: Transport = {
    async request(req) {
      const url = new URL(req.path, 'http://x');
      if (url.searchParams.get('watch') !== 'true') return inner.request(req);
      await gate;
      if (expireNext) {
        expireNext = false;
        // Far older than anything the API server's watch cache still holds: it must answer 410 Gone.
        url.searchParams.set('resourceVersion', '1');
      }
      const res = await inner.request({ ...req, path: `${url.pathname}${url.search}` });
      active = res;
      return res;
    },
    close: () => inner.close(),
  };
  return {
    transport,
    /** True once a watch answer has started: only then is there a watch to interrupt. */
    get watching(): boolean {
      return active !== undefined;
    },
    /** Drops the current watch and parks the next one until `release()`, which asks for resourceVersion 1. */
    interrupt(): () => void {
      let release: () => void = () => {};
      gate = new Promise((resolve) => {
        release = resolve;
      });
      expireNext = true;
      active?.destroy();
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

test('a 410 from an expired resourceVersion causes exactly one relist that synthesizes deletes and updates', async (t) => {
  const h = await customResourceHarness(t, 'watch-gone');
  const expiring = expiringTransport(await kubeConfigTransport(await getTestCluster()));
  const client = new KubeClient(expiring.transport);
  t.after(() => client.close());
  for (const name of ['keep', 'change', 'vanish']) await h.direct.create(h.resource, item(h, name, '0'));
  const { store, r, events } = startReflector(t, client, h);
  await r.synced;
  await waitFor(() => expiring.watching, { description: 'the first watch' });

  const release = expiring.interrupt();
  await h.direct.delete(h.resource, h.namespace, 'vanish');
  await h.direct.apply(item(h, 'change', '1'), { fieldManager: FIELD_MANAGER, force: true });
  release();

  await waitFor(() => r.stats.lists === 2, { timeoutMs: 20_000, description: 'the relist' });
  await converged(store, h, 'convergence after the relist');
  await waitFor(() => events.length >= 5, { description: 'synthesized events' });
  // Three adds from the first list, then what the relist found changed; the watch itself saw neither change.
  assert.deepEqual(
    events
      .slice(3)
      .map((e) => `${e.type}:${e.object.name}`)
      .sort(),
    ['deleted:vanish', 'updated:change'],
  );
  assert.equal(r.stats.gone, 1);
  assert.equal(r.stats.relists, 1);
  // The watch after the relist is healthy: more changes arrive without any further list.
  await h.direct.create(h.resource, item(h, 'after', '1'));
  await converged(store, h, 'convergence after the relist watch');
  assert.equal(r.stats.lists, 2, 'exactly one relist per 410');
});
