// The SDK and the CLI leave the repo installable: packed as tarballs, installed into a project outside the
// checkout, they build a module, test it through the SDK's exports and run the CLI there under this Node.
//
// Slow (npm install of both packages and their dependencies, one AssemblyScript compile): one test only.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { packPackage, rewriteModuleUrls, stagedManifest } from '../../host/tools/pack.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const STARTER_TEST = `
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GuestHarness, reconcileInput } from '@wasm-reconciler/sdk-assemblyscript/tools/testing';

test('a Widget becomes a ConfigMap', async () => {
  const guest = await GuestHarness.load('build/widget.wasm');
  assert.equal(guest.init(null).status, 0);
  const primary = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'n', uid: 'u' }, spec: { message: 'hi' } };
  const result = guest.call('wr_reconcile', reconcileInput({ primary }));
  assert.equal(result.status, 0);
  assert.deepEqual(JSON.parse(result.output).children[0].data, { message: 'hi' });
});
`;

test('packed SDK and CLI install outside the repo, build a module, test it and run the CLI', async (t) => {
  assert.deepEqual(stagedManifest({ name: 'p', version: '1.0.0', bin: { b: './src/b.ts' }, scripts: { x: 'y' } }), {
    name: 'p',
    version: '1.0.0',
    bin: { b: './src/b.js' },
  });
  assert.equal(
    rewriteModuleUrls("new URL('./guest-worker.ts', import.meta.url); import('./x.ts')"),
    "new URL('./guest-worker.js', import.meta.url); import('./x.ts')",
  );

  const dir = await mkdtemp(join(tmpdir(), 'wr-outside-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  assert.ok(!dir.startsWith(ROOT), 'the project must live outside the checkout');
  const host = await packPackage(join(ROOT, 'host'), join(dir, 'tarballs'));
  const sdk = await packPackage(join(ROOT, 'guest-sdk/assemblyscript'), join(dir, 'tarballs'));

  const project = join(dir, 'project');
  await cp(join(ROOT, 'guest-sdk/assemblyscript/template'), project, { recursive: true });
  const manifest = JSON.parse(await readFile(join(project, 'package.json'), 'utf8'));
  manifest.name = 'widget';
  manifest.scripts = { build: 'wr-as-build assembly/index.ts --name widget', test: 'node --test test/*.test.js' };
  manifest.dependencies = {
    '@wasm-reconciler/host': `file:${host}`,
    '@wasm-reconciler/sdk-assemblyscript': `file:${sdk}`,
  };
  await writeFile(join(project, 'package.json'), JSON.stringify(manifest, null, 2));
  await mkdir(join(project, 'test'));
  await writeFile(join(project, 'test', 'widget.test.js'), STARTER_TEST);

  // This Node (24) first on PATH, as the `node` devDependency provides it in a real project.
  // NODE_TEST_CONTEXT would make the project's `node --test` report to this runner instead of its stdout.
  const { NODE_TEST_CONTEXT: _, ...parentEnv } = process.env;
  const env = { ...parentEnv, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` };
  const opts = { cwd: project, env, maxBuffer: 16 * 1024 * 1024 };
  await run('npm', ['install', '--no-audit', '--no-fund'], opts);
  const built = await run('npm', ['run', 'build'], opts);
  assert.match(built.stdout, /widget\.wasm {2}\d+ bytes {2}sha256:[0-9a-f]{64}/);
  const tested = await run('npm', ['test'], opts);
  assert.match(tested.stdout, /pass 1/);

  const help = await run(join(project, 'node_modules/.bin/wasm-reconciler'), ['--help'], opts);
  assert.match(help.stdout, /Usage: wasm-reconciler/);
});
