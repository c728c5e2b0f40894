// Turns an untrusted guest module into one with a capped memory and tables and deterministic fuel metering.
//
// Nothing rewritten is handed out unless the delivered bytes are known to be valid: our decoder first
// (feature list, module-shape limits, and every global and function index held to the module's own
// counts), then V8's validator (before the walk, or beside it in instrumentModuleBesideV8). Both
// matter: the rewrite appends a global and functions right after the module's own, so a module that
// names one index too many is invalid as delivered but would be valid afterwards, pointing at the fuel
// counter.
//
// The rewrite is byte-level and local: the code section gets checks spliced in (see internal/metering.ts
// for the cost model) and may gain unchecked twins of small functions whose direct calls are prepaid,
// which the function section then declares after the existing ones; the memory and table maximums may be lowered; two globals (the
// fuel counter and the call-depth budget, internal/frames.ts) and their exports are appended; the start section is replaced by an export of its function,
// so the host runs it as an ordinary metered call. Custom sections other than one bounded `name` section
// are dropped: V8 keeps a module's wire bytes for as long as the module lives, custom sections included.
// Keeping `name` is safe and useful because no function, local or existing global index moves. Every
// other section is copied byte for byte.

import { DEFAULT_LIMITS, DEPTH_GLOBAL_EXPORT, FUEL_GLOBAL_EXPORT, START_EXPORT } from '../../abi/constants.ts';
import { WrError } from '../../errors.ts';
import { DEPTH_BUDGET } from './internal/frames.ts';
import { type AddedType, initCost, planMetering, writeMeteredCode } from './internal/metering.ts';
import {
  type ParsedModule,
  parseModule,
  SECTION,
  type SectionSpan,
  sectionOrder,
  type TableLimitsSpan,
} from './internal/parse.ts';
import { lebEnd, overLimit, readU32 } from './internal/reader.ts';
import { encodeValType } from './internal/valtypes.ts';
import { s32Size, u32Size, Writer } from './internal/writer.ts';
import { DEFAULT_MODULE_LIMITS } from './limits.ts';
import type { InstrumentOptions, InstrumentResult } from './types.ts';

/** The most pages a 32-bit memory can have (4 GiB). */
const MAX_PAGES_32 = 65536;
const MAX_FUEL = 0x7fffffff;
/** A larger `name` section is dropped: it only serves stack traces, and V8 keeps it as long as the module. */
export const NAME_SECTION_MAX_BYTES = 1024 * 1024;
const RESERVED_EXPORTS = [FUEL_GLOBAL_EXPORT, DEPTH_GLOBAL_EXPORT, START_EXPORT];

interface AddedExport {
  name: Uint8Array;
  kind: number;
  index: number;
}

export function instrumentModule(bytes: Uint8Array, options: InstrumentOptions): InstrumentResult {
  return instrument(bytes, options, false).result;
}

/**
 * instrumentModule, with V8's validation of the delivered bytes running beside the walk and the rewrite
 * instead of before them: WebAssembly.compile validates on V8's background threads (and, lazily
 * compiling, compiles nothing), so on a free core a 1 MB module's validation costs the caller ~1.5 ms of
 * waiting instead of ~3.7 ms in place. It starts once the declarations are within their limits, and a
 * rewrite of bytes V8 refuses is thrown away: what this returns is as validated as instrumentModule's.
 */
export async function instrumentModuleBesideV8(
  bytes: Uint8Array,
  options: InstrumentOptions,
): Promise<InstrumentResult> {
  const { result, verdict } = instrument(bytes, options, true);
  const refusal = await verdict;
  if (refusal !== undefined) throw refusal;
  return result;
}

