// Starts and stops one real local control plane: a datastore (etcd or kine), kube-apiserver and
// kube-controller-manager on loopback.
//
// Every run gets a fresh temp directory (certificates, datastore files, logs) and free ports. The processes die
// with the Node process (see process.ts); an `exit` hook kills them and removes the directory when Node
// exits without calling stop(); directories of owners that died harder are swept on the next start.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { type ControlPlaneBinaries, ensureControlPlaneBinaries } from './build.ts';
import { planDatastore } from './datastore.ts';
import { ControlPlaneError, isControlPlaneError } from './errors.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { type ControlPlanePki, generatePki } from './pki.ts';
import { assertPortFree, freePort } from './ports.ts';
import {
  describeExit,
  type GuardedProcess,
  isAlive,
  logTail,
  parentDeathSignalAvailable,
  spawnGuarded,
  waitForDeathSync,
} from './process.ts';
import { mintServiceAccountKubeconfig, type ServiceAccountRef } from './serviceaccount.ts';
import type { ControlPlaneFlavour, PinnedVersions } from './versions.ts';

export interface StartControlPlaneOptions {
  /** Serve the API on this port instead of a free one (a clash is an error, not a retry). */
  readonly apiserverPort?: number;
  /** Deadline for all three servers to become ready. Default 120 s: a cold page cache on 2 slow cores. */
  readonly readyTimeoutMs?: number;
  /** Progress lines (build, startup). Default: stderr. */
  readonly report?: (line: string) => void;
  /**
   * Which Kubernetes minor and datastore; unset fields follow $WR_TEST_KUBERNETES and $WR_TEST_DATASTORE
   * (so control planes that tests start follow the run's flavour), else the newest minor on etcd.
   */
  readonly flavour?: Partial<ControlPlaneFlavour>;
  /** Prebuilt binaries (their flavour wins over `flavour`); default: ensureControlPlaneBinaries() (builds once, then cached). */
  readonly binaries?: ControlPlaneBinaries;
}

export interface ControlPlane {
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** A self-contained admin kubeconfig (group system:masters). */
  readonly kubeconfigPath: string;
  /** The admin kubeconfig, loaded. */
  readonly kubeConfig: KubeConfig;
  /** Temp directory with certificates, datastore files and one log per server; removed by stop(). */
  readonly dir: string;
  /** What runs: Kubernetes release, datastore and its release. */
  readonly versions: PinnedVersions;
  readonly processes: readonly { readonly name: string; readonly pid: number; readonly logPath: string }[];
  /** Every loopback port the control plane listens on. */
  readonly ports: readonly number[];
  /** Milliseconds from the start call (after binaries were available) until all servers were ready. */
  readonly startupMs: number;
  mintServiceAccountKubeconfig(ref: ServiceAccountRef): Promise<KubeConfig>;
  /** Graceful shutdown (SIGTERM, then SIGKILL after a grace period), then the temp directory is removed. */
  stop(): Promise<void>;
  /** Lets the Node process exit while the control plane runs; the exit hook still tears it down. */
  unref(): void;
  /** Resolves when the first server process exits, for whatever reason (a crash, or stop()) but a restart. */
  firstExit(): Promise<ServerExit>;
  /**
   * Stops kube-apiserver (SIGTERM, then SIGKILL after a grace period) and starts it again on the same port
   * with the same datastore and certificates, as a crash-looping or upgraded API server would; resolves once it
   * serves /readyz again. Clients keep their kubeconfig: only their connections break.
   */
  restartApiServer(): Promise<void>;
}

export interface ServerExit {
  readonly name: string;
  readonly logPath: string;
  /** "exited with code 2", "was killed by SIGKILL"... */
  readonly description: string;
}

/** Environment variable each server process carries, so a test runner can find what its run started. */
export const OWNER_ENV = 'WR_CONTROLPLANE_OWNER';
export const RUNS_DIR = join(tmpdir(), 'wasm-reconciler-controlplane');

