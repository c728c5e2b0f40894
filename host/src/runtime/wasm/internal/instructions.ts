// Decodes the immediates of every instruction the host meters, so a body can be walked without allocating.
//
// Covered: MVP, sign extension, saturating truncation and bulk memory (0xFC), reference types, multi-value
// block types, SIMD and relaxed SIMD (0xFD), legacy and exnref exception handling, and extended constant
// expressions. Refused as unsupported: GC (0xFB) and typed-function-reference instructions, which would
// need a type-aware decoder; atomics (0xFE), which only mean something on shared memory, itself refused;
// and tail calls (return_call, return_call_indirect), which the cost model has not been argued for. Any
// other opcode is malformed.

import { lebEnd, malformed, readU32, skipS32, skipS64, skipU32, skipU64, unsupported } from './reader.ts';
import { decodeValType, skipBlockType, skipHeapType } from './valtypes.ts';

// Immediate shapes of the one-byte opcodes; 0 (the fill value) marks an opcode that does not exist.
// NONE, INDEX, MEMARG and I32 are exported so the metering walk can inline the most frequent shapes.
export const NONE = 1;
export const INDEX = 2;
const INDEX2 = 3;
const BLOCK = 4;
export const MEMARG = 5;
export const I32 = 6;
const I64 = 7;
const F32 = 8;
const F64 = 9;
const BR_TABLE = 10;
const SELECT_T = 11;
const REF_NULL = 12;
const TRY_TABLE = 13;
const PREFIX_FC = 14;
const PREFIX_FD = 15;
const UNSUPPORTED = 16;

export const SHAPE = new Uint8Array(256);
function shape(from: number, to: number, kind: number): void {
  SHAPE.fill(kind, from, to + 1);
}
shape(0x00, 0x01, NONE); // unreachable, nop
shape(0x02, 0x04, BLOCK); // block, loop, if
shape(0x05, 0x05, NONE); // else
shape(0x06, 0x06, BLOCK); // try (legacy exceptions)
shape(0x07, 0x09, INDEX); // catch, throw, rethrow
shape(0x0a, 0x0b, NONE); // throw_ref, end
shape(0x0c, 0x0d, INDEX); // br, br_if
shape(0x0e, 0x0e, BR_TABLE);
shape(0x0f, 0x0f, NONE); // return
shape(0x10, 0x10, INDEX); // call
shape(0x11, 0x11, INDEX2); // call_indirect type table
shape(0x12, 0x15, UNSUPPORTED); // return_call, return_call_indirect, call_ref, return_call_ref
shape(0x18, 0x18, INDEX); // delegate
shape(0x19, 0x19, NONE); // catch_all
shape(0x1a, 0x1b, NONE); // drop, select
shape(0x1c, 0x1c, SELECT_T);
shape(0x1f, 0x1f, TRY_TABLE);
shape(0x20, 0x26, INDEX); // local.get/set/tee, global.get/set, table.get/set
shape(0x28, 0x3e, MEMARG); // loads and stores
shape(0x3f, 0x40, INDEX); // memory.size, memory.grow (memory index)
shape(0x41, 0x41, I32);
shape(0x42, 0x42, I64);
shape(0x43, 0x43, F32);
shape(0x44, 0x44, F64);
shape(0x45, 0xc4, NONE); // numeric, conversions, sign extension
shape(0xd0, 0xd0, REF_NULL);
shape(0xd1, 0xd1, NONE); // ref.is_null
shape(0xd2, 0xd2, INDEX); // ref.func
shape(0xd3, 0xd6, UNSUPPORTED); // ref.eq, ref.as_non_null, br_on_null, br_on_non_null
shape(0xfb, 0xfb, UNSUPPORTED); // GC prefix
shape(0xfc, 0xfc, PREFIX_FC);
shape(0xfd, 0xfd, PREFIX_FD);
shape(0xfe, 0xfe, UNSUPPORTED); // atomics prefix

/** What an unsupported opcode belongs to, for the error message. */
function unsupportedName(op: number): string {
  if (op === 0x12 || op === 0x13) return `tail call (opcode 0x${op.toString(16)})`;
  if (op === 0xfe) return 'atomic instruction (prefix 0xfe)';
  return `opcode 0x${op.toString(16)} (GC or typed function references)`;
}

/** Immediate index count of 0xFC sub-opcodes 8..17 (bulk memory and table instructions). */
const FC_INDICES = [2, 1, 2, 1, 2, 1, 2, 1, 1, 1];

