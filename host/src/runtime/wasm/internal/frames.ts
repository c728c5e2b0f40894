// The call-depth bound: how much machine stack a function's frame may take, and the budget the frames of
// a call spend it from, so a guest's stack overflow comes at the same point on every architecture.
//
// Why: V8 ends a recursion when its stack (984 KiB on the main thread, 4 MiB in a worker) runs out, and
// what a frame takes depends on the architecture and the tier (x64 packs an i32 local in 4 bytes, arm64
// in 8; TurboFan inlines, Liftoff does not), so the depth, and with it the fuel spent before the
// overflow, differed between x64 and arm64. The instrumented module counts instead, in a budget of bytes
// (DEPTH_BUDGET at every host call) that the running frames have left:
// - Some bodies keep a budget (planDepth): at entry such a body subtracts its charge (its frame's bound
//   plus that of the frames below it that keep none) from the budget it was given, and traps when the
//   result is negative, storing it first in a mutable i32 global (exported as __wr_depth) so the host can
//   tell this trap from any other (WR_GUEST_STACK_OVERFLOW). What is left is what its callees get.
// - Every cycle of direct calls has a keeping body (its originals; twins stay free of stores, which is
//   what lets V8 inline them, see metering.ts), and call_indirect keeps one. The others keep none: a body
//   outside every cycle, whose frames are paid by the nearest keeping caller.
// - The budget travels in a parameter where it can (metering.ts planCarrying): a twin that needs it
//   (it keeps one, makes a call_indirect or calls a body that needs it) takes it as an appended i32
//   parameter, and a small original that keeps one and is called directly gets a carrying copy, which
//   its direct callers call instead. So a recursion's calls pass it in a register and touch no global.
//   Measured on fib(25), which keeps one in every third frame (bench/metering.ts, 2 cores, load 2-5):
//   18-20% over unmetered without a bound, 39-44% when every keeping body read, wrote and restored the
//   global (a chain through memory from call to call, and a checked body twice the size, which V8's
//   size-bound inlining then took fewer of), 21-23% with the budget in a parameter.
// - Bodies entered with the budget in the global (originals, through an export, a table, call_indirect,
//   or a direct call from a body whose callee has no carrying version) read it at entry; whoever calls
//   them, call_indirect included, stores its own budget in the global right before. The global is never
//   read anywhere else, so nothing restores it on the way out, and an exception that unwinds frames
//   leaves nothing to repair: every budget lives in a local or a parameter of its frame.
// So while Wasm runs, the frames below the topmost keeping one take at most DEPTH_BUDGET bytes by this
// model; above them sit at most MAX_CHAIN_BYTES of non-keeping frames entered from the host, one frame of
// at most MAX_FRAME_BYTES that has not reached its check yet, or the host's import frames (imports never
// call back into the guest). 576 + 64 + 96 KiB leaves 248 KiB of V8's 984 KiB for the host's frames below
// the guest and its imports' above it; a function whose bound exceeds MAX_FRAME_BYTES is refused at load.
// Passing the budget changes no value a check sees, so where a recursion stops, and the fuel spent by
// then, are what they were when the global carried it.
//
// The bound of a frame: FRAME_BASE_BYTES, plus 8 bytes per parameter and local (16 per v128), plus a
// slot per value of the deepest operand stack the body can build (16 bytes when the body uses SIMD,
// else 8). Measured on V8 13 (Node 24) with Liftoff, whose frames are the largest (a slot per local and
// per spilled stack value): x64 takes 4 bytes per i32 and 8 per i64, arm64 8 for either, both 16 per
// v128, and the fixed part is 40-48 bytes; a recursion of one i32 parameter took 56 bytes on x64 and 64
// on arm64, where the bound says 128 (test/arm64's deep-recursion fixtures check it under both).
//
// The operand-stack height is an upper bound from one pass: each opcode's net effect (HEIGHT), exact for
// the core instructions, +1 (it pushes at most one value, pops counted as none) for SIMD and anything
// else, calls by their types, and every block's end resetting the height to its entry plus its results.

import { readS33 } from './reader.ts';

/** What every host call starts with; the depth global's initial value too. */
export const DEPTH_BUDGET = 576 * 1024;
/** The largest frame bound a function may have; above it the module is refused. */
export const MAX_FRAME_BYTES = 96 * 1024;
/** Return address, frame pointer, the instance and the frame marker, doubled for margin. */
const FRAME_BASE_BYTES = 80;
const SLOT_BYTES = 8;
const V128_SLOT_BYTES = 16;

/** The bound of a frame, in bytes. */
export function frameBytes(slots: number, v128Slots: number, maxHeight: number, simd: boolean): number {
  return (
    FRAME_BASE_BYTES +
    slots * SLOT_BYTES +
    v128Slots * (V128_SLOT_BYTES - SLOT_BYTES) +
    maxHeight * (simd ? V128_SLOT_BYTES : SLOT_BYTES)
  );
}

