// `wasm-reconciler render --diff` against the real control plane: children an in-process host applied show
// no change, a field changed on the cluster shows as exactly that field, a child that is not there shows as
// created, and the server-side apply dry runs behind it leave every object as it was.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dump, load } from 'js-yaml';
import { buildV1 } from '../../examples/configmap-app/test/modules.ts';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { runCli } from '../../host/src/cli/testing/run-cli.ts';
import { isWrError } from '../../host/src/errors.ts';
import { type ApiResource, KubeClient } from '../../host/src/kube/index.ts';
import { startHost } from '../../host/src/manager/index.ts';
import { createTestNamespace, getTestCluster, getTestKubeconfigPath, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const EXAMPLE = path.join(ROOT, 'examples/configmap-app');
const APP = 'demo.wasmreconciler.dev/v1alpha1';

type App = KubeObject & { status?: { conditions?: { type: string; reason: string }[] } };

let client: KubeClient;
let wrs: ApiResource;
let apps: ApiResource;
let configMaps: ApiResource;
let deployments: ApiResource;
let kubeconfig: string;
let dir: string;
let wasm: string;

before(async () => {
  client = await KubeClient.fromKubeConfig(await getTestCluster());
  await installCrd(client, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(client, path.join(EXAMPLE, 'crd.yaml'));
  wrs = await client.resource('wasmreconciler.dev/v1alpha1', 'WasmReconciler');
  apps = await client.resource(APP, 'App');
  configMaps = await client.resource('v1', 'ConfigMap');
  deployments = await client.resource('apps/v1', 'Deployment');
  kubeconfig = await getTestKubeconfigPath();
  dir = mkdtempSync(path.join(tmpdir(), 'wr-render-'));
  wasm = (await buildV1()).wasmPath;
});

after(() => {
  client?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** The example's wasmreconciler.yaml as shipped, moved to `namespace`, with the built module inline. */
function reconciler(namespace: string): KubeObject {
  const wr = load(readFileSync(path.join(EXAMPLE, 'wasmreconciler.yaml'), 'utf8')) as KubeObject & { spec: object };
  return {
    ...wr,
    metadata: { name: 'apps', namespace },
    spec: { ...wr.spec, module: { inline: readFileSync(wasm).toString('base64') } },
  };
}

async function getOrUndefined(res: ApiResource, namespace: string, name: string): Promise<KubeObject | undefined> {
  try {
    return await client.get(res, namespace, name);
  } catch (err) {
    if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return undefined;
    throw err;
  }
}

/** The objects file render reads: the App and the children as the cluster holds them now (what the cache would). */
async function objectsFile(namespace: string, name: string): Promise<string> {
  const docs: KubeObject[] = [await client.get(apps, namespace, 'hello')];
  for (const [res, child] of [
    [configMaps, 'hello-config'],
    [deployments, 'hello'],
  ] as const) {
    const o = await getOrUndefined(res, namespace, child);
    if (o !== undefined) docs.push(o);
  }
  const file = path.join(dir, `${namespace}-${name}.yaml`);
  writeFileSync(file, docs.map((d) => dump(d)).join('---\n'));
  return file;
}

/** The changed lines of a unified diff (`-`/`+`, headers excluded). */
function changedLines(diff: string): string[] {
  return diff.split('\n').filter((l) => /^[-+](?![-+]{2} )/.test(l));
}

/** The resourceVersion of each object: a dry run must leave every one as it was. */
async function versions(namespace: string): Promise<Record<string, string | undefined>> {
  const out: Record<string, string | undefined> = {};
  for (const [res, name] of [
    [apps, 'hello'],
    [configMaps, 'hello-config'],
    [deployments, 'hello'],
  ] as const) {
    out[`${res.kind}/${name}`] = (await getOrUndefined(res, namespace, name))?.metadata.resourceVersion;
  }
  return out;
}

describe('wasm-reconciler render --diff', () => {
  test('no change when the cluster matches, exactly the changed field, a missing child as created', async (t) => {
    const ns = await createTestNamespace(t, 'cli-render');
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
    let stopped: Promise<void> | undefined;
    const stop = () => (stopped ??= host.stop());
    t.after(stop);
    await client.create(apps, {
      apiVersion: APP,
      kind: 'App',
      metadata: { name: 'hello', namespace: ns },
      spec: { image: 'ghcr.io/example/hello:1.2.3', replicas: 2, message: 'hi', config: { LOG_LEVEL: 'debug' } },
    } as KubeObject);
    await waitFor(
      async () => {
        const app = (await client.get(apps, ns, 'hello')) as App;
        await client.get(configMaps, ns, 'hello-config');
        await client.get(deployments, ns, 'hello');
        return app.status?.conditions?.find((c) => c.type === 'Ready')?.reason === 'Progressing';
      },
      { description: 'App hello reconciled (children applied, Ready=False Progressing)' },
    );
    // From here on the cluster changes only by the test's hand: a running host would undo the edits.
    await stop();
    const base = ['--reconciler', wrFile, '--kubeconfig', kubeconfig, '--diff'];

    const before1 = await versions(ns);
    const same = await runCli(['render', wasm, '-f', await objectsFile(ns, 'same'), ...base]);
    assert.equal(same.code, 0, same.stderr);
    assert.equal(
      same.stdout,
      `= ConfigMap ${ns}/hello-config: no change\n= Deployment ${ns}/hello: no change\n`,
      'the status the module sets is the one the App holds: nothing to write, nothing to diff',
    );
    assert.deepEqual(await versions(ns), before1);

    // Another manager changes one key of the ConfigMap's data: the diff is that line, back to the module's value.
    const cm = await client.get(configMaps, ns, 'hello-config');
    await client.replace(
      configMaps,
      { ...cm, data: { ...(cm.data as Record<string, string>), LOG_LEVEL: 'info' } } as KubeObject,
      { fieldManager: 'kubectl-edit' },
    );
    const before2 = await versions(ns);
    const edited = await runCli(['render', wasm, '-f', await objectsFile(ns, 'edited'), ...base]);
    assert.equal(edited.code, 0, edited.stderr);
    assert.match(
      edited.stdout,
      new RegExp(
        `^--- ConfigMap ${ns}/hello-config \\(live\\)\\n\\+\\+\\+ ConfigMap ${ns}/hello-config \\(after apply\\)\\n@@\\n`,
      ),
    );
    assert.deepEqual(changedLines(edited.stdout), ['-  LOG_LEVEL: info', '+  LOG_LEVEL: debug']);
    assert.match(edited.stdout, new RegExp(`^= Deployment ${ns}/hello: no change$`, 'm'));
    assert.deepEqual(await versions(ns), before2);
    assert.equal(((await client.get(configMaps, ns, 'hello-config')).data as Record<string, string>).LOG_LEVEL, 'info');

    // The Deployment is gone: it would be created, every line of it new, and the App's status would change
    // with it (the module reports Creating until its Deployment exists).
    await client.delete(deployments, ns, 'hello');
    await waitFor(async () => (await getOrUndefined(deployments, ns, 'hello')) === undefined, {
      description: 'Deployment hello deleted',
    });
    const before3 = await versions(ns);
    const missing = await runCli(['render', wasm, '-f', await objectsFile(ns, 'missing'), ...base]);
    assert.equal(missing.code, 0, missing.stderr);
    const sections = missing.stdout.split(/^(?=--- |= )/m);
    const created = sections.find((s) => s.startsWith(`--- Deployment ${ns}/hello (does not exist)\n`));
    assert.ok(created !== undefined, missing.stdout);
    const lines = created.split('\n').slice(3, -1);
    assert.ok(lines.length > 10, created);
    assert.ok(
      lines.every((l) => l.startsWith('+')),
      `a created object is all additions:\n${created}`,
    );
    assert.ok(lines.includes('+kind: Deployment') && lines.includes('+  replicas: 2'), created);
    const uid = (await client.get(apps, ns, 'hello')).metadata.uid;
    assert.ok(
      lines.some((l) => new RegExp(`^\\+ +uid: ${uid}$`).test(l)),
      `the owner reference names the App:\n${created}`,
    );
    const status = sections.find((s) => s.startsWith(`--- App ${ns}/hello status (live)\n`));
    assert.ok(status !== undefined, missing.stdout);
    assert.ok(changedLines(status).includes('+    reason: Creating'), status);
    assert.ok(changedLines(status).includes('-    reason: Progressing'), status);
    assert.deepEqual(await versions(ns), before3);
    assert.equal(before3['Deployment/hello'], undefined);
  });

  test('an App not in the cluster yet: children created, status not compared; exit 2 without the WasmReconciler, 4 unreachable', async (t) => {
    const ns = await createTestNamespace(t, 'cli-render-bad');
    const objects = path.join(dir, `${ns}-objects.yaml`);
    writeFileSync(
      objects,
      dump({ apiVersion: APP, kind: 'App', metadata: { name: 'hello', namespace: ns }, spec: { image: 'nginx' } }),
    );
    const noSpec = await runCli(['render', wasm, '-f', objects, '--diff', '--kubeconfig', kubeconfig]);
    assert.equal(noSpec.code, 2, noSpec.stderr);
    assert.match(noSpec.stderr, /--diff needs the WasmReconciler.*\n {2}pass --reconciler/);

    const wrFile = path.join(dir, `${ns}-wasmreconciler.yaml`);
    writeFileSync(wrFile, dump(reconciler(ns)));
    // An App not created yet: its children would be created; its status cannot be dry-run.
    const fresh = await runCli([
      'render',
      wasm,
      '-f',
      objects,
      '--reconciler',
      wrFile,
      '--diff',
      '--kubeconfig',
      kubeconfig,
    ]);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.match(fresh.stdout, new RegExp(`^--- ConfigMap ${ns}/hello-config \\(does not exist\\)$`, 'm'));
    assert.match(fresh.stdout, new RegExp(`^--- Deployment ${ns}/hello \\(does not exist\\)$`, 'm'));
    assert.match(
      fresh.stdout,
      new RegExp(`^~ App ${ns}/hello status: not compared, App ${ns}/hello does not exist in the cluster$`, 'm'),
    );
    assert.equal(
      (await client.list(configMaps, { namespace: ns })).items.filter((c) => c.metadata.name === 'hello-config').length,
      0,
    );

    // A kubeconfig naming a port nothing listens on.
    const unreachable = path.join(dir, `${ns}-kubeconfig`);
    writeFileSync(
      unreachable,
      dump({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 't' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    const down = await runCli([
      'render',
      wasm,
      '-f',
      objects,
      '--reconciler',
      wrFile,
      '--diff',
      '--kubeconfig',
      unreachable,
    ]);
    assert.equal(down.code, 4, down.stderr);
    assert.match(down.stderr, /the dry run failed: WR_KUBE_UNAVAILABLE: .*\n {2}check --kubeconfig/);
  });
});
