// Rewrites a code section so every function entry and loop iteration pays fuel from one exported i32 global.
//
// Cost model (deterministic, a function of the module bytes only):
// - Every instruction costs 1 (structural ones like block/else/end included, immediates free).
// - Each instruction is charged to its innermost enclosing `loop`, or to the function entry when no loop
//   encloses it. A `loop` opcode itself belongs to the level outside it; its matching `end` to its body.
// - The function entry pays the sum of its level's instructions once per call; a loop header pays its
//   level's sum once per iteration (a `br` to a loop re-enters after the check, so every iteration pays).
// Every instruction executes at most once per charge of its level between two passes through that level's
// check, so fuel spent is an upper bound of instructions executed; it overcharges only the arms not taken
// and code skipped by a branch. Charging once per level keeps the hot-path cost at one check per call
// and per iteration, which is what bench/metering.ts measures.
//
// The check inserted at each site is straight-line and stack-neutral (Wasm has no global.tee; V8's
// optimizing tier forwards the stored value to the second global.get):
//   global.get $fuel; i32.const cost; i32.sub; global.set $fuel;
//   global.get $fuel; i32.const 0; i32.lt_s; if; unreachable; end
// so branch depths, local indices and function indices are unchanged. Fuel is an i32 the host sets in
// [0, 2^31 - 1] before a call; a check traps as soon as it goes negative, and a single site never costs
// more than its body's byte length, so the counter cannot wrap.

import { I32, INDEX, MEMARG, NONE, SHAPE, skipImmediates } from './instructions.ts';
import type { SectionSpan } from './parse.ts';
import { lebEnd, malformed, readU32 } from './reader.ts';
import { decodeValType } from './valtypes.ts';
import { s32Size, u32Size, type Writer } from './writer.ts';

const OP_BLOCK = 0x02;
const OP_LOOP = 0x03;
const OP_IF = 0x04;
const OP_TRY = 0x06;
const OP_END = 0x0b;
const OP_DELEGATE = 0x18;
const OP_TRY_TABLE = 0x1f;
/** Marks a nesting level that is not a loop on the block stack. */
const NOT_A_LOOP = -1;

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

/** The byte sequences around the cost immediate of a check, specialised to the fuel global's index. */
interface CheckCode {
  head: Uint8Array;
  tail: Uint8Array;
}

