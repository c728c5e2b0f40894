// The output of one reconcile call: desired children, status, conditions, events and intents, as ABI JSON.
//
// Children stream straight into the output buffer (one at a time, in order); status goes to its own
// buffer so it can be written before, between or after children; a child's labels and annotations go to
// side buffers spliced in when it closes; conditions and events are kept as strings and written when the
// call ends.

import { JsonValue } from "./json/reader";
import { ArrayWriter, JsonWriter, ObjectWriter } from "./json/writer";
import { Kind } from "./kinds";
import { ObjectView } from "./object";
import { formatRfc3339, nowMs } from "./time";

export const EVENT_NORMAL = "Normal";
export const EVENT_WARNING = "Warning";

export const CONDITION_TRUE = "True";
export const CONDITION_FALSE = "False";
export const CONDITION_UNKNOWN = "Unknown";

// Depths inside the main writer: 1 the output object, 2 the children array, 3 one child.
// @ts-ignore: decorator
@inline const CHILD_DEPTH: i32 = 3;

/** One desired child. Write its body with the ObjectWriter methods; metadata is added when it closes. */
export class Child extends ObjectWriter {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  // Labels and annotations go straight to JSON in writers the Output lends to its one open child.
  private labels: JsonWriter;
  private annotations: JsonWriter;
  closed: bool = false;

  constructor(
    w: JsonWriter,
    id: u32,
    apiVersion: string,
    kind: string,
    name: string,
    namespace: string,
    labels: JsonWriter,
    annotations: JsonWriter,
  ) {
    super(w, CHILD_DEPTH, id);
    this.apiVersion = apiVersion;
    this.kind = kind;
    this.name = name;
    this.namespace = namespace;
    this.labels = labels;
    this.annotations = annotations;
  }

  label(key: string, value: string): Child {
    this.checkOpen("label");
    addPair(this.labels, key, value);
    return this;
  }

  /** Copies every string member of a labels-like object (e.g. the primary's labels). */
  labelsFrom(labels: JsonValue): Child {
    const it = labels.members();
    while (it.next()) {
      if (it.value.isString()) this.label(it.key(), it.value.str());
    }
    return this;
  }

  annotation(key: string, value: string): Child {
    this.checkOpen("annotation");
    addPair(this.annotations, key, value);
    return this;
  }

  spec(): ObjectWriter {
    return this.obj("spec");
  }

  data(): ObjectWriter {
    return this.obj("data");
  }

  protected member(key: string): JsonWriter {
    if (key == "metadata" || key == "apiVersion" || key == "kind") {
      abort("child " + this.kind + "/" + this.name + ": '" + key + "' is written by the SDK; use label()/annotation()");
    }
    return super.member(key);
  }

  /** Writes metadata and closes the child; called by Output, never by guests. */
  close(): void {
    this.w.closeTo(CHILD_DEPTH, this.id);
    const w = this.w;
    w.key("metadata");
    w.beginObject();
    w.key("name");
    w.string(this.name);
    if (this.namespace.length > 0) {
      w.key("namespace");
      w.string(this.namespace);
    }
    writePairs(w, "labels", this.labels);
    writePairs(w, "annotations", this.annotations);
    w.endObject();
    w.endObject();
    this.closed = true;
  }

  private checkOpen(what: string): void {
    if (this.closed) abort("child " + this.kind + "/" + this.name + ": " + what + " set after the next child started");
  }
}

function addPair(pairs: JsonWriter, key: string, value: string): void {
  if (pairs.depth == 0) pairs.beginObject();
  pairs.key(key);
  pairs.string(value);
}

function writePairs(w: JsonWriter, key: string, pairs: JsonWriter): void {
  if (pairs.depth == 0) return;
  pairs.endObject();
  w.key(key);
  w.rawValueBytes(pairs.ptr, pairs.len);
}

class Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  constructor(type: string, status: string, reason: string, message: string) {
    this.type = type;
    this.status = status;
    this.reason = reason;
    this.message = message;
  }
}

class GuestEvent {
  type: string;
  reason: string;
  message: string;
  constructor(type: string, reason: string, message: string) {
    this.type = type;
    this.reason = reason;
    this.message = message;
  }
}

