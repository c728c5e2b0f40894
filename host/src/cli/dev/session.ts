// The watch loop of `dev`: a change under the project's assembly/ is rebuilt in this process and pushed
// into its WasmReconciler by push's code path; a build that fails is shown and nothing is pushed, so the
// version already serving keeps serving.
//
// Rebuilds compile in-process with asc kept warm (the SDK's buildModule), unoptimised (-O0): Binaryen's
// passes are most of a warm -O3 compile (docs/benchmarks.md, dev-loop). AssemblyScript has no incremental
// compile, so each rebuild is a whole program; warm, that is about a tenth of the cold first build.

import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { KubeObject } from '../../abi/types.ts';
import { isWrError } from '../../errors.ts';
import type { KubeClient } from '../../kube/index.ts';
import { PUSH_FIELD_MANAGER, pushModuleFile } from '../commands/push.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import type { DevProject } from './project.ts';
import { type ReconcilerStatus, streamReconciler } from './stream.ts';

/** Field manager of what dev writes itself (a WasmReconciler it creates); modules go through push's. */
export const DEV_FIELD_MANAGER = 'wasm-reconciler-dev';

/** What the loop reports, in order, for each change (and once at start). */
export type DevEvent =
  | { readonly type: 'change'; readonly path: string; readonly at: number }
  | {
      readonly type: 'built';
      readonly digest: string;
      readonly bytes: number;
      readonly buildMs: number;
      readonly cached: boolean;
    }
  | { readonly type: 'build-failed'; readonly message: string; readonly buildMs: number }
  | { readonly type: 'pushed'; readonly digest: string; readonly pushMs: number }
  | { readonly type: 'push-failed'; readonly message: string }
  | { readonly type: 'status'; readonly status: ReconcilerStatus; readonly line: string }
  | { readonly type: 'event'; readonly line: string; readonly event: KubeObject };

export interface DevSessionOptions {
  readonly project: DevProject;
  readonly client: KubeClient;
  readonly namespace: string;
  readonly onEvent: (e: DevEvent) => void;
  /** Debounce between a file event and the rebuild (editors write a file in several steps). */
  readonly debounceMs?: number;
}

export interface DevSession {
  /** The digest pushed last (the one that should be serving). */
  readonly digest: string | undefined;
  stop(): Promise<void>;
}

type BuildModule = (options: { entry: string; outDir: string; name: string; optimize: 'none' }) => Promise<{
  wasmPath: string;
  bytes: number;
  sha256: string;
  cached: boolean;
}>;

/** The project's own SDK build tool (the version it depends on), else the one beside this CLI. */
async function loadBuilder(projectDir: string): Promise<BuildModule> {
  const specifier = '@wasm-reconciler/sdk-assemblyscript/tools/build';
  let url: string;
  try {
    url = pathToFileURL(createRequire(join(projectDir, 'package.json')).resolve(specifier)).href;
  } catch {
    try {
      url = import.meta.resolve(specifier);
    } catch {
      throw new CliError(
        EXIT.INPUT,
        `the project has no ${specifier}`,
        'run `npm install` in the project first (it depends on @wasm-reconciler/sdk-assemblyscript)',
      );
    }
  }
  return ((await import(url)) as { buildModule: BuildModule }).buildModule;
}

/**
 * The WasmReconciler's current spec.module, creating the WasmReconciler from the project's manifest when the
 * cluster has none, with the first build inline (through the manifest's ConfigMap when too large for that).
 * It is created under dev's own field manager: push's, which applies only spec.module, would drop every
 * other field it owned; push's forced applies then take over the module alone.
 */
async function ensureReconciler(
  client: KubeClient,
  project: DevProject,
  namespace: string,
  wasmPath: string,
): Promise<Record<string, unknown>> {
  const res = await client.resource('wasmreconciler.dev/v1alpha1', 'WasmReconciler');
  const name = project.reconciler.metadata.name;
  try {
    return ((await client.get(res, namespace, name)).spec as { module?: Record<string, unknown> }).module ?? {};
  } catch (err) {
    if (!isWrError(err, 'WR_KUBE_NOT_FOUND')) throw err;
  }
  const spec = (project.reconciler.spec ?? {}) as Record<string, unknown>;
  const written = (spec.module ?? {}) as Record<string, unknown>;
  const metadata = { name, namespace };
  const [{ readFile }, { sha256Digest }] = await Promise.all([import('node:fs/promises'), import('../../digest.ts')]);
  const bytes = await readFile(wasmPath);
  const { INLINE_MAX_BASE64_CHARS } = await import('../../modules/spec.ts');
  const inline = bytes.toString('base64');
  const configMap = written.configMap as { name?: string; key?: string } | undefined;
  if (inline.length > INLINE_MAX_BASE64_CHARS && configMap?.name !== undefined) {
    // The ConfigMap first, as push writes it, so the new WasmReconciler never reports a missing source.
    await client.apply(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: configMap.name, namespace, labels: { 'app.kubernetes.io/managed-by': PUSH_FIELD_MANAGER } },
        binaryData: { [configMap.key ?? 'module.wasm']: inline },
      },
      { fieldManager: PUSH_FIELD_MANAGER, force: true },
    );
    await client.apply({ ...project.reconciler, metadata } as KubeObject, { fieldManager: DEV_FIELD_MANAGER });
    return written;
  }
  const module = { inline, digest: sha256Digest(bytes) };
  await client.apply({ ...project.reconciler, metadata, spec: { ...spec, module } } as KubeObject, {
    fieldManager: DEV_FIELD_MANAGER,
  });
  return module;
}

