// The ClusterWasmReconciler CRD is derived from the WasmReconciler CRD: the committed file must be what the
// generator writes, so the two kinds can never accept different specs (one parser reads both).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { load } from 'js-yaml';
import { CLUSTER_CRD, clusterCrdText, NAMESPACED_CRD } from '../../deploy/crd/generate.ts';

test('deploy/crd/clusterwasmreconciler.yaml is up to date (npm run crd:generate)', () => {
  assert.equal(readFileSync(CLUSTER_CRD, 'utf8'), clusterCrdText());
});

test('the two CRDs differ only in names, scope and the descriptions of the kind', () => {
  const strip = (file: string) => {
    const crd = load(readFileSync(file, 'utf8')) as {
      metadata: unknown;
      spec: { scope?: string; names?: unknown; versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] };
    };
    const spec = { ...crd.spec, scope: undefined, names: undefined };
    spec.versions = spec.versions.map((v) => {
      const schema = { ...v.schema.openAPIV3Schema, description: undefined } as Record<string, unknown>;
      schema.properties = { ...(schema.properties as object), kind: undefined };
      return { ...v, schema: { openAPIV3Schema: schema } };
    });
    return spec;
  };
  const namespaced = load(readFileSync(NAMESPACED_CRD, 'utf8')) as { spec: { scope: string } };
  const cluster = load(readFileSync(CLUSTER_CRD, 'utf8')) as { spec: { scope: string } };
  assert.equal(namespaced.spec.scope, 'Namespaced');
  assert.equal(cluster.spec.scope, 'Cluster');
  assert.deepEqual(strip(CLUSTER_CRD), strip(NAMESPACED_CRD));
});
