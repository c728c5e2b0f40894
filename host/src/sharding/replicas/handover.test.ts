import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../../abi/types.ts';
import { CachedObject } from '../../cache/index.ts';
import { WrError } from '../../errors.ts';
import { type ApiResource, type KubeClient, silentLogger } from '../../kube/index.ts';
import { ReplicaHandover } from './handover.ts';
import { ringLabels } from './labels.ts';

const labels = ringLabels('t');
const res: ApiResource = { group: 'x.dev', version: 'v1', kind: 'App', plural: 'apps', namespaced: true };

function version(rv: number, objectLabels: Record<string, string>): CachedObject {
  const obj: KubeObject = {
    apiVersion: 'x.dev/v1',
    kind: 'App',
    metadata: { namespace: 'ns', name: 'a', resourceVersion: String(rv), labels: objectLabels },
  };
  return new CachedObject(JSON.stringify(obj), obj, 'ns');
}

/** A client whose label patches the test answers one at a time. */
function answeringClient() {
  const patches: { resourceVersion: string; answer: (err?: Error) => void }[] = [];
  const client = {
    request: (_method: string, _path: string, options: { body: { metadata: { resourceVersion: string } } }) =>
      new Promise((resolve, reject) => {
        patches.push({
          resourceVersion: options.body.metadata.resourceVersion,
          answer: (err) => (err === undefined ? resolve({}) : reject(err)),
        });
      }),
  } as unknown as KubeClient;
  return { client, patches };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const conflict = () => new WrError('WR_KUBE_CONFLICT', 'the object has been modified');
const owned = { [labels.shard]: 'm' };
const draining = { [labels.shard]: 'm', [labels.drain]: 'true' };

test('a conflict answered after the newer version arrived acknowledges that version, so no drain is stranded', async () => {
  const { client, patches } = answeringClient();
  const ownership = new ReplicaHandover({ member: 'm', labels, client, logger: silentLogger }).ownership(res);
  assert.equal(ownership.owns(version(1, owned)), true);
  assert.equal(ownership.owns(version(2, draining)), false);
  ownership.left('ns/a', Promise.resolve());
  await tick();
  assert.deepEqual(
    patches.map((p) => p.resourceVersion),
    ['2'],
  );
  // A status write lands: its version reaches the cache while the acknowledgement is still on the wire.
  assert.equal(ownership.owns(version(3, draining)), false);
  patches[0]!.answer(conflict());
  await tick();
  assert.deepEqual(
    patches.map((p) => p.resourceVersion),
    ['2', '3'],
    'acknowledged again, on the version the cache now holds',
  );
});

test('a conflict answered before the newer version arrives is acknowledged on its arrival', async () => {
  const { client, patches } = answeringClient();
  const ownership = new ReplicaHandover({ member: 'm', labels, client, logger: silentLogger }).ownership(res);
  ownership.owns(version(1, owned));
  ownership.owns(version(2, draining));
  ownership.left('ns/a', Promise.resolve());
  await tick();
  patches[0]!.answer(conflict());
  await tick();
  assert.equal(patches.length, 1, 'nothing newer to acknowledge yet');
  ownership.owns(version(3, draining));
  await tick();
  assert.deepEqual(
    patches.map((p) => p.resourceVersion),
    ['2', '3'],
  );
});

test('the acknowledged version still cached starts nothing and writes nothing; the object is owned again when it comes back', async () => {
  const { client, patches } = answeringClient();
  const handover = new ReplicaHandover({ member: 'm', labels, client, logger: silentLogger });
  const ownership = handover.ownership(res);
  ownership.owns(version(1, owned));
  ownership.owns(version(2, draining));
  ownership.left('ns/a', Promise.resolve());
  await tick();
  patches[0]!.answer();
  await tick();
  assert.equal(handover.acknowledged, 1);
  // Until the cache sees the acknowledgement, a resync or a child event asks about the drained version again.
  assert.equal(ownership.owns(version(2, draining)), false);
  await tick();
  assert.equal(patches.length, 1, 'no second acknowledgement of the same version');
  ownership.left('ns/a', Promise.resolve());
  // Later the sharder assigns it here again (the other members left): it is this replica's once more.
  assert.equal(ownership.owns(version(5, owned)), true);
});
