import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../../abi/types.ts';
import { type CacheHandle, createStore, type ReflectorRegistry } from '../../cache/index.ts';
import { WrError } from '../../errors.ts';
import { type ApiResource, type KubeClient, silentLogger } from '../../kube/index.ts';
import { ringLabels } from './labels.ts';
import type { RingMembers } from './members.ts';
import { ownerOf, shardKey } from './rendezvous.ts';
import { Sharder, type SharderOptions } from './sharder.ts';

const labels = ringLabels('t');
const res: ApiResource = { group: 'x.dev', version: 'v1', kind: 'App', plural: 'apps', namespaced: true };
const LIVE = ['m1', 'm2'];
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

function app(rv: number, objectLabels: Record<string, string>): KubeObject {
  return {
    apiVersion: 'x.dev/v1',
    kind: 'App',
    metadata: { namespace: 'ns', name: 'a', resourceVersion: String(rv), labels: objectLabels },
  };
}

/**
 * A sharder over one App in namespace ns: its unassigned watch is a real store the test writes, the
 * assigned list returns `assigned`, and every label patch waits for the test to answer it.
 */
function harness(assigned: KubeObject[], resyncMs = 3_600_000, retry?: SharderOptions['retry']) {
  const unassigned = createStore();
  unassigned.writer.resync().commit();
  const handle: CacheHandle = {
    resource: res,
    reader: unassigned.reader,
    hasSynced: true,
    synced: Promise.resolve(),
    subscribe: (handler, options) => unassigned.reader.subscribe(handler, options),
    release: () => {},
  };
  const registry = { acquire: async () => handle } as unknown as ReflectorRegistry;
  const members = {
    synced: true,
    live: () => LIVE,
    gone: () => false,
    onChange: () => () => {},
  } as unknown as RingMembers;
  const patches: { labels: Record<string, string | null>; answer: (err?: Error) => void }[] = [];
  const client = {
    list: async () => ({ items: assigned, metadata: {} }),
    request: (_method: string, _path: string, options: { body: { metadata: { labels: Record<string, string> } } }) =>
      new Promise((resolve, reject) =>
        patches.push({
          labels: options.body.metadata.labels,
          answer: (err) => (err === undefined ? resolve({}) : reject(err)),
        }),
      ),
  } as unknown as KubeClient;
  const sharder = new Sharder({
    registry,
    members,
    labels,
    logger: silentLogger,
    resyncMs,
    ...(retry ? { retry } : {}),
  });
  sharder.shard({ apiVersion: 'x.dev/v1', kind: 'App', namespace: 'ns' });
  return { sharder, client, patches, unassigned };
}

test('a drain acknowledged before its own response is read still gets its object assigned', async () => {
  const owner = ownerOf(shardKey(res.group, res.kind, 'ns', 'a'), LIVE)!;
  const previous = LIVE.find((m) => m !== owner)!;
  const { sharder, client, patches, unassigned } = harness([app(1, { [labels.shard]: previous })]);
  sharder.start(client);
  await tick();
  assert.deepEqual(
    patches.map((p) => p.labels),
    [{ [labels.drain]: 'true' }],
    'the pass drains the object from the member that no longer owns it',
  );
  // The old owner acknowledges (both labels removed) and the unassigned watch delivers the object while the
  // drain's response is still unread: the sharder must not lose it behind the drain in flight.
  unassigned.writer.apply(app(3, {}));
  await tick();
  assert.equal(patches.length, 1);
  patches[0]!.answer();
  await tick();
  assert.deepEqual(
    patches.map((p) => p.labels),
    [{ [labels.drain]: 'true' }, { [labels.shard]: owner }],
  );
  await sharder.stop();
});

test('an assignment that failed is retried by the next pass, which also covers the unassigned objects', async () => {
  const owner = ownerOf(shardKey(res.group, res.kind, 'ns', 'a'), LIVE)!;
  const { sharder, client, patches, unassigned } = harness([]);
  unassigned.writer.apply(app(2, {}));
  sharder.start(client);
  await tick();
  assert.deepEqual(
    patches.map((p) => p.labels),
    [{ [labels.shard]: owner }],
  );
  patches[0]!.answer(new WrError('WR_KUBE_UNAVAILABLE', 'the server is currently unable to handle the request'));
  // The failure schedules a pass within 1 s (the first backoff step); the object is still unassigned in the
  // watch, with no new event.
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  assert.deepEqual(
    patches.map((p) => p.labels),
    [{ [labels.shard]: owner }, { [labels.shard]: owner }],
  );
  patches[1]!.answer();
  await sharder.stop();
});

