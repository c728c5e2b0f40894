// Tests the cache-first resolver for inline, ConfigMap and URL sources (OCI runs against a real registry in
// test/integration/oci-registry.test.ts).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { wasmWithPayload } from '../../../../test/support/wasm-bytes.ts';
import { sha256Digest } from '../../digest.ts';
import { isWrError, type WrError } from '../../errors.ts';
import type { ConfigMapGetter } from '../sources/types.ts';
import { ModuleResolver } from './resolver.ts';
import { ModuleStore } from './store.ts';

const MODULE = wasmWithPayload('resolver');
const DIGEST = sha256Digest(MODULE);
const MAX = 64 * 1024;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'wr-resolver-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function code(c: string) {
  return (err: unknown) => isWrError(err) && err.code === c;
}

async function resolverWith(configMaps: ConfigMapGetter, onCacheError?: (e: WrError) => void) {
  const store = await ModuleStore.open({ dir, maxBytes: MAX });
  const resolver = new ModuleResolver({
    store,
    configMaps,
    secrets: async () => undefined,
    ...(onCacheError === undefined ? {} : { onCacheError }),
  });
  return { store, resolver };
}

test('inline modules are decoded, digest-checked, size-checked and cached', async () => {
  const { store, resolver } = await resolverWith(async () => undefined);
  const base64 = MODULE.toString('base64');
  const r = await resolver.resolve({ type: 'inline', base64, digest: DIGEST }, { maxBytes: MAX });
  assert.deepEqual(Buffer.from(r.bytes), MODULE);
  assert.deepEqual(r.blobs, [DIGEST]);
  assert.ok(store.has(DIGEST));
  await assert.rejects(
    resolver.resolve({ type: 'inline', base64, digest: sha256Digest(Buffer.from('x')) }, { maxBytes: MAX }),
    code('WR_SOURCE_DIGEST_MISMATCH'),
  );
  await assert.rejects(
    resolver.resolve({ type: 'inline', base64, digest: undefined }, { maxBytes: 8 }),
    code('WR_MODULE_TOO_LARGE'),
  );
  await assert.rejects(
    resolver.resolve({ type: 'inline', base64: 'AGFzbQEAAA==x', digest: undefined }, { maxBytes: MAX }),
    code('WR_SPEC_INVALID'),
  );
});

test('ConfigMap modules: read through the getter; missing map, missing key, bad base64 and getter failures', async () => {
  const maps: Record<string, Record<string, string>> = {
    'edge/mods': { 'app.wasm': MODULE.toString('base64'), 'bad.wasm': '***' },
  };
  const { resolver } = await resolverWith(async (ns, name) => {
    if (name === 'boom') throw new Error('apiserver down');
    return maps[`${ns}/${name}`];
  });
  const src = { type: 'configMap', namespace: 'edge', name: 'mods', key: 'app.wasm', digest: undefined } as const;
  const r = await resolver.resolve(src, { maxBytes: MAX });
  assert.equal(r.digest, DIGEST);
  assert.equal(r.fromCache, false);
  await assert.rejects(resolver.resolve({ ...src, name: 'other' }, { maxBytes: MAX }), code('WR_SOURCE_NOT_FOUND'));
  await assert.rejects(resolver.resolve({ ...src, key: 'nope.wasm' }, { maxBytes: MAX }), code('WR_SOURCE_NOT_FOUND'));
  await assert.rejects(resolver.resolve({ ...src, key: 'bad.wasm' }, { maxBytes: MAX }), code('WR_SOURCE_INVALID'));
  await assert.rejects(resolver.resolve({ ...src, name: 'boom' }, { maxBytes: MAX }), code('WR_SOURCE_UNREACHABLE'));
  await assert.rejects(
    resolver.resolve({ ...src, digest: sha256Digest(Buffer.from('x')) }, { maxBytes: MAX }),
    code('WR_SOURCE_DIGEST_MISMATCH'),
  );
});

test('a pinned digest already cached is served without calling the source', async () => {
  let reads = 0;
  const { resolver } = await resolverWith(async () => {
    reads++;
    return { 'app.wasm': MODULE.toString('base64') };
  });
  const src = { type: 'configMap', namespace: 'edge', name: 'mods', key: 'app.wasm', digest: DIGEST } as const;
  assert.equal((await resolver.resolve(src, { maxBytes: MAX })).fromCache, false);
  const again = await resolver.resolve(src, { maxBytes: MAX });
  assert.equal(again.fromCache, true);
  assert.equal(reads, 1);
  // The limit applies to cached bytes too: it may have been lowered since the module was cached.
  await assert.rejects(resolver.resolve(src, { maxBytes: 8 }), code('WR_MODULE_TOO_LARGE'));
});

test('a cached URL module needs no network: an unroutable URL still resolves', async () => {
  const { store, resolver } = await resolverWith(async () => undefined);
  await store.put(MODULE);
  const r = await resolver.resolve(
    { type: 'url', url: 'https://127.0.0.1:1/never.wasm', digest: DIGEST },
    { maxBytes: MAX },
  );
  assert.equal(r.fromCache, true);
  assert.deepEqual(Buffer.from(r.bytes), MODULE);
  await assert.rejects(
    resolver.resolve(
      { type: 'url', url: 'https://127.0.0.1:1/never.wasm', digest: sha256Digest(Buffer.from('x')) },
      { maxBytes: MAX },
    ),
    code('WR_SOURCE_UNREACHABLE'),
  );
});

test('a cache that cannot be written is reported, and the module still resolves', async () => {
  const errors: WrError[] = [];
  const { resolver } = await resolverWith(
    async () => undefined,
    (e) => errors.push(e),
  );
  rmSync(dir, { recursive: true, force: true });
  const r = await resolver.resolve(
    { type: 'inline', base64: MODULE.toString('base64'), digest: undefined },
    { maxBytes: MAX },
  );
  assert.equal(r.digest, DIGEST);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.code, 'WR_SOURCE_UNREACHABLE');
});
