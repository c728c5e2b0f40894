// Node sharding on the real apiserver: two hosts with different node names each reconcile their node's share,
// unassigned primaries are counted by the one status writer, a move hands over with no overlap, and only a
// move waits for the handover (a create and a restart do not). Children carry their host's node label, each
// host caches only the children of its share, and a move brings them to the new owner's cache (the same
// objects) before its first reconcile there.
//
// The Nodes are objects this file creates (the test control plane has no kubelets); it plays the kubelet by
// setting their Ready condition, which is all node sharding reads of them.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildV1 } from '../../examples/configmap-app/test/modules.ts';
import type { KubeObject, ReconcileOutput, ReconcileRequest } from '../../host/src/abi/types.ts';
import type { ReflectorRegistry } from '../../host/src/cache/index.ts';
import { controllerRegistry, ReconcilerController } from '../../host/src/controller/index.ts';
import { isWrError } from '../../host/src/errors.ts';
import { kubeExecutorClient } from '../../host/src/executor/index.ts';
import { type ApiResource, KubeClient, silentLogger } from '../../host/src/kube/index.ts';
import { type Host, startHost } from '../../host/src/manager/index.ts';
import type { NodeShardingRule } from '../../host/src/modules/index.ts';
import { NodeShardPolicy } from '../../host/src/sharding/node/index.ts';
import { createTestNamespace, getTestCluster, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';
import { sample } from '../support/prom-text.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const APP = 'demo.wasmreconciler.dev/v1alpha1';
const WR = 'wasmreconciler.dev/v1alpha1';
const NODE_LABEL = 'wasmreconciler.dev/node';
/** What the host labels children with (host/src/sharding/node/ownership.ts), spelled out as the contract it is. */
const CHILD_LABEL = 'sharding.wasmreconciler.dev/node';
/** And with their controller owner's UID, which is how a new owner finds a moved primary's children. */
const OWNER_LABEL = 'sharding.wasmreconciler.dev/owner';
/** This run's Nodes carry it; the hosts are told to shard over these Nodes only. */
const RUN_LABEL = 'wasmreconciler.dev/test-node-sharding';
const RUN = randomBytes(4).toString('hex');
const NODE_A = `edge-a-${RUN}`;
const NODE_B = `edge-b-${RUN}`;
const HANDOVER_MS = 2_000;

let client: KubeClient;
let nodes: ApiResource;
let wrs: ApiResource;
let apps: ApiResource;
let configMaps: ApiResource;
let deployments: ApiResource;
let cacheDir: string;

async function setReady(node: string, ready: boolean): Promise<void> {
  const now = new Date().toISOString();
  await client.request('PATCH', `/api/v1/nodes/${node}/status`, {
    body: {
      status: {
        conditions: [
          {
            type: 'Ready',
            status: ready ? 'True' : 'Unknown',
            reason: ready ? 'KubeletReady' : 'NodeStatusUnknown',
            message: 'set by node-sharding.test.ts',
            lastHeartbeatTime: now,
            lastTransitionTime: now,
          },
        ],
      },
    },
    contentType: 'application/strategic-merge-patch+json',
  });
}

function app(namespace: string, name: string, node: string | undefined, config: Record<string, string> = {}) {
  return {
    apiVersion: APP,
    kind: 'App',
    metadata: { name, namespace, ...(node === undefined ? {} : { labels: { [NODE_LABEL]: node } }) },
    spec: { image: 'registry.example/hello:1', replicas: 1, message: 'hi', config },
  } as KubeObject;
}

async function patchApp(
  namespace: string,
  name: string,
  patch: Record<string, unknown>,
  fieldManager?: string,
): Promise<void> {
  await client.request('PATCH', `/apis/${APP}/namespaces/${namespace}/apps/${name}`, {
    body: patch,
    contentType: 'application/merge-patch+json',
    ...(fieldManager === undefined ? {} : { query: { fieldManager } }),
  });
}

async function configMapData(namespace: string, name: string): Promise<Record<string, string> | undefined> {
  try {
    return ((await client.get(configMaps, namespace, name)).data ?? {}) as Record<string, string>;
  } catch (err) {
    if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return undefined;
    throw err;
  }
}

/** The Apps' two children each (configmap-app: `<name>-config` and `<name>`) by `Kind/name`: uid, node label, App. */
async function childrenOf(namespace: string, names: readonly string[]) {
  const out = new Map<string, { uid: string | undefined; node: string | undefined; app: string }>();
  for (const name of names) {
    for (const [res, child] of [
      [configMaps, `${name}-config`],
      [deployments, name],
    ] as const) {
      const object = await client.get(res, namespace, child);
      out.set(`${res.kind}/${child}`, {
        uid: object.metadata.uid,
        node: object.metadata.labels?.[CHILD_LABEL],
        app: name,
      });
    }
  }
  return out;
}

interface NativeHostOptions {
  readonly namespace: string;
  /** Default: Apps. */
  readonly primary?: { readonly apiVersion: string; readonly kind: string };
  readonly nodeName: string;
  readonly rule: NodeShardingRule;
  /** Run as a host without sharding would (nodeName and rule unused): it reconciles every App. */
  readonly unsharded?: boolean;
  /** Default: HANDOVER_MS. */
  readonly handoverMs?: number;
  reconcile(request: ReconcileRequest): Promise<ReconcileOutput>;
  /** Every reconcile that ran the reconciler, with its error code (skips of a primary no longer cached are left out). */
  onResult(code: string | undefined): void;
}

/**
 * A node-sharded "host" of one native reconciler (of Apps) owning ConfigMaps: its own client, caches and policy,
 * as a host process has. Native code lets a test hold a reconcile in flight and see who ran what.
 */
async function nativeHost(
  o: NativeHostOptions,
): Promise<{ controller: ReconcilerController; registry: ReflectorRegistry; stop(): Promise<void> }> {
  const hostClient = await KubeClient.fromKubeConfig(await getTestCluster());
  const registry = controllerRegistry(hostClient);
  const sharding = o.unsharded
    ? undefined
    : await NodeShardPolicy.start({
        registry,
        client: hostClient,
        nodeName: o.nodeName,
        nodeSelector: `${RUN_LABEL}=${RUN}`,
        handoverMs: o.handoverMs ?? HANDOVER_MS,
      });
  const controller = new ReconcilerController({
    name: 'native',
    registry,
    client: kubeExecutorClient(hostClient),
    logger: silentLogger,
    ...(sharding === undefined ? {} : { sharding }),
    reconciler: { reconcile: (request) => o.reconcile(request) },
    onResult: (_item, result) => {
      if (result.outcome !== 'skipped') o.onResult(result.error?.code);
    },
  });
  await controller.start({
    scope: {
      primary: o.primary ?? { apiVersion: APP, kind: 'App' },
      namespaces: [o.namespace],
      owns: [{ apiVersion: 'v1', kind: 'ConfigMap' }],
      related: [],
    },
    readGrants: [],
    maxConcurrentReconciles: 1,
    resyncPeriodMs: 0,
    sharding: { node: o.rule },
  });
  return {
    controller,
    registry,
    async stop() {
      await controller.stop(1_000);
      await sharding?.close();
      await registry.close();
      hostClient.close();
    },
  };
}

/** The child the native reconciler renders: which node's host wrote it. */
function ownerConfigMap(request: ReconcileRequest, nodeName: string): KubeObject {
  const primary = request.primary.object();
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `${primary.metadata.name}-owner`, namespace: primary.metadata.namespace },
    data: { node: nodeName },
  } as KubeObject;
}

