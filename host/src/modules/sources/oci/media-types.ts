// The OCI and Wasm media types the module puller accepts and the pusher writes.

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const DOCKER_MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** Sent as Accept on manifest GETs: a registry then never converts or falls back to schema 1. */
export const MANIFEST_ACCEPT = [OCI_MANIFEST, DOCKER_MANIFEST_V2, OCI_INDEX, DOCKER_MANIFEST_LIST].join(', ');

/** The CNCF TAG Runtime Wasm artifact layout (also written by wkg and oci-wasm). */
export const WASM_CONFIG_V0 = 'application/vnd.wasm.config.v0+json';
export const WASM_LAYER = 'application/wasm';
/** wasm-to-oci, Kubewarden and the oci-distribution crate. */
export const WASM_CONTENT_LAYER_V1 = 'application/vnd.wasm.content.layer.v1+wasm';
/** The Wasm image spec used by Istio/Envoy extensions (compat variant). */
export const MODULE_WASM_CONTENT_LAYER_V1 = 'application/vnd.module.wasm.content.layer.v1+wasm';

export const WASM_LAYER_TYPES: readonly string[] = [WASM_LAYER, WASM_CONTENT_LAYER_V1, MODULE_WASM_CONTENT_LAYER_V1];

/** The OCI 1.1 empty descriptor: a two-byte `{}` blob, for artifacts with nothing to configure. */
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const OCI_EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

/** OCI recommends registries accept manifests up to 4 MiB; a module manifest is a few hundred bytes. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
