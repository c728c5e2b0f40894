// Measures work-queue throughput (adds, get+done, process() with a no-op handler, delayed adds) for 100k keys
// and the queue's memory per queued key. Run with `node bench/queue.ts`.

import { WorkQueue } from '../host/src/queue/index.ts';
import { type BenchResult, gcFunction, main, median } from './lib.ts';

const KEYS = 100_000;
const ROUNDS = 5;

/** Keys shaped like real ones ("namespace/name"), built before any measurement. */
const keys = Array.from({ length: KEYS }, (_, i) => `namespace-${i % 50}/app-${i.toString(36).padStart(6, '0')}`);

function freshQueue(): WorkQueue {
  return new WorkQueue({ name: 'bench', maxKeys: KEYS });
}

/** Median operations per second of `body` over ROUNDS, each round on a fresh queue prepared untimed. */
async function opsPerSecond(
  prepare: (queue: WorkQueue) => void,
  body: (queue: WorkQueue) => Promise<void> | void,
): Promise<number> {
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const queue = freshQueue();
    prepare(queue);
    const started = performance.now();
    await body(queue);
    const elapsedMs = performance.now() - started;
    rates.push(KEYS / (elapsedMs / 1000));
    await queue.shutdown(false);
  }
  return Math.round(median(rates));
}

function fillUser(queue: WorkQueue): void {
  for (const key of keys) queue.add(key, { reason: 'created' });
}

function fillHalfLow(queue: WorkQueue): void {
  for (let i = 0; i < KEYS; i++) queue.add(keys[i] as string, { reason: 'resync', lane: i % 2 === 0 ? 'low' : 'user' });
}

async function getDoneAll(queue: WorkQueue): Promise<void> {
  for (let i = 0; i < KEYS; i++) {
    const item = await queue.get();
    queue.done((item as { key: string }).key);
  }
}

/**
 * Bytes the queue holds per ready key, key strings excluded (they belong to the cache in the host):
 * heap with a full queue minus heap once that queue is dropped, both after a full GC.
 */
function bytesPerQueuedKey(): number {
  const gc = gcFunction();
  const samples: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let queue: WorkQueue | undefined = freshQueue();
    fillHalfLow(queue);
    if (queue.stats().depth !== KEYS) throw new Error('queue lost keys during the memory sample');
    gc();
    const full = process.memoryUsage().heapUsed;
    queue = undefined;
    gc();
    samples.push((full - process.memoryUsage().heapUsed) / KEYS);
  }
  return Math.round(median(samples));
}

export async function run(): Promise<BenchResult[]> {
  const note = `${KEYS / 1000}k distinct keys, median of ${ROUNDS}`;
  const add = await opsPerSecond(() => {}, fillUser);
  const coalesce = await opsPerSecond(fillUser, (queue) => {
    for (const key of keys) queue.add(key, { reason: 'updated' });
  });
  const getDone = await opsPerSecond(fillHalfLow, getDoneAll);
  const processed = await opsPerSecond(fillUser, async (queue) => {
    let left = KEYS;
    let finish: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    void queue.process(async () => {
      if (--left === 0) finish();
      return undefined;
    });
    await finished;
  });
  const delayed = await opsPerSecond(
    () => {},
    (queue) => {
      for (let i = 0; i < KEYS; i++) queue.requeueAfter(keys[i] as string, 60_000 + ((i * 7919) % 60_000));
    },
  );
  return [
    { name: 'queue/add', value: add, unit: 'ops/s', note: `${note}; new keys, user lane` },
    { name: 'queue/add-coalesced', value: coalesce, unit: 'ops/s', note: `${note}; every key already queued` },
    { name: 'queue/get+done', value: getDone, unit: 'items/s', note: `${note}; half low lane, weighted picks` },
    { name: 'queue/process', value: processed, unit: 'items/s', note: `${note}; no-op async handler, 1 worker` },
    { name: 'queue/requeueAfter', value: delayed, unit: 'ops/s', note: `${note}; spread deadlines (heap push)` },
    {
      name: 'queue/memory-per-key',
      value: bytesPerQueuedKey(),
      unit: 'B/key',
      note: `${KEYS / 1000}k ready keys, key strings excluded`,
    },
  ];
}

await main(import.meta, run);
