// Adversarial calls: resource exhaustion (tables, memory, segments), every host import path including
// floods that only fuel can end, a lying wr_alloc, and outputs shaped to hurt the host. Each fails with its
// exact code, and the healthy guest in the same loader and worker pool answers afterwards.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture } from '../fixtures/guests/wat.ts';
import {
  ALL_IMPORTS,
  bytes,
  guest,
  guestWat,
  Host,
  LIMITS,
  rawGuest,
  section,
  u32,
  vec,
  wat,
  watString,
} from './harness.ts';

const host = new Host();
before(() => host.open());
after(() => host.close());

const CM = JSON.stringify({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'a', namespace: 'ns', labels: { app: 'web' } },
  data: { k: 'v' },
});
const OBJECTS = [CM];
const GET_A = '{"apiVersion":"v1","kind":"ConfigMap","namespace":"ns","name":"a"}';

/** A guest whose reconcile loops forever around `call`, with `data` at address 0. */
function flood(data: string | Uint8Array, call: string): Promise<Uint8Array> {
  return guest({
    imports: ALL_IMPORTS,
    extra: `(data (i32.const 0) ${watString(data)})`,
    reconcile: `(loop $again ${call} (br $again)) (i32.const 0)`,
  });
}

const len = (data: string | Uint8Array) => (typeof data === 'string' ? Buffer.byteLength(data) : data.length);

describe('resources: tables', () => {
  it('a declared 10M-entry funcref table is WR_MODULE_LIMIT tableElements, before V8 allocates it', async () => {
    await host.loadFails(guest({ extra: '(table 10000000 funcref)' }), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'tableElements', value: 10_000_000, max: LIMITS.tableElements },
    });
  });

  it('a table of 2^32-1 minimum in raw bytes, and 17 tables, are WR_MODULE_LIMIT', async () => {
    await host.loadFails(rawGuest({ sections: { 4: section(4, vec([bytes(0x70, 0x00, u32(0xffffffff))])) } }), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'tableElements', value: 0xffffffff },
    });
    await host.loadFails(guest({ extra: '(table 1 funcref) '.repeat(LIMITS.tables + 1) }), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'tables', value: LIMITS.tables + 1, max: LIMITS.tables },
    });
  });

  it('table.grow in a loop ends with WR_GUEST_BUDGET_EXCEEDED, not gigabytes of table', async (t) => {
    const { ms } = await host.callFails(
      guest({
        extra: '(table $t 0 funcref)',
        reconcile: '(loop $l (drop (table.grow $t (ref.null func) (i32.const 10000))) (br $l)) (i32.const 0)',
      }),
      '{}',
      { code: 'WR_GUEST_BUDGET_EXCEEDED' },
    );
    t.diagnostic(`table.grow flood: ${ms.toFixed(1)} ms`);
  });

  it('one table.grow of 2^31-1 elements pays first and is WR_GUEST_BUDGET_EXCEEDED', async () => {
    await host.callFails(
      guest({
        extra: '(table $t 0 funcref)',
        reconcile: '(drop (table.grow $t (ref.null func) (i32.const 0x7fffffff))) (i32.const 0)',
      }),
      '{}',
      { code: 'WR_GUEST_BUDGET_EXCEEDED' },
    );
  });

  it('table.grow past the tableElements cap returns -1 to the guest (a table declared without maximum)', async () => {
    const { output } = await host.callOk(
      guest({
        imports: ALL_IMPORTS,
        extra: '(table $t 0 funcref) (data (i32.const 0) "{}")',
        reconcile: `(if (i32.ne (table.grow $t (ref.null func) (i32.const ${LIMITS.tableElements + 1})) (i32.const -1)) (then unreachable))
          (call $set_output (i32.const 0) (i32.const 2)) (i32.const 0)`,
      }),
      '{}',
    );
    assert.deepEqual(output, {});
  });

  it('100,001 element entries and 10,001 element segments are WR_MODULE_LIMIT', async () => {
    await host.loadFails(guest({ extra: `(func $f) (elem func ${'$f '.repeat(LIMITS.elementEntries + 1)})` }), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'elementEntries', value: LIMITS.elementEntries + 1, max: LIMITS.elementEntries },
    });
    await host.loadFails(guest({ extra: `(func $f) ${'(elem func $f) '.repeat(LIMITS.elementSegments + 1)}` }), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'elementSegments', value: LIMITS.elementSegments + 1 },
    });
  });
});

