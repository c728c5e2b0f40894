// `dev --local`: a local control plane (the test harness's, so from a checkout only) and a host in this process.
//
// The control plane is built from source by test/controlplane (Go toolchain, cached in
// ~/.cache/wasm-reconciler), which is test infrastructure: it does not ship in the host package, so an
// installed CLI says so instead of starting one. The host is the real one (manager/startHost), in-process,
// so its logs and the module's are this process's to show.

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { KubeObject } from '../../abi/types.ts';
import { isWrError } from '../../errors.ts';
import type { KubeClient, KubeConfigView } from '../../kube/index.ts';
import { CliError, EXIT } from '../exit-codes.ts';

const CONTROL_PLANE = new URL('../../../../test/controlplane/index.ts', import.meta.url);
const DEPLOY_CRDS = new URL('../../../../deploy/crd/', import.meta.url);

/** One line the in-process host logged (pino's JSON fields). */
export interface HostLogLine {
  readonly level: number;
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

export interface LocalEnvironment {
  readonly kubeConfig: KubeConfigView;
  readonly kubeconfigPath: string;
  readonly server: string;
  stop(): Promise<void>;
}

interface ControlPlaneModule {
  startControlPlane(options: { report?: (line: string) => void }): Promise<{
    kubeConfig: KubeConfigView;
    kubeconfigPath: string;
    server: string;
    stop(): Promise<void>;
  }>;
}

export function localAvailable(): boolean {
  return existsSync(fileURLToPath(CONTROL_PLANE));
}

export async function startLocalControlPlane(report: (line: string) => void): Promise<LocalEnvironment> {
  if (!localAvailable()) {
    throw new CliError(
      EXIT.UNAVAILABLE,
      '--local needs a wasm-reconciler checkout: the local control plane is test infrastructure, not part of the installed CLI',
      'run dev against a cluster (the current kubeconfig, or --kubeconfig; kind, k3d and k3s work), or run it from a checkout: node <checkout>/host/src/cli/bin.ts dev <project> --local',
    );
  }
  // Imported by URL: tsc must not pull test code into the host package's build.
  const { startControlPlane } = (await import(CONTROL_PLANE.href)) as ControlPlaneModule;
  const cp = await startControlPlane({ report });
  return { kubeConfig: cp.kubeConfig, kubeconfigPath: cp.kubeconfigPath, server: cp.server, stop: () => cp.stop() };
}

/** Server-side applies each CRD and waits until its kind is served. */
export async function installCrds(
  client: KubeClient,
  crds: readonly KubeObject[],
  fieldManager: string,
): Promise<void> {
  for (const crd of crds) await client.apply(crd, { fieldManager, force: true });
  for (const crd of crds) {
    const spec = crd.spec as { group: string; names: { kind: string }; versions: { name: string; served?: boolean }[] };
    const version = spec.versions.find((v) => v.served !== false)?.name ?? spec.versions[0]?.name;
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await client.resource(`${spec.group}/${version}`, spec.names.kind);
        break;
      } catch (err) {
        if (!isWrError(err, 'WR_KUBE_NOT_FOUND') || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

/** The WasmReconciler and ClusterWasmReconciler CRDs of this checkout. */
export async function hostCrds(read: (file: string) => Promise<KubeObject[]>): Promise<KubeObject[]> {
  const dir = fileURLToPath(DEPLOY_CRDS);
  return [...(await read(join(dir, 'wasmreconciler.yaml'))), ...(await read(join(dir, 'clusterwasmreconciler.yaml')))];
}

export interface InProcessHost {
  stop(): Promise<void>;
}

/** The real host, serving `namespace`, its log lines handed to `onLog` instead of stdout. */
export async function startInProcessHost(
  kubeConfig: KubeConfigView,
  namespace: string,
  onLog: (line: HostLogLine) => void,
): Promise<InProcessHost> {
  const [{ default: pino }, { startHost }] = await Promise.all([import('pino'), import('../../manager/index.ts')]);
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text === '') continue;
        const { level, msg, time: _t, pid: _p, hostname: _h, ...fields } = JSON.parse(text) as Record<string, unknown>;
        onLog({ level: Number(level), msg: String(msg ?? ''), fields });
      }
      done();
    },
  });
  const cacheDir = await mkdtemp(join(tmpdir(), 'wr-dev-cache-'));
  const host = await startHost({
    kubeConfig,
    namespace,
    moduleCacheDir: cacheDir,
    logger: pino({ level: 'debug', base: {} }, sink),
  });
  return {
    stop: async () => {
      await host.stop();
      await rm(cacheDir, { recursive: true, force: true });
    },
  };
}
