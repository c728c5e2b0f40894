// Decodes a module's section structure and declarations into ModuleInfo plus the byte layout a rewriter needs.
//
// Function bodies are only delimited here (their instructions are walked by the metering pass); every
// other section is decoded entry by entry and must end exactly at its declared size. Every count is held
// to its ModuleLimits bound as soon as it is read, before anything is allocated for it, and every global
// and function index a declaration names is checked against the module's own index spaces, so none can
// name the fuel global or a twin the instrumentation appends.

import { DEFAULT_MODULE_LIMITS } from '../limits.ts';
import type { ExternKind, FuncType, MemoryInfo, ModuleInfo, ModuleLimits } from '../types.ts';
import { skipImmediates } from './instructions.ts';
import { checkLimit, lebEnd, malformed, Reader, readU32, unsupported } from './reader.ts';
import { decodeValType, isRefType, type ValType } from './valtypes.ts';

export const SECTION = {
  custom: 0,
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  global: 6,
  export: 7,
  start: 8,
  element: 9,
  code: 10,
  data: 11,
  dataCount: 12,
  tag: 13,
} as const;

/** Position of each known section id in the mandatory order (tag sits between memory and global). */
const ORDER = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 11, 6];

export function sectionOrder(id: number): number {
  return ORDER[id]!;
}

export interface SectionSpan {
  id: number;
  /** Offset of the id byte. */
  start: number;
  /** Offset of the first content byte (after the size). */
  contentStart: number;
  /** Exclusive end of the content. */
  end: number;
  /** A custom section's name. */
  name?: string;
}

/** Where a defined table's limits sit, so the rewrite can cap its maximum. */
export interface TableLimitsSpan {
  /** Offset of the limits' flags byte. */
  start: number;
  /** Exclusive end of the limits. */
  end: number;
  min: number;
  max: number | undefined;
}

/** What instantiation does before any metered code runs: the active segments it copies. */
export interface InitWork {
  dataSegments: number;
  dataBytes: number;
  elementSegments: number;
  elements: number;
}

export interface ParsedModule {
  info: ModuleInfo;
  /** Every section in file order, custom ones included. */
  sections: SectionSpan[];
  importedFunctions: number;
  importedGlobals: number;
  definedGlobals: number;
  /** Entries in the export section (0 when absent). */
  exportCount: number;
  /** Defined tables in order. */
  tables: TableLimitsSpan[];
  /** The start section's function index. */
  startFunction: number | undefined;
  init: InitWork;
}

const KINDS: ExternKind[] = ['function', 'table', 'memory', 'global', 'tag'];
const WASM_VERSION = 1;