function instrument(
  bytes: Uint8Array,
  options: InstrumentOptions,
  beside: boolean,
): { result: InstrumentResult; verdict: Promise<WrError | undefined> | undefined } {
  const cap = options.memoryMaxPages;
  if (!Number.isInteger(cap) || cap < 0 || cap > MAX_PAGES_32) {
    throw new RangeError(`memoryMaxPages must be an integer in [0, ${MAX_PAGES_32}], got ${cap}`);
  }
  const initialFuel = options.initialFuel ?? DEFAULT_LIMITS.fuel;
  if (!Number.isInteger(initialFuel) || initialFuel < 0 || initialFuel > MAX_FUEL) {
    throw new RangeError(`initialFuel must be an integer in [0, ${MAX_FUEL}], got ${initialFuel}`);
  }
  const limits = options.limits ?? DEFAULT_MODULE_LIMITS;

  const m = parseModule(bytes, limits);
  options.checkDeclarations?.(m.info);
  const memoryPatched = checkMemory(m, cap);
  const reserved = m.info.exports.find((e) => RESERVED_EXPORTS.includes(e.name));
  if (reserved !== undefined) {
    throw new WrError('WR_MODULE_RESERVED_EXPORT', `the module exports "${reserved.name}", a name the host reserves`, {
      details: { export: reserved.name },
    });
  }
  const fuelGlobal = m.importedGlobals + m.definedGlobals;
  const codeSpan = m.sections.find((s) => s.id === SECTION.code);
  const verdict = beside ? v8Verdict(bytes) : undefined;
  const plan = codeSpan === undefined ? undefined : planMetering(bytes, codeSpan, m, fuelGlobal, limits);
  if (!beside) validateWithV8(bytes);
  const initFuel = initCost(m.init);
  if (initFuel > initialFuel) throw overLimit('fuel', initFuel, initialFuel);

  const added: AddedExport[] = [
    { name: FUEL_NAME, kind: 0x03, index: fuelGlobal },
    { name: DEPTH_NAME, kind: 0x03, index: fuelGlobal + 1 },
  ];
  if (m.startFunction !== undefined) added.push({ name: START_NAME, kind: 0x00, index: m.startFunction });
  const tableCap = limits.tableElements;
  const capTables = m.tables.some((t) => t.max === undefined || t.max > tableCap);
  const keep = (s: SectionSpan) => s.id !== SECTION.start && (s.id !== SECTION.custom || s === nameSection(m));

  const codeGrowth =
    codeSpan === undefined || plan === undefined ? 0 : plan.outputSize - (codeSpan.end - codeSpan.start);
  const twinTypes = plan?.functionTypes ?? new Int32Array(0);
  const addedTypes = plan?.addedTypes ?? [];
  let addedTypeBytes = 0;
  for (const t of addedTypes) addedTypeBytes += typeSize(t);
  let kept = 8;
  for (const s of m.sections) if (keep(s)) kept += s.end - s.start;
  // The code section's new size is exact; twins add at most 5 bytes each to the function section, capped
  // limits at most 11 bytes per table, and the global and export edits well under 160 bytes, so the
  // buffer never grows and the result is a view of it rather than a copy.
  const out = new Writer(kept + codeGrowth + 5 * twinTypes.length + addedTypeBytes + 5 + 11 * m.tables.length + 160);
  out.append(bytes, 0, 8);
  let globalWritten = false;
  let exportWritten = false;
  for (const s of m.sections) {
    if (!keep(s)) continue;
    if (s.id !== SECTION.custom) {
      const order = sectionOrder(s.id);
      if (!globalWritten && order > sectionOrder(SECTION.global)) {
        writeGlobalSection(out, bytes, undefined, initialFuel - initFuel);
        globalWritten = true;
      }
      if (!exportWritten && order > sectionOrder(SECTION.export)) {
        writeExportSection(out, bytes, undefined, added);
        exportWritten = true;
      }
    }
    switch (s.id) {
      case SECTION.global:
        writeGlobalSection(out, bytes, s, initialFuel - initFuel);
        globalWritten = true;
        break;
      case SECTION.export:
        writeExportSection(out, bytes, s, added);
        exportWritten = true;
        break;
      case SECTION.memory:
        if (memoryPatched) writeCappedMemory(out, m, cap);
        else out.append(bytes, s.start, s.end);
        break;
      case SECTION.table:
        if (capTables) writeCappedTables(out, bytes, s, m.tables, tableCap);
        else out.append(bytes, s.start, s.end);
        break;
      case SECTION.code:
        writeMeteredCode(bytes, plan!, out);
        break;
      case SECTION.type:
        if (addedTypes.length > 0) writeTypeSection(out, bytes, s, addedTypes);
        else out.append(bytes, s.start, s.end);
        break;
      case SECTION.function:
        if (twinTypes.length > 0) writeFunctionSection(out, bytes, s, twinTypes);
        else out.append(bytes, s.start, s.end);
        break;
      default:
        out.append(bytes, s.start, s.end);
    }
  }
  if (!globalWritten) writeGlobalSection(out, bytes, undefined, initialFuel - initFuel);
  if (!exportWritten) writeExportSection(out, bytes, undefined, added);
  return {
    result: { bytes: out.finish(), info: m.info, memoryPatched, hasStart: m.startFunction !== undefined, initFuel },
    verdict,
  };
}

