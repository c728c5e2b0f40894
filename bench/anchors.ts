// Measures this host against a controller-runtime controller with the same logic (configmap-app), side by side on one control plane. Run with `node bench/anchors.ts`.
//
// Three contenders, each a process of its own, one at a time on the same local control plane (etcd,
// kube-apiserver, kube-controller-manager): controller-runtime v0.25 (bench/anchors/controller-runtime,
// built by the bench from the Go module proxy into ~/.cache/wasm-reconciler/anchors), this host's CLI
// serving the configmap-app Wasm module, and this host's engine with the native TypeScript App reconciler.
// The CLI runs as its pod does (bench/support/image-env.ts): the host bundled, the image's compile cache,
// filled before each start, and the Deployment's NODE_OPTIONS; the native engine is a bench harness run as from a clone.
// The scenarios are interleaved (each one runs all three before the next), so a drift in the machine's
// load reaches every contender alike. Ratios are this host (Wasm) / controller-runtime.
//
// Converge, for 100 and 1,000 Apps at 1 and 4 workers, in a fresh namespace holding one App: the process
// starts (start to first write: that App's ConfigMap appearing; startup CPU: the process's CPU seconds
// then), settles the App and idles 3 s (idle RSS/PSS). Burst: N Apps created, 8 requests in flight, until
// every one is settled (status Ready for its generation, ConfigMap holding its config). Update wave: every
// App's config patched, until all settled again. Per phase: wall time from the first request, the
// process's CPU seconds until 3 s after the last App settled (so its asynchronous Events count), and API
// requests per App from the apiserver's apiserver_request_total, diffed (bench/anchors/api-requests.ts says
// which requests are the controller's). Peak RSS (VmHWM) and PSS (sampled every 200 ms) over the run.
// Runs leave their namespaces in place (the garbage collector's clean-up after a deletion would land in the
// next run's request counts), and each scenario rotates the contenders' order, so none always runs first
// or on the smallest cluster.
//
// Footprint: 1, 10 and 30 controllers, each for 10 Apps in a namespace of its own: one host process with as
// many WasmReconcilers (each module its own bytes) against as many controller-runtime processes; RSS and
// PSS (summed over the Go processes), the median of 5 samples 2 s apart from 20 s after every App settled:
// idle, once the host's guest and compile workers ended (10 s without work) and V8 shrank its heap after
// the converge (its memory reducer runs some 8 s after allocation slows down). MB are 10^6 bytes.
//
// ![anchors: converge time, CPU, API requests, idle memory and start to first write, side by side](benchmarks/anchors.svg)

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildV1 } from '../examples/configmap-app/test/modules.ts';
import { ReflectorRegistry } from '../host/src/cache/index.ts';
import { type ApiResource, KubeClient, objectPath } from '../host/src/kube/index.ts';
import { type ControlPlane, startControlPlane } from '../test/controlplane/index.ts';
import { type GuardedProcess, logTail } from '../test/controlplane/process.ts';
import { APP_API_VERSION, APP_KIND } from '../test/fixtures/native/app-reconciler.ts';
import { installCrd } from '../test/support/crds.ts';
import { appObject, forEachBounded } from '../test/support/engine.ts';
import { controllerRequests, type RequestDiff, scrapeRequestCounts } from './anchors/api-requests.ts';
import { ensureControllerRuntimeBinary } from './anchors/build.ts';
import {
  CONTENDERS,
  type Contender,
  type ContenderId,
  controllerRuntime,
  type Setting,
  wasmHost,
} from './anchors/contenders.ts';
import { Observer } from './anchors/observer.ts';
import { writePlot } from './anchors/plot.ts';
import { cpuSeconds, type Memory, MemorySampler, memory, totalMemory } from './anchors/proc.ts';
import { type BenchResult, main, median, round } from './lib.ts';
import { imageEnv } from './support/image-env.ts';

const ROOT = path.join(import.meta.dirname, '..');
const PLOT_PATH = path.join(ROOT, 'docs/benchmarks/anchors.svg');

/** What a run covers; the default is the documented one, smaller ones only try the bench out. */
export interface Plan {
  readonly sizes: readonly number[];
  readonly workers: readonly number[];
  /** Controller counts of the footprint runs; the first is the baseline of the per-controller figure. */
  readonly footprint: readonly number[];
}