export function parseModule(bytes: Uint8Array, limits: ModuleLimits = DEFAULT_MODULE_LIMITS): ParsedModule {
  if (bytes.length < 8) throw malformed(bytes.length, 'shorter than the 8-byte header');
  if (bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw malformed(0, 'bad magic (not a WebAssembly binary)');
  }
  const version = bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24);
  if (version !== WASM_VERSION) throw malformed(4, `unsupported binary version ${version >>> 0}`);

  const info: ModuleInfo = {
    imports: [],
    exports: [],
    types: [],
    functionTypeIndices: [],
    memories: [],
    tables: [],
    customSections: [],
  };
  const m: ParsedModule = {
    info,
    sections: [],
    importedFunctions: 0,
    importedGlobals: 0,
    definedGlobals: 0,
    exportCount: 0,
    tables: [],
    startFunction: undefined,
    init: { dataSegments: 0, dataBytes: 0, elementSegments: 0, elements: 0 },
  };
  let tables = 0;
  let tableElements = 0;
  let tags = 0;
  let elementEntries = 0;
  let dataBytes = 0;
  let declaredFunctions = -1;
  const addTable = (min: number) => {
    tables++;
    tableElements += min;
    checkLimit('tables', tables, limits.tables);
    checkLimit('tableElements', tableElements, limits.tableElements);
  };
  let lastOrder = 0;
  const r = new Reader(bytes, 8);

  while (!r.done) {
    const start = r.pos;
    const id = r.u8();
    const size = r.u32();
    const contentStart = r.pos;
    if (size > bytes.length - contentStart) throw malformed(contentStart, `section ${id} overruns the module`);
    const end = contentStart + size;
    if (id > SECTION.tag) throw malformed(start, `unknown section id ${id}`);
    if (id !== SECTION.custom) {
      const order = sectionOrder(id);
      if (order <= lastOrder) throw malformed(start, `section ${id} is duplicated or out of order`);
      lastOrder = order;
    }
    m.sections.push({ id, start, contentStart, end });
    const s = new Reader(bytes, contentStart, end);

    switch (id) {
      case SECTION.custom: {
        const name = s.name();
        info.customSections.push(name);
        m.sections[m.sections.length - 1]!.name = name;
        s.pos = end;
        break;
      }
      case SECTION.type:
        for (let n = counted(s, 'types', limits.types); n > 0; n--) info.types.push(readFuncType(s));
        break;
      case SECTION.import:
        for (let n = counted(s, 'imports', limits.imports); n > 0; n--) {
          const module = s.name();
          const name = s.name();
          const kindAt = s.pos;
          const kind = KINDS[s.u8()];
          if (kind === undefined) throw malformed(kindAt, 'unknown import kind');
          if (kind === 'function' || kind === 'tag') {
            const typeIndex = readTypeUse(s, info, kind === 'tag');
            info.imports.push({ module, name, kind, typeIndex });
            if (kind === 'function') {
              info.functionTypeIndices.push(typeIndex);
              m.importedFunctions++;
              checkLimit('functions', m.importedFunctions, limits.functions);
            } else {
              tags++;
              checkLimit('tags', tags, limits.tags);
            }
            continue;
          }
          info.imports.push({ module, name, kind });
          if (kind === 'table') {
            const table = readTableType(s);
            info.tables.push({
              min: table.min,
              ...(table.max === undefined ? {} : { max: table.max }),
              imported: true,
            });
            addTable(table.min);
          } else if (kind === 'memory') {
            info.memories.push(readMemoryType(s, true));
          } else {
            readGlobalType(s);
            m.importedGlobals++;
            checkLimit('globals', m.importedGlobals, limits.globals);
          }
        }
        break;
      case SECTION.function: {
        const n = s.u32();
        checkLimit('functions', m.importedFunctions + n, limits.functions);
        declaredFunctions = n;
        for (let i = 0; i < n; i++) info.functionTypeIndices.push(readTypeUse(s, info, false));
        break;
      }
      case SECTION.table:
        for (let n = counted(s, 'tables', limits.tables, tables); n > 0; n--) {
          const init = s.pos < s.end && bytes[s.pos] === 0x40;
          if (init) {
            // A table with an explicit initializer: 0x40 0x00 tabletype expr.
            s.pos++;
            if (s.u8() !== 0x00) throw malformed(s.pos - 1, 'bad table initializer prefix');
          }
          const table = readTableType(s);
          if (init) s.pos = checkConstExpr(s, m.importedGlobals, info.functionTypeIndices.length);
          m.tables.push(table);
          info.tables.push({ min: table.min, ...(table.max === undefined ? {} : { max: table.max }), imported: false });
          addTable(table.min);
        }
        break;
      case SECTION.memory:
        for (let n = s.u32(); n > 0; n--) info.memories.push(readMemoryType(s, false));
        break;
      case SECTION.tag:
        for (let n = counted(s, 'tags', limits.tags, tags); n > 0; n--) {
          readTypeUse(s, info, true);
          tags++;
        }
        break;
      case SECTION.global:
        for (let n = counted(s, 'globals', limits.globals, m.importedGlobals); n > 0; n--) {
          readGlobalType(s);
          // An initializer may read imported and earlier globals only (and never the fuel global, appended last).
          const globals = m.importedGlobals + m.definedGlobals;
          s.pos = checkConstExpr(s, globals, info.functionTypeIndices.length);
          m.definedGlobals++;
        }
        break;
      case SECTION.export: {
        const spaces = [
          info.functionTypeIndices.length,
          tables,
          info.memories.length,
          m.importedGlobals + m.definedGlobals,
          tags,
        ];
        for (let n = counted(s, 'exports', limits.exports); n > 0; n--) {
          const name = s.name();
          const kindAt = s.pos;
          const kindByte = s.u8();
          const kind = KINDS[kindByte];
          if (kind === undefined) throw malformed(kindAt, 'unknown export kind');
          const index = s.u32();
          if (index >= spaces[kindByte]!) throw malformed(kindAt, `export "${name}" refers to a missing ${kind}`);
          info.exports.push({ name, kind, index });
          m.exportCount++;
        }
        break;
      }
      case SECTION.start:
        m.startFunction = s.u32();
        if (m.startFunction >= info.functionTypeIndices.length) {
          throw malformed(contentStart, 'start function out of range');
        }
        break;
      case SECTION.element:
        for (let n = counted(s, 'elementSegments', limits.elementSegments); n > 0; n--) {
          elementEntries += readElementSegment(s, m, elementEntries, limits.elementEntries);
        }
        break;
      case SECTION.dataCount:
        counted(s, 'dataSegments', limits.dataSegments);
        break;
      case SECTION.code: {
        checkLimit('codeBytes', size, limits.codeBytes);
        const n = s.u32();
        if (n !== Math.max(declaredFunctions, 0)) throw malformed(contentStart, 'code and function counts differ');
        for (let i = 0; i < n; i++) {
          const bodySize = s.u32();
          checkLimit('functionBodyBytes', bodySize, limits.functionBodyBytes);
          s.skip(bodySize);
        }
        declaredFunctions = -2;
        break;
      }
      case SECTION.data:
        for (let n = counted(s, 'dataSegments', limits.dataSegments); n > 0; n--) {
          dataBytes += readDataSegment(s, m);
          checkLimit('dataBytes', dataBytes, limits.dataBytes);
        }
        break;
    }
    if (s.pos !== end) throw malformed(s.pos, `section ${id} does not end at its declared size`);
    r.pos = end;
  }
  // -1: no function section; -2: bodies seen. A declared function without a code section has no body.
  if (declaredFunctions > 0) throw malformed(bytes.length, 'functions declared without a code section');
  return m;
}

