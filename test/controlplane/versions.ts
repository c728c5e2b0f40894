// What the local control plane can run (Kubernetes minors, datastores) and the versions pinned for each,
// read from the Go wrapper modules that build them.
//
// go.mod is the single source of truth: bumping a version there (and running `go mod tidy`) is all it
// takes for the harness to build and cache the new binaries. A Kubernetes minor is supported when
// go/kubernetes-<minor>/ exists; the newest one is the default.

import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ControlPlaneError } from './errors.ts';

export const GO_MODULES_DIR = fileURLToPath(new URL('./go/', import.meta.url));
export const ETCD_MODULE_DIR = `${GO_MODULES_DIR}etcd/`;
export const KINE_MODULE_DIR = `${GO_MODULES_DIR}kine/`;
/** kustomize is no control-plane component: the tests render deploy/'s kustomizations with it. */
export const KUSTOMIZE_MODULE_DIR = `${GO_MODULES_DIR}kustomize/`;

/**
 * The store behind kube-apiserver: etcd, as kubeadm and managed clusters run it, or kine over SQLite, as a
 * single-node k3s runs it (kine serves the etcd v3 API from a SQL table).
 */
export type Datastore = 'etcd' | 'kine';
export const DATASTORES: readonly Datastore[] = ['etcd', 'kine'];

/** What one control plane runs. */
export interface ControlPlaneFlavour {
  /** A Kubernetes minor with a wrapper module, e.g. `1.37`. */
  readonly kubernetes: string;
  readonly datastore: Datastore;
}

/** Environment variables that pick the flavour of control planes started without an explicit one. */
export const DATASTORE_ENV = 'WR_TEST_DATASTORE';
export const KUBERNETES_ENV = 'WR_TEST_KUBERNETES';

export interface PinnedVersions {
  /** Kubernetes release, e.g. `v1.37.2`. */
  readonly kubernetes: string;
  readonly datastore: Datastore;
  /** The datastore's release, e.g. `v3.7.3` (etcd) or `v0.17.5` (kine). */
  readonly datastoreVersion: string;
  /** kustomize release, e.g. `v5.7.1`. */
  readonly kustomize: string;
}

export function kubernetesModuleDir(minor: string): string {
  return `${GO_MODULES_DIR}kubernetes-${minor}/`;
}

/** The Kubernetes minors that have a wrapper module, oldest first. */
export function kubernetesMinors(): string[] {
  return readdirSync(GO_MODULES_DIR)
    .map((entry) => /^kubernetes-(\d+\.\d+)$/.exec(entry)?.[1])
    .filter((minor) => minor !== undefined)
    .sort((a, b) => compareMinors(a, b));
}

export function defaultFlavour(): ControlPlaneFlavour {
  const minors = kubernetesMinors();
  const newest = minors.at(-1);
  if (newest === undefined) {
    throw new Error(`${GO_MODULES_DIR} has no kubernetes-<minor> wrapper module; the control-plane harness is broken`);
  }
  return { kubernetes: newest, datastore: 'etcd' };
}

/**
 * The flavour asked for: explicit choices first, then $WR_TEST_KUBERNETES and $WR_TEST_DATASTORE (how a
 * test run hands its flavour to control planes that tests start themselves), then the default.
 */
export function resolveFlavour(
  choice: Partial<ControlPlaneFlavour> = {},
  env: NodeJS.ProcessEnv = process.env,
): ControlPlaneFlavour {
  const fallback = defaultFlavour();
  const kubernetes = choice.kubernetes ?? nonEmpty(env[KUBERNETES_ENV]) ?? fallback.kubernetes;
  const datastore = choice.datastore ?? nonEmpty(env[DATASTORE_ENV]) ?? fallback.datastore;
  const minors = kubernetesMinors();
  if (!minors.includes(kubernetes)) {
    throw new ControlPlaneError(
      'CP_INVALID',
      `Kubernetes ${kubernetes} is not one the local control plane builds (${KUBERNETES_ENV} or --kubernetes): ` +
        `choose one of ${minors.join(', ')} (test/controlplane/go/kubernetes-<minor>/).`,
    );
  }
  if (!(DATASTORES as readonly string[]).includes(datastore)) {
    throw new ControlPlaneError(
      'CP_INVALID',
      `"${datastore}" is no datastore of the local control plane (${DATASTORE_ENV} or --datastore): ` +
        `choose one of ${DATASTORES.join(', ')}.`,
    );
  }
  return { kubernetes, datastore: datastore as Datastore };
}

export function pinnedVersions(flavour: ControlPlaneFlavour = defaultFlavour()): PinnedVersions {
  return {
    kubernetes: requiredVersion(kubernetesModuleDir(flavour.kubernetes), 'k8s.io/kubernetes'),
    datastore: flavour.datastore,
    datastoreVersion:
      flavour.datastore === 'etcd'
        ? requiredVersion(ETCD_MODULE_DIR, 'go.etcd.io/etcd/server/v3')
        : requiredVersion(KINE_MODULE_DIR, 'github.com/k3s-io/kine'),
    kustomize: requiredVersion(KUSTOMIZE_MODULE_DIR, 'sigs.k8s.io/kustomize/kustomize/v5'),
  };
}

/** "Kubernetes v1.37.2, etcd v3.7.3" or "Kubernetes v1.37.2, kine v0.17.5 (SQLite)". */
export function describeVersions(versions: PinnedVersions): string {
  const store =
    versions.datastore === 'kine' ? `kine ${versions.datastoreVersion} (SQLite)` : `etcd ${versions.datastoreVersion}`;
  return `Kubernetes ${versions.kubernetes}, ${store}`;
}

function requiredVersion(moduleDir: string, modulePath: string): string {
  const goMod = readFileSync(`${moduleDir}go.mod`, 'utf8');
  const escaped = modulePath.replaceAll('.', '\\.').replaceAll('/', '\\/');
  const match = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\d+\\.\\d+\\.\\d+\\S*)`, 'm').exec(goMod);
  if (match?.[1] === undefined) {
    throw new Error(`${moduleDir}go.mod does not require ${modulePath}; the control-plane wrapper module is broken`);
  }
  return match[1];
}

function compareMinors(a: string, b: string): number {
  const [amaj = 0, amin = 0] = a.split('.').map(Number);
  const [bmaj = 0, bmin = 0] = b.split('.').map(Number);
  return amaj - bmaj || amin - bmin;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
