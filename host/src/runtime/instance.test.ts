// Unit tests for guest instances: host imports, call statuses, failure mapping and poisoning.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { mapReadPort, recordingLogger } from '../../../test/fixtures/guests/host.ts';
import { fixture, watToWasm } from '../../../test/fixtures/guests/wat.ts';
import { HOST_STATUS } from '../abi/constants.ts';
import { type ErrorCode, isWrError } from '../errors.ts';
import { GuestInstance, type InstanceOptions } from './instance.ts';
import { localReads } from './internal/reads.ts';
import { type LimitOverrides, resolveLimits } from './limits.ts';
import { type CompiledModule, ModuleLoader } from './loader.ts';
import type { CallEvent } from './ports.ts';

const loader = new ModuleLoader();
const cm = (name: string, labels: Record<string, string> = {}) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'ns', labels },
    data: { k: 'v' },
  });
const OBJECTS = [cm('a', { app: 'x' }), cm('b', { app: 'y' }), cm('c', { app: 'x' })];

async function load(name: string, overrides: LimitOverrides = {}): Promise<CompiledModule> {
  return loader.load(await fixture(name), resolveLimits(overrides));
}

function options(overrides: LimitOverrides = {}, extra: Partial<InstanceOptions> = {}): InstanceOptions {
  return {
    initInput: '{"abi":1,"reconciler":{"name":"t"},"config":null}',
    limits: resolveLimits(overrides),
    logger: recordingLogger().logger,
    logBindings: { reconciler: 't' },
    reads: localReads(mapReadPort(OBJECTS, ['Secret']), resolveLimits(overrides).resultBytes),
    ...extra,
  };
}

function fails(fn: () => unknown, code: ErrorCode, check?: (details: Record<string, unknown>) => void): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isWrError(err), `expected WrError, got ${err}`);
    assert.equal(err.code, code, err.message);
    check?.(err.details ?? {});
    return true;
  });
}

