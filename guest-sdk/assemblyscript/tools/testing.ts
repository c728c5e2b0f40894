// A minimal in-process host for offline guest tests: implements the wr imports over plain JS data.
//
// It follows docs/abi/v1.md closely enough to exercise a guest (alloc, one set_output per call, held
// get/list results, log levels, a settable clock) but enforces no fuel, capabilities or output schema:
// proving those is the real runtime's job (host/src/runtime), not this harness's.

import { readFile } from 'node:fs/promises';

export {
  initInput,
  type KubeObject,
  type ReconcileInputOptions,
  type ReconcileOutput,
  reconcileInput,
  type TriggerReason,
} from './input.ts';

const HOST_STATUS = { NOT_FOUND: -1, DENIED: -2, INVALID_ARGUMENT: -3, NO_RESULT: -5 } as const;
const PAGE = 65536;

export interface LogLine {
  level: number;
  message: string;
}

export interface CallResult {
  status: number;
  /** The text passed to set_output, or undefined when the guest never called it. */
  output: string | undefined;
  /** Number of set_output calls (the ABI requires exactly one). */
  outputCalls: number;
  logs: LogLine[];
}

/** A trap inside the guest; `logs` holds what it wrote first (the SDK's abort handler logs its message). */
export class GuestTrapError extends Error {
  readonly logs: LogLine[];

  constructor(message: string, logs: LogLine[], cause: unknown) {
    const last = logs.at(-1);
    super(last ? `${message} (last log: ${last.message})` : message, { cause });
    this.name = 'GuestTrapError';
    this.logs = logs;
  }
}

export interface HarnessOptions {
  /** Lowest level the host would write (0 trace .. 4 error); default 2 (info). */
  logLevel?: number;
  /** Objects served by get/list. */
  objects?: unknown[];
  /** Kinds ("apiVersion/kind") the guest may read; default all. */
  readable?: string[];
  clock?: () => number;
}

interface Ref {
  apiVersion?: unknown;
  kind?: unknown;
  namespace?: unknown;
  name?: unknown;
  labelSelector?: unknown;
}

interface Meta {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
}

export class GuestHarness {
  readonly instance: WebAssembly.Instance;
  readonly memory: WebAssembly.Memory;
  objects: unknown[];
  logLevel: number;
  clock: () => number;
  readonly #readable: Set<string> | undefined;
  #held: Uint8Array | undefined;
  #output: string | undefined;
  #outputCalls = 0;
  #logs: LogLine[] = [];

  private constructor(module: WebAssembly.Module, options: HarnessOptions) {
    this.objects = options.objects ?? [];
    this.logLevel = options.logLevel ?? 2;
    this.clock = options.clock ?? Date.now;
    this.#readable = options.readable ? new Set(options.readable) : undefined;
    const decoder = new TextDecoder();
    const bytes = (ptr: number, len: number) => new Uint8Array(this.memory.buffer, ptr >>> 0, len >>> 0);
    const imports = {
      wr: {
        log: (level: number, ptr: number, len: number) => {
          this.#logs.push({ level, message: decoder.decode(bytes(ptr, len)) });
        },
        log_enabled: (level: number) => (level >= this.logLevel ? 1 : 0),
        get: (ptr: number, len: number) => this.#hold(this.#get(decoder.decode(bytes(ptr, len)))),
        list: (ptr: number, len: number) => this.#hold(this.#list(decoder.decode(bytes(ptr, len)))),
        result_read: (ptr: number, len: number) => {
          const held = this.#held;
          if (held === undefined) return HOST_STATUS.NO_RESULT;
          if (len < held.length) return HOST_STATUS.INVALID_ARGUMENT;
          bytes(ptr, held.length).set(held);
          this.#held = undefined;
          return held.length;
        },
        set_output: (ptr: number, len: number) => {
          this.#outputCalls++;
          this.#output = decoder.decode(bytes(ptr, len));
        },
        now_ms: () => this.clock(),
      },
    };
    this.instance = new WebAssembly.Instance(module, imports);
    this.memory = this.instance.exports.memory as WebAssembly.Memory;
  }

