// `wasm-reconciler generate`: writes the types file, --check tells up to date from stale, bad input exits
// with its documented code and a message saying what to do.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../testing/run-cli.ts';

const TEMPLATE = fileURLToPath(new URL('../../../../guest-sdk/assemblyscript/template/', import.meta.url));

const NO_SCHEMA = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: things.example.com }
spec:
  group: example.com
  scope: Namespaced
  names: { plural: things, kind: Thing }
  versions: [{ name: v1, served: true, storage: true }]
`;

test('generate writes the types file, and --check passes on it and fails once it differs', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wr-generate-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'assembly/types.ts');
  const args = ['generate', '--crd', join(TEMPLATE, 'crd.yaml'), '--out', out];
  const written = await runCli(args);
  assert.equal(written.code, 0, written.stderr);
  assert.match(written.stdout, /wrote .*types\.ts/);
  // The template's types are generate's output for its CRD: the two cannot drift.
  assert.equal(await readFile(out, 'utf8'), await readFile(join(TEMPLATE, 'assembly/types.ts'), 'utf8'));
  assert.equal((await runCli([...args, '--check'])).code, 0);
  await writeFile(out, '// edited\n');
  const stale = await runCli([...args, '--check']);
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /out of date .*\n {2}run `npm run generate`/);
  assert.equal(await readFile(out, 'utf8'), '// edited\n', '--check writes nothing');
});

test('generate: each bad input exits with its code and says what to do', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wr-generate-bad-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'no-schema.yaml'), NO_SCHEMA);
  await writeFile(join(dir, 'not-yaml.yaml'), 'a: [1,\n');
  await writeFile(join(dir, 'no-crd.yaml'), 'apiVersion: v1\nkind: ConfigMap\n');
  const out = ['--out', join(dir, 'types.ts')];
  const cases: [string[], number, RegExp][] = [
    [['--crd', join(dir, 'missing.yaml'), ...out], 3, /no such file: .*missing\.yaml\n {2}give the path of/],
    [['--crd', join(dir, 'not-yaml.yaml'), ...out], 3, /is not YAML/],
    [['--crd', join(dir, 'no-crd.yaml'), ...out], 3, /holds no CustomResourceDefinition\n {2}give the CRD/],
    [
      ['--crd', join(dir, 'no-schema.yaml'), ...out],
      3,
      /version v1 of Thing has no schema .*\n {2}add a structural schema/,
    ],
    [
      ['--crd', join(TEMPLATE, 'crd.yaml'), '--version', 'v9', ...out],
      2,
      /--version v9 is not a version .*\n {2}give one of: v1alpha1/,
    ],
    [out, 2, /required option '--crd <file>'/],
  ];
  for (const [args, code, message] of cases) {
    const r = await runCli(['generate', ...args]);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});
