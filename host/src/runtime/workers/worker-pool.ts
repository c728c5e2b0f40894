// The small pool of worker threads every guest call runs on, shared by all modules of one host.
//
// Why: a guest on the main thread, however well metered, holds the thread that renews the Lease, serves
// probes and /metrics and reads the watches. Here the main thread only hands requests over, answers the
// guests' cache reads from its cache, and keeps a wall-clock deadline per operation. A call that overruns
// it gets its worker terminated (the one thing that stops code V8 is running) and fails with
// WR_GUEST_DEADLINE_EXCEEDED; a worker that dies any other way (its heap limit, a crash) fails what it was
// running with WR_GUEST_WORKER_EXITED. Either way the instances it hosted are gone, the pool starts a new
// worker on demand, and the host goes on.
//
// Workers start lazily and end after `idleMs` without an operation; the instances they hosted are re-created
// on the next call (a host idle for a while has none). An instance lives on one worker, but it is
// only a cache of its module and config (guests are functions of their input, docs/runtime.md): when its
// worker is busy with a neighbour's call while another worker idles, it is re-created on the idle one
// rather than queued, so a slow or hostile neighbour delays others by at most the cost of one init.

import { Buffer } from 'node:buffer';
import { availableParallelism } from 'node:os';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { EXPORTS } from '../../abi/constants.ts';
import type { ReconcileOutput } from '../../abi/types.ts';
import { type ErrorCode, errorFields, WrError } from '../../errors.ts';
import type { GuestCallExport } from '../instance.ts';
import { parseGuestOutput } from '../internal/output.ts';
import { answerRead, type ReadKind, type ReadRequest } from '../internal/reads.ts';
import type { RuntimeLimits } from '../limits.ts';
import type { CompiledModule, PreparedModule } from '../loader.ts';
import type { CallObserver, GuestLogger, ReadPort } from '../ports.ts';
import {
  CALL_EXPORT,
  Channel,
  CTL,
  createChannelBuffers,
  fromWire,
  MessageTooLarge,
  OP,
  READ_HOST_FAILED,
  READ_KIND,
  STATE,
  type WireInstantiate,
  type WireModule,
  type WireReply,
} from './channel.ts';

export interface GuestWorkerPoolOptions {
  /** Most worker threads; each costs about 20 MB. Default: 2, or 1 on a single core. */
  readonly size?: number;
  /** V8 heap cap of each worker, in MiB: a backstop, since guest memory is outside the JS heap. */
  readonly heapMb?: number;
  /** How long the main thread polls for a reply before it yields (microseconds). Default 100. */
  readonly spinMicros?: number;
  /**
   * How long a worker stays up with nothing to run (ms); default 10 s, as the compile thread. Its instances
   * go with it and are created again (start function and wr_init) by the next call that needs one.
   */
  readonly idleMs?: number;
}

export interface PoolStats {
  readonly workers: number;
  readonly instances: number;
  /** Workers terminated for a deadline or lost to a crash, since the pool started. */
  readonly replaced: number;
  /** Instances re-created on an idle worker rather than queued behind a busy one. */
  readonly moved: number;
  /** Workers ended after `idleMs` without an operation. */
  readonly released: number;
}

