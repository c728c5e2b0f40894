// Names of API groups, versions and kinds: the one place the host splits an apiVersion or keys a kind.

import { WrError } from '../errors.ts';

export interface GroupVersionKind {
  /** "" for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

/** A kind as the host watches it; `namespaced` comes from discovery. */
export interface KindRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/** The group part of an apiVersion: 'apps/v1' -> 'apps', 'v1' -> '' (the core group). */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash === -1 ? '' : apiVersion.slice(0, slash);
}

/** The key of a kind in ReconcileInput.children/related and in scopes: "apiVersion/kind" ("apps/v1/Deployment"). */
export function kindKey(apiVersion: string, kind: string): string {
  return `${apiVersion}/${kind}`;
}

/** Identity across versions: the same object is served as apps/v1 and apps/v1beta2, so group + kind decide. */
export function groupKind(apiVersion: string, kind: string): string {
  return `${kind}.${groupOf(apiVersion)}`;
}

export function parseApiVersion(apiVersion: string): { group: string; version: string } {
  const parts = apiVersion.split('/');
  if (parts.length === 1 && parts[0] !== '') return { group: '', version: parts[0]! };
  if (parts.length === 2 && parts[0] !== '' && parts[1] !== '') return { group: parts[0]!, version: parts[1]! };
  throw new WrError('WR_KUBE_INVALID', `apiVersion ${JSON.stringify(apiVersion)} is not "version" or "group/version"`);
}

export function apiVersionOf(gv: { group: string; version: string }): string {
  return gv.group === '' ? gv.version : `${gv.group}/${gv.version}`;
}

export function gvkOf(obj: { apiVersion?: unknown; kind?: unknown }): GroupVersionKind {
  if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string' || obj.kind === '') {
    throw new WrError('WR_KUBE_INVALID', 'object lacks apiVersion or kind');
  }
  return { ...parseApiVersion(obj.apiVersion), kind: obj.kind };
}
