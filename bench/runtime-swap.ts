// Measures hot-swap latency, from new module bytes in to the first call served by the new version, for 10 KB, 100 KB and 1 MB modules. Run with `node bench/runtime-swap.ts`.
//
// Each iteration swaps in bytes never seen before (the version string in the ok guest's data segment is
// patched), so the whole pipeline runs every time: sha256, decode, ABI checks, instrumentation,
// WebAssembly.compile, instantiate, wr_init, swap, first reconcile. Modules are padded with many small
// functions, the shape that makes compilers and the metering pass work hardest per byte. The pipeline
// runs as the host runs it: checked and instrumented on the compile thread (OffThreadCompiler; the 10 KB
// module in place, as the host prepares modules of at most 64 KiB), compiled, instantiated and called on
// a guest worker. `main-thread` is the main thread's own CPU time during one swap (process.threadCpuUsage,
// which a busy neighbour does not inflate): what the swap takes from watches, lease renewals and probes.
// On some kernels (this machine's among them) thread CPU time advances in scheduler ticks of a few
// milliseconds, so one swap's figure is coarse and its p99 is mostly where a tick or a GC fell;
// `main-thread/mean`, the CPU of all measured swaps over their number, is exact to about 0.1 ms.

import { readFile } from 'node:fs/promises';
import type { KubeObject, ReconcileRequest } from '../host/src/abi/types.ts';
import { GuestReconciler, ModuleLoader, ModuleSlot, OffThreadCompiler } from '../host/src/runtime/index.ts';
import { mapReadPort, recordingLogger } from '../test/fixtures/guests/host.ts';
import { watToWasm } from '../test/fixtures/guests/wat.ts';
import { type BenchResult, main, percentile, round } from './lib.ts';

const SIZES = [
  { label: '10KB', bytes: 10 * 1024, iterations: 60 },
  { label: '100KB', bytes: 100 * 1024, iterations: 60 },
  { label: '1MB', bytes: 1024 * 1024, iterations: 40 },
];

/** One padding function: a small loop with arithmetic, about 60 bytes of code. */
function pad(i: number): string {
  return `(func $pad${i} (param $n i32) (result i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const ${(i % 97) + 3})) (local.get $n)))
      (local.set $acc (i32.xor (local.get $acc) (i32.shr_u (local.get $acc) (i32.const 7))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (i32.add (local.get $acc) (i32.const ${i})))`;
}

/** The ok guest padded to about `target` bytes, with "v1" as its version. */
async function paddedGuest(target: number): Promise<Uint8Array> {
  const ok = await readFile(new URL('../test/fixtures/guests/ok.wat', import.meta.url), 'utf8');
  const closing = ok.lastIndexOf(')');
  const build = (n: number) =>
    watToWasm('padded.wat', `${ok.slice(0, closing)}\n${Array.from({ length: n }, (_, i) => pad(i)).join('\n')})`);
  const base = await build(0);
  const one = (await build(1)).length - base.length;
  return build(Math.max(0, Math.round((target - base.length) / one)));
}

/** Offset of the version bytes `v1` inside `"version":"v1"` in the binary's data segment. */
function versionOffset(bytes: Uint8Array): number {
  const needle = new TextEncoder().encode('"version":"v1"');
  outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i + needle.length - 3;
  }
  throw new Error('version string not found in the guest binary');
}

const json = '{"apiVersion":"demo.io/v1","kind":"App","metadata":{"name":"web","namespace":"shop"}}';
const request: ReconcileRequest = {
  trigger: { reason: 'updated' },
  reconciler: { name: 'bench' },
  primary: { json, object: () => JSON.parse(json) as KubeObject },
  deleted: false,
  children: new Map(),
  related: new Map(),
};

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const compiler = new OffThreadCompiler();
  for (const size of SIZES) {
    const template = await paddedGuest(size.bytes);
    const at = versionOffset(template);
    const slot = new ModuleSlot({
      identity: { name: 'bench' },
      // Small enough that no version is reused: the cache must not be what makes a swap fast or slow here.
      loader: new ModuleLoader({ cacheEntries: 4, compile: compiler.compile }),
      logger: recordingLogger().logger,
      readPort: mapReadPort([]),
      limits: { moduleBytes: 4 * 1024 * 1024 },
    });
    const reconciler = new GuestReconciler(slot);
    const times: number[] = [];
    const busy: number[] = [];
    for (let i = 0; i < size.iterations + 5; i++) {
      const bytes = template.slice();
      const version = `${alphabet[Math.floor(i / alphabet.length) % alphabet.length]}${alphabet[i % alphabet.length]}`;
      bytes[at] = version.charCodeAt(0);
      bytes[at + 1] = version.charCodeAt(1);
      const cpu0 = process.threadCpuUsage();
      const t0 = performance.now();
      await slot.load(bytes, null);
      const out = await reconciler.reconcile(request);
      const elapsed = performance.now() - t0;
      const cpu = process.threadCpuUsage(cpu0);
      const mainMs = (cpu.user + cpu.system) / 1000;
      if ((out.status as { version: string }).version !== version) throw new Error(`swap to ${version} not served`);
      if (i >= 5) {
        times.push(elapsed);
        busy.push(mainMs);
      }
    }
    await slot.close();
    const note = `${(template.length / 1024).toFixed(0)} KiB module, ${size.iterations} swaps`;
    results.push(
      { name: `swap/${size.label}/p50`, value: round(percentile(times, 50), 2), unit: 'ms', note },
      { name: `swap/${size.label}/p99`, value: round(percentile(times, 99), 2), unit: 'ms', note },
      ...[50, 99].map((p) => ({
        name: `swap/${size.label}/main-thread/p${p}`,
        value: round(percentile(busy, p), 2),
        unit: 'ms',
        note: `${note}; main-thread CPU time of one swap`,
      })),
      {
        name: `swap/${size.label}/main-thread/mean`,
        value: round(busy.reduce((a, b) => a + b, 0) / busy.length, 2),
        unit: 'ms',
        note: `${note}; main-thread CPU time of all swaps over their number`,
      },
    );
  }
  await compiler.close();
  return results;
}

await main(import.meta, run);
