// The App reconciler's behaviour, offline: built with the SDK tooling and driven through the guest harness.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  type CallResult,
  GuestHarness,
  type KubeObject,
  type ReconcileOutput,
} from '@wasm-reconciler/sdk-assemblyscript/tools/testing';
import { app, configMap, deployment, input } from './fixtures.ts';
import { buildV1, buildV2 } from './modules.ts';

/** The parts of a rendered Deployment the tests look at. */
interface DeploymentShape {
  spec: {
    replicas: number;
    selector: unknown;
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: { containers: unknown[] };
    };
  };
}

function deploymentOf(out: ReconcileOutput): KubeObject & DeploymentShape {
  return byKind(out, 'Deployment') as KubeObject & DeploymentShape;
}

const NOW = Date.parse('2025-06-01T12:00:00Z');
let v1: GuestHarness;
let v2: GuestHarness;

function outputOf(result: CallResult): ReconcileOutput {
  assert.equal(result.outputCalls, 1, 'set_output must be called exactly once');
  assert.ok(result.output !== undefined);
  return JSON.parse(result.output) as ReconcileOutput;
}

function reconcile(guest: GuestHarness, text: string): { status: number; out: ReconcileOutput } {
  const result = guest.call('wr_reconcile', text);
  return { status: result.status, out: outputOf(result) };
}

function byKind(out: ReconcileOutput, kind: string): KubeObject {
  const found = out.children?.find((c) => c.kind === kind);
  assert.ok(found, `no ${kind} child in ${JSON.stringify(out.children)}`);
  return found;
}

before(async () => {
  const [a, b] = await Promise.all([buildV1(), buildV2()]);
  v1 = await GuestHarness.load(a.wasmPath, { clock: () => NOW });
  v2 = await GuestHarness.load(b.wasmPath, { clock: () => NOW });
  for (const guest of [v1, v2]) assert.equal(guest.init(null).status, 0);
});

