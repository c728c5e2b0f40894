// A streaming JSON writer into one reusable byte buffer, with handles that close nested containers.
//
// Output goes straight to UTF-8 (no intermediate strings), values read from the input can be copied
// verbatim (`value(v)` splices the input bytes without decoding), and the buffer survives across calls
// so a steady-state reconcile allocates nothing here. Handles (ObjectWriter/ArrayWriter) let code write
// to a parent after filling a child: the writer closes the child first, like closing tags in a document.

import { JsonValue } from "./reader";

const MAX_DEPTH: i32 = 64;
// @ts-ignore: decorator
@inline const INITIAL_CAPACITY: usize = 4096;

export class JsonWriter {
  ptr: usize = 0;
  len: usize = 0;
  private cap: usize = 0;
  depth: i32 = 0;
  private ids: StaticArray<u32> = new StaticArray<u32>(MAX_DEPTH + 1);
  private firsts: StaticArray<bool> = new StaticArray<bool>(MAX_DEPTH + 1);
  private arrays: StaticArray<bool> = new StaticArray<bool>(MAX_DEPTH + 1);
  // Never reset, so a handle kept from an earlier call or a closed container can never match again.
  private nextId: u32 = 1;
  private topWritten: bool = false;

  reset(): void {
    this.len = 0;
    this.depth = 0;
    this.topWritten = false;
  }

  /** The bytes written so far, as a string (tests and diagnostics). */
  toString(): string {
    return String.UTF8.decodeUnsafe(this.ptr, this.len);
  }

  // Containers.

  beginObject(): u32 {
    return this.open(false, 0x7b);
  }
  endObject(): void {
    this.close(false);
  }
  beginArray(): u32 {
    return this.open(true, 0x5b);
  }
  endArray(): void {
    this.close(true);
  }

  /** Writes a member name; the next call must write its value. */
  key(k: string): void {
    if (this.depth == 0 || unchecked(this.arrays[this.depth])) abort("JSON writer: a key outside an object");
    if (unchecked(this.firsts[this.depth])) unchecked((this.firsts[this.depth] = false));
    else this.byte(0x2c);
    this.quoted(k);
    this.byte(0x3a);
  }

  // Values.

  string(s: string): void {
    this.beforeValue();
    this.quoted(s);
  }

  /** Integral values within ±2^53 are written without a fraction; NaN and infinities become null. */
  number(v: f64): void {
    this.beforeValue();
    if (!isFinite(v)) {
      this.ascii("null");
    } else if (Math.floor(v) == v && Math.abs(v) <= 9007199254740992.0) {
      this.digits(<i64>v);
    } else {
      this.ascii(v.toString());
    }
  }

  integer(v: i64): void {
    this.beforeValue();
    this.digits(v);
  }

  boolean(b: bool): void {
    this.beforeValue();
    this.ascii(b ? "true" : "false");
  }

  nul(): void {
    this.beforeValue();
    this.ascii("null");
  }

  /** Copies a value read from a JsonDoc verbatim; a missing or malformed value becomes null. */
  value(v: JsonValue): void {
    this.beforeValue();
    const end = v.end();
    if (end == 0) this.ascii("null");
    else this.bytes(v.start, end - v.start);
  }

  /** Writes trusted JSON text as one value (the caller vouches that it is valid JSON). */
  rawJson(text: string): void {
    this.beforeValue();
    const n = <usize>String.UTF8.byteLength(text);
    this.reserve(n);
    this.len += String.UTF8.encodeUnsafe(changetype<usize>(text), text.length, this.ptr + this.len);
  }

  /** Writes bytes that already hold one complete JSON value (e.g. another writer's output). */
  rawValueBytes(from: usize, n: usize): void {
    this.beforeValue();
    this.bytes(from, n);
  }

  /** Appends bytes as they are: for assembling documents from parts already written as JSON. */
  bytes(from: usize, n: usize): void {
    this.reserve(n);
    memory.copy(this.ptr + this.len, from, n);
    this.len += n;
  }

  /** Closes every container above `depth` and checks that the one at `depth` is still `id`. */
  closeTo(depth: i32, id: u32): void {
    if (depth > this.depth || unchecked(this.ids[depth]) != id) {
      abort("JSON writer: write to a container that is already closed (finish children before their parents)");
    }
    while (this.depth > depth) this.close(unchecked(this.arrays[this.depth]));
  }

  /** True when the container opened as `id` at `depth` is still open. */
  isOpen(depth: i32, id: u32): bool {
    return depth <= this.depth && unchecked(this.ids[depth]) == id;
  }

  // Internals.

  private open(isArray: bool, bracket: u32): u32 {
    this.beforeValue();
    if (this.depth >= MAX_DEPTH) abort("JSON writer: nesting deeper than 64 levels");
    this.byte(bracket);
    const d = ++this.depth;
    const id = this.nextId++;
    unchecked((this.ids[d] = id));
    unchecked((this.firsts[d] = true));
    unchecked((this.arrays[d] = isArray));
    return id;
  }

