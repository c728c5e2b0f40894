// Bundles what `wasm-reconciler run` loads into a few ES modules: the image runs these (deploy/Dockerfile sets
// WASM_RECONCILER_BUNDLE), a clone runs the sources.
//
// Why: the host's run path is some 150 source modules. Node resolves, reads, compiles (or looks up in its
// compile cache) and links each one at start, and keeps a module record per file for the life of the
// process; one bundle costs the host about 40 ms less CPU and 10 MB less RSS at start
// (docs/benchmarks.md#footprint).
//
// Dependencies are bundled too (pino, prom-client's files, their own dependencies): some 60 CommonJS files
// resolved through Node's CJS loader at start made its path functions (normalizeString) hot enough for
// TurboFan, and that one optimised function brought ~5 MiB of V8's compiler code into the idle host's RSS;
// bundled, nothing on the run path reaches TurboFan before real load (idle RSS with one module, 4 samples
// each: 85.5 -> 80.3 MiB, median; the node binary's resident text 32.0 -> 26.8 MiB). CommonJS code in an
// ES module bundle calls `require` for Node's built-ins, so each emitted file defines one (the banner).
// One built-in is not Node's: pino's streams require `assert` for a precondition check only, and get
// tools/assert.cjs instead of a module that costs the idle host ~2 MiB (that file says why).
// @kubernetes/client-node stays external: plugin-auth imports it only for an exec or auth-provider user,
// and the image keeps node_modules for it and for the CLI.
//
// Entries: run.mjs (host/src/cli/run-entry.ts) and the two worker threads' entries, with the code they share
// split into chunks. Worker threads are started as `new URL('./<entry>.ts', import.meta.url)`, a string the
// bundler does not follow: each is renamed to the entry emitted beside it, and the build fails if the
// count of such references is not exactly one per worker entry, so a new worker cannot silently point at a
// source file the image runs without.
//
// Usage: node host/tools/bundle.ts [--out <dir>]   (default host/dist; the directory is emptied first)

import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { build, type Plugin } from 'esbuild';

const HOST = path.resolve(import.meta.dirname, '..');

/** Entry name (the emitted file is `<name>.mjs`) -> source. */
export const ENTRIES: Readonly<Record<string, string>> = {
  run: 'src/cli/run-entry.ts',
  'guest-worker': 'src/runtime/workers/guest-worker.ts',
  'compile-worker': 'src/runtime/workers/compile-worker.ts',
};

const WORKERS = Object.keys(ENTRIES).filter((name) => name !== 'run');

/**
 * Points `new URL('./<worker>.ts', import.meta.url)` at the emitted `./<worker>.mjs`; returns the text and
 * how many references were rewritten per worker entry.
 */
export function rewriteWorkerUrls(js: string): { js: string; rewritten: Map<string, number> } {
  const rewritten = new Map<string, number>();
  const out = js.replace(
    /new URL\((["'])\.\/([\w-]+)\.ts\1, import\.meta\.url\)/g,
    (match, quote: string, name: string) => {
      if (!WORKERS.includes(name)) return match;
      rewritten.set(name, (rewritten.get(name) ?? 0) + 1);
      return `new URL(${quote}./${name}.mjs${quote}, import.meta.url)`;
    },
  );
  return { js: out, rewritten };
}

/** The dependencies whose `require('assert')` gets tools/assert.cjs: they only call it (that file's header). */
const ASSERT_SHIMMED = /[\\/]node_modules[\\/](sonic-boom|thread-stream)[\\/]/;

/**
 * Only those importers: anything else that imports assert (host code, a new dependency) gets Node's, and
 * the bundle test, which finds no assert import left in the output, fails until someone decides.
 */
const assertShim: Plugin = {
  name: 'assert-shim',
  setup(build) {
    build.onResolve({ filter: /^(node:)?assert$/ }, (args) =>
      ASSERT_SHIMMED.test(args.importer) ? { path: path.join(import.meta.dirname, 'assert.cjs') } : undefined,
    );
  },
};

export interface BundleResult {
  readonly outDir: string;
  /** Emitted files, relative to outDir, with their sizes in bytes. */
  readonly files: readonly { readonly file: string; readonly bytes: number }[];
}

/** Writes the bundle into `outDir` (emptied first). It must sit below the repo or app root, where node_modules is found. */
export async function bundleHost(outDir: string = path.join(HOST, 'dist')): Promise<BundleResult> {
  const result = await build({
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, src]) => [name, path.join(HOST, src)])),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    external: ['@kubernetes/client-node'],
    plugins: [assertShim],
    banner: {
      js: "import { createRequire as __wrCreateRequire } from 'node:module'; const require = __wrCreateRequire(import.meta.url);",
    },
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    write: false,
    logLevel: 'silent',
  });
  const counts = new Map<string, number>();
  const outputs = result.outputFiles.map((f) => {
    const { js, rewritten } = rewriteWorkerUrls(f.text);
    for (const [name, n] of rewritten) counts.set(name, (counts.get(name) ?? 0) + n);
    return { path: f.path, js };
  });
  for (const name of WORKERS) {
    if (counts.get(name) !== 1) {
      throw new Error(`bundle: expected one reference to the ${name} entry, found ${counts.get(name) ?? 0}`);
    }
  }
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const files = [];
  for (const o of outputs) {
    await writeFile(o.path, o.js);
    files.push({ file: path.relative(outDir, o.path), bytes: Buffer.byteLength(o.js) });
  }
  return { outDir, files };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const { outDir, files } = await bundleHost(values.out === undefined ? undefined : path.resolve(values.out));
  const total = files.reduce((sum, f) => sum + f.bytes, 0);
  process.stdout.write(`${outDir}: ${files.length} files, ${(total / 1024).toFixed(0)} KiB\n`);
}
