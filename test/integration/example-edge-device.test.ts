// examples/edge-device on a real apiserver: its own WasmReconciler YAML (small limits included) served by an
// in-process host, a SensorGateway rendered into its config and a gateway pinned to its node, the status
// following the Deployment through start, a config change, a move to another node and a failed rollout.
//
// The local control plane runs no Deployment controller, scheduler or kubelet, so the test writes the
// Deployment's status itself, through the status subresource, as that controller would.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { load } from 'js-yaml';
import { buildEdgeDevice } from '../../examples/edge-device/test/module.ts';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { isWrError } from '../../host/src/errors.ts';
import { type ApiResource, KubeClient } from '../../host/src/kube/index.ts';
import { type Host, startHost } from '../../host/src/manager/index.ts';
import { createTestNamespace, getTestCluster, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const EXAMPLE = path.join(ROOT, 'examples/edge-device');
const GROUP_VERSION = 'examples.wasmreconciler.dev/v1alpha1';
const HASH_ANNOTATION = 'examples.wasmreconciler.dev/config-hash';

type Cond = { type: string; status: string; reason: string; message: string };
type Gateway = KubeObject & {
  status?: { phase?: string; nodeName?: string; readyReplicas?: number; configHash?: string; conditions?: Cond[] };
};
type Deployment = KubeObject & {
  spec: {
    replicas: number;
    strategy: { type: string };
    template: {
      metadata: { annotations: Record<string, string> };
      spec: {
        nodeSelector: Record<string, string>;
        containers: { image: string; volumeMounts: { name: string; mountPath: string }[] }[];
        volumes: Record<string, unknown>[];
      };
    };
  };
};
type ConfigMap = KubeObject & { data: Record<string, string> };

let client: KubeClient;
let wrs: ApiResource;
let gateways: ApiResource;
let deployments: ApiResource;
let configMaps: ApiResource;
let events: ApiResource;
let moduleBase64: string;
let cacheDir: string;
const hosts: Host[] = [];

before(async () => {
  client = await KubeClient.fromKubeConfig(await getTestCluster());
  await installCrd(client, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(client, path.join(EXAMPLE, 'crd.yaml'));
  wrs = await client.resource('wasmreconciler.dev/v1alpha1', 'WasmReconciler');
  gateways = await client.resource(GROUP_VERSION, 'SensorGateway');
  deployments = await client.resource('apps/v1', 'Deployment');
  configMaps = await client.resource('v1', 'ConfigMap');
  events = await client.resource('v1', 'Event');
  moduleBase64 = readFileSync((await buildEdgeDevice()).wasmPath).toString('base64');
  cacheDir = mkdtempSync(path.join(tmpdir(), 'wr-example-edge-device-'));
});

after(async () => {
  for (const host of hosts) await host.stop();
  client?.close();
  if (cacheDir !== undefined) rmSync(cacheDir, { recursive: true, force: true });
});

/** The example's wasmreconciler.yaml as shipped, moved to `namespace`, with the built module inline. */
function exampleReconciler(namespace: string): KubeObject {
  const wr = load(readFileSync(path.join(EXAMPLE, 'wasmreconciler.yaml'), 'utf8')) as KubeObject & { spec: object };
  return { ...wr, metadata: { ...wr.metadata, namespace }, spec: { ...wr.spec, module: { inline: moduleBase64 } } };
}

async function getOrUndefined<T extends KubeObject>(res: ApiResource, namespace: string, name: string) {
  try {
    return (await client.get(res, namespace, name)) as T;
  } catch (err) {
    if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return undefined;
    throw err;
  }
}

function readyOf(o: KubeObject | undefined): Cond | undefined {
  return ((o as Gateway | undefined)?.status?.conditions ?? []).find((c) => c.type === 'Ready');
}

/** Waits until the gateway's status has `phase` and its Ready condition `reason`; the last mismatch is the cause. */
async function waitGateway(namespace: string, phase: string, reason: string): Promise<Gateway> {
  return waitFor(
    async () => {
      const g = await getOrUndefined<Gateway>(gateways, namespace, 'boiler');
      assert.ok(g?.status?.phase === phase && readyOf(g)?.reason === reason, `status: ${JSON.stringify(g?.status)}`);
      return g;
    },
    { description: `SensorGateway boiler ${phase}/${reason}`, timeoutMs: 30_000 },
  );
}

async function reportDeployment(namespace: string, status: Record<string, unknown>): Promise<void> {
  const current = await client.get(deployments, namespace, 'boiler');
  await client.patchStatus(
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'boiler', namespace } },
    { observedGeneration: current.metadata.generation, ...status },
    { fieldManager: 'test-deployment-controller', force: true },
  );
}

async function mergePatchGateway(namespace: string, spec: Record<string, unknown>): Promise<void> {
  await client.request(
    'PATCH',
    `/apis/examples.wasmreconciler.dev/v1alpha1/namespaces/${namespace}/sensorgateways/boiler`,
    {
      body: { spec },
      contentType: 'application/merge-patch+json',
    },
  );
}

async function eventReasons(namespace: string): Promise<string[]> {
  const list = await client.list(events, { namespace });
  return (list.items as (KubeObject & { reason?: string; involvedObject?: { kind?: string } })[])
    .filter((e) => e.involvedObject?.kind === 'SensorGateway')
    .map((e) => e.reason ?? '');
}

