// The host side of one guest instance: the `wr` import functions and the state they keep during a call.
//
// Rules every import follows (docs/abi/v1.md, "Host imports"):
// - A pointer/length pair outside linear memory aborts the call with WR_GUEST_TRAP, exactly like an
//   out-of-bounds load in the guest itself; an import never lets a JS exception of its own escape.
// - Imports returning i32 report semantic problems as negative HOST_STATUS values; void imports cannot,
//   so an invalid argument aborts the call.
// - Every import charges fuel (HOST_CALL_FUEL) for the work it makes the host do, failures included, so
//   the budget bounds wall time on every path; the charge comes before the work wherever it can be known.
// - Outside a call (the start function runs as one, in mode 'start') every import traps.
// An abort records its error before throwing: Wasm exception handling can catch a JS exception thrown by
// an import, so the recorded error, not the exception, is what decides the call's outcome.

import { HOST_CALL_FUEL, HOST_STATUS, IMPORT_NAMESPACE, IMPORTS, LOG_LEVEL } from '../../abi/constants.ts';
import { type ErrorCode, isWrError, WrError } from '../../errors.ts';
import type { RuntimeLimits } from '../limits.ts';
import type { GuestLogger } from '../ports.ts';
import { type GuestReads, parseReadRequest } from './reads.ts';

export interface HostEnv {
  readonly limits: RuntimeLimits;
  readonly logger: GuestLogger;
  /** Fields bound to every guest log line (reconciler, digest). */
  readonly logBindings: Readonly<Record<string, unknown>>;
  readonly reads: GuestReads;
  readonly clock: () => number;
}

/** What a call may do: the start function nothing, wr_init no reads (config is its only input). */
export type CallMode = 'start' | 'init' | 'call';

/** Thrown through the guest's frames to stop it; the instance turns it back into `error`. */
export class HostAbort extends Error {
  readonly error: WrError;
  constructor(error: WrError) {
    super(error.message);
    this.name = 'HostAbort';
    this.error = error;
  }
}

type LevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error';
const LEVEL_NAMES: Readonly<Record<number, LevelName | undefined>> = {
  [LOG_LEVEL.TRACE]: 'trace',
  [LOG_LEVEL.DEBUG]: 'debug',
  [LOG_LEVEL.INFO]: 'info',
  [LOG_LEVEL.WARN]: 'warn',
  [LOG_LEVEL.ERROR]: 'error',
};
const utf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

/** The signature of each host import, as the loader checks it and docs/abi/v1.md lists it. */
export const HOST_IMPORT_SIGNATURES: Readonly<
  Record<string, { params: readonly string[]; results: readonly string[] }>
> = {
  [IMPORTS.log]: { params: ['i32', 'i32', 'i32'], results: [] },
  [IMPORTS.logEnabled]: { params: ['i32'], results: ['i32'] },
  [IMPORTS.get]: { params: ['i32', 'i32'], results: ['i32'] },
  [IMPORTS.list]: { params: ['i32', 'i32'], results: ['i32'] },
  [IMPORTS.resultRead]: { params: ['i32', 'i32'], results: ['i32'] },
  [IMPORTS.setOutput]: { params: ['i32', 'i32'], results: [] },
  [IMPORTS.nowMs]: { params: [], results: ['f64'] },
};

export interface CallOutcome {
  /** The text passed to set_output, if it was called. */
  readonly output: string | undefined;
  /** Set when an import aborted the call; it wins over whatever the guest did afterwards. */
  readonly abort: WrError | undefined;
}

export class HostBridge {
  readonly #env: HostEnv;
  #memory: WebAssembly.Memory | undefined;
  #fuel: WebAssembly.Global | undefined;
  #mode: CallMode | undefined;
  #output: string | undefined;
  #held: Uint8Array | undefined;
  #abort: WrError | undefined;
  #logLines = 0;
  #logDropped = 0;

  constructor(env: HostEnv) {
    this.#env = env;
  }

