// The host's CLI (`wasm-reconciler run`) as a process of its own against the test cluster, for tests about the real
// process: its signals, exit codes and what it loads.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getTestKubeconfigPath } from './cluster.ts';

const CLI = path.join(import.meta.dirname, '../../host/src/cli/main.ts');

export interface HostCliExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** performance.now() at the exit. */
  readonly at: number;
}

export interface HostCli {
  readonly child: ChildProcess;
  readonly exited: Promise<HostCliExit>;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output(): string;
}

/** `run` watching `namespace` only, with a module cache of its own (removed at exit) and metrics on a free port. */
export async function startHostCli(
  namespace: string,
  options: { readonly args?: readonly string[]; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<HostCli> {
  const dir = mkdtempSync(path.join(tmpdir(), 'wr-host-cli-'));
  const child = spawn(
    process.execPath,
    [
      CLI,
      'run',
      '--kubeconfig',
      await getTestKubeconfigPath(),
      '--namespace',
      namespace,
      '--module-cache-dir',
      path.join(dir, 'cache'),
      '--metrics-port',
      '0',
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], ...(options.env === undefined ? {} : { env: options.env }) },
  );
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<HostCliExit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  void exited.then(() => rmSync(dir, { recursive: true, force: true }));
  return { child, exited, output: () => out };
}
