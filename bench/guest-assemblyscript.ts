// Measures AssemblyScript guest calls per second (SDK no-op guest and the configmap-app example) on a ~5 KB
// App input, per GC runtime, through a lean host loop, and the configmap-app guest as production runs it:
// inside a guest worker through GuestInstance (metered; the output is parsed and validated once, on the main
// thread after the hand-off, so not here). Run with
// `node bench/guest-assemblyscript.ts`.

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { app, configMap, deployment, input } from '../examples/configmap-app/test/fixtures.ts';
import { buildModule, DEFAULT_RUNTIME, type Runtime } from '../guest-sdk/assemblyscript/tools/build.ts';
import { FUEL_GLOBAL_EXPORT, START_EXPORT } from '../host/src/abi/constants.ts';
import { instrumentModule } from '../host/src/runtime/wasm/index.ts';
import { type BenchResult, main, round } from './lib.ts';

const GUESTS = {
  noop: fileURLToPath(new URL('../guest-sdk/assemblyscript/test/assembly/noop.ts', import.meta.url)),
  'configmap-app': fileURLToPath(new URL('../examples/configmap-app/assembly/index.ts', import.meta.url)),
} as const;

/**
 * The host's per-call work minus fuel and validation: copy the input's UTF-8 bytes into guest memory, call,
 * decode the output, JSON.parse it. The input is encoded once: encoding a 5 KB string costs 6-12 us by
 * itself (more than the guest), so a host should keep cached objects as bytes (see docs/benchmarks.md).
 */
function caller(bytes: Uint8Array, input: Uint8Array, metered = false) {
  let memory: WebAssembly.Memory;
  let output = '';
  const decoder = new TextDecoder();
  const code = metered ? instrumentModule(bytes, { memoryMaxPages: 256 }).bytes : (bytes as Uint8Array<ArrayBuffer>);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(code), {
    wr: {
      log: () => {},
      log_enabled: () => 0,
      get: () => -1,
      list: () => -1,
      result_read: () => -5,
      set_output: (ptr: number, len: number) => {
        output = decoder.decode(new Uint8Array(memory.buffer, ptr, len));
      },
      now_ms: () => Date.now(),
    },
  });
  memory = instance.exports.memory as WebAssembly.Memory;
  // Metering moves the start function out of instantiation; the host calls it first, and so does this.
  (instance.exports[START_EXPORT] as (() => void) | undefined)?.();
  const alloc = instance.exports.wr_alloc as (n: number) => number;
  const reconcile = instance.exports.wr_reconcile as (p: number, n: number) => number;
  const length = input.length;
  const fuel = instance.exports[FUEL_GLOBAL_EXPORT] as WebAssembly.Global | undefined;
  const call = () => {
    const ptr = alloc(length);
    new Uint8Array(memory.buffer, ptr, length).set(input);
    if (reconcile(ptr, length) !== 0) throw new Error(`guest failed: ${output}`);
    return JSON.parse(output) as unknown;
  };
  return { call, fuel };
}

/** Fuel one call uses under the host's metering: a load-independent measure of guest work. */
function fuelPerCall(bytes: Uint8Array, input: Uint8Array): number {
  const { call, fuel } = caller(bytes, input, true);
  call();
  fuel!.value = 2_000_000_000;
  call();
  return 2_000_000_000 - (fuel!.value as number);
}

/** Best batch of many: on a shared or noisy machine the fastest batch is the closest to the real cost. */
function rate(call: () => unknown, seconds: number): number {
  for (let i = 0; i < 2000; i++) call();
  const batch = 1000;
  let best = Number.POSITIVE_INFINITY;
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const start = performance.now();
    for (let i = 0; i < batch; i++) call();
    best = Math.min(best, performance.now() - start);
  }
  return batch / (best / 1000);
}

/** Calls per second of `bytes` in a worker thread, through the guest workers' GuestInstance (support/in-worker-calls.ts). */
function inWorker(bytes: Uint8Array, input: string): Promise<{ callsPerSecond: number; p50Us: number }> {
  const worker = new Worker(new URL('./support/in-worker-calls.ts', import.meta.url), {
    workerData: { bytes, input, ms: 3000 },
  });
  return new Promise((resolve, reject) => {
    worker.once('message', (m) => {
      resolve(m);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

export async function run(
  runtimes: readonly Runtime[] = ['minimal', 'incremental'],
  seconds = 2,
): Promise<BenchResult[]> {
  const text = input(app(), { children: [configMap('hello-config'), deployment('hello', 1)] });
  const results: BenchResult[] = [];
  for (const runtime of runtimes) {
    for (const [guest, entry] of Object.entries(GUESTS)) {
      const built = await buildModule({
        entry,
        runtime,
        name: `${guest}-${runtime}`,
        outDir: fileURLToPath(new URL('./build/', import.meta.url)),
      });
      const bytes = await readFile(built.wasmPath);
      const { call } = caller(bytes, Buffer.from(text));
      const note = `${runtime} runtime, ${Buffer.byteLength(text)} B input, ${built.bytes} B module`;
      results.push({ name: `as/${guest}/${runtime}`, value: Math.round(rate(call, seconds)), unit: 'calls/s', note });
      results.push({
        name: `as/${guest}/${runtime}/fuel`,
        value: fuelPerCall(bytes, Buffer.from(text)),
        unit: 'fuel/call',
        note: 'deterministic',
      });
      if (guest === 'configmap-app' && runtime === DEFAULT_RUNTIME) {
        const worker = await inWorker(bytes, text);
        results.push(
          {
            name: 'as/configmap-app/in-worker',
            value: Math.round(worker.callsPerSecond),
            unit: 'calls/s',
            note: `${note}; GuestInstance in a guest worker as the host runs it: metered, status checked, output text handed over unparsed (best batch)`,
          },
          { name: 'as/configmap-app/in-worker/p50', value: round(worker.p50Us, 1), unit: 'us', note: 'one call' },
        );
      }
    }
  }
  return results;
}

await main(import.meta, () => run());