function checkCode(fuelGlobal: number): CheckCode {
  const idx: number[] = [];
  let n = fuelGlobal;
  while (n >= 0x80) {
    idx.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  idx.push(n);
  return {
    // global.get $fuel; i32.const (cost follows)
    head: Uint8Array.of(0x23, ...idx, 0x41),
    // i32.sub; global.set $fuel; global.get $fuel; i32.const 0; i32.lt_s; if (empty); unreachable; end
    tail: Uint8Array.of(0x6b, 0x24, ...idx, 0x23, ...idx, 0x41, 0x00, 0x48, 0x04, 0x40, 0x00, 0x0b),
  };
}

/**
 * Walks one body from `p` (after its size) to `end`, appending its check sites (input offset where the
 * check goes, and that site's cost) to `sites`/`costs`. The running cost of the current level lives in a
 * local; the stack saves (site, cost so far) of the levels a loop interrupts, or NOT_A_LOOP for blocks.
 */
function scanBody(b: Uint8Array, p: number, end: number, sites: IntList, costs: IntList, stack: IntList): void {
  const groups = readU32(b, p, end);
  p = lebEnd;
  for (let i = 0; i < groups; i++) {
    readU32(b, p, end);
    p = lebEnd;
    if (p >= end) throw malformed(p, 'truncated local declaration');
    decodeValType(b[p]!, p);
    p++;
  }
  let site = costs.length;
  let cost = 0;
  sites.push(p);
  costs.push(0);
  stack.length = 0;
  for (;;) {
    if (p >= end) throw malformed(p, 'function body ends before its final end');
    const op = b[p++]!;
    cost++;
    const shape = SHAPE[op]!;
    if (shape === NONE && op !== OP_END) continue;
    // Fast paths for immediates that fit one LEB byte: most indices (locals, globals, labels), small
    // constants, and memargs with a small offset and no memory index. delegate also ends a block.
    if ((shape === INDEX || shape === I32) && op !== OP_DELEGATE && p < end && b[p]! < 0x80) {
      p++;
      continue;
    }
    if (shape === MEMARG && p + 1 < end && b[p]! < 0x40 && b[p + 1]! < 0x80) {
      p += 2;
      continue;
    }
    switch (op) {
      case OP_LOOP:
        p = skipImmediates(b, p, end, op);
        stack.push(site);
        stack.push(cost);
        site = costs.length;
        cost = 0;
        sites.push(p);
        costs.push(0);
        break;
      case OP_BLOCK:
      case OP_IF:
      case OP_TRY:
      case OP_TRY_TABLE:
        p = skipImmediates(b, p, end, op);
        stack.push(NOT_A_LOOP);
        break;
      case OP_END:
      case OP_DELEGATE: {
        if (op === OP_DELEGATE) p = skipImmediates(b, p, end, op);
        if (stack.length === 0) {
          if (op === OP_DELEGATE) throw malformed(p - 1, 'delegate outside a try block');
          if (p !== end) throw malformed(p, 'bytes after the final end of a function body');
          costs.data[site] = cost;
          return;
        }
        const top = stack.data[--stack.length]!;
        if (top !== NOT_A_LOOP) {
          costs.data[site] = cost;
          cost = top;
          site = stack.data[--stack.length]!;
        }
        break;
      }
      default:
        p = skipImmediates(b, p, end, op);
    }
  }
}

/** Where checks go and what they cost, computed before writing so every size is exact up front. */
export interface MeteringPlan {
  /** Bytes the instrumented code section takes, id and size included. */
  outputSize: number;
  count: number;
  bodyStarts: Int32Array;
  bodyEnds: Int32Array;
  newSizes: Int32Array;
  /** Sites of body i are firstSite[i] .. firstSite[i + 1] - 1. */
  firstSite: Int32Array;
  sites: Int32Array;
  costs: Int32Array;
  check: CheckCode;
  sectionSize: number;
}

/** Walks every body of the code section `span`: the first of two passes (the second is writeMeteredCode). */
export function planMetering(b: Uint8Array, span: SectionSpan, fuelGlobal: number): MeteringPlan {
  const end = span.end;
  const count = readU32(b, span.contentStart, end);
  let p = lebEnd;
  const bodyStarts = new Int32Array(count);
  const bodyEnds = new Int32Array(count);
  const firstSite = new Int32Array(count + 1);
  const sites = new IntList(count * 2);
  const costs = new IntList(count * 2);
  const stack = new IntList(64);
  for (let i = 0; i < count; i++) {
    const size = readU32(b, p, end);
    p = lebEnd;
    if (size > end - p) throw malformed(p, 'function body overruns the code section');
    bodyStarts[i] = p;
    bodyEnds[i] = p + size;
    firstSite[i] = sites.length;
    scanBody(b, p, p + size, sites, costs, stack);
    p += size;
  }
  firstSite[count] = sites.length;

  const check = checkCode(fuelGlobal);
  const fixed = check.head.length + check.tail.length;
  const newSizes = new Int32Array(count);
  let sectionSize = u32Size(count);
  for (let i = 0; i < count; i++) {
    let size = bodyEnds[i]! - bodyStarts[i]!;
    for (let s = firstSite[i]!; s < firstSite[i + 1]!; s++) size += fixed + s32Size(costs.data[s]!);
    newSizes[i] = size;
    sectionSize += u32Size(size) + size;
  }
  return {
    outputSize: 1 + u32Size(sectionSize) + sectionSize,
    count,
    bodyStarts,
    bodyEnds,
    newSizes,
    firstSite,
    sites: sites.data,
    costs: costs.data,
    check,
    sectionSize,
  };
}

/** Emits the instrumented code section (id, size and content): input slices with checks spliced in. */
export function writeMeteredCode(b: Uint8Array, plan: MeteringPlan, out: Writer): void {
  const { head, tail } = plan.check;
  out.u8(10);
  out.u32(plan.sectionSize);
  out.u32(plan.count);
  for (let i = 0; i < plan.count; i++) {
    out.u32(plan.newSizes[i]!);
    let from = plan.bodyStarts[i]!;
    for (let s = plan.firstSite[i]!; s < plan.firstSite[i + 1]!; s++) {
      const at = plan.sites[s]!;
      out.append(b, from, at);
      out.append(head, 0, head.length);
      out.s32(plan.costs[s]!);
      out.append(tail, 0, tail.length);
      from = at;
    }
    out.append(b, from, plan.bodyEnds[i]!);
  }
}
