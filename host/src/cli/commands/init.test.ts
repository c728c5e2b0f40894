// `wasm-reconciler init`: the template is what init writes for its own names; a project from a given CRD
// builds and passes its starter fixture under `wasm-reconciler test`; each bad input exits with its code
// and a message saying what to do.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../testing/run-cli.ts';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const TEMPLATE = join(ROOT, 'guest-sdk/assemblyscript/template');

function crd(o: { scope?: string; status?: boolean; schema?: boolean } = {}): string {
  return `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: gateways.edge.example.com }
spec:
  group: edge.example.com
  scope: ${o.scope ?? 'Namespaced'}
  names: { plural: gateways, singular: gateway, kind: Gateway }
  versions:
    - name: v1beta1
      served: true
      storage: true
${o.status === false ? '' : '      subresources: { status: {} }\n'}${
  o.schema === false
    ? ''
    : `      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [site, limits]
              properties:
                site: { type: string }
                mode: { type: string, enum: [fast, safe] }
                port: { type: integer }
                limits: { type: object, required: [cpu], properties: { cpu: { type: integer } } }
            status:
              type: object
              properties:
                phase: { type: string }
`
}`;
}

async function files(dir: string, root = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'build') continue;
    if (e.isDirectory()) out.push(...(await files(join(dir, e.name), root)));
    else out.push(relative(root, join(dir, e.name)));
  }
  return out.sort();
}

async function fakePackages(dir: string): Promise<string> {
  const packages = join(dir, 'packages');
  await mkdir(packages);
  await writeFile(join(packages, 'wasm-reconciler-host-0.1.0.tgz'), '');
  await writeFile(join(packages, 'wasm-reconciler-sdk-assemblyscript-0.1.0.tgz'), '');
  return packages;
}

test("init with the template's names writes the template, wired to the given tarballs", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wr-init-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const packages = await fakePackages(dir);
  const project = join(dir, 'my-reconciler');
  const r = await runCli(['init', project, '--kind', 'Widget', '--packages', packages]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /created .*my-reconciler for Widget \(example\.com\/v1alpha1\)/);
  const template = (await files(TEMPLATE)).map((f) => (f === 'gitignore' ? '.gitignore' : f)).sort();
  assert.deepEqual(await files(project), template);
  for (const file of template) {
    const written = await readFile(join(project, file), 'utf8');
    const source = await readFile(join(TEMPLATE, file === '.gitignore' ? 'gitignore' : file), 'utf8');
    if (file !== 'package.json') {
      assert.equal(written, source, `${file} differs from the template`);
      continue;
    }
    const manifest = JSON.parse(written);
    assert.deepEqual(manifest.dependencies, {
      '@wasm-reconciler/host': 'file:../packages/wasm-reconciler-host-0.1.0.tgz',
      '@wasm-reconciler/sdk-assemblyscript': 'file:../packages/wasm-reconciler-sdk-assemblyscript-0.1.0.tgz',
    });
    assert.deepEqual({ ...manifest, dependencies: undefined }, { ...JSON.parse(source), dependencies: undefined });
  }
});

