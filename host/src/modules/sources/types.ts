// What every module source hands back, and the narrow lookups through which sources read Kubernetes objects.

import type { Digest } from '../spec.ts';

export interface FetchedModule {
  /** The Wasm bytes, already checked against the size limit and, where the spec pins one, the digest. */
  readonly bytes: Uint8Array;
  /** sha256 of `bytes`. */
  readonly digest: Digest;
}

/**
 * Reads a ConfigMap's `binaryData` (values base64 as the API serves them); undefined when the ConfigMap does
 * not exist. The controller backs it with its informer cache or a direct API read.
 */
export type ConfigMapGetter = (namespace: string, name: string) => Promise<Record<string, string> | undefined>;

/** Reads a Secret's `data` (values base64 as the API serves them); undefined when the Secret does not exist. */
export type SecretGetter = (namespace: string, name: string) => Promise<Record<string, string> | undefined>;

/** Decodes standard padded base64 strictly: Buffer.from alone silently skips stray characters. */
export function decodeBase64Strict(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}
