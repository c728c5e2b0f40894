import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { objectView } from '../abi/testing/object-view.ts';
import type { KubeObject, ObjectView, ReconcileOutput, ReconcileRequest } from '../abi/types.ts';
import { isRetryable, isWrError, type WrError } from '../errors.ts';
import { Executor, type ExecutorOptions } from './executor.ts';
import type { KindRef } from './kinds.ts';
import type { Permissions } from './permissions.ts';
import { FakeExecutorClient } from './testing/fake-client.ts';

const APP: KindRef = { apiVersion: 'demo.wasmreconciler.dev/v1alpha1', kind: 'App', namespaced: true };
const CONFIG_MAP: KindRef = { apiVersion: 'v1', kind: 'ConfigMap', namespaced: true };
const DEPLOYMENT: KindRef = { apiVersion: 'apps/v1', kind: 'Deployment', namespaced: true };
const SECRET: KindRef = { apiVersion: 'v1', kind: 'Secret', namespaced: true };
const WRITE: Permissions = [
  { apiGroups: [''], kinds: ['ConfigMap'], verbs: ['create', 'patch', 'delete'] },
  { apiGroups: ['apps'], kinds: ['Deployment'], verbs: ['create', 'patch', 'delete'] },
];

function app(overrides: Partial<KubeObject['metadata']> = {}, status?: Record<string, unknown>): KubeObject {
  return {
    apiVersion: APP.apiVersion,
    kind: 'App',
    metadata: { name: 'demo', namespace: 'team-a', generation: 3, ...overrides },
    spec: { image: 'nginx:1.27' },
    ...(status === undefined ? {} : { status }),
  };
}

function configMap(name: string, data: Record<string, string> = { a: '1' }): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data };
}

function setup(options: Partial<ExecutorOptions> = {}, primary: KubeObject = app()) {
  const client = new FakeExecutorClient();
  const stored = client.seed(primary);
  let clock = Date.parse('2025-01-01T00:00:00Z');
  const executor = new Executor({
    name: 'apps',
    primary: APP,
    owns: [CONFIG_MAP, DEPLOYMENT],
    permissions: WRITE,
    client,
    now: () => clock,
    ...options,
  });
  return {
    client,
    executor,
    primary: stored,
    advance(ms: number) {
      clock += ms;
    },
  };
}

function request(primary: KubeObject, children: KubeObject[] = [], deleted = false): ReconcileRequest {
  const grouped = new Map<string, ObjectView[]>();
  for (const child of children) {
    const key = `${child.apiVersion}/${child.kind}`;
    grouped.set(key, [...(grouped.get(key) ?? []), objectView(child)]);
  }
  return {
    trigger: { reason: 'updated' },
    reconciler: { name: 'apps' },
    primary: objectView(primary),
    deleted,
    children: grouped,
    related: new Map(),
  };
}

/** A child as the API server would hold it after we applied it: controller-owned by `owner`. */
function ownedBy(owner: KubeObject, child: KubeObject, uid: string, controller = true): KubeObject {
  return {
    ...child,
    metadata: {
      ...child.metadata,
      namespace: owner.metadata.namespace,
      uid,
      ownerReferences: [
        {
          apiVersion: owner.apiVersion,
          kind: owner.kind,
          name: owner.metadata.name,
          uid: owner.metadata.uid ?? '',
          controller,
          blockOwnerDeletion: true,
        },
      ],
    },
  };
}

