import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { sha256Digest, sha256DigestOffThread } from './digest.ts';

test('the off-thread digest is the digest, for empty, small, large and shared-memory inputs', async () => {
  const shared = new Uint8Array(new SharedArrayBuffer(4096), 16, 1000);
  shared.set(randomBytes(1000));
  const inputs = [new Uint8Array(0), new TextEncoder().encode('abc'), randomBytes(1 << 20), shared];
  for (const bytes of inputs) {
    const expected = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    assert.equal(sha256Digest(bytes), expected);
    assert.equal(await sha256DigestOffThread(bytes), expected);
  }
  // A view hashes its own bytes only, not the rest of its buffer.
  const whole = randomBytes(64);
  assert.equal(await sha256DigestOffThread(whole.subarray(8, 40)), sha256Digest(whole.subarray(8, 40)));
});
