// The names and numbers of host ABI v1 on the host side; docs/abi/v1.md is the contract they implement.
//
// The guest side has exactly one mirror of this file (guest-sdk/assemblyscript/assembly/abi.ts), and
// test/conformance keeps the two, the spec and the registered imports in step.

/** Major version: a guest exports `${ABI_MARKER_PREFIX}${ABI_MAJOR}` and the host checks it before linking. */
export const ABI_MAJOR = 1;
/** Minor version: additive changes only (new optional imports, new optional payload fields). */
export const ABI_MINOR = 0;
export const ABI_MARKER_PREFIX = 'wr_abi_version_';
export const ABI_MARKER = `${ABI_MARKER_PREFIX}${ABI_MAJOR}`;

/** The single import namespace; an import from any other module is rejected at load. */
export const IMPORT_NAMESPACE = 'wr';

/** Host functions the guest may import. Signatures are in docs/abi/v1.md. */
export const IMPORTS = {
  /** log(level: i32, ptr: i32, len: i32) -> void */
  log: 'log',
  /** log_enabled(level: i32) -> i32 (1 when a message at `level` would be written) */
  logEnabled: 'log_enabled',
  /** get(ptr: i32, len: i32) -> i32: length of the held result (>= 0) or a negative status */
  get: 'get',
  /** list(ptr: i32, len: i32) -> i32: length of the held result (>= 0) or a negative status */
  list: 'list',
  /** result_read(ptr: i32, len: i32) -> i32: copies the held result into guest memory */
  resultRead: 'result_read',
  /** set_output(ptr: i32, len: i32) -> void: hands the call's output JSON to the host (copied) */
  setOutput: 'set_output',
  /** now_ms() -> f64: wall-clock milliseconds since the Unix epoch */
  nowMs: 'now_ms',
} as const;

/** Guest exports. `memory`, `wr_alloc`, `wr_init` and `wr_reconcile` are required. */
export const EXPORTS = {
  memory: 'memory',
  /** wr_alloc(len: i32) -> i32: a guest-owned buffer the host fills with a call's input */
  alloc: 'wr_alloc',
  /** wr_init(ptr: i32, len: i32) -> i32: config JSON in, status out */
  init: 'wr_init',
  /** wr_reconcile(ptr: i32, len: i32) -> i32: input JSON in, status out, output via set_output */
  reconcile: 'wr_reconcile',
  /** optional; wr_finalize(ptr: i32, len: i32) -> i32: like reconcile, for a primary being deleted */
  finalize: 'wr_finalize',
} as const;

/** Export added by the host's fuel instrumentation; a guest that declares it is rejected. */
export const FUEL_GLOBAL_EXPORT = '__wr_fuel';
/**
 * Export of the call-depth budget the instrumentation adds (stack bytes left to the guest's frames, reset
 * before every call like the fuel); a guest that declares it is rejected.
 */
export const DEPTH_GLOBAL_EXPORT = '__wr_depth';
/**
 * Export under which the instrumentation exposes the module's start function (the start section is
 * removed), so the host runs it as a metered call after instantiation; a guest that declares it is rejected.
 */
export const START_EXPORT = '__wr_start';

/** Status returned by guest exports. */
export const GUEST_STATUS = {
  OK: 0,
  /** The guest could not decode its input or config. */
  BAD_INPUT: 1,
  /** The guest failed and set an output describing why (output.error). */
  ERROR: 2,
} as const;

/** Status returned by host imports (negative; a non-negative value is a length). */
export const HOST_STATUS = {
  OK: 0,
  NOT_FOUND: -1,
  DENIED: -2,
  INVALID_ARGUMENT: -3,
  TOO_LARGE: -4,
  NO_RESULT: -5,
} as const;

/** Log levels, numerically ordered like pino's but small. */
export const LOG_LEVEL = {
  TRACE: 0,
  DEBUG: 1,
  INFO: 2,
  WARN: 3,
  ERROR: 4,
} as const;

/** Why a reconcile runs (`input.trigger.reason`). */
export const TRIGGER_REASONS = [
  'created',
  'updated',
  'deleted',
  'child',
  'related',
  'resync',
  'requeue',
  'retry',
] as const;