  static async load(wasmPath: string, options: HarnessOptions = {}): Promise<GuestHarness> {
    const module = await WebAssembly.compile(await readFile(wasmPath));
    return new GuestHarness(module, options);
  }

  static fromModule(module: WebAssembly.Module, options: HarnessOptions = {}): GuestHarness {
    return new GuestHarness(module, options);
  }

  get memoryPages(): number {
    return this.memory.buffer.byteLength / PAGE;
  }

  /** Calls wr_init with an InitInput built from `config`. */
  init(config: unknown, reconciler: { name: string; namespace?: string } = { name: 'test' }): CallResult {
    return this.call('wr_init', JSON.stringify({ abi: 1, reconciler, config }));
  }

  /** Calls an export the ABI way: input into a wr_alloc buffer, then fn(ptr, len). */
  call(exportName: string, input: string): CallResult {
    const encoded = new TextEncoder().encode(input);
    const alloc = this.instance.exports.wr_alloc as (len: number) => number;
    const ptr = alloc(encoded.length) >>> 0;
    new Uint8Array(this.memory.buffer, ptr, encoded.length).set(encoded);
    return this.invoke(exportName, ptr, encoded.length);
  }

  /** Calls any export with plain numeric arguments, capturing output and logs like `call`. */
  invoke(exportName: string, ...args: number[]): CallResult {
    const fn = this.instance.exports[exportName] as (...a: number[]) => number;
    this.#output = undefined;
    this.#outputCalls = 0;
    this.#logs = [];
    this.#held = undefined;
    let status: number;
    try {
      status = fn(...args);
    } catch (cause) {
      throw new GuestTrapError(`${exportName} trapped: ${(cause as Error).message}`, this.#logs, cause);
    }
    return { status, output: this.#output, outputCalls: this.#outputCalls, logs: this.#logs };
  }

  #hold(result: unknown): number {
    if (typeof result === 'number') return result;
    this.#held = new TextEncoder().encode(JSON.stringify(result));
    return this.#held.length;
  }

  #parse(text: string): Ref | number {
    try {
      const ref = JSON.parse(text) as Ref;
      if (typeof ref.apiVersion !== 'string' || typeof ref.kind !== 'string') return HOST_STATUS.INVALID_ARGUMENT;
      if (this.#readable && !this.#readable.has(`${ref.apiVersion}/${ref.kind}`)) return HOST_STATUS.DENIED;
      return ref;
    } catch {
      return HOST_STATUS.INVALID_ARGUMENT;
    }
  }

  #matches(o: Meta, ref: Ref): boolean {
    return (
      o.apiVersion === ref.apiVersion &&
      o.kind === ref.kind &&
      (ref.namespace === undefined || o.metadata?.namespace === ref.namespace)
    );
  }

  #get(text: string): unknown {
    const ref = this.#parse(text);
    if (typeof ref === 'number') return ref;
    if (typeof ref.name !== 'string') return HOST_STATUS.INVALID_ARGUMENT;
    const found = this.objects.find((o) => this.#matches(o as Meta, ref) && (o as Meta).metadata?.name === ref.name);
    return found ?? HOST_STATUS.NOT_FOUND;
  }

  /** Supports equality selectors ("a=b,c=d"), which is all the SDK tests need. */
  #list(text: string): unknown {
    const ref = this.#parse(text);
    if (typeof ref === 'number') return ref;
    const wanted = typeof ref.labelSelector === 'string' && ref.labelSelector.length > 0 ? ref.labelSelector : '';
    const pairs = wanted === '' ? [] : wanted.split(',').map((p) => p.split('='));
    return this.objects.filter(
      (o) => this.#matches(o as Meta, ref) && pairs.every(([k, v]) => (o as Meta).metadata?.labels?.[k ?? ''] === v),
    );
  }
}