describe('resources: globals, segments, memory', () => {
  it('10,001 globals are WR_MODULE_LIMIT globals', async () => {
    await host.loadFails(guest({ extra: '(global i32 (i32.const 0)) '.repeat(LIMITS.globals + 1) }), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'globals', value: LIMITS.globals + 1, max: LIMITS.globals },
    });
  });

  it('10,001 data segments and data over dataBytes are WR_MODULE_LIMIT', async () => {
    await host.loadFails(guest({ extra: '(data "") '.repeat(LIMITS.dataSegments + 1) }), {
      code: 'WR_MODULE_LIMIT',
      details: { limit: 'dataSegments', value: LIMITS.dataSegments + 1 },
    });
    await host.loadFails(
      guest({ extra: `(data (i32.const 0) "${'x'.repeat(3000)}")` }),
      { code: 'WR_MODULE_LIMIT', details: { limit: 'dataBytes', value: 3000, max: 2048 } },
      { limits: { dataBytes: 2048 } },
    );
  });

  it('instantiation that costs more than the budget is WR_MODULE_LIMIT fuel', async () => {
    await host.loadFails(
      guest({ extra: `(data (i32.const 0) "${'x'.repeat(60_000)}")` }),
      { code: 'WR_MODULE_LIMIT', details: { limit: 'fuel', max: 5000 } },
      { limits: { fuel: 5000 } },
    );
  });

  it('a memory minimum above the cap is WR_MODULE_MEMORY', async () => {
    for (const min of [LIMITS.memoryPages + 1, 65536]) {
      await host.loadFails(guest({ memory: `(memory (export "memory") ${min})` }), {
        code: 'WR_MODULE_MEMORY',
        details: { memoryMaxPages: LIMITS.memoryPages },
      });
    }
  });

  it('shared, 64-bit and multiple memories are WR_MODULE_MEMORY', async () => {
    await host.loadFails(guest({ memory: '(memory (export "memory") 1 2 shared)' }), { code: 'WR_MODULE_MEMORY' });
    await host.loadFails(guest({ memory: '(memory (export "memory") i64 1)' }), { code: 'WR_MODULE_MEMORY' });
    await host.loadFails(guest({ memory: '(memory (export "memory") 1) (memory $two 1)' }), {
      code: 'WR_MODULE_MEMORY',
      message: /2 memories/,
    });
  });

  it('memory.grow until refused, then a trap, is WR_GUEST_MEMORY_EXCEEDED', async () => {
    const { error } = await host.callFails(fixture('memory-hog'), '{}', { code: 'WR_GUEST_MEMORY_EXCEEDED' });
    assert.equal(error.details?.memoryPages, LIMITS.memoryPages);
  });

  it('memory.grow ignoring refusals forever is WR_GUEST_BUDGET_EXCEEDED (a refused grow still pays)', async (t) => {
    const { ms } = await host.callFails(
      guest({ reconcile: '(loop $l (drop (memory.grow (i32.const 1))) (br $l)) (i32.const 0)' }),
      '{}',
      { code: 'WR_GUEST_BUDGET_EXCEEDED' },
    );
    t.diagnostic(`memory.grow flood: ${ms.toFixed(1)} ms`);
  });

  it('a module maximum below the cap is the cap: trapping there is WR_GUEST_MEMORY_EXCEEDED', async () => {
    const { error } = await host.callFails(
      guest({
        memory: '(memory (export "memory") 1 3)',
        reconcile: '(loop $l (br_if $l (i32.ge_s (memory.grow (i32.const 1)) (i32.const 0)))) unreachable',
      }),
      '{}',
      { code: 'WR_GUEST_MEMORY_EXCEEDED' },
    );
    assert.deepEqual([error.details?.memoryPages, error.details?.memoryMaxPages], [3, 3]);
  });

  it('one grow larger than the headroom, refused below the cap, is a WR_GUEST_TRAP with the pages in details', async () => {
    await host.callFails(guest({ reconcile: '(drop (memory.grow (i32.const 1000))) unreachable' }), '{}', {
      code: 'WR_GUEST_TRAP',
      details: { memoryPages: 1, memoryMaxPages: LIMITS.memoryPages },
    });
  });
});

