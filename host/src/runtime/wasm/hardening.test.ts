// Tests the defences around instrumentation: nothing it appends is reachable from the guest, refused
// features, module-shape limits, instantiation cost, the start export and stripped custom sections.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import wabtInit from 'wabt';
import { WABT_ALL_FEATURES } from '../../../../test/fixtures/guests/wat.ts';
import { FUEL_GLOBAL_EXPORT, START_EXPORT } from '../../abi/constants.ts';
import { type ErrorCode, isWrError } from '../../errors.ts';
import {
  DEFAULT_MODULE_LIMITS,
  inspectModule,
  instrumentModule,
  type ModuleLimits,
  NAME_SECTION_MAX_BYTES,
} from './index.ts';

const wabt = await wabtInit();

/** Compiles WAT without wabt's validation, so out-of-range indices reach the binary as written. */
function wat(src: string): Uint8Array<ArrayBuffer> {
  const mod = wabt.parseWat('t.wat', src, WABT_ALL_FEATURES);
  try {
    return Uint8Array.from(mod.toBinary({ write_debug_names: true }).buffer);
  } finally {
    mod.destroy();
  }
}

const REFUSED: ErrorCode[] = ['WR_MODULE_MALFORMED', 'WR_MODULE_UNSUPPORTED', 'WR_MODULE_LIMIT'];

/** Instruments, or returns the typed refusal; anything else fails the test. */
function attempt(bytes: Uint8Array, limits?: ModuleLimits) {
  try {
    return { out: instrumentModule(bytes, { memoryMaxPages: 1, initialFuel: 10_000, limits }) };
  } catch (err) {
    assert.ok(isWrError(err) && REFUSED.includes(err.code), String(err));
    return { refused: err };
  }
}

type Exports = Record<string, unknown> & { [FUEL_GLOBAL_EXPORT]: WebAssembly.Global };

function instantiate(bytes: Uint8Array<ArrayBuffer>): Exports {
  const imports = {
    env: { g: new WebAssembly.Global({ value: 'i32', mutable: true }, 0), f: () => {} },
  };
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), imports).exports as Exports;
}

/** Runs `fn` with 10,000 fuel and asserts it ran out, which it cannot if it reset the counter. */
function assertOutOfFuel(exports: Exports, fn: () => unknown, what: string): void {
  exports[FUEL_GLOBAL_EXPORT].value = 10_000;
  assert.throws(fn, WebAssembly.RuntimeError, what);
  assert.ok((exports[FUEL_GLOBAL_EXPORT].value as number) < 0, `${what}: fuel ${exports[FUEL_GLOBAL_EXPORT].value}`);
}

// G = 3 globals (one imported) and F = 4 functions (one imported, $leaf gets a twin), so the fuel global
// is index 3 and the first twin index 4.
const G = 3;
const F = 4;
function shifted(body: string, extra = ''): string {
  return `(module
    (import "env" "g" (global (mut i32)))
    (import "env" "f" (func))
    (global (mut i32) (i32.const 0))
    (global (mut i32) (i32.const 0))
    (table 8 funcref)
    (func $leaf (global.set 1 (i32.const 7)))
    (func $other (call $leaf))
    (func (export "run") (local $i i32)
      (loop $l
        ${body}
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 100000)))))
    ${extra})`;
}

