// Tests fuel metering and the memory cap on WAT guests compiled with wabt, run in V8.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import wabtInit from 'wabt';
import { WABT_ALL_FEATURES } from '../../../../test/fixtures/guests/wat.ts';
import { DEPTH_GLOBAL_EXPORT, FUEL_GLOBAL_EXPORT, START_EXPORT } from '../../abi/constants.ts';
import { isWrError } from '../../errors.ts';
import { DEFAULT_MODULE_LIMITS, inspectModule, instrumentModule, instrumentModuleBesideV8 } from './index.ts';

const wabt = await wabtInit();

function wat(
  src: string,
  features: Record<string, boolean> = WABT_ALL_FEATURES,
  names = true,
): Uint8Array<ArrayBuffer> {
  const mod = wabt.parseWat('test.wat', src, features);
  try {
    return Uint8Array.from(mod.toBinary({ write_debug_names: names }).buffer);
  } finally {
    mod.destroy();
  }
}

type Exports = Record<string, unknown> & { [FUEL_GLOBAL_EXPORT]: WebAssembly.Global };

function instantiate(bytes: Uint8Array<ArrayBuffer>, imports: WebAssembly.Imports = {}): Exports {
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), imports).exports as Exports;
}

function metered(src: string, maxPages = 16): { exports: Exports; fuel: WebAssembly.Global } {
  const out = instrumentModule(wat(src), { memoryMaxPages: maxPages });
  assert.equal(WebAssembly.validate(out.bytes), true);
  const exports = instantiate(out.bytes);
  return { exports, fuel: exports[FUEL_GLOBAL_EXPORT] };
}

function call<T>(exports: Exports, name: string, ...args: unknown[]): T {
  return (exports[name] as (...a: unknown[]) => T)(...args);
}

function assertTrapsOutOfFuel(fn: () => unknown, fuel: WebAssembly.Global): void {
  assert.throws(fn, (err: unknown) => err instanceof WebAssembly.RuntimeError);
  assert.ok((fuel.value as number) < 0, `fuel ${fuel.value} should be negative after exhaustion`);
}

/** Splits a module into its sections' raw bytes, to show which ones the rewrite left untouched. */
function sections(bytes: Uint8Array): Array<{ id: number; raw: string }> {
  const out: Array<{ id: number; raw: string }> = [];
  let p = 8;
  while (p < bytes.length) {
    const start = p;
    const id = bytes[p++]!;
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[p++]!;
      size |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
    }
    p += size;
    out.push({ id, raw: Buffer.from(bytes.subarray(start, p)).toString('hex') });
  }
  return out;
}

