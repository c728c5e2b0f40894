// Installs deploy/crd/wasmreconciler.yaml into a real kube-apiserver and checks that its schema, CEL rules and
// defaults agree with the host's own parser (host/src/modules/spec.ts).
//
// It runs on the shared test cluster (or WR_TEST_USE_EXISTING_CLUSTER's), like the files that run hosts
// against the same CRD: installing it is idempotent, since every file installs the same file, and each test
// works in a namespace of its own. What is under test is the file, so the served CRD must be the file's: on
// a cluster that serves another version of it, the first test fails and says so, rather than the cluster's
// CRD being replaced for everything else running on it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { load } from 'js-yaml';
import { DEFAULT_LIMITS } from '../../host/src/abi/constants.ts';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { isWrError } from '../../host/src/errors.ts';
import { KubeClient, kubeConfigTransport } from '../../host/src/kube/index.ts';
import {
  LIMIT_BOUNDS,
  parseReconcilerSpec,
  SPEC_LIMIT_KEYS,
  WR_GROUP,
  WR_VERSION,
} from '../../host/src/modules/index.ts';
import { createTestNamespace, getTestCluster } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';

const CRD_PATH = path.join(import.meta.dirname, '../../deploy/crd/wasmreconciler.yaml');
const CRD_NAME = 'wasmreconcilers.wasmreconciler.dev';
const DIGEST = `sha256:${'c'.repeat(64)}`;

let kc: KubeConfig;
let client: KubeClient;
let objects: CustomObjectsApi;

function wr(namespace: string, name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: `${WR_GROUP}/${WR_VERSION}`,
    kind: 'WasmReconciler',
    metadata: { name, namespace },
    spec: { for: { apiVersion: 'example.com/v1', kind: 'App' }, module: { inline: 'AGFzbQEAAAA=' }, ...spec },
  };
}

function create(body: Record<string, unknown>): Promise<Record<string, unknown>> {
  return objects.createNamespacedCustomObject({
    group: WR_GROUP,
    version: WR_VERSION,
    namespace: (body.metadata as { namespace: string }).namespace,
    plural: 'wasmreconcilers',
    body,
  }) as Promise<Record<string, unknown>>;
}

before(async () => {
  kc = await getTestCluster();
  client = await KubeClient.fromKubeConfig(kc);
  await installCrd(client, CRD_PATH);
  objects = kc.makeApiClient(CustomObjectsApi);
});

after(() => client?.close());

