// A module project as `dev` finds it: the layout `init` writes (entry, WasmReconciler, CRD, sample).

import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { loadAll } from 'js-yaml';
import type { KubeObject } from '../../abi/types.ts';
import { CliError, EXIT } from '../exit-codes.ts';

export interface DevProject {
  readonly dir: string;
  /** The module name (`--name` of the build script; else the package name). */
  readonly name: string;
  readonly entry: string;
  /** The WasmReconciler manifest, as written. */
  readonly reconciler: KubeObject;
  readonly reconcilerFile: string;
  /** Present when the project has them (init writes both). */
  readonly crdFile: string | undefined;
  readonly samples: readonly KubeObject[];
}

async function optional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function readDevProject(projectDir: string, reconcilerPath?: string): Promise<DevProject> {
  const dir = resolve(projectDir);
  const manifestText = await optional(join(dir, 'package.json'));
  if (manifestText === undefined) {
    throw new CliError(
      EXIT.INPUT,
      `${dir} has no package.json`,
      'give a project directory made by `wasm-reconciler init`',
    );
  }
  const manifest = JSON.parse(manifestText) as { name?: string; scripts?: Record<string, string> };
  const build = manifest.scripts?.build ?? '';
  const name = /--name\s+(\S+)/.exec(build)?.[1] ?? manifest.name?.replace(/^@[^/]+\//, '') ?? basename(dir);
  const entry = join(dir, /(\S+\.ts)\b/.exec(build)?.[1] ?? 'assembly/index.ts');
  if ((await optional(entry)) === undefined) {
    throw new CliError(
      EXIT.INPUT,
      `no module entry ${entry}`,
      'dev builds the entry of the `build` script (assembly/index.ts)',
    );
  }
  const reconcilerFile = resolve(dir, reconcilerPath ?? 'wasmreconciler.yaml');
  const reconcilerText = await optional(reconcilerFile);
  if (reconcilerText === undefined) {
    throw new CliError(
      EXIT.INPUT,
      `no WasmReconciler manifest ${reconcilerFile}`,
      'dev swaps the module of the WasmReconciler in wasmreconciler.yaml; give another with --reconciler <file>',
    );
  }
  const reconciler = loadAll(reconcilerText).find(
    (d): d is KubeObject => typeof d === 'object' && d !== null && (d as { kind?: unknown }).kind === 'WasmReconciler',
  );
  if (reconciler === undefined || typeof reconciler.metadata?.name !== 'string') {
    throw new CliError(
      EXIT.INPUT,
      `${reconcilerFile} holds no WasmReconciler with a metadata.name`,
      'give the manifest init wrote (kind WasmReconciler, wasmreconciler.dev/v1alpha1)',
    );
  }
  const crdFile = join(dir, 'crd.yaml');
  const sampleText = await optional(join(dir, 'sample.yaml'));
  const samples =
    sampleText === undefined
      ? []
      : loadAll(sampleText).filter((d): d is KubeObject => typeof d === 'object' && d !== null && 'kind' in d);
  return {
    dir,
    name,
    entry,
    reconciler,
    reconcilerFile,
    crdFile: (await optional(crdFile)) === undefined ? undefined : crdFile,
    samples,
  };
}

/** The CRD documents of a file, for installing on the local control plane. */
export async function readCrds(file: string): Promise<KubeObject[]> {
  return loadAll(await readFile(file, 'utf8')).filter(
    (d): d is KubeObject =>
      typeof d === 'object' && d !== null && (d as KubeObject).kind === 'CustomResourceDefinition',
  );
}