const FUEL_NAME = new TextEncoder().encode(FUEL_GLOBAL_EXPORT);
const DEPTH_NAME = new TextEncoder().encode(DEPTH_GLOBAL_EXPORT);
const START_NAME = new TextEncoder().encode(START_EXPORT);

/** The first custom section called `name`, when it is small enough to keep. */
function nameSection(m: ParsedModule): SectionSpan | undefined {
  const s = m.sections.find((c) => c.id === SECTION.custom && c.name === 'name');
  return s !== undefined && s.end - s.contentStart <= NAME_SECTION_MAX_BYTES ? s : undefined;
}

/**
 * V8's verdict on the delivered bytes, which our decoder only delimits: types of every instruction,
 * branch targets, local indices, the rest of the spec. Validation compiles nothing and allocates no
 * table or memory; only a refused module is compiled, to recover V8's message.
 */
function validateWithV8(bytes: Uint8Array): void {
  const view = bytes as Uint8Array<ArrayBuffer>;
  if (WebAssembly.validate(view)) return;
  let message = 'invalid module';
  try {
    new WebAssembly.Module(view);
  } catch (err) {
    message = (err as Error).message;
  }
  throw v8Refusal(message);
}

/**
 * The same verdict off this thread: the refusal, or undefined for a valid module. It never rejects, so a
 * walk that throws first leaves no unhandled rejection behind; the module it compiles is dropped unused.
 */
function v8Verdict(bytes: Uint8Array): Promise<WrError | undefined> {
  return WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>).then(
    () => undefined,
    (err: unknown) => v8Refusal((err as Error).message),
  );
}

/** V8's message without the API that produced it ("WebAssembly.compile(): "): the same refusal either way. */
function v8Refusal(message: string): WrError {
  const v8 = message.replace(/^WebAssembly\.\w+\(\): /, '');
  return new WrError('WR_MODULE_MALFORMED', `V8 rejects the module: ${v8}`, { details: { v8 } });
}

/** Enforces the memory policy and tells whether the maximum must be rewritten to the cap. */
function checkMemory(m: ParsedModule, cap: number): boolean {
  const mems = m.info.memories;
  if (mems.length === 0) return false;
  const fail = (why: string) =>
    new WrError('WR_MODULE_MEMORY', `module memory rejected: ${why}`, { details: { memoryMaxPages: cap } });
  if (mems.length > 1) throw fail(`it declares ${mems.length} memories; one is allowed`);
  const mem = mems[0]!;
  if (mem.imported) throw fail('memory is imported; the module must define its own');
  if (mem.shared) throw fail('shared memory is not allowed');
  if (mem.memory64) throw fail('64-bit memory is not allowed');
  if (mem.min > cap) throw fail(`minimum of ${mem.min} pages exceeds the cap of ${cap}`);
  return mem.max === undefined || mem.max > cap;
}

function writeSectionHeader(out: Writer, id: number, size: number): void {
  out.u8(id);
  out.u32(size);
}

function writeCappedMemory(out: Writer, m: ParsedModule, cap: number): void {
  const min = m.info.memories[0]!.min;
  writeSectionHeader(out, SECTION.memory, 1 + 1 + u32Size(min) + u32Size(cap));
  out.u8(1);
  out.u8(0x01); // limits with a maximum
  out.u32(min);
  out.u32(cap);
}

/**
 * Every table's limits rewritten to (min, min(max, cap)), everything else byte for byte. parseModule held
 * the sum of the minimums to the cap, so every minimum fits under it, and table.grow past it returns -1.
 */
