// A lazy JSON reader: views over UTF-8 bytes that parse only the parts a guest actually reads.
//
// Reconcile inputs carry whole Kubernetes objects (managedFields included) and most guests read a
// handful of fields, so nothing is decoded up front: a JsonValue is a pointer to the first byte of a
// value, and `get`/`at` skip over siblings with a byte scan. The reader checks the syntax of what it
// walks through; anything malformed yields a missing value and marks the document failed, never a trap.

// @ts-ignore: decorator
@inline const QUOTE: u32 = 0x22;
// @ts-ignore: decorator
@inline const BACKSLASH: u32 = 0x5c;

export const KIND_MISSING: i32 = 0;
export const KIND_NULL: i32 = 1;
export const KIND_BOOL: i32 = 2;
export const KIND_NUMBER: i32 = 3;
export const KIND_STRING: i32 = 4;
export const KIND_ARRAY: i32 = 5;
export const KIND_OBJECT: i32 = 6;

// Views a per-call document keeps for reuse: enough for what reconcilers read, bounded so that one call
// walking a huge list does not pin that many views for the instance's life.
// @ts-ignore: decorator
@inline const MAX_POOLED_VIEWS: i32 = 1024;

/** The bytes a set of views points into, plus a sticky flag for malformed input found so far. */
export class JsonDoc {
  /** Keeps GC-managed backing bytes alive as long as any view of them is reachable. */
  owner: ArrayBuffer | null;
  base: usize;
  end: usize;
  failed: bool = false;
  private missingValue: JsonValue | null = null;
  // Views recycled by rebind(): null for documents whose views may outlive a call (config, cache reads).
  private pool: JsonValue[] | null = null;
  private pooled: i32 = 0;

  constructor(base: usize, len: usize, owner: ArrayBuffer | null = null) {
    this.base = base;
    this.end = base + len;
    this.owner = owner;
  }

  static fromBuffer(buffer: ArrayBuffer): JsonDoc {
    return new JsonDoc(changetype<usize>(buffer), <usize>buffer.byteLength, buffer);
  }

  static fromString(text: string): JsonDoc {
    return JsonDoc.fromBuffer(String.UTF8.encode(text));
  }

  /** A document whose views are recycled by rebind(); the SDK uses one for every call's input. */
  static reusable(): JsonDoc {
    const doc = new JsonDoc(0, 0);
    doc.pool = [];
    return doc;
  }

  /**
   * Points a reusable document at new bytes and recycles every view handed out so far. The SDK calls it
   * when a call starts: views of an input die with the call anyway, since the input is freed when it ends.
   */
  rebind(base: usize, len: usize): void {
    if (this.pool === null) abort("JsonDoc.rebind on a document that was not created reusable");
    this.base = base;
    this.end = base + len;
    this.failed = false;
    this.pooled = 0;
  }

  /** A view of the value at `start` (`end` as for the JsonValue constructor), from the pool when there is one. */
  value(start: usize, end: usize): JsonValue {
    const pool = this.pool;
    if (pool === null) return new JsonValue(this, start, end);
    const i = this.pooled;
    if (i < pool.length) {
      this.pooled = i + 1;
      const v = unchecked(pool[i]);
      v.recycle(start, end);
      return v;
    }
    const v = new JsonValue(this, start, end);
    if (i < MAX_POOLED_VIEWS) {
      pool.push(v);
      this.pooled = i + 1;
    }
    return v;
  }

  /** The top-level value; missing (and the document failed) when the bytes hold no value. */
  root(): JsonValue {
    const p = skipWs(this.base, this.end);
    if (p >= this.end) {
      this.failed = true;
      return this.missing();
    }
    return this.value(p, 0);
  }

  /** The one missing value of this document: lookups that find nothing share it instead of allocating. */
  missing(): JsonValue {
    let v = this.missingValue;
    if (v === null) {
      v = new JsonValue(this, 0);
      this.missingValue = v;
    }
    return v;
  }
}

// Member index layout: four words per scanned member, in document order.
// @ts-ignore: decorator
@inline const ENTRY_WORDS: i32 = 4;
// @ts-ignore: decorator
@inline const KEY_FROM: i32 = 0;
// @ts-ignore: decorator
@inline const KEY_TO: i32 = 1;
// @ts-ignore: decorator
@inline const VALUE_START: i32 = 2;
// @ts-ignore: decorator
@inline const VALUE_END: i32 = 3;
// @ts-ignore: decorator
@inline const INITIAL_MEMBERS: i32 = 8;

