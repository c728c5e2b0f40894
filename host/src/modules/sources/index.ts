// Public surface of module sources: inline, ConfigMap, https URL and OCI registry fetchers.

export { readConfigMapModule } from './configmap.ts';
export { readInlineModule } from './inline.ts';
export { verifyDigest } from './internal/digest.ts';
export * from './oci/index.ts';
export type { ConfigMapGetter, FetchedModule, SecretGetter } from './types.ts';
export type { UrlFetchOptions } from './url.ts';
export { DEFAULT_URL_TIMEOUT_MS, fetchUrlModule } from './url.ts';
