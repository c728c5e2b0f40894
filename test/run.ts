// The `npm test` entry: every unit and integration test on one shared control plane, then the reduced
// integration set on kine and on the oldest supported Kubernetes minor (the CI matrix), with no leftovers.
//
// Usage: npm test [-- <path filter>... ] [-- --test-name-pattern=... and other `node --test` flags]
// Positional arguments keep only test files whose repo-relative path contains one of them, and run them as
// one leg: on the default control plane, or the one $WR_TEST_DATASTORE / $WR_TEST_KUBERNETES choose.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import {
  type ControlPlane,
  type ControlPlaneFlavour,
  DATASTORE_ENV,
  defaultFlavour,
  describeVersions,
  ensureControlPlaneBinaries,
  findProcessesByEnv,
  isControlPlaneError,
  isPortFree,
  KUBERNETES_ENV,
  kubernetesMinors,
  OWNER_ENV,
  resolveFlavour,
  startControlPlane,
} from './controlplane/index.ts';
import { TEST_KUBECONFIG_ENV, USE_EXISTING_CLUSTER_ENV } from './support/cluster.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Unit tests sit beside their modules in these trees; integration tests live under test/. */
const TEST_TREES = ['host', 'guest-sdk', 'examples', 'test'];
const SKIPPED_DIRS = new Set(['node_modules', 'build', 'coverage', 'fixtures']);
/** No single test may hang the run: the slowest legitimate one (a cold module compile) is far below this. */
const PER_TEST_TIMEOUT_MS = 5 * 60_000;
/** Processes started during the run get this long after the tests end to finish dying. */
const LEFTOVER_GRACE_MS = 5000;

/**
 * The integration tests every other leg of the matrix runs: the watch/reflector, the watch-list initial
 * sync (2 s, and the one place sendInitialEvents is asserted), the controller and the WasmReconciler
 * lifecycle, the parts that lean on the API server's and the datastore's watch semantics.
 */
const REDUCED_SET = [
  'test/integration/watch-reflector.test.ts',
  'test/integration/watch-list.test.ts',
  'test/integration/controller.test.ts',
  'test/integration/wasmreconciler-lifecycle.test.ts',
];

/** One `node --test` run against one control plane. */
interface Leg {
  readonly name: string;
  /** Undefined against an existing cluster: its flavour is whatever it is. */
  readonly flavour: ControlPlaneFlavour | undefined;
  readonly files: readonly string[];
}

interface Cluster {
  readonly kubeconfigPath: string;
  readonly description: string;
  readonly controlPlane?: ControlPlane;
  readonly cleanup: () => Promise<void>;
}

interface LegResult {
  readonly leg: Leg;
  readonly cluster: string;
  readonly testExit: number;
  readonly testsMs: number;
  readonly leftovers: readonly string[];
}

