// An in-memory ExecutorClient for unit tests: stores objects, enforces uid and resourceVersion preconditions.
//
// Deliberately simpler than the API server: apply stores the object as sent (no field-ownership merge), and
// no admission or validation runs. Tests that depend on real apply semantics belong in test/integration.

import type { KubeObject } from '../../abi/types.ts';
import { type ErrorCode, WrError } from '../../errors.ts';
import { groupKind } from '../kinds.ts';
import type { ApplyOptions, CoreEvent, DeleteOptions, ExecutorClient, ObjectRef } from '../ports.ts';

export type FakeMethod = 'get' | 'apply' | 'applyStatus' | 'delete' | 'patchMetadata' | 'createEvent' | 'patchEvent';

export interface FakeCall {
  readonly method: FakeMethod;
  readonly ref: ObjectRef;
  readonly body?: unknown;
  readonly options?: unknown;
}

export class FakeExecutorClient implements ExecutorClient {
  readonly calls: FakeCall[] = [];
  readonly events: CoreEvent[] = [];
  readonly #objects = new Map<string, KubeObject>();
  readonly #failures: Array<{ method: FakeMethod; code: ErrorCode }> = [];
  #nextUid = 1;
  #nextVersion = 1;

  /** Stores an object as if the API server held it; fills uid and resourceVersion when absent. */
  seed(object: KubeObject): KubeObject {
    const stored = structuredClone(object);
    stored.metadata.uid ??= `uid-${this.#nextUid++}`;
    stored.metadata.resourceVersion = String(this.#nextVersion++);
    this.#objects.set(keyOf(refOf(stored)), stored);
    return structuredClone(stored);
  }

  stored(ref: ObjectRef): KubeObject | undefined {
    const object = this.#objects.get(keyOf(ref));
    return object === undefined ? undefined : structuredClone(object);
  }

  /** The next call to `method` fails with `code` (queued: several calls fail in order). */
  failNext(method: FakeMethod, code: ErrorCode): void {
    this.#failures.push({ method, code });
  }

  writes(): FakeCall[] {
    return this.calls.filter((c) => c.method !== 'get');
  }

  async get(ref: ObjectRef): Promise<KubeObject | undefined> {
    this.#record('get', ref);
    return this.stored(ref);
  }

  async apply(object: KubeObject, options: ApplyOptions): Promise<KubeObject> {
    const ref = refOf(object);
    this.#record('apply', ref, object, options);
    const existing = this.#objects.get(keyOf(ref));
    const stored = structuredClone(object);
    stored.metadata.uid = existing?.metadata.uid ?? `uid-${this.#nextUid++}`;
    stored.metadata.resourceVersion = String(this.#nextVersion++);
    this.#objects.set(keyOf(ref), stored);
    return structuredClone(stored);
  }

  async applyStatus(object: KubeObject, options: ApplyOptions): Promise<KubeObject> {
    const ref = refOf(object);
    this.#record('applyStatus', ref, object, options);
    const existing = this.#require(ref);
    existing.status = structuredClone(object.status);
    existing.metadata.resourceVersion = String(this.#nextVersion++);
    return structuredClone(existing);
  }

  async delete(ref: ObjectRef, options: DeleteOptions): Promise<void> {
    this.#record('delete', ref, undefined, options);
    const existing = this.#require(ref);
    if (existing.metadata.uid !== options.uid) throw failure('WR_KUBE_CONFLICT', 'delete', ref);
    this.#objects.delete(keyOf(ref));
  }

  async patchMetadata(
    ref: ObjectRef,
    patch: Readonly<Record<string, unknown>>,
    options: { resourceVersion: string },
  ): Promise<KubeObject> {
    this.#record('patchMetadata', ref, patch, options);
    const existing = this.#require(ref);
    if (existing.metadata.resourceVersion !== options.resourceVersion) {
      throw failure('WR_KUBE_CONFLICT', 'patchMetadata', ref);
    }
    Object.assign(existing.metadata, structuredClone(patch));
    existing.metadata.resourceVersion = String(this.#nextVersion++);
    return structuredClone(existing);
  }

  /** Stores the Event under a generated name (as the API server does for generateName) and tells it. */
  async createEvent(event: CoreEvent): Promise<{ name: string }> {
    const ref: ObjectRef = { apiVersion: 'v1', kind: 'Event', namespace: event.metadata.namespace, name: '' };
    this.#record('createEvent', ref, event);
    const name = `${event.metadata.generateName}${this.events.length + 1}`;
    this.events.push({ ...structuredClone(event), metadata: { ...event.metadata, name } });
    return { name };
  }

  /** Merge-patches count and lastTimestamp of a stored Event; 404 when no Event has that name. */
  async patchEvent(
    ref: { namespace: string; name: string },
    patch: { count: number; lastTimestamp: string },
  ): Promise<void> {
    this.#record('patchEvent', { apiVersion: 'v1', kind: 'Event', ...ref }, patch);
    const event = this.events.find((e) => e.metadata.name === ref.name && e.metadata.namespace === ref.namespace);
    if (event === undefined)
      throw failure('WR_KUBE_NOT_FOUND', 'patchEvent', { apiVersion: 'v1', kind: 'Event', ...ref });
    Object.assign(event, { count: patch.count, lastTimestamp: patch.lastTimestamp });
  }

  #record(method: FakeMethod, ref: ObjectRef, body?: unknown, options?: unknown): void {
    this.calls.push({ method, ref, body: structuredClone(body), options });
    const index = this.#failures.findIndex((f) => f.method === method);
    if (index !== -1) {
      const [injected] = this.#failures.splice(index, 1);
      if (injected !== undefined) throw failure(injected.code, method, ref);
    }
  }

  #require(ref: ObjectRef): KubeObject {
    const existing = this.#objects.get(keyOf(ref));
    if (existing === undefined) throw failure('WR_KUBE_NOT_FOUND', 'lookup', ref);
    return existing;
  }
}

function refOf(object: KubeObject): ObjectRef {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    namespace: object.metadata.namespace,
    name: object.metadata.name,
  };
}

function keyOf(ref: ObjectRef): string {
  return `${groupKind(ref.apiVersion, ref.kind)}/${ref.namespace ?? ''}/${ref.name}`;
}

function failure(code: ErrorCode, method: string, ref: ObjectRef): WrError {
  return new WrError(code, `fake ${method} ${ref.kind} ${ref.namespace ?? ''}/${ref.name}: ${code}`);
}