describe('Executor: children', () => {
  it('applies each child with our field manager, the primary namespace and the controller owner reference', async () => {
    const { client, executor, primary } = setup();
    const summary = await executor.execute(request(primary), { children: [configMap('demo-config')] });
    assert.equal(summary.applied, 1);
    const [call] = client.writes();
    assert.equal(call?.method, 'apply');
    assert.deepEqual(call?.options, { fieldManager: 'wasm-reconciler/apps', force: true });
    const applied = call?.body as KubeObject;
    assert.equal(applied.metadata.namespace, 'team-a');
    assert.deepEqual(applied.metadata.ownerReferences, [
      {
        apiVersion: APP.apiVersion,
        kind: 'App',
        name: 'demo',
        uid: primary.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  });

  it('strips foreign owner references and server-populated metadata the guest sent', async () => {
    const { client, executor, primary } = setup();
    const child = configMap('demo-config');
    child.metadata = {
      ...child.metadata,
      uid: 'stolen',
      resourceVersion: '42',
      generation: 7,
      creationTimestamp: '2020-01-01T00:00:00Z',
      managedFields: [{ manager: 'x' }],
      ownerReferences: [{ apiVersion: 'v1', kind: 'Namespace', name: 'kube-system', uid: 'other', controller: true }],
      labels: { keep: 'me' },
    };
    await executor.execute(request(primary), { children: [child] });
    const applied = client.writes()[0]?.body as KubeObject;
    const meta = applied.metadata;
    for (const field of ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields']) {
      assert.equal(Object.hasOwn(meta, field), false, field);
    }
    assert.deepEqual(
      meta.ownerReferences?.map((r) => r.uid),
      [primary.metadata.uid],
    );
    assert.deepEqual(meta.labels, { keep: 'me' });
    assert.equal(child.metadata.uid, 'stolen', 'the guest output itself is not mutated');
  });

  it('rejects children in another namespace, without a name, or duplicated, writing nothing', async () => {
    const outputs: ReconcileOutput[] = [
      { children: [{ ...configMap('x'), metadata: { name: 'x', namespace: 'team-b' } }] },
      { children: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '' } }] },
      { children: [configMap('x'), { ...configMap('x'), metadata: { name: 'x', namespace: 'team-a' } }] },
      { children: [configMap('ok'), { apiVersion: 'v1', metadata: { name: 'no-kind' } } as unknown as KubeObject] },
      { children: 'all of them' as unknown as KubeObject[] },
    ];
    for (const output of outputs) {
      const { client, executor, primary } = setup();
      await assert.rejects(executor.execute(request(primary), output), (err) =>
        isWrError(err, 'WR_GUEST_OUTPUT_INVALID'),
      );
      assert.deepEqual(
        client.writes().map((c) => c.method),
        ['createEvent'],
      );
      assert.equal(client.events[0]?.reason, 'InvalidOutput');
      assert.equal(client.events[0]?.type, 'Warning');
    }
  });

  it('requires an explicit namespace for namespaced children of a cluster-scoped primary', async () => {
    const clusterApp: KindRef = { ...APP, namespaced: false };
    const { client, executor, primary } = setup(
      {
        primary: clusterApp,
        permissions: [{ apiGroups: [''], kinds: ['ConfigMap'], verbs: ['create', 'patch'], namespaces: ['*'] }],
      },
      app({ namespace: undefined }),
    );
    await assert.rejects(executor.execute(request(primary), { children: [configMap('x')] }), (err) =>
      isWrError(err, 'WR_GUEST_OUTPUT_INVALID'),
    );
    const placed = { ...configMap('x'), metadata: { name: 'x', namespace: 'edge-1' } };
    await executor.execute(request(primary), { children: [placed] });
    assert.equal((client.writes().at(-1)?.body as KubeObject | undefined)?.metadata.namespace, 'edge-1');
  });

  it('refuses a namespaced primary owning a cluster-scoped kind at construction', () => {
    assert.throws(
      () => setup({ owns: [{ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', namespaced: false }] }),
      (err) => isWrError(err, 'WR_SPEC_INVALID'),
    );
  });
});

describe('Executor: capabilities', () => {
  it('denies a child of an undeclared kind and writes nothing but one Warning event', async () => {
    const { client, executor, primary } = setup();
    const secret: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds' } };
    await assert.rejects(executor.execute(request(primary), { children: [configMap('fine'), secret] }), (err) => {
      assert.ok(isWrError(err, 'WR_CAPABILITY_DENIED'));
      assert.equal(isRetryable(err), false);
      assert.deepEqual(err.details?.denied, [
        {
          verb: 'create',
          apiVersion: 'v1',
          kind: 'Secret',
          namespace: undefined,
          name: 'creds',
          reason: 'not-an-owned-kind',
        },
      ]);
      return true;
    });
    assert.deepEqual(
      client.writes().map((c) => c.method),
      ['createEvent'],
    );
    assert.equal(client.events[0]?.reason, 'CapabilityDenied');
    assert.match(client.events[0]?.message ?? '', /Secret/);
  });

  it('denies an owned kind the permissions do not cover, even when other actions are allowed', async () => {
    const { client, executor, primary } = setup({ owns: [CONFIG_MAP, DEPLOYMENT, SECRET] });
    const secret: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds' } };
    await assert.rejects(
      executor.execute(request(primary), {
        children: [configMap('fine'), secret],
        status: { phase: 'x' },
        finalizer: 'ensure',
      }),
      (err) =>
        isWrError(err, 'WR_CAPABILITY_DENIED') &&
        (err.details?.denied as { reason: string }[] | undefined)?.[0]?.reason === 'not-permitted',
    );
    assert.deepEqual(
      client.writes().map((c) => c.method),
      ['createEvent'],
    );
  });

  it('checks delete before pruning: a prune the permissions lack blocks the applies too', async () => {
    const noDelete: Permissions = [
      { apiGroups: ['', 'apps'], kinds: ['ConfigMap', 'Deployment'], verbs: ['create', 'patch'] },
    ];
    const { client, executor, primary } = setup({ permissions: noDelete });
    const stale = ownedBy(primary, configMap('old'), 'cm-old');
    await assert.rejects(executor.execute(request(primary, [stale]), { children: [configMap('new')] }), (err) =>
      isWrError(err, 'WR_CAPABILITY_DENIED'),
    );
    assert.equal(client.writes().filter((c) => c.method !== 'createEvent').length, 0);
  });

  it('needs create and patch for an apply', async () => {
    const patchOnly: Permissions = [{ apiGroups: [''], kinds: ['ConfigMap'], verbs: ['patch'] }];
    const { executor, primary } = setup({ permissions: patchOnly });
    await assert.rejects(executor.execute(request(primary), { children: [configMap('x')] }), (err) =>
      isWrError(err, 'WR_CAPABILITY_DENIED'),
    );
  });
});

describe('Executor: prune', () => {
  it('deletes only controller-owned children of declared kinds that are no longer desired', async () => {
    const { client, executor, primary } = setup();
    const other = { ...primary, metadata: { ...primary.metadata, uid: 'someone-else' } };
    const children = [
      ownedBy(primary, configMap('keep'), 'cm-keep'),
      ownedBy(primary, configMap('stale'), 'cm-stale'),
      ownedBy(other, configMap('foreign'), 'cm-foreign'),
      ownedBy(primary, configMap('referenced-only'), 'cm-ref', false),
      ownedBy(primary, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'undeclared' } }, 'secret-1'),
      ownedBy(
        primary,
        { ...configMap('going'), metadata: { name: 'going', deletionTimestamp: '2025-01-01T00:00:00Z' } },
        'cm-going',
      ),
    ];
    for (const child of children) client.seed(child);
    const summary = await executor.execute(request(primary, children), { children: [configMap('keep')] });
    const deletes = client.writes().filter((c) => c.method === 'delete');
    assert.deepEqual(
      deletes.map((c) => [c.ref.name, c.options]),
      [['stale', { uid: 'cm-stale', propagationPolicy: 'Background' }]],
    );
    assert.equal(summary.pruned, 1);
    assert.equal(client.stored({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'team-a', name: 'stale' }), undefined);
  });

  it('prunes nothing when the output has no opinion on children, and everything owned for an empty list', async () => {
    const { client, executor, primary } = setup();
    const children = [ownedBy(primary, configMap('a'), 'cm-a'), ownedBy(primary, configMap('b'), 'cm-b')];
    for (const child of children) client.seed(child);
    await executor.execute(request(primary, children), { status: { phase: 'Ready' } });
    assert.equal(client.writes().filter((c) => c.method === 'delete').length, 0);
    const summary = await executor.execute(request(primary, children), { children: [] });
    assert.equal(summary.pruned, 2);
  });

  it('treats a child already gone or replaced (uid precondition) as pruned by someone else', async () => {
    const { client, executor, primary } = setup();
    const gone = ownedBy(primary, configMap('gone'), 'cm-gone');
    const replaced = ownedBy(primary, configMap('replaced'), 'cm-old');
    client.seed({ ...replaced, metadata: { ...replaced.metadata, uid: 'cm-new' } });
    const summary = await executor.execute(request(primary, [gone, replaced]), { children: [] });
    assert.equal(summary.pruned, 0);
    assert.ok(client.stored({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'team-a', name: 'replaced' }));
  });
});

describe('Executor: skipping no-op applies', () => {
  it('skips a child the cache shows exactly as last applied, and re-applies on any difference', async () => {
    const { client, executor, primary } = setup();
    const desired = {
      ...configMap('demo-config', { a: '1', b: '2' }),
      metadata: { name: 'demo-config', labels: { x: 'y' } },
    };
    const first = await executor.execute(request(primary), { children: [desired] });
    assert.deepEqual([first.applied, first.skipped], [1, 0]);

    // The cache now serves the child with server additions (defaults, other managers' labels).
    const observed = client.stored({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'team-a', name: 'demo-config' });
    assert.ok(observed);
    observed.metadata.labels = { ...observed.metadata.labels, 'added-by': 'someone' };
    (observed.metadata as Record<string, unknown>).creationTimestamp = '2025-01-01T00:00:00Z';
    const second = await executor.execute(request(primary, [observed]), { children: [desired] });
    assert.deepEqual([second.applied, second.skipped], [0, 1]);

    // Same content under a new uid: another incarnation whose fields our manager may not own.
    const recreated = { ...observed, metadata: { ...observed.metadata, uid: 'recreated' } };
    const again = await executor.execute(request(primary, [recreated]), { children: [desired] });
    assert.deepEqual([again.applied, again.skipped], [1, 0]);

    // Dropping a field we set: the observed object still holds it, so only an apply can remove it.
    const smaller = { ...desired, data: { a: '1' } };
    const current = client.stored({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'team-a', name: 'demo-config' });
    assert.ok(current);
    const third = await executor.execute(request(primary, [current]), { children: [smaller] });
    assert.deepEqual([third.applied, third.skipped], [1, 0]);

    // Drift by another writer on a field we own.
    const drifted = client.stored({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'team-a', name: 'demo-config' });
    assert.ok(drifted);
    const fourth = await executor.execute(request(primary, [{ ...drifted, data: { a: 'changed' } }]), {
      children: [smaller],
    });
    assert.deepEqual([fourth.applied, fourth.skipped], [1, 0]);
  });

  it('remembers a comparison per cached object, parsing each child at most once per reconcile', async () => {
    const { client, executor, primary } = setup();
    const desired = configMap('demo-config', { a: '1' });
    await executor.execute(request(primary), { children: [desired] });
    const stored = client.stored({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'team-a', name: 'demo-config' });
    assert.ok(stored);
    const inner = objectView(stored);
    let parses = 0;
    // The cache's contract: a fresh copy per call, which is what makes each parse cost.
    const view: ObjectView = {
      json: inner.json,
      object: () => {
        parses++;
        return JSON.parse(inner.json) as KubeObject;
      },
    };
    const cached = { ...request(primary), children: new Map([['v1/ConfigMap', [view]]]) };

    const first = await executor.execute(cached, { children: [desired] });
    assert.deepEqual([first.applied, first.skipped, parses], [0, 1, 1]);
    const repeat = await executor.execute(cached, { children: [desired] });
    assert.deepEqual([repeat.applied, repeat.skipped, parses], [0, 1, 1]);

    const changed = configMap('demo-config', { a: '2' });
    const third = await executor.execute(cached, { children: [changed] });
    assert.deepEqual([third.applied, third.skipped, parses], [1, 0, 1]);
    // Applied, but the cache still serves the old child: the remembered answer was for another desired object,
    // so the child is compared afresh and, not holding the change, applied again.
    const stale = await executor.execute(cached, { children: [changed] });
    assert.deepEqual([stale.applied, stale.skipped, parses], [1, 0, 2]);
  });

  it('applies once after a restart even when the cache already matches', async () => {
    const { client, primary } = setup();
    const observed = ownedBy(primary, configMap('demo-config'), 'cm-1');
    const fresh = new Executor({ name: 'apps', primary: APP, owns: [CONFIG_MAP], permissions: WRITE, client });
    const summary = await fresh.execute(request(primary, [observed]), { children: [configMap('demo-config')] });
    assert.deepEqual([summary.applied, summary.skipped], [1, 0]);
  });
});

describe('Executor: host labels on children (sharding)', () => {
  const SHARD = 'shard.wasmreconciler.dev/ring';

  it('sets them over the labels the reconciler rendered: a guest can neither forge nor drop them', async () => {
    const { client, executor, primary } = setup({ childLabels: { [SHARD]: 'member-a' } });
    const forged = { ...configMap('forged'), metadata: { name: 'forged', labels: { [SHARD]: 'member-b', x: 'y' } } };
    const bare = configMap('bare');
    await executor.execute(request(primary), { children: [forged, bare] });
    const labels = client.writes().map((w) => (w.body as KubeObject).metadata.labels);
    assert.deepEqual(labels, [{ [SHARD]: 'member-a', x: 'y' }, { [SHARD]: 'member-a' }]);
  });

  it('applies, never skips or prunes, a child its cache does not hold, though its record matches', async () => {
    // A child another host labelled is outside this host's watch: the apply is what brings it back in.
    const { client, executor, primary } = setup({ childLabels: { [SHARD]: 'member-a' } });
    const desired = configMap('moved');
    await executor.execute(request(primary), { children: [desired] });
    const again = await executor.execute(request(primary), { children: [desired] });
    assert.deepEqual([again.applied, again.skipped, again.pruned], [1, 0, 0]);
    assert.deepEqual((client.writes()[1]!.body as KubeObject).metadata.labels, { [SHARD]: 'member-a' });
  });

  it('leaves a child unlabelled without them', async () => {
    const { client, executor, primary } = setup();
    await executor.execute(request(primary), { children: [configMap('bare')] });
    assert.equal((client.writes()[0]!.body as KubeObject).metadata.labels, undefined);
  });
});

describe('Executor: forgetting a primary that moved to another host', () => {
  it('applies again what it would have skipped, for that primary only', async () => {
    const { client, executor, primary } = setup();
    const other = client.seed(app({ name: 'other' }));
    const desired = configMap('demo-config');
    const otherDesired = configMap('other-config');
    await executor.execute(request(primary), { children: [desired] });
    await executor.execute(request(other), { children: [otherDesired] });
    const ref = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'team-a', name });
    const observed = client.stored(ref('demo-config'))!;
    const otherObserved = client.stored(ref('other-config'))!;
    // Another host held the primary meanwhile and wrote a field our last apply did not set: skipping on our
    // old record would leave it there.
    observed.data = { ...(observed.data as Record<string, string>), extra: 'from the other host' };
    executor.forget(primary.metadata.uid!);
    const back = await executor.execute(request(primary, [observed]), { children: [desired] });
    assert.deepEqual([back.applied, back.skipped], [1, 0]);
    const untouched = await executor.execute(request(other, [otherObserved]), { children: [otherDesired] });
    assert.deepEqual([untouched.applied, untouched.skipped], [0, 1]);
  });

  it('writes the status again, which it would have skipped', async () => {
    const { executor, primary } = setup();
    const status = { phase: 'Ready' };
    await executor.execute(request(primary), { status });
    const shown = { ...primary, status: { phase: 'Ready', observedGeneration: 3, extra: 'from the other host' } };
    assert.equal((await executor.execute(request(shown), { status })).statusWritten, false);
    executor.forget(primary.metadata.uid!);
    assert.equal((await executor.execute(request(shown), { status })).statusWritten, true);
  });
});