/** Where JsonValue.fnv1a starts when given no seed (the FNV-1a 32-bit offset basis). */
export const FNV1A_OFFSET: u32 = 0x811c9dc5;
const FNV1A_PRIME: u32 = 0x01000193;

/** Eight lowercase hex digits of `h`, e.g. for an annotation that changes when hashed inputs change. */
export function hex32(h: u32): string {
  return h.toString(16).padStart(8, "0");
}

/** One value inside a JsonDoc; `start == 0` means missing. Cheap to create, never copies. */
export class JsonValue {
  doc: JsonDoc;
  start: usize;
  private cachedEnd: usize = 0;
  // Member index of an object, built lazily by get(): one flat array of raw key ranges and value bounds
  // (value end 0 while unknown), and the views handed out so far, so scanned members cost no objects.
  private index: StaticArray<usize> | null = null;
  private views: StaticArray<JsonValue | null> | null = null;
  private count: i32 = 0;
  // Where the member scan resumes; 0 until get() first runs (recycled views keep their index arrays).
  private scanPos: usize = 0;
  private scanDone: bool = false;
  private resumeAfterLast: bool = false;
  private closePos: usize = 0;

  /** `knownEnd` is one past the value's last byte when the caller already scanned it, else 0. */
  constructor(doc: JsonDoc, start: usize, knownEnd: usize = 0) {
    this.doc = doc;
    this.start = start;
    this.cachedEnd = knownEnd;
  }

  /** Makes a pooled view a fresh view of another value; only JsonDoc.value calls it. */
  recycle(start: usize, knownEnd: usize): void {
    this.start = start;
    this.cachedEnd = knownEnd;
    const views = this.views;
    if (views !== null) {
      for (let i = 0, n = min(this.count, views.length); i < n; i++) unchecked((views[i] = null));
    }
    this.count = 0;
    this.scanPos = 0;
    this.scanDone = false;
    this.resumeAfterLast = false;
    this.closePos = 0;
  }

  kind(): i32 {
    const s = this.start;
    if (s == 0) return KIND_MISSING;
    const c = <u32>load<u8>(s);
    if (c == 0x7b) return KIND_OBJECT;
    if (c == QUOTE) return KIND_STRING;
    if (c == 0x5b) return KIND_ARRAY;
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return KIND_NUMBER;
    if (c == 0x74 || c == 0x66) return KIND_BOOL;
    if (c == 0x6e) return KIND_NULL;
    this.doc.failed = true;
    return KIND_MISSING;
  }

  exists(): bool {
    return this.kind() != KIND_MISSING;
  }
  isMissing(): bool {
    return this.kind() == KIND_MISSING;
  }
  isNull(): bool {
    return this.kind() == KIND_NULL;
  }
  isObject(): bool {
    return this.kind() == KIND_OBJECT;
  }
  isArray(): bool {
    return this.kind() == KIND_ARRAY;
  }
  isString(): bool {
    return this.kind() == KIND_STRING;
  }
  isNumber(): bool {
    return this.kind() == KIND_NUMBER;
  }
  isBool(): bool {
    return this.kind() == KIND_BOOL;
  }

  /** One past the last byte of this value, or 0 when it is missing or malformed. */
  end(): usize {
    if (this.cachedEnd == 0 && this.start != 0) {
      // An object already partly indexed by get() ends after its remaining members: the skipped ones
      // (often large, like metadata.managedFields) are not scanned a second time.
      if (this.scanPos != 0 && !this.scanDone) {
        this.scanMembers(null, null);
        if (this.scanDone && !this.doc.failed) this.cachedEnd = this.closePos + 1;
      }
      if (this.cachedEnd == 0) this.cachedEnd = skipValue(this.doc, this.start);
    }
    return this.cachedEnd;
  }

  /**
   * The member `key` of an object; missing when this is not an object or has no such member.
   *
   * Members are indexed as they are scanned, and a member's value is returned as the same JsonValue every
   * time: asking for `primary` then `children` of an input skips the primary's bytes once, not per call,
   * and a value's own index survives between lookups.
   */
  get(key: string): JsonValue {
    return this.scanMembers(key, null);
  }

  /** The member named `first + "/" + second` (e.g. "apps/v1" and "Deployment"), without building that name. */
  getJoined(first: string, second: string): JsonValue {
    return this.scanMembers(first, second);
  }

