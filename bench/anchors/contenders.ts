// The three controllers the anchors bench runs side by side, each as a process of its own.
//
// controller-runtime: the Go anchor (bench/anchors/controller-runtime), one process per namespace.
// wasm: the host CLI serving the configmap-app module through WasmReconcilers, one per namespace.
// native: the host's engine with the native TypeScript App reconciler (bench/anchors/native-host.ts).

import { join } from 'node:path';
import type { KubeObject } from '../../host/src/abi/types.ts';
import type { KubeClient } from '../../host/src/kube/index.ts';
import { type GuardedProcess, spawnGuarded } from '../../test/controlplane/process.ts';
import { APP_API_VERSION, APP_KIND } from '../../test/fixtures/native/app-reconciler.ts';
import { customSection } from '../../test/support/wasm-bytes.ts';
import type { ImageEnv } from '../support/image-env.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const WR_API_VERSION = 'wasmreconciler.dev/v1alpha1';
const RUN_LABEL = 'bench.wasmreconciler.dev/run';

export type ContenderId = 'controller-runtime' | 'wasm' | 'native';

export interface Setting {
  readonly client: KubeClient;
  readonly kubeconfigPath: string;
  /** Where each process writes its log. */
  readonly logDir: string;
  /** The controller-runtime anchor's binary. */
  readonly goBinary: string;
  /** The configmap-app v1 module. */
  readonly module: Uint8Array;
  /** The Wasm host's content-addressed module cache. */
  readonly moduleCacheDir: string;
  /** The Wasm host's Node environment: the image's compile cache and the Deployment's NODE_OPTIONS. */
  readonly image: ImageEnv;
}

export interface Contender {
  readonly id: ContenderId;
  /**
   * Starts what reconciles the Apps of `namespaces` with `workers` concurrent reconciles: the processes
   * (one for the host, one per namespace for controller-runtime), after any resource they read at start.
   */
  start(setting: Setting, namespaces: readonly string[], workers: number, run: string): Promise<GuardedProcess[]>;
  /** What must be ready before a start, done outside what is timed. */
  prepare?(setting: Setting): void;
}

export const controllerRuntime: Contender = {
  id: 'controller-runtime',
  async start(setting, namespaces, workers) {
    return namespaces.map((namespace) =>
      spawnGuarded({
        name: `controller-runtime ${namespace}`,
        command: setting.goBinary,
        args: [
          `--namespace=${namespace}`,
          `--workers=${workers}`,
          // Random loopback ports: as many processes as namespaces run at once.
          '--metrics-bind-address=127.0.0.1:0',
          '--health-probe-bind-address=127.0.0.1:0',
        ],
        env: { ...process.env, KUBECONFIG: setting.kubeconfigPath },
        logPath: join(setting.logDir, `${namespace}.log`),
      }),
    );
  },
};

/**
 * The host CLI as its pod runs it (bench/support/image-env.ts), compile cache filled before each start.
 * Each WasmReconciler lives in its Apps' namespace (a namespaced one may reach no other) and carries the
 * run's label: the host serves only those (--watch-label-selector), not the ones earlier runs left behind.
 */
export const wasmHost: Contender = {
  id: 'wasm',
  prepare(setting) {
    setting.image.fill();
  },
  async start(setting, namespaces, workers, run) {
    const wasmReconcilers = await setting.client.resource(WR_API_VERSION, 'WasmReconciler');
    for (const [i, namespace] of namespaces.entries()) {
      // Each module its own bytes (a custom section naming it): N controllers are N modules, not one shared.
      const bytes = namespaces.length === 1 ? setting.module : distinct(setting.module, i);
      await setting.client.create(wasmReconcilers, wasmReconciler(namespace, run, bytes, workers));
    }
    return [
      spawnGuarded({
        name: `wasm host ${run}`,
        command: process.execPath,
        args: [
          join(ROOT, 'host/src/cli/main.ts'),
          'run',
          `--kubeconfig=${setting.kubeconfigPath}`,
          // One namespace: the host watches WasmReconcilers there only; several: all namespaces.
          ...(namespaces.length === 1 ? [`--namespace=${namespaces[0]}`] : []),
          `--watch-label-selector=${RUN_LABEL}=${run}`,
          `--module-cache-dir=${setting.moduleCacheDir}`,
          '--metrics-port=0',
          '--log-level=warn',
          '--log-format=json',
        ],
        env: setting.image.env,
        logPath: join(setting.logDir, `${run}-wasm.log`),
      }),
    ];
  },
};

/** A bench harness, not a shipped entry point: run as a clone would, its sources type-stripped at start. */
export const nativeHost: Contender = {
  id: 'native',
  async start(setting, namespaces, workers, run) {
    if (namespaces.length !== 1) throw new Error('the native host serves one namespace');
    return [
      spawnGuarded({
        name: `native host ${run}`,
        command: process.execPath,
        args: [
          join(import.meta.dirname, 'native-host.ts'),
          `--kubeconfig=${setting.kubeconfigPath}`,
          `--namespace=${namespaces[0]}`,
          `--workers=${workers}`,
        ],
        logPath: join(setting.logDir, `${run}-native.log`),
      }),
    ];
  },
};

export const CONTENDERS: readonly Contender[] = [controllerRuntime, wasmHost, nativeHost];

function distinct(module: Uint8Array, index: number): Uint8Array {
  return Buffer.concat([module, customSection('wr-bench-module', `module ${index}`)]);
}

function wasmReconciler(namespace: string, run: string, bytes: Uint8Array, workers: number): KubeObject {
  return {
    apiVersion: WR_API_VERSION,
    kind: 'WasmReconciler',
    metadata: { name: 'apps', namespace, labels: { [RUN_LABEL]: run } },
    spec: {
      for: { apiVersion: APP_API_VERSION, kind: APP_KIND, namespaces: [namespace] },
      owns: [
        { apiVersion: 'v1', kind: 'ConfigMap' },
        { apiVersion: 'apps/v1', kind: 'Deployment' },
      ],
      module: { inline: Buffer.from(bytes).toString('base64') },
      maxConcurrentReconciles: workers,
    },
  };
}
