// Adversarial loads: bytes that are not modules, modules that lie about their shape, index confusion aimed
// at what the instrumentation appends (the fuel global, the twins), forbidden imports and features, and
// compile bombs. Each is refused with its exact code, and the host keeps serving the healthy guest.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { okGuest } from '../fixtures/guests/wat.ts';
import {
  body,
  bytes,
  guest,
  guestWat,
  HEADER,
  Host,
  LIMITS,
  raw,
  rawGuest,
  section,
  str,
  u32,
  vec,
  wat,
} from './harness.ts';

const host = new Host();
before(() => host.open());
after(() => host.close());

describe('loader input: bytes that are not a v1 module', () => {
  it('empty bytes are malformed', async () => {
    await host.loadFails(new Uint8Array(0), { code: 'WR_MODULE_MALFORMED' });
  });

  it('a bad magic is malformed at offset 0', async () => {
    await host.loadFails(
      raw().map((b, i) => (i === 0 ? 0x01 : b)),
      {
        code: 'WR_MODULE_MALFORMED',
        details: { offset: 0 },
      },
    );
  });

  it('binary version 2 is malformed at offset 4', async () => {
    const bad = new Uint8Array(await okGuest('v1'));
    bad[4] = 2;
    await host.loadFails(bad, { code: 'WR_MODULE_MALFORMED', details: { offset: 4 } });
  });

  it('every truncation of a valid guest is malformed, never a crash', async () => {
    const ok = await okGuest('v1');
    // Whole-section prefixes of ok.wat still lack its exports, which is a different (later) refusal.
    for (const cut of [9, 10, 17, Math.floor(ok.length / 2), ok.length - 1]) {
      const err = await host.loadFails(ok.subarray(0, cut), { code: 'WR_MODULE_MALFORMED' });
      assert.equal(typeof err.details?.offset, 'number', `cut at ${cut}`);
    }
  });

  it('a section whose size overruns the module is malformed', async () => {
    await host.loadFails(raw(bytes(0x01, u32(1000), 0x00)), { code: 'WR_MODULE_MALFORMED' });
  });

  it('a section size of 4 GiB is malformed (not a huge allocation)', async () => {
    await host.loadFails(raw(bytes(0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00)), { code: 'WR_MODULE_MALFORMED' });
  });

  it('a duplicated type section is malformed', async () => {
    const types = section(1, vec([bytes(0x60, 0, 0)]));
    await host.loadFails(raw(types, types), { code: 'WR_MODULE_MALFORMED' });
  });

  it('sections out of order are malformed', async () => {
    await host.loadFails(raw(section(5, vec([bytes(0, 1)])), section(1, vec([]))), { code: 'WR_MODULE_MALFORMED' });
  });

  it('unknown section ids are malformed', async () => {
    for (const id of [14, 0x7f, 0xff]) {
      await host.loadFails(raw(bytes(id, 0)), { code: 'WR_MODULE_MALFORMED', details: { offset: 8 } });
    }
  });

  it('an over-long LEB128 (6 bytes for a u32) is malformed', async () => {
    await host.loadFails(raw(bytes(0x01, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00)), { code: 'WR_MODULE_MALFORMED' });
  });

  it('a custom section name of invalid UTF-8 is malformed', async () => {
    const ok = await okGuest('v1');
    const content = bytes(u32(2), 0xc3, 0x28);
    await host.loadFails(bytes(ok, 0x00, u32(content.length), content), { code: 'WR_MODULE_MALFORMED' });
  });

  it('a module over moduleBytes is WR_MODULE_TOO_LARGE before it is decoded', async () => {
    const big = new Uint8Array(LIMITS.moduleBytes + 1); // not even a header
    await host.loadFails(big, {
      code: 'WR_MODULE_TOO_LARGE',
      details: { bytes: LIMITS.moduleBytes + 1, limit: LIMITS.moduleBytes },
    });
  });
});

