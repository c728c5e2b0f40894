// Rewrites a code section so every function entry, loop iteration and bulk operation pays fuel from one
// exported i32 global.
//
// Cost model (deterministic: a function of the module bytes and of the length operands the guest passes):
// - Every instruction costs 1 (structural ones like block/else/end included, immediates free), except
//   throw, rethrow, throw_ref and table.set, which V8 runs as a call into its runtime and which cost
//   what that call takes (STATIC_COST).
// - Each instruction is charged to its innermost enclosing `loop`, or to the function entry when no loop
//   encloses it. A `loop` opcode itself belongs to the level outside it; its matching `end` to its body.
// - The function entry pays the sum of its level's instructions once per call; a loop header pays its
//   level's sum once per iteration (a `br` to a loop re-enters after the check, so every iteration pays).
// - Direct calls to small functions are prepaid (prepayCalls): the callee's entry cost joins the caller's
//   level and the call goes to an unchecked twin of the callee. A leaf (no loop, no direct call to a
//   defined function) has one twin. Any other small function has twins at two depths: a depth-1 twin's
//   entry level calls depth-2 twins, prepaid with it, and a depth-2 twin's entry level calls the checked
//   originals; loop levels call depth-1 twins and pay for them at their own check.
// - Bulk instructions (memory.fill/copy/init, table.fill/copy/init/grow, memory.grow) also pay, right
//   before they run, a base cost for the runtime call behind them plus their length operand (the top of
//   the stack): 1 unit per 8 bytes, 32 per table element, 16384 per memory page (what faulting in and zeroing the fresh page
//   costs: the kernel zero-fills it when first touched). Lengths are charged as requested, so an
//   out-of-range one pays before it traps or fails. Charging these at the instruction rather than in the
//   level keeps a rarely taken path, like an allocator's grow, from costing every call.
// Every instruction executes at most once per charge of its level between two passes through that level's
// check, so fuel spent is an upper bound of the work; it overcharges only the arms not taken and code
// skipped by a branch. Charging once per level keeps the hot-path cost at one check per call and per
// iteration, which is what bench/metering.ts measures.
//
// Calibration: the budget bounds time. A unit is worth about 1.8 ns in the most fuel-hungry ordinary code
// (a two-instruction loop in V8's baseline tier, see DEFAULT_LIMITS.fuel), and the other rates keep every
// instruction at or below that, as measured on V8 13 (Node 24) on a 2-core x86-64 VM: memset and memcpy
// move 8-12 bytes/ns out of cache (more in cache, where small lengths are dominated by the base cost), so
// 8 bytes a unit is at most ~1 ns; table writes take 17-37 ns per element (write barrier, function
// references materialised); the base costs cover memory.fill with a zero length (~190 ns), memory.copy
// and memory.init (~11 ns), table.init (~120 ns), memory.grow (1-2 us when it succeeds), throw with its
// unwinding (~300 ns) and table.set (~85 ns). bench/metering.ts reports the ns
// per unit of the bulk cases on the machine it runs on.
//
// The check inserted at each level site is straight-line and stack-neutral (Wasm has no global.tee; V8's
// optimizing tier forwards the stored value to the second global.get, so a local to hold it gains
// nothing measurable):
//   global.get $fuel; i32.const cost; i32.sub; global.set $fuel;
//   global.get $fuel; i32.const 0; i32.lt_s; if; unreachable; end
// A bulk site keeps the length in one i32 local appended to the function (no existing index moves):
//   local.tee $n; global.get $fuel; local.get $n; <charge>; i32.const base-1; i32.add; i32.sub;
//   global.set $fuel; <the same check>
// where <charge> is `i32.const 3; i32.shr_u` for memory bytes, and for elements and pages a clamp then a
// shift: `i32.const C; local.get $n; i32.const C; i32.lt_u; select; i32.const S; i32.shl`, C being above
// any size that can succeed. Branch depths and existing function indices are unchanged, and so are local
// indices except in a body that carries the depth budget, whose appended parameter moves its declared
// locals up by one (copyRenumbered).
// The depth budget (frames.ts) adds, in a body that needs it: the entry check of a keeping body
// (writeDepthEntry) or, in an original that keeps none, a read of the global into a local; before a call
// of a carrying body `local.get $budget` (its last argument); before a call_indirect or a call of a body
// that reads the global, `local.get $budget; global.set $depth`.
// Fuel is an i32 the host sets in [0, 2^31 - 1] before a call; a check traps as soon as it goes negative,
// a level site never costs more than MAX_SITE_COST and a bulk charge less than 2^30, so the counter
// cannot wrap.
//
// What a check costs in time is the global's store: measured on V8 13, a load and compare per call adds a
// few percent to recursive fib, the read-modify-write 75-90% (consecutive calls chain through memory).
// Keeping fuel in a local would add a store before and a load after every call. Passing it through
// parameters and results removes the chain but V8 does not inline multi-value functions, and it would
// change every signature. Prepaying two twin levels deep leaves a recursion one check per three calls
// (fib: 17% instead of 84%) for a bounded overcharge: a prepaid call that does not happen is paid anyway,
// like any arm not taken, and a prepaid cost is at most MAX_PREPAID_COST per call site.

import type { ModuleLimits } from '../types.ts';
import {
  type BlockArity,
  blockArity,
  type CallGraph,
  FC_HEIGHT,
  frameBytes,
  HEIGHT,
  MAX_FRAME_BYTES,
  planDepth,
} from './frames.ts';
import { I32, INDEX, MEMARG, NONE, SHAPE, skipImmediates } from './instructions.ts';
import type { InitWork, ParsedModule, SectionSpan } from './parse.ts';
import { checkLimit, lebEnd, malformed, readU32, unsupported } from './reader.ts';
import { decodeValType, type ValType } from './valtypes.ts';
import { s32Size, u32Size, type Writer } from './writer.ts';

const OP_BLOCK = 0x02;
const OP_LOOP = 0x03;
const OP_IF = 0x04;
const OP_TRY = 0x06;
const OP_END = 0x0b;
const OP_DELEGATE = 0x18;
const OP_TRY_TABLE = 0x1f;
const OP_CALL = 0x10;
const OP_CALL_INDIRECT = 0x11;
const OP_ELSE = 0x05;
const OP_CATCH = 0x07;
const OP_CATCH_ALL = 0x19;
const OP_PREFIX_FD = 0xfd;
const OP_MEMORY_GROW = 0x40;
const OP_PREFIX_FC = 0xfc;
const OP_BR_TABLE = 0x0e;
const OP_GLOBAL_GET = 0x23;
const OP_GLOBAL_SET = 0x24;
const OP_REF_FUNC = 0xd2;
/** Marks a nesting level that is not a loop on the block stack. */
const NOT_A_LOOP = -1;

/**
 * The largest cost one level site may charge. Above it a body is refused: it would take a level of
 * ~10^6 memory.grow instructions, which no compiler emits, and the cap keeps `fuel - cost` from wrapping.
 */
const MAX_SITE_COST = 2 ** 30;
/** V8's limit on a module's functions, imports included; twins are only added below it. */
const MAX_FUNCTIONS = 1_000_000;
/**
 * The largest entry cost of a leaf whose direct calls are prepaid by the caller's level. It bounds what
 * an untaken call costs the caller and how much code the twins add.
 */
const MAX_LEAF_COST = 64;
/** The same bound for a non-leaf callee: its entry level plus the depth-2 twins that level enters. */
const MAX_PREPAID_COST = 64;
/**
 * Non-leaf twins are small helpers: a larger body keeps its checked entry (its entry cost is small next
 * to what its loops do anyway). With the budget below it bounds the code twins add, and so what they add
 * to compiling the module.
 */
