// Test guest for the JSON reader and writer: extra exports that walk, query and re-encode their input.

import {
  JsonDoc,
  JsonValue,
  JsonWriter,
  KIND_ARRAY,
  KIND_BOOL,
  KIND_NULL,
  KIND_NUMBER,
  KIND_OBJECT,
  KIND_STRING,
  ObjectWriter,
} from '@wasm-reconciler/sdk-assemblyscript/assembly';
import { host_set_output } from '@wasm-reconciler/sdk-assemblyscript/assembly/abi';

export * from '@wasm-reconciler/sdk-assemblyscript/assembly/exports';

const w = new JsonWriter();

function emit(): void {
  host_set_output(w.ptr, w.len);
}

/** Decodes every value (strings, keys, numbers) and writes it back: reader and writer end to end. */
function copy(v: JsonValue): void {
  const kind = v.kind();
  if (kind == KIND_OBJECT) {
    w.beginObject();
    const it = v.members();
    while (it.next()) {
      w.key(it.key());
      copy(it.value);
    }
    w.endObject();
  } else if (kind == KIND_ARRAY) {
    w.beginArray();
    const it = v.items();
    while (it.next()) copy(it.value);
    w.endArray();
  } else if (kind == KIND_STRING) {
    w.string(v.str());
  } else if (kind == KIND_NUMBER) {
    w.number(v.num());
  } else if (kind == KIND_BOOL) {
    w.boolean(v.bool());
  } else {
    w.nul();
  }
}

/** Returns 0 and the re-encoded document, or 1 when the reader found the input malformed. */
export function probe_roundtrip(ptr: usize, len: i32): i32 {
  const doc = new JsonDoc(ptr, len);
  w.reset();
  const root = doc.root();
  if (!doc.failed) copy(root);
  if (doc.failed) return 1;
  emit();
  return 0;
}

/**
 * Input {"doc": any, "path": [string | number...], "expect": string}: follows the path with get/at and
 * describes what it finds, including the value copied verbatim.
 */
export function probe_query(ptr: usize, len: i32): i32 {
  const input = new JsonDoc(ptr, len).root();
  let v = input.get('doc');
  const path = input.get('path').items();
  while (path.next()) {
    v = path.value.isString() ? v.get(path.value.str()) : v.at(<i32>path.value.int());
  }
  const expect = input.get('expect').str();
  w.reset();
  const o = ObjectWriter.open(w);
  o.int('kind', v.kind());
  o.bool('exists', v.exists());
  o.value('raw', v);
  o.str('str', v.str('<fallback>'));
  o.num('num', v.num(-1.5));
  o.int('int', v.int(-999));
  o.bool('bool', v.bool(false));
  o.int('length', v.length());
  o.bool('strEquals', v.strEquals(expect));
  o.str('rawText', v.raw());
  const keys = o.arr('keys');
  const it = v.members();
  while (it.next()) keys.str(it.key());
  o.end();
  emit();
  return input.doc.failed ? 1 : 0;
}

/** Walks the whole input with get/at/str on every node and reports whether the reader flagged it. */
export function probe_walk(ptr: usize, len: i32): i32 {
  const doc = new JsonDoc(ptr, len);
  walk(doc.root());
  return doc.failed ? 1 : 0;
}

function walk(v: JsonValue): void {
  v.str();
  v.num();
  v.end();
  const it = v.members();
  while (it.next()) {
    v.get(it.key());
    walk(it.value);
  }
  const items = v.items();
  while (items.next()) walk(items.value);
}

/** Writer edge cases that do not come from input: handles, auto-closing, numbers. */
export function probe_writer(): i32 {
  w.reset();
  const root = ObjectWriter.open(w);
  const a = root.obj('a');
  a.obj('deep').int('x', 1);
  a.int('y', 2); // closes "deep"
  root.arr('list').int(1).num(2.5).num(-0.0).num(1e21).num(NaN).bool(true).nul().str('s').obj().int('z', i64.MIN_VALUE);
  root.int('max', i64.MAX_VALUE).num('tiny', 1e-7).num('big', 9007199254740993.0);
  root.end();
  emit();
  return 0;
}

/** Writing through a handle whose container was closed must abort (a trap), never corrupt output. */
export function probe_writer_misuse(): i32 {
  w.reset();
  const root = ObjectWriter.open(w);
  const first = root.obj('first');
  root.int('after', 1);
  first.int('late', 2);
  return 0;
}
