// Compiles an AssemblyScript guest into a host-ABI-v1 module with the SDK's settings, and checks the result.
//
// Wraps asc's JS API (no shell-out), caches outputs keyed by a hash of every input, and refuses to
// write a module the host would refuse to load (foreign imports, missing exports, no ABI marker).

import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';
import { AsBuildError } from './errors.ts';

export type { AsBuildErrorCode } from './errors.ts';
export { AsBuildError } from './errors.ts';

/**
 * The runtime every guest gets unless told otherwise. `minimal` (stop-the-world mark and sweep, run by
 * the SDK after each call) gives 25-35 % smaller modules than `incremental` and faster output-building
 * calls, while still freeing each call's garbage (`stub` never frees: a long-lived instance would grow
 * until it hit the memory cap). Numbers: guest-sdk/assemblyscript/README.md.
 */
export const DEFAULT_RUNTIME = 'minimal';
export const RUNTIMES = ['minimal', 'incremental', 'stub'] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** The host's default memory cap (DEFAULT_LIMITS.memoryPages): a module declaring more would be refused. */
export const DEFAULT_MAXIMUM_MEMORY_PAGES = 256;

export interface BuildOptions {
  /** The module's entry file (it re-exports the SDK's `assembly/exports`). */
  entry: string;
  /** Output directory; default `build/` next to the entry's `assembly/` folder (or the entry's folder). */
  outDir?: string;
  /** Output name without `.wasm`; default the entry's file name. */
  name?: string;
  runtime?: Runtime;
  /**
   * `speed` is -O3; `size` trades some speed for a smaller binary (-O3z); `none` (-O0) skips Binaryen's
   * passes, which are most of a warm compile's time: the same behaviour in a larger module that burns more
   * fuel per call, for watch-mode rebuilds (`wasm-reconciler dev`), never for what ships.
   */
  optimize?: 'speed' | 'size' | 'none';
  /** Maximum memory in 64 KiB pages, at most the host cap; default 256 (16 MiB). */
  maximumMemoryPages?: number;
  /** Keep function names in the binary (readable trap stacks, larger module). */
  debug?: boolean;
  /** Reuse a previous output when no input changed; default true. */
  cache?: boolean;
}

export interface BuildResult {
  wasmPath: string;
  bytes: number;
  sha256: string;
  /** True when an earlier identical build was reused. */
  cached: boolean;
  durationMs: number;
  runtime: Runtime;
}

interface Manifest {
  inputsSha256: string;
  sha256: string;
  bytes: number;
  runtime: Runtime;
}

const SDK_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SDK_ASSEMBLY = join(SDK_ROOT, 'assembly');
const ABORT_ALIAS = 'abort=~lib/@wasm-reconciler/sdk-assemblyscript/assembly/abort/wrAbort';

/** Import names and required exports, read from the SDK's ABI module so the two never disagree. */
export async function readGuestAbi(): Promise<{ namespace: string; imports: Set<string>; exports: string[] }> {
  const source = await readFile(join(SDK_ASSEMBLY, 'abi.ts'), 'utf8');
  const imports = new Set<string>();
  let namespace = '';
  for (const m of source.matchAll(/@external\("([^"]+)", "([^"]+)"\)/g)) {
    namespace = m[1] ?? '';
    imports.add(m[2] ?? '');
  }
  const constant = (name: string): string => {
    const m = source.match(new RegExp(`export const ${name} = "([^"]+)";`));
    if (!m?.[1]) throw new AsBuildError('WR_BUILD_SDK', `SDK abi.ts has no ${name}`);
    return m[1];
  };
  const exports = ['EXPORT_MEMORY', 'EXPORT_ALLOC', 'EXPORT_INIT', 'EXPORT_RECONCILE', 'ABI_MARKER'].map(constant);
  if (namespace !== constant('IMPORT_NAMESPACE')) {
    throw new AsBuildError('WR_BUILD_SDK', 'SDK abi.ts declares imports outside IMPORT_NAMESPACE');
  }
  return { namespace, imports, exports };
}

