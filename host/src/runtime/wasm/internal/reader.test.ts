// Tests the strict LEB128 decoding that every other decoder relies on.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isWrError } from '../../../errors.ts';
import { lebEnd, Reader, readS33, readU32, skipS32, skipS64, skipU32, skipU64 } from './reader.ts';

const bytes = (...b: number[]) => Uint8Array.from(b);
const malformed = (err: unknown) => isWrError(err, 'WR_MODULE_MALFORMED');

describe('LEB128', () => {
  it('decodes unsigned 32-bit values, padded encodings included', () => {
    assert.equal(readU32(bytes(0x00), 0, 1), 0);
    assert.equal(readU32(bytes(0xe5, 0x8e, 0x26), 0, 3), 624485);
    assert.equal(lebEnd, 3);
    assert.equal(readU32(bytes(0xff, 0xff, 0xff, 0xff, 0x0f), 0, 5), 0xffffffff);
    assert.equal(readU32(bytes(0x80, 0x80, 0x80, 0x80, 0x00), 0, 5), 0);
  });

  it('rejects unsigned values that overflow or are cut off', () => {
    assert.throws(() => readU32(bytes(0xff, 0xff, 0xff, 0xff, 0x10), 0, 5), malformed);
    assert.throws(() => readU32(bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x00), 0, 6), malformed);
    assert.throws(() => readU32(bytes(0x80, 0x80), 0, 2), malformed);
    assert.throws(() => skipU32(bytes(0xff, 0xff, 0xff, 0xff, 0x7f), 0, 5), malformed);
    assert.equal(skipU64(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), 0, 10), 10);
    assert.throws(() => skipU64(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02), 0, 10), malformed);
  });

  it('checks that the unused bits of a signed value repeat its sign', () => {
    assert.equal(skipS32(bytes(0xff, 0xff, 0xff, 0xff, 0x7f), 0, 5), 5); // -1
    assert.equal(skipS32(bytes(0x80, 0x80, 0x80, 0x80, 0x78), 0, 5), 5); // INT32_MIN
    assert.throws(() => skipS32(bytes(0x80, 0x80, 0x80, 0x80, 0x08), 0, 5), malformed);
    assert.throws(() => skipS32(bytes(0xff, 0xff, 0xff, 0xff, 0x77), 0, 5), malformed);
    assert.equal(skipS64(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), 0, 10), 10);
    assert.throws(() => skipS64(bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), 0, 10), malformed);
  });

  it('decodes signed 33-bit block types', () => {
    assert.equal(readS33(bytes(0x40), 0, 1), -64);
    assert.equal(readS33(bytes(0x05), 0, 1), 5);
    assert.equal(readS33(bytes(0xff, 0xff, 0xff, 0xff, 0x0f), 0, 5), 0xffffffff);
    assert.throws(() => readS33(bytes(0xff, 0xff, 0xff, 0xff, 0x2f), 0, 5), malformed);
  });

  it('reads 64-bit limits as exact doubles and bounded names', () => {
    assert.equal(new Reader(bytes(0x80, 0x80, 0x80, 0x80, 0x10)).u64(), 2 ** 32);
    assert.equal(new Reader(bytes(0x02, 0x68, 0x69)).name(), 'hi');
    assert.throws(() => new Reader(bytes(0x05, 0x68, 0x69)).name(), malformed);
  });
});