  /** Connects the bridge to the instance's exports once instantiation has finished. */
  attach(memory: WebAssembly.Memory, fuel: WebAssembly.Global): void {
    this.#memory = memory;
    this.#fuel = fuel;
  }

  /** Starts a call in `mode`. */
  begin(mode: CallMode): void {
    this.#mode = mode;
    this.#output = undefined;
    this.#held = undefined;
    this.#abort = undefined;
    this.#logLines = 0;
    this.#logDropped = 0;
  }

  end(): CallOutcome {
    const outcome = { output: this.#output, abort: this.#abort };
    if (this.#logDropped > 0) {
      this.#env.logger.warn({ ...this.#env.logBindings, dropped: this.#logDropped }, 'guest log lines dropped');
    }
    this.#mode = undefined;
    this.#output = undefined;
    this.#held = undefined;
    this.#abort = undefined;
    return outcome;
  }

  imports(): WebAssembly.Imports {
    return {
      [IMPORT_NAMESPACE]: {
        [IMPORTS.log]: (level: number, ptr: number, len: number) => this.#guard(() => this.#log(level, ptr, len)),
        [IMPORTS.logEnabled]: (level: number) => this.#guard(() => this.#logEnabled(level)),
        [IMPORTS.get]: (ptr: number, len: number) => this.#guard(() => this.#read('get', ptr, len)),
        [IMPORTS.list]: (ptr: number, len: number) => this.#guard(() => this.#read('list', ptr, len)),
        [IMPORTS.resultRead]: (ptr: number, len: number) => this.#guard(() => this.#resultRead(ptr, len)),
        [IMPORTS.setOutput]: (ptr: number, len: number) => this.#guard(() => this.#setOutput(ptr, len)),
        [IMPORTS.nowMs]: () => this.#guard(() => this.#nowMs()),
      },
    };
  }

  /** Any unexpected host exception becomes an abort of this call, so nothing escapes unclassified. */
  #guard<T>(body: () => T): T {
    try {
      // Every import pays its base price here, once, before anything else (and traps outside a call).
      this.#pay(HOST_CALL_FUEL.base);
      return body();
    } catch (err) {
      // A stack overflow inside an import belongs to the guest's recursion: let the instance classify it.
      if (err instanceof HostAbort || err instanceof RangeError) throw err;
      throw this.#stop(isWrError(err) ? err : new WrError('WR_GUEST_TRAP', 'a host import failed', { cause: err }));
    }
  }

  #stop(error: WrError): HostAbort {
    this.#abort ??= error;
    return new HostAbort(this.#abort);
  }