describe('Executor: status', () => {
  it('writes a changed status once with observedGeneration, and never an unchanged one', async () => {
    const { client, executor, primary } = setup();
    const summary = await executor.execute(request(primary), { status: { phase: 'Ready' } });
    assert.equal(summary.statusWritten, true);
    const writes = client.writes();
    assert.equal(writes.length, 1);
    assert.equal(writes[0]?.method, 'applyStatus');
    assert.deepEqual(writes[0]?.options, { fieldManager: 'wasm-reconciler/apps', force: true });
    const body = writes[0]?.body as KubeObject;
    assert.deepEqual(body.status, { phase: 'Ready', observedGeneration: 3 });
    assert.deepEqual(body.metadata, { name: 'demo', namespace: 'team-a' });

    // The next reconcile sees our write in the cache: nothing to do, even in a fresh executor.
    const updated = client.stored({ apiVersion: APP.apiVersion, kind: 'App', namespace: 'team-a', name: 'demo' });
    assert.ok(updated);
    const again = await executor.execute(request(updated), { status: { phase: 'Ready' } });
    assert.equal(again.statusWritten, false);
    const restarted = setup({}, updated);
    assert.equal(
      (await restarted.executor.execute(request(updated), { status: { phase: 'Ready' } })).statusWritten,
      false,
    );
    assert.equal(client.writes().length, 1);
  });

  it('writes again when only the generation moved, and ignores an observedGeneration set by the guest', async () => {
    const { client, executor } = setup({}, app({ generation: 4 }, { phase: 'Ready', observedGeneration: 3 }));
    const primary = client.stored({ apiVersion: APP.apiVersion, kind: 'App', namespace: 'team-a', name: 'demo' });
    assert.ok(primary);
    await executor.execute(request(primary), { status: { phase: 'Ready', observedGeneration: 99 } });
    assert.deepEqual((client.writes()[0]?.body as KubeObject | undefined)?.status, {
      phase: 'Ready',
      observedGeneration: 4,
    });
  });

  it('skips a status the cache holds alongside fields of other writers once we applied it', async () => {
    const { client, executor, primary } = setup();
    await executor.execute(request(primary), { status: { phase: 'Ready' } });
    const withExtra = { ...primary, status: { phase: 'Ready', observedGeneration: 3, fromOthers: true } };
    assert.equal((await executor.execute(request(withExtra), { status: { phase: 'Ready' } })).statusWritten, false);
    assert.equal(client.writes().length, 1);
  });
});

