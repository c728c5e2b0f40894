// Turns untrusted module bytes into a compiled, metered, ABI-checked module, cached by content digest.
//
// Pipeline: size limit -> sha256 -> decode declarations (module-shape limits) -> ABI marker -> imports ->
// exports -> instrument (walk every body with V8 validating the delivered bytes beside it, then fuel,
// memory and table caps, start export) -> WebAssembly.compile. The contract checks run on the decoded
// declarations before the costlier walk, validation and compile; every limit is enforced before V8
// allocates or compiles anything. The marker comes first: a module built for another ABI major would otherwise be
// reported as importing unknown host functions, which hides the real cause.

import { ABI_MARKER, ABI_MARKER_PREFIX, EXPORTS, IMPORT_NAMESPACE } from '../abi/constants.ts';
import { sha256DigestOffThread } from '../digest.ts';
import { WrError } from '../errors.ts';
import { HOST_IMPORT_SIGNATURES } from './internal/host-bridge.ts';
import { LruCache } from './internal/lru.ts';
import type { RuntimeLimits } from './limits.ts';
import {
  instrumentModuleBesideV8,
  MODULE_LIMIT_KEYS,
  type ModuleInfo,
  type ModuleLimits,
  pickModuleLimits,
} from './wasm/index.ts';

/**
 * A module ready to instantiate. Immutable and shared by every instance and version that uses it; it
 * holds no reference to the delivered bytes.
 */
export interface CompiledModule extends PreparedModule {
  /**
   * The module compiled for this thread. In the host the main thread never reads it: its guest workers
   * compile `code` themselves (see lazilyCompiled), so no compiled module lives on the main thread.
   */
  readonly module: WebAssembly.Module;
}

/** A checked and instrumented module: everything of a CompiledModule but the compile for a thread. */
export interface PreparedModule {
  /** `sha256:<hex>` of the bytes as delivered (before instrumentation). */
  readonly digest: string;
  /**
   * The instrumented bytes, what V8 compiles (a SharedArrayBuffer view when the compile thread made them,
   * so threads pass them on without copying). Compiling the same bytes on another thread while a module
   * of them is alive reuses its code: V8 keeps one compiled module per distinct bytes per process.
   */
  readonly code: Uint8Array;
  /** Size of the delivered bytes. */
  readonly bytes: number;
  /** Size of the instrumented bytes V8 compiled (and keeps): custom sections stripped, metering added. */
  readonly instrumentedBytes: number;
  /**
   * The module had a start function: it is exported as START_EXPORT instead and must be called, as a
   * metered call, right after instantiation and before any other export.
   */
  readonly hasStart: boolean;
  /**
   * Fuel instantiation itself costs (active data and element segments): the fuel global starts at
   * `fuel - initFuel`, which is the budget the start function runs with.
   */
  readonly initFuel: number;
  /** The memory cap in force: the lower of the module's declared maximum and the configured cap. */
  readonly memoryMaxPages: number;
  readonly hasFinalize: boolean;
}

export type LoadLimits = Pick<RuntimeLimits, 'moduleBytes' | 'memoryPages' | 'fuel'> & ModuleLimits;

/** Runs the pipeline after the digest: checks, instrumentation, compile. */
export type ModuleCompiler = (bytes: Uint8Array, digest: string, limits: LoadLimits) => Promise<CompiledModule>;

export interface ModuleLoaderOptions {
  /** Compiled modules kept; a host runs one or two versions per reconciler. */
  readonly cacheEntries?: number;
  /** Sum of the instrumented sizes of cached modules: the wire bytes V8 keeps, a proxy for its code too. */
  readonly cacheBytes?: number;
  /**
   * Where the pipeline runs: `compileModule` on the calling thread by default; the host runs it on a
   * thread of its own (workers/compiler.ts), since decoding, validating and rewriting an 8 MiB module
   * takes a quarter of a second that the main thread's event loop must not lose.
   */
  readonly compile?: ModuleCompiler;
}

type Signature = { readonly params: readonly string[]; readonly results: readonly string[] };