const POLL_MS = 100;
const PROBE_TIMEOUT_MS = 2000;
const STOP_GRACE_MS = 5000;
const PORT_ATTEMPTS = 3;
const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/24';
/**
 * Enough for the integration suite: garbage collection, namespace deletion, default ServiceAccounts, and
 * ClusterRole aggregation (deploy/rbac's host role is an aggregated one: without the controller it has no
 * rules, and a host running as the deploy/ ServiceAccount is refused everything).
 */
const CONTROLLERS = [
  'garbage-collector-controller',
  'namespace-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'root-ca-certificate-publisher-controller',
  'clusterrole-aggregation-controller',
];

export async function startControlPlane(options: StartControlPlaneOptions = {}): Promise<ControlPlane> {
  const report = options.report ?? ((line: string) => process.stderr.write(`${line}\n`));
  // Without a report callback the build may rewrite one terminal line instead of printing a line every 30 s.
  const binaries =
    options.binaries ??
    (await ensureControlPlaneBinaries({
      ...(options.flavour === undefined ? {} : { flavour: options.flavour }),
      ...(options.report === undefined ? {} : { report }),
    }));
  if (!parentDeathSignalAvailable) {
    report('setpriv (util-linux) is not on PATH: if this process is SIGKILLed, the servers will outlive it.');
  }
  sweepAbandonedRuns();
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binaries, options, report);
    } catch (err) {
      // Auto-picked ports can be taken between the check and the bind; fresh ones fix that.
      const retry = options.apiserverPort === undefined && attempt < PORT_ATTEMPTS;
      if (!(retry && isControlPlaneError(err, 'CP_PORT_IN_USE'))) throw err;
      report(`${(err as Error).message.split('\n')[0]} Retrying with other ports.`);
    }
  }
}

async function startOnce(
  binaries: ControlPlaneBinaries,
  options: StartControlPlaneOptions,
  report: (line: string) => void,
): Promise<ControlPlane> {
  const started = Date.now();
  const deadline = started + (options.readyTimeoutMs ?? 120_000);
  if (options.apiserverPort !== undefined) {
    await assertPortFree(
      options.apiserverPort,
      'kube-apiserver',
      'Stop that process or choose another port (npm run controlplane -- --port <port>).',
    );
  }
  mkdirSync(RUNS_DIR, { recursive: true });
  const dir = mkdtempSync(join(RUNS_DIR, `${process.pid}-`));
  const run = new Run(dir);
  try {
    const pki = await generatePki(join(dir, 'pki'));
    const apiserverPort = options.apiserverPort ?? (await freePort());
    const datastore = await planDatastore(binaries.datastore.kind, dir);
    run.ports.push(apiserverPort, ...datastore.ports);

    const store = run.spawn(datastore.name, binaries.datastore.binary, datastore.args, datastore.cwd);
    await waitReady(run, store, deadline, () => datastore.ready());

    const server = `https://127.0.0.1:${apiserverPort}`;
    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    writeKubeconfig(kubeconfigPath, {
      server,
      certificateAuthority: pki.ca.cert,
      user: 'wasm-reconciler-admin',
      credentials: { clientCertificate: pki.admin.cert, clientKey: pki.admin.key },
    });
    const controllerManagerKubeconfig = join(dir, 'kube-controller-manager.kubeconfig');
    writeKubeconfig(controllerManagerKubeconfig, {
      server,
      certificateAuthority: pki.ca.cert,
      user: 'system:kube-controller-manager',
      credentials: { clientCertificate: pki.controllerManager.cert, clientKey: pki.controllerManager.key },
    });

    const startApiserver = () =>
      run.spawn('kube-apiserver', binaries.kubeApiserver, apiserverArgs(pki, apiserverPort, datastore.clientUrl));
    const tls = { ca: readFileSync(pki.ca.cert), cert: readFileSync(pki.admin.cert), key: readFileSync(pki.admin.key) };
    const apiserverReady = () => probeHttps(apiserverPort, '/readyz', tls);
    await waitReady(run, startApiserver(), deadline, apiserverReady);

    const controllerManager = run.spawn(
      'kube-controller-manager',
      binaries.kubeControllerManager,
      controllerManagerArgs(pki, controllerManagerKubeconfig),
    );
    // The default ServiceAccount appears once the controller manager is up and its controllers run.
    await waitReady(run, controllerManager, deadline, () =>
      probeHttps(apiserverPort, '/api/v1/namespaces/default/serviceaccounts/default', tls),
    );

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    const startupMs = Date.now() - started;
    report(`Control plane ready at ${server} in ${(startupMs / 1000).toFixed(1)}s (logs in ${dir}).`);
    return {
      server,
      kubeconfigPath,
      kubeConfig,
      dir,
      versions: binaries.versions,
      get processes() {
        return run.processes.map(({ name, pid, logPath }) => ({ name, pid, logPath }));
      },
      ports: [...run.ports],
      startupMs,
      mintServiceAccountKubeconfig: (ref) => mintServiceAccountKubeconfig(kubeConfig, ref),
      stop: () => run.stop(),
      unref: () => run.unref(),
      firstExit: () => run.firstExit,
      restartApiServer: async () => {
        const current = run.processes.find((p) => p.name === 'kube-apiserver');
        if (current !== undefined) await run.retire(current);
        const readyBy = Date.now() + (options.readyTimeoutMs ?? 120_000);
        await waitReady(run, startApiserver(), readyBy, apiserverReady);
      },
    };
  } catch (err) {
    // Keep the logs the error points at, unless the failure was only a port race that gets retried.
    await run.stop({ keepDir: !isControlPlaneError(err, 'CP_PORT_IN_USE') });
    throw err;
  }
}

