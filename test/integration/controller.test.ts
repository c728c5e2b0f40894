// Proves the assembled controller engine on a real API server: convergence, prune, garbage collection,
// finalizers, watch faults (cut, stall, 410, API server restart) and 1,000 primaries.
//
// Engine = ReconcilerController over a ReflectorRegistry, with native reconcilers, exactly as the host wires
// it. The engine runs without periodic resync, so every convergence after a fault comes from watch events
// and relists alone: an event lost anywhere in the pipeline leaves an App stale and fails its scenario.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { encodeReconcileInput } from '../../host/src/abi/encode.ts';
import type { KubeObject, ReconcileOutput, ReconcileRequest } from '../../host/src/abi/types.ts';
import { isWrError } from '../../host/src/errors.ts';
import {
  type ApiResource,
  KubeClient,
  type KubeClientOptions,
  kubeConfigTransport,
  type Transport,
} from '../../host/src/kube/index.ts';
import type { Reconciler } from '../../host/src/reconcile/index.ts';
import { type ControlPlane, startControlPlane } from '../controlplane/index.ts';
import { APP_API_VERSION, createAppReconciler, reconcileApp } from '../fixtures/native/app-reconciler.ts';
import { createTestNamespace, getTestCluster, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';
import {
  appObject,
  appSettled,
  type Engine,
  forEachBounded,
  startEngine,
  totalWrites,
  type WatchCounts,
} from '../support/engine.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const APP_CRD = path.join(import.meta.dirname, '../../examples/configmap-app/crd.yaml');
const MERGE_PATCH = 'application/merge-patch+json';
/** Apps updated continuously during each fault scenario. */
const FAULT_APPS = 8;

let kc: KubeConfig;
let direct: KubeClient;
let apps: ApiResource;
let configMaps: ApiResource;
let deployments: ApiResource;
let events: ApiResource;

before(async () => {
  kc = await getTestCluster();
  direct = await KubeClient.fromKubeConfig(kc);
  await installCrd(direct, APP_CRD);
  apps = await direct.resource(APP_API_VERSION, 'App');
  configMaps = await direct.resource('v1', 'ConfigMap');
  deployments = await direct.resource('apps/v1', 'Deployment');
  events = await direct.resource('v1', 'Event');
});

after(() => direct?.close());

async function getOrUndefined(client: KubeClient, res: ApiResource, ns: string, name: string) {
  try {
    return await client.get(res, ns, name);
  } catch (err) {
    if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return undefined;
    throw err;
  }
}

function patchApp(client: KubeClient, ns: string, name: string, spec: Record<string, unknown>): Promise<unknown> {
  return client.request('PATCH', `/apis/${APP_API_VERSION}/namespaces/${ns}/apps/${name}`, {
    body: { spec },
    contentType: MERGE_PATCH,
  });
}

type Condition = { type: string; status: string; reason: string };
function readyOf(app: KubeObject | undefined): Condition | undefined {
  return ((app?.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find((c) => c.type === 'Ready');
}

/** Every listed App (read from the API server) carries the App reconciler's output for its current spec. */
async function allSettled(client: KubeClient, ns: string, names: readonly string[]): Promise<boolean> {
  const [appList, cmList] = await Promise.all([
    client.list(apps, { namespace: ns }),
    client.list(configMaps, { namespace: ns }),
  ]);
  const byName = new Map(appList.items.map((a) => [a.metadata.name, a]));
  const cms = new Map(cmList.items.map((c) => [c.metadata.name, c]));
  return names.every((name) => {
    const app = byName.get(name);
    return app !== undefined && appSettled(app, cms.get(`${name}-config`));
  });
}

/** The engine's client through a TCP proxy, so a test can cut or stall every connection it holds. */
async function proxiedClient(
  t: test.TestContext,
  options: KubeClientOptions = {},
): Promise<{ client: KubeClient; proxy: TcpProxy }> {
  const server = new URL(kc.getCurrentCluster()!.server);
  const proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 443) });
  // The certificate must match the name the kubeconfig dials, not the proxy's address (TLS passes through).
  // An IP address is checked against the certificate's IP SANs and cannot be sent as SNI.
  const client = await KubeClient.fromKubeConfig(kc, {
    ...options,
    server: `https://127.0.0.1:${proxy.port}`,
    ...(isIP(server.hostname) === 0 ? { servername: server.hostname } : {}),
  });
  t.after(async () => {
    client.close();
    await proxy.close();
  });
  return { client, proxy };
}

