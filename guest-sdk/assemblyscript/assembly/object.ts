// A read-only view of one Kubernetes object in the input or a cache result, decoding fields on access.

import { ArrayIter, JsonValue } from "./json/reader";

export class ObjectView {
  /** The whole object; use it for fields without an accessor here (`view.json.path("spec.foo")`). */
  json: JsonValue;

  constructor(json: JsonValue) {
    this.json = json;
  }

  /** False when the object is absent (e.g. a child that does not exist yet). */
  get exists(): bool {
    return this.json.isObject();
  }

  get apiVersion(): string {
    return this.json.get("apiVersion").str();
  }
  get kind(): string {
    return this.json.get("kind").str();
  }
  get metadata(): JsonValue {
    return this.json.get("metadata");
  }
  get name(): string {
    return this.metadata.get("name").str();
  }
  /** Empty for cluster-scoped objects. */
  get namespace(): string {
    return this.metadata.get("namespace").str();
  }
  get uid(): string {
    return this.metadata.get("uid").str();
  }
  get resourceVersion(): string {
    return this.metadata.get("resourceVersion").str();
  }
  /** metadata.generation, 0 when absent (core kinds without a status subresource). */
  get generation(): i64 {
    return this.metadata.get("generation").int();
  }
  get deletionTimestamp(): string {
    return this.metadata.get("deletionTimestamp").str();
  }
  get labels(): JsonValue {
    return this.metadata.get("labels");
  }
  get annotations(): JsonValue {
    return this.metadata.get("annotations");
  }
  label(key: string, fallback: string = ""): string {
    return this.labels.get(key).str(fallback);
  }
  annotation(key: string, fallback: string = ""): string {
    return this.annotations.get(key).str(fallback);
  }
  get spec(): JsonValue {
    return this.json.get("spec");
  }
  get status(): JsonValue {
    return this.json.get("status");
  }
  get data(): JsonValue {
    return this.json.get("data");
  }
  get(key: string): JsonValue {
    return this.json.get(key);
  }

  /** The status condition of `type` (metav1.Condition), missing when there is none. */
  condition(type: string): JsonValue {
    const it = this.status.get("conditions").items();
    while (it.next()) {
      if (it.value.get("type").strEquals(type)) return it.value;
    }
    return new JsonValue(this.json.doc, 0);
  }
}

/** The objects of one kind in the input (children or related), in the order the host sent them. */
export class ObjectList {
  json: JsonValue;

  constructor(json: JsonValue) {
    this.json = json;
  }

  get length(): i32 {
    return this.json.length();
  }

  at(index: i32): ObjectView {
    return new ObjectView(this.json.at(index));
  }

  /** The object named `name` (in any namespace the list holds); absent view when there is none. */
  byName(name: string): ObjectView {
    const it = this.json.items();
    while (it.next()) {
      if (it.value.get("metadata").get("name").strEquals(name)) return new ObjectView(it.value);
    }
    return new ObjectView(new JsonValue(this.json.doc, 0));
  }

  /** Iteration without allocating a list: `const it = list.items(); while (it.next()) view(it.value)`. */
  items(): ObjectListIter {
    return new ObjectListIter(this.json);
  }
}

export class ObjectListIter {
  private it: ArrayIter;
  object: ObjectView;

  constructor(json: JsonValue) {
    this.it = json.items();
    this.object = new ObjectView(new JsonValue(json.doc, 0));
  }

  next(): bool {
    if (!this.it.next()) return false;
    this.object = new ObjectView(this.it.value);
    return true;
  }
}
