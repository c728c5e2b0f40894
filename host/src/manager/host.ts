// Assembles one host process: API client, shared caches, module store, runtime, WasmReconciler controller, probes.

import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { parseLabelSelector, type ReflectorRegistry } from '../cache/index.ts';
import { controllerRegistry } from '../controller/index.ts';
import { errorFields, isWrError, WrError } from '../errors.ts';
import { kubeExecutorClient } from '../executor/index.ts';
import { KubeClient, type KubeConfigView, warnIfNoAccess } from '../kube/index.ts';
import { LeaderElector, type LeaseOptions } from '../leader/index.ts';
import { createMetrics, type Metrics } from '../metrics/index.ts';
import { ModuleResolver, ModuleStore } from '../modules/index.ts';
import { http } from '../node-http.ts';
import { GuestWorkerPool, ModuleLoader, OffThreadCompiler } from '../runtime/index.ts';
import { NodeShardPolicy } from '../sharding/node/index.ts';
import { memberLease, type ReplicaRing, ReplicaShardPolicy } from '../sharding/replicas/index.ts';
import { WasmReconcilerManager } from './wasm-reconcilers.ts';

export interface HostOptions {
  /** Our KubeConfig (kube/kubeconfig.ts) or client-node's: the same shape. */
  readonly kubeConfig: KubeConfigView;
  /** Watch WasmReconcilers in this namespace only; all namespaces, and ClusterWasmReconcilers, when absent. */
  readonly namespace?: string;
  /** Where ClusterWasmReconcilers' ConfigMap modules and pull Secrets live (default wasm-reconciler-system). */
  readonly clusterResourceNamespace?: string;
  /** Serve only the WasmReconcilers and ClusterWasmReconcilers this selector matches (e.g. `team=edge`). */
  readonly watchLabelSelector?: string;
  readonly moduleCacheDir: string;
  /** Disk budget of unpinned cached modules. */
  readonly moduleCacheBytes?: number;
  /** Port of /metrics, /healthz and /readyz; 0 picks a free one, undefined serves none. */
  readonly metricsPort?: number;
  readonly metricsHost?: string;
  readonly logLevel?: pino.Level | 'silent';
  /** Extra CA for module URLs and registries (PEM). */
  readonly sourceCa?: string;
  /** Allow plain-http registries (local development only). */
  readonly insecureRegistries?: boolean;
  readonly instance?: string;
  readonly logger?: pino.Logger;
  /** Worker threads that run guest code (each about 20 MB); default 2, or 1 on a single core. */
  readonly guestWorkers?: number;
  /** Run only while holding this Lease; replicas without it wait as standbys. */
  readonly leaderElection?: Omit<LeaseOptions, 'logger' | 'now'> & {
    /** Called when the lease is lost: the host has already stopped reconciling. Default: nothing more. */
    readonly onLost?: () => void;
  };
  /**
   * Share the primaries with other hosts instead of leading (host/src/sharding). `node`: one host per node (a
   * DaemonSet) reconciles the primaries that name its node by the WasmReconciler's spec.sharding.node rule.
   */
  readonly sharding?: NodeShardingHostOptions | ReplicaShardingHostOptions;
}

/**
 * `replicas`: N replicas of one Deployment split every reconciler's primaries by hashing over their member Leases
 * (host/src/sharding/replicas). The host holds its member Lease as it would a leader Lease: nothing runs before
 * it is acquired, and every write is fenced once it cannot be renewed.
 */
export interface ReplicaShardingHostOptions extends ReplicaRing {
  readonly mode: 'replicas';
  /** Called when the member Lease is lost: the host has already stopped. Default: nothing more. */
  readonly onLost?: () => void;
}

export interface NodeShardingHostOptions {
  readonly mode: 'node';
  /** This host's node: the downward API's spec.nodeName. */
  readonly nodeName: string;
  /** The Nodes the DaemonSet runs on (its nodeSelector as a label selector); every Node when absent. */
  readonly nodeSelector?: string;
  /** How long a key that arrived in this host's share waits before it runs here (default 15 s). */
  readonly handoverMs?: number;
}

/** How long a stop lets in-flight reconciles finish before their writes are fenced and they are abandoned. */
export const STOP_DRAIN_MS = 5_000;
/** Bound on each clean-up step after the drain (closing caches, workers, the compiler). */
const CLOSE_STEP_MS = 1_500;

export interface Host {
  readonly manager: WasmReconcilerManager;
  readonly registry: ReflectorRegistry;
  readonly metrics: Metrics;
  readonly logger: pino.Logger;
  /** The probes/metrics URL, when served. */
  readonly metricsUrl: string | undefined;
  stop(): Promise<void>;
}