const BUFFER_CALL: Signature = { params: ['i32', 'i32'], results: ['i32'] };
/** Function exports and their signatures; an optional one (`wr_finalize`) is checked only when present. */
export const GUEST_FUNCTION_EXPORTS: ReadonlyArray<{ name: string; signature: Signature; required: boolean }> = [
  { name: EXPORTS.alloc, signature: { params: ['i32'], results: ['i32'] }, required: true },
  { name: EXPORTS.init, signature: BUFFER_CALL, required: true },
  { name: EXPORTS.reconcile, signature: BUFFER_CALL, required: true },
  { name: EXPORTS.finalize, signature: BUFFER_CALL, required: false },
  { name: ABI_MARKER, signature: { params: [], results: [] }, required: true },
];

function sameSignature(actual: { params: readonly string[]; results: readonly string[] }, expected: Signature) {
  return (
    actual.params.length === expected.params.length &&
    actual.results.length === expected.results.length &&
    actual.params.every((p, i) => p === expected.params[i]) &&
    actual.results.every((r, i) => r === expected.results[i])
  );
}

function render(sig: { params: readonly string[]; results: readonly string[] }): string {
  return `(${sig.params.join(', ')}) -> (${sig.results.join(', ')})`;
}

function functionSignature(info: ModuleInfo, index: number) {
  const typeIndex = info.functionTypeIndices[index];
  return typeIndex === undefined ? undefined : info.types[typeIndex];
}

function checkAbiMarker(info: ModuleInfo): void {
  const markers = info.exports.filter((e) => e.name.startsWith(ABI_MARKER_PREFIX)).map((e) => e.name);
  if (!markers.includes(ABI_MARKER)) {
    throw new WrError(
      'WR_MODULE_ABI_VERSION',
      markers.length === 0
        ? `the module declares no ABI version (expected an export named ${ABI_MARKER})`
        : `the module declares ${markers.join(', ')}; this host implements ${ABI_MARKER}`,
      { details: { declared: markers, expected: ABI_MARKER } },
    );
  }
}

function checkImports(info: ModuleInfo): void {
  for (const imp of info.imports) {
    const where = { module: imp.module, name: imp.name, kind: imp.kind };
    if (imp.module !== IMPORT_NAMESPACE) {
      throw new WrError(
        'WR_MODULE_FORBIDDEN_IMPORT',
        `import ${imp.module}.${imp.name} is outside the host namespace "${IMPORT_NAMESPACE}"`,
        { details: where },
      );
    }
    const expected = Object.hasOwn(HOST_IMPORT_SIGNATURES, imp.name) ? HOST_IMPORT_SIGNATURES[imp.name] : undefined;
    if (expected === undefined || imp.kind !== 'function') {
      throw new WrError('WR_MODULE_FORBIDDEN_IMPORT', `${imp.module}.${imp.name} is not a host function of ABI v1`, {
        details: where,
      });
    }
    const actual = imp.typeIndex === undefined ? undefined : info.types[imp.typeIndex];
    if (actual === undefined || !sameSignature(actual, expected)) {
      throw new WrError(
        'WR_MODULE_FORBIDDEN_IMPORT',
        `${imp.module}.${imp.name} is imported as ${actual ? render(actual) : '?'}; ABI v1 defines ${render(expected)}`,
        { details: { ...where, expected: render(expected), actual: actual ? render(actual) : null } },
      );
    }
  }
}

function checkExports(info: ModuleInfo): { hasFinalize: boolean } {
  const byName = new Map(info.exports.map((e) => [e.name, e]));
  const memory = byName.get(EXPORTS.memory);
  if (memory === undefined || memory.kind !== 'memory') {
    throw new WrError('WR_MODULE_MISSING_EXPORT', `the module does not export its memory as "${EXPORTS.memory}"`, {
      details: { export: EXPORTS.memory, kind: 'memory' },
    });
  }
  for (const { name, signature, required } of GUEST_FUNCTION_EXPORTS) {
    const exp = byName.get(name);
    if (exp === undefined && !required) continue;
    const actual = exp?.kind === 'function' ? functionSignature(info, exp.index) : undefined;
    if (actual === undefined || !sameSignature(actual, signature)) {
      throw new WrError(
        'WR_MODULE_MISSING_EXPORT',
        exp === undefined
          ? `the module does not export function ${name}`
          : `export ${name} must be a function ${render(signature)}`,
        { details: { export: name, expected: render(signature), actual: actual ? render(actual) : null } },
      );
    }
  }
  return { hasFinalize: byName.has(EXPORTS.finalize) };
}

