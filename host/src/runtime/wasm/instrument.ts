// Turns an untrusted guest module into one with a capped memory and deterministic fuel metering.
//
// The rewrite is byte-level and local: the code section gets checks spliced in (see internal/metering.ts
// for the cost model) and may gain unchecked twins of small leaf functions, which the function section
// then declares after the existing ones; the memory maximum may be lowered; one global and its export are
// appended. Every other section, custom ones included, is copied byte for byte. Keeping `name` is safe
// and useful because no function, local or existing global index moves; DWARF and source maps, which address code bytes,
// go stale in the code they describe (V8 ignores both at run time).

import { DEFAULT_LIMITS, FUEL_GLOBAL_EXPORT } from '../../abi/constants.ts';
import { WrError } from '../../errors.ts';
import { planMetering, writeMeteredCode } from './internal/metering.ts';
import { type ParsedModule, parseModule, SECTION, type SectionSpan, sectionOrder } from './internal/parse.ts';
import { lebEnd, readU32 } from './internal/reader.ts';
import { s32Size, u32Size, Writer } from './internal/writer.ts';
import type { InstrumentOptions, InstrumentResult } from './types.ts';

/** The most pages a 32-bit memory can have (4 GiB). */
const MAX_PAGES_32 = 65536;
const MAX_FUEL = 0x7fffffff;
const FUEL_NAME = new TextEncoder().encode(FUEL_GLOBAL_EXPORT);

export function instrumentModule(bytes: Uint8Array, options: InstrumentOptions): InstrumentResult {
  const cap = options.memoryMaxPages;
  if (!Number.isInteger(cap) || cap < 0 || cap > MAX_PAGES_32) {
    throw new RangeError(`memoryMaxPages must be an integer in [0, ${MAX_PAGES_32}], got ${cap}`);
  }
  const initialFuel = options.initialFuel ?? DEFAULT_LIMITS.fuel;
  if (!Number.isInteger(initialFuel) || initialFuel < 0 || initialFuel > MAX_FUEL) {
    throw new RangeError(`initialFuel must be an integer in [0, ${MAX_FUEL}], got ${initialFuel}`);
  }

  const m = parseModule(bytes);
  const memoryPatched = checkMemory(m, cap);
  if (m.info.exports.some((e) => e.name === FUEL_GLOBAL_EXPORT)) {
    throw new WrError('WR_MODULE_RESERVED_EXPORT', `the module already exports "${FUEL_GLOBAL_EXPORT}"`);
  }
  const fuelGlobal = m.importedGlobals + m.definedGlobals;

  const codeSpan = m.sections.find((s) => s.id === SECTION.code);
  const plan = codeSpan === undefined ? undefined : planMetering(bytes, codeSpan, m, fuelGlobal);
  const codeGrowth =
    codeSpan === undefined || plan === undefined ? 0 : plan.outputSize - (codeSpan.end - codeSpan.start);
  const twinTypes = plan?.twinTypes ?? new Int32Array(0);
  // The code section's new size is exact, twins add at most 5 bytes each to the function section, and the
  // memory, global and export edits add well under 128 bytes, so the buffer never grows and the result is
  // a view of it rather than a copy.
  const out = new Writer(bytes.length + codeGrowth + 5 * twinTypes.length + 128);
  out.append(bytes, 0, 8);
  let globalWritten = false;
  let exportWritten = false;
  for (const s of m.sections) {
    if (s.id !== SECTION.custom) {
      const order = sectionOrder(s.id);
      if (!globalWritten && order > sectionOrder(SECTION.global)) {
        writeGlobalSection(out, bytes, undefined, initialFuel);
        globalWritten = true;
      }
      if (!exportWritten && order > sectionOrder(SECTION.export)) {
        writeExportSection(out, bytes, undefined, fuelGlobal);
        exportWritten = true;
      }
    }
    switch (s.id) {
      case SECTION.global:
        writeGlobalSection(out, bytes, s, initialFuel);
        globalWritten = true;
        break;
      case SECTION.export:
        writeExportSection(out, bytes, s, fuelGlobal);
        exportWritten = true;
        break;
      case SECTION.memory:
        if (memoryPatched) writeCappedMemory(out, m, cap);
        else out.append(bytes, s.start, s.end);
        break;
      case SECTION.code:
        writeMeteredCode(bytes, plan!, out);
        break;
      case SECTION.function:
        if (twinTypes.length > 0) writeFunctionSection(out, bytes, s, twinTypes);
        else out.append(bytes, s.start, s.end);
        break;
      default:
        out.append(bytes, s.start, s.end);
    }
  }
  if (!globalWritten) writeGlobalSection(out, bytes, undefined, initialFuel);
  if (!exportWritten) writeExportSection(out, bytes, undefined, fuelGlobal);
  return { bytes: out.finish(), info: m.info, memoryPatched };
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

/** Existing entries byte for byte, then the type index of each twin the metering pass added. */
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

/** Existing entries (if any) byte for byte, then `(global (mut i32) (i32.const initialFuel))`. */
function writeGlobalSection(out: Writer, b: Uint8Array, s: SectionSpan | undefined, initialFuel: number): void {
  const entrySize = 3 + s32Size(initialFuel) + 1;
  const count = s === undefined ? 0 : readU32(b, s.contentStart, s.end);
  const restStart = lebEnd;
  const rest = s === undefined ? 0 : s.end - restStart;
  writeSectionHeader(out, SECTION.global, u32Size(count + 1) + rest + entrySize);
  out.u32(count + 1);
  if (s !== undefined) out.append(b, restStart, s.end);
  out.u8(0x7f); // i32
  out.u8(0x01); // mutable
  out.u8(0x41); // i32.const
  out.s32(initialFuel);
  out.u8(0x0b);
}

/** Existing entries (if any) byte for byte, then the fuel global's export. */
function writeExportSection(out: Writer, b: Uint8Array, s: SectionSpan | undefined, fuelGlobal: number): void {
  const entrySize = u32Size(FUEL_NAME.length) + FUEL_NAME.length + 1 + u32Size(fuelGlobal);
  const count = s === undefined ? 0 : readU32(b, s.contentStart, s.end);
  const restStart = lebEnd;
  const rest = s === undefined ? 0 : s.end - restStart;
  writeSectionHeader(out, SECTION.export, u32Size(count + 1) + rest + entrySize);
  out.u32(count + 1);
  if (s !== undefined) out.append(b, restStart, s.end);
  out.u32(FUEL_NAME.length);
  out.append(FUEL_NAME, 0, FUEL_NAME.length);
  out.u8(0x03); // global
  out.u32(fuelGlobal);
}
