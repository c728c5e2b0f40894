// KeyFence: writes of a tripped key's reconcile are refused from then on; other keys and later runs are not.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../abi/types.ts';
import { isWrError } from '../errors.ts';
import type { ExecutorClient } from '../executor/index.ts';
import { KeyFence } from './fence.ts';

function recordingClient(): { client: ExecutorClient; sent: string[] } {
  const sent: string[] = [];
  const client: ExecutorClient = {
    get: async () => undefined,
    apply: async (object) => {
      sent.push(`apply ${object.metadata.name}`);
      return object;
    },
    applyStatus: async (object) => object,
    delete: async (ref) => {
      sent.push(`delete ${ref.name}`);
    },
    patchMetadata: async () => ({}) as KubeObject,
    createEvent: async () => undefined,
  };
  return { client, sent };
}

const child = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } }) as KubeObject;
const apply = { fieldManager: 'm', force: true } as const;

test('a write after trip(key) is refused with WR_SHARD_MOVED and never reaches the client', async () => {
  const fence = new KeyFence();
  const { client, sent } = recordingClient();
  const fenced = fence.client(client);
  let release: () => void = () => undefined;
  const paused = new Promise<void>((resolve) => {
    release = resolve;
  });
  const run = fence.run('ns/a', async () => {
    await fenced.apply(child('first'), apply);
    await paused;
    await fenced.apply(child('second'), apply);
  });
  // Let the first write go out, then fence the key while the reconcile waits.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(fence.trip('ns/a'), true);
  release();
  await assert.rejects(run, (err) => isWrError(err, 'WR_SHARD_MOVED'));
  assert.deepEqual(sent, ['apply first']);
});

test('other keys, writes outside any run, and a later run of the same key are not fenced', async () => {
  const fence = new KeyFence();
  const { client, sent } = recordingClient();
  const fenced = fence.client(client);
  assert.equal(fence.trip('ns/idle'), false, 'nothing in flight to fence');
  let release: () => void = () => undefined;
  const paused = new Promise<void>((resolve) => {
    release = resolve;
  });
  const a = fence.run('ns/a', async () => {
    await paused;
    await fenced.apply(child('a'), apply);
  });
  const b = fence.run('ns/b', async () => {
    await paused;
    await fenced.delete(
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'b' },
      { uid: 'u', propagationPolicy: 'Background' },
    );
  });
  fence.trip('ns/a');
  release();
  await assert.rejects(a, (err) => isWrError(err, 'WR_SHARD_MOVED'));
  await b;
  await fenced.apply(child('outside'), apply);
  await fence.run('ns/a', () => fenced.apply(child('again'), apply));
  assert.deepEqual(sent, ['delete b', 'apply outside', 'apply again']);
});
