// What `dev` shows of a running reconciler: its WasmReconciler's status as it changes, and the Events of
// the reconciler and of its primaries (the module's own events, and the host's ModuleLoaded/LoadFailed).

import type { KubeObject } from '../../abi/types.ts';
import type { KubeClient } from '../../kube/index.ts';
import { watcher } from '../../watch/index.ts';

export interface ReconcilerStatus {
  readonly activeDigest: string | undefined;
  readonly ready: string;
  readonly reconciles: number;
  readonly errors: number;
  readonly lastError: string | undefined;
}

export interface StreamHandlers {
  onStatus(status: ReconcilerStatus, line: string): void;
  onEvent(line: string, event: KubeObject): void;
  onError(err: unknown): void;
}

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

export function statusOf(wr: KubeObject): ReconcilerStatus {
  const s = (wr.status ?? {}) as {
    activeDigest?: string;
    conditions?: Condition[];
    reconcileCount?: number;
    errorCount?: number;
    lastError?: { code?: string; message?: string };
  };
  const ready = s.conditions?.find((c) => c.type === 'Ready');
  return {
    activeDigest: s.activeDigest,
    ready: `Ready=${ready?.status ?? 'Unknown'}${ready?.reason ? ` ${ready.reason}` : ''}${ready?.message ? `: ${ready.message}` : ''}`,
    reconciles: s.reconcileCount ?? 0,
    errors: s.errorCount ?? 0,
    lastError: s.lastError === undefined ? undefined : `${s.lastError.code}: ${s.lastError.message}`,
  };
}

export function statusLine(s: ReconcilerStatus): string {
  const digest = s.activeDigest === undefined ? 'no module serving' : `serving ${s.activeDigest.slice(0, 19)}`;
  return `${s.ready} | ${digest} | ${s.reconciles} reconciles, ${s.errors} errors${s.lastError ? ` | last error ${s.lastError}` : ''}`;
}

export function eventLine(e: KubeObject): string {
  const ev = e as KubeObject & {
    type?: string;
    reason?: string;
    message?: string;
    count?: number;
    involvedObject?: { kind?: string; name?: string };
  };
  const count = (ev.count ?? 1) > 1 ? ` (x${ev.count})` : '';
  return `${ev.type ?? 'Normal'} ${ev.reason ?? ''} ${ev.involvedObject?.kind}/${ev.involvedObject?.name}: ${ev.message ?? ''}${count}`;
}

/** Follows the WasmReconciler `name` and the Events in `namespace` about it or a `primaryKind` object. */
export function streamReconciler(
  client: KubeClient,
  o: { namespace: string; name: string; primaryKind: string; signal: AbortSignal },
  h: StreamHandlers,
): Promise<void> {
  const follow = async (
    apiVersion: string,
    kind: string,
    fieldSelector: string | undefined,
    each: (object: KubeObject, initial: boolean) => void,
  ) => {
    const resource = await client.resource(apiVersion, kind);
    const stream = watcher(
      client,
      { resource, namespace: o.namespace, ...(fieldSelector === undefined ? {} : { fieldSelector }) },
      { signal: o.signal },
    );
    for await (const e of stream) {
      if (e.type === 'apply' || e.type === 'initApply') each(e.object, e.type === 'initApply');
    }
  };
  let last = '';
  const status = follow('wasmreconciler.dev/v1alpha1', 'WasmReconciler', `metadata.name=${o.name}`, (wr) => {
    const s = statusOf(wr);
    const line = statusLine(s);
    if (line !== last) h.onStatus(s, line);
    last = line;
  });
  const started = new Date();
  const events = follow('v1', 'Event', undefined, (e, initial) => {
    const ev = e as KubeObject & { involvedObject?: { kind?: string; name?: string }; lastTimestamp?: string };
    const about = ev.involvedObject;
    const mine = (about?.kind === 'WasmReconciler' && about.name === o.name) || about?.kind === o.primaryKind;
    // Events from before dev started are history, not this session's results.
    const at = ev.lastTimestamp ?? (e.metadata as { creationTimestamp?: string }).creationTimestamp;
    if (mine && !(initial && at !== undefined && new Date(at) < started)) h.onEvent(eventLine(e), e);
  });
  return Promise.all([status, events]).then(
    () => undefined,
    (err: unknown) => {
      if (!o.signal.aborted) h.onError(err);
    },
  );
}