test('the cluster serves the CRD of deploy/crd (an apply of the file would change nothing)', async () => {
  const crds = await client.resource('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
  const served = await client.get(crds, undefined, CRD_NAME);
  // A dry run: the served spec after applying the file (defaults included), without changing the cluster.
  const applied = await client.apply(load(readFileSync(CRD_PATH, 'utf8')) as KubeObject, {
    fieldManager: 'wasm-reconciler-tests',
    force: true,
    dryRun: true,
  });
  assert.deepEqual(
    served.spec,
    applied.spec,
    `the cluster serves another ${CRD_NAME}: kubectl apply -f deploy/crd/wasmreconciler.yaml, then run again`,
  );
});

test('the apiserver applies defaults the host parser agrees with', async (t) => {
  const ns = await createTestNamespace(t, 'crd-defaults');
  const stored = await create(wr(ns, 'minimal', {}));
  const spec = stored.spec as Record<string, unknown>;
  assert.deepEqual(spec.limits, {
    moduleBytes: DEFAULT_LIMITS.moduleBytes,
    memoryPages: DEFAULT_LIMITS.memoryPages,
    fuel: DEFAULT_LIMITS.fuel,
    inputBytes: DEFAULT_LIMITS.inputBytes,
    outputBytes: DEFAULT_LIMITS.outputBytes,
  });
  assert.equal(spec.suspend, false);
  assert.equal(spec.maxConcurrentReconciles, 1);
  assert.equal(spec.resyncPeriodSeconds, 0);
  const parsed = parseReconcilerSpec(stored);
  assert.equal(parsed.namespace, ns);
  assert.deepEqual(parsed.limits, spec.limits);
});

test('valid sources of every kind are accepted by both', async (t) => {
  const ns = await createTestNamespace(t, 'crd-sources');
  const modules = [
    { configMap: { name: 'mods', key: 'app.wasm' } },
    { url: 'https://mods.example/app.wasm', digest: DIGEST },
    { oci: { reference: `ghcr.io/org/app@${DIGEST}`, pullSecret: { name: 'pull' } } },
    { oci: { reference: 'ghcr.io/org/app:v1' }, digest: DIGEST },
    { oci: { reference: `ghcr.io/org/app:v1@${DIGEST}` }, digest: DIGEST },
  ];
  for (const [i, module] of modules.entries()) {
    const stored = await create(wr(ns, `source-${i}`, { module }));
    assert.equal(parseReconcilerSpec(stored).module.type, Object.keys(module)[0]);
  }
});

test('invalid objects are rejected by the apiserver and by the host parser alike', async (t) => {
  const ns = await createTestNamespace(t, 'crd-invalid');
  const bad: [string, Record<string, unknown>][] = [
    ['no-source', { module: {} }],
    ['two-sources', { module: { inline: 'AGFzbQEAAAA=', url: 'https://x/y', digest: DIGEST } }],
    ['http-url', { module: { url: 'http://x/y.wasm', digest: DIGEST } }],
    ['url-no-digest', { module: { url: 'https://x/y.wasm' } }],
    ['oci-no-digest', { module: { oci: { reference: 'ghcr.io/o/m:v1' } } }],
    [
      'oci-digests-differ',
      { module: { oci: { reference: `ghcr.io/o/m@${DIGEST}` }, digest: `sha256:${'d'.repeat(64)}` } },
    ],
    ['bad-digest', { module: { url: 'https://x/y', digest: 'sha256:abc' } }],
    ['memory-zero', { limits: { memoryPages: 0 } }],
    ['fuel-huge', { limits: { fuel: 10_000_000_000_000 } }],
    ['resync-short', { resyncPeriodSeconds: 5 }],
    [
      'dup-owns',
      {
        owns: [
          { apiVersion: 'v1', kind: 'ConfigMap' },
          { apiVersion: 'v1', kind: 'ConfigMap' },
        ],
      },
    ],
    ['bad-verb', { permissions: [{ apiVersion: 'v1', kind: 'Node', verbs: ['delete'] }] }],
    [
      'in-no-values',
      { for: { apiVersion: 'v1', kind: 'Pod', labelSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } } },
    ],
  ];
  for (const [name, spec] of bad) {
    const body = wr(ns, name, spec);
    await assert.rejects(create(body), (err: unknown) => (err as { code?: number }).code === 422, name);
    assert.throws(
      () => parseReconcilerSpec(body),
      (err: unknown) => isWrError(err, 'WR_SPEC_INVALID'),
      name,
    );
  }
});

test('every settable limit is stored by the apiserver and read back by the host parser', async (t) => {
  const ns = await createTestNamespace(t, 'crd-limits');
  const limits = Object.fromEntries(SPEC_LIMIT_KEYS.map((k) => [k, (LIMIT_BOUNDS[k]?.min ?? 1) + 1]));
  const stored = await create(wr(ns, 'every-limit', { limits }));
  assert.deepEqual((stored.spec as Record<string, unknown>).limits, limits);
  assert.deepEqual(parseReconcilerSpec(stored).limits, limits);
  const deadline = await create(wr(ns, 'deadline', { limits: { fuel: 2_000_000_000, deadlineMs: 200 } }));
  assert.equal(parseReconcilerSpec(deadline).limits.deadlineMs, 200);
});

test('every settable limit below its minimum is rejected by both', async (t) => {
  const ns = await createTestNamespace(t, 'crd-low-limits');
  for (const key of SPEC_LIMIT_KEYS) {
    const body = wr(ns, `low-${key.toLowerCase()}`, { limits: { [key]: (LIMIT_BOUNDS[key]?.min ?? 1) - 1 } });
    await assert.rejects(create(body), (err: unknown) => (err as { code?: number }).code === 422, key);
    assert.throws(
      () => parseReconcilerSpec(body),
      (err: unknown) => isWrError(err, 'WR_SPEC_INVALID') && err.details?.path === `spec.limits.${key}`,
      key,
    );
  }
});

interface Table {
  kind: string;
  columnDefinitions: { name: string; priority: number }[];
  rows: { cells: unknown[]; object?: { metadata?: { name?: string } } }[];
}

