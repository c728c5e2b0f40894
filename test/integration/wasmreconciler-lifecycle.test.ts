// The WasmReconciler lifecycle on a real apiserver: load, converge, hot swap under load, bad modules, delete.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { buildV1, buildV2 } from '../../examples/configmap-app/test/modules.ts';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { sha256Digest } from '../../host/src/digest.ts';
import { isWrError } from '../../host/src/errors.ts';
import { type ApiResource, KubeClient } from '../../host/src/kube/index.ts';
import { type Host, startHost } from '../../host/src/manager/index.ts';
import { parseOciReference, pushModule } from '../../host/src/modules/index.ts';
import { fixture } from '../fixtures/guests/wat.ts';
import { createTestNamespace, getTestCluster, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';
import { sample } from '../support/prom-text.ts';
import { startRegistry } from '../support/registry.ts';
import { createTestCa } from '../support/test-ca.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const APP = 'demo.wasmreconciler.dev/v1alpha1';

let client: KubeClient;
let wrs: ApiResource;
let apps: ApiResource;
let configMaps: ApiResource;
let deployments: ApiResource;
let v1: Uint8Array;
let v2: Uint8Array;
let cacheDir: string;

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

function wasmReconciler(
  namespace: string,
  name: string,
  module: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) {
  return {
    apiVersion: 'wasmreconciler.dev/v1alpha1',
    kind: 'WasmReconciler',
    metadata: { name, namespace },
    spec: {
      for: { apiVersion: APP, kind: 'App', namespaces: [namespace] },
      owns: [
        { apiVersion: 'v1', kind: 'ConfigMap' },
        { apiVersion: 'apps/v1', kind: 'Deployment' },
      ],
      module,
      ...extra,
    },
  } as KubeObject;
}

function app(namespace: string, name: string, config: Record<string, string>, labels: Record<string, string> = {}) {
  return {
    apiVersion: APP,
    kind: 'App',
    metadata: { name, namespace, labels },
    spec: { image: 'registry.example/hello:1', replicas: 1, message: 'hi', config },
  } as KubeObject;
}

type Cond = { type: string; status: string; reason: string; message: string };
async function conditionOf(namespace: string, name: string, type: string): Promise<Cond | undefined> {
  const wr = await client.get(wrs, namespace, name);
  return ((wr.status as { conditions?: Cond[] } | undefined)?.conditions ?? []).find((c) => c.type === type);
}

async function statusOf(namespace: string, name: string) {
  return ((await client.get(wrs, namespace, name)).status ?? {}) as {
    activeDigest?: string;
    previousDigest?: string;
    observedGeneration?: number;
    lastError?: { code: string };
    swapHistory?: unknown[];
    reconcileCount?: number;
  };
}

async function patchSpec(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await client.request('PATCH', `/apis/wasmreconciler.dev/v1alpha1/namespaces/${namespace}/wasmreconcilers/${name}`, {
    body: { spec },
    contentType: 'application/merge-patch+json',
  });
}

async function configMapData(namespace: string, name: string): Promise<Record<string, string> | undefined> {
  try {
    return ((await client.get(configMaps, namespace, `${name}-config`)).data ?? {}) as Record<string, string>;
  } catch (err) {
    if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return undefined;
    throw err;
  }
}

async function startTestHost(
  namespace: string,
  options: { sourceCa?: string; logger?: pino.Logger } = {},
): Promise<Host> {
  return startHost({
    kubeConfig: await getTestCluster(),
    namespace,
    moduleCacheDir: cacheDir,
    logLevel: 'silent',
    ...options,
  });
}

/** A pino logger whose JSON lines are kept, for tests of what the host tells its operator. */
function recordingPino(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) };
  return { logger: pino({ level: 'info' }, stream), lines };
}