/** What an instance needs beyond its compiled module: everything the main thread keeps for it. */
export interface RemoteInstanceOptions {
  readonly initInput: string;
  readonly limits: RuntimeLimits;
  readonly logger: GuestLogger;
  readonly logBindings: Readonly<Record<string, unknown>>;
  readonly readPort: ReadPort;
  readonly observer?: CallObserver;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
const WORKER_URL = new URL('./guest-worker.ts', import.meta.url);
/** How long the main thread spins for a worker to pick a request up before it yields its core. */
const PICKUP_MICROS = 10;
/** Instantiation also runs the start function and wr_init: each may take a full call's deadline. */
const INSTANTIATE_DEADLINES = 3;

interface Operation {
  readonly op: number;
  readonly instance: RemoteInstance;
  readonly export?: number;
  readonly payload: string;
  /** UTF-8 length of `payload` when the caller has measured it already. */
  readonly payloadBytes?: number;
  readonly deadlineMs: number;
  readonly resolve: (reply: { reply: WireReply; output: string }) => void;
  readonly reject: (err: WrError) => void;
}

/**
 * What a worker needs to compile `compiled` itself: everything but `module`, which is not read here, so
 * that a module compiled lazily (loader.ts lazilyCompiled) is never compiled on the main thread.
 */
function preparedOf(compiled: CompiledModule): PreparedModule {
  const { digest, code, bytes, instrumentedBytes, hasStart, initFuel, memoryMaxPages, hasFinalize } = compiled;
  return { digest, code, bytes, instrumentedBytes, hasStart, initFuel, memoryMaxPages, hasFinalize };
}

class GuestWorker {
  readonly channel: Channel;
  readonly instances = new Set<RemoteInstance>();
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #posted = new Map<number, number>();
  readonly #queue: Operation[] = [];
  readonly #pool: GuestWorkerPool;
  #current: Operation | undefined;
  #timer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Settles once the thread has loaded its code: its boot time is not the first guest call's. */
  readonly #ready: Promise<unknown>;
  #booted = false;
  dead = false;

