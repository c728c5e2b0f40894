// Runs the module load pipeline on a thread of its own, so a large or hostile module never stalls the
// main thread's event loop (an 8 MiB module blocked it for ~270 ms when compiled in place).
//
// The thread starts with the first compile and ends after it has been idle for a while: loads are rare
// (a new version of a reconciler), and an idle thread would cost ~20 MB for nothing. A compile that runs
// past its deadline ends the thread and fails as WR_MODULE_COMPILE; so does a thread that dies.
//
// A small module is prepared in place instead: 35 KiB (configmap-app) takes ~24 ms of CPU there the first
// time and a few ms after, against ~140 ms of process CPU through a thread that has to boot first, which a
// host starting with small modules paid before its first write. The walk and V8's validation are linear
// in the bytes, so a module of at most IN_PLACE_BYTES holds the event loop for milliseconds, hostile or not.

import { Worker } from 'node:worker_threads';
import { WrError } from '../../errors.ts';
import {
  type CompiledModule,
  type LoadLimits,
  lazilyCompiled,
  type ModuleCompiler,
  type PreparedModule,
  prepareModule,
} from '../loader.ts';
import { fromWire, toWire, type WireError } from './channel.ts';
import type { CompileRequest } from './compile-worker.ts';

export interface OffThreadCompilerOptions {
  /** Longest one compile on the thread may take; default 60 s (an 8 MiB module takes well under one). */
  readonly deadlineMs?: number;
  /** Modules of at most this many bytes are prepared on the calling thread; default IN_PLACE_BYTES. */
  readonly inPlaceBytes?: number;
  /** How long the thread stays up after its last compile; default 10 s. */
  readonly idleMs?: number;
}

const WORKER_URL = new URL('./compile-worker.ts', import.meta.url);
const IN_PLACE_BYTES = 64 * 1024;

interface Pending {
  readonly resolve: (compiled: CompiledModule) => void;
  readonly reject: (err: WrError) => void;
  readonly timer: NodeJS.Timeout;
}

export class OffThreadCompiler {
  readonly #deadlineMs: number;
  readonly #idleMs: number;
  readonly #inPlaceBytes: number;
  readonly #pending = new Map<number, Pending>();
  #worker: Worker | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #nextId = 1;

  constructor(options: OffThreadCompilerOptions = {}) {
    this.#deadlineMs = options.deadlineMs ?? 60_000;
    this.#idleMs = options.idleMs ?? 10_000;
    this.#inPlaceBytes = options.inPlaceBytes ?? IN_PLACE_BYTES;
  }

  /** A ModuleCompiler for ModuleLoader's `compile` option. */
  get compile(): ModuleCompiler {
    return (bytes, digest, limits) => this.#run(bytes, digest, limits);
  }

  #run(bytes: Uint8Array, digest: string, limits: LoadLimits): Promise<CompiledModule> {
    // Prepared, not compiled, here too: the guest workers compile the code. A failure becomes what the
    // thread would have posted back, so a caller cannot tell the two paths apart.
    if (bytes.length <= this.#inPlaceBytes) {
      return prepareModule(bytes, digest, limits).then(lazilyCompiled, (err: unknown) => {
        throw fromWire(toWire(err));
      });
    }
    const worker = this.#thread();
    const id = this.#nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<CompiledModule>();
    const timer = setTimeout(
      () => this.#end(`compiling took longer than ${this.#deadlineMs} ms`, { deadlineMs: this.#deadlineMs }),
      this.#deadlineMs,
    );
    this.#pending.set(id, { resolve, reject, timer });
    worker.ref();
    worker.postMessage({ id, bytes, digest, limits } satisfies CompileRequest);
    return promise;
  }

  #thread(): Worker {
    clearTimeout(this.#idleTimer);
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(WORKER_URL, { stdout: false, stderr: false });
    worker.on('message', (m: { id: number; prepared?: PreparedModule; error?: WireError }) => this.#settle(m));
    // Only the current thread's end concerns the compiles in flight; an old one may exit late.
    worker.on('error', (err) => {
      if (this.#worker === worker) this.#end(`the compile thread failed: ${err.message}`);
    });
    worker.on('exit', (code) => {
      if (this.#worker === worker) this.#end(`the compile thread exited (code ${code})`);
    });
    this.#worker = worker;
    return worker;
  }

  #settle({ id, prepared, error }: { id: number; prepared?: PreparedModule; error?: WireError }): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (error !== undefined) pending.reject(fromWire(error));
    // Compiled only where it is read: the guest workers compile the code, the main thread never does.
    else pending.resolve(lazilyCompiled(prepared!));
    if (this.#pending.size === 0) {
      // Idle, the thread must not keep the process alive; it ends after a while unless used again.
      this.#worker?.unref();
      this.#idleTimer = setTimeout(() => this.#stop(), this.#idleMs);
      this.#idleTimer.unref();
    }
  }

  /** Fails every compile in flight and lets the thread go; the next compile starts a new one. */
  #end(message: string, details?: Record<string, unknown>): void {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker !== undefined) void worker.terminate();
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(new WrError('WR_MODULE_COMPILE', message, details === undefined ? undefined : { details }));
    }
  }

  #stop(): void {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker !== undefined) void worker.terminate();
  }

  /** Ends the thread; compiles in flight fail. */
  async close(): Promise<void> {
    clearTimeout(this.#idleTimer);
    this.#end('the compiler was closed');
  }
}