describe('fuel metering', () => {
  it('traps a loop that never ends once fuel runs out, at the same point every run', () => {
    for (let run = 0; run < 3; run++) {
      const { exports, fuel } = metered(`(module (func (export "spin") (loop $l (br $l))))`);
      fuel.value = 10_000;
      assertTrapsOutOfFuel(() => call(exports, 'spin'), fuel);
      // Entry pays 2 (loop, end); every iteration pays 2 (br, end): 9998 is spent down to 0, then -2.
      assert.equal(fuel.value, -2);
    }
  });

  it('charges an exact, input-determined amount for a counted loop', () => {
    const { exports, fuel } = metered(`(module
      (func (export "count") (param $n i32) (result i32) (local $i i32)
        block $done
          loop $l
            local.get $i
            local.get $n
            i32.ge_u
            br_if $done
            local.get $i
            i32.const 1
            i32.add
            local.set $i
            br $l
          end
        end
        local.get $i))`);
    for (const n of [0, 1, 10, 1000]) {
      fuel.value = 1_000_000;
      assert.equal(call(exports, 'count', n), n);
      // Entry level: block, loop, end(block), local.get, end(func) = 5. Loop level: 10 per iteration,
      // n + 1 iterations (the last one leaves through br_if).
      assert.equal(fuel.value, 1_000_000 - 5 - 10 * (n + 1));
    }
  });

  it('charges nested loops per level', () => {
    const { exports, fuel } = metered(`(module
      (func (export "grid") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $acc i32)
        loop $outer
          i32.const 0
          local.set $j
          loop $inner
            local.get $acc
            i32.const 1
            i32.add
            local.set $acc
            local.get $j
            i32.const 1
            i32.add
            local.tee $j
            local.get $n
            i32.lt_u
            br_if $inner
          end
          local.get $i
          i32.const 1
          i32.add
          local.tee $i
          local.get $n
          i32.lt_u
          br_if $outer
        end
        local.get $acc))`);
    const n = 7;
    fuel.value = 100_000;
    assert.equal(call(exports, 'grid', n), n * n);
    // Entry: loop, local.get, end = 3. Outer: const, set, loop, get, const, add, tee, get, lt_u, br_if, end = 11.
    // Inner: get, const, add, set, get, const, add, tee, get, lt_u, br_if, end = 12.
    assert.equal(fuel.value, 100_000 - 3 - n * 11 - n * n * 12);
  });

  it('charges a function entry per call, so deep recursion runs out of fuel too', () => {
    const { exports, fuel } = metered(`(module
      (func $f (export "fib") (param $n i32) (result i32)
        (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
          (then (local.get $n))
          (else (i32.add
            (call $f (i32.sub (local.get $n) (i32.const 1)))
            (call $f (i32.sub (local.get $n) (i32.const 2))))))))`);
    fuel.value = 1_000_000;
    assert.equal(call(exports, 'fib', 15), 610);
    // The body is 17 instructions (no loop, so the entry pays for both arms). Its recursive calls go to
    // a depth-1 twin whose calls go to a depth-2 twin whose calls come back to the checked original, so
    // the original's entry prepays both twin levels below it: 17 + 2 * (17 + 2 * 17) = 119, paid by the
    // calls at depth 0, 3, 6, ... of the call tree.
    const checkedCalls = (n: number, depth = 0): number =>
      (depth % 3 === 0 ? 1 : 0) + (n < 2 ? 0 : checkedCalls(n - 1, depth + 1) + checkedCalls(n - 2, depth + 1));
    assert.equal(checkedCalls(15), 645); // of the 1973 calls of fib(15)
    assert.equal(fuel.value, 1_000_000 - 119 * checkedCalls(15));
    fuel.value = 1000;
    assertTrapsOutOfFuel(() => call(exports, 'fib', 25), fuel);
  });

  it('bounds recursion through prepaid twins: endless self, mutual and in-loop recursion run out of fuel', () => {
    const { exports, fuel } = metered(`(module
      (func $self (export "self") (call $self))
      (func $a (export "mutual") (call $b))
      (func $b (call $c))
      (func $c (call $a))
      (func $spin (export "inLoop") (local $i i32)
        (loop $l (call $spin) (br_if $l (i32.eqz (local.get $i))))))`);
    // 1,000 fuel is far fewer frames than the depth budget holds, so fuel, not the depth, must stop each one.
    for (const name of ['self', 'mutual', 'inLoop']) {
      fuel.value = 1_000;
      assertTrapsOutOfFuel(() => call(exports, name), fuel);
    }
  });

  it('prepays small non-leaf callees two twins deep, and every other way in stays checked', () => {
    const src = `(module
      (table 1 funcref)
      (elem (i32.const 0) $mid)
      (type $t (func (param i32) (result i32)))
      (func $leaf (param $x i32) (result i32) (i32.add (local.get $x) (i32.const 1)))
      (func $inner (export "inner") (param $x i32) (result i32) (call $leaf (local.get $x)))
      (func $mid (export "mid") (param $x i32) (result i32) (call $inner (local.get $x)))
      (func $top (export "top") (param $x i32) (result i32) (call $mid (local.get $x)))
      (func (export "viaTable") (param $x i32) (result i32) (call_indirect (type $t) (local.get $x) (i32.const 0))))`;
    const input = wat(src);
    const out = instrumentModule(input, { memoryMaxPages: 1 });
    // Twins: $leaf's, $inner's (its entry enters only a leaf: one body for both depths), and $mid's at
    // depth 1, whose call of $inner goes to the depth-2 twin, here the same as depth 1.
    const before = inspectModule(input).functionTypeIndices.length;
    assert.equal(inspectModule(out.bytes).functionTypeIndices.length, before + 3);
    const plain = instantiate(input);
    const exports = instantiate(out.bytes);
    const fuel = exports[FUEL_GLOBAL_EXPORT];
    const spent = (name: string): number => {
      fuel.value = 1_000_000;
      assert.equal(call(exports, name, 5), call(plain, name, 5), name);
      return 1_000_000 - (fuel.value as number);
    };
    // $leaf is 4 (local.get, i32.const, i32.add, end). $inner: local.get, call, end = 3 plus its leaf.
    assert.equal(spent('inner'), 3 + 4);
    // $mid's entry prepays $inner's twin (7); $top's prepays $mid's depth-1 twin (3 + 7) with it.
    assert.equal(spent('mid'), 3 + 7);
    assert.equal(spent('top'), 3 + 3 + 7);
    // The table names the checked original: local.get, i32.const, call_indirect, end, then $mid's 10.
    assert.equal(spent('viaTable'), 4 + 10);
    for (let i = 0; i < 3; i++) assert.equal(spent('top'), 13, 'same input, same fuel');
  });

  it('keeps large non-leaf bodies checked, however cheap their entry: a twin is only made of a small helper', () => {
    const filler = Array.from({ length: 200 }, (_, i) => `(local.set $x (i32.add (local.get $x) (i32.const ${i})))`);
    const src = `(module
      (func $big (param $x i32) (result i32)
        (loop $l ${filler.join(' ')} (br_if $l (i32.eqz (local.get $x)))) (local.get $x))
      (func (export "run") (param $x i32) (result i32) (call $big (local.get $x))))`;
    const input = wat(src);
    const out = instrumentModule(input, { memoryMaxPages: 1 });
    assert.equal(inspectModule(out.bytes).functionTypeIndices.length, inspectModule(input).functionTypeIndices.length);
  });

  it('prepays direct calls to small leaves in the caller, and keeps the leaf checked everywhere else', () => {
    const src = `(module (memory (export "memory") 1)
      (type $t (func (param i32) (result i32)))
      (table 1 funcref)
      (elem (i32.const 0) $inc)
      (func $inc (export "inc") (param $i i32) (result i32) (i32.add (local.get $i) (i32.const 1)))
      (func $zero (export "zero") (param $p i32) (memory.fill (local.get $p) (i32.const 0xff) (i32.const 32)))
      (func (export "sum") (param $n i32) (result i32) (local $acc i32)
        loop $l
          local.get $acc local.get $n call $inc i32.add local.set $acc
          local.get $n i32.const 1 i32.sub local.tee $n
          br_if $l
        end
        local.get $acc)
      (func (export "viaTable") (param $i i32) (result i32) (call_indirect (type $t) (local.get $i) (i32.const 0)))
      (func (export "wipe") (call $zero (i32.const 64))))`;
    const input = wat(src);
    const out = instrumentModule(input, { memoryMaxPages: 1 });
    // One twin each for $inc and $zero, declared after every existing function; exports keep their indices.
    const before = inspectModule(input);
    const after = inspectModule(out.bytes);
    assert.equal(after.functionTypeIndices.length, before.functionTypeIndices.length + 2);
    assert.deepEqual(
      after.exports.filter((e) => e.name !== FUEL_GLOBAL_EXPORT && e.name !== DEPTH_GLOBAL_EXPORT),
      before.exports,
    );
    const plain = instantiate(input);
    const exports = instantiate(out.bytes);
    const fuel = exports[FUEL_GLOBAL_EXPORT];
    const spent = (name: string, arg?: number): number => {
      fuel.value = 1_000_000;
      assert.equal(call(exports, name, arg), call(plain, name, arg), name);
      return 1_000_000 - (fuel.value as number);
    };
    // $inc is local.get, i32.const, i32.add, end = 4 wherever it is entered through its own index.
    assert.equal(spent('inc', 5), 4);
    // call_indirect reaches the checked original: local.get, i32.const, call_indirect, end, then 4.
    assert.equal(spent('viaTable', 5), 4 + 4);
    // sum: entry loop, local.get, end = 3; each iteration 11 instructions plus the 4 of $inc, prepaid.
    for (const n of [1, 10, 100]) assert.equal(spent('sum', n), 3 + 15 * n);
    // $zero: local.get, i32.const, i32.const, memory.fill, end = 5, then 127 + 32 / 8 at the fill. Its
    // twin keeps the fill's charge: wipe pays i32.const, call, end and the prepaid 5, then 131.
    assert.equal(spent('zero', 0), 5 + 131);
    assert.equal(spent('wipe'), 3 + 5 + 131);
    assert.equal(new Uint8Array((exports.memory as WebAssembly.Memory).buffer)[64 + 31], 0xff);
  });

  it('keeps br_table dispatch and multi-value blocks working inside metered loops', () => {
    const src = `(module
      (type $pair (func (result i32 i32)))
      (func (export "classify") (param $n i32) (result i32) (local $i i32) (local $sum i32)
        loop $l
          block $c2 block $c1 block $c0
            local.get $i
            i32.const 3
            i32.rem_u
            br_table $c0 $c1 $c2
          end
          local.get $sum i32.const 1 i32.add local.set $sum
          br 1
          end
          local.get $sum i32.const 10 i32.add local.set $sum
          br 0
          end
          local.get $sum i32.const 100 i32.add local.set $sum
          block (type $pair) (i32.const 2) (i32.const 3) end
          i32.mul
          local.get $sum
          i32.add
          local.set $sum
          local.get $i i32.const 1 i32.add local.tee $i
          local.get $n
          i32.lt_u
          br_if $l
        end
        local.get $sum)
      (func (export "sumTo") (param $n i32) (result i32)
        i32.const 0
        local.get $n
        loop (param i32 i32) (result i32)
          local.tee $n
          i32.add
          local.get $n
          i32.const 1
          i32.sub
          local.tee $n
          local.get $n
          br_if 0
          drop
        end))`;
    const plain = instantiate(wat(src));
    const { exports, fuel } = metered(src);
    for (const n of [1, 2, 3, 50]) {
      fuel.value = 1_000_000;
      assert.equal(call(exports, 'classify', n), call(plain, 'classify', n));
      const spent = 1_000_000 - (fuel.value as number);
      fuel.value = 1_000_000;
      call(exports, 'classify', n);
      assert.equal(1_000_000 - (fuel.value as number), spent, 'same input, same fuel');
      assert.equal(call(exports, 'sumTo', n), (n * (n + 1)) / 2);
    }
  });

  it('decodes post-MVP instructions (SIMD, bulk memory, sat/sign-ext, ref types, EH)', () => {
    const src = `(module
      (memory (export "memory") 1)
      (table $t 4 funcref)
      (data $d "abcdefgh")
      (elem declare func $id)
      (tag $e (param i32))
      (func $id (param i32) (result i32) (local.get 0))
      (func (export "simd") (result i32)
        (v128.store (i32.const 16) (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
          (v128.const i32x4 1 2 3 4) (v128.const i32x4 5 6 7 8)))
        (i32x4.extract_lane 3
          (v128.load32_lane 1 (i32.const 16) (i32x4.add (v128.load (i32.const 16)) (i32x4.splat (i32.const 10))))))
      (func (export "bulk") (result i32)
        (memory.init $d (i32.const 100) (i32.const 0) (i32.const 8))
        (data.drop $d)
        (memory.copy (i32.const 200) (i32.const 100) (i32.const 8))
        (memory.fill (i32.const 204) (i32.const 0x7a) (i32.const 2))
        (i32.add (i32.load8_u (i32.const 205)) (i32.load8_s (i32.const 200))))
      (func (export "numeric") (result i32)
        (i32.add (i32.trunc_sat_f64_s (f64.const 1e300)) (i32.extend8_s (i32.const 0xff))))
      (func (export "refs") (result i32)
        (drop (table.grow $t (ref.null func) (i32.const 2)))
        (table.set $t (i32.const 1) (ref.func $id))
        (table.fill $t (i32.const 2) (ref.null func) (i32.const 1))
        (i32.add (table.size $t)
          (select (result i32) (i32.const 1) (i32.const 2) (ref.is_null (table.get $t (i32.const 1))))))
      (func (export "eh") (result i32)
        (try (result i32)
          (do (try (result i32) (do (throw $e (i32.const 7))) (delegate 0)))
          (catch $e (i32.add (i32.const 1)))
          (catch_all (i32.const -1)))))`;
    const plain = instantiate(wat(src));
    const { exports, fuel } = metered(src);
    for (const name of ['simd', 'bulk', 'numeric', 'refs', 'eh']) {
      fuel.value = 10_000;
      assert.equal(call(exports, name), call(plain, name), name);
      assert.ok((fuel.value as number) < 10_000, `${name} spent fuel`);
    }
  });

  it('decodes try_table (exnref exception handling)', () => {
    // wabt cannot write try_table, so this body is hand-encoded:
    // (func (result i32) (block (try_table (catch_all 0) (throw $e (i32.const 1)))) (i32.const 5))
    const bytes = Uint8Array.from([
      ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
      ...[0x01, 0x09, 0x02, 0x60, 0x00, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x00], // types: ()->i32, (i32)->()
      ...[0x03, 0x02, 0x01, 0x00], // one function of type 0
      ...[0x0d, 0x03, 0x01, 0x00, 0x01], // one tag of type 1
      ...[0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00], // export "f"
      ...[0x0a, 0x13, 0x01, 0x11, 0x00],
      ...[0x02, 0x40, 0x1f, 0x40, 0x01, 0x02, 0x00, 0x41, 0x01, 0x08, 0x00, 0x0b, 0x0b, 0x41, 0x05, 0x0b],
    ]);
    assert.equal(WebAssembly.validate(bytes), true);
    const out = instrumentModule(bytes, { memoryMaxPages: 1 });
    const exports = instantiate(out.bytes);
    exports[FUEL_GLOBAL_EXPORT].value = 1000;
    assert.equal(call(exports, 'f'), 5);
    // No loop: the entry pays for every instruction: block, try_table, i32.const, end, end, i32.const and
    // end cost 1 each, throw 256 (it allocates the exception and unwinds).
    assert.equal(exports[FUEL_GLOBAL_EXPORT].value, 1000 - 7 - 256);
  });

  it('appends the fuel global after imported and defined globals, leaving their indices alone', () => {
    const src = `(module
      (import "env" "g" (global $g i32))
      (global $h (mut i32) (i32.const 5))
      (func (export "read") (result i32) (i32.add (global.get $g) (global.get $h))))`;
    const out = instrumentModule(wat(src), { memoryMaxPages: 1, initialFuel: 77 });
    const g = new WebAssembly.Global({ value: 'i32', mutable: false }, 100);
    const exports = instantiate(out.bytes, { env: { g } });
    assert.equal(exports[FUEL_GLOBAL_EXPORT].value, 77);
    assert.equal(call(exports, 'read'), 105);
    const added = inspectModule(out.bytes).exports.find((e) => e.name === FUEL_GLOBAL_EXPORT);
    assert.deepEqual(added, { name: FUEL_GLOBAL_EXPORT, kind: 'global', index: 2 });
  });

  it('replaces the start section by an export of the original start function, metered on entry', () => {
    const src = `(module (global $n (mut i32) (i32.const 0))
      (func $s (global.set $n (i32.add (global.get $n) (i32.const 1))))
      (func (export "count") (result i32) (call $s) (global.get $n))
      (start $s))`;
    const out = instrumentModule(wat(src), { memoryMaxPages: 1, initialFuel: 1000 });
    assert.equal(out.hasStart, true);
    assert.equal(inspectModule(out.bytes).exports.find((e) => e.name === START_EXPORT)?.index, 0);
    assert.ok(!sections(out.bytes).some((s) => s.id === 8), 'no start section left');
    const exports = instantiate(out.bytes);
    // Instantiation ran nothing; the host calls the start export, which pays its own entry check.
    assert.equal(exports[FUEL_GLOBAL_EXPORT].value, 1000);
    call(exports, START_EXPORT);
    assert.ok((exports[FUEL_GLOBAL_EXPORT].value as number) < 1000);
    assert.equal(call(exports, 'count'), 2);
    assert.equal(instrumentModule(wat('(module (func))'), { memoryMaxPages: 1 }).hasStart, false);
  });

  it('runs a looping start function out of fuel once the host calls it', () => {
    const out = instrumentModule(wat(`(module (func $s (loop $l (br $l))) (start $s))`), {
      memoryMaxPages: 1,
      initialFuel: 1000,
    });
    const exports = instantiate(out.bytes);
    assertTrapsOutOfFuel(() => call(exports, START_EXPORT), exports[FUEL_GLOBAL_EXPORT]);
  });

  it('rewrites only the code, global, export and (when capped) memory sections', () => {
    const src = `(module
      (type $t (func (param i32) (result i32)))
      (import "env" "f" (func $imp (type $t)))
      (memory 1 2)
      (global (mut i32) (i32.const 1))
      (export "f" (func $f))
      (func $f (type $t) (call $imp (local.get 0)))
      (data (i32.const 0) "hi"))`;
    const input = wat(src);
    const out = instrumentModule(input, { memoryMaxPages: 4 });
    assert.equal(out.memoryPatched, false);
    const before = sections(input);
    const after = sections(out.bytes);
    assert.deepEqual(
      after.map((s) => s.id),
      before.map((s) => s.id),
    );
    for (let i = 0; i < before.length; i++) {
      const changed = [6, 7, 10].includes(before[i]!.id);
      assert.equal(after[i]!.raw === before[i]!.raw, !changed, `section ${before[i]!.id}`);
    }
    assert.ok(inspectModule(out.bytes).customSections.includes('name'));
    assert.deepEqual(out.info, inspectModule(input));
  });

  it('adds global and export sections in order when the module has none', () => {
    const input = wat(`(module (memory 1) (func) (data (i32.const 0) "x"))`);
    const out = instrumentModule(input, { memoryMaxPages: 4 });
    assert.deepEqual(
      sections(out.bytes).map((s) => s.id),
      [1, 3, 5, 6, 7, 10, 11, 0],
    );
    assert.equal(WebAssembly.validate(out.bytes), true);
    assert.equal(out.memoryPatched, true);
  });
});

