// examples/replicator on a real apiserver: its ClusterWasmReconciler YAML served by an in-process host, a
// ConfigMap copied into the namespaces a set-based selector matches, kept in step with its source, pruned when
// a namespace stops matching, not re-created in a Terminating namespace, and garbage-collected with the
// cluster-scoped Replication that owns the copies.
//
// Cluster-scoped objects are shared with every other file on the control plane, so everything here carries
// this run's id: the reconciler (and the host's label selector), the Replication, the namespaces' labels.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { load } from 'js-yaml';
import { buildReplicator } from '../../examples/replicator/test/module.ts';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { isWrError } from '../../host/src/errors.ts';
import { type ApiResource, KubeClient } from '../../host/src/kube/index.ts';
import { type Host, startHost } from '../../host/src/manager/index.ts';
import { createTestNamespace, getTestCluster, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const EXAMPLE = path.join(ROOT, 'examples/replicator');
const GROUP_VERSION = 'examples.wasmreconciler.dev/v1alpha1';
const RUN = randomBytes(4).toString('hex');
const RUN_LABEL = 'examples.wasmreconciler.dev/test-replicator';
const SOURCE_LABEL = 'replicator.examples.wasmreconciler.dev/source';
/** Holds a namespace in Terminating for as long as the test needs it there. */
const HOLD_FINALIZER = 'examples.wasmreconciler.dev/test-hold';

type Cond = { type: string; status: string; reason: string; message: string };
type Replication = KubeObject & { status?: { conditions?: Cond[]; namespaces?: string[]; copies?: number } };
type ConfigMap = KubeObject & { data?: Record<string, string> };

let client: KubeClient;
let cwrs: ApiResource;
let replications: ApiResource;
let configMaps: ApiResource;
let namespaces: ApiResource;
let moduleBase64: string;
let cacheDir: string;
let host: Host | undefined;
const clusterObjects: { res: ApiResource; name: string }[] = [];

before(async () => {
  client = await KubeClient.fromKubeConfig(await getTestCluster());
  await installCrd(client, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(client, path.join(ROOT, 'deploy/crd/clusterwasmreconciler.yaml'));
  await installCrd(client, path.join(EXAMPLE, 'crd.yaml'));
  cwrs = await client.resource('wasmreconciler.dev/v1alpha1', 'ClusterWasmReconciler');
  replications = await client.resource(GROUP_VERSION, 'Replication');
  configMaps = await client.resource('v1', 'ConfigMap');
  namespaces = await client.resource('v1', 'Namespace');
  moduleBase64 = readFileSync((await buildReplicator()).wasmPath).toString('base64');
  cacheDir = mkdtempSync(path.join(tmpdir(), 'wr-example-replicator-'));
});

after(async () => {
  await host?.stop();
  for (const { res, name } of clusterObjects) await client.delete(res, undefined, name).catch(() => undefined);
  client?.close();
  if (cacheDir !== undefined) rmSync(cacheDir, { recursive: true, force: true });
});

/** The example's clusterwasmreconciler.yaml as shipped, named and labelled for this run, with the module inline. */
function exampleReconciler(): KubeObject {
  const cwr = load(readFileSync(path.join(EXAMPLE, 'clusterwasmreconciler.yaml'), 'utf8')) as KubeObject & {
    spec: object;
  };
  return {
    ...cwr,
    metadata: { name: `replicator-${RUN}`, labels: { [RUN_LABEL]: RUN } },
    spec: { ...cwr.spec, module: { inline: moduleBase64 } },
  };
}

async function getOrUndefined<T extends KubeObject>(res: ApiResource, namespace: string | undefined, name: string) {
  try {
    return (await client.get(res, namespace, name)) as T;
  } catch (err) {
    if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return undefined;
    throw err;
  }
}

async function mergePatch(apiPath: string, body: Record<string, unknown>): Promise<void> {
  await client.request('PATCH', apiPath, { body, contentType: 'application/merge-patch+json' });
}

function labelNamespace(name: string, labels: Record<string, string | null>): Promise<void> {
  return mergePatch(`/api/v1/namespaces/${name}`, { metadata: { labels } });
}

/** The namespaces (of `candidates`) holding a copy of the source, with that copy's data. */
async function copies(candidates: readonly string[]): Promise<Map<string, Record<string, string> | undefined>> {
  const found = new Map<string, Record<string, string> | undefined>();
  for (const ns of candidates) {
    const copy = await getOrUndefined<ConfigMap>(configMaps, ns, 'ca-bundle');
    if (copy !== undefined && copy.metadata.deletionTimestamp === undefined) found.set(ns, copy.data);
  }
  return found;
}

async function waitCopies(
  candidates: readonly string[],
  expected: Record<string, Record<string, string>>,
  timeoutMs = 30_000,
) {
  // A failed comparison is "not yet"; the last one is the timeout's cause, with the diff.
  await waitFor(
    async () => {
      assert.deepEqual(Object.fromEntries(await copies(candidates)), expected);
      return true;
    },
    { description: `copies in exactly ${Object.keys(expected).join(', ')}`, timeoutMs },
  );
}

async function waitStatus(name: string, check: (r: Replication) => boolean, what: string): Promise<Replication> {
  return waitFor(
    async () => {
      const r = await getOrUndefined<Replication>(replications, undefined, name);
      assert.ok(r !== undefined && check(r), `status: ${JSON.stringify(r?.status)}`);
      return r;
    },
    { description: `Replication ${what}`, timeoutMs: 30_000 },
  );
}

function readyOf(r: Replication | KubeObject | undefined): Cond | undefined {
  return ((r as Replication | undefined)?.status?.conditions ?? []).find((c) => c.type === 'Ready');
}

describe('examples/replicator on the local control plane', () => {
  test('copies follow the selector, the source, namespace deletion and the Replication', async (t) => {
    const source = await createTestNamespace(t, 'replicator-src');
    const [a, b, c, d] = await Promise.all(['a', 'b', 'c', 'd'].map((x) => createTestNamespace(t, `replicator-${x}`)));
    const all = [source, a!, b!, c!, d!];
    await labelNamespace(source, { [RUN_LABEL]: RUN, tier: 'a' });
    await labelNamespace(a!, { [RUN_LABEL]: RUN, tier: 'a' });
    await labelNamespace(b!, { [RUN_LABEL]: RUN, tier: 'b' });
    await labelNamespace(c!, { [RUN_LABEL]: RUN, tier: 'c' });
    await labelNamespace(d!, { [RUN_LABEL]: RUN, tier: 'a', sandbox: 'true' });
    await client.create(configMaps, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'ca-bundle', namespace: source, labels: { [SOURCE_LABEL]: 'true' } },
      data: { 'ca.crt': 'v1' },
    } as KubeObject);

    host = await startHost({
      kubeConfig: await getTestCluster(),
      watchLabelSelector: `${RUN_LABEL}=${RUN}`,
      moduleCacheDir: cacheDir,
      logLevel: 'silent',
    });
    const reconciler = exampleReconciler();
    await client.create(cwrs, reconciler);
    clusterObjects.push({ res: cwrs, name: reconciler.metadata.name });
    await waitFor(async () => readyOf(await client.get(cwrs, undefined, reconciler.metadata.name))?.status === 'True', {
      description: 'ClusterWasmReconciler Ready',
      timeoutMs: 60_000,
    });

    const name = `ca-bundle-${RUN}`;
    const created = await client.create(replications, {
      apiVersion: GROUP_VERSION,
      kind: 'Replication',
      metadata: { name },
      spec: {
        source: { kind: 'ConfigMap', namespace: source, name: 'ca-bundle' },
        namespaceSelector: {
          matchLabels: { [RUN_LABEL]: RUN },
          matchExpressions: [
            { key: 'tier', operator: 'In', values: ['a', 'b'] },
            { key: 'sandbox', operator: 'DoesNotExist' },
          ],
        },
      },
    } as KubeObject);
    clusterObjects.push({ res: replications, name });

    // tier a and b, not the source's own namespace, not tier c, not the sandbox.
    await waitCopies(all, { [source]: { 'ca.crt': 'v1' }, [a!]: { 'ca.crt': 'v1' }, [b!]: { 'ca.crt': 'v1' } });
    const copy = (await client.get(configMaps, a!, 'ca-bundle')) as ConfigMap;
    assert.deepEqual(
      copy.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
      [['Replication', name, created.metadata.uid, true]],
    );
    assert.equal(copy.metadata.annotations?.['replicator.examples.wasmreconciler.dev/source'], `${source}/ca-bundle`);
    assert.equal(copy.metadata.labels?.[SOURCE_LABEL], undefined, 'a copy is no source itself');
    const replicated = await waitStatus(name, (r) => r.status?.copies === 2, 'with 2 copies');
    assert.deepEqual(replicated.status?.namespaces, [a!, b!].sort());
    assert.deepEqual([readyOf(replicated)?.status, readyOf(replicated)?.reason], ['True', 'Replicated']);

    // The source changes: every copy follows.
    await mergePatch(`/api/v1/namespaces/${source}/configmaps/ca-bundle`, { data: { 'ca.crt': 'v2' } });
    await waitCopies(all, { [source]: { 'ca.crt': 'v2' }, [a!]: { 'ca.crt': 'v2' }, [b!]: { 'ca.crt': 'v2' } });

    // b stops matching: its copy is pruned. c starts matching: it gets one.
    await labelNamespace(b!, { tier: 'c' });
    await labelNamespace(c!, { tier: 'b' });
    await waitCopies(all, { [source]: { 'ca.crt': 'v2' }, [a!]: { 'ca.crt': 'v2' }, [c!]: { 'ca.crt': 'v2' } });
    await waitStatus(
      name,
      (r) => JSON.stringify(r.status?.namespaces) === JSON.stringify([a!, c!].sort()),
      `in ${a} and ${c}`,
    );

    // a is deleted and held in Terminating by an object with a finalizer: its copy goes and never comes back,
    // and the Replication stays Ready (a write into a Terminating namespace would be refused with a 403).
    await client.create(configMaps, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'hold', namespace: a!, finalizers: [HOLD_FINALIZER] },
    } as KubeObject);
    await client.delete(namespaces, undefined, a!);
    const terminating = await waitStatus(
      name,
      (r) => /1 terminating namespace\(s\) skipped/.test(readyOf(r)?.message ?? ''),
      'skipping the terminating namespace',
    );
    assert.deepEqual(terminating.status?.namespaces, [c!]);
    assert.equal(readyOf(terminating)?.status, 'True');
    await waitFor(async () => (await getOrUndefined(configMaps, a!, 'ca-bundle')) === undefined, {
      description: `the copy in ${a} gone`,
    });
    // Another event for every Replication (a source change) while a is still Terminating: still no copy there.
    await mergePatch(`/api/v1/namespaces/${source}/configmaps/ca-bundle`, { data: { 'ca.crt': 'v3' } });
    await waitCopies(all, { [source]: { 'ca.crt': 'v3' }, [c!]: { 'ca.crt': 'v3' } });
    assert.equal(((await client.get(namespaces, undefined, a!)).status as { phase?: string }).phase, 'Terminating');
    await mergePatch(`/api/v1/namespaces/${a}/configmaps/hold`, { metadata: { finalizers: null } });

    // The Replication goes: the garbage collector removes its copies (a cluster-scoped owner, any namespace).
    // That is kube-controller-manager's work, not the host's: its garbage collector learns a new CRD's kind on
    // its discovery resync (every 30 s), so on a busy machine the first deletion it owns can take longer.
    await client.delete(replications, undefined, name);
    await waitCopies(all, { [source]: { 'ca.crt': 'v3' } }, 90_000);
  });
});