export class ModuleLoader {
  readonly #cache: LruCache<string, CompiledModule>;
  readonly #inflight = new Map<string, Promise<CompiledModule>>();
  readonly #compile: ModuleCompiler;

  constructor(options: ModuleLoaderOptions = {}) {
    this.#cache = new LruCache(options.cacheEntries ?? 32, options.cacheBytes ?? 128 * 1024 * 1024);
    this.#compile = options.compile ?? compileModule;
  }

  /**
   * Validates and compiles `bytes`, or returns the cached result for the same digest and load limits (the
   * fuel, the memory and table caps are compiled into the module, and the module-shape limits decide
   * whether it loads at all). Throws WrError with a WR_MODULE_* code.
   */
  async load(bytes: Uint8Array, limits: LoadLimits): Promise<CompiledModule> {
    if (bytes.length > limits.moduleBytes) {
      throw new WrError(
        'WR_MODULE_TOO_LARGE',
        `the module has ${bytes.length} bytes; the limit is ${limits.moduleBytes}`,
        {
          details: { bytes: bytes.length, limit: limits.moduleBytes },
        },
      );
    }
    // Off the main thread: a swap's main-thread time is a target (bench runtime-swap).
    const digest = await sha256DigestOffThread(bytes);
    const key = `${digest}/${limits.memoryPages}/${limits.fuel}/${MODULE_LIMIT_KEYS.map((k) => limits[k]).join(',')}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    let pending = this.#inflight.get(key);
    if (pending === undefined) {
      pending = this.#compile(bytes, digest, limits).then(
        (compiled) => {
          this.#inflight.delete(key);
          this.#cache.set(key, compiled, compiled.instrumentedBytes);
          return compiled;
        },
        (err: unknown) => {
          this.#inflight.delete(key);
          throw err;
        },
      );
      this.#inflight.set(key, pending);
    }
    return pending;
  }
}

/** The load pipeline after size and digest, on the calling thread. Throws WrError with a WR_MODULE_* code. */
export async function compileModule(bytes: Uint8Array, digest: string, limits: LoadLimits): Promise<CompiledModule> {
  const prepared = await prepareModule(bytes, digest, limits);
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(prepared.code as Uint8Array<ArrayBuffer>);
  } catch (cause) {
    throw compileError(cause, digest);
  }
  return { ...prepared, module };
}

function compileError(cause: unknown, digest: string): WrError {
  return new WrError('WR_MODULE_COMPILE', `V8 rejected the module: ${(cause as Error).message}`, {
    cause,
    details: { digest },
  });
}

/**
 * The module of `prepared`, compiled synchronously on the thread that first reads `module`. What the
 * compile thread hands the main thread: a compiled module received there would count its estimated code
 * size (several times its bytes) against the main thread's heap, and a 1 MiB module's brought a GC on the
 * main thread every few swaps; guest workers, which do need the module, compile the bytes themselves.
 */
export function lazilyCompiled(prepared: PreparedModule): CompiledModule {
  let module: WebAssembly.Module | undefined;
  return Object.freeze({
    ...prepared,
    get module(): WebAssembly.Module {
      if (module === undefined) {
        try {
          module = new WebAssembly.Module(prepared.code as Uint8Array<ArrayBuffer>);
        } catch (cause) {
          throw compileError(cause, prepared.digest);
        }
      }
      return module;
    },
  });
}

/** The load pipeline after size and digest up to, not including, the compile. Throws WrError (WR_MODULE_*). */
export async function prepareModule(bytes: Uint8Array, digest: string, limits: LoadLimits): Promise<PreparedModule> {
  let hasFinalize = false;
  const instrumented = await instrumentModuleBesideV8(bytes, {
    memoryMaxPages: limits.memoryPages,
    initialFuel: limits.fuel,
    limits: pickModuleLimits(limits),
    checkDeclarations(info) {
      checkAbiMarker(info);
      checkImports(info);
      hasFinalize = checkExports(info).hasFinalize;
    },
  });
  const declaredMax = instrumented.info.memories[0]?.max;
  return {
    digest,
    code: instrumented.bytes,
    bytes: bytes.length,
    instrumentedBytes: instrumented.bytes.length,
    hasStart: instrumented.hasStart,
    initFuel: instrumented.initFuel,
    memoryMaxPages: declaredMax === undefined ? limits.memoryPages : Math.min(declaredMax, limits.memoryPages),
    hasFinalize,
  };
}