export class Output {
  private main: JsonWriter = new JsonWriter();
  private statusWriter: JsonWriter = new JsonWriter();
  private labelsWriter: JsonWriter = new JsonWriter();
  private annotationsWriter: JsonWriter = new JsonWriter();
  private primary: ObjectView;
  private childrenId: u32 = 0;
  private openChild: Child | null = null;
  private declareChildren: bool = true;
  private statusRoot: ObjectWriter | null = null;
  private conditions: Condition[] = [];
  private events: GuestEvent[] = [];
  private finalizer: string = "";
  private requeueMs: i64 = -1;
  private errorMessage: string | null = null;
  private errorRetryable: bool = false;

  constructor(primary: ObjectView) {
    this.primary = primary;
  }

  /** Starts a fresh output for a call; the writers keep their buffers. */
  reset(primary: ObjectView, declareChildren: bool): void {
    this.primary = primary;
    this.main.reset();
    this.main.beginObject();
    this.main.key("children");
    this.childrenId = this.main.beginArray();
    this.statusWriter.reset();
    this.openChild = null;
    this.declareChildren = declareChildren;
    this.statusRoot = null;
    this.conditions.length = 0;
    this.events.length = 0;
    this.finalizer = "";
    this.requeueMs = -1;
    this.errorMessage = null;
    this.errorRetryable = false;
  }

  /**
   * Declares a desired child in the primary's namespace. In reconcile, the children declared in a call
   * are the complete desired set: the host prunes owned children not declared (see keepChildren).
   */
  child(apiVersion: string, kind: string, name: string): Child {
    return this.startChild(apiVersion, kind, name, this.primary.namespace);
  }

  /** Declares a cluster-scoped desired child (no metadata.namespace). */
  clusterChild(apiVersion: string, kind: string, name: string): Child {
    return this.startChild(apiVersion, kind, name, "");
  }

  /** child() with a typed kind, e.g. childOf(DEPLOYMENT, name). */
  childOf(kind: Kind, name: string): Child {
    return this.child(kind.apiVersion, kind.kind, name);
  }

  /** clusterChild() with a typed kind. */
  clusterChildOf(kind: Kind, name: string): Child {
    return this.clusterChild(kind.apiVersion, kind.kind, name);
  }

  /**
   * Declares a desired child in `namespace`. Only a cluster-scoped primary may place children outside its
   * own namespace (an owner reference cannot cross namespaces, so the host refuses it for a namespaced one).
   */
  childIn(kind: Kind, namespace: string, name: string): Child {
    return this.startChild(kind.apiVersion, kind.kind, name, namespace);
  }

  /** Expresses no opinion on children this call: the host keeps whatever exists. */
  keepChildren(): void {
    this.declareChildren = false;
  }

  /** The status object (the host sets observedGeneration). Conditions set with condition() are added to it. */
  status(): ObjectWriter {
    let root = this.statusRoot;
    if (root === null) {
      root = ObjectWriter.open(this.statusWriter);
      this.statusRoot = root;
    }
    return root;
  }

  /**
   * Sets a metav1.Condition in status.conditions. lastTransitionTime stays what the primary's status
   * holds while `status` is unchanged, and becomes now when it flips; observedGeneration is the
   * primary's generation. Setting the same type twice keeps the last.
   */
  condition(type: string, status: string, reason: string, message: string): void {
    for (let i = 0; i < this.conditions.length; i++) {
      const c = unchecked(this.conditions[i]);
      if (c.type == type) {
        c.status = status;
        c.reason = reason;
        c.message = message;
        return;
      }
    }
    this.conditions.push(new Condition(type, status, reason, message));
  }

  event(type: string, reason: string, message: string): void {
    this.events.push(new GuestEvent(type, reason, message));
  }

  /** Asks the host to reconcile this primary again after `ms` milliseconds (the shortest request wins). */
  requeueAfter(ms: i64): void {
    if (ms < 0) ms = 0;
    if (this.requeueMs < 0 || ms < this.requeueMs) this.requeueMs = ms;
  }

  /** Keeps the reconciler's finalizer on the primary (add it before creating anything outside the cluster). */
  ensureFinalizer(): void {
    this.finalizer = "ensure";
  }

