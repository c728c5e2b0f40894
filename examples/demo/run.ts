// `npm run demo`: a local control plane, the host, and the configmap-app example hot-swapped without a restart.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { buildModule } from '@wasm-reconciler/sdk-assemblyscript/tools/build';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { sha256Digest } from '../../host/src/digest.ts';
import { isWrError } from '../../host/src/errors.ts';
import { type ApiResource, KubeClient } from '../../host/src/kube/index.ts';
import { startHost } from '../../host/src/manager/index.ts';
import { type ControlPlane, startControlPlane } from '../../test/controlplane/index.ts';
import { installCrd } from '../../test/support/crds.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const APP_API = 'demo.wasmreconciler.dev/v1alpha1';
const USAGE = `Usage: npm run demo [-- --kubeconfig <file>] [--namespace <ns>] [--exit]

Starts a local Kubernetes control plane (built from source on first use), the wasm-reconciler host and the
configmap-app example, shows App objects converge, hot-swaps the module to v2 and shows the change.

  --kubeconfig <file>  use this cluster instead of starting a local control plane
  --namespace <ns>     namespace for the demo objects (default: demo)
  --exit               stop after the swap instead of waiting for Ctrl+C`;

const say = (line = '') => process.stdout.write(`${line}\n`);
const step = (n: number, text: string) => say(`\n[${n}/6] ${text}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      if (!isWrError(err, 'WR_KUBE_NOT_FOUND')) throw err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(200);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', default: 'demo' },
      exit: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    say(USAGE);
    return 0;
  }
  const ns = values.namespace;
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err) => say(`cleanup: ${String(err)}`));
  };

  try {
    step(
      1,
      values.kubeconfig === undefined
        ? 'Kubernetes control plane (first run builds it from source: minutes)'
        : 'Kubernetes',
    );
    let kubeConfig: KubeConfig;
    let kubeconfigPath: string;
    if (values.kubeconfig === undefined) {
      const cp: ControlPlane = await startControlPlane({ report: (line) => say(`      ${line}`) });
      cleanups.push(() => cp.stop());
      kubeConfig = cp.kubeConfig;
      kubeconfigPath = cp.kubeconfigPath;
      say(`      kube-apiserver ready at ${cp.server} in ${(cp.startupMs / 1000).toFixed(1)}s`);
    } else {
      kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(values.kubeconfig);
      kubeconfigPath = values.kubeconfig;
      say(`      using ${kubeConfig.getCurrentCluster()?.server}`);
    }
    const client = await KubeClient.fromKubeConfig(kubeConfig);
    cleanups.push(async () => client.close());

    step(2, 'CRDs: WasmReconciler and the example App');
    await installCrd(client, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
    await installCrd(client, path.join(ROOT, 'examples/configmap-app/crd.yaml'));
    const namespaces = await client.resource('v1', 'Namespace');
    try {
      await client.create(namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    } catch (err) {
      if (!isWrError(err, 'WR_KUBE_CONFLICT')) throw err;
    }
    say(`      installed; demo namespace: ${ns}`);

    step(3, 'Building the example module (v1 and v2) with the AssemblyScript SDK');
    const assembly = path.join(ROOT, 'examples/configmap-app/assembly');
    const builds = [];
    for (const [entry, name] of [
      ['index.ts', 'configmap-app'],
      ['v2.ts', 'configmap-app-v2'],
    ] as const) {
      const r = await buildModule({ entry: path.join(assembly, entry), name });
      say(
        `      ${name}.wasm  ${r.bytes} bytes  sha256:${r.sha256.slice(0, 12)}…  ${r.cached ? '(cached)' : `${Math.round(r.durationMs)} ms`}`,
      );
      builds.push(readFileSync(r.wasmPath));
    }
    const [v1, v2] = builds as [Buffer, Buffer];

    step(4, 'Starting the host and applying a WasmReconciler + two Apps');
    const cacheDir = mkdtempSync(path.join(tmpdir(), 'wr-demo-cache-'));
    cleanups.push(async () => rmSync(cacheDir, { recursive: true, force: true }));
    const host = await startHost({
      kubeConfig,
      namespace: ns,
      moduleCacheDir: cacheDir,
      logLevel: (process.env.WR_LOG_LEVEL as 'warn') ?? 'warn',
      metricsPort: 0,
      metricsHost: '127.0.0.1',
    });
    cleanups.push(() => host.stop());
    say(`      host pid ${process.pid}; metrics at ${host.metricsUrl}/metrics`);
    const wrs = await client.resource('wasmreconciler.dev/v1alpha1', 'WasmReconciler');
    const apps = await client.resource(APP_API, 'App');
    const configMaps = await client.resource('v1', 'ConfigMap');
    const deployments = await client.resource('apps/v1', 'Deployment');
    await client.apply(wasmReconciler(ns, v1), { fieldManager: 'demo', force: true });
    for (const [name, message] of [
      ['hello', 'Hello from WebAssembly'],
      ['edge', 'Reconciled at the edge'],
    ] as const) {
      await client.apply(app(ns, name, message), { fieldManager: 'demo', force: true });
    }
    await until('the WasmReconciler to be Ready', async () => ready(await client.get(wrs, ns, 'apps')));
    for (const name of ['hello', 'edge'])
      await until(`${name} to converge`, async () => converged(client, apps, ns, name));
    await show(client, { apps, configMaps, deployments, wrs }, ns);

    step(5, 'Hot swap: applying module v2 (no restart; caches and queues stay as they are)');
    const lists = host.registry.stats().reduce((n, s) => n + s.watch.lists, 0);
    const t0 = performance.now();
    await client.apply(wasmReconciler(ns, v2), { fieldManager: 'demo', force: true });
    const v2digest = sha256Digest(v2);
    await until(
      'v2 to serve',
      async () => ((await client.get(wrs, ns, 'apps')).status as { activeDigest?: string })?.activeDigest === v2digest,
    );
    for (const name of ['hello', 'edge']) {
      await until(`${name} to be rendered by v2`, async () => {
        const cm = await client.get(configMaps, ns, `${name}-config`);
        return cm.metadata.labels?.['app.wasmreconciler.dev/version'] === 'v2';
      });
    }
    const relists = host.registry.stats().reduce((n, s) => n + s.watch.lists, 0) - lists;
    say(
      `      v2 serving after ${Math.round(performance.now() - t0)} ms; same host pid ${process.pid}; re-lists: ${relists}`,
    );
    await show(client, { apps, configMaps, deployments, wrs }, ns);

    step(6, 'Explore');
    say(`      export KUBECONFIG=${kubeconfigPath}`);
    say(`      kubectl -n ${ns} get wasmreconcilers,apps,configmaps,deployments`);
    say(`      kubectl -n ${ns} get configmap hello-config -o yaml     # rendered by the Wasm module`);
    say(`      kubectl -n ${ns} edit app hello                         # change spec.config and watch it converge`);
    say(`      curl -s ${host.metricsUrl}/metrics | grep -E 'controller_runtime|wasm_reconciler'`);
    say('      (kubectl is not bundled: any kubectl >= 1.36, or any Kubernetes client, works with that kubeconfig)');
    if (values.exit) return 0;
    say('\nPress Ctrl+C to stop the host and the control plane.');
    await new Promise<void>((resolve) => {
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
    });
    say('\nStopping…');
    return 0;
  } finally {
    await cleanup();
  }
}

