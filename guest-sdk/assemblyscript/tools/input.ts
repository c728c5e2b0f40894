// Guest inputs for tests, from plain objects, encoded by the host's own encoder (the text production sends).

import {
  encodeInitInput,
  encodeReconcileInput,
  type KubeObject,
  type ReconcileOutput,
  type TriggerReason,
} from '@wasm-reconciler/host/abi';

export type { KubeObject, ReconcileOutput, TriggerReason };

export interface ReconcileInputOptions {
  /** The object being reconciled (its last known state when `deleted`). */
  primary: KubeObject;
  /** Owned children as observed; grouped by apiVersion and kind the way the host groups them. */
  children?: readonly KubeObject[];
  /** Declared related objects, grouped likewise. */
  related?: readonly KubeObject[];
  /** Default `updated`. */
  trigger?: { reason: TriggerReason; kind?: string; name?: string; namespace?: string };
  deleted?: boolean;
  /** Default `{ name: 'test' }`. */
  reconciler?: { name: string; namespace?: string; generation?: number };
}

interface View {
  readonly json: string;
  object(): KubeObject;
}

function view(object: KubeObject): View {
  const json = JSON.stringify(object);
  return { json, object: () => JSON.parse(json) as KubeObject };
}

function group(objects: readonly KubeObject[] = []): Map<string, View[]> {
  const groups = new Map<string, View[]>();
  for (const o of objects) {
    const key = `${o.apiVersion}/${o.kind}`;
    groups.set(key, [...(groups.get(key) ?? []), view(o)]);
  }
  return groups;
}

/** The JSON text wr_reconcile (or wr_finalize) receives for this situation. */
export function reconcileInput(options: ReconcileInputOptions): string {
  return encodeReconcileInput({
    trigger: options.trigger ?? { reason: 'updated' },
    reconciler: options.reconciler ?? { name: 'test' },
    primary: view(options.primary),
    deleted: options.deleted ?? false,
    children: group(options.children),
    related: group(options.related),
  });
}

/** The JSON text wr_init receives for `config`. */
export function initInput(
  config: unknown,
  reconciler: { name: string; namespace?: string } = { name: 'test' },
): string {
  return encodeInitInput(reconciler, config);
}
