import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rewriteWorkerUrls } from './bundle.ts';

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