describe('Executor: finalizers', () => {
  it('adds the finalizer before any child, with a resourceVersion precondition', async () => {
    const { client, executor, primary } = setup();
    const summary = await executor.execute(request(primary), { children: [configMap('c')], finalizer: 'ensure' });
    assert.equal(summary.finalizer, 'added');
    const writes = client.writes();
    assert.deepEqual(
      writes.map((c) => c.method),
      ['patchMetadata', 'apply'],
    );
    assert.deepEqual(writes[0]?.body, { finalizers: ['wasmreconciler.dev/apps'] });
    assert.deepEqual(writes[0]?.options, { resourceVersion: primary.metadata.resourceVersion });
  });

  it('keeps other finalizers and does nothing when ours is present', async () => {
    const { client, executor, primary } = setup({}, app({ finalizers: ['other.io/keep'] }));
    await executor.execute(request(primary), { finalizer: 'ensure' });
    const stored = client.stored({ apiVersion: APP.apiVersion, kind: 'App', namespace: 'team-a', name: 'demo' });
    assert.deepEqual(stored?.metadata.finalizers, ['other.io/keep', 'wasmreconciler.dev/apps']);
    assert.ok(stored);
    const again = await executor.execute(request(stored), { finalizer: 'ensure' });
    assert.equal(again.finalizer, 'none');
    assert.equal(client.writes().length, 1);
  });

  it('retries a conflict with a fresh read and gives up after three attempts with a retryable conflict', async () => {
    const { client, executor, primary } = setup();
    client.failNext('patchMetadata', 'WR_KUBE_CONFLICT');
    const summary = await executor.execute(request(primary), { finalizer: 'ensure' });
    assert.equal(summary.finalizer, 'added');
    assert.deepEqual(
      client.calls.map((c) => c.method),
      ['patchMetadata', 'get', 'patchMetadata'],
    );

    const second = setup();
    for (let i = 0; i < 3; i++) second.client.failNext('patchMetadata', 'WR_KUBE_CONFLICT');
    await assert.rejects(second.executor.execute(request(second.primary), { finalizer: 'ensure' }), (err) => {
      assert.ok(isWrError(err, 'WR_KUBE_CONFLICT'));
      assert.equal(isRetryable(err), true);
      return true;
    });
    assert.equal(second.client.calls.filter((c) => c.method === 'patchMetadata').length, 3);
  });

  it('removes only our finalizer on release, after the events, and tolerates a primary already gone', async () => {
    const deleting = app({
      finalizers: ['wasmreconciler.dev/apps', 'other.io/keep'],
      deletionTimestamp: '2025-01-01T00:00:00Z',
    });
    const { client, executor, primary } = setup({}, deleting);
    const summary = await executor.execute(request(primary, [], true), {
      finalizer: 'release',
      events: [{ type: 'Normal', reason: 'Finalized', message: 'cleaned up' }],
    });
    assert.equal(summary.finalizer, 'removed');
    assert.deepEqual(
      client.writes().map((c) => c.method),
      ['createEvent', 'patchMetadata'],
    );
    assert.deepEqual(
      client.stored({ apiVersion: APP.apiVersion, kind: 'App', namespace: 'team-a', name: 'demo' })?.metadata
        .finalizers,
      ['other.io/keep'],
    );

    const gone = setup({}, deleting);
    gone.client.failNext('patchMetadata', 'WR_KUBE_NOT_FOUND');
    assert.equal(
      (await gone.executor.execute(request(gone.primary, [], true), { finalizer: 'release' })).finalizer,
      'none',
    );
  });

  it('does not touch a same-named successor found on the fresh read', async () => {
    const { client, executor, primary } = setup();
    client.failNext('patchMetadata', 'WR_KUBE_CONFLICT');
    // The cache still holds the previous incarnation; the API server already serves a new object by that name.
    const previous = { ...primary, metadata: { ...primary.metadata, uid: 'previous-incarnation' } };
    const summary = await executor.execute(request(previous), { finalizer: 'ensure' });
    assert.equal(summary.finalizer, 'none');
    assert.deepEqual(
      client.calls.map((c) => c.method),
      ['patchMetadata', 'get'],
    );
  });
});

