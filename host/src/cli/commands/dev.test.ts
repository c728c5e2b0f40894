// `wasm-reconciler dev`: what it prints for each step of the loop, and the bad input it refuses before it
// builds or connects. The loop itself runs on the real control plane in test/integration/cli-e2e.test.ts.

import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../testing/run-cli.ts';
import { describe } from './dev.ts';

const TEMPLATE = fileURLToPath(new URL('../../../../guest-sdk/assemblyscript/template/', import.meta.url));

test('dev prints one line per step, saying how long the build took after the save', () => {
  const digest = `sha256:${'ab'.repeat(32)}`;
  assert.equal(
    describe({ type: 'change', path: 'assembly/index.ts', at: 0 }, () => undefined),
    undefined,
  );
  assert.equal(
    describe({ type: 'built', digest, bytes: 41_164, buildMs: 212.4, cached: false }, () => 240.2),
    '[build] 212 ms, 40.2 KiB sha256:abababababab (240 ms after the save)',
  );
  assert.match(
    describe({ type: 'build-failed', message: 'asc failed:\nERROR TS1005', buildMs: 90 }, () => undefined) ?? '',
    /^\[build\] failed, the version serving keeps serving:\nasc failed:\nERROR TS1005$/,
  );
  assert.equal(
    describe({ type: 'pushed', digest, pushMs: 31.6 }, () => undefined),
    '[swap] pushed sha256:abababababab in 32 ms',
  );
});

test('dev: a directory that is not a project exits 3 and says what to give', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wr-dev-bad-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const none = await runCli(['dev', dir]);
  assert.equal(none.code, 3);
  assert.match(none.stderr, /has no package\.json\n {2}give a project directory made by `wasm-reconciler init`/);

  const project = join(dir, 'p');
  await cp(TEMPLATE, project, { recursive: true });
  await rm(join(project, 'wasmreconciler.yaml'));
  const noManifest = await runCli(['dev', project]);
  assert.equal(noManifest.code, 3);
  assert.match(noManifest.stderr, /no WasmReconciler manifest .*wasmreconciler\.yaml\n {2}dev swaps the module/);

  await writeFile(join(project, 'other.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n');
  const notWr = await runCli(['dev', project, '--reconciler', join(project, 'other.yaml')]);
  assert.equal(notWr.code, 3);
  assert.match(notWr.stderr, /holds no WasmReconciler with a metadata\.name/);

  await rm(join(project, 'assembly/index.ts'));
  const noEntry = await runCli(['dev', project]);
  assert.equal(noEntry.code, 3);
  assert.match(noEntry.stderr, /no module entry .*assembly\/index\.ts/);
});
