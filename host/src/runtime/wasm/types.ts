// The public data shapes of module inspection and instrumentation.

import type { ValType } from './internal/valtypes.ts';

export type { ValType };

export type ExternKind = 'function' | 'table' | 'memory' | 'global' | 'tag';

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

export interface MemoryInfo {
  /** In 64 KiB pages. */
  min: number;
  max?: number;
  shared: boolean;
  memory64: boolean;
  imported: boolean;
}

export interface TableInfo {
  /** In elements. */
  min: number;
  max?: number;
  imported: boolean;
}

export interface ModuleInfo {
  /** `typeIndex` is set for function and tag imports. */
  imports: Array<{ module: string; name: string; kind: ExternKind; typeIndex?: number }>;
  /** `index` is in the index space of `kind` (imports first); it is checked to be in range. */
  exports: Array<{ name: string; kind: ExternKind; index: number }>;
  /** Function signatures by type index, so callers can check import/export signatures. */
  types: FuncType[];
  /** Type index per function index, imports first; every entry is a valid index into `types`. */
  functionTypeIndices: number[];
  /** Imported memories first, as in the memory index space. */
  memories: MemoryInfo[];
  /** Imported tables first, as in the table index space; limits as delivered (before any cap). */
  tables: TableInfo[];
  /** Custom section names of the delivered module in file order (repeats kept). */
  customSections: string[];
}

/** Bounds on a module's shape, enforced while decoding, before anything is compiled (WR_MODULE_LIMIT). */
export interface ModuleLimits {
  readonly types: number;
  readonly imports: number;
  readonly exports: number;
  /** Imported and defined. */
  readonly functions: number;
  /** Imported and defined. */
  readonly globals: number;
  /** Imported and defined. */
  readonly tables: number;
  /** Sum of table minimums; also the maximum every defined table is rewritten to at most. */
  readonly tableElements: number;
  /** Imported and defined. */
  readonly tags: number;
  /** Parameters plus declared locals, per function. */
  readonly localsPerFunction: number;
  readonly functionBodyBytes: number;
  /** Content of the code section. */
  readonly codeBytes: number;
  /** Nesting of block, loop, if, try and try_table in one body. */
  readonly blockDepth: number;
  /** Labels of one br_table (the default one included). */
  readonly brTableLabels: number;
  readonly dataSegments: number;
  /** Payload bytes of all data segments together. */
  readonly dataBytes: number;
  readonly elementSegments: number;
  /** Entries of all element segments together. */
  readonly elementEntries: number;
}

export interface InstrumentOptions {
  /** The memory cap in 64 KiB pages, 0..65536: the patched maximum, and the limit for a declared minimum. */
  memoryMaxPages: number;
  /**
   * The fuel global's initial value, in [0, 2^31 - 1]: the budget of the start function and of anything
   * that runs before the host first sets `__wr_fuel`. Defaults to DEFAULT_LIMITS.fuel.
   */
  initialFuel?: number;
  /** Defaults to the module-shape fields of DEFAULT_LIMITS. */
  limits?: ModuleLimits;
  /**
   * Runs on the decoded declarations before any body is walked; what it throws refuses the module. The
   * loader's contract checks (ABI, imports, exports) go here, so a module that breaks them costs one
   * decode, not the walk, V8's validation and the rewrite, and a valid one is decoded once, not twice.
   */
  checkDeclarations?: (info: ModuleInfo) => void;
}

export interface InstrumentResult {
  /** Backed by a plain ArrayBuffer, so it can go straight to `new WebAssembly.Module()`. */
  bytes: Uint8Array<ArrayBuffer>;
  /** Describes the ORIGINAL module (without the fuel global and its export). */
  info: ModuleInfo;
  /** True when the memory maximum was absent or above the cap and was rewritten to the cap. */
  memoryPatched: boolean;
  /**
   * True when the module has a start function. Its start section is removed and the function exported as
   * START_EXPORT, for the host to call like any export, after instantiation and before anything else.
   */
  hasStart: boolean;
  /**
   * Fuel charged at load for the work instantiation does outside metered code (active data and element
   * segments), already subtracted from the fuel global's initial value.
   */
  initFuel: number;
}