export async function buildModule(options: BuildOptions): Promise<BuildResult> {
  const started = performance.now();
  const entry = resolve(options.entry);
  if (!(await isFile(entry))) throw new AsBuildError('WR_BUILD_ENTRY', `entry file not found: ${entry}`);
  const runtime = options.runtime ?? DEFAULT_RUNTIME;
  if (!RUNTIMES.includes(runtime)) {
    throw new AsBuildError('WR_BUILD_OPTIONS', `runtime must be one of ${RUNTIMES.join(', ')}, got ${runtime}`);
  }
  const maximumMemoryPages = options.maximumMemoryPages ?? DEFAULT_MAXIMUM_MEMORY_PAGES;
  if (!Number.isInteger(maximumMemoryPages) || maximumMemoryPages < 1 || maximumMemoryPages > 65536) {
    throw new AsBuildError('WR_BUILD_OPTIONS', `maximumMemoryPages must be an integer in 1..65536`);
  }
  const entryDir = dirname(entry);
  const projectDir = basename(entryDir) === 'assembly' ? dirname(entryDir) : entryDir;
  const outDir = resolve(options.outDir ?? join(projectDir, 'build'));
  const name = options.name ?? basename(entry, extname(entry));
  const wasmPath = join(outDir, `${name}.wasm`);
  const manifestPath = join(outDir, `${name}.build.json`);

  // Paths relative to the project keep the cache key independent of the caller's working directory.
  const args = [
    relative(projectDir, entry),
    '--outFile',
    '<out>',
    '--optimizeLevel',
    options.optimize === 'none' ? '0' : '3',
    '--shrinkLevel',
    options.optimize === 'size' ? '2' : '0',
    '--runtime',
    runtime,
    '--maximumMemory',
    String(maximumMemoryPages),
    '--use',
    ABORT_ALIAS,
    ...(options.debug ? ['--debug'] : []),
  ];
  const inputsSha256 = await hashInputs([entryDir, SDK_ASSEMBLY], JSON.stringify([asc.version, args]));

  if (options.cache !== false) {
    const cached = await readManifest(manifestPath);
    if (cached?.inputsSha256 === inputsSha256) {
      const bytes = await readFile(wasmPath).catch(() => null);
      if (bytes && sha256(bytes) === cached.sha256) {
        return { wasmPath, bytes: bytes.length, sha256: cached.sha256, cached: true, durationMs: 0, runtime };
      }
    }
  }

  let binary: Uint8Array | null = null;
  const stderr = asc.createMemoryStream();
  const result = await asc.main([...args.map((a) => (a === '<out>' ? `${name}.wasm` : a)), '--baseDir', projectDir], {
    stdout: asc.createMemoryStream(),
    stderr,
    writeFile: (file, contents) => {
      if (file.endsWith('.wasm') && typeof contents !== 'string') binary = contents;
    },
  });
  if (result.error || binary === null) {
    throw new AsBuildError('WR_BUILD_COMPILE', `asc failed for ${entry}:\n${stderr.toString().trim()}`, {
      cause: result.error ?? undefined,
    });
  }
  const bytes: Uint8Array = binary;
  await checkModule(bytes, entry);

  await mkdir(outDir, { recursive: true });
  const digest = sha256(bytes);
  // Write then rename: parallel test processes may build the same module at the same time.
  const tmp = `${wasmPath}.${process.pid}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, wasmPath);
  const manifest: Manifest = { inputsSha256, sha256: digest, bytes: bytes.length, runtime };
  const tmpManifest = `${manifestPath}.${process.pid}.tmp`;
  await writeFile(tmpManifest, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(tmpManifest, manifestPath);
  return {
    wasmPath,
    bytes: bytes.length,
    sha256: digest,
    cached: false,
    durationMs: performance.now() - started,
    runtime,
  };
}

/** Explains imports the host would refuse, naming the AssemblyScript feature that pulled them in. */
const IMPORT_HINTS: Record<string, string> = {
  'env.abort': 'the abort alias was not applied (entry must re-export the SDK assembly/exports)',
  'env.seed': 'Math.random is not available: reconcile output must be a function of the input',
  'env.trace': 'trace() is not available: use log.debug from the SDK',
  'env.Date.now': 'Date.now() is not available: use nowMs() from the SDK',
  'env.console.log': 'console is not available: use log from the SDK',
};

async function checkModule(bytes: Uint8Array, entry: string): Promise<void> {
  const abi = await readGuestAbi();
  const module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  const bad = WebAssembly.Module.imports(module).filter((i) => i.module !== abi.namespace || !abi.imports.has(i.name));
  if (bad.length > 0) {
    const lines = bad.map((i) => {
      const key = `${i.module}.${i.name}`;
      return `  ${key}: ${IMPORT_HINTS[key] ?? `only "${abi.namespace}" imports declared by the SDK are allowed`}`;
    });
    throw new AsBuildError(
      'WR_BUILD_FORBIDDEN_IMPORT',
      `${entry} imports what the host does not provide:\n${lines.join('\n')}`,
    );
  }
  const present = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const missing = abi.exports.filter((e) => !present.has(e));
  if (missing.length > 0) {
    throw new AsBuildError(
      'WR_BUILD_MISSING_EXPORT',
      `${entry} lacks ${missing.join(', ')}: add export * from "@wasm-reconciler/sdk-assemblyscript/assembly/exports"`,
    );
  }
}

async function hashInputs(dirs: string[], salt: string): Promise<string> {
  const hash = createHash('sha256').update(salt);
  for (const dir of dirs) {
    for (const file of await listSources(dir)) {
      hash.update(`\0${relative(dir, file)}\0`);
      hash.update(await readFile(file));
    }
  }
  return hash.digest('hex');
}

async function listSources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'build' && !entry.name.startsWith('.')) {
        out.push(...(await listSources(path)));
      }
    } else if (entry.name.endsWith('.ts')) {
      out.push(path);
    }
  }
  return out.sort();
}

async function readManifest(path: string): Promise<Manifest | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Manifest;
  } catch {
    return null;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