describe('configmap-app v1', () => {
  it('imports only the wr namespace and exports the ABI v1 surface', async () => {
    const module = await WebAssembly.compile(
      await (await import('node:fs/promises')).readFile((await buildV1()).wasmPath),
    );
    assert.deepEqual([...new Set(WebAssembly.Module.imports(module).map((i) => i.module))], ['wr']);
    const exports = WebAssembly.Module.exports(module)
      .map((e) => e.name)
      .sort();
    assert.deepEqual(exports, ['memory', 'wr_abi_version_1', 'wr_alloc', 'wr_init', 'wr_reconcile']);
  });

  it('renders a ConfigMap and a Deployment for a new App, with a Created event', () => {
    const { status, out } = reconcile(v1, input(app(), { reason: 'created' }));
    assert.equal(status, 0);
    assert.equal(out.children?.length, 2);
    const cm = byKind(out, 'ConfigMap');
    assert.deepEqual(cm, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      data: { LOG_LEVEL: 'debug', FEATURE_X: 'on', message: 'Hello, "edge" \u00e9t\u00e9 \u{1F680}\n' },
      metadata: {
        name: 'hello-config',
        namespace: 'demo',
        labels: { 'app.kubernetes.io/name': 'hello', 'app.kubernetes.io/managed-by': 'wasm-reconciler' },
      },
    });
    const dep = deploymentOf(out);
    assert.equal(dep.apiVersion, 'apps/v1');
    assert.equal(dep.metadata.name, 'hello');
    assert.equal(dep.metadata.namespace, 'demo');
    assert.equal(dep.spec.replicas, 2);
    assert.deepEqual(dep.spec.selector, { matchLabels: { 'app.kubernetes.io/name': 'hello' } });
    assert.deepEqual(dep.spec.template.metadata.labels, { 'app.kubernetes.io/name': 'hello' });
    assert.match(dep.spec.template.metadata.annotations['app.wasmreconciler.dev/config-hash'] ?? '', /^[0-9a-f]{8}$/);
    assert.deepEqual(dep.spec.template.spec.containers, [
      { name: 'app', image: 'ghcr.io/example/hello:1.2.3', envFrom: [{ configMapRef: { name: 'hello-config' } }] },
    ]);
    assert.deepEqual(out.status, {
      configMapName: 'hello-config',
      readyReplicas: 0,
      replicas: 2,
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          observedGeneration: 3,
          lastTransitionTime: '2025-06-01T12:00:00Z',
          reason: 'Creating',
          message: 'waiting for Deployment hello to be created',
        },
      ],
    });
    assert.deepEqual(out.events, [
      { type: 'Normal', reason: 'Created', message: 'creating ConfigMap hello-config and Deployment hello' },
    ]);
    assert.equal(out.error, undefined);
  });

  it('copies readyReplicas from the owned Deployment and reports Ready without a new event', () => {
    const { out } = reconcile(v1, input(app(), { children: [configMap('hello-config'), deployment('hello', 2)] }));
    assert.equal(out.events, undefined);
    assert.equal((out.status as { readyReplicas: number }).readyReplicas, 2);
    const [ready] = (out.status as { conditions: Record<string, unknown>[] }).conditions;
    assert.equal(ready?.status, 'True');
    assert.equal(ready?.reason, 'Available');
    assert.equal(ready?.message, '2/2 replicas ready');
  });

  it('keeps lastTransitionTime while the condition status is unchanged and resets it when it flips', () => {
    const previous = {
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'Progressing',
          message: '',
          lastTransitionTime: '2025-01-01T00:00:00Z',
        },
      ],
    };
    const children = [configMap('hello-config'), deployment('hello', 1)];
    const same = reconcile(v1, input(app({ status: previous }), { children })).out;
    const sameReady = (same.status as { conditions: Record<string, unknown>[] }).conditions[0];
    assert.equal(sameReady?.reason, 'Progressing');
    assert.equal(sameReady?.lastTransitionTime, '2025-01-01T00:00:00Z');

    const flipped = reconcile(
      v1,
      input(app({ status: previous }), { children: [children[0]!, deployment('hello', 2)] }),
    );
    const flippedReady = (flipped.out.status as { conditions: Record<string, unknown>[] }).conditions[0];
    assert.equal(flippedReady?.status, 'True');
    assert.equal(flippedReady?.lastTransitionTime, '2025-06-01T12:00:00Z');
  });

  it('changes the pod template hash when the config changes, and only then', () => {
    const hash = (spec: Record<string, unknown>) => {
      const dep = deploymentOf(reconcile(v1, input(app({ spec }))).out);
      return dep.spec.template.metadata.annotations['app.wasmreconciler.dev/config-hash'];
    };
    assert.equal(hash({}), hash({}));
    assert.notEqual(hash({}), hash({ config: { LOG_LEVEL: 'info' } }));
    assert.notEqual(hash({}), hash({ message: 'other' }));
    assert.equal(hash({}), hash({ replicas: 5 }));
  });

  it('defaults replicas to 1 and renders an App without message or config', () => {
    const bare = app();
    bare.spec = { image: 'nginx:1.27' };
    const { status, out } = reconcile(v1, input(bare));
    assert.equal(status, 0);
    assert.deepEqual(byKind(out, 'ConfigMap').data, {});
    assert.equal(deploymentOf(out).spec.replicas, 1);
  });

  it('reports an invalid spec as a terminal error without touching children', () => {
    for (const spec of [{ image: '' }, { replicas: -1 }, { replicas: 1.5 }]) {
      const { status, out } = reconcile(v1, input(app({ spec })));
      assert.equal(status, 2, JSON.stringify(spec));
      assert.equal(out.children, undefined);
      assert.equal(out.error?.retryable, false);
      assert.match(out.error?.message ?? '', /spec\.(image|replicas)/);
      const [ready] = (out.status as { conditions: Record<string, unknown>[] }).conditions;
      assert.equal(ready?.reason, 'InvalidSpec');
    }
  });

  it('keeps children when the App is being deleted', () => {
    const { status, out } = reconcile(v1, input(app(), { deleted: true, reason: 'deleted' }));
    assert.equal(status, 0);
    assert.deepEqual(out, {});
  });

  it('answers BAD_INPUT to input that is not a ReconcileInput', () => {
    for (const text of ['', '[]', '{"primary":1}', '{"primary":{"metadata":{"name":"x"},"spec":{"image":"a"']) {
      const result = v1.call('wr_reconcile', text);
      assert.equal(result.status, 1, text);
      assert.equal(outputOf(result).error?.retryable, false);
    }
  });

  it('keeps memory flat over many calls (each call frees what it allocated)', () => {
    const text = input(app(), { children: [configMap('hello-config'), deployment('hello', 1)] });
    for (let i = 0; i < 200; i++) reconcile(v1, text);
    const pages = v1.memoryPages;
    for (let i = 0; i < 3000; i++) assert.equal(v1.call('wr_reconcile', text).status, 0);
    assert.equal(v1.memoryPages, pages);
  });
});

describe('configmap-app v2', () => {
  it('adds the version label everywhere and writes the message under "greeting"', () => {
    const { status, out } = reconcile(v2, input(app()));
    assert.equal(status, 0);
    const cm = byKind(out, 'ConfigMap');
    assert.equal(cm.metadata.labels?.['app.wasmreconciler.dev/version'], 'v2');
    assert.deepEqual(Object.keys(cm.data as object), ['LOG_LEVEL', 'FEATURE_X', 'greeting']);
    const dep = deploymentOf(out);
    assert.equal(dep.metadata.labels?.['app.wasmreconciler.dev/version'], 'v2');
    assert.equal(dep.spec.template.metadata.labels['app.wasmreconciler.dev/version'], 'v2');
    // The selector is immutable on a Deployment: v2 must not change it, or the swap would fail to apply.
    assert.deepEqual(dep.spec.selector, { matchLabels: { 'app.kubernetes.io/name': 'hello' } });
  });

  it('is a different module from v1', async () => {
    const [a, b] = await Promise.all([buildV1(), buildV2()]);
    assert.notEqual(a.sha256, b.sha256);
  });
});
