// The App reconciler's YAML fixtures (test/fixtures/), run by `wasm-reconciler test` through the host's own pipeline: the
// real loader and limits, cache reads with label selectors, output validation and the capability check.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runFixtures } from '@wasm-reconciler/sdk-assemblyscript/tools/fixtures';
import { buildV1 } from './modules.ts';

test('wasm-reconciler test passes every fixture under test/fixtures', async () => {
  const run = await runFixtures((await buildV1()).wasmPath, new URL('fixtures/', import.meta.url));
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  assert.equal(run.planned, 5);
  assert.equal(run.failed, 0);
});
