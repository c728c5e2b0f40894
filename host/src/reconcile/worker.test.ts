import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAppReconciler } from '../../../test/fixtures/native/app-reconciler.ts';
import { objectView } from '../abi/testing/object-view.ts';
import type { KubeObject, ObjectView, ReconcileOutput, ReconcileRequest } from '../abi/types.ts';
import { isRetryable, isWrError, WrError } from '../errors.ts';
import { Executor } from '../executor/executor.ts';
import type { KindRef } from '../executor/kinds.ts';
import { FakeExecutorClient } from '../executor/testing/fake-client.ts';
import { splitKey } from '../mapping/event.ts';
import type { ChildReader, PrimaryReader, RelatedProvider } from './snapshot.ts';
import type { Reconciler } from './types.ts';
import { clampRequeue, MAX_REQUEUE_AFTER_MS, ReconcileWorker, type WorkerOptions } from './worker.ts';

const APP: KindRef = { apiVersion: 'demo.wasmreconciler.dev/v1alpha1', kind: 'App', namespaced: true };
const CONFIG_MAP: KindRef = { apiVersion: 'v1', kind: 'ConfigMap', namespaced: true };
const DEPLOYMENT: KindRef = { apiVersion: 'apps/v1', kind: 'Deployment', namespaced: true };
const FINALIZER = 'wasmreconciler.dev/apps';
const TRIGGER = { reason: 'updated' } as const;

/** The cache as the worker sees it: views by key and by controller owner, served from a plain list. */
class FakeCache {
  readonly views = new Map<KubeObject, ObjectView>();
  objects: KubeObject[] = [];

  view(object: KubeObject): ObjectView {
    let view = this.views.get(object);
    if (view === undefined) {
      view = objectView(object);
      this.views.set(object, view);
    }
    return view;
  }

  readonly primaries: PrimaryReader = {
    get: (namespace, name) => {
      const found = this.objects.find(
        (o) => o.kind === 'App' && o.metadata.namespace === namespace && o.metadata.name === name,
      );
      return found === undefined ? undefined : this.view(found);
    },
  };

  readonly children: ChildReader = {
    byOwner: (uid, kind) =>
      this.objects
        .filter((o) => o.apiVersion === kind.apiVersion && o.kind === kind.kind)
        .filter((o) => o.metadata.ownerReferences?.some((r) => r.controller === true && r.uid === uid))
        .map((o) => this.view(o)),
  };
}

function app(meta: Partial<KubeObject['metadata']> = {}): KubeObject {
  return {
    apiVersion: APP.apiVersion,
    kind: 'App',
    metadata: { name: 'demo', namespace: 'team-a', uid: 'app-1', resourceVersion: '10', generation: 1, ...meta },
    spec: { image: 'nginx:1.27', replicas: 2, config: { MODE: 'edge' } },
  };
}

function setup(reconciler: Reconciler, options: Partial<WorkerOptions> = {}) {
  const client = new FakeExecutorClient();
  const cache = new FakeCache();
  const executor = new Executor({
    name: 'apps',
    primary: APP,
    owns: [CONFIG_MAP, DEPLOYMENT],
    permissions: [
      { apiGroups: ['', 'apps'], kinds: ['ConfigMap', 'Deployment'], verbs: ['create', 'patch', 'delete'] },
    ],
    client,
  });
  const worker = new ReconcileWorker({
    reconciler,
    executor,
    identity: { name: 'apps', namespace: 'wasm-reconciler', generation: 4 },
    primaries: cache.primaries,
    children: cache.children,
    ...options,
  });
  return { client, cache, worker };
}

/** Records the requests it gets and answers with fixed outputs. */
function scripted(output: ReconcileOutput | (() => never), finalizeOutput?: ReconcileOutput) {
  const calls: Array<{ method: 'reconcile' | 'finalize'; request: ReconcileRequest }> = [];
  const answer = (o: ReconcileOutput | (() => never)) => (typeof o === 'function' ? o() : o);
  const reconciler: Reconciler = {
    async reconcile(request) {
      calls.push({ method: 'reconcile', request });
      return answer(output);
    },
  };
  if (finalizeOutput !== undefined) {
    reconciler.finalize = async (request) => {
      calls.push({ method: 'finalize', request });
      return finalizeOutput;
    };
  }
  return { reconciler, calls };
}

