// The YAML fixtures (test/fixtures/), run by `wasm-reconciler test` through the host's own pipeline: the real
// loader and limits, cache reads with label selectors, output validation and the capability check.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildReplicator } from './module.ts';

const FIXTURES = fileURLToPath(new URL('fixtures/', import.meta.url));

/** The CLI as the host package ships it: its bin, run by this Node. */
async function cliPath(): Promise<string> {
  const manifestUrl = import.meta.resolve('@wasm-reconciler/host/package.json');
  const manifest = JSON.parse(await readFile(new URL(manifestUrl), 'utf8')) as { bin: Record<string, string> };
  return fileURLToPath(new URL(manifest.bin['wasm-reconciler']!, manifestUrl));
}

test('wasm-reconciler test passes every fixture under test/fixtures', async () => {
  const [{ wasmPath }, cli] = await Promise.all([buildReplicator(), cliPath()]);
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [cli, 'test', wasmPath, FIXTURES, '--reporter', 'tap'], (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr }),
    );
  });
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  assert.match(stdout, /^1\.\.4$/m);
  assert.doesNotMatch(stdout, /^not ok/m);
});