/** A GET with server-side printing, as kubectl get sends it. */
async function getTable(path: string): Promise<Table> {
  const transport = await kubeConfigTransport(kc);
  try {
    const res = await transport.request({
      method: 'GET',
      path,
      headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' },
    });
    const chunks: Buffer[] = [];
    for await (const chunk of res.body) chunks.push(chunk);
    const text = Buffer.concat(chunks).toString('utf8');
    assert.equal(res.status, 200, text);
    return JSON.parse(text) as Table;
  } finally {
    transport.close();
  }
}

test('the apiserver serves the printer columns, and a Table answer carries Reason, Message and Previous', async (t) => {
  const ns = await createTestNamespace(t, 'crd-printer');
  const crds = await client.resource('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
  const served = (await client.get(crds, undefined, CRD_NAME)).spec as {
    versions: { additionalPrinterColumns?: { name: string; jsonPath: string; priority?: number }[] }[];
  };
  const columns = (served.versions[0]?.additionalPrinterColumns ?? []).map((c) => ({
    name: c.name,
    jsonPath: c.jsonPath,
    priority: c.priority ?? 0,
  }));
  const ready = (field: string) => `.status.conditions[?(@.type=="Ready")].${field}`;
  assert.deepEqual(columns, [
    { name: 'Ready', jsonPath: ready('status'), priority: 0 },
    { name: 'Reason', jsonPath: ready('reason'), priority: 0 },
    { name: 'Kind', jsonPath: '.spec.for.kind', priority: 0 },
    { name: 'Digest', jsonPath: '.status.activeDigestShort', priority: 0 },
    { name: 'Age', jsonPath: '.metadata.creationTimestamp', priority: 0 },
    { name: 'Message', jsonPath: ready('message'), priority: 1 },
    { name: 'Previous', jsonPath: '.status.previousDigest', priority: 1 },
  ]);

  // The status the host writes for a refused first module, and for one that serves after a swap.
  const active = `sha256:${'e'.repeat(64)}`;
  const statuses: Record<string, Record<string, unknown>> = {
    'printed-rejected': {
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'ModuleRejected',
          message: 'WR_SOURCE_NOT_FOUND: no such ConfigMap',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
    },
    'printed-serving': {
      activeDigest: active,
      activeDigestShort: active.slice(0, 19),
      previousDigest: DIGEST,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Reconciling',
          message: '',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
    },
  };
  for (const [name, status] of Object.entries(statuses)) {
    const stored = await create(wr(ns, name, {}));
    await objects.replaceNamespacedCustomObjectStatus({
      group: WR_GROUP,
      version: WR_VERSION,
      namespace: ns,
      plural: 'wasmreconcilers',
      name,
      body: { ...stored, status },
    });
  }

  const base = `/apis/${WR_GROUP}/${WR_VERSION}/namespaces/${ns}/wasmreconcilers`;
  const one = await getTable(`${base}/printed-rejected`);
  assert.equal(one.kind, 'Table');
  assert.deepEqual(
    one.columnDefinitions.map((c) => [c.name, c.priority]),
    [['Name', 0], ...columns.map((c) => [c.name, c.priority])],
  );
  const cell = (table: Table, row: number, column: string): unknown =>
    table.rows[row]?.cells[table.columnDefinitions.findIndex((c) => c.name === column)];
  assert.equal(cell(one, 0, 'Name'), 'printed-rejected');
  assert.equal(cell(one, 0, 'Ready'), 'False');
  assert.equal(cell(one, 0, 'Reason'), 'ModuleRejected');
  assert.equal(cell(one, 0, 'Message'), 'WR_SOURCE_NOT_FOUND: no such ConfigMap');
  assert.equal(cell(one, 0, 'Kind'), 'App');

  const list = await getTable(`${base}?fieldSelector=metadata.name%3Dprinted-serving`);
  assert.equal(list.rows.length, 1);
  assert.equal(cell(list, 0, 'Ready'), 'True');
  assert.equal(cell(list, 0, 'Reason'), 'Reconciling');
  assert.equal(cell(list, 0, 'Digest'), `sha256:${'e'.repeat(12)}`);
  assert.equal(cell(list, 0, 'Previous'), DIGEST);
});