  #fail(code: ErrorCode, message: string, details?: Record<string, unknown>): never {
    throw this.#stop(new WrError(code, message, details === undefined ? undefined : { details }));
  }

  /** Charges `units` and aborts the call when the budget cannot pay; traps outside a call. */
  #pay(units: number): void {
    const fuel = this.#fuel;
    if (fuel === undefined || this.#mode === undefined || this.#mode === 'start') {
      this.#fail('WR_GUEST_TRAP', 'host imports are unavailable outside a call (in the start function)');
    }
    const left = (fuel.value as number) - units;
    // The global is an i32: clamp so a huge charge cannot wrap around to a large positive budget.
    fuel.value = Math.max(left, -1);
    if (left < 0) this.#fail('WR_GUEST_BUDGET_EXCEEDED', 'the guest used up its fuel budget in a host call');
  }

  /** The per-byte price of what an import reads, measures or copies. */
  #payBytes(bytes: number): void {
    this.#pay(Math.ceil(bytes / HOST_CALL_FUEL.bytesPerUnit));
  }

  /** Guest memory [ptr, ptr+len) as a view, or an abort when the range is outside linear memory. */
  #bytes(what: string, ptr: number, len: number): Uint8Array {
    const memory = this.#memory!;
    const start = ptr >>> 0;
    const length = len >>> 0;
    const buffer = memory.buffer;
    if (start + length > buffer.byteLength) {
      this.#fail('WR_GUEST_TRAP', `${what}: pointer/length outside linear memory`, {
        ptr: start,
        len: length,
        memoryBytes: buffer.byteLength,
      });
    }
    return new Uint8Array(buffer, start, length);
  }

  #log(level: number, ptr: number, len: number): void {
    const name = LEVEL_NAMES[level];
    if (name === undefined) this.#fail('WR_GUEST_TRAP', `log: unknown level ${level}`, { level });
    const view = this.#bytes('log', ptr, len);
    const kept = Math.min(view.length, this.#env.limits.logBytes);
    this.#payBytes(kept);
    if (!this.#env.logger.isLevelEnabled(name)) return;
    if (this.#logLines >= this.#env.limits.logLinesPerCall) {
      this.#logDropped++;
      return;
    }
    this.#logLines++;
    // Truncation may split a UTF-8 sequence; the lenient decoder turns the remainder into U+FFFD.
    const message = lenientUtf8.decode(view.subarray(0, kept));
    const fields =
      kept < view.length ? { ...this.#env.logBindings, truncatedFrom: view.length } : this.#env.logBindings;
    this.#env.logger[name](fields, message);
  }

  #logEnabled(level: number): number {
    const name = LEVEL_NAMES[level];
    if (name === undefined) return HOST_STATUS.INVALID_ARGUMENT;
    return this.#env.logger.isLevelEnabled(name) ? 1 : 0;
  }

  #read(kind: 'get' | 'list', ptr: number, len: number): number {
    const view = this.#bytes(kind, ptr, len);
    this.#pay(HOST_CALL_FUEL.request);
    this.#payBytes(view.length);
    this.#held = undefined;
    if (this.#mode !== 'call') return HOST_STATUS.DENIED;
    let request: unknown;
    try {
      request = JSON.parse(utf8.decode(view));
    } catch {
      return HOST_STATUS.INVALID_ARGUMENT;
    }
    const parsed = parseReadRequest(kind, request);
    if (parsed === undefined) return HOST_STATUS.INVALID_ARGUMENT;
    // The round trip to the cache is paid before it is made; what it found, as soon as that is known.
    this.#pay(HOST_CALL_FUEL.read);
    const answer = this.#env.reads(kind, parsed);
    this.#pay(answer.scanned * HOST_CALL_FUEL.perObject);
    this.#payBytes(answer.bytes);
    if (answer.status !== HOST_STATUS.OK || answer.data === undefined) return answer.status;
    if (answer.bytes > this.#env.limits.resultBytes) return HOST_STATUS.TOO_LARGE;
    this.#held = answer.data;
    return answer.bytes;
  }

  #resultRead(ptr: number, len: number): number {
    const view = this.#bytes('result_read', ptr, len);
    const held = this.#held;
    if (held === undefined) return HOST_STATUS.NO_RESULT;
    if (view.length < held.length) return HOST_STATUS.INVALID_ARGUMENT;
    this.#payBytes(held.length);
    view.set(held);
    this.#held = undefined;
    return held.length;
  }

  #setOutput(ptr: number, len: number): void {
    const view = this.#bytes('set_output', ptr, len);
    const limit = this.#env.limits.outputBytes;
    if (view.length > limit) {
      this.#fail('WR_GUEST_OUTPUT_TOO_LARGE', `output of ${view.length} bytes exceeds the limit of ${limit}`, {
        bytes: view.length,
        limit,
      });
    }
    if (this.#output !== undefined) this.#fail('WR_GUEST_OUTPUT_INVALID', 'set_output called twice in one call');
    this.#payBytes(view.length);
    try {
      this.#output = utf8.decode(view);
    } catch {
      this.#fail('WR_GUEST_OUTPUT_INVALID', 'output is not valid UTF-8', { path: '$' });
    }
  }

  #nowMs(): number {
    return this.#env.clock();
  }
}
