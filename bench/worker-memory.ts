// What a guest worker thread costs in memory (RSS and PSS with 0, 1 and 2 idle workers), and whether a
// closed slot gives back a module's bytes. Run with `node bench/worker-memory.ts`.
//
// Each worker holds one instance of the no-op guest, so the figure is a worker as a host has it: the
// thread, its V8 isolate with the worker's code loaded, and a small module. The second part loads a guest
// carrying a 50 MB custom section into a slot, runs it, closes the slot, and compares RSS with before.

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { GuestWorkerPool, type LimitOverrides, ModuleLoader, ModuleSlot } from '../host/src/runtime/index.ts';
import { mapReadPort, recordingLogger } from '../test/fixtures/guests/host.ts';
import { fixture } from '../test/fixtures/guests/wat.ts';
import { customSection } from '../test/support/wasm-bytes.ts';
import { type BenchResult, gcFunction, main, round } from './lib.ts';

const MiB = 1024 * 1024;

/** RSS and PSS of this process in MiB (PSS from /proc: shared pages counted by share). */
function memory(): { rss: number; pss: number } {
  const rollup = readFileSync('/proc/self/smaps_rollup', 'utf8');
  const pss = Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? Number.NaN) / 1024;
  return { rss: process.memoryUsage.rss() / MiB, pss };
}

async function settled(gc: () => void): Promise<{ rss: number; pss: number }> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(200);
  }
  return memory();
}

/** A slot on `pool` that has loaded `bytes` and answered one call, so its instance is live. */
async function servingSlot(
  name: string,
  bytes: Uint8Array,
  loader: ModuleLoader,
  pool: GuestWorkerPool,
  limits: LimitOverrides = {},
): Promise<ModuleSlot> {
  const slot = new ModuleSlot({
    identity: { name },
    loader,
    logger: recordingLogger().logger,
    readPort: mapReadPort([]),
    workers: pool,
    limits,
  });
  await slot.load(bytes, null);
  await slot.call('wr_reconcile', '{}');
  return slot;
}

/**
 * Loads, runs and closes a slot whose module carries a 50 MB custom section. Its own function, so that
 * no suspended frame of the caller keeps the bytes alive while memory is measured.
 */
async function paddedSlotCycle(bytes: Uint8Array, loader: ModuleLoader, pool: GuestWorkerPool): Promise<void> {
  const padded = new Uint8Array(Buffer.concat([bytes, customSection('padding', new Uint8Array(50 * MiB))]));
  await (await servingSlot('padded', padded, loader, pool, { moduleBytes: 64 * MiB })).close();
}

export async function run(): Promise<BenchResult[]> {
  const gc = gcFunction();
  const bytes = await fixture('noop');
  const loader = new ModuleLoader();
  // Two one-worker pools: a shared pool puts a new instance on an idle worker rather than start another.
  const pools = [new GuestWorkerPool({ size: 1 }), new GuestWorkerPool({ size: 1 })];
  const slots: ModuleSlot[] = [];
  // The compiled module and the runtime's code are loaded before the baseline, so only threads are measured.
  await loader.load(bytes, (await import('../host/src/runtime/index.ts')).resolveLimits());
  const base = await settled(gc);
  slots.push(await servingSlot('first', bytes, loader, pools[0]!));
  const one = await settled(gc);
  slots.push(await servingSlot('second', bytes, loader, pools[1]!));
  const two = await settled(gc);
  for (const slot of slots) await slot.close();

  // A module's bytes must not outlive its slot: only compiled code stays cached, and custom sections
  // are not part of what V8 keeps.
  const before = await settled(gc);
  await paddedSlotCycle(bytes, loader, pools[0]!);
  const afterClose = await settled(gc);
  for (const pool of pools) await pool.close();
  return [
    {
      name: 'workers/rss/none',
      value: round(base.rss, 1),
      unit: 'MiB',
      note: 'this process, runtime loaded, no worker',
    },
    {
      name: 'workers/rss/first',
      value: round(one.rss - base.rss, 1),
      unit: 'MiB',
      note: 'RSS added by the first worker (one no-op instance)',
    },
    {
      name: 'workers/rss/second',
      value: round(two.rss - one.rss, 1),
      unit: 'MiB',
      note: 'RSS added by the second worker',
    },
    {
      name: 'workers/pss/first',
      value: round(one.pss - base.pss, 1),
      unit: 'MiB',
      note: 'PSS added by the first worker',
    },
    {
      name: 'workers/pss/second',
      value: round(two.pss - one.pss, 1),
      unit: 'MiB',
      note: 'PSS added by the second worker',
    },
    {
      name: 'slot/closed-50MB-module',
      value: round(afterClose.rss - before.rss, 1),
      unit: 'MiB',
      note: 'RSS after loading, running and closing a slot whose module had a 50 MB custom section, minus before; target <= 2',
    },
  ];
}

await main(import.meta, run);
