// The SensorGateway reconciler's behaviour, offline: built with the SDK tooling and driven through the guest harness.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  GuestHarness,
  type KubeObject,
  type ReconcileOutput,
  reconcileInput,
} from '@wasm-reconciler/sdk-assemblyscript/tools/testing';
import { buildEdgeDevice } from './module.ts';

const NOW = Date.parse('2026-06-01T12:00:00Z');
let guest: GuestHarness;

type Condition = { type: string; status: string; reason: string; message: string };
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  spec: {
    nodeSelector: Record<string, string>;
    tolerations?: unknown;
    containers: { image: string; args: string[]; securityContext?: unknown; volumeMounts: unknown[] }[];
    volumes: unknown[];
  };
}
type Deployment = KubeObject & {
  spec: { replicas: number; strategy: unknown; selector: unknown; template: PodTemplate };
};
type Status = {
  phase: string;
  nodeName: string;
  configMapName: string;
  configHash: string;
  readyReplicas: number;
  conditions: Condition[];
};

const CONFIG = { protocol: 'modbus-rtu', baudRate: 9600, sensors: [{ id: 1, register: 30001 }] };

function gateway(spec: Record<string, unknown> = {}, status?: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'examples.wasmreconciler.dev/v1alpha1',
    kind: 'SensorGateway',
    metadata: { name: 'boiler', namespace: 'edge', uid: 'g-1', generation: 3 },
    spec: { nodeName: 'edge-node-1', image: 'ghcr.io/acme/sensor-gateway:1.4.0', config: CONFIG, ...spec },
    ...(status === undefined ? {} : { status }),
  };
}

function deployment(status: Record<string, unknown>, generation = 1): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'boiler', namespace: 'edge', uid: 'd-1', generation },
    status: { observedGeneration: generation, ...status },
  };
}

const configMap: KubeObject = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'boiler-config', namespace: 'edge' },
};

function reconcile(primary: KubeObject, children: KubeObject[] = []) {
  const result = guest.call('wr_reconcile', reconcileInput({ primary, children, reconciler: { name: 'edge-device' } }));
  assert.equal(result.outputCalls, 1);
  return { status: result.status, out: JSON.parse(result.output!) as ReconcileOutput };
}

function child<T extends KubeObject>(out: ReconcileOutput, kind: string): T {
  const found = out.children?.find((c) => c.kind === kind);
  assert.ok(found, `no ${kind} in ${JSON.stringify(out.children)}`);
  return found as T;
}

function statusOf(out: ReconcileOutput): Status {
  return out.status as Status;
}

function ready(out: ReconcileOutput): Condition {
  return statusOf(out).conditions.find((c) => c.type === 'Ready')!;
}

before(async () => {
  guest = await GuestHarness.load((await buildEdgeDevice()).wasmPath, { clock: () => NOW });
  assert.equal(guest.init(null).status, 0);
});

describe('edge-device: children', () => {
  it('renders the config and a single gateway pinned to the node, with a Created event', () => {
    const { status, out } = reconcile(
      gateway({
        devicePath: '/dev/ttyUSB0',
        privileged: true,
        tolerations: [{ key: 'node-role.kubernetes.io/edge', operator: 'Exists', effect: 'NoSchedule' }],
      }),
    );
    assert.equal(status, 0);
    assert.deepEqual(
      out.children?.map((c) => `${c.kind} ${c.metadata.name}`),
      ['ConfigMap boiler-config', 'Deployment boiler'],
    );
    const cm = child<KubeObject & { data: Record<string, string> }>(out, 'ConfigMap');
    assert.deepEqual(JSON.parse(cm.data['gateway.json']!), CONFIG);
    assert.equal(cm.metadata.labels?.['app.kubernetes.io/component'], 'config');

    const dep = child<Deployment>(out, 'Deployment');
    assert.equal(dep.spec.replicas, 1);
    assert.deepEqual(dep.spec.strategy, { type: 'Recreate' });
    assert.deepEqual(dep.spec.selector, { matchLabels: { 'app.kubernetes.io/name': 'boiler' } });
    const pod = dep.spec.template.spec;
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/hostname': 'edge-node-1' });
    assert.deepEqual(pod.tolerations, [
      { key: 'node-role.kubernetes.io/edge', operator: 'Exists', effect: 'NoSchedule' },
    ]);
    assert.deepEqual(pod.containers, [
      {
        name: 'gateway',
        image: 'ghcr.io/acme/sensor-gateway:1.4.0',
        args: ['--config=/etc/sensor-gateway/gateway.json'],
        securityContext: { privileged: true },
        volumeMounts: [
          { name: 'config', mountPath: '/etc/sensor-gateway', readOnly: true },
          { name: 'device', mountPath: '/dev/ttyUSB0' },
        ],
      },
    ]);
    assert.deepEqual(pod.volumes, [
      { name: 'config', configMap: { name: 'boiler-config' } },
      { name: 'device', hostPath: { path: '/dev/ttyUSB0', type: 'CharDevice' } },
    ]);
    assert.match(
      dep.spec.template.metadata.annotations['examples.wasmreconciler.dev/config-hash'] ?? '',
      /^[0-9a-f]{8}$/,
    );
    assert.deepEqual(out.events, [
      { type: 'Normal', reason: 'Created', message: 'creating the gateway on node edge-node-1' },
    ]);
    const { conditions, ...rest } = statusOf(out);
    assert.deepEqual(rest, {
      phase: 'Pending',
      nodeName: 'edge-node-1',
      configMapName: 'boiler-config',
      configHash: dep.spec.template.metadata.annotations['examples.wasmreconciler.dev/config-hash'],
      readyReplicas: 0,
    });
    assert.deepEqual([conditions[0]?.status, conditions[0]?.reason], ['False', 'Creating']);
  });

  it('has no device volume, privilege or tolerations unless asked, and an empty config file without config', () => {
    const { out } = reconcile(gateway({ config: undefined }));
    const pod = child<Deployment>(out, 'Deployment').spec.template.spec;
    assert.equal(pod.tolerations, undefined);
    assert.equal(pod.containers[0]?.securityContext, undefined);
    assert.deepEqual(pod.volumes, [{ name: 'config', configMap: { name: 'boiler-config' } }]);
    assert.equal(child<KubeObject & { data: Record<string, string> }>(out, 'ConfigMap').data['gateway.json'], '{}');
  });

  it('restarts the gateway on a config change only: the pod template hash follows the config', () => {
    const hash = (spec: Record<string, unknown>) =>
      child<Deployment>(reconcile(gateway(spec)).out, 'Deployment').spec.template.metadata.annotations[
        'examples.wasmreconciler.dev/config-hash'
      ];
    assert.equal(hash({}), hash({}));
    assert.notEqual(hash({}), hash({ config: { ...CONFIG, baudRate: 19200 } }));
    assert.equal(hash({}), hash({ image: 'ghcr.io/acme/sensor-gateway:1.5.0' }));
  });

  it('refuses a spec it cannot place with a terminal error', () => {
    for (const spec of [
      { nodeName: '' },
      { nodeName: 'edge node' },
      { nodeName: '-edge' },
      { nodeName: 'x'.repeat(64) },
      { image: '' },
      { devicePath: '/etc/passwd' },
      { config: 'protocol=modbus' },
    ]) {
      const { status, out } = reconcile(gateway(spec));
      assert.equal(status, 2, JSON.stringify(spec));
      assert.equal(out.children, undefined);
      assert.equal(out.error?.retryable, false);
      assert.deepEqual([ready(out).reason, statusOf(out).phase], ['InvalidSpec', 'Failed']);
    }
  });

  it('keeps the children while the device is being deleted', () => {
    const result = guest.call(
      'wr_reconcile',
      reconcileInput({ primary: gateway(), deleted: true, trigger: { reason: 'deleted' } }),
    );
    assert.deepEqual(JSON.parse(result.output!), {});
  });
});