describe('host imports: statuses', () => {
  const probe = (options = {}) => host.loaded(fixture('probe'), { objects: OBJECTS, denied: ['Secret'], ...options });

  it('get of a missing object is NOT_FOUND, of a denied kind DENIED, a bad request INVALID_ARGUMENT', async () => {
    const p = await probe();
    const s = async (input: string) => ((await host.callOk(p, input)).output.status as { s: number }).s;
    assert.equal(await s('g{"apiVersion":"v1","kind":"ConfigMap","namespace":"ns","name":"zz"}'), -1);
    assert.equal(await s('g{"apiVersion":"v1","kind":"Secret","namespace":"ns","name":"a"}'), -2);
    assert.equal(await s('g{"apiVersion":"v1","kind":"ConfigMap","namespace":"ns"}'), -3);
    assert.equal(await s('g{"apiVersion":"v1","kind":"ConfigMap","name":""}'), -3);
    assert.equal(await s('g[1,2]'), -3);
    assert.equal(await s('g{"apiVersion":'), -3);
    assert.equal(await s('l{"apiVersion":"v1","kind":"ConfigMap","labelSelector":"app in (a"}'), -3);
    assert.equal(await s('l{"apiVersion":"v1","kind":"ConfigMap","labelSelector":7}'), -3);
    assert.equal(await s('l{"apiVersion":"v1","kind":"Secret"}'), -2);
  });

  it('get of a present object hands over the cached JSON verbatim', async () => {
    const { output } = await host.callOk(await probe(), `g${GET_A}`);
    assert.deepEqual((output.status as { r: unknown }).r, JSON.parse(CM));
  });

  it('list with a selector that matches nothing is an empty array; a list over resultBytes is TOO_LARGE', async () => {
    const { output } = await host.callOk(
      await probe(),
      'l{"apiVersion":"v1","kind":"ConfigMap","labelSelector":"app=none"}',
    );
    assert.deepEqual(output.status, { r: [] });
    const small = await probe({ limits: { resultBytes: 50 } });
    const big = await host.callOk(small, 'l{"apiVersion":"v1","kind":"ConfigMap"}');
    assert.deepEqual(big.output.status, { s: -4 });
    const one = await host.callOk(small, `g${GET_A}`);
    assert.deepEqual(one.output.status, { s: -4 });
  });

  it('get with bad UTF-8 is INVALID_ARGUMENT', async () => {
    const { output } = await host.callOk(
      guest({
        imports: ALL_IMPORTS,
        extra: `(data (i32.const 0) "\\ff\\fe{}") (data (i32.const 64) "{\\"status\\":{}}")`,
        reconcile: `(if (i32.ne (call $get (i32.const 0) (i32.const 4)) (i32.const -3)) (then unreachable))
          (call $set_output (i32.const 64) (i32.const 13)) (i32.const 0)`,
      }),
      '{}',
    );
    assert.deepEqual(output, { status: {} });
  });

  it('result_read with nothing held is NO_RESULT; with a short buffer INVALID_ARGUMENT, and the result stays held', async () => {
    const p = await probe();
    assert.deepEqual((await host.callOk(p, 'r')).output.status, { s: -5 });
    const { output } = await host.callOk(
      guest({
        imports: ALL_IMPORTS,
        extra: `(data (i32.const 0) ${watString(GET_A)}) (data (i32.const 512) "{}")`,
        reconcile: `(local $n i32)
          (local.set $n (call $get (i32.const 0) (i32.const ${len(GET_A)})))
          (if (i32.le_s (local.get $n) (i32.const 0)) (then unreachable))
          (if (i32.ne (call $result_read (i32.const 4096) (i32.sub (local.get $n) (i32.const 1))) (i32.const -3)) (then unreachable))
          (if (i32.ne (call $result_read (i32.const 4096) (local.get $n)) (local.get $n)) (then unreachable))
          (if (i32.ne (call $result_read (i32.const 4096) (local.get $n)) (i32.const -5)) (then unreachable))
          (call $set_output (i32.const 512) (i32.const 2)) (i32.const 0)`,
      }),
      '{}',
      { objects: OBJECTS },
    );
    assert.deepEqual(output, {});
  });

  it('get and list during wr_init are DENIED', async () => {
    await host.loaded(
      guest({
        imports: ALL_IMPORTS,
        extra: `(data (i32.const 0) ${watString(GET_A)})`,
        init: `(if (i32.ne (call $get (i32.const 0) (i32.const ${len(GET_A)})) (i32.const -2)) (then unreachable))
          (if (i32.ne (call $list (i32.const 0) (i32.const ${len(GET_A)})) (i32.const -2)) (then unreachable))
          (i32.const 0)`,
      }),
      { objects: OBJECTS },
    );
    await host.assertHealthy();
  });

  it('log_enabled answers 1, 0, or INVALID_ARGUMENT for an unknown level', async () => {
    const p = await probe();
    assert.deepEqual((await host.callOk(p, 'e2')).output.status, { s: 1 });
    assert.deepEqual((await host.callOk(p, 'e0')).output.status, { s: 0 });
    assert.deepEqual((await host.callOk(p, 'e9')).output.status, { s: -3 });
  });
});

