// Tests WasmReconciler parsing: defaults, every source shape, and that each bad field is reported by path.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { loadYaml, type V1CustomResourceDefinition, type V1JSONSchemaProps } from '@kubernetes/client-node';
import { DEFAULT_LIMITS } from '../abi/constants.ts';
import { isWrError } from '../errors.ts';
import { deadlineForFuel, resolveLimits } from '../runtime/limits.ts';
import {
  DEFAULTED_LIMIT_KEYS,
  INLINE_MAX_BASE64_CHARS,
  LIMIT_BOUNDS,
  parseReconcilerSpec,
  SPEC_BOUNDS,
  SPEC_LIMIT_KEYS,
  type SpecIssue,
  type SpecLimitKey,
} from './spec.ts';

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

/** A ClusterWasmReconciler: the same spec, no namespace. */
function cwr(spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): Record<string, unknown> {
  const object = wr(spec, metadata) as { kind: string; metadata: Record<string, unknown> };
  object.kind = 'ClusterWasmReconciler';
  delete object.metadata.namespace;
  return object;
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
    assert.equal(s.scope, 'Namespaced');
    assert.equal(s.name, 'config-sync');
    assert.equal(s.namespace, 'edge');
    assert.equal(s.uid, 'u-1');
    assert.equal(s.generation, 3);
    assert.deepEqual(s.for, {
      apiVersion: 'example.com/v1',
      group: 'example.com',
      version: 'v1',
      kind: 'App',
      // A namespaced WasmReconciler's primaries are those of its own namespace, written out for every consumer.
      namespaces: ['edge'],
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
      cwr({
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
    assert.equal(s.scope, 'Cluster');
    assert.equal(s.namespace, undefined);
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

describe('spec.limits', () => {
  /** The smallest value the spec allows for `key`. */
  const least = (key: SpecLimitKey): number => LIMIT_BOUNDS[key]?.min ?? 1;
  const defaults = Object.fromEntries(DEFAULTED_LIMIT_KEYS.map((k) => [k, DEFAULT_LIMITS[k]]));

  /** The WR_SPEC_INVALID error for `limits`, asserting it names `spec.limits.<key>` first. */
  function rejected(limits: Record<string, unknown>, key: string): { message: string; issues: SpecIssue[] } {
    try {
      parseReconcilerSpec(wr({ limits }));
    } catch (err) {
      assert.ok(isWrError(err, 'WR_SPEC_INVALID'), String(err));
      assert.equal(err.details?.path, `spec.limits.${key}`, err.message);
      assert.ok(err.message.startsWith(`spec.limits.${key}: `), err.message);
      return { message: err.message, issues: err.details?.issues as SpecIssue[] };
    }
    assert.fail(`expected ${JSON.stringify(limits)} to be rejected`);
  }

  for (const key of SPEC_LIMIT_KEYS) {
    test(`accepts ${key}`, () => {
      const value = least(key) + 1;
      assert.deepEqual(parseReconcilerSpec(wr({ limits: { [key]: value } })).limits, { ...defaults, [key]: value });
      // What the manager hands to ModuleSlot.load: the runtime takes it as it stands.
      assert.equal(resolveLimits(parseReconcilerSpec(wr({ limits: { [key]: value } })).limits)[key], value);
    });

    test(`rejects bad ${key} values, naming the field`, () => {
      for (const bad of [least(key) - 1, -5, 1.5, '4096', null, true, 2 ** 53, Number.MAX_SAFE_INTEGER]) {
        const { message, issues: list } = rejected({ [key]: bad }, key);
        assert.equal(list.length, 1, message);
        assert.match(message, /must be (an integer|at least|at most)/);
      }
    });
  }

  test('every limit at once', () => {
    const all = Object.fromEntries(SPEC_LIMIT_KEYS.map((k) => [k, least(k) + 7]));
    assert.deepEqual(parseReconcilerSpec(wr({ limits: all })).limits, all);
  });

  test('deadlineMs is left unset so the runtime derives it from fuel', () => {
    const limits = parseReconcilerSpec(wr({ limits: { fuel: 2_000_000_000 } })).limits;
    assert.equal(limits.deadlineMs, undefined);
    assert.equal(resolveLimits(limits).deadlineMs, deadlineForFuel(2_000_000_000));
    assert.equal(resolveLimits(parseReconcilerSpec(wr({})).limits).deadlineMs, deadlineForFuel(DEFAULT_LIMITS.fuel));
    const set = parseReconcilerSpec(wr({ limits: { fuel: 2_000_000_000, deadlineMs: 200 } })).limits;
    assert.equal(resolveLimits(set).deadlineMs, 200);
  });

  test('the runtime ceilings apply, with the range in the message', () => {
    assert.match(rejected({ fuel: 2 ** 31 }, 'fuel').message, /from 1 to 2147483647/);
    assert.match(rejected({ memoryPages: 65_537 }, 'memoryPages').message, /from 1 to 65536/);
    assert.match(rejected({ tableElements: 1_000_001 }, 'tableElements').message, /from 1 to 1000000/);
    assert.match(rejected({ deadlineMs: 600_001 }, 'deadlineMs').message, /from 1 to 600000/);
    assert.equal(parseReconcilerSpec(wr({ limits: { tableElements: 1_000_000 } })).limits.tableElements, 1_000_000);
    assert.match(rejected({ resultBytes: 64 * 1024 * 1024 + 1 }, 'resultBytes').message, /at most 67108864/);
    assert.match(rejected({ fuel: 999 }, 'fuel').message, /at least 1000/);
  });

  test('unknown limits are rejected by name, not ignored', () => {
    for (const key of ['logBytes', 'output', 'deadlinems', 'children']) {
      assert.match(rejected({ [key]: 10 }, key).message, /is not a settable limit \(one of moduleBytes, /);
    }
    assert.deepEqual(paths(wr({ limits: { 'a.b': 1 } })), ['spec.limits["a.b"]']);
  });

  test('every bad limit is reported', () => {
    assert.deepEqual(paths(wr({ limits: { deadlineMs: 0, tableElements: 'x', blockDepth: -1, fuel: 5000 } })), [
      'spec.limits.deadlineMs',
      'spec.limits.tableElements',
      'spec.limits.blockDepth',
    ]);
  });

  test('host ceilings cover the new limits too', () => {
    const ceilings = { tableElements: 50_000, deadlineMs: 500 };
    const lowered = parseReconcilerSpec(wr({}), { ceilings }).limits;
    assert.equal(lowered.tableElements, 50_000);
    assert.equal(lowered.deadlineMs, 500);
    assert.equal(
      parseReconcilerSpec(wr({ limits: { tableElements: 40_000 } }), { ceilings }).limits.tableElements,
      40_000,
    );
    assert.throws(
      () => parseReconcilerSpec(wr({ limits: { tableElements: 60_000 } }), { ceilings }),
      (err: unknown) => isWrError(err, 'WR_SPEC_INVALID') && err.details?.path === 'spec.limits.tableElements',
    );
    // A ceiling above the default leaves the limit unset.
    assert.equal(parseReconcilerSpec(wr({}), { ceilings: { tableElements: 500_000 } }).limits.tableElements, undefined);
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
    ['sharding not an object', { sharding: 'node' }, 'spec.sharding'],
    ['sharding: unknown mode', { sharding: { zone: {} } }, 'spec.sharding.zone'],
    [
      'sharding: node rule with both',
      { sharding: { node: { label: 'a', fieldPath: 'spec.x' } } },
      'spec.sharding.node',
    ],
    ['sharding: node rule with neither', { sharding: { node: {} } }, 'spec.sharding.node'],
    ['sharding: bad label key', { sharding: { node: { label: 'no spaces' } } }, 'spec.sharding.node.label'],
    [
      'sharding: bad field path',
      { sharding: { node: { fieldPath: 'spec..nodeName' } } },
      'spec.sharding.node.fieldPath',
    ],
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

test('spec.sharding.node names the node by a label or by a field path; absent, there is no rule', () => {
  const parse = (sharding: unknown) => parseReconcilerSpec(wr(sharding === undefined ? {} : { sharding })).sharding;
  assert.equal(parse(undefined), undefined);
  assert.deepEqual(parse({ node: { label: 'wasmreconciler.dev/node' } }), {
    node: { label: 'wasmreconciler.dev/node' },
  });
  assert.deepEqual(parse({ node: { fieldPath: 'spec.nodeName' } }), { node: { fieldPath: 'spec.nodeName' } });
});

describe('the tenancy boundary', () => {
  test('a WasmReconciler may name only its own namespace, in for and in permissions', () => {
    const own = parseReconcilerSpec(
      wr({
        for: { apiVersion: 'v1', kind: 'Pod', namespaces: ['edge'] },
        permissions: [{ apiVersion: 'v1', kind: 'Secret', verbs: ['get'] }],
      }),
    );
    assert.deepEqual(own.for.namespaces, ['edge']);
    // An empty list means "every namespace" in a ClusterWasmReconciler; here it is the own namespace alone.
    assert.deepEqual(own.permissions[0]?.namespaces, ['edge']);

    const reaching = issues(
      wr({
        for: { apiVersion: 'v1', kind: 'Pod', namespaces: ['edge', 'kube-system'] },
        permissions: [{ apiVersion: 'v1', kind: 'Secret', verbs: ['get'], namespaces: ['other'] }],
      }),
    );
    assert.deepEqual(
      reaching.map((i) => i.path),
      ['spec.for.namespaces', 'spec.permissions[0].namespaces'],
    );
    assert.match(reaching[0]!.message, /names kube-system: a WasmReconciler acts only in its own namespace \(edge\)/);
    assert.match(reaching[0]!.message, /ClusterWasmReconciler/);
  });

  test('a ClusterWasmReconciler has no namespace, reaches any, and reads module sources from the cluster resource namespace', () => {
    const s = parseReconcilerSpec(
      cwr({
        for: { apiVersion: 'v1', kind: 'Pod', namespaces: ['a', 'b'] },
        permissions: [{ apiVersion: 'v1', kind: 'Secret', verbs: ['get'] }],
        module: { configMap: { name: 'mods', key: 'app.wasm' } },
      }),
    );
    assert.deepEqual(s.for.namespaces, ['a', 'b']);
    assert.deepEqual(s.permissions[0]?.namespaces, []);
    assert.deepEqual(s.module, {
      type: 'configMap',
      namespace: 'wasm-reconciler-system',
      name: 'mods',
      key: 'app.wasm',
      digest: undefined,
    });
    const elsewhere = parseReconcilerSpec(
      cwr({ module: { oci: { reference: `ghcr.io/o/m@${DIGEST}`, pullSecret: { name: 'creds' } } } }),
      { clusterResourceNamespace: 'platform' },
    ).module;
    assert.ok(elsewhere.type === 'oci');
    assert.deepEqual(elsewhere.pullSecret, { namespace: 'platform', name: 'creds' });
    const namespaced = cwr({}) as { metadata: Record<string, unknown> };
    namespaced.metadata.namespace = 'edge';
    assert.deepEqual(paths(namespaced), ['metadata.namespace']);
    assert.equal(paths({ ...cwr({}), kind: 'WasmReconcilers' })[0], 'kind');
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

  test('spec.limits lists exactly the limits the parser accepts, with its minimums, maximums and defaults', () => {
    const limits = prop(spec, 'limits');
    assert.deepEqual(Object.keys(limits.properties ?? {}), [...SPEC_LIMIT_KEYS]);
    const accepts = (key: string, value: number): boolean => {
      try {
        parseReconcilerSpec(wr({ limits: { [key]: value } }));
        return true;
      } catch (err) {
        assert.ok(isWrError(err, 'WR_SPEC_INVALID') && err.details?.path === `spec.limits.${key}`, String(err));
        return false;
      }
    };
    for (const key of SPEC_LIMIT_KEYS) {
      const field = prop(limits, key);
      assert.equal(field.type, 'integer', key);
      // The same smallest value on both sides; a CRD maximum (optional: the host reports its own) is the parser's.
      assert.equal(field.minimum, LIMIT_BOUNDS[key]?.min ?? 1, key);
      assert.deepEqual([accepts(key, field.minimum ?? 1), accepts(key, (field.minimum ?? 1) - 1)], [true, false], key);
      if (field.maximum !== undefined) {
        assert.deepEqual([accepts(key, field.maximum), accepts(key, field.maximum + 1)], [true, false], key);
      }
      const defaulted = (DEFAULTED_LIMIT_KEYS as readonly string[]).includes(key);
      assert.equal(field._default, defaulted ? DEFAULT_LIMITS[key as keyof typeof DEFAULT_LIMITS] : undefined, key);
    }
    for (const [key, { max } = {}] of Object.entries(LIMIT_BOUNDS)) {
      if (max !== undefined) assert.equal(prop(limits, key).maximum, max, key);
    }
  });

  test('every property of the schema and every printer column has a description (kubectl explain, get -o wide)', () => {
    const version = crd.spec.versions[0];
    const root = version?.schema?.openAPIV3Schema;
    assert.ok(root?.description, 'the root schema');
    // Nested `items` and `additionalProperties` stay plain objects in the typed model; the keys are the same.
    const missing: string[] = [];
    const walk = (schema: V1JSONSchemaProps | undefined, at: string): void => {
      for (const [key, p] of Object.entries(schema?.properties ?? {})) {
        const here = at === '' ? key : `${at}.${key}`;
        // The apiserver refuses anything but `type` on the root's metadata; it publishes ObjectMeta's docs.
        if (here === 'metadata') continue;
        if (typeof p.description !== 'string' || p.description.trim() === '') missing.push(here);
        walk(p, here);
        if (p.items !== undefined && !Array.isArray(p.items)) walk(p.items as V1JSONSchemaProps, `${here}[]`);
        if (typeof p.additionalProperties === 'object') walk(p.additionalProperties as V1JSONSchemaProps, `${here}{}`);
      }
    };
    walk(root, '');
    assert.deepEqual(missing, [], 'properties without a description');
    assert.ok((version?.additionalPrinterColumns ?? []).length > 0);
    for (const column of version?.additionalPrinterColumns ?? []) assert.ok(column.description, column.name);
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
