// sha256 content digests in the `sha256:<hex>` form: the identity of a module everywhere in the host (spec
// pins, the disk cache, the loader's cache, status), computed in exactly one place.

import { createHash } from 'node:crypto';

export type Digest = `sha256:${string}`;

export function sha256Digest(bytes: Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