describe('bulk operations', () => {
  it('stops a loop of 16 MiB fills after a bounded number of fills, with exact fuel', () => {
    const src = `(module (memory (export "memory") 256 256)
      (global $iters (export "iters") (mut i32) (i32.const 0))
      (func (export "fillLoop")
        loop $l
          global.get $iters i32.const 1 i32.add global.set $iters
          i32.const 0 i32.const 7 i32.const 16777216 memory.fill
          br $l
        end))`;
    const { exports, fuel } = metered(src, 256);
    fuel.value = 10_000_000;
    assertTrapsOutOfFuel(() => call(exports, 'fillLoop'), fuel);
    // Entry: loop, end = 2. Loop level: 4 for the counter, 3 constants, memory.fill, br, end = 10. Each
    // fill then pays the rest of its base (127) and 2^24 / 8 = 2_097_152 right before it runs.
    // 9_999_998 pays 4 whole iterations (2_097_289 each) and leaves 1_610_842; the 5th header leaves
    // 1_610_832, and the fill's 2_097_279 takes it below zero before a byte is written.
    assert.equal((exports.iters as WebAssembly.Global).value, 5);
    assert.equal(fuel.value, 1_610_832 - 2_097_279);
    assert.equal(new Uint8Array((exports.memory as WebAssembly.Memory).buffer)[16777215], 7, '4 fills ran');
  });

  it('charges each bulk operation its base cost plus its length, and computes the same results', () => {
    const src = `(module (memory (export "memory") 1 4)
      (table $t 8 32 funcref)
      (data $d "0123456789abcdef0123456789abcdef")
      (elem $e func $f $f $f)
      (func $f)
      (func (export "fill") (param $n i32) (memory.fill (i32.const 8) (i32.const 0x41) (local.get $n)))
      (func (export "copy") (param $n i32) (memory.copy (i32.const 100) (i32.const 8) (local.get $n)))
      (func (export "init") (param $n i32) (memory.init $d (i32.const 200) (i32.const 0) (local.get $n)))
      (func (export "tableFill") (param $n i32) (table.fill $t (i32.const 0) (ref.func $f) (local.get $n)))
      (func (export "tableInit") (param $n i32) (table.init $t $e (i32.const 1) (i32.const 0) (local.get $n)))
      (func (export "tableCopy") (param $n i32) (table.copy $t $t (i32.const 4) (i32.const 0) (local.get $n)))
      (func (export "tableGrow") (param $n i32) (result i32) (table.grow $t (ref.null func) (local.get $n)))
      (func (export "grow") (param $n i32) (result i32) (memory.grow (local.get $n)))
      (func (export "sum") (result i32) (local $i i32) (local $acc i32)
        (loop $l
          (local.set $acc (i32.add (local.get $acc) (i32.load8_u (local.get $i))))
          (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 512))))
        (i32.add (local.get $acc) (i32.mul (table.size $t) (i32.const 1000)))))`;
    const plain = instantiate(wat(src));
    const { exports, fuel } = metered(src, 4);
    // [export, argument, fuel spent]: the body's other instructions (one each), the bulk one's base cost,
    // and its length: bytes / 8, 32 per table element, 16384 per page (requests clamped to 65536).
    const cases: Array<[string, number, number]> = [
      ['fill', 100, 3 + 128 + 1 + 12],
      ['fill', 0, 3 + 128 + 1],
      ['copy', 31, 3 + 16 + 1 + 3],
      ['init', 32, 3 + 16 + 1 + 4],
      ['tableFill', 8, 3 + 32 + 1 + 8 * 32],
      ['tableInit', 3, 3 + 128 + 1 + 3 * 32],
      ['tableCopy', 4, 3 + 32 + 1 + 4 * 32],
      ['tableGrow', 2, 2 + 32 + 1 + 2 * 32], // ref.null, local.get: no third operand
      ['tableGrow', 0x7fffffff, 2 + 32 + 1 + 2 ** 24 * 32],
      ['grow', 2, 1 + 1024 + 1 + 2 * 16384],
      ['grow', -1, 1 + 1024 + 1 + 65536 * 16384],
    ];
    for (const [name, arg, spent] of cases) {
      fuel.value = 0x7fffffff;
      assert.equal(call(exports, name, arg), call(plain, name, arg), `${name}(${arg})`);
      assert.equal(0x7fffffff - (fuel.value as number), spent, `${name}(${arg})`);
    }
    fuel.value = 1_000_000;
    assert.equal(call(exports, 'sum'), call(plain, 'sum'));
    assert.ok(call<number>(exports, 'sum') > 0);
  });

  it('charges a bulk base cost only when the instruction runs, not on the arm not taken', () => {
    const { exports, fuel } = metered(`(module (memory 1 4)
      (func (export "ensure") (param $grow i32) (result i32)
        (if (result i32) (local.get $grow) (then (memory.grow (i32.const 1))) (else (i32.const 0)))))`);
    // local.get, if, i32.const, memory.grow, else, i32.const, end, end: 8 on every call.
    fuel.value = 100_000;
    assert.equal(call(exports, 'ensure', 0), 0);
    assert.equal(fuel.value, 100_000 - 8);
    fuel.value = 100_000;
    assert.equal(call(exports, 'ensure', 1), 1);
    assert.equal(fuel.value, 100_000 - 8 - 1023 - 16384);
  });

  it('traps before a bulk operation whose length the budget cannot pay, leaving memory untouched', () => {
    const src = `(module (memory (export "memory") 1 1)
      (func (export "fill") (param $n i32) (memory.fill (i32.const 0) (i32.const 1) (local.get $n))))`;
    const { exports, fuel } = metered(src, 1);
    fuel.value = 3 + 128 + 1 + 200;
    call(exports, 'fill', 1600); // exactly affordable: 1600 / 8 = 200
    assert.equal(fuel.value, 0);
    new Uint8Array((exports.memory as WebAssembly.Memory).buffer).fill(0);
    fuel.value = 3 + 128 + 1 + 199;
    assertTrapsOutOfFuel(() => call(exports, 'fill', 1600), fuel);
    assert.equal(fuel.value, -1);
    assert.equal(new Uint8Array((exports.memory as WebAssembly.Memory).buffer)[0], 0);
  });

  it('appends the length local after every existing local, even on a polymorphic stack', () => {
    const src = `(module (memory 1)
      (func (export "mix") (param $a i32) (param $b i64) (result i64) (local $c f32) (local $d i32) (local $e i64)
        (local.set $d (i32.add (local.get $a) (i32.const 5)))
        (local.set $e (i64.mul (local.get $b) (i64.const 3)))
        (memory.fill (i32.const 0) (local.get $d) (local.get $a))
        (i64.add (local.get $e) (i64.extend_i32_u (i32.load8_u (i32.const 0)))))
      (func (export "dead") (unreachable) (memory.copy) (unreachable)))`;
    const plain = instantiate(wat(src));
    const { exports, fuel } = metered(src);
    fuel.value = 1_000_000;
    assert.equal(call(exports, 'mix', 9, 7n), call(plain, 'mix', 9, 7n));
    assert.throws(() => call(exports, 'dead'), WebAssembly.RuntimeError);
  });

  it('appends its locals to a function with the most locals the default limits allow', () => {
    // The appended depth and length locals stay far below V8's 50,000: the frame bound (internal/frames.ts)
    // refuses a function long before, and the default limits allow 10,000.
    const locals = `(local ${'i32 '.repeat(DEFAULT_MODULE_LIMITS.localsPerFunction - 1)})`;
    const both = wat(
      `(module (memory 1) (func $f (param i32) ${locals} (memory.fill (i32.const 0) (i32.const 0) (i32.const 0)) (call $f (i32.const 0))))`,
    );
    assert.equal(WebAssembly.validate(instrumentModule(both, { memoryMaxPages: 1 }).bytes), true);
    const limits = { ...DEFAULT_MODULE_LIMITS, localsPerFunction: 50_000 };
    const most = wat(`(module (func (param i32) (local ${'i32 '.repeat(49_999)}) (drop (local.get 0))))`);
    assert.throws(
      () => instrumentModule(most, { memoryMaxPages: 1, limits }),
      (err: unknown) => isWrError(err, 'WR_MODULE_UNSUPPORTED') && /frame may take/.test(err.message),
    );
  });

  it('refuses 64-bit tables, whose lengths are i64', () => {
    const bytes = Uint8Array.from([
      ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
      ...[0x04, 0x04, 0x01, 0x70, 0x04, 0x01], // one funcref table, limits flags 0x04 (i64), min 1
    ]);
    assert.equal(WebAssembly.validate(bytes), true);
    assert.throws(
      () => instrumentModule(bytes, { memoryMaxPages: 1 }),
      (err: unknown) => isWrError(err, 'WR_MODULE_UNSUPPORTED'),
    );
  });
});