  constructor(pool: GuestWorkerPool, heapMb: number) {
    this.#pool = pool;
    const buffers = createChannelBuffers();
    this.channel = new Channel(buffers);
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    this.#worker = new Worker(WORKER_URL, {
      workerData: { buffers, port: port2 },
      transferList: [port2],
      resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: Math.max(4, heapMb >> 3) },
      stdout: false,
      stderr: false,
    });
    this.#ready = new Promise((resolve) => this.#worker.once('message', resolve));
    // An idle worker must not keep a finished host process (or a test) alive.
    this.#worker.unref();
    this.#worker.on('error', (err) => this.#die('WR_GUEST_WORKER_EXITED', `the guest worker failed: ${err.message}`));
    this.#worker.on('exit', (code) => this.#die('WR_GUEST_WORKER_EXITED', `the guest worker exited (code ${code})`));
  }

  /** Posts `compiled` to the worker unless it already holds it; counts the instances that use it. */
  hold(moduleId: number, compiled: CompiledModule): void {
    const refs = this.#posted.get(moduleId) ?? 0;
    if (refs === 0) this.#port.postMessage({ moduleId, prepared: preparedOf(compiled) } satisfies WireModule);
    this.#posted.set(moduleId, refs + 1);
  }

  release(moduleId: number): void {
    const refs = (this.#posted.get(moduleId) ?? 1) - 1;
    if (refs <= 0) this.#posted.delete(moduleId);
    else this.#posted.set(moduleId, refs);
  }

  /** Operations running or queued here. */
  get load(): number {
    return (this.#current === undefined ? 0 : 1) + this.#queue.length;
  }

  run(op: Omit<Operation, 'resolve' | 'reject'>): Promise<{ reply: WireReply; output: string }> {
    if (this.dead) return Promise.reject(new WrError('WR_GUEST_WORKER_EXITED', 'the guest worker is gone'));
    const { promise, resolve, reject } = Promise.withResolvers<{ reply: WireReply; output: string }>();
    this.#queue.push({ ...op, resolve, reject });
    if (this.#current === undefined) this.#kick();
    return promise;
  }

  /** Runs the next operation; a failure of the hand-off itself is a host bug that ends this worker only. */
  #kick(): void {
    this.#next().catch((err: unknown) =>
      this.#die('WR_HOST_INTERNAL', `the guest worker's channel failed: ${(err as Error)?.message ?? err}`),
    );
  }

  async #next(): Promise<void> {
    const op = this.#queue.shift();
    if (this.dead) return;
    if (op === undefined) {
      // Re-armed each time the queue drains; one that fires while an operation runs does nothing.
      if (this.#idleTimer === undefined) {
        this.#idleTimer = setTimeout(() => this.#release(), this.#pool.idleMs);
        this.#idleTimer.unref();
      } else this.#idleTimer.refresh();
      return;
    }
    this.#current = op;
    if (!this.#booted) {
      // Referenced while it boots, so a process waiting on nothing but this call stays up for it; once
      // the operation runs, its deadline timer does that.
      this.#worker.ref();
      await this.#ready;
      this.#worker.unref();
      this.#booted = true;
      if (this.dead) return;
    }
    const ch = this.channel;
    try {
      ch.writeText(op.payload, op.payloadBytes);
      ch.ctl[CTL.op] = op.op;
      ch.ctl[CTL.a0] = op.instance.id;
      ch.ctl[CTL.a1] = op.export ?? 0;
    } catch (err) {
      this.#current = undefined;
      op.reject(
        err instanceof MessageTooLarge
          ? new WrError('WR_GUEST_INPUT_TOO_LARGE', err.message, { details: { bytes: err.bytes } })
          : new WrError('WR_HOST_INTERNAL', `could not hand the call to its worker: ${(err as Error).message}`),
      );
      this.#kick();
      return;
    }
    this.#timer = setTimeout(
      () =>
        this.#die('WR_GUEST_DEADLINE_EXCEEDED', `the call overran its deadline of ${op.deadlineMs} ms`, {
          deadlineMs: op.deadlineMs,
        }),
      op.deadlineMs,
    );
    ch.signal(STATE.request);
    await this.#awaitDone(op);
    if (this.dead) return;
    clearTimeout(this.#timer);
    const meta = ch.ctl[CTL.a0]!;
    const total = ch.ctl[CTL.len]!;
    const reply = JSON.parse(ch.readText(0, meta)) as WireReply;
    const output = ch.readText(meta, total - meta);
    Atomics.store(ch.ctl, CTL.state, STATE.idle);
    this.#current = undefined;
    op.resolve({ reply, output });
    this.#kick();
  }

  /**
   * Waits for DONE, answering the worker's cache reads meanwhile; spins briefly first (short calls), but
   * only while the worker is seen running: one that has not picked the request up within PICKUP_MICROS is
   * not on a core beside this thread (a busy machine, or it sleeps in the kernel), and spinning on would
   * only hold the core it needs. On one free core that made every short call cost the whole spin (~165 us).
   */
  async #awaitDone(op: Operation): Promise<void> {
    const ch = this.channel;
    const started = performance.now();
    const spinUntil = started + this.#pool.spinMicros / 1000;
    const pickupUntil = started + PICKUP_MICROS / 1000;
    for (;;) {
      if (this.dead) return;
      const state = ch.state;
      if (state === STATE.done) return;
      if (state === STATE.read) {
        this.#answer(op);
        continue;
      }
      const now = performance.now();
      if (now < spinUntil && (state !== STATE.request || now < pickupUntil)) continue;
      const wait = Atomics.waitAsync(ch.ctl, CTL.state, state);
      if (wait.async) await wait.value;
    }
  }

  /** Answers the worker's read; whatever fails here is answered too, so the worker never waits forever. */
  #answer(op: Operation): void {
    const ch = this.channel;
    Atomics.store(ch.ctl, CTL.state, STATE.answering);
    try {
      const kind: ReadKind = READ_KIND[ch.ctl[CTL.a0]!]!;
      const request = JSON.parse(ch.readText(0, ch.ctl[CTL.len]!)) as ReadRequest;
      const { readPort, limits } = op.instance.options;
      const answer = answerRead(readPort, kind, request, limits.resultBytes);
      ch.ctl[CTL.a0] = answer.status;
      ch.ctl[CTL.a1] = answer.scanned;
      ch.ctl[CTL.a2] = answer.bytes;
      if (answer.status === 0) ch.writeText(answer.text, answer.bytes);
      else ch.ctl[CTL.len] = 0;
    } catch (err) {
      op.instance.options.logger.error(
        { ...op.instance.options.logBindings, ...errorFields(err) },
        'a guest cache read failed in the host',
      );
      ch.ctl[CTL.a0] = READ_HOST_FAILED;
    }
    ch.signal(STATE.reply);
  }

  /** Ends this worker: the operation in flight fails with `code`, everything queued or hosted here is lost. */
  #die(code: ErrorCode, message: string, details?: Record<string, unknown>): void {
    if (this.dead) return;
    this.dead = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#idleTimer);
    void this.#worker.terminate();
    const current = this.#current;
    this.#current = undefined;
    current?.reject(new WrError(code, message, details === undefined ? undefined : { details }));
    for (const op of this.#queue.splice(0)) {
      op.reject(
        new WrError('WR_GUEST_WORKER_EXITED', 'the guest worker was replaced before the call started', {
          details: { started: false },
        }),
      );
    }
    for (const instance of this.instances) instance.lost();
    this.instances.clear();
    // Wakes #awaitDone if it is parked in Atomics.waitAsync, so it sees `dead`.
    Atomics.notify(this.channel.ctl, CTL.state);
    this.#pool.retire(this);
  }

  /**
   * Ends this worker after `idleMs` with nothing to run: its thread's memory goes back, and its instances,
   * caches of their module and config, are lost, so the next call creates its instance on a running worker.
   */
  #release(): void {
    if (this.dead || this.load > 0) return;
    this.dead = true;
    void this.#worker.terminate();
    for (const instance of this.instances) instance.lost();
    this.instances.clear();
    this.#pool.released(this);
  }

  /** Stops the thread for good (pool shutdown). */
  stop(): Promise<number> {
    this.dead = true;
    clearTimeout(this.#idleTimer);
    this.#pool.retire(this);
    return this.#worker.terminate();
  }
}