  /**
   * Looks a key up in the member index, scanning further members as needed; a null key scans to the end.
   * The key is `key`, or `key + "/" + suffix` when a suffix is given.
   */
  private scanMembers(key: string | null, suffix: string | null): JsonValue {
    if (this.kind() != KIND_OBJECT) return this.missing();
    let index = this.index;
    if (index === null) {
      index = new StaticArray<usize>(INITIAL_MEMBERS * ENTRY_WORDS);
      this.index = index;
    }
    if (this.scanPos == 0) this.scanPos = this.start + 1;
    let n = this.count;
    if (key !== null) {
      for (let i = 0; i < n; i++) {
        const e = i * ENTRY_WORDS;
        if (keyMatches(unchecked(index[e + KEY_FROM]), unchecked(index[e + KEY_TO]), key, suffix)) return this.view(i);
      }
    }
    if (this.scanDone) return this.missing();
    const doc = this.doc;
    const end = doc.end;
    let p = this.scanPos;
    // The value found last time was returned without being skipped: skip it now (its end is cached).
    if (this.resumeAfterLast) {
      this.resumeAfterLast = false;
      p = this.view(n - 1).end();
      if (p == 0) return this.fail();
      unchecked((index[(n - 1) * ENTRY_WORDS + VALUE_END] = p));
    }
    while (true) {
      p = skipWs(p, end);
      if (p >= end) break;
      let c = <u32>load<u8>(p);
      if (c == 0x7d) {
        this.scanDone = true;
        this.closePos = p;
        return this.missing();
      }
      if (n > 0) {
        if (c != 0x2c) break;
        p = skipWs(p + 1, end);
        if (p >= end) break;
        c = <u32>load<u8>(p);
      }
      if (c != QUOTE) break;
      const keyFrom = p + 1;
      const keyClose = scanString(p, end);
      if (keyClose == 0) break;
      p = skipWs(keyClose, end);
      if (p >= end || load<u8>(p) != 0x3a) break;
      p = skipWs(p + 1, end);
      if (p >= end) break;
      if (n * ENTRY_WORDS == index.length) index = this.grow();
      const e = n * ENTRY_WORDS;
      unchecked((index[e + KEY_FROM] = keyFrom));
      unchecked((index[e + KEY_TO] = keyClose - 1));
      unchecked((index[e + VALUE_START] = p));
      n++;
      this.count = n;
      if (key !== null && keyMatches(keyFrom, keyClose - 1, key, suffix)) {
        // Found: return it unskipped, so reading the last member never scans past what is used.
        unchecked((index[e + VALUE_END] = 0));
        this.scanPos = p;
        this.resumeAfterLast = true;
        return this.view(n - 1);
      }
      const valueEnd = skipValue(doc, p);
      if (valueEnd == 0) break;
      unchecked((index[e + VALUE_END] = valueEnd));
      p = valueEnd;
      this.scanPos = p;
    }
    return this.fail();
  }

  /** The view of indexed member `i`, created on first use and the same object on every later one. */
  private view(i: i32): JsonValue {
    let views = this.views;
    if (views === null || i >= views.length) views = this.growViews();
    const known = unchecked(views[i]);
    if (known !== null) return known;
    const index = this.index!;
    const e = i * ENTRY_WORDS;
    const v = this.doc.value(unchecked(index[e + VALUE_START]), unchecked(index[e + VALUE_END]));
    unchecked((views[i] = v));
    return v;
  }

  private grow(): StaticArray<usize> {
    const old = this.index!;
    const next = new StaticArray<usize>(old.length << 1);
    memory.copy(changetype<usize>(next), changetype<usize>(old), <usize>old.length * sizeof<usize>());
    this.index = next;
    return next;
  }

  private growViews(): StaticArray<JsonValue | null> {
    const capacity = this.index!.length / ENTRY_WORDS;
    const next = new StaticArray<JsonValue | null>(capacity);
    const old = this.views;
    if (old !== null) {
      for (let i = 0, n = old.length; i < n; i++) unchecked((next[i] = old[i]));
    }
    this.views = next;
    return next;
  }

  private fail(): JsonValue {
    this.scanDone = true;
    this.doc.failed = true;
    return this.missing();
  }

