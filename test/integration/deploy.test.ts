// deploy/ on a real apiserver: `kubectl apply -k deploy/overlays/default` renders and applies, and a host running
// as deploy/'s ServiceAccount (not admin) serves the configmap-app example through RBAC aggregation alone.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import { load, loadAll } from 'js-yaml';
import pino from 'pino';
import { buildV1 } from '../../examples/configmap-app/test/modules.ts';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { isWrError } from '../../host/src/errors.ts';
import { KubeClient, warnIfNoAccess } from '../../host/src/kube/index.ts';
import { startHost } from '../../host/src/manager/index.ts';
import { createTestNamespace, getTestCluster, mintServiceAccountKubeconfig, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';
import { kustomizeBuild } from '../support/kustomize.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const FIELD_MANAGER = 'wasm-reconciler-deploy-test';
const HOST_SA = { namespace: 'wasm-reconciler-system', name: 'wasm-reconciler' };
const APP = 'demo.wasmreconciler.dev/v1alpha1';

let admin: KubeClient;
/** Objects this file created (absent before its first apply), deleted at the end; the CRD stays for other files. */
const created = new Map<string, KubeObject>();

const keyOf = (o: KubeObject) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function yamlObjects(file: string): KubeObject[] {
  return (loadAll(readFileSync(path.join(ROOT, file), 'utf8')) as (KubeObject | null)[]).filter(
    (o): o is KubeObject => o !== null,
  );
}

async function exists(client: KubeClient, o: KubeObject): Promise<boolean> {
  try {
    await client.get(await client.resource(o.apiVersion, o.kind), o.metadata.namespace, o.metadata.name);
    return true;
  } catch (err) {
    if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return false;
    throw err;
  }
}

/** Server-side applies each object in order (kustomize output is already sorted: Namespace, CRD, ...). */
async function applyAll(objects: readonly KubeObject[]): Promise<void> {
  for (const o of objects) {
    if (!created.has(keyOf(o)) && !(await exists(admin, o))) created.set(keyOf(o), o);
    // A CRD's new kind is served a moment after it is applied; anything after it may need discovery.
    await waitFor(() => admin.apply(o, { fieldManager: FIELD_MANAGER, force: true }), {
      description: `server-side apply of ${keyOf(o)}`,
    });
  }
}

before(async () => {
  admin = await KubeClient.fromKubeConfig(await getTestCluster());
});

after(async () => {
  for (const o of [...created.values()].reverse()) {
    if (o.kind === 'CustomResourceDefinition') continue;
    try {
      await admin.delete(await admin.resource(o.apiVersion, o.kind), o.metadata.namespace, o.metadata.name);
    } catch (err) {
      if (!isWrError(err, 'WR_KUBE_NOT_FOUND')) throw err;
    }
  }
  admin?.close();
});

describe('deploy/', () => {
  test('kustomize renders deploy/overlays/default and every object applies server-side', async () => {
    const objects = await kustomizeBuild(path.join(ROOT, 'deploy/overlays/default'));
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    assert.deepEqual(kinds, [
      'ClusterRole/wasm-reconciler-admin',
      'ClusterRole/wasm-reconciler-host',
      'ClusterRole/wasm-reconciler-host-core',
      'ClusterRole/wasm-reconciler-view',
      'ClusterRoleBinding/wasm-reconciler-host',
      'CustomResourceDefinition/clusterwasmreconcilers.wasmreconciler.dev',
      'CustomResourceDefinition/wasmreconcilers.wasmreconciler.dev',
      'Deployment/wasm-reconciler',
      'Namespace/wasm-reconciler-system',
      'Role/wasm-reconciler-host',
      'RoleBinding/wasm-reconciler-host',
      'ServiceAccount/wasm-reconciler',
    ]);
    await applyAll(objects);
    for (const o of objects) {
      const res = await admin.resource(o.apiVersion, o.kind);
      const live = await admin.get(res, o.metadata.namespace, o.metadata.name);
      assert.ok(live.metadata.uid, `${keyOf(o)} exists`);
      assert.equal(live.metadata.namespace, o.metadata.namespace);
    }
  });

  test('a host running as the deploy/ ServiceAccount reconciles through aggregated RBAC, and nothing more', async (t) => {
    // Self-contained: the same install as above (idempotent), plus the example's CRD and its aggregated role.
    await applyAll(await kustomizeBuild(path.join(ROOT, 'deploy/overlays/default')));
    await installCrd(admin, path.join(ROOT, 'examples/configmap-app/crd.yaml'));
    await applyAll(yamlObjects('examples/configmap-app/rbac.yaml'));

    // The clusterrole-aggregation controller folds both labelled roles into the bound, rule-less one.
    const clusterRoles = await admin.resource('rbac.authorization.k8s.io/v1', 'ClusterRole');
    await waitFor(
      async () => {
        const rules = ((await admin.get(clusterRoles, undefined, 'wasm-reconciler-host')).rules ?? []) as {
          apiGroups?: string[];
        }[];
        const groups = new Set(rules.flatMap((r) => r.apiGroups ?? []));
        return groups.has('wasmreconciler.dev') && groups.has('demo.wasmreconciler.dev') && groups.has('apps');
      },
      { description: 'wasm-reconciler-host to aggregate the core and configmap-app roles' },
    );

    const ns = await createTestNamespace(t, 'wr-deploy-rbac');
    const identity = await mintServiceAccountKubeconfig(HOST_SA);
    const cacheDir = mkdtempSync(path.join(tmpdir(), 'wr-deploy-modules-'));
    t.after(() => rmSync(cacheDir, { recursive: true, force: true }));
    const host = await startHost({ kubeConfig: identity, namespace: ns, moduleCacheDir: cacheDir, logLevel: 'silent' });
    t.after(() => host.stop());

    const wasm = readFileSync((await buildV1()).wasmPath);
    const wrs = await admin.resource('wasmreconciler.dev/v1alpha1', 'WasmReconciler');
    await admin.create(wrs, {
      apiVersion: 'wasmreconciler.dev/v1alpha1',
      kind: 'WasmReconciler',
      metadata: { name: 'apps', namespace: ns },
      spec: {
        for: { apiVersion: APP, kind: 'App', namespaces: [ns] },
        owns: [
          { apiVersion: 'v1', kind: 'ConfigMap' },
          { apiVersion: 'apps/v1', kind: 'Deployment' },
        ],
        module: { inline: wasm.toString('base64') },
      },
    } as KubeObject);
    const sample = load(readFileSync(path.join(ROOT, 'examples/configmap-app/sample.yaml'), 'utf8')) as KubeObject;
    await admin.create(await admin.resource(APP, 'App'), { ...sample, metadata: { name: 'hello', namespace: ns } });

    type Cond = { type: string; status: string };
    const ready = (o: KubeObject) =>
      ((o.status as { conditions?: Cond[] } | undefined)?.conditions ?? []).some(
        (c) => c.type === 'Ready' && c.status === 'True',
      );
    await waitFor(async () => ready(await admin.get(wrs, ns, 'apps')), {
      description: 'the WasmReconciler to be Ready under the ServiceAccount',
    });
    const configMaps = await admin.resource('v1', 'ConfigMap');
    const configMap = await waitFor(() => admin.get(configMaps, ns, 'hello-config'), {
      description: 'ConfigMap hello-config, applied by the host as its ServiceAccount',
    });
    assert.equal((configMap.data as Record<string, string>).message, (sample.spec as { message: string }).message);
    const deployment = await waitFor(
      async () => admin.get(await admin.resource('apps/v1', 'Deployment'), ns, 'hello'),
      { description: 'Deployment hello, applied by the host as its ServiceAccount' },
    );
    assert.equal((deployment.spec as { replicas: number }).replicas, 2);

    // What the RBAC does not grant stays refused: listing Secrets cluster-wide, creating one.
    const core = identity.makeApiClient(CoreV1Api);
    await assert.rejects(
      () => core.listSecretForAllNamespaces(),
      (err: unknown) => err instanceof ApiException && err.code === 403,
    );
    await assert.rejects(
      () => core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'nope' } } }),
      (err: unknown) => err instanceof ApiException && err.code === 403,
    );

    // The start-up access check stays quiet for this identity, and warns, with the code, for one without RBAC.
    const warnings: { fields: Record<string, unknown>; message: string }[] = [];
    const log = (fields: Record<string, unknown> | string, message?: string) =>
      warnings.push(typeof fields === 'string' ? { fields: {}, message: fields } : { fields, message: message ?? '' });
    const logger = { debug: () => {}, info: () => {}, error: () => {}, warn: log };
    const asHost = await KubeClient.fromKubeConfig(identity);
    t.after(() => asHost.close());
    assert.equal(await warnIfNoAccess(asHost, logger, ns), undefined);
    assert.equal(await warnIfNoAccess(asHost, logger), undefined);
    assert.equal(warnings.length, 0);
    const nobody = await KubeClient.fromKubeConfig(
      await waitFor(() => mintServiceAccountKubeconfig({ namespace: ns, name: 'default' }), {
        description: 'the default ServiceAccount of the test namespace',
      }),
    );
    t.after(() => nobody.close());
    assert.equal((await warnIfNoAccess(nobody, logger, ns))?.code, 'WR_KUBE_FORBIDDEN');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.fields.code, 'WR_KUBE_FORBIDDEN');
    assert.match(warnings[0]!.message, /cannot list WasmReconcilers in namespace .* \(WR_KUBE_FORBIDDEN\)/);

    // And startHost logs it at start. Such a host waits for its first list forever (it retries with backoff),
    // so once the line is there, a grant lets startHost return and the host stop.
    const lines: Record<string, unknown>[] = [];
    const hostLogger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const starting = startHost({
      kubeConfig: await mintServiceAccountKubeconfig({ namespace: ns, name: 'default' }),
      namespace: ns,
      moduleCacheDir: mkdtempSync(path.join(cacheDir, 'nobody-')),
      logger: hostLogger,
    });
    const warned = await waitFor(() => lines.find((l) => l.code === 'WR_KUBE_FORBIDDEN'), {
      description: 'a WR_KUBE_FORBIDDEN warn line from startHost',
    });
    assert.equal(warned.level, 40);
    assert.match(String(warned.msg), /cannot list WasmReconcilers in namespace/);
    await admin.apply(
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'default-may-list', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'wasm-reconciler-host-core' },
        subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: ns }],
      } as KubeObject,
      { fieldManager: FIELD_MANAGER },
    );
    const nobodyHost = await Promise.race([
      starting,
      sleep(60_000, undefined, { ref: false }).then(() =>
        Promise.reject(new Error('startHost did not return within 60 s of the grant')),
      ),
    ]);
    await nobodyHost.stop();
  });
});