/** A guest instance that lives in a worker; the main thread's handle to it. */
export class RemoteInstance {
  readonly id: number;
  readonly compiled: CompiledModule;
  readonly options: RemoteInstanceOptions;
  readonly #pool: GuestWorkerPool;
  readonly #moduleId: number;
  #worker: GuestWorker;
  #poisoned = false;
  #dropped = false;

  constructor(
    pool: GuestWorkerPool,
    id: number,
    worker: GuestWorker,
    moduleId: number,
    compiled: CompiledModule,
    options: RemoteInstanceOptions,
  ) {
    this.#pool = pool;
    this.id = id;
    this.#worker = worker;
    worker.hold(moduleId, compiled);
    worker.instances.add(this);
    this.#moduleId = moduleId;
    this.compiled = compiled;
    this.options = options;
  }

  get poisoned(): boolean {
    return this.#poisoned;
  }

  async start(): Promise<void> {
    const levels = LEVELS.filter((l) => this.options.logger.isLevelEnabled(l));
    const request: WireInstantiate = {
      moduleId: this.#moduleId,
      initInput: this.options.initInput,
      limits: this.options.limits,
      levels,
    };
    try {
      await this.#run(EXPORTS.init, OP.instantiate, undefined, JSON.stringify(request), INSTANTIATE_DEADLINES);
    } catch (err) {
      // The worker reports what the start function and wr_init did; a deadline or a lost worker is ours to
      // report the same way. One that never started is not an init failure: the caller tries again.
      const e = err as WrError;
      if (e.code !== 'WR_GUEST_DEADLINE_EXCEEDED' && e.code !== 'WR_GUEST_WORKER_EXITED') throw e;
      if (e.details?.started === false) throw e;
      throw new WrError('WR_GUEST_INIT_FAILED', `instantiation failed: ${e.message}`, {
        cause: e,
        details: { ...e.details, cause: e.code, digest: this.compiled.digest },
      });
    }
  }

