import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../../abi/types.ts';
import { CachedObject } from '../../cache/index.ts';
import { isWrError, WrError } from '../../errors.ts';
import type { ListOptions } from '../../kube/client.ts';
import type { ApiResource } from '../../kube/paths.ts';
import type { ClaimTarget } from '../policy.ts';
import { CHILD_OWNER_LABEL, type ClaimOptions, claimChildren } from './claim.ts';
import { CHILD_NODE_LABEL } from './ownership.ts';

const PRIMARY_UID = 'uid-app';
const CONFIGMAPS: ApiResource = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };

/**
 * One API server's ConfigMaps and one host's cache of those labelled with its node, which the "watch"
 * delivers `deliverAfterMs` after each write (never, when undefined).
 */
class World {
  readonly stored = new Map<string, KubeObject>();
  readonly cached = new Map<string, CachedObject>();
  readonly listed: ListOptions[] = [];
  readonly patched: { name: string; resourceVersion: string }[] = [];
  readonly #listeners = new Set<() => void>();
  #rv = 100;
  /** Called before each patch is applied: a test changes or deletes the object there. */
  beforePatch: ((name: string) => void) | undefined;

  readonly node: string;
  readonly deliverAfterMs: number | undefined;

  constructor(node: string, deliverAfterMs: number | undefined) {
    this.node = node;
    this.deliverAfterMs = deliverAfterMs;
  }

