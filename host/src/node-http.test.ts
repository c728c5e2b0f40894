import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

/** The built-ins whose name mentions undici that a fresh process has loaded after importing `entry`. */
function undiciAfterImporting(entry: URL): string[] {
  const script = `await import(${JSON.stringify(entry.href)}); console.log(JSON.stringify(process.moduleLoadList.filter((m) => m.includes('undici'))));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
}

test('importing the host loads no undici: node:http comes from node-http.ts, never from an ES import', () => {
  assert.deepEqual(undiciAfterImporting(new URL('./index.ts', import.meta.url)), []);
});
