// Pushes and pulls modules against a real registry (Debian's docker-registry, TLS from a test CA) with no auth,
// htpasswd basic auth and distribution token auth, then serves them from the disk cache with the registry down.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sha256Digest } from '../../host/src/digest.ts';
import { isWrError } from '../../host/src/errors.ts';
import {
  type Digest,
  ModuleResolver,
  ModuleStore,
  type OciSource,
  parseOciReference,
  pullModule,
  pushModule,
} from '../../host/src/modules/index.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { createTestCa, type TestCa } from '../support/test-ca.ts';
import { wasmWithPayload } from '../support/wasm-bytes.ts';

const MAX = 1024 * 1024;
const USERS = { alice: 'correct horse battery staple' };
const ALICE = { username: 'alice', password: USERS.alice };

function code(c: string) {
  return (err: unknown) => {
    assert.ok(isWrError(err), `expected a WrError, got ${String(err)}`);
    assert.equal(err.code, c, err.message);
    return true;
  };
}

function blobPath(registry: TestRegistry, digest: Digest): string {
  const hex = digest.slice('sha256:'.length);
  return path.join(registry.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

let ca: TestCa;
before(() => {
  ca = createTestCa();
});
after(() => ca.dispose());

describe('anonymous registry', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry({ ca });
  });
  after(async () => registry?.stop());

  test('a pushed module pulls back by digest, byte for byte, with both config layouts', async () => {
    const bytes = wasmWithPayload('anonymous');
    for (const config of ['wasm', 'empty'] as const) {
      const ref = parseOciReference(`${registry.host}/modules/hello:${config}`);
      const pushed = await pushModule(ref, bytes, { ca: ca.cert, config });
      assert.equal(pushed.layerDigest, sha256Digest(bytes));
      assert.equal(pushed.pinnedReference, `${registry.host}/modules/hello@${pushed.manifestDigest}`);
      // The tag is ignored on pull: the digest alone decides what comes back.
      const pulled = await pullModule(parseOciReference(pushed.pinnedReference), pushed.manifestDigest, {
        ca: ca.cert,
        maxBytes: MAX,
      });
      assert.deepEqual(Buffer.from(pulled.bytes), bytes);
      assert.equal(pulled.digest, pushed.layerDigest);
      assert.equal(sha256Digest(pulled.manifest), pushed.manifestDigest);
    }
  });

  test('an unknown manifest digest is WR_SOURCE_NOT_FOUND', async () => {
    const ref = parseOciReference(`${registry.host}/modules/hello`);
    await assert.rejects(
      pullModule(ref, sha256Digest(Buffer.from('never pushed')), { ca: ca.cert, maxBytes: MAX }),
      code('WR_SOURCE_NOT_FOUND'),
    );
  });

  test('a layer over the size limit is refused before it is downloaded', async () => {
    const bytes = wasmWithPayload('x'.repeat(4096));
    const ref = parseOciReference(`${registry.host}/modules/big`);
    const pushed = await pushModule(ref, bytes, { ca: ca.cert });
    await assert.rejects(
      pullModule(ref, pushed.manifestDigest, { ca: ca.cert, maxBytes: 1024 }),
      code('WR_MODULE_TOO_LARGE'),
    );
  });

  test('a tampered layer blob in registry storage is WR_SOURCE_DIGEST_MISMATCH', async () => {
    const bytes = wasmWithPayload('to be tampered with');
    const ref = parseOciReference(`${registry.host}/modules/tampered`);
    const pushed = await pushModule(ref, bytes, { ca: ca.cert });
    const evil = Buffer.from(bytes);
    evil.writeUInt8(evil.readUInt8(evil.length - 1) ^ 0xff, evil.length - 1);
    writeFileSync(blobPath(registry, pushed.layerDigest), evil);
    await assert.rejects(
      pullModule(ref, pushed.manifestDigest, { ca: ca.cert, maxBytes: MAX }),
      code('WR_SOURCE_DIGEST_MISMATCH'),
    );
  });

  test('without the test CA the registry is not trusted', async () => {
    const ref = parseOciReference(`${registry.host}/modules/hello`);
    await assert.rejects(
      pullModule(ref, sha256Digest(Buffer.from('x')), { maxBytes: MAX }),
      code('WR_SOURCE_UNREACHABLE'),
    );
  });
});

