// The webapp YAML fixtures (test/fixtures/), run by `wasm-reconciler test` through the host's own pipeline: the
// real loader and limits, cache reads with label selectors, output validation and the capability check.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runFixtures } from '@wasm-reconciler/sdk-assemblyscript/tools/fixtures';
import { buildWebApp } from './module.ts';

test('wasm-reconciler test passes every fixture under test/fixtures', async () => {
  const run = await runFixtures((await buildWebApp()).wasmPath, new URL('fixtures/', import.meta.url));
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  assert.equal(run.planned, 4);
  assert.equal(run.failed, 0);
});
