// The body of the compile thread: runs the load pipeline for the main thread, one message per module.
//
// Decoding, validating and rewriting a module of several MiB is a quarter of a second of synchronous
// work; here it delays nothing but other compiles. What goes back is the prepared module, not a compiled
// one: its instrumented bytes in a SharedArrayBuffer, which the main thread hands to guest workers without
// a copy, and each guest worker compiles (loader.ts lazilyCompiled). V8 validates those bytes there; a
// rewrite it rejected (a bug of ours, the input was validated before it) fails the first instantiation
// (WR_GUEST_INIT_FAILED, its cause WR_MODULE_COMPILE), so such a version still never serves.

import { parentPort } from 'node:worker_threads';
import { type LoadLimits, type PreparedModule, prepareModule } from '../loader.ts';
import { toWire } from './channel.ts';

export interface CompileRequest {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly digest: string;
  readonly limits: LoadLimits;
}

/** `prepared` with its code moved into shared memory, so that no thread after this one copies it. */
function shared(prepared: PreparedModule): PreparedModule {
  const code = new Uint8Array(new SharedArrayBuffer(prepared.code.length));
  code.set(prepared.code);
  return { ...prepared, code };
}

parentPort!.on('message', ({ id, bytes, digest, limits }: CompileRequest) => {
  prepareModule(bytes, digest, limits).then(
    (prepared) => parentPort!.postMessage({ id, prepared: shared(prepared) }),
    (err: unknown) => parentPort!.postMessage({ id, error: toWire(err) }),
  );
});