  /** Follows a dotted path of object keys, e.g. "spec.template.metadata". */
  path(dotted: string): JsonValue {
    let v: JsonValue = this;
    let from = 0;
    while (true) {
      const dot = dotted.indexOf(".", from);
      if (dot < 0) return v.get(dotted.substring(from));
      v = v.get(dotted.substring(from, dot));
      from = dot + 1;
    }
  }

  /** Element `index` of an array; missing when out of range or not an array. */
  at(index: i32): JsonValue {
    const it = this.items();
    let i = 0;
    while (it.next()) {
      if (i == index) return it.value;
      i++;
    }
    return this.missing();
  }

  /** Number of elements of an array or members of an object; 0 for anything else. */
  length(): i32 {
    let n = 0;
    if (this.kind() == KIND_OBJECT) {
      const it = this.members();
      while (it.next()) n++;
    } else {
      const it = this.items();
      while (it.next()) n++;
    }
    return n;
  }

  items(): ArrayIter {
    return new ArrayIter(this.doc, this.kind() == KIND_ARRAY ? this.start : 0);
  }

  members(): ObjectIter {
    return new ObjectIter(this.doc, this.kind() == KIND_OBJECT ? this.start : 0);
  }

  /** The decoded string, or `fallback` when this is not a string. */
  str(fallback: string = ""): string {
    if (this.kind() != KIND_STRING) return fallback;
    const close = this.end();
    if (close == 0) return fallback;
    return decodeString(this.doc, this.start + 1, close - 1);
  }

  /** True when this is a string equal to `s`, compared without decoding. */
  strEquals(s: string): bool {
    if (this.kind() != KIND_STRING) return false;
    const close = this.end();
    if (close == 0) return false;
    return rawStringEquals(this.start + 1, close - 1, s);
  }

  num(fallback: f64 = 0): f64 {
    if (this.kind() != KIND_NUMBER) return fallback;
    const end = this.end();
    if (end == 0) return fallback;
    return parseNumber(this.doc, this.start, end, fallback);
  }

  /** The number when it is integral and within ±2^53, else `fallback`. */
  int(fallback: i64 = 0): i64 {
    const v = this.num(NaN);
    if (isNaN(v) || Math.floor(v) != v || Math.abs(v) > 9007199254740992.0) return fallback;
    return <i64>v;
  }

  bool(fallback: bool = false): bool {
    if (this.kind() != KIND_BOOL) return fallback;
    const end = this.end();
    if (end == 0) return fallback;
    return load<u8>(this.start) == 0x74;
  }

  /** Length in bytes of this value's JSON text; 0 when missing. */
  byteLength(): i32 {
    const end = this.end();
    return end == 0 ? 0 : <i32>(end - this.start);
  }

  /** A copy of this value's JSON text as UTF-8 bytes (empty when missing). */
  bytes(): Uint8Array {
    const n = this.byteLength();
    const out = new Uint8Array(n);
    memory.copy(out.dataStart, this.start, <usize>n);
    return out;
  }

  /**
   * FNV-1a (32-bit) over this value's JSON text, continuing from `seed` so several values hash into one:
   * `b.fnv1a(a.fnv1a())`. Stable for equal text and cheap; not a cryptographic hash. A missing value
   * leaves the hash unchanged.
   */
  fnv1a(seed: u32 = FNV1A_OFFSET): u32 {
    let h = seed;
    const end = this.end();
    for (let p = this.start; p < end; p++) h = (h ^ <u32>load<u8>(p)) * FNV1A_PRIME;
    return h;
  }

  /** The JSON text of this value as a string (for messages and debugging; writers splice bytes instead). */
  raw(): string {
    const end = this.end();
    if (end == 0) return "";
    return String.UTF8.decodeUnsafe(this.start, end - this.start);
  }

  private missing(): JsonValue {
    return this.doc.missing();
  }
}

/** Walks the elements of an array: `while (it.next()) use(it.value)`. */
export class ArrayIter {
  doc: JsonDoc;
  value: JsonValue;
  private pos: usize;
  private done: bool;
  private first: bool = true;

  constructor(doc: JsonDoc, arrayStart: usize) {
    this.doc = doc;
    this.value = doc.missing();
    this.pos = arrayStart == 0 ? 0 : arrayStart + 1;
    this.done = arrayStart == 0;
  }

