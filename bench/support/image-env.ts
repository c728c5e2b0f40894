// The Node environment of the host's container, for benches that start the host CLI as a process: what a
// pod runs, not what a clone's `node host/src/cli/main.ts run` does.
//
// - NODE_COMPILE_CACHE: a compile cache filled before the first start, by the same imports as the image
//   build (deploy/Dockerfile). Without it the entry file is type-stripped at start, which loads Node's
//   TypeScript stripper for the life of the process (about 30 MB RSS, docs/benchmarks.md#footprint).
// - NODE_OPTIONS: the V8 heap settings of deploy/host/deployment.yaml.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { load } from 'js-yaml';

const ROOT = path.join(import.meta.dirname, '..', '..');

/** The Dockerfile's fill step: the host's sources and both worker entries (which throw outside a worker). */
const FILL_SCRIPT =
  "await import('./host/src/index.ts'); for (const f of ['guest-worker', 'compile-worker']) await import('./host/src/runtime/workers/' + f + '.ts').catch(() => {});";

/** The NODE_OPTIONS of the host container in deploy/host/deployment.yaml. */
export function deploymentNodeOptions(): string {
  const deployment = load(readFileSync(path.join(ROOT, 'deploy/host/deployment.yaml'), 'utf8')) as {
    spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
  };
  const value = deployment.spec.template.spec.containers[0]?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
  if (value === undefined) throw new Error('deploy/host/deployment.yaml sets no NODE_OPTIONS');
  return value;
}

export interface ImageEnv {
  readonly env: NodeJS.ProcessEnv;
  /**
   * Brings the compile cache up to date with the working tree, as an image build would: call it before
   * each start, outside what is timed. A source edited since the last fill would otherwise miss the cache
   * and make that start load the stripper (a shared working tree changes under a long bench).
   */
  fill(): void;
  /** Removes the compile cache. */
  dispose(): void;
}

/** An empty compile cache and the environment that uses it; fill() before starting the host. */
export function imageEnv(): ImageEnv {
  const dir = mkdtempSync(path.join(tmpdir(), 'wr-bench-compile-cache-'));
  const env = { ...process.env, NODE_COMPILE_CACHE: dir, NODE_OPTIONS: deploymentNodeOptions() };
  const run = (args: string[]) => execFileSync(process.execPath, args, { cwd: ROOT, env, stdio: 'ignore' });
  return {
    env,
    fill() {
      run(['--input-type=module', '-e', FILL_SCRIPT]);
      run([path.join(ROOT, 'host/src/cli/main.ts'), '--help']);
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