describe('examples/edge-device on the local control plane', () => {
  test('a device gets a gateway on its node, whose status follows the Deployment', async (t) => {
    const namespace = await createTestNamespace(t, 'example-edge-device');
    hosts.push(
      await startHost({ kubeConfig: await getTestCluster(), namespace, moduleCacheDir: cacheDir, logLevel: 'silent' }),
    );
    await client.create(wrs, exampleReconciler(namespace));
    await waitFor(async () => readyOf(await client.get(wrs, namespace, 'edge-device'))?.status === 'True', {
      description: 'WasmReconciler edge-device Ready',
      timeoutMs: 60_000,
    });

    const config = { protocol: 'modbus-rtu', baudRate: 9600, sensors: [{ id: 1, register: 30001 }] };
    const created = await client.create(gateways, {
      apiVersion: GROUP_VERSION,
      kind: 'SensorGateway',
      metadata: { name: 'boiler', namespace },
      spec: { nodeName: 'edge-node-1', image: 'ghcr.io/acme/sensor-gateway:1.4.0', devicePath: '/dev/ttyUSB0', config },
    } as KubeObject);

    const cm = await waitFor(() => getOrUndefined<ConfigMap>(configMaps, namespace, 'boiler-config'), {
      description: 'ConfigMap boiler-config',
    });
    assert.deepEqual(JSON.parse(cm.data['gateway.json']!), config);
    const deployment = await waitFor(() => getOrUndefined<Deployment>(deployments, namespace, 'boiler'), {
      description: 'Deployment boiler',
    });
    assert.deepEqual(
      deployment.metadata.ownerReferences?.map((o) => [o.kind, o.uid, o.controller]),
      [['SensorGateway', created.metadata.uid, true]],
    );
    assert.equal(deployment.spec.replicas, 1);
    assert.equal(deployment.spec.strategy.type, 'Recreate');
    const pod = deployment.spec.template.spec;
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/hostname': 'edge-node-1' });
    assert.deepEqual(
      pod.volumes.map((v) => v.name),
      ['config', 'device'],
    );
    assert.deepEqual(pod.volumes[1], { name: 'device', hostPath: { path: '/dev/ttyUSB0', type: 'CharDevice' } });
    assert.deepEqual(
      pod.containers[0]?.volumeMounts.map((m) => [m.name, m.mountPath]),
      [
        ['config', '/etc/sensor-gateway'],
        ['device', '/dev/ttyUSB0'],
      ],
    );
    const firstHash = deployment.spec.template.metadata.annotations[HASH_ANNOTATION];

    // Nothing has reported on the Deployment yet; then its pod starts and becomes ready.
    await waitGateway(namespace, 'Pending', 'Updating');
    await reportDeployment(namespace, { replicas: 1, updatedReplicas: 1, unavailableReplicas: 1 });
    await waitGateway(namespace, 'Pending', 'Starting');
    await reportDeployment(namespace, { replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 });
    const running = await waitGateway(namespace, 'Running', 'Running');
    assert.deepEqual(
      [running.status?.nodeName, running.status?.readyReplicas, readyOf(running)?.status],
      ['edge-node-1', 1, 'True'],
    );
    assert.equal(running.status?.configHash, firstHash);

    // A config change rewrites the file and restarts the gateway (a new pod-template hash).
    await mergePatchGateway(namespace, { config: { baudRate: 19200 } });
    await waitFor(
      async () => {
        const next = await getOrUndefined<ConfigMap>(configMaps, namespace, 'boiler-config');
        const dep = await getOrUndefined<Deployment>(deployments, namespace, 'boiler');
        assert.equal(JSON.parse(next?.data['gateway.json'] ?? '{}').baudRate, 19200);
        assert.notEqual(dep?.spec.template.metadata.annotations[HASH_ANNOTATION], firstHash);
        return true;
      },
      { description: 'the new config in the ConfigMap and the pod template' },
    );

    // The device moves: the gateway follows it to the other node.
    await mergePatchGateway(namespace, { nodeName: 'edge-node-2' });
    await waitFor(
      async () =>
        (await getOrUndefined<Deployment>(deployments, namespace, 'boiler'))?.spec.template.spec.nodeSelector[
          'kubernetes.io/hostname'
        ] === 'edge-node-2',
      { description: 'the Deployment pinned to edge-node-2' },
    );
    await waitFor(async () => (await eventReasons(namespace)).includes('Moving'), { description: 'a Moving event' });

    // The new node never runs the pod: the rollout passes its deadline and the device is Failed.
    await reportDeployment(namespace, {
      replicas: 1,
      unavailableReplicas: 1,
      conditions: [
        {
          type: 'Progressing',
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          message: 'ReplicaSet "boiler-6c" has timed out progressing.',
          lastUpdateTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        },
      ],
    });
    const failed = await waitGateway(namespace, 'Failed', 'ProgressDeadlineExceeded');
    assert.match(readyOf(failed)?.message ?? '', /is node edge-node-2 up/);
    assert.equal(failed.status?.nodeName, 'edge-node-2');
    await waitFor(async () => (await eventReasons(namespace)).includes('ProgressDeadlineExceeded'), {
      description: 'a ProgressDeadlineExceeded Warning',
    });

    // The device is removed: the garbage collector takes its config and gateway.
    await client.delete(gateways, namespace, 'boiler');
    await waitFor(
      async () =>
        (await getOrUndefined(deployments, namespace, 'boiler')) === undefined &&
        (await getOrUndefined(configMaps, namespace, 'boiler-config')) === undefined,
      { description: 'the children garbage-collected', timeoutMs: 60_000 },
    );
  });
});