function readValTypes(s: Reader): ValType[] {
  const out: ValType[] = [];
  for (let n = s.u32(); n > 0; n--) {
    const at = s.pos;
    out.push(decodeValType(s.u8(), at));
  }
  return out;
}

function readFuncType(s: Reader): FuncType {
  const at = s.pos;
  const form = s.u8();
  if (form === 0x60) return { params: readValTypes(s), results: readValTypes(s) };
  // rec, sub, sub final, struct, array: the GC proposal's type forms.
  if (form === 0x4e || form === 0x50 || form === 0x4f || form === 0x5f || form === 0x5e) {
    throw unsupported(at, 'GC type definition');
  }
  throw malformed(at, `unknown type form 0x${form.toString(16)}`);
}

/** A function type index (functions) or a tag type (attribute byte 0 then the index). */
function readTypeUse(s: Reader, info: ModuleInfo, tag: boolean): number {
  if (tag && s.u8() !== 0x00) throw malformed(s.pos - 1, 'unknown tag attribute');
  const at = s.pos;
  const index = s.u32();
  if (index >= info.types.length) throw malformed(at, `type index ${index} out of range`);
  return index;
}

interface Limits {
  min: number;
  max: number | undefined;
  shared: boolean;
  is64: boolean;
}

/**
 * Reads a vector count and holds `used + count` to `max` before the caller loops over (and allocates
 * for) the entries; `used` is what imports already took of the same limit.
 */
function counted(s: Reader, limit: string, max: number, used = 0): number {
  const n = s.u32();
  checkLimit(limit, used + n, max);
  return n;
}

/**
 * Skips a constant expression up to and including its `end`, refusing a `global.get` of an index at or
 * past `globals` and a `ref.func` at or past `functions`: V8 would refuse them too, but the check must
 * not depend on it, since the instrumentation appends a global and functions right at those bounds.
 */
