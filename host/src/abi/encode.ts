// Builds the JSON text of wr_reconcile/wr_finalize and wr_init inputs (ABI v1 payloads).
//
// Cached objects are spliced in as the exact JSON text the cache holds (ObjectView.json): parsing and
// re-serialising a 5 KB object per call would cost more than the guest call itself, and the guest must
// see what the API server served. Only small host-built parts go through JSON.stringify.

import { WrError } from '../errors.ts';
import { ABI_MAJOR } from './constants.ts';
import type { ObjectView, ReconcileRequest } from './types.ts';

function views(groups: ReadonlyMap<string, readonly ObjectView[]>): string {
  let out = '{';
  let firstGroup = true;
  for (const [key, list] of groups) {
    out += `${firstGroup ? '' : ','}${JSON.stringify(key)}:[`;
    firstGroup = false;
    for (let i = 0; i < list.length; i++) out += i === 0 ? list[i]!.json : `,${list[i]!.json}`;
    out += ']';
  }
  return `${out}}`;
}

/** Picks the declared fields so that nothing else a caller attached to the request leaks to the guest. */
function trigger(t: ReconcileRequest['trigger']): string {
  return JSON.stringify({ reason: t.reason, kind: t.kind, name: t.name, namespace: t.namespace });
}

function reconciler(r: { name: string; namespace?: string | undefined; generation?: number | undefined }): string {
  return JSON.stringify({ name: r.name, namespace: r.namespace, generation: r.generation });
}

/** The input of wr_reconcile and wr_finalize, in the field order docs/abi/v1.md shows. */
export function encodeReconcileInput(request: ReconcileRequest): string {
  return (
    `{"abi":${ABI_MAJOR},"trigger":${trigger(request.trigger)},"reconciler":${reconciler(request.reconciler)}` +
    `,"deleted":${request.deleted ? 'true' : 'false'},"primary":${request.primary.json}` +
    `,"children":${views(request.children)},"related":${views(request.related)}}`
  );
}

/**
 * The input of wr_init. `config` is serialised once per instance, never per call: the guest parses it in
 * init and keeps what it needs, so per-call inputs stay proportional to the objects being reconciled.
 */
export function encodeInitInput(identity: { name: string; namespace?: string | undefined }, config: unknown): string {
  let configJson: string | undefined;
  try {
    configJson = JSON.stringify(config ?? null);
  } catch (cause) {
    throw new WrError('WR_SPEC_INVALID', 'reconciler config is not serialisable as JSON', { cause });
  }
  if (configJson === undefined) throw new WrError('WR_SPEC_INVALID', 'reconciler config is not a JSON value');
  return `{"abi":${ABI_MAJOR},"reconciler":${JSON.stringify({ name: identity.name, namespace: identity.namespace })},"config":${configJson}}`;
}