describe('Executor: deletion and failed outputs', () => {
  it('while deleting, keeps listed children unapplied, prunes the rest and ignores ensure', async () => {
    const deleting = app({ finalizers: ['wasmreconciler.dev/apps'], deletionTimestamp: '2025-01-01T00:00:00Z' });
    const { client, executor, primary } = setup({}, deleting);
    const children = [ownedBy(primary, configMap('keep'), 'cm-keep'), ownedBy(primary, configMap('drop'), 'cm-drop')];
    for (const child of children) client.seed(child);
    const summary = await executor.execute(request(primary, children, true), {
      children: [configMap('keep')],
      finalizer: 'ensure',
    });
    assert.deepEqual([summary.applied, summary.pruned, summary.finalizer], [0, 1, 'none']);
    assert.deepEqual(
      client.writes().map((c) => `${c.method} ${c.ref.name}`),
      ['delete drop'],
    );
  });

  it('writes status and events of a failed output but leaves children and the finalizer alone', async () => {
    const { client, executor, primary } = setup();
    const children = [ownedBy(primary, configMap('existing'), 'cm-1')];
    const summary = await executor.execute(request(primary, children), {
      error: { message: 'upstream down', retryable: true },
      children: [],
      finalizer: 'ensure',
      status: { phase: 'Failed' },
      events: [{ type: 'Warning', reason: 'UpstreamDown', message: 'upstream down' }],
    });
    assert.deepEqual(
      [summary.applied, summary.pruned, summary.statusWritten, summary.events, summary.finalizer],
      [0, 0, true, 1, 'none'],
    );
    assert.deepEqual(
      client.writes().map((c) => c.method),
      ['applyStatus', 'createEvent'],
    );
  });

  it('refuses a primary of another kind as a wiring error', async () => {
    const { executor } = setup();
    const other: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'x', namespace: 'team-a', uid: 'u' },
    };
    await assert.rejects(executor.execute(request(other), {}), (err) => isWrError(err, 'WR_HOST_INTERNAL'));
  });
});

