// The host as the image runs it: `run` loading the bundle host/tools/bundle.ts writes (WASM_RECONCILER_BUNDLE),
// against the real API server. The bundle must be the whole host: its guest and compile workers start from
// the emitted entries, a module is compiled and called, an App converges, SIGTERM exits 0; and a bundle
// directory with no bundle in it is refused by name, not run from the sources.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { buildV1 } from '../../examples/configmap-app/test/modules.ts';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { type ApiResource, KubeClient } from '../../host/src/kube/index.ts';
import { bundleHost } from '../../host/tools/bundle.ts';
import { createTestNamespace, getTestCluster, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';
import { type HostCli, startHostCli } from '../support/host-cli.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const APP = 'demo.wasmreconciler.dev/v1alpha1';

let admin: KubeClient;
let wrs: ApiResource;
let apps: ApiResource;
let configMaps: ApiResource;
let module: string;
let bundleDir: string;

before(async () => {
  admin = await KubeClient.fromKubeConfig(await getTestCluster());
  await installCrd(admin, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(admin, path.join(ROOT, 'examples/configmap-app/crd.yaml'));
  wrs = await admin.resource('wasmreconciler.dev/v1alpha1', 'WasmReconciler');
  apps = await admin.resource(APP, 'App');
  configMaps = await admin.resource('v1', 'ConfigMap');
  module = readFileSync((await buildV1()).wasmPath).toString('base64');
  // Below the repo, as /app/host/dist is below /app: the bundle's dependencies resolve from node_modules.
  mkdirSync(path.join(ROOT, 'host/.tmp'), { recursive: true });
  bundleDir = mkdtempSync(path.join(ROOT, 'host/.tmp/test-bundle-'));
  await bundleHost(bundleDir);
});

after(() => {
  admin?.close();
  if (bundleDir !== undefined) rmSync(bundleDir, { recursive: true, force: true });
});

function startCli(namespace: string, bundle: string): Promise<HostCli> {
  return startHostCli(namespace, {
    args: ['--log-format', 'json'],
    env: { ...process.env, WASM_RECONCILER_BUNDLE: bundle },
  });
}

test('the bundled host compiles and runs a module in its workers, converges an App and exits 0 on SIGTERM', async (t) => {
  const emitted = readdirSync(bundleDir);
  for (const entry of ['run.mjs', 'guest-worker.mjs', 'compile-worker.mjs']) assert.ok(emitted.includes(entry), entry);
  const namespace = await createTestNamespace(t, 'bundle');
  const host = await startCli(namespace, bundleDir);
  t.after(() => host.child.kill('SIGKILL'));
  await waitFor(() => host.output().includes('host started'), { timeoutMs: 30_000, description: 'host started' });
  await admin.create(wrs, {
    apiVersion: 'wasmreconciler.dev/v1alpha1',
    kind: 'WasmReconciler',
    metadata: { name: 'apps', namespace },
    spec: {
      for: { apiVersion: APP, kind: 'App', namespaces: [namespace] },
      owns: [
        { apiVersion: 'v1', kind: 'ConfigMap' },
        { apiVersion: 'apps/v1', kind: 'Deployment' },
      ],
      module: { inline: module },
    },
  } as KubeObject);
  await admin.create(apps, {
    apiVersion: APP,
    kind: 'App',
    metadata: { name: 'hello', namespace },
    spec: { image: 'registry.example/hello:1', replicas: 1, message: 'hi', config: { GREETING: 'bundled' } },
  } as KubeObject);
  const cm = await waitFor(
    async () => {
      try {
        return await admin.get(configMaps, namespace, 'hello-config');
      } catch {
        return undefined;
      }
    },
    { timeoutMs: 30_000, description: `the App's ConfigMap, written by the guest:\n${host.output()}` },
  );
  assert.equal((cm.data as Record<string, string>).GREETING, 'bundled');
  await waitFor(
    async () => {
      const { status } = await admin.get(wrs, namespace, 'apps');
      const conditions = (status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions;
      return conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    },
    { timeoutMs: 15_000, description: 'the WasmReconciler Ready' },
  );
  host.child.kill('SIGTERM');
  assert.equal((await host.exited).code, 0, host.output());
  assert.doesNotMatch(host.output(), /"level":(50|60)/, 'no error logged');
});

test('a WASM_RECONCILER_BUNDLE with no bundle in it: refused with WR_CONFIG_INVALID naming the file', async (t) => {
  const empty = mkdtempSync(path.join(tmpdir(), 'wr-no-bundle-'));
  t.after(() => rmSync(empty, { recursive: true, force: true }));
  const namespace = await createTestNamespace(t, 'bundle-missing');
  const host = await startCli(namespace, empty);
  t.after(() => host.child.kill('SIGKILL'));
  assert.equal((await host.exited).code, 1, host.output());
  assert.match(host.output(), /WR_CONFIG_INVALID: WASM_RECONCILER_BUNDLE: cannot load .*run\.mjs/);
});
