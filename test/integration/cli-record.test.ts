// `wasm-reconciler test --record` against the real control plane: an App reconciled by an in-process host
// (examples/configmap-app, served from the WasmReconciler the test applies) is captured with its children and
// its related objects as the reconciler YAML declares them, the recorded fixture passes under `test` with the
// module that reconciled it and fails with another, and a missing object or a bad target exits with its code.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dump, load } from 'js-yaml';
import { buildV1, buildV2 } from '../../examples/configmap-app/test/modules.ts';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { runCli } from '../../host/src/cli/testing/run-cli.ts';
import { type ApiResource, KubeClient } from '../../host/src/kube/index.ts';
import { startHost } from '../../host/src/manager/index.ts';
import { createTestNamespace, getTestCluster, getTestKubeconfigPath, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const EXAMPLE = path.join(ROOT, 'examples/configmap-app');
const APP = 'demo.wasmreconciler.dev/v1alpha1';
/** The label the WasmReconciler below narrows its related Secrets by. */
const PART_OF = 'app.kubernetes.io/part-of';

type Cond = { type: string; status: string; reason: string; message: string };
type App = KubeObject & { status?: { conditions?: Cond[]; readyReplicas?: number } };
interface Fixture {
  reconciler: string;
  trigger: { reason: string };
  primary: KubeObject;
  observed: KubeObject[];
  expect: {
    children?: KubeObject[];
    noOtherChildren?: boolean;
    status?: { readyReplicas?: number; conditions?: Cond[] };
    events?: unknown[];
  };
}

let client: KubeClient;
let wrs: ApiResource;
let apps: ApiResource;
let kubeconfig: string;
let dir: string;
let v1: string;
let v2: string;

before(async () => {
  client = await KubeClient.fromKubeConfig(await getTestCluster());
  await installCrd(client, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(client, path.join(EXAMPLE, 'crd.yaml'));
  wrs = await client.resource('wasmreconciler.dev/v1alpha1', 'WasmReconciler');
  apps = await client.resource(APP, 'App');
  kubeconfig = await getTestKubeconfigPath();
  dir = mkdtempSync(path.join(tmpdir(), 'wr-record-'));
  [v1, v2] = (await Promise.all([buildV1(), buildV2()])).map((r) => r.wasmPath) as [string, string];
});

after(() => {
  client?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/**
 * The example's wasmreconciler.yaml moved to `namespace`, the module inline, and Secrets labelled part of
 * `hello` as related objects: the same manifest is applied for the host and given to --record.
 */
function reconciler(namespace: string): KubeObject {
  const wr = load(readFileSync(path.join(EXAMPLE, 'wasmreconciler.yaml'), 'utf8')) as KubeObject & { spec: object };
  return {
    ...wr,
    metadata: { name: 'apps', namespace },
    spec: {
      ...wr.spec,
      related: [{ apiVersion: 'v1', kind: 'Secret', labelSelector: { matchLabels: { [PART_OF]: 'hello' } } }],
      module: { inline: readFileSync(v1).toString('base64') },
    },
  };
}

function conditionOf(app: App | undefined, type: string): Cond | undefined {
  return app?.status?.conditions?.find((c) => c.type === type);
}

const names = (objects: readonly KubeObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();

describe('wasm-reconciler test --record', () => {
  test('captures an App reconciled on the cluster; the fixture passes with its module and fails with another', async (t) => {
    const ns = await createTestNamespace(t, 'cli-record');
    const wr = reconciler(ns);
    await client.create(wrs, wr);
    const wrFile = path.join(dir, `${ns}-wasmreconciler.yaml`);
    writeFileSync(wrFile, dump(wr));
    const host = await startHost({
      kubeConfig: await getTestCluster(),
      namespace: ns,
      moduleCacheDir: path.join(dir, 'cache'),
      logLevel: 'silent',
    });
    t.after(() => host.stop());

    const secrets = await client.resource('v1', 'Secret');
    const configMaps = await client.resource('v1', 'ConfigMap');
    const deployments = await client.resource('apps/v1', 'Deployment');
    // Related: only the Secret the selector matches. Not recorded: a Secret of another App, a ConfigMap
    // the App does not control.
    await client.create(secrets, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'hello-token', namespace: ns, labels: { [PART_OF]: 'hello' } },
      stringData: { token: 's3cret' },
    } as KubeObject);
    await client.create(secrets, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'other-token', namespace: ns, labels: { [PART_OF]: 'other' } },
      stringData: { token: 'x' },
    } as KubeObject);
    await client.create(configMaps, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'unrelated', namespace: ns },
      data: { a: 'b' },
    } as KubeObject);
    await client.create(apps, {
      apiVersion: APP,
      kind: 'App',
      metadata: { name: 'hello', namespace: ns },
      spec: { image: 'ghcr.io/example/hello:1.2.3', replicas: 2, message: 'recorded', config: { LOG_LEVEL: 'debug' } },
    } as KubeObject);
    await waitFor(() => client.get(deployments, ns, 'hello'), { description: 'Deployment hello' });
    // No Deployment controller runs here: the test reports both replicas ready as it would.
    await client.patchStatus(
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'hello', namespace: ns } },
      { replicas: 2, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2 },
      { fieldManager: 'test-deployment-controller', force: true },
    );
    const live = await waitFor(
      async () => {
        const app = (await client.get(apps, ns, 'hello')) as App;
        return conditionOf(app, 'Ready')?.reason === 'Available' && app;
      },
      { description: 'App hello Ready=True Available' },
    );

    const file = path.join(dir, ns, 'hello.yaml');
    const recorded = await runCli([
      'test',
      v1,
      file,
      '--record',
      `App/${ns}/hello`,
      '--reconciler',
      wrFile,
      '--kubeconfig',
      kubeconfig,
    ]);
    assert.equal(recorded.code, 0, recorded.stdout + recorded.stderr);
    assert.match(recorded.stderr, new RegExp(`recorded App/${ns}/hello: the primary and 3 observed object\\(s\\)`));
    assert.match(recorded.stdout, /^1 passed, 0 failed$/m);
    assert.match(
      recorded.stderr,
      /note: 1 Secret\(s\) recorded with their data: review .*hello\.yaml before committing it/,
    );

    const text = readFileSync(file, 'utf8');
    assert.match(text, /^# Recorded from the cluster/);
    const fixture = load(text) as Fixture;
    assert.equal(fixture.reconciler, path.relative(path.dirname(file), wrFile));
    assert.deepEqual(fixture.trigger, { reason: 'resync' });
    // The primary as stored (its uid is what the children's owner references name), bookkeeping dropped.
    assert.equal(fixture.primary.metadata.uid, live.metadata.uid);
    assert.equal(fixture.primary.metadata.managedFields, undefined);
    assert.equal(fixture.primary.metadata.resourceVersion, undefined);
    assert.deepEqual(fixture.primary.status, live.status);
    assert.deepEqual(names(fixture.observed), ['ConfigMap/hello-config', 'Deployment/hello', 'Secret/hello-token']);
    for (const o of fixture.observed) assert.equal(o.metadata.managedFields, undefined, `${o.kind} managedFields`);
    const deployment = fixture.observed.find((o) => o.kind === 'Deployment') as KubeObject & {
      status: { readyReplicas: number };
    };
    assert.equal(deployment.status.readyReplicas, 2);
    assert.equal(deployment.metadata.ownerReferences?.[0]?.uid, live.metadata.uid);

    // The expect block is the module's result on the recorded objects: what the host did on the cluster.
    assert.deepEqual(names(fixture.expect.children ?? []), ['ConfigMap/hello-config', 'Deployment/hello']);
    assert.equal(fixture.expect.noOtherChildren, true);
    assert.equal(fixture.expect.status?.readyReplicas, 2);
    const ready = fixture.expect.status?.conditions?.find((c) => c.type === 'Ready');
    assert.deepEqual(
      { status: ready?.status, reason: ready?.reason, message: ready?.message },
      { status: 'True', reason: 'Available', message: '2/2 replicas ready' },
    );
    const liveConfigMap = await client.get(configMaps, ns, 'hello-config');
    const expectedConfigMap = fixture.expect.children?.find((c) => c.kind === 'ConfigMap');
    assert.deepEqual(expectedConfigMap?.data, liveConfigMap.data);

    const replay = await runCli(['test', v1, file]);
    assert.equal(replay.code, 0, replay.stdout + replay.stderr);
    assert.match(replay.stdout, /^✔ .*hello\.yaml/m);
    assert.match(replay.stdout, /^1 passed, 0 failed$/m);
    // v2 renames the message key and labels its children: the recorded expectations catch it.
    const other = await runCli(['test', v2, file]);
    assert.equal(other.code, 1, other.stdout + other.stderr);
    assert.match(other.stdout, /children\[ConfigMap hello-config\]\.data/);
  });

  test('a missing object or unserved kind exits 1, an App outside spec.for.labelSelector 2; no fixture written', async (t) => {
    const ns = await createTestNamespace(t, 'cli-record-missing');
    const wrFile = path.join(dir, `${ns}-wasmreconciler.yaml`);
    writeFileSync(wrFile, dump(reconciler(ns)));
    const file = path.join(dir, ns, 'absent.yaml');
    const args = ['--reconciler', wrFile, '--kubeconfig', kubeconfig];
    const missing = await runCli(['test', v1, file, '--record', `App/${ns}/absent`, ...args]);
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, new RegExp(`App ${ns}/absent: not found\\n {2}check the kind, namespace and name`));
    const unserved = reconciler(ns) as KubeObject & { spec: { for: object } };
    unserved.spec.for = { apiVersion: 'demo.wasmreconciler.dev/v9', kind: 'App' };
    const unservedFile = path.join(dir, `${ns}-unserved.yaml`);
    writeFileSync(unservedFile, dump(unserved));
    const notServed = await runCli([
      'test',
      v1,
      file,
      '--record',
      `App/${ns}/absent`,
      '--reconciler',
      unservedFile,
      '--kubeconfig',
      kubeconfig,
    ]);
    assert.equal(notServed.code, 1, notServed.stderr);
    // An App the reconciler's label selector does not select: the host would never reconcile it.
    await client.create(apps, {
      apiVersion: APP,
      kind: 'App',
      metadata: { name: 'plain', namespace: ns },
      spec: { image: 'nginx' },
    } as KubeObject);
    const selective = reconciler(ns) as KubeObject & { spec: { for: object } };
    selective.spec.for = { apiVersion: APP, kind: 'App', labelSelector: { matchLabels: { tier: 'edge' } } };
    const selectiveFile = path.join(dir, `${ns}-selective.yaml`);
    writeFileSync(selectiveFile, dump(selective));
    const unselected = await runCli([
      'test',
      v1,
      file,
      '--record',
      `App/${ns}/plain`,
      '--reconciler',
      selectiveFile,
      '--kubeconfig',
      kubeconfig,
    ]);
    assert.equal(unselected.code, 2, unselected.stderr);
    assert.match(
      unselected.stderr,
      new RegExp(
        `App ${ns}/plain does not match the reconciler's spec.for.labelSelector \\(tier=edge\\)\\n {2}record a primary`,
      ),
    );
    assert.match(
      notServed.stderr,
      /demo\.wasmreconciler\.dev\/v9 App is not served by the cluster\n {2}install its CRD, or fix the apiVersion/,
    );
    assert.equal(existsSync(file), false);
  });

  test('a bad <kind/ns/name> exits 2 and writes no fixture', async (t) => {
    const ns = await createTestNamespace(t, 'cli-record-bad');
    const wrFile = path.join(dir, `${ns}-wasmreconciler.yaml`);
    writeFileSync(wrFile, dump(reconciler(ns)));
    const file = path.join(dir, ns, 'bad.yaml');
    const args = ['--reconciler', wrFile, '--kubeconfig', kubeconfig];
    for (const target of ['App/hello/x/y', 'App', `App//hello`]) {
      const r = await runCli(['test', v1, file, '--record', target, ...args]);
      assert.equal(r.code, 2, `${target}: ${r.stderr}`);
      assert.match(r.stderr, /expected <kind>\/<namespace>\/<name>\n {2}e\.g\. --record App\/demo\/hello/);
    }
    const wrongKind = await runCli(['test', v1, file, '--record', `Widget/${ns}/hello`, ...args]);
    assert.equal(wrongKind.code, 2, wrongKind.stderr);
    assert.match(
      wrongKind.stderr,
      /--record names a Widget, but the reconciler reconciles App\n {2}record one of its primaries: App\/<namespace>\/<name>/,
    );
    // The example's manifest as shipped serves namespace demo: it would never reconcile an App here.
    const shipped = path.join(EXAMPLE, 'wasmreconciler.yaml');
    const elsewhere = await runCli(['test', v1, file, '--record', `App/${ns}/hello`, '--reconciler', shipped]);
    assert.equal(elsewhere.code, 2, elsewhere.stderr);
    assert.match(
      elsewhere.stderr,
      new RegExp(
        `the reconciler demo/apps reconciles App objects in demo only, not in ${ns}\\n {2}give the WasmReconciler that serves namespace ${ns}`,
      ),
    );
    const noNamespace = await runCli(['test', v1, file, '--record', 'App/hello', ...args]);
    assert.equal(noNamespace.code, 2, noNamespace.stderr);
    assert.match(noNamespace.stderr, /--record App hello: App is namespaced\n {2}give App\/<namespace>\/hello/);
    const noReconciler = await runCli(['test', v1, file, '--record', `App/${ns}/hello`, '--kubeconfig', kubeconfig]);
    assert.equal(noReconciler.code, 2);
    assert.match(noReconciler.stderr, /--record needs --reconciler/);
    assert.equal(existsSync(file), false);
  });
});
