// The easy path: one Reconciler (native TypeScript) running against a cluster, wired as the host wires each WasmReconciler.
//
// The host's manager adds what only a module needs (a slot, a read port shared with the guest, status on
// the WasmReconciler, hot reconfiguration); everything below it is the same: caches indexed by owner UID,
// the executor writing through the KubeClient port, one ReconcilerController. Defaults are a WasmReconciler
// spec's defaults, so a native reconciler and a module with the same spec behave alike.

import { ReflectorRegistry, type ReflectorRegistryOptions, type RegistryClient } from '../cache/index.ts';
import { type ExecutorClient, kubeExecutorClient } from '../executor/index.ts';
import { type KubeClient, type Logger, silentLogger } from '../kube/index.ts';
import type { QueueObserver } from '../queue/index.ts';
import type { Reconciler } from '../reconcile/types.ts';
import { type ControllerOptions, ReconcilerController, UID_INDEX, uidIndexer } from './controller.ts';
import type { WatchScope } from './scope.ts';

/** A registry with the index every ReconcilerController reads (children by owner UID); share it between controllers. */
export function controllerRegistry(client: RegistryClient, options: ReflectorRegistryOptions = {}): ReflectorRegistry {
  return new ReflectorRegistry(client, { ...options, indexers: { ...options.indexers, [UID_INDEX]: uidIndexer } });
}

export interface StartControllerOptions {
  /** Lists, watches and discovery go through it; so do writes unless `executorClient` is given. */
  readonly client: KubeClient;
  /** Field manager, finalizer and queue label derive from it, as from a WasmReconciler's name. */
  readonly name: string;
  readonly reconciler: Reconciler;
  /** The primary kind (a WasmReconciler's spec.for). */
  readonly for: WatchScope['primary'];
  /** Kinds whose objects the reconciler creates and owns; the executor may write exactly these. Default none. */
  readonly owns?: WatchScope['owns'];
  /** Kinds the reconciler reads beside its children, watched in the primary's namespaces. Default none. */
  readonly related?: WatchScope['related'];
  /** Watch these namespaces only; every namespace when absent or empty. */
  readonly namespaces?: readonly string[];
  /** Default 1. */
  readonly maxConcurrentReconciles?: number;
  /** Every primary is enqueued this often; default 0 (off). */
  readonly resyncPeriodMs?: number;
  /**
   * Caches shared with other controllers of the process (built with controllerRegistry, left open by
   * stop()). Default: a registry of this controller's own, closed by stop().
   */
  readonly registry?: ReflectorRegistry;
  /** The port the executor writes through; default `kubeExecutorClient(client)`. */
  readonly executorClient?: ExecutorClient;
  /** Default: silent. */
  readonly logger?: Logger;
  readonly queueObserver?: QueueObserver;
  readonly onResult?: ControllerOptions['onResult'];
  /** How this controller shares its primaries with other hosts (host/src/sharding); default: it reconciles all. */
  readonly sharding?: ControllerOptions['sharding'];
}

export interface StartedController {
  readonly controller: ReconcilerController;
  readonly registry: ReflectorRegistry;
  /** Stops the workers (in-flight reconciles get `drainMs`), then closes the registry if it is this controller's own. */
  stop(drainMs?: number): Promise<void>;
}

/** Resolves once every watched kind has listed and the workers run; on failure, releases what it took. */
export async function startController(options: StartControllerOptions): Promise<StartedController> {
  const logger = options.logger ?? silentLogger;
  const ownRegistry = options.registry === undefined;
  const registry = options.registry ?? controllerRegistry(options.client, { logger });
  const controller = new ReconcilerController({
    name: options.name,
    registry,
    client: options.executorClient ?? kubeExecutorClient(options.client),
    reconciler: options.reconciler,
    logger,
    ...(options.queueObserver === undefined ? {} : { queueObserver: options.queueObserver }),
    ...(options.onResult === undefined ? {} : { onResult: options.onResult }),
    ...(options.sharding === undefined ? {} : { sharding: options.sharding }),
  });
  const close = async () => {
    if (ownRegistry) await registry.close();
  };
  try {
    await controller.start({
      scope: {
        primary: options.for,
        namespaces: options.namespaces ?? [],
        owns: options.owns ?? [],
        related: options.related ?? [],
      },
      // Read grants scope a guest's host-import reads; native code reads its request, not the caches.
      readGrants: [],
      maxConcurrentReconciles: options.maxConcurrentReconciles ?? 1,
      resyncPeriodMs: options.resyncPeriodMs ?? 0,
    });
  } catch (err) {
    // start() released every cache it had taken; only the registry is left.
    await close();
    throw err;
  }
  return {
    controller,
    registry,
    async stop(drainMs) {
      await controller.stop(drainMs);
      await close();
    },
  };
}
