// Differential check of the instrumentation on one module: every export run metered and unmetered must
// agree on results, traps, logged import calls and memory, whenever the metered run fits its budget.

import { createHash } from 'node:crypto';
import { DEPTH_GLOBAL_EXPORT, FUEL_GLOBAL_EXPORT, START_EXPORT } from '../../host/src/abi/constants.ts';
import { isWrError } from '../../host/src/errors.ts';
import { DEPTH_BUDGET, instrumentModule, type ModuleInfo, type ValType } from '../../host/src/runtime/wasm/index.ts';

export type Verdict =
  | { kind: 'refused'; code: string; message: string }
  | { kind: 'checked'; calls: number; outOfFuel: number; mismatches: string[] };

type Outcome = { ok: unknown } | { error: string } | { fuel: true };

function zero(t: ValType): unknown {
  if (t === 'i64') return 0n;
  if (t === 'funcref' || t === 'externref' || t === 'exnref') return null;
  return 0;
}

/** The runtime's WebAssembly declarations leave out exception tags, which only ttf's imports need. */
const Tag = (WebAssembly as unknown as { Tag: new (type: { parameters: string[] }) => object }).Tag;

/** Import stubs that record every call; both modules get their own, identically behaving set. */
function stubs(info: ModuleInfo, log: string[]): WebAssembly.Imports {
  const imports: Record<string, Record<string, unknown>> = {};
  for (const imp of info.imports) {
    imports[imp.module] ??= {};
    const ns = imports[imp.module]!;
    const type = imp.typeIndex === undefined ? undefined : info.types[imp.typeIndex];
    if (imp.kind === 'function') {
      const results = type?.results ?? [];
      ns[imp.name] = (...args: unknown[]) => {
        log.push(`${imp.name}(${args.map(String).join(',')})`);
        if (imp.name === 'throw') throw new Error('fuzz import throws');
        return results.length === 0 ? undefined : zero(results[0]!);
      };
    } else if (imp.kind === 'tag') {
      ns[imp.name] = new Tag({ parameters: type?.params ?? [] });
    } else if (imp.kind === 'global') {
      ns[imp.name] = null; // patched below once the global's type is known from the link error
    }
  }
  return imports as WebAssembly.Imports;
}

/** ttf imports one externref global (`__fuzz_import.extern$`); its mutability varies, so try both. */
function instantiate(module: WebAssembly.Module, info: ModuleInfo, log: string[]): WebAssembly.Instance {
  let last: unknown;
  for (const mutable of [false, true]) {
    const imports = stubs(info, log) as Record<string, Record<string, unknown>>;
    for (const imp of info.imports) {
      if (imp.kind === 'global')
        imports[imp.module]![imp.name] = new WebAssembly.Global({ value: 'externref', mutable }, null);
    }
    try {
      return new WebAssembly.Instance(module, imports as WebAssembly.Imports);
    } catch (err) {
      if (!(err instanceof WebAssembly.LinkError)) throw err;
      last = err;
    }
  }
  throw last;
}

function describe(err: unknown): string {
  if (err instanceof RangeError) return 'stack overflow';
  return `${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`;
}

/** Numbers by value (NaN equal to NaN), references (functions, exceptions, externrefs) by kind only. */
function same(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => same(v, b[i]));
  if (typeof a === 'function' || (typeof a === 'object' && a !== null)) return typeof a === typeof b && b !== null;
  return Object.is(a, b);
}

function memoryDigest(instance: WebAssembly.Instance): string {
  const h = createHash('sha256');
  for (const value of Object.values(instance.exports)) {
    if (value instanceof WebAssembly.Memory) h.update(new Uint8Array(value.buffer));
  }
  return h.digest('hex');
}

