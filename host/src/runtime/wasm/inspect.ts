// Describes a module's imports, exports, signatures and memories without compiling it.

import { parseModule } from './internal/parse.ts';
import type { ModuleInfo } from './types.ts';

/**
 * Decodes every section's declarations; function bodies are delimited but their instructions are only
 * walked by instrumentModule. Throws WrError WR_MODULE_MALFORMED (or WR_MODULE_UNSUPPORTED for GC types).
 */
export function inspectModule(bytes: Uint8Array): ModuleInfo {
  return parseModule(bytes).info;
}
