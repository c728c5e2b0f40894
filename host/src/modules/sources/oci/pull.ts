// Pulls a Wasm module from an OCI registry by manifest digest, verifying the manifest and the layer digests.
//
// Layer choice: exactly one layer whose media type is a known Wasm type (see media-types.ts). A manifest with
// no Wasm-typed layer is accepted only if it has exactly one layer and that layer's bytes start with the Wasm
// magic: `oras push x.wasm` without a media type writes such artifacts, while a container image (gzip/tar
// layers) is refused with WR_SOURCE_INVALID instead of being handed to the compiler. Several Wasm layers are
// ambiguous and refused. An image index is refused too: a module is arch-independent, so there is no
// platform to pick, and the spec must pin the manifest itself.

import { WrError } from '../../../errors.ts';
import { DIGEST_PATTERN, type Digest } from '../../spec.ts';
import { verifyDigest } from '../internal/digest.ts';
import { statusError } from '../internal/http.ts';
import type { FetchedModule } from '../types.ts';
import { type RegistryAccessOptions, RegistryClient } from './client.ts';
import {
  DOCKER_MANIFEST_LIST,
  DOCKER_MANIFEST_V2,
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  OCI_INDEX,
  OCI_MANIFEST,
  WASM_LAYER_TYPES,
} from './media-types.ts';
import { formatOciReference, type OciReference } from './reference.ts';

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
}

export interface OciPullOptions extends RegistryAccessOptions {
  readonly maxBytes: number;
}

export interface PulledModule extends FetchedModule {
  /** The manifest bytes as served (their sha256 is the pinned digest), for the content-addressed cache. */
  readonly manifest: Uint8Array;
  readonly manifestDigest: Digest;
}

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

function invalid(what: string, message: string, details: Record<string, unknown> = {}): WrError {
  return new WrError('WR_SOURCE_INVALID', `${what}: ${message}`, { details });
}

function parseDescriptor(v: unknown, what: string): Descriptor {
  const d = v as Partial<Record<keyof Descriptor, unknown>> | null;
  if (
    typeof d !== 'object' ||
    d === null ||
    typeof d.mediaType !== 'string' ||
    typeof d.digest !== 'string' ||
    !DIGEST_PATTERN.test(d.digest) ||
    typeof d.size !== 'number' ||
    !Number.isSafeInteger(d.size) ||
    d.size < 0
  ) {
    throw invalid(what, 'has a descriptor without a mediaType, a sha256 digest and a size');
  }
  return { mediaType: d.mediaType, digest: d.digest as Digest, size: d.size };
}

/**
 * Picks the module layer of a manifest (already digest-verified). Returns the descriptor and whether the
 * layer was chosen by the single-layer fallback, in which case the caller checks the Wasm magic.
 */
export function selectWasmLayer(
  manifestBytes: Uint8Array,
  what: string,
  contentType?: string,
): { layer: Descriptor; byFallback: boolean } {
  let manifest: { schemaVersion?: unknown; mediaType?: unknown; layers?: unknown; manifests?: unknown };
  try {
    manifest = JSON.parse(Buffer.from(manifestBytes).toString('utf8'));
  } catch {
    throw invalid(what, 'the manifest is not JSON');
  }
  if (typeof manifest !== 'object' || manifest === null) throw invalid(what, 'the manifest is not a JSON object');
  const mediaType = typeof manifest.mediaType === 'string' ? manifest.mediaType : contentType?.split(';')[0]?.trim();
  if (mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST || Array.isArray(manifest.manifests)) {
    throw invalid(what, 'the digest names an image index; pin the digest of a single manifest', { mediaType });
  }
  if (manifest.schemaVersion !== 2) throw invalid(what, 'the manifest is not schemaVersion 2');
  if (mediaType !== undefined && mediaType !== OCI_MANIFEST && mediaType !== DOCKER_MANIFEST_V2) {
    throw invalid(what, `unsupported manifest media type ${mediaType}`, { mediaType });
  }
  if (!Array.isArray(manifest.layers) || manifest.layers.length === 0)
    throw invalid(what, 'the manifest has no layers');
  const layers = manifest.layers.map((l) => parseDescriptor(l, what));
  const wasm = layers.filter((l) => WASM_LAYER_TYPES.includes(l.mediaType));
  if (wasm.length > 1) throw invalid(what, `the manifest has ${wasm.length} Wasm layers; expected one`);
  if (wasm[0] !== undefined) return { layer: wasm[0], byFallback: false };
  if (layers.length === 1 && layers[0] !== undefined) return { layer: layers[0], byFallback: true };
  throw invalid(what, `no layer has a Wasm media type (${WASM_LAYER_TYPES.join(', ')})`, {
    layerMediaTypes: layers.map((l) => l.mediaType),
  });
}

