// Tests the binary cache: build once, reuse, never trust a half-finished build, clear errors without Go.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { ensureControlPlaneBinaries } from './build.ts';
import { isControlPlaneError } from './errors.ts';
import { type Datastore, kubernetesMinors } from './versions.ts';

/** A stand-in `go` that answers `go env` and either "builds" (writes the -o file) or fails like a compile error. */
function fakeGo(
  t: TestContext,
  behaviour: 'succeed' | 'fail',
): { cacheRoot: string; goCommand: string; calls(): string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'wr-fake-go-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const callLog = join(dir, 'calls');
  const goCommand = join(dir, 'go.cjs');
  writeFileSync(
    goCommand,
    `#!${process.execPath}
const fs = require('node:fs');
const args = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(callLog)}, args.join(' ') + '\\n');
if (args[0] === 'env') { process.stdout.write('go1.25.0\\nauto\\n'); process.exit(0); }
if (${JSON.stringify(behaviour)} === 'fail') {
  process.stderr.write('./main.go:1:1: simulated compile error\\n');
  process.exit(1);
}
fs.writeFileSync(args[args.indexOf('-o') + 1], '#!/bin/sh\\n');
`,
  );
  chmodSync(goCommand, 0o755);
  return {
    cacheRoot: join(dir, 'cache'),
    goCommand,
    calls: () => (existsSync(callLog) ? readFileSync(callLog, 'utf8').trim().split('\n') : []),
  };
}

/** The packages `go build` was asked for, in order. */
function builtPackages(go: { calls(): string[] }): string[] {
  return go
    .calls()
    .filter((call) => call.startsWith('build'))
    .map((call) => call.split(' ').at(-1) ?? '');
}

test('binaries are built once, then served from the cache without running go', async (t) => {
  const go = fakeGo(t, 'succeed');
  const lines: string[] = [];
  const first = await ensureControlPlaneBinaries({
    ...go,
    flavour: { datastore: 'etcd' },
    report: (line) => lines.push(line),
  });
  for (const binary of [first.datastore.binary, first.kubeApiserver, first.kubeControllerManager, first.kustomize]) {
    assert.ok(existsSync(binary));
  }
  assert.equal(first.datastore.kind, 'etcd');
  assert.equal(builtPackages(go).length, 4);
  assert.ok(lines.some((line) => line.startsWith('building kustomize…')));
  assert.ok(lines.some((line) => line.startsWith('building kube-apiserver…')));
  for (const dir of first.dirs) assert.ok(existsSync(join(dir, 'complete.json')), dir);

  const callsBefore = go.calls().length;
  const second = await ensureControlPlaneBinaries({
    ...go,
    flavour: { datastore: 'etcd' },
    report: (line) => lines.push(line),
  });
  assert.deepEqual(second, first);
  assert.equal(go.calls().length, callsBefore);
});

test('each component has its own entry: kine builds only kine, another minor only its Kubernetes', async (t) => {
  const go = fakeGo(t, 'succeed');
  const newest = kubernetesMinors().at(-1) ?? '';
  const oldest = kubernetesMinors()[0] ?? '';
  assert.notEqual(oldest, newest, 'the matrix keeps at least two Kubernetes minors');
  const etcd = await ensureControlPlaneBinaries({
    ...go,
    flavour: { kubernetes: newest, datastore: 'etcd' },
    report: () => {},
  });
  const afterEtcd = builtPackages(go).length;

  const kine = await ensureControlPlaneBinaries({
    ...go,
    flavour: { kubernetes: newest, datastore: 'kine' },
    report: () => {},
  });
  assert.deepEqual(builtPackages(go).slice(afterEtcd), ['github.com/k3s-io/kine']);
  assert.equal(kine.kubeApiserver, etcd.kubeApiserver, 'etcd and kine runs share one kube-apiserver');
  assert.match(kine.datastore.binary, /\/kine-v\d+\.\d+\.\d+-[^/]+\/bin\/kine$/);
  assert.equal(kine.versions.datastore, 'kine');

  const old = await ensureControlPlaneBinaries({
    ...go,
    flavour: { kubernetes: oldest, datastore: 'etcd' },
    report: () => {},
  });
  assert.deepEqual(builtPackages(go).slice(afterEtcd + 1), [
    'k8s.io/kubernetes/cmd/kube-apiserver',
    'k8s.io/kubernetes/cmd/kube-controller-manager',
  ]);
  assert.equal(old.datastore.binary, etcd.datastore.binary);
  assert.match(old.versions.kubernetes, new RegExp(`^v${oldest.replace('.', '\\.')}\\.`));
  assert.match(old.kubeApiserver, new RegExp(`/kubernetes-${oldest.replace('.', '\\.')}-v`));
});

