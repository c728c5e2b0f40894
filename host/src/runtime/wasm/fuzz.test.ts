// Differential fuzzing of the instrumentation: 300 random modules from binaryen's translate-to-fuzz, each
// run metered and unmetered (test/fuzz/differential.ts). The corpus is cached in ~/.cache by binaryen
// version and seed, so only the first run generates it (a few minutes on two cores).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkModule } from '../../../../test/fuzz/differential.ts';
import { ttfCorpus } from '../../../../test/fuzz/ttf.ts';

const MODULES = 300;
const BUDGET = 1_000_000;

describe('instrumentation under translate-to-fuzz modules', () => {
  it(`keeps ${MODULES} random modules valid and behaving the same within their budget`, {
    timeout: 15 * 60_000,
  }, async (t) => {
    const corpus = await ttfCorpus(1, MODULES);
    const refused = new Map<string, number>();
    let checked = 0;
    let outOfFuel = 0;
    for (const { seed, bytes } of corpus) {
      const verdict = checkModule(bytes, BUDGET);
      if (verdict.kind === 'refused') {
        // Only our feature list may refuse a module binaryen generated within it.
        assert.equal(verdict.code, 'WR_MODULE_UNSUPPORTED', `seed ${seed}: ${verdict.message}`);
        const why = verdict.message.replace(/byte \d+/, 'byte N');
        refused.set(why, (refused.get(why) ?? 0) + 1);
        continue;
      }
      assert.deepEqual(verdict.mismatches, [], `seed ${seed}`);
      checked++;
      outOfFuel += verdict.outOfFuel;
    }
    t.diagnostic(`checked ${checked} (${outOfFuel} ran out of fuel), refused ${JSON.stringify([...refused])}`);
    assert.ok(checked >= MODULES * 0.9, `only ${checked} of ${MODULES} modules were checked`);
  });
});