  /** Runs wr_reconcile or wr_finalize; the same contract as GuestInstance.call, asynchronously. */
  async call(name: GuestCallExport, input: string): Promise<ReconcileOutput> {
    if (this.#poisoned) throw new WrError('WR_GUEST_TRAP', 'the instance is poisoned by an earlier failure');
    const limit = this.options.limits.inputBytes;
    const bytes = Buffer.byteLength(input, 'utf8');
    // Refused before it crosses over, and the instance is kept: the guest never saw it.
    if (bytes > limit) {
      throw new WrError('WR_GUEST_INPUT_TOO_LARGE', `input of ${bytes} bytes exceeds the limit of ${limit}`, {
        details: { bytes, limit },
      });
    }
    if (this.#worker.load > 0) {
      const idle = this.#pool.idleWorker();
      if (idle !== undefined) await this.#moveTo(idle);
    }
    // Parsed and validated here, once: the worker hands the output text over as the guest wrote it.
    return this.#run(name, OP.call, CALL_EXPORT.indexOf(name), input, 1, bytes, (reply, output) =>
      parseGuestOutput(reply.status!, output, this.options.limits),
    );
  }

  /** Re-creates this instance on `worker` (start function and wr_init again) and frees it where it was. */
  async #moveTo(worker: GuestWorker): Promise<void> {
    this.#leave();
    this.#worker = worker;
    worker.hold(this.#moduleId, this.compiled);
    worker.instances.add(this);
    this.#pool.moved++;
    await this.start();
  }

  /** Frees the instance on its current worker (queued behind any call in flight there). */
  #leave(): void {
    const worker = this.#worker;
    worker.instances.delete(this);
    worker.release(this.#moduleId);
    if (worker.dead) return;
    worker
      .run({ op: OP.drop, instance: this, payload: '', deadlineMs: this.options.limits.deadlineMs })
      .catch(() => {});
  }

  /** Runs one operation on this instance's worker; `finish` turns a reply without an error into the result. */
  async #run<T = undefined>(
    name: string,
    op: number,
    exp: number | undefined,
    payload: string,
    deadlines: number,
    payloadBytes?: number,
    finish?: (reply: WireReply, output: string) => T,
  ): Promise<T> {
    const started = performance.now();
    try {
      const { reply, output } = await this.#worker.run({
        op,
        instance: this,
        ...(exp === undefined ? {} : { export: exp }),
        payload,
        ...(payloadBytes === undefined ? {} : { payloadBytes }),
        deadlineMs: this.options.limits.deadlineMs * deadlines,
      });
      this.#log(reply);
      let failure = reply.error === undefined ? undefined : fromWire(reply.error);
      let result: T | undefined;
      if (failure === undefined && finish !== undefined) {
        try {
          result = finish(reply, output);
        } catch (err) {
          failure = err as WrError;
        }
      }
      this.#observe(name, reply, failure?.code ?? 'ok', started);
      if (failure !== undefined) throw failure;
      return result as T;
    } catch (err) {
      this.#poisoned = true;
      const error = err instanceof WrError ? err : new WrError('WR_HOST_INTERNAL', String(err));
      // A call that never started (a neighbour took its worker down first) is no call of this guest: the
      // slot runs it again, and nothing is counted against this reconciler.
      const ran = error.details?.started !== false;
      if (ran && (error.code === 'WR_GUEST_DEADLINE_EXCEEDED' || error.code === 'WR_GUEST_WORKER_EXITED')) {
        this.#observe(name, {}, error.code, started);
      }
      throw error;
    }
  }

  #log(reply: WireReply): void {
    const { logger, logBindings } = this.options;
    for (const [level, message, fields] of reply.logs ?? []) {
      logger[level](fields === undefined ? logBindings : { ...logBindings, ...fields }, message);
    }
  }

  #observe(name: string, reply: WireReply, outcome: string, started: number): void {
    this.options.observer?.onCall({
      digest: this.compiled.digest,
      export: name as 'wr_init' | GuestCallExport,
      outcome,
      // A deadline or a lost worker ends the call with its budget unaccounted: count it as spent.
      fuelUsed: reply.fuelUsed ?? this.options.limits.fuel,
      durationMs: reply.durationMs ?? performance.now() - started,
    });
  }

  /** Its worker died: every later call fails at once, and the pool replaces it. */
  lost(): void {
    this.#poisoned = true;
    this.#dropped = true;
  }

  /** Frees the instance for good. */
  dispose(): void {
    if (this.#dropped) return;
    this.#dropped = true;
    this.#leave();
  }
}

