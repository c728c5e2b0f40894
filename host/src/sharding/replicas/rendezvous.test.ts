// Rendezvous hashing: stable, balanced, and a membership change moves only the keys it must.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { childShardKey, ownerOf, shardKey } from './rendezvous.ts';

const keys = Array.from({ length: 3000 }, (_, i) => shardKey('demo.wasmreconciler.dev', 'App', 'ns', `app-${i}`));

function assignment(members: readonly string[]): Map<string, string | undefined> {
  return new Map(keys.map((k) => [k, ownerOf(k, members)]));
}

test('no members own nothing; one member owns everything; the order of members does not matter', () => {
  assert.equal(ownerOf(keys[0]!, []), undefined);
  assert.ok(keys.every((k) => ownerOf(k, ['a']) === 'a'));
  assert.deepEqual(assignment(['a', 'b', 'c']), assignment(['c', 'a', 'b']));
});

test('three members get about a third each', () => {
  const counts = new Map<string, number>();
  for (const owner of assignment(['a', 'b', 'c']).values()) counts.set(owner!, (counts.get(owner!) ?? 0) + 1);
  for (const member of ['a', 'b', 'c']) {
    const share = (counts.get(member) ?? 0) / keys.length;
    assert.ok(share > 0.28 && share < 0.39, `${member} owns ${share}`);
  }
});

test('a joining member takes about 1/N of the keys, all of them its own; a leaving one moves only its own', () => {
  const before = assignment(['a', 'b']);
  const after = assignment(['a', 'b', 'c']);
  let moved = 0;
  for (const [k, owner] of after) {
    if (owner === before.get(k)) continue;
    moved++;
    assert.equal(owner, 'c', 'a key only ever moves to the newcomer');
  }
  const share = moved / keys.length;
  assert.ok(share > 0.28 && share < 0.39, `moved ${share}`);
  for (const [k, owner] of assignment(['a', 'c'])) {
    if (after.get(k) !== 'b') assert.equal(owner, after.get(k), "only b's keys move when b leaves");
  }
});

test('the key includes the group and kind, so two kinds with the same names spread independently', () => {
  assert.equal(shardKey('', 'ConfigMap', 'ns', 'x'), '/ConfigMap/ns/x');
  assert.equal(shardKey('apps', 'Deployment', undefined, 'x'), 'apps/Deployment//x');
});

test("a child hashes as its controller owner, in the owner's namespace when the owner is namespaced", () => {
  const child = (refs: { apiVersion: string; kind: string; name: string; controller?: boolean }[]) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { namespace: 'ns', name: 'a-config', ownerReferences: refs.map((r) => ({ uid: 'u', ...r })) },
  });
  const app = { group: 'x.dev', kind: 'App', namespaced: true };
  const controlled = child([
    { apiVersion: 'other.dev/v1', kind: 'App', name: 'not-the-controller' },
    { apiVersion: 'x.dev/v2', kind: 'App', name: 'a', controller: true },
  ]);
  assert.equal(childShardKey(controlled, app), shardKey('x.dev', 'App', 'ns', 'a'));
  assert.equal(childShardKey(controlled, { ...app, namespaced: false }), shardKey('x.dev', 'App', undefined, 'a'));
  assert.equal(childShardKey(controlled, { ...app, group: 'other.dev' }), undefined, 'another group');
  assert.equal(
    childShardKey(child([{ apiVersion: 'x.dev/v1', kind: 'App', name: 'a' }]), app),
    undefined,
    'no controller',
  );
  assert.equal(childShardKey(child([]), app), undefined);
});
