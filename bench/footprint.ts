// Measures the host's footprint and start-up as a pod runs it: RSS and PSS of the whole process (worker threads included) idle with 1, 10 and 30 modules, start to first write, start-up CPU, and whether memory comes back after a churn soak. Run with `node bench/footprint.ts`.
//
// The host is the real CLI (`host/src/cli/main.ts run`) in a process of its own, against a local control
// plane, as its pod runs it (bench/support/image-env.ts): `run` loading the host bundled (WASM_RECONCILER_BUNDLE,
// host/tools/bundle.ts), NODE_COMPILE_CACHE pointing at a compile cache filled before each start by the image
// build's imports (deploy/Dockerfile), and the NODE_OPTIONS the Deployment sets (deploy/host/deployment.yaml,
// V8 heap settings); one row shows an idle host without the compile cache variable or the bundle (a clone's
// `node host/src/cli/main.ts run`). Each module is the configmap-app example reconciling one App in a
// namespace of its own (its own reflectors for App, ConfigMap and Deployment). Idle figures are the
// median of 5 samples taken 2 s apart, 20 s after the last module converged; no GC is forced.
//
// Start to first write: the host starts with one WasmReconciler and one App whose ConfigMap is missing;
// the figure is spawn -> the ConfigMap appearing on a watch the bench holds, and the CPU the host had
// used by then (utime + stime of the process). The soak churns Apps (create, update, delete) and hot-swaps
// the module, then leaves the host idle and samples it for 5 minutes. Its length is set below and is
// shorter than the 20-minute soak: the row's note says how long it ran.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildV1 } from '../examples/configmap-app/test/modules.ts';
import type { KubeObject } from '../host/src/abi/types.ts';
import { type ApiResource, KubeClient } from '../host/src/kube/index.ts';
import { type ControlPlane, startControlPlane } from '../test/controlplane/index.ts';
import { installCrd } from '../test/support/crds.ts';
import { customSection } from '../test/support/wasm-bytes.ts';
import { type BenchResult, main, median, round } from './lib.ts';
import { type ImageEnv, imageEnv } from './support/image-env.ts';
import { APP_API_VERSION, appsWasmReconciler, WR_API_VERSION } from './support/wasm-reconciler.ts';

const ROOT = path.join(import.meta.dirname, '..');
const CLI = path.join(ROOT, 'host/src/cli/main.ts');
const MODULE_COUNTS = [1, 10, 30] as const;
const SETTLE_MS = 20_000;
const SAMPLES = 5;
const SAMPLE_GAP_MS = 2_000;
const STARTS = 5;
/** Churn length and hot swaps of the soak (the soak: 20 minutes, 20 swaps). */
const SOAK_MS = 4 * 60_000;
const SOAK_SWAPS = 8;
const SOAK_APPS = 100;
/** The recovery window the target is about: idle RSS within 25% of the pre-load idle within 5 minutes. */
const RECOVERY_MS = 5 * 60_000;
const RECOVERY_SAMPLE_MS = 15_000;
const WAIT_MS = 120_000;

/** How the host is started: as the image does (ImageEnv), or as a clone (the environment alone). */
interface HostEnv {
  readonly env: NodeJS.ProcessEnv;
  fill?(): void;
}

interface Memory {
  readonly rss: number;
  readonly pss: number;
}

/** RSS and PSS of a process in MiB: every thread shares its address space, so workers are included. */
function memoryOf(pid: number): Memory {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? Number.NaN);
  return { rss: kb('Rss') / 1024, pss: kb('Pss') / 1024 };
}

