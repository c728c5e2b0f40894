// Cache reads on behalf of a guest: the request grammar of `get`/`list` and the one place answers are made.
//
// The request is parsed where the guest runs (a worker thread), so a flood of malformed requests never
// reaches the thread that owns the cache; the answer is made where the cache lives (the main thread), by
// `answerRead`, for in-process and worker-hosted instances alike.

import { Buffer } from 'node:buffer';
import { HOST_STATUS } from '../../abi/constants.ts';
import { parseLabelSelector } from '../../cache/label-selector.ts';
import { isWrError } from '../../errors.ts';
import type { ListQuery, ObjectRef, ReadPort } from '../ports.ts';

export type ReadKind = 'get' | 'list';

/** A parsed request; `labelSelector` stays text so the request can cross a thread boundary as JSON. */
export interface ReadRequest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string;
  /** `get` only. */
  readonly name?: string;
  /** `list` only; already checked against the Kubernetes grammar. */
  readonly labelSelector?: string;
}

/** What the host hands back: a negative HOST_STATUS, or OK with the result text. */
export interface ReadAnswer {
  readonly status: number;
  /** The result (an object, or a JSON array for list); empty unless status is OK. */
  readonly text: string;
  /** UTF-8 length of `text`, or of the result that was too large to hand over. */
  readonly bytes: number;
  /** Cached objects the lookup had to consider: what a list costs whether it matches or not. */
  readonly scanned: number;
}

/** An answer as the guest's side receives it: the result as UTF-8 bytes. */
export interface GuestReadResult {
  readonly status: number;
  readonly bytes: number;
  readonly scanned: number;
  /** The result's UTF-8 bytes, present when status is OK. */
  readonly data: Uint8Array | undefined;
}

/** Answers one read; the reader of a guest's `get`/`list` imports. */
export type GuestReads = (kind: ReadKind, request: ReadRequest) => GuestReadResult;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** The request a guest sent, or undefined when it is malformed (the guest sees INVALID_ARGUMENT). */
export function parseReadRequest(kind: ReadKind, value: unknown): ReadRequest | undefined {
  if (!isRecord(value) || !nonEmpty(value.apiVersion) || !nonEmpty(value.kind)) return;
  if (value.namespace !== undefined && !nonEmpty(value.namespace)) return;
  const base = {
    apiVersion: value.apiVersion,
    kind: value.kind,
    ...(value.namespace === undefined ? {} : { namespace: value.namespace }),
  };
  if (kind === 'get') return nonEmpty(value.name) ? { ...base, name: value.name } : undefined;
  const selector = value.labelSelector;
  if (selector === undefined || selector === '') return base;
  if (typeof selector !== 'string') return;
  try {
    parseLabelSelector(selector);
  } catch (err) {
    if (isWrError(err, 'WR_SELECTOR_INVALID')) return;
    throw err;
  }
  return { ...base, labelSelector: selector };
}

const EMPTY = { text: '', bytes: 0, scanned: 1 };

/** Serves one parsed request from `port`; results over `resultBytes` are measured but never built. */
export function answerRead(port: ReadPort, kind: ReadKind, request: ReadRequest, resultBytes: number): ReadAnswer {
  try {
    if (kind === 'get') {
      const ref: ObjectRef = {
        apiVersion: request.apiVersion,
        kind: request.kind,
        name: request.name!,
        ...(request.namespace === undefined ? {} : { namespace: request.namespace }),
      };
      const found = port.get(ref);
      if (found === undefined) return { status: HOST_STATUS.NOT_FOUND, ...EMPTY };
      const bytes = Buffer.byteLength(found, 'utf8');
      if (bytes > resultBytes) return { status: HOST_STATUS.TOO_LARGE, text: '', bytes, scanned: 1 };
      return { status: HOST_STATUS.OK, text: found, bytes, scanned: 1 };
    }
    const query: ListQuery = {
      apiVersion: request.apiVersion,
      kind: request.kind,
      ...(request.namespace === undefined ? {} : { namespace: request.namespace }),
      ...(request.labelSelector === undefined ? {} : { labelSelector: parseLabelSelector(request.labelSelector) }),
    };
    const { items, scanned } = port.list(query);
    // Sum before joining so an oversized list never gets concatenated.
    let bytes = 2 + Math.max(items.length - 1, 0);
    for (const item of items) bytes += Buffer.byteLength(item, 'utf8');
    if (bytes > resultBytes) return { status: HOST_STATUS.TOO_LARGE, text: '', bytes, scanned };
    return { status: HOST_STATUS.OK, text: `[${items.join(',')}]`, bytes, scanned };
  } catch (err) {
    if (isWrError(err, 'WR_CAPABILITY_DENIED')) return { status: HOST_STATUS.DENIED, ...EMPTY };
    throw err;
  }
}

/** Reads answered on the calling thread: for instances that run where the cache lives (tests, tools). */
export function localReads(port: ReadPort, resultBytes: number): GuestReads {
  const encoder = new TextEncoder();
  return (kind, request) => {
    const answer = answerRead(port, kind, request, resultBytes);
    return { ...answer, data: answer.status === HOST_STATUS.OK ? encoder.encode(answer.text) : undefined };
  };
}
