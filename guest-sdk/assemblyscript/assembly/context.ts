// What a handler sees: the call's input as lazy views, the init config, and the output being built.

import { JsonDoc, JsonValue } from "./json/reader";
import { Kind } from "./kinds";
import { ObjectList, ObjectView } from "./object";
import { Output } from "./output";



/** The reconciler's configuration from wr_init, kept for every later call. */
let configValue: JsonValue = new JsonValue(new JsonDoc(0, 0), 0);

export function setConfig(config: JsonValue): void {
  configValue = config;
}

/** The input of one reconcile or finalize call (ABI ReconcileInput) plus its output. */
export class Context {
  input: JsonValue;
  primary: ObjectView;
  out: Output;

  constructor(input: JsonValue, out: Output) {
    this.input = input;
    this.primary = new ObjectView(input.get("primary"));
    this.out = out;
  }

  /** Why this call runs: one of the TRIGGER_* constants. */
  get reason(): string {
    return this.input.get("trigger").get("reason").str();
  }

  /** True when the trigger reason is `reason`, compared without allocating. */
  triggeredBy(reason: string): bool {
    return this.input.get("trigger").get("reason").strEquals(reason);
  }

  /** The whole trigger ({reason, kind?, name?, namespace?}: which watched object caused the call). */
  get trigger(): JsonValue {
    return this.input.get("trigger");
  }

  get reconcilerName(): string {
    return this.input.get("reconciler").get("name").str();
  }

  /** True when the primary is being deleted or already gone (then `primary` is its last known state). */
  get deleted(): bool {
    return this.input.get("deleted").bool();
  }

  /** The config passed to wr_init (missing when the WasmReconciler sets none). */
  get config(): JsonValue {
    return configValue;
  }

  /** Owned children of one kind, e.g. children("apps/v1", "Deployment"). Core kinds use "v1". */
  children(apiVersion: string, kind: string): ObjectList {
    return new ObjectList(this.input.get("children").getJoined(apiVersion, kind));
  }

  /** The owned child of that kind and name; `exists` is false when it has not been created yet. */
  child(apiVersion: string, kind: string, name: string): ObjectView {
    return this.children(apiVersion, kind).byName(name);
  }

  /** Declared related objects of one kind. */
  related(apiVersion: string, kind: string): ObjectList {
    return new ObjectList(this.input.get("related").getJoined(apiVersion, kind));
  }

  /** children() with a typed kind, e.g. childrenOf(DEPLOYMENT). */
  childrenOf(kind: Kind): ObjectList {
    return this.children(kind.apiVersion, kind.kind);
  }

  /** child() with a typed kind. */
  childOf(kind: Kind, name: string): ObjectView {
    return this.child(kind.apiVersion, kind.kind, name);
  }

  /** related() with a typed kind. */
  relatedOf(kind: Kind): ObjectList {
    return this.related(kind.apiVersion, kind.kind);
  }
}

/** The input of wr_init (ABI InitInput). A handler rejects bad config with reject(message). */
export class InitContext {
  input: JsonValue;
  rejection: string | null = null;

  constructor(input: JsonValue) {
    this.input = input;
  }

  get config(): JsonValue {
    return this.input.get("config");
  }

  get reconcilerName(): string {
    return this.input.get("reconciler").get("name").str();
  }

  /** Refuses the configuration: the host keeps the previous module version serving. */
  reject(message: string): void {
    this.rejection = message;
  }
}
