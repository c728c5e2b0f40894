// Unit tests of label selector parsing, matching and canonical printing.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isWrError } from '../errors.ts';
import { labelSelectorFromObject, parseLabelSelector } from './label-selector.ts';

describe('parseLabelSelector', () => {
  const labels = { app: 'web', tier: 'front', 'example.com/team': 'a', empty: '' };
  const cases: Array<[string, boolean]> = [
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app = web , tier=front', true],
    ['app!=web', false],
    ['app!=db', true],
    ['missing!=x', true],
    ['tier in (front, back)', true],
    ['tier in (back)', false],
    ['tier notin (back,side)', true],
    ['tier notin (front)', false],
    ['missing notin (x)', true],
    ['app', true],
    ['missing', false],
    ['!missing', true],
    ['!app', false],
    ['example.com/team=a', true],
    ['empty=', true],
    ['empty in (,x)', true],
    ['toString=x', false],
    ['app=web,!legacy,tier in (front)', true],
  ];
  for (const [text, expected] of cases) {
    it(`${JSON.stringify(text)} ${expected ? 'matches' : 'does not match'}`, () => {
      assert.equal(parseLabelSelector(text).matches(labels), expected);
    });
  }

  const bad = [
    'a=b,',
    ',a',
    'a in b',
    'a in (b',
    'a in (b c)',
    '!',
    '!a=b',
    'a b',
    '-a=b',
    'a=b c',
    'UPPER.com/x=y',
    `a=${'x'.repeat(64)}`,
    'a==b=c',
  ];
  for (const text of bad) {
    it(`rejects ${JSON.stringify(text.slice(0, 30))} with WR_SELECTOR_INVALID`, () => {
      assert.throws(
        () => parseLabelSelector(text),
        (err) => isWrError(err, 'WR_SELECTOR_INVALID'),
      );
    });
  }

  it('prints a canonical form for equal selectors', () => {
    assert.equal(parseLabelSelector('b in (y,x), a=1,!c').toString(), 'a=1,b in (x,y),!c');
    assert.equal(parseLabelSelector('a==1').toString(), parseLabelSelector('a = 1').toString());
    assert.equal(parseLabelSelector(parseLabelSelector('x notin (b,a),y').toString()).toString(), 'x notin (a,b),y');
  });

  it('converts the object form', () => {
    const sel = labelSelectorFromObject({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['front'] },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    });
    assert.equal(sel.toString(), 'app=web,!legacy,tier=front');
    assert.equal(sel.matches({ app: 'web', tier: 'front' }), true);
    assert.equal(labelSelectorFromObject({}).matches(undefined), true);
    assert.throws(
      () => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }),
      (err) => isWrError(err, 'WR_SELECTOR_INVALID'),
    );
    assert.throws(
      () => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }),
      (err) => isWrError(err, 'WR_SELECTOR_INVALID'),
    );
  });
});
