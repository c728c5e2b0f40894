// Follows a ConfigMap module source: one watch of that ConfigMap alone, telling the manager when the module's key
// changes, so updating the ConfigMap is a hot swap (unpinned) or a reported digest mismatch (pinned).
//
// Only the key's content matters: other keys, labels and annotations change nothing. Nothing is kept but a
// fingerprint of the key's text; the bytes are read again by the resolver, as on any load.

import { createHash } from 'node:crypto';
import type { KubeObject } from '../abi/types.ts';
import type { ApiResource, Logger } from '../kube/index.ts';
import { type WatchClient, watcher } from '../watch/index.ts';

export interface FollowedSource {
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
}

export interface SourceFollower {
  stop(): void;
}

/**
 * Watches `source`'s ConfigMap (a field selector on its name) and calls `onChange` whenever the key's content
 * differs from what the first list saw: changed, added, removed, or the ConfigMap deleted or re-created.
 */
export function followConfigMap(
  client: WatchClient,
  resource: ApiResource,
  source: FollowedSource,
  onChange: () => void,
  logger: Logger,
): SourceFollower {
  const stop = new AbortController();
  const events = watcher(
    client,
    { resource, namespace: source.namespace, fieldSelector: `metadata.name=${source.name}` },
    { signal: stop.signal, logger },
  );
  void (async () => {
    // undefined: not listed yet; null: the ConfigMap or its key is absent.
    let seen: string | null | undefined;
    let listing: string | null = null;
    const observe = (now: string | null) => {
      if (seen !== undefined && now !== seen) onChange();
      seen = now;
    };
    try {
      for await (const e of events) {
        if (e.type === 'init') listing = null;
        else if (e.type === 'initApply') listing = fingerprint(e.object, source.key);
        // A relist (after a watch expired) compares like any change: nothing is missed across it.
        else if (e.type === 'initDone') observe(listing);
        else if (e.type === 'apply') observe(fingerprint(e.object, source.key));
        else observe(null);
      }
    } catch (err) {
      // The watcher retries on its own; it ends only when stopped.
      if (!stop.signal.aborted)
        logger.warn({ err: String(err), code: 'WR_HOST_INTERNAL' }, 'ConfigMap source watch ended');
    }
  })();
  return { stop: () => stop.abort() };
}

function fingerprint(object: KubeObject, key: string): string | null {
  const text = (object.binaryData as Record<string, string> | undefined)?.[key];
  return text === undefined ? null : createHash('sha256').update(text).digest('hex');
}