describe('host imports: aborts', () => {
  it('pointers outside memory are WR_GUEST_TRAP, never clamped (get, set_output, log, result_read, list wrap-around)', async () => {
    const p = await host.loaded(fixture('probe'));
    await host.callFails(p, 'x', {
      code: 'WR_GUEST_TRAP',
      details: { ptr: 0xffffff00, len: 1000, memoryBytes: 65536 },
    });
    await host.callFails(p, 'X', { code: 'WR_GUEST_TRAP', details: { ptr: 16, len: 1_000_000 } });
    for (const call of [
      '(call $log (i32.const 2) (i32.const 65535) (i32.const 2))',
      '(drop (call $result_read (i32.const 65536) (i32.const 1)))',
      '(drop (call $list (i32.const -1) (i32.const 2)))',
      '(drop (call $get (i32.const 1) (i32.const -1)))',
    ]) {
      await host.callFails(guest({ imports: ALL_IMPORTS, reconcile: `${call} (i32.const 0)` }), '{}', {
        code: 'WR_GUEST_TRAP',
        details: { memoryBytes: 65536 },
      });
    }
  });

  it('set_output twice is WR_GUEST_OUTPUT_INVALID', async () => {
    await host.callFails(fixture('probe'), 'O{}', { code: 'WR_GUEST_OUTPUT_INVALID' });
  });

  it('set_output over outputBytes is WR_GUEST_OUTPUT_TOO_LARGE', async () => {
    const text = `{"status":{"x":"${'a'.repeat(LIMITS.outputBytes)}"}}`;
    await host.callFails(fixture('probe'), `o${text}`, {
      code: 'WR_GUEST_OUTPUT_TOO_LARGE',
      details: { bytes: len(text), limit: LIMITS.outputBytes },
    });
  });

  it('set_output of invalid UTF-8 is WR_GUEST_OUTPUT_INVALID at $', async () => {
    await host.callFails(
      guest({
        imports: ALL_IMPORTS,
        extra: '(data (i32.const 0) "{\\"status\\":{\\"x\\":\\"\\c3\\28\\"}}")',
        reconcile: '(call $set_output (i32.const 0) (i32.const 20)) (i32.const 0)',
      }),
      '{}',
      { code: 'WR_GUEST_OUTPUT_INVALID', details: { path: '$' } },
    );
  });

  it('log with an unknown level is WR_GUEST_TRAP naming the level', async () => {
    await host.callFails(fixture('probe'), 'vhello', { code: 'WR_GUEST_TRAP', details: { level: 9 } });
    await host.callFails(
      guest({
        imports: ALL_IMPORTS,
        reconcile: '(call $log (i32.const -1) (i32.const 0) (i32.const 0)) (i32.const 0)',
      }),
      '{}',
      {
        code: 'WR_GUEST_TRAP',
        details: { level: -1 },
      },
    );
  });

  it('150 log lines: 100 written, the rest dropped and counted, and the call succeeds', async () => {
    const { output, lines } = await host.callOk(fixture('probe'), 'Wline');
    assert.deepEqual(output, {});
    assert.equal(lines.filter((l) => l.message === 'line').length, LIMITS.logLinesPerCall);
    const dropped = lines.find((l) => l.message === 'guest log lines dropped');
    assert.equal(dropped?.fields.dropped, 150 - LIMITS.logLinesPerCall);
  });

  it('a log message over logBytes is truncated with truncatedFrom', async () => {
    const { lines } = await host.callOk(fixture('probe'), `w${'m'.repeat(10_000)}`);
    const line = lines.find((l) => l.message.startsWith('mmm'));
    assert.equal(line?.message.length, LIMITS.logBytes);
    assert.equal(line?.fields.truncatedFrom, 10_000);
  });
});

