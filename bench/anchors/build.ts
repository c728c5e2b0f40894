// Builds the controller-runtime anchor (bench/anchors/controller-runtime) once into a cache outside the repo.
//
// The same recipe as the control plane's (test/controlplane/build.ts, whose steps this reuses): Go modules
// from the module proxy, go.sum enforced (-mod=readonly), CGO off, -trimpath -s -w. The cache key covers the
// Go sources, go.mod, go.sum and the flags, so an edit builds a new entry and nothing else does; a build
// lands in a `.partial` directory renamed into place only once the binary exists.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  acquireBuildLock,
  type BuildStep,
  buildOne,
  defaultCacheRoot,
  findGoToolchain,
  type Progress,
} from '../../test/controlplane/build.ts';

export const CONTROLLER_RUNTIME_DIR = join(import.meta.dirname, 'controller-runtime');
const BINARY = 'configmap-app-controller';
const COMPLETE_MARKER = 'complete.json';

const STEP: BuildStep = { binary: BINARY, moduleDir: CONTROLLER_RUNTIME_DIR, goPackage: '.', ldflags: '-s -w' };

/** Beside the control plane's cache: ~/.cache/wasm-reconciler/anchors unless WR_CONTROLPLANE_CACHE moves both. */
function cacheRoot(): string {
  return join(dirname(defaultCacheRoot()), 'anchors');
}

function cacheKey(): string {
  const hash = createHash('sha256').update(JSON.stringify({ step: { ...STEP, moduleDir: '' }, env: 'CGO_ENABLED=0' }));
  const files = readdirSync(CONTROLLER_RUNTIME_DIR)
    .filter((f) => f.endsWith('.go') || f === 'go.mod' || f === 'go.sum')
    .sort();
  for (const file of files) hash.update(`\0${file}\0`).update(readFileSync(join(CONTROLLER_RUNTIME_DIR, file)));
  return `controller-runtime-${process.platform}-${process.arch}-${hash.digest('hex').slice(0, 12)}`;
}

/** The path of the built controller, building it first when the cache has no complete entry. */
export async function ensureControllerRuntimeBinary(report: (line: string) => void): Promise<string> {
  const root = cacheRoot();
  const key = cacheKey();
  const dir = join(root, key);
  const binary = join(dir, 'bin', BINARY);
  const complete = () => existsSync(join(dir, COMPLETE_MARKER));
  if (complete()) return binary;
  mkdirSync(root, { recursive: true });
  const progress: Progress = { report, inPlace: false };
  const lockPath = join(root, `${key}.lock`);
  if (!(await acquireBuildLock(lockPath, complete, progress))) return binary;
  try {
    if (complete()) return binary;
    const go = await findGoToolchain(process.env.WR_GO || undefined);
    const partial = join(root, `${key}.partial`);
    const logDir = join(root, 'logs', key);
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(join(partial, 'bin'), { recursive: true });
    mkdirSync(logDir, { recursive: true });
    report(`Building the controller-runtime anchor with ${go.version} into ${dir}`);
    const seconds = await buildOne(go.path, STEP, join(partial, 'bin', BINARY), logDir, progress);
    writeFileSync(
      join(partial, COMPLETE_MARKER),
      `${JSON.stringify({ goVersion: go.version, builtAt: new Date().toISOString(), seconds }, null, 2)}\n`,
    );
    renameSync(partial, dir);
    return binary;
  } finally {
    rmSync(lockPath, { force: true });
  }
}