  private close(isArray: bool): void {
    if (this.depth == 0 || unchecked(this.arrays[this.depth]) != isArray) {
      abort("JSON writer: mismatched end of " + (isArray ? "array" : "object"));
    }
    unchecked((this.ids[this.depth] = 0));
    this.depth--;
    this.byte(isArray ? 0x5d : 0x7d);
  }

  private beforeValue(): void {
    const d = this.depth;
    if (d == 0) {
      if (this.topWritten) abort("JSON writer: a second top-level value");
      this.topWritten = true;
      return;
    }
    if (unchecked(this.arrays[d])) {
      if (unchecked(this.firsts[d])) unchecked((this.firsts[d] = false));
      else this.byte(0x2c);
    }
  }

  private reserve(n: usize): void {
    const need = this.len + n;
    if (need <= this.cap) return;
    let cap = this.cap == 0 ? INITIAL_CAPACITY : this.cap;
    while (cap < need) cap <<= 1;
    this.ptr = this.ptr == 0 ? heap.alloc(cap) : heap.realloc(this.ptr, cap);
    this.cap = cap;
  }

  // @ts-ignore: decorator
  @inline
  private byte(b: u32): void {
    this.reserve(1);
    store<u8>(this.ptr + this.len, <u8>b);
    this.len++;
  }

  private ascii(s: string): void {
    const n = s.length;
    this.reserve(<usize>n);
    let p = this.ptr + this.len;
    for (let i = 0; i < n; i++) store<u8>(p + <usize>i, <u8>s.charCodeAt(i));
    this.len += <usize>n;
  }

  private digits(v: i64): void {
    this.reserve(20);
    let p = this.ptr + this.len;
    let u: u64;
    if (v < 0) {
      store<u8>(p++, 0x2d);
      u = <u64>(-v);
    } else {
      u = <u64>v;
    }
    // Write backwards into a small stack of digits, then copy forward.
    let n: usize = 0;
    let t = u;
    do {
      n++;
      t /= 10;
    } while (t != 0);
    let q = p + n;
    do {
      q--;
      store<u8>(q, <u8>(0x30 + <u32>(u % 10)));
      u /= 10;
    } while (u != 0);
    this.len = p + n - this.ptr;
  }

  /** Writes `s` as a JSON string like JSON.stringify: UTF-8, control characters and lone surrogates escaped. */
  private quoted(s: string): void {
    const n = s.length;
    // Worst case is six bytes per UTF-16 unit (\u00XX), plus the quotes.
    this.reserve(<usize>n * 6 + 2);
    let p = this.ptr + this.len;
    store<u8>(p++, 0x22);
    const src = changetype<usize>(s);
    for (let i = 0; i < n; i++) {
      // Most text is printable ASCII that needs no escape: copy runs of it in a tight loop.
      let c = <u32>load<u16>(src + (<usize>i << 1));
      while (c - 0x20 < 0x60 && c != 0x22 && c != 0x5c) {
        store<u8>(p++, <u8>c);
        if (++i == n) break;
        c = <u32>load<u16>(src + (<usize>i << 1));
      }
      if (i == n) break;
      if (c < 0x80) {
        if (c >= 0x20 && c != 0x22 && c != 0x5c) {
          store<u8>(p++, <u8>c);
          continue;
        }
        store<u8>(p++, 0x5c);
        if (c == 0x22 || c == 0x5c) store<u8>(p++, <u8>c);
        else if (c == 0x0a) store<u8>(p++, 0x6e);
        else if (c == 0x0d) store<u8>(p++, 0x72);
        else if (c == 0x09) store<u8>(p++, 0x74);
        else if (c == 0x08) store<u8>(p++, 0x62);
        else if (c == 0x0c) store<u8>(p++, 0x66);
        else p = hexEscape(p, c);
      } else if (c < 0x800) {
        store<u8>(p++, <u8>(0xc0 | (c >> 6)));
        store<u8>(p++, <u8>(0x80 | (c & 0x3f)));
      } else if (c >= 0xd800 && c < 0xe000) {
        if (c < 0xdc00 && i + 1 < n) {
          const lo = <u32>load<u16>(src + (<usize>(i + 1) << 1));
          if (lo >= 0xdc00 && lo < 0xe000) {
            const cp = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
            store<u8>(p++, <u8>(0xf0 | (cp >> 18)));
            store<u8>(p++, <u8>(0x80 | ((cp >> 12) & 0x3f)));
            store<u8>(p++, <u8>(0x80 | ((cp >> 6) & 0x3f)));
            store<u8>(p++, <u8>(0x80 | (cp & 0x3f)));
            i++;
            continue;
          }
        }
        store<u8>(p++, 0x5c);
        p = hexEscape(p, c);
      } else {
        store<u8>(p++, <u8>(0xe0 | (c >> 12)));
        store<u8>(p++, <u8>(0x80 | ((c >> 6) & 0x3f)));
        store<u8>(p++, <u8>(0x80 | (c & 0x3f)));
      }
    }
    store<u8>(p++, 0x22);
    this.len = p - this.ptr;
  }
}

