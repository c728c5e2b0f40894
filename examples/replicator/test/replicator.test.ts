// The Replication reconciler's behaviour, offline: built with the SDK tooling and driven through the guest
// harness, which serves the namespace list the module reads through the cache (equality selectors only:
// set-based selectors are evaluated by the real host, see test/integration/example-replicator.test.ts).

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  GuestHarness,
  type KubeObject,
  type ReconcileOutput,
  reconcileInput,
} from '@wasm-reconciler/sdk-assemblyscript/tools/testing';
import { buildReplicator } from './module.ts';

const SOURCE_LABEL = { 'replicator.examples.wasmreconciler.dev/source': 'true' };
let wasmPath: string;

type Condition = { type: string; status: string; reason: string; message: string };

function namespace(name: string, labels: Record<string, string>, terminating = false): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name,
      labels: { 'kubernetes.io/metadata.name': name, ...labels },
      ...(terminating ? { deletionTimestamp: '2026-06-01T11:59:00Z' } : {}),
    },
    status: { phase: terminating ? 'Terminating' : 'Active' },
  };
}

const NAMESPACES = [
  namespace('platform', { team: 'platform' }),
  namespace('shop', { team: 'shop' }),
  namespace('billing', { team: 'billing' }),
  namespace('leaving', { team: 'gone' }, true),
  namespace('kube-system', {}),
];

function replication(spec: Record<string, unknown> = {}, status?: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'examples.wasmreconciler.dev/v1alpha1',
    kind: 'Replication',
    metadata: { name: 'ca-bundle', uid: 'r-1', generation: 2 },
    spec: {
      source: { kind: 'ConfigMap', namespace: 'platform', name: 'ca-bundle' },
      namespaceSelector: {},
      ...spec,
    },
    ...(status === undefined ? {} : { status }),
  };
}

const sourceConfigMap: KubeObject = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'ca-bundle', namespace: 'platform', uid: 's-1', labels: SOURCE_LABEL },
  data: { 'ca.crt': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' },
  binaryData: { 'trust.p12': 'AAEC/w==' },
};

const sourceSecret: KubeObject = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'pull', namespace: 'platform', uid: 's-2', labels: SOURCE_LABEL },
  type: 'kubernetes.io/dockerconfigjson',
  data: { '.dockerconfigjson': 'eyJhdXRocyI6e319' },
};

async function guest(options: { readable?: string[] } = {}): Promise<GuestHarness> {
  const g = await GuestHarness.load(wasmPath, {
    objects: NAMESPACES,
    clock: () => Date.parse('2026-06-01T12:00:00Z'),
    ...options,
  });
  assert.equal(g.init(null).status, 0);
  return g;
}

function reconcile(g: GuestHarness, primary: KubeObject, related: KubeObject[] = [sourceConfigMap, sourceSecret]) {
  const result = g.call('wr_reconcile', reconcileInput({ primary, related, reconciler: { name: 'replicator' } }));
  assert.equal(result.outputCalls, 1);
  return { status: result.status, out: JSON.parse(result.output!) as ReconcileOutput };
}

function ready(out: ReconcileOutput): Condition {
  const c = (out.status as { conditions?: Condition[] } | undefined)?.conditions?.find((x) => x.type === 'Ready');
  assert.ok(c, `no Ready condition in ${JSON.stringify(out.status)}`);
  return c;
}

function placed(out: ReconcileOutput): string[] {
  return (out.children ?? []).map((c) => `${c.kind} ${c.metadata.namespace}/${c.metadata.name}`);
}

before(async () => {
  wasmPath = (await buildReplicator()).wasmPath;
});

