// The cache's object transform: drops fields no reconciler reads but that dominate object size.

import type { KubeObject } from '../abi/types.ts';

export type Transform = (obj: KubeObject) => KubeObject;

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Removes metadata.managedFields and kubectl's last-applied annotation, which together are often larger
 * than the rest of the object. Mutates and returns `obj` (the cache owns the freshly parsed object).
 */
export function stripBulkyFields(obj: KubeObject): KubeObject {
  const metadata = obj.metadata;
  if (metadata === undefined || metadata === null) return obj;
  delete metadata.managedFields;
  const annotations = metadata.annotations;
  if (annotations !== undefined && annotations !== null && LAST_APPLIED_ANNOTATION in annotations) {
    delete annotations[LAST_APPLIED_ANNOTATION];
    if (Object.keys(annotations).length === 0) delete metadata.annotations;
  }
  return obj;
}

/** The default transform followed by the caller's own, so callers cannot forget the default. */
export function withDefaultTransform(extra: Transform | undefined): Transform {
  return extra === undefined ? stripBulkyFields : (obj) => extra(stripBulkyFields(obj));
}
