// Records core/v1 Events about a primary: bounded, aggregated within a window, and never fatal to a reconcile.
//
// Events are best-effort by Kubernetes convention (client-go's recorder drops them under pressure): record()
// hands them to an EventBroadcaster, which writes them asynchronously with bounded retries, and returns
// without waiting, so a slow or throttling API server never holds up the reconcile that produced them.

import type { GuestEvent, KubeObject } from '../abi/types.ts';
import { kubeTime } from '../kube/time.ts';
import { EventBroadcaster, type EventBroadcasterOptions } from './event-broadcaster.ts';
import type { CoreEvent, ExecutorClient } from './ports.ts';

export interface EventRecorderOptions {
  readonly client: Pick<ExecutorClient, 'createEvent' | 'patchEvent'>;
  /** `wasmreconciler.dev/<name>`: events' source.component and reportingComponent. */
  readonly reportingController: string;
  /** Which host replica reported (pod or node name); at most 128 characters. */
  readonly reportingInstance?: string | undefined;
  /** The same event about the same object within this window aggregates into one Event (its count). */
  readonly dedupeWindowMs: number;
  /** How many recent series the aggregation remembers. */
  readonly dedupeEntries: number;
  readonly now: () => number;
  /** Called for each event given up (queue full, or every attempt failed). */
  readonly onError?: ((err: unknown, event: GuestEvent) => void) | undefined;
  /** Queue, retry and backoff settings of the broadcaster behind the recorder. */
  readonly broadcaster?: Omit<EventBroadcasterOptions, 'client' | 'now' | 'onDrop'> | undefined;
}

export interface EventTally {
  /** Events handed over as new Events (written asynchronously). */
  created: number;
  /** Repeats aggregated into an existing Event (its count), within the window. */
  suppressed: number;
  /** Refused at once: the broadcaster's queue was full. */
  failed: number;
}

const MAX_INSTANCE_CHARS = 128;
/** generateName keeps the first 58 characters of a base; a shorter base keeps the name readable. */
const MAX_BASE_NAME = 57;

export class EventRecorder {
  readonly #options: EventRecorderOptions;
  readonly #broadcaster: EventBroadcaster;

  constructor(options: EventRecorderOptions) {
    this.#options = options;
    this.#broadcaster = new EventBroadcaster({
      ...options.broadcaster,
      client: options.client,
      aggregateWindowMs: options.dedupeWindowMs,
      aggregateEntries: options.dedupeEntries,
      now: options.now,
      onDrop: (reason, event, err) =>
        options.onError?.(err ?? new Error(`event dropped: ${reason}`), {
          type: event.type,
          reason: event.reason,
          message: event.message,
        }),
    });
  }

  /**
   * Hands each event over in order; `tally` is updated in place. Resolves at once, unless `settle` asks to
   * wait until every write landed or was given up (bounded by the broadcaster's attempts).
   */
  async record(primary: KubeObject, events: readonly GuestEvent[], tally: EventTally, settle = false): Promise<void> {
    const settled: Promise<void>[] = [];
    for (const event of events) {
      let done: (() => void) | undefined;
      if (settle) settled.push(new Promise<void>((resolve) => (done = resolve)));
      const result = this.#broadcaster.record(this.#build(primary, event, this.#options.now()), done);
      if (result === 'queued') tally.created++;
      else if (result === 'aggregated') tally.suppressed++;
      else tally.failed++;
    }
    if (settle) await Promise.all(settled);
  }

  /** Resolves once every handed-over event landed or was given up. */
  flush(): Promise<void> {
    return this.#broadcaster.flush();
  }

  stats() {
    return this.#broadcaster.stats();
  }

  #build(primary: KubeObject, event: GuestEvent, now: number): CoreEvent {
    // kube/time.ts, not toISOString: its first call loads ICU's time-zone data (~0.8 MiB of idle RSS).
    const timestamp = kubeTime(now);
    const meta = primary.metadata;
    const instance = this.#options.reportingInstance;
    return {
      apiVersion: 'v1',
      kind: 'Event',
      // Events about cluster-scoped objects live in 'default', where client-go's recorder puts them.
      metadata: { generateName: `${meta.name.slice(0, MAX_BASE_NAME)}.`, namespace: meta.namespace || 'default' },
      involvedObject: {
        apiVersion: primary.apiVersion,
        kind: primary.kind,
        name: meta.name,
        ...(meta.namespace ? { namespace: meta.namespace } : {}),
        uid: meta.uid,
        resourceVersion: meta.resourceVersion,
      },
      type: event.type,
      reason: event.reason,
      message: event.message,
      source: { component: this.#options.reportingController },
      reportingComponent: this.#options.reportingController,
      ...(instance ? { reportingInstance: instance.slice(0, MAX_INSTANCE_CHARS) } : {}),
      firstTimestamp: timestamp,
      lastTimestamp: timestamp,
      count: 1,
    };
  }
}
