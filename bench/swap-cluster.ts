// Measures on-cluster hot swap, from patching a WasmReconciler's module to the first reconcile the new version serves. Run with `node bench/swap-cluster.ts`.
//
// Everything is real but the host runs in this process: a local control plane (etcd, kube-apiserver,
// kube-controller-manager), the CRDs, the host (watch -> module source -> disk cache -> compile ->
// instrument -> init -> swap), and one App. Each iteration patches spec.module.inline with a version never
// seen before: the example App module padded to 100 KB with a custom section, which changes the digest and
// nothing else. No App is touched: a swap re-reconciles every primary from the warm cache, so the first
// reconcile the new version serves is the one that resync queues.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildV1 } from '../examples/configmap-app/test/modules.ts';
import type { KubeObject } from '../host/src/abi/types.ts';
import { sha256Digest } from '../host/src/digest.ts';
import { type ApiResource, KubeClient } from '../host/src/kube/index.ts';
import { type Host, startHost } from '../host/src/manager/index.ts';
import type { ModuleSlot } from '../host/src/runtime/index.ts';
import { type ControlPlane, startControlPlane } from '../test/controlplane/index.ts';
import { installCrd } from '../test/support/crds.ts';
import { customSection } from '../test/support/wasm-bytes.ts';
import { type BenchResult, main, percentile, round } from './lib.ts';

const ROOT = path.join(import.meta.dirname, '..');
const APP_API_VERSION = 'demo.wasmreconciler.dev/v1alpha1';
const WR_API_VERSION = 'wasmreconciler.dev/v1alpha1';
const NAMESPACE = 'bench-swap';
const NAME = 'apps';
const MODULE_BYTES = 100 * 1024;
const WARMUP = 3;
const ITERATIONS = 50;
/** One swap taking longer than this is a failure, not a slow figure. */
const SWAP_TIMEOUT_MS = 30_000;
const POLL_MS = 1;
const CUSTOM_SECTION = 'wr-bench-padding';

/** `module` plus one custom section of fresh random bytes, `total` bytes in all: same behaviour, new digest. */
function padded(module: Uint8Array, total: number): Buffer {
  // The section's length prefix grows with the payload: settle the payload size in a couple of steps.
  let payload = total - module.length;
  for (let i = 0; i < 3; i++)
    payload -= module.length + customSection(CUSTOM_SECTION, Buffer.alloc(payload)).length - total;
  if (payload < 0) throw new Error(`the module is already larger than ${total} bytes`);
  const out = Buffer.concat([module, customSection(CUSTOM_SECTION, randomBytes(payload))]);
  if (out.length !== total) throw new Error(`padded module is ${out.length} bytes, expected ${total}`);
  return out;
}

function wasmReconciler(bytes: Uint8Array): KubeObject {
  return {
    apiVersion: WR_API_VERSION,
    kind: 'WasmReconciler',
    metadata: { name: NAME, namespace: NAMESPACE },
    spec: {
      for: { apiVersion: APP_API_VERSION, kind: 'App', namespaces: [NAMESPACE] },
      owns: [
        { apiVersion: 'v1', kind: 'ConfigMap' },
        { apiVersion: 'apps/v1', kind: 'Deployment' },
      ],
      module: { inline: Buffer.from(bytes).toString('base64') },
    },
  };
}

