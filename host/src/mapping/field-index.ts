// An index from a field of primary objects to the primaries, to map a related object to those that name it.
//
// Example: primaries whose `spec.configRef` equals a ConfigMap's name, in the ConfigMap's namespace. The
// index is fed with primary events and answers related events in O(matches), instead of scanning every
// primary of the namespace on each ConfigMap change.

import type { KubeObject } from '../abi/types.ts';
import { WrError } from '../errors.ts';
import { keyOf, type MappingEvent } from './event.ts';

export interface FieldRefIndexOptions {
  /** Dotted path into the primary, e.g. "spec.configRef" or "spec.sources.configMap"; arrays fan out. */
  readonly path: string;
  /**
   * `namespace` (default): the related object lives in the primary's namespace. `cluster`: the related
   * object is cluster-scoped and referenced from primaries in any namespace.
   */
  readonly relatedScope?: 'namespace' | 'cluster';
  /** References kept per primary; one with more is filed under the first ones, counted in `truncated`. Default 64. */
  readonly maxValuesPerObject?: number;
}

const SEGMENT = /^[A-Za-z0-9_$-]+$/;
const MAX_SEGMENTS = 16;

export class FieldRefIndex {
  readonly path: string;
  readonly #segments: readonly string[];
  readonly #clusterScoped: boolean;
  readonly #maxValues: number;
  /** Index value -> primary keys. */
  readonly #byValue = new Map<string, Set<string>>();
  /** Primary key -> the index values it is filed under, to unfile it on update and delete. */
  readonly #byKey = new Map<string, readonly string[]>();
  #truncated = 0;

  constructor(options: FieldRefIndexOptions) {
    const segments = options.path.split('.');
    if (segments.length > MAX_SEGMENTS || !segments.every((segment) => SEGMENT.test(segment))) {
      throw new WrError('WR_CONFIG_INVALID', `field path "${options.path}" is not a dotted path of field names`, {
        details: { option: 'path', value: options.path },
      });
    }
    const maxValues = options.maxValuesPerObject ?? 64;
    if (!Number.isInteger(maxValues) || maxValues < 1) {
      throw new WrError('WR_CONFIG_INVALID', 'maxValuesPerObject must be a positive integer', {
        details: { option: 'maxValuesPerObject', value: maxValues },
      });
    }
    this.path = options.path;
    this.#segments = segments;
    this.#clusterScoped = options.relatedScope === 'cluster';
    this.#maxValues = maxValues;
  }

  /** Files, refiles or unfiles a primary after one of its events. */
  apply(event: MappingEvent): void {
    const key = keyOf(event.object);
    this.#unfile(key);
    if (event.type !== 'deleted') this.#file(key, event.object);
  }

  /** Keys of the primaries whose field equals `related`'s name (in its namespace unless cluster-scoped). */
  keysFor(related: KubeObject): string[] {
    return [...(this.#byValue.get(this.#relatedValue(related)) ?? [])];
  }

  /** Primaries filed. */
  get size(): number {
    return this.#byKey.size;
  }

  /** Primaries filed under only their first `maxValuesPerObject` references. */
  get truncated(): number {
    return this.#truncated;
  }

  #file(key: string, primary: KubeObject): void {
    const names = new Set<string>();
    // One name past the limit tells truncation apart from an exact fit without walking a huge array.
    collect(primary, this.#segments, 0, names, this.#maxValues + 1);
    if (names.size === 0) return;
    if (names.size > this.#maxValues) this.#truncated++;
    const scope = this.#clusterScoped ? '' : (primary.metadata.namespace ?? '');
    const values = [...names].slice(0, this.#maxValues).map((name) => `${scope}/${name}`);
    for (const value of values) {
      let keys = this.#byValue.get(value);
      if (keys === undefined) {
        keys = new Set();
        this.#byValue.set(value, keys);
      }
      keys.add(key);
    }
    this.#byKey.set(key, values);
  }

  #unfile(key: string): void {
    const values = this.#byKey.get(key);
    if (values === undefined) return;
    this.#byKey.delete(key);
    for (const value of values) {
      const keys = this.#byValue.get(value);
      keys?.delete(key);
      if (keys?.size === 0) this.#byValue.delete(value);
    }
  }

  #relatedValue(related: KubeObject): string {
    const scope = this.#clusterScoped ? '' : (related.metadata.namespace ?? '');
    return `${scope}/${related.metadata.name}`;
  }
}

/** Collects up to `limit` non-empty strings found at `segments`, descending into every array on the way. */
function collect(value: unknown, segments: readonly string[], depth: number, out: Set<string>, limit: number): void {
  if (Array.isArray(value)) {
    for (const element of value) {
      if (out.size >= limit) return;
      collect(element, segments, depth, out, limit);
    }
    return;
  }
  if (depth === segments.length) {
    if (typeof value === 'string' && value !== '') out.add(value);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  collect((value as Record<string, unknown>)[segments[depth] as string], segments, depth + 1, out, limit);
}