describe('htpasswd basic auth', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry({ ca, auth: { type: 'htpasswd', users: USERS } });
  });
  after(async () => registry?.stop());

  test('push and pull with credentials; anonymous and wrong passwords are WR_SOURCE_AUTH', async () => {
    const bytes = wasmWithPayload('basic');
    const ref = parseOciReference(`${registry.host}/team/mod:v1`);
    await assert.rejects(pushModule(ref, bytes, { ca: ca.cert }), code('WR_SOURCE_AUTH'));
    const pushed = await pushModule(ref, bytes, { ca: ca.cert, credentials: ALICE });
    const pulled = await pullModule(ref, pushed.manifestDigest, { ca: ca.cert, maxBytes: MAX, credentials: ALICE });
    assert.deepEqual(Buffer.from(pulled.bytes), bytes);
    await assert.rejects(
      pullModule(ref, pushed.manifestDigest, { ca: ca.cert, maxBytes: MAX }),
      code('WR_SOURCE_AUTH'),
    );
    await assert.rejects(
      pullModule(ref, pushed.manifestDigest, {
        ca: ca.cert,
        maxBytes: MAX,
        credentials: { username: 'alice', password: 'wrong' },
      }),
      code('WR_SOURCE_AUTH'),
    );
  });

  test('the resolver reads credentials from a basic-auth pull Secret', async () => {
    const bytes = wasmWithPayload('via secret');
    const ref = parseOciReference(`${registry.host}/team/secret-mod:v1`);
    const pushed = await pushModule(ref, bytes, { ca: ca.cert, credentials: ALICE });
    const dir = mkdtempSync(path.join(tmpdir(), 'wr-store-'));
    try {
      const store = await ModuleStore.open({ dir, maxBytes: MAX });
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      const resolver = new ModuleResolver({
        store,
        configMaps: async () => undefined,
        secrets: async (ns, name) =>
          ns === 'edge' && name === 'pull' ? { username: b64('alice'), password: b64(USERS.alice) } : undefined,
        oci: { ca: ca.cert },
      });
      const source: OciSource = {
        type: 'oci',
        reference: ref,
        digest: pushed.manifestDigest,
        pullSecret: { namespace: 'edge', name: 'pull' },
      };
      const resolved = await resolver.resolve(source, { maxBytes: MAX });
      assert.deepEqual(Buffer.from(resolved.bytes), bytes);
      assert.equal(resolved.fromCache, false);
      await assert.rejects(
        resolver.resolve(
          { ...source, digest: sha256Digest(Buffer.from('other')), pullSecret: { namespace: 'edge', name: 'gone' } },
          { maxBytes: MAX },
        ),
        code('WR_SOURCE_AUTH'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('token auth (bearer handshake against a JWT-signing token server)', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry({ ca, auth: { type: 'token', users: USERS, anonymousPull: true } });
  });
  after(async () => registry?.stop());

  test('push escalates scope to pull,push; anonymous pull gets a pull-only token', async () => {
    const bytes = wasmWithPayload('bearer');
    const ref = parseOciReference(`${registry.host}/team/tok:v1`);
    await assert.rejects(pushModule(ref, bytes, { ca: ca.cert }), code('WR_SOURCE_AUTH'));
    const pushed = await pushModule(ref, bytes, { ca: ca.cert, credentials: ALICE });
    // The registry's challenge lists the actions in either order ("pull,push" or "push,pull").
    const actions = (scope: string | null) => scope?.split(':')[2]?.split(',').sort().join(',');
    assert.ok(
      registry.tokenRequests.some(
        (r) => r.user === 'alice' && r.scope?.startsWith('repository:team/tok:') && actions(r.scope) === 'pull,push',
      ),
      JSON.stringify(registry.tokenRequests),
    );
    const pulled = await pullModule(ref, pushed.manifestDigest, { ca: ca.cert, maxBytes: MAX });
    assert.deepEqual(Buffer.from(pulled.bytes), bytes);
    assert.ok(registry.tokenRequests.some((r) => r.user === undefined && r.scope === 'repository:team/tok:pull'));
    await assert.rejects(
      pullModule(ref, pushed.manifestDigest, {
        ca: ca.cert,
        maxBytes: MAX,
        credentials: { username: 'alice', password: 'wrong' },
      }),
      code('WR_SOURCE_AUTH'),
    );
  });
});

describe('registry down', () => {
  test('pulls are WR_SOURCE_UNREACHABLE, and the disk cache still serves a module resolved before', async () => {
    const registry = await startRegistry({ ca });
    const dir = mkdtempSync(path.join(tmpdir(), 'wr-store-'));
    try {
      const bytes = wasmWithPayload('offline edge node');
      const ref = parseOciReference(`${registry.host}/modules/offline:v1`);
      const pushed = await pushModule(ref, bytes, { ca: ca.cert });
      const source: OciSource = { type: 'oci', reference: ref, digest: pushed.manifestDigest, pullSecret: undefined };
      const deps = {
        configMaps: async () => undefined,
        secrets: async () => undefined,
        oci: { ca: ca.cert, timeoutMs: 5000 },
      };
      const first = await new ModuleResolver({
        store: await ModuleStore.open({ dir, maxBytes: MAX }),
        ...deps,
      }).resolve(source, { maxBytes: MAX });
      assert.equal(first.fromCache, false);
      assert.deepEqual(first.blobs, [pushed.manifestDigest, pushed.layerDigest]);

      await registry.stop();
      await assert.rejects(
        pullModule(ref, pushed.manifestDigest, { ca: ca.cert, maxBytes: MAX, timeoutMs: 5000 }),
        code('WR_SOURCE_UNREACHABLE'),
      );
      // A restarted host: a fresh store over the same directory, the registry still down.
      const restarted = new ModuleResolver({ store: await ModuleStore.open({ dir, maxBytes: MAX }), ...deps });
      const second = await restarted.resolve(source, { maxBytes: MAX });
      assert.equal(second.fromCache, true);
      assert.deepEqual(Buffer.from(second.bytes), bytes);
      assert.equal(second.digest, pushed.layerDigest);
      // A digest the cache has never seen still needs the registry.
      await assert.rejects(
        restarted.resolve({ ...source, digest: sha256Digest(Buffer.from('new version')) }, { maxBytes: MAX }),
        code('WR_SOURCE_UNREACHABLE'),
      );
    } finally {
      await registry.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