export async function startHost(options: HostOptions): Promise<Host> {
  const logger = options.logger ?? pino({ level: options.logLevel ?? 'info', base: { component: 'wasm-reconciler' } });
  if (options.sharding !== undefined && options.leaderElection !== undefined) {
    // Every sharded host reconciles its own share at once; a Lease would leave all but one idle.
    throw new WrError(
      'WR_CONFIG_INVALID',
      `--sharding ${options.sharding.mode} and --leader-elect exclude each other: sharded hosts do not elect a leader`,
      { details: { sharding: options.sharding.mode } },
    );
  }
  const metrics = createMetrics();
  const client = await KubeClient.fromKubeConfig(options.kubeConfig);
  // Every write of reconcilers and of the manager goes through `writer`: aborting the fence stops them all at
  // once (nothing more is sent, in-flight writes are aborted). The elector and the caches keep `client`.
  const fence = new AbortController();
  const fenceWrites = (message: string) => {
    if (!fence.signal.aborted) fence.abort(new WrError('WR_LEADERSHIP_LOST', message));
  };
  const writer = client.withWriteFence(fence.signal);
  const registry = controllerRegistry(client, { logger });
  let sharding: NodeShardPolicy | ReplicaShardPolicy | undefined;
  if (options.sharding?.mode === 'replicas') {
    try {
      sharding = await ReplicaShardPolicy.start({ ...options.sharding, client, writer, registry, logger });
    } catch (err) {
      await registry.close();
      client.close();
      throw err;
    }
    logger.info({ sharding: 'replicas', member: options.sharding.member }, 'replica-sharded: serving this shard only');
  } else if (options.sharding !== undefined) {
    try {
      sharding = await NodeShardPolicy.start({
        registry,
        client,
        nodeName: options.sharding.nodeName,
        logger,
        ...(options.sharding.nodeSelector === undefined ? {} : { nodeSelector: options.sharding.nodeSelector }),
        ...(options.sharding.handoverMs === undefined ? {} : { handoverMs: options.sharding.handoverMs }),
      });
    } catch (err) {
      await registry.close();
      client.close();
      throw err;
    }
    logger.info({ sharding: 'node', nodeName: options.sharding.nodeName }, 'node-sharded: serving this node only');
  }
  const store = await ModuleStore.open({
    dir: options.moduleCacheDir,
    maxBytes: options.moduleCacheBytes ?? 256 * 1024 * 1024,
    onEvent: (e) => logger.info({ event: e }, 'module cache'),
  });
  const readMap = (kind: 'ConfigMap' | 'Secret', field: 'binaryData' | 'data') => async (ns: string, name: string) => {
    try {
      const res = await client.resource('v1', kind);
      const obj = await client.get(res, ns, name);
      return (obj[field] ?? {}) as Record<string, string>;
    } catch (err) {
      if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return undefined;
      throw err;
    }
  };
  const resolver = new ModuleResolver({
    store,
    configMaps: readMap('ConfigMap', 'binaryData'),
    secrets: readMap('Secret', 'data'),
    ...(options.sourceCa === undefined ? {} : { url: { ca: options.sourceCa } }),
    oci: {
      ...(options.sourceCa === undefined ? {} : { ca: options.sourceCa }),
      plainHttp: options.insecureRegistries === true,
    },
    onCacheError: (err) => logger.warn({ code: err.code, err: err.message }, 'module cache unavailable'),
  });
  const workers = new GuestWorkerPool(options.guestWorkers === undefined ? {} : { size: options.guestWorkers });
  const compiler = new OffThreadCompiler();
  const manager = new WasmReconcilerManager({
    registry,
    client: writer,
    executorClient: kubeExecutorClient(writer),
    resolver,
    store,
    loader: new ModuleLoader({ compile: compiler.compile }),
    workers,
    logger,
    metrics,
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
    ...(options.instance === undefined ? {} : { instance: options.instance }),
    ...(options.clusterResourceNamespace === undefined
      ? {}
      : { clusterResourceNamespace: options.clusterResourceNamespace }),
    ...(options.watchLabelSelector === undefined ? {} : { selector: parseLabelSelector(options.watchLabelSelector) }),
    ...(sharding === undefined ? {} : { sharding }),
  });

  metrics.collectFrom({
    caches: () => registry.stats(),
    queues: () => manager.queueStats(),
    workers: () => workers.stats(),
  });

  // A replica-sharded host holds its member Lease the way a leader holds its Lease: acquired before anything
  // runs, writes fenced and the host stopped when it cannot be renewed.
  const lease =
    options.sharding?.mode === 'replicas'
      ? { ...memberLease(options.sharding), onLost: options.sharding.onLost }
      : options.leaderElection;
  const elector = lease === undefined ? undefined : new LeaderElector(client, { ...lease, logger });
  let stopping = false;
  let server: Server | undefined;
  let metricsUrl: string | undefined;
  if (options.metricsPort !== undefined) {
    server = http.createServer((req, res) => {
      if (req.url === '/metrics') {
        metrics.registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
          () => res.writeHead(500).end(),
        );
      } else if (req.url === '/healthz') {
        res.writeHead(200).end('ok');
      } else if (req.url === '/readyz') {
        // A standby waiting for the lease is ready by design: otherwise a rolling update of a replicated
        // Deployment would wait forever for a pod that must not lead yet.
        const standby = elector !== undefined && !elector.leading && !stopping;
        const ready = standby || manager.ready;
        res.writeHead(ready ? 200 : 503).end(standby ? 'standby' : ready ? 'ok' : 'caches not synced');
      } else {
        res.writeHead(404).end();
      }
    });
    const host = options.metricsHost ?? '0.0.0.0';
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(options.metricsPort, host, () => resolve());
    });
    const address = server.address();
    if (address !== null && typeof address === 'object') metricsUrl = `http://${host}:${address.port}`;
  }

  try {
    // An identity that may not list WasmReconcilers (403) serves nothing and retries forever: say so once.
    await warnIfNoAccess(client, logger, options.namespace);
    if (elector !== undefined) {
      logger.info({ identity: lease?.identity, lease: lease?.name }, 'waiting to acquire the lease');
      await elector.acquire();
    }
    await manager.start();
  } catch (err) {
    await elector?.stop();
    server?.close();
    await sharding?.close();
    await registry.close();
    await workers.close();
    await compiler.close();
    client.close();
    throw err;
  }
  /** Closes one resource, giving up on it after CLOSE_STEP_MS so a stuck one cannot hold the exit. */
  const closeStep = async (what: string, step: () => Promise<void> | void) => {
    const done = Promise.resolve()
      .then(step)
      .then(
        () => true,
        (err: unknown) => {
          logger.warn({ ...errorFields(err), what }, 'clean-up step failed');
          return true;
        },
      );
    if (!(await Promise.race([done, sleep(CLOSE_STEP_MS, false, { ref: false })]))) {
      logger.warn({ what, ms: CLOSE_STEP_MS }, 'clean-up step timed out; abandoned');
    }
  };
  /** Stop intake, drain for drainMs at most, fence writes, release the Lease, close the rest: bounded. */
  let shutdownDone: Promise<void> | undefined;
  const shutdown = (drainMs: number): Promise<void> => {
    shutdownDone ??= shutdownOnce(drainMs);
    return shutdownDone;
  };
  const shutdownOnce = async (drainMs: number) => {
    stopping = true;
    const drained = manager.stop().then(
      () => true,
      (err: unknown) => {
        logger.warn(errorFields(err), 'manager stop failed');
        return true;
      },
    );
    const inTime = await Promise.race([drained, sleep(drainMs + 250, false, { ref: false })]);
    // From here on no write leaves the process, whatever is still running: the Lease can be released.
    fenceWrites('the host is stopping: writes are fenced');
    if (!inTime) logger.warn({ drainMs }, 'in-flight work did not finish in time: aborted');
    await closeStep('lease', () => elector?.stop());
    await closeStep('sharding', () => sharding?.close());
    await closeStep('caches', () => registry.close());
    await closeStep('guest workers', () => workers.close());
    await closeStep('compiler', () => compiler.close());
    client.close();
    await closeStep(
      'probes',
      () => new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve()))),
    );
  };
  if (elector !== undefined) {
    void elector.hold().then(async (outcome) => {
      if (outcome !== 'lost' || stopping) return;
      // Another replica may lead one lease duration after our last renewal: stop writing now, not after a
      // drain. The fence refuses every write from here on and aborts those in flight.
      fenceWrites('the lease was lost: this host no longer leads');
      logger.error({ code: 'WR_LEADERSHIP_LOST' }, 'lease lost: writes fenced, stopping');
      await shutdown(0);
      lease?.onLost?.();
    });
  }
  logger.info({ namespace: options.namespace ?? '(all)', metricsUrl }, 'host started');

  return {
    manager,
    registry,
    metrics,
    logger,
    metricsUrl,
    async stop() {
      // Released only after writes are fenced, so the next leader never overlaps with this one.
      await shutdown(STOP_DRAIN_MS);
      logger.info('host stopped');
    },
  };
}
