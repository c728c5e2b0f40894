// The adversarial suite's host and module builders: one ModuleLoader and one GuestWorkerPool per test file,
// a healthy guest (ok.wat) loaded in it once, and helpers that assert an attack fails with its exact code
// and that the healthy guest still answers afterwards in that same host.

import assert from 'node:assert/strict';
import wabtInit from 'wabt';
import { type ErrorCode, isWrError, type WrError } from '../../host/src/errors.ts';
import {
  GuestWorkerPool,
  type LimitOverrides,
  ModuleLoader,
  ModuleSlot,
  resolveLimits,
} from '../../host/src/runtime/index.ts';
import { type LogLine, mapReadPort, recordingLogger } from '../fixtures/guests/host.ts';
import { okGuest, WABT_ALL_FEATURES } from '../fixtures/guests/wat.ts';
import { customSection, leb128 } from '../support/wasm-bytes.ts';

type Wabt = Awaited<ReturnType<typeof wabtInit>>;
let wabt: Promise<Wabt> | undefined;

/** WAT to Wasm with every feature on; `validate: false` keeps modules that are invalid on purpose. */
export async function wat(text: string, options: { validate?: boolean } = {}): Promise<Uint8Array> {
  wabt ??= wabtInit();
  const module = (await wabt).parseWat('adversarial.wat', text, WABT_ALL_FEATURES);
  try {
    if (options.validate !== false) (module.validate as (features?: object) => void)(WABT_ALL_FEATURES);
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

export interface GuestParts {
  /** Import declarations (WAT). */
  imports?: string;
  /** Memory declaration; default one exported page. */
  memory?: string;
  /** Body of wr_alloc (param $len i32) (result i32). */
  alloc?: string;
  /** Body of wr_init (param $ptr i32) (param $len i32) (result i32). */
  init?: string;
  /** Body of wr_reconcile (param $ptr i32) (param $len i32) (result i32). */
  reconcile?: string;
  /** Anything else: functions, globals, tables, data, start, tags. */
  extra?: string;
}

/** A complete v1 guest in WAT whose parts can be replaced one at a time. */
export function guestWat(parts: GuestParts = {}): string {
  return `(module
  ${parts.imports ?? ''}
  ${parts.memory ?? '(memory (export "memory") 1)'}
  (func (export "wr_abi_version_1"))
  (func (export "wr_alloc") (param $len i32) (result i32) ${parts.alloc ?? '(i32.const 1024)'})
  (func (export "wr_init") (param $ptr i32) (param $len i32) (result i32) ${parts.init ?? '(i32.const 0)'})
  (func (export "wr_reconcile") (param $ptr i32) (param $len i32) (result i32) ${parts.reconcile ?? '(i32.const 0)'})
  ${parts.extra ?? ''})`;
}

export function guest(parts: GuestParts = {}, options: { validate?: boolean } = {}): Promise<Uint8Array> {
  return wat(guestWat(parts), options);
}

/** Every host import of ABI v1, declared with its exact signature. */
export const ALL_IMPORTS = `
  (import "wr" "log" (func $log (param i32 i32 i32)))
  (import "wr" "log_enabled" (func $log_enabled (param i32) (result i32)))
  (import "wr" "get" (func $get (param i32 i32) (result i32)))
  (import "wr" "list" (func $list (param i32 i32) (result i32)))
  (import "wr" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "wr" "set_output" (func $set_output (param i32 i32)))
  (import "wr" "now_ms" (func $now_ms (result f64)))`;

/** A WAT string literal holding `text`'s UTF-8 bytes, every byte escaped. */
export function watString(text: string | Uint8Array): string {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  let out = '"';
  for (const b of bytes) out += `\\${b.toString(16).padStart(2, '0')}`;
  return `${out}"`;
}

// ---- Raw binaries, for what no text format can express ----

export const u32 = (n: number): Buffer => leb128(n >>> 0);
export const bytes = (...parts: Array<number | number[] | Uint8Array>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : Buffer.from(p))));
export const str = (s: string): Buffer => bytes(u32(Buffer.byteLength(s)), Buffer.from(s));
export const vec = (items: Uint8Array[]): Buffer => bytes(u32(items.length), ...items);
export const section = (id: number, content: Uint8Array): Buffer => bytes(id, u32(content.length), content);
export const HEADER = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
export const raw = (...sections: Uint8Array[]): Uint8Array => new Uint8Array(bytes(HEADER, ...sections));

