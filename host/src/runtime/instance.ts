// One live guest instance: instantiation, the start function, wr_init, and metered, contained calls.
//
// A call is synchronous Wasm on the thread that hosts the instance (a guest worker in the host, the
// caller's thread in tests and tools); the fuel budget bounds it, and the worker pool's deadline backs
// the budget up. Any failure poisons the instance (it may have been unwound mid-update, so its memory is
// not trusted) and the pool replaces it with a fresh one built from the same compiled module and config.

import { Buffer } from 'node:buffer';
import { DEPTH_GLOBAL_EXPORT, EXPORTS, FUEL_GLOBAL_EXPORT, GUEST_STATUS, START_EXPORT } from '../abi/constants.ts';
import type { ReconcileOutput } from '../abi/types.ts';
import { type ErrorCode, isWrError, WrError } from '../errors.ts';
import { type CallMode, HostAbort, HostBridge } from './internal/host-bridge.ts';
import { checkedStatus, guestMessage, parseGuestOutput } from './internal/output.ts';
import type { GuestReads } from './internal/reads.ts';
import type { RuntimeLimits } from './limits.ts';
import type { CompiledModule } from './loader.ts';
import type { CallObserver, GuestLogger } from './ports.ts';
import { DEPTH_BUDGET } from './wasm/index.ts';

export type GuestCallExport = typeof EXPORTS.reconcile | typeof EXPORTS.finalize;

export interface InstanceOptions {
  /** The wr_init input (encodeInitInput), encoded once per version. */
  readonly initInput: string;
  readonly limits: RuntimeLimits;
  readonly logger: GuestLogger;
  /** Fields bound to every log line of this guest, e.g. reconciler name and digest. */
  readonly logBindings: Readonly<Record<string, unknown>>;
  /** Answers the guest's get/list: in-process (localReads) or across threads (the worker's channel). */
  readonly reads: GuestReads;
  readonly clock?: () => number;
  readonly observer?: CallObserver;
}

type BufferFn = (ptr: number, len: number) => number;

const PAGE_BYTES = 65536;
const encoder = new TextEncoder();
const STACK_OVERFLOW = /maximum call stack size exceeded/i;

function exportedFunction<T>(instance: WebAssembly.Instance, name: string): T {
  return instance.exports[name] as T;
}

export class GuestInstance {
  readonly compiled: CompiledModule;
  readonly #options: InstanceOptions;
  readonly #bridge: HostBridge;
  readonly #memory: WebAssembly.Memory;
  readonly #fuel: WebAssembly.Global;
  /** The call-depth budget the instrumentation checks (wasm/internal/frames.ts); full before every entry. */
  readonly #depth: WebAssembly.Global;
  readonly #alloc: (len: number) => number;
  readonly #exports: Readonly<Record<string, BufferFn | undefined>>;
  readonly #start: (() => void) | undefined;
  #poisoned = false;

  private constructor(
    compiled: CompiledModule,
    options: InstanceOptions,
    bridge: HostBridge,
    instance: WebAssembly.Instance,
  ) {
    this.compiled = compiled;
    this.#options = options;
    this.#bridge = bridge;
    this.#memory = instance.exports[EXPORTS.memory] as WebAssembly.Memory;
    this.#fuel = instance.exports[FUEL_GLOBAL_EXPORT] as WebAssembly.Global;
    this.#depth = instance.exports[DEPTH_GLOBAL_EXPORT] as WebAssembly.Global;
    this.#alloc = exportedFunction(instance, EXPORTS.alloc);
    this.#exports = {
      [EXPORTS.init]: exportedFunction(instance, EXPORTS.init),
      [EXPORTS.reconcile]: exportedFunction(instance, EXPORTS.reconcile),
      [EXPORTS.finalize]: exportedFunction(instance, EXPORTS.finalize),
    };
    // Only the instrumenter can add it (a guest's own export of the name is refused at load): it is the
    // module's start function, moved out of instantiation so that it runs metered like any call.
    this.#start = exportedFunction(instance, START_EXPORT);
    bridge.attach(this.#memory, this.#fuel);
  }

