// Value, block and heap type encodings of the feature set the host meters (MVP, SIMD, reference types, exnref).
//
// Types from the GC and typed-function-references proposals are valid in V8 but would need a type-aware
// decoder to inspect and meter safely, so they are refused as WR_MODULE_UNSUPPORTED rather than guessed at.

import { lebEnd, malformed, readS33, unsupported } from './reader.ts';

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref' | 'exnref';

/** Indexed by encoding byte; undefined for anything else. */
const VALTYPES: Array<ValType | undefined> = [];
VALTYPES[0x7f] = 'i32';
VALTYPES[0x7e] = 'i64';
VALTYPES[0x7d] = 'f32';
VALTYPES[0x7c] = 'f64';
VALTYPES[0x7b] = 'v128';
VALTYPES[0x70] = 'funcref';
VALTYPES[0x6f] = 'externref';
VALTYPES[0x69] = 'exnref';

/** Reference type shorthands and constructors that only the GC / function-references proposals define. */
function isGcTypeByte(byte: number): boolean {
  return (byte >= 0x6a && byte <= 0x6e) || (byte >= 0x71 && byte <= 0x74) || byte === 0x63 || byte === 0x64;
}

export function decodeValType(byte: number, offset: number): ValType {
  const t = VALTYPES[byte];
  if (t !== undefined) return t;
  if (isGcTypeByte(byte)) throw unsupported(offset, 'GC or typed reference value type');
  throw malformed(offset, `unknown value type 0x${byte.toString(16)}`);
}

/** The one-byte encoding of a value type this decoder accepts. */
export function encodeValType(t: ValType): number {
  return VALTYPES.indexOf(t);
}

export function isRefType(t: ValType): boolean {
  return t === 'funcref' || t === 'externref' || t === 'exnref';
}

/** Skips a block type (empty, one value type, or a type index as s33) and returns the next offset. */
export function skipBlockType(b: Uint8Array, p: number, end: number): number {
  if (p >= end) throw malformed(p, 'truncated block type');
  const byte = b[p]!;
  if (byte === 0x40) return p + 1;
  if ((byte & 0xc0) === 0x40) {
    // A one-byte negative s33 is a value type; anything else negative is not a valid block type.
    decodeValType(byte, p);
    return p + 1;
  }
  const index = readS33(b, p, end);
  if (index < 0) throw malformed(p, 'negative block type index');
  return lebEnd;
}

/** Skips the heap type of `ref.null`: only the abstract func, extern and exn heap types are metered. */
export function skipHeapType(b: Uint8Array, p: number, end: number): number {
  if (p >= end) throw malformed(p, 'truncated heap type');
  const byte = b[p]!;
  if (byte === 0x70 || byte === 0x6f || byte === 0x69) return p + 1;
  if ((byte & 0xc0) === 0x40) {
    if (isGcTypeByte(byte)) throw unsupported(p, 'GC heap type');
    throw malformed(p, `unknown heap type 0x${byte.toString(16)}`);
  }
  const index = readS33(b, p, end);
  if (index < 0) throw malformed(p, 'negative heap type index');
  throw unsupported(p, 'typed function reference');
}
