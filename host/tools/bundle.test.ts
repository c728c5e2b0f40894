import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { bundleHost, rewriteWorkerUrls } from './bundle.ts';

test('worker entries addressed by URL are pointed at the emitted .mjs beside the bundle, and counted', () => {
  const js = [
    'const a = new URL("./guest-worker.ts", import.meta.url);',
    "const b = new URL('./compile-worker.ts', import.meta.url);",
    // Not a worker entry of the bundle: left as it is, and not counted.
    'const c = new URL("./other.ts", import.meta.url);',
    'const d = new URL("../guest-worker.ts", import.meta.url);',
  ].join('\n');
  const { js: out, rewritten } = rewriteWorkerUrls(js);
  assert.match(out, /new URL\("\.\/guest-worker\.mjs", import\.meta\.url\)/);
  assert.match(out, /new URL\('\.\/compile-worker\.mjs', import\.meta\.url\)/);
  assert.match(out, /new URL\("\.\/other\.ts", import\.meta\.url\)/);
  assert.match(out, /new URL\("\.\.\/guest-worker\.ts", import\.meta\.url\)/);
  assert.deepEqual(Object.fromEntries(rewritten), { 'guest-worker': 1, 'compile-worker': 1 });
});

test("the bundle resolves `assert` to tools/assert.cjs, which keeps the one contract pino's streams use", async () => {
  const out = mkdtempSync(path.join(tmpdir(), 'wr-bundle-'));
  try {
    const { files } = await bundleHost(out);
    for (const { file } of files) {
      const js = readFileSync(path.join(out, file), 'utf8');
      assert.doesNotMatch(js, /require\(["'](node:)?assert["']\)|from ["'](node:)?assert["']/, file);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const shim = createRequire(import.meta.url)('./assert.cjs') as (value: unknown, message?: string) => void;
  shim(1, 'not thrown');
  assert.throws(() => shim(0, 'sonic.fd must be a number'), {
    code: 'ERR_ASSERTION',
    message: 'sonic.fd must be a number',
  });
  assert.throws(() => shim(undefined), { code: 'ERR_ASSERTION', message: 'assertion failed' });
});