describe('host imports: floods end with WR_GUEST_BUDGET_EXCEEDED', () => {
  const cases: Array<{ what: string; data: string | Uint8Array; call: (n: number) => string; options?: object }> = [
    {
      what: 'get with bad JSON',
      data: '{"apiVersion":',
      call: (n) => `(drop (call $get (i32.const 0) (i32.const ${n})))`,
    },
    {
      what: 'get with bad UTF-8',
      data: new Uint8Array([0xff, 0xfe, 0xfd, 0x7b]),
      call: (n) => `(drop (call $get (i32.const 0) (i32.const ${n})))`,
    },
    {
      what: 'get with missing fields',
      data: '{"apiVersion":"v1","kind":"ConfigMap"}',
      call: (n) => `(drop (call $get (i32.const 0) (i32.const ${n})))`,
    },
    {
      what: 'get of a missing object',
      data: '{"apiVersion":"v1","kind":"ConfigMap","namespace":"ns","name":"zz"}',
      call: (n) => `(drop (call $get (i32.const 0) (i32.const ${n})))`,
    },
    {
      what: 'get of a denied kind',
      data: '{"apiVersion":"v1","kind":"Secret","namespace":"ns","name":"a"}',
      call: (n) => `(drop (call $get (i32.const 0) (i32.const ${n})))`,
    },
    {
      what: 'list matching nothing',
      data: '{"apiVersion":"v1","kind":"ConfigMap","labelSelector":"app=none"}',
      call: (n) => `(drop (call $list (i32.const 0) (i32.const ${n})))`,
    },
    {
      what: 'list that is TOO_LARGE',
      data: '{"apiVersion":"v1","kind":"ConfigMap"}',
      call: (n) => `(drop (call $list (i32.const 0) (i32.const ${n})))`,
      options: { limits: { resultBytes: 16 } },
    },
    {
      what: 'result_read with nothing held',
      data: '',
      call: () => '(drop (call $result_read (i32.const 0) (i32.const 0)))',
    },
    {
      what: 'log (lines past the per-call cap are dropped)',
      data: 'spam',
      call: (n) => `(call $log (i32.const 2) (i32.const 0) (i32.const ${n}))`,
    },
    {
      what: 'log at a disabled level',
      data: 'spam',
      call: (n) => `(call $log (i32.const 0) (i32.const 0) (i32.const ${n}))`,
    },
    { what: 'log_enabled', data: '', call: () => '(drop (call $log_enabled (i32.const 2)))' },
    { what: 'now_ms', data: '', call: () => '(drop (call $now_ms))' },
  ];
  for (const c of cases) {
    it(c.what, async (t) => {
      const { ms, lines } = await host.callFails(
        flood(c.data, c.call(len(c.data))),
        '{}',
        { code: 'WR_GUEST_BUDGET_EXCEEDED' },
        { objects: [...OBJECTS, CM.replace('"a"', '"b"')], denied: ['Secret'], ...c.options },
      );
      t.diagnostic(`${c.what} flood: ${ms.toFixed(1)} ms`);
      assert.ok(lines.filter((l) => l.message === 'spam').length <= LIMITS.logLinesPerCall);
    });
  }
});

describe('wr_alloc lies', () => {
  for (const [what, alloc] of [
    ['a pointer far outside memory', '(i32.const 0x7ffffff0)'],
    ['a huge unsigned value', '(i32.const -16)'],
    ['a buffer that runs past the end of memory', '(i32.sub (i32.const 65536) (i32.const 1))'],
  ] as const) {
    it(`${what} is WR_GUEST_TRAP`, async () => {
      // wr_init's own input goes through wr_alloc too: the lie is told only once init has passed.
      await host.callFails(
        guest({
          extra: '(global $calls (mut i32) (i32.const 0))',
          alloc: `(global.set $calls (i32.add (global.get $calls) (i32.const 1))) (if (result i32) (i32.eq (global.get $calls) (i32.const 1)) (then (i32.const 1024)) (else ${alloc}))`,
        }),
        '{"pad":"xxxxxxxx"}',
        { code: 'WR_GUEST_TRAP', details: { memoryBytes: 65536 } },
      );
    });
  }

  it('a wr_alloc that lies to wr_init fails the load with WR_GUEST_INIT_FAILED, cause WR_GUEST_TRAP', async () => {
    await host.loadFails(guest({ alloc: '(i32.const -1)' }), {
      code: 'WR_GUEST_INIT_FAILED',
      details: { cause: 'WR_GUEST_TRAP' },
    });
  });

  it('a wr_alloc that loops forever is WR_GUEST_BUDGET_EXCEEDED', async () => {
    await host.callFails(
      guest({
        extra: '(global $calls (mut i32) (i32.const 0))',
        alloc:
          '(global.set $calls (i32.add (global.get $calls) (i32.const 1))) (if (i32.gt_u (global.get $calls) (i32.const 1)) (then (loop $l (br $l)))) (i32.const 1024)',
      }),
      '{}',
      { code: 'WR_GUEST_BUDGET_EXCEEDED' },
    );
  });
});

