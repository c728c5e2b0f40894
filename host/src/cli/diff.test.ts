import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unifiedDiff } from './diff.ts';

const labels = { before: 'a (live)', after: 'a (after apply)' };

describe('unifiedDiff', () => {
  it('is empty for equal texts, trailing newlines aside', () => {
    assert.equal(unifiedDiff('x: 1\ny: 2\n', 'x: 1\ny: 2', labels), '');
    assert.equal(unifiedDiff('', '\n', labels), '');
  });

  it('shows a changed line as the old one removed, then the new one added, with context', () => {
    const before = ['a: 1', 'b: 2', 'c: 3', 'd: 4', 'e: 5', 'f: 6', 'g: 7', 'h: 8', 'i: 9'].join('\n');
    const after = before.replace('e: 5', 'e: 50');
    assert.equal(
      unifiedDiff(before, after, labels),
      '--- a (live)\n+++ a (after apply)\n@@\n b: 2\n c: 3\n d: 4\n-e: 5\n+e: 50\n f: 6\n g: 7\n h: 8\n',
    );
  });

  it('shows an object that does not exist yet as all additions', () => {
    assert.equal(
      unifiedDiff('', 'kind: X\nspec: {}\n', labels),
      '--- a (live)\n+++ a (after apply)\n@@\n+kind: X\n+spec: {}\n',
    );
  });

  it('separates hunks further apart than twice the context', () => {
    const before = Array.from({ length: 20 }, (_, i) => `k${i}: v`).join('\n');
    const after = before.replace('k1: v', 'k1: w').replace('k18: v', 'k18: w');
    const d = unifiedDiff(before, after, labels, 1);
    assert.equal(d.split('\n').filter((l) => l === '@@').length, 2);
    assert.deepEqual(
      d.split('\n').filter((l) => /^[-+]k/.test(l)),
      ['-k1: v', '+k1: w', '-k18: v', '+k18: w'],
    );
  });
});