test('init --crd: typed classes from its schema, and a project that builds and passes its own fixture', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wr-init-crd-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'crd.yaml'), crd());
  const project = join(dir, 'gateway-reconciler');
  const r = await runCli([
    'init',
    project,
    '--crd',
    join(dir, 'crd.yaml'),
    '-n',
    'edge',
    '--packages',
    await fakePackages(dir),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await readFile(join(project, 'crd.yaml'), 'utf8'), crd(), 'the given CRD is kept as it is');
  const types = await readFile(join(project, 'assembly/types.ts'), 'utf8');
  assert.match(types, /export const GATEWAY = new Kind\("edge\.example\.com\/v1beta1", "Gateway"\);/);
  assert.match(types, /class GatewaySpecMode \{\n {2}static readonly Fast: string = "fast";/);
  assert.match(types, /static of\(out: Output\): GatewayStatusWriter/);
  const wr = await readFile(join(project, 'wasmreconciler.yaml'), 'utf8');
  assert.match(wr, /name: gateway-reconciler\n {2}namespace: edge\n/);
  assert.match(wr, /for: \{ apiVersion: edge\.example\.com\/v1beta1, kind: Gateway \}/);
  const rbac = await readFile(join(project, 'rbac.yaml'), 'utf8');
  assert.match(rbac, /wasmreconciler\.dev\/aggregate-to-host: "true"/);
  assert.match(rbac, /apiGroups: \["edge\.example\.com"\]\n {4}resources: \["gateways\/status"\]/);

  // Built and tested as `npm test` would, with this checkout's SDK in place of the installed one.
  await mkdir(join(project, 'node_modules/@wasm-reconciler'), { recursive: true });
  await symlink(
    join(ROOT, 'guest-sdk/assemblyscript'),
    join(project, 'node_modules/@wasm-reconciler/sdk-assemblyscript'),
  );
  const { buildModule } = await import('@wasm-reconciler/sdk-assemblyscript/tools/build');
  const built = await buildModule({
    entry: join(project, 'assembly/index.ts'),
    name: 'gateway-reconciler',
    cache: false,
  });
  const tested = await runCli(['test', built.wasmPath, join(project, 'fixtures')], { cwd: project });
  assert.equal(tested.code, 0, tested.stdout + tested.stderr);
  assert.match(tested.stdout, /1 passed, 0 failed/);
  // The fixture's primary carries the required fields (nested ones too) and the spec's strings.
  const fixture = await readFile(join(project, 'fixtures/gateway.yaml'), 'utf8');
  assert.match(fixture, /spec:\n {4}site: hello\n {4}mode: fast\n {4}limits:\n {6}cpu: 1\n/);
});

test('init: each bad input exits with its code and says what to do', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wr-init-bad-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'full'));
  await writeFile(join(dir, 'full/README.md'), 'mine\n');
  await writeFile(join(dir, 'cluster.yaml'), crd({ scope: 'Cluster' }));
  await writeFile(join(dir, 'no-status.yaml'), crd({ status: false }));
  await writeFile(join(dir, 'no-schema.yaml'), crd({ schema: false }));
  await mkdir(join(dir, 'empty-packages'));
  const target = join(dir, 'new');
  const cases: [string[], number, RegExp][] = [
    [[join(dir, 'full'), '--kind', 'Widget'], 3, /full is not empty \(README\.md\)\n {2}give a new or empty directory/],
    [[target, '--kind', 'widget'], 2, /--kind "widget" is not a kind name\n {2}a kind is UpperCamelCase/],
    [[target, '--kind', 'Web-App'], 2, /is not a kind name/],
    [
      [target, '--kind', 'Widget', '--group', 'example'],
      2,
      /--group "example" is not an API group\n {2}a group is a lowercase DNS name/,
    ],
    [[target, '--kind', 'Widget', '--version', '1.0'], 2, /--version "1\.0" is not a Kubernetes API version/],
    [[target, '--kind', 'Widget', '-n', 'Not_A_Namespace'], 2, /is not a namespace name/],
    [[target], 2, /init needs the primary kind: --kind <Kind> .*or --crd/],
    [[target, '--crd', join(dir, 'cluster.yaml'), '--kind', 'Gateway'], 2, /--crd names the kind already/],
    [
      [target, '--crd', join(dir, 'cluster.yaml')],
      3,
      /Gateway is cluster-scoped, and a WasmReconciler acts only in its own namespace/,
    ],
    [
      [target, '--crd', join(dir, 'no-status.yaml')],
      3,
      /has no status subresource.*\n {2}add `subresources: \{ status: \{\} \}`/,
    ],
    [[target, '--crd', join(dir, 'no-schema.yaml')], 3, /has no schema .*\n {2}add a structural schema/],
    [[target, '--crd', join(dir, 'missing.yaml')], 3, /no such file/],
    [
      [target, '--crd', join(dir, 'no-schema.yaml'), '--version', 'v7'],
      2,
      /--version v7 is not a version of gateways\.edge\.example\.com/,
    ],
    [
      [target, '--kind', 'Widget', '--packages', join(dir, 'empty-packages')],
      3,
      /no wasm-reconciler-host-<version>\.tgz in .*\n {2}pack both packages there/,
    ],
  ];
  for (const [args, code, message] of cases) {
    const r = await runCli(['init', ...args]);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
  assert.deepEqual(await readdir(join(dir, 'full')), ['README.md'], 'a refused init writes nothing');
  await assert.rejects(readdir(target), { code: 'ENOENT' });
});