describe('output shape', () => {
  const probe = () => host.loaded(fixture('probe'));
  const invalid = async (output: string, details: Record<string, unknown>, op = 'o') => {
    const { error } = await host.callFails(await probe(), `${op}${output}`, {
      code: 'WR_GUEST_OUTPUT_INVALID',
      details,
    });
    return error;
  };

  it('a 100,000-deep status is WR_GUEST_OUTPUT_INVALID with limit depth and a path', async () => {
    const deep = `{"status":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`;
    const err = await invalid(deep, { limit: 'depth', max: 64 });
    assert.match(String(err.details?.path), /^\$\.status\.a/);
    const arrays = `{"status":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    await invalid(arrays, { limit: 'depth' });
  });

  it('1001 children and 17 events are WR_GUEST_OUTPUT_INVALID', async () => {
    const child = (i: number) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${i}` } });
    const children = JSON.stringify({ children: Array.from({ length: 1001 }, (_, i) => child(i)) });
    const err = await invalid(children, {});
    assert.match(String(err.details?.path), /^\$\.children/);
    const event = { type: 'Normal', reason: 'r', message: 'm' };
    const events = await invalid(JSON.stringify({ events: Array.from({ length: 17 }, () => event) }), {});
    assert.match(String(events.details?.path), /^\$\.events/);
  });

  it('a string over stringChars, an object over objectKeys, and too many values are WR_GUEST_OUTPUT_INVALID', async () => {
    await invalid(`{"status":{"x":"${'a'.repeat(262_145)}"}}`, { limit: 'stringChars', max: 262_144 });
    const keys = Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`k${i}`, 0]));
    await invalid(JSON.stringify({ status: keys }), { limit: 'objectKeys', max: 10_000 });
    await invalid(`{"status":{"x":[${'0,'.repeat(250_001)}0]}}`, { limit: 'values', max: 250_000 });
  });

  it('unknown fields, including __proto__ and constructor, are WR_GUEST_OUTPUT_INVALID at their path', async () => {
    await invalid('{"foo":1}', { path: '$.foo' });
    await invalid('{"__proto__":{"polluted":true}}', { path: '$.__proto__' });
    await invalid('{"constructor":{"prototype":{}}}', { path: '$.constructor' });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('non-JSON is WR_GUEST_OUTPUT_INVALID at $', async () => {
    for (const text of ['not json', '', '{"status":{}} trailing', 'NaN']) {
      await invalid(text, { path: '$' });
    }
  });

  it('status OK with error, ERROR without error, and unknown statuses are WR_GUEST_OUTPUT_INVALID', async () => {
    await invalid('{"error":{"message":"x","retryable":true}}', { path: '$.error', status: 0 });
    await invalid('{}', { path: '$.error', status: 2 }, 'E');
    await host.callFails(await probe(), 's', { code: 'WR_GUEST_OUTPUT_INVALID', details: { status: 7 } });
    await host.callFails(guest({ reconcile: '(i32.const -1)' }), '{}', {
      code: 'WR_GUEST_OUTPUT_INVALID',
      details: { status: -1 },
    });
    await host.callFails(guest({ reconcile: '(i32.const 0)' }), '{}', {
      code: 'WR_GUEST_OUTPUT_INVALID',
      details: { path: '$' },
    });
  });

  it('requeueAfterMs out of range, fractional or overflowing is WR_GUEST_OUTPUT_INVALID at its path', async () => {
    for (const v of ['-1', '604800001', '1.5', '1e400', '"5"']) {
      await invalid(`{"requeueAfterMs":${v}}`, { path: '$.requeueAfterMs' });
    }
  });

  it('BAD_INPUT is WR_GUEST_ERROR_TERMINAL with the guest message; ERROR with error is data', async () => {
    await host.callFails(await probe(), 'B{"error":{"message":"cannot parse"}}', {
      code: 'WR_GUEST_ERROR_TERMINAL',
      details: { guestMessage: 'cannot parse', status: 1 },
    });
    const { output } = await host.callOk(await probe(), 'E{"error":{"message":"later","retryable":true}}');
    assert.deepEqual(output.error, { message: 'later', retryable: true });
  });
});