const MAX_TWIN_BODY_BYTES = 512;
/** Non-leaf twins may add up to the module's code size in bytes, or this much in a small module. */
const MIN_TWIN_BYTES = 64 * 1024;

/** What one-byte opcodes cost when it is not 1: the runtime calls behind them (see the calibration above). */
const STATIC_COST = new Uint16Array(256).fill(1);
const OP_THROW = 0x08;
const OP_RETHROW = 0x09;
const OP_THROW_REF = 0x0a;
const OP_TABLE_SET = 0x26;
STATIC_COST[OP_THROW] = 256; // allocates the exception, then unwinds
STATIC_COST[OP_RETHROW] = 256;
STATIC_COST[OP_THROW_REF] = 256;
STATIC_COST[OP_TABLE_SET] = 64;

/** What memory.grow costs besides its pages, charged only when it runs (like every bulk base cost). */
const GROW_COST = 1024;

// How a bulk site turns its length into fuel (the `kinds` of a plan's sites; 0 is a level site).
const LEVEL = 0;
/** n >>> 3: one unit per 8 bytes; n < 2^32 so the charge is below 2^29. */
const BYTES = 1;
/** min(n, 2^24) << 5: 32 units per table element; V8 caps tables at 10^7 elements. */
const ELEMENTS = 2;
/**
 * min(n, 65536) << 14: 16384 units per 64 KiB page, what the kernel's faulting in and zeroing a fresh page
 * costs when it is first written (bench/metering.ts grow-and-touch); no 32-bit memory has more pages, and
 * 2^30 plus the base still fits the i32 charge.
 */
const PAGES = 3;
/** Not a charge: a call_indirect, before which a body stores its depth budget for the callee (frames.ts). */
const CALL = 4;
const BYTES_SHIFT = 3;
const ELEMENT_CLAMP = 1 << 24;
const ELEMENT_SHIFT = 5;
const PAGE_CLAMP = 65536;
const PAGE_SHIFT = 14;

// The 0xFC sub-opcodes charged by their length, by sub-opcode: their cost before the length, and its kind.
// A bulk instruction's cost beyond 1 is charged with its length, right before it runs, so an arm not taken
// does not pay it (an allocator's rarely taken grow path, for one).
const FC_COST = new Uint16Array(18);
const FC_KIND = new Uint8Array(18);
function bulkOp(sub: number, cost: number, kind: number): void {
  FC_COST[sub] = cost;
  FC_KIND[sub] = kind;
}
bulkOp(8, 16, BYTES); // memory.init
bulkOp(10, 16, BYTES); // memory.copy
bulkOp(11, 128, BYTES); // memory.fill
bulkOp(12, 128, ELEMENTS); // table.init
bulkOp(14, 32, ELEMENTS); // table.copy
bulkOp(15, 32, ELEMENTS); // table.grow
bulkOp(17, 32, ELEMENTS); // table.fill

// What instantiation costs, charged at load from the fuel global's initial value: the active segments it
// copies, at the rates of memory.init and table.init (a base per segment, 1 unit per 8 bytes, 32 per element).
const DATA_SEGMENT_COST = 16;
const ELEMENT_SEGMENT_COST = 128;

/** The fuel instantiation's segment initialisation costs (a double: it may exceed any budget). */
export function initCost(init: InitWork): number {
  return (
    init.dataSegments * DATA_SEGMENT_COST +
    Math.floor(init.dataBytes / 8) +
    init.elementSegments * ELEMENT_SEGMENT_COST +
    init.elements * 2 ** ELEMENT_SHIFT
  );
}

function tooCostly(offset: number): Error {
  return unsupported(offset, `a block level that costs more than ${MAX_SITE_COST} fuel units`);
}

// How the walk treats each one-byte opcode: no immediate and no structure (W_PLAIN), one LEB immediate
// (W_LEB), a memarg (W_MEMARG), a direct call, recorded for prepayCalls (W_CALL), or anything the
// switch in scanBody looks at (W_OTHER).
const W_OTHER = 0;
const W_PLAIN = 1;
const W_LEB = 2;
const W_MEMARG = 3;
const W_CALL = 4;
const WALK = new Uint8Array(256);
for (let op = 0; op < 256; op++) {
  const shape = SHAPE[op];
  if (shape === NONE) WALK[op] = W_PLAIN;
  else if (shape === INDEX || shape === I32) WALK[op] = W_LEB;
  else if (shape === MEMARG) WALK[op] = W_MEMARG;
}
// Structure and bulk sites: end and delegate close a level, memory.grow is charged by its operand.
WALK[OP_END] = W_OTHER;
WALK[OP_DELEGATE] = W_OTHER;
WALK[OP_MEMORY_GROW] = W_OTHER;
WALK[OP_CALL] = W_CALL;
// Block structure moves the operand-stack height the frame bound counts (frames.ts).
WALK[OP_ELSE] = W_OTHER;
WALK[OP_CATCH] = W_OTHER;
WALK[OP_CATCH_ALL] = W_OTHER;
// Index checks: no instruction may name the fuel global or a twin, which sit right after the module's own.
WALK[OP_GLOBAL_GET] = W_OTHER;
WALK[OP_GLOBAL_SET] = W_OTHER;
WALK[OP_REF_FUNC] = W_OTHER;
// The opcodes that cost more than 1 take the slow path too, so the common one pays a plain increment.
for (let op = 0; op < 256; op++) if (STATIC_COST[op] !== 1) WALK[op] = W_OTHER;

/** Growable int32 storage reused across functions so the walk allocates only when a module is bigger. */
class IntList {
  data: Int32Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Int32Array(Math.max(16, capacity));
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
}

