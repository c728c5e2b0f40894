// Decodes a module's section structure and declarations into ModuleInfo plus the byte layout a rewriter needs.
//
// Function bodies are only delimited here (their instructions are walked by the metering pass); every
// other section is decoded entry by entry and must end exactly at its declared size.

import type { ExternKind, FuncType, MemoryInfo, ModuleInfo } from '../types.ts';
import { skipConstExpr } from './instructions.ts';
import { malformed, Reader, unsupported } from './reader.ts';
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
}

const KINDS: ExternKind[] = ['function', 'table', 'memory', 'global', 'tag'];
const WASM_VERSION = 1;

export function parseModule(bytes: Uint8Array): ParsedModule {
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
    customSections: [],
  };
  const m: ParsedModule = {
    info,
    sections: [],
    importedFunctions: 0,
    importedGlobals: 0,
    definedGlobals: 0,
    exportCount: 0,
  };
  let tables = 0;
  let tags = 0;
  let declaredFunctions = -1;
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
      case SECTION.custom:
        info.customSections.push(s.name());
        s.pos = end;
        break;
      case SECTION.type:
        for (let n = s.u32(); n > 0; n--) info.types.push(readFuncType(s));
        break;
      case SECTION.import:
        for (let n = s.u32(); n > 0; n--) {
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
            } else {
              tags++;
            }
            continue;
          }
          info.imports.push({ module, name, kind });
          if (kind === 'table') {
            readTableType(s);
            tables++;
          } else if (kind === 'memory') {
            info.memories.push(readMemoryType(s, true));
          } else {
            readGlobalType(s);
            m.importedGlobals++;
          }
        }
        break;
      case SECTION.function: {
        const n = s.u32();
        declaredFunctions = n;
        for (let i = 0; i < n; i++) info.functionTypeIndices.push(readTypeUse(s, info, false));
        break;
      }
      case SECTION.table:
        for (let n = s.u32(); n > 0; n--) {
          if (s.pos < s.end && bytes[s.pos] === 0x40) {
            // A table with an explicit initializer: 0x40 0x00 tabletype expr.
            s.pos++;
            if (s.u8() !== 0x00) throw malformed(s.pos - 1, 'bad table initializer prefix');
            readTableType(s);
            s.pos = skipConstExpr(bytes, s.pos, s.end);
          } else {
            readTableType(s);
          }
          tables++;
        }
        break;
      case SECTION.memory:
        for (let n = s.u32(); n > 0; n--) info.memories.push(readMemoryType(s, false));
        break;
      case SECTION.tag:
        for (let n = s.u32(); n > 0; n--) {
          readTypeUse(s, info, true);
          tags++;
        }
        break;
      case SECTION.global:
        for (let n = s.u32(); n > 0; n--) {
          readGlobalType(s);
          s.pos = skipConstExpr(bytes, s.pos, s.end);
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
        for (let n = s.u32(); n > 0; n--) {
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
        if (s.u32() >= info.functionTypeIndices.length) throw malformed(contentStart, 'start function out of range');
        break;
      case SECTION.element:
        for (let n = s.u32(); n > 0; n--) readElementSegment(s);
        break;
      case SECTION.dataCount:
        s.u32();
        break;
      case SECTION.code: {
        const n = s.u32();
        if (n !== Math.max(declaredFunctions, 0)) throw malformed(contentStart, 'code and function counts differ');
        for (let i = 0; i < n; i++) s.skip(s.u32());
        declaredFunctions = -2;
        break;
      }
      case SECTION.data:
        for (let n = s.u32(); n > 0; n--) readDataSegment(s);
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

function readLimits(s: Reader): Limits {
  const at = s.pos;
  const flags = s.u8();
  if (flags > 0x07) throw malformed(at, `unknown limits flags 0x${flags.toString(16)}`);
  const is64 = (flags & 0x04) !== 0;
  const min = is64 ? s.u64() : s.u32();
  const max = (flags & 0x01) === 0 ? undefined : is64 ? s.u64() : s.u32();
  return { min, max, shared: (flags & 0x02) !== 0, is64 };
}

function readTableType(s: Reader): void {
  const at = s.pos;
  if (!isRefType(decodeValType(s.u8(), at))) throw malformed(at, 'table element type is not a reference type');
  // Metering keeps a table operation's length in an i32 local; 64-bit tables would need an i64 one.
  if (readLimits(s).is64) throw unsupported(at + 1, '64-bit table');
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

function readElementSegment(s: Reader): void {
  const at = s.pos;
  const flags = s.u32();
  if (flags > 7) throw malformed(at, `unknown element segment flags ${flags}`);
  const passiveOrDeclared = (flags & 0x01) !== 0;
  const explicitTable = (flags & 0x02) !== 0 && !passiveOrDeclared;
  const usesExprs = (flags & 0x04) !== 0;
  if (explicitTable) s.u32();
  if (!passiveOrDeclared) s.pos = skipConstExpr(s.bytes, s.pos, s.end);
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
  for (let n = s.u32(); n > 0; n--) {
    if (usesExprs) s.pos = skipConstExpr(s.bytes, s.pos, s.end);
    else s.u32();
  }
}

function readDataSegment(s: Reader): void {
  const at = s.pos;
  const flags = s.u32();
  if (flags > 2) throw malformed(at, `unknown data segment flags ${flags}`);
  if (flags === 2) s.u32();
  if (flags !== 1) s.pos = skipConstExpr(s.bytes, s.pos, s.end);
  s.skip(s.u32());
}