describe('odd wiring', () => {
  it('wr_reconcile exported as the host get import answers a status the host refuses: WR_GUEST_OUTPUT_INVALID', async () => {
    const text = guestWatWith('(export "wr_reconcile" (func $get))', 'wr_reconcile');
    await host.callFails(wat(text), '{}', { code: 'WR_GUEST_OUTPUT_INVALID', details: { status: -3 } });
  });

  it('wr_init exported as the host get import is DENIED in init: WR_GUEST_INIT_FAILED with status -2', async () => {
    await host.loadFails(wat(guestWatWith('(export "wr_init" (func $get))', 'wr_init')), {
      code: 'WR_GUEST_INIT_FAILED',
      details: { status: -2 },
    });
  });

  it('wr_alloc exported as log_enabled returns INVALID_ARGUMENT as a pointer: WR_GUEST_INIT_FAILED, cause WR_GUEST_TRAP', async () => {
    await host.loadFails(wat(guestWatWith('(export "wr_alloc" (func $log_enabled))', 'wr_alloc')), {
      code: 'WR_GUEST_INIT_FAILED',
      details: { cause: 'WR_GUEST_TRAP', ptr: 0xfffffffd },
    });
  });

  it('a start section naming an import of the wrong type is WR_MODULE_MALFORMED', async () => {
    await host.loadFails(guest({ imports: ALL_IMPORTS, extra: '(start $now_ms)' }, { validate: false }), {
      code: 'WR_MODULE_MALFORMED',
    });
  });

  it('active segments out of bounds trap at instantiation: WR_GUEST_INIT_FAILED, cause WR_GUEST_TRAP', async () => {
    await host.loadFails(guest({ extra: '(data (i32.const 65535) "xy")' }), {
      code: 'WR_GUEST_INIT_FAILED',
      details: { cause: 'WR_GUEST_TRAP' },
    });
    await host.loadFails(guest({ extra: '(func $f) (table 1 funcref) (elem (i32.const 1) func $f)' }), {
      code: 'WR_GUEST_INIT_FAILED',
      details: { cause: 'WR_GUEST_TRAP' },
    });
  });

  it('a trapping wr_finalize is WR_GUEST_TRAP; the same module reconciles after', async () => {
    const s = await host.loaded(
      guest({
        imports: ALL_IMPORTS,
        extra: '(data (i32.const 0) "{}") (func (export "wr_finalize") (param i32 i32) (result i32) unreachable)',
        reconcile: '(call $set_output (i32.const 0) (i32.const 2)) (i32.const 0)',
      }),
    );
    await assert.rejects(s.slot.call('wr_finalize', '{}'), (err: unknown) => {
      assert.equal((err as { code?: string }).code, 'WR_GUEST_TRAP');
      return true;
    });
    assert.deepEqual(await s.slot.call('wr_reconcile', '{}'), {});
    await host.assertHealthy();
  });

  it('an input over inputBytes is WR_GUEST_INPUT_TOO_LARGE and the guest never runs', async () => {
    await host.callFails(
      fixture('probe'),
      `o${'x'.repeat(1024)}`,
      {
        code: 'WR_GUEST_INPUT_TOO_LARGE',
        details: { bytes: 1025, limit: 1024 },
      },
      { limits: { inputBytes: 1024 } },
    );
  });

  it('markers of several majors load when one is v1', async () => {
    const { output } = await host.callOk(
      guest({
        imports: ALL_IMPORTS,
        extra: '(data (i32.const 0) "{}") (func (export "wr_abi_version_2")) (func (export "wr_abi_version_0"))',
        reconcile: '(call $set_output (i32.const 0) (i32.const 2)) (i32.const 0)',
      }),
      '{}',
    );
    assert.deepEqual(output, {});
  });
});

/** The default guest with `name`'s own export removed and `exportDecl` added (an import re-exported). */
function guestWatWith(exportDecl: string, name: string): string {
  return guestWat({ imports: ALL_IMPORTS, extra: exportDecl }).replace(`(export "${name}")`, '');
}
