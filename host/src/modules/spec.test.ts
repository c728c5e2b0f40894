// Tests WasmReconciler parsing: defaults, every source shape, and that each bad field is reported by path.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { loadYaml, type V1CustomResourceDefinition, type V1JSONSchemaProps } from '@kubernetes/client-node';
import { DEFAULT_LIMITS } from '../abi/constants.ts';
import { isWrError } from '../errors.ts';
import { INLINE_MAX_BASE64_CHARS, LIMIT_RANGES, parseReconcilerSpec, SPEC_BOUNDS, type SpecIssue } from './spec.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'b'.repeat(64)}`;

function wr(spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'wasmreconciler.dev/v1alpha1',
    kind: 'WasmReconciler',
    metadata: { name: 'config-sync', namespace: 'edge', uid: 'u-1', generation: 3, ...metadata },
    spec: { for: { apiVersion: 'example.com/v1', kind: 'App' }, module: { inline: 'AGFzbQEAAAA=' }, ...spec },
  };
}

/** The issues of a rejected object (asserting it was rejected with WR_SPEC_INVALID). */
function issues(obj: unknown): SpecIssue[] {
  try {
    parseReconcilerSpec(obj);
  } catch (err) {
    assert.ok(isWrError(err, 'WR_SPEC_INVALID'), String(err));
    const list = err.details?.issues as SpecIssue[];
    assert.equal(err.details?.path, list[0]?.path);
    return list;
  }
  assert.fail('expected WR_SPEC_INVALID');
}

function paths(obj: unknown): string[] {
  return issues(obj).map((i) => i.path);
}

describe('valid objects', () => {
  test('a minimal spec gets every default', () => {
    const s = parseReconcilerSpec(wr({}));
    assert.equal(s.name, 'config-sync');
    assert.equal(s.namespace, 'edge');
    assert.equal(s.uid, 'u-1');
    assert.equal(s.generation, 3);
    assert.deepEqual(s.for, {
      apiVersion: 'example.com/v1',
      group: 'example.com',
      version: 'v1',
      kind: 'App',
      namespaces: [],
      labelSelector: undefined,
    });
    assert.deepEqual(s.owns, []);
    assert.deepEqual(s.config, {});
    assert.equal(s.suspend, false);
    assert.equal(s.maxConcurrentReconciles, 1);
    assert.equal(s.resyncPeriodSeconds, 0);
    assert.deepEqual(s.limits, {
      moduleBytes: DEFAULT_LIMITS.moduleBytes,
      memoryPages: DEFAULT_LIMITS.memoryPages,
      fuel: DEFAULT_LIMITS.fuel,
      inputBytes: DEFAULT_LIMITS.inputBytes,
      outputBytes: DEFAULT_LIMITS.outputBytes,
    });
    assert.deepEqual(s.module, { type: 'inline', base64: 'AGFzbQEAAAA=', digest: undefined });
  });

  test('a full spec parses into typed fields', () => {
    const s = parseReconcilerSpec(
      wr({
        for: {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          namespaces: ['a', 'b'],
          labelSelector: {
            matchLabels: { 'app.kubernetes.io/part-of': 'edge' },
            matchExpressions: [
              { key: 'tier', operator: 'In', values: ['web'] },
              { key: 'x', operator: 'Exists' },
            ],
          },
        },
        owns: [{ apiVersion: 'v1', kind: 'ConfigMap' }],
        related: [{ apiVersion: 'v1', kind: 'Secret', labelSelector: { matchLabels: { role: 'cfg' } } }],
        permissions: [{ apiVersion: 'v1', kind: 'Node', verbs: ['get', 'list'] }],
        config: { greeting: 'hi' },
        limits: { fuel: 5000, memoryPages: 16 },
        suspend: true,
        maxConcurrentReconciles: 4,
        resyncPeriodSeconds: 600,
      }),
    );
    assert.equal(s.for.group, 'apps');
    assert.deepEqual(s.for.namespaces, ['a', 'b']);
    assert.deepEqual(s.for.labelSelector?.matchExpressions[1], { key: 'x', operator: 'Exists', values: [] });
    assert.deepEqual(s.owns[0], { apiVersion: 'v1', group: '', version: 'v1', kind: 'ConfigMap' });
    assert.deepEqual(s.related[0]?.labelSelector?.matchLabels, { role: 'cfg' });
    assert.deepEqual(s.permissions[0]?.verbs, ['get', 'list']);
    assert.deepEqual(s.config, { greeting: 'hi' });
    assert.equal(s.limits.fuel, 5000);
    assert.equal(s.limits.memoryPages, 16);
    assert.equal(s.limits.moduleBytes, DEFAULT_LIMITS.moduleBytes);
    assert.equal(s.suspend, true);
    assert.equal(s.maxConcurrentReconciles, 4);
    assert.equal(s.resyncPeriodSeconds, 600);
  });

  test('each source kind', () => {
    const cm = parseReconcilerSpec(wr({ module: { configMap: { name: 'mods', key: 'app.wasm' } } })).module;
    assert.deepEqual(cm, { type: 'configMap', namespace: 'edge', name: 'mods', key: 'app.wasm', digest: undefined });
    const url = parseReconcilerSpec(wr({ module: { url: 'https://mods.example/a.wasm', digest: DIGEST } })).module;
    assert.deepEqual(url, { type: 'url', url: 'https://mods.example/a.wasm', digest: DIGEST });
    const pinned = parseReconcilerSpec(wr({ module: { oci: { reference: `ghcr.io/o/m@${DIGEST}` } } })).module;
    assert.equal(pinned.type, 'oci');
    assert.equal(pinned.type === 'oci' && pinned.digest, DIGEST);
    const tagged = parseReconcilerSpec(
      wr({ module: { oci: { reference: 'ghcr.io/o/m:v1', pullSecret: { name: 'pull' } }, digest: OTHER } }),
    ).module;
    assert.ok(tagged.type === 'oci');
    assert.equal(tagged.digest, OTHER);
    assert.equal(tagged.reference.tag, 'v1');
    assert.deepEqual(tagged.pullSecret, { namespace: 'edge', name: 'pull' });
  });

  test('limits above the host ceiling: defaults are lowered, explicit values rejected', () => {
    const s = parseReconcilerSpec(wr({}), { ceilings: { fuel: 1000 } });
    assert.equal(s.limits.fuel, 1000);
    assert.throws(
      () => parseReconcilerSpec(wr({ limits: { fuel: 2000 } }), { ceilings: { fuel: 1000 } }),
      (err: unknown) => isWrError(err, 'WR_SPEC_INVALID') && err.details?.path === 'spec.limits.fuel',
    );
    assert.equal(parseReconcilerSpec(wr({ limits: { fuel: 2000 } })).limits.fuel, 2000);
  });
});