describe('GuestInstance host imports (probe guest)', () => {
  let probe: CompiledModule;
  before(async () => {
    probe = await load('probe');
  });
  const run = async (input: string, opts = options()) =>
    (await GuestInstance.create(probe, opts)).call('wr_reconcile', input);

  it('get returns the cached JSON of one object, or NOT_FOUND', async () => {
    assert.deepEqual(await run('g{"apiVersion":"v1","kind":"ConfigMap","namespace":"ns","name":"b"}'), {
      status: { r: JSON.parse(OBJECTS[1]!) },
    });
    assert.deepEqual(await run('g{"apiVersion":"v1","kind":"ConfigMap","namespace":"ns","name":"zz"}'), {
      status: { s: HOST_STATUS.NOT_FOUND },
    });
  });

  it('list returns a JSON array filtered by a label selector', async () => {
    const out = await run('l{"apiVersion":"v1","kind":"ConfigMap","labelSelector":"app in (x,z),!missing"}');
    assert.deepEqual(out, { status: { r: [JSON.parse(OBJECTS[0]!), JSON.parse(OBJECTS[2]!)] } });
  });

  it('maps denial, malformed requests and oversized results to statuses', async () => {
    assert.deepEqual(await run('g{"apiVersion":"v1","kind":"Secret","name":"s"}'), {
      status: { s: HOST_STATUS.DENIED },
    });
    assert.deepEqual(await run('g{"apiVersion":"v1","kind":"ConfigMap"}'), {
      status: { s: HOST_STATUS.INVALID_ARGUMENT },
    });
    assert.deepEqual(await run('l{not json'), { status: { s: HOST_STATUS.INVALID_ARGUMENT } });
    assert.deepEqual(await run('l{"apiVersion":"v1","kind":"ConfigMap","labelSelector":"app in ("}'), {
      status: { s: HOST_STATUS.INVALID_ARGUMENT },
    });
    const small = options({ resultBytes: 100 });
    assert.deepEqual(await run('l{"apiVersion":"v1","kind":"ConfigMap"}', small), {
      status: { s: HOST_STATUS.TOO_LARGE },
    });
  });

  it('result_read without a held result is NO_RESULT', async () => {
    assert.deepEqual(await run('r'), { status: { s: HOST_STATUS.NO_RESULT } });
  });

  it('log_enabled follows the logger and rejects unknown levels', async () => {
    assert.deepEqual(await run('e2'), { status: { s: 1 } });
    assert.deepEqual(await run('e0'), { status: { s: 0 } });
    assert.deepEqual(await run('e9'), { status: { s: HOST_STATUS.INVALID_ARGUMENT } });
  });

  it('log writes with the bound fields, truncates long messages and caps lines per call', async () => {
    const { logger, lines } = recordingLogger();
    await run('whello', options({}, { logger }));
    assert.deepEqual(lines, [{ level: 'info', fields: { reconciler: 't' }, message: 'hello' }]);
    lines.length = 0;
    await run(`w${'x'.repeat(5000)}`, options({ logBytes: 16 }, { logger }));
    assert.deepEqual(lines, [
      { level: 'info', fields: { reconciler: 't', truncatedFrom: 5000 }, message: 'x'.repeat(16) },
    ]);
    lines.length = 0;
    await run('Wline', options({ logLinesPerCall: 100 }, { logger }));
    assert.equal(lines.filter((l) => l.message === 'line').length, 100);
    assert.deepEqual(lines.at(-1), {
      level: 'warn',
      fields: { reconciler: 't', dropped: 50 },
      message: 'guest log lines dropped',
    });
  });

  it('now_ms reads the injected clock', async () => {
    assert.deepEqual(await run('t', options({}, { clock: () => 1_700_000_000_007 })), { status: { s: 7 } });
  });

  it('treats out-of-bounds pointers and invalid void-import arguments as traps', async () => {
    for (const input of ['x', 'X', 'vmsg']) {
      const instance = await GuestInstance.create(probe, options());
      fails(() => instance.call('wr_reconcile', input), 'WR_GUEST_TRAP');
      assert.equal(instance.poisoned, true);
    }
  });

  it('charges fuel for host calls, so bulk reads are bounded by the budget', async () => {
    // The list result is ~300 bytes: base + bytes/16 fuel, twice (list, then result_read).
    const instance = await GuestInstance.create(probe, options({ fuel: 300 }));
    fails(() => instance.call('wr_reconcile', 'l{"apiVersion":"v1","kind":"ConfigMap"}'), 'WR_GUEST_BUDGET_EXCEEDED');
  });

  it('returns status ERROR with output.error as data, and keeps the instance', async () => {
    const instance = await GuestInstance.create(probe, options());
    const out = instance.call('wr_reconcile', 'E{"error":{"message":"not yet","retryable":true}}');
    assert.deepEqual(out, { error: { message: 'not yet', retryable: true } });
    assert.equal(instance.poisoned, false);
    assert.deepEqual(instance.call('wr_reconcile', 'o{}'), {});
  });

  it('maps the remaining statuses and output mistakes to typed errors', async () => {
    const cases: Array<[string, ErrorCode]> = [
      ['B{"error":{"message":"cannot decode","retryable":false}}', 'WR_GUEST_ERROR_TERMINAL'],
      ['s', 'WR_GUEST_OUTPUT_INVALID'],
      ['E{}', 'WR_GUEST_OUTPUT_INVALID'],
      ['o{"error":{"message":"m","retryable":true}}', 'WR_GUEST_OUTPUT_INVALID'],
      ['O{}', 'WR_GUEST_OUTPUT_INVALID'],
      ['o{"children":[{"kind":"X"}]}', 'WR_GUEST_OUTPUT_INVALID'],
    ];
    for (const [input, code] of cases) {
      const instance = await GuestInstance.create(probe, options());
      fails(() => instance.call('wr_reconcile', input), code);
      assert.equal(instance.poisoned, true, input);
      fails(() => instance.call('wr_reconcile', 'o{}'), 'WR_GUEST_TRAP');
    }
    const instance = await GuestInstance.create(probe, options());
    fails(
      () => instance.call('wr_reconcile', 'o{"children":[{"apiVersion":"v1","kind":"X","metadata":{}}]}'),
      'WR_GUEST_OUTPUT_INVALID',
      (details) => assert.equal(details.path, '$.children[0].metadata.name'),
    );
  });

  it('rejects input over the limit before touching the guest, without poisoning it', async () => {
    const instance = await GuestInstance.create(probe, options({ inputBytes: 8 }, { initInput: '{}' }));
    fails(() => instance.call('wr_reconcile', 'o{"status":{}}'), 'WR_GUEST_INPUT_TOO_LARGE');
    assert.equal(instance.poisoned, false);
  });

  it('denies cache reads during wr_init, whose only input is the config', async () => {
    const wat = `(module
      (import "wr" "get" (func $get (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "{\\"apiVersion\\":\\"v1\\",\\"kind\\":\\"ConfigMap\\",\\"namespace\\":\\"ns\\",\\"name\\":\\"a\\"}")
      (func (export "wr_abi_version_1"))
      (func (export "wr_alloc") (param i32) (result i32) (i32.const 1024))
      (func (export "wr_init") (param i32 i32) (result i32)
        (if (result i32) (i32.eq (call $get (i32.const 16) (i32.const 65)) (i32.const ${HOST_STATUS.DENIED}))
          (then (i32.const 0)) (else (i32.const 1))))
      (func (export "wr_reconcile") (param i32 i32) (result i32) (i32.const 0)))`;
    const compiled = await loader.load(await watToWasm('init-get.wat', wat), resolveLimits());
    await GuestInstance.create(compiled, options());
  });

  it('reports each call to the observer with the fuel it used', async () => {
    const events: CallEvent[] = [];
    const instance = await GuestInstance.create(probe, options({}, { observer: { onCall: (e) => events.push(e) } }));
    instance.call('wr_reconcile', 'o{}');
    assert.deepEqual(
      events.map((e) => [e.export, e.outcome]),
      [
        ['wr_init', 'ok'],
        ['wr_reconcile', 'ok'],
      ],
    );
    assert.ok(events.every((e) => e.fuelUsed > 0 && e.digest === probe.digest));
  });
});

