// The `npm test` entry: one control plane for the whole run, every unit and integration test, no leftovers.
//
// Usage: npm test [-- <path filter>... ] [-- --test-name-pattern=... and other `node --test` flags]
// Positional arguments keep only test files whose repo-relative path contains one of them.

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
  ensureControlPlaneBinaries,
  findProcessesByEnv,
  isControlPlaneError,
  isPortFree,
  OWNER_ENV,
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

interface Cluster {
  readonly kubeconfigPath: string;
  readonly description: string;
  readonly controlPlane?: ControlPlane;
  readonly cleanup: () => Promise<void>;
}

async function main(): Promise<number> {
  const started = Date.now();
  const { filters, nodeTestFlags } = splitArgs(process.argv.slice(2));
  const files = findTestFiles(filters);
  if (files.length === 0) {
    process.stderr.write(`No test files match ${filters.map((f) => `"${f}"`).join(', ')}.\n`);
    return 1;
  }

  // Every server started during this run, by the runner or by a test, carries this marker.
  const runId = `test-run-${process.pid}-${randomBytes(4).toString('hex')}`;
  process.env[OWNER_ENV] = runId;

  let testChild: ChildProcess | undefined;
  let cluster: Cluster | undefined;
  let interrupted: NodeJS.Signals | undefined;
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(name, () => {
      if (interrupted !== undefined) return;
      interrupted = name;
      process.stderr.write(`\n${name}: stopping the tests and the control plane…\n`);
      // Before the tests run (a build or a start in progress) there is nothing to wait for: the exit
      // hook and the parent-death signal take down whatever was started.
      if (testChild === undefined) process.exit(130);
      testChild.kill('SIGTERM');
    });
  }

  let testExit = 1;
  let testsMs = 0;
  try {
    cluster = await openCluster();
    if (interrupted !== undefined) return 130;
    const testsStarted = Date.now();
    testChild = spawn(
      process.execPath,
      [
        '--test',
        `--test-concurrency=${testConcurrency()}`,
        `--test-timeout=${PER_TEST_TIMEOUT_MS}`,
        '--test-reporter=spec',
        ...nodeTestFlags,
        ...files,
      ],
      {
        cwd: ROOT,
        stdio: 'inherit',
        env: { ...process.env, [TEST_KUBECONFIG_ENV]: cluster.kubeconfigPath },
      },
    );
    testExit = await new Promise<number>((resolve) => {
      testChild?.once('error', () => resolve(1));
      testChild?.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
    });
    testsMs = Date.now() - testsStarted;
  } finally {
    await cluster?.cleanup();
  }

  const leftovers = await leftoverProcesses(runId);
  const closedPorts = cluster?.controlPlane === undefined ? [] : await portsStillOpen(cluster.controlPlane.ports);
  const lines = [
    '',
    '── wasm-reconciler test run ──',
    `cluster:     ${cluster?.description ?? 'none'}`,
    `test files:  ${files.length}`,
    `tests:       ${testExit === 0 ? 'passed' : `FAILED (node --test exit code ${testExit})`} in ${seconds(testsMs)}`,
    `wall time:   ${seconds(Date.now() - started)}`,
    `leftovers:   ${leftovers.length === 0 && closedPorts.length === 0 ? 'none' : 'FOUND'}`,
    ...leftovers.map((p) => `  process ${p.pid} still running: ${p.command}`),
    ...closedPorts.map((port) => `  port ${port} on 127.0.0.1 is still in use`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (interrupted !== undefined) return 130;
  return testExit === 0 && leftovers.length === 0 && closedPorts.length === 0 ? 0 : 1;
}

async function openCluster(): Promise<Cluster> {
  if (process.env[USE_EXISTING_CLUSTER_ENV] === '1') return existingCluster();
  const binaries = await ensureControlPlaneBinaries();
  const controlPlane = await startControlPlane({ binaries });
  return {
    kubeconfigPath: controlPlane.kubeconfigPath,
    description: `local control plane (Kubernetes ${binaries.versions.kubernetes}, etcd ${binaries.versions.etcd}), ready in ${seconds(controlPlane.startupMs)}`,
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
