// `wasm-reconciler push` against the real control plane and a real registry: inline, ConfigMap and OCI
// sources land in spec.module pinned by digest, a running host serves the pushed digest (--wait), and
// bad input exits with its documented code and a message saying what to do.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildV1, buildV2 } from '../../examples/configmap-app/test/modules.ts';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { runCli } from '../../host/src/cli/testing/run-cli.ts';
import { sha256Digest } from '../../host/src/digest.ts';
import { type ApiResource, KubeClient } from '../../host/src/kube/index.ts';
import { startHost } from '../../host/src/manager/index.ts';
import { createTestNamespace, getTestCluster, getTestKubeconfigPath } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';
import { startRegistry } from '../support/registry.ts';
import { createTestCa } from '../support/test-ca.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const APP = 'demo.wasmreconciler.dev/v1alpha1';

let client: KubeClient;
let wrs: ApiResource;
let kubeconfig: string;
let dir: string;
let v1: string;
let v2: string;

function reconciler(namespace: string, name: string, module: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'wasmreconciler.dev/v1alpha1',
    kind: 'WasmReconciler',
    metadata: { name, namespace },
    spec: {
      for: { apiVersion: APP, kind: 'App', namespaces: [namespace] },
      owns: [
        { apiVersion: 'v1', kind: 'ConfigMap' },
        { apiVersion: 'apps/v1', kind: 'Deployment' },
      ],
      module,
    },
  } as KubeObject;
}

async function moduleOf(namespace: string, name: string): Promise<Record<string, unknown>> {
  return ((await client.get(wrs, namespace, name)).spec as { module: Record<string, unknown> }).module;
}

