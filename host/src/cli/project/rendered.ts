// The project files init renders from the primary kind (the rest are the SDK template's, renamed): its
// CRD when none is given, the sample object and the starter fixture.

import { dump } from 'js-yaml';
import type { Described, Shape } from '../codegen/schema.ts';
import type { KindNames } from './names.ts';

/** The CRD init writes for `--kind`: a `message` in the spec, conditions in the status. */
export function defaultCrd(n: KindNames): string {
  return `# The ${n.kind} custom resource this project reconciles. Add the fields your reconciler needs, then run
# \`npm run generate\` to regenerate assembly/types.ts from this schema.
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${n.plural}.${n.group}
spec:
  group: ${n.group}
  scope: Namespaced
  names: { plural: ${n.plural}, singular: ${n.singular}, kind: ${n.kind}, listKind: ${n.kind}List }
  versions:
    - name: ${n.version}
      served: true
      storage: true
      subresources: { status: {} }
      additionalPrinterColumns:
        - { name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status' }
        - { name: Age, type: date, jsonPath: .metadata.creationTimestamp }
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [message]
              properties:
                message: { type: string, minLength: 1, description: What the ${n.kind}'s ConfigMap holds. }
            status:
              type: object
              properties:
                observedGeneration: { type: integer, format: int64 }
                conditions:
                  type: array
                  x-kubernetes-list-type: map
                  x-kubernetes-list-map-keys: [type]
                  items:
                    type: object
                    required: [type, status]
                    properties:
                      type: { type: string }
                      status: { type: string, enum: ["True", "False", "Unknown"] }
                      reason: { type: string }
                      message: { type: string }
                      lastTransitionTime: { type: string, format: date-time }
                      observedGeneration: { type: integer, format: int64 }
`;
}

/** A value the schema accepts, for samples: defaults first, then the first enum value, then a plain one. */
function sampleValue(shape: Shape, topLevel: boolean): unknown {
  switch (shape.type) {
    case 'string':
      return shape.default ?? shape.enum?.[0] ?? 'hello';
    case 'integer':
      return shape.default ?? shape.enum?.[0] ?? 1;
    case 'number':
      return shape.default ?? 1;
    case 'boolean':
      return shape.default ?? false;
    case 'array':
      return [];
    case 'map':
    case 'raw':
      return {};
    case 'object':
      // Required fields, plus the spec's own optional strings: the starter reconciler copies those.
      return Object.fromEntries(
        shape.fields
          .filter((f) => f.required || (topLevel && f.shape.type === 'string'))
          .map((f) => [f.name, sampleValue(f.shape, false)]),
      );
  }
}

/** A spec for the sample object and the fixture's primary. */
export function sampleSpec(spec: Described | undefined): Record<string, unknown> {
  const value = spec === undefined ? {} : sampleValue(spec.shape, true);
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** The ConfigMap data the starter reconciler writes for `spec`: its top-level string fields. */
function expectedData(spec: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(spec).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

function yaml(value: unknown): string {
  return dump(value, { lineWidth: 120, noRefs: true, quoteStyle: 'double' });
}

export function sampleObject(n: KindNames, namespace: string, spec: Record<string, unknown>): string {
  return `# A ${n.kind} to try the reconciler with: kubectl apply -f sample.yaml (dev --local applies it for you).
${yaml({ apiVersion: `${n.group}/${n.version}`, kind: n.kind, metadata: { name: 'hello', namespace }, spec })}`;
}

export function starterFixture(n: KindNames, namespace: string, spec: Record<string, unknown>): string {
  const fixture = {
    reconciler: '../wasmreconciler.yaml',
    trigger: { reason: 'created' },
    primary: {
      apiVersion: `${n.group}/${n.version}`,
      kind: n.kind,
      metadata: { name: 'hello', namespace, uid: '3f1f7c52-9d0e-4a51-8d8c-1b0e6f1d2a01', generation: 1 },
      spec,
    },
    expect: {
      children: [
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: `hello-${n.singular}`, labels: { 'app.kubernetes.io/name': 'hello' } },
          data: expectedData(spec),
        },
      ],
      noOtherChildren: true,
      status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Rendered' }] },
    },
  };
  return `# A new ${n.kind} gets a ConfigMap holding the string fields of its spec, and is marked Ready.
# \`npm test\` runs every fixture here offline; expectations match partially (docs/cli.md, "Fixtures").
${yaml(fixture)}`;
}
