// examples/webapp on a real apiserver: its own WasmReconciler YAML served by an in-process host, a WebApp
// rendered into a Deployment and a Service, and the WebApp's Ready condition following the Deployment's
// conditions through a rollout, a stuck rollout and deletion.
//
// The local control plane runs no Deployment controller (and no kubelet), so the test writes the Deployment's
// status itself, through the status subresource under its own field manager, exactly as that controller
// would: the reconciler only ever sees Deployment status, whoever writes it.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { load } from 'js-yaml';
import { buildWebApp } from '../../examples/webapp/test/module.ts';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { isWrError } from '../../host/src/errors.ts';
import { type ApiResource, KubeClient } from '../../host/src/kube/index.ts';
import { type Host, startHost } from '../../host/src/manager/index.ts';
import { createTestNamespace, getTestCluster, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const EXAMPLE = path.join(ROOT, 'examples/webapp');
const WEBAPP = 'examples.wasmreconciler.dev/v1alpha1';
/** Who writes Deployment status here, standing in for kube-controller-manager's deployment controller. */
const DEPLOYMENT_CONTROLLER = 'test-deployment-controller';

type Cond = { type: string; status: string; reason: string; message: string; observedGeneration?: number };
interface Container {
  image: string;
  ports: { name: string; containerPort: number; protocol: string }[];
  env: { name: string; value: string }[];
  readinessProbe: { httpGet: { path: string } };
}
type Deployment = KubeObject & {
  spec: { replicas: number; selector: unknown; template: { spec: { containers: Container[] } } };
};
type Service = KubeObject & {
  spec: {
    selector: Record<string, string>;
    clusterIP: string;
    ports: { name: string; port: number; targetPort: string }[];
  };
};
type WebApp = KubeObject & {
  status?: {
    conditions?: Cond[];
    observedGeneration?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    url?: string;
  };
};

let client: KubeClient;
let wrs: ApiResource;
let webapps: ApiResource;
let deployments: ApiResource;
let services: ApiResource;
let events: ApiResource;
let moduleBase64: string;
let cacheDir: string;
const hosts: Host[] = [];

before(async () => {
  client = await KubeClient.fromKubeConfig(await getTestCluster());
  await installCrd(client, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(client, path.join(EXAMPLE, 'crd.yaml'));
  wrs = await client.resource('wasmreconciler.dev/v1alpha1', 'WasmReconciler');
  webapps = await client.resource(WEBAPP, 'WebApp');
  deployments = await client.resource('apps/v1', 'Deployment');
  services = await client.resource('v1', 'Service');
  events = await client.resource('v1', 'Event');
  moduleBase64 = readFileSync((await buildWebApp()).wasmPath).toString('base64');
  cacheDir = mkdtempSync(path.join(tmpdir(), 'wr-example-webapp-'));
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

async function getOrUndefined<T extends KubeObject>(
  res: ApiResource,
  namespace: string,
  name: string,
): Promise<T | undefined> {
  try {
    return (await client.get(res, namespace, name)) as T;
  } catch (err) {
    if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return undefined;
    throw err;
  }
}

function conditionOf(o: WebApp | undefined, type: string): Cond | undefined {
  return ((o?.status?.conditions ?? []) as Cond[]).find((c) => c.type === type);
}

/** Waits until the WebApp's Ready condition has `status` and `reason`, and returns the WebApp. */
async function waitReady(namespace: string, status: string, reason: string): Promise<WebApp> {
  // A failed check is "not yet"; the last one is the timeout's cause, with the condition seen.
  return waitFor(
    async () => {
      const app = await getOrUndefined<WebApp>(webapps, namespace, 'shop');
      const ready = conditionOf(app, 'Ready');
      assert.ok(ready?.status === status && ready.reason === reason, `Ready: ${JSON.stringify(ready)}`);
      return app;
    },
    { description: `WebApp shop Ready=${status} ${reason}`, timeoutMs: 30_000 },
  );
}

/** Writes Deployment status as its controller would: for the generation it has now. */
async function reportDeployment(namespace: string, status: Record<string, unknown>): Promise<void> {
  const current = await client.get(deployments, namespace, 'shop');
  await client.patchStatus(
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'shop', namespace } },
    { observedGeneration: current.metadata.generation, ...status },
    { fieldManager: DEPLOYMENT_CONTROLLER, force: true },
  );
}

function deploymentCondition(type: string, status: string, reason: string, message: string) {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return { type, status, reason, message, lastUpdateTime: now, lastTransitionTime: now };
}

async function eventReasons(namespace: string): Promise<string[]> {
  const list = await client.list(events, { namespace });
  return (list.items as (KubeObject & { reason?: string; involvedObject?: { kind?: string } })[])
    .filter((e) => e.involvedObject?.kind === 'WebApp')
    .map((e) => e.reason ?? '');
}

describe('examples/webapp on the local control plane', () => {
  test('a WebApp becomes a Deployment and a Service whose status drives Ready', async (t) => {
    const namespace = await createTestNamespace(t, 'example-webapp');
    const host = await startHost({
      kubeConfig: await getTestCluster(),
      namespace,
      moduleCacheDir: cacheDir,
      logLevel: 'silent',
    });
    hosts.push(host);
    await client.create(wrs, exampleReconciler(namespace));
    await waitFor(async () => conditionOf(await client.get(wrs, namespace, 'webapp'), 'Ready')?.status === 'True', {
      description: 'WasmReconciler webapp Ready',
      timeoutMs: 60_000,
    });

    const created = await client.create(webapps, {
      apiVersion: WEBAPP,
      kind: 'WebApp',
      metadata: { name: 'shop', namespace },
      spec: { image: 'ghcr.io/acme/shop:2.1.0', replicas: 2, healthPath: '/healthz', env: { REGION: 'eu' } },
    } as KubeObject);

    // Children as the API server stores them: the CRD's defaults (port 8080, servicePort 80) rendered through.
    const deployment = await waitFor(() => getOrUndefined<Deployment>(deployments, namespace, 'shop'), {
      description: 'Deployment shop',
    });
    assert.deepEqual(
      deployment.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
      [['WebApp', 'shop', created.metadata.uid, true]],
    );
    assert.equal(deployment.spec.replicas, 2);
    assert.deepEqual(deployment.spec.selector, { matchLabels: { 'app.kubernetes.io/name': 'shop' } });
    const container = deployment.spec.template.spec.containers[0]!;
    assert.equal(container.image, 'ghcr.io/acme/shop:2.1.0');
    assert.deepEqual(container.ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    assert.deepEqual(container.env, [{ name: 'REGION', value: 'eu' }]);
    assert.equal(container.readinessProbe.httpGet.path, '/healthz');
    const service = await waitFor(() => getOrUndefined<Service>(services, namespace, 'shop'), {
      description: 'Service shop',
    });
    assert.deepEqual(service.spec.selector, { 'app.kubernetes.io/name': 'shop' });
    assert.deepEqual(
      service.spec.ports.map((p) => [p.name, p.port, p.targetPort]),
      [['http', 80, 'http']],
    );
    assert.match(service.spec.clusterIP, /^\d+\.\d+\.\d+\.\d+$/, 'the API server allocated a cluster IP');

    // No Deployment controller has reported yet: the Deployment's (absent) status is not trusted.
    await waitReady(namespace, 'False', 'RolloutPending');

    await reportDeployment(namespace, {
      replicas: 2,
      updatedReplicas: 2,
      unavailableReplicas: 2,
      conditions: [
        deploymentCondition(
          'Available',
          'False',
          'MinimumReplicasUnavailable',
          'Deployment does not have minimum availability.',
        ),
        deploymentCondition('Progressing', 'True', 'ReplicaSetUpdated', 'ReplicaSet "shop-5d4" is progressing.'),
      ],
    });
    const unavailable = await waitReady(namespace, 'False', 'MinimumReplicasUnavailable');
    assert.equal(
      conditionOf(unavailable, 'Ready')?.message,
      'Deployment does not have minimum availability. (0/2 available, 2 updated)',
    );
    assert.equal(conditionOf(unavailable, 'Available')?.status, 'False');
    assert.equal(conditionOf(unavailable, 'Progressing')?.reason, 'ReplicaSetUpdated');

    await reportDeployment(namespace, {
      replicas: 2,
      updatedReplicas: 2,
      readyReplicas: 2,
      availableReplicas: 2,
      unavailableReplicas: 0,
      conditions: [
        deploymentCondition('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.'),
        deploymentCondition(
          'Progressing',
          'True',
          'NewReplicaSetAvailable',
          'ReplicaSet "shop-5d4" has successfully progressed.',
        ),
      ],
    });
    const available = await waitReady(namespace, 'True', 'Available');
    assert.equal(available.status?.observedGeneration, available.metadata.generation);
    assert.equal(conditionOf(available, 'Ready')?.observedGeneration, available.metadata.generation);
    assert.deepEqual(
      [available.status?.readyReplicas, available.status?.availableReplicas, available.status?.url],
      [2, 2, `http://shop.${namespace}.svc:80`],
    );
    await waitFor(async () => (await eventReasons(namespace)).includes('Available'), {
      description: 'an Available event on the WebApp',
    });

    // A new image is a new Deployment generation: until its controller observes it, Ready drops to RolloutPending.
    await client.request('PATCH', `/apis/examples.wasmreconciler.dev/v1alpha1/namespaces/${namespace}/webapps/shop`, {
      body: { spec: { image: 'ghcr.io/acme/shop:2.2.0' } },
      contentType: 'application/merge-patch+json',
    });
    await waitFor(
      async () =>
        ((await client.get(deployments, namespace, 'shop')) as Deployment).spec.template.spec.containers[0]?.image ===
        'ghcr.io/acme/shop:2.2.0',
      { description: 'the new image in the Deployment' },
    );
    await waitReady(namespace, 'False', 'RolloutPending');

    await reportDeployment(namespace, {
      replicas: 3,
      updatedReplicas: 1,
      readyReplicas: 2,
      availableReplicas: 2,
      conditions: [
        deploymentCondition('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.'),
        deploymentCondition(
          'Progressing',
          'False',
          'ProgressDeadlineExceeded',
          'ReplicaSet "shop-7f9" has timed out progressing.',
        ),
      ],
    });
    const stuck = await waitReady(namespace, 'False', 'ProgressDeadlineExceeded');
    assert.equal(conditionOf(stuck, 'Ready')?.message, 'ReplicaSet "shop-7f9" has timed out progressing.');
    await waitFor(async () => (await eventReasons(namespace)).includes('RolloutFailed'), {
      description: 'a RolloutFailed event on the WebApp',
    });

    // Drift: a Service deleted by hand comes back.
    const oldService = service.metadata.uid;
    await client.delete(services, namespace, 'shop');
    await waitFor(
      async () => {
        const back = await getOrUndefined(services, namespace, 'shop');
        return back !== undefined && back.metadata.uid !== oldService;
      },
      { description: 'Service shop re-created' },
    );

    // Deleting the WebApp leaves its children to the garbage collector, through their owner references.
    await client.delete(webapps, namespace, 'shop');
    await waitFor(
      async () =>
        (await getOrUndefined(deployments, namespace, 'shop')) === undefined &&
        (await getOrUndefined(services, namespace, 'shop')) === undefined,
      { description: 'the children garbage-collected', timeoutMs: 60_000 },
    );
  });
});
