// Records core/v1 Events about a primary: bounded, deduplicated within a window, and never fatal to a reconcile.
//
// Events are best-effort by Kubernetes convention (client-go's recorder drops them under pressure), so a
// failed create is counted and logged but does not fail the reconcile that produced it.

import type { GuestEvent, KubeObject } from '../abi/types.ts';
import { BoundedMap } from './internal/bounded-map.ts';
import type { CoreEvent, ExecutorClient } from './ports.ts';

export interface EventRecorderOptions {
  readonly client: Pick<ExecutorClient, 'createEvent'>;
  /** `wasmreconciler.dev/<name>`: events' source.component and reportingComponent. */
  readonly reportingController: string;
  /** Which host replica reported (pod or node name); at most 128 characters. */
  readonly reportingInstance?: string | undefined;
  /** The same event about the same object within this window is suppressed. */
  readonly dedupeWindowMs: number;
  /** How many recent events the dedupe window remembers. */
  readonly dedupeEntries: number;
  readonly now: () => number;
  readonly onError?: ((err: unknown, event: GuestEvent) => void) | undefined;
}

export interface EventTally {
  created: number;
  suppressed: number;
  failed: number;
}

const MAX_INSTANCE_CHARS = 128;
/** generateName keeps the first 58 characters of a base; a shorter base keeps the name readable. */
const MAX_BASE_NAME = 57;

export class EventRecorder {
  readonly #options: EventRecorderOptions;
  readonly #recent: BoundedMap<string, number>;

  constructor(options: EventRecorderOptions) {
    this.#options = options;
    this.#recent = new BoundedMap(options.dedupeEntries);
  }

  /** Creates each event in order; `tally` is updated in place so a caller can report partial progress. */
  async record(primary: KubeObject, events: readonly GuestEvent[], tally: EventTally): Promise<void> {
    for (const event of events) {
      const now = this.#options.now();
      const key = dedupeKey(primary, event);
      const last = this.#recent.get(key);
      if (last !== undefined && now - last < this.#options.dedupeWindowMs) {
        tally.suppressed++;
        continue;
      }
      try {
        await this.#options.client.createEvent(this.#build(primary, event, now));
        this.#recent.set(key, now);
        tally.created++;
      } catch (err) {
        tally.failed++;
        this.#options.onError?.(err, event);
      }
    }
  }

  #build(primary: KubeObject, event: GuestEvent, now: number): CoreEvent {
    const timestamp = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
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

function dedupeKey(primary: KubeObject, event: GuestEvent): string {
  return `${primary.metadata.uid ?? primary.metadata.name}\u0000${event.type}\u0000${event.reason}\u0000${event.message}`;
}