/** Writes `uXXXX` (the backslash is already written) and returns the new position. */
function hexEscape(p: usize, c: u32): usize {
  store<u8>(p, 0x75);
  store<u8>(p + 1, hexDigit(c >> 12));
  store<u8>(p + 2, hexDigit((c >> 8) & 0xf));
  store<u8>(p + 3, hexDigit((c >> 4) & 0xf));
  store<u8>(p + 4, hexDigit(c & 0xf));
  return p + 5;
}

// @ts-ignore: decorator
@inline
function hexDigit(d: u32): u8 {
  return <u8>(d < 10 ? 0x30 + d : 0x61 + d - 10);
}

/** A handle on one open object of a JsonWriter; writing through it first closes anything nested deeper. */
export class ObjectWriter {
  w: JsonWriter;
  depth: i32;
  id: u32;

  constructor(w: JsonWriter, depth: i32, id: u32) {
    this.w = w;
    this.depth = depth;
    this.id = id;
  }

  /** Opens `w`'s next value as an object and returns its handle. */
  static open(w: JsonWriter): ObjectWriter {
    const id = w.beginObject();
    return new ObjectWriter(w, w.depth, id);
  }

  str(key: string, value: string): ObjectWriter {
    this.member(key).string(value);
    return this;
  }
  num(key: string, value: f64): ObjectWriter {
    this.member(key).number(value);
    return this;
  }
  int(key: string, value: i64): ObjectWriter {
    this.member(key).integer(value);
    return this;
  }
  bool(key: string, value: bool): ObjectWriter {
    this.member(key).boolean(value);
    return this;
  }
  nul(key: string): ObjectWriter {
    this.member(key).nul();
    return this;
  }
  /** Copies a value from the input verbatim (no decoding): e.g. `spec.template` as the user wrote it. */
  value(key: string, v: JsonValue): ObjectWriter {
    this.member(key).value(v);
    return this;
  }
  /** Like `value`, but writes nothing at all when `v` is missing. */
  valueIfPresent(key: string, v: JsonValue): ObjectWriter {
    if (v.exists()) this.member(key).value(v);
    return this;
  }
  rawJson(key: string, json: string): ObjectWriter {
    this.member(key).rawJson(json);
    return this;
  }
  obj(key: string): ObjectWriter {
    return ObjectWriter.open(this.member(key));
  }
  arr(key: string): ArrayWriter {
    return ArrayWriter.open(this.member(key));
  }

  /** Closes this object (and anything still open inside it). Optional: writing to a parent closes it too. */
  end(): void {
    if (!this.w.isOpen(this.depth, this.id)) return;
    this.w.closeTo(this.depth, this.id);
    this.w.endObject();
  }

  protected member(key: string): JsonWriter {
    this.w.closeTo(this.depth, this.id);
    this.w.key(key);
    return this.w;
  }
}

/** A handle on one open array of a JsonWriter. */
export class ArrayWriter {
  w: JsonWriter;
  depth: i32;
  id: u32;

  constructor(w: JsonWriter, depth: i32, id: u32) {
    this.w = w;
    this.depth = depth;
    this.id = id;
  }

  static open(w: JsonWriter): ArrayWriter {
    const id = w.beginArray();
    return new ArrayWriter(w, w.depth, id);
  }

  str(value: string): ArrayWriter {
    this.element().string(value);
    return this;
  }
  num(value: f64): ArrayWriter {
    this.element().number(value);
    return this;
  }
  int(value: i64): ArrayWriter {
    this.element().integer(value);
    return this;
  }
  bool(value: bool): ArrayWriter {
    this.element().boolean(value);
    return this;
  }
  nul(): ArrayWriter {
    this.element().nul();
    return this;
  }
  value(v: JsonValue): ArrayWriter {
    this.element().value(v);
    return this;
  }
  rawJson(json: string): ArrayWriter {
    this.element().rawJson(json);
    return this;
  }
  obj(): ObjectWriter {
    return ObjectWriter.open(this.element());
  }
  arr(): ArrayWriter {
    return ArrayWriter.open(this.element());
  }

  end(): void {
    if (!this.w.isOpen(this.depth, this.id)) return;
    this.w.closeTo(this.depth, this.id);
    this.w.endArray();
  }

  private element(): JsonWriter {
    this.w.closeTo(this.depth, this.id);
    return this.w;
  }
}
