import assert from 'node:assert/strict';
import { it } from 'node:test';
import { truncateUtf8 } from './truncate.ts';

it('keeps text that fits and cuts longer text on a character boundary', () => {
  assert.equal(truncateUtf8('short', 10), 'short');
  assert.equal(truncateUtf8('abcdefghij', 10), 'abcdefghij');
  assert.equal(truncateUtf8('abcdefghijk', 10), 'abcdefg...');
  // 'é' is two bytes, '😀' four: a cut inside either backs up to the character start.
  const accented = truncateUtf8('ééééé', 8);
  assert.equal(accented, 'éé...');
  const emoji = truncateUtf8('😀😀😀', 9);
  assert.equal(emoji, '😀...');
  assert.ok(Buffer.byteLength(truncateUtf8('😀'.repeat(500), 1024)) <= 1024);
});