/** Default limits; a WasmReconciler may lower them, and raise them up to the host's ceiling. */
export const DEFAULT_LIMITS = {
  /** Largest module accepted, in bytes. */
  moduleBytes: 8 * 1024 * 1024,
  /** Memory cap in 64 KiB pages (16 MiB). */
  memoryPages: 256,
  /**
   * Fuel per call: one unit per instruction on the metered path (docs/abi/v1.md, "Fuel"). The worst case,
   * a two-instruction loop in V8's baseline (Liftoff) code of a fresh module, burns about 1.8 ns per unit
   * on a 2-core x86-64 VM and 0.4 ns once optimised: this default bounds a call near 90 ms there;
   * bench/runtime-calls.ts reports the figures for the machine it runs on.
   */
  fuel: 50_000_000,
  /** Largest reconcile/init input the host will pass, in bytes. */
  inputBytes: 4 * 1024 * 1024,
  /** Largest output the guest may return, in bytes. */
  outputBytes: 1024 * 1024,
  /** Largest single get/list result handed to the guest, in bytes. */
  resultBytes: 4 * 1024 * 1024,
  /** Largest log message kept, in bytes (longer messages are truncated, not rejected). */
  logBytes: 4096,
  /** Log lines written per call; further lines are counted and reported once when the call ends. */
  logLinesPerCall: 100,
  // Module shape, checked at load before V8 sees the bytes (WR_MODULE_LIMIT): V8 allocates tables and
  // compiles functions without asking, and some of its own limits (a 10^7-entry table) abort the process.
  /** Function types in the type section. */
  types: 10_000,
  /** Imports of every kind. */
  imports: 1_000,
  /** Exports of every kind. */
  exports: 10_000,
  /** Functions, imported ones included. */
  functions: 50_000,
  /** Globals, imported ones included. */
  globals: 10_000,
  /** Tables, imported ones included. */
  tables: 16,
  /** Sum of the tables' minimum sizes, and the maximum every table is capped at (table.grow beyond fails). */
  tableElements: 100_000,
  /** Exception tags, imported ones included. */
  tags: 1_000,
  /** Parameters plus declared locals of one function. */
  localsPerFunction: 10_000,
  /** Size of one function body, in bytes. */
  functionBodyBytes: 1024 * 1024,
  /** Size of the code section, in bytes. */
  codeBytes: 8 * 1024 * 1024,
  /** Block nesting (block, loop, if, try) in one function. */
  blockDepth: 1_000,
  /** Labels of one br_table. */
  brTableLabels: 10_000,
  /** Data segments. */
  dataSegments: 10_000,
  /** Bytes of every data segment together. */
  dataBytes: 8 * 1024 * 1024,
  /** Element segments. */
  elementSegments: 10_000,
  /** Entries of every element segment together. */
  elementEntries: 100_000,
} as const;

/**
 * Fuel charged for host imports, on top of the guest's own metering, so that the budget bounds wall time
 * whatever path an import takes (hit, miss, denied, invalid, too large, a scan that matches nothing). Each
 * price is at least the import's worst measured time on that path at 2 ns per unit (bench/host-imports.ts);
 * every charge is made before the host answers, except the part that depends on the answer, which is made
 * as soon as it is known.
 */
export const HOST_CALL_FUEL = {
  /** Every import call: the transition into the host and the argument checks. */
  base: 100,
  /** A get or list request decoded and parsed, valid or not (a JSON error costs microseconds in V8). */
  request: 10_000,
  /**
   * A get or list that reaches the cache, whatever it answers: the request crosses to the thread that owns
   * the cache and back, a wake-up of each thread (up to ~100 us when the main thread is idle in its loop).
   */
  read: 100_000,
  /** Per cached object a lookup may have to consider (a list walks its namespace or kind). */
  perObject: 100,
  /** One more unit per this many bytes moved across the boundary (request, result measured and copied, log text, output). */
  bytesPerUnit: 1,
} as const;

/** Bounds on the shape of a reconcile output, checked after it parsed as JSON and within `outputBytes`. */
export const OUTPUT_LIMITS = {
  children: 1000,
  events: 16,
  /** events.k8s.io/v1 caps `reason` at 128 characters. */
  eventReasonChars: 128,
  /** events.k8s.io/v1 caps `note` at 1 KiB. */
  eventMessageChars: 1024,
  errorMessageChars: 4096,
  /** Seven days: a longer requeue is a bug or better served by a resync. */
  requeueAfterMsMax: 7 * 24 * 60 * 60 * 1000,
  // Shape of the whole output (abi/shape.ts). The host walks outputs recursively downstream (comparisons,
  // digests, JSON.stringify of API requests), so nesting is bounded far below what would overflow its stack.
  /**
   * Nested objects and arrays, the output itself being level 1: a child sits at level 3, so its own
   * nesting may go 62 levels deep (a Deployment's deepest field is about 10 levels below its root).
   */
  depth: 64,
  /** JSON values in the output, containers and scalars alike (a compact Deployment holds ~80 per KiB). */
  values: 250_000,
  /** UTF-16 code units of one string or object key: 256 Ki, what the API server allows all annotations together. */
  stringChars: 256 * 1024,
  /** Keys of one object. */
  objectKeys: 10_000,
} as const;
