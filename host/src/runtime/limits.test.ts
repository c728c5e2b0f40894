// WR_DEADLINE_SCALE: read once when limits.ts loads, so each case runs in a Node of its own.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const LIMITS = new URL('./limits.ts', import.meta.url).href;

/** The derived default, a derived large budget and an explicit deadline with `scale` set, or the import's error code. */
function deadlines(scale: string | undefined): unknown {
  const script = `try {
      const { resolveLimits } = await import(${JSON.stringify(LIMITS)});
      console.log(JSON.stringify([resolveLimits().deadlineMs, resolveLimits({ fuel: 2_000_000_000 }).deadlineMs, resolveLimits({ deadlineMs: 50 }).deadlineMs]));
    } catch (err) {
      console.log(JSON.stringify({ code: err.code }));
    }`;
  const env = { ...process.env };
  delete env.WR_DEADLINE_SCALE;
  if (scale !== undefined) env.WR_DEADLINE_SCALE = scale;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

test('unset, derived deadlines are max(1 s, fuel x 20 ns)', () => {
  assert.deepEqual(deadlines(undefined), [1001, 40000, 50]);
});

test('WR_DEADLINE_SCALE multiplies derived deadlines up to the ten-minute ceiling, never an explicit one', () => {
  assert.deepEqual(deadlines('25'), [25025, 600000, 50]);
  assert.deepEqual(deadlines('1.5'), [1502, 60000, 50]);
});

test('a scale that is not a number from 1 to 100 fails the import with WR_CONFIG_INVALID', () => {
  for (const bad of ['0.5', '101', 'ten', 'Infinity'])
    assert.deepEqual(deadlines(bad), { code: 'WR_CONFIG_INVALID' }, bad);
});