/** Polls `probe`; on timeout the error carries `explain()`, e.g. the WasmReconciler's status. */
async function waitUntil<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  explain: () => Promise<string> = async () => '',
): Promise<T> {
  const deadline = performance.now() + SWAP_TIMEOUT_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${SWAP_TIMEOUT_MS} ms waiting for ${what}. ${await explain()}`.trim());
    }
    await sleep(20);
  }
}

interface Cluster {
  readonly controlPlane: ControlPlane;
  readonly client: KubeClient;
  readonly host: Host;
  readonly cacheDir: string;
  readonly wasmReconcilers: ApiResource;
}

async function start(first: Uint8Array): Promise<Cluster> {
  const controlPlane = await startControlPlane({ report: (line) => process.stderr.write(`${line}\n`) });
  const client = await KubeClient.fromKubeConfig(controlPlane.kubeConfig);
  const cacheDir = mkdtempSync(path.join(tmpdir(), 'wr-bench-modules-'));
  let host: Host | undefined;
  try {
    await installCrd(client, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
    await installCrd(client, path.join(ROOT, 'examples/configmap-app/crd.yaml'));
    const namespaces = await client.resource('v1', 'Namespace');
    await client.create(namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    host = await startHost({
      kubeConfig: controlPlane.kubeConfig,
      namespace: NAMESPACE,
      moduleCacheDir: cacheDir,
      logLevel: 'silent',
    });
    const wasmReconcilers = await client.resource(WR_API_VERSION, 'WasmReconciler');
    await client.create(wasmReconcilers, wasmReconciler(first));
    await client.create(await client.resource(APP_API_VERSION, 'App'), {
      apiVersion: APP_API_VERSION,
      kind: 'App',
      metadata: { name: 'hello', namespace: NAMESPACE },
      spec: { image: 'registry.example/hello:1', replicas: 1, message: 'hi', config: { ROUND: '0' } },
    });
    return { controlPlane, client, host, cacheDir, wasmReconcilers };
  } catch (err) {
    await host?.stop();
    client.close();
    await controlPlane.stop();
    rmSync(cacheDir, { recursive: true, force: true });
    throw err;
  }
}

async function stop(cluster: Cluster): Promise<void> {
  await cluster.host.stop();
  cluster.client.close();
  await cluster.controlPlane.stop();
  rmSync(cluster.cacheDir, { recursive: true, force: true });
}

function calls(slot: ModuleSlot, digest: string): number {
  return slot.stats().find((v) => v.digest === digest)?.calls ?? 0;
}

interface SwapTiming {
  /** Patch sent -> the API server answered (validated and stored in etcd). */
  readonly patchMs: number;
  /** Patch sent -> the new version is the slot's active one. */
  readonly activeMs: number;
  /** Patch sent -> the new version's first reconcile starts. */
  readonly servedMs: number;
}

async function swapOnce(cluster: Cluster, slot: ModuleSlot, bytes: Uint8Array, iteration: number): Promise<SwapTiming> {
  const digest = sha256Digest(bytes);
  const t0 = performance.now();
  await cluster.client.request('PATCH', `/apis/${WR_API_VERSION}/namespaces/${NAMESPACE}/wasmreconcilers/${NAME}`, {
    body: { spec: { module: { inline: Buffer.from(bytes).toString('base64') } } },
    contentType: 'application/merge-patch+json',
  });
  const patchMs = performance.now() - t0;
  let activeMs: number | undefined;
  const deadline = t0 + SWAP_TIMEOUT_MS;
  for (;;) {
    if (calls(slot, digest) > 0) break;
    if (activeMs === undefined && slot.activeDigest === digest) activeMs = performance.now() - t0;
    if (performance.now() > deadline)
      throw new Error(`swap ${iteration}: no reconcile by ${digest} in ${SWAP_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
  const servedMs = performance.now() - t0;
  // The manager's own follow-up (pins, event, status) settles before the next patch is timed.
  await waitUntil('the WasmReconciler status to report the swap', async () => {
    const wr = await cluster.client.get(cluster.wasmReconcilers, NAMESPACE, NAME);
    return (wr.status as { activeDigest?: string } | undefined)?.activeDigest === digest;
  });
  return { patchMs, activeMs: activeMs ?? servedMs, servedMs };
}

export async function run(): Promise<BenchResult[]> {
  const base = new Uint8Array(readFileSync((await buildV1()).wasmPath));
  const cluster = await start(padded(base, MODULE_BYTES));
  const timings: SwapTiming[] = [];
  try {
    const status = async () => {
      const wr = await cluster.client.get(cluster.wasmReconcilers, NAMESPACE, NAME);
      return `WasmReconciler status: ${JSON.stringify(wr.status ?? {}).slice(0, 1500)}`;
    };
    const slot = await waitUntil(
      'the WasmReconciler to load',
      () => cluster.host.manager.slot(NAMESPACE, NAME),
      status,
    );
    await waitUntil('the first reconcile', () => slot.stats().some((v) => v.calls > 0));
    for (let i = 1; i <= WARMUP + ITERATIONS; i++) {
      const timing = await swapOnce(cluster, slot, padded(base, MODULE_BYTES), i);
      if (i > WARMUP) timings.push(timing);
    }
    // Drained versions leave the slot's stats: the host's counters hold every failure since the start.
    const { metrics } = cluster.host;
    const count = async (counter: typeof metrics.reconcileErrorsTotal) =>
      (await counter.get()).values.reduce((n, v) => n + v.value, 0);
    const errors = (await count(metrics.reconcileErrorsTotal)) + (await count(metrics.guestFailuresTotal));
    if (errors > 0) throw new Error(`${errors} reconcile errors or guest failures during the swaps`);
  } finally {
    await stop(cluster);
  }
  const served = timings.map((t) => t.servedMs);
  const active = timings.map((t) => t.activeMs);
  const patch = timings.map((t) => t.patchMs);
  const note = `${MODULE_BYTES / 1024} KiB module (${(base.length / 1024).toFixed(0)} KiB App module + custom section), ${ITERATIONS} swaps (p99: the slowest)`;
  return [
    {
      name: 'swap-cluster/100KB/p50',
      value: round(percentile(served, 50), 1),
      unit: 'ms',
      note: `${note}; patch -> first reconcile by the new version`,
    },
    {
      name: 'swap-cluster/100KB/p99',
      value: round(percentile(served, 99), 1),
      unit: 'ms',
      note: `${note}; patch -> first reconcile by the new version`,
    },
    {
      name: 'swap-cluster/100KB/active-p50',
      value: round(percentile(active, 50), 1),
      unit: 'ms',
      note: 'patch -> the new version is active',
    },
    {
      name: 'swap-cluster/100KB/active-p99',
      value: round(percentile(active, 99), 1),
      unit: 'ms',
      note: 'patch -> the new version is active',
    },
    {
      name: 'swap-cluster/100KB/patch-p50',
      value: round(percentile(patch, 50), 1),
      unit: 'ms',
      note: 'the PATCH round trip alone (API server + etcd)',
    },
    {
      name: 'swap-cluster/100KB/patch-p99',
      value: round(percentile(patch, 99), 1),
      unit: 'ms',
      note: 'the PATCH round trip alone (API server + etcd)',
    },
  ];
}

await main(import.meta, run);
