// The WebApp reconciler's behaviour, offline: built with the SDK tooling and driven through the guest harness.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  GuestHarness,
  type KubeObject,
  type ReconcileOutput,
  reconcileInput,
} from '@wasm-reconciler/sdk-assemblyscript/tools/testing';
import { buildWebApp } from './module.ts';

const NOW = Date.parse('2026-06-01T12:00:00Z');
let guest: GuestHarness;

type Condition = { type: string; status: string; reason: string; message: string; lastTransitionTime?: string };

function webApp(spec: Record<string, unknown> = {}, status?: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'examples.wasmreconciler.dev/v1alpha1',
    kind: 'WebApp',
    metadata: { name: 'shop', namespace: 'apps', uid: 'w-1', generation: 4 },
    spec: { image: 'ghcr.io/acme/shop:2.1.0', replicas: 3, port: 8080, ...spec },
    ...(status === undefined ? {} : { status }),
  };
}

function deployment(status: Record<string, unknown>, generation = 2): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'shop', namespace: 'apps', uid: 'd-1', generation },
    spec: { replicas: 3 },
    status: { observedGeneration: generation, ...status },
  };
}

const service: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'shop', namespace: 'apps' } };

function cond(type: string, status: string, reason: string, message = ''): Condition {
  return { type, status, reason, message };
}

function reconcile(primary: KubeObject, children: KubeObject[] = []): { status: number; out: ReconcileOutput } {
  const result = guest.call('wr_reconcile', reconcileInput({ primary, children, reconciler: { name: 'webapp' } }));
  assert.equal(result.outputCalls, 1);
  return { status: result.status, out: JSON.parse(result.output!) as ReconcileOutput };
}

function conditions(out: ReconcileOutput): Map<string, Condition> {
  const list = (out.status as { conditions?: Condition[] } | undefined)?.conditions ?? [];
  return new Map(list.map((c) => [c.type, c]));
}

function ready(out: ReconcileOutput): Condition {
  const c = conditions(out).get('Ready');
  assert.ok(c, `no Ready condition in ${JSON.stringify(out.status)}`);
  return c;
}

/** The parts of the rendered children the tests read. */
type Rendered = KubeObject & {
  spec: {
    replicas?: number;
    selector?: unknown;
    template: { spec: { containers: { ports?: unknown; env?: unknown; readinessProbe?: unknown }[] } };
    ports: { port: number }[];
  };
};

function child(out: ReconcileOutput, kind: string): Rendered {
  const found = out.children?.find((c) => c.kind === kind);
  assert.ok(found, `no ${kind} in ${JSON.stringify(out.children)}`);
  return found as Rendered;
}

before(async () => {
  guest = await GuestHarness.load((await buildWebApp()).wasmPath, { clock: () => NOW });
  assert.equal(guest.init(null).status, 0);
});