function leb(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** The byte sequences spliced in, specialised to the fuel global's index. */
interface CheckCode {
  /** Level site: global.get $fuel; i32.const (the cost follows). */
  head: Uint8Array;
  /** Level site after the cost: i32.sub; global.set $fuel; the check. */
  tail: Uint8Array;
  /**
   * Bulk sites by kind: the length local's index goes between consecutive parts, then come
   * `i32.const (the site's base cost - 1); i32.add` and the tail.
   */
  bulk: Uint8Array[][];
  /** The depth global's index, LEB-encoded, for the entry check and the stores before calls. */
  depth: Uint8Array;
}

function checkCode(fuelGlobal: number, depthGlobal: number): CheckCode {
  const idx = leb(fuelGlobal);
  // i32.sub; global.set $fuel; global.get $fuel; i32.const 0; i32.lt_s; if (empty); unreachable; end
  const tail = [0x6b, 0x24, ...idx, 0x23, ...idx, 0x41, 0x00, 0x48, 0x04, 0x40, 0x00, 0x0b];
  // local.tee $n | global.get $fuel; local.get $n | ...
  const start = [Uint8Array.of(0x22), Uint8Array.of(0x23, ...idx, 0x20)];
  // ... i32.const C; local.get $n | i32.const C; i32.lt_u; select; i32.const S; i32.shl
  const clamped = (limit: number, shift: number): Uint8Array[] => [
    ...start,
    Uint8Array.of(0x41, ...sleb(limit), 0x20),
    Uint8Array.of(0x41, ...sleb(limit), 0x49, 0x1b, 0x41, shift, 0x74),
  ];
  const bulk: Uint8Array[][] = [];
  bulk[BYTES] = [...start, Uint8Array.of(0x41, BYTES_SHIFT, 0x76)]; // i32.const 3; i32.shr_u
  bulk[ELEMENTS] = clamped(ELEMENT_CLAMP, ELEMENT_SHIFT);
  bulk[PAGES] = clamped(PAGE_CLAMP, PAGE_SHIFT);
  return {
    head: Uint8Array.of(0x23, ...idx, 0x41),
    tail: Uint8Array.from(tail),
    bulk,
    depth: Uint8Array.from(leb(depthGlobal)),
  };
}

/**
 * The depth code at the entry of emitted body e (frames.ts), `budget` being the local that holds its depth
 * budget afterwards: a body that keeps one charges it, from its parameter when it carries the budget, else
 * from the global:
 *   (local.get $budget | global.get $depth); i32.const charge; i32.sub; local.tee $budget; i32.const 0;
 *   i32.lt_s; if; local.get $budget; global.set $depth; unreachable; end
 * storing the negative budget before it traps, so the host can tell this trap from any other; an original
 * that keeps none but passes it on reads it: global.get $depth; local.set $budget.
 */
function writeDepthEntry(out: Writer, depth: Uint8Array, charge: number, carries: boolean, budget: number): void {
  if (charge < 0) {
    out.u8(0x23);
    out.append(depth, 0, depth.length);
    out.u8(0x21);
    out.u32(budget);
    return;
  }
  if (carries) {
    out.u8(0x20);
    out.u32(budget);
  } else {
    out.u8(0x23);
    out.append(depth, 0, depth.length);
  }
  out.u8(0x41);
  out.s32(charge);
  out.u8(0x6b);
  out.u8(0x22);
  out.u32(budget);
  out.u8(0x41);
  out.u8(0x00);
  out.u8(0x48);
  out.u8(0x04);
  out.u8(0x40);
  writeStore(out, depth, budget);
  out.u8(0x00);
  out.u8(0x0b);
}

function depthEntrySize(depth: Uint8Array, charge: number, carries: boolean, budget: number): number {
  if (charge < 0) return 2 + depth.length + u32Size(budget);
  const load = carries ? 1 + u32Size(budget) : 1 + depth.length;
  return load + 10 + s32Size(charge) + u32Size(budget) + storeSize(depth, budget);
}

/** local.get $budget; global.set $depth: before a call of a body that reads the global. */
function writeStore(out: Writer, depth: Uint8Array, local: number): void {
  out.u8(0x20);
  out.u32(local);
  out.u8(0x24);
  out.append(depth, 0, depth.length);
}

function storeSize(depth: Uint8Array, local: number): number {
  return 2 + u32Size(local) + depth.length;
}

/** A function type the module lacked: a carrying body's, its function's with the budget appended. */
export interface AddedType {
  params: ValType[];
  results: ValType[];
}

/**
 * The type of each carrying body (its function's with an i32 parameter appended), by its function's type:
 * an existing type of that shape, or one appended to `added` (index types.length + its position).
 */
function carryingType(m: ParsedModule, type: number, byType: Map<number, number>, added: AddedType[]): number {
  const known = byType.get(type);
  if (known !== undefined) return known;
  const { types } = m.info;
  const params = [...types[type]!.params, 'i32' as ValType];
  const results = types[type]!.results;
  const same = (u: { params: readonly ValType[]; results: readonly ValType[] }) =>
    u.params.length === params.length &&
    u.results.length === results.length &&
    u.params.every((v, k) => v === params[k]) &&
    u.results.every((v, k) => v === results[k]);
  let index = types.findIndex(same);
  if (index === -1) {
    index = added.findIndex(same);
    if (index === -1) index = added.push({ params, results: [...results] }) - 1;
    index += types.length;
  }
  byType.set(type, index);
  return index;
}

/**
 * Copies the code in [from, to) of a carrying body, whose appended parameter takes index `params`: every
 * local index at or above it moves up by one. Slices start and end on instruction boundaries.
 */
function copyRenumbered(out: Writer, b: Uint8Array, from: number, to: number, params: number): void {
  let p = from;
  let run = from;
  while (p < to) {
    const op = b[p]!;
    if (op === 0x20 || op === 0x21 || op === 0x22) {
      const index = readU32(b, p + 1, to);
      const next = lebEnd;
      if (index >= params) {
        out.append(b, run, p);
        out.u8(op);
        out.u32(index + 1);
        run = next;
      }
      p = next;
      continue;
    }
    p = skipImmediates(b, p + 1, to, op);
  }
  out.append(b, run, to);
}

/** How many bytes copyRenumbered adds to [from, to). */
function renumberGrowth(b: Uint8Array, from: number, to: number, params: number): number {
  let growth = 0;
  let p = from;
  while (p < to) {
    const op = b[p]!;
    if (op === 0x20 || op === 0x21 || op === 0x22) {
      const index = readU32(b, p + 1, to);
      if (index >= params) growth += u32Size(index + 1) - (lebEnd - p - 1);
      p = lebEnd;
      continue;
    }
    p = skipImmediates(b, p + 1, to, op);
  }
  return growth;
}

/**
 * The direct-call graph of the emitted bodies: each call goes where prepayCalls redirected it, or to the
 * original it names.
 */
function callGraph(
  m: ParsedModule,
  count: number,
  twins: Int32Array,
  frames: Int32Array,
  external: Uint8Array,
  catches: Uint8Array,
  calls: IntList,
  firstCall: Int32Array,
  prepaid: { redirected: Int32Array; firstRedirect: Int32Array },
): CallGraph {
  const bodies = count + twins.length;
  const underlying = (e: number) => (e < count ? e : twins[e - count]!);
  const firstCallee = new Int32Array(bodies + 1);
  let total = 0;
  for (let e = 0; e < bodies; e++) {
    firstCallee[e] = total;
    const i = underlying(e);
    total += firstCall[i + 1]! - firstCall[i]!;
  }
  firstCallee[bodies] = total;
  const callees = new Int32Array(total);
  const { redirected, firstRedirect } = prepaid;
  const call = calls.data;
  for (let e = 0; e < bodies; e++) {
    const i = underlying(e);
    let r = 2 * firstRedirect[e]!;
    const rEnd = 2 * firstRedirect[e + 1]!;
    let k = firstCallee[e]!;
    for (let c = firstCall[i]!; c < firstCall[i + 1]!; c++) {
      if (r < rEnd && redirected[r] === call[3 * c]) {
        callees[k++] = redirected[r + 1]! - m.importedFunctions;
        r += 2;
      } else {
        callees[k++] = call[3 * c + 1]!;
      }
    }
  }
  const mustKeep = new Uint8Array(bodies);
  const bodyExternal = new Uint8Array(bodies);
  const bodyFrames = new Int32Array(bodies);
  for (let e = 0; e < bodies; e++) {
    const i = underlying(e);
    bodyExternal[e] = external[i]!;
    mustKeep[e] = external[i]! | catches[i]!;
    bodyFrames[e] = frames[i]!;
  }
  return { bodies, originals: count, firstCallee, callees, frames: bodyFrames, external: bodyExternal, mustKeep };
}

function bulkSiteSize(parts: Uint8Array[], local: number, base: number, tail: Uint8Array): number {
  let size = (parts.length - 1) * u32Size(local) + 2 + s32Size(base) + tail.length;
  for (const part of parts) size += part.length;
  return size;
}

/**
 * What every body is held to: the module's own global and function counts (the fuel global and the twins
 * come right after them, so an index at or past either is refused, whatever V8 would say) and the shape
 * limits of one function.
 */
interface WalkBounds {
  globals: number;
  functions: number;
  limits: ModuleLimits;
  /** Parameter and result counts by function index (imports first) and by type index, for the height. */
  funcParams: Int32Array;
  funcResults: Int32Array;
  typeParams: Int32Array;
  typeResults: Int32Array;
  /** The most parameters of any type: what a legacy `catch` may push (its tag's parameters). */
  maxParams: number;
}

/** Reads the index immediate at `p`, refusing one at or past `bound`; returns the offset after it. */
function checkIndex(b: Uint8Array, p: number, end: number, bound: number, what: string): number {
  const index = readU32(b, p, end);
  if (index >= bound) throw malformed(p, `instruction names ${what} ${index} of ${bound}`);
  return lebEnd;
}

/**
 * Enters a block whose type sits at `p`: records its height below its parameters, their count and its
 * result count on `blocks`, and returns the height inside it (unchanged: the parameters stay).
 */
function openBlock(b: Uint8Array, p: number, end: number, height: number, bounds: WalkBounds, blocks: IntList): number {
  blockArity(b, p, end, bounds.typeParams, bounds.typeResults, arity);
  blocks.push(height - arity.params);
  blocks.push(arity.params);
  blocks.push(arity.results);
  return height;
}

const arity: BlockArity = { params: 0, results: 0 };

/** Per-body facts the walk gathers besides its sites. */
interface BodyScan {
  /** Offset just after the local-group count. */
  groupsStart: number;
  groups: number;
  /** Parameters plus declared locals: the index the length local gets if the body needs one. */
  locals: number;
  /** No loop and no direct call to a defined function: every instruction runs at most once per call. */
  leaf: boolean;
  /** A call_indirect: it may enter any original. */
  external: boolean;
  /**
   * A try or try_table: such a body keeps a budget (planDepth), as it had to while the global carried it
   * (a caught exception had skipped restores); so the depth where any recursion stops stays as it was.
   */
  catches: boolean;
  /** The bound of the body's frame in bytes (frames.ts). */
  frame: number;
}

/**
 * Walks one body from `p` (after its size) to `end`, appending its sites (input offset where the code
 * goes, its kind, and its cost) to `sites`/`kinds`/`costs`, and its direct calls of defined functions to
 * `calls`. The running cost of the current level lives in a local; the stack saves (site, cost so far) of
 * the levels a loop interrupts, or NOT_A_LOOP for blocks.
 */
function scanBody(
  b: Uint8Array,
  p: number,
  end: number,
  params: number,
  v128Params: number,
  importedFunctions: number,
  bounds: WalkBounds,
  sites: IntList,
  kinds: IntList,
  costs: IntList,
  calls: IntList,
  stack: IntList,
  blocks: IntList,
  scan: BodyScan,
): void {
  scan.leaf = true;
  scan.external = false;
  scan.catches = false;
  const groups = readU32(b, p, end);
  p = lebEnd;
  scan.groupsStart = p;
  scan.groups = groups;
  let locals = params;
  let v128Locals = v128Params;
  for (let i = 0; i < groups; i++) {
    const n = readU32(b, p, end);
    locals += n;
    checkLimit('localsPerFunction', locals, bounds.limits.localsPerFunction);
    p = lebEnd;
    if (p >= end) throw malformed(p, 'truncated local declaration');
    if (decodeValType(b[p]!, p) === 'v128') v128Locals += n;
    p++;
  }
  scan.locals = locals;
  // The operand-stack height (an upper bound, see frames.ts), its maximum, and per open block its height
  // below the block's parameters, its parameter count and its result count.
  let height = 0;
  let maxHeight = 0;
  let simd = v128Locals > 0;
  blocks.length = 0;
  const { funcParams, funcResults, typeParams, typeResults } = bounds;
  let site = sites.length;
  let cost = 0;
  sites.push(p);
  kinds.push(LEVEL);
  costs.push(0);
  stack.length = 0;
  let depth = 0;
  const maxDepth = bounds.limits.blockDepth;
  for (;;) {
    if (p >= end) throw malformed(p, 'function body ends before its final end');
    const op = b[p++]!;
    cost++;
    height += HEIGHT[op]!;
    if (height > maxHeight) maxHeight = height;
    const walk = WALK[op]!;
    if (walk === W_PLAIN) continue;
    if (walk === W_CALL) {
      // A triple per call of a defined function: the opcode's offset, the callee's code index, and the
      // level site that would prepay it. Calls of imports are never redirected.
      const at = p - 1;
      let callee: number;
      if (p + 1 < end && b[p]! < 0x80) {
        callee = b[p++]!;
      } else if (p + 1 < end && b[p + 1]! < 0x80) {
        callee = (b[p]! & 0x7f) | (b[p + 1]! << 7);
        p += 2;
      } else {
        callee = readU32(b, p, end);
        p = lebEnd;
      }
      if (callee >= bounds.functions) throw malformed(at, `call of function ${callee} of ${bounds.functions}`);
      height += funcResults[callee]! - funcParams[callee]!;
      if (height > maxHeight) maxHeight = height;
      // An import adds the host's frames only: the host never calls back into a guest from an import.
      if (callee >= importedFunctions) {
        scan.leaf = false;
        calls.push(at);
        calls.push(callee - importedFunctions);
        calls.push(site);
      }
      continue;
    }
    // Fast paths for LEB immediates of one or two bytes (two-byte ones are always in range): indices of
    // locals, globals, labels and functions, constants, and memargs with no memory index.
    if (walk === W_LEB && p + 1 < end) {
      if (b[p]! < 0x80) {
        p++;
        continue;
      }
      if (b[p + 1]! < 0x80) {
        p += 2;
        continue;
      }
    } else if (walk === W_MEMARG && p + 2 < end && b[p]! < 0x40) {
      if (b[p + 1]! < 0x80) {
        p += 2;
        continue;
      }
      if (b[p + 2]! < 0x80) {
        p += 3;
        continue;
      }
    }
    switch (op) {
      case OP_MEMORY_GROW:
        sites.push(p - 1);
        kinds.push(PAGES);
        costs.push(GROW_COST - 1);
        p = skipImmediates(b, p, end, op);
        break;
      case OP_LOOP:
        height = openBlock(b, p, end, height, bounds, blocks);
        p = skipImmediates(b, p, end, op);
        if (++depth > maxDepth) checkLimit('blockDepth', depth, maxDepth);
        if (cost > MAX_SITE_COST) throw tooCostly(p);
        scan.leaf = false;
        stack.push(site);
        stack.push(cost);
        site = sites.length;
        cost = 0;
        sites.push(p);
        kinds.push(LEVEL);
        costs.push(0);
        break;
      case OP_BLOCK:
      case OP_IF:
      case OP_TRY:
      case OP_TRY_TABLE:
        if (op === OP_TRY || op === OP_TRY_TABLE) scan.catches = true;
        height = openBlock(b, p, end, height, bounds, blocks);
        p = skipImmediates(b, p, end, op);
        if (++depth > maxDepth) checkLimit('blockDepth', depth, maxDepth);
        stack.push(NOT_A_LOOP);
        break;
      case OP_END:
      case OP_DELEGATE: {
        if (op === OP_DELEGATE) p = skipImmediates(b, p, end, op);
        if (stack.length === 0) {
          if (op === OP_DELEGATE) throw malformed(p - 1, 'delegate outside a try block');
          if (p !== end) throw malformed(p, 'bytes after the final end of a function body');
          if (cost > MAX_SITE_COST) throw tooCostly(p);
          costs.data[site] = cost;
          // The depth locals and the length local, if any, are i32 slots of the frame too.
          scan.frame = frameBytes(locals + 3, v128Locals, maxHeight, simd);
          if (scan.frame > MAX_FRAME_BYTES) {
            throw unsupported(
              p,
              `a function whose frame may take ${scan.frame} bytes of stack (at most ${MAX_FRAME_BYTES})`,
            );
          }
          return;
        }
        depth--;
        blocks.length -= 3;
        height = blocks.data[blocks.length]! + blocks.data[blocks.length + 2]!;
        const top = stack.data[--stack.length]!;
        if (top !== NOT_A_LOOP) {
          if (cost > MAX_SITE_COST) throw tooCostly(p);
          costs.data[site] = cost;
          cost = top;
          site = stack.data[--stack.length]!;
        }
        break;
      }
      case OP_ELSE:
      case OP_CATCH:
      case OP_CATCH_ALL:
        if (blocks.length === 0) throw malformed(p - 1, 'else or catch outside a block');
        // else starts over from the block's parameters; catch from its tag's, catch_all from none.
        height = blocks.data[blocks.length - 3]!;
        if (op === OP_ELSE) height += blocks.data[blocks.length - 2]!;
        else if (op === OP_CATCH) height += bounds.maxParams;
        if (height > maxHeight) maxHeight = height;
        p = skipImmediates(b, p, end, op);
        break;
      case OP_CALL_INDIRECT: {
        const type = readU32(b, p, end);
        height += (typeResults[type] ?? 0) - (typeParams[type] ?? 0) - 1;
        if (height > maxHeight) maxHeight = height;
        scan.external = true;
        sites.push(p - 1);
        kinds.push(CALL);
        costs.push(0);
        p = skipImmediates(b, p, end, op);
        break;
      }
      case OP_PREFIX_FD:
        simd = true;
        p = skipImmediates(b, p, end, op);
        break;
      case OP_PREFIX_FC: {
        const sub = readU32(b, p, end);
        height += sub < FC_HEIGHT.length ? FC_HEIGHT[sub]! : 0;
        const kind = sub < FC_KIND.length ? FC_KIND[sub]! : LEVEL;
        if (kind !== LEVEL) {
          sites.push(p - 1);
          kinds.push(kind);
          costs.push(FC_COST[sub]! - 1);
        }
        p = skipImmediates(b, p, end, op);
        break;
      }
      case OP_GLOBAL_GET:
      case OP_GLOBAL_SET:
        p = checkIndex(b, p, end, bounds.globals, 'global');
        break;
      case OP_REF_FUNC:
        p = checkIndex(b, p, end, bounds.functions, 'function');
        break;
      case OP_BR_TABLE:
        // count + 1 labels; refused before the walk loops over them.
        checkLimit('brTableLabels', readU32(b, p, end) + 1, bounds.limits.brTableLabels);
        p = skipImmediates(b, p, end, op);
        break;
      default:
        cost += STATIC_COST[op]! - 1;
        p = skipImmediates(b, p, end, op);
    }
  }
}

/** Where the code goes and what it costs, computed before writing so every size is exact up front. */
export interface MeteringPlan {
  /** Bytes the instrumented code section takes, id and size included. */
  outputSize: number;
  count: number;
  bodyStarts: Int32Array;
  bodyEnds: Int32Array;
  /** Per body: the offset after its local-group count, and that count. */
  groupsStarts: Int32Array;
  groupCounts: Int32Array;
  /** Per emitted body, the bytes it takes. */
  newSizes: Int32Array;
  /** Per emitted body (originals, twins, copies): the defined function (by code index) it is written from. */
  sources: Int32Array;
  /** Per emitted body: what its depth check charges, or -1 when it keeps no budget (frames.ts planDepth). */
  charges: Int32Array;
  /** Per emitted body: 1 when it takes the depth budget as an appended parameter. */
  carries: Uint8Array;
  /** Per emitted body: the local holding its depth budget, or -1 when it needs none. */
  budgets: Int32Array;
  /** Per emitted body: the index of the appended length local, or -1 when the body has no bulk site. */
  lengths: Int32Array;
  /** Per emitted body: how many i32 locals it declares after its own (budget and length). */
  extraLocals: Uint8Array;
  /** Sites of body i are firstSite[i] .. firstSite[i + 1] - 1. */
  firstSite: Int32Array;
  sites: Int32Array;
  kinds: Int32Array;
  /** A level site's cost; a bulk site's base cost minus the 1 its level already charges. */
  costs: Int32Array;
  /** The rewritten direct calls (planCalls): triples, those of emitted body e from firstCall[e]. */
  calls: Int32Array;
  firstCall: Int32Array;
  /** The defined function (by code index) each twin is made from, in twin order; twin k has index firstTwin + k. */
  twins: Int32Array;
  /** The type index of each appended function (twins, then copies), for the function section. */
  functionTypes: Int32Array;
  /** The function types the carrying bodies add to the module. */
  addedTypes: AddedType[];
  check: CheckCode;
  sectionSize: number;
}

/**
 * `Int32Array.from({ length }, (_, i) => f(i))` without the builtin's generic path, which costs ~0.8 us per
 * element in V8 13 (13-16 ms for a 17,500-function module's table, against ~0.1-2 ms for this loop).
 */
function mapToInt32(length: number, f: (i: number) => number): Int32Array {
  const out = new Int32Array(length);
  for (let i = 0; i < length; i++) out[i] = f(i);
  return out;
}

/** Walks every body of the code section `span`: the first of two passes (the second is writeMeteredCode). */
export function planMetering(
  b: Uint8Array,
  span: SectionSpan,
  m: ParsedModule,
  fuelGlobal: number,
  limits: ModuleLimits,
): MeteringPlan {
  const end = span.end;
  const count = readU32(b, span.contentStart, end);
  let p = lebEnd;
  const bodyStarts = new Int32Array(count);
  const bodyEnds = new Int32Array(count);
  const groupsStarts = new Int32Array(count);
  const groupCounts = new Int32Array(count);
  const lengthLocals = new Int32Array(count);
  const leaves = new Uint8Array(count);
  const firstSite = new Int32Array(count + 1);
  const sites = new IntList(count * 2);
  const kinds = new IntList(count * 2);
  const costs = new IntList(count * 2);
  const calls = new IntList(count * 6);
  const firstCall = new Int32Array(count + 1);
  const frames = new Int32Array(count);
  const localCounts = new Int32Array(count);
  const external = new Uint8Array(count);
  const catches = new Uint8Array(count);
  const stack = new IntList(64);
  const blocks = new IntList(96);
  const scan: BodyScan = {
    groupsStart: 0,
    groups: 0,
    locals: 0,
    leaf: false,
    external: false,
    catches: false,
    frame: 0,
  };
  const { types, functionTypeIndices } = m.info;
  const imported = m.importedFunctions;
  const typeParams = mapToInt32(types.length, (t) => types[t]!.params.length);
  const typeResults = mapToInt32(types.length, (t) => types[t]!.results.length);
  const bounds: WalkBounds = {
    globals: fuelGlobal,
    functions: functionTypeIndices.length,
    limits,
    funcParams: mapToInt32(functionTypeIndices.length, (f) => typeParams[functionTypeIndices[f]!]!),
    funcResults: mapToInt32(functionTypeIndices.length, (f) => typeResults[functionTypeIndices[f]!]!),
    typeParams,
    typeResults,
    maxParams: typeParams.reduce((a, n) => Math.max(a, n), 0),
  };
  for (let i = 0; i < count; i++) {
    const size = readU32(b, p, end);
    p = lebEnd;
    if (size > end - p) throw malformed(p, 'function body overruns the code section');
    bodyStarts[i] = p;
    bodyEnds[i] = p + size;
    firstSite[i] = sites.length;
    firstCall[i] = calls.length / 3;
    // parseModule checked that the code and function counts match and every type index is in range.
    const params = types[functionTypeIndices[imported + i]!]!.params;
    const v128Params = params.reduce((n, t) => n + (t === 'v128' ? 1 : 0), 0);
    scanBody(
      b,
      p,
      p + size,
      params.length,
      v128Params,
      imported,
      bounds,
      sites,
      kinds,
      costs,
      calls,
      stack,
      blocks,
      scan,
    );
    groupsStarts[i] = scan.groupsStart;
    groupCounts[i] = scan.groups;
    leaves[i] = scan.leaf && costs.data[firstSite[i]!]! <= MAX_LEAF_COST ? 1 : 0;
    frames[i] = scan.frame;
    localCounts[i] = scan.locals;
    external[i] = scan.external ? 1 : 0;
    catches[i] = scan.catches ? 1 : 0;
    lengthLocals[i] = -1;
    for (let s = firstSite[i]!; s < sites.length; s++) {
      const kind = kinds.data[s];
      if (kind === LEVEL || kind === CALL) continue;
      // After the declared locals, so no index moves (and after the depth locals of a body that has them).
      lengthLocals[i] = scan.locals;
      break;
    }
    p += size;
  }
  firstSite[count] = sites.length;
  firstCall[count] = calls.length / 3;
  const prepaid = prepayCalls(m, count, leaves, bodyStarts, bodyEnds, firstSite, costs.data, calls, firstCall);
  const { twins, twinTypes } = prepaid;

  const check = checkCode(fuelGlobal, fuelGlobal + 1);
  const levelSize = check.head.length + check.tail.length;
  const graph = callGraph(m, count, twins, frames, external, catches, calls, firstCall, prepaid);
  const charges = planDepth(graph);
  const depth = planCarrying(m, count, twins, twinTypes, graph, charges, bodyStarts, bodyEnds);
  const emitted = count + twins.length + depth.copies.length;
  const source = (e: number) =>
    e < count ? e : e < count + twins.length ? twins[e - count]! : depth.copies[e - count - twins.length]!;
  const bodyCharges = new Int32Array(emitted);
  const budgets = new Int32Array(emitted).fill(-1);
  const lengths = new Int32Array(emitted).fill(-1);
  const extraLocals = new Uint8Array(emitted);
  const callPlan = planCalls(m, count, twins, depth, calls, firstCall, prepaid);
  const newSizes = new Int32Array(emitted);
  let sectionSize = u32Size(emitted);
  for (let e = 0; e < emitted; e++) {
    const i = source(e);
    const ge = e < count + twins.length ? e : i;
    const carries = depth.carries[e] === 1;
    const charge = charges[ge]!;
    bodyCharges[e] = charge;
    let size = bodyEnds[i]! - bodyStarts[i]!;
    // A carrying body's budget is its appended parameter, which moves every declared local up by one; an
    // original that needs one keeps it in a local appended after its own, before the length local.
    const params = m.info.types[m.info.functionTypeIndices[m.importedFunctions + i]!]!.params.length;
    let next = localCounts[i]! + (carries ? 1 : 0);
    if (carries) budgets[e] = params;
    else if (depth.needs[ge] === 1) budgets[e] = next++;
    if (lengthLocals[i]! >= 0) lengths[e] = next++;
    extraLocals[e] = next - localCounts[i]! - (carries ? 1 : 0);
    const budget = budgets[e]!;
    const local = lengths[e]!;
    // The local-group count is rewritten (its input encoding may be padded) and `0n 7f` declares the locals.
    if (extraLocals[e]! > 0) size += u32Size(groupCounts[i]! + 1) - (groupsStarts[i]! - bodyStarts[i]!) + 2;
    // A carrying body that keeps none has its budget in its parameter already.
    if (budget >= 0 && (charge >= 0 || !carries)) size += depthEntrySize(check.depth, charge, carries, budget);
    if (carries) size += renumberGrowth(b, sites.data[firstSite[i]!]!, bodyEnds[i]!, params);
    // A twin is its function's instrumented body without the entry fuel check, which its callers prepay.
    const twin = e >= count && e < count + twins.length;
    for (let s = firstSite[i]! + (twin ? 1 : 0); s < firstSite[i + 1]!; s++) {
      const kind = kinds.data[s]!;
      const cost = costs.data[s]!;
      if (kind === LEVEL) size += levelSize + s32Size(cost);
      else if (kind === CALL) size += storeSize(check.depth, budget);
      else size += bulkSiteSize(check.bulk[kind]!, local, cost, check.tail);
    }
    for (let c = 3 * callPlan.first[e]!; c < 3 * callPlan.first[e + 1]!; c += 3) {
      const at = callPlan.calls[c]!;
      size += u32Size(callPlan.calls[c + 1]!) - lebLength(b, at + 1);
      const action = callPlan.calls[c + 2]!;
      if (action === PASS) size += 1 + u32Size(budget);
      else if (action === STORE) size += storeSize(check.depth, budget);
    }
    newSizes[e] = size;
    sectionSize += u32Size(size) + size;
  }
  return {
    outputSize: 1 + u32Size(sectionSize) + sectionSize,
    count,
    bodyStarts,
    bodyEnds,
    newSizes,
    groupsStarts,
    groupCounts,
    sources: mapToInt32(emitted, source),
    charges: bodyCharges,
    carries: depth.carries,
    budgets,
    lengths,
    extraLocals,
    firstSite,
    sites: sites.data,
    kinds: kinds.data,
    costs: costs.data,
    calls: callPlan.calls,
    firstCall: callPlan.first,
    twins,
    functionTypes: depth.functionTypes,
    addedTypes: depth.addedTypes,
    check,
    sectionSize,
  };
}

/** Where the depth budget goes, by emitted body (originals, twins, then the carrying copies of originals). */
interface CarryingPlan {
  /** Per original and twin: 1 when it keeps a budget, makes a call_indirect, or calls one that needs it. */
  needs: Uint8Array;
  /** Per emitted body: 1 when it takes the budget as an appended i32 parameter (twins and copies only). */
  carries: Uint8Array;
  /** The original (by code index) each copy is made from, in copy order; copy k follows the twins. */
  copies: Int32Array;
  /** Per original: the function index of its carrying copy, or -1. */
  copyOf: Int32Array;
  /** The type index of each appended function (twins, then copies), for the function section. */
  functionTypes: Int32Array;
  addedTypes: AddedType[];
}

/**
 * Decides which bodies pass the depth budget in a parameter rather than through the global (frames.ts):
 * a body needs the budget when it keeps one, makes a call_indirect, or calls a body that needs it; a twin
 * that needs it takes it as a parameter, and a small original (MAX_TWIN_BODY_BYTES, within the twins' code
 * budget again) that keeps one and is called directly gets a carrying copy, so a recursion's calls touch
 * no global. A larger one is called through the global: one store and one load per call, small next to
 * its body, where a copy would add its bytes to what V8 compiles (AssemblyScript guests: +12% instrumented
 * bytes with the bound, +19% without it).
 */
function planCarrying(
  m: ParsedModule,
  count: number,
  twins: Int32Array,
  twinTypes: Int32Array,
  g: CallGraph,
  charges: Int32Array,
  bodyStarts: Int32Array,
  bodyEnds: Int32Array,
): CarryingPlan {
  const n = g.bodies;
  const needs = new Uint8Array(n);
  // Callers by callee, as the call graph lists callees by caller.
  const firstCaller = new Int32Array(n + 1);
  for (let k = 0; k < g.callees.length; k++) firstCaller[g.callees[k]! + 1]!++;
  for (let e = 0; e < n; e++) firstCaller[e + 1]! += firstCaller[e]!;
  const callers = new Int32Array(g.callees.length);
  const fill = firstCaller.slice(0, n);
  for (let e = 0; e < n; e++) {
    for (let k = g.firstCallee[e]!; k < g.firstCallee[e + 1]!; k++) callers[fill[g.callees[k]!]!++] = e;
  }
  const work: number[] = [];
  for (let e = 0; e < n; e++) {
    if (charges[e]! >= 0 || g.external[e] === 1) {
      needs[e] = 1;
      work.push(e);
    }
  }
  while (work.length > 0) {
    const e = work.pop()!;
    for (let k = firstCaller[e]!; k < firstCaller[e + 1]!; k++) {
      const caller = callers[k]!;
      if (needs[caller] === 0) {
        needs[caller] = 1;
        work.push(caller);
      }
    }
  }
  const copyOf = new Int32Array(count).fill(-1);
  const copies: number[] = [];
  const budget = Math.max(MIN_TWIN_BYTES, (bodyEnds[count - 1] ?? 0) - (bodyStarts[0] ?? 0));
  let copyBytes = 0;
  const imported = m.importedFunctions;
  for (let i = 0; i < count; i++) {
    if (charges[i]! < 0 || firstCaller[i + 1] === firstCaller[i]) continue;
    const size = bodyEnds[i]! - bodyStarts[i]!;
    if (size > MAX_TWIN_BODY_BYTES || copyBytes + size > budget || imported + n + copies.length >= MAX_FUNCTIONS) {
      continue;
    }
    copyBytes += size;
    copyOf[i] = imported + n + copies.length;
    copies.push(i);
  }
  const carries = new Uint8Array(n + copies.length);
  const byType = new Map<number, number>();
  const addedTypes: AddedType[] = [];
  const functionTypes = new Int32Array(twins.length + copies.length);
  for (let k = 0; k < twins.length; k++) {
    carries[count + k] = needs[count + k]!;
    functionTypes[k] = needs[count + k] === 1 ? carryingType(m, twinTypes[k]!, byType, addedTypes) : twinTypes[k]!;
  }
  for (let k = 0; k < copies.length; k++) {
    carries[n + k] = 1;
    const type = m.info.functionTypeIndices[imported + copies[k]!]!;
    functionTypes[twins.length + k] = carryingType(m, type, byType, addedTypes);
  }
  return { needs, carries, copies: Int32Array.from(copies), copyOf, functionTypes, addedTypes };
}

// What a direct call does with the caller's depth budget: nothing, pass it as the appended argument, or
// store it in the global the callee reads.
const NOTHING = 0;
const PASS = 1;
const STORE = 2;

/**
 * The direct calls each emitted body rewrites, as triples (opcode offset, function index it calls, what it
 * does with the budget); those of body e are first[e] .. first[e + 1] - 1, counted in triples. A call is
 * listed when it goes to a twin or a copy, or passes or stores the budget.
 */
function planCalls(
  m: ParsedModule,
  count: number,
  twins: Int32Array,
  depth: CarryingPlan,
  calls: IntList,
  firstCall: Int32Array,
  prepaid: { redirected: Int32Array; firstRedirect: Int32Array },
): { calls: Int32Array; first: Int32Array } {
  const imported = m.importedFunctions;
  const { redirected, firstRedirect } = prepaid;
  const call = calls.data;
  const graphBodies = count + twins.length;
  const emitted = graphBodies + depth.copies.length;
  const out = new IntList(16);
  const first = new Int32Array(emitted + 1);
  for (let e = 0; e < emitted; e++) {
    first[e] = out.length / 3;
    const i = e < count ? e : e < graphBodies ? twins[e - count]! : depth.copies[e - graphBodies]!;
    const ge = e < graphBodies ? e : i;
    const knows = depth.needs[ge] === 1;
    let r = 2 * firstRedirect[ge]!;
    const rEnd = 2 * firstRedirect[ge + 1]!;
    for (let c = firstCall[i]!; c < firstCall[i + 1]!; c++) {
      const at = call[3 * c]!;
      let target = imported + call[3 * c + 1]!;
      if (r < rEnd && redirected[r] === at) {
        target = redirected[r + 1]!;
        r += 2;
      }
      let action = NOTHING;
      if (knows) {
        const body = target - imported;
        if (body < count && depth.copyOf[body]! >= 0) target = depth.copyOf[body]!;
        const callee = target - imported;
        if (depth.carries[callee] === 1) action = PASS;
        else if (depth.needs[callee] === 1) action = STORE;
      }
      if (action === NOTHING && target === imported + call[3 * c + 1]!) continue;
      out.push(at);
      out.push(target);
      out.push(action);
    }
  }
  first[emitted] = out.length / 3;
  return { calls: out.data.slice(0, out.length), first };
}

/** The bytes of an LEB128 starting at `p` (already validated by the walk). */
function lebLength(b: Uint8Array, p: number): number {
  let n = 1;
  while ((b[p++]! & 0x80) !== 0) n++;
  return n;
}

/**
 * Chooses which direct calls are prepaid and where they go: the cost a caller's level pays in advance
 * for a callee entered through an unchecked twin (see "Prepaid calls" at the top of this file).
 *
 * Step 1, leaves: a small leaf runs each of its instructions at most once per call, so its entry cost
 * joins the level of every direct call to it, in any body. Callers that are leaves never call a defined
 * function, so every leaf's entry cost is final before any other body's.
 * Step 2, small non-leaf functions, two twins deep: a twin at depth 1 runs its entry level once per call,
 * and its entry level's calls go to depth-2 twins, prepaid with it; a depth-2 twin's entry level calls
 * checked originals (or leaf twins). Calls in loop levels go to depth-1 twins in every body, paid by the
 * loop's own check. So every level that pays (an original's entry, any loop) covers what it runs and what
 * the twins it enters run before the next check, and a recursion pays at least every third call: the
 * global's read-modify-write, which is what call-heavy code spends on metering, happens a third as often.
 * Exports, tables, `ref.func` and the start function keep naming the originals, which check on entry.
 */
function prepayCalls(
  m: ParsedModule,
  count: number,
  leaves: Uint8Array,
  bodyStarts: Int32Array,
  bodyEnds: Int32Array,
  firstSite: Int32Array,
  costs: Int32Array,
  calls: IntList,
  firstCall: Int32Array,
): { twins: Int32Array; twinTypes: Int32Array; redirected: Int32Array; firstRedirect: Int32Array } {
  const imported = m.importedFunctions;
  const call = calls.data;
  const callCount = calls.length / 3;
  // Per call: the twin it goes to in every body (leaf twins, and depth-1 twins from loop levels), or -1.
  const fixedTarget = new Int32Array(callCount).fill(-1);
  // Twin function index by (code index, depth - 1); a twin of a body without prepaid entry calls serves
  // both depths, since both would be the same body.
  const twinIndex = new Int32Array(2 * count).fill(-1);
  const twins = new IntList(16);
  const twinDepths = new IntList(16);
  let twinBytes = 0;
  const twinBudget = Math.max(MIN_TWIN_BYTES, (bodyEnds[count - 1] ?? 0) - (bodyStarts[0] ?? 0));
  const twinOf = (callee: number, depth: number, leaf: boolean): number => {
    const slot = 2 * callee + depth - 1;
    if (twinIndex[slot] !== -1) return twinIndex[slot]!;
    const size = bodyEnds[callee]! - bodyStarts[callee]!;
    if (imported + count + twins.length >= MAX_FUNCTIONS) return -1;
    if (!leaf && (size > MAX_TWIN_BODY_BYTES || twinBytes + size > twinBudget)) return -1;
    twinBytes += size;
    const index = imported + count + twins.length;
    twins.push(callee);
    twinDepths.push(depth);
    twinIndex[slot] = index;
    return index;
  };
  const bodyOf = new Int32Array(callCount);
  for (let i = 0; i < count; i++) bodyOf.fill(i, firstCall[i]!, firstCall[i + 1]!);
  /** The call is in its body's entry level (not in a loop). */
  const isEntry = (c: number) => call[3 * c + 2] === firstSite[bodyOf[c]!];

  // Step 1: leaves.
  for (let c = 0; c < callCount; c++) {
    const callee = call[3 * c + 1]!;
    const owner = call[3 * c + 2]!;
    if (leaves[callee] === 0) continue;
    const entry = costs[firstSite[callee]!]!;
    if (costs[owner]! + entry > MAX_SITE_COST) continue;
    const twin = twinOf(callee, 1, true);
    if (twin === -1) continue;
    twinIndex[2 * callee + 1] = twin;
    costs[owner] = costs[owner]! + entry;
    fixedTarget[c] = twin;
  }

  // Step 2: what a twin of each other body costs its caller at depth 2 (its entry level, leaves
  // included), then at depth 1 (that plus the depth-2 twins its entry level enters).
  const entryCost = new Int32Array(count);
  for (let i = 0; i < count; i++) entryCost[i] = costs[firstSite[i]!]!;
  const prepaid2 = (callee: number) => leaves[callee] === 0 && entryCost[callee]! <= MAX_PREPAID_COST;
  const cost1 = new Int32Array(count);
  const hasPrepaidEntryCalls = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    let total = entryCost[i]!;
    for (let c = firstCall[i]!; c < firstCall[i + 1]! && total <= MAX_PREPAID_COST; c++) {
      if (fixedTarget[c] !== -1 || !isEntry(c)) continue;
      const callee = call[3 * c + 1]!;
      if (!prepaid2(callee)) continue;
      total += entryCost[callee]!;
      hasPrepaidEntryCalls[i] = 1;
    }
    cost1[i] = total;
  }
  // An original's calls (entry or loop level) and every body's loop-level calls enter depth-1 twins.
  for (let c = 0; c < callCount; c++) {
    if (fixedTarget[c] !== -1) continue;
    const callee = call[3 * c + 1]!;
    const owner = call[3 * c + 2]!;
    if (leaves[callee] !== 0 || cost1[callee]! > MAX_PREPAID_COST) continue;
    if (costs[owner]! + cost1[callee]! > MAX_SITE_COST) continue;
    const depth = hasPrepaidEntryCalls[callee] === 1 ? 1 : 2;
    const twin = twinOf(callee, depth, false);
    if (twin === -1) continue;
    if (depth === 2) twinIndex[2 * callee] = twin;
    costs[owner] = costs[owner]! + cost1[callee]!;
    // Entry-level calls of an original go here too; in a twin they are decided by its depth below.
    fixedTarget[c] = twin;
  }

  // Redirections per emitted body: originals, then twins in order (a twin may add depth-2 twins, which
  // come after it and whose entry calls go to originals, so the list ends).
  const redirected = new IntList(16);
  const firstRedirect = new IntList(count + 16);
  for (let e = 0; e < count + twins.length; e++) {
    firstRedirect.push(redirected.length / 2);
    const i = e < count ? e : twins.data[e - count]!;
    const depth = e < count ? 0 : twinDepths.data[e - count]!;
    for (let c = firstCall[i]!; c < firstCall[i + 1]!; c++) {
      let target = fixedTarget[c]!;
      const callee = call[3 * c + 1]!;
      if (depth > 0 && isEntry(c) && leaves[callee] === 0) {
        // A twin's entry level: depth 1 enters depth-2 twins (prepaid in its cost1), depth 2 the originals.
        target = depth === 1 && prepaid2(callee) ? twinOf(callee, 2, false) : -1;
      }
      if (target === -1) continue;
      redirected.push(call[3 * c]!);
      redirected.push(target);
    }
  }
  firstRedirect.push(redirected.length / 2);
  const list = twins.data.slice(0, twins.length);
  const twinTypes = new Int32Array(list.length);
  for (let k = 0; k < list.length; k++) twinTypes[k] = m.info.functionTypeIndices[imported + list[k]!]!;
  return {
    twins: list,
    twinTypes,
    redirected: redirected.data.slice(0, redirected.length),
    firstRedirect: firstRedirect.data.slice(0, firstRedirect.length),
  };
}