  next(): bool {
    if (this.done) return false;
    const doc = this.doc;
    const end = doc.end;
    let p = skipWs(this.pos, end);
    if (p >= end) return this.fail();
    const c = load<u8>(p);
    if (c == 0x5d) return this.finish();
    if (!this.first) {
      if (c != 0x2c) return this.fail();
      p = skipWs(p + 1, end);
      if (p >= end) return this.fail();
    }
    this.first = false;
    const valueEnd = skipValue(doc, p);
    if (valueEnd == 0) return this.fail();
    this.value = doc.value(p, valueEnd);
    this.pos = valueEnd;
    return true;
  }

  private finish(): bool {
    this.done = true;
    this.value = this.doc.missing();
    return false;
  }

  private fail(): bool {
    this.doc.failed = true;
    return this.finish();
  }
}

/** Walks the members of an object: `while (it.next()) use(it.key(), it.value)`. */
export class ObjectIter {
  doc: JsonDoc;
  value: JsonValue;
  private keyStart: usize = 0;
  private keyEnd: usize = 0;
  private pos: usize;
  private done: bool;
  private first: bool = true;

  constructor(doc: JsonDoc, objectStart: usize) {
    this.doc = doc;
    this.value = doc.missing();
    this.pos = objectStart == 0 ? 0 : objectStart + 1;
    this.done = objectStart == 0;
  }

  next(): bool {
    if (this.done) return false;
    const doc = this.doc;
    const end = doc.end;
    let p = skipWs(this.pos, end);
    if (p >= end) return this.fail();
    const c = load<u8>(p);
    if (c == 0x7d) return this.finish();
    if (!this.first) {
      if (c != 0x2c) return this.fail();
      p = skipWs(p + 1, end);
      if (p >= end) return this.fail();
    }
    this.first = false;
    if (<u32>load<u8>(p) != QUOTE) return this.fail();
    const keyClose = scanString(p, end);
    if (keyClose == 0) return this.fail();
    this.keyStart = p + 1;
    this.keyEnd = keyClose - 1;
    p = skipWs(keyClose, end);
    if (p >= end || load<u8>(p) != 0x3a) return this.fail();
    p = skipWs(p + 1, end);
    if (p >= end) return this.fail();
    const valueEnd = skipValue(doc, p);
    if (valueEnd == 0) return this.fail();
    this.value = doc.value(p, valueEnd);
    this.pos = valueEnd;
    return true;
  }

  key(): string {
    return decodeString(this.doc, this.keyStart, this.keyEnd);
  }

  keyEquals(s: string): bool {
    return rawStringEquals(this.keyStart, this.keyEnd, s);
  }

  /** Start and end of the current key's raw (still escaped) UTF-8 bytes, for writers that copy keys. */
  keyRawStart(): usize {
    return this.keyStart;
  }
  keyRawEnd(): usize {
    return this.keyEnd;
  }

  private finish(): bool {
    this.done = true;
    this.value = this.doc.missing();
    return false;
  }

  private fail(): bool {
    this.doc.failed = true;
    return this.finish();
  }
}

// @ts-ignore: decorator
@inline
function isWs(c: u32): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09;
}

// @ts-ignore: decorator
@inline
function skipWs(p: usize, end: usize): usize {
  while (p < end && isWs(<u32>load<u8>(p))) p++;
  return p;
}

/** `p` points at an opening quote; returns one past the closing quote, or 0 when unterminated. */
function scanString(p: usize, end: usize): usize {
  p++;
  // Eight bytes at a time (SWAR: the classic "has zero byte" and "has byte less than" tests) for a quote, a
  // backslash or a control byte. Each test's lowest flagged byte is exact (borrows only flag bytes above a
  // true hit), and the load is little-endian, so the lowest bit of their union is the first special byte
  // in memory: the scan jumps straight to it instead of walking the word byte by byte. Most strings of a
  // Kubernetes object are short keys, which end inside their first word.
  while (p + 8 <= end) {
    const x = load<u64>(p);
    const q = x ^ 0x2222222222222222;
    const b = x ^ 0x5c5c5c5c5c5c5c5c;
    const special =
      (((q - 0x0101010101010101) & ~q) | ((b - 0x0101010101010101) & ~b) | ((x - 0x2020202020202020) & ~x)) &
      0x8080808080808080;
    if (special == 0) {
      p += 8;
      continue;
    }
    p += <usize>(ctz(special) >> 3);
    const c = <u32>load<u8>(p);
    if (c == QUOTE) return p + 1;
    if (c != BACKSLASH) return 0;
    p += 2;
  }
  while (p < end) {
    const c = <u32>load<u8>(p);
    if (c == QUOTE) return p + 1;
    if (c == BACKSLASH) p += 2;
    else if (c < 0x20) return 0;
    else p++;
  }
  return 0;
}