/**
 * Patches every App's spec.config.ROUND, round after round, from a client outside the engine's path.
 * Failed writes (the API server restarting) are counted and the round moves on.
 */
function startWriter(t: test.TestContext, ns: string, names: readonly string[], client: KubeClient = direct) {
  let running = true;
  let round = 0;
  let failures = 0;
  const done = (async () => {
    while (running) {
      round++;
      for (const name of names) {
        try {
          await patchApp(client, ns, name, { config: { ROUND: String(round) } });
        } catch {
          failures++;
        }
      }
      await sleep(100);
    }
  })();
  // A failed assertion must not leave the writer running: it would keep the test process alive.
  t.after(() => {
    running = false;
    return done;
  });
  return {
    get rounds() {
      return round;
    },
    get failures() {
      return failures;
    },
    async stop() {
      running = false;
      await done;
    },
  };
}

/** Creates the scenario's Apps and waits for the engine to settle them; returns their names. */
async function seedApps(client: KubeClient, ns: string, engineClient: KubeClient = client): Promise<string[]> {
  const names = Array.from({ length: FAULT_APPS }, (_, i) => `app-${i}`);
  for (const name of names) await client.create(apps, appObject(ns, name, { ROUND: '0' }));
  await waitFor(() => allSettled(engineClient, ns, names), { timeoutMs: 30_000, description: 'the seeded Apps' });
  return names;
}

/** After a fault: every App settled on its last spec (read back from the API server), nothing given up. */
async function assertConverged(engine: Engine, client: KubeClient, ns: string, names: readonly string[], what: string) {
  await waitFor(() => allSettled(client, ns, names), { timeoutMs: 60_000, description: `convergence after ${what}` });
  const queue = engine.controller.stats().queue;
  assert.equal(queue?.terminalFailuresTotal, 0, `${what}: no key was given up`);
}

function assertEveryWatch(engine: Engine, check: (s: WatchCounts, key: string) => void) {
  const stats = engine.watchStats();
  assert.equal(stats.size, 3, 'one shared watch per kind: App, ConfigMap, Deployment');
  for (const [key, s] of stats) check(s, key);
}

function describeWatches(engine: Engine): string {
  return [...engine.watchStats()]
    .map(
      ([key, s]) =>
        `${key.split('|')[0]}: lists=${s.lists} (watch-list fallbacks ${s.watchListFallbacks}) gone=${s.gone} ` +
        `stalls=${s.stalls} reconnects=${s.reconnects}`,
    )
    .join('; ');
}

