// Checks a parsed reconcile output against the ABI v1 schema and names the first offending JSON path.
//
// Guest output is untrusted: everything downstream (executor, status writer, queue) relies on the types
// this returns, so unknown fields are rejected rather than ignored (a guest built for a newer minor ABI
// that uses a field this host does not know gets a precise error instead of a silently dropped intent).

import { WrError } from '../errors.ts';
import { OUTPUT_LIMITS } from './constants.ts';
import { findShapeViolation, pathSegment } from './shape.ts';
import type { GuestEvent, KubeObject, OwnerReference, ReconcileOutput } from './types.ts';

export type OutputLimits = { readonly [K in keyof typeof OUTPUT_LIMITS]: number };

const OUTPUT_KEYS = new Set(['children', 'status', 'events', 'finalizer', 'requeueAfterMs', 'error']);
const EVENT_KEYS = new Set(['type', 'reason', 'message']);
const ERROR_KEYS = new Set(['message', 'retryable']);

type Json = Record<string, unknown>;

function fail(path: string, problem: string, bound?: { limit: string; max: number }): never {
  throw new WrError('WR_GUEST_OUTPUT_INVALID', `guest output ${path}: ${problem}`, {
    details: { path, problem, ...bound },
  });
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function object(value: unknown, path: string): Json {
  if (!isObject(value)) fail(path, 'must be an object');
  return value;
}

function onlyKeys(value: Json, allowed: ReadonlySet<string>, path: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.has(key)) fail(`${path}${pathSegment(key)}`, 'is not a field of ABI v1');
  }
}

function string(value: unknown, path: string, maxChars?: number): string {
  if (typeof value !== 'string') fail(path, 'must be a string');
  if (maxChars !== undefined && value.length > maxChars) fail(path, `must be at most ${maxChars} characters`);
  return value;
}

function nonEmptyString(value: unknown, path: string, maxChars?: number): string {
  const s = string(value, path, maxChars);
  if (s.length === 0) fail(path, 'must not be empty');
  return s;
}

function optional<T>(value: Json, key: string, path: string, check: (v: unknown, p: string) => T): void {
  if (value[key] !== undefined) check(value[key], `${path}.${key}`);
}

function stringMap(value: unknown, path: string): void {
  for (const [k, v] of Object.entries(object(value, path))) string(v, `${path}${pathSegment(k)}`);
}

function stringArray(value: unknown, path: string): void {
  if (!Array.isArray(value)) fail(path, 'must be an array');
  value.forEach((v, i) => {
    string(v, `${path}[${i}]`);
  });
}

function ownerReference(value: unknown, path: string): OwnerReference {
  const ref = object(value, path);
  for (const key of ['apiVersion', 'kind', 'name', 'uid']) nonEmptyString(ref[key], `${path}.${key}`);
  for (const key of ['controller', 'blockOwnerDeletion']) {
    if (ref[key] !== undefined && typeof ref[key] !== 'boolean') fail(`${path}.${key}`, 'must be a boolean');
  }
  return ref as unknown as OwnerReference;
}

/** Checks the fields KubeObject promises; the API server validates the rest when the host applies it. */
function kubeObject(value: unknown, path: string): KubeObject {
  const obj = object(value, path);
  nonEmptyString(obj.apiVersion, `${path}.apiVersion`);
  nonEmptyString(obj.kind, `${path}.kind`);
  const metaPath = `${path}.metadata`;
  const meta = object(obj.metadata, metaPath);
  nonEmptyString(meta.name, `${metaPath}.name`);
  for (const key of ['namespace', 'uid', 'resourceVersion', 'deletionTimestamp']) optional(meta, key, metaPath, string);
  if (meta.generation !== undefined && !Number.isSafeInteger(meta.generation)) {
    fail(`${metaPath}.generation`, 'must be an integer');
  }
  optional(meta, 'labels', metaPath, stringMap);
  optional(meta, 'annotations', metaPath, stringMap);
  optional(meta, 'finalizers', metaPath, stringArray);
  if (meta.ownerReferences !== undefined) {
    const refsPath = `${metaPath}.ownerReferences`;
    if (!Array.isArray(meta.ownerReferences)) fail(refsPath, 'must be an array');
    meta.ownerReferences.forEach((r, i) => {
      ownerReference(r, `${refsPath}[${i}]`);
    });
  }
  return obj as KubeObject;
}

