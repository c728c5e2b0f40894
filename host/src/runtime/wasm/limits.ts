// The module-shape limits the decoder enforces, and their defaults (the matching fields of DEFAULT_LIMITS).

import { DEFAULT_LIMITS } from '../../abi/constants.ts';
import type { ModuleLimits } from './types.ts';

/** Every field of ModuleLimits, in the order they are reported and keyed. */
export const MODULE_LIMIT_KEYS = [
  'types',
  'imports',
  'exports',
  'functions',
  'globals',
  'tables',
  'tableElements',
  'tags',
  'localsPerFunction',
  'functionBodyBytes',
  'codeBytes',
  'blockDepth',
  'brTableLabels',
  'dataSegments',
  'dataBytes',
  'elementSegments',
  'elementEntries',
] as const satisfies ReadonlyArray<keyof ModuleLimits>;

export const DEFAULT_MODULE_LIMITS: ModuleLimits = pickModuleLimits(DEFAULT_LIMITS);

export function pickModuleLimits(limits: ModuleLimits): ModuleLimits {
  return Object.fromEntries(MODULE_LIMIT_KEYS.map((k) => [k, limits[k]])) as unknown as ModuleLimits;
}
