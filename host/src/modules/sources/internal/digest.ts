// The check that fetched bytes match the digest the spec pins.

import { type Digest, sha256Digest } from '../../../digest.ts';
import { WrError } from '../../../errors.ts';

/** Throws WR_SOURCE_DIGEST_MISMATCH unless `bytes` hash to `expected`; `what` names the source for the message. */
export function verifyDigest(bytes: Uint8Array, expected: Digest, what: string): void {
  const actual = sha256Digest(bytes);
  if (actual !== expected) {
    throw new WrError('WR_SOURCE_DIGEST_MISMATCH', `${what}: content is ${actual}, the spec requires ${expected}`, {
      details: { expected, actual },
    });
  }
}
