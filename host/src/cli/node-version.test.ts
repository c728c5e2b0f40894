import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { engineFloor, nodeTooOld } from './node-version.ts';

describe('node version check', () => {
  it('reads the floor of an engines.node range', () => {
    assert.deepEqual(engineFloor('>=22.19'), [22, 19]);
    assert.deepEqual(engineFloor('>= 24'), [24, 0]);
    assert.deepEqual(engineFloor('>=22.19.1'), [22, 19]);
    assert.throws(() => engineFloor('^22'), /form ">=X.Y"/);
  });

  it('accepts the floor and newer, and says what to do below it', () => {
    assert.equal(nodeTooOld('22.19.0', '>=22.19', 'tool'), undefined);
    assert.equal(nodeTooOld('24.1.0', '>=22.19', 'tool'), undefined);
    const problem = nodeTooOld('20.20.2', '>=22.19', 'tool');
    assert.match(problem ?? '', /^tool needs Node >=22\.19 .*this is Node 20\.20\.2/);
    assert.match(problem ?? '', /npm install --save-dev node@24/);
    assert.notEqual(nodeTooOld('22.18.9', '>=22.19', 'tool'), undefined);
  });
});