export const DEFAULT_PLAN: Plan = { sizes: [100, 1000], workers: [1, 4], footprint: [1, 10, 30] };
const APPS_PER_CONTROLLER = 10;
const CLIENT_CONCURRENCY = 8;
const IDLE_BEFORE_BURST_MS = 3_000;
/** After the last App settled: the controllers' Events are written asynchronously. */
const TRAILING_MS = 3_000;
const FOOTPRINT_IDLE_MS = 20_000;
const FOOTPRINT_SAMPLES = 5;
const FOOTPRINT_SAMPLE_GAP_MS = 2_000;
const SAMPLE_MS = 200;
/** A phase taking longer than this is a failure, not a slow figure. */
const PHASE_TIMEOUT_MS = 10 * 60_000;
const STOP_GRACE_MS = 10_000;
const MB = 1e6;
const MERGE_PATCH = 'application/merge-patch+json';

const LABELS: Record<ContenderId, string> = {
  'controller-runtime': 'controller-runtime',
  wasm: 'this host, Wasm',
  native: 'this host, native',
};

interface Phase {
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly requests: RequestDiff;
}

interface Run {
  readonly contender: ContenderId;
  readonly size: number;
  readonly workers: number;
  readonly startToFirstWriteMs: number;
  readonly startupCpuSeconds: number;
  readonly idle: Memory;
  readonly burst: Phase;
  readonly update: Phase;
  readonly peakRssBytes: number;
  readonly peakPssBytes: number;
}

interface Footprint {
  readonly contender: ContenderId;
  readonly controllers: number;
  readonly memory: Memory;
}

class Bench {
  readonly #controlPlane: ControlPlane;
  readonly #client: KubeClient;
  readonly #registry: ReflectorRegistry;
  readonly #setting: Setting;
  readonly #namespaces: ApiResource;
  readonly #apps: ApiResource;

  static async open(): Promise<Bench> {
    const report = (line: string) => process.stderr.write(`${line}\n`);
    const [goBinary, module] = await Promise.all([
      ensureControllerRuntimeBinary(report),
      buildV1().then((b) => new Uint8Array(readFileSync(b.wasmPath))),
    ]);
    const controlPlane = await startControlPlane({ report });
    const client = await KubeClient.fromKubeConfig(controlPlane.kubeConfig);
    try {
      // Every CRD the deployment installs (the host looks for each of its kinds), and the App's.
      const crds = readdirSync(path.join(ROOT, 'deploy/crd'))
        .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
        .map((f) => `deploy/crd/${f}`);
      for (const file of [...crds, 'examples/configmap-app/crd.yaml']) await installCrd(client, path.join(ROOT, file));
      const logDir = mkdtempSync(path.join(tmpdir(), 'wr-bench-anchors-'));
      const setting: Setting = {
        client,
        kubeconfigPath: controlPlane.kubeconfigPath,
        logDir,
        goBinary,
        module,
        moduleCacheDir: path.join(logDir, 'modules'),
        image: imageEnv(),
      };
      return new Bench(
        controlPlane,
        client,
        setting,
        await client.resource('v1', 'Namespace'),
        await client.resource(APP_API_VERSION, APP_KIND),
      );
    } catch (err) {
      client.close();
      await controlPlane.stop();
      throw err;
    }
  }

  private constructor(
    controlPlane: ControlPlane,
    client: KubeClient,
    setting: Setting,
    namespaces: ApiResource,
    apps: ApiResource,
  ) {
    this.#controlPlane = controlPlane;
    this.#client = client;
    this.#registry = new ReflectorRegistry(client);
    this.#setting = setting;
    this.#namespaces = namespaces;
    this.#apps = apps;
  }