describe('invalid objects are reported by JSON path', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['no source', { module: {} }, 'spec.module'],
    ['two sources', { module: { inline: 'AGFzbQEAAAA=', url: 'https://x/y', digest: DIGEST } }, 'spec.module'],
    ['url over http', { module: { url: 'http://x/y.wasm', digest: DIGEST } }, 'spec.module.url'],
    ['url without digest', { module: { url: 'https://x/y.wasm' } }, 'spec.module.digest'],
    ['url with credentials', { module: { url: 'https://u:p@x/y.wasm', digest: DIGEST } }, 'spec.module.url'],
    ['uppercase digest', { module: { url: 'https://x/y', digest: `sha256:${'A'.repeat(64)}` } }, 'spec.module.digest'],
    ['oci without digest', { module: { oci: { reference: 'ghcr.io/o/m:v1' } } }, 'spec.module.digest'],
    [
      'oci digests disagree',
      { module: { oci: { reference: `ghcr.io/o/m@${DIGEST}` }, digest: OTHER } },
      'spec.module.digest',
    ],
    [
      'oci bad reference',
      { module: { oci: { reference: 'ghcr.io/O/M' }, digest: DIGEST } },
      'spec.module.oci.reference',
    ],
    ['oci sha512', { module: { oci: { reference: `r.io/m@sha512:${'a'.repeat(128)}` } } }, 'spec.module.oci.reference'],
    ['inline not base64', { module: { inline: 'not base64!' } }, 'spec.module.inline'],
    ['configMap without key', { module: { configMap: { name: 'x' } } }, 'spec.module.configMap.key'],
    ['kind missing', { for: { apiVersion: 'v1' } }, 'spec.for.kind'],
    ['bad apiVersion', { for: { apiVersion: 'a/b/c', kind: 'X' } }, 'spec.for.apiVersion'],
    ['empty group', { for: { apiVersion: '/v1', kind: 'X' } }, 'spec.for.apiVersion'],
    ['bad owned kind', { owns: [{ apiVersion: 'v1', kind: 'Config-Map' }] }, 'spec.owns[0].kind'],
    [
      'duplicate owned kind',
      {
        owns: [
          { apiVersion: 'v1', kind: 'ConfigMap' },
          { apiVersion: 'v1', kind: 'ConfigMap' },
        ],
      },
      'spec.owns[1]',
    ],
    ['bad namespace', { for: { apiVersion: 'v1', kind: 'Pod', namespaces: ['Bad_NS'] } }, 'spec.for.namespaces[0]'],
    [
      'In without values',
      { for: { apiVersion: 'v1', kind: 'Pod', labelSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } } },
      'spec.for.labelSelector.matchExpressions[0].values',
    ],
    [
      'bad label value',
      { related: [{ apiVersion: 'v1', kind: 'Secret', labelSelector: { matchLabels: { a: 'has space' } } }] },
      'spec.related[0].labelSelector.matchLabels["a"]',
    ],
    [
      'unknown verb',
      { permissions: [{ apiVersion: 'v1', kind: 'Node', verbs: ['delete'] }] },
      'spec.permissions[0].verbs[0]',
    ],
    ['no verbs', { permissions: [{ apiVersion: 'v1', kind: 'Node' }] }, 'spec.permissions[0].verbs'],
    ['limit out of range', { limits: { memoryPages: 0 } }, 'spec.limits.memoryPages'],
    ['limit not an integer', { limits: { fuel: 1.5 } }, 'spec.limits.fuel'],
    ['resync too short', { resyncPeriodSeconds: 5 }, 'spec.resyncPeriodSeconds'],
    ['config not an object', { config: [1] }, 'spec.config'],
    ['too many owns', { owns: Array.from({ length: 33 }, () => ({ apiVersion: 'v1', kind: 'A' })) }, 'spec.owns'],
  ];
  for (const [name, spec, path] of cases) {
    test(name, () => assert.deepEqual(paths(wr(spec)), [path]));
  }

  test('envelope problems', () => {
    assert.deepEqual(paths(null), ['']);
    assert.deepEqual(paths({ ...wr({}), apiVersion: 'wasmreconciler.dev/v1' }), ['apiVersion']);
    assert.deepEqual(paths(wr({}, { namespace: undefined })), ['metadata.namespace']);
    assert.deepEqual(paths({ ...wr({}), spec: 'x' }), ['spec']);
  });

  test('several problems are all reported, bounded', () => {
    const many = wr({ module: {}, limits: { fuel: -1, memoryPages: 0 }, suspend: 'yes' });
    assert.deepEqual(paths(many).sort(), [
      'spec.limits.fuel',
      'spec.limits.memoryPages',
      'spec.module',
      'spec.suspend',
    ]);
    const flood = wr({
      for: { apiVersion: 'v1', kind: 'Pod', namespaces: Array.from({ length: 100 }, () => 'UPPER') },
    });
    assert.equal(issues(flood).length, 20);
  });
});