  /** Removes the reconciler's finalizer: cleanup is done and deletion may proceed. */
  releaseFinalizer(): void {
    this.finalizer = "release";
  }

  /**
   * Reports a failure. Children are then left as they are (never pruned on an error); status, events and
   * requeue still apply. `retryable` false means "retrying the same input cannot help".
   */
  error(message: string, retryable: bool): void {
    this.errorMessage = message;
    this.errorRetryable = retryable;
  }

  /** A failure retrying cannot fix (an invalid spec): the host does not retry until the input changes. */
  fail(message: string): void {
    this.error(message, false);
  }

  /** A failure that may pass (a dependency not ready yet): the host retries with backoff. */
  retry(message: string): void {
    this.error(message, true);
  }

  get failed(): bool {
    return this.errorMessage !== null;
  }

  /** Ends the call's output; returns the writer holding the final JSON. */
  finish(): JsonWriter {
    const w = this.main;
    const withChildren = this.declareChildren && this.errorMessage === null;
    if (withChildren) {
      this.closeOpenChild();
      w.closeTo(2, this.childrenId);
      w.endArray();
    } else {
      w.reset();
      w.beginObject();
    }
    if (this.statusRoot !== null || this.conditions.length > 0) {
      this.finishStatus();
      w.key("status");
      w.rawValueBytes(this.statusWriter.ptr, this.statusWriter.len);
    }
    if (this.events.length > 0) {
      w.key("events");
      w.beginArray();
      for (let i = 0; i < this.events.length; i++) {
        const e = unchecked(this.events[i]);
        w.beginObject();
        w.key("type");
        w.string(e.type);
        w.key("reason");
        w.string(e.reason);
        w.key("message");
        w.string(e.message);
        w.endObject();
      }
      w.endArray();
    }
    if (this.finalizer.length > 0) {
      w.key("finalizer");
      w.string(this.finalizer);
    }
    if (this.requeueMs >= 0) {
      w.key("requeueAfterMs");
      w.integer(this.requeueMs);
    }
    const message = this.errorMessage;
    if (message !== null) {
      w.key("error");
      w.beginObject();
      w.key("message");
      w.string(message);
      w.key("retryable");
      w.boolean(this.errorRetryable);
      w.endObject();
    }
    w.endObject();
    return w;
  }

  private startChild(apiVersion: string, kind: string, name: string, namespace: string): Child {
    this.closeOpenChild();
    const w = this.main;
    w.closeTo(2, this.childrenId);
    const id = w.beginObject();
    w.key("apiVersion");
    w.string(apiVersion);
    w.key("kind");
    w.string(kind);
    this.labelsWriter.reset();
    this.annotationsWriter.reset();
    const child = new Child(w, id, apiVersion, kind, name, namespace, this.labelsWriter, this.annotationsWriter);
    this.openChild = child;
    return child;
  }

  private closeOpenChild(): void {
    const open = this.openChild;
    if (open !== null) {
      open.close();
      this.openChild = null;
    }
  }

  private finishStatus(): void {
    const root = this.status();
    const sw = this.statusWriter;
    if (this.conditions.length > 0) {
      const list: ArrayWriter = root.arr("conditions");
      const generation = this.primary.generation;
      let now = "";
      for (let i = 0; i < this.conditions.length; i++) {
        const c = unchecked(this.conditions[i]);
        const o = list.obj();
        o.str("type", c.type).str("status", c.status);
        if (generation > 0) o.int("observedGeneration", generation);
        const previous = this.primary.condition(c.type);
        const previousTime = previous.get("lastTransitionTime");
        if (previous.get("status").strEquals(c.status) && previousTime.isString()) {
          o.value("lastTransitionTime", previousTime);
        } else {
          if (now.length == 0) now = formatRfc3339(nowMs());
          o.str("lastTransitionTime", now);
        }
        // metav1.Condition requires a reason matching ^[A-Za-z]...; an empty one would be rejected.
        o.str("reason", c.reason.length > 0 ? c.reason : "Unspecified");
        o.str("message", c.message);
      }
    }
    sw.closeTo(1, root.id);
    sw.endObject();
  }
}