/** One past the end of the value at `p`, or 0 (and the document failed) when it is malformed. */
function skipValue(doc: JsonDoc, p: usize): usize {
  const end = doc.end;
  const c = <u32>load<u8>(p);
  if (c == QUOTE) {
    const e = scanString(p, end);
    if (e == 0) doc.failed = true;
    return e;
  }
  if (c == 0x7b || c == 0x5b) return skipContainer(doc, p);
  if (c == 0x74) return skipLiteral(doc, p, "true");
  if (c == 0x66) return skipLiteral(doc, p, "false");
  if (c == 0x6e) return skipLiteral(doc, p, "null");
  if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return skipNumber(doc, p);
  doc.failed = true;
  return 0;
}

/** Matches brackets (and skips strings) without checking the structure in between. */
function skipContainer(doc: JsonDoc, p: usize): usize {
  const end = doc.end;
  let depth = 0;
  while (p < end) {
    const c = <u32>load<u8>(p);
    if (c == QUOTE) {
      p = scanString(p, end);
      if (p == 0) break;
      continue;
    }
    // `{` and `[` differ only in bit 0x20, as do `}` and `]`: one test each.
    const folded = c | 0x20;
    if (folded == 0x7b) depth++;
    else if (folded == 0x7d) {
      depth--;
      if (depth == 0) return p + 1;
    }
    p++;
  }
  doc.failed = true;
  return 0;
}

function skipLiteral(doc: JsonDoc, p: usize, literal: string): usize {
  const n = <usize>literal.length;
  if (p + n > doc.end) {
    doc.failed = true;
    return 0;
  }
  for (let i: usize = 0; i < n; i++) {
    if (<u32>load<u8>(p + i) != <u32>literal.charCodeAt(<i32>i)) {
      doc.failed = true;
      return 0;
    }
  }
  return p + n;
}

function skipNumber(doc: JsonDoc, p: usize): usize {
  const end = doc.end;
  const start = p;
  if (load<u8>(p) == 0x2d) p++;
  const digitsStart = p;
  while (p < end && isDigit(load<u8>(p))) p++;
  if (p == digitsStart || (load<u8>(digitsStart) == 0x30 && p - digitsStart > 1)) return badNumber(doc);
  if (p < end && load<u8>(p) == 0x2e) {
    p++;
    const f = p;
    while (p < end && isDigit(load<u8>(p))) p++;
    if (p == f) return badNumber(doc);
  }
  if (p < end && (load<u8>(p) | 0x20) == 0x65) {
    p++;
    if (p < end && (load<u8>(p) == 0x2b || load<u8>(p) == 0x2d)) p++;
    const e = p;
    while (p < end && isDigit(load<u8>(p))) p++;
    if (p == e) return badNumber(doc);
  }
  return p > start ? p : badNumber(doc);
}

function badNumber(doc: JsonDoc): usize {
  doc.failed = true;
  return 0;
}

// @ts-ignore: decorator
@inline
function isDigit(c: u8): bool {
  return <u32>c - 0x30 < 10;
}

/** Integers of up to 15 digits (replicas, generations, ports...) parse exactly without allocating. */
function parseNumber(doc: JsonDoc, start: usize, end: usize, fallback: f64): f64 {
  let p = start;
  const negative = load<u8>(p) == 0x2d;
  if (negative) p++;
  if (end - p <= 15) {
    let v: i64 = 0;
    let q = p;
    while (q < end && isDigit(load<u8>(q))) {
      v = v * 10 + <i64>(load<u8>(q) - 0x30);
      q++;
    }
    if (q == end) return negative ? -<f64>v : <f64>v;
  }
  const text = String.UTF8.decodeUnsafe(start, end - start);
  const v = parseFloat(text);
  if (isNaN(v)) {
    doc.failed = true;
    return fallback;
  }
  return v;
}

// rawPrefixEnd results that are not a position.
// @ts-ignore: decorator
@inline const NO_MATCH: usize = <usize>-1;
// @ts-ignore: decorator
@inline const ESCAPED: usize = <usize>-2;

/** Compares the string whose content is [from, to) (raw, maybe escaped) with `s`, without allocating. */
function rawStringEquals(from: usize, to: usize, s: string): bool {
  const p = rawPrefixEnd(from, to, s);
  if (p == ESCAPED) return decodeStringRange(from, to) == s;
  return p == to;
}