  /**
   * Instantiates `compiled`, runs its start function and wr_init. Every failure, including a trap in the
   * start function or an exhausted budget, is WR_GUEST_INIT_FAILED with the underlying code in
   * `details.cause`: init is deterministic (config is its only input), so retrying the same module and
   * config fails the same way.
   */
  static instantiate(compiled: CompiledModule, options: InstanceOptions): GuestInstance {
    const bridge = new HostBridge({
      limits: options.limits,
      logger: options.logger,
      logBindings: options.logBindings,
      reads: options.reads,
      clock: options.clock ?? Date.now,
    });
    let instance: WebAssembly.Instance;
    try {
      // Synchronous: a guest worker never returns to its event loop, and the compile is already done.
      instance = new WebAssembly.Instance(compiled.module, bridge.imports());
    } catch (err) {
      // Linking and segment initialisation: the start function is not part of instantiation any more.
      const cause =
        err instanceof WebAssembly.RuntimeError
          ? new WrError('WR_GUEST_TRAP', `instantiation trapped: ${err.message}`, { cause: err })
          : new WrError('WR_MODULE_COMPILE', `linking failed: ${(err as Error).message}`, { cause: err });
      throw GuestInstance.#initFailed(`instantiation failed: ${cause.message}`, cause, compiled);
    }
    const guest = new GuestInstance(compiled, options, bridge, instance);
    guest.#init();
    return guest;
  }

  /** `instantiate` with its failure as a rejection. */
  static async create(compiled: CompiledModule, options: InstanceOptions): Promise<GuestInstance> {
    return GuestInstance.instantiate(compiled, options);
  }