describe('memory cap', () => {
  it('patches a missing maximum so memory.grow fails past the cap', () => {
    const src = `(module (memory (export "memory") 1)
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`;
    const out = instrumentModule(wat(src), { memoryMaxPages: 3 });
    assert.equal(out.memoryPatched, true);
    assert.deepEqual(inspectModule(out.bytes).memories, [
      { min: 1, max: 3, shared: false, memory64: false, imported: false },
    ]);
    const exports = instantiate(out.bytes);
    assert.equal(call(exports, 'grow', 2), 1);
    assert.equal(call(exports, 'grow', 1), -1);
    assert.equal((exports.memory as WebAssembly.Memory).buffer.byteLength, 3 * 65536);
  });

  it('lowers a maximum above the cap and keeps one below it', () => {
    assert.equal(instrumentModule(wat('(module (memory 1 100))'), { memoryMaxPages: 8 }).memoryPatched, true);
    assert.equal(instrumentModule(wat('(module (memory 1 8))'), { memoryMaxPages: 8 }).memoryPatched, false);
    assert.equal(instrumentModule(wat('(module (func))'), { memoryMaxPages: 8 }).memoryPatched, false);
  });

  const rejected: Array<[string, Uint8Array]> = [
    ['a minimum above the cap', wat('(module (memory 9))')],
    ['shared memory', wat('(module (memory 1 2 shared))')],
    ['64-bit memory', wat('(module (memory i64 1))', { memory64: true })],
    ['an imported memory', wat('(module (import "env" "m" (memory 1)))')],
    [
      'two memories',
      Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x05, 0x02, 0x00, 0x01, 0x00, 0x01]),
    ],
  ];
  for (const [what, bytes] of rejected) {
    it(`rejects ${what} with WR_MODULE_MEMORY`, () => {
      assert.throws(
        () => instrumentModule(bytes, { memoryMaxPages: 8 }),
        (err: unknown) => isWrError(err, 'WR_MODULE_MEMORY'),
      );
    });
  }
});