  /** Stops everything; the contenders' logs are kept after a failure, for its diagnosis. */
  async close(failed: boolean): Promise<void> {
    await this.#registry.close();
    this.#client.close();
    await this.#controlPlane.stop();
    if (failed) process.stderr.write(`anchors: the contenders' logs are in ${this.#setting.logDir}\n`);
    else rmSync(this.#setting.logDir, { recursive: true, force: true });
    this.#setting.image.dispose();
  }

  /** One converge run: start, idle, burst, update wave; see the file comment. */
  async converge(contender: Contender, size: number, workers: number): Promise<Run> {
    const run = `${contender.id}-${size}-w${workers}`;
    const namespace = `anchors-${run}`;
    return this.#inNamespaces([namespace], async () => {
      await this.#createApps(namespace, ['start']);
      const observer = await Observer.open(this.#registry, namespace);
      let processes: GuardedProcess[] = [];
      try {
        contender.prepare?.(this.#setting);
        const firstWrite = observer.configMapAppears('start-config');
        const started = performance.now();
        processes = await contender.start(this.#setting, [namespace], workers, run);
        const proc = processes[0]!;
        const sampler = new MemorySampler(proc.pid, SAMPLE_MS);
        const startToFirstWriteMs = (await this.#within(firstWrite, 'the first write', processes)) - started;
        const startupCpuSeconds = cpuSeconds(proc.pid);
        await this.#within(observer.settled(['start']), 'the first App to settle', processes);
        await sleep(IDLE_BEFORE_BURST_MS);
        const idle = memory(proc.pid);

        const names = Array.from({ length: size }, (_, i) => `app-${String(i).padStart(5, '0')}`);
        const burst = await this.#phase(proc, processes, observer, names, 1, () => this.#createApps(namespace, names));
        const update = await this.#phase(proc, processes, observer, names, 2, () =>
          forEachBounded(names, CLIENT_CONCURRENCY, async (name) => {
            await this.#client.request('PATCH', objectPath(this.#apps, namespace, name), {
              body: { spec: { config: { INDEX: name, ROUND: '1' } } },
              contentType: MERGE_PATCH,
            });
          }),
        );
        const peaks = sampler.stop();
        return {
          contender: contender.id,
          size,
          workers,
          startToFirstWriteMs,
          startupCpuSeconds,
          idle,
          burst,
          update,
          ...peaks,
        };
      } finally {
        await stopAll(processes);
        observer.close();
      }
    });
  }

  /** N controllers, each for APPS_PER_CONTROLLER Apps in a namespace of its own, measured idle. */
  async footprint(contender: Contender, controllers: number): Promise<Footprint> {
    const run = `footprint-${contender.id}-${controllers}`;
    const namespaces = Array.from({ length: controllers }, (_, i) => `anchors-${run}-${i}`);
    const names = Array.from({ length: APPS_PER_CONTROLLER }, (_, i) => `app-${i}`);
    return this.#inNamespaces(namespaces, async () => {
      const observers: Observer[] = [];
      let processes: GuardedProcess[] = [];
      try {
        for (const namespace of namespaces) {
          await this.#createApps(namespace, names);
          observers.push(await Observer.open(this.#registry, namespace));
        }
        contender.prepare?.(this.#setting);
        processes = await contender.start(this.#setting, namespaces, 1, run);
        await this.#within(Promise.all(observers.map((o) => o.settled(names))), 'every App to settle', processes);
        await sleep(FOOTPRINT_IDLE_MS);
        const samples: Memory[] = [];
        for (let i = 0; i < FOOTPRINT_SAMPLES; i++) {
          if (i > 0) await sleep(FOOTPRINT_SAMPLE_GAP_MS);
          samples.push(totalMemory(processes.map((p) => p.pid)));
        }
        const mid = (pick: (m: Memory) => number) => median(samples.map(pick));
        const idle = {
          rssBytes: mid((m) => m.rssBytes),
          peakRssBytes: mid((m) => m.peakRssBytes),
          pssBytes: mid((m) => m.pssBytes),
        };
        return { contender: contender.id, controllers, memory: idle };
      } finally {
        await stopAll(processes);
        for (const o of observers) o.close();
      }
    });
  }

  /** Runs `act` (the requests that start a phase) and measures until every App of `names` settled at `generation`. */
  async #phase(
    proc: GuardedProcess,
    processes: readonly GuardedProcess[],
    observer: Observer,
    names: readonly string[],
    generation: number,
    act: () => Promise<void>,
  ): Promise<Phase> {
    const before = await this.#requestCounts();
    const cpuBefore = cpuSeconds(proc.pid);
    const started = performance.now();
    const acting = act();
    const settledAt = await this.#within(
      Promise.all([observer.settled(names, generation), acting]).then(([at]) => at),
      `${names.length} Apps to settle`,
      processes,
      () => `${observer.unsettled(names, generation)} not settled`,
    );
    await sleep(TRAILING_MS);
    const cpuAfter = cpuSeconds(proc.pid);
    const requests = controllerRequests(before, await this.#requestCounts());
    return { seconds: (settledAt - started) / 1000, cpuSeconds: cpuAfter - cpuBefore, requests };
  }

  #requestCounts() {
    return scrapeRequestCounts(this.#controlPlane.kubeConfig, this.#controlPlane.server);
  }

  async #createApps(namespace: string, names: readonly string[]): Promise<void> {
    await forEachBounded(names, CLIENT_CONCURRENCY, async (name) => {
      await this.#client.create(this.#apps, appObject(namespace, name, { INDEX: name }));
    });
  }