  static #initFailed(message: string, cause: WrError, compiled: CompiledModule): WrError {
    return new WrError('WR_GUEST_INIT_FAILED', message, {
      cause,
      details: { ...cause.details, cause: cause.code, digest: compiled.digest },
    });
  }

  get poisoned(): boolean {
    return this.#poisoned;
  }

  #init(): void {
    let status: number;
    let output: string | undefined;
    if (this.#start !== undefined) {
      try {
        this.#run('__wr_start', 'start', this.#start);
      } catch (err) {
        const cause = err as WrError;
        throw GuestInstance.#initFailed(`the start function failed: ${cause.message}`, cause, this.compiled);
      }
    }
    try {
      ({ status, output } = this.#invoke(EXPORTS.init, this.#options.initInput, 'init'));
    } catch (err) {
      const cause = err as WrError;
      throw GuestInstance.#initFailed(`wr_init failed: ${cause.message}`, cause, this.compiled);
    }
    if (status !== GUEST_STATUS.OK) {
      this.#poisoned = true;
      const message = guestMessage(output);
      throw new WrError('WR_GUEST_INIT_FAILED', `wr_init returned status ${status}${message ? `: ${message}` : ''}`, {
        details: { status, digest: this.compiled.digest, ...(message ? { guestMessage: message } : {}) },
      });
    }
  }

  /**
   * Runs wr_reconcile or wr_finalize on `input` (encodeReconcileInput). Returns the validated output,
   * including a guest-reported `error` as data; throws WrError for failures of the call itself.
   */
  call(name: GuestCallExport, input: string | Uint8Array): ReconcileOutput {
    const { status, output } = this.callUnparsed(name, input);
    try {
      return parseGuestOutput(status, output, this.#options.limits);
    } catch (err) {
      this.#poisoned = true;
      throw err;
    }
  }

  /**
   * As `call`, up to the output's JSON text and the status beside it, unparsed: a guest worker hands both
   * over as they are and the main thread, which needs the parsed output anyway, parses and validates it
   * once there (parseGuestOutput). Failures that need no parse (bad input, an unknown status, no output)
   * are thrown here.
   */
  callUnparsed(name: GuestCallExport, input: string | Uint8Array): { status: number; output: string } {
    if (this.#poisoned) throw new WrError('WR_GUEST_TRAP', 'the instance is poisoned by an earlier failure');
    const { status, output } = this.#invoke(name, input, 'call');
    try {
      return { status, output: checkedStatus(status, output) };
    } catch (err) {
      this.#poisoned = true;
      throw err;
    }
  }

  /** Writes the input, runs one export under a fresh budget, and maps every way it can fail to a WrError. */
  #invoke(name: string, input: string | Uint8Array, mode: CallMode): { status: number; output: string | undefined } {
    const limits = this.#options.limits;
    const bytes = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
    if (bytes > limits.inputBytes) {
      throw new WrError(
        'WR_GUEST_INPUT_TOO_LARGE',
        `input of ${bytes} bytes exceeds the limit of ${limits.inputBytes}`,
        {
          details: { bytes, limit: limits.inputBytes },
        },
      );
    }
    const fn = this.#exports[name]!;
    let status = 0;
    const output = this.#run(name, mode, () => {
      const ptr = this.#alloc(bytes) >>> 0;
      const buffer = this.#memory.buffer;
      if (ptr + bytes > buffer.byteLength) {
        throw new HostAbort(
          new WrError('WR_GUEST_TRAP', `${EXPORTS.alloc} returned a buffer outside linear memory`, {
            details: { ptr, len: bytes, memoryBytes: buffer.byteLength },
          }),
        );
      }
      const target = new Uint8Array(buffer, ptr, bytes);
      if (typeof input === 'string') encoder.encodeInto(input, target);
      else target.set(input);
      // What wr_alloc's frames left in the depth budget is not the export's to pay.
      this.#depth.value = DEPTH_BUDGET;
      status = fn(ptr, bytes);
    });
    return { status, output };
  }

  /** Runs `body` under a fresh budget in `mode`; returns what set_output received, throws the failure. */
  #run(name: string, mode: CallMode, body: () => void): string | undefined {
    const limits = this.#options.limits;
    const started = performance.now();
    // The start function runs on the fuel the module was instrumented with: the budget less what
    // initialising its segments cost (charged at load, docs/abi/v1.md "Fuel").
    if (mode !== 'start') this.#fuel.value = limits.fuel;
    this.#depth.value = DEPTH_BUDGET;
    this.#bridge.begin(mode);
    let failure: WrError | undefined;
    try {
      body();
    } catch (err) {
      failure = this.#classify(err);
    }
    const outcome = this.#bridge.end();
    // An abort recorded by an import wins even if the guest caught the exception and returned normally.
    failure = outcome.abort ?? failure;
    const remaining = this.#fuel.value as number;
    const fuelUsed = limits.fuel - Math.max(remaining, 0);
    if (mode !== 'start') {
      this.#options.observer?.onCall({
        digest: this.compiled.digest,
        export: name as 'wr_init' | GuestCallExport,
        outcome: failure?.code ?? 'ok',
        fuelUsed,
        durationMs: performance.now() - started,
      });
    }
    if (failure !== undefined) {
      this.#poisoned = true;
      throw failure;
    }
    return outcome.output;
  }

  #classify(err: unknown): WrError {
    if (err instanceof HostAbort) return err.error;
    if (isWrError(err)) return err;
    if (err instanceof WebAssembly.Exception) {
      // A Wasm `throw` no handler caught. Its payload is guest data: only the fact is reported.
      return new WrError('WR_GUEST_TRAP', 'the guest threw a WebAssembly exception that nothing caught', {
        cause: err,
        details: { trap: 'uncaught exception' },
      });
    }
    const message = err instanceof Error ? err.message : String(err);
    // The instrumentation's depth check stores its negative budget before it traps; V8's own overflow
    // stays a backstop (a host import's frames on top of the deepest guest frames, say).
    if ((this.#depth.value as number) < 0) {
      return new WrError('WR_GUEST_STACK_OVERFLOW', 'the guest overflowed the call stack', {
        cause: err,
        details: { depthBudgetBytes: DEPTH_BUDGET },
      });
    }
    if (err instanceof RangeError && STACK_OVERFLOW.test(message)) {
      return new WrError('WR_GUEST_STACK_OVERFLOW', 'the guest overflowed the call stack', { cause: err });
    }
    const fuel = this.#fuel.value as number;
    const pages = this.#memory.buffer.byteLength / PAGE_BYTES;
    const details = { memoryPages: pages, memoryMaxPages: this.compiled.memoryMaxPages, trap: message };
    let code: ErrorCode = 'WR_GUEST_TRAP';
    if (fuel < 0) code = 'WR_GUEST_BUDGET_EXCEEDED';
    // Guests trap right after memory.grow returns -1 (AssemblyScript's allocator does). A trap with memory
    // at its cap is read as that; a refused grow while below the cap is reported as a plain trap whose
    // details still show how close to the cap memory was.
    else if (pages >= this.compiled.memoryMaxPages) code = 'WR_GUEST_MEMORY_EXCEEDED';
    const text: Record<string, string> = {
      WR_GUEST_BUDGET_EXCEEDED: `the guest used up its fuel budget of ${this.#options.limits.fuel}`,
      WR_GUEST_MEMORY_EXCEEDED: `the guest trapped with memory at its cap of ${this.compiled.memoryMaxPages} pages`,
      WR_GUEST_TRAP: `the guest trapped: ${message}`,
    };
    return new WrError(code, text[code]!, { cause: err, details });
  }
}
