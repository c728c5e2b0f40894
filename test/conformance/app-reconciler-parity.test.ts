// Keeps the native App reconciler (test/fixtures/native) and the Wasm one (examples/configmap-app v1) identical.

import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { GuestHarness } from '@wasm-reconciler/sdk-assemblyscript/tools/testing';
import { buildV1 } from '../../examples/configmap-app/test/modules.ts';
import { encodeReconcileInput } from '../../host/src/abi/encode.ts';
import { objectView } from '../../host/src/abi/testing/object-view.ts';
import type { KubeObject, ObjectView, ReconcileOutput, ReconcileRequest } from '../../host/src/abi/types.ts';
import { APP_API_VERSION, createAppReconciler } from '../fixtures/native/app-reconciler.ts';

const NOW = Date.parse('2025-06-01T12:00:07.250Z');
let guest: GuestHarness;

before(async () => {
  guest = await GuestHarness.load((await buildV1()).wasmPath, { clock: () => NOW });
  assert.equal(guest.init(null).status, 0);
});

function app(spec: Record<string, unknown>, status?: Record<string, unknown>, generation = 2): KubeObject {
  return {
    apiVersion: APP_API_VERSION,
    kind: 'App',
    metadata: { name: 'hello', namespace: 'demo', uid: 'u-1', resourceVersion: '7', generation },
    spec,
    ...(status === undefined ? {} : { status }),
  };
}

function deployment(readyReplicas?: number): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'hello', namespace: 'demo', uid: 'd-1' },
    spec: { replicas: 2 },
    status: readyReplicas === undefined ? {} : { readyReplicas },
  };
}

const configMap: KubeObject = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'hello-config', namespace: 'demo' },
};

function request(primary: KubeObject, children: KubeObject[] = [], deleted = false): ReconcileRequest {
  const grouped = new Map<string, ObjectView[]>([
    ['v1/ConfigMap', []],
    ['apps/v1/Deployment', []],
  ]);
  for (const child of children) grouped.get(`${child.apiVersion}/${child.kind}`)?.push(objectView(child));
  return {
    trigger: { reason: 'updated' },
    reconciler: { name: 'apps' },
    primary: objectView(primary),
    deleted,
    children: grouped,
    related: new Map(),
  };
}

const full = {
  image: 'ghcr.io/example/hello:1.2.3',
  replicas: 2,
  message: 'Hi "edge" été 🚀\n',
  config: { LOG_LEVEL: 'debug', message: 'shadowed' },
};
const previousReady = {
  conditions: [
    { type: 'Ready', status: 'False', reason: 'Creating', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' },
  ],
};

const cases: Array<[string, ReconcileRequest]> = [
  ['a new App', request(app(full))],
  ['an App with only its ConfigMap', request(app(full), [configMap])],
  ['an App whose Deployment is progressing', request(app(full, previousReady), [configMap, deployment(1)])],
  ['an App whose Deployment is ready', request(app(full, previousReady), [configMap, deployment(2)])],
  ['a bare App', request(app({ image: 'nginx:1.27' }, undefined, 0))],
  [
    'an App with a config "message" but no spec.message',
    request(app({ image: 'x', config: { message: 'm', B: '2' } })),
  ],
  ['an App with a non-object config', request(app({ image: 'x', config: ['a'], message: 7 }))],
  ['an App without image', request(app({ replicas: 1 }))],
  ['an App with fractional replicas', request(app({ image: 'x', replicas: 1.5 }))],
  ['an App with null replicas', request(app({ image: 'x', replicas: null }))],
  ['an App being deleted', request(app(full), [configMap], true)],
];

for (const [name, req] of cases) {
  it(`renders ${name} the same natively and in Wasm`, async () => {
    const native = JSON.parse(
      JSON.stringify(await createAppReconciler({ now: () => NOW }).reconcile(req)),
    ) as ReconcileOutput;
    const result = guest.call('wr_reconcile', encodeReconcileInput(req));
    assert.ok(result.output !== undefined);
    assert.deepEqual(native, JSON.parse(result.output));
  });
}