describe('replicator', () => {
  it('copies the source into every matching namespace but its own and the terminating ones', async () => {
    const { status, out } = reconcile(await guest(), replication());
    assert.equal(status, 0);
    assert.deepEqual(placed(out), [
      'ConfigMap shop/ca-bundle',
      'ConfigMap billing/ca-bundle',
      'ConfigMap kube-system/ca-bundle',
    ]);
    assert.deepEqual(out.children?.[0], {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      data: sourceConfigMap.data,
      binaryData: sourceConfigMap.binaryData,
      metadata: {
        name: 'ca-bundle',
        namespace: 'shop',
        labels: { 'app.kubernetes.io/managed-by': 'wasm-reconciler' },
        annotations: {
          'replicator.examples.wasmreconciler.dev/replication': 'ca-bundle',
          'replicator.examples.wasmreconciler.dev/source': 'platform/ca-bundle',
        },
      },
    });
    const { conditions, ...rest } = out.status as { conditions: Condition[] };
    assert.deepEqual(rest, { namespaces: ['billing', 'kube-system', 'shop'], copies: 3 });
    assert.deepEqual(
      [ready(out).status, ready(out).reason, ready(out).message],
      [
        'True',
        'Replicated',
        'copied ConfigMap platform/ca-bundle to 3 namespace(s); 1 terminating namespace(s) skipped',
      ],
    );
    assert.equal(conditions.length, 1);
  });

  it('reads the namespaces through the cache with the selector, so only matching ones get a copy', async () => {
    const { out } = reconcile(await guest(), replication({ namespaceSelector: { matchLabels: { team: 'shop' } } }));
    assert.deepEqual(placed(out), ['ConfigMap shop/ca-bundle']);
    // A namespace that stops matching is simply not declared: the host prunes its copy.
    const none = reconcile(await guest(), replication({ namespaceSelector: { matchLabels: { team: 'nobody' } } })).out;
    assert.deepEqual(none.children, []);
    assert.deepEqual((none.status as { namespaces: string[] }).namespaces, []);
  });

  it('copies a Secret with its type, under targetName when given', async () => {
    const { out } = reconcile(
      await guest(),
      replication({
        source: { kind: 'Secret', namespace: 'platform', name: 'pull' },
        targetName: 'registry-pull',
        namespaceSelector: { matchLabels: { team: 'billing' } },
      }),
    );
    assert.deepEqual(out.children, [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': 'eyJhdXRocyI6e319' },
        metadata: {
          name: 'registry-pull',
          namespace: 'billing',
          labels: { 'app.kubernetes.io/managed-by': 'wasm-reconciler' },
          annotations: {
            'replicator.examples.wasmreconciler.dev/replication': 'ca-bundle',
            'replicator.examples.wasmreconciler.dev/source': 'platform/pull',
          },
        },
      },
    ]);
  });

  it('keeps the copies and warns once when the source is gone or not labelled as one', async () => {
    const g = await guest();
    const first = reconcile(g, replication(), [sourceSecret]).out;
    assert.equal(first.children, undefined, 'no opinion on children: the copies stay');
    assert.deepEqual([ready(first).status, ready(first).reason], ['False', 'SourceNotFound']);
    assert.deepEqual(
      first.events?.map((e) => [e.type, e.reason]),
      [['Warning', 'SourceNotFound']],
    );
    const again = reconcile(g, replication({}, first.status as Record<string, unknown>), [sourceSecret]).out;
    assert.equal(again.events, undefined);
    // The same name in another namespace is not the source.
    const elsewhere = { ...sourceConfigMap, metadata: { ...sourceConfigMap.metadata, namespace: 'shop' } };
    assert.equal(ready(reconcile(g, replication(), [elsewhere]).out).reason, 'SourceNotFound');
  });

  it('retries when the namespace list is refused, and reports why', async () => {
    const { status, out } = reconcile(await guest({ readable: ['v1/ConfigMap'] }), replication());
    assert.equal(status, 2);
    assert.equal(out.children, undefined);
    assert.equal(out.error?.retryable, true);
    assert.equal(ready(out).reason, 'NamespacesUnreadable');
    assert.match(ready(out).message, /denied/);
  });

  it('refuses a spec it cannot act on with a terminal error', async () => {
    const g = await guest();
    for (const spec of [
      { source: { kind: 'Pod', namespace: 'platform', name: 'x' } },
      { source: { kind: 'ConfigMap', name: 'x' } },
      { namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: [] }] } },
      { namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'Near' }] } },
    ]) {
      const { status, out } = reconcile(g, replication(spec));
      assert.equal(status, 2, JSON.stringify(spec));
      assert.equal(out.error?.retryable, false);
      assert.equal(ready(out).reason, 'InvalidSpec');
    }
  });

  it('leaves the copies to the garbage collector when the Replication is deleted', async () => {
    const g = await guest();
    const result = g.call(
      'wr_reconcile',
      reconcileInput({ primary: replication(), deleted: true, trigger: { reason: 'deleted' } }),
    );
    assert.equal(result.status, 0);
    assert.deepEqual(JSON.parse(result.output!), {});
  });
});
