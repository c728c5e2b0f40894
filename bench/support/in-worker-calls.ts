// Runs inside a worker thread: guest calls measured where production runs them, without the hand-off.
//
// workerData: the module bytes and the call input. Posts { callsPerSecond, p50Us } for the fastest batch
// and the median single call, through the same GuestInstance the guest workers use and what a worker does
// per call: metered guest, status checked, output text handed over unparsed (the main thread parses and
// validates it once, after the hand-off).

import { parentPort, workerData } from 'node:worker_threads';
import { openGuest } from './guest.ts';

const { bytes, input, ms } = workerData as { bytes: Uint8Array; input: string; ms: number };
const guest = await openGuest(bytes);
const encoded = new TextEncoder().encode(input);
for (let i = 0; i < 20_000; i++) guest.callUnparsed('wr_reconcile', encoded);
const batch = 1000;
let best = Number.POSITIVE_INFINITY;
const until = performance.now() + ms;
while (performance.now() < until) {
  const start = performance.now();
  for (let i = 0; i < batch; i++) guest.callUnparsed('wr_reconcile', encoded);
  best = Math.min(best, performance.now() - start);
}
const singles: number[] = [];
for (let i = 0; i < 5000; i++) {
  const start = performance.now();
  guest.callUnparsed('wr_reconcile', encoded);
  singles.push(performance.now() - start);
}
singles.sort((a, b) => a - b);
parentPort!.postMessage({ callsPerSecond: batch / (best / 1000), p50Us: singles[singles.length >> 1]! * 1000 });
