// The pinned etcd and Kubernetes versions, read from the Go wrapper modules that build them.
//
// go.mod is the single source of truth: bumping a version there (and running `go mod tidy`) is all it
// takes for the harness to build and cache the new binaries.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const GO_MODULES_DIR = fileURLToPath(new URL('./go/', import.meta.url));
export const KUBERNETES_MODULE_DIR = fileURLToPath(new URL('./go/kubernetes/', import.meta.url));
export const ETCD_MODULE_DIR = fileURLToPath(new URL('./go/etcd/', import.meta.url));
/** kustomize is no control-plane component: the tests render deploy/kustomize with it. */
export const KUSTOMIZE_MODULE_DIR = fileURLToPath(new URL('./go/kustomize/', import.meta.url));

export interface PinnedVersions {
  /** Kubernetes release, e.g. `v1.37.2`. */
  readonly kubernetes: string;
  /** etcd release, e.g. `v3.7.3`. */
  readonly etcd: string;
  /** kustomize release, e.g. `v5.7.1`. */
  readonly kustomize: string;
}

export function pinnedVersions(): PinnedVersions {
  return {
    kubernetes: requiredVersion(KUBERNETES_MODULE_DIR, 'k8s.io/kubernetes'),
    etcd: requiredVersion(ETCD_MODULE_DIR, 'go.etcd.io/etcd/server/v3'),
    kustomize: requiredVersion(KUSTOMIZE_MODULE_DIR, 'sigs.k8s.io/kustomize/kustomize/v5'),
  };
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
