// The per-module limits the runtime enforces, with their defaults and the host-wide bounds they must respect.

import { DEFAULT_LIMITS, OUTPUT_LIMITS } from '../abi/constants.ts';
import type { OutputLimits } from '../abi/validate.ts';
import { WrError } from '../errors.ts';
import type { ModuleLimits } from './wasm/index.ts';

/** The module-shape fields (types, tables, code, segments, ...) are checked at load: see ModuleLimits. */
export interface RuntimeLimits extends ModuleLimits {
  readonly moduleBytes: number;
  readonly memoryPages: number;
  readonly fuel: number;
  readonly inputBytes: number;
  readonly outputBytes: number;
  readonly resultBytes: number;
  readonly logBytes: number;
  readonly logLinesPerCall: number;
  /**
   * Wall-clock bound of one call, the backstop to fuel: an overrun terminates the guest's worker thread
   * (WR_GUEST_DEADLINE_EXCEEDED). Derived from `fuel` unless set.
   */
  readonly deadlineMs: number;
  readonly output: OutputLimits;
}

/**
 * Multiplies every derived deadline, for machines far slower than the pricing assumes (an emulated CPU:
 * docs/operations.md, "arm64"). Fuel is untouched, so a call still fails the same way everywhere.
 */
export const DEADLINE_SCALE_ENV = 'WR_DEADLINE_SCALE';
const DEADLINE_SCALE = deadlineScale(process.env[DEADLINE_SCALE_ENV]);
const MAX_DEADLINE_MS = 600_000;

function deadlineScale(value: string | undefined): number {
  if (value === undefined || value === '') return 1;
  const scale = Number(value);
  if (!Number.isFinite(scale) || scale < 1 || scale > 100) {
    throw new WrError('WR_CONFIG_INVALID', `${DEADLINE_SCALE_ENV} must be a number from 1 to 100, not "${value}"`, {
      details: { [DEADLINE_SCALE_ENV]: value },
    });
  }
  return scale;
}

/**
 * Ten times what the budget may take at the 2 ns per unit every path is priced within (docs/runtime.md),
 * and never under a second: fuel ends a call long before, so the deadline fires only when metering has a
 * hole or the machine is starved.
 */
export function deadlineForFuel(fuel: number): number {
  return Math.min(MAX_DEADLINE_MS, Math.ceil(Math.max(1000, Math.ceil(fuel * 2e-5)) * DEADLINE_SCALE));
}

export const DEFAULT_RUNTIME_LIMITS: RuntimeLimits = {
  ...DEFAULT_LIMITS,
  deadlineMs: deadlineForFuel(DEFAULT_LIMITS.fuel),
  output: OUTPUT_LIMITS,
};

/**
 * The fuel counter is an i32 global, and memory is 32-bit: 65536 pages of 64 KiB. The module-shape
 * ceilings stay at or below V8's own limits (the metering pass adds a local to some functions, so one
 * local is kept free), and far enough below the sizes at which V8 fails with a fatal, uncatchable
 * out-of-memory (a table of 10^7 entries) that even `tables` tables at the cap are safe.
 */
const CEILINGS: Partial<Record<keyof RuntimeLimits, number>> = {
  fuel: 0x7fff_ffff,
  memoryPages: 65536,
  // Ten minutes, far above what the largest fuel derives (43 s) unscaled, and far below the 2^31-1 ms past
  // which setTimeout fires at once (instantiation waits INSTANTIATE_DEADLINES times this, workers/worker-pool.ts).
  deadlineMs: MAX_DEADLINE_MS,
  types: 1_000_000,
  imports: 100_000,
  exports: 100_000,
  functions: 1_000_000,
  globals: 1_000_000,
  tables: 100,
  tableElements: 1_000_000,
  tags: 1_000_000,
  localsPerFunction: 49_999,
  functionBodyBytes: 7_654_321,
  codeBytes: 1024 * 1024 * 1024,
  blockDepth: 100_000,
  brTableLabels: 65_520,
  dataSegments: 100_000,
  dataBytes: 1024 * 1024 * 1024,
  elementSegments: 1_000_000,
  elementEntries: 10_000_000,
};

/** A partial set of limits; `output` may itself be partial. */
export type LimitOverrides = Partial<Omit<RuntimeLimits, 'output'>> & { readonly output?: Partial<OutputLimits> };

/** Applies each layer of overrides onto the defaults in turn, rejecting values the runtime cannot honour. */
export function resolveLimits(...layers: LimitOverrides[]): RuntimeLimits {
  let limits: RuntimeLimits = DEFAULT_RUNTIME_LIMITS;
  for (const layer of layers) limits = { ...limits, ...layer, output: { ...limits.output, ...layer.output } };
  if (!layers.some((layer) => layer.deadlineMs !== undefined)) {
    limits = { ...limits, deadlineMs: deadlineForFuel(limits.fuel) };
  }
  const numbers: Array<[string, unknown]> = [
    ...Object.entries(limits).filter(([key]) => key !== 'output'),
    ...Object.entries(limits.output).map(([key, value]): [string, unknown] => [`output.${key}`, value]),
  ];
  for (const [key, value] of numbers) {
    const ceiling = CEILINGS[key as keyof RuntimeLimits] ?? Number.MAX_SAFE_INTEGER;
    if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > ceiling) {
      throw new WrError('WR_SPEC_INVALID', `limit ${key} must be an integer from 1 to ${ceiling}`, {
        details: { limit: key, value },
      });
    }
  }
  return limits;
}
