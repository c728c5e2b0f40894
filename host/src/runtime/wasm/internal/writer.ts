// A growable output buffer with minimal LEB128 encoders, for emitting rewritten modules.

export class Writer {
  bytes: Uint8Array<ArrayBuffer>;
  length = 0;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(Math.max(64, capacity));
  }

  private ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.bytes.length) return;
    let cap = this.bytes.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.bytes[this.length++] = v;
  }

  u32(v: number): void {
    this.ensure(5);
    let n = v >>> 0;
    while (n >= 0x80) {
      this.bytes[this.length++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.bytes[this.length++] = n;
  }

  s32(v: number): void {
    this.ensure(5);
    let n = v | 0;
    for (;;) {
      const byte = n & 0x7f;
      n >>= 7;
      if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
        this.bytes[this.length++] = byte;
        return;
      }
      this.bytes[this.length++] = byte | 0x80;
    }
  }

  append(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.ensure(n);
    const dst = this.bytes;
    let at = this.length;
    // Short runs (check sequences, small bodies) copy faster by hand than through a subarray view.
    if (n < 64) {
      for (let i = start; i < end; i++) dst[at++] = src[i]!;
    } else {
      dst.set(src.subarray(start, end), at);
      at += n;
    }
    this.length = at;
  }

  /** The written bytes as a view (no copy); the writer must not be used afterwards. */
  finish(): Uint8Array<ArrayBuffer> {
    return this.bytes.subarray(0, this.length);
  }
}

export function u32Size(v: number): number {
  let n = v >>> 0;
  let size = 1;
  while (n >= 0x80) {
    n >>>= 7;
    size++;
  }
  return size;
}

export function s32Size(v: number): number {
  let n = v | 0;
  let size = 1;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) return size;
    size++;
  }
}