/** Instruments `bytes` and compares every export's metered and plain runs (`budget` fuel per call). */
export function checkModule(bytes: Uint8Array, budget: number): Verdict {
  let out: ReturnType<typeof instrumentModule>;
  try {
    out = instrumentModule(bytes, { memoryMaxPages: 65536, initialFuel: budget });
  } catch (err) {
    if (!isWrError(err)) throw err;
    return { kind: 'refused', code: err.code, message: err.message };
  }
  const mismatches: string[] = [];
  if (!WebAssembly.validate(out.bytes)) return { kind: 'checked', calls: 0, outOfFuel: 0, mismatches: ['invalid'] };
  const { info } = out;
  const meteredLog: string[] = [];
  const plainLog: string[] = [];
  let metered: WebAssembly.Instance;
  try {
    metered = instantiate(new WebAssembly.Module(out.bytes), info, meteredLog);
  } catch (err) {
    return { kind: 'checked', calls: 0, outOfFuel: 0, mismatches: [`metered instantiation: ${describe(err)}`] };
  }
  const fuel = metered.exports[FUEL_GLOBAL_EXPORT] as WebAssembly.Global;
  const depth = metered.exports[DEPTH_GLOBAL_EXPORT] as WebAssembly.Global;
  const runMetered = (fn: () => unknown): Outcome => {
    depth.value = DEPTH_BUDGET;
    try {
      return { ok: fn() };
    } catch (err) {
      if ((fuel.value as number) < 0) return { fuel: true };
      // The instrumentation's depth bound, below V8's stack limit: an overflow like V8's, only earlier.
      return (depth.value as number) < 0 ? { error: 'stack overflow' } : { error: describe(err) };
    }
  };
  // The start function first, with what instantiation left of the budget, as the host runs it.
  const start = metered.exports[START_EXPORT] as (() => void) | undefined;
  const started = start === undefined ? { ok: undefined } : runMetered(start);
  // Metering overcharges, so a metered run that fit its budget proves the plain run ends too.
  if ('fuel' in started) return { kind: 'checked', calls: 0, outOfFuel: 1, mismatches };
  let plain: WebAssembly.Instance;
  try {
    plain = instantiate(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), info, plainLog);
  } catch (err) {
    if ('error' in started && describe(err).endsWith(started.error.replace(/^\w+: /, ''))) {
      return { kind: 'checked', calls: 0, outOfFuel: 0, mismatches };
    }
    return {
      kind: 'checked',
      calls: 0,
      outOfFuel: 0,
      mismatches: [`start: ${JSON.stringify(started)} vs ${describe(err)}`],
    };
  }
  let calls = 0;
  for (const exp of info.exports) {
    if (exp.kind !== 'function') continue;
    const type = info.types[info.functionTypeIndices[exp.index]!]!;
    if (type.params.includes('v128') || type.results.includes('v128')) continue; // not callable from JS
    const args = type.params.map(zero);
    fuel.value = budget;
    const m = runMetered(() => (metered.exports[exp.name] as (...a: unknown[]) => unknown)(...args));
    calls++;
    if ('fuel' in m) return { kind: 'checked', calls, outOfFuel: 1, mismatches };
    let p: Outcome;
    try {
      p = { ok: (plain.exports[exp.name] as (...a: unknown[]) => unknown)(...args) };
    } catch (err) {
      p = { error: describe(err) };
    }
    // The metered run's depth bound comes before V8's limit, so a plain overflow must be a metered one,
    // and a metered overflow ends the comparison wherever the plain run got (only the kind counts).
    const overflow = (o: Outcome) => 'error' in o && o.error === 'stack overflow';
    if (overflow(m) || overflow(p)) {
      if (!overflow(m)) mismatches.push(`${exp.name}: ${JSON.stringify(m)} vs ${JSON.stringify(p)}`);
      return { kind: 'checked', calls, outOfFuel: 0, mismatches };
    }
    const agree = 'ok' in m && 'ok' in p ? same(m.ok, p.ok) : 'error' in m && 'error' in p && m.error === p.error;
    if (!agree) mismatches.push(`${exp.name}: ${String(JSON.stringify(m, big))} vs ${String(JSON.stringify(p, big))}`);
    if (meteredLog.join('\n') !== plainLog.join('\n')) mismatches.push(`${exp.name}: logged import calls differ`);
    if (memoryDigest(metered) !== memoryDigest(plain)) mismatches.push(`${exp.name}: memory differs`);
    if (mismatches.length > 0) break;
  }
  return { kind: 'checked', calls, outOfFuel: 0, mismatches };
}

function big(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}
