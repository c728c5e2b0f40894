// The Node environment of the host's container, for benches that start the host CLI as a process: what a
// pod runs, not what a clone's `node host/src/cli/main.ts run` does.
//
// - WASM_RECONCILER_BUNDLE: `run` loads the host bundled (host/tools/bundle.ts), as the image does.
// - NODE_COMPILE_CACHE: a compile cache filled before the first start, by the same imports as the image
//   build (deploy/Dockerfile). Without it the CLI's entry file is type-stripped at start, which loads Node's
//   TypeScript stripper for the life of the process (about 30 MB RSS, docs/benchmarks.md#footprint).
// - NODE_OPTIONS: the V8 heap settings of deploy/host/deployment.yaml.
// - NODE_ENV=production, as the image sets it; and no NODE_EXTRA_CA_CERTS, which neither the image nor the
//   Deployment sets: a developer machine's (this one names the system CA bundle) would make the host's first
//   TLS context parse every certificate in it, about 1 MiB of RSS a pod does not pay (a bare https client
//   here: 56.3 MiB without, 57.2 MiB with).

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { load } from 'js-yaml';

const ROOT = path.join(import.meta.dirname, '..', '..');

/** The Dockerfile's fill step: the bundle's entries (the worker entries throw outside a worker). */
function fillScript(bundleDir: string): string {
  const url = (file: string) => JSON.stringify(pathToFileURL(path.join(bundleDir, file)).href);
  return `await import(${url('run.mjs')}); for (const f of [${url('guest-worker.mjs')}, ${url('compile-worker.mjs')}]) await import(f).catch(() => {});`;
}

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

/** An empty compile cache, a bundle directory and the environment that uses both; fill() before starting the host. */
export function imageEnv(): ImageEnv {
  const dir = mkdtempSync(path.join(tmpdir(), 'wr-bench-compile-cache-'));
  // Below the repo, where the bundle's external dependencies resolve from node_modules.
  mkdirSync(path.join(ROOT, 'host/.tmp'), { recursive: true });
  const bundleDir = mkdtempSync(path.join(ROOT, 'host/.tmp/bench-bundle-'));
  const { NODE_EXTRA_CA_CERTS: _, ...inherited } = process.env;
  const env = {
    ...inherited,
    NODE_ENV: 'production',
    NODE_COMPILE_CACHE: dir,
    NODE_OPTIONS: deploymentNodeOptions(),
    WASM_RECONCILER_BUNDLE: bundleDir,
  };
  const run = (args: string[]) => execFileSync(process.execPath, args, { cwd: ROOT, env, stdio: 'ignore' });
  return {
    env,
    fill() {
      run([path.join(ROOT, 'host/tools/bundle.ts'), '--out', bundleDir]);
      run(['--input-type=module', '-e', fillScript(bundleDir)]);
      run([path.join(ROOT, 'host/src/cli/main.ts'), '--help']);
    },
    dispose: () => {
      rmSync(dir, { recursive: true, force: true });
      rmSync(bundleDir, { recursive: true, force: true });
    },
  };
}