/** A function body: locals groups, code, final `end`. */
export function body(locals: Array<[count: number, type: number]>, code: Uint8Array | number[]): Buffer {
  const content = bytes(
    u32(locals.length),
    ...locals.map(([n, t]) => bytes(u32(n), t)),
    code instanceof Uint8Array ? code : Buffer.from(code),
    0x0b,
  );
  return bytes(u32(content.length), content);
}

/**
 * A complete v1 guest in binary: types 0 `()->()`, 1 `(i32)->i32`, 2 `(i32 i32)->i32`; functions 0 marker,
 * 1 wr_alloc, 2 wr_init, 3 wr_reconcile, then `extra` (raw bodies of type `()->()` unless typed). `sections`
 * are inserted in place of the defaults by id (e.g. a table section, id 4).
 */
export function rawGuest(
  options: {
    extra?: Array<{ type?: number; body: Uint8Array }>;
    reconcile?: Uint8Array;
    sections?: Record<number, Uint8Array>;
  } = {},
): Uint8Array {
  const extra = options.extra ?? [];
  const types = section(
    1,
    vec([bytes(0x60, 0, 0), bytes(0x60, 1, 0x7f, 1, 0x7f), bytes(0x60, 2, 0x7f, 0x7f, 1, 0x7f)]),
  );
  const funcs = section(3, vec([u32(0), u32(1), u32(2), u32(2), ...extra.map((e) => u32(e.type ?? 0))]));
  const memory = section(5, vec([bytes(0x00, u32(1))]));
  const exports = section(
    7,
    vec([
      bytes(str('memory'), 0x02, u32(0)),
      bytes(str('wr_abi_version_1'), 0x00, u32(0)),
      bytes(str('wr_alloc'), 0x00, u32(1)),
      bytes(str('wr_init'), 0x00, u32(2)),
      bytes(str('wr_reconcile'), 0x00, u32(3)),
    ]),
  );
  const code = section(
    10,
    vec([
      body([], []),
      body([], [0x41, ...u32(1024)]),
      body([], [0x41, 0]),
      options.reconcile ?? body([], [0x41, 0]),
      ...extra.map((e) => e.body),
    ]),
  );
  const byId: Record<number, Uint8Array> = { 1: types, 3: funcs, 5: memory, 7: exports, 10: code, ...options.sections };
  const order = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];
  return raw(...order.filter((id) => byId[id] !== undefined).map((id) => byId[id]!));
}

// ---- The host under attack ----

export interface Expected {
  code: ErrorCode;
  /** Each key must deep-equal the error's details[key]. */
  details?: Record<string, unknown>;
  /** Checked against the message. */
  message?: RegExp;
}

export function assertWrError(err: unknown, expected: Expected): WrError {
  assert.ok(
    isWrError(err),
    `expected a WrError ${expected.code}, got ${err instanceof Error ? err.stack : String(err)}`,
  );
  assert.equal(err.code, expected.code, `${err.code}: ${err.message} ${JSON.stringify(err.details)}`);
  for (const [k, v] of Object.entries(expected.details ?? {})) {
    assert.deepEqual(err.details?.[k], v, `details.${k} of ${err.code}: ${JSON.stringify(err.details)}`);
  }
  if (expected.message !== undefined) assert.match(err.message, expected.message);
  return err;
}

export interface SlotOptions {
  objects?: readonly string[];
  denied?: readonly string[];
  limits?: LimitOverrides;
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error';
}

export interface TestSlot {
  slot: ModuleSlot;
  lines: LogLine[];
}

export class Host {
  readonly loader = new ModuleLoader();
  readonly pool: GuestWorkerPool;
  readonly #slots: ModuleSlot[] = [];
  #healthy: ModuleSlot | undefined;
  #nonce = 0;

