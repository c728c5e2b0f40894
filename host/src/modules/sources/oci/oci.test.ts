// Tests the registry-free parts of the OCI source: references, challenges, pull Secrets and layer choice.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isWrError } from '../../../errors.ts';
import { credentialsFromSecret, parseChallenge } from './auth.ts';
import { OCI_INDEX, OCI_MANIFEST, WASM_CONTENT_LAYER_V1, WASM_LAYER } from './media-types.ts';
import { checkWasmMagic, selectWasmLayer } from './pull.ts';
import { formatOciReference, parseOciReference, registryApiHost } from './reference.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('references', () => {
  test('registries, Docker Hub defaults, tags and digests', () => {
    assert.deepEqual(parseOciReference(`ghcr.io/org/team/mod:v1.2@${D1}`), {
      registry: 'ghcr.io',
      repository: 'org/team/mod',
      tag: 'v1.2',
      digest: D1,
    });
    assert.deepEqual(parseOciReference('127.0.0.1:5000/mod'), {
      registry: '127.0.0.1:5000',
      repository: 'mod',
      tag: undefined,
      digest: undefined,
    });
    assert.equal(parseOciReference('localhost/m').registry, 'localhost');
    const hub = parseOciReference('busybox');
    assert.equal(hub.registry, 'docker.io');
    assert.equal(hub.repository, 'library/busybox');
    assert.equal(registryApiHost(hub.registry), 'registry-1.docker.io');
    assert.equal(parseOciReference('org/mod').repository, 'org/mod');
    assert.equal(formatOciReference(parseOciReference(`r.io/a/b:t@${D1}`)), `r.io/a/b:t@${D1}`);
  });

  test('malformed references are WR_SPEC_INVALID', () => {
    for (const bad of [
      '',
      'r.io/UPPER',
      'r.io/a//b',
      `r.io/a@sha256:${'A'.repeat(64)}`,
      'r.io/a:-tag',
      'r.io/a@md5:00',
    ]) {
      assert.throws(
        () => parseOciReference(bad),
        (err: unknown) => isWrError(err, 'WR_SPEC_INVALID'),
        bad,
      );
    }
  });
});

describe('challenges', () => {
  test('Bearer with quoted params and Basic', () => {
    assert.deepEqual(
      parseChallenge('Bearer realm="https://auth.io/token",service="registry.io",scope="repository:a/b:pull,push"'),
      { scheme: 'bearer', realm: 'https://auth.io/token', service: 'registry.io', scope: 'repository:a/b:pull,push' },
    );
    assert.deepEqual(parseChallenge('Basic realm="x"'), {
      scheme: 'basic',
      realm: 'x',
      service: undefined,
      scope: undefined,
    });
    assert.equal(parseChallenge('Negotiate abc'), undefined);
  });
});

describe('pull Secrets', () => {
  test('basic-auth keys', () => {
    assert.deepEqual(credentialsFromSecret({ username: b64('u'), password: b64('p') }, 'r.io'), {
      username: 'u',
      password: 'p',
    });
  });

  test('dockerconfigjson: matching host, auth field, Docker Hub aliases, no entry', () => {
    const config = {
      auths: {
        'r.io': { auth: b64('u:p:with:colons') },
        'https://index.docker.io/v1/': { username: 'hub', password: 'pw' },
      },
    };
    const data = { '.dockerconfigjson': b64(JSON.stringify(config)) };
    assert.deepEqual(credentialsFromSecret(data, 'r.io'), { username: 'u', password: 'p:with:colons' });
    assert.deepEqual(credentialsFromSecret(data, 'docker.io'), { username: 'hub', password: 'pw' });
    assert.equal(credentialsFromSecret(data, 'other.io'), undefined);
  });

  test('malformed Secrets are WR_SOURCE_AUTH', () => {
    const bad: Record<string, string>[] = [
      {},
      { '.dockerconfigjson': b64('not json') },
      { username: '!!', password: b64('p') },
    ];
    for (const data of bad) {
      assert.throws(
        () => credentialsFromSecret(data, 'r.io'),
        (err: unknown) => isWrError(err, 'WR_SOURCE_AUTH'),
      );
    }
  });
});

describe('layer choice', () => {
  const manifest = (layers: unknown[], extra: Record<string, unknown> = {}) =>
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers, ...extra }));
  const invalid = (err: unknown) => isWrError(err, 'WR_SOURCE_INVALID');

  test('the one Wasm-typed layer wins among others', () => {
    const m = manifest([
      { mediaType: 'text/plain', digest: D1, size: 3 },
      { mediaType: WASM_CONTENT_LAYER_V1, digest: D2, size: 9 },
    ]);
    assert.deepEqual(selectWasmLayer(m, 'x'), {
      layer: { mediaType: WASM_CONTENT_LAYER_V1, digest: D2, size: 9 },
      byFallback: false,
    });
  });

  test('a single untyped layer is taken by fallback, then must carry the Wasm magic', () => {
    const m = manifest([{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: D1, size: 8 }]);
    assert.equal(selectWasmLayer(m, 'x').byFallback, true);
    checkWasmMagic(Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), 'x');
    assert.throws(() => checkWasmMagic(Buffer.from([0x1f, 0x8b, 8, 0]), 'x'), invalid);
  });

  test('ambiguous, empty, index and malformed manifests are WR_SOURCE_INVALID', () => {
    const two = [
      { mediaType: WASM_LAYER, digest: D1, size: 1 },
      { mediaType: WASM_LAYER, digest: D2, size: 1 },
    ];
    const bad = [
      manifest(two),
      manifest([]),
      manifest([
        { mediaType: 'a', digest: D1, size: 1 },
        { mediaType: 'b', digest: D2, size: 1 },
      ]),
      manifest([{ mediaType: WASM_LAYER, digest: 'md5:1', size: 1 }]),
      manifest([{ mediaType: WASM_LAYER, digest: D1, size: -1 }]),
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] })),
      manifest([{ mediaType: WASM_LAYER, digest: D1, size: 1 }], { schemaVersion: 1 }),
      manifest([{ mediaType: WASM_LAYER, digest: D1, size: 1 }], { mediaType: 'application/json' }),
      Buffer.from('{'),
    ];
    for (const m of bad) assert.throws(() => selectWasmLayer(m, 'x'), invalid, m.toString());
  });
});