function children(value: unknown, limits: OutputLimits): KubeObject[] {
  const path = '$.children';
  if (!Array.isArray(value)) fail(path, 'must be an array');
  if (value.length > limits.children) fail(path, `must hold at most ${limits.children} objects`);
  const seen = new Map<string, number>();
  return value.map((child, i) => {
    const obj = kubeObject(child, `${path}[${i}]`);
    // Two desired objects with one identity would make server-side apply fight itself within one reconcile.
    const identity = `${obj.apiVersion}\n${obj.kind}\n${obj.metadata.namespace ?? ''}\n${obj.metadata.name}`;
    const first = seen.get(identity);
    if (first !== undefined) fail(`${path}[${i}]`, `has the same apiVersion, kind, namespace and name as [${first}]`);
    seen.set(identity, i);
    return obj;
  });
}

function events(value: unknown, limits: OutputLimits): GuestEvent[] {
  const path = '$.events';
  if (!Array.isArray(value)) fail(path, 'must be an array');
  if (value.length > limits.events) fail(path, `must hold at most ${limits.events} events`);
  return value.map((item, i) => {
    const p = `${path}[${i}]`;
    const event = object(item, p);
    onlyKeys(event, EVENT_KEYS, p);
    if (event.type !== 'Normal' && event.type !== 'Warning') fail(`${p}.type`, 'must be "Normal" or "Warning"');
    nonEmptyString(event.reason, `${p}.reason`, limits.eventReasonChars);
    string(event.message, `${p}.message`, limits.eventMessageChars);
    return event as unknown as GuestEvent;
  });
}

/**
 * Returns `json` typed as ReconcileOutput, or throws WR_GUEST_OUTPUT_INVALID whose `details.path` is the
 * JSON path (`$.children[2].metadata.name`) of the first value that breaks the schema. A value over one of
 * the shape bounds (depth, values, stringChars, objectKeys) also names the bound in `details.limit` and its
 * value in `details.max`.
 */
export function validateReconcileOutput(json: unknown, limits: OutputLimits = OUTPUT_LIMITS): ReconcileOutput {
  // Shape first: the schema checks below and everything downstream may then walk the output freely.
  const shape = findShapeViolation(json, limits);
  if (shape !== undefined) fail(shape.path, shape.problem, { limit: shape.limit, max: shape.max });
  const out = object(json, '$');
  onlyKeys(out, OUTPUT_KEYS, '$');
  const result: ReconcileOutput = {};
  if (out.children !== undefined) result.children = children(out.children, limits);
  if (out.status !== undefined) result.status = object(out.status, '$.status');
  if (out.events !== undefined) result.events = events(out.events, limits);
  if (out.finalizer !== undefined) {
    if (out.finalizer !== 'ensure' && out.finalizer !== 'release') {
      fail('$.finalizer', 'must be "ensure" or "release"');
    }
    result.finalizer = out.finalizer;
  }
  if (out.requeueAfterMs !== undefined) {
    const ms = out.requeueAfterMs;
    if (!Number.isSafeInteger(ms) || (ms as number) < 0 || (ms as number) > limits.requeueAfterMsMax) {
      fail('$.requeueAfterMs', `must be an integer from 0 to ${limits.requeueAfterMsMax}`);
    }
    result.requeueAfterMs = ms as number;
  }
  if (out.error !== undefined) {
    const error = object(out.error, '$.error');
    onlyKeys(error, ERROR_KEYS, '$.error');
    const message = nonEmptyString(error.message, '$.error.message', limits.errorMessageChars);
    if (typeof error.retryable !== 'boolean') fail('$.error.retryable', 'must be a boolean');
    result.error = { message, retryable: error.retryable };
  }
  return result;
}