describe('controller engine', () => {
  test('an App converges to its children and status, and follows changes of its spec and its children', async (t) => {
    const ns = await createTestNamespace(t, 'ctl-converge');
    const engine = await startEngine({ client: direct, namespace: ns, reconciler: createAppReconciler() });
    t.after(() => engine.stop());

    const created = await direct.create(apps, appObject(ns, 'web', { GREETING: 'hello' }, 1));
    const cm = await waitFor(() => getOrUndefined(direct, configMaps, ns, 'web-config'), { description: 'ConfigMap' });
    assert.deepEqual(cm.data, { GREETING: 'hello', message: 'hi' });
    const deployment = await waitFor(() => getOrUndefined(direct, deployments, ns, 'web'), {
      description: 'Deployment',
    });
    for (const child of [cm, deployment]) {
      const owner = child.metadata.ownerReferences?.[0];
      assert.equal(owner?.uid, created.metadata.uid);
      assert.equal(owner?.controller, true);
    }
    // The Deployment is seen in the reconcile input (children by owner UID): 0 of 1 replica ready.
    await waitFor(async () => readyOf(await direct.get(apps, ns, 'web'))?.reason === 'Progressing', {
      description: 'Ready=False/Progressing once the Deployment is observed',
    });
    // A change of the child alone (its status) reaches its owner through the owner-UID mapping.
    await direct.request('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/web/status`, {
      body: { status: { replicas: 1, readyReplicas: 1 } },
      contentType: MERGE_PATCH,
    });
    await waitFor(async () => readyOf(await direct.get(apps, ns, 'web'))?.status === 'True', {
      description: 'Ready=True after the Deployment reports a ready replica',
    });

    await patchApp(direct, ns, 'web', { config: { GREETING: 'bonjour' } });
    await waitFor(
      async () =>
        ((await direct.get(configMaps, ns, 'web-config')).data as Record<string, string>).GREETING === 'bonjour',
      {
        description: 'the ConfigMap follows the spec',
      },
    );
    const list = await direct.list(events, { namespace: ns });
    const createdEvents = list.items.filter((e) => e.reason === 'Created');
    assert.deepEqual(
      createdEvents.map((e) => (e.involvedObject as { uid: string }).uid),
      [created.metadata.uid],
      'one Created event, while no child existed yet',
    );
    assert.equal(engine.controller.stats().queue?.terminalFailuresTotal, 0);
  });

  test('a child change and a related change reach the reconcile input as trigger.kind/name/namespace', async (t) => {
    const ns = await createTestNamespace(t, 'ctl-trigger');
    const inner = createAppReconciler();
    // What the guest would be handed: the ABI v1 input's trigger, encoded exactly as the Wasm path does.
    const seen: { request: ReconcileRequest['trigger']; input: Record<string, unknown> }[] = [];
    const reconciler: Reconciler = {
      reconcile: (request) => {
        seen.push({ request: request.trigger, input: JSON.parse(encodeReconcileInput(request)).trigger });
        return inner.reconcile(request);
      },
    };
    const engine = await startEngine({
      client: direct,
      namespace: ns,
      reconciler,
      related: [{ apiVersion: 'v1', kind: 'Secret' }],
    });
    t.after(() => engine.stop());
    await direct.create(apps, appObject(ns, 'web', { K: 'v' }));
    await waitFor(() => allSettled(direct, ns, ['web']), { description: 'the App settled' });
    const primaryRuns = seen.filter((s) => s.input.reason === 'created');
    assert.ok(primaryRuns.length >= 1, 'the first run reports created');
    for (const run of primaryRuns)
      assert.deepEqual(run.input, { reason: 'created' }, 'a primary event names no object');

    // A child change: somebody edits the owned ConfigMap; the reconciler runs for its owner and restores it.
    await direct.request('PATCH', `/api/v1/namespaces/${ns}/configmaps/web-config`, {
      body: { data: { K: 'tampered' } },
      contentType: MERGE_PATCH,
    });
    const child = await waitFor(() => seen.find((s) => s.input.reason === 'child' && s.input.kind === 'ConfigMap'), {
      description: 'a reconcile triggered by the ConfigMap',
    });
    assert.deepEqual(child.input, { reason: 'child', kind: 'ConfigMap', name: 'web-config', namespace: ns });
    assert.deepEqual(child.request, child.input, 'the request carries what the guest input carries');

    // A related change: a Secret of the declared related kind appears in the App's namespace.
    await direct.create(await direct.resource('v1', 'Secret'), {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'extra', namespace: ns },
      stringData: { token: 't' },
    });
    const related = await waitFor(() => seen.find((s) => s.input.reason === 'related'), {
      description: 'a reconcile triggered by the Secret',
    });
    assert.deepEqual(related.input, { reason: 'related', kind: 'Secret', name: 'extra', namespace: ns });
    assert.deepEqual(related.request, related.input);
  });

  test('a child the reconciler no longer renders is pruned, and only owned children are', async (t) => {
    const ns = await createTestNamespace(t, 'ctl-prune');
    // One ConfigMap per spec.config key: dropping a key must delete exactly its ConfigMap.
    const perKey: Reconciler = {
      async reconcile(request: ReconcileRequest): Promise<ReconcileOutput> {
        const app = request.primary.object();
        const config = ((app.spec as { config?: Record<string, string> }).config ?? {}) as Record<string, string>;
        return {
          children: Object.entries(config).map(([key, value]) => ({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: `${app.metadata.name}-${key}`, namespace: ns },
            data: { value },
          })),
          status: { keys: Object.keys(config).length },
        };
      },
    };
    const engine = await startEngine({
      client: direct,
      namespace: ns,
      name: 'per-key',
      reconciler: perKey,
      owns: [{ apiVersion: 'v1', kind: 'ConfigMap' }],
    });
    t.after(() => engine.stop());
    // Same naming pattern, not owned: pruning must never touch it.
    await direct.create(configMaps, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'keys-z', namespace: ns },
      data: { value: 'bystander' },
    });

    await direct.create(apps, appObject(ns, 'keys', { a: '1', b: '2', c: '3' }));
    for (const key of ['a', 'b', 'c']) {
      await waitFor(() => getOrUndefined(direct, configMaps, ns, `keys-${key}`), { description: `keys-${key}` });
    }
    await patchApp(direct, ns, 'keys', { config: { b: null } });
    await waitFor(async () => (await getOrUndefined(direct, configMaps, ns, 'keys-b')) === undefined, {
      description: 'keys-b pruned',
    });
    await waitFor(async () => ((await direct.get(apps, ns, 'keys')).status as { keys?: number })?.keys === 2, {
      description: 'status counts two keys',
    });
    for (const name of ['keys-a', 'keys-c', 'keys-z']) {
      assert.ok(await getOrUndefined(direct, configMaps, ns, name), `${name} kept`);
    }
    assert.equal(engine.writes.delete, 1, 'exactly one prune');
  });

  test('finalize runs before the primary goes, and the primary waits for it', async (t) => {
    const ns = await createTestNamespace(t, 'ctl-finalize');
    let releaseFinalize: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      releaseFinalize = resolve;
    });
    t.after(() => releaseFinalize());
    const finalized: { calls: number; children: number } = { calls: 0, children: 0 };
    const withFinalizer: Reconciler = {
      async reconcile(request) {
        return { ...reconcileApp(request, Date.now), finalizer: 'ensure' };
      },
      async finalize(request) {
        finalized.calls++;
        finalized.children = [...request.children.values()].reduce((n, list) => n + list.length, 0);
        await gate;
        return {
          events: [{ type: 'Normal', reason: 'Finalized', message: `released ${finalized.children} children` }],
          finalizer: 'release',
        };
      },
    };
    const engine = await startEngine({ client: direct, namespace: ns, name: 'fin', reconciler: withFinalizer });
    t.after(() => engine.stop());

    const created = await direct.create(apps, appObject(ns, 'guarded', { K: 'v' }));
    await waitFor(
      async () =>
        (await direct.get(apps, ns, 'guarded')).metadata.finalizers?.includes('wasmreconciler.dev/fin') &&
        (await getOrUndefined(direct, deployments, ns, 'guarded')) !== undefined,
      { description: 'finalizer and children in place' },
    );
    await direct.delete(apps, ns, 'guarded');
    await waitFor(() => finalized.calls > 0, { description: 'finalize called' });
    const held = await direct.get(apps, ns, 'guarded');
    assert.ok(held.metadata.deletionTimestamp, 'the App is being deleted');
    assert.deepEqual(held.metadata.finalizers, ['wasmreconciler.dev/fin'], 'and waits for our finalizer');
    assert.equal(finalized.children, 2, 'finalize sees the children, which outlive the App until it goes');

    releaseFinalize();
    await waitFor(async () => (await getOrUndefined(direct, apps, ns, 'guarded')) === undefined, {
      description: 'the App gone once finalize released it',
    });
    const marker = (await direct.list(events, { namespace: ns })).items.find((e) => e.reason === 'Finalized');
    assert.ok(marker, 'the event finalize emitted was recorded before the finalizer was released');
    assert.equal((marker.involvedObject as { uid: string }).uid, created.metadata.uid);
    assert.equal(marker.message, 'released 2 children');
  });

  test('a watch cut mid-stream while updates keep coming: every App converges, no relist', async (t) => {
    const ns = await createTestNamespace(t, 'ctl-cut');
    const { client, proxy } = await proxiedClient(t);
    const engine = await startEngine({ client, namespace: ns, reconciler: createAppReconciler() });
    t.after(() => engine.stop());
    const names = await seedApps(direct, ns);

    const writer = startWriter(t, ns, names);
    for (let cut = 0; cut < 3; cut++) {
      await sleep(700);
      proxy.cut();
    }
    await sleep(700);
    await writer.stop();
    assert.equal(writer.failures, 0);
    await assertConverged(engine, direct, ns, names, 'three cuts');
    assertEveryWatch(engine, (s, key) => {
      assert.equal(s.lists, 1, `${key}: a cut resumes the watch, it does not relist`);
      assert.ok(s.reconnects >= 1, `${key}: reconnected`);
    });
    t.diagnostic(`${writer.rounds} rounds of ${names.length} updates; ${describeWatches(engine)}`);
  });

  test('a stalled watch is abandoned by the watchdog: every App converges, no relist', async (t) => {
    const ns = await createTestNamespace(t, 'ctl-stall');
    const watchdogMs = 3000;
    const { client, proxy } = await proxiedClient(t, { watchConnectTimeoutMs: 5000, requestTimeoutMs: 15_000 });
    const engine = await startEngine({
      client,
      namespace: ns,
      reconciler: createAppReconciler(),
      watcher: { watchdogMs },
    });
    t.after(() => engine.stop());
    const names = await seedApps(direct, ns);

    // Updates touch all three kinds (App spec, ConfigMap data, Deployment pod template), so no watch idles.
    const writer = startWriter(t, ns, names);
    await sleep(500);
    const before = new Map([...engine.watchStats()].map(([key, s]) => [key, s.stalls]));
    proxy.pause();
    await waitFor(() => [...engine.watchStats()].every(([key, s]) => s.stalls > (before.get(key) ?? 0)), {
      timeoutMs: 20_000,
      description: 'the watchdog to abandon every stalled watch',
    });
    proxy.resume();
    await sleep(700);
    await writer.stop();
    await assertConverged(engine, direct, ns, names, 'a stall');
    assertEveryWatch(engine, (s, key) => {
      assert.equal(s.lists, 1, `${key}: a stall resumes the watch, it does not relist`);
    });
    t.diagnostic(`${writer.rounds} rounds of ${names.length} updates; ${describeWatches(engine)}`);
  });

  test('a 410 on the primary watch causes exactly one relist, and every App converges', async (t) => {
    const ns = await createTestNamespace(t, 'ctl-gone');
    const expiring = expiringTransport(await kubeConfigTransport(kc));
    const client = new KubeClient(expiring.transport);
    t.after(() => client.close());
    const engine = await startEngine({ client, namespace: ns, reconciler: createAppReconciler() });
    t.after(() => engine.stop());
    const names = await seedApps(direct, ns);

    const writer = startWriter(t, ns, names);
    await sleep(500);
    // Only the App watch can be made to ask for an expired resourceVersion: the API server's watch cache of
    // a CRD starts when the CRD is established, far past resourceVersion 1, while on a young API server the
    // built-in kinds' caches may still reach back to it. Their watches are dropped all the same (a plain
    // reconnect); the restart test below sees real 410s on them.
    const appPath = `/apis/${APP_API_VERSION}/namespaces/${ns}/apps`;
    assert.equal(
      expiring.dropAll((pathname) => pathname === appPath),
      3,
      'three watches dropped',
    );
    await waitFor(() => [...engine.watchStats()].every(([key, s]) => s.gone === (isAppCache(key) ? 1 : 0)), {
      timeoutMs: 20_000,
      description: 'a 410 on the App watch',
    }).catch((err: Error) => {
      throw new Error(`${err.message}: ${describeWatches(engine)}`, { cause: err });
    });
    await sleep(700);
    await writer.stop();
    await assertConverged(engine, direct, ns, names, 'a 410');
    assertEveryWatch(engine, (s, key) => {
      if (isAppCache(key)) {
        assert.equal(s.gone, 1, `${key}: one 410`);
        assert.equal(s.lists, 2, `${key}: exactly one relist for it`);
      } else {
        assert.equal(s.gone, 0, `${key}: no 410`);
        assert.equal(s.lists, 1, `${key}: a dropped watch resumes without a relist`);
        assert.ok(s.reconnects >= 1, `${key}: reconnected`);
      }
    });
    t.diagnostic(`${writer.rounds} rounds of ${names.length} updates; ${describeWatches(engine)}`);
  });

  test('an API server restart: the engine resumes on its own and every App converges', async (t) => {
    // A private control plane, in WR_TEST_USE_EXISTING_CLUSTER mode too: restarting the shared one would fail
    // every other test file running now, and a test may not restart the API server of a cluster it was lent.
    const controlPlane: ControlPlane = await startControlPlane({ report: () => {} });
    t.after(() => controlPlane.stop());
    const client = await KubeClient.fromKubeConfig(controlPlane.kubeConfig);
    t.after(() => client.close());
    await installCrd(client, APP_CRD);
    const ns = await createTestNamespaceOn(client, 'ctl-restart');
    const engine = await startEngine({ client, namespace: ns, reconciler: createAppReconciler() });
    t.after(() => engine.stop());
    const names = await seedApps(client, ns);

    const writer = startWriter(t, ns, names, client);
    await sleep(500);
    const restartStarted = performance.now();
    await controlPlane.restartApiServer();
    const restartMs = performance.now() - restartStarted;
    await sleep(1000);
    await writer.stop();
    await assertConverged(engine, client, ns, names, 'an API server restart');
    assertEveryWatch(engine, (s, key) => {
      assert.ok(s.reconnects + s.relists >= 1, `${key}: the watch was re-established`);
      // A restarted API server rebuilds its watch cache from etcd: an older resourceVersion may be expired.
      // A resync is a watch-list; one that the restart broke before its initial events ended is followed by
      // one paginated list (client-go's fallback), so it starts two syncs for one resync.
      assert.equal(s.lists - s.watchListFallbacks, 1 + s.gone, `${key}: relists only for 410s`);
    });
    t.diagnostic(
      `API server down and back in ${(restartMs / 1000).toFixed(1)} s; ${writer.rounds} rounds, ` +
        `${writer.failures} writes refused meanwhile; ${describeWatches(engine)}`,
    );
  });

  test('Apps deleted while their reconciles run and the cache lags: no retry, no child re-applied', async (t) => {
    const ns = await createTestNamespace(t, 'ctl-gone-primary');
    // The caches read through a proxy the test stalls; the executor writes directly, so writes still land.
    const { client, proxy } = await proxiedClient(t, { requestTimeoutMs: 60_000 });
    const inner = createAppReconciler();
    const attempts = new Map<string, number>();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const reconciler: Reconciler = {
      reconcile: async (request) => {
        const name = request.primary.object().metadata.name;
        attempts.set(name, (attempts.get(name) ?? 0) + 1);
        await gate;
        return inner.reconcile(request);
      },
    };
    const engine = await startEngine({
      client,
      writeClient: direct,
      namespace: ns,
      reconciler,
      maxConcurrentReconciles: 8,
    });
    t.after(() => {
      proxy.resume();
      return engine.stop();
    });
    const names = Array.from({ length: 6 }, (_, i) => `gone-${i}`);
    for (const name of names) await direct.create(apps, appObject(ns, name, { K: 'v' }));
    await waitFor(() => names.every((n) => attempts.get(n) === 1), { description: 'every reconcile in flight' });

    // The watches stall: the cache keeps every App it holds. Then the Apps go (no finalizer: at once).
    proxy.pause();
    for (const name of names) await direct.delete(apps, ns, name);
    for (const name of names) assert.equal(await getOrUndefined(direct, apps, ns, name), undefined);
    release();
    // Their status writes now 404. Before the fix each retried with backoff (5 ms, 10 ms, ... ~10 runs in 5 s).
    await waitFor(() => engine.reconciles.total >= names.length, { description: 'the in-flight reconciles ended' });
    await sleep(3000);
    const appliesAfterFirstPass = engine.writes.apply;
    // A level-based pass while the cache still lags (a resync, a module swap) re-runs every cached App.
    engine.controller.resyncAll();
    await sleep(1000);

    const queue = engine.controller.stats().queue;
    t.diagnostic(
      `attempts per deleted App: ${names.map((n) => attempts.get(n) ?? 0).join(',')}; reconciles ${engine.reconciles.total}, ` +
        `failed ${engine.reconciles.failed}, retries ${queue?.retriesTotal}; applies ${engine.writes.apply}, ` +
        `status writes ${engine.writes.applyStatus}`,
    );
    assert.equal(engine.reconciles.failed, 0, `no reconcile failed: ${[...engine.reconciles.codes]}`);
    assert.equal(queue?.retriesTotal, 0, 'nothing retried');
    assert.equal(engine.controller.stats().primaries, names.length, 'the cache still held every deleted App');
    assert.equal(engine.writes.applyStatus, names.length, 'one status write per App, the one that found it gone');
    assert.equal(engine.writes.apply, appliesAfterFirstPass, 'no child re-applied for a gone owner');
    assert.ok(appliesAfterFirstPass <= names.length * 2, 'at most the in-flight pass applied children');
    for (const name of names) assert.ok((attempts.get(name) ?? 0) <= 2, `${name}: the in-flight run and the resync`);

    proxy.resume();
    await waitFor(() => engine.controller.stats().primaries === 0, { description: 'the cache caught up' });
  });

  // After the fault tests on purpose: kube-controller-manager's garbage collector finds a new CRD only at its
  // next discovery refresh (every 30 s), which the tests above leave behind by now.
  test('deleting an App garbage-collects its children', async (t) => {
    const ns = await createTestNamespace(t, 'ctl-gc');
    const engine = await startEngine({ client: direct, namespace: ns, reconciler: createAppReconciler() });
    t.after(() => engine.stop());
    await direct.create(apps, appObject(ns, 'doomed', { K: 'v' }));
    await waitFor(() => allSettled(direct, ns, ['doomed']), { description: 'the App settled' });
    assert.ok(await getOrUndefined(direct, deployments, ns, 'doomed'));

    // No finalizer: the App goes at once, and the garbage collector follows the children's owner references.
    await direct.delete(apps, ns, 'doomed');
    await waitFor(
      async () =>
        (await getOrUndefined(direct, configMaps, ns, 'doomed-config')) === undefined &&
        (await getOrUndefined(direct, deployments, ns, 'doomed')) === undefined,
      { timeoutMs: 60_000, intervalMs: 250, description: 'children garbage-collected' },
    );
    assert.equal(engine.writes.delete, 0, 'the engine deleted nothing itself');
  });

  test('1,000 Apps converge', async (t) => {
    const ns = await createTestNamespace(t, 'ctl-thousand');
    const engine = await startEngine({
      client: direct,
      namespace: ns,
      reconciler: createAppReconciler(),
      maxConcurrentReconciles: 4,
    });
    t.after(() => engine.stop());
    const count = 1000;
    const names = Array.from({ length: count }, (_, i) => `app-${String(i).padStart(4, '0')}`);
    // The engine's own caches tell when to look: cheaper than listing 1,000 objects from the API each time.
    const appCache = await engine.registry.acquire({ apiVersion: APP_API_VERSION, kind: 'App', namespace: ns });
    const cmCache = await engine.registry.acquire({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns });
    t.after(() => {
      appCache.release();
      cmCache.release();
    });

    const started = performance.now();
    await forEachBounded(names, 8, async (name) => {
      await direct.create(apps, appObject(ns, name, { INDEX: name }));
    });
    const createdMs = performance.now() - started;
    await waitFor(
      () =>
        appCache.reader.size === count &&
        appCache.reader
          .list()
          .every((a) => appSettled(a.object(), cmCache.reader.get(ns, `${a.name}-config`)?.object())),
      { timeoutMs: 120_000, intervalMs: 250, description: `${count} Apps settled in the engine's cache` },
    );
    const convergedMs = performance.now() - started;
    // The API server agrees with the cache.
    assert.ok(await allSettled(direct, ns, names), 'every App settled according to the API server');
    assert.equal(engine.reconciles.failed, 0, `no reconcile failed: ${[...engine.reconciles.codes]}`);
    const writes = totalWrites(engine.writes);
    t.diagnostic(
      `${count} Apps converged in ${(convergedMs / 1000).toFixed(1)} s (created in ${(createdMs / 1000).toFixed(1)} s): ` +
        `${engine.reconciles.total} reconciles (${((engine.reconciles.total / convergedMs) * 1000).toFixed(0)}/s), ` +
        `${writes} API writes (${(writes / count).toFixed(2)} per App: ${JSON.stringify(engine.writes)})`,
    );
  });
});

