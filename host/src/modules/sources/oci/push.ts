// Pushes a Wasm module to an OCI registry as a one-layer artifact (the layout pull.ts reads back).
//
// Layout (the CNCF TAG Runtime Wasm artifact): an OCI image manifest whose one layer is the module with
// media type application/wasm, and whose config is either application/vnd.wasm.config.v0+json
// ({"architecture":"wasm","os":"wasip1","layerDigests":[...]}, what wkg and oci-wasm write) or the OCI 1.1
// empty descriptor with artifactType application/wasm. Blobs go up by the monolithic POST + PUT upload.

import { sha256Digest } from '../../../digest.ts';
import { WrError } from '../../../errors.ts';
import type { Digest } from '../../spec.ts';
import { statusError } from '../internal/http.ts';
import { type RegistryAccessOptions, RegistryClient } from './client.ts';
import { OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_MANIFEST, WASM_CONFIG_V0, WASM_LAYER } from './media-types.ts';
import { formatOciReference, type OciReference } from './reference.ts';

export interface OciPushOptions extends RegistryAccessOptions {
  /** 'wasm' (default): the Wasm config blob; 'empty': the OCI empty descriptor plus artifactType. */
  readonly config?: 'wasm' | 'empty';
  /** Manifest annotations, e.g. org.opencontainers.image.source. */
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface PushedModule {
  readonly manifestDigest: Digest;
  readonly layerDigest: Digest;
  readonly sizeBytes: number;
  /** `registry/repository@sha256:...`: what a WasmReconciler's spec.module.oci.reference should say. */
  readonly pinnedReference: string;
}

const MAX_RESPONSE_BYTES = 64 * 1024;
const WASM_MAGIC = Buffer.from([0x00, 0x61, 0x73, 0x6d]);

async function uploadBlob(client: RegistryClient, bytes: Uint8Array, digest: Digest): Promise<void> {
  const head = await client.send('HEAD', `blobs/${digest}`, { maxBytes: MAX_RESPONSE_BYTES });
  if (head.status === 200) return;
  if (head.status !== 404) throw statusError(head, `blob ${digest}`);
  const start = await client.send('POST', 'blobs/uploads/', { maxBytes: MAX_RESPONSE_BYTES, body: new Uint8Array() });
  const location = start.headers.location;
  if (start.status !== 202 || location === undefined) {
    throw start.status === 202
      ? new WrError('WR_SOURCE_INVALID', `${client.registry} started an upload without a Location`)
      : statusError(start, `upload to ${client.repository}`);
  }
  const target = new URL(location, `https://${client.registry}/`);
  target.searchParams.set('digest', digest);
  // An absolute Location keeps its own scheme and host; a relative one is resolved by the client.
  const path = /^https?:\/\//i.test(location) ? target.href : `${target.pathname}${target.search}`;
  const put = await client.send('PUT', path, {
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
    maxBytes: MAX_RESPONSE_BYTES,
  });
  if (put.status !== 201) throw statusError(put, `upload of ${digest}`);
}

/** Pushes `bytes` under the reference's tag, or untagged (by digest) when the reference has none. */
export async function pushModule(
  reference: OciReference,
  bytes: Uint8Array,
  options: OciPushOptions = {},
): Promise<PushedModule> {
  if (bytes.byteLength < 4 || !WASM_MAGIC.equals(Buffer.from(bytes.subarray(0, 4)))) {
    throw new WrError('WR_MODULE_MALFORMED', 'refusing to push: the bytes are not a WebAssembly binary');
  }
  const client = new RegistryClient(reference.registry, reference.repository, options);
  const layerDigest = sha256Digest(bytes);
  const layer = { mediaType: WASM_LAYER, digest: layerDigest, size: bytes.byteLength };

  let manifest: Record<string, unknown>;
  if (options.config === 'empty') {
    await uploadBlob(client, Buffer.from('{}'), OCI_EMPTY_DIGEST);
    manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: WASM_LAYER,
      config: { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2, data: 'e30=' },
      layers: [layer],
    };
  } else {
    const config = Buffer.from(JSON.stringify({ architecture: 'wasm', os: 'wasip1', layerDigests: [layerDigest] }));
    const configDigest = sha256Digest(config);
    await uploadBlob(client, config, configDigest);
    manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: WASM_CONFIG_V0, digest: configDigest, size: config.byteLength },
      layers: [layer],
    };
  }
  if (options.annotations !== undefined && Object.keys(options.annotations).length > 0) {
    manifest.annotations = { ...options.annotations };
  }
  await uploadBlob(client, bytes, layerDigest);

  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = sha256Digest(manifestBytes);
  const put = await client.send('PUT', `manifests/${reference.tag ?? manifestDigest}`, {
    headers: { 'content-type': OCI_MANIFEST },
    body: manifestBytes,
    maxBytes: MAX_RESPONSE_BYTES,
  });
  if (put.status !== 201) throw statusError(put, `manifest for ${formatOciReference(reference)}`);
  const echoed = put.headers['docker-content-digest'];
  if (typeof echoed === 'string' && echoed !== manifestDigest) {
    throw new WrError(
      'WR_SOURCE_DIGEST_MISMATCH',
      `the registry stored the manifest as ${echoed}, not ${manifestDigest}`,
      {
        details: { expected: manifestDigest, actual: echoed },
      },
    );
  }
  return {
    manifestDigest,
    layerDigest,
    sizeBytes: bytes.byteLength,
    pinnedReference: formatOciReference({ ...reference, tag: undefined, digest: manifestDigest }),
  };
}
