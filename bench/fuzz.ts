// Differential fuzzing at scale: thousands of translate-to-fuzz modules instrumented and run metered and
// unmetered (test/fuzz/differential.ts). Reports modules checked, refused and mismatched, and the time.

import { checkModule } from '../test/fuzz/differential.ts';
import { ttfCorpus } from '../test/fuzz/ttf.ts';
import { type BenchResult, main, round } from './lib.ts';

const MODULES = Number(process.env.WR_FUZZ_MODULES ?? 2000);
const BUDGET = 1_000_000;

async function run(): Promise<BenchResult[]> {
  const generated = performance.now();
  const corpus = await ttfCorpus(1, MODULES);
  const started = performance.now();
  let refused = 0;
  let mismatched = 0;
  let outOfFuel = 0;
  for (const { seed, bytes } of corpus) {
    const verdict = checkModule(bytes, BUDGET);
    if (verdict.kind === 'refused') refused++;
    else if (verdict.mismatches.length > 0) {
      mismatched++;
      console.error(`seed ${seed}: ${verdict.mismatches.join('; ')}`);
    } else outOfFuel += verdict.outOfFuel;
  }
  const checkMs = performance.now() - started;
  const note = `seeds 1..${MODULES}, ${BUDGET} fuel per call`;
  return [
    { name: 'fuzz/modules', value: MODULES, unit: 'modules', note },
    { name: 'fuzz/refused', value: refused, unit: 'modules', note: 'outside the feature list (typed references)' },
    { name: 'fuzz/out-of-fuel', value: outOfFuel, unit: 'modules', note },
    { name: 'fuzz/mismatches', value: mismatched, unit: 'modules', note },
    { name: 'fuzz/check', value: round(checkMs / MODULES, 2), unit: 'ms/module', note: 'instrument + both runs' },
    {
      name: 'fuzz/generate',
      value: round((started - generated) / 1000, 1),
      unit: 's',
      note: 'cached after the first run',
    },
  ];
}

await main(import.meta, run);
