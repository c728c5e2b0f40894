// Tests that inspectModule reports declarations faithfully and refuses malformed binaries with typed errors.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import wabtInit from 'wabt';
import { isWrError } from '../../errors.ts';
import { inspectModule } from './index.ts';

const wabt = await wabtInit();

function wat(src: string): Uint8Array<ArrayBuffer> {
  const mod = wabt.parseWat('test.wat', src, { exceptions: true, multi_value: true, reference_types: true });
  try {
    return Uint8Array.from(mod.toBinary({ write_debug_names: true }).buffer);
  } finally {
    mod.destroy();
  }
}

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

function assertMalformed(bytes: Uint8Array, offset?: number): void {
  assert.throws(
    () => inspectModule(bytes),
    (err: unknown) => isWrError(err, 'WR_MODULE_MALFORMED') && (offset === undefined || err.details?.offset === offset),
  );
}

describe('inspectModule', () => {
  it('reports imports, exports, signatures, memories and custom sections', () => {
    const info = inspectModule(
      wat(`(module
        (type $log (func (param i32 i32 i32)))
        (import "wr" "log" (func (type $log)))
        (import "wr" "now_ms" (func (result f64)))
        (import "env" "t" (table 1 externref))
        (import "env" "g" (global (mut i64)))
        (import "env" "e" (tag (param i32)))
        (memory (export "memory") 2 10)
        (table 3 7 funcref)
        (table 1 externref)
        (global (export "answer") i32 (i32.const 42))
        (func (export "wr_reconcile") (param i32 i32) (result i32 i64) (local.get 0) (i64.const 0))
        (func (export "v") (param v128)))`),
    );
    assert.deepEqual(info.imports, [
      { module: 'wr', name: 'log', kind: 'function', typeIndex: 0 },
      { module: 'wr', name: 'now_ms', kind: 'function', typeIndex: 1 },
      { module: 'env', name: 't', kind: 'table' },
      { module: 'env', name: 'g', kind: 'global' },
      { module: 'env', name: 'e', kind: 'tag', typeIndex: 2 },
    ]);
    assert.deepEqual(info.tables, [
      { min: 1, imported: true },
      { min: 3, max: 7, imported: false },
      { min: 1, imported: false },
    ]);
    assert.deepEqual(info.exports, [
      { name: 'memory', kind: 'memory', index: 0 },
      { name: 'answer', kind: 'global', index: 1 },
      { name: 'wr_reconcile', kind: 'function', index: 2 },
      { name: 'v', kind: 'function', index: 3 },
    ]);
    assert.deepEqual(info.types, [
      { params: ['i32', 'i32', 'i32'], results: [] },
      { params: [], results: ['f64'] },
      { params: ['i32'], results: [] },
      { params: ['i32', 'i32'], results: ['i32', 'i64'] },
      { params: ['v128'], results: [] },
    ]);
    assert.deepEqual(info.functionTypeIndices, [0, 1, 3, 4]);
    assert.deepEqual(info.memories, [{ min: 2, max: 10, shared: false, memory64: false, imported: false }]);
    assert.deepEqual(info.customSections, ['name']);
  });

  it('rejects what is not a WebAssembly binary', () => {
    assertMalformed(new Uint8Array(0), 0);
    assertMalformed(new TextEncoder().encode('<html></html>'), 0);
    assertMalformed(Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]), 4); // component model
  });

  it('rejects unknown, duplicated, out-of-order and overrunning sections', () => {
    assertMalformed(Uint8Array.from([...HEADER, 0x0e, 0x00]), 8);
    assertMalformed(Uint8Array.from([...HEADER, 0x01, 0x01, 0x00, 0x01, 0x01, 0x00]), 11);
    assertMalformed(Uint8Array.from([...HEADER, 0x03, 0x01, 0x00, 0x01, 0x01, 0x00]), 11);
    assertMalformed(Uint8Array.from([...HEADER, 0x01, 0x05, 0x00]));
  });

  it('rejects a section whose entries do not fill its declared size, and trailing bytes', () => {
    assertMalformed(Uint8Array.from([...HEADER, 0x01, 0x02, 0x00, 0x00]), 11);
    assertMalformed(Uint8Array.from([...HEADER, 0x01, 0x01, 0x00, 0x01]));
  });

  it('rejects LEB128 overflow and references out of range', () => {
    // A type count whose fifth byte sets bits above 32.
    assertMalformed(Uint8Array.from([...HEADER, 0x01, 0x05, 0xff, 0xff, 0xff, 0xff, 0x1f]), 14);
    // A function whose type index does not exist.
    assertMalformed(Uint8Array.from([...HEADER, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b]), 11);
    // An export of a function that does not exist.
    assertMalformed(Uint8Array.from([...HEADER, 0x07, 0x04, 0x01, 0x00, 0x00, 0x00]), 12);
  });

  it('rejects declared functions without bodies and names that are not UTF-8', () => {
    assertMalformed(Uint8Array.from([...HEADER, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00]));
    assertMalformed(Uint8Array.from([...HEADER, 0x00, 0x03, 0x02, 0xff, 0xfe]), 11);
  });

  it('refuses GC type definitions as unsupported rather than malformed', () => {
    // (rec (type (struct)))
    const bytes = Uint8Array.from([...HEADER, 0x01, 0x05, 0x01, 0x4e, 0x01, 0x5f, 0x00]);
    assert.equal(WebAssembly.validate(bytes), true);
    assert.throws(
      () => inspectModule(bytes),
      (err: unknown) => isWrError(err, 'WR_MODULE_UNSUPPORTED'),
    );
  });

  it('reports shared and 64-bit memories rather than rejecting them', () => {
    const bytes = Uint8Array.from([...HEADER, 0x05, 0x03, 0x01, 0x04, 0x02]);
    assert.deepEqual(inspectModule(bytes).memories, [{ min: 2, shared: false, memory64: true, imported: false }]);
  });
});