describe('deploy/crd/wasmreconciler.yaml mirrors the parser', () => {
  // loadYaml returns the typed model, where the schema keyword `default` is the field `_default`.
  const crd = loadYaml<V1CustomResourceDefinition>(
    readFileSync(path.join(import.meta.dirname, '../../../deploy/crd/wasmreconciler.yaml'), 'utf8'),
  );
  const spec = crd.spec.versions[0]?.schema?.openAPIV3Schema?.properties?.spec;
  const prop = (s: V1JSONSchemaProps | undefined, key: string): V1JSONSchemaProps => {
    const p = s?.properties?.[key];
    assert.ok(p, key);
    return p;
  };

  test('limit defaults and ranges', () => {
    const limits = prop(spec, 'limits');
    for (const [key, [min, max]] of Object.entries(LIMIT_RANGES)) {
      const field = prop(limits, key);
      assert.deepEqual(
        [field.minimum, field.maximum, field._default],
        [min, max, DEFAULT_LIMITS[key as keyof typeof LIMIT_RANGES]],
        key,
      );
    }
  });

  test('list and size bounds', () => {
    assert.equal(prop(prop(spec, 'module'), 'inline').maxLength, INLINE_MAX_BASE64_CHARS);
    assert.equal(prop(spec, 'owns').maxItems, SPEC_BOUNDS.owns);
    assert.equal(prop(spec, 'related').maxItems, SPEC_BOUNDS.related);
    assert.equal(prop(spec, 'permissions').maxItems, SPEC_BOUNDS.permissions);
    assert.equal(prop(spec, 'maxConcurrentReconciles').maximum, SPEC_BOUNDS.maxConcurrentReconciles);
    assert.equal(prop(spec, 'resyncPeriodSeconds').maximum, SPEC_BOUNDS.resyncPeriodSeconds);
  });
});