/** utime + stime of a process, in seconds. */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function idleSample(pid: number): Promise<Memory> {
  const samples: Memory[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    if (i > 0) await sleep(SAMPLE_GAP_MS);
    samples.push(memoryOf(pid));
  }
  return { rss: median(samples.map((s) => s.rss)), pss: median(samples.map((s) => s.pss)) };
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
): Promise<T> {
  const deadline = performance.now() + WAIT_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`);
    await sleep(50);
  }
}

interface RunningHost {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly spawnedAt: number;
  /** Rejects if the host exits before stop(); never resolves. Raced against every wait on the host. */
  readonly failed: Promise<never>;
  stop(): Promise<void>;
}

function spawnHost(kubeconfigPath: string, env: NodeJS.ProcessEnv): RunningHost {
  const cacheDir = mkdtempSync(path.join(tmpdir(), 'wr-bench-footprint-modules-'));
  const spawnedAt = performance.now();
  const child = spawn(
    process.execPath,
    [
      CLI,
      'run',
      `--kubeconfig=${kubeconfigPath}`,
      `--module-cache-dir=${cacheDir}`,
      '--metrics-port=0',
      '--log-format=json',
      '--log-level=warn',
    ],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! });
  // warn level: the host logs nothing on an ordinary start; anything it says is worth seeing.
  lines.on('line', (line) => process.stderr.write(`[host] ${line}\n`));
  let stopping = false;
  const failed = exited.then((code): Promise<never> => {
    if (stopping) return new Promise<never>(() => {});
    throw new Error(`the host exited early (code ${code})`);
  });
  // Raced where it matters; unobserved otherwise, which must not end the bench.
  failed.catch(() => {});
  return {
    child,
    pid: child.pid!,
    spawnedAt,
    failed,
    async stop() {
      stopping = true;
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}

function app(namespace: string, name: string, round: number): KubeObject {
  return {
    apiVersion: APP_API_VERSION,
    kind: 'App',
    metadata: { name, namespace },
    spec: { image: 'registry.example/app:1', replicas: 1, message: 'hi', config: { ROUND: String(round) } },
  };
}

/** The module with a fresh custom section: same behaviour, a digest never seen before (a hot swap). */
function variant(module: Uint8Array): Buffer {
  return Buffer.concat([module, customSection('wr-bench-variant', randomBytes(16))]);
}

interface Kinds {
  readonly namespaces: ApiResource;
  readonly wasmReconcilers: ApiResource;
  readonly apps: ApiResource;
  readonly configMaps: ApiResource;
}

class Bench {
  readonly #client: KubeClient;
  readonly #kinds: Kinds;
  readonly #kubeconfigPath: string;
  readonly #module: Uint8Array;

  constructor(client: KubeClient, kinds: Kinds, kubeconfigPath: string, module: Uint8Array) {
    this.#client = client;
    this.#kinds = kinds;
    this.#kubeconfigPath = kubeconfigPath;
    this.#module = module;
  }

  async namespace(name: string): Promise<void> {
    await this.#client.create(this.#kinds.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }

  async addModule(namespace: string, bytes: Uint8Array = this.#module): Promise<void> {
    await this.#client.create(this.#kinds.wasmReconcilers, appsWasmReconciler(namespace, bytes));
  }

  async addApp(namespace: string, name: string, round = 0): Promise<void> {
    await this.#client.create(this.#kinds.apps, app(namespace, name, round));
  }

  async hasConfigMap(namespace: string, app: string): Promise<boolean> {
    try {
      await this.#client.get(this.#kinds.configMaps, namespace, `${app}-config`);
      return true;
    } catch {
      return false;
    }
  }

  /** Fills the image's compile cache first (outside what is timed), then spawns the host. */
  host(env: HostEnv): RunningHost {
    env.fill?.();
    return spawnHost(this.#kubeconfigPath, env.env);
  }

  get client(): KubeClient {
    return this.#client;
  }

  get kinds(): Kinds {
    return this.#kinds;
  }

  get module(): Uint8Array {
    return this.#module;
  }
}

/**
 * Idle RSS/PSS with 1, 10 and 30 modules, in one host that gains modules: the first is `first`'s, the
 * others get namespaces of their own, deleted at the end so later hosts serve `first` alone again.
 */
async function scaling(bench: Bench, env: HostEnv, first: string): Promise<BenchResult[]> {
  const host = bench.host(env);
  const out: BenchResult[] = [];
  const idle = new Map<number, Memory>();
  const namespaces = [first];
  try {
    for (const count of MODULE_COUNTS) {
      while (namespaces.length < count) {
        const ns = `fp-scale-${namespaces.length}`;
        await bench.namespace(ns);
        await bench.addModule(ns);
        await bench.addApp(ns, 'app');
        namespaces.push(ns);
      }
      for (const ns of namespaces)
        await waitFor(`the module in ${ns} to converge`, () => bench.hasConfigMap(ns, 'app'));
      await Promise.race([host.failed, sleep(SETTLE_MS)]);
      const m = await idleSample(host.pid);
      idle.set(count, m);
      const label = count === 1 ? '1-module' : `${count}-modules`;
      const note = `idle ${SETTLE_MS / 1000} s after ${count} module(s) converged, one App each; median of ${SAMPLES}`;
      out.push({ name: `footprint/idle/${label}/rss`, value: round(m.rss, 1), unit: 'MiB', note });
      out.push({ name: `footprint/idle/${label}/pss`, value: round(m.pss, 1), unit: 'MiB', note });
    }
  } finally {
    await host.stop();
    for (const ns of namespaces.slice(1)) {
      await bench.client.delete(bench.kinds.wasmReconcilers, ns, 'apps').catch(() => {});
      await bench.client.delete(bench.kinds.namespaces, undefined, ns).catch(() => {});
    }
    await waitFor('the other modules to be gone', async () => {
      return (await bench.client.list(bench.kinds.wasmReconcilers)).items.length === 1;
    });
  }
  const one = idle.get(1)!;
  const thirty = idle.get(30)!;
  out.push({
    name: 'footprint/idle/per-module/rss',
    value: round((thirty.rss - one.rss) / 29, 2),
    unit: 'MiB',
    note: '(RSS with 30 modules - RSS with 1) / 29: instances, compiled code and reflectors of one more module',
  });
  out.push({
    name: 'footprint/idle/per-module/pss',
    value: round((thirty.pss - one.pss) / 29, 2),
    unit: 'MiB',
    note: '(PSS with 30 modules - PSS with 1) / 29',
  });
  return out;
}

/** An idle host with one module, for one environment (with or without the compile cache variable). */
async function idleOne(bench: Bench, env: HostEnv, namespace: string): Promise<Memory> {
  const host = bench.host(env);
  try {
    await waitFor('the module to converge', () => bench.hasConfigMap(namespace, 'app'));
    await Promise.race([host.failed, sleep(SETTLE_MS)]);
    return await idleSample(host.pid);
  } finally {
    await host.stop();
  }
}

/** Spawn -> the first object the host writes (the App's ConfigMap), and the host's CPU by then. */
async function startToFirstWrite(bench: Bench, env: HostEnv, namespace: string) {
  await bench.client.delete(bench.kinds.configMaps, namespace, 'app-config').catch(() => {});
  await waitFor('the ConfigMap to be gone', async () => !(await bench.hasConfigMap(namespace, 'app')));
  const list = await bench.client.list(bench.kinds.configMaps, { namespace });
  const watch = await bench.client.watch(bench.kinds.configMaps, {
    namespace,
    resourceVersion: list.metadata.resourceVersion!,
  });
  const host = bench.host(env);
  try {
    const seen = (async () => {
      for await (const event of watch) {
        if (event.type === 'ADDED' && event.object.metadata?.name === 'app-config') return performance.now();
      }
      throw new Error('the watch ended before the first write');
    })();
    const at = await Promise.race([
      seen,
      host.failed,
      sleep(WAIT_MS).then(() => Promise.reject(new Error('no write'))),
    ]);
    return { ms: (at as number) - host.spawnedAt, cpu: cpuOf(host.pid) };
  } finally {
    watch.close();
    await host.stop();
  }
}

/** Churns Apps and hot-swaps the module, then samples the idle host for RECOVERY_MS. */
async function soak(bench: Bench, env: HostEnv, namespace: string): Promise<BenchResult[]> {
  const host = bench.host(env);
  try {
    await waitFor('the module to converge', () => bench.hasConfigMap(namespace, 'app'));
    await Promise.race([host.failed, sleep(SETTLE_MS)]);
    const before = await idleSample(host.pid);
    let peak = before.rss;
    const churnStart = performance.now();
    let wave = 0;
    let swaps = 0;
    const { apps } = bench.kinds;
    while (performance.now() - churnStart < SOAK_MS) {
      wave++;
      // One wave: create (or update) SOAK_APPS Apps, then delete half of them.
      for (let i = 0; i < SOAK_APPS; i++) {
        const name = `churn-${i}`;
        try {
          await bench.addApp(namespace, name, wave);
        } catch {
          await bench.client.request('PATCH', `/apis/${APP_API_VERSION}/namespaces/${namespace}/apps/${name}`, {
            body: { spec: { config: { ROUND: String(wave) } } },
            contentType: 'application/merge-patch+json',
          });
        }
      }
      for (let i = 0; i < SOAK_APPS; i += 2) await bench.client.delete(apps, namespace, `churn-${i}`);
      const due = Math.floor(((performance.now() - churnStart) / SOAK_MS) * SOAK_SWAPS);
      for (; swaps < Math.min(due + 1, SOAK_SWAPS); swaps++) {
        await bench.client.request('PATCH', `/apis/${WR_API_VERSION}/namespaces/${namespace}/wasmreconcilers/apps`, {
          body: { spec: { module: { inline: variant(bench.module).toString('base64') } } },
          contentType: 'application/merge-patch+json',
        });
      }
      peak = Math.max(peak, memoryOf(host.pid).rss);
    }
    const churnMs = performance.now() - churnStart;
    for (let i = 0; i < SOAK_APPS; i++) await bench.client.delete(apps, namespace, `churn-${i}`).catch(() => {});
    const loadEnded = performance.now();
    let after = memoryOf(host.pid);
    let recoveredAtMs: number | undefined;
    while (performance.now() - loadEnded < RECOVERY_MS) {
      await sleep(RECOVERY_SAMPLE_MS);
      after = memoryOf(host.pid);
      peak = Math.max(peak, after.rss);
      if (recoveredAtMs === undefined && after.rss <= before.rss * 1.25) recoveredAtMs = performance.now() - loadEnded;
    }
    const note = `${(churnMs / 60_000).toFixed(1)} min churn (${wave} waves of ${SOAK_APPS} App creates/updates and ${SOAK_APPS / 2} deletes) and ${swaps} hot swaps, shorter than the issue's 20 min / 20 swaps; no forced GC`;
    return [
      { name: 'footprint/soak/before/rss', value: round2(before.rss), unit: 'MiB', note: 'idle, before the load' },
      { name: 'footprint/soak/peak/rss', value: round2(peak), unit: 'MiB', note },
      {
        name: 'footprint/soak/after-5min/rss',
        value: round2(after.rss),
        unit: 'MiB',
        note: `idle RSS ${RECOVERY_MS / 60_000} min after the load ended`,
      },
      {
        name: 'footprint/soak/after-5min/ratio',
        value: round(after.rss / before.rss, 2),
        unit: 'x',
        note: `idle RSS 5 min after the load / idle RSS before it (${note})`,
      },
      {
        name: 'footprint/soak/recovered-after',
        value: recoveredAtMs === undefined ? -1 : round(recoveredAtMs / 1000, 0),
        unit: 's',
        note: `first ${RECOVERY_SAMPLE_MS / 1000}-s sample within 25% of the pre-load idle (-1: none within 5 min)`,
      },
    ];
  } finally {
    await host.stop();
  }
}