/**
 * The net operand-stack effect of each one-byte opcode. Blocks, calls, else, catch and end are set by the
 * walk from their types; 0xFC sub-opcodes are corrected by FC_HEIGHT. Unlisted opcodes count +1.
 */
export const HEIGHT = new Int8Array(256).fill(1);
function height(from: number, to: number, delta: number): void {
  HEIGHT.fill(delta, from, to + 1);
}
height(0x00, 0x03, 0); // unreachable, nop, block, loop
height(0x04, 0x04, -1); // if: the condition
height(0x05, 0x0c, 0); // else, try, catch, throw, rethrow, throw_ref, end, br
height(0x0d, 0x0e, -1); // br_if, br_table
height(0x0f, 0x11, 0); // return, call, call_indirect
height(0x18, 0x19, 0); // delegate, catch_all
height(0x1a, 0x1a, -1); // drop
height(0x1b, 0x1c, -2); // select, select t
height(0x1f, 0x1f, 0); // try_table
height(0x20, 0x20, 1); // local.get
height(0x21, 0x21, -1); // local.set
height(0x22, 0x22, 0); // local.tee
height(0x23, 0x23, 1); // global.get
height(0x24, 0x24, -1); // global.set
height(0x25, 0x25, 0); // table.get
height(0x26, 0x26, -2); // table.set
height(0x28, 0x35, 0); // loads
height(0x36, 0x3e, -2); // stores
height(0x3f, 0x3f, 1); // memory.size
height(0x40, 0x40, 0); // memory.grow
height(0x41, 0x44, 1); // constants
height(0x45, 0x45, 0); // i32.eqz
height(0x46, 0x4f, -1); // i32 comparisons
height(0x50, 0x50, 0); // i64.eqz
height(0x51, 0x66, -1); // i64, f32, f64 comparisons
height(0x67, 0x69, 0); // i32 unary
height(0x6a, 0x78, -1); // i32 binary
height(0x79, 0x7b, 0); // i64 unary
height(0x7c, 0x8a, -1); // i64 binary
height(0x8b, 0x91, 0); // f32 unary
height(0x92, 0x98, -1); // f32 binary
height(0x99, 0x9f, 0); // f64 unary
height(0xa0, 0xa6, -1); // f64 binary
height(0xa7, 0xc4, 0); // conversions, reinterpretations, sign extension
height(0xd0, 0xd0, 1); // ref.null
height(0xd1, 0xd1, 0); // ref.is_null
height(0xd2, 0xd2, 1); // ref.func

/** The effect of 0xFC sub-opcodes 0..17, relative to the +1 HEIGHT[0xfc] already counted. */
export const FC_HEIGHT = Int8Array.from([
  // i32/i64 trunc_sat: unary
  -1, -1, -1, -1, -1, -1, -1, -1,
  // memory.init, data.drop, memory.copy, memory.fill, table.init, elem.drop, table.copy
  -4, -1, -4, -4, -4, -1, -4,
  // table.grow, table.size, table.fill
  -2, 0, -4,
]);

/** A block type's parameter and result counts. */
export interface BlockArity {
  params: number;
  results: number;
}

/**
 * The arity of the block type at `p`: empty, one value type, or an index into `typeParams`/`typeResults`
 * (the caller's skipImmediates refuses a malformed or negative one right after).
 */
export function blockArity(
  b: Uint8Array,
  p: number,
  end: number,
  typeParams: Int32Array,
  typeResults: Int32Array,
  out: BlockArity,
): void {
  const byte = b[p]!;
  out.params = 0;
  out.results = 0;
  if (byte === 0x40) return;
  if ((byte & 0xc0) === 0x40) {
    out.results = 1;
    return;
  }
  const index = readS33(b, p, end);
  out.params = typeParams[index] ?? 0;
  out.results = typeResults[index] ?? 0;
}

/** The longest run of frames without a budget of their own (their bound summed); above it, a body keeps one. */
export const MAX_CHAIN_BYTES = 64 * 1024;

/** The call graph of the emitted bodies (originals 0..originals - 1, then the twins), by direct calls. */
export interface CallGraph {
  readonly bodies: number;
  readonly originals: number;
  /** Callees of body e are callees[firstCallee[e] .. firstCallee[e + 1] - 1], as body indices. */
  readonly firstCallee: Int32Array;
  readonly callees: Int32Array;
  /** Per body, its frame bound (frameBytes). */
  readonly frames: Int32Array;
  /** Per body: 1 when it makes a call_indirect (it may enter any original). */
  readonly external: Uint8Array;
  /** Per body: 1 when it must keep a budget whatever the graph says (it catches exceptions, or is external). */
  readonly mustKeep: Uint8Array;
}