describe('loader input: the ABI contract', () => {
  it('a valid module of ABI v2 is WR_MODULE_ABI_VERSION, even with foreign imports', async () => {
    const text = guestWat({
      imports: '(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))',
    }).replace('"wr_abi_version_1"', '"wr_abi_version_2"');
    await host.loadFails(wat(text), {
      code: 'WR_MODULE_ABI_VERSION',
      details: { declared: ['wr_abi_version_2'], expected: 'wr_abi_version_1' },
    });
  });

  it('a marker that is a global, not a function, is no v1 marker', async () => {
    const text = guestWat({ extra: '(global (export "wr_abi_version_1x") i32 (i32.const 0))' }).replace(
      '(func (export "wr_abi_version_1"))',
      '',
    );
    await host.loadFails(wat(text), { code: 'WR_MODULE_ABI_VERSION', details: { declared: ['wr_abi_version_1x'] } });
  });

  it('imports from another namespace are forbidden', async () => {
    await host.loadFails(guest({ imports: '(import "env" "abort" (func (param i32 i32 i32 i32)))' }), {
      code: 'WR_MODULE_FORBIDDEN_IMPORT',
      details: { module: 'env', name: 'abort', kind: 'function' },
    });
  });

  it('an unknown wr function is forbidden, including prototype names', async () => {
    for (const name of ['exec', '__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      await host.loadFails(guest({ imports: `(import "wr" "${name}" (func))` }), {
        code: 'WR_MODULE_FORBIDDEN_IMPORT',
        details: { module: 'wr', name, kind: 'function' },
      });
    }
  });

  it('a host function with the wrong signature is forbidden', async () => {
    await host.loadFails(guest({ imports: '(import "wr" "get" (func (param i32) (result i32)))' }), {
      code: 'WR_MODULE_FORBIDDEN_IMPORT',
      details: { module: 'wr', name: 'get', expected: '(i32, i32) -> (i32)', actual: '(i32) -> (i32)' },
    });
    await host.loadFails(guest({ imports: '(import "wr" "now_ms" (func (result i64)))' }), {
      code: 'WR_MODULE_FORBIDDEN_IMPORT',
      details: { name: 'now_ms', actual: '() -> (i64)' },
    });
  });

  it('memory, table, global and tag imports are forbidden, even from wr', async () => {
    const cases: Array<[string, string]> = [
      ['(import "wr" "memory" (memory 1))', 'memory'],
      ['(import "wr" "table" (table 1 funcref))', 'table'],
      ['(import "wr" "fuel" (global (mut i32)))', 'global'],
      ['(import "wr" "tag" (tag (param i32)))', 'tag'],
    ];
    for (const [imports, kind] of cases) {
      await host.loadFails(guest({ imports }), { code: 'WR_MODULE_FORBIDDEN_IMPORT', details: { module: 'wr', kind } });
    }
  });

  it('a missing wr_reconcile, an unexported memory and a mistyped wr_alloc are WR_MODULE_MISSING_EXPORT', async () => {
    await host.loadFails(wat(guestWat().replace('(export "wr_reconcile")', '')), {
      code: 'WR_MODULE_MISSING_EXPORT',
      details: { export: 'wr_reconcile' },
    });
    await host.loadFails(guest({ memory: '(memory 1)' }), {
      code: 'WR_MODULE_MISSING_EXPORT',
      details: { export: 'memory', kind: 'memory' },
    });
    await host.loadFails(guest({ memory: '(memory 1) (global (export "memory") i32 (i32.const 0))' }), {
      code: 'WR_MODULE_MISSING_EXPORT',
      details: { export: 'memory' },
    });
    await host.loadFails(
      wat(
        guestWat().replace(
          '(param $len i32) (result i32) (i32.const 1024)',
          '(param $len i64) (result i32) (i32.const 1024)',
        ),
      ),
      {
        code: 'WR_MODULE_MISSING_EXPORT',
        details: { export: 'wr_alloc', actual: '(i64) -> (i32)' },
      },
    );
  });

  it('wr_finalize with the wrong signature is WR_MODULE_MISSING_EXPORT', async () => {
    await host.loadFails(guest({ extra: '(func (export "wr_finalize") (param i32) (result i32) (i32.const 0))' }), {
      code: 'WR_MODULE_MISSING_EXPORT',
      details: { export: 'wr_finalize' },
    });
  });

  it('atomics are WR_MODULE_UNSUPPORTED with the offset, even on unshared memory', async () => {
    for (const reconcile of [
      '(i32.atomic.load (i32.const 0))',
      '(atomic.fence) (i32.const 0)',
      '(memory.atomic.notify (i32.const 0) (i32.const 1))',
    ]) {
      const err = await host.loadFails(guest({ reconcile }), { code: 'WR_MODULE_UNSUPPORTED', message: /atomic/ });
      assert.equal(typeof err.details?.offset, 'number');
    }
  });

  it('tail calls are WR_MODULE_UNSUPPORTED', async () => {
    await host.loadFails(
      guest({
        reconcile: '(return_call $r (local.get $ptr) (local.get $len))',
        extra: '(func $r (param i32 i32) (result i32) (i32.const 0))',
      }),
      { code: 'WR_MODULE_UNSUPPORTED', message: /tail call/ },
    );
    await host.loadFails(
      guest({
        reconcile: '(return_call_indirect (type $t) (local.get $ptr) (local.get $len) (i32.const 0))',
        extra: '(type $t (func (param i32 i32) (result i32))) (table 1 funcref)',
      }),
      { code: 'WR_MODULE_UNSUPPORTED', message: /tail call/ },
    );
  });

  it('GC type definitions and typed references are WR_MODULE_UNSUPPORTED', async () => {
    // A struct type (0x5f), an array type (0x5e), a rec group (0x4e), a (ref null $t) param (0x63).
    for (const entry of [bytes(0x5f, 0), bytes(0x5e, 0x7f, 0x01), bytes(0x4e, 0), bytes(0x60, 1, 0x63, 0x00, 0)]) {
      await host.loadFails(raw(section(1, vec([entry]))), { code: 'WR_MODULE_UNSUPPORTED' });
    }
    // A GC instruction (struct.new, 0xfb 0x00) in a body.
    await host.loadFails(rawGuest({ extra: [{ body: body([], [0xfb, 0x00, 0x00, 0x1a]) }] }), {
      code: 'WR_MODULE_UNSUPPORTED',
    });
  });

  it('a module invalid as delivered is WR_MODULE_MALFORMED with V8 message, before any rewrite', async () => {
    const err = await host.loadFails(
      guest({ reconcile: '(i32.add (f32.const 1) (i32.const 1))' }, { validate: false }),
      {
        code: 'WR_MODULE_MALFORMED',
      },
    );
    assert.match(String(err.details?.v8), /\S/);
  });
});

