// The SDK in a real guest: JSON reader/writer correctness, the typed output API, cache reads and the build tool.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AsBuildError, buildModule } from '../tools/build.ts';
import { GuestHarness, GuestTrapError } from '../tools/testing.ts';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const NOW = Date.parse('2030-02-03T04:05:06.789Z');
let probe: GuestHarness;
let probeModule: WebAssembly.Module | undefined;
let features: GuestHarness;

before(async () => {
  const [p, f] = await Promise.all([
    buildModule({ entry: here('./assembly/json-probe.ts') }),
    buildModule({ entry: here('./assembly/features.ts') }),
  ]);
  probeModule = await WebAssembly.compile(await readFile(p.wasmPath));
  probe = GuestHarness.fromModule(probeModule);
  features = await GuestHarness.load(f.wasmPath, {
    clock: () => NOW,
    logLevel: 2,
    readable: ['v1/ConfigMap'],
    objects: [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'a', namespace: 'ns', labels: { x: '1' } },
        data: { k: 'v' },
      },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b', namespace: 'ns', labels: { x: '2' } } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'other', labels: { x: '1' } } },
    ],
  });
});

function roundtrip(text: string): { status: number; output: string | undefined } {
  return probe.call('probe_roundtrip', text);
}

describe('JSON reader and writer', () => {
  it('re-encodes strings exactly like JSON.stringify (escapes, unicode, lone surrogates)', () => {
    const samples = [
      '',
      'plain',
      'quote " backslash \\ slash /',
      Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join(''),
      '\u007f\u0080\u00ff\u07ff\u0800\uffff',
      'caf\u00e9 \u{1F680} \u{10FFFF} \u2028\u2029',
      '\ud800 lone high, lone low \udc00, reversed \udc00\ud800',
      'x'.repeat(5000),
    ];
    for (const s of samples) {
      for (const text of [
        JSON.stringify(s),
        JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
      ]) {
        const { status, output } = roundtrip(text);
        assert.equal(status, 0, text);
        assert.equal(output, JSON.stringify(s));
      }
    }
  });

  it('round-trips documents: nesting, whitespace, numbers, escaped keys', () => {
    const docs = [
      { a: 1, b: [true, false, null, { c: 'd' }], '': 0, 'k\n"\u00e9': { '\ud83d\ude80': [] } },
      [1, -1, 0.5, -2.25e-7, 1e21, 123456789012345, 1234567890123456800, 0.1, 1.7976931348623157e308, 5e-324],
      { deep: JSON.parse(`${'['.repeat(60)}1${']'.repeat(60)}`) },
      [],
      {},
      'top-level string',
      42,
    ];
    for (const doc of docs) {
      const { status, output } = roundtrip(JSON.stringify(doc, null, 2).replace(/\n/g, '\r\n\t'));
      assert.equal(status, 0);
      assert.deepEqual(JSON.parse(output!), doc);
    }
  });

  it('flags malformed input without trapping', () => {
    const bad = [
      '',
      '   ',
      '{',
      '{"a"}',
      '{"a":}',
      '{"a":1,}',
      '[1,]',
      '[,1]',
      '{"a":1 "b":2}',
      'tru',
      'nul',
      '-',
      '01',
      '1.',
      '1e',
      '"unterminated',
      '"bad \\x escape"',
      '"\\u12g4"',
      '"ctl \u0001"',
      '{"a":[1,2}',
      '}',
      '@',
    ];
    for (const text of bad) {
      assert.equal(probe.call('probe_walk', text).status, 1, `not flagged: ${text}`);
    }
    for (const text of ['{"a":[1,{"b":"}"}],"c":"\\"]"}', ' [ ] ', '-0.5e+3']) {
      assert.equal(probe.call('probe_walk', text).status, 0, `flagged valid: ${text}`);
    }
  });

  it('scans strings eight bytes at a time: quotes, escapes and control bytes at every offset of a word', () => {
    // Raw JSON string contents, each with its special part at every offset of the first three words.
    const specials = ['\\"', '\\\\', '\\u0022', '\\n', '\\\\\\"', '\u00e9', '\u{1F680}'];
    for (let at = 0; at < 20; at++) {
      for (const special of specials) {
        const raw = `${'a'.repeat(at)}${special}${'b'.repeat(19 - at)}`;
        const text = `{"skip":[{"k":"${raw}"}],"s":"${raw}","after":"found"}`;
        const expected: unknown = JSON.parse(text);
        const { status, output } = roundtrip(text);
        assert.equal(status, 0, text);
        assert.deepEqual(JSON.parse(output!), expected, text);
        const query = JSON.stringify({ doc: expected, path: ['after'], expect: '' });
        assert.equal(JSON.parse(probe.call('probe_query', query).output!).str, 'found', text);
      }
      const control = `{"skip":["${'a'.repeat(at)}\u0001"],"after":1}`;
      assert.equal(probe.call('probe_walk', control).status, 1, `control byte at ${at} not flagged`);
      const unterminated = `{"skip":["${'a'.repeat(at)}\\"]}`;
      assert.equal(probe.call('probe_walk', unterminated).status, 1, `unterminated string at ${at} not flagged`);
    }
  });

  it('navigates lazily with get/at and reports every accessor', () => {
    const doc = {
      metadata: { name: 'n\u00e9', labels: { a: 'b' } },
      spec: { replicas: 3, ratio: 0.5, on: true, list: [10, 'x', { y: null }], big: 2 ** 60 },
    };
    const q = (path: (string | number)[], expect = '') =>
      JSON.parse(probe.call('probe_query', JSON.stringify({ doc, path, expect })).output!);
    assert.deepEqual(q(['metadata', 'name'], 'n\u00e9'), {
      kind: 4,
      exists: true,
      raw: 'n\u00e9',
      str: 'n\u00e9',
      num: -1.5,
      int: -999,
      bool: false,
      length: 0,
      strEquals: true,
      rawText: '"n\u00e9"',
      keys: [],
    });
    assert.equal(q(['metadata', 'name'], 'ne').strEquals, false);
    assert.equal(q(['metadata', 'name'], 'n\u00e9x').strEquals, false);
    assert.deepEqual(q(['metadata', 'labels']).keys, ['a']);
    assert.deepEqual(q(['metadata', 'labels']).raw, { a: 'b' });
    assert.equal(q(['spec', 'replicas']).int, 3);
    assert.equal(q(['spec', 'ratio']).int, -999, 'non-integral numbers are not ints');
    assert.equal(q(['spec', 'ratio']).num, 0.5);
    assert.equal(q(['spec', 'big']).int, -999, 'beyond 2^53 is not a safe int');
    assert.equal(q(['spec', 'on']).bool, true);
    assert.equal(q(['spec', 'list']).length, 3);
    assert.deepEqual(q(['spec', 'list', 2]).raw, { y: null });
    assert.equal(q(['spec', 'list', 2, 'y']).kind, 1);
    const missing = q(['spec', 'nope', 'deeper', 4]);
    assert.equal(missing.exists, false);
    assert.equal(missing.raw, null);
    assert.equal(missing.str, '<fallback>');
    assert.equal(q(['spec', 'list', 3]).exists, false);
    assert.equal(q(['spec', 'replicas', 'x']).exists, false, 'get on a number is missing');
  });

  it('finds members after earlier lookups in any order (member index)', () => {
    const doc = { a: { x: 1 }, b: 'two', c: [3], d: { e: 'f' } };
    for (const path of [['d', 'e'], ['a', 'x'], ['c', 0], ['b'], ['zz'], ['d', 'e']]) {
      const r = JSON.parse(probe.call('probe_query', JSON.stringify({ doc, path, expect: '' })).output!);
      let want: unknown = doc;
      for (const p of path) want = (want as Record<string | number, unknown> | undefined)?.[p];
      assert.deepEqual(r.raw, want ?? null, JSON.stringify(path));
    }
  });

  it('writes through handles, closing nested containers, with JSON numbers', () => {
    const { output } = probe.invoke('probe_writer');
    assert.equal(
      output,
      '{"a":{"deep":{"x":1},"y":2},"list":[1,2.5,0,1e+21,null,true,null,"s",{"z":-9223372036854775808}],' +
        '"max":9223372036854775807,"tiny":1e-7,"big":9007199254740992}',
    );
  });

  it('traps (after logging why) when a closed container is written to', () => {
    const fresh = GuestHarness.fromModule(probeModule!);
    assert.throws(
      () => fresh.invoke('probe_writer_misuse'),
      (err: unknown) =>
        err instanceof GuestTrapError && err.logs.some((l) => l.level === 4 && /already closed/.test(l.message)),
    );
  });
});