test('an unknown Kubernetes minor or datastore is CP_INVALID and names the choices', async (t) => {
  const go = fakeGo(t, 'succeed');
  for (const flavour of [{ kubernetes: '1.2' }, { datastore: 'mysql' as Datastore }]) {
    const err = await ensureControlPlaneBinaries({ ...go, flavour, report: () => {} }).then(
      () => assert.fail('an unknown flavour must be refused'),
      (error: unknown) => error,
    );
    assert.ok(isControlPlaneError(err, 'CP_INVALID'));
    assert.match(err.message, /choose one of/);
  }
  assert.deepEqual(go.calls(), []);
});

test('a build without its completion marker is discarded and rebuilt', async (t) => {
  const go = fakeGo(t, 'succeed');
  const built = await ensureControlPlaneBinaries({ ...go, flavour: { datastore: 'etcd' }, report: () => {} });
  const [kubernetes = '', etcd = ''] = built.dirs;
  // What a killed build leaves: binaries but no marker, in place and in the staging directory.
  rmSync(join(kubernetes, 'complete.json'));
  rmSync(etcd, { recursive: true });
  mkdirSync(`${etcd}.partial/bin`, { recursive: true });
  writeFileSync(`${etcd}.partial/bin/etcd`, 'truncated');
  const before = builtPackages(go).length;

  await ensureControlPlaneBinaries({ ...go, flavour: { datastore: 'etcd' }, report: () => {} });
  assert.equal(builtPackages(go).length, before + 3, 'kube-apiserver, kube-controller-manager and etcd again');
  for (const dir of built.dirs) assert.ok(existsSync(join(dir, 'complete.json')), dir);
  assert.equal(existsSync(`${etcd}.partial`), false);
});

test('a lock left by a dead process does not block the build', async (t) => {
  const go = fakeGo(t, 'succeed');
  const probe = await ensureControlPlaneBinaries({ ...go, report: () => {} });
  const [entry = ''] = probe.dirs;
  rmSync(entry, { recursive: true });
  const dead = spawnSync('true').pid;
  writeFileSync(`${entry}.lock`, `${dead}\n`);

  await ensureControlPlaneBinaries({ ...go, report: () => {} });
  assert.ok(existsSync(join(entry, 'complete.json')));
  assert.equal(existsSync(`${entry}.lock`), false);
});

test('a failed build is CP_BUILD_FAILED with its log, and leaves nothing that counts as built', async (t) => {
  const go = fakeGo(t, 'fail');
  const err = await ensureControlPlaneBinaries({ ...go, report: () => {} }).then(
    () => assert.fail('the build should fail'),
    (error: unknown) => error,
  );
  assert.ok(isControlPlaneError(err, 'CP_BUILD_FAILED'));
  assert.ok(err.logPath !== undefined && readFileSync(err.logPath, 'utf8').includes('simulated compile error'));
  assert.match(err.message, /simulated compile error/);
  assert.deepEqual(
    readdirSync(go.cacheRoot).filter((entry) => entry !== 'logs'),
    [],
    'no entry, staging directory or lock may survive a failed build',
  );
});

test('a missing Go toolchain is CP_GO_MISSING and says how to get one', async (t) => {
  const go = fakeGo(t, 'succeed');
  const err = await ensureControlPlaneBinaries({
    cacheRoot: go.cacheRoot,
    goCommand: join(go.cacheRoot, 'no-such-go'),
    report: () => {},
  }).then(
    () => assert.fail('the build should not start'),
    (error: unknown) => error,
  );
  assert.ok(isControlPlaneError(err, 'CP_GO_MISSING'));
  assert.match(err.message, /go\.dev\/dl/);
});