function wasmReconciler(ns: string, module: Buffer): KubeObject {
  return {
    apiVersion: 'wasmreconciler.dev/v1alpha1',
    kind: 'WasmReconciler',
    metadata: { name: 'apps', namespace: ns },
    spec: {
      for: { apiVersion: APP_API, kind: 'App', namespaces: [ns] },
      owns: [
        { apiVersion: 'v1', kind: 'ConfigMap' },
        { apiVersion: 'apps/v1', kind: 'Deployment' },
      ],
      module: { inline: module.toString('base64') },
    },
  };
}

function app(ns: string, name: string, message: string): KubeObject {
  return {
    apiVersion: APP_API,
    kind: 'App',
    metadata: { name, namespace: ns },
    spec: { image: 'nginx:1.27', replicas: 1, message, config: { LOG_LEVEL: 'info' } },
  };
}

function ready(wr: KubeObject): boolean {
  const conditions = (wr.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

/**
 * The App's status reflects its current spec. Ready itself stays False on the local control plane: it runs
 * no nodes, so the Deployment never gets ready replicas, and the module reports exactly that.
 */
async function converged(client: KubeClient, apps: ApiResource, ns: string, name: string): Promise<boolean> {
  const obj = await client.get(apps, ns, name);
  const status = obj.status as { observedGeneration?: number; conditions?: { type: string }[] } | undefined;
  return (
    status?.observedGeneration === obj.metadata.generation && !!status?.conditions?.some((c) => c.type === 'Ready')
  );
}

async function show(
  client: KubeClient,
  res: { apps: ApiResource; configMaps: ApiResource; deployments: ApiResource; wrs: ApiResource },
  ns: string,
): Promise<void> {
  const wr = await client.get(res.wrs, ns, 'apps');
  const status = wr.status as { activeDigest?: string; moduleGeneration?: number };
  say(
    `      WasmReconciler apps: Ready, module ${status.activeDigest?.slice(0, 19)}…, generation ${status.moduleGeneration}`,
  );
  for (const name of ['hello', 'edge']) {
    const cm = await client.get(res.configMaps, ns, `${name}-config`);
    const dep = await client.get(res.deployments, ns, name);
    const data = Object.keys((cm.data ?? {}) as object).join(',');
    const version = cm.metadata.labels?.['app.wasmreconciler.dev/version'] ?? 'v1';
    const replicas = (dep.spec as { replicas?: number }).replicas;
    const appStatus = (await client.get(res.apps, ns, name)).status as {
      conditions?: { type: string; reason: string }[];
    };
    const readyReason = appStatus?.conditions?.find((c) => c.type === 'Ready')?.reason;
    say(
      `      App ${name.padEnd(6)} -> ConfigMap ${`${name}-config`.padEnd(13)} keys [${data}] (${version}), Deployment replicas ${replicas}, App Ready: ${readyReason}`,
    );
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    process.stderr.write(`\ndemo failed: ${e.code === undefined ? '' : `${e.code}: `}${e.message ?? String(err)}\n`);
    process.exit(1);
  },
);
