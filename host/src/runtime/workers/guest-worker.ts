// The body of a guest worker thread: hosts guest instances and runs the operations the main thread sends.
//
// It never returns to its event loop: between operations it sleeps in Atomics.wait, and the compiled
// modules the main thread posts are picked up synchronously with receiveMessageOnPort. Everything a
// guest can do here is bounded by fuel and the instance's limits; what escapes that (a runaway call, a
// heap limit) ends this thread, which the main thread notices and replaces, never the host.

import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { WrError } from '../../errors.ts';
import { GuestInstance } from '../instance.ts';
import type { ReadKind, ReadRequest } from '../internal/reads.ts';
import type { RuntimeLimits } from '../limits.ts';
import { type CompiledModule, lazilyCompiled } from '../loader.ts';
import type { CallEvent, GuestLogger } from '../ports.ts';
import {
  CALL_EXPORT,
  Channel,
  type ChannelBuffers,
  CTL,
  OP,
  READ_HOST_FAILED,
  READ_KIND,
  STATE,
  toWire,
  type WireInstantiate,
  type WireLog,
  type WireModule,
  type WireReply,
} from './channel.ts';

const { buffers, port } = workerData as { buffers: ChannelBuffers; port: MessagePort };
const channel = new Channel(buffers);
const ctl = channel.ctl;

interface ModuleEntry {
  readonly compiled: CompiledModule;
  refs: number;
}
const modules = new Map<number, ModuleEntry>();
/** `guest` is undefined for an instance whose instantiation failed: it holds its module until dropped. */
const instances = new Map<number, { readonly guest: GuestInstance | undefined; readonly moduleId: number }>();

/** Log lines and the call event of the operation in progress, returned with its reply. */
let logs: WireLog[] = [];
let lastEvent: CallEvent | undefined;

function bufferingLogger(levels: ReadonlySet<string>): GuestLogger {
  const at = (level: WireLog[0]) => (fields: object, message: string) => {
    logs.push(Object.keys(fields).length === 0 ? [level, message] : [level, message, fields]);
  };
  return {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    isLevelEnabled: (level) => levels.has(level),
  };
}

/**
 * How long this thread polls for the answer to a cache read while the main thread is seen answering it,
 * and how long it gives the main thread to start (PICKUP_MS). A thread still polling sees the answer in
 * well under a microsecond; but a main thread that has not started answering is not on a core beside this
 * one, and polling on would only hold the core it needs.
 */
const SPIN_MS = 0.05;
const PICKUP_MS = 0.01;

/**
 * Polling for the next request pays only when it comes within the poll: back-to-back calls on a quiet
 * machine, where waking a sleeping thread costs a call ~80-90 us (the VM parks an idle vCPU). It does not
 * when calls come milliseconds apart (one per reconcile), nor on a busy machine, where the poll holds the
 * core the main thread needs to send the request (a short call then cost ~150 us). So the poll earns its
 * keep: after POLL_MISSES polls in a row that ran out, this thread sleeps at once, and tries one poll again
 * only every POLL_RETRY requests.
 */
const POLL_MISSES = 3;
const POLL_RETRY = 64;
let pollMisses = 0;
let sincePollOff = 0;

/** Returns once the next request has been published. */
function awaitRequest(): void {
  const polling = pollMisses < POLL_MISSES || ++sincePollOff >= POLL_RETRY;
  if (polling) {
    sincePollOff = 0;
    const until = performance.now() + SPIN_MS;
    while (performance.now() < until) {
      if (channel.state === STATE.request) {
        pollMisses = 0;
        return;
      }
    }
    pollMisses = Math.min(pollMisses + 1, POLL_MISSES);
  }
  for (let s = channel.state; s !== STATE.request; s = channel.state) Atomics.wait(ctl, CTL.state, s);
}

/** Returns once the main thread has answered a read (the state is REPLY). */
function awaitReply(): void {
  const started = performance.now();
  for (let s = channel.state; s !== STATE.reply; s = channel.state) {
    const elapsed = performance.now() - started;
    if (elapsed >= SPIN_MS || (s === STATE.read && elapsed >= PICKUP_MS)) Atomics.wait(ctl, CTL.state, s);
  }
}

