import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fixture } from '../../../../test/fixtures/guests/wat.ts';
import { runCli } from '../testing/run-cli.ts';

const EXAMPLE = fileURLToPath(new URL('../../../../examples/configmap-app/', import.meta.url));
const APP_WASM = join(EXAMPLE, 'build/configmap-app.wasm');
const APP_FIXTURES = join(EXAMPLE, 'test/fixtures');
const WR = join(EXAMPLE, 'wasmreconciler.yaml');

const PRIMARY = `primary:
  apiVersion: demo.wasmreconciler.dev/v1alpha1
  kind: App
  metadata: { name: hello, namespace: demo }
  spec: { image: nginx:1.27, replicas: 2 }
`;

let dir: string;
let loop: string;
let render: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wr-test-cmd-'));
  loop = join(dir, 'loop.wasm');
  await writeFile(loop, await fixture('loop-forever'));
  render = join(dir, 'render.wasm');
  await writeFile(render, await fixture('render'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function write(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('wasm-reconciler test', () => {
  it("passes configmap-app's fixtures and writes TAP and JUnit reports", async () => {
    const spec = await runCli(['test', APP_WASM, APP_FIXTURES]);
    assert.equal(spec.code, 0, spec.stdout + spec.stderr);
    assert.match(spec.stdout, /^✔ .*created\.yaml/m);
    assert.match(spec.stdout, /^5 passed, 0 failed$/m);
    const tap = await runCli(['test', APP_WASM, APP_FIXTURES, '--reporter', 'tap']);
    assert.match(tap.stdout, /^TAP version 13\n1\.\.5\nok 1 - /);
    const junitFile = join(dir, 'junit.xml');
    const junit = await runCli(['test', APP_WASM, APP_FIXTURES, '--reporter', 'junit', '--output', junitFile]);
    assert.equal(junit.code, 0);
    assert.match(
      await readFile(junitFile, 'utf8'),
      /<testsuite name="wasm-reconciler test" tests="5" failures="0" errors="0"/,
    );
    assert.match(junit.stdout, /5 passed/);
  });

  it('exits 1 on a mismatch, with the path, the expected and the actual value', async () => {
    const f = await write(
      'mismatch.yaml',
      `reconciler: ${WR}\n${PRIMARY}expect:\n  children:\n    - { apiVersion: apps/v1, kind: Deployment, metadata: { name: hello }, spec: { replicas: 3 } }\n  events: [{ type: Normal, reason: "/^Deleted/" }]\n`,
    );
    const r = await runCli(['test', APP_WASM, f]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /children\[Deployment hello\]\.spec\.replicas\n {6}expected: 3\n {6}actual: {3}2/);
    assert.match(r.stdout, /events\[0\]\.reason\n {6}expected: "\/\^Deleted\/"\n {6}actual: {3}"Created"/);
    const junit = await runCli(['test', APP_WASM, f, '--reporter', 'junit']);
    assert.match(junit.stdout, /<failure message="children\[Deployment hello\]\.spec\.replicas"/);
  });

  it('reports the capability check: a child of a kind the WasmReconciler does not own is denied', async () => {
    const wr = await write(
      'no-owns.yaml',
      'apiVersion: wasmreconciler.dev/v1alpha1\nkind: WasmReconciler\nmetadata: { name: r, namespace: demo }\n' +
        'spec:\n  for: { apiVersion: demo.wasmreconciler.dev/v1alpha1, kind: App }\n  module: { configMap: { name: m, key: k } }\n',
    );
    const denied = await write(
      'denied.yaml',
      `reconciler: ${wr}\n${PRIMARY}expect:\n  error: { code: WR_CAPABILITY_DENIED, retryable: false }\n  events: [{ type: Warning, reason: CapabilityDenied, message: "/nothing written/" }]\n`,
    );
    const r = await runCli(['test', render, denied]);
    assert.equal(r.code, 0, r.stdout);
    // Without a manifest the capabilities are inferred from the expectations: the same output passes.
    const inferred = await write(
      'inferred.yaml',
      `${PRIMARY}expect:\n  children:\n    - { apiVersion: v1, kind: ConfigMap, metadata: { name: hello-a }, data: { k: v } }\n    - { apiVersion: v1, kind: ConfigMap, metadata: { name: hello-b } }\n  noOtherChildren: true\n  status: { ready: true, children: 2 }\n`,
    );
    const ok = await runCli(['test', render, inferred]);
    assert.equal(ok.code, 0, ok.stdout);
  });

  it('runs the guest under the spec fuel budget: a spinning guest fails with WR_GUEST_BUDGET_EXCEEDED', async () => {
    const f = await write('spin.yaml', `${PRIMARY}expect:\n  error: { code: WR_GUEST_BUDGET_EXCEEDED }\n`);
    const r = await runCli(['test', loop, f]);
    assert.equal(r.code, 0, r.stdout);
    const unexpected = await write('spin-ok.yaml', `${PRIMARY}expect:\n  children: []\n`);
    const failed = await runCli(['test', loop, unexpected]);
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /error: unexpected failure WR_GUEST_BUDGET_EXCEEDED/);
  });

  it('--update rewrites the expect block from the result, keeping comments, other keys and /patterns/', async () => {
    const f = await write(
      'update.yaml',
      `# leading comment\nreconciler: ${WR}\n${PRIMARY}expect:\n  status:\n    conditions: [{ type: Ready, lastTransitionTime: "/^\\\\d{4}-/" }]\n# trailing comment\n`,
    );
    const r = await runCli(['test', APP_WASM, f, '--update']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /updated the expect block of 1 fixture/);
    const text = await readFile(f, 'utf8');
    assert.match(text, /^# leading comment\nreconciler: /);
    assert.match(text, /# trailing comment\n$/);
    assert.match(text, /lastTransitionTime: \/\^\\d\{4\}-\//);
    assert.match(text, /replicas: 2/);
    assert.match(text, /noOtherChildren: true/);
    assert.equal((await runCli(['test', APP_WASM, f])).code, 0);
  });

  it('exits 3 for an unreadable module or fixture, saying what to fix', async () => {
    const cases: [string, string, RegExp][] = [
      ['bad-yaml.yaml', 'primary: [', /is not valid YAML/],
      ['unknown.yaml', `${PRIMARY}expects: {}\n`, /unknown key expects \(reconciler, config/],
      ['no-primary.yaml', 'expect: {}\n', /no primary: give the object the reconcile is for/],
      ['no-name.yaml', 'primary: { apiVersion: v1, kind: X, metadata: {} }\n', /primary needs metadata\.name/],
      [
        'bad-child.yaml',
        `${PRIMARY}expect:\n  children: [{ kind: ConfigMap }]\n`,
        /expect\.children\[0\] needs apiVersion, kind and metadata\.name/,
      ],
      ['bad-trigger.yaml', `${PRIMARY}trigger: { reason: poked }\n`, /trigger\.reason must be one of created, updated/],
      [
        'wrong-kind.yaml',
        `reconciler: ${WR}\nprimary: { apiVersion: v1, kind: ConfigMap, metadata: { name: c, namespace: demo } }\nexpect: {}\n`,
        /the primary is a v1 ConfigMap, but the reconciler reconciles demo\.wasmreconciler\.dev\/v1alpha1 App/,
      ],
      ['no-wr.yaml', `reconciler: ./missing-wr.yaml\n${PRIMARY}`, /no such file: .*missing-wr\.yaml/],
    ];
    for (const [name, text, message] of cases) {
      const r = await runCli(['test', APP_WASM, await write(name, text)]);
      assert.equal(r.code, 3, `${name}: ${r.stdout}`);
      assert.match(r.stdout, message, name);
    }
    const bad = await write(
      'bad-wr.yaml',
      'apiVersion: wasmreconciler.dev/v1alpha1\nkind: WasmReconciler\nmetadata: { name: r }\nspec: {}\n',
    );
    const refused = await runCli(['test', APP_WASM, await write('refused.yaml', `reconciler: ${bad}\n${PRIMARY}`)]);
    assert.equal(refused.code, 3);
    assert.match(refused.stdout, /the host would refuse this reconciler: metadata\.namespace: is required/);
    const module = await runCli(['test', join(dir, 'nope.wasm'), APP_FIXTURES]);
    assert.equal(module.code, 3);
    assert.match(module.stderr, /no such file: .*nope\.wasm\n {2}give the path of a module/);
    const empty = await runCli(['test', APP_WASM, dir.replace(/$/, '/none')]);
    assert.equal(empty.code, 3);
  });

  it('exits 2 on usage errors', async () => {
    assert.equal((await runCli(['test', APP_WASM])).code, 2);
    assert.equal((await runCli(['test', APP_WASM, APP_FIXTURES, '--reporter', 'xml'])).code, 2);
    const record = await runCli(['test', APP_WASM, join(dir, 'new.yaml'), '--record', 'App/demo/hello']);
    assert.equal(record.code, 2);
    assert.match(record.stderr, /--record needs --reconciler/);
    const target = await runCli(['test', APP_WASM, join(dir, 'new.yaml'), '--record', 'hello', '--reconciler', WR]);
    assert.equal(target.code, 2);
    assert.match(target.stderr, /expected <kind>\/<namespace>\/<name>/);
    const help = await runCli(['test', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Exit codes: 0 every fixture passed/);
  });
});

describe('wasm-reconciler render and inspect --fixture', () => {
  it('prints the writes as YAML, from a fixture or from multi-document YAML', async () => {
    const r = await runCli(['render', APP_WASM, '-f', join(APP_FIXTURES, 'created.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^---\n# apply \(field manager wasm-reconciler\/apps\)\napiVersion: v1\nkind: ConfigMap/);
    assert.match(r.stdout, /# apply status of App demo\/hello\n/);
    assert.match(r.stdout, /# event Normal Created: creating ConfigMap hello-config and Deployment hello/);
    const objects = await write(
      'objects.yaml',
      `${await readFile(WR, 'utf8')}\n---\n${PRIMARY.replace(/^primary:\n/, '').replace(/^ {2}/gm, '')}`,
    );
    const multi = await runCli(['render', APP_WASM, '-f', objects]);
    assert.equal(multi.code, 0, multi.stderr);
    assert.match(multi.stdout, /kind: Deployment/);
    const noPrimary = await runCli(['render', APP_WASM, '-f', WR]);
    assert.equal(noPrimary.code, 3);
    assert.match(noPrimary.stderr, /no primary \(a demo\.wasmreconciler\.dev\/v1alpha1 App\)/);
    const diff = await runCli(['render', render, '-f', await write('p.yaml', PRIMARY), '--diff']);
    assert.equal(diff.code, 2);
    assert.match(diff.stderr, /--diff needs the WasmReconciler/);
    assert.equal((await runCli(['render', APP_WASM])).code, 2);
  });

  it('renders a fixture as test runs it: without a reconciler, the inferred one owns the expected kinds', async () => {
    const f = await write(
      'inferred.yaml',
      `${PRIMARY}expect:\n  children:\n    - { apiVersion: v1, kind: ConfigMap, metadata: { name: hello-config } }\n` +
        '    - { apiVersion: apps/v1, kind: Deployment, metadata: { name: hello } }\n',
    );
    const passed = await runCli(['test', APP_WASM, f]);
    assert.equal(passed.code, 0, passed.stdout);
    const r = await runCli(['render', APP_WASM, '-f', f]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /CapabilityDenied/);
    assert.equal(r.stdout.match(/^# apply \(field manager wasm-reconciler\/fixture\)$/gm)?.length, 2);
    assert.match(r.stdout, /^kind: Deployment$/m);
  });

  it('inspect --fixture reports the fuel of each call', async () => {
    const r = await runCli(['inspect', APP_WASM, '--fixture', join(APP_FIXTURES, 'created.yaml'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const calls = JSON.parse(r.stdout).fixture.calls as { export: string; fuelUsed: number }[];
    assert.deepEqual(
      calls.map((c) => c.export),
      ['wr_init', 'wr_reconcile'],
    );
    assert.ok(calls.every((c) => c.fuelUsed > 0));
  });
});
