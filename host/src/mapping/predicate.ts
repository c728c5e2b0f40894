// Which changes of a primary object deserve a reconcile, and under which trigger reason.
//
// Like controller-runtime's GenerationChangedPredicate, spec changes count (they bump
// metadata.generation) and status changes never do, so the host's own status writes cannot loop.
// Unlike it, lifecycle and the metadata a reconciler acts on also count: creation, deletion (the
// deletionTimestamp appearing), finalizers, and labels or annotations when the reconciler asks for them.

import type { KubeObject, TriggerReason } from '../abi/types.ts';
import type { MappingEvent } from './event.ts';

export interface PrimaryPredicateOptions {
  /** React to label changes (the reconciler reads labels). Default false. */
  readonly labels?: boolean;
  /** React to annotation changes. Default false. */
  readonly annotations?: boolean;
}

/** The trigger reason when `event` should enqueue its primary, else undefined. */
export function primaryTrigger(event: MappingEvent, options: PrimaryPredicateOptions = {}): TriggerReason | undefined {
  if (event.type === 'added') return 'created';
  if (event.type === 'deleted') return 'deleted';
  const old = event.oldObject;
  const next = event.object;
  if (old === undefined) return 'updated';
  if (next.metadata.deletionTimestamp !== undefined && old.metadata.deletionTimestamp === undefined) return 'deleted';
  if (specChanged(old, next)) return 'updated';
  if (!sameList(old.metadata.finalizers, next.metadata.finalizers)) return 'updated';
  if (options.labels === true && !sameRecord(old.metadata.labels, next.metadata.labels)) return 'updated';
  if (options.annotations === true && !sameRecord(old.metadata.annotations, next.metadata.annotations)) {
    return 'updated';
  }
  return undefined;
}

/**
 * Kinds with a generation (every CRD, most built-in workloads) bump it on each spec change. Kinds without
 * one (ConfigMap, Secret...) keep their payload in top-level fields, compared here with metadata and
 * status left out; both texts come from the same API server serialisation, so field order is stable.
 */
function specChanged(old: KubeObject, next: KubeObject): boolean {
  const oldGeneration = old.metadata.generation;
  const nextGeneration = next.metadata.generation;
  if (oldGeneration !== undefined || nextGeneration !== undefined) return oldGeneration !== nextGeneration;
  return payloadText(old) !== payloadText(next);
}

function payloadText(obj: KubeObject): string {
  return JSON.stringify(Object.entries(obj).filter(([field]) => field !== 'metadata' && field !== 'status'));
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const left = a ?? [];
  const right = b ?? [];
  return left.length === right.length && left.every((value, i) => value === right[i]);
}

function sameRecord(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>> | undefined) {
  const left = a ?? {};
  const right = b ?? {};
  const leftKeys = Object.keys(left);
  return leftKeys.length === Object.keys(right).length && leftKeys.every((key) => left[key] === right[key]);
}
