// Generates a seeded corpus of random valid modules with binaryen's translate-to-fuzz (`wasm-opt -ttf`),
// cached by binaryen version and seed outside the repo, so only the first run pays for generation.

import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, homedir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const BINARYEN = path.dirname(require.resolve('binaryen/package.json'));
const WASM_OPT = path.join(BINARYEN, 'bin', 'wasm-opt');
export const BINARYEN_VERSION: string = (require('binaryen/package.json') as { version: string }).version;

/**
 * Exactly the loader's feature list (docs/abi/v1.md, Module shape), so what ttf emits is what a guest
 * may use: no atomics, tail calls, GC, memory64, multi-memory or the rest.
 */
export const TTF_FEATURES = [
  '--mvp-features',
  '--enable-mutable-globals',
  '--enable-sign-ext',
  '--enable-nontrapping-float-to-int',
  '--enable-bulk-memory',
  '--enable-bulk-memory-opt',
  '--enable-multivalue',
  '--enable-reference-types',
  '--enable-simd',
  '--enable-exception-handling',
];

/** Random input bytes per module: ttf turns them into code, so more bytes make bigger modules. */
const INPUT_BYTES = 8192;

function cacheDir(): string {
  return path.join(
    process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'),
    'wasm-reconciler',
    'fuzz',
    BINARYEN_VERSION,
  );
}

/** mulberry32: the same bytes for a seed on every machine. */
function seededBytes(seed: number, n: number): Uint8Array {
  let state = seed | 0;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return out;
}

/** The module for `seed`, generated once (~0.5 s) and then read from the cache. */
export async function ttfModule(seed: number): Promise<Uint8Array> {
  const dir = cacheDir();
  const file = path.join(dir, `${seed}.wasm`);
  try {
    return await readFile(file);
  } catch {
    // Not cached yet.
  }
  await mkdir(dir, { recursive: true });
  const input = path.join(dir, `${seed}.${process.pid}.in`);
  const output = path.join(dir, `${seed}.${process.pid}.wasm`);
  await writeFile(input, seededBytes(seed, INPUT_BYTES));
  await run(process.execPath, [WASM_OPT, '-ttf', input, '-o', output, ...TTF_FEATURES]);
  await rename(output, file); // atomic: a concurrent reader sees the whole module or none
  await unlink(input);
  return readFile(file);
}

/** Modules for seeds first..first+count-1, generated a few at a time in child processes. */
export async function ttfCorpus(first: number, count: number): Promise<Array<{ seed: number; bytes: Uint8Array }>> {
  const out: Array<{ seed: number; bytes: Uint8Array }> = new Array(count);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) out[i] = { seed: first + i, bytes: await ttfModule(first + i) };
  };
  // Each generation is mostly wasm-opt starting up (a 10 MB script), so two per core keep the cores busy.
  await Promise.all(Array.from({ length: 2 * availableParallelism() }, worker));
  return out;
}