export async function startDevSession(o: DevSessionOptions): Promise<DevSession> {
  const { project, client, namespace } = o;
  const [buildModule, { watch }] = await Promise.all([loadBuilder(project.dir), import('chokidar')]);
  const outDir = join(project.dir, '.wasm-reconciler', 'dev');
  const build = async () => {
    const started = performance.now();
    try {
      const r = await buildModule({ entry: project.entry, outDir, name: project.name, optimize: 'none' });
      o.onEvent({
        type: 'built',
        digest: `sha256:${r.sha256}`,
        bytes: r.bytes,
        buildMs: performance.now() - started,
        cached: r.cached,
      });
      return r;
    } catch (err) {
      o.onEvent({ type: 'build-failed', message: (err as Error).message, buildMs: performance.now() - started });
      return undefined;
    }
  };

  const name = project.reconciler.metadata.name;
  const first = await build();
  if (first === undefined) {
    throw new CliError(EXIT.FAILED, 'the first build failed', 'fix the error above; dev starts once the module builds');
  }
  const stop = new AbortController();
  const primaryKind = ((project.reconciler.spec as { for?: { kind?: string } }).for?.kind ?? '') as string;
  const streaming = streamReconciler(
    client,
    { namespace, name, primaryKind, signal: stop.signal },
    {
      onStatus: (status, line) => o.onEvent({ type: 'status', status, line }),
      onEvent: (line, event) => o.onEvent({ type: 'event', line, event }),
      onError: (err) => o.onEvent({ type: 'push-failed', message: `watching ${name}: ${(err as Error).message}` }),
    },
  );

  let module: Record<string, unknown>;
  try {
    module = await ensureReconciler(client, project, namespace, first.wasmPath);
  } catch (err) {
    stop.abort();
    await streaming;
    throw err;
  }
  // Inline is one write the host reads with the spec; a ConfigMap source is two writes, and the host
  // reports the ConfigMap's new content as a digest mismatch until the spec's digest follows. So dev
  // pushes inline, and through the manifest's ConfigMap only a module too large to go inline.
  const { INLINE_MAX_BASE64_CHARS } = await import('../../modules/spec.ts');
  const configMapName = (module.configMap as { name?: string } | undefined)?.name ?? `${name}-module`;
  const viaFor = (bytes: number) => (Math.ceil(bytes / 3) * 4 > INLINE_MAX_BASE64_CHARS ? 'configmap' : 'inline');

  let digest: string | undefined;
  const push = async (wasmPath: string, built: string, bytes: number) => {
    if (built === digest) return;
    const started = performance.now();
    try {
      const result = await pushModuleFile(client, wasmPath, {
        name,
        namespace,
        via: viaFor(bytes),
        configMapName,
        timeoutMs: 0,
        progress: () => {},
      });
      digest = result.digest;
      o.onEvent({ type: 'pushed', digest: result.digest, pushMs: performance.now() - started });
    } catch (err) {
      o.onEvent({ type: 'push-failed', message: (err as Error).message });
    }
  };
  await push(first.wasmPath, `sha256:${first.sha256}`, first.bytes);

  // One rebuild at a time; changes during a build make exactly one more.
  let running: Promise<void> | undefined;
  let again = false;
  const rebuild = async (): Promise<void> => {
    const r = await build();
    if (r !== undefined) await push(r.wasmPath, `sha256:${r.sha256}`, r.bytes);
  };
  const schedule = () => {
    if (running !== undefined) {
      again = true;
      return;
    }
    running = rebuild().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        schedule();
      }
    });
  };
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(join(project.dir, 'assembly'), { ignoreInitial: true });
  watcher.on('all', (_event, path) => {
    o.onEvent({ type: 'change', path, at: performance.now() });
    clearTimeout(timer);
    timer = setTimeout(schedule, o.debounceMs ?? 15);
  });
  await new Promise<void>((resolve, reject) => {
    watcher.once('ready', resolve);
    watcher.once('error', reject);
  });

  return {
    get digest() {
      return digest;
    },
    stop: async () => {
      clearTimeout(timer);
      await watcher.close();
      await running;
      stop.abort();
      await streaming;
    },
  };
}
