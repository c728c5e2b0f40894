// The URL source: a module fetched over https and accepted only if it hashes to the spec's sha256.

import type { UrlSource } from '../spec.ts';
import { verifyDigest } from './internal/digest.ts';
import { httpRequest, redactUrl, statusError } from './internal/http.ts';
import type { FetchedModule } from './types.ts';

export interface UrlFetchOptions {
  readonly maxBytes: number;
  /** Deadline for the whole download (default 60 s: edge links are slow, but never unbounded). */
  readonly timeoutMs?: number;
  /** PEM CA bundle trusted instead of the system store (private module servers, tests). */
  readonly ca?: string | Uint8Array;
  readonly signal?: AbortSignal;
}

export const DEFAULT_URL_TIMEOUT_MS = 60_000;

export async function fetchUrlModule(source: UrlSource, options: UrlFetchOptions): Promise<FetchedModule> {
  const url = new URL(source.url);
  const res = await httpRequest(url, {
    method: 'GET',
    headers: { accept: 'application/wasm, application/octet-stream;q=0.9, */*;q=0.1' },
    timeoutMs: options.timeoutMs ?? DEFAULT_URL_TIMEOUT_MS,
    maxBytes: options.maxBytes,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  if (res.status !== 200) throw statusError(res, `module ${redactUrl(url)}`);
  verifyDigest(res.body, source.digest, `module ${redactUrl(url)}`);
  return { bytes: res.body, digest: source.digest };
}