describe('index confusion aimed at the instrumentation', () => {
  // N defined globals: the fuel global is appended at index N.
  const globals = (n: number) =>
    Array.from({ length: n }, (_, i) => `(global $g${i} (mut i32) (i32.const ${i}))`).join(' ');

  it('global.get and global.set of index == number of globals are malformed (0, 1 and 3 globals)', async () => {
    for (const n of [0, 1, 3]) {
      for (const op of [`(global.get ${n})`, `(global.set ${n} (i32.const 2147483647)) (i32.const 0)`]) {
        await host.loadFails(guest({ extra: globals(n), reconcile: op }, { validate: false }), {
          code: 'WR_MODULE_MALFORMED',
          message: new RegExp(`global ${n} of ${n}`),
        });
      }
    }
  });

  it('indices just below the fuel global load, those at and past it do not', async () => {
    const { slot } = await host.loaded(
      guest({ extra: globals(3), reconcile: '(global.set 2 (i32.const 7)) (global.get 2)' }),
    );
    // Status 7 proves the guest's own global 2 was read and written, not the fuel counter.
    await host.callFails({ slot, lines: [] }, '{}', { code: 'WR_GUEST_OUTPUT_INVALID', details: { status: 7 } });
    for (const index of [4, 5, 1000, 0xffffffff]) {
      await host.loadFails(guest({ extra: globals(3), reconcile: `(global.get ${index})` }, { validate: false }), {
        code: 'WR_MODULE_MALFORMED',
      });
    }
  });

  it('a global initializer, data offset or element offset reading the fuel global is malformed', async () => {
    await host.loadFails(
      guest({ extra: '(global $a i32 (i32.const 0)) (global $b i32 (global.get 1))' }, { validate: false }),
      {
        code: 'WR_MODULE_MALFORMED',
      },
    );
    await host.loadFails(guest({ extra: '(data (global.get 0) "x")' }, { validate: false }), {
      code: 'WR_MODULE_MALFORMED',
    });
    await host.loadFails(guest({ extra: '(table 4 funcref) (elem (global.get 0) func 0)' }, { validate: false }), {
      code: 'WR_MODULE_MALFORMED',
    });
  });

  it('an export of the global at the fuel index is malformed', async () => {
    await host.loadFails(guest({ extra: `${globals(1)} (export "g" (global 1))` }, { validate: false }), {
      code: 'WR_MODULE_MALFORMED',
    });
  });

  // Defined functions 0..3 (marker, alloc, init, reconcile) plus a small leaf $leaf at 4, which the metering
  // gives a twin: twins are appended at index 5.
  const LEAF = '(func $leaf (param i32 i32) (result i32) (i32.const 0))';

  it('call of the function one past the last is malformed (where the twin lands)', async () => {
    for (const index of [5, 6, 0xffff]) {
      await host.loadFails(
        guest(
          {
            extra: LEAF,
            reconcile: `(call $leaf (i32.const 0) (i32.const 0)) (drop) (call ${index} (local.get $ptr) (local.get $len))`,
          },
          { validate: false },
        ),
        { code: 'WR_MODULE_MALFORMED', message: /function/ },
      );
    }
  });

  it('ref.func, export, element segment and start naming the function one past the last are malformed', async () => {
    const cases = [
      { extra: `${LEAF} (elem declare func 5)`, reconcile: '(ref.func 5) (drop) (i32.const 0)' },
      { extra: `${LEAF} (export "twin" (func 5))` },
      { extra: `${LEAF} (table 2 funcref) (elem (i32.const 0) func 4 5)` },
      { extra: `${LEAF} (table 2 funcref) (elem func 5)` },
      { extra: `${LEAF} (global funcref (ref.func 5))` },
      { extra: `${LEAF} (start 5)` },
    ];
    for (const parts of cases) {
      await host.loadFails(guest(parts, { validate: false }), { code: 'WR_MODULE_MALFORMED' });
    }
  });

  it('a call_indirect or function of a type index out of range is malformed', async () => {
    await host.loadFails(
      guest({ extra: '(table 1 funcref)', reconcile: '(call_indirect (type 99) (i32.const 0))' }, { validate: false }),
      { code: 'WR_MODULE_MALFORMED' },
    );
    // A function section entry naming type 7 of 3.
    const ok = rawGuest({ extra: [{ type: 7, body: body([], []) }] });
    await host.loadFails(ok, { code: 'WR_MODULE_MALFORMED', message: /type index 7/ });
  });

  it('exporting __wr_fuel or __wr_start is WR_MODULE_RESERVED_EXPORT', async () => {
    await host.loadFails(guest({ extra: '(global (export "__wr_fuel") (mut i32) (i32.const 2147483647))' }), {
      code: 'WR_MODULE_RESERVED_EXPORT',
      details: { export: '__wr_fuel' },
    });
    await host.loadFails(guest({ extra: '(func (export "__wr_start"))' }), {
      code: 'WR_MODULE_RESERVED_EXPORT',
      details: { export: '__wr_start' },
    });
    await host.loadFails(guest({ extra: '(export "__wr_fuel" (memory 0))' }), {
      code: 'WR_MODULE_RESERVED_EXPORT',
      details: { export: '__wr_fuel' },
    });
  });
});