  put(name: string, labels: Record<string, string>, controllerUid = PRIMARY_UID, namespace = 'ns'): void {
    this.stored.set(name, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace,
        uid: `uid-${name}`,
        resourceVersion: String(++this.#rv),
        labels,
        ownerReferences: [{ apiVersion: 'x/v1', kind: 'App', name: 'a', uid: controllerUid, controller: true }],
      },
    });
  }

  bump(name: string): void {
    const obj = this.stored.get(name)!;
    obj.metadata.resourceVersion = String(++this.#rv);
  }

  readonly client: ClaimOptions['client'] = {
    resource: async () => CONFIGMAPS,
    list: async (_res, options = {}) => {
      this.listed.push(options);
      const terms = (options.labelSelector ?? '').split(',').map((t) => t.split(/(!=|=)/));
      const items = [...this.stored.values()].filter(
        (o) =>
          (options.namespace === undefined || o.metadata.namespace === options.namespace) &&
          terms.every(([k, op, v]) => (op === '=' ? o.metadata.labels?.[k!] === v : o.metadata.labels?.[k!] !== v)),
      );
      return { metadata: {}, items: structuredClone(items) };
    },
  };

  target(): ClaimTarget {
    return {
      owned: [
        {
          kind: { apiVersion: 'v1', kind: 'ConfigMap', namespaced: true } as ClaimTarget['owned'][number]['kind'],
          handles: [
            {
              subscribe: (handler) => {
                const listener = () => handler({ type: 'upsert' } as never);
                this.#listeners.add(listener);
                return () => this.#listeners.delete(listener);
              },
            },
          ],
          byOwner: (uid, namespace) =>
            [...this.cached.values()].filter(
              (c) => c.controllerUid === uid && (namespace === undefined || c.namespace === namespace),
            ),
        },
      ],
      client: {
        patchMetadata: async (ref, patch, { resourceVersion }) => {
          this.beforePatch?.(ref.name);
          const obj = this.stored.get(ref.name);
          if (obj === undefined) throw new WrError('WR_KUBE_NOT_FOUND', `${ref.name} not found`);
          if (obj.metadata.resourceVersion !== resourceVersion)
            throw new WrError('WR_KUBE_CONFLICT', `${ref.name} changed`);
          this.patched.push({ name: ref.name, resourceVersion });
          Object.assign(obj.metadata.labels!, (patch as { labels: Record<string, string> }).labels);
          this.bump(ref.name);
          const copy = structuredClone(obj);
          if (this.deliverAfterMs !== undefined) setTimeout(() => this.#deliver(copy), this.deliverAfterMs);
          return copy;
        },
      },
    };
  }

  #deliver(obj: KubeObject): void {
    if (obj.metadata.labels?.[CHILD_NODE_LABEL] !== this.node) return;
    this.cached.set(obj.metadata.name, new CachedObject(JSON.stringify(obj), obj, obj.metadata.namespace));
    for (const listener of this.#listeners) listener();
  }
}

function options(world: World, cacheWaitMs = 2_000): ClaimOptions {
  return { client: world.client, label: CHILD_NODE_LABEL, nodeName: world.node, namespaces: [], cacheWaitMs };
}

function primary(namespace = 'ns'): CachedObject {
  const obj: KubeObject = { apiVersion: 'x/v1', kind: 'App', metadata: { name: 'a', namespace, uid: PRIMARY_UID } };
  return new CachedObject(JSON.stringify(obj), obj, namespace);
}

const foreign = (node = 'node-a') => ({ [CHILD_NODE_LABEL]: node, [CHILD_OWNER_LABEL]: PRIMARY_UID });

test('relabels the primary’s children from another share, conditionally on their listed version, and waits until they are cached', async () => {
  const world = new World('node-b', 30);
  world.put('a-main', foreign());
  world.put('a-extra', foreign());
  const before = new Map([...world.stored].map(([n, o]) => [n, o.metadata.resourceVersion!]));
  const result = await claimChildren(options(world), primary(), world.target());
  assert.deepEqual(result, { relabelled: 2, cached: true });
  assert.deepEqual(
    world.patched.sort((x, y) => x.name.localeCompare(y.name)),
    [...before]
      .map(([name, resourceVersion]) => ({ name, resourceVersion }))
      .sort((x, y) => x.name.localeCompare(y.name)),
  );
  for (const obj of world.stored.values()) assert.equal(obj.metadata.labels?.[CHILD_NODE_LABEL], 'node-b');
  assert.deepEqual([...world.cached.keys()].sort(), ['a-extra', 'a-main']);
  // One list, in the primary's namespace, selecting the owner's children outside this share.
  assert.equal(world.listed.length, 1);
  assert.equal(world.listed[0]?.namespace, 'ns');
  assert.equal(world.listed[0]?.labelSelector, `${CHILD_OWNER_LABEL}=${PRIMARY_UID},${CHILD_NODE_LABEL}!=node-b`);
});

test('leaves alone objects that carry the owner label but are not controlled by the primary', async () => {
  const world = new World('node-b', 10);
  world.put('a-main', foreign());
  world.put('impostor', foreign(), 'uid-someone-else');
  const result = await claimChildren(options(world), primary(), world.target());
  assert.deepEqual(result, { relabelled: 1, cached: true });
  assert.equal(world.stored.get('impostor')?.metadata.labels?.[CHILD_NODE_LABEL], 'node-a');
});

test('children already in this share are neither written nor waited for', async () => {
  const world = new World('node-b', undefined);
  world.put('a-main', foreign('node-b'));
  const result = await claimChildren(options(world, 60_000), primary(), world.target());
  assert.deepEqual(result, { relabelled: 0, cached: true });
  assert.deepEqual(world.patched, []);
});

test('a child changed between the list and the write is listed again and relabelled at its new version', async () => {
  const world = new World('node-b', 10);
  world.put('a-main', foreign());
  let changes = 1;
  world.beforePatch = (name) => {
    if (changes-- > 0) world.bump(name);
  };
  const result = await claimChildren(options(world), primary(), world.target());
  assert.deepEqual(result, { relabelled: 1, cached: true });
  assert.equal(world.listed.length, 2);
  // put() stored version 101 and the change made it 102: the second write is conditional on what it re-listed.
  assert.deepEqual(world.patched, [{ name: 'a-main', resourceVersion: '102' }]);
});

test('a child that keeps changing fails the claim with the conflict after three attempts (the reconcile is retried)', async () => {
  const world = new World('node-b', 10);
  world.put('a-main', foreign());
  world.beforePatch = (name) => world.bump(name);
  await assert.rejects(claimChildren(options(world), primary(), world.target()), (err) =>
    isWrError(err, 'WR_KUBE_CONFLICT'),
  );
  assert.equal(world.listed.length, 3);
  assert.deepEqual(world.patched, []);
});

test('a child deleted between the list and the write is skipped, and its siblings are still claimed', async () => {
  const world = new World('node-b', 10);
  world.put('a-gone', foreign());
  world.put('a-main', foreign());
  world.beforePatch = (name) => {
    if (name === 'a-gone') world.stored.delete(name);
  };
  const result = await claimChildren(options(world), primary(), world.target());
  assert.deepEqual(result, { relabelled: 1, cached: true });
  assert.equal(world.stored.get('a-main')?.metadata.labels?.[CHILD_NODE_LABEL], 'node-b');
});

test('reports not cached once the wait is over when the watch does not deliver the children in time', async () => {
  const world = new World('node-b', undefined);
  world.put('a-main', foreign());
  const started = performance.now();
  const result = await claimChildren(options(world, 50), primary(), world.target());
  assert.deepEqual(result, { relabelled: 1, cached: false });
  assert.ok(performance.now() - started >= 45);
  assert.equal(world.stored.get('a-main')?.metadata.labels?.[CHILD_NODE_LABEL], 'node-b');
});

test('a cluster-scoped primary’s children are searched in each of the controller’s namespaces', async () => {
  const world = new World('node-b', 10);
  world.put('a-main', foreign(), PRIMARY_UID, 'ns1');
  world.put('a-other', foreign(), PRIMARY_UID, 'ns3');
  const clusterPrimary = new CachedObject(
    JSON.stringify({ metadata: { name: 'a', uid: PRIMARY_UID } }),
    { apiVersion: 'x/v1', kind: 'App', metadata: { name: 'a', uid: PRIMARY_UID } },
    undefined,
  );
  const result = await claimChildren({ ...options(world), namespaces: ['ns1', 'ns2'] }, clusterPrimary, world.target());
  assert.deepEqual(result, { relabelled: 1, cached: true });
  assert.deepEqual(
    world.listed.map((l) => l.namespace),
    ['ns1', 'ns2'],
  );
  assert.equal(world.stored.get('a-other')?.metadata.labels?.[CHILD_NODE_LABEL], 'node-a');
});