before(async () => {
  client = await KubeClient.fromKubeConfig(await getTestCluster());
  await installCrd(client, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(client, path.join(ROOT, 'examples/configmap-app/crd.yaml'));
  nodes = await client.resource('v1', 'Node');
  wrs = await client.resource(WR, 'WasmReconciler');
  apps = await client.resource(APP, 'App');
  configMaps = await client.resource('v1', 'ConfigMap');
  deployments = await client.resource('apps/v1', 'Deployment');
  for (const name of [NODE_A, NODE_B]) {
    await client.create(nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { [RUN_LABEL]: RUN } } });
    await setReady(name, true);
  }
  cacheDir = mkdtempSync(path.join(tmpdir(), 'wr-node-sharding-'));
});

after(async () => {
  for (const name of [NODE_A, NODE_B]) await client?.delete(nodes, undefined, name).catch(() => undefined);
  client?.close();
  if (cacheDir !== undefined) rmSync(cacheDir, { recursive: true, force: true });
});

describe('node sharding', () => {
  test('each host reconciles its node share; the status writer counts the unassigned; a move hands over', async (t) => {
    const ns = await createTestNamespace(t, 'node-shard');
    const start = async (nodeName: string): Promise<Host> =>
      startHost({
        kubeConfig: await getTestCluster(),
        namespace: ns,
        moduleCacheDir: cacheDir,
        logLevel: 'silent',
        sharding: { mode: 'node', nodeName, nodeSelector: `${RUN_LABEL}=${RUN}`, handoverMs: HANDOVER_MS },
      });
    const [a, b] = await Promise.all([start(NODE_A), start(NODE_B)]);
    t.after(() => Promise.all([a.stop(), b.stop()]));

    const module = Buffer.from(readFileSync((await buildV1()).wasmPath)).toString('base64');
    await client.create(wrs, {
      apiVersion: WR,
      kind: 'WasmReconciler',
      metadata: { name: 'apps', namespace: ns },
      spec: {
        for: { apiVersion: APP, kind: 'App' },
        owns: [
          { apiVersion: 'v1', kind: 'ConfigMap' },
          { apiVersion: 'apps/v1', kind: 'Deployment' },
        ],
        module: { inline: module },
        sharding: { node: { label: NODE_LABEL } },
      },
    } as KubeObject);
    const assigned = { a1: NODE_A, a2: NODE_A, b1: NODE_B };
    for (const [name, node] of Object.entries(assigned)) await client.create(apps, app(ns, name, node, { R: '0' }));
    // No label, and a node that is not a Node: neither host may reconcile them.
    await client.create(apps, app(ns, 'unlabelled', undefined));
    await client.create(apps, app(ns, 'ghost', `gone-${RUN}`));

    for (const name of Object.keys(assigned)) {
      await waitFor(async () => (await configMapData(ns, `${name}-config`))?.R === '0', {
        description: `${name} converged`,
      });
    }
    // Each host's App cache holds its node's primaries only: the API server filtered the watch.
    const primariesOf = (host: Host) => host.manager.controller(ns, 'apps')?.stats().primaries;
    assert.equal(primariesOf(a), 2);
    assert.equal(primariesOf(b), 1);
    // The host on the first Ready Node by name (A) writes status, and counts the two nobody reconciles.
    const status = await waitFor(
      async () => {
        const s = (await client.get(wrs, ns, 'apps')).status as
          | { sharding?: { mode: string; unassigned: number }; conditions?: { type: string; status: string }[] }
          | undefined;
        return s?.sharding?.unassigned === 2 && s;
      },
      { description: 'status.sharding.unassigned = 2' },
    );
    assert.equal(status.sharding?.mode, 'node');
    assert.equal(status.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    const controller = `${ns}/apps`;
    assert.equal(sample(await a.metrics.registry.metrics(), 'wasm_reconciler_unassigned_primaries', { controller }), 2);
    assert.equal(
      sample(await b.metrics.registry.metrics(), 'wasm_reconciler_unassigned_primaries', { controller }),
      undefined,
      'only the status writer counts',
    );
    assert.equal(await configMapData(ns, 'unlabelled-config'), undefined);
    assert.equal(await configMapData(ns, 'ghost-config'), undefined);

    // Children carry their App's node, and each host's child caches hold exactly those of its share (the
    // namespace's other ConfigMaps, such as kube-root-ca.crt, are outside its selector).
    const childrenFollow = async (share: Record<string, string>, description: string) => {
      let problem = '';
      try {
        return await waitFor(
          async () => {
            const children = await childrenOf(ns, Object.keys(share));
            const astray = [...children].filter(([, c]) => c.node !== share[c.app]);
            problem = `${astray.map(([key, c]) => `${key} on ${c.node}`).join(', ')} not on their App's node`;
            if (astray.length > 0) return false;
            for (const [host, node] of [
              [a, NODE_A],
              [b, NODE_B],
            ] as const) {
              const text = await host.metrics.registry.metrics();
              const owned = Object.values(share).filter((n) => n === node).length;
              const cached = [
                sample(text, 'wasm_reconciler_cache_objects', { kind: 'v1/ConfigMap' }),
                sample(text, 'wasm_reconciler_cache_objects', { kind: 'apps/v1/Deployment' }),
              ];
              problem = `${node} caches ${cached.join(' ConfigMaps and ')} Deployments; owns ${owned} Apps`;
              if (cached.some((n) => n !== owned)) return false;
            }
            return children;
          },
          { description },
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}: ${problem}`);
      }
    };
    const before = await childrenFollow(assigned, "children on their App's node, cached there only");

    // A move with a spec change in one patch: A sees a2 leave and never runs the new spec; B runs it once its
    // handover window has passed since it saw a2 arrive. Past a2's creation's second first, which managedFields
    // cannot tell from the create itself (handover.ts): on a fast run the converge above takes less.
    await sleep(1_100);
    const moved = Date.now();
    await patchApp(ns, 'a2', { metadata: { labels: { [NODE_LABEL]: NODE_B } }, spec: { config: { R: '1' } } });
    await waitFor(async () => (await configMapData(ns, 'a2-config'))?.R === '1', { description: 'a2 moved to B' });
    const tookMs = Date.now() - moved;
    assert.ok(tookMs >= HANDOVER_MS - 50, `B waited out the handover window (${tookMs} ms after the move)`);
    t.diagnostic(`moved primary first reconciled by its new owner ${tookMs} ms after the move`);
    assert.equal(primariesOf(a), 1);
    assert.equal(primariesOf(b), 2);
    // B claimed a2's children (relabelled them into its share) before its first reconcile, and A's watch let
    // them go: the same objects, none pruned and re-created.
    const afterMove = await childrenFollow({ ...assigned, a2: NODE_B }, "a2's children on B, cached by B only");
    assert.deepEqual(
      [...afterMove].map(([key, c]) => [key, c.uid]),
      [...before].map(([key, c]) => [key, c.uid]),
      'every child kept its uid through the move',
    );
    // B's first reconcile of a2 saw the children A left: configmap-app announces a creation only when it
    // finds them absent, which it did once, on A, when a2 was new.
    const events = await client.resource('v1', 'Event');
    const created = (await client.list(events, { namespace: ns, fieldSelector: 'involvedObject.name=a2' })).items
      .filter((e) => (e as { reason?: string }).reason === 'Created')
      .reduce((n, e) => n + ((e as { count?: number }).count ?? 1), 0);
    assert.equal(created, 1, 'one "Created" Event for a2: its creation, not its move');

    // The status writer goes with its Node's readiness: A's Node not Ready, B writes (and counts).
    await setReady(NODE_A, false);
    await client.create(apps, app(ns, 'unlabelled-2', undefined));
    await waitFor(
      async () =>
        ((await client.get(wrs, ns, 'apps')).status as { sharding?: { unassigned: number } }).sharding?.unassigned ===
        3,
      { description: 'B writes status.sharding.unassigned = 3' },
    );
    assert.equal(sample(await b.metrics.registry.metrics(), 'wasm_reconciler_unassigned_primaries', { controller }), 3);
    await setReady(NODE_A, true);
  });

  test('a reconcile in flight when its primary moves is fenced, and the new owner starts after the window', async (t) => {
    const ns = await createTestNamespace(t, 'node-fence');
    /** Reconciles running now, on either host; the most seen at once. */
    let running = 0;
    let mostAtOnce = 0;
    /** Every reconcile that ran the reconciler (skips of a primary no longer cached are left out). */
    const results: { host: string; code: string | undefined }[] = [];
    let slowStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      slowStarted = resolve;
    });
    const options = (nodeName: string): NativeHostOptions => ({
      namespace: ns,
      nodeName,
      rule: { label: NODE_LABEL },
      async reconcile(request) {
        running++;
        mostAtOnce = Math.max(mostAtOnce, running);
        try {
          if (nodeName === NODE_A) {
            slowStarted();
            // Long enough for the move (1.1 s in) to reach A's watch while this reconcile is still in flight,
            // short enough to end before B's window (2 s from the move) does.
            await sleep(2_500);
          }
          return { children: [ownerConfigMap(request, nodeName)] };
        } finally {
          running--;
        }
      },
      onResult: (code) => results.push({ host: nodeName, code }),
    });
    const hosts = await Promise.all([nativeHost(options(NODE_A)), nativeHost(options(NODE_B))]);
    t.after(() => Promise.all(hosts.map((h) => h.stop())));

    await client.create(apps, app(ns, 'slow', NODE_A));
    // Labelled at creation, so A starts it at once; it sleeps, and the App moves meanwhile. Not within the
    // creation's second: managedFields cannot tell such a move from the create (handover.ts).
    await started;
    await sleep(1_100);
    await patchApp(ns, 'slow', { metadata: { labels: { [NODE_LABEL]: NODE_B } } });
    const cm = await waitFor(() => configMapData(ns, 'slow-owner'), { description: "B's ConfigMap" });
    assert.deepEqual(cm, { node: NODE_B }, "A's write, after it saw the move, never left A");
    await waitFor(() => results.some((r) => r.host === NODE_A), { description: "A's reconcile to end" });
    assert.deepEqual(
      results.filter((r) => r.host === NODE_A).map((r) => r.code),
      ['WR_SHARD_MOVED'],
      "A's in-flight reconcile was fenced",
    );
    const ofB = results.filter((r) => r.host === NODE_B);
    assert.ok(ofB.length > 0 && ofB.every((r) => r.code === undefined), 'B reconciles it, without errors');
    assert.equal(mostAtOnce, 1, 'never two reconciles of the moved App at once');
  });

  test("a moved primary's children are claimed before its new owner's first reconcile, which sees and prunes them", async (t) => {
    const ns = await createTestNamespace(t, 'node-claim');
    /** The children each host's reconciles saw, per reconcile, by name. */
    const seen = new Map<string, string[][]>([
      [NODE_A, []],
      [NODE_B, []],
    ]);
    const options = (nodeName: string): NativeHostOptions => ({
      namespace: ns,
      nodeName,
      rule: { label: NODE_LABEL },
      async reconcile(request) {
        const primary = request.primary.object();
        const name = primary.metadata.name;
        const children = (request.children.get('v1/ConfigMap') ?? []).map((c) => c.object().metadata.name).sort();
        seen.get(nodeName)!.push(children);
        const config = (primary.spec as { config: Record<string, string> }).config;
        const child = (suffix: string) =>
          ({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: `${name}-${suffix}`, namespace: ns },
            data: { node: nodeName },
          }) as KubeObject;
        return { children: config.extra === undefined ? [child('main')] : [child('main'), child('extra')] };
      },
      onResult: () => undefined,
    });
    const [a, b] = await Promise.all([nativeHost(options(NODE_A)), nativeHost(options(NODE_B))]);
    t.after(() => Promise.all([a.stop(), b.stop()]));

    await client.create(apps, app(ns, 'm', NODE_A, { extra: 'yes' }));
    await waitFor(async () => (await configMapData(ns, 'm-extra'))?.node === NODE_A, { description: 'A wrote both' });
    const main = await client.get(configMaps, ns, 'm-main');
    // Past the creation's second (handover.ts); then the move and a spec that no longer renders -extra, at once.
    await sleep(1_100);
    await patchApp(ns, 'm', { metadata: { labels: { [NODE_LABEL]: NODE_B } }, spec: { config: { extra: null } } });
    await waitFor(async () => (await configMapData(ns, 'm-extra')) === undefined, {
      description: 'B pruned the child it no longer renders',
    });
    assert.deepEqual(seen.get(NODE_B)?.[0], ['m-extra', 'm-main'], "B's first reconcile saw both children A left");
    const moved = await client.get(configMaps, ns, 'm-main');
    assert.equal(moved.metadata.uid, main.metadata.uid, 'the kept child is the same object');
    assert.equal(moved.metadata.labels?.[CHILD_LABEL], NODE_B);
    assert.equal(moved.metadata.labels?.[OWNER_LABEL], main.metadata.ownerReferences?.[0]?.uid);
    assert.deepEqual(moved.data, { node: NODE_B });
    const cached = (host: { registry: ReflectorRegistry }) =>
      host.registry.stats().find((e) => e.key.startsWith(`v1/ConfigMap|${ns}|`))?.objects;
    await waitFor(() => cached(a) === 0 && cached(b) === 1, { description: 'm-main cached by B only' });
  });

  test('only a key that may have moved recently waits: a create and a restart start at once, a move waits', async (t) => {
    const ns = await createTestNamespace(t, 'node-admit');
    // Long, so that a key held for the window cannot pass for one admitted at once.
    const WINDOW_MS = 20_000;
    /** When each host first ran each App. */
    const firstRun = new Map<string, number>();
    const options = (nodeName: string): NativeHostOptions => ({
      namespace: ns,
      nodeName,
      rule: { label: NODE_LABEL },
      handoverMs: WINDOW_MS,
      async reconcile(request) {
        const key = `${nodeName}/${request.primary.object().metadata.name}`;
        if (!firstRun.has(key)) firstRun.set(key, Date.now());
        return { children: [ownerConfigMap(request, nodeName)] };
      },
      onResult: () => undefined,
    });
    const ranWithin = async (key: string, since: number, description: string): Promise<number> => {
      await waitFor(() => firstRun.has(key), { description, timeoutMs: WINDOW_MS * 2 });
      return firstRun.get(key)! - since;
    };
    let a = await nativeHost(options(NODE_A));
    const b = await nativeHost(options(NODE_B));
    t.after(() => Promise.all([a.stop(), b.stop()]));

    // Created on a running host, labelled at creation: no other host ever owned it.
    const created = Date.now();
    await client.create(apps, app(ns, 'fresh', NODE_A));
    const freshMs = await ranWithin(`${NODE_A}/fresh`, created, 'A runs the new App');
    assert.ok(freshMs < WINDOW_MS / 2, `a created primary starts at once (${freshMs} ms, window ${WINDOW_MS} ms)`);
    t.diagnostic(`created primary first reconciled ${freshMs} ms after its create`);

    // Moved from B to A: B may still be acting on it until its watch has seen the move, so A waits the window.
    await client.create(apps, app(ns, 'mover', NODE_B));
    await ranWithin(`${NODE_B}/mover`, created, 'B runs the App it was created on');
    // Past the creation's second, which managedFields cannot tell from the create itself (handover.ts).
    await sleep(1_100);
    const moved = Date.now();
    await patchApp(ns, 'mover', { metadata: { labels: { [NODE_LABEL]: NODE_A } } });
    const movedMs = await ranWithin(`${NODE_A}/mover`, moved, 'A runs the moved App');
    assert.ok(movedMs >= WINDOW_MS - 50, `a moved primary waits out the window (${movedMs} ms)`);
    t.diagnostic(`moved primary first reconciled by its new owner ${movedMs} ms after the move`);

    // A restarts: both its Apps were assigned longer than a window ago (the move just now waited one out),
    // so the new process starts them at once instead of holding its whole share for the window.
    await a.stop();
    firstRun.clear();
    const restarted = Date.now();
    a = await nativeHost(options(NODE_A));
    const after = [
      await ranWithin(`${NODE_A}/fresh`, restarted, 'the restarted A runs fresh'),
      await ranWithin(`${NODE_A}/mover`, restarted, 'the restarted A runs mover'),
    ];
    assert.ok(
      after.every((ms) => ms < WINDOW_MS / 2),
      `a restarted host starts its settled share at once (${after.join(', ')} ms after its start began)`,
    );
    t.diagnostic(`restarted host first reconciled its settled share ${after.join(', ')} ms after its start began`);
    assert.equal(firstRun.has(`${NODE_B}/mover`), false, 'B, which saw mover leave, has not run it since');

    // Moved by another manager within its creation's second: managedFields stamp the move with the create's
    // second, and only the second entry tells it from a create (cache/field-change.ts), so A waits here too.
    while (Date.now() % 1_000 > 200) await sleep(20);
    await client.create(apps, app(ns, 'quick', NODE_B));
    const quickMoved = Date.now();
    await patchApp(ns, 'quick', { metadata: { labels: { [NODE_LABEL]: NODE_A } } }, 'node-sharding-test-mover');
    const quick = await client.get(apps, ns, 'quick');
    const entries = (quick.metadata.managedFields ?? []) as readonly { time?: string }[];
    const stamps = new Set(entries.map((e) => e.time));
    assert.equal(stamps.size, 1, `the create and the move share one second: ${[...stamps].join(', ')}`);
    const quickMs = await ranWithin(`${NODE_A}/quick`, quickMoved, 'A runs the App moved within its creation second');
    assert.ok(quickMs >= WINDOW_MS - 1_050, `a move within the creation's second waits out the window (${quickMs} ms)`);
    t.diagnostic(`primary moved within its creation second first reconciled by its new owner ${quickMs} ms after`);
  });

  test('children an unsharded host created are adopted by their owner on its first apply, as the same objects', async (t) => {
    const ns = await createTestNamespace(t, 'node-adopt');
    const options = (nodeName: string, unsharded = false): NativeHostOptions => ({
      namespace: ns,
      nodeName,
      rule: { label: NODE_LABEL },
      unsharded,
      reconcile: async (request) => ({ children: [ownerConfigMap(request, unsharded ? 'unsharded' : nodeName)] }),
      onResult: () => undefined,
    });
    await client.create(apps, app(ns, 'legacy', NODE_A));
    const unsharded = await nativeHost(options(NODE_A, true));
    const created = await waitFor(
      async () => {
        const cm = await client.get(configMaps, ns, 'legacy-owner').catch(() => undefined);
        return (cm?.data as Record<string, string> | undefined)?.node === 'unsharded' && cm;
      },
      { description: 'the unsharded host wrote the child' },
    );
    assert.equal(created.metadata.labels?.[CHILD_LABEL], undefined, 'an unsharded host sets no node label');
    await unsharded.stop();

    // The child has no node label, so A's watch does not hold it: its first reconcile applies it.
    const a = await nativeHost(options(NODE_A));
    t.after(() => a.stop());
    const adopted = await waitFor(
      async () => {
        const cm = await client.get(configMaps, ns, 'legacy-owner');
        return (
          cm.metadata.labels?.[CHILD_LABEL] === NODE_A && (cm.data as Record<string, string>).node === NODE_A && cm
        );
      },
      { description: 'A adopted the child' },
    );
    assert.equal(adopted.metadata.uid, created.metadata.uid, 'the same object, not deleted and re-created');
    const cached = () => a.registry.stats().filter((e) => e.key.startsWith(`v1/ConfigMap|${ns}|`));
    await waitFor(() => cached()[0]?.objects === 1, { description: "A's ConfigMap cache holds the adopted child" });
    assert.deepEqual(
      cached().map((e) => e.key.slice(e.key.lastIndexOf('|') + 1)),
      [`${CHILD_LABEL}=${NODE_A}`],
      "A watches ConfigMaps through its node's child selector only (the namespace's others, such as kube-root-ca.crt, stay out)",
    );
  });

  test('a field path rule: each host filters every primary itself, and the writer counts the unassigned', async (t) => {
    const ns = await createTestNamespace(t, 'node-field');
    const reconciledBy = new Map<string, Set<string>>([
      [NODE_A, new Set()],
      [NODE_B, new Set()],
    ]);
    const options = (nodeName: string): NativeHostOptions => ({
      namespace: ns,
      nodeName,
      rule: { fieldPath: 'spec.message' },
      async reconcile(request) {
        reconciledBy.get(nodeName)!.add(request.primary.object().metadata.name);
        return { children: [ownerConfigMap(request, nodeName)] };
      },
      onResult: () => undefined,
    });
    const [a, b] = await Promise.all([nativeHost(options(NODE_A)), nativeHost(options(NODE_B))]);
    t.after(() => Promise.all([a.stop(), b.stop()]));
    const at = (name: string, message: string) => {
      const object = app(ns, name, undefined);
      return { ...object, spec: { ...(object.spec as object), message } } as KubeObject;
    };
    await client.create(apps, at('on-a', NODE_A));
    await client.create(apps, at('on-b', NODE_B));
    await client.create(apps, at('nowhere', `gone-${RUN}`));

    await waitFor(async () => (await configMapData(ns, 'on-a-owner'))?.node === NODE_A, { description: 'on-a' });
    await waitFor(async () => (await configMapData(ns, 'on-b-owner'))?.node === NODE_B, { description: 'on-b' });
    await waitFor(() => a.controller.stats().unassigned === 1, { description: 'A counts one unassigned' });
    assert.deepEqual([...reconciledBy.get(NODE_A)!], ['on-a']);
    assert.deepEqual([...reconciledBy.get(NODE_B)!], ['on-b']);
    assert.equal(b.controller.stats().unassigned, undefined, 'only the status writer counts');
    // The API server cannot filter a field of a custom resource here: every host caches every primary.
    assert.equal(a.controller.stats().primaries, 3);
    assert.equal(await configMapData(ns, 'nowhere-owner'), undefined);
  });

  test('a field the API server selects on (a Pod spec.nodeName): each host is sent only its own', async (t) => {
    const ns = await createTestNamespace(t, 'node-pods');
    const pods = await client.resource('v1', 'Pod');
    const options = (nodeName: string): NativeHostOptions => ({
      namespace: ns,
      nodeName,
      primary: { apiVersion: 'v1', kind: 'Pod' },
      rule: { fieldPath: 'spec.nodeName' },
      reconcile: async (request) => ({ children: [ownerConfigMap(request, nodeName)] }),
      onResult: () => undefined,
    });
    const [a, b] = await Promise.all([nativeHost(options(NODE_A)), nativeHost(options(NODE_B))]);
    t.after(() => Promise.all([a.stop(), b.stop()]));
    const pod = (name: string, nodeName: string | undefined) =>
      ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: ns },
        spec: {
          ...(nodeName === undefined ? {} : { nodeName }),
          containers: [{ name: 'c', image: 'registry.example/c:1' }],
        },
      }) as KubeObject;
    // The namespace's default ServiceAccount, which Pod admission wants, may still be on its way.
    await waitFor(() => client.create(pods, pod('on-a', NODE_A)), { description: 'the first Pod' });
    await client.create(pods, pod('on-b', NODE_B));
    await client.create(pods, pod('elsewhere', `gone-${RUN}`));
    await client.create(pods, pod('unscheduled', undefined));

    await waitFor(async () => (await configMapData(ns, 'on-a-owner'))?.node === NODE_A, { description: 'on-a' });
    await waitFor(async () => (await configMapData(ns, 'on-b-owner'))?.node === NODE_B, { description: 'on-b' });
    assert.equal(a.controller.stats().primaries, 1, "A's Pod cache holds A's Pod only: the API server filtered it");
    assert.equal(b.controller.stats().primaries, 1);
    await waitFor(() => a.controller.stats().unassigned === 2, { description: 'A counts two unassigned Pods' });
    assert.equal(await configMapData(ns, 'elsewhere-owner'), undefined);
    assert.equal(await configMapData(ns, 'unscheduled-owner'), undefined);
  });

  test('refused configurations: node sharding with leader election, a node name that is no Node', async () => {
    const common = { kubeConfig: await getTestCluster(), moduleCacheDir: cacheDir, logLevel: 'silent' as const };
    await assert.rejects(
      startHost({
        ...common,
        sharding: { mode: 'node', nodeName: NODE_A },
        leaderElection: { namespace: 'default', name: 'x', identity: 'x' },
      }),
      (err) => isWrError(err, 'WR_CONFIG_INVALID'),
    );
    await assert.rejects(
      startHost({
        ...common,
        sharding: { mode: 'node', nodeName: `absent-${RUN}`, nodeSelector: `${RUN_LABEL}=${RUN}` },
      }),
      (err) => isWrError(err, 'WR_CONFIG_INVALID'),
    );
  });
});
