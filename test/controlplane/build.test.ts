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

test('binaries are built once, then served from the cache without running go', async (t) => {
  const go = fakeGo(t, 'succeed');
  const lines: string[] = [];
  const first = await ensureControlPlaneBinaries({ ...go, report: (line) => lines.push(line) });
  for (const binary of [first.etcd, first.kubeApiserver, first.kubeControllerManager, first.kustomize]) {
    assert.ok(existsSync(binary));
  }
  assert.equal(go.calls().filter((call) => call.startsWith('build')).length, 4);
  assert.ok(lines.some((line) => line.startsWith('building kustomize…')));
  assert.ok(lines.some((line) => line.startsWith('building kube-apiserver…')));
  assert.ok(existsSync(join(first.dir, 'complete.json')));

  const callsBefore = go.calls().length;
  const second = await ensureControlPlaneBinaries({ ...go, report: (line) => lines.push(line) });
  assert.deepEqual(second, first);
  assert.equal(go.calls().length, callsBefore);
});

test('a build without its completion marker is discarded and rebuilt', async (t) => {
  const go = fakeGo(t, 'succeed');
  const built = await ensureControlPlaneBinaries({ ...go, report: () => {} });
  // What a killed build leaves: binaries but no marker, in place and in the staging directory.
  rmSync(join(built.dir, 'complete.json'));
  mkdirSync(`${built.dir}.partial/bin`, { recursive: true });
  writeFileSync(`${built.dir}.partial/bin/etcd`, 'truncated');
  const callsBefore = go.calls().filter((call) => call.startsWith('build')).length;

  await ensureControlPlaneBinaries({ ...go, report: () => {} });
  assert.equal(go.calls().filter((call) => call.startsWith('build')).length, callsBefore + 4);
  assert.ok(existsSync(join(built.dir, 'complete.json')));
  assert.equal(existsSync(`${built.dir}.partial`), false);
});

test('a lock left by a dead process does not block the build', async (t) => {
  const go = fakeGo(t, 'succeed');
  const probe = await ensureControlPlaneBinaries({ ...go, report: () => {} });
  rmSync(probe.dir, { recursive: true });
  const dead = spawnSync('true').pid;
  writeFileSync(`${probe.dir}.lock`, `${dead}\n`);

  const built = await ensureControlPlaneBinaries({ ...go, report: () => {} });
  assert.ok(existsSync(join(built.dir, 'complete.json')));
  assert.equal(existsSync(`${probe.dir}.lock`), false);
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
