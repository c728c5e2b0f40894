// `kustomize build` of deploy/'s kustomizations with the kustomize the control-plane build pins and caches.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadAll } from 'js-yaml';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { ensureControlPlaneBinaries } from '../controlplane/build.ts';

export interface KustomizeBuildOptions {
  /**
   * Moves every namespaced object there, renames the Namespace object and points the ServiceAccount
   * subjects of (Cluster)RoleBindings at it, as `kustomize edit set namespace` in a kustomization that
   * includes `dir` would.
   */
  readonly namespace?: string;
}

/** The objects `kustomize build <dir>` renders, in its order (Namespace and CRDs first). */
export async function kustomizeBuild(dir: string, options: KustomizeBuildOptions = {}): Promise<KubeObject[]> {
  const { kustomize } = await ensureControlPlaneBinaries();
  let root = dir;
  let wrapper: string | undefined;
  if (options.namespace !== undefined) {
    wrapper = mkdtempSync(path.join(tmpdir(), 'wr-kustomize-'));
    // kustomize takes only relative paths to other kustomizations.
    writeFileSync(
      path.join(wrapper, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        `namespace: ${options.namespace}`,
        'resources:',
        `  - ${path.relative(wrapper, dir)}`,
        '',
      ].join('\n'),
    );
    root = wrapper;
  }
  try {
    const { stdout } = await promisify(execFile)(kustomize, ['build', root], { maxBuffer: 16 * 1024 * 1024 });
    return (loadAll(stdout) as (KubeObject | null)[]).filter((o): o is KubeObject => o !== null);
  } finally {
    if (wrapper !== undefined) rmSync(wrapper, { recursive: true, force: true });
  }
}
