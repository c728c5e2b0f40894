// Resolves a module source to verified bytes: from the disk cache when the digest is pinned and cached
// (no network, no API read), otherwise from the source, then writes the result back to the cache.

import { isWrError, WrError } from '../../errors.ts';
import { readConfigMapModule } from '../sources/configmap.ts';
import { readInlineModule } from '../sources/inline.ts';
import { credentialsFromSecret, type RegistryCredentials } from '../sources/oci/auth.ts';
import { checkWasmMagic, pullModule, selectWasmLayer } from '../sources/oci/pull.ts';
import { formatOciReference } from '../sources/oci/reference.ts';
import type { ConfigMapGetter, SecretGetter } from '../sources/types.ts';
import { fetchUrlModule } from '../sources/url.ts';
import type { Digest, ModuleSourceSpec, OciSource } from '../spec.ts';
import type { ModuleStore } from './store.ts';

export interface ResolvedModule {
  readonly bytes: Uint8Array;
  /** sha256 of the Wasm bytes: the module's identity (status activeDigest). */
  readonly digest: Digest;
  /** Every cache blob this module needs (the module, plus the manifest for OCI): what to pin. */
  readonly blobs: readonly Digest[];
  readonly fromCache: boolean;
}

export interface ModuleResolverOptions {
  readonly store: ModuleStore;
  readonly configMaps: ConfigMapGetter;
  readonly secrets: SecretGetter;
  readonly url?: { readonly ca?: string | Uint8Array; readonly timeoutMs?: number };
  readonly oci?: { readonly ca?: string | Uint8Array; readonly plainHttp?: boolean; readonly timeoutMs?: number };
  /**
   * Told when the cache could not be read or written. Resolution still succeeds from the source: a full or
   * read-only disk must not stop a module that was fetched and verified.
   */
  readonly onCacheError?: (err: WrError) => void;
}

export interface ResolveOptions {
  /** The reconciler's module size limit; applied to cached bytes too, since the limit may have been lowered. */
  readonly maxBytes: number;
  readonly signal?: AbortSignal;
  /**
   * Read a followed source (a ConfigMap) again even when its pinned digest is cached: it changed, and a pinned
   * digest it no longer matches must be reported rather than served from the cache.
   */
  readonly fresh?: boolean;
}

export class ModuleResolver {
  readonly #o: ModuleResolverOptions;

  constructor(options: ModuleResolverOptions) {
    this.#o = options;
  }

  async resolve(source: ModuleSourceSpec, options: ResolveOptions): Promise<ResolvedModule> {
    switch (source.type) {
      case 'inline': {
        const m = readInlineModule(source, options.maxBytes);
        await this.#put(m.bytes, m.digest);
        return { bytes: m.bytes, digest: m.digest, blobs: [m.digest], fromCache: false };
      }
      case 'configMap': {
        if (source.digest !== undefined && options.fresh !== true) {
          const cached = await this.#cached(source.digest, options.maxBytes);
          if (cached !== undefined)
            return { bytes: cached, digest: source.digest, blobs: [source.digest], fromCache: true };
        }
        const m = await readConfigMapModule(source, this.#o.configMaps, options.maxBytes);
        await this.#put(m.bytes, m.digest);
        return { bytes: m.bytes, digest: m.digest, blobs: [m.digest], fromCache: false };
      }
      case 'url': {
        const cached = await this.#cached(source.digest, options.maxBytes);
        if (cached !== undefined)
          return { bytes: cached, digest: source.digest, blobs: [source.digest], fromCache: true };
        const m = await fetchUrlModule(source, {
          maxBytes: options.maxBytes,
          ...this.#o.url,
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
        await this.#put(m.bytes, m.digest);
        return { bytes: m.bytes, digest: m.digest, blobs: [m.digest], fromCache: false };
      }
      case 'oci':
        return this.#resolveOci(source, options);
    }
  }

  async #resolveOci(source: OciSource, options: ResolveOptions): Promise<ResolvedModule> {
    const what = formatOciReference({ ...source.reference, tag: undefined, digest: source.digest });
    const manifest = await this.#cached(source.digest, Number.POSITIVE_INFINITY);
    if (manifest !== undefined) {
      const { layer, byFallback } = selectWasmLayer(manifest, what);
      if (layer.size > options.maxBytes) throw tooLarge(layer.size, options.maxBytes);
      const bytes = await this.#cached(layer.digest, options.maxBytes);
      if (bytes !== undefined) {
        if (byFallback) checkWasmMagic(bytes, what);
        return { bytes, digest: layer.digest, blobs: [source.digest, layer.digest], fromCache: true };
      }
    }
    const credentials = await this.#credentials(source);
    const pulled = await pullModule(source.reference, source.digest, {
      maxBytes: options.maxBytes,
      ...this.#o.oci,
      ...(credentials === undefined ? {} : { credentials }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    await this.#put(pulled.manifest, pulled.manifestDigest);
    await this.#put(pulled.bytes, pulled.digest);
    return {
      bytes: pulled.bytes,
      digest: pulled.digest,
      blobs: [pulled.manifestDigest, pulled.digest],
      fromCache: false,
    };
  }

  async #credentials(source: OciSource): Promise<RegistryCredentials | undefined> {
    if (source.pullSecret === undefined) return undefined;
    const { namespace, name } = source.pullSecret;
    let data: Record<string, string> | undefined;
    try {
      data = await this.#o.secrets(namespace, name);
    } catch (err) {
      if (isWrError(err)) throw err;
      throw new WrError('WR_SOURCE_UNREACHABLE', `pull Secret ${namespace}/${name} could not be read`, {
        cause: err,
        details: { namespace, name },
      });
    }
    if (data === undefined) {
      throw new WrError('WR_SOURCE_AUTH', `pull Secret ${namespace}/${name} does not exist`, {
        details: { namespace, name },
      });
    }
    // A Secret without an entry for this registry means anonymous, as kubelet treats imagePullSecrets.
    return credentialsFromSecret(data, source.reference.registry);
  }

  async #cached(digest: Digest, maxBytes: number): Promise<Uint8Array | undefined> {
    if (!this.#o.store.has(digest)) return undefined;
    let bytes: Uint8Array | undefined;
    try {
      bytes = await this.#o.store.get(digest);
    } catch (err) {
      this.#reportCacheError(err);
      return undefined;
    }
    if (bytes !== undefined && bytes.byteLength > maxBytes) throw tooLarge(bytes.byteLength, maxBytes);
    return bytes;
  }

  async #put(bytes: Uint8Array, digest: Digest): Promise<void> {
    try {
      await this.#o.store.put(bytes, digest);
    } catch (err) {
      this.#reportCacheError(err);
    }
  }

  #reportCacheError(err: unknown): void {
    const e = isWrError(err)
      ? err
      : new WrError('WR_SOURCE_UNREACHABLE', `module cache failed: ${(err as Error).message}`, { cause: err });
    this.#o.onCacheError?.(e);
  }
}

function tooLarge(size: number, limit: number): WrError {
  return new WrError('WR_MODULE_TOO_LARGE', `the module is ${size} bytes, over the limit of ${limit}`, {
    details: { sizeBytes: size, limitBytes: limit },
  });
}
