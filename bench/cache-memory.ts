// Measures cache memory for N objects: heap bytes per cached ConfigMap against its transformed JSON size.
// Run with `node --expose-gc bench/cache-memory.ts` (without the flag it enables gc itself).

import { createStore } from '../host/src/cache/index.ts';
import { type BenchResult, gcFunction, main, median, round } from './lib.ts';

const OBJECTS = 10_000;
const NAMESPACES = 20;
const ROUNDS = 3;

/**
 * A ConfigMap as a real API server serves it after `kubectl apply`: managedFields and the last-applied
 * annotation (both dropped by the cache's transform), a few labels, an owner reference and ~700 B of data.
 */
function apiServerText(i: number): string {
  const namespace = `team-${i % NAMESPACES}`;
  const name = `app-config-${i.toString(36).padStart(6, '0')}`;
  const labels = {
    'app.kubernetes.io/name': `app-${i % 97}`,
    'app.kubernetes.io/part-of': `system-${i % 7}`,
    'app.kubernetes.io/managed-by': 'wasm-reconciler',
    tier: i % 2 === 0 ? 'frontend' : 'backend',
  };
  const data: Record<string, string> = {};
  for (let k = 0; k < 6; k++) data[`setting-${k}.properties`] = `key.${k}=${'v'.repeat(80)}-${i}-${k}\nenabled=true`;
  const spec = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels }, data };
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace,
      uid: `8c1f${i.toString(16).padStart(4, '0')}-5b7e-4d2a-9f3c-1e2d3c4b5a69`,
      resourceVersion: String(100_000 + i),
      creationTimestamp: '2025-01-01T00:00:00Z',
      labels,
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(spec),
        'example.com/checksum': `sha256:${'ab'.repeat(32)}`,
      },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          name: `app-${i % 97}`,
          uid: `0d9e${(i % 97).toString(16).padStart(4, '0')}-1111-2222-3333-444455556666`,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [
        {
          manager: 'kubectl-client-side-apply',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2025-01-01T00:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:data': Object.fromEntries(Object.keys(data).map((k) => [`f:${k}`, {}])),
            'f:metadata': {
              'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {} },
              'f:labels': Object.fromEntries(Object.keys(labels).map((k) => [`f:${k}`, {}])),
            },
          },
        },
      ],
    },
    data,
  });
}

interface Sample {
  bytesPerObject: number;
  transformedChars: number;
  rawChars: number;
}

/** Heap growth from an empty store to one holding OBJECTS objects, written as a watch would write them. */
function measure(gc: () => void): Sample {
  let rawChars = 0;
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const { reader, writer } = createStore();
  const resync = writer.resync();
  for (let i = 0; i < OBJECTS; i++) {
    // The text is built and parsed per object, as the watcher parses each list item off the wire.
    const text = apiServerText(i);
    rawChars += text.length;
    resync.add(JSON.parse(text));
  }
  resync.commit();
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  const sample = {
    bytesPerObject: (after - before) / OBJECTS,
    transformedChars: reader.jsonChars / OBJECTS,
    rawChars: rawChars / OBJECTS,
  };
  // Keeps the store reachable until after the second measurement.
  if (reader.size !== OBJECTS) throw new Error(`store holds ${reader.size} objects, expected ${OBJECTS}`);
  return sample;
}

export async function run(): Promise<BenchResult[]> {
  const gc = gcFunction();
  const samples = Array.from({ length: ROUNDS }, () => measure(gc));
  const perObject = Math.round(median(samples.map((s) => s.bytesPerObject)));
  const transformed = Math.round(samples[0]!.transformedChars);
  const raw = Math.round(samples[0]!.rawChars);
  const ratio = round(perObject / transformed, 2);
  const note = `${OBJECTS / 1000}k ConfigMaps in ${NAMESPACES} namespaces, median of ${ROUNDS}`;
  return [
    { name: 'cache/heap-per-object', value: perObject, unit: 'B/obj', note },
    { name: 'cache/transformed-json', value: transformed, unit: 'B/obj', note: `as served: ${raw} B/obj` },
    {
      name: 'cache/heap-vs-json',
      value: ratio,
      unit: 'x',
      note: 'heap bytes per object / transformed JSON bytes',
    },
  ];
}

await main(import.meta, run);