function writeCappedTables(out: Writer, b: Uint8Array, s: SectionSpan, tables: TableLimitsSpan[], cap: number): void {
  const capped = (t: TableLimitsSpan) => Math.min(t.max ?? cap, cap);
  let size = s.end - s.contentStart;
  for (const t of tables) size += 1 + u32Size(t.min) + u32Size(capped(t)) - (t.end - t.start);
  writeSectionHeader(out, SECTION.table, size);
  let from = s.contentStart;
  for (const t of tables) {
    out.append(b, from, t.start);
    out.u8(0x01); // limits with a maximum
    out.u32(t.min);
    out.u32(capped(t));
    from = t.end;
  }
  out.append(b, from, s.end);
}

/**
 * Existing entries byte for byte, then the function types the carrying bodies need and the module lacks
 * (their function's type with the depth budget appended, internal/frames.ts).
 */
function writeTypeSection(out: Writer, b: Uint8Array, s: SectionSpan, added: AddedType[]): void {
  const count = readU32(b, s.contentStart, s.end);
  const restStart = lebEnd;
  let size = u32Size(count + added.length) + s.end - restStart;
  for (const t of added) size += typeSize(t);
  writeSectionHeader(out, SECTION.type, size);
  out.u32(count + added.length);
  out.append(b, restStart, s.end);
  for (const t of added) {
    out.u8(0x60);
    out.u32(t.params.length);
    for (const v of t.params) out.u8(encodeValType(v));
    out.u32(t.results.length);
    for (const v of t.results) out.u8(encodeValType(v));
  }
}

function typeSize(t: AddedType): number {
  return 1 + u32Size(t.params.length) + t.params.length + u32Size(t.results.length) + t.results.length;
}

/** Existing entries byte for byte, then the type index of each function the metering pass added. */
function writeFunctionSection(out: Writer, b: Uint8Array, s: SectionSpan, twinTypes: Int32Array): void {
  const count = readU32(b, s.contentStart, s.end);
  const restStart = lebEnd;
  let size = u32Size(count + twinTypes.length) + s.end - restStart;
  for (const t of twinTypes) size += u32Size(t);
  writeSectionHeader(out, SECTION.function, size);
  out.u32(count + twinTypes.length);
  out.append(b, restStart, s.end);
  for (const t of twinTypes) out.u32(t);
}

/**
 * Existing entries (if any) byte for byte, then `(global (mut i32) (i32.const initialFuel))` and the depth
 * budget, `(global (mut i32) (i32.const DEPTH_BUDGET))`.
 */
function writeGlobalSection(out: Writer, b: Uint8Array, s: SectionSpan | undefined, initialFuel: number): void {
  const entriesSize = 3 + s32Size(initialFuel) + 1 + 3 + s32Size(DEPTH_BUDGET) + 1;
  const count = s === undefined ? 0 : readU32(b, s.contentStart, s.end);
  const restStart = lebEnd;
  const rest = s === undefined ? 0 : s.end - restStart;
  writeSectionHeader(out, SECTION.global, u32Size(count + 2) + rest + entriesSize);
  out.u32(count + 2);
  if (s !== undefined) out.append(b, restStart, s.end);
  for (const value of [initialFuel, DEPTH_BUDGET]) {
    out.u8(0x7f); // i32
    out.u8(0x01); // mutable
    out.u8(0x41); // i32.const
    out.s32(value);
    out.u8(0x0b);
  }
}

/** Existing entries (if any) byte for byte, then the host's exports (the fuel global, the start function). */
function writeExportSection(out: Writer, b: Uint8Array, s: SectionSpan | undefined, added: AddedExport[]): void {
  let addedSize = 0;
  for (const e of added) addedSize += u32Size(e.name.length) + e.name.length + 1 + u32Size(e.index);
  const count = s === undefined ? 0 : readU32(b, s.contentStart, s.end);
  const restStart = lebEnd;
  const rest = s === undefined ? 0 : s.end - restStart;
  writeSectionHeader(out, SECTION.export, u32Size(count + added.length) + rest + addedSize);
  out.u32(count + added.length);
  if (s !== undefined) out.append(b, restStart, s.end);
  for (const e of added) {
    out.u32(e.name.length);
    out.append(e.name, 0, e.name.length);
    out.u8(e.kind);
    out.u32(e.index);
  }
}
