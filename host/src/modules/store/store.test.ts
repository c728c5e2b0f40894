// Tests the disk cache: atomic layout, verify-on-read, LRU eviction under the bound, pins, and restarts.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { sha256Digest } from '../../digest.ts';
import { isWrError } from '../../errors.ts';
import type { Digest } from '../spec.ts';
import { ModuleStore, type StoreEvent } from './store.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'wr-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const blob = (tag: string, size = 100) => Buffer.alloc(size, tag);
const file = (d: Digest) => path.join(dir, 'sha256', d.slice('sha256:'.length));

/** Gives a blob an old mtime, as if it were last used `secondsAgo` ago (LRU order survives restarts). */
function age(d: Digest, secondsAgo: number): void {
  const t = Date.now() / 1000 - secondsAgo;
  utimesSync(file(d), t, t);
}

test('put stores under sha256/<hex> with nothing left in tmp, and get returns the bytes', async () => {
  const store = await ModuleStore.open({ dir, maxBytes: 10_000 });
  const bytes = blob('a');
  const digest = await store.put(bytes);
  assert.equal(digest, sha256Digest(bytes));
  assert.ok(existsSync(file(digest)));
  assert.deepEqual(readdirSync(path.join(dir, 'tmp')), []);
  assert.deepEqual(Buffer.from((await store.get(digest)) ?? []), bytes);
  assert.equal(await store.get(sha256Digest(blob('never'))), undefined);
  assert.deepEqual(store.usage(), { entries: 1, bytes: 100, pinnedBytes: 0 });
});

test('put refuses bytes that do not match the expected digest', async () => {
  const store = await ModuleStore.open({ dir, maxBytes: 10_000 });
  await assert.rejects(store.put(blob('a'), sha256Digest(blob('b'))), (err: unknown) =>
    isWrError(err, 'WR_SOURCE_DIGEST_MISMATCH'),
  );
  assert.equal(store.usage().entries, 0);
});

test('a corrupted blob is deleted and reported, never returned', async () => {
  const events: StoreEvent[] = [];
  const store = await ModuleStore.open({ dir, maxBytes: 10_000, onEvent: (e) => events.push(e) });
  const digest = await store.put(blob('a'));
  writeFileSync(file(digest), blob('z'));
  assert.equal(await store.get(digest), undefined);
  assert.equal(existsSync(file(digest)), false);
  assert.equal(store.has(digest), false);
  assert.deepEqual(events, [{ type: 'corrupt', digest, actual: sha256Digest(blob('z')) }]);
});

test('a restart re-indexes blobs, drops crash leftovers in tmp and stray names', async () => {
  const first = await ModuleStore.open({ dir, maxBytes: 10_000 });
  const digest = await first.put(blob('a'));
  writeFileSync(path.join(dir, 'tmp', 'half-written'), 'x');
  writeFileSync(path.join(dir, 'sha256', 'not-a-digest'), 'x');
  const second = await ModuleStore.open({ dir, maxBytes: 10_000 });
  assert.ok(second.has(digest));
  assert.deepEqual(readdirSync(path.join(dir, 'tmp')), []);
  assert.deepEqual(readdirSync(path.join(dir, 'sha256')), [digest.slice('sha256:'.length)]);
  assert.deepEqual(Buffer.from((await second.get(digest)) ?? []), blob('a'));
});

test('past the bound, least recently used unpinned blobs go first, by mtime across restarts', async () => {
  const first = await ModuleStore.open({ dir, maxBytes: 300 });
  const a = await first.put(blob('a'));
  const b = await first.put(blob('b'));
  const c = await first.put(blob('c'));
  age(a, 300);
  age(b, 100);
  age(c, 200);
  const events: StoreEvent[] = [];
  const store = await ModuleStore.open({ dir, maxBytes: 300, onEvent: (e) => events.push(e) });
  // Reading `a` makes it the most recently used, so `c` then `b` are the oldest.
  assert.ok(await store.get(a));
  const d = await store.put(blob('d'));
  assert.deepEqual(events, [{ type: 'evicted', digest: c, sizeBytes: 100 }]);
  assert.deepEqual(
    [a, b, c, d].map((x) => store.has(x)),
    [true, true, false, true],
  );
  assert.equal(existsSync(file(c)), false);
});

test('pinned blobs are never evicted, even when pins alone exceed the bound', async () => {
  const store = await ModuleStore.open({ dir, maxBytes: 150 });
  const a = await store.put(blob('a'));
  store.setPins('edge/one', [a]);
  const b = await store.put(blob('b'));
  store.setPins('edge/two', [b]);
  const c = await store.put(blob('c'));
  assert.deepEqual(
    [a, b, c].map((x) => store.has(x)),
    [true, true, true],
  );
  assert.deepEqual(store.usage(), { entries: 3, bytes: 300, pinnedBytes: 200 });
  const d = await store.put(blob('d'));
  // Only unpinned bytes count against the bound: c is older than d, so c goes.
  assert.deepEqual(
    [a, b, c, d].map((x) => store.has(x)),
    [true, true, false, true],
  );
  store.deletePins('edge/one');
  await store.enforceLimit();
  assert.equal(store.has(a), false);
  assert.ok(store.isPinned(b));
  store.setPins('edge/two', []);
  assert.equal(store.isPinned(b), false);
});

test('a blob larger than the bound is kept until something newer displaces it', async () => {
  const store = await ModuleStore.open({ dir, maxBytes: 50 });
  const big = await store.put(blob('a', 100));
  assert.ok(store.has(big));
  const next = await store.put(blob('b', 10));
  assert.equal(store.has(big), false);
  assert.ok(store.has(next));
});

test('a blob deleted behind the store is a miss, not an error', async () => {
  const store = await ModuleStore.open({ dir, maxBytes: 1000 });
  const digest = await store.put(blob('a'));
  rmSync(file(digest));
  assert.equal(await store.get(digest), undefined);
  assert.equal(store.has(digest), false);
});

test('an unusable directory is a typed error', async () => {
  const plain = path.join(dir, 'plain-file');
  writeFileSync(plain, 'x');
  await assert.rejects(ModuleStore.open({ dir: path.join(plain, 'cache'), maxBytes: 1 }), (err: unknown) =>
    isWrError(err, 'WR_SOURCE_UNREACHABLE'),
  );
});
