// Builds API server URL paths and query strings for a resource, an object or one of its subresources.

import { WrError } from '../errors.ts';
import type { GroupVersionKind } from './gvk.ts';

/** A resource as discovery describes it: everything needed to build its paths. */
export interface ApiResource extends GroupVersionKind {
  /** The lower-case plural used in URLs, e.g. "configmaps". */
  readonly plural: string;
  readonly namespaced: boolean;
}

/** False for path segments the API server would reject or reinterpret (empty, `.`, `..`, `/`, `%`, spaces). */
export function isPathSegment(value: string): boolean {
  return value.length > 0 && value.length <= 253 && value !== '.' && value !== '..' && !/[/%\s]/.test(value);
}

/** Path segments the API server would reject or reinterpret; caught here with a typed error instead. */
function checkSegment(what: string, value: string): string {
  if (!isPathSegment(value)) {
    throw new WrError('WR_KUBE_INVALID', `${what} ${JSON.stringify(value.slice(0, 64))} is not a valid path segment`);
  }
  return encodeURIComponent(value);
}

/** "/api/v1" or "/apis/apps/v1": where a group version lives and is discovered. */
export function groupVersionPath(gv: { group: string; version: string }): string {
  return gv.group === ''
    ? `/api/${checkSegment('version', gv.version)}`
    : `/apis/${checkSegment('group', gv.group)}/${checkSegment('version', gv.version)}`;
}

/** The collection URL; a namespaced resource without a namespace means "across all namespaces". */
export function collectionPath(res: ApiResource, namespace?: string): string {
  const ns =
    res.namespaced && namespace !== undefined && namespace !== ''
      ? `/namespaces/${checkSegment('namespace', namespace)}`
      : '';
  return `${groupVersionPath(res)}${ns}/${checkSegment('resource', res.plural)}`;
}

export function objectPath(
  res: ApiResource,
  namespace: string | undefined,
  name: string,
  subresource?: string,
): string {
  if (res.namespaced && (namespace === undefined || namespace === '')) {
    throw new WrError('WR_KUBE_INVALID', `${res.kind} ${JSON.stringify(name)} is namespaced but has no namespace`);
  }
  const sub = subresource === undefined ? '' : `/${checkSegment('subresource', subresource)}`;
  return `${collectionPath(res, namespace)}/${checkSegment('name', name)}${sub}`;
}

export type QueryValue = string | number | boolean | undefined;

/** Undefined values are left out, so callers can pass optional settings straight through. */
export function withQuery(path: string, params: Readonly<Record<string, QueryValue>>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) search.append(key, String(value));
  }
  const text = search.toString();
  return text === '' ? path : `${path}?${text}`;
}
