import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { sha256Digest, sha256DigestOffThread } from './digest.ts';

test('the off-thread digest is the digest, for empty, small, at and past the in-place size, large and shared-memory inputs', async () => {
  const shared = new Uint8Array(new SharedArrayBuffer(4096), 16, 1000);
  shared.set(randomBytes(1000));
  const inputs = [
    new Uint8Array(0),
    new TextEncoder().encode('abc'),
    randomBytes(64 * 1024),
    randomBytes(64 * 1024 + 1),
    randomBytes(1 << 20),
    shared,
  ];
  for (const bytes of inputs) {
    const expected = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    assert.equal(sha256Digest(bytes), expected);
    assert.equal(await sha256DigestOffThread(bytes), expected);
  }
  // A view hashes its own bytes only, not the rest of its buffer.
  for (const whole of [randomBytes(64), randomBytes(300_000)]) {
    const view = whole.subarray(8, whole.length - 24);
    assert.equal(await sha256DigestOffThread(view), sha256Digest(Buffer.from(view)));
  }
});
