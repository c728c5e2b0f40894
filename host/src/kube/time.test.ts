import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isoTime, kubeMicroTime, kubeTime } from './time.ts';

const SAMPLES = [
  0,
  -1,
  1,
  999,
  Date.UTC(2000, 1, 29, 23, 59, 59, 999),
  Date.UTC(1900, 1, 28, 12),
  Date.UTC(2100, 2, 1),
  Date.UTC(1969, 11, 31, 23, 59, 59, 1),
  Date.UTC(0, 0, 1) - 0,
  Date.UTC(9999, 11, 31, 23, 59, 59, 999),
  Date.now(),
  1.5,
  -0.5,
];

test('isoTime, kubeTime and kubeMicroTime write what toISOString writes, in their precision', () => {
  let seed = 42;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const inRange = Array.from({ length: 20_000 }, () => Math.floor((random() * 2 - 1) * 8.6e15) / 1000);
  for (const ms of [...SAMPLES, ...inRange, 8.64e15, -8.64e15, Date.UTC(10_000, 0, 1), Date.UTC(-1, 0, 1)]) {
    const iso = new Date(ms).toISOString();
    assert.equal(isoTime(ms), iso, `${ms}`);
    assert.equal(kubeTime(ms), iso.replace(/\.\d{3}Z$/, 'Z'), `${ms}`);
    assert.equal(kubeMicroTime(ms), iso.replace(/\.(\d{3})Z$/, '.$1000Z'), `${ms}`);
  }
});

test('an invalid time is a RangeError, as toISOString throws', () => {
  for (const ms of [Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => isoTime(ms), RangeError);
    assert.throws(() => kubeTime(ms), RangeError);
  }
});