const round2 = (n: number) => round(n, 1);

export async function run(): Promise<BenchResult[]> {
  const moduleBytes = new Uint8Array(readFileSync((await buildV1()).wasmPath));
  const controlPlane: ControlPlane = await startControlPlane({ report: (line) => process.stderr.write(`${line}\n`) });
  const client = await KubeClient.fromKubeConfig(controlPlane.kubeConfig);
  // As the pod: the bundle, NODE_COMPILE_CACHE set, the cache filled before (by the first start below), and
  // the Deployment's NODE_OPTIONS.
  const image: ImageEnv = imageEnv();
  const { NODE_COMPILE_CACHE: _, ...cloneEnv } = process.env;
  const clone: HostEnv = { env: cloneEnv };
  try {
    await installCrd(client, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
    await installCrd(client, path.join(ROOT, 'deploy/crd/clusterwasmreconciler.yaml'));
    await installCrd(client, path.join(ROOT, 'examples/configmap-app/crd.yaml'));
    const kinds: Kinds = {
      namespaces: await client.resource('v1', 'Namespace'),
      wasmReconcilers: await client.resource(WR_API_VERSION, 'WasmReconciler'),
      apps: await client.resource(APP_API_VERSION, 'App'),
      configMaps: await client.resource('v1', 'ConfigMap'),
    };
    const bench = new Bench(client, kinds, controlPlane.kubeconfigPath, moduleBytes);
    const single = 'fp-single';
    await bench.namespace(single);
    await bench.addModule(single);
    await bench.addApp(single, 'app');
    // Warms the control plane.
    await idleOne(bench, image, single);

    const out: BenchResult[] = [];
    const starts: { ms: number; cpu: number }[] = [];
    for (let i = 0; i < STARTS; i++) starts.push(await startToFirstWrite(bench, image, single));
    const note = `spawn of \`wasm-reconciler run\` -> the App's ConfigMap on the bench's watch; median of ${STARTS} starts`;
    out.push({ name: 'footprint/start/first-write', value: round(median(starts.map((s) => s.ms))), unit: 'ms', note });
    out.push({
      name: 'footprint/start/cpu',
      value: round(median(starts.map((s) => s.cpu)), 2),
      unit: 's',
      note: `CPU (user + system) the host process used up to its first write; median of ${STARTS} starts`,
    });
    out.push({
      name: 'footprint/start/first-write-max',
      value: round(Math.max(...starts.map((s) => s.ms))),
      unit: 'ms',
      note: `slowest of the ${STARTS} starts`,
    });
    const cloneIdle = await idleOne(bench, clone, single);
    out.push({
      name: 'footprint/idle/1-module/rss-without-compile-cache-env',
      value: round2(cloneIdle.rss),
      unit: 'MiB',
      note: 'as `node host/src/cli/main.ts run` from a clone: NODE_COMPILE_CACHE unset, so the entry file is type-stripped',
    });
    out.push(...(await scaling(bench, image, single)));
    out.push(...(await soak(bench, image, single)));
    return out;
  } finally {
    client.close();
    await controlPlane.stop();
    image.dispose();
  }
}

await main(import.meta, run);