function apiserverArgs(pki: ControlPlanePki, port: number, datastoreUrl: string): string[] {
  return [
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    // Since 1.37 the endpoint reconciler refuses a loopback advertise address at startup; nothing here
    // reads the default/kubernetes Service's endpoints (no pods run), so skip reconciling them, as
    // upstream's own kube-apiserver test server does for a loopback address.
    '--endpoint-reconciler-type=none',
    `--secure-port=${port}`,
    // etcd and kine alike: kine serves the etcd v3 API.
    `--etcd-servers=${datastoreUrl}`,
    `--tls-cert-file=${pki.apiserver.cert}`,
    `--tls-private-key-file=${pki.apiserver.key}`,
    `--client-ca-file=${pki.ca.cert}`,
    '--authorization-mode=RBAC',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.serviceAccount.publicKey}`,
    `--service-account-signing-key-file=${pki.serviceAccount.privateKey}`,
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    // Flow control only matters under contention from many clients; skipping it shortens startup.
    '--enable-priority-and-fairness=false',
    '--profiling=false',
  ];
}

function controllerManagerArgs(pki: ControlPlanePki, kubeconfig: string): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--controllers=${CONTROLLERS.join(',')}`,
    `--service-account-private-key-file=${pki.serviceAccount.privateKey}`,
    `--root-ca-file=${pki.ca.cert}`,
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    // Each controller acts as its own ServiceAccount with its bootstrap role, as kubeadm clusters do.
    '--use-service-account-credentials=true',
    '--leader-elect=false',
    // No serving port: nothing scrapes it here, and it would be one more port to allocate and free.
    '--secure-port=0',
    '--profiling=false',
  ];
}

/** The processes, ports and directory of one start attempt, and their teardown. */
class Run {
  readonly dir: string;
  /** The servers currently running; a restarted server replaces its predecessor here. */
  readonly processes: GuardedProcess[] = [];
  readonly ports: number[] = [];
  /** The first exit of a server that was not retired for a restart. */
  readonly firstExit: Promise<ServerExit>;
  private readonly reportExit: (exit: ServerExit) => void;
  private readonly retired = new WeakSet<GuardedProcess>();
  private stopping: Promise<void> | undefined;

  constructor(dir: string) {
    this.dir = dir;
    let report: (exit: ServerExit) => void = () => {};
    this.firstExit = new Promise((resolve) => {
      report = resolve;
    });
    this.reportExit = report;
    liveRuns.add(this);
    ensureExitHook();
  }