/** A cache read: handed to the main thread, which answers while this thread waits. */
function remoteRead(kind: ReadKind, request: ReadRequest) {
  channel.writeText(JSON.stringify(request));
  ctl[CTL.a0] = READ_KIND.indexOf(kind);
  channel.signal(STATE.read);
  awaitReply();
  const status = ctl[CTL.a0]!;
  if (status === READ_HOST_FAILED) throw new WrError('WR_HOST_INTERNAL', 'the host failed to answer a cache read');
  const bytes = ctl[CTL.a2]!;
  return {
    status,
    scanned: ctl[CTL.a1]!,
    bytes,
    data: status === 0 ? channel.copyBytes(0, ctl[CTL.len]!) : undefined,
  };
}

function moduleFor(moduleId: number): ModuleEntry {
  for (let entry = modules.get(moduleId); entry === undefined; entry = modules.get(moduleId)) {
    // The main thread posts a module before the first instantiate that names it, so it is queued here.
    const message = receiveMessageOnPort(port)?.message as WireModule | undefined;
    if (message === undefined) throw new WrError('WR_HOST_INTERNAL', `module ${moduleId} was never posted`);
    // Compiled here, on first use: V8 reuses the code another thread compiled from the same bytes.
    modules.set(message.moduleId, { compiled: lazilyCompiled(message.prepared), refs: 0 });
  }
  return modules.get(moduleId)!;
}

function instantiate(instanceId: number, request: WireInstantiate): void {
  const entry = moduleFor(request.moduleId);
  // Counted before it can fail: a module whose every instance fails must still be let go of (drop).
  entry.refs++;
  instances.set(instanceId, { guest: undefined, moduleId: request.moduleId });
  const guest = GuestInstance.instantiate(entry.compiled, {
    initInput: request.initInput,
    limits: request.limits as RuntimeLimits,
    logger: bufferingLogger(new Set(request.levels)),
    // The main thread adds the reconciler's bindings when it writes the lines.
    logBindings: {},
    reads: remoteRead,
    observer: {
      onCall(event) {
        lastEvent = event;
      },
    },
  });
  instances.set(instanceId, { guest, moduleId: request.moduleId });
}

function drop(instanceId: number): void {
  const held = instances.get(instanceId);
  if (held === undefined) return;
  instances.delete(instanceId);
  const entry = modules.get(held.moduleId)!;
  // The last instance of a module lets go of it, so the worker keeps no code nobody uses.
  if (--entry.refs === 0) modules.delete(held.moduleId);
}

/** Runs the operation in the control block; returns the status and output text of a call, if any. */
function perform(): { status: number; output: string } | undefined {
  const op = ctl[CTL.op];
  const instanceId = ctl[CTL.a0]!;
  if (op === OP.instantiate) {
    instantiate(instanceId, JSON.parse(channel.readText(0, ctl[CTL.len]!)) as WireInstantiate);
    return undefined;
  }
  if (op === OP.drop) {
    drop(instanceId);
    return undefined;
  }
  const held = instances.get(instanceId);
  if (held?.guest === undefined) throw new WrError('WR_GUEST_TRAP', 'the instance is gone (its worker was replaced)');
  const name = CALL_EXPORT[ctl[CTL.a1]!]!;
  // Moved as bytes, never decoded on this side; copied out first, since the guest's own reads (wr_alloc
  // may already make some) reuse the channel.
  const input = channel.copyBytes(0, ctl[CTL.len]!);
  // Handed over unparsed: the main thread needs the parsed output, so it parses and validates it once there.
  return held.guest.callUnparsed(name, input);
}

// Tells the main thread its code is loaded: deadlines start counting from here, not from the boot.
parentPort!.postMessage('ready');
for (;;) {
  awaitRequest();
  Atomics.store(ctl, CTL.state, STATE.running);
  logs = [];
  lastEvent = undefined;
  let reply: WireReply;
  let output = '';
  try {
    const call = perform();
    reply = call === undefined ? {} : { status: call.status };
    output = call?.output ?? '';
  } catch (err) {
    reply = { error: toWire(err) };
  }
  const event = lastEvent as CallEvent | undefined;
  if (event !== undefined) reply = { ...reply, fuelUsed: event.fuelUsed, durationMs: event.durationMs };
  if (logs.length > 0) reply = { ...reply, logs };
  const [metaLen] = channel.writeTexts(JSON.stringify(reply), output);
  ctl[CTL.a0] = metaLen!;
  channel.signal(STATE.done);
}