/** createTestNamespace for a cluster other than the shared one (the restart test's private control plane). */
async function createTestNamespaceOn(client: KubeClient, prefix: string): Promise<string> {
  const namespaces = await client.resource('v1', 'Namespace');
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await client.create(namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}

function isAppCache(key: string): boolean {
  return key.startsWith(`${APP_API_VERSION}/App|`);
}

/**
 * Wraps a transport so a test can drop every open watch and make chosen ones expire: their next request asks
 * for resourceVersion 1, older than the API server's watch cache holds, which it must answer with 410 Gone.
 */
function expiringTransport(inner: Transport) {
  const active = new Map<string, { destroy(): void }>();
  const expire = new Set<string>();
  const transport: Transport = {
    async request(req) {
      const url = new URL(req.path, 'http://x');
      if (url.searchParams.get('watch') !== 'true') return inner.request(req);
      if (expire.delete(url.pathname)) url.searchParams.set('resourceVersion', '1');
      const res = await inner.request({ ...req, path: `${url.pathname}${url.search}` });
      active.set(url.pathname, res);
      return res;
    },
    close: () => inner.close(),
  };
  return {
    transport,
    /** Drops every open watch, those whose path matches `expiring` to come back expired; returns how many. */
    dropAll(expiring: (pathname: string) => boolean): number {
      for (const [pathname, res] of active) {
        if (expiring(pathname)) expire.add(pathname);
        res.destroy();
      }
      const dropped = active.size;
      active.clear();
      return dropped;
    },
  };
}