describe('webapp: children', () => {
  it('renders a Deployment and a Service for a new WebApp, with a Created event', () => {
    const { status, out } = reconcile(
      webApp({ env: { LOG_LEVEL: 'debug', REGION: 'eu' }, healthPath: '/healthz', servicePort: 8000 }),
    );
    assert.equal(status, 0);
    assert.equal(out.children?.length, 2);
    const dep = child(out, 'Deployment');
    assert.equal(dep.apiVersion, 'apps/v1');
    assert.deepEqual(dep.metadata, {
      name: 'shop',
      namespace: 'apps',
      labels: { 'app.kubernetes.io/name': 'shop', 'app.kubernetes.io/managed-by': 'wasm-reconciler' },
    });
    assert.equal(dep.spec.replicas, 3);
    assert.deepEqual(dep.spec.selector, { matchLabels: { 'app.kubernetes.io/name': 'shop' } });
    assert.deepEqual(dep.spec.template, {
      metadata: { labels: { 'app.kubernetes.io/name': 'shop' } },
      spec: {
        containers: [
          {
            name: 'web',
            image: 'ghcr.io/acme/shop:2.1.0',
            ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
            env: [
              { name: 'LOG_LEVEL', value: 'debug' },
              { name: 'REGION', value: 'eu' },
            ],
            readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 5 },
          },
        ],
      },
    });
    const svc = child(out, 'Service');
    assert.equal(svc.apiVersion, 'v1');
    assert.deepEqual(svc.spec, {
      type: 'ClusterIP',
      selector: { 'app.kubernetes.io/name': 'shop' },
      ports: [{ name: 'http', port: 8000, targetPort: 'http', protocol: 'TCP' }],
    });
    assert.deepEqual(out.events, [
      { type: 'Normal', reason: 'Created', message: 'creating Deployment shop and Service shop' },
    ]);
    assert.deepEqual(ready(out), {
      type: 'Ready',
      status: 'False',
      observedGeneration: 4,
      lastTransitionTime: '2026-06-01T12:00:00Z',
      reason: 'Creating',
      message: 'waiting for Deployment shop to be created',
    });
    assert.equal((out.status as { url: string }).url, 'http://shop.apps.svc:8000');
  });

  it('applies defaults: one replica, port 8080 behind port 80, no env and no probe', () => {
    const { out } = reconcile(webApp({ replicas: undefined, port: undefined }));
    const container = child(out, 'Deployment').spec.template.spec.containers[0]!;
    assert.equal(child(out, 'Deployment').spec.replicas, 1);
    assert.deepEqual(container.ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    assert.equal(container.env, undefined);
    assert.equal(container.readinessProbe, undefined);
    assert.equal(child(out, 'Service').spec.ports[0]?.port, 80);
  });

  it('refuses an invalid spec with a terminal error and leaves the children alone', () => {
    for (const spec of [{ image: '' }, { replicas: -1 }, { replicas: 1.5 }, { port: 0 }, { servicePort: 70000 }]) {
      const { status, out } = reconcile(webApp(spec));
      assert.equal(status, 2, JSON.stringify(spec));
      assert.equal(out.children, undefined);
      assert.equal(out.error?.retryable, false);
      assert.equal(ready(out).reason, 'InvalidSpec');
    }
  });

  it('keeps the children while the WebApp is being deleted', () => {
    const result = guest.call(
      'wr_reconcile',
      reconcileInput({ primary: webApp(), deleted: true, trigger: { reason: 'deleted' } }),
    );
    assert.equal(result.status, 0);
    assert.deepEqual(JSON.parse(result.output!), {});
  });
});