describe('Executor: events', () => {
  it('creates core/v1 Events about the primary with our reporting controller', async () => {
    const { client, executor, primary } = setup({ reportingInstance: 'node-1' });
    await executor.execute(request(primary), {
      events: [{ type: 'Normal', reason: 'Created', message: 'made things' }],
    });
    const [event] = client.events;
    assert.ok(event);
    assert.equal(event.metadata.namespace, 'team-a');
    assert.equal(event.metadata.generateName, 'demo.');
    assert.deepEqual(event.involvedObject, {
      apiVersion: APP.apiVersion,
      kind: 'App',
      name: 'demo',
      namespace: 'team-a',
      uid: primary.metadata.uid,
      resourceVersion: primary.metadata.resourceVersion,
    });
    assert.equal(event.reportingComponent, 'wasmreconciler.dev/apps');
    assert.equal(event.source.component, 'wasmreconciler.dev/apps');
    assert.equal(event.reportingInstance, 'node-1');
    assert.equal(event.firstTimestamp, '2025-01-01T00:00:00Z');
    assert.equal(event.count, 1);
  });

  it('bounds the count per reconcile and the message size', async () => {
    const { client, executor, primary } = setup();
    const events = Array.from({ length: 15 }, (_, i) => ({
      type: 'Normal' as const,
      reason: `R${i}`,
      message: 'é'.repeat(2000),
    }));
    const summary = await executor.execute(request(primary), { events });
    assert.deepEqual([summary.events, summary.eventsDropped], [10, 5]);
    for (const event of client.events) {
      assert.ok(Buffer.byteLength(event.message) <= 1024);
      assert.ok(event.message.endsWith('...'));
      assert.doesNotMatch(event.message, /\uFFFD/);
    }
  });

  it('aggregates a repeat within the window into the Event and records a new one after', async () => {
    const { client, executor, primary, advance } = setup();
    const output: ReconcileOutput = { events: [{ type: 'Normal', reason: 'Synced', message: 'ok' }] };
    await executor.execute(request(primary), output);
    const repeat = await executor.execute(request(primary), output);
    assert.deepEqual([repeat.events, repeat.eventsSuppressed], [0, 1]);
    advance(5 * 60_000);
    const later = await executor.execute(request(primary), output);
    assert.equal(later.events, 1);
    await executor.flushEvents();
    assert.equal(client.events.length, 2);
    assert.equal(client.calls.filter((c) => c.method === 'patchEvent').length, 1, 'the repeat raised the count');
  });

  it('logs an event given up without failing the reconcile, and records it anew next time', async () => {
    const warnings: string[] = [];
    const { client, executor, primary } = setup({ logger: { warn: (_fields, message) => warnings.push(message) } });
    client.failNext('createEvent', 'WR_KUBE_FORBIDDEN');
    const output: ReconcileOutput = { events: [{ type: 'Normal', reason: 'Synced', message: 'ok' }] };
    const summary = await executor.execute(request(primary), output);
    assert.deepEqual([summary.events, summary.eventsFailed], [1, 0], 'handed over; written asynchronously');
    await executor.flushEvents();
    assert.equal(warnings.length, 1, 'a non-retryable failure gives the event up at once');
    assert.equal(executor.eventStats().droppedFailed, 1);
    assert.equal((await executor.execute(request(primary), output)).events, 1);
    await executor.flushEvents();
    assert.equal(client.events.length, 1);
  });

  it('rejects malformed events as invalid output', async () => {
    const { executor, primary } = setup();
    const bad = [{ type: 'Info', reason: 'X', message: 'm' }] as unknown as ReconcileOutput['events'];
    await assert.rejects(executor.execute(request(primary), { events: bad }), (err) =>
      isWrError(err, 'WR_GUEST_OUTPUT_INVALID'),
    );
  });
});

