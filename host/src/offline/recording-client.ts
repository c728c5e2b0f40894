// The executor's write port, recording each write in order instead of sending it: what one reconcile would do.
//
// The executor decides what to write (plan, finalizer, skips, event bounds) exactly as it does against a
// cluster; this port only stands where the API server would be. Fresh reads answer from the objects the
// run was given, so a finalizer change computes its patch from them as it would from the API server.

import type { KubeObject } from '../abi/types.ts';
import type { CoreEvent, ExecutorClient, ObjectRef } from '../executor/index.ts';
import { groupKind } from '../kube/gvk.ts';

export type RecordedWrite =
  | { readonly type: 'apply'; readonly object: KubeObject; readonly fieldManager: string }
  | { readonly type: 'applyStatus'; readonly object: KubeObject; readonly fieldManager: string }
  | { readonly type: 'delete'; readonly ref: ObjectRef; readonly uid: string }
  | { readonly type: 'patchMetadata'; readonly ref: ObjectRef; readonly patch: Readonly<Record<string, unknown>> }
  | { readonly type: 'event'; readonly event: CoreEvent };

export class RecordingClient implements ExecutorClient {
  readonly writes: RecordedWrite[] = [];
  readonly #objects: readonly KubeObject[];

  /** `objects`: what the API server holds (as served: with uids). */
  constructor(objects: readonly KubeObject[]) {
    this.#objects = objects;
  }

  async get(ref: ObjectRef): Promise<KubeObject | undefined> {
    return this.#find(ref);
  }

  async apply(object: KubeObject, options: { fieldManager: string }): Promise<KubeObject> {
    this.writes.push({ type: 'apply', object, fieldManager: options.fieldManager });
    const { name, namespace } = object.metadata;
    const existing = this.#find({ apiVersion: object.apiVersion, kind: object.kind, namespace, name });
    return { ...object, metadata: { ...object.metadata, uid: existing?.metadata.uid ?? '' } };
  }

  async applyStatus(object: KubeObject, options: { fieldManager: string }): Promise<KubeObject> {
    this.writes.push({ type: 'applyStatus', object, fieldManager: options.fieldManager });
    return object;
  }

  async delete(ref: ObjectRef, options: { uid: string }): Promise<void> {
    this.writes.push({ type: 'delete', ref, uid: options.uid });
  }

  async patchMetadata(ref: ObjectRef, patch: Readonly<Record<string, unknown>>): Promise<KubeObject> {
    this.writes.push({ type: 'patchMetadata', ref, patch });
    const current = this.#find(ref) ?? { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name } };
    return { ...current, metadata: { ...current.metadata, ...patch } };
  }

  async createEvent(event: CoreEvent): Promise<{ name: string }> {
    this.writes.push({ type: 'event', event });
    return { name: `${event.metadata.generateName}${this.writes.length}` };
  }

  #find(ref: ObjectRef): KubeObject | undefined {
    const gk = groupKind(ref.apiVersion, ref.kind);
    return this.#objects.find(
      (o) =>
        groupKind(o.apiVersion, o.kind) === gk &&
        o.metadata.name === ref.name &&
        (o.metadata.namespace || undefined) === (ref.namespace || undefined),
    );
  }
}