  /**
   * Creates the namespaces and runs `body`. They are never deleted: after a deletion, kube-controller-manager's
   * garbage collector reads every deleted child and owner again (GET, 404) for a while, requests the counts
   * cannot tell from a controller's; the control plane is discarded at the end instead.
   */
  async #inNamespaces<T>(namespaces: readonly string[], body: () => Promise<T>): Promise<T> {
    for (const name of namespaces) {
      await this.#client.create(this.#namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    }
    return body();
  }

  /** `promise`, unless a contender process exits first or PHASE_TIMEOUT_MS passes: then an error with its log. */
  async #within<T>(
    promise: Promise<T>,
    what: string,
    processes: readonly GuardedProcess[],
    explain: () => string = () => '',
  ): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${PHASE_TIMEOUT_MS} ms waiting for ${what}. ${explain()}`)),
        PHASE_TIMEOUT_MS,
      );
    });
    const exits = processes.map((p) =>
      p.exited.then((status) => {
        throw new Error(
          `${p.name} exited (${status.code ?? status.signal}) while waiting for ${what}:\n${logTail(p.logPath, 30)}`,
        );
      }),
    );
    try {
      return await Promise.race([promise, timeout, ...exits]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function rotated<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

async function stopAll(processes: readonly GuardedProcess[]): Promise<void> {
  await Promise.all(processes.map((p) => p.stop(STOP_GRACE_MS)));
}

const perApp = (phase: Phase, size: number) => phase.requests.total / size;
const mb = (bytes: number) => round(bytes / MB, 1);

function breakdown(phase: Phase): string {
  return phase.requests.byKind.map(([key, n]) => `${key} ${n}`).join(', ');
}

function results(plan: Plan, runs: readonly Run[], footprints: readonly Footprint[]): BenchResult[] {
  const out: BenchResult[] = [];
  const ids = CONTENDERS.map((c) => c.id);
  /** One figure for every contender, then this host's ratio to controller-runtime (native's in its note). */
  const compare = (
    name: string,
    unit: string,
    digits: number,
    value: (id: ContenderId) => number,
    note = (_id: ContenderId) => '',
  ) => {
    for (const id of ids) out.push({ name: `${name}/${id}`, value: round(value(id), digits), unit, note: note(id) });
    const base = value('controller-runtime');
    out.push({
      name: `${name}/ratio`,
      value: round(value('wasm') / base, 2),
      unit: 'x',
      note: `this host (Wasm) / controller-runtime; native / controller-runtime ${round(value('native') / base, 2)}`,
    });
  };
  for (const size of plan.sizes) {
    for (const workers of plan.workers) {
      const find = (id: ContenderId) =>
        runs.find((r) => r.contender === id && r.size === size && r.workers === workers)!;
      for (const phase of ['burst', 'update'] as const) {
        const key = `anchors/${phase}-${size}-w${workers}`;
        compare(`${key}/seconds`, 's', 1, (id) => find(id)[phase].seconds);
        compare(`${key}/cpu`, 's', 2, (id) => find(id)[phase].cpuSeconds);
        compare(
          `${key}/requests-per-app`,
          'requests',
          2,
          (id) => perApp(find(id)[phase], size),
          (id) => breakdown(find(id)[phase]),
        );
      }
      compare(`anchors/run-${size}-w${workers}/peak-rss`, 'MB', 1, (id) => find(id).peakRssBytes / MB);
      compare(`anchors/run-${size}-w${workers}/peak-pss`, 'MB', 1, (id) => find(id).peakPssBytes / MB);
    }
  }
  const medianOf = (id: ContenderId, pick: (r: Run) => number) =>
    median(runs.filter((r) => r.contender === id).map(pick));
  const samples = `median of ${plan.sizes.length * plan.workers.length} starts`;
  compare(
    'anchors/start-to-first-write',
    'ms',
    0,
    (id) => medianOf(id, (r) => r.startToFirstWriteMs),
    () => `${samples}; process spawn to its first ConfigMap in the bench's watch`,
  );
  compare(
    'anchors/startup-cpu',
    's',
    2,
    (id) => medianOf(id, (r) => r.startupCpuSeconds),
    () => `${samples}; CPU seconds at the first write`,
  );
  compare(
    'anchors/idle-1-app/rss',
    'MB',
    1,
    (id) => medianOf(id, (r) => r.idle.rssBytes) / MB,
    () => `${samples}; 3 s after its one App settled`,
  );
  compare(
    'anchors/idle-1-app/pss',
    'MB',
    1,
    (id) => medianOf(id, (r) => r.idle.pssBytes) / MB,
    () => samples,
  );

  const fp = (id: ContenderId, n: number) => footprints.find((f) => f.contender === id && f.controllers === n)!.memory;
  for (const n of plan.footprint) {
    const what = `${n} controller${n === 1 ? '' : 's'}, ${APPS_PER_CONTROLLER} Apps each`;
    for (const measure of ['rss', 'pss'] as const) {
      const pick = (m: Memory) => (measure === 'rss' ? m.rssBytes : m.pssBytes);
      const host = pick(fp('wasm', n));
      const go = pick(fp('controller-runtime', n));
      out.push(
        {
          name: `anchors/footprint-${n}/${measure}/controller-runtime`,
          value: mb(go),
          unit: 'MB',
          note: `${what}: ${n} process${n === 1 ? '' : 'es'}, summed`,
        },
        {
          name: `anchors/footprint-${n}/${measure}/wasm`,
          value: mb(host),
          unit: 'MB',
          note: `${what}: one host, ${n} module${n === 1 ? '' : 's'}`,
        },
        {
          name: `anchors/footprint-${n}/${measure}/ratio`,
          value: round(host / go, 2),
          unit: 'x',
          note: 'this host / controller-runtime',
        },
      );
    }
  }
  const first = plan.footprint[0]!;
  const last = plan.footprint.at(-1)!;
  for (const id of ['wasm', 'controller-runtime'] as const) {
    out.push({
      name: `anchors/footprint/per-controller-rss/${id}`,
      value: mb((fp(id, last).rssBytes - fp(id, first).rssBytes) / (last - first)),
      unit: 'MB',
      note: `RSS added by each controller from ${first} to ${last} (${id === 'wasm' ? 'a module in the one host' : 'a process'})`,
    });
  }
  return out;
}