describe('Executor: outputs no write could carry out', () => {
  /** `levels` objects nested under one another, built without recursion. */
  function nested(levels: number): Record<string, unknown> {
    let value: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < levels; i++) value = { a: value };
    return value;
  }

  /** Executes `output` as a native reconciler would hand it over (no runtime validation in between). */
  async function rejectedWhole(output: ReconcileOutput, expect: (err: WrError) => void = () => {}): Promise<void> {
    const { client, executor, primary } = setup();
    await assert.rejects(executor.execute(request(primary), output), (err) => {
      assert.ok(isWrError(err, 'WR_GUEST_OUTPUT_INVALID'), String(err));
      assert.equal(err.retryable, true);
      expect(err);
      return true;
    });
    assert.deepEqual(
      client.writes().map((c) => c.method),
      ['createEvent'],
      'nothing but the InvalidOutput event is written',
    );
  }

  it('rejects a 100,000-deep status or child spec with a typed error, not a RangeError', async () => {
    const depth = (path: string) => (err: WrError) => {
      assert.equal(err.details?.limit, 'depth');
      assert.ok(String(err.details?.path).startsWith(path));
    };
    await rejectedWhole({ status: nested(100_000) }, depth('$.status.a.a'));
    await rejectedWhole(
      { children: [configMap('a'), { ...configMap('b'), spec: nested(100_000) }] },
      depth('$.children[1].spec.a'),
    );
  });

  it('rejects over-long strings and over-wide objects before comparing anything', async () => {
    await rejectedWhole({ status: { s: 'x'.repeat(256 * 1024 + 1) } }, (err) =>
      assert.equal(err.details?.limit, 'stringChars'),
    );
    const wide = Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`k${i}`, '']));
    await rejectedWhole({ children: [{ ...configMap('a'), data: wide }] }, (err) =>
      assert.equal(err.details?.limit, 'objectKeys'),
    );
  });

  it('rejects names, namespaces and apiVersions no request path can carry, before the first apply', async () => {
    const named = (name: string) => ({ ...configMap('ok'), metadata: { name } });
    for (const name of ['..', '.', 'a/b', '50%', 'a b', 'x'.repeat(254)]) {
      await rejectedWhole({ children: [configMap('first'), named(name)] });
    }
    await rejectedWhole({
      children: [configMap('first'), { ...configMap('x'), metadata: { name: 'x', namespace: '../kube-system' } }],
    });
    for (const apiVersion of ['/v1', 'v1/', 'apps/v1/extra', '']) {
      await rejectedWhole({ children: [configMap('first'), { ...configMap('x'), apiVersion }] });
    }
  });
});