describe('instrumented state is out of the guest reach', () => {
  for (let i = 0; i <= G + 2; i++) {
    it(`global.get and global.set of global ${i} (${G} globals) are refused or cannot touch the fuel`, () => {
      for (const body of [`(global.set ${i} (i32.const 1000000))`, `(drop (global.get ${i}))`]) {
        const r = attempt(wat(shifted(body)));
        if (i >= G) assert.ok(r.refused, `${body} was accepted`);
        if (!r.out) continue;
        const exports = instantiate(r.out.bytes);
        assertOutOfFuel(exports, () => (exports.run as () => void)(), body);
      }
    });
  }

  for (let i = 0; i <= F + 3; i++) {
    it(`every way of naming function ${i} (${F} functions) is refused, or names an original`, () => {
      const cases = [
        shifted(`(call ${i})`),
        shifted(`(drop (ref.func ${i}))`, `(elem declare func ${i})`),
        shifted(`(call_indirect (i32.const 0))`, `(elem (i32.const 0) func ${i})`),
        shifted(`(call_indirect (i32.const 0))`, `(elem (i32.const 0) funcref (ref.func ${i}))`),
        shifted('', `(export "e" (func ${i}))`),
        shifted('', `(start ${i})`),
        shifted('', `(global funcref (ref.func ${i}))`),
      ];
      for (const [k, src] of cases.entries()) {
        const r = attempt(wat(src));
        if (i >= F) assert.ok(r.refused, `case ${k} was accepted`);
        if (!r.out) continue;
        const exports = instantiate(r.out.bytes);
        const start = exports[START_EXPORT] as (() => void) | undefined;
        // The start function may be `run` itself, which must then run out of its initial fuel.
        if (start !== undefined && i === 3) assertOutOfFuel(exports, start, 'start');
        else start?.();
        if (i === 0) continue; // the import: calls pay nothing for it, and the loop itself still runs out
        assertOutOfFuel(exports, () => (exports.run as () => void)(), `case ${k}`);
        if (typeof exports.e === 'function') {
          const e = exports.e as () => void;
          assertOutOfFuel(
            exports,
            () => {
              for (let n = 0; n < 100_000; n++) e();
            },
            'export',
          );
        }
      }
    });
  }

  it('an exported global is never the fuel global', () => {
    for (let i = 0; i <= G + 1; i++) {
      const r = attempt(wat(shifted('', `(export "x" (global ${i}))`)));
      if (i >= G) assert.ok(r.refused, `export of global ${i} was accepted`);
      if (r.out) {
        const exports = instantiate(r.out.bytes);
        assert.notEqual(exports.x, exports[FUEL_GLOBAL_EXPORT]);
      }
    }
  });

  it('refuses constant expressions naming the fuel global or a twin', () => {
    for (const extra of [
      `(global i32 (global.get ${G}))`,
      `(data (global.get ${G}) "x") (memory 1)`,
      `(elem (global.get ${G}) func 1)`,
      `(elem declare funcref (ref.func ${F}))`,
    ]) {
      assert.ok(attempt(wat(shifted('', extra))).refused, extra);
    }
  });
});

describe('feature list', () => {
  const refused: Array<[string, string]> = [
    ['atomics', '(memory 1) (func (drop (i32.atomic.load (i32.const 0))))'],
    ['atomic.fence', '(func (atomic.fence))'],
    ['return_call', '(func $f (return_call $f))'],
    ['return_call_indirect', '(table 1 funcref) (func (return_call_indirect (i32.const 0)))'],
  ];
  for (const [what, body] of refused) {
    it(`refuses ${what} as WR_MODULE_UNSUPPORTED with the offset`, () => {
      const bytes = wat(`(module ${body})`);
      assert.equal(WebAssembly.validate(bytes), true, 'V8 accepts it');
      assert.throws(
        () => instrumentModule(bytes, { memoryMaxPages: 1 }),
        (err: unknown) => isWrError(err, 'WR_MODULE_UNSUPPORTED') && typeof err.details?.offset === 'number',
      );
    });
  }
});

describe('module limits', () => {
  const tiny = (limit: keyof ModuleLimits, max: number): ModuleLimits => ({ ...DEFAULT_MODULE_LIMITS, [limit]: max });
  const cases: Array<[keyof ModuleLimits, number, string, number]> = [
    ['types', 1, '(type (func)) (type (func (param i32)))', 2],
    ['imports', 1, '(import "a" "b" (func)) (import "a" "c" (func))', 2],
    ['exports', 1, '(func (export "a")) (func (export "b"))', 2],
    ['functions', 2, '(import "a" "b" (func)) (func) (func)', 3],
    ['globals', 1, '(import "a" "b" (global i32)) (global i32 (i32.const 0))', 2],
    ['tables', 1, '(table 1 funcref) (table 1 funcref)', 2],
    ['tableElements', 10, '(table 4 funcref) (table 7 funcref)', 11],
    ['tags', 1, '(tag) (tag)', 2],
    ['localsPerFunction', 3, '(func (param i32 i32) (local i32 i32))', 4],
    ['blockDepth', 2, '(func (block (loop (block))))', 3],
    ['brTableLabels', 3, '(func (block (br_table 0 0 0 0 (i32.const 0))))', 4],
    ['dataSegments', 1, '(memory 1) (data (i32.const 0) "a") (data (i32.const 1) "b")', 2],
    ['dataBytes', 3, '(memory 1) (data (i32.const 0) "ab") (data (i32.const 1) "cd")', 4],
    ['elementSegments', 1, '(table 2 funcref) (func $f) (elem (i32.const 0) $f) (elem (i32.const 1) $f)', 2],
    ['elementEntries', 2, '(table 3 funcref) (func $f) (elem (i32.const 0) $f $f $f)', 3],
  ];
  for (const [limit, max, body, value] of cases) {
    it(`refuses a module over ${limit} with WR_MODULE_LIMIT`, () => {
      const bytes = wat(`(module ${body})`);
      assert.throws(
        () => instrumentModule(bytes, { memoryMaxPages: 1, limits: tiny(limit, max) }),
        (err: unknown) => {
          assert.ok(isWrError(err, 'WR_MODULE_LIMIT'), String(err));
          assert.deepEqual(err.details, { limit, value, max });
          return true;
        },
      );
      assert.doesNotThrow(() => instrumentModule(bytes, { memoryMaxPages: 1, limits: tiny(limit, value) }));
    });
  }

  it('refuses body and code sizes over their limits', () => {
    const bytes = wat('(module (func (drop (i32.const 1)) (drop (i32.const 2))))');
    for (const limit of ['functionBodyBytes', 'codeBytes'] as const) {
      assert.throws(
        () => instrumentModule(bytes, { memoryMaxPages: 1, limits: tiny(limit, 4) }),
        (err: unknown) => isWrError(err, 'WR_MODULE_LIMIT') && err.details?.limit === limit,
      );
    }
  });

  it('refuses a 10M-entry table with the defaults, before V8 sees it', () => {
    const bytes = wat('(module (table 10000000 funcref))');
    assert.throws(
      () => instrumentModule(bytes, { memoryMaxPages: 1 }),
      (err: unknown) => isWrError(err, 'WR_MODULE_LIMIT') && err.details?.limit === 'tableElements',
    );
  });

  it('caps every table maximum, so table.grow past the cap fails with -1', () => {
    const src = `(module (table $a 2 funcref) (table $b 1 1000000 funcref) (table $c 1 3 funcref)
      (func (export "grow") (param i32) (result i32) (table.grow $a (ref.null func) (local.get 0)))
      (func (export "growB") (param i32) (result i32) (table.grow $b (ref.null func) (local.get 0))))`;
    const out = instrumentModule(wat(src), { memoryMaxPages: 1, limits: tiny('tableElements', 10) });
    assert.equal(WebAssembly.validate(out.bytes), true);
    const exports = instantiate(out.bytes);
    exports[FUEL_GLOBAL_EXPORT].value = 1_000_000;
    assert.equal((exports.grow as (n: number) => number)(8), 2);
    assert.equal((exports.grow as (n: number) => number)(1), -1);
    assert.equal((exports.growB as (n: number) => number)(10), -1);
    assert.equal((exports.growB as (n: number) => number)(9), 1);
  });
});

