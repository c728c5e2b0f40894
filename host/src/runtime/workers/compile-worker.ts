// The body of the compile thread: runs the load pipeline for the main thread, one message per module.
//
// Decoding, validating and rewriting a module of several MiB is a quarter of a second of synchronous
// work; here it delays nothing but other compiles. The compiled WebAssembly.Module goes back by
// structured clone, which shares V8's compiled code instead of copying or recompiling it.

import { parentPort } from 'node:worker_threads';
import { compileModule, type LoadLimits } from '../loader.ts';
import { toWire } from './channel.ts';

export interface CompileRequest {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly digest: string;
  readonly limits: LoadLimits;
}

parentPort!.on('message', async ({ id, bytes, digest, limits }: CompileRequest) => {
  try {
    parentPort!.postMessage({ id, compiled: await compileModule(bytes, digest, limits) });
  } catch (err) {
    parentPort!.postMessage({ id, error: toWire(err) });
  }
});
