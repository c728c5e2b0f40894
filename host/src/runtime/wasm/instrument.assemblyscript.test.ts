// Tests that a real AssemblyScript 0.28 module (runtime, bulk memory, SIMD) behaves the same once instrumented.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import asc from 'assemblyscript/asc';
import { FUEL_GLOBAL_EXPORT, START_EXPORT } from '../../abi/constants.ts';
import { inspectModule, instrumentModule } from './index.ts';

const SOURCE = `
export function checksum(n: i32): i32 {
  const buf = new Uint8Array(n);
  for (let i = 0; i < n; i++) buf[i] = <u8>(i * 7 + (i >> 3));
  let h: i32 = 0;
  for (let i = 0; i < n; i++) h = (h * 31 + buf[i]) | 0;
  return h;
}

export function words(n: i32): i32 {
  const seen = new Map<string, i32>();
  let text = "";
  for (let i = 0; i < n; i++) {
    const w = "w" + (i % 17).toString();
    seen.set(w, seen.has(w) ? seen.get(w) + 1 : 1);
    text += w;
  }
  return seen.size * 100000 + text.length;
}

export function lanes(a: i32): i32 {
  const v = i32x4.add(i32x4.splat(a), i32x4(1, 2, 3, 4));
  return i32x4.extract_lane(i32x4.mul(v, v), 3);
}

export function allocate(bytes: i32): i32 {
  return new Uint8Array(bytes).length;
}
`;

type Fn = (...args: number[]) => number;

/** Instantiates, then runs the start function the instrumentation turned into an export, as the host does. */
function instantiate(bytes: Uint8Array<ArrayBuffer>): Record<string, unknown> {
  const imports = {
    env: {
      abort: () => {
        throw new Error('guest abort');
      },
    },
  };
  const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), imports).exports;
  (exports[START_EXPORT] as (() => void) | undefined)?.();
  return exports;
}

describe('AssemblyScript guest', () => {
  let binary: Uint8Array<ArrayBuffer>;

  before(async () => {
    const result = await asc.compileString(
      { 'guest.ts': SOURCE },
      { optimizeLevel: 3, shrinkLevel: 0, runtime: 'incremental', enable: ['simd'], debug: true },
    );
    assert.equal(result.error, null, result.stderr.toString());
    assert.ok(result.binary);
    binary = Uint8Array.from(result.binary);
  });

  it('computes the same results metered as unmetered, with the same fuel on every run', () => {
    const out = instrumentModule(binary, { memoryMaxPages: 64 });
    assert.equal(WebAssembly.validate(out.bytes), true);
    assert.equal(out.memoryPatched, true);
    assert.deepEqual(out.info, inspectModule(binary));
    const plain = instantiate(binary);
    const spentByRun: number[][] = [];
    for (let run = 0; run < 2; run++) {
      const metered = instantiate(out.bytes);
      const fuel = metered[FUEL_GLOBAL_EXPORT] as WebAssembly.Global;
      const spent: number[] = [];
      for (const [name, arg] of [
        ['checksum', 5000],
        ['words', 300],
        ['lanes', 9],
      ] as const) {
        fuel.value = 50_000_000;
        assert.equal((metered[name] as Fn)(arg), (plain[name] as Fn)(arg), name);
        spent.push(50_000_000 - (fuel.value as number));
      }
      spentByRun.push(spent);
    }
    assert.deepEqual(spentByRun[0], spentByRun[1]);
    assert.ok(spentByRun[0]!.every((s) => s > 0));
  });

  it('traps a call that exceeds its budget and leaves the fuel negative', () => {
    const metered = instantiate(instrumentModule(binary, { memoryMaxPages: 64 }).bytes);
    const fuel = metered[FUEL_GLOBAL_EXPORT] as WebAssembly.Global;
    fuel.value = 10_000;
    assert.throws(() => (metered.checksum as Fn)(100_000), WebAssembly.RuntimeError);
    assert.ok((fuel.value as number) < 0);
  });

  it('stops an allocation past the memory cap', () => {
    const plain = instantiate(binary);
    assert.equal((plain.allocate as Fn)(4 << 20), 4 << 20);
    const metered = instantiate(instrumentModule(binary, { memoryMaxPages: 16 }).bytes);
    (metered[FUEL_GLOBAL_EXPORT] as WebAssembly.Global).value = 50_000_000;
    assert.throws(() => (metered.allocate as Fn)(4 << 20));
    assert.equal((metered.allocate as Fn)(1024), 1024);
  });
});
