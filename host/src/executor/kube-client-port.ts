// The executor's write port implemented on the host's KubeClient.

import type { KubeObject } from '../abi/types.ts';
import { isWrError } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import { objectPath } from '../kube/paths.ts';
import type { ApplyOptions, CoreEvent, DeleteOptions, ExecutorClient, ObjectRef } from './ports.ts';

const MERGE_PATCH = 'application/merge-patch+json';

export function kubeExecutorClient(client: KubeClient): ExecutorClient {
  return {
    async get(ref: ObjectRef): Promise<KubeObject | undefined> {
      const res = await client.resource(ref.apiVersion, ref.kind);
      try {
        return await client.get(res, ref.namespace, ref.name);
      } catch (err) {
        if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return undefined;
        throw err;
      }
    },

    apply(object: KubeObject, options: ApplyOptions): Promise<KubeObject> {
      return client.apply(object, { fieldManager: options.fieldManager, force: options.force });
    },

    applyStatus(object: KubeObject, options: ApplyOptions): Promise<KubeObject> {
      return client.patchStatus(object, (object.status ?? {}) as Record<string, unknown>, {
        fieldManager: options.fieldManager,
        force: options.force,
      });
    },

    async delete(ref: ObjectRef, options: DeleteOptions): Promise<void> {
      const res = await client.resource(ref.apiVersion, ref.kind);
      await client.delete(res, ref.namespace, ref.name, {
        propagationPolicy: options.propagationPolicy,
        preconditions: { uid: options.uid },
      });
    },

    async patchMetadata(
      ref: ObjectRef,
      patch: Readonly<Record<string, unknown>>,
      options: { resourceVersion: string },
    ): Promise<KubeObject> {
      const res = await client.resource(ref.apiVersion, ref.kind);
      // A resourceVersion inside a merge patch makes the API server compare it: 409 when the object moved on.
      return client.request<KubeObject>('PATCH', objectPath(res, ref.namespace, ref.name), {
        body: { metadata: { ...patch, resourceVersion: options.resourceVersion } },
        contentType: MERGE_PATCH,
      });
    },

    async createEvent(event: CoreEvent): Promise<{ name: string | undefined }> {
      const res = await client.resource('v1', 'Event');
      const created = await client.create(res, event as unknown as KubeObject);
      return { name: created?.metadata?.name };
    },

    async patchEvent(ref, patch): Promise<void> {
      const res = await client.resource('v1', 'Event');
      await client.request('PATCH', objectPath(res, ref.namespace, ref.name), {
        body: { count: patch.count, lastTimestamp: patch.lastTimestamp },
        contentType: MERGE_PATCH,
      });
    },
  };
}