/** True when the raw key [from, to) is `key`, or `key + "/" + suffix` when a suffix is given. */
function keyMatches(from: usize, to: usize, key: string, suffix: string | null): bool {
  if (suffix === null) return rawStringEquals(from, to, key);
  const p = rawPrefixEnd(from, to, key);
  if (p == ESCAPED) return decodeStringRange(from, to) == key + "/" + suffix;
  if (p == NO_MATCH || p >= to || load<u8>(p) != 0x2f) return false;
  return rawStringEquals(p + 1, to, suffix);
}

/**
 * Matches `s` against the start of the raw string content [from, to): the position after it, NO_MATCH,
 * or ESCAPED when an escape comes first (the caller then compares decoded text).
 */
function rawPrefixEnd(from: usize, to: usize, s: string): usize {
  const n = s.length;
  let p = from;
  let i = 0;
  while (i < n) {
    if (p >= to) return NO_MATCH;
    let b = <u32>load<u8>(p);
    if (b == BACKSLASH) return ESCAPED;
    if (b < 0x80) {
      if (<u32>s.charCodeAt(i) != b) return NO_MATCH;
      p++;
      i++;
      continue;
    }
    // Multi-byte UTF-8: decode one code point and compare it with one or two UTF-16 units.
    let cp: u32;
    let len: usize;
    if ((b & 0xe0) == 0xc0) {
      cp = b & 0x1f;
      len = 2;
    } else if ((b & 0xf0) == 0xe0) {
      cp = b & 0x0f;
      len = 3;
    } else {
      cp = b & 0x07;
      len = 4;
    }
    if (p + len > to) return NO_MATCH;
    for (let k: usize = 1; k < len; k++) cp = (cp << 6) | (<u32>load<u8>(p + k) & 0x3f);
    p += len;
    if (cp >= 0x10000) {
      if (i + 1 >= n) return NO_MATCH;
      const hi = 0xd800 + ((cp - 0x10000) >> 10);
      const lo = 0xdc00 + ((cp - 0x10000) & 0x3ff);
      if (<u32>s.charCodeAt(i) != hi || <u32>s.charCodeAt(i + 1) != lo) return NO_MATCH;
      i += 2;
    } else {
      if (<u32>s.charCodeAt(i) != cp) return NO_MATCH;
      i++;
    }
  }
  return p;
}

function decodeString(doc: JsonDoc, from: usize, to: usize): string {
  for (let p = from; p < to; p++) {
    if (<u32>load<u8>(p) == BACKSLASH) {
      const s = decodeStringRange(from, to);
      if (s !== null) return s;
      doc.failed = true;
      return "";
    }
  }
  return String.UTF8.decodeUnsafe(from, to - from);
}

/** Decodes JSON escapes; null when an escape is malformed. */
function decodeStringRange(from: usize, to: usize): string | null {
  let out = "";
  let chunk = from;
  let p = from;
  while (p < to) {
    if (<u32>load<u8>(p) != BACKSLASH) {
      p++;
      continue;
    }
    if (p > chunk) out += String.UTF8.decodeUnsafe(chunk, p - chunk);
    if (p + 1 >= to) return null;
    const e = <u32>load<u8>(p + 1);
    p += 2;
    if (e == 0x75) {
      if (p + 4 > to) return null;
      const unit = hex4(p);
      if (unit < 0) return null;
      out += String.fromCharCode(unit);
      p += 4;
    } else if (e == QUOTE || e == BACKSLASH || e == 0x2f) {
      out += String.fromCharCode(e);
    } else if (e == 0x62) {
      out += "\b";
    } else if (e == 0x66) {
      out += "\f";
    } else if (e == 0x6e) {
      out += "\n";
    } else if (e == 0x72) {
      out += "\r";
    } else if (e == 0x74) {
      out += "\t";
    } else {
      return null;
    }
    chunk = p;
  }
  if (to > chunk) out += String.UTF8.decodeUnsafe(chunk, to - chunk);
  return out;
}

function hex4(p: usize): i32 {
  let v = 0;
  for (let i: usize = 0; i < 4; i++) {
    const c = <i32>load<u8>(p + i);
    let d: i32;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) d = (c | 0x20) - 0x61 + 10;
    else return -1;
    v = (v << 4) | d;
  }
  return v;
}