describe('GuestInstance failures', () => {
  it('maps traps, budget, stack overflow and memory cap to their codes', async () => {
    const cases: Array<[string, ErrorCode, LimitOverrides]> = [
      ['trap', 'WR_GUEST_TRAP', {}],
      ['loop-forever', 'WR_GUEST_BUDGET_EXCEEDED', { fuel: 100_000 }],
      ['deep-recursion', 'WR_GUEST_STACK_OVERFLOW', {}],
      ['memory-hog', 'WR_GUEST_MEMORY_EXCEEDED', { memoryPages: 4 }],
    ];
    for (const [name, code, limits] of cases) {
      const instance = await GuestInstance.create(await load(name, limits), options(limits));
      fails(() => instance.call('wr_reconcile', '{}'), code);
      assert.equal(instance.poisoned, true);
    }
  });

  it('reports every init failure as WR_GUEST_INIT_FAILED with the underlying cause', async () => {
    const cases: Array<[string, string, LimitOverrides]> = [
      ['init-trap', 'WR_GUEST_TRAP', {}],
      ['slow-init', 'WR_GUEST_BUDGET_EXCEEDED', { fuel: 100_000 }],
    ];
    for (const [name, cause, limits] of cases) {
      const compiled = await load(name, limits);
      await assert.rejects(GuestInstance.create(compiled, options(limits)), (err: unknown) => {
        assert.ok(isWrError(err, 'WR_GUEST_INIT_FAILED'));
        assert.equal(err.details?.cause, cause);
        return true;
      });
    }
  });

  it('carries the message a guest gives when it rejects its config', async () => {
    const compiled = await load('init-config');
    await GuestInstance.create(compiled, options());
    const big = options({}, { initInput: JSON.stringify({ abi: 1, config: 'x'.repeat(100) }) });
    await assert.rejects(GuestInstance.create(compiled, big), (err: unknown) => {
      assert.ok(isWrError(err, 'WR_GUEST_INIT_FAILED'));
      assert.equal(err.details?.guestMessage, 'config too big');
      return true;
    });
  });

  it('reports a trapping start function as an init failure', async () => {
    const wat = `(module (memory (export "memory") 1)
      (func $start unreachable) (start $start)
      (func (export "wr_abi_version_1"))
      (func (export "wr_alloc") (param i32) (result i32) (i32.const 1024))
      (func (export "wr_init") (param i32 i32) (result i32) (i32.const 0))
      (func (export "wr_reconcile") (param i32 i32) (result i32) (i32.const 0)))`;
    const compiled = await loader.load(await watToWasm('start-trap.wat', wat), resolveLimits());
    await assert.rejects(GuestInstance.create(compiled, options()), (err: unknown) => {
      assert.ok(isWrError(err, 'WR_GUEST_INIT_FAILED'));
      assert.equal(err.details?.cause, 'WR_GUEST_TRAP');
      return true;
    });
  });

  it('delivers the input bytes exactly, multi-byte UTF-8 included', async () => {
    const instance = await GuestInstance.create(await load('ok'), options());
    const input = JSON.stringify({ text: 'grüße 🚀', n: 1 });
    assert.deepEqual(instance.call('wr_reconcile', input), { status: { version: 'v1', input: JSON.parse(input) } });
  });
});
