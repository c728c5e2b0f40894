import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture } from '../../../test/fixtures/guests/wat.ts';
import type { KubeObject } from '../abi/types.ts';
import { parseReconcilerSpec } from '../modules/index.ts';
import { OfflineEngine, type OfflineRun } from './index.ts';

const APP = 'demo.wasmreconciler.dev/v1alpha1';

/** Apps in demo, reading ConfigMaps and Secrets as related kinds; `secretVerbs` is what the grant allows on Secrets. */
function spec(secretVerbs: readonly string[]) {
  return parseReconcilerSpec({
    apiVersion: 'wasmreconciler.dev/v1alpha1',
    kind: 'WasmReconciler',
    metadata: { name: 'reads', namespace: 'demo' },
    spec: {
      for: { apiVersion: APP, kind: 'App' },
      related: [
        { apiVersion: 'v1', kind: 'ConfigMap' },
        { apiVersion: 'v1', kind: 'Secret' },
      ],
      permissions: [
        { apiVersion: 'v1', kind: 'ConfigMap', verbs: ['get', 'list'] },
        { apiVersion: 'v1', kind: 'Secret', verbs: secretVerbs },
      ],
      module: { configMap: { name: 'reads-module', key: 'module.wasm' } },
    },
  });
}

function configMap(name: string, labels: Record<string, string>, namespace = 'demo'): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels }, data: { from: name } };
}

/** Objects of both related kinds: which ConfigMaps the guest's selector "tier in (web,api),!legacy" keeps. */
const OBSERVED: readonly KubeObject[] = [
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'demo' }, data: { mode: 'edge' } },
  configMap('web', { tier: 'web' }),
  configMap('api', { tier: 'api', team: 'core' }),
  configMap('old-api', { tier: 'api', legacy: 'true' }),
  configMap('db', { tier: 'db' }),
  // Outside the reconciler's namespace: never in its cache.
  configMap('elsewhere', { tier: 'web' }, 'other'),
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'token', namespace: 'demo' }, data: { t: 'czNjcmV0' } },
];

function run(secretVerbs: readonly string[]): OfflineRun {
  return {
    spec: spec(secretVerbs),
    primary: { apiVersion: APP, kind: 'App', metadata: { name: 'hello', namespace: 'demo', generation: 1 }, spec: {} },
    observed: OBSERVED,
    trigger: { reason: 'created' },
  };
}

interface ReadsStatus {
  settings: KubeObject & { data: Record<string, string> };
  selected: (KubeObject & { data: Record<string, string> })[];
  token: number | string;
  absent: number | string;
  observedGeneration: number;
}

let engine: OfflineEngine;
before(async () => {
  engine = new OfflineEngine(await fixture('reads'));
});
after(() => engine.close());

describe('OfflineEngine: guest reads', () => {
  it("serves get and list (label selector included) from the cache, through the reconciler's grants", async () => {
    const result = await engine.run(run(['list']));
    assert.equal(result.error, undefined, JSON.stringify(result.error));
    assert.equal(result.outcome, 'reconciled');
    assert.equal(result.statusWritten, true);
    const status = result.status as unknown as ReadsStatus;
    // get: the object as the cache serves it, uid and resourceVersion filled in as the API server would.
    assert.deepEqual(status.settings.data, { mode: 'edge' });
    assert.equal(status.settings.metadata.name, 'settings');
    assert.match(status.settings.metadata.uid ?? '', /^[0-9a-f]{8}-/);
    // list: the set-based selector keeps web and api, drops the legacy one, db, and another namespace's.
    assert.deepEqual(status.selected.map((o) => o.metadata.name).sort(), ['api', 'web']);
    assert.deepEqual(
      status.selected.map((o) => o.data.from),
      status.selected.map((o) => o.metadata.name),
    );
    // The grant on Secrets allows list, not get: DENIED (-2), although the Secret is in the cache.
    assert.equal(status.token, -2);
    assert.equal(status.absent, -1);
    assert.equal(status.observedGeneration, 1);
    // One call to the guest under the fuel meter, the host imports charged.
    const reconcile = result.calls.find((c) => c.export === 'wr_reconcile');
    assert.ok(reconcile !== undefined && reconcile.fuelUsed > 4 * 100_000, JSON.stringify(result.calls));
  });

  it('reads the Secret once the grant allows get', async () => {
    const result = await engine.run(run(['get']));
    assert.equal(result.error, undefined, JSON.stringify(result.error));
    assert.equal((result.status as unknown as ReadsStatus).token, 'read');
  });

  it('a list the grants deny reaches the guest as DENIED: its error output fails the reconcile', async () => {
    const denied = run(['get']);
    const noConfigMapList: OfflineRun = {
      ...denied,
      spec: {
        ...denied.spec,
        permissions: denied.spec.permissions.map((p) => (p.kind === 'ConfigMap' ? { ...p, verbs: ['get'] } : p)),
      },
    };
    const result = await engine.run(noConfigMapList);
    assert.deepEqual(result.error, { code: 'WR_GUEST_ERROR_TERMINAL', message: 'read failed: -2', retryable: false });
    assert.equal(result.status, undefined);
    assert.deepEqual(result.writes, []);
  });
});