describe('instantiation cost', () => {
  it('charges active data and element segments from the initial fuel', () => {
    const src = `(module (memory 1) (table 4 funcref) (func $f)
      (data (i32.const 0) "${'a'.repeat(800)}") (data "passive")
      (elem (i32.const 0) $f $f $f) (elem func $f))`;
    const out = instrumentModule(wat(src), { memoryMaxPages: 1, initialFuel: 10_000 });
    assert.equal(out.initFuel, 16 + 100 + 128 + 3 * 32);
    assert.equal(instantiate(out.bytes)[FUEL_GLOBAL_EXPORT].value, 10_000 - out.initFuel);
    assert.throws(
      () => instrumentModule(wat(src), { memoryMaxPages: 1, initialFuel: out.initFuel - 1 }),
      (err: unknown) => isWrError(err, 'WR_MODULE_LIMIT') && err.details?.limit === 'fuel',
    );
  });
});

describe('custom sections', () => {
  /** Appends a custom section `name` with `size` payload bytes. */
  function withCustom(bytes: Uint8Array, name: string, size: number): Uint8Array<ArrayBuffer> {
    const n = new TextEncoder().encode(name);
    const content = 1 + n.length + size;
    const leb: number[] = [];
    for (let v = content; ; ) {
      const b = v & 0x7f;
      v >>>= 7;
      leb.push(v === 0 ? b : b | 0x80);
      if (v === 0) break;
    }
    const out = new Uint8Array(bytes.length + 1 + leb.length + content);
    out.set(bytes);
    out.set([0, ...leb, n.length, ...n], bytes.length);
    return out;
  }

  it('drops every custom section but name, and describes the original', () => {
    const bytes = withCustom(wat('(module (func $f))'), 'big', 4 * 1024 * 1024);
    const out = instrumentModule(bytes, { memoryMaxPages: 1 });
    assert.deepEqual(out.info.customSections, ['name', 'big']);
    assert.deepEqual(inspectModule(out.bytes).customSections, ['name']);
    assert.ok(out.bytes.length < 1024, `${out.bytes.length} bytes`);
    assert.ok(out.bytes.buffer.byteLength < 4096, 'the output does not sit in an input-sized buffer');
  });

  it('drops a name section over the cap', () => {
    const plain = wabt.parseWat('t.wat', '(module (func))', {});
    const bare = Uint8Array.from(plain.toBinary({}).buffer);
    plain.destroy();
    const out = instrumentModule(withCustom(bare, 'name', NAME_SECTION_MAX_BYTES + 1), { memoryMaxPages: 1 });
    assert.deepEqual(inspectModule(out.bytes).customSections, []);
  });
});