export class GuestWorkerPool {
  readonly size: number;
  readonly heapMb: number;
  readonly spinMicros: number;
  readonly idleMs: number;
  readonly #workers = new Set<GuestWorker>();
  readonly #moduleIds = new WeakMap<CompiledModule, number>();
  #nextModuleId = 1;
  #nextInstanceId = 1;
  #replaced = 0;
  #released = 0;
  #closed = false;
  /** Instances re-created on an idle worker instead of waiting behind a neighbour. */
  moved = 0;

  constructor(options: GuestWorkerPoolOptions = {}) {
    this.size = options.size ?? Math.min(2, availableParallelism());
    this.heapMb = options.heapMb ?? 64;
    this.spinMicros = options.spinMicros ?? 100;
    this.idleMs = options.idleMs ?? 10_000;
    if (!Number.isSafeInteger(this.size) || this.size < 1) {
      throw new WrError('WR_CONFIG_INVALID', `guest worker pool size must be a positive integer, got ${this.size}`);
    }
  }

  stats(): PoolStats {
    let instances = 0;
    for (const w of this.#workers) instances += w.instances.size;
    return {
      workers: this.#workers.size,
      instances,
      replaced: this.#replaced,
      moved: this.moved,
      released: this.#released,
    };
  }

  /** Creates an instance on the least loaded worker and runs its start function and wr_init there. */
  async instantiate(compiled: CompiledModule, options: RemoteInstanceOptions): Promise<RemoteInstance> {
    if (this.#closed) throw new WrError('WR_SLOT_CLOSED', 'the guest worker pool is closed');
    const worker = this.#pick();
    let moduleId = this.#moduleIds.get(compiled);
    if (moduleId === undefined) {
      moduleId = this.#nextModuleId++;
      this.#moduleIds.set(compiled, moduleId);
    }
    const instance = new RemoteInstance(this, this.#nextInstanceId++, worker, moduleId, compiled, options);
    try {
      await instance.start();
    } catch (err) {
      instance.dispose();
      throw err;
    }
    return instance;
  }

  /** An idle worker for a new instance, else a new worker while the pool has room, else the least loaded. */
  #pick(): GuestWorker {
    const idle = this.idleWorker();
    if (idle !== undefined) return idle;
    let best: GuestWorker | undefined;
    for (const w of this.#workers) if (best === undefined || w.load < best.load) best = w;
    return best!;
  }

  /** A worker with nothing running or queued (the one hosting fewest instances), or a new one if there is room. */
  idleWorker(): GuestWorker | undefined {
    let best: GuestWorker | undefined;
    for (const w of this.#workers) {
      if (w.load === 0 && (best === undefined || w.instances.size < best.instances.size)) best = w;
    }
    if (best !== undefined || this.#workers.size >= this.size || this.#closed) return best;
    const worker = new GuestWorker(this, this.heapMb);
    this.#workers.add(worker);
    return worker;
  }

  /** Called by a worker that died or was stopped. */
  retire(worker: GuestWorker): void {
    if (this.#workers.delete(worker) && !this.#closed) this.#replaced++;
  }

  /** Called by a worker that ended itself after `idleMs` without work: not a replacement. */
  released(worker: GuestWorker): void {
    if (this.#workers.delete(worker)) this.#released++;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#workers].map((w) => w.stop()));
  }
}

let shared: GuestWorkerPool | undefined;

/** The process-wide pool that slots use unless given their own. */
export function sharedWorkerPool(): GuestWorkerPool {
  shared ??= new GuestWorkerPool();
  return shared;
}