before(async () => {
  client = await KubeClient.fromKubeConfig(await getTestCluster());
  await installCrd(client, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(client, path.join(ROOT, 'examples/configmap-app/crd.yaml'));
  wrs = await client.resource('wasmreconciler.dev/v1alpha1', 'WasmReconciler');
  kubeconfig = await getTestKubeconfigPath();
  dir = mkdtempSync(path.join(tmpdir(), 'wr-push-'));
  [v1, v2] = (await Promise.all([buildV1(), buildV2()])).map((r) => r.wasmPath) as [string, string];
});

after(() => {
  client?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('wasm-reconciler push', () => {
  test('inline and ConfigMap pushes set spec.module by server-side apply; --wait returns once served', async (t) => {
    const ns = await createTestNamespace(t, 'cli-push');
    const bytes1 = readFileSync(v1);
    await client.create(wrs, reconciler(ns, 'apps', { inline: bytes1.toString('base64') }));
    const host = await startHost({
      kubeConfig: await getTestCluster(),
      namespace: ns,
      moduleCacheDir: path.join(dir, 'cache'),
      logLevel: 'silent',
    });
    t.after(() => host.stop());

    const base = ['--name', 'apps', '-n', ns, '--kubeconfig', kubeconfig];
    const inline = await runCli(['push', v2, ...base, '--wait', '--timeout', '60s']);
    assert.equal(inline.code, 0, inline.stderr);
    const d2 = sha256Digest(readFileSync(v2));
    assert.equal(inline.stdout, `${d2}\n`);
    assert.match(inline.stderr, /Ready=True/);
    assert.deepEqual(await moduleOf(ns, 'apps'), { inline: readFileSync(v2).toString('base64'), digest: d2 });
    const wr = await client.get(wrs, ns, 'apps');
    assert.equal((wr.status as { activeDigest?: string }).activeDigest, d2);
    // The rest of the spec keeps its manager; no last-applied annotation is written.
    assert.equal(wr.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], undefined);
    assert.ok((wr.metadata.managedFields as { manager: string }[]).some((m) => m.manager === 'wasm-reconciler-push'));

    const viaConfigMap = await runCli(['push', v1, ...base, '--via', 'configmap', '--wait', '--timeout', '60s']);
    assert.equal(viaConfigMap.code, 0, viaConfigMap.stderr);
    const d1 = sha256Digest(bytes1);
    const cmName1 = `apps-module-${d1.slice(7, 17)}`;
    assert.deepEqual(await moduleOf(ns, 'apps'), { configMap: { name: cmName1, key: 'module.wasm' }, digest: d1 });
    const configMaps = await client.resource('v1', 'ConfigMap');
    const cm = await client.get(configMaps, ns, cmName1);
    assert.equal((cm.binaryData as Record<string, string>)['module.wasm'], bytes1.toString('base64'));

    // The next ConfigMap push names a new ConfigMap, switches the spec to it in one write and deletes the old
    // one: the host never sees new bytes under the old pinned digest, so it reports no mismatch.
    const again = await runCli(['push', v2, ...base, '--via', 'configmap', '--wait', '--timeout', '60s']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await moduleOf(ns, 'apps'), {
      configMap: { name: `apps-module-${d2.slice(7, 17)}`, key: 'module.wasm' },
      digest: d2,
    });
    await assert.rejects(client.get(configMaps, ns, cmName1), /WR_KUBE_NOT_FOUND|not found/i);
    const events = await client.list(await client.resource('v1', 'Event'), { namespace: ns });
    const mismatches = events.items.filter((e) => /DIGEST_MISMATCH/.test(String((e as { message?: string }).message)));
    assert.deepEqual(mismatches, [], 'no digest mismatch is ever reported');
  });

  test('--cluster pushes a ClusterWasmReconciler; its ConfigMap goes to the cluster resource namespace', async (t) => {
    const ns = await createTestNamespace(t, 'cli-push-cluster');
    await installCrd(client, path.join(ROOT, 'deploy/crd/clusterwasmreconciler.yaml'));
    const cwrs = await client.resource('wasmreconciler.dev/v1alpha1', 'ClusterWasmReconciler');
    const name = `push-${ns}`;
    const label = { 'wasmreconciler.dev/test-push': ns };
    await client.create(cwrs, {
      ...reconciler(ns, name, { inline: readFileSync(v1).toString('base64') }),
      kind: 'ClusterWasmReconciler',
      metadata: { name, labels: label },
    } as KubeObject);
    t.after(() => client.delete(cwrs, undefined, name).catch(() => undefined));
    // A cluster-wide host kept to this test's reconciler, reading cluster module sources from `ns`.
    const host = await startHost({
      kubeConfig: await getTestCluster(),
      watchLabelSelector: `wasmreconciler.dev/test-push=${ns}`,
      clusterResourceNamespace: ns,
      moduleCacheDir: path.join(dir, 'cache-cluster'),
      logLevel: 'silent',
    });
    t.after(() => host.stop());

    const pushed = await runCli([
      'push',
      v2,
      '--name',
      name,
      '--cluster',
      '--via',
      'configmap',
      '--configmap-namespace',
      ns,
      '--kubeconfig',
      kubeconfig,
      '--wait',
      '--timeout',
      '60s',
    ]);
    assert.equal(pushed.code, 0, pushed.stderr);
    const d2 = sha256Digest(readFileSync(v2));
    assert.equal(pushed.stdout, `${d2}\n`);
    const cwr = await client.get(cwrs, undefined, name);
    assert.deepEqual((cwr.spec as { module: unknown }).module, {
      configMap: { name: `${name}-module-${d2.slice(7, 17)}`, key: 'module.wasm' },
      digest: d2,
    });
    assert.equal((cwr.status as { activeDigest?: string }).activeDigest, d2);
    const cm = await client.get(await client.resource('v1', 'ConfigMap'), ns, `${name}-module-${d2.slice(7, 17)}`);
    assert.equal((cm.binaryData as Record<string, string>)['module.wasm'], readFileSync(v2).toString('base64'));

    // Without --cluster the namespaced kind is looked up, and the message says what to add.
    const missing = await runCli(['push', v2, '--name', name, '-n', ns, '--kubeconfig', kubeconfig]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`no WasmReconciler ${ns}/${name}`));
    assert.match(missing.stderr, /pass --cluster/);
  });

  test('an OCI push pins the manifest digest in the reference', async (t) => {
    const ns = await createTestNamespace(t, 'cli-push-oci');
    const ca = createTestCa();
    t.after(() => ca.dispose());
    const registry = await startRegistry({ ca });
    t.after(() => registry.stop());
    const bytes1 = readFileSync(v1);
    await client.create(
      wrs,
      reconciler(ns, 'apps', { inline: bytes1.toString('base64'), digest: sha256Digest(bytes1) }),
    );
    const r = await runCli([
      'push',
      v2,
      '--name',
      'apps',
      '-n',
      ns,
      '--kubeconfig',
      kubeconfig,
      '--via',
      'oci',
      '--oci',
      `${registry.host}/reconcilers/app:v2`,
      '--registry-ca',
      ca.certPath,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const module = await moduleOf(ns, 'apps');
    // The inline source and its digest, set by another manager, are gone: the reference carries the pin.
    assert.deepEqual(Object.keys(module), ['oci']);
    assert.match(
      (module.oci as { reference: string }).reference,
      new RegExp(`^${registry.host}/reconcilers/app@sha256:[0-9a-f]{64}$`),
    );
    assert.match(r.stderr, /pushing \d+\.\d KiB to /);
  });

  test('bad input exits with its code and says what to do', async (t) => {
    const ns = await createTestNamespace(t, 'cli-push-bad');
    const base = ['--name', 'absent', '-n', ns, '--kubeconfig', kubeconfig];
    const missing = await runCli(['push', v1, ...base]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no WasmReconciler .*\/absent\n {2}create it first/);
    const noFile = await runCli(['push', path.join(dir, 'nope.wasm'), ...base]);
    assert.equal(noFile.code, 3);
    assert.match(noFile.stderr, /no such file: .*\n {2}give the path of a module/);
    const notWasm = path.join(dir, 'text.wasm');
    writeFileSync(notWasm, 'hello');
    const text = await runCli(['push', notWasm, ...base]);
    assert.equal(text.code, 3);
    assert.match(text.stderr, /is not a WebAssembly module\n {2}build it with wr-as-build/);
    const noOci = await runCli(['push', v1, ...base, '--via', 'oci']);
    assert.equal(noOci.code, 2);
    assert.match(noOci.stderr, /--via oci needs --oci/);
    assert.equal((await runCli(['push', v1, '-n', ns])).code, 2);
    assert.equal((await runCli(['push', v1, ...base, '--timeout', 'soon'])).code, 2);
    const unreachable = path.join(dir, 'unreachable.kubeconfig');
    writeFileSync(
      unreachable,
      `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n` +
        `users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
    );
    const down = await runCli(['push', v1, '--name', 'a', '--kubeconfig', unreachable]);
    assert.equal(down.code, 4, down.stderr);
  });
});