  spawn(name: string, binary: string, args: readonly string[], cwd?: string): GuardedProcess {
    const child = spawnGuarded({
      name,
      command: binary,
      args,
      ...(cwd === undefined ? {} : { cwd }),
      logPath: join(this.dir, `${name}.log`),
      env: { ...process.env, [OWNER_ENV]: process.env[OWNER_ENV] ?? String(process.pid) },
    });
    this.processes.push(child);
    void child.exited.then((status) => {
      if (!this.retired.has(child)) {
        this.reportExit({ name: child.name, logPath: child.logPath, description: describeExit(status) });
      }
    });
    return child;
  }

  /** Stops one server on purpose (its exit is not reported) and forgets it, so a successor can take its place. */
  async retire(child: GuardedProcess): Promise<void> {
    this.retired.add(child);
    await child.stop(STOP_GRACE_MS);
    this.processes.splice(this.processes.indexOf(child), 1);
  }

  stop(options: { keepDir?: boolean } = {}): Promise<void> {
    this.stopping ??= (async () => {
      const isStore = (p: GuardedProcess) => p.name === 'etcd' || p.name === 'kine';
      const stores = this.processes.filter(isStore);
      // Clients first, then the store they talk to.
      await Promise.all(this.processes.filter((p) => !isStore(p)).map((p) => p.stop(STOP_GRACE_MS)));
      await Promise.all(stores.map((p) => p.stop(STOP_GRACE_MS)));
      if (!options.keepDir) rmSync(this.dir, { recursive: true, force: true });
      liveRuns.delete(this);
    })();
    return this.stopping;
  }

  unref(): void {
    for (const child of this.processes) child.unref();
  }

  killNow(): void {
    for (const child of this.processes) child.killNow();
    waitForDeathSync(
      this.processes.map((p) => p.pid),
      STOP_GRACE_MS,
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const liveRuns = new Set<Run>();
let exitHookInstalled = false;

function ensureExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const run of liveRuns) run.killNow();
  });
}

/** Removes run directories whose owning process is gone (it was SIGKILLed or crashed before its exit hook). */
function sweepAbandonedRuns(): void {
  if (!existsSync(RUNS_DIR)) return;
  for (const entry of readdirSync(RUNS_DIR)) {
    const owner = Number.parseInt(entry, 10);
    if (Number.isInteger(owner) && owner !== process.pid && !isAlive(owner)) {
      rmSync(join(RUNS_DIR, entry), { recursive: true, force: true });
    }
  }
}

/**
 * Polls `probe` until it succeeds, failing fast when any process of the run exits and failing with the
 * log tail of `waitingOn` at the deadline, so startup never hangs.
 */
async function waitReady(
  run: Run,
  waitingOn: GuardedProcess,
  deadline: number,
  probe: () => Promise<boolean>,
): Promise<void> {
  for (;;) {
    for (const child of run.processes) {
      const status = child.exitStatus();
      if (status !== undefined) throw exitedError(child, describeExit(status));
    }
    if (await probe()) return;
    if (Date.now() >= deadline) {
      throw new ControlPlaneError(
        'CP_NOT_READY',
        `${waitingOn.name} did not become ready in time. Last lines of ${waitingOn.logPath}:\n` +
          `${logTail(waitingOn.logPath)}\n` +
          'The machine may be overloaded (try again with fewer parallel jobs), or the log above names the cause.',
        { logPath: waitingOn.logPath },
      );
    }
    await sleep(POLL_MS);
  }
}

function exitedError(child: GuardedProcess, how: string): ControlPlaneError {
  const tail = logTail(child.logPath);
  if (/address already in use/i.test(tail)) {
    return new ControlPlaneError(
      'CP_PORT_IN_USE',
      `${child.name} could not listen: a port it needs on 127.0.0.1 is already in use. Last lines of ` +
        `${child.logPath}:\n${tail}\nStop the process holding the port, or let the harness pick free ports.`,
      { logPath: child.logPath },
    );
  }
  return new ControlPlaneError(
    'CP_PROCESS_EXITED',
    `${child.name} ${how} during startup. Last lines of ${child.logPath}:\n${tail}`,
    { logPath: child.logPath },
  );
}

function probeHttps(port: number, path: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, timeout: PROBE_TIMEOUT_MS, ...tls, servername: 'localhost' },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