async function main(): Promise<number> {
  const started = Date.now();
  const { filters, nodeTestFlags } = splitArgs(process.argv.slice(2));
  const files = findTestFiles(filters);
  if (files.length === 0) {
    process.stderr.write(`No test files match ${filters.map((f) => `"${f}"`).join(', ')}.\n`);
    return 1;
  }
  const legs = planLegs(files, filters.length > 0);

  // Every server started during this run, by the runner or by a test, carries this marker.
  const runId = `test-run-${process.pid}-${randomBytes(4).toString('hex')}`;
  process.env[OWNER_ENV] = runId;

  let testChild: ChildProcess | undefined;
  let interrupted: NodeJS.Signals | undefined;
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(name, () => {
      if (interrupted !== undefined) return;
      interrupted = name;
      process.stderr.write(`\n${name}: stopping the tests and the control plane…\n`);
      // Outside a leg's tests (a build or a start in progress) there is nothing to wait for: the exit
      // hook and the parent-death signal take down whatever was started.
      if (testChild === undefined) process.exit(130);
      testChild.kill('SIGTERM');
    });
  }

  // Every leg's binaries first: a cold build (or a broken one) shows before any test runs.
  for (const leg of legs) if (leg.flavour !== undefined) await ensureControlPlaneBinaries({ flavour: leg.flavour });

  const results: LegResult[] = [];
  for (const leg of legs) {
    if (interrupted !== undefined) break;
    if (legs.length > 1) process.stdout.write(`\n── ${leg.name}: ${leg.files.length} test files ──\n`);
    let cluster: Cluster | undefined;
    let testExit = 1;
    let testsMs = 0;
    try {
      cluster = await openCluster(leg);
      if (interrupted !== undefined) break;
      const testsStarted = Date.now();
      testChild = spawn(
        process.execPath,
        [
          '--test',
          `--test-concurrency=${testConcurrency()}`,
          `--test-timeout=${PER_TEST_TIMEOUT_MS}`,
          '--test-reporter=spec',
          ...nodeTestFlags,
          ...leg.files,
        ],
        { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...legEnv(leg, cluster) } },
      );
      testExit = await new Promise<number>((resolve) => {
        testChild?.once('error', () => resolve(1));
        testChild?.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
      });
      testChild = undefined;
      testsMs = Date.now() - testsStarted;
    } finally {
      await cluster?.cleanup();
    }
    const leftovers = [
      ...(await leftoverProcesses(runId)).map((p) => `process ${p.pid} still running: ${p.command}`),
      ...(cluster?.controlPlane === undefined ? [] : await portsStillOpen(cluster.controlPlane.ports)).map(
        (port) => `port ${port} on 127.0.0.1 is still in use`,
      ),
    ];
    results.push({ leg, cluster: cluster?.description ?? 'none', testExit, testsMs, leftovers });
  }

  const passed = (r: LegResult) => r.testExit === 0 && r.leftovers.length === 0;
  const lines = ['', '── wasm-reconciler test run ──'];
  for (const r of results) {
    const verdict = r.testExit === 0 ? 'passed' : `FAILED (node --test exit code ${r.testExit})`;
    if (legs.length > 1) lines.push(`${r.leg.name}:`);
    const indent = legs.length > 1 ? '  ' : '';
    lines.push(
      `${indent}cluster:     ${r.cluster}`,
      `${indent}test files:  ${r.leg.files.length}`,
      `${indent}tests:       ${verdict} in ${seconds(r.testsMs)}`,
      `${indent}leftovers:   ${r.leftovers.length === 0 ? 'none' : 'FOUND'}`,
      ...r.leftovers.map((line) => `${indent}  ${line}`),
    );
  }
  if (results.length < legs.length)
    lines.push(
      `not run:     ${legs
        .slice(results.length)
        .map((l) => l.name)
        .join(', ')}`,
    );
  lines.push(`wall time:   ${seconds(Date.now() - started)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  if (interrupted !== undefined) return 130;
  return results.length === legs.length && results.every(passed) ? 0 : 1;
}

/**
 * The matrix: with nothing narrowing the run, the full suite on the default release and etcd, then the
 * reduced set on kine and on the oldest supported Kubernetes minor. A path filter, a flavour chosen through
 * $WR_TEST_DATASTORE / $WR_TEST_KUBERNETES, or an existing cluster makes it one leg of the matching files.
 */
function planLegs(files: readonly string[], filtered: boolean): Leg[] {
  if (process.env[USE_EXISTING_CLUSTER_ENV] === '1') return [{ name: 'existing cluster', flavour: undefined, files }];
  const chosen = [DATASTORE_ENV, KUBERNETES_ENV].some((name) => (process.env[name] ?? '') !== '');
  if (filtered || chosen) return [{ name: 'tests', flavour: resolveFlavour(), files }];
  const full = defaultFlavour();
  const oldest = kubernetesMinors()[0] ?? full.kubernetes;
  const reduced = REDUCED_SET.filter((file) => files.includes(file));
  const legs: Leg[] = [
    { name: `full suite (Kubernetes ${full.kubernetes}, etcd)`, flavour: full, files },
    {
      name: `reduced set on kine (Kubernetes ${full.kubernetes})`,
      flavour: { ...full, datastore: 'kine' },
      files: reduced,
    },
  ];
  if (oldest !== full.kubernetes) {
    legs.push({
      name: `reduced set on Kubernetes ${oldest} (etcd)`,
      flavour: { kubernetes: oldest, datastore: 'etcd' },
      files: reduced,
    });
  }
  return legs;
}

/** What a leg's test processes get: the shared cluster, and the flavour for control planes they start themselves. */
function legEnv(leg: Leg, cluster: Cluster): NodeJS.ProcessEnv {
  return {
    [TEST_KUBECONFIG_ENV]: cluster.kubeconfigPath,
    ...(leg.flavour === undefined
      ? {}
      : { [DATASTORE_ENV]: leg.flavour.datastore, [KUBERNETES_ENV]: leg.flavour.kubernetes }),
  };
}

async function openCluster(leg: Leg): Promise<Cluster> {
  if (leg.flavour === undefined) return existingCluster();
  const binaries = await ensureControlPlaneBinaries({ flavour: leg.flavour });
  const controlPlane = await startControlPlane({ binaries });
  return {
    kubeconfigPath: controlPlane.kubeconfigPath,
    description: `local control plane (${describeVersions(binaries.versions)}), ready in ${seconds(controlPlane.startupMs)}`,
    controlPlane,
    cleanup: () => controlPlane.stop(),
  };
}

async function existingCluster(): Promise<Cluster> {
  const kubeconfig = process.env.KUBECONFIG;
  if (kubeconfig === undefined || kubeconfig === '') {
    throw new Error(`${USE_EXISTING_CLUSTER_ENV}=1 needs KUBECONFIG set to the kubeconfig of the cluster to test.`);
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const server = kubeConfig.getCurrentCluster()?.server ?? '(no current cluster)';
  try {
    await Promise.race([
      kubeConfig.makeApiClient(VersionApi).getCode(),
      sleep(15_000).then(() => Promise.reject(new Error('no answer within 15 s'))),
    ]);
  } catch (err) {
    throw new Error(`Cannot reach the cluster at ${server} (from KUBECONFIG): ${(err as Error).message}`, {
      cause: err,
    });
  }
  // Test files get one path; a KUBECONFIG list is merged into a temporary file.
  if (!kubeconfig.includes(delimiter)) {
    return { kubeconfigPath: kubeconfig, description: `existing cluster at ${server}`, cleanup: async () => {} };
  }
  const dir = mkdtempSync(join(tmpdir(), 'wasm-reconciler-kubeconfig-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeConfig.exportConfig(), { mode: 0o600 });
  return {
    kubeconfigPath,
    description: `existing cluster at ${server}`,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

function splitArgs(args: readonly string[]): { filters: string[]; nodeTestFlags: string[] } {
  const filters: string[] = [];
  const nodeTestFlags: string[] = [];
  for (const arg of args) (arg.startsWith('-') ? nodeTestFlags : filters).push(arg);
  return { filters, nodeTestFlags };
}

function findTestFiles(filters: readonly string[]): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name)) walk(path);
      } else if (entry.isFile() && entry.name.endsWith('.test.ts')) {
        files.push(relative(ROOT, path));
      }
    }
  };
  for (const tree of TEST_TREES) {
    try {
      walk(join(ROOT, tree));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return files.filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter))).sort();
}

/** Two cores by default: test files mostly wait on the API server, so a little more than the cores helps. */
function testConcurrency(): number {
  const configured = Number(process.env.WR_TEST_CONCURRENCY);
  return Number.isInteger(configured) && configured > 0 ? configured : Math.max(2, availableParallelism());
}

async function leftoverProcesses(runId: string) {
  const deadline = Date.now() + LEFTOVER_GRACE_MS;
  for (;;) {
    const found = findProcessesByEnv(OWNER_ENV, runId);
    if (found.length === 0 || Date.now() >= deadline) return found;
    await sleep(100);
  }
}

async function portsStillOpen(ports: readonly number[]): Promise<number[]> {
  const open: number[] = [];
  for (const port of ports) if (!(await isPortFree(port))) open.push(port);
  return open;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      isControlPlaneError(err) ? `\n${err.message}\n` : `\n${String((err as Error)?.stack ?? err)}\n`,
    );
    process.exit(1);
  },
);