/** Emits the instrumented code section (id, size and content): input slices with the code spliced in. */
export function writeMeteredCode(b: Uint8Array, plan: MeteringPlan, out: Writer): void {
  out.u8(10);
  out.u32(plan.sectionSize);
  out.u32(plan.sources.length);
  for (let e = 0; e < plan.sources.length; e++) {
    out.u32(plan.newSizes[e]!);
    writeBody(b, plan, out, e);
  }
}

/**
 * Writes emitted body e: an original (e < count) or a carrying copy of one from its entry check on, or a
 * twin from its first site after the entry check, which the twin's callers prepay.
 */
function writeBody(b: Uint8Array, plan: MeteringPlan, out: Writer, e: number): void {
  const { head, tail, bulk } = plan.check;
  const { sites, kinds, costs, calls } = plan;
  const i = plan.sources[e]!;
  const twin = e >= plan.count && e < plan.count + plan.twins.length;
  const first = plan.firstSite[i]! + (twin ? 1 : 0);
  let from = plan.bodyStarts[i]!;
  const carries = plan.carries[e] === 1;
  const budget = plan.budgets[e]!;
  const local = plan.lengths[e]!;
  const depth = plan.check.depth;
  const codeStart = sites[plan.firstSite[i]!]!;
  const params = carries ? budget : -1;
  if (plan.extraLocals[e]! > 0) {
    // The groups' count grows by one and one group of i32s is declared last, so no existing index moves.
    out.u32(plan.groupCounts[i]! + 1);
    from = plan.groupsStarts[i]!;
    out.append(b, from, codeStart);
    out.u8(plan.extraLocals[e]!);
    out.u8(0x7f);
  } else {
    out.append(b, from, codeStart);
  }
  from = codeStart;
  // A carrying body's code is copied with its declared locals renumbered past the appended parameter.
  const copy = (to: number) => {
    if (carries) copyRenumbered(out, b, from, to, params);
    else out.append(b, from, to);
  };
  const charge = plan.charges[e]!;
  if (budget >= 0 && (charge >= 0 || !carries)) writeDepthEntry(out, depth, charge, carries, budget);
  // Sites and rewritten calls are two streams sorted by offset, merged here.
  let c = 3 * plan.firstCall[e]!;
  const callsEnd = 3 * plan.firstCall[e + 1]!;
  const lastSite = plan.firstSite[i + 1]!;
  for (let s = first; ; s++) {
    const at = s < lastSite ? sites[s]! : plan.bodyEnds[i]!;
    for (; c < callsEnd && calls[c]! < at; c += 3) {
      const callAt = calls[c]!;
      copy(callAt);
      const action = calls[c + 2]!;
      if (action === PASS) {
        out.u8(0x20);
        out.u32(budget);
      } else if (action === STORE) {
        writeStore(out, depth, budget);
      }
      out.u8(b[callAt]!); // call
      out.u32(calls[c + 1]!);
      from = callAt + 1 + lebLength(b, callAt + 1);
    }
    if (s === lastSite) break;
    copy(at);
    from = at;
    const kind = kinds[s]!;
    if (kind === LEVEL) {
      out.append(head, 0, head.length);
      out.s32(costs[s]!);
      out.append(tail, 0, tail.length);
    } else if (kind === CALL) {
      writeStore(out, depth, budget);
    } else {
      const parts = bulk[kind]!;
      for (let j = 0; j < parts.length; j++) {
        if (j > 0) out.u32(local);
        out.append(parts[j]!, 0, parts[j]!.length);
      }
      out.u8(0x41);
      out.s32(costs[s]!);
      out.u8(0x6a); // i32.add
      out.append(tail, 0, tail.length);
    }
  }
  copy(plan.bodyEnds[i]!);
}
