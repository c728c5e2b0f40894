// Public surface of the mapping folder: cache events of primary, owned and related kinds to queue keys.
export { type EnqueueSink, keyOf, type MappingEvent, objectKey, splitKey } from './event.ts';
export { EventMapper, type EventMapperOptions, type MappingStats, type RelatedMapper } from './event-mapper.ts';
export { FieldRefIndex, type FieldRefIndexOptions } from './field-index.ts';
export { type ChildMapping, controllerOwner, type OwnerKind, type OwnerLookup } from './owner.ts';
export { type PrimaryPredicateOptions, primaryTrigger } from './predicate.ts';
export { jitteredDelayMs, PeriodicResync, type ResyncOptions } from './resync.ts';
