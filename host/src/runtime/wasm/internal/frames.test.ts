// Tests the call-depth bound: where recursion stops, that every way out of a call leaves later calls their
// budget, and which bodies keep a budget.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import wabtInit from 'wabt';
import { WABT_ALL_FEATURES } from '../../../../../test/fixtures/guests/wat.ts';
import { DEPTH_GLOBAL_EXPORT, FUEL_GLOBAL_EXPORT } from '../../../abi/constants.ts';
import { instrumentModule } from '../index.ts';
import { type CallGraph, DEPTH_BUDGET, frameBytes, MAX_CHAIN_BYTES, planDepth } from './frames.ts';

const wabt = await wabtInit();

function wat(src: string): Uint8Array<ArrayBuffer> {
  const mod = wabt.parseWat('test.wat', src, WABT_ALL_FEATURES);
  try {
    return Uint8Array.from(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

type Exports = Record<string, unknown>;

function metered(src: string): { exports: Exports; depth: WebAssembly.Global } {
  const out = instrumentModule(wat(src), { memoryMaxPages: 1, initialFuel: 0x7fffffff });
  const exports = new WebAssembly.Instance(new WebAssembly.Module(out.bytes)).exports as Exports;
  return { exports, depth: exports[DEPTH_GLOBAL_EXPORT] as WebAssembly.Global };
}

function call(exports: Exports, name: string, ...args: number[]): unknown {
  (exports[FUEL_GLOBAL_EXPORT] as WebAssembly.Global).value = 0x7fffffff;
  return (exports[name] as (...a: number[]) => unknown)(...args);
}

const many = (n: number, s: string) => Array.from({ length: n }, () => s).join(' ');

/** A recursion without end whose frame has `locals` and builds `pre` on the stack across the call. */
function recursion(locals: string, pre = '', post = '(i32.add)'): string {
  return `(module (global $n (export "frames") (mut i32) (i32.const 0))
    (func $f (export "f") (param $x i32) (result i32) ${locals}
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      ${pre} (call $f (i32.add (local.get $x) (i32.const 1))) (i32.const 1) ${post}))`;
}

const SHAPES: Record<string, string> = {
  'one i32 parameter': recursion(''),
  '2,000 i32 locals': recursion(`(local ${many(2000, 'i32')})`),
  '1,000 i64 locals': recursion(`(local ${many(1000, 'i64')})`),
  '500 v128 locals': recursion(`(local ${many(500, 'v128')})`),
  '1,000 values on the operand stack': recursion('', many(1000, '(local.get $x)'), many(1001, '(i32.add)')),
  '300 v128 values on the operand stack': recursion(
    '(local $t i32)',
    many(300, '(v128.const i64x2 0 0)'),
    `(i32.add) (local.set $t) ${many(299, '(i32x4.add)')} (i32x4.extract_lane 0) (local.get $t) (i32.add)`,
  ),
};

/** Runs `f` of each shape until it traps; returns the frames it reached, or the error's class if not ours. */
function framesAtTrap(src: string): number | string {
  const { exports, depth } = metered(src);
  const frames = exports.frames as WebAssembly.Global;
  frames.value = 0;
  depth.value = DEPTH_BUDGET;
  try {
    call(exports, 'f', 0);
  } catch (err) {
    if (!(err instanceof WebAssembly.RuntimeError) || (depth.value as number) >= 0) return String(err);
    return frames.value as number;
  }
  return 'no trap';
}

describe('call-depth bound', () => {
  it('stops every frame shape on the depth budget, at the same depth on every run and tier', () => {
    for (const [name, src] of Object.entries(SHAPES)) {
      const first = framesAtTrap(src);
      assert.equal(typeof first, 'number', `${name}: ${first}`);
      assert.ok((first as number) > 1, `${name}: ${first} frames`);
      // Later runs find the function tiered up (TurboFan frames are smaller, and it inlines): same depth.
      for (let run = 0; run < 3; run++) assert.equal(framesAtTrap(src), first, name);
    }
  });

  it('stops at the same depth on a thread with 4 times the stack: the bound, not V8, decides', async () => {
    const here = Object.fromEntries(Object.entries(SHAPES).map(([name, src]) => [name, framesAtTrap(src)]));
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const out = {};
      for (const [name, bytes] of Object.entries(workerData)) {
        const e = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports;
        e.__wr_fuel.value = 0x7fffffff;
        try { e.f(0); out[name] = 'no trap'; }
        catch (err) { out[name] = err instanceof WebAssembly.RuntimeError && e.__wr_depth.value < 0 ? e.frames.value : String(err); }
      }
      parentPort.postMessage(out);`;
    const modules = Object.fromEntries(
      Object.entries(SHAPES).map(([name, src]) => [name, instrumentModule(wat(src), { memoryMaxPages: 1 }).bytes]),
    );
    const worker = new Worker(code, { eval: true, workerData: modules, resourceLimits: { stackSizeMb: 4 } });
    const there = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    assert.deepEqual(there, here);
  });

  it('gives later calls their whole budget after a return, a branch out of the body, or a caught exception', () => {
    const { exports, depth } = metered(`(module
      (tag $e)
      (type $t (func (param i32)))
      (table 1 funcref) (elem (i32.const 0) $throwingIndirect)
      (func $down (export "down") (param $n i32) (result i32)
        (if (i32.eqz (local.get $n)) (then (return (i32.const 7))))
        (if (i32.eq (local.get $n) (i32.const 3)) (then (br 1 (call $down (i32.const 0)))))
        (br_if 0 (call $down (i32.sub (local.get $n) (i32.const 1))) (i32.const 1))
        (unreachable))
      (func $throwing (param $n i32)
        (if (i32.eqz (local.get $n)) (then (throw $e)))
        (call $throwing (i32.sub (local.get $n) (i32.const 1))))
      (func $throwingIndirect (param $n i32)
        (if (i32.eqz (local.get $n)) (then (throw $e)))
        (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.const 0)))
      (func (export "catchInLoop") (param $rounds i32) (result i32)
        (loop $again
          (block $caught (try_table (catch_all $caught) (call $throwing (i32.const 20))))
          (try (do (call $throwingIndirect (i32.const 20))) (catch_all))
          (br_if $again (local.tee $rounds (i32.sub (local.get $rounds) (i32.const 1)))))
        (i32.const 1)))`);
    depth.value = DEPTH_BUDGET;
    assert.equal(call(exports, 'down', 50), 7);
    // Each round unwinds 20 frames of each recursion, those through call_indirect having stored their
    // budgets in the global: 100,000 rounds would overflow 500 times over if any of it leaked.
    depth.value = DEPTH_BUDGET;
    assert.equal(call(exports, 'catchInLoop', 100_000), 1);
  });

  it('passes the budget down a recursion in parameters: the global is written only where a check fails', () => {
    const { exports, depth } = metered(`(module
      (func $fib (export "fib") (param $n i32) (result i32) (local $a i32) (local $b i32)
        (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
          (then (local.get $n))
          (else
            (local.set $a (call $fib (i32.sub (local.get $n) (i32.const 1))))
            (local.set $b (call $fib (i32.sub (local.get $n) (i32.const 2))))
            (i32.add (local.get $a) (local.get $b))))))`);
    depth.value = DEPTH_BUDGET;
    // The twins and the carrying copy renumber $a and $b past the appended parameter: the sum shows it.
    assert.equal(call(exports, 'fib', 20), 6765);
    assert.equal(depth.value, DEPTH_BUDGET);
  });

  it('adds no fuel: a body that catches pays what the same body as a block does', () => {
    const spent = (open: string) => {
      const { exports, depth } = metered(`(module
        (func $leaf (param $x i32) (result i32) (i32.add (local.get $x) (i32.const 1)))
        (func $mid (param $x i32) (result i32) (call $leaf (call $leaf (local.get $x))))
        (func (export "run") (param $n i32) (result i32) (local $acc i32)
          (${open}
            (local.set $acc (call $mid (local.get $acc)))
            (loop $l
              (local.set $acc (call $leaf (call $mid (local.get $acc))))
              (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
          (local.get $acc)))`);
      depth.value = DEPTH_BUDGET;
      const fuel = exports[FUEL_GLOBAL_EXPORT] as WebAssembly.Global;
      assert.equal(call(exports, 'run', 100), 2 + 300);
      return 0x7fffffff - (fuel.value as number);
    };
    assert.equal(spent('try_table'), spent('block'));
  });

  it('stops mutual recursion, recursion through call_indirect and recursion from loops', () => {
    const { exports, depth } = metered(`(module
      (type $t (func (param i32) (result i32)))
      (table 1 funcref) (elem (i32.const 0) $viaTable)
      (func $a (export "mutual") (param $x i32) (result i32) (call $b (local.get $x)))
      (func $b (param $x i32) (result i32) (call $a (local.get $x)))
      (func $viaTable (export "indirect") (param $x i32) (result i32)
        (call_indirect (type $t) (local.get $x) (i32.const 0)))
      (func $spin (export "inLoop") (param $x i32) (result i32)
        (loop $l (drop (call $spin (local.get $x))) (br_if $l (local.get $x)))
        (i32.const 0)))`);
    for (const name of ['mutual', 'indirect', 'inLoop']) {
      depth.value = DEPTH_BUDGET;
      assert.throws(() => call(exports, name, 1), WebAssembly.RuntimeError, name);
      assert.ok((depth.value as number) < 0, `${name}: depth ${depth.value}`);
    }
  });

  it('gives the carrying copy of a multi-value function a type the module lacked, and keeps its results', () => {
    const { exports, depth } = metered(`(module
      (func $pair (export "pair") (param $n i32) (result i32 i32)
        (if (result i32 i32) (i32.eqz (local.get $n))
          (then (i32.const 1) (i32.const 2))
          (else (call $pair (i32.sub (local.get $n) (i32.const 1)))))))`);
    depth.value = DEPTH_BUDGET;
    assert.deepEqual(call(exports, 'pair', 10), [1, 2]);
  });
});

/** A call graph of `bodies` bodies, the first `originals` of them originals, each with the same frame. */
function graph(bodies: number, originals: number, edges: Array<[number, number]>, frame = 100): CallGraph {
  const firstCallee = new Int32Array(bodies + 1);
  const sorted = [...edges].sort((x, y) => x[0] - y[0]);
  for (const [from] of sorted) firstCallee[from + 1]!++;
  for (let e = 0; e < bodies; e++) firstCallee[e + 1]! += firstCallee[e]!;
  return {
    bodies,
    originals,
    firstCallee,
    callees: Int32Array.from(sorted, ([, to]) => to),
    frames: new Int32Array(bodies).fill(frame),
    external: new Uint8Array(bodies),
    mustKeep: new Uint8Array(bodies),
  };
}

describe('planDepth', () => {
  it('keeps no budget in a call graph without a cycle', () => {
    assert.deepEqual(
      [
        ...planDepth(
          graph(3, 3, [
            [0, 1],
            [1, 2],
            [0, 2],
          ]),
        ),
      ],
      [-1, -1, -1],
    );
  });

  it('keeps it in the originals of a cycle, which pay for the twins below them', () => {
    // 0 is an original whose calls go to twin 1, whose calls go to twin 2, which calls 0 again.
    assert.deepEqual(
      [
        ...planDepth(
          graph(3, 1, [
            [0, 1],
            [1, 2],
            [2, 0],
          ]),
        ),
      ],
      [300, -1, -1],
    );
  });

  it('keeps it in the twins of a cycle of twins alone', () => {
    assert.deepEqual(
      [
        ...planDepth(
          graph(3, 1, [
            [0, 1],
            [1, 2],
            [2, 1],
          ]),
        ),
      ],
      [-1, 100, 100],
    );
  });

  it('cuts a chain without a cycle when it grows past MAX_CHAIN_BYTES', () => {
    const n = Math.ceil(MAX_CHAIN_BYTES / 1000) + 2;
    const edges = Array.from({ length: n - 1 }, (_, e): [number, number] => [e, e + 1]);
    const charges = [...planDepth(graph(n, n, edges, 1000))];
    const kept = charges.flatMap((c, e) => (c >= 0 ? [e] : []));
    assert.equal(kept.length, 1);
    assert.ok(charges[kept[0]!]! <= MAX_CHAIN_BYTES + 1000);
  });

  it('charges a call_indirect for the longest chain of any original', () => {
    const g = graph(3, 3, [[1, 2]]);
    (g.external as Uint8Array)[0] = 1;
    (g.mustKeep as Uint8Array)[0] = 1;
    assert.deepEqual([...planDepth(g)], [300, -1, -1]);
  });

  it('bounds a frame by its slots, 16 bytes for a v128 and for every stack value of a SIMD body', () => {
    assert.equal(frameBytes(2, 0, 3, false) - frameBytes(0, 0, 0, false), 2 * 8 + 3 * 8);
    assert.equal(frameBytes(2, 1, 3, true) - frameBytes(0, 0, 0, false), 2 * 8 + 8 + 3 * 16);
  });
});