/**
 * Chooses the bodies that keep a depth budget and what each charges; -1 for a body that keeps none.
 *
 * Every cycle of direct calls must pass through a body that keeps one, or a recursion would grow the
 * stack unbounded and unchecked. The originals of every cycle keep one (twins stay free of stores, which
 * is what lets V8 inline them), and a cycle of twins alone (through loop-level calls) has all its twins
 * keep one. The remaining bodies form a DAG; a body whose longest chain of such frames exceeds
 * MAX_CHAIN_BYTES keeps one too. A keeping body charges its own frame plus the longest chain of
 * non-keeping frames below it, and a body that may enter any original (call_indirect) the longest chain
 * of any non-keeping original.
 */
export function planDepth(g: CallGraph): Int32Array {
  const n = g.bodies;
  const keep = Uint8Array.from(g.mustKeep);
  // Cycles first: the originals of each cyclic component; then, on what is left, the twins of any cycle.
  for (let round = 0; round < 2; round++) {
    for (const component of cycles(g, keep)) {
      let originals = 0;
      for (const e of component) if (e < g.originals) originals++;
      for (const e of component) if (round === 1 || originals === 0 || e < g.originals) keep[e] = 1;
    }
  }
  // The non-keeping bodies form a DAG now; chains in post-order (callees first).
  const chain = new Int32Array(n);
  const state = new Uint8Array(n); // 0 unvisited, 1 on the stack, 2 done
  const stack: number[] = [];
  const next = new Int32Array(n);
  for (let root = 0; root < n; root++) {
    if (keep[root] === 1 || state[root] !== 0) continue;
    stack.push(root);
    state[root] = 1;
    next[root] = g.firstCallee[root]!;
    while (stack.length > 0) {
      const e = stack[stack.length - 1]!;
      if (next[e]! < g.firstCallee[e + 1]!) {
        const k = next[e]!;
        next[e] = k + 1;
        const c = g.callees[k]!;
        if (keep[c] === 0 && state[c] === 0) {
          state[c] = 1;
          next[c] = g.firstCallee[c]!;
          stack.push(c);
        }
        continue;
      }
      stack.pop();
      state[e] = 2;
      let below = 0;
      for (let k = g.firstCallee[e]!; k < g.firstCallee[e + 1]!; k++) {
        const c = g.callees[k]!;
        if (keep[c] === 0) below = Math.max(below, chain[c]!);
      }
      chain[e] = g.frames[e]! + below;
      if (chain[e]! > MAX_CHAIN_BYTES) keep[e] = 1;
    }
  }
  let anyOriginal = 0;
  for (let e = 0; e < g.originals; e++) if (keep[e] === 0) anyOriginal = Math.max(anyOriginal, chain[e]!);
  const charges = new Int32Array(n).fill(-1);
  for (let e = 0; e < n; e++) {
    if (keep[e] === 0) continue;
    let below = g.external[e] === 1 ? anyOriginal : 0;
    for (let k = g.firstCallee[e]!; k < g.firstCallee[e + 1]!; k++) {
      const c = g.callees[k]!;
      if (keep[c] === 0) below = Math.max(below, chain[c]!);
    }
    charges[e] = g.frames[e]! + below;
  }
  return charges;
}

/** The components of the graph without the kept bodies that contain a cycle (Tarjan's, iterative). */
function cycles(g: CallGraph, keep: Uint8Array): number[][] {
  const n = g.bodies;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const next = new Int32Array(n);
  const path: number[] = [];
  const work: number[] = [];
  const out: number[][] = [];
  let counter = 0;
  for (let root = 0; root < n; root++) {
    if (keep[root] === 1 || index[root] !== -1) continue;
    work.push(root);
    index[root] = low[root] = counter++;
    next[root] = g.firstCallee[root]!;
    path.push(root);
    onStack[root] = 1;
    while (work.length > 0) {
      const e = work[work.length - 1]!;
      if (next[e]! < g.firstCallee[e + 1]!) {
        const k = next[e]!;
        next[e] = k + 1;
        const c = g.callees[k]!;
        if (keep[c] === 1) continue;
        if (index[c] === -1) {
          index[c] = low[c] = counter++;
          next[c] = g.firstCallee[c]!;
          path.push(c);
          onStack[c] = 1;
          work.push(c);
        } else if (onStack[c] === 1) {
          low[e] = Math.min(low[e]!, index[c]!);
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1]!;
        low[parent] = Math.min(low[parent]!, low[e]!);
      }
      if (low[e] !== index[e]) continue;
      const component: number[] = [];
      let v: number;
      do {
        v = path.pop()!;
        onStack[v] = 0;
        component.push(v);
      } while (v !== e);
      if (component.length > 1 || selfCall(g, e)) out.push(component);
    }
  }
  return out;
}

function selfCall(g: CallGraph, e: number): boolean {
  for (let k = g.firstCallee[e]!; k < g.firstCallee[e + 1]!; k++) if (g.callees[k] === e) return true;
  return false;
}
