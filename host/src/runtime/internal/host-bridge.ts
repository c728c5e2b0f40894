// The host side of one guest instance: the `wr` import functions and the state they keep during a call.
//
// Rules every import follows (docs/abi/v1.md, "Host imports"):
// - A pointer/length pair outside linear memory aborts the call with WR_GUEST_TRAP, exactly like an
//   out-of-bounds load in the guest itself; an import never lets a JS exception of its own escape.
// - Imports returning i32 report semantic problems as negative HOST_STATUS values; void imports cannot,
//   so an invalid argument aborts the call.
// - Every import charges fuel (HOST_CALL_FUEL) so that work done by the host on the guest's behalf is
//   bounded by the same budget as the guest's own instructions.
// An abort records its error before throwing: Wasm exception handling can catch a JS exception thrown by
// an import, so the recorded error, not the exception, is what decides the call's outcome.

import { Buffer } from 'node:buffer';
import { HOST_CALL_FUEL, HOST_STATUS, IMPORT_NAMESPACE, IMPORTS, LOG_LEVEL } from '../../abi/constants.ts';
import { parseLabelSelector } from '../../cache/label-selector.ts';
import { type ErrorCode, isWrError, WrError } from '../../errors.ts';
import type { RuntimeLimits } from '../limits.ts';
import type { GuestLogger, ListQuery, ObjectRef, ReadPort } from '../ports.ts';

export interface HostEnv {
  readonly limits: RuntimeLimits;
  readonly logger: GuestLogger;
  /** Fields bound to every guest log line (reconciler, digest). */
  readonly logBindings: Readonly<Record<string, unknown>>;
  readonly readPort: ReadPort;
  readonly clock: () => number;
}

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
const encoder = new TextEncoder();

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
  #active = false;
  #readsAllowed = false;
  #output: string | undefined;
  #held: { text: string; bytes: number } | undefined;
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

  /** Starts a call. `readsAllowed` is false for wr_init, whose only input is its config. */
  begin(readsAllowed: boolean): void {
    this.#active = true;
    this.#readsAllowed = readsAllowed;
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
    this.#active = false;
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

  #charge(bytes: number): void {
    const fuel = this.#fuel;
    if (fuel === undefined || !this.#active) return;
    const left = (fuel.value as number) - HOST_CALL_FUEL.base - Math.ceil(bytes / HOST_CALL_FUEL.bytesPerUnit);
    // The global is an i32: clamp so a huge charge cannot wrap around to a large positive budget.
    fuel.value = Math.max(left, -1);
    if (left < 0) this.#fail('WR_GUEST_BUDGET_EXCEEDED', 'the guest used up its fuel budget in a host call');
  }

  /** Guest memory [ptr, ptr+len) as a view, or an abort when the range is outside linear memory. */
  #bytes(what: string, ptr: number, len: number): Uint8Array {
    const memory = this.#memory;
    if (memory === undefined || !this.#active) {
      this.#fail('WR_GUEST_TRAP', `${what} called outside a host call (from the start function?)`);
    }
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
    this.#charge(kept);
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
    this.#charge(0);
    const name = LEVEL_NAMES[level];
    if (name === undefined) return HOST_STATUS.INVALID_ARGUMENT;
    return this.#env.logger.isLevelEnabled(name) ? 1 : 0;
  }

  #read(kind: 'get' | 'list', ptr: number, len: number): number {
    const view = this.#bytes(kind, ptr, len);
    this.#charge(view.length);
    this.#held = undefined;
    if (!this.#readsAllowed) return HOST_STATUS.DENIED;
    let request: unknown;
    try {
      request = JSON.parse(utf8.decode(view));
    } catch {
      return HOST_STATUS.INVALID_ARGUMENT;
    }
    const parsed = kind === 'get' ? parseObjectRef(request) : parseListQuery(request);
    if (parsed === undefined) return HOST_STATUS.INVALID_ARGUMENT;
    let text: string;
    let bytes: number;
    try {
      if (kind === 'get') {
        const found = this.#env.readPort.get(parsed as ObjectRef);
        if (found === undefined) return HOST_STATUS.NOT_FOUND;
        text = found;
        bytes = Buffer.byteLength(found, 'utf8');
      } else {
        const items = this.#env.readPort.list(parsed as ListQuery);
        // Sum before joining so an oversized list never gets concatenated.
        bytes = 2 + Math.max(items.length - 1, 0);
        for (const item of items) bytes += Buffer.byteLength(item, 'utf8');
        text = bytes > this.#env.limits.resultBytes ? '' : `[${items.join(',')}]`;
      }
    } catch (err) {
      if (isWrError(err, 'WR_CAPABILITY_DENIED')) return HOST_STATUS.DENIED;
      throw err;
    }
    if (bytes > this.#env.limits.resultBytes) return HOST_STATUS.TOO_LARGE;
    this.#charge(bytes);
    this.#held = { text, bytes };
    return bytes;
  }

  #resultRead(ptr: number, len: number): number {
    const view = this.#bytes('result_read', ptr, len);
    const held = this.#held;
    if (held === undefined) return HOST_STATUS.NO_RESULT;
    if (view.length < held.bytes) return HOST_STATUS.INVALID_ARGUMENT;
    this.#charge(held.bytes);
    encoder.encodeInto(held.text, view);
    this.#held = undefined;
    return held.bytes;
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
    this.#charge(view.length);
    try {
      this.#output = utf8.decode(view);
    } catch {
      this.#fail('WR_GUEST_OUTPUT_INVALID', 'output is not valid UTF-8', { path: '$' });
    }
  }

  #nowMs(): number {
    this.#charge(0);
    return this.#env.clock();
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function parseObjectRef(value: unknown): ObjectRef | undefined {
  if (!isRecord(value) || !nonEmpty(value.apiVersion) || !nonEmpty(value.kind) || !nonEmpty(value.name)) return;
  if (value.namespace !== undefined && !nonEmpty(value.namespace)) return;
  return {
    apiVersion: value.apiVersion,
    kind: value.kind,
    name: value.name,
    ...(value.namespace === undefined ? {} : { namespace: value.namespace }),
  };
}

/** Undefined for a malformed query, including a selector that does not follow the Kubernetes grammar. */
function parseListQuery(value: unknown): ListQuery | undefined {
  if (!isRecord(value) || !nonEmpty(value.apiVersion) || !nonEmpty(value.kind)) return;
  if (value.namespace !== undefined && !nonEmpty(value.namespace)) return;
  const selector = value.labelSelector;
  if (selector !== undefined && typeof selector !== 'string') return;
  let labelSelector: ListQuery['labelSelector'];
  if (selector !== undefined && selector !== '') {
    try {
      labelSelector = parseLabelSelector(selector);
    } catch (err) {
      if (isWrError(err, 'WR_SELECTOR_INVALID')) return;
      throw err;
    }
  }
  return {
    apiVersion: value.apiVersion,
    kind: value.kind,
    ...(value.namespace === undefined ? {} : { namespace: value.namespace }),
    ...(labelSelector === undefined ? {} : { labelSelector }),
  };
}
