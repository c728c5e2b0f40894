// Builds ObjectViews from plain objects for unit tests, the way the cache serves them (text plus lazy parse).

import type { KubeObject, ObjectView } from '../types.ts';

export function objectView(object: KubeObject): ObjectView {
  const json = JSON.stringify(object);
  let parsed: KubeObject | undefined;
  return {
    json,
    object() {
      parsed ??= JSON.parse(json) as KubeObject;
      return parsed;
    },
  };
}
