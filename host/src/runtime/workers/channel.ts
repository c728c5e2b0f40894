// The shared memory one guest worker and the main thread talk through, and the codec both sides use.
//
// Why shared memory and not postMessage: a message round trip costs 75-100 us here, a futex wake-up
// through Atomics a few; short guest calls would otherwise spend more time in transit than running.
// And a worker blocked in Atomics.wait can be answered while it is in the middle of a guest call, which
// is how a guest's cache read reaches the cache that only the main thread owns, exactly as it is now.
//
// Protocol, one operation at a time per worker, driven by the STATE word:
//   main:   write the request, STATE = REQUEST, notify
//   worker: STATE = RUNNING (no notify: it only tells a spinning main thread that the worker is on a core)
//   worker: (any number of) write a read, STATE = READ, notify, wait -> main: STATE = ANSWERING (no
//           notify, as RUNNING), answers, STATE = REPLY, notify
//   worker: write the reply, STATE = DONE, notify
//   main:   read the reply, STATE = IDLE
// The data buffer is a growable SharedArrayBuffer: it commits memory only as far as the largest message
// has reached, and never more than DATA_MAX_BYTES.

import { Buffer } from 'node:buffer';
import { ERROR_CODES, type ErrorCode, WrError } from '../../errors.ts';
import type { PreparedModule } from '../loader.ts';

/** Indices into the control block (Int32Array). */
export const CTL = { state: 0, op: 1, a0: 2, a1: 3, a2: 4, len: 5 } as const;
export const CTL_WORDS = 8;

export const STATE = { idle: 0, request: 1, read: 2, reply: 3, done: 4, running: 5, answering: 6 } as const;
export const OP = { instantiate: 1, call: 2, drop: 3 } as const;
export const CALL_EXPORT = ['wr_reconcile', 'wr_finalize'] as const;
export const READ_KIND = ['get', 'list'] as const;
/** The status of a read the main thread failed to answer (a host bug): the worker fails the call. */
export const READ_HOST_FAILED = -1000;

const DATA_INITIAL_BYTES = 64 * 1024;
/** Virtual reservation per worker; only touched pages cost memory. Bounds every message. */
export const DATA_MAX_BYTES = 256 * 1024 * 1024;

export interface ChannelBuffers {
  readonly control: SharedArrayBuffer;
  readonly data: SharedArrayBuffer;
}

export function createChannelBuffers(): ChannelBuffers {
  return {
    control: new SharedArrayBuffer(CTL_WORDS * 4),
    data: new SharedArrayBuffer(DATA_INITIAL_BYTES, { maxByteLength: DATA_MAX_BYTES }),
  };
}

/** Thrown when a message would not fit the data buffer's reservation; callers map it to a typed error. */
export class MessageTooLarge extends Error {
  readonly bytes: number;
  constructor(bytes: number) {
    super(`a ${bytes}-byte message exceeds the ${DATA_MAX_BYTES}-byte channel`);
    this.bytes = bytes;
  }
}

/** One side's view of a channel: the control words and byte access to the data buffer. */
export class Channel {
  readonly ctl: Int32Array;
  readonly #data: SharedArrayBuffer;

  constructor(buffers: ChannelBuffers) {
    this.ctl = new Int32Array(buffers.control);
    this.#data = buffers.data;
  }

  get state(): number {
    return Atomics.load(this.ctl, CTL.state);
  }

  /** Publishes `state` and wakes the other side. */
  signal(state: number): void {
    Atomics.store(this.ctl, CTL.state, state);
    Atomics.notify(this.ctl, CTL.state);
  }

  #reserve(bytes: number): void {
    if (bytes > DATA_MAX_BYTES) throw new MessageTooLarge(bytes);
    if (this.#data.byteLength < bytes) {
      this.#data.grow(Math.min(DATA_MAX_BYTES, Math.max(bytes, this.#data.byteLength * 2)));
    }
  }

  /** Writes `text` from offset 0 and sets CTL.len; `bytes`, its UTF-8 length, when the caller knows it. */
  writeText(text: string, bytes = Buffer.byteLength(text, 'utf8')): void {
    this.#reserve(bytes);
    Buffer.from(this.#data, 0, bytes).write(text, 0, bytes, 'utf8');
    this.ctl[CTL.len] = bytes;
  }

  /** Writes `parts` back to back from offset 0; returns each part's UTF-8 length. Sets CTL.len to the total. */
  writeTexts(...parts: string[]): number[] {
    const lengths = parts.map((p) => Buffer.byteLength(p, 'utf8'));
    const total = lengths.reduce((a, b) => a + b, 0);
    this.#reserve(total);
    const view = Buffer.from(this.#data, 0, total);
    let at = 0;
    for (let i = 0; i < parts.length; i++) at += view.write(parts[i]!, at, lengths[i]!, 'utf8');
    this.ctl[CTL.len] = total;
    return lengths;
  }

  /** The UTF-8 text at [from, from+len). */
  readText(from: number, len: number): string {
    return Buffer.from(this.#data, from, len).toString('utf8');
  }

  /** A private copy of the bytes at [from, from+len), which outlives the next message. */
  copyBytes(from: number, len: number): Uint8Array {
    return new Uint8Array(this.#data, from, len).slice();
  }
}

/** A WrError as it crosses the thread boundary. */
export interface WireError {
  readonly code: string;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

/** A failure as it crosses the thread boundary; anything but a WrError is a host bug. */
export function toWire(err: unknown): WireError {
  const e = err instanceof WrError ? err : new WrError('WR_HOST_INTERNAL', String((err as Error)?.message ?? err));
  return { code: e.code, message: e.message, ...(e.details === undefined ? {} : { details: e.details }) };
}

/** The WrError a wire error stands for; a code this host does not know is a host bug. */
export function fromWire(error: WireError): WrError {
  const code = (Object.hasOwn(ERROR_CODES, error.code) ? error.code : 'WR_HOST_INTERNAL') as ErrorCode;
  return new WrError(code, error.message, error.details === undefined ? undefined : { details: error.details });
}

/** One guest log line, logged by the main thread with the reconciler's bindings. */
export type WireLog = [level: 'trace' | 'debug' | 'info' | 'warn' | 'error', message: string, fields?: object];

/** What a worker reports after every operation (JSON, written before any output text). */
export interface WireReply {
  readonly error?: WireError;
  /** The guest's status (OK or ERROR) of a call whose output text follows, checked by the main thread. */
  readonly status?: number;
  readonly logs?: WireLog[];
  /** Set for calls that ran guest code. */
  readonly fuelUsed?: number;
  readonly durationMs?: number;
}

/** What the main thread sends to instantiate (JSON); the compiled module travels over the worker's port. */
export interface WireInstantiate {
  readonly moduleId: number;
  readonly initInput: string;
  readonly limits: unknown;
  /** The log levels the host's logger writes, so that `log_enabled` answers without a round trip. */
  readonly levels: readonly string[];
}

/**
 * A module posted to a worker once, before the first instance that needs it: its instrumented code, which
 * the worker compiles (V8 shares the compiled code between the threads that compile the same bytes).
 */
export interface WireModule {
  readonly moduleId: number;
  readonly prepared: PreparedModule;
}