describe('edge-device: status from the Deployment', () => {
  it('is Running once the pod on the node is ready', () => {
    const { out } = reconcile(gateway(), [configMap, deployment({ readyReplicas: 1, updatedReplicas: 1 })]);
    assert.equal(statusOf(out).phase, 'Running');
    assert.equal(statusOf(out).readyReplicas, 1);
    assert.deepEqual(
      [ready(out).status, ready(out).reason, ready(out).message],
      ['True', 'Running', 'gateway running on node edge-node-1'],
    );
    assert.equal(out.events, undefined);
  });

  it('is Starting while the pod is not ready, and Updating until the Deployment controller sees a change', () => {
    assert.equal(ready(reconcile(gateway(), [configMap, deployment({ readyReplicas: 0 })]).out).reason, 'Starting');
    const stale = deployment({ readyReplicas: 1, updatedReplicas: 1 }, 2);
    (stale.status as { observedGeneration: number }).observedGeneration = 1;
    const { out } = reconcile(gateway(), [configMap, stale]);
    assert.deepEqual([ready(out).status, ready(out).reason, statusOf(out).phase], ['False', 'Updating', 'Pending']);
  });

  it('is Failed when the rollout passed its deadline (an offline or full node), with one Warning', () => {
    const stuck = deployment({
      conditions: [
        {
          type: 'Progressing',
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          message: 'ReplicaSet "boiler-6c" has timed out progressing.',
        },
      ],
    });
    const first = reconcile(gateway(), [configMap, stuck]).out;
    assert.equal(statusOf(first).phase, 'Failed');
    assert.deepEqual(
      [ready(first).reason, ready(first).message],
      [
        'ProgressDeadlineExceeded',
        'ReplicaSet "boiler-6c" has timed out progressing. (is node edge-node-1 up, and does the pod fit on it?)',
      ],
    );
    assert.deepEqual(
      first.events?.map((e) => [e.type, e.reason]),
      [['Warning', 'ProgressDeadlineExceeded']],
    );
    const again = reconcile(gateway({}, first.status as Record<string, unknown>), [configMap, stuck]).out;
    assert.equal(again.events, undefined);
  });

  it('announces a move to another node once', () => {
    const before = { nodeName: 'edge-node-1', phase: 'Running' };
    const { out } = reconcile(gateway({ nodeName: 'edge-node-2' }, before), [
      configMap,
      deployment({ readyReplicas: 1 }, 2),
    ]);
    assert.deepEqual(child<Deployment>(out, 'Deployment').spec.template.spec.nodeSelector, {
      'kubernetes.io/hostname': 'edge-node-2',
    });
    assert.deepEqual(out.events, [
      { type: 'Normal', reason: 'Moving', message: 'moving the gateway from node edge-node-1 to node edge-node-2' },
    ]);
    const settled = reconcile(gateway({ nodeName: 'edge-node-2' }, statusOf(out)), [configMap, deployment({}, 2)]).out;
    assert.equal(settled.events, undefined);
  });

  it('keeps memory flat over many calls', () => {
    const text = reconcileInput({
      primary: gateway({ devicePath: '/dev/ttyACM0' }),
      children: [configMap, deployment({ readyReplicas: 1 })],
    });
    for (let i = 0; i < 200; i++) guest.call('wr_reconcile', text);
    const pages = guest.memoryPages;
    for (let i = 0; i < 2000; i++) assert.equal(guest.call('wr_reconcile', text).status, 0);
    assert.equal(guest.memoryPages, pages);
  });
});
