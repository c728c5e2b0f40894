// The body of every wr_* export: input ownership, decoding, dispatch to handlers, and the one set_output.

import {
  GUEST_STATUS_BAD_INPUT,
  GUEST_STATUS_ERROR,
  GUEST_STATUS_OK,
  host_set_output,
} from "./abi";
import { Context, InitContext, setConfig } from "./context";
import { finalizeHandler, initHandler, reconcileHandler } from "./handlers";
import { JsonDoc, JsonValue } from "./json/reader";
import { JsonWriter } from "./json/writer";
import { log, resetLogLevels } from "./log";
import { ObjectView } from "./object";
import { Output } from "./output";

// The one buffer handed out by wr_alloc and not yet consumed by a call.
let pendingInput: usize = 0;

const output = new Output(new ObjectView(new JsonValue(new JsonDoc(0, 0), 0)));
const small = new JsonWriter();
// Every call's input is read through this one document, so its views are recycled from call to call.
const inputDoc = JsonDoc.reusable();

/** wr_alloc: the host writes the next call's input here; the call that receives it frees it. */
export function allocInput(len: i32): usize {
  // A buffer the host allocated but never passed to a call (it gave up on that call) is released here,
  // so a misbehaving sequence cannot leak more than one input.
  if (pendingInput != 0) heap.free(pendingInput);
  pendingInput = heap.alloc(len > 0 ? <usize>len : 1);
  return pendingInput;
}

/** Takes ownership of the input if it is the pending wr_alloc buffer (anything else stays the host's). */
function takeInput(ptr: usize): bool {
  if (ptr == 0 || ptr != pendingInput) return false;
  pendingInput = 0;
  return true;
}

function endCall(ptr: usize, owned: bool): void {
  if (owned) heap.free(ptr);
  // The minimal runtime never collects on its own; between calls no guest locals hold references, so a
  // full collection here is both safe and bounded by what the call allocated.
  // @ts-ignore: a runtime builtin asc provides, which AssemblyScript's editor declarations leave out
  if (ASC_RUNTIME == 1) __collect();
}

export function runInit(ptr: usize, len: i32): i32 {
  resetLogLevels();
  const owned = takeInput(ptr);
  // Config outlives the call, so it is copied into GC-owned memory instead of keeping the raw buffer.
  const copy = new ArrayBuffer(len > 0 ? len : 0);
  if (len > 0) memory.copy(changetype<usize>(copy), ptr, <usize>len);
  const doc = JsonDoc.fromBuffer(copy);
  const root = doc.root();
  let status: i32;
  if (!root.isObject()) {
    status = badInput("wr_init: input is not an InitInput JSON object");
  } else {
    const init = new InitContext(root);
    const handler = initHandler;
    if (handler !== null) handler(init);
    const rejection = init.rejection;
    if (doc.failed) {
      status = badInput("wr_init: input JSON is malformed");
    } else if (rejection !== null) {
      writeError(rejection, false);
      status = GUEST_STATUS_ERROR;
    } else {
      setConfig(init.config);
      small.reset();
      small.beginObject();
      small.endObject();
      host_set_output(small.ptr, small.len);
      status = GUEST_STATUS_OK;
    }
  }
  endCall(ptr, owned);
  return status;
}

export function runReconcile(ptr: usize, len: i32, finalize: bool): i32 {
  resetLogLevels();
  const owned = takeInput(ptr);
  const doc = inputDoc;
  doc.rebind(ptr, len > 0 ? <usize>len : 0);
  const root = doc.root();
  let status: i32;
  if (!root.isObject() || !root.get("primary").isObject()) {
    status = badInput("input is not a ReconcileInput JSON object with a primary");
  } else {
    const ctx = new Context(root, output);
    // Reconcile declares the full desired set of children; finalize keeps them unless it adds some.
    output.reset(ctx.primary, !finalize);
    const handler = finalize ? finalizeHandler : reconcileHandler;
    if (handler !== null) {
      handler(ctx);
    } else if (finalize) {
      // wr_finalize is exported but nothing needs cleaning up: let the deletion proceed.
      output.releaseFinalizer();
    } else {
      log.error("no reconcile handler registered: call register(...) in the module's entry file");
      output.error("the module registered no reconcile handler", false);
    }
    if (doc.failed) {
      status = badInput("input JSON is malformed");
    } else {
      const w = output.finish();
      host_set_output(w.ptr, w.len);
      status = output.failed ? GUEST_STATUS_ERROR : GUEST_STATUS_OK;
    }
  }
  endCall(ptr, owned);
  return status;
}

function badInput(message: string): i32 {
  log.error(message);
  writeError(message, false);
  return GUEST_STATUS_BAD_INPUT;
}

function writeError(message: string, retryable: bool): void {
  small.reset();
  small.beginObject();
  small.key("error");
  small.beginObject();
  small.key("message");
  small.string(message);
  small.key("retryable");
  small.boolean(retryable);
  small.endObject();
  small.endObject();
  host_set_output(small.ptr, small.len);
}