/** The SIMD sub-opcodes V8 (and the spec) leave unassigned below the last relaxed-SIMD opcode. */
const SIMD_LAST = 0x113;
const SIMD_HOLES = new Set([
  0x9a, 0xa2, 0xa5, 0xa6, 0xaf, 0xb0, 0xb2, 0xb3, 0xb4, 0xbb, 0xc2, 0xc5, 0xc6, 0xcf, 0xd0, 0xd2, 0xd3, 0xd4, 0xe2,
  0xee,
]);

function skipMemarg(b: Uint8Array, p: number, end: number): number {
  const align = readU32(b, p, end);
  p = lebEnd;
  // Bit 6 of the alignment field announces an explicit memory index (multi-memory encoding).
  if ((align & 0x40) !== 0) p = skipU32(b, p, end);
  return skipU64(b, p, end);
}

function skipBytes(p: number, n: number, end: number): number {
  if (end - p < n) throw malformed(p, 'truncated immediate');
  return p + n;
}

/**
 * Returns the offset after the immediates of the instruction whose opcode byte `op` sits at `p - 1`.
 * Structure (nesting) is the caller's business; this only knows the shape of each instruction.
 */
export function skipImmediates(b: Uint8Array, p: number, end: number, op: number): number {
  switch (SHAPE[op]) {
    case NONE:
      return p;
    case INDEX:
      return skipU32(b, p, end);
    case INDEX2:
      return skipU32(b, skipU32(b, p, end), end);
    case BLOCK:
      return skipBlockType(b, p, end);
    case MEMARG:
      return skipMemarg(b, p, end);
    case I32:
      return skipS32(b, p, end);
    case I64:
      return skipS64(b, p, end);
    case F32:
      return skipBytes(p, 4, end);
    case F64:
      return skipBytes(p, 8, end);
    case BR_TABLE: {
      const count = readU32(b, p, end);
      p = lebEnd;
      // count + 1 labels; each takes at least one byte, so a huge count fails at the end of the body.
      for (let i = 0; i <= count; i++) p = skipU32(b, p, end);
      return p;
    }
    case SELECT_T: {
      const count = readU32(b, p, end);
      p = lebEnd;
      for (let i = 0; i < count; i++) {
        if (p >= end) throw malformed(p, 'truncated select type');
        decodeValType(b[p]!, p);
        p++;
      }
      return p;
    }
    case REF_NULL:
      return skipHeapType(b, p, end);
    case TRY_TABLE: {
      p = skipBlockType(b, p, end);
      const count = readU32(b, p, end);
      p = lebEnd;
      for (let i = 0; i < count; i++) {
        if (p >= end) throw malformed(p, 'truncated catch clause');
        const kind = b[p++]!;
        if (kind > 0x03) throw malformed(p - 1, `unknown catch clause kind ${kind}`);
        // catch and catch_ref name a tag before the label; catch_all and catch_all_ref only a label.
        if (kind <= 0x01) p = skipU32(b, p, end);
        p = skipU32(b, p, end);
      }
      return p;
    }
    case PREFIX_FC: {
      const at = p;
      const sub = readU32(b, p, end);
      p = lebEnd;
      if (sub <= 7) return p;
      const indices = FC_INDICES[sub - 8];
      if (indices === undefined) throw malformed(at - 1, `unknown opcode 0xfc ${sub}`);
      p = skipU32(b, p, end);
      return indices === 2 ? skipU32(b, p, end) : p;
    }
    case PREFIX_FD: {
      const at = p;
      const sub = readU32(b, p, end);
      p = lebEnd;
      if (sub <= 0x0b || sub === 0x5c || sub === 0x5d) return skipMemarg(b, p, end);
      if (sub === 0x0c || sub === 0x0d) return skipBytes(p, 16, end); // v128.const, i8x16.shuffle
      if (sub >= 0x15 && sub <= 0x22) return skipBytes(p, 1, end); // extract/replace lane
      if (sub >= 0x54 && sub <= 0x5b) return skipBytes(skipMemarg(b, p, end), 1, end); // load/store lane
      if (sub > SIMD_LAST || SIMD_HOLES.has(sub)) throw malformed(at - 1, `unknown opcode 0xfd ${sub}`);
      return p;
    }
    case UNSUPPORTED:
      throw unsupported(p - 1, unsupportedName(op));
    default:
      throw malformed(p - 1, `unknown opcode 0x${op.toString(16)}`);
  }
}

/** Skips a constant expression (global initializers, segment offsets) up to and including its `end`. */
export function skipConstExpr(b: Uint8Array, p: number, end: number): number {
  for (;;) {
    if (p >= end) throw malformed(p, 'unterminated constant expression');
    const op = b[p++]!;
    if (op === 0x0b) return p;
    p = skipImmediates(b, p, end, op);
  }
}