describe('compile bombs refused before V8 compiles', () => {
  it('a function section declaring 4 billion functions is WR_MODULE_LIMIT functions', async () => {
    await host.loadFails(raw(section(1, vec([bytes(0x60, 0, 0)])), section(3, bytes(0xff, 0xff, 0xff, 0xff, 0x0f))), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'functions', value: 0xffffffff, max: LIMITS.functions },
    });
  });

  it('50,001 real functions are WR_MODULE_LIMIT functions', async () => {
    const n = LIMITS.functions + 1 - 4;
    const extra = Array.from({ length: n }, () => ({ body: body([], []) }));
    await host.loadFails(rawGuest({ extra }), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'functions', value: LIMITS.functions + 1, max: LIMITS.functions },
    });
  });

  it('a type section of 4 billion entries, and one of 10,001 real ones, are WR_MODULE_LIMIT types', async () => {
    await host.loadFails(raw(section(1, bytes(0xff, 0xff, 0xff, 0xff, 0x0f))), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'types', value: 0xffffffff, max: LIMITS.types },
    });
    const entries = Array.from({ length: LIMITS.types + 1 }, () => bytes(0x60, 0, 0));
    await host.loadFails(raw(section(1, vec(entries))), { code: 'WR_MODULE_LIMIT', details: { limit: 'types' } });
  });

  it('a function body over 1 MiB is WR_MODULE_LIMIT functionBodyBytes', async () => {
    const nops = new Uint8Array(LIMITS.functionBodyBytes).fill(0x01);
    await host.loadFails(rawGuest({ extra: [{ body: body([], nops) }] }), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'functionBodyBytes', max: LIMITS.functionBodyBytes },
    });
  });

  it('a code section over codeBytes is WR_MODULE_LIMIT codeBytes', async () => {
    const extra = Array.from({ length: 40 }, () => ({ body: body([], new Uint8Array(1000).fill(0x01)) }));
    await host.loadFails(
      rawGuest({ extra }),
      { code: 'WR_MODULE_LIMIT', details: { limit: 'codeBytes', max: 20_000 } },
      {
        limits: { codeBytes: 20_000 },
      },
    );
  });

  it('4 billion locals in one group, and 10,001 across groups, are WR_MODULE_LIMIT localsPerFunction', async () => {
    await host.loadFails(rawGuest({ extra: [{ body: body([[0xffffffff, 0x7f]], []) }] }), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'localsPerFunction', max: LIMITS.localsPerFunction },
    });
    const groups: Array<[number, number]> = Array.from({ length: 10_001 }, (_, i) => [1, i % 2 === 0 ? 0x7f : 0x7e]);
    await host.loadFails(rawGuest({ extra: [{ body: body(groups, []) }] }), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'localsPerFunction', value: 10_001 },
    });
  });

  it('1,001 nested blocks are WR_MODULE_LIMIT blockDepth (also through loop, if and try_table)', async () => {
    // Raw bytes: wabt's text parser is the one that chokes on deep nesting.
    const depth = LIMITS.blockDepth + 1;
    const openers = [
      [0x02, 0x40],
      [0x03, 0x40],
      [0x41, 0x01, 0x04, 0x40],
      [0x1f, 0x40, 0x00],
    ];
    for (const open of openers) {
      const code = bytes(...Array.from({ length: depth }, () => open), new Uint8Array(depth - 1).fill(0x0b));
      await host.loadFails(rawGuest({ extra: [{ body: body([], code) }] }), {
        code: 'WR_MODULE_LIMIT',
        details: { limit: 'blockDepth', value: depth, max: LIMITS.blockDepth },
      });
    }
  });

  it('a br_table of 10,001 labels is WR_MODULE_LIMIT brTableLabels', async () => {
    await host.loadFails(
      guest({ extra: `(func (block (br_table ${'0 '.repeat(LIMITS.brTableLabels + 1)}(i32.const 0))))` }),
      {
        code: 'WR_MODULE_LIMIT',
        details: { limit: 'brTableLabels', value: LIMITS.brTableLabels + 1, max: LIMITS.brTableLabels },
      },
    );
  });

  it('a br_table declaring 4 billion labels in a few bytes is WR_MODULE_LIMIT brTableLabels', async () => {
    const code = bytes(0x02, 0x40, 0x41, 0x00, 0x0e, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0x0b);
    await host.loadFails(rawGuest({ extra: [{ body: body([], code) }] }), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'brTableLabels', max: LIMITS.brTableLabels },
    });
  });

  it('1,001 imports of a valid host function are WR_MODULE_LIMIT imports', async () => {
    const imports = Array.from({ length: LIMITS.imports + 1 }, () => bytes(str('wr'), str('now_ms'), 0x00, u32(0)));
    await host.loadFails(raw(section(1, vec([bytes(0x60, 0, 1, 0x7c)])), section(2, vec(imports))), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'imports', value: LIMITS.imports + 1 },
    });
  });

  it('10,001 exports are WR_MODULE_LIMIT exports', async () => {
    // The guest already exports memory and four functions.
    const extra = Array.from({ length: LIMITS.exports + 1 - 5 }, (_, i) => `(export "e${i}" (func 0))`).join(' ');
    await host.loadFails(guest({ extra }), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'exports', value: LIMITS.exports + 1 },
    });
  });

  it('1,001 exception tags are WR_MODULE_LIMIT tags', async () => {
    await host.loadFails(guest({ extra: '(tag) '.repeat(LIMITS.tags + 1) }), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'tags', value: LIMITS.tags + 1 },
    });
  });

  it('an empty module of 8 bytes plus noise custom sections loads nothing but fails cleanly', async () => {
    // A custom section as large as the limit allows, and no exports: refused for the marker, not for memory.
    const payload = new Uint8Array(LIMITS.moduleBytes - 64);
    const content = bytes(str('x'), payload);
    await host.loadFails(bytes(HEADER, 0x00, u32(content.length), content), {
      code: 'WR_MODULE_ABI_VERSION',
      details: { declared: [] },
    });
  });
});