/** Checks a fallback-chosen layer really is Wasm, so a container image fails here and not in the compiler. */
export function checkWasmMagic(bytes: Uint8Array, what: string): void {
  if (bytes.byteLength < 4 || WASM_MAGIC.some((b, i) => bytes[i] !== b)) {
    throw invalid(what, 'the only layer has no Wasm media type and is not a Wasm binary');
  }
}

export async function fetchManifest(
  client: RegistryClient,
  digest: Digest,
  what: string,
): Promise<{ bytes: Buffer; contentType: string | undefined }> {
  const res = await client.send('GET', `manifests/${digest}`, {
    headers: { accept: MANIFEST_ACCEPT },
    maxBytes: MAX_MANIFEST_BYTES,
    tooLarge: (limit) => invalid(what, `the manifest is larger than ${limit} bytes`),
  });
  if (res.status !== 200) throw statusError(res, `manifest ${what}`);
  verifyDigest(res.body, digest, `manifest ${what}`);
  return { bytes: res.body, contentType: res.headers['content-type'] };
}

export async function fetchLayer(
  client: RegistryClient,
  layer: Descriptor,
  maxBytes: number,
  what: string,
): Promise<Buffer> {
  if (layer.size > maxBytes) {
    throw new WrError(
      'WR_MODULE_TOO_LARGE',
      `${what}: the module layer is ${layer.size} bytes, over the limit of ${maxBytes}`,
      {
        details: { sizeBytes: layer.size, limitBytes: maxBytes },
      },
    );
  }
  const res = await client.send('GET', `blobs/${layer.digest}`, {
    // The descriptor's size bounds the read: a registry sending more is lying about the blob.
    maxBytes: layer.size,
    tooLarge: () => invalid(what, `the layer blob is larger than its descriptor's ${layer.size} bytes`),
  });
  if (res.status !== 200) throw statusError(res, `layer ${layer.digest} of ${what}`);
  if (res.body.byteLength !== layer.size) {
    throw invalid(what, `the layer blob is ${res.body.byteLength} bytes, its descriptor says ${layer.size}`);
  }
  verifyDigest(res.body, layer.digest, `layer of ${what}`);
  return res.body;
}

/** Pulls the module pinned by `manifestDigest` (the reference's tag, if any, is ignored: digests never move). */
export async function pullModule(
  reference: OciReference,
  manifestDigest: Digest,
  options: OciPullOptions,
): Promise<PulledModule> {
  const what = formatOciReference({ ...reference, tag: undefined, digest: manifestDigest });
  const client = new RegistryClient(reference.registry, reference.repository, options);
  const manifest = await fetchManifest(client, manifestDigest, what);
  const { layer, byFallback } = selectWasmLayer(manifest.bytes, what, manifest.contentType);
  const bytes = await fetchLayer(client, layer, options.maxBytes, what);
  if (byFallback) checkWasmMagic(bytes, what);
  return { bytes, digest: layer.digest, manifest: manifest.bytes, manifestDigest };
}