async function plot(runs: readonly Run[], footprints: readonly Footprint[]): Promise<void> {
  const scenarios = runs.flatMap((r) =>
    (['burst', 'update'] as const).map((phase) => ({
      scenario: `${phase} ${r.size}, ${r.workers} worker${r.workers === 1 ? '' : 's'}`,
      contender: LABELS[r.contender],
      seconds: round(r[phase].seconds, 2),
      cpuSeconds: round(r[phase].cpuSeconds, 2),
      requestsPerApp: round(perApp(r[phase], r.size), 2),
    })),
  );
  const footprint = footprints.flatMap((f) =>
    (['RSS', 'PSS'] as const).map((measure) => ({
      controllers: f.controllers,
      contender: LABELS[f.contender],
      measure,
      megabytes: mb(measure === 'RSS' ? f.memory.rssBytes : f.memory.pssBytes),
    })),
  );
  const starts = CONTENDERS.map((c) => ({
    contender: LABELS[c.id],
    milliseconds: round(median(runs.filter((r) => r.contender === c.id).map((r) => r.startToFirstWriteMs))),
  }));
  await writePlot(PLOT_PATH, scenarios, footprint, starts);
}

export async function run(plan: Plan = DEFAULT_PLAN): Promise<BenchResult[]> {
  const bench = await Bench.open();
  const runs: Run[] = [];
  const footprints: Footprint[] = [];
  try {
    let scenario = 0;
    for (const size of plan.sizes) {
      for (const workers of plan.workers) {
        for (const contender of rotated(CONTENDERS, scenario++)) {
          process.stderr.write(`anchors: ${contender.id}, ${size} Apps, ${workers} worker(s)\n`);
          runs.push(await bench.converge(contender, size, workers));
        }
      }
    }
    for (const controllers of plan.footprint) {
      for (const contender of rotated([controllerRuntime, wasmHost], scenario++)) {
        process.stderr.write(`anchors: footprint, ${contender.id}, ${controllers} controller(s)\n`);
        footprints.push(await bench.footprint(contender, controllers));
      }
    }
  } catch (err) {
    await bench.close(true);
    throw err;
  }
  await bench.close(false);
  await plot(runs, footprints);
  return results(plan, runs, footprints);
}

await main(import.meta, () => run());
