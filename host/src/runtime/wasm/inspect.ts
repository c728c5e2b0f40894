// Describes a module's imports, exports, signatures and memories without compiling it.

import { parseModule } from './internal/parse.ts';
import type { ModuleInfo, ModuleLimits } from './types.ts';

/**
 * Decodes every section's declarations within `limits` (default: DEFAULT_MODULE_LIMITS); function bodies
 * are delimited but their instructions are only walked, and V8 only validates the module, in
 * instrumentModule. Throws WrError WR_MODULE_MALFORMED, WR_MODULE_UNSUPPORTED (GC types, 64-bit tables)
 * or WR_MODULE_LIMIT.
 */
export function inspectModule(bytes: Uint8Array, limits?: ModuleLimits): ModuleInfo {
  return parseModule(bytes, limits).info;
}
