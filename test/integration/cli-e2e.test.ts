// A module author's whole loop, outside the checkout, on the local control plane: `init` -> npm install of
// the packed SDK and CLI -> `npm test` (build + `wasm-reconciler test`) -> `npm run push` -> Ready -> a
// running `dev` shows a broken save without swapping, then swaps in an edit and the new behaviour shows.
//
// Slow (npm install of both packages and their dependencies, two AssemblyScript compiles): one test. The
// `node` devDependency (Node 24 for machines whose own Node is older) is left out of the install: the
// test already runs Node 24 first on PATH, and fetching Node's binary would be most of the test's time.

import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { load, loadAll } from 'js-yaml';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { runCli } from '../../host/src/cli/testing/run-cli.ts';
import { KubeClient } from '../../host/src/kube/index.ts';
import { startHost } from '../../host/src/manager/index.ts';
import { packPackage } from '../../host/tools/pack.ts';
import { createTestNamespace, getTestCluster, getTestKubeconfigPath, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MARK = 'const data = cm.data();';

/** Collects a child's stdout lines; `until` resolves with the first line from index `from` on matching a pattern. */
function lines(child: ChildProcess) {
  const seen: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let rest = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString('utf8')).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) {
      seen.push(line);
      for (const w of waiters.splice(0)) {
        if (w.pattern.test(line)) w.resolve(line);
        else waiters.push(w);
      }
    }
  });
  return {
    seen,
    until(pattern: RegExp, from = 0, timeoutMs = 120_000): Promise<string> {
      const found = seen.slice(from).find((l) => pattern.test(l));
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${seen.join('\n')}`)),
          timeoutMs,
        );
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      });
    },
  };
}

test('init -> npm install -> npm test -> push -> Ready -> dev swaps an edit in, and keeps serving through a broken save', async (t) => {
  const namespace = await createTestNamespace(t, 'cli-e2e');
  const kubeconfig = await getTestKubeconfigPath();
  const client = await KubeClient.fromKubeConfig(await getTestCluster());
  t.after(() => client.close());

  const dir = await mkdtemp(join(tmpdir(), 'wr-e2e-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  assert.ok(!dir.startsWith(ROOT), 'the project must live outside the checkout');
  const packages = join(dir, 'packages');
  await packPackage(join(ROOT, 'host'), packages);
  await packPackage(join(ROOT, 'guest-sdk/assemblyscript'), packages);

  // The project's name is its directory's; -n puts the WasmReconciler, sample and fixture in the test's namespace.
  const project = join(dir, 'widgets');
  const init = await runCli(['init', project, '--kind', 'Widget', '-n', namespace, '--packages', packages]);
  assert.equal(init.code, 0, init.stderr);

  // Node 24 first on PATH, as the `node` devDependency provides it; NODE_TEST_CONTEXT would make the
  // project's own test runs report to this runner.
  const { NODE_TEST_CONTEXT: _, ...parentEnv } = process.env;
  const env = {
    ...parentEnv,
    KUBECONFIG: kubeconfig,
    PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
  };
  const opts = { cwd: project, env, maxBuffer: 16 * 1024 * 1024 };
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=dev'], opts);
  // The installed CLI cannot pack (no checkout beside it) nor start the test harness's control plane.
  const cli = join(project, 'node_modules/.bin/wasm-reconciler');
  await run(cli, ['init', join(dir, 'from-installed'), '--kind', 'Thing'], opts);
  const installedInit = JSON.parse(await readFile(join(dir, 'from-installed/package.json'), 'utf8'));
  assert.deepEqual(installedInit.dependencies, {
    '@wasm-reconciler/host': '^0.1.0',
    '@wasm-reconciler/sdk-assemblyscript': '^0.1.0',
  });
  const local = await run(cli, ['dev', '.', '--local'], opts).then(
    () => assert.fail('dev --local must refuse outside a checkout'),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(local.code, 4);
  assert.match(local.stderr, /--local needs a wasm-reconciler checkout.*\n {2}run dev against a cluster/);

  const tested = await run('npm', ['test'], opts);
  assert.match(tested.stdout, /widgets\.wasm {2}\d+ bytes {2}sha256:[0-9a-f]{64}/);
  assert.match(tested.stdout, /1 passed, 0 failed/);

  // What a cluster administrator and the namespace's owner apply (the test's identity is both).
  await installCrd(client, join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(client, join(project, 'crd.yaml'));
  const host = await startHost({
    kubeConfig: await getTestCluster(),
    namespace,
    moduleCacheDir: join(dir, 'cache'),
    logLevel: 'silent',
  });
  t.after(() => host.stop());
  const manifest = load(await readFile(join(project, 'wasmreconciler.yaml'), 'utf8')) as KubeObject;
  assert.equal(manifest.metadata.namespace, namespace);
  await client.apply(manifest, { fieldManager: 'kubectl' });
  const pushed = await run('npm', ['run', 'push'], opts);
  assert.match(pushed.stdout, /^sha256:[0-9a-f]{64}$/m);
  const wrs = await client.resource('wasmreconciler.dev/v1alpha1', 'WasmReconciler');
  const wr = await client.get(wrs, namespace, 'widgets');
  const ready = (wr.status as { conditions?: { type: string; status: string }[] }).conditions?.find(
    (c) => c.type === 'Ready',
  );
  assert.equal(ready?.status, 'True');

  for (const sample of loadAll(await readFile(join(project, 'sample.yaml'), 'utf8')) as KubeObject[]) {
    await client.apply(sample, { fieldManager: 'kubectl' });
  }
  const configMaps = await client.resource('v1', 'ConfigMap');
  const data = async () =>
    (await client.get(configMaps, namespace, 'hello-widget').catch(() => undefined))?.data as
      | Record<string, string>
      | undefined;
  await waitFor(async () => (await data())?.message === 'hello', { description: 'the first version to render' });

  // dev of the installed CLI, against the current kubeconfig's cluster and the host serving it.
  const dev = spawn(cli, ['dev', '.'], { cwd: project, env });
  const out = lines(dev);
  let stderr = '';
  dev.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => dev.once('exit', resolve));
  t.after(() => {
    if (dev.exitCode === null) dev.kill('SIGKILL');
  });
  await out.until(/^\[dev\] watching /);
  const servingBefore = await out.until(/^\[swap\] pushed sha256:/);

  const source = join(project, 'assembly/index.ts');
  const original = await readFile(source, 'utf8');
  let mark = out.seen.length;
  await writeFile(source, original.replace(MARK, `${MARK}\n  data.str("edition", "two"`));
  await out.until(/^\[build\] failed, the version serving keeps serving:/, mark);
  const wrAfterFailure = await client.get(wrs, namespace, 'widgets');
  assert.ok(
    servingBefore.includes(((wrAfterFailure.spec as { module: { digest: string } }).module.digest ?? '').slice(0, 19)),
    'a failed build pushes nothing',
  );
  assert.equal((await data())?.edition, undefined);

  mark = out.seen.length;
  await writeFile(source, original.replace(MARK, `${MARK}\n  data.str("edition", "two");`));
  await out.until(/^\[swap\] pushed sha256:/, mark);
  await waitFor(async () => (await data())?.edition === 'two', {
    description: 'the edited module to render edition "two"',
    timeoutMs: 60_000,
  });
  assert.equal((await data())?.message, 'hello', 'the rest of the behaviour is unchanged');
  await out.until(/^\[event\] Normal ModuleLoaded WasmReconciler\/widgets/, mark);

  dev.kill('SIGINT');
  assert.equal(await exited, 0, stderr);
  assert.ok(out.seen.includes('[dev] stopping'), out.seen.join('\n'));
});
