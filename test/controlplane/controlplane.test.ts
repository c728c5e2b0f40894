// Tests how startControlPlane fails: never ready, a crash, a port clash. Stand-in servers make each case exact.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { ControlPlaneBinaries } from './build.ts';
import { startControlPlane } from './controlplane.ts';
import { type ControlPlaneError, isControlPlaneError } from './errors.ts';
import { isAlive } from './process.ts';
import { pinnedVersions } from './versions.ts';

type ApiserverBehaviour = 'hang' | 'crash';

/**
 * Stand-ins for the three servers. The etcd one answers /health (or reports a port clash); the apiserver
 * one never becomes ready or crashes. Each records its pid so the test can prove it is gone afterwards.
 */
function fakeBinaries(
  t: TestContext,
  etcd: 'healthy' | 'port-clash',
  apiserver: ApiserverBehaviour,
): { binaries: ControlPlaneBinaries; pids(): number[]; starts(): string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'wr-fake-servers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const record = `
const fs = require('node:fs');
fs.appendFileSync(${JSON.stringify(join(dir, 'starts'))}, process.argv[1].split('/').pop() + ' ' + process.pid + '\\n');`;
  const script = (name: string, body: string) => {
    const path = join(dir, name);
    writeFileSync(path, `#!${process.execPath}\n${record}\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };
  const etcdPath = script(
    'etcd.cjs',
    etcd === 'healthy'
      ? `const url = new URL(process.argv.find((a) => a.startsWith('--listen-client-urls=')).split('=')[1]);
require('node:http').createServer((req, res) => res.end('{"health":"true"}')).listen(Number(url.port), '127.0.0.1');`
      : `console.error('listen tcp 127.0.0.1:2379: bind: address already in use'); process.exit(1);`,
  );
  const apiserverPath = script(
    'kube-apiserver.cjs',
    apiserver === 'hang'
      ? `console.error('I0101 fake apiserver waiting for something that never comes'); setInterval(() => {}, 1000);`
      : `console.error('F0101 fake apiserver: boom'); process.exit(3);`,
  );
  const starts = () => {
    const path = join(dir, 'starts');
    return existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n') : [];
  };
  return {
    binaries: {
      datastore: { kind: 'etcd', binary: etcdPath },
      kubeApiserver: apiserverPath,
      kubeControllerManager: script('kube-controller-manager.cjs', 'setInterval(() => {}, 1000);'),
      kustomize: join(dir, 'kustomize'),
      versions: pinnedVersions(),
      dirs: [dir],
    },
    starts,
    pids: () => starts().map((line) => Number(line.split(' ')[1])),
  };
}

async function startFailure(start: Promise<unknown>): Promise<ControlPlaneError> {
  const err = await start.then(
    () => assert.fail('the control plane should not start'),
    (error: unknown) => error,
  );
  assert.ok(isControlPlaneError(err), `expected a ControlPlaneError, got ${String(err)}`);
  return err;
}

function removeRunDir(err: ControlPlaneError): void {
  if (err.logPath !== undefined) rmSync(dirname(err.logPath), { recursive: true, force: true });
}

test('an apiserver that never gets ready is CP_NOT_READY with its log tail, and nothing is left running', async (t) => {
  const fake = fakeBinaries(t, 'healthy', 'hang');
  const err = await startFailure(
    startControlPlane({ binaries: fake.binaries, readyTimeoutMs: 3000, report: () => {} }),
  );
  t.after(() => removeRunDir(err));
  assert.equal(err.code, 'CP_NOT_READY');
  assert.match(err.message, /kube-apiserver did not become ready/);
  assert.match(err.message, /never comes/);
  assert.ok(err.logPath?.endsWith('kube-apiserver.log'));
  assert.equal(fake.pids().length, 2);
  for (const pid of fake.pids()) assert.equal(isAlive(pid), false, `process ${pid} survived`);
});

test('a server that exits during startup is CP_PROCESS_EXITED with its exit code and log tail', async (t) => {
  const fake = fakeBinaries(t, 'healthy', 'crash');
  const err = await startFailure(startControlPlane({ binaries: fake.binaries, report: () => {} }));
  t.after(() => removeRunDir(err));
  assert.equal(err.code, 'CP_PROCESS_EXITED');
  assert.match(err.message, /kube-apiserver exited with code 3/);
  assert.match(err.message, /boom/);
  for (const pid of fake.pids()) assert.equal(isAlive(pid), false, `process ${pid} survived`);
});

test('a port clash reported by a server is retried on fresh ports, then CP_PORT_IN_USE', async (t) => {
  const fake = fakeBinaries(t, 'port-clash', 'hang');
  const retries: string[] = [];
  const err = await startFailure(startControlPlane({ binaries: fake.binaries, report: (line) => retries.push(line) }));
  assert.equal(err.code, 'CP_PORT_IN_USE');
  assert.match(err.message, /already in use/);
  assert.equal(fake.starts().length, 3);
  assert.equal(retries.filter((line) => line.includes('Retrying with other ports')).length, 2);
});

test('an explicit apiserver port that is taken is CP_PORT_IN_USE before any server starts', async (t) => {
  const fake = fakeBinaries(t, 'healthy', 'hang');
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.after(() => holder.close());
  const address = holder.address();
  assert.ok(address !== null && typeof address === 'object');

  const err = await startFailure(
    startControlPlane({ binaries: fake.binaries, apiserverPort: address.port, report: () => {} }),
  );
  assert.equal(err.code, 'CP_PORT_IN_USE');
  assert.match(err.message, new RegExp(`Port ${address.port} .* already in use`));
  assert.deepEqual(fake.starts(), []);
});
