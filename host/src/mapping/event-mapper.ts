// Routes cache events of a reconciler's primary, owned and related kinds to primary keys in its queue.

import type { KubeObject, TriggerReason } from '../abi/types.ts';
import { WrError } from '../errors.ts';
import { type EnqueueSink, keyOf, type MappingEvent } from './event.ts';
import type { FieldRefIndex } from './field-index.ts';
import { controllerOwner, type OwnerKind, type OwnerLookup } from './owner.ts';
import { type PrimaryPredicateOptions, primaryTrigger } from './predicate.ts';

/** Maps a related object to the keys of the primaries that depend on it. */
export type RelatedMapper = (related: KubeObject) => Iterable<string>;

export interface EventMapperOptions {
  readonly primary: OwnerKind;
  readonly predicate?: PrimaryPredicateOptions;
  /** Resolves owner UIDs through the primary cache; without it children map by name only. */
  readonly ownerLookup?: OwnerLookup;
  /** Related kinds keyed "apiVersion/kind" (core: "v1/ConfigMap"), as in the reconcile input. */
  readonly related?: Readonly<Record<string, RelatedMapper>>;
  /** Indexes over primary fields (the ready-made related mappers); kept current from primary events. */
  readonly indexes?: readonly FieldRefIndex[];
  readonly sink: EnqueueSink;
}

/** Counts for diagnostics: what mapping did with the events it saw. */
export interface MappingStats {
  readonly enqueued: number;
  /** Primary updates the predicate filtered out (status-only writes, unwatched metadata). */
  readonly filtered: number;
  /** Events of children whose owner reference names a deleted previous incarnation of the owner. */
  readonly staleOwner: number;
  /** Keys the sink refused (its bound, or shutdown). */
  readonly refused: number;
}

export class EventMapper {
  readonly #options: EventMapperOptions;
  #enqueued = 0;
  #filtered = 0;
  #staleOwner = 0;
  #refused = 0;

  constructor(options: EventMapperOptions) {
    this.#options = options;
  }

  /** An event of the primary kind. Index upkeep sees every event; the predicate decides the enqueue. */
  primary(event: MappingEvent): void {
    for (const index of this.#options.indexes ?? []) index.apply(event);
    const reason = primaryTrigger(event, this.#options.predicate);
    if (reason === undefined) {
      this.#filtered++;
      return;
    }
    this.#enqueue(keyOf(event.object), reason, event, false);
  }

  /**
   * An event of an owned kind: enqueues the controlling owner, of the old state too when an update moved
   * the child to another owner. A child of a previous incarnation of its owner (same name, other UID) is
   * ignored, except its deletion: the current owner may be waiting for that name to become free.
   */
  child(event: MappingEvent): void {
    const keys = new Set<string>();
    let stale = false;
    for (const obj of statesOf(event)) {
      const mapping = controllerOwner(obj, this.#options.primary, this.#options.ownerLookup);
      if (mapping === undefined) continue;
      if (mapping.stale && event.type !== 'deleted') stale = true;
      else keys.add(mapping.key);
    }
    if (stale) this.#staleOwner++;
    for (const key of keys) this.#enqueue(key, 'child', event, true);
  }

  /** The handler for one declared related kind; throws WR_CONFIG_INVALID for an undeclared kind. */
  related(kindKey: string): (event: MappingEvent) => void {
    const mapper = this.#options.related?.[kindKey];
    if (mapper === undefined) {
      throw new WrError('WR_CONFIG_INVALID', `related kind "${kindKey}" is not declared`, {
        details: { option: 'related', value: kindKey },
      });
    }
    return (event) => {
      const keys = new Set<string>();
      for (const obj of statesOf(event)) for (const key of mapper(obj)) keys.add(key);
      for (const key of keys) this.#enqueue(key, 'related', event, true);
    };
  }

  stats(): MappingStats {
    return { enqueued: this.#enqueued, filtered: this.#filtered, staleOwner: this.#staleOwner, refused: this.#refused };
  }

  #enqueue(key: string, reason: TriggerReason, event: MappingEvent, withSource: boolean): void {
    const lane = event.initial === true ? 'low' : 'user';
    const { kind, metadata } = event.object;
    const source = {
      kind,
      name: metadata.name,
      ...(metadata.namespace === undefined ? {} : { namespace: metadata.namespace }),
    };
    if (this.#options.sink.add(key, withSource ? { reason, lane, source } : { reason, lane })) this.#enqueued++;
    else this.#refused++;
  }
}

/** The object's states an event exposes: the new one, and the old one of an update. */
function statesOf(event: MappingEvent): KubeObject[] {
  return event.oldObject === undefined ? [event.object] : [event.object, event.oldObject];
}
