// Runs a module's YAML fixtures with `wasm-reconciler test` (the host package's CLI), for a project's own
// node:test suite: the fixtures then go through the host's real pipeline (loader, limits, metering, cache
// reads, output validation, capability checks), not through this SDK's lighter GuestHarness.

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export interface FixtureRun {
  /** The CLI's exit code: 0 every fixture passed, 1 one failed, 2 usage, 3 bad input (docs/cli.md). */
  readonly code: number;
  /** The TAP report. */
  readonly stdout: string;
  readonly stderr: string;
  /** Fixtures in the report (its `1..N` plan); undefined when the CLI printed none. */
  readonly planned: number | undefined;
  /** Report lines starting `not ok`. */
  readonly failed: number;
}

/** The `wasm-reconciler` bin of the host package this project depends on. */
async function cliPath(): Promise<string> {
  const manifestUrl = import.meta.resolve('@wasm-reconciler/host/package.json');
  const manifest = JSON.parse(await readFile(new URL(manifestUrl), 'utf8')) as { bin: Record<string, string> };
  const bin = manifest.bin['wasm-reconciler'];
  if (bin === undefined) throw new Error('@wasm-reconciler/host has no wasm-reconciler bin');
  return fileURLToPath(new URL(bin, manifestUrl));
}

/** `wasm-reconciler test <wasmPath> <fixtures> --reporter tap`, run by this Node. */
export async function runFixtures(wasmPath: string, fixtures: string | URL): Promise<FixtureRun> {
  const cli = await cliPath();
  const dir = typeof fixtures === 'string' ? fixtures : fileURLToPath(fixtures);
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [cli, 'test', wasmPath, dir, '--reporter', 'tap'], (err, out, errOut) =>
      resolve({ code: err === null ? 0 : Number(err.code), stdout: out, stderr: errOut }),
    );
  });
  const plan = /^1\.\.(\d+)$/m.exec(stdout);
  return {
    code,
    stdout,
    stderr,
    planned: plan === null ? undefined : Number(plan[1]),
    failed: stdout.split('\n').filter((line) => line.startsWith('not ok')).length,
  };
}