describe('Executor: a primary deleted while the cache still holds it', () => {
  const APP_REF = { apiVersion: APP.apiVersion, kind: 'App', namespace: 'team-a', name: 'demo' };

  async function deleted() {
    const debug: Record<string, unknown>[] = [];
    const ctx = setup({ logger: { warn: () => {}, debug: (fields) => debug.push(fields) } });
    await ctx.client.delete(APP_REF, { uid: ctx.primary.metadata.uid ?? '', propagationPolicy: 'Background' });
    ctx.client.calls.length = 0;
    return { ...ctx, debug };
  }

  it('a 404 on the status write ends the reconcile quietly, and the uid writes nothing afterwards', async () => {
    const { client, executor, primary, debug } = await deleted();
    const output: ReconcileOutput = { children: [configMap('cfg')], status: { ready: true } };
    const summary = await executor.execute(request(primary), output);
    assert.equal(summary.primaryGone, true);
    assert.deepEqual(
      client.calls.map((c) => c.method),
      ['apply', 'applyStatus', 'get'],
      'the fresh read confirms the 404 was the primary',
    );
    assert.equal(debug.length, 1);
    assert.equal(debug[0]?.uid, primary.metadata.uid);

    // The cache lags: the same uid reconciles again. No child is re-applied for the gone owner.
    client.calls.length = 0;
    const again = await executor.execute(request(primary), output);
    assert.deepEqual([again.primaryGone, again.applied, client.calls.length], [true, 0, 0]);
    assert.equal(debug.length, 1, 'logged once per uid');
  });

  it('a 404 on the finalizer patch ends the reconcile before any child is applied', async () => {
    const { client, executor, primary } = await deleted();
    const summary = await executor.execute(request(primary), { finalizer: 'ensure', children: [configMap('cfg')] });
    assert.deepEqual([summary.primaryGone, summary.applied, summary.finalizer], [true, 0, 'none']);
    assert.deepEqual(
      client.writes().map((c) => c.method),
      ['patchMetadata'],
    );
  });

  it('a refused child apply whose owner is gone ends quietly; one whose owner exists still fails', async () => {
    const gone = await deleted();
    gone.client.failNext('apply', 'WR_KUBE_INVALID');
    const summary = await gone.executor.execute(request(gone.primary), { children: [configMap('cfg')] });
    assert.equal(summary.primaryGone, true);

    const alive = setup();
    alive.client.failNext('apply', 'WR_KUBE_INVALID');
    await assert.rejects(alive.executor.execute(request(alive.primary), { children: [configMap('cfg')] }), (err) =>
      isWrError(err, 'WR_KUBE_INVALID'),
    );
    alive.client.failNext('applyStatus', 'WR_KUBE_NOT_FOUND');
    await assert.rejects(alive.executor.execute(request(alive.primary), { status: { ready: true } }), (err) =>
      isWrError(err, 'WR_KUBE_NOT_FOUND'),
    );
  });

  it('a same-named successor counts as gone; an unavailable API server is left to the queue', async () => {
    const { client, executor, primary } = await deleted();
    client.seed(app({ uid: 'successor' }));
    client.failNext('applyStatus', 'WR_KUBE_NOT_FOUND');
    const summary = await executor.execute(request(primary), { status: { ready: true } });
    assert.equal(summary.primaryGone, true);

    const down = setup();
    down.client.failNext('applyStatus', 'WR_KUBE_UNAVAILABLE');
    await assert.rejects(down.executor.execute(request(down.primary), { status: { ready: true } }), (err) =>
      isWrError(err, 'WR_KUBE_UNAVAILABLE'),
    );
    assert.equal(down.client.calls.filter((c) => c.method === 'get').length, 0);
  });
});