test('a pass that keeps failing is retried less and less often, and no sooner than the server asks', async () => {
  // The jitter draws at the top of each step, so the delays are the ceilings: 40, 80, 160, 160 ms.
  const { sharder, client } = harness([], 3_600_000, { initialMs: 40, maxMs: 160, random: () => 0.999 });
  const lists: number[] = [];
  let retryAfterMs: number | undefined;
  client.list = async () => {
    lists.push(performance.now());
    throw new WrError('WR_KUBE_UNAVAILABLE', 'the server is currently unable to handle the request', {
      ...(retryAfterMs === undefined ? {} : { details: { retryAfterMs } }),
    });
  };
  sharder.start(client);
  await new Promise((resolve) => setTimeout(resolve, 560));
  const gaps = lists.slice(1).map((t, i) => t - lists[i]!);
  assert.ok(gaps.length >= 3 && gaps.length <= 5, `passes at growing intervals, not a fixed one: ${gaps.join(', ')}`);
  assert.ok(gaps[1]! > gaps[0]! * 1.5 && gaps[2]! > gaps[1]! * 1.5, `each gap about doubles: ${gaps.join(', ')}`);
  // A Retry-After above the backoff's cap is honoured.
  retryAfterMs = 400;
  const before = lists.length;
  await new Promise((resolve) => setTimeout(resolve, 200));
  const marked = lists.length;
  await new Promise((resolve) => setTimeout(resolve, 700));
  assert.ok(marked - before <= 1, 'the failure that carried Retry-After is the last pass for a while');
  const last = lists.slice(marked - 1);
  assert.ok(last.length >= 2 && last[1]! - last[0]! >= 395, `the next pass waits out Retry-After: ${last.join(', ')}`);
  await sharder.stop();
});

const cmRes: ApiResource = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };

function configMap(name: string, objectLabels: Record<string, string>, controller?: { kind: string; name: string }) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      namespace: 'ns',
      name,
      resourceVersion: '7',
      labels: objectLabels,
      ...(controller === undefined
        ? {}
        : {
            ownerReferences: [
              { apiVersion: 'x.dev/v1', kind: controller.kind, name: controller.name, uid: 'u', controller: true },
            ],
          }),
    },
  } as KubeObject;
}

test("a pass gives every child its owner's shard, drains owners first, and leaves foreign objects alone", async () => {
  const owner = ownerOf(shardKey(res.group, res.kind, 'ns', 'a'), LIVE)!;
  const previous = LIVE.find((m) => m !== owner)!;
  const children = [
    configMap('adopted', {}, { kind: 'App', name: 'a' }),
    configMap('moved', { [labels.shard]: previous }, { kind: 'App', name: 'a' }),
    configMap('in-place', { [labels.shard]: owner }, { kind: 'App', name: 'a' }),
    configMap('not-ours', {}, { kind: 'Other', name: 'a' }),
    configMap('uncontrolled', {}),
  ];
  const { sharder, client, patches } = harness([app(1, { [labels.shard]: previous })]);
  const listed = client.list;
  client.list = (async (r: ApiResource, options: unknown) =>
    r.kind === 'ConfigMap' ? { items: children, metadata: {} } : listed(r, options as never)) as KubeClient['list'];
  const paths: string[] = [];
  const request = client.request;
  client.request = ((method: string, path: string, options: never) => {
    paths.push(path);
    return request(method, path, options);
  }) as KubeClient['request'];
  const release = sharder.shardChildren({
    resource: cmRes,
    namespace: 'ns',
    owner: { group: 'x.dev', kind: 'App', namespaced: true },
  });
  sharder.start(client);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(
    patches.map((p) => p.labels),
    [{ [labels.drain]: 'true' }, { [labels.shard]: owner }, { [labels.shard]: owner }],
  );
  assert.deepEqual(
    paths.slice(1).map((p) => p.split('/').at(-1)),
    ['adopted', 'moved'],
  );
  for (const p of patches) p.answer();
  await tick();
  assert.equal(sharder.stats.children, 2);
  release();
  await sharder.stop();
});

test('children stay sharded while one controller holds their set, and are left alone once none does', async () => {
  const owner = ownerOf(shardKey(res.group, res.kind, 'ns', 'a'), LIVE)!;
  // A pass every 40 ms: the unlabelled child is relabelled by each pass while its set is held.
  const { sharder, client, patches } = harness([], 40);
  let childLists = 0;
  client.list = (async (r: ApiResource) => {
    if (r.kind === 'ConfigMap') childLists++;
    return { items: r.kind === 'ConfigMap' ? [configMap('c', {}, { kind: 'App', name: 'a' })] : [], metadata: {} };
  }) as KubeClient['list'];
  const spec = { resource: cmRes, namespace: 'ns', owner: { group: 'x.dev', kind: 'App', namespaced: true } };
  const first = sharder.shardChildren(spec);
  const second = sharder.shardChildren(spec);
  first();
  sharder.start(client);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(
    patches.map((p) => p.labels),
    [{ [labels.shard]: owner }],
    'one holder is left: still sharded',
  );
  patches[0]!.answer();
  second();
  const listsThen = childLists;
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.ok(listsThen > 0);
  assert.equal(childLists, listsThen, 'no pass lists a set nobody holds');
  assert.equal(patches.length, 1);
  await sharder.stop();
});
