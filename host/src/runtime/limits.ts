// The per-module limits the runtime enforces, with their defaults and the host-wide bounds they must respect.

import { DEFAULT_LIMITS, OUTPUT_LIMITS } from '../abi/constants.ts';
import type { OutputLimits } from '../abi/validate.ts';
import { WrError } from '../errors.ts';

export interface RuntimeLimits {
  readonly moduleBytes: number;
  readonly memoryPages: number;
  readonly fuel: number;
  readonly inputBytes: number;
  readonly outputBytes: number;
  readonly resultBytes: number;
  readonly logBytes: number;
  readonly logLinesPerCall: number;
  readonly output: OutputLimits;
}

export const DEFAULT_RUNTIME_LIMITS: RuntimeLimits = { ...DEFAULT_LIMITS, output: OUTPUT_LIMITS };

/** The fuel counter is an i32 global, and memory is 32-bit: 65536 pages of 64 KiB. */
const CEILINGS: Partial<Record<keyof RuntimeLimits, number>> = { fuel: 0x7fff_ffff, memoryPages: 65536 };

/** A partial set of limits; `output` may itself be partial. */
export type LimitOverrides = Partial<Omit<RuntimeLimits, 'output'>> & { readonly output?: Partial<OutputLimits> };

/** Applies each layer of overrides onto the defaults in turn, rejecting values the runtime cannot honour. */
export function resolveLimits(...layers: LimitOverrides[]): RuntimeLimits {
  let limits: RuntimeLimits = DEFAULT_RUNTIME_LIMITS;
  for (const layer of layers) limits = { ...limits, ...layer, output: { ...limits.output, ...layer.output } };
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