function checkConstExpr(s: Reader, globals: number, functions: number): number {
  const b = s.bytes;
  let p = s.pos;
  for (;;) {
    if (p >= s.end) throw malformed(p, 'unterminated constant expression');
    const op = b[p++]!;
    if (op === 0x0b) return p;
    if (op === 0x23 || op === 0xd2) {
      const index = readU32(b, p, s.end);
      const bound = op === 0x23 ? globals : functions;
      if (index >= bound) {
        throw malformed(p, `constant expression names ${op === 0x23 ? 'global' : 'function'} ${index} of ${bound}`);
      }
      p = lebEnd;
      continue;
    }
    p = skipImmediates(b, p, s.end, op);
  }
}

function readLimits(s: Reader): Limits {
  const at = s.pos;
  const flags = s.u8();
  if (flags > 0x07) throw malformed(at, `unknown limits flags 0x${flags.toString(16)}`);
  const is64 = (flags & 0x04) !== 0;
  const min = is64 ? s.u64() : s.u32();
  const max = (flags & 0x01) === 0 ? undefined : is64 ? s.u64() : s.u32();
  return { min, max, shared: (flags & 0x02) !== 0, is64 };
}

function readTableType(s: Reader): TableLimitsSpan {
  const at = s.pos;
  if (!isRefType(decodeValType(s.u8(), at))) throw malformed(at, 'table element type is not a reference type');
  const start = s.pos;
  const l = readLimits(s);
  // Metering keeps a table operation's length in an i32 local; 64-bit tables would need an i64 one.
  if (l.is64) throw unsupported(start, '64-bit table');
  return { start, end: s.pos, min: l.min, max: l.max };
}

function readMemoryType(s: Reader, imported: boolean): MemoryInfo {
  const l = readLimits(s);
  const mem: MemoryInfo = { min: l.min, shared: l.shared, memory64: l.is64, imported };
  if (l.max !== undefined) mem.max = l.max;
  return mem;
}

function readGlobalType(s: Reader): void {
  decodeValType(s.u8(), s.pos - 1);
  const mut = s.u8();
  if (mut > 1) throw malformed(s.pos - 1, 'bad global mutability');
}

/** Decodes one element segment, holding `used` plus its entries to `max`; returns how many it has. */
function readElementSegment(s: Reader, m: ParsedModule, used: number, max: number): number {
  const at = s.pos;
  const flags = s.u32();
  if (flags > 7) throw malformed(at, `unknown element segment flags ${flags}`);
  const passiveOrDeclared = (flags & 0x01) !== 0;
  const explicitTable = (flags & 0x02) !== 0 && !passiveOrDeclared;
  const usesExprs = (flags & 0x04) !== 0;
  const globals = m.importedGlobals + m.definedGlobals;
  const functions = m.info.functionTypeIndices.length;
  if (explicitTable) s.u32();
  if (!passiveOrDeclared) s.pos = checkConstExpr(s, globals, functions);
  // Flags 0 and 4 imply funcref; every other form names its element kind or reference type.
  if (flags !== 0 && flags !== 4) {
    const kindAt = s.pos;
    const kind = s.u8();
    if (usesExprs) {
      if (!isRefType(decodeValType(kind, kindAt))) throw malformed(kindAt, 'element type is not a reference type');
    } else if (kind !== 0x00) {
      throw malformed(kindAt, 'unknown element kind');
    }
  }
  const n = s.u32();
  checkLimit('elementEntries', used + n, max);
  for (let i = 0; i < n; i++) {
    if (usesExprs) {
      s.pos = checkConstExpr(s, globals, functions);
    } else {
      const indexAt = s.pos;
      if (s.u32() >= functions) throw malformed(indexAt, 'element segment names a missing function');
    }
  }
  if (!passiveOrDeclared) {
    m.init.elementSegments++;
    m.init.elements += n;
  }
  return n;
}

/** Decodes one data segment; returns its payload size. */
function readDataSegment(s: Reader, m: ParsedModule): number {
  const at = s.pos;
  const flags = s.u32();
  if (flags > 2) throw malformed(at, `unknown data segment flags ${flags}`);
  if (flags === 2) s.u32();
  if (flags !== 1) s.pos = checkConstExpr(s, m.importedGlobals + m.definedGlobals, m.info.functionTypeIndices.length);
  const size = s.u32();
  s.skip(size);
  if (flags !== 1) {
    m.init.dataSegments++;
    m.init.dataBytes += size;
  }
  return size;
}