describe('ReconcileWorker', () => {
  it('reconciles an App end to end with the native reconciler', async () => {
    const { client, cache, worker } = setup(createAppReconciler({ now: () => 0 }));
    cache.objects.push(client.seed(app()));
    const result = await worker.process('team-a/demo', TRIGGER);
    assert.equal(result.outcome, 'reconciled');
    assert.equal(result.error, undefined);
    assert.equal(result.requeueAfterMs, undefined);
    assert.deepEqual(
      client.writes().map((c) => `${c.method} ${c.ref.kind}`),
      ['apply ConfigMap', 'apply Deployment', 'applyStatus App', 'createEvent Event'],
    );
    assert.deepEqual([result.summary?.applied, result.summary?.statusWritten, result.summary?.events], [2, true, 1]);
  });

  it('passes cached views through untouched and lists every declared kind', async () => {
    const { reconciler, calls } = scripted({});
    const related: RelatedProvider = {
      related: (primary) =>
        new Map([
          [
            'v1/Secret',
            [objectView({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${primary.metadata.name}-s` } })],
          ],
        ]),
    };
    const { cache, worker } = setup(reconciler, { related });
    const primary = app();
    const owned: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'mine',
        namespace: 'team-a',
        uid: 'cm-1',
        ownerReferences: [{ apiVersion: APP.apiVersion, kind: 'App', name: 'demo', uid: 'app-1', controller: true }],
      },
    };
    const foreign: KubeObject = { ...owned, metadata: { ...owned.metadata, name: 'theirs', ownerReferences: [] } };
    cache.objects.push(primary, owned, foreign);
    await worker.process('team-a/demo', { reason: 'child', kind: 'ConfigMap', name: 'mine', namespace: 'team-a' });
    const request = calls[0]?.request;
    assert.ok(request);
    assert.equal(request.primary, cache.view(primary));
    assert.deepEqual([...request.children.keys()], ['v1/ConfigMap', 'apps/v1/Deployment']);
    assert.equal(request.children.get('v1/ConfigMap')?.[0], cache.view(owned));
    assert.equal(request.children.get('v1/ConfigMap')?.length, 1);
    assert.deepEqual(request.children.get('apps/v1/Deployment'), []);
    assert.equal(request.related.get('v1/Secret')?.[0]?.object().metadata.name, 'demo-s');
    assert.deepEqual(request.trigger, { reason: 'child', kind: 'ConfigMap', name: 'mine', namespace: 'team-a' });
    assert.deepEqual(request.reconciler, { name: 'apps', namespace: 'wasm-reconciler', generation: 4 });
    assert.equal(request.deleted, false);
  });

  it('skips a primary that is gone without calling the reconciler', async () => {
    const { reconciler, calls } = scripted({ children: [] });
    const { client, worker } = setup(reconciler);
    assert.deepEqual(await worker.process('team-a/demo', { reason: 'deleted' }), { outcome: 'skipped' });
    assert.equal(calls.length, 0);
    assert.equal(client.calls.length, 0);
  });

  it('turns guest errors into retryable or terminal WrErrors, after writing the reported status', async () => {
    for (const retryable of [true, false]) {
      const { reconciler } = scripted({ error: { message: 'x'.repeat(5000), retryable }, status: { phase: 'Failed' } });
      const { client, cache, worker } = setup(reconciler);
      cache.objects.push(client.seed(app()));
      const result = await worker.process('team-a/demo', TRIGGER);
      assert.ok(result.error);
      assert.equal(result.error.code, retryable ? 'WR_GUEST_ERROR_RETRYABLE' : 'WR_GUEST_ERROR_TERMINAL');
      assert.equal(isRetryable(result.error), retryable);
      // The guest decides: its retryable error is retried with backoff for as long as it reports it.
      assert.equal(result.error.deterministic, false);
      assert.ok(Buffer.byteLength(result.error.message) <= 1024);
      assert.equal(result.summary?.statusWritten, true);
    }
  });

  it('clamps requeueAfterMs into [1 s, 24 h] and drops it beside an error', async () => {
    const cases: Array<[number, number | undefined]> = [
      [10, 1000],
      [2500.2, 2501],
      [0, undefined],
      [-5, undefined],
      [1e12, MAX_REQUEUE_AFTER_MS],
    ];
    for (const [asked, expected] of cases) {
      const { reconciler } = scripted({ requeueAfterMs: asked });
      const { client, cache, worker } = setup(reconciler);
      cache.objects.push(client.seed(app()));
      assert.equal((await worker.process('team-a/demo', TRIGGER)).requeueAfterMs, expected, String(asked));
    }
    assert.equal(clampRequeue(undefined), undefined);
    assert.equal(clampRequeue(Number.NaN), undefined);

    const { reconciler } = scripted({ requeueAfterMs: 5000, error: { message: 'no', retryable: true } });
    const { client, cache, worker } = setup(reconciler);
    cache.objects.push(client.seed(app()));
    const result = await worker.process('team-a/demo', TRIGGER);
    assert.equal(result.requeueAfterMs, undefined);
    assert.ok(isWrError(result.error, 'WR_GUEST_ERROR_RETRYABLE'));
  });

  it('rejects a non-finite requeueAfterMs as invalid output, writing nothing but the warning', async () => {
    const { reconciler } = scripted({ requeueAfterMs: Number.POSITIVE_INFINITY, children: [] });
    const { client, cache, worker } = setup(reconciler);
    cache.objects.push(client.seed(app()));
    const result = await worker.process('team-a/demo', TRIGGER);
    assert.ok(isWrError(result.error, 'WR_GUEST_OUTPUT_INVALID'));
    assert.deepEqual(
      client.writes().map((c) => c.method),
      ['createEvent'],
    );
  });

  it('classifies every failure: reconciler throws, executor failures, host bugs', async () => {
    const throwsPlain = setup({
      reconcile: async () => {
        throw new TypeError('boom');
      },
    });
    throwsPlain.cache.objects.push(app());
    const plain = await throwsPlain.worker.process('team-a/demo', TRIGGER);
    assert.ok(isWrError(plain.error, 'WR_GUEST_ERROR_RETRYABLE'));
    assert.equal(plain.outcome, 'reconciled');

    const budget = new WrError('WR_GUEST_BUDGET_EXCEEDED', 'out of fuel');
    const throwsTyped = setup({
      reconcile: async () => {
        throw budget;
      },
    });
    throwsTyped.cache.objects.push(app());
    assert.equal((await throwsTyped.worker.process('team-a/demo', TRIGGER)).error, budget);

    const { reconciler } = scripted({ children: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }] });
    const unavailable = setup(reconciler);
    unavailable.cache.objects.push(unavailable.client.seed(app()));
    unavailable.client.failNext('apply', 'WR_KUBE_UNAVAILABLE');
    assert.ok(isWrError((await unavailable.worker.process('team-a/demo', TRIGGER)).error, 'WR_KUBE_UNAVAILABLE'));

    const bug = await withExecutorThrowing(reconciler, new TypeError('bug'));
    assert.ok(isWrError(bug.error, 'WR_HOST_INTERNAL'));
    assert.equal(bug.error.details?.stage, 'executor');
  });

  it('reports a RangeError from the executor as the output it could not carry out, not as a host bug', async () => {
    const { reconciler } = scripted({});
    const overflow = await withExecutorThrowing(reconciler, new RangeError('Maximum call stack size exceeded'));
    assert.ok(isWrError(overflow.error, 'WR_GUEST_OUTPUT_INVALID'));
    assert.equal(overflow.error.details?.stage, 'executor');
  });

  it('rejects a 100,000-deep output of a native reconciler as WR_GUEST_OUTPUT_INVALID', async () => {
    let status: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) status = { a: status };
    const { client, cache, worker } = setup(scripted({ status }).reconciler);
    cache.objects.push(client.seed(app()));
    const result = await worker.process('team-a/demo', TRIGGER);
    assert.ok(isWrError(result.error, 'WR_GUEST_OUTPUT_INVALID'), String(result.error));
    assert.equal(result.error.details?.limit, 'depth');
  });

  it('answers a malformed key with a typed error instead of throwing', async () => {
    const { worker } = setup(scripted({}).reconciler);
    for (const key of ['', 'a/b/c', '/name', 'ns/']) {
      assert.ok(isWrError((await worker.process(key, TRIGGER)).error, 'WR_HOST_INTERNAL'), key);
    }
    assert.deepEqual(splitKey('cluster-thing'), [undefined, 'cluster-thing']);
    assert.deepEqual(splitKey('ns/name'), ['ns', 'name']);
  });
});

/** One reconcile of the demo App through a worker whose executor throws `error`. */
async function withExecutorThrowing(reconciler: Reconciler, error: Error) {
  const { cache } = setup(reconciler);
  const executor: WorkerOptions['executor'] = {
    names: { fieldManager: 'f', finalizer: FINALIZER, reportingController: 'r' },
    owns: [],
    execute: async () => {
      throw error;
    },
  };
  const worker = new ReconcileWorker({
    reconciler,
    executor,
    identity: { name: 'apps' },
    primaries: cache.primaries,
    children: cache.children,
  });
  cache.objects.push(app());
  return worker.process('team-a/demo', TRIGGER);
}

describe('ReconcileWorker: deletion', () => {
  const deleting = (finalizers: string[]) =>
    app({ deletionTimestamp: '2025-01-01T00:00:00Z', finalizers, generation: 2 });

  it('calls finalize (not reconcile) and removes our finalizer on release', async () => {
    const { reconciler, calls } = scripted(
      {},
      { finalizer: 'release', events: [{ type: 'Normal', reason: 'Finalized', message: 'bye' }] },
    );
    const { client, cache, worker } = setup(reconciler);
    cache.objects.push(client.seed(deleting([FINALIZER, 'other.io/keep'])));
    const result = await worker.process('team-a/demo', { reason: 'updated' });
    assert.equal(result.outcome, 'finalized');
    assert.deepEqual(
      calls.map((c) => [c.method, c.request.deleted]),
      [['finalize', true]],
    );
    assert.equal(result.summary?.finalizer, 'removed');
    assert.deepEqual(
      client.stored({ apiVersion: APP.apiVersion, kind: 'App', namespace: 'team-a', name: 'demo' })?.metadata
        .finalizers,
      ['other.io/keep'],
    );
  });

  it('keeps the finalizer while finalize does not release it', async () => {
    const { reconciler } = scripted({}, { requeueAfterMs: 30_000 });
    const { client, cache, worker } = setup(reconciler);
    cache.objects.push(client.seed(deleting([FINALIZER])));
    const result = await worker.process('team-a/demo', TRIGGER);
    assert.deepEqual([result.summary?.finalizer, result.requeueAfterMs], ['none', 30_000]);
    assert.equal(client.writes().length, 0);
  });

  it('releases the finalizer itself for a reconciler without finalize', async () => {
    const { reconciler, calls } = scripted({ finalizer: 'ensure' });
    const { client, cache, worker } = setup(reconciler);
    cache.objects.push(client.seed(deleting([FINALIZER])));
    const result = await worker.process('team-a/demo', TRIGGER);
    assert.equal(calls.length, 0);
    assert.equal(result.summary?.finalizer, 'removed');
  });

  it('skips a primary being deleted without our finalizer', async () => {
    const { reconciler, calls } = scripted({}, { finalizer: 'release' });
    const { client, cache, worker } = setup(reconciler);
    cache.objects.push(client.seed(deleting(['other.io/keep'])));
    assert.deepEqual(await worker.process('team-a/demo', TRIGGER), { outcome: 'skipped' });
    assert.equal(calls.length, 0);
    assert.equal(client.calls.length, 0);
  });
});

describe('ReconcileWorker: a primary deleted while the cache still holds it', () => {
  it('ends quietly: skipped, no error, so the queue neither retries nor counts a failure', async () => {
    const { client, cache, worker } = setup(scripted({ status: { ready: true }, requeueAfterMs: 5000 }).reconciler);
    // The cache holds the App; the API server no longer does (its status write answers 404).
    cache.objects.push(app());
    const result = await worker.process('team-a/demo', TRIGGER);
    assert.equal(result.outcome, 'skipped');
    assert.equal(result.error, undefined);
    assert.equal(result.requeueAfterMs, undefined, 'no requeue for a gone primary either');
    assert.equal(result.summary?.primaryGone, true);
    assert.deepEqual(
      client.calls.map((c) => c.method),
      ['applyStatus', 'get'],
    );
  });
});
