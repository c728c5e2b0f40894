// The README's main job, run end to end against the shared control plane: it must complete and show the swap.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createTestNamespace, getTestKubeconfigPath } from '../support/cluster.ts';

const run = promisify(execFile);

test('npm run demo converges two Apps, hot-swaps to v2 without re-listing, and exits cleanly', async (t) => {
  const namespace = await createTestNamespace(t, 'demo');
  const kubeconfig = await getTestKubeconfigPath();
  const { stdout } = await run(
    process.execPath,
    [
      path.join(import.meta.dirname, '../../examples/demo/run.ts'),
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      namespace,
      '--exit',
    ],
    { timeout: 240_000 },
  );
  assert.match(stdout, /\[6\/6\] Explore/);
  assert.match(stdout, /App hello .*keys \[LOG_LEVEL,greeting\] \(v2\)/);
  assert.match(stdout, /re-lists: 0/);
});
