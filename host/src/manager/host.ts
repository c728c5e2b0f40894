// Assembles one host process: API client, shared caches, module store, runtime, WasmReconciler controller, probes.

import { createServer, type Server } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { ReflectorRegistry } from '../cache/index.ts';
import { UID_INDEX, uidIndexer } from '../controller/index.ts';
import { isWrError } from '../errors.ts';
import { kubeExecutorClient } from '../executor/index.ts';
import { KubeClient } from '../kube/index.ts';
import { LeaderElector, type LeaseOptions } from '../leader/index.ts';
import { createMetrics, type Metrics } from '../metrics/index.ts';
import { ModuleResolver, ModuleStore } from '../modules/index.ts';
import { GuestWorkerPool, ModuleLoader, OffThreadCompiler } from '../runtime/index.ts';
import { WasmReconcilerManager } from './wasm-reconcilers.ts';

export interface HostOptions {
  readonly kubeConfig: KubeConfig;
  /** Watch WasmReconcilers in this namespace only; all namespaces when absent. */
  readonly namespace?: string;
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
}

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
  const metrics = createMetrics();
  const client = await KubeClient.fromKubeConfig(options.kubeConfig);
  const registry = new ReflectorRegistry(client, { logger, indexers: { [UID_INDEX]: uidIndexer } });
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
    client,
    executorClient: kubeExecutorClient(client),
    resolver,
    store,
    loader: new ModuleLoader({ compile: compiler.compile }),
    workers,
    logger,
    metrics,
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
    ...(options.instance === undefined ? {} : { instance: options.instance }),
  });

  metrics.collectFrom({
    caches: () => registry.stats(),
    queues: () => manager.queueStats(),
    workers: () => workers.stats(),
  });

  const elector =
    options.leaderElection === undefined ? undefined : new LeaderElector(client, { ...options.leaderElection, logger });
  let stopping = false;
  let server: Server | undefined;
  let metricsUrl: string | undefined;
  if (options.metricsPort !== undefined) {
    server = createServer((req, res) => {
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
    if (elector !== undefined) {
      logger.info({ identity: options.leaderElection?.identity }, 'waiting to acquire the lease');
      await elector.acquire();
    }
    await manager.start();
  } catch (err) {
    await elector?.stop();
    server?.close();
    await registry.close();
    await workers.close();
    await compiler.close();
    client.close();
    throw err;
  }
  if (elector !== undefined) {
    void elector.hold().then(async (outcome) => {
      if (outcome !== 'lost' || stopping) return;
      // Another replica may lead within a lease duration: stop writing before that can happen.
      await manager.stop();
      options.leaderElection?.onLost?.();
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
      stopping = true;
      await manager.stop();
      // Released only after the last write, so the next leader never overlaps with this one.
      await elector?.stop();
      await registry.close();
      await workers.close();
      await compiler.close();
      client.close();
      await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
      logger.info('host stopped');
    },
  };
}