describe('rejections', () => {
  it('refuses a guest that already exports a reserved name', () => {
    for (const bytes of [
      wat(`(module (global (export "${FUEL_GLOBAL_EXPORT}") (mut i32) (i32.const 0)))`),
      wat(`(module (func (export "${START_EXPORT}")))`),
    ]) {
      assert.throws(
        () => instrumentModule(bytes, { memoryMaxPages: 1 }),
        (err: unknown) => isWrError(err, 'WR_MODULE_RESERVED_EXPORT'),
      );
    }
  });

  it('reports an unknown opcode as malformed with its offset', () => {
    const good = wat('(module (func nop))', WABT_ALL_FEATURES, false);
    const at = good.lastIndexOf(0x01); // the nop
    const bad = Uint8Array.from(good);
    bad[at] = 0x27; // unassigned
    assert.throws(
      () => instrumentModule(bad, { memoryMaxPages: 1 }),
      (err: unknown) => isWrError(err, 'WR_MODULE_MALFORMED') && err.details?.offset === at,
    );
  });

  it('refuses GC and typed-function-reference instructions as unsupported', () => {
    const good = wat('(module (func nop))', WABT_ALL_FEATURES, false);
    const bad = Uint8Array.from(good);
    bad[good.lastIndexOf(0x01)] = 0xd4; // ref.as_non_null
    assert.throws(
      () => instrumentModule(bad, { memoryMaxPages: 1 }),
      (err: unknown) => isWrError(err, 'WR_MODULE_UNSUPPORTED'),
    );
  });

  it('rejects options outside their ranges as programming errors', () => {
    const bytes = wat('(module)');
    assert.throws(() => instrumentModule(bytes, { memoryMaxPages: 65537 }), RangeError);
    assert.throws(() => instrumentModule(bytes, { memoryMaxPages: 1.5 }), RangeError);
    assert.throws(() => instrumentModule(bytes, { memoryMaxPages: 1, initialFuel: -1 }), RangeError);
    assert.throws(() => instrumentModule(bytes, { memoryMaxPages: 1, initialFuel: 2 ** 31 }), RangeError);
  });

  it('throws WR_MODULE_MALFORMED for every truncation that is not a whole-section prefix', () => {
    const full = wat(`(module (memory 1) (global (mut i32) (i32.const 3))
      (func (export "f") (param i32) (result i32) (loop (br_if 0 (local.get 0))) (local.get 0)))`);
    const boundaries = new Set([8]);
    let p = 8;
    for (const s of sections(full)) {
      p += s.raw.length / 2;
      boundaries.add(p);
    }
    for (let cut = 0; cut < full.length; cut++) {
      const prefix = full.slice(0, cut);
      let result: Uint8Array<ArrayBuffer> | undefined;
      try {
        result = instrumentModule(prefix, { memoryMaxPages: 1 }).bytes;
      } catch (err) {
        assert.ok(isWrError(err, 'WR_MODULE_MALFORMED'), `cut at ${cut}: ${String(err)}`);
        assert.equal(WebAssembly.validate(prefix), false, `cut at ${cut} is valid but was rejected`);
        continue;
      }
      assert.ok(boundaries.has(cut), `cut at ${cut} inside a section was accepted`);
      assert.equal(WebAssembly.validate(result), WebAssembly.validate(prefix), `cut at ${cut}`);
    }
  });

  it('never fails other than with a WrError, and preserves validity, under random byte flips (validating in place or beside V8 alike)', async () => {
    const base = wat(`(module
      (type $pair (func (result i32 i32)))
      (import "env" "g" (global i32))
      (memory (export "memory") 1 2)
      (table 2 funcref)
      (global $g (mut i32) (i32.const 0))
      (tag $e (param i32))
      (func $a (export "a") (param i32 i64) (result i32) (local f32 v128)
        (block (result i32) (loop (br_if 1 (i32.const 1) (local.get 0)) (br 0)) (i32.const 0))
        (i32.wrap_i64 (local.get 1)) (i32.add) (global.set $g (i32.const 2)) (drop (memory.grow (i32.const 1)))
        (block (type $pair) (i32.const 1) (i32.const 2)) (drop) (drop)
        (try (do (throw $e (i32.const 1))) (catch $e (drop)))
        (memory.copy (i32.const 0) (i32.const 1) (i32.const 2))
        (drop (call $b))
        (br_table 0 0 0 (i32.const 1)))
      (func $b (result i32) (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4)))
      (elem (i32.const 0) $a $b)
      (data (i32.const 8) "payload"))`);
    let state = 0x2545f491;
    const random = (): number => {
      // mulberry32: small, seeded, the same sequence on every run.
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const counts = { malformed: 0, rejectedOther: 0, instrumented: 0 };
    for (let iter = 0; iter < 1000; iter++) {
      const bytes = Uint8Array.from(base);
      const flips = 1 + Math.floor(random() * 3);
      for (let f = 0; f < flips; f++) {
        bytes[8 + Math.floor(random() * (bytes.length - 8))] = Math.floor(random() * 256);
      }
      const valid = WebAssembly.validate(bytes);
      // The variant that validates beside the walk reaches the same verdict: the same error, or the same bytes.
      const beside = await instrumentModuleBesideV8(bytes, { memoryMaxPages: 2 }).then(
        (r) => r.bytes,
        (err: unknown) => err as Error,
      );
      let out: Uint8Array<ArrayBuffer>;
      try {
        out = instrumentModule(bytes, { memoryMaxPages: 2 }).bytes;
      } catch (err) {
        assert.ok(beside instanceof Error, `iteration ${iter}: refused in place, instrumented beside V8`);
        assert.equal(beside.message, (err as Error).message, `iteration ${iter}`);
        assert.ok(isWrError(err), `iteration ${iter}: ${String(err)}`);
        if (err.code === 'WR_MODULE_MALFORMED') {
          assert.equal(valid, false, `iteration ${iter}: a valid module was called malformed: ${err.message}`);
          counts.malformed++;
        } else {
          counts.rejectedOther++;
        }
        continue;
      }
      assert.deepEqual(beside, out, `iteration ${iter}: instrumented in place, not beside V8`);
      assert.equal(valid, true, `iteration ${iter}: an invalid module was instrumented`);
      assert.equal(WebAssembly.validate(out), true, `iteration ${iter}: instrumentation broke a valid module`);
      counts.instrumented++;
    }
    assert.ok(counts.malformed > 0 && counts.instrumented > 0, JSON.stringify(counts));
  });
});