before(async () => {
  client = await KubeClient.fromKubeConfig(await getTestCluster());
  await installCrd(client, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(client, path.join(ROOT, 'examples/configmap-app/crd.yaml'));
  wrs = await client.resource('wasmreconciler.dev/v1alpha1', 'WasmReconciler');
  apps = await client.resource(APP, 'App');
  configMaps = await client.resource('v1', 'ConfigMap');
  deployments = await client.resource('apps/v1', 'Deployment');
  const built = await Promise.all([buildV1(), buildV2()]);
  [v1, v2] = built.map((r) => new Uint8Array(readFileSync(r.wasmPath))) as [Uint8Array, Uint8Array];
  cacheDir = mkdtempSync(path.join(tmpdir(), 'wr-modules-'));
});

after(() => {
  client?.close();
  if (cacheDir !== undefined) rmSync(cacheDir, { recursive: true, force: true });
});

describe('WasmReconciler lifecycle', () => {
  test('loads, converges, swaps under load without loss or re-list, and refuses bad modules', async (t) => {
    const ns = await createTestNamespace(t, 'wr-life');
    const host = await startTestHost(ns);
    t.after(() => host.stop());

    // 1. Create: the module loads and the App converges to a ConfigMap + Deployment + status.
    await client.create(wrs, wasmReconciler(ns, 'apps', { inline: b64(v1) }));
    await waitFor(async () => (await conditionOf(ns, 'apps', 'Ready'))?.status === 'True', {
      description: 'WasmReconciler Ready',
    });
    assert.equal((await statusOf(ns, 'apps')).activeDigest, sha256Digest(v1));
    const names = ['a1', 'a2', 'a3'];
    for (const name of names) await client.create(apps, app(ns, name, { ROUND: '0' }));
    for (const name of names) {
      await waitFor(async () => (await configMapData(ns, name))?.ROUND === '0', { description: `${name} ConfigMap` });
      // Children are applied one after another: the Deployment may land just after the ConfigMap.
      const deployment = await waitFor(() => client.get(deployments, ns, name), { description: `${name} Deployment` });
      const owner = deployment.metadata.ownerReferences?.[0];
      assert.equal(owner?.kind, 'App');
      assert.equal(owner?.controller, true);
    }
    // Status is written after the children, through the status subresource, with observedGeneration.
    const appStatus = await waitFor(
      async () => {
        const status = (await client.get(apps, ns, 'a1')).status as
          | { conditions?: Cond[]; observedGeneration?: number }
          | undefined;
        return status?.conditions?.some((c) => c.type === 'Ready') ? status : undefined;
      },
      { description: 'App status with a Ready condition' },
    );
    assert.equal(appStatus.observedGeneration, 1);
    // What the host did shows up in its metrics, labelled by reconciler and kind.
    const controller = `${ns}/apps`;
    // A reconcile is counted when it ends, after its writes: the third may still be finishing.
    const text = await waitFor(
      async () => {
        const t = await host.metrics.registry.metrics();
        return (sample(t, 'controller_runtime_reconcile_total', { controller, result: 'success' }) ?? 0) >= 3 && t;
      },
      { description: 'three successful reconciles counted' },
    );
    assert.ok((sample(text, 'wasm_reconciler_api_writes_total', { controller, verb: 'apply' }) ?? 0) >= 6);
    assert.ok((sample(text, 'workqueue_adds_total', { name: controller }) ?? 0) >= 3);
    // One initial sync of the App cache. Its first attempt may be refused (a 429 while a new CRD's watch
    // cache warms up: this file may be the first to install it) and is then followed by one paginated list,
    // as client-go does; both are counted, so the metric shows the attempts and the stats tell them apart.
    const appWatch = host.registry.stats().find((s) => s.key.startsWith(`${APP}/App|${ns}|`))!.watch;
    assert.equal(appWatch.lists - appWatch.watchListFallbacks, 1, 'one initial sync, no relist');
    assert.equal(sample(text, 'wasm_reconciler_watch_lists_total', { kind: `${APP}/App` }), appWatch.lists);
    assert.equal(sample(text, 'wasm_reconciler_cache_objects', { kind: `${APP}/App` }), 3);
    assert.equal(sample(text, 'wasm_reconciler_module_swaps_total', { controller }), 1);

    // 2. Hot swap to v2 in the middle of a stream of App updates.
    const listsBefore = host.registry.stats().reduce((n, s) => n + s.watch.lists, 0);
    const controllerBefore = host.manager.controller(ns, 'apps');
    const rounds = 12;
    for (let round = 1; round <= rounds; round++) {
      for (const name of names) {
        await client.request('PATCH', `/apis/demo.wasmreconciler.dev/v1alpha1/namespaces/${ns}/apps/${name}`, {
          body: { spec: { config: { ROUND: String(round) } } },
          contentType: 'application/merge-patch+json',
        });
      }
      if (round === rounds / 2) await patchSpec(ns, 'apps', { module: { inline: b64(v2) } });
    }
    await waitFor(async () => (await statusOf(ns, 'apps')).activeDigest === sha256Digest(v2), {
      description: 'v2 active',
    });
    // Every App converges to its last update, rendered by v2 (no event lost across the swap).
    for (const name of names) {
      await waitFor(
        async () => {
          const cm = await client.get(configMaps, ns, `${name}-config`);
          return (
            (cm.data as Record<string, string>)?.ROUND === String(rounds) &&
            cm.metadata.labels?.['app.wasmreconciler.dev/version'] === 'v2'
          );
        },
        { description: `${name} rendered by v2 with the final round` },
      );
    }
    const slot = host.manager.slot(ns, 'apps')!;
    assert.equal(slot.activeDigest, sha256Digest(v2));
    assert.equal(slot.previousDigest, sha256Digest(v1));
    assert.equal(host.manager.controller(ns, 'apps'), controllerBefore, 'the controller is not rebuilt by a swap');
    const listsAfter = host.registry.stats().reduce((n, s) => n + s.watch.lists, 0);
    assert.equal(listsAfter, listsBefore, 'a module swap re-lists nothing');
    assert.ok(
      slot.stats().every((v) => v.failures === 0),
      'no guest call failed across the swap',
    );

    // 3. Bad modules: each is refused with its precise code, and v2 keeps serving.
    const badCases: {
      name: string;
      module: Record<string, unknown>;
      limits?: Record<string, unknown>;
      code: string;
    }[] = [
      {
        name: 'digest mismatch',
        module: { inline: b64(v1), digest: sha256Digest(v2) },
        code: 'WR_SOURCE_DIGEST_MISMATCH',
      },
      {
        name: 'not wasm',
        module: { inline: b64(Buffer.from('definitely not a module')) },
        code: 'WR_MODULE_MALFORMED',
      },
      { name: 'wrong ABI', module: { inline: b64(await fixture('bad-version')) }, code: 'WR_MODULE_ABI_VERSION' },
      { name: 'init failure', module: { inline: b64(await fixture('init-trap')) }, code: 'WR_GUEST_INIT_FAILED' },
      {
        name: 'unreachable URL',
        // A digest the disk cache does not hold: a cached one would (rightly) be served without the network.
        module: { url: 'https://127.0.0.1:9/module.wasm', digest: sha256Digest(Buffer.from('never cached')) },
        code: 'WR_SOURCE_UNREACHABLE',
      },
      // Last: its limits stay in the spec, so a valid module would otherwise be refused afterwards too.
      { name: 'over size', module: { inline: b64(v1) }, limits: { moduleBytes: 1024 }, code: 'WR_MODULE_TOO_LARGE' },
    ];
    for (const bad of badCases) {
      await patchSpec(ns, 'apps', {
        module: { inline: null, url: null, digest: null, ...bad.module },
        ...(bad.limits === undefined ? {} : { limits: bad.limits }),
      });
      await waitFor(async () => (await statusOf(ns, 'apps')).lastError?.code === bad.code, {
        description: `${bad.name}: lastError ${bad.code}`,
      });
      const degraded = await conditionOf(ns, 'apps', 'Degraded');
      assert.equal(degraded?.status, 'True', bad.name);
      assert.match(degraded?.message ?? '', new RegExp(bad.code), bad.name);
      assert.equal((await statusOf(ns, 'apps')).activeDigest, sha256Digest(v2), `${bad.name}: v2 still serves`);
    }
    // The old version still serves: a new App is reconciled by v2.
    await client.create(apps, app(ns, 'after-bad', { ROUND: 'x' }));
    await waitFor(async () => (await configMapData(ns, 'after-bad'))?.ROUND === 'x', {
      description: 'v2 still reconciles after the bad modules',
    });
    // The status flush after that reconcile re-syncs the WasmReconciler: the refused module is reported
    // again but neither fetched nor loaded again.
    const reconcilesBefore = (await statusOf(ns, 'apps')).reconcileCount ?? 0;
    await waitFor(async () => ((await statusOf(ns, 'apps')).reconcileCount ?? 0) > reconcilesBefore, {
      description: 'a status flush',
    });
    const failures = sample(await host.metrics.registry.metrics(), 'wasm_reconciler_module_load_failures_total', {
      controller: `${ns}/apps`,
      code: 'WR_MODULE_TOO_LARGE',
    });
    assert.equal(failures, 1, 'a refused module is loaded once, not once per status flush');
    assert.equal((await conditionOf(ns, 'apps', 'Degraded'))?.status, 'True');

    // 4. Delete: the reconciler stops and releases its watches.
    const refsBefore = host.registry.stats().find((s) => s.key.includes('/App|'))?.refs ?? 0;
    assert.ok(refsBefore >= 1);
    await client.delete(wrs, ns, 'apps');
    await waitFor(() => host.manager.controller(ns, 'apps') === undefined, { description: 'controller stopped' });
    assert.equal(
      host.registry.stats().find((s) => s.key.includes('/App|')),
      undefined,
      'App watch released',
    );
  });

  test('load, swap, rollback and unload each log one info line with the digest and generation', async (t) => {
    const ns = await createTestNamespace(t, 'wr-logs');
    const { logger, lines } = recordingPino();
    const host = await startTestHost(ns, { logger });
    t.after(() => host.stop());
    const key = `${ns}/logged`;
    const logged = (msg: string) => lines.filter((l) => l.msg === msg && l.reconciler === key);
    await client.create(wrs, wasmReconciler(ns, 'logged', { inline: b64(v1) }));
    await waitFor(async () => logged('module loaded').length === 1, { description: 'module loaded' });
    await patchSpec(ns, 'logged', { module: { inline: b64(v2) } });
    await waitFor(async () => logged('module swapped').length === 1, { description: 'module swapped' });
    await patchSpec(ns, 'logged', { module: { inline: b64(v1) } });
    await waitFor(async () => logged('module rolled back').length === 1, { description: 'module rolled back' });
    await client.delete(wrs, ns, 'logged');
    await waitFor(async () => logged('module unloaded').length === 1, { description: 'module unloaded' });
    const first = (msg: string) => logged(msg)[0] ?? {};
    const swapped = first('module swapped');
    const rolledBack = first('module rolled back');
    assert.deepEqual(
      ['module loaded', 'module swapped', 'module rolled back', 'module unloaded'].map((m) => [
        first(m).digest,
        first(m).generation,
      ]),
      [
        [sha256Digest(v1), 1],
        [sha256Digest(v2), 2],
        [sha256Digest(v1), 3],
        [sha256Digest(v1), 3],
      ],
    );
    assert.equal(swapped.previousDigest, sha256Digest(v1));
    assert.equal(rolledBack.previousDigest, sha256Digest(v2));
    // Every warning or error line names a stable code.
    for (const line of lines.filter((l) => (l.level as number) >= 40)) {
      assert.match(String(line.code), /^WR_[A-Z_]+$/, `a ${line.msg} line without its code`);
    }
  });

  test('a bad first version never starts, and two reconcilers on one kind share one watch', async (t) => {
    const ns = await createTestNamespace(t, 'wr-first');
    const host = await startTestHost(ns);
    t.after(() => host.stop());

    // Its own label selector: an older WasmReconciler of the same Apps, broken or not, would refuse the
    // tiers below with Conflict.
    await client.create(
      wrs,
      wasmReconciler(
        ns,
        'broken',
        { inline: b64(await fixture('trap')).slice(0, 40) },
        { for: { apiVersion: APP, kind: 'App', namespaces: [ns], labelSelector: { matchLabels: { tier: 'x' } } } },
      ),
    );
    await waitFor(async () => (await conditionOf(ns, 'broken', 'Ready'))?.status === 'False', {
      description: 'Ready=False for a bad first version',
    });
    assert.equal((await conditionOf(ns, 'broken', 'ModuleLoaded'))?.status, 'False');
    assert.equal(host.manager.controller(ns, 'broken'), undefined);
    assert.equal((await statusOf(ns, 'broken')).activeDigest, undefined);

    const selected = (tier: string) => ({
      for: { apiVersion: APP, kind: 'App', namespaces: [ns], labelSelector: { matchLabels: { tier } } },
    });
    await client.create(wrs, wasmReconciler(ns, 'tier-a', { inline: b64(v1) }, selected('a')));
    await client.create(wrs, wasmReconciler(ns, 'tier-b', { inline: b64(v2) }, selected('b')));
    for (const name of ['tier-a', 'tier-b']) {
      await waitFor(async () => (await conditionOf(ns, name, 'Ready'))?.status === 'True', {
        description: `${name} Ready`,
      });
    }
    await client.create(apps, app(ns, 'in-a', { K: 'a' }, { tier: 'a' }));
    await client.create(apps, app(ns, 'in-b', { K: 'b' }, { tier: 'b' }));
    await waitFor(async () => (await configMapData(ns, 'in-a'))?.K === 'a', { description: 'tier a converged' });
    await waitFor(async () => (await configMapData(ns, 'in-b'))?.K === 'b', { description: 'tier b converged' });
    // Both own ConfigMaps and Deployments in this namespace: one watch each, shared by two reconcilers.
    const cmWatches = host.registry.stats().filter((s) => s.key.includes('/ConfigMap|'));
    assert.equal(cmWatches.length, 1);
    assert.equal(cmWatches[0]!.refs, 2);
    assert.equal(cmWatches[0]!.watch.lists, 1);

    // A primary kind the API does not serve: the module loads, the controller cannot start, and says so.
    await client.create(
      wrs,
      wasmReconciler(
        ns,
        'no-kind',
        { inline: b64(v1) },
        {
          for: { apiVersion: 'nowhere.example/v1', kind: 'Missing', namespaces: [ns] },
        },
      ),
    );
    await waitFor(async () => (await conditionOf(ns, 'no-kind', 'Ready'))?.reason === 'KindNotServed', {
      description: 'Ready=False KindNotServed for an unserved kind',
    });
    assert.match(
      (await conditionOf(ns, 'no-kind', 'Ready'))?.message ?? '',
      /install the CRD for nowhere\.example\/v1/,
    );
    assert.equal((await statusOf(ns, 'no-kind')).lastError?.code, 'WR_KUBE_NOT_FOUND');
  });

  test('writes outside spec.owns are refused and reported; suspend pauses intake', async (t) => {
    const ns = await createTestNamespace(t, 'wr-perm');
    const host = await startTestHost(ns);
    t.after(() => host.stop());

    // The App module renders a Deployment, but this reconciler owns only ConfigMaps. It leaves the Apps
    // labelled `wide` to the second reconciler below (two reconcilers of the same Apps would conflict).
    const narrow = wasmReconciler(
      ns,
      'narrow',
      { inline: b64(v1) },
      {
        for: {
          apiVersion: APP,
          kind: 'App',
          namespaces: [ns],
          labelSelector: { matchExpressions: [{ key: 'wide', operator: 'DoesNotExist' }] },
        },
      },
    );
    (narrow.spec as { owns: unknown[] }).owns = [{ apiVersion: 'v1', kind: 'ConfigMap' }];
    await client.create(wrs, narrow);
    await waitFor(async () => (await conditionOf(ns, 'narrow', 'Ready'))?.status === 'True', {
      description: 'narrow Ready',
    });
    await client.create(apps, app(ns, 'denied', { K: 'v' }));
    const events = await waitFor(
      async () => {
        const res = await client.resource('v1', 'Event');
        const list = await client.list(res, { namespace: ns });
        return list.items.find(
          (e) => e.reason === 'CapabilityDenied' && (e.involvedObject as { name: string }).name === 'denied',
        );
      },
      { description: 'a CapabilityDenied Warning event on the App' },
    );
    assert.equal(events.type, 'Warning');
    assert.equal(await configMapData(ns, 'denied'), undefined, 'nothing is written when any action is denied');
    await assert.rejects(client.get(deployments, ns, 'denied'), (err) => isWrError(err, 'WR_KUBE_NOT_FOUND'));

    // Suspend: intake pauses; resuming processes what changed meanwhile.
    const wide = wasmReconciler(
      ns,
      'wide',
      { inline: b64(v1) },
      {
        for: { apiVersion: APP, kind: 'App', namespaces: [ns], labelSelector: { matchLabels: { wide: 'yes' } } },
      },
    );
    await client.create(wrs, wide);
    await waitFor(async () => (await conditionOf(ns, 'wide', 'Ready'))?.status === 'True', {
      description: 'wide Ready',
    });
    await patchSpec(ns, 'wide', { suspend: true });
    await waitFor(async () => (await conditionOf(ns, 'wide', 'Ready'))?.reason === 'Suspended', {
      description: 'Suspended',
    });
    // Proven by counters, not by waiting: the reflector feeding `wide` delivers the new App's event, and
    // the reconciler's queue takes nothing in meanwhile.
    const wideCache = () => host.registry.stats().find((e) => e.key.includes('App') && e.key.includes('wide=yes'));
    const eventsBefore = wideCache()?.watch.events ?? 0;
    const adds = async () =>
      sample(await host.metrics.registry.metrics(), 'workqueue_adds_total', { name: `${ns}/wide` }) ?? 0;
    const addsBefore = await adds();
    await client.create(apps, app(ns, 'paused', { K: 'p' }, { wide: 'yes' }));
    await waitFor(async () => (wideCache()?.watch.events ?? 0) > eventsBefore, {
      description: 'the suspended reconciler’s cache saw the new App',
    });
    assert.equal(await adds(), addsBefore, 'nothing enters the queue while suspended');
    assert.equal(await configMapData(ns, 'paused'), undefined, 'no reconcile while suspended');
    await patchSpec(ns, 'wide', { suspend: false });
    await waitFor(async () => (await configMapData(ns, 'paused'))?.K === 'p', { description: 'resumed' });
  });

  test('a restarted host resumes every reconciler from the CRs and the disk cache', async (t) => {
    const ns = await createTestNamespace(t, 'wr-restart');
    let host = await startTestHost(ns);
    // A ConfigMap-sourced module with a digest: after the ConfigMap is gone, only the disk cache has it.
    await client.create(configMaps, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'module', namespace: ns },
      binaryData: { 'app.wasm': b64(v1) },
    });
    await client.create(
      wrs,
      wasmReconciler(ns, 'cached', { configMap: { name: 'module', key: 'app.wasm' }, digest: sha256Digest(v1) }),
    );
    await waitFor(async () => (await conditionOf(ns, 'cached', 'Ready'))?.status === 'True', {
      description: 'cached Ready',
    });
    await host.stop();
    await client.delete(configMaps, ns, 'module');

    host = await startTestHost(ns);
    t.after(() => host.stop());
    assert.equal(host.manager.slot(ns, 'cached')?.activeDigest, sha256Digest(v1), 'loaded from the disk cache');
    await client.create(apps, app(ns, 'restarted', { K: 'r' }));
    await waitFor(async () => (await configMapData(ns, 'restarted'))?.K === 'r', {
      description: 'reconciles after restart',
    });
  });

  test('a ConfigMap source is followed: an update swaps an unpinned module; a pinned one reports the mismatch and keeps serving', async (t) => {
    const ns = await createTestNamespace(t, 'wr-follow');
    const host = await startTestHost(ns);
    t.after(() => host.stop());
    const moduleMap = (name: string, bytes: Uint8Array, extra: Record<string, string> = {}) =>
      ({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace: ns },
        binaryData: { 'app.wasm': b64(bytes), ...extra },
      }) as KubeObject;
    // Two reconcilers of Apps in one namespace: disjoint selectors, or the later one is a Conflict.
    const tier = (value: string) => ({
      for: { apiVersion: APP, kind: 'App', labelSelector: { matchLabels: { tier: value } } },
    });
    const update = async (name: string, bytes: Uint8Array, extra: Record<string, string> = {}) => {
      const live = await client.get(configMaps, ns, name);
      await client.replace(configMaps, { ...moduleMap(name, bytes, extra), metadata: live.metadata });
    };
    await client.create(configMaps, moduleMap('unpinned', v1));
    await client.create(configMaps, moduleMap('pinned', v1));
    await client.create(
      wrs,
      wasmReconciler(ns, 'follows', { configMap: { name: 'unpinned', key: 'app.wasm' } }, tier('follows')),
    );
    await client.create(
      wrs,
      wasmReconciler(
        ns,
        'pins',
        { configMap: { name: 'pinned', key: 'app.wasm' }, digest: sha256Digest(v1) },
        tier('pins'),
      ),
    );
    for (const name of ['follows', 'pins']) {
      await waitFor(async () => (await statusOf(ns, name)).activeDigest === sha256Digest(v1), {
        description: `${name} serving v1`,
      });
    }
    const generationBefore = (await client.get(wrs, ns, 'follows')).metadata.generation;

    // Another key changing is not a module change.
    await update('unpinned', v1, { 'notes.txt': b64(new TextEncoder().encode('unrelated')) });
    // Then the module key: a hot swap, with no edit of the WasmReconciler.
    await update('unpinned', v2);
    await waitFor(async () => (await statusOf(ns, 'follows')).activeDigest === sha256Digest(v2), {
      description: 'the unpinned reconciler swapped to the updated ConfigMap',
    });
    const follows = await statusOf(ns, 'follows');
    assert.equal(follows.previousDigest, sha256Digest(v1));
    assert.equal(follows.swapHistory?.length, 2, 'one swap: the unrelated key changed nothing');
    assert.equal((await client.get(wrs, ns, 'follows')).metadata.generation, generationBefore);

    // A pinned source that changes under its digest: reported, and the pinned version keeps serving.
    await update('pinned', v2);
    await waitFor(
      async () => {
        const degraded = await conditionOf(ns, 'pins', 'Degraded');
        return degraded?.status === 'True' && /WR_SOURCE_DIGEST_MISMATCH/.test(degraded.message);
      },
      { description: 'pins Degraded with the digest mismatch' },
    );
    assert.equal((await statusOf(ns, 'pins')).activeDigest, sha256Digest(v1));
    assert.equal((await conditionOf(ns, 'pins', 'Ready'))?.status, 'True');
    // Put back, it serves as before and the report clears.
    await update('pinned', v1);
    await waitFor(async () => (await conditionOf(ns, 'pins', 'Degraded'))?.status === 'False', {
      description: 'pins no longer Degraded once the ConfigMap matches its digest again',
    });
  });

  test('a module pulled from a real OCI registry serves, and keeps serving from the disk cache after the registry is gone', async (t) => {
    const ns = await createTestNamespace(t, 'wr-oci');
    const ca = createTestCa();
    t.after(() => ca.dispose());
    const registry = await startRegistry({ ca });
    let registryUp = true;
    t.after(() => (registryUp ? registry.stop() : undefined));
    const pushed = await pushModule(parseOciReference(`${registry.host}/reconcilers/app:v1`), v1, { ca: ca.cert });

    let host = await startTestHost(ns, { sourceCa: ca.cert });
    await client.create(
      wrs,
      wasmReconciler(ns, 'from-oci', {
        oci: { reference: `${registry.host}/reconcilers/app` },
        digest: pushed.manifestDigest,
      }),
    );
    await waitFor(async () => (await conditionOf(ns, 'from-oci', 'Ready'))?.status === 'True', {
      description: 'OCI-sourced reconciler Ready',
    });
    assert.equal((await statusOf(ns, 'from-oci')).activeDigest, sha256Digest(v1));

    await host.stop();
    await registry.stop();
    registryUp = false;
    host = await startTestHost(ns, { sourceCa: ca.cert });
    t.after(() => host.stop());
    assert.equal(host.manager.slot(ns, 'from-oci')?.activeDigest, sha256Digest(v1), 'resumed with the registry down');
    await client.create(apps, app(ns, 'oci-app', { K: 'o' }));
    await waitFor(async () => (await configMapData(ns, 'oci-app'))?.K === 'o', { description: 'reconciles offline' });
  });

  test('changing what a reconciler owns reconfigures it in place and catches up on every primary', async (t) => {
    const ns = await createTestNamespace(t, 'wr-reconf');
    const host = await startTestHost(ns);
    t.after(() => host.stop());
    const narrow = wasmReconciler(ns, 'grows', { inline: b64(v1) });
    (narrow.spec as { owns: unknown[] }).owns = [{ apiVersion: 'v1', kind: 'ConfigMap' }];
    await client.create(wrs, narrow);
    await waitFor(async () => (await conditionOf(ns, 'grows', 'Ready'))?.status === 'True', { description: 'Ready' });
    await client.create(apps, app(ns, 'waits', { K: 'w' }));
    // Refused while Deployments are not owned (the module renders one)...
    await waitFor(async () => (await statusOf(ns, 'grows')).lastError?.code === 'WR_CAPABILITY_DENIED', {
      description: 'the refused write reported in status',
    });
    const controller = host.manager.controller(ns, 'grows');
    const slotDigest = host.manager.slot(ns, 'grows')?.activeDigest;
    // ...and converges once they are, with the same controller and module: no restart, no reload.
    await patchSpec(ns, 'grows', {
      owns: [
        { apiVersion: 'v1', kind: 'ConfigMap' },
        { apiVersion: 'apps/v1', kind: 'Deployment' },
      ],
    });
    await waitFor(async () => (await configMapData(ns, 'waits'))?.K === 'w', {
      description: 'converged after reconfigure',
    });
    await waitFor(() => client.get(deployments, ns, 'waits'), { description: 'Deployment after reconfigure' });
    assert.equal(host.manager.controller(ns, 'grows'), controller);
    assert.equal(host.manager.slot(ns, 'grows')?.activeDigest, slotDigest);
    assert.equal((await statusOf(ns, 'grows')).observedGeneration, 2);
  });
});