describe('typed SDK surface', () => {
  const primary = (spec: Record<string, unknown>, status?: Record<string, unknown>) => ({
    apiVersion: 'demo/v1',
    kind: 'Thing',
    metadata: { name: 'thing', namespace: 'ns', generation: 7 },
    spec,
    ...(status ? { status } : {}),
  });
  const input = (p: unknown, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      abi: 1,
      trigger: { reason: 'resync' },
      reconciler: { name: 'features' },
      deleted: false,
      primary: p,
      children: {},
      related: {},
      ...extra,
    });

  it('rejects config in init with the reason, and accepts good config', () => {
    const bad = features.init({ other: 1 });
    assert.equal(bad.status, 2);
    assert.deepEqual(JSON.parse(bad.output!), { error: { message: 'config.mode must be a string', retryable: false } });
    const good = features.init({ mode: 'strict' });
    assert.equal(good.status, 0);
    assert.equal(good.output, '{}');
  });

  it('reads the cache with typed statuses and renders status, conditions, events, intents and logs', () => {
    features.init({ mode: 'strict' });
    const r = features.call(
      'wr_reconcile',
      input(primary({ ref: 'a', selector: 'x=1', requeue: 5000, finalize: true })),
    );
    assert.equal(r.status, 0);
    assert.equal(r.outputCalls, 1);
    const out = JSON.parse(r.output!);
    assert.deepEqual(out, {
      children: [],
      status: {
        mode: 'strict',
        reason: 'resync',
        reconciler: 'features',
        getStatus: 0,
        getStatusName: 'ok',
        gotData: { k: 'v' },
        listStatus: 0,
        listCount: 1,
        secretDenied: true,
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            observedGeneration: 7,
            lastTransitionTime: '2030-02-03T04:05:06Z',
            reason: 'Done',
            message: 'second wins',
          },
        ],
      },
      events: [{ type: 'Warning', reason: 'Checked', message: 'checked a' }],
      finalizer: 'ensure',
      requeueAfterMs: 5000,
    });
    assert.deepEqual(r.logs, [{ level: 2, message: 'reconciled thing' }], 'debug is below the host level');
  });

  it('reports not-found reads and an empty list as data, not traps', () => {
    const out = JSON.parse(features.call('wr_reconcile', input(primary({ ref: 'zz', selector: 'x=9' }))).output!);
    assert.equal(out.status.getStatus, -1);
    assert.equal(out.status.getStatusName, 'not found');
    assert.equal(out.status.gotData, undefined);
    assert.equal(out.status.listCount, 0);
  });

  it('asks log_enabled before building debug messages', () => {
    features.logLevel = 0;
    const r = features.call('wr_reconcile', input(primary({ ref: 'a' })));
    features.logLevel = 2;
    assert.deepEqual(
      r.logs.map((l) => l.message),
      ['reconciled thing', 'debug detail'],
    );
  });

  it('omits children on keepChildren and on error, and keeps a previous lastTransitionTime', () => {
    const previous = { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2020-01-01T00:00:00Z' }] };
    const kept = JSON.parse(features.call('wr_reconcile', input(primary({ ref: 'a', keep: true }, previous))).output!);
    assert.equal(kept.children, undefined);
    assert.equal(kept.status.conditions[0].lastTransitionTime, '2020-01-01T00:00:00Z');
    const failed = features.call('wr_reconcile', input(primary({ ref: 'a', fail: true })));
    assert.equal(failed.status, 2);
    const out = JSON.parse(failed.output!);
    assert.equal(out.children, undefined);
    assert.deepEqual(out.error, { message: 'asked to fail', retryable: true });
  });

  it('reads and writes through typed kinds, and hashes and copies raw JSON bytes', () => {
    const fnv1a = (text: string, seed = 0x811c9dc5) => {
      let h = seed;
      for (const b of new TextEncoder().encode(text)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
      return h;
    };
    const spec = { ref: 'a', typed: true };
    const children = { 'v1/ConfigMap': [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c1' } }] };
    const out = JSON.parse(features.call('wr_reconcile', input(primary(spec), { children })).output!);
    assert.deepEqual(out.children, [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', rules: [], metadata: { name: 'typed' } },
    ]);
    assert.equal(out.status.typedChildren, 1);
    assert.equal(out.status.typedChild, true);
    assert.equal(out.status.typedListCount, out.status.listCount);
    const text = JSON.stringify(spec);
    assert.equal(out.status.specBytes, Buffer.byteLength(text));
    assert.equal(out.status.copiedBytes, Buffer.byteLength(text));
    assert.equal(out.status.specHash, fnv1a(text).toString(16).padStart(8, '0'));
    assert.equal(out.status.chainedHash, fnv1a('true', fnv1a(text)).toString(16).padStart(8, '0'));
  });

  it('reports terminal and retryable errors through fail() and retry()', () => {
    const terminal = JSON.parse(features.call('wr_reconcile', input(primary({ ref: 'a', terminal: true }))).output!);
    assert.deepEqual(terminal.error, { message: 'cannot work', retryable: false });
    const transient = JSON.parse(features.call('wr_reconcile', input(primary({ ref: 'a', transient: true }))).output!);
    assert.deepEqual(transient.error, { message: 'not yet', retryable: true });
  });

  it('writes cluster-scoped children without a namespace', () => {
    const out = JSON.parse(features.call('wr_reconcile', input(primary({ ref: 'a', clusterChild: true }))).output!);
    assert.deepEqual(out.children, [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', rules: [], metadata: { name: 'r' } },
    ]);
  });

  it('runs the finalize handler through wr_finalize', () => {
    const r = features.call('wr_finalize', input(primary({}), { deleted: true }));
    assert.equal(r.status, 0);
    assert.deepEqual(JSON.parse(r.output!), {
      events: [{ type: 'Normal', reason: 'Cleanup', message: 'released thing' }],
      finalizer: 'release',
    });
  });

  it('frees an input buffer the host allocated but never passed to a call', () => {
    const alloc = features.instance.exports.wr_alloc as (n: number) => number;
    const pages = features.memoryPages;
    for (let i = 0; i < 200; i++) alloc(1 << 20);
    // One megabyte outstanding at a time: memory grows by about one buffer, not by 200.
    assert.ok(features.memoryPages <= pages + 20, `grew from ${pages} to ${features.memoryPages} pages`);
  });
});

describe('build tool', () => {
  it('refuses modules that import outside the wr namespace, naming the cause', async () => {
    await assert.rejects(buildModule({ entry: here('./assembly/uses-random.ts'), cache: false }), (err: unknown) => {
      return (
        err instanceof AsBuildError && err.code === 'WR_BUILD_FORBIDDEN_IMPORT' && /Math\.random/.test(err.message)
      );
    });
  });

  it('reports compile errors and bad options with stable codes', async () => {
    await assert.rejects(buildModule({ entry: here('./assembly/nope.ts') }), { code: 'WR_BUILD_ENTRY' });
    await assert.rejects(buildModule({ entry: here('./assembly/noop.ts'), maximumMemoryPages: 0 }), {
      code: 'WR_BUILD_OPTIONS',
    });
  });

  it('reuses a cached output when nothing changed', async () => {
    const again = await buildModule({ entry: here('./assembly/json-probe.ts') });
    assert.equal(again.cached, true);
    assert.equal(again.sha256.length, 64);
  });
});
