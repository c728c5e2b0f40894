// A bounds-checked cursor over WebAssembly binary bytes that decodes LEB128 integers strictly.
//
// Every failure is a WrError WR_MODULE_MALFORMED carrying the byte offset, so callers never see a
// RangeError or an `undefined` byte, and malformed input can only end the decode early, never loop it.

import { WrError } from '../../../errors.ts';

export function malformed(offset: number, what: string): WrError {
  return new WrError('WR_MODULE_MALFORMED', `malformed WebAssembly module at byte ${offset}: ${what}`, {
    details: { offset },
  });
}

export function unsupported(offset: number, what: string): WrError {
  return new WrError('WR_MODULE_UNSUPPORTED', `unsupported WebAssembly feature at byte ${offset}: ${what}`, {
    details: { offset },
  });
}

/** `limit` names the ModuleLimits field; `value` is what the module declares (at least), `max` the bound. */
export function overLimit(limit: string, value: number, max: number): WrError {
  return new WrError('WR_MODULE_LIMIT', `the module exceeds the limit ${limit}: ${value} > ${max}`, {
    details: { limit, value, max },
  });
}

/** Throws WR_MODULE_LIMIT when `value` is above `max`. */
export function checkLimit(limit: string, value: number, max: number): void {
  if (value > max) throw overLimit(limit, value, max);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class Reader {
  readonly bytes: Uint8Array;
  pos: number;
  /** Exclusive bound: a section or body never reads past its declared size. */
  end: number;

  constructor(bytes: Uint8Array, pos = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  u8(): number {
    if (this.pos >= this.end) throw malformed(this.pos, 'unexpected end');
    return this.bytes[this.pos++]!;
  }

  u32(): number {
    const r = readU32(this.bytes, this.pos, this.end);
    this.pos = lebEnd;
    return r;
  }

  /** An unsigned LEB up to 64 bits as a double: exact up to 2^53, which covers every limit we compare. */
  u64(): number {
    const b = this.bytes;
    let p = this.pos;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= this.end) throw malformed(p, 'truncated LEB128');
      const byte = b[p++]!;
      if (i === 9 && byte > 0x01) throw malformed(p - 1, 'LEB128 overflows 64 bits');
      result += (byte & 0x7f) * scale;
      scale *= 128;
      if ((byte & 0x80) === 0) {
        this.pos = p;
        return result;
      }
    }
    throw malformed(p - 1, 'LEB128 overflows 64 bits');
  }

  skip(n: number): void {
    if (n > this.end - this.pos) throw malformed(this.pos, 'unexpected end');
    this.pos += n;
  }

  name(): string {
    const len = this.u32();
    const start = this.pos;
    this.skip(len);
    // Import and export names are short ASCII in practice; skip the decoder call for those.
    if (len <= 32) {
      let ascii = '';
      let i = start;
      for (; i < start + len; i++) {
        const c = this.bytes[i]!;
        if (c >= 0x80) break;
        ascii += String.fromCharCode(c);
      }
      if (i === start + len) return ascii;
    }
    try {
      return utf8.decode(this.bytes.subarray(start, start + len));
    } catch {
      throw malformed(start, 'name is not valid UTF-8');
    }
  }
}

/** Where the last readU32/skip* call stopped; a module-level slot avoids allocating a result pair. */
export let lebEnd = 0;

export function readU32(b: Uint8Array, p: number, end: number): number {
  let result = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (p >= end) throw malformed(p, 'truncated LEB128');
    const byte = b[p++]!;
    if (shift === 28 && byte > 0x0f) throw malformed(p - 1, 'LEB128 overflows 32 bits');
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) {
      lebEnd = p;
      return result >>> 0;
    }
  }
  throw malformed(p, 'LEB128 overflows 32 bits');
}

/** Skips an unsigned LEB128 of at most `maxBytes` bytes whose last byte is at most `lastLimit`. */
function skipUnsigned(b: Uint8Array, p: number, end: number, maxBytes: number, lastLimit: number): number {
  for (let i = 1; i <= maxBytes; i++) {
    if (p >= end) throw malformed(p, 'truncated LEB128');
    const byte = b[p++]!;
    if ((byte & 0x80) === 0) {
      if (i === maxBytes && byte > lastLimit) throw malformed(p - 1, 'LEB128 overflow');
      return p;
    }
  }
  throw malformed(p - 1, 'LEB128 overflow');
}

export function skipU32(b: Uint8Array, p: number, end: number): number {
  return skipUnsigned(b, p, end, 5, 0x0f);
}

export function skipU64(b: Uint8Array, p: number, end: number): number {
  return skipUnsigned(b, p, end, 10, 0x01);
}

/**
 * Skips a signed LEB128 of at most `maxBytes` bytes. In the last byte the bits above the value's width
 * must repeat its sign bit: `signMask` selects those bits plus the sign bit itself.
 */
function skipSigned(b: Uint8Array, p: number, end: number, maxBytes: number, signMask: number): number {
  for (let i = 1; i <= maxBytes; i++) {
    if (p >= end) throw malformed(p, 'truncated LEB128');
    const byte = b[p++]!;
    if ((byte & 0x80) === 0) {
      if (i === maxBytes) {
        const high = byte & signMask;
        if (high !== 0 && high !== signMask) throw malformed(p - 1, 'LEB128 overflow');
      }
      return p;
    }
  }
  throw malformed(p - 1, 'LEB128 overflow');
}

export function skipS32(b: Uint8Array, p: number, end: number): number {
  return skipSigned(b, p, end, 5, 0x78);
}

export function skipS64(b: Uint8Array, p: number, end: number): number {
  return skipSigned(b, p, end, 10, 0x7f);
}

/** Reads a signed 33-bit LEB128 (block types); the result fits a double exactly. */
export function readS33(b: Uint8Array, p: number, end: number): number {
  let result = 0;
  let scale = 1;
  for (let i = 1; i <= 5; i++) {
    if (p >= end) throw malformed(p, 'truncated LEB128');
    const byte = b[p++]!;
    result += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) {
      if (i === 5) {
        const high = byte & 0x70;
        if (high !== 0 && high !== 0x70) throw malformed(p - 1, 'LEB128 overflows 33 bits');
      }
      lebEnd = p;
      return (byte & 0x40) !== 0 ? result - scale : result;
    }
  }
  throw malformed(p - 1, 'LEB128 overflows 33 bits');
}