describe('webapp: status from the Deployment', () => {
  it('is Ready when the Deployment is Available and its rollout complete, and mirrors both conditions', () => {
    const { out } = reconcile(webApp(), [
      deployment({
        replicas: 3,
        readyReplicas: 3,
        availableReplicas: 3,
        updatedReplicas: 3,
        conditions: [
          cond('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.'),
          cond('Progressing', 'True', 'NewReplicaSetAvailable', 'ReplicaSet "shop-5d4" has successfully progressed.'),
        ],
      }),
      service,
    ]);
    const c = conditions(out);
    assert.equal(c.get('Ready')?.status, 'True');
    assert.equal(c.get('Ready')?.reason, 'Available');
    assert.equal(c.get('Ready')?.message, '3/3 available, 3 updated');
    assert.equal(c.get('Available')?.reason, 'MinimumReplicasAvailable');
    assert.equal(c.get('Progressing')?.message, 'ReplicaSet "shop-5d4" has successfully progressed.');
    assert.deepEqual(
      { ...(out.status as Record<string, unknown>), conditions: undefined },
      {
        replicas: 3,
        readyReplicas: 3,
        availableReplicas: 3,
        updatedReplicas: 3,
        url: 'http://shop.apps.svc:80',
        conditions: undefined,
      },
    );
    assert.deepEqual(out.events, [{ type: 'Normal', reason: 'Available', message: '3/3 available, 3 updated' }]);
  });

  it('takes reason and message from the Available condition while too few replicas are available', () => {
    const { out } = reconcile(webApp(), [
      deployment({
        availableReplicas: 1,
        updatedReplicas: 3,
        conditions: [
          cond('Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.'),
          cond('Progressing', 'True', 'ReplicaSetUpdated', 'ReplicaSet "shop-5d4" is progressing.'),
        ],
      }),
      service,
    ]);
    assert.deepEqual(
      [ready(out).status, ready(out).reason, ready(out).message],
      [
        'False',
        'MinimumReplicasUnavailable',
        'Deployment does not have minimum availability. (1/3 available, 3 updated)',
      ],
    );
    assert.equal(out.events, undefined);
  });

  it('reports a stuck rollout from Progressing=False once, with a Warning event', () => {
    const stuck = deployment({
      availableReplicas: 3,
      updatedReplicas: 1,
      conditions: [
        cond('Available', 'True', 'MinimumReplicasAvailable', ''),
        cond('Progressing', 'False', 'ProgressDeadlineExceeded', 'ReplicaSet "shop-7f9" has timed out progressing.'),
      ],
    });
    const first = reconcile(webApp(), [stuck, service]).out;
    assert.deepEqual(
      [ready(first).status, ready(first).reason, ready(first).message],
      ['False', 'ProgressDeadlineExceeded', 'ReplicaSet "shop-7f9" has timed out progressing.'],
    );
    assert.deepEqual(first.events, [
      { type: 'Warning', reason: 'RolloutFailed', message: 'ReplicaSet "shop-7f9" has timed out progressing.' },
    ]);
    // The next reconcile sees its own report in the WebApp's status: no second event, same transition time.
    const again = reconcile(webApp({}, first.status as Record<string, unknown>), [stuck, service]).out;
    assert.equal(again.events, undefined);
    assert.equal(ready(again).lastTransitionTime, ready(first).lastTransitionTime);
  });

  it('is Ready but Updating while a rollout replaces available replicas', () => {
    const { out } = reconcile(webApp(), [
      deployment({
        availableReplicas: 3,
        updatedReplicas: 1,
        conditions: [
          cond('Available', 'True', 'MinimumReplicasAvailable', ''),
          cond('Progressing', 'True', 'ReplicaSetUpdated', ''),
        ],
      }),
      service,
    ]);
    assert.deepEqual(
      [ready(out).status, ready(out).reason, ready(out).message],
      ['True', 'Updating', '3/3 available, 1 updated'],
    );
  });

  it('does not trust conditions the Deployment controller wrote for an older generation', () => {
    const stale = deployment({ conditions: [cond('Available', 'True', 'MinimumReplicasAvailable', '')] }, 5);
    (stale.status as { observedGeneration: number }).observedGeneration = 4;
    const { out } = reconcile(webApp(), [stale, service]);
    assert.deepEqual([ready(out).status, ready(out).reason], ['False', 'RolloutPending']);
    assert.equal(ready(out).message, 'Deployment shop generation 5 is not observed yet');
  });

  it('waits for an Available condition on a Deployment the controller has not reported on', () => {
    const { out } = reconcile(webApp(), [deployment({}, 1), service]);
    assert.deepEqual([ready(out).status, ready(out).reason], ['False', 'Pending']);
    assert.equal(conditions(out).has('Available'), false);
  });

  it('keeps memory flat over many calls', () => {
    const children = [
      deployment({ availableReplicas: 3, updatedReplicas: 3, conditions: [cond('Available', 'True', 'A', '')] }),
      service,
    ];
    const text = reconcileInput({ primary: webApp({ env: { A: 'b' } }), children });
    for (let i = 0; i < 200; i++) guest.call('wr_reconcile', text);
    const pages = guest.memoryPages;
    for (let i = 0; i < 2000; i++) assert.equal(guest.call('wr_reconcile', text).status, 0);
    assert.equal(guest.memoryPages, pages);
  });
});
