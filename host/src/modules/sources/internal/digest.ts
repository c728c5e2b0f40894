// sha256 content digests in the `sha256:<hex>` form, and the check that fetched bytes match the pinned one.

import { createHash } from 'node:crypto';
import { WrError } from '../../../errors.ts';
import type { Digest } from '../../spec.ts';

export function sha256Digest(bytes: Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Throws WR_SOURCE_DIGEST_MISMATCH unless `bytes` hash to `expected`; `what` names the source for the message. */
export function verifyDigest(bytes: Uint8Array, expected: Digest, what: string): void {
  const actual = sha256Digest(bytes);
  if (actual !== expected) {
    throw new WrError('WR_SOURCE_DIGEST_MISMATCH', `${what}: content is ${actual}, the spec requires ${expected}`, {
      details: { expected, actual },
    });
  }
}
