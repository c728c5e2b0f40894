// Shared by every bench file: the result type, statistics, the table printer and the run-directly entry point.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** One figure a bench reports. `name` is stable: targets (bench/targets.ts) refer to it. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

/**
 * Set to 1 by bench/run.ts: the bench then prints its results as one JSON line (after JSON_LINE_PREFIX)
 * instead of a table, so the runner needs no parsing beyond that line and the bench may log anything else.
 */
export const JSON_MODE_ENV = 'WR_BENCH_JSON';
export const JSON_LINE_PREFIX = 'wr-bench-results ';

/** Nearest-rank percentile (p in 0..100): always a value that was measured, never an interpolation. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile of no values');
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Rounds for display and for the JSON the runner stores: more digits than this are noise on any machine. */
export function round(value: number, digits = 0): number {
  return Number(value.toFixed(digits));
}

/** A full, synchronous garbage collection, whether or not the process was started with --expose-gc. */
export function gcFunction(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed !== undefined) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Aligned columns: name, value (right-aligned), unit, note. */
export function formatTable(results: readonly BenchResult[]): string {
  const width = (pick: (r: BenchResult) => string) => Math.max(0, ...results.map((r) => pick(r).length));
  const nameWidth = width((r) => r.name);
  const valueWidth = width((r) => String(r.value));
  const unitWidth = width((r) => r.unit);
  return results
    .map((r) =>
      `${r.name.padEnd(nameWidth)}  ${String(r.value).padStart(valueWidth)} ${r.unit.padEnd(unitWidth)}  ${r.note ?? ''}`.trimEnd(),
    )
    .join('\n');
}

/**
 * The entry point of a bench file: `await main(import.meta, run)` at its end. Does nothing when the file is
 * imported; run directly, prints a table, or the JSON line when JSON_MODE_ENV is 1.
 */
export async function main(meta: ImportMeta, run: () => Promise<BenchResult[]>): Promise<void> {
  if (!meta.main) return;
  const results = await run();
  for (const r of results) {
    if (typeof r.value !== 'number' || !Number.isFinite(r.value)) {
      throw new Error(`bench result ${r.name} is not a finite number: ${String(r.value)}`);
    }
  }
  if (process.env[JSON_MODE_ENV] === '1') {
    process.stdout.write(`${JSON_LINE_PREFIX}${JSON.stringify(results)}\n`);
  } else {
    process.stdout.write(`${formatTable(results)}\n`);
  }
}