  constructor(poolSize = 2) {
    this.pool = new GuestWorkerPool({ size: poolSize });
  }

  /** Loads the healthy guest, which every case checks after its attack. */
  async open(): Promise<this> {
    this.#healthy = this.slot().slot;
    await this.#healthy.load(await okGuest('v1'), null);
    await this.assertHealthy();
    return this;
  }

  slot(options: SlotOptions = {}): TestSlot {
    const { logger, lines } = recordingLogger(options.logLevel ?? 'info');
    const slot = new ModuleSlot({
      identity: { name: 'attacker', namespace: 'adversarial' },
      loader: this.loader,
      logger,
      readPort: mapReadPort(options.objects ?? [], options.denied ?? []),
      ...(options.limits === undefined ? {} : { limits: options.limits }),
      workers: this.pool,
    });
    this.#slots.push(slot);
    return { slot, lines };
  }

  /** The healthy guest answers in this host, through the same loader and worker pool. */
  async assertHealthy(): Promise<void> {
    const nonce = ++this.#nonce;
    const out = await this.#healthy!.call('wr_reconcile', JSON.stringify({ abi: 1, nonce }));
    assert.deepEqual(out, { status: { version: 'v1', input: { abi: 1, nonce } } });
  }

  /** A load must fail with `expected`; then a fresh module still loads and the healthy guest still answers. */
  async loadFails(
    bytes: Uint8Array | Promise<Uint8Array>,
    expected: Expected,
    options: SlotOptions = {},
  ): Promise<WrError> {
    const { slot } = this.slot(options);
    let error: WrError | undefined;
    await assert.rejects(slot.load(await bytes, null), (err: unknown) => {
      error = assertWrError(err, expected);
      return true;
    });
    assert.equal(slot.activeDigest, undefined, 'a refused module must not become active');
    // The loader still compiles a module it has not seen (a new digest), and the pool still runs it.
    const fresh = this.slot().slot;
    const ok = Buffer.concat([await okGuest('v1'), customSection('nonce', String(++this.#nonce))]);
    await fresh.load(ok, null);
    assert.equal((await fresh.call('wr_reconcile', '{"abi":1}')).status?.version, 'v1');
    await this.assertHealthy();
    return error!;
  }

  /** Loads `bytes` (which must load) into a fresh slot. */
  async loaded(bytes: Uint8Array | Promise<Uint8Array>, options: SlotOptions = {}): Promise<TestSlot> {
    const s = this.slot(options);
    await s.slot.load(await bytes, null);
    return s;
  }

  /** The module loads; its wr_reconcile on `input` fails with `expected`; the healthy guest answers after. */
  async callFails(
    bytes: Uint8Array | Promise<Uint8Array> | TestSlot,
    input: string,
    expected: Expected,
    options: SlotOptions = {},
  ): Promise<{ error: WrError; ms: number; lines: LogLine[] }> {
    const s = isTestSlot(bytes) ? bytes : await this.loaded(bytes, options);
    let error: WrError | undefined;
    const started = performance.now();
    await assert.rejects(s.slot.call('wr_reconcile', input), (err: unknown) => {
      error = assertWrError(err, expected);
      return true;
    });
    const ms = performance.now() - started;
    await this.assertHealthy();
    return { error: error!, ms, lines: s.lines };
  }

  /** The module loads and wr_reconcile on `input` succeeds; returns the output. Checks health after. */
  async callOk(bytes: Uint8Array | Promise<Uint8Array> | TestSlot, input: string, options: SlotOptions = {}) {
    const s = isTestSlot(bytes) ? bytes : await this.loaded(bytes, options);
    const output = await s.slot.call('wr_reconcile', input);
    await this.assertHealthy();
    return { output, lines: s.lines };
  }

  async close(): Promise<void> {
    await Promise.all(this.#slots.map((s) => s.close()));
    await this.pool.close();
  }
}

function isTestSlot(value: unknown): value is TestSlot {
  return typeof value === 'object' && value !== null && 'slot' in value;
}

/** The default limits, for the values details report. */
export const LIMITS = resolveLimits();
