// Adversarial control flow: start functions that never finish or misbehave, Wasm exceptions thrown at and
// around the host, unbounded recursion, and calls that overrun their wall-clock deadline. Each fails with
// its exact code and the healthy guest in the same loader and worker pool answers afterwards.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture, okGuest } from '../fixtures/guests/wat.ts';
import { ALL_IMPORTS, guest, Host, LIMITS } from './harness.ts';

const host = new Host();
before(() => host.open());
after(() => host.close());

const IMPORT_CALLS: Record<string, string> = {
  now_ms: '(drop (call $now_ms))',
  log_enabled: '(drop (call $log_enabled (i32.const 2)))',
  log: '(call $log (i32.const 2) (i32.const 0) (i32.const 1))',
  get: '(drop (call $get (i32.const 0) (i32.const 2)))',
  list: '(drop (call $list (i32.const 0) (i32.const 2)))',
  result_read: '(drop (call $result_read (i32.const 0) (i32.const 0)))',
  set_output: '(call $set_output (i32.const 0) (i32.const 2))',
};

function withStart(start: string, extra = ''): Promise<Uint8Array> {
  return guest({
    imports: ALL_IMPORTS,
    extra: `(tag $e (param i32)) (data (i32.const 0) "{}") (func $start ${start}) (start $start) ${extra}`,
  });
}

describe('the start section', () => {
  it('a start function that loops forever is WR_GUEST_INIT_FAILED, cause WR_GUEST_BUDGET_EXCEEDED', async () => {
    await host.loadFails(withStart('(loop $l (br $l))'), {
      code: 'WR_GUEST_INIT_FAILED',
      details: { cause: 'WR_GUEST_BUDGET_EXCEEDED' },
    });
  });

  it('a start function that grows memory to the cap and traps is cause WR_GUEST_MEMORY_EXCEEDED', async () => {
    await host.loadFails(
      withStart('(loop $l (br_if $l (i32.ge_s (memory.grow (i32.const 1)) (i32.const 0)))) unreachable'),
      {
        code: 'WR_GUEST_INIT_FAILED',
        details: { cause: 'WR_GUEST_MEMORY_EXCEEDED', memoryPages: LIMITS.memoryPages },
      },
    );
  });

  for (const [name, call] of Object.entries(IMPORT_CALLS)) {
    it(`a start function calling ${name} is cause WR_GUEST_TRAP`, async () => {
      await host.loadFails(withStart(call), { code: 'WR_GUEST_INIT_FAILED', details: { cause: 'WR_GUEST_TRAP' } });
    });
  }

  it('a start function that catches the trap of an import (catch_all) still fails, cause WR_GUEST_TRAP', async () => {
    await host.loadFails(withStart('(try (do (drop (call $now_ms))) (catch_all))'), {
      code: 'WR_GUEST_INIT_FAILED',
      details: { cause: 'WR_GUEST_TRAP' },
    });
  });

  it('a start function that throws a Wasm exception is cause WR_GUEST_TRAP, never WR_MODULE_COMPILE', async () => {
    const err = await host.loadFails(withStart('(throw $e (i32.const 42))'), {
      code: 'WR_GUEST_INIT_FAILED',
      details: { cause: 'WR_GUEST_TRAP' },
    });
    assert.doesNotMatch(err.message, /\[object WebAssembly\.Exception\]/);
  });

  it('a start function that executes unreachable is cause WR_GUEST_TRAP', async () => {
    await host.loadFails(withStart('unreachable'), {
      code: 'WR_GUEST_INIT_FAILED',
      details: { cause: 'WR_GUEST_TRAP' },
    });
  });

  it('a start function that recurses without bound is cause WR_GUEST_STACK_OVERFLOW', async () => {
    await host.loadFails(withStart('(call $start)'), {
      code: 'WR_GUEST_INIT_FAILED',
      details: { cause: 'WR_GUEST_STACK_OVERFLOW' },
    });
  });

  it('a start function that fills memory with memory.fill pays for it and ends in budget', async () => {
    await host.loadFails(withStart('(loop $l (memory.fill (i32.const 0) (i32.const 0) (i32.const 65536)) (br $l))'), {
      code: 'WR_GUEST_INIT_FAILED',
      details: { cause: 'WR_GUEST_BUDGET_EXCEEDED' },
    });
  });
});

describe('Wasm exceptions', () => {
  const EH = `(tag $e (param i32)) (tag $empty) (data (i32.const 0) "{}")`;

  it('an uncaught throw from wr_reconcile is WR_GUEST_TRAP with a real message', async () => {
    const { error } = await host.callFails(guest({ extra: EH, reconcile: '(throw $e (i32.const 7))' }), '{}', {
      code: 'WR_GUEST_TRAP',
      details: { trap: 'uncaught exception' },
    });
    assert.doesNotMatch(error.message, /\[object/);
    assert.match(error.message, /exception/);
  });

  it('an uncaught throw from wr_init is WR_GUEST_INIT_FAILED, cause WR_GUEST_TRAP', async () => {
    await host.loadFails(guest({ extra: EH, init: '(throw $e (i32.const 7))' }), {
      code: 'WR_GUEST_INIT_FAILED',
      details: { cause: 'WR_GUEST_TRAP' },
    });
  });

  it('catch_all around an out-of-bounds get does not save the call: WR_GUEST_TRAP', async () => {
    await host.callFails(
      guest({
        imports: ALL_IMPORTS,
        extra: EH,
        reconcile: `(try (do (drop (call $get (i32.const -1) (i32.const 100)))) (catch_all))
          (call $set_output (i32.const 0) (i32.const 2)) (i32.const 0)`,
      }),
      '{}',
      { code: 'WR_GUEST_TRAP', details: { ptr: 0xffffffff, len: 100 } },
    );
  });

  it('try_table catch_all around an import abort does not save the call either', async () => {
    await host.callFails(
      guest({
        imports: ALL_IMPORTS,
        extra: EH,
        reconcile: `(block $h (try_table (catch_all $h) (call $log (i32.const 77) (i32.const 0) (i32.const 1))))
          (call $set_output (i32.const 0) (i32.const 2)) (i32.const 0)`,
      }),
      '{}',
      { code: 'WR_GUEST_TRAP', details: { level: 77 } },
    );
  });

  it('catching set_output over the limit and retrying small is still WR_GUEST_OUTPUT_TOO_LARGE', async () => {
    await host.callFails(
      guest({
        imports: ALL_IMPORTS,
        memory: '(memory (export "memory") 17)',
        extra: EH,
        reconcile: `(try (do (call $set_output (i32.const 0) (i32.const ${LIMITS.outputBytes + 1}))) (catch_all))
          (call $set_output (i32.const 0) (i32.const 2)) (i32.const 0)`,
      }),
      '{}',
      { code: 'WR_GUEST_OUTPUT_TOO_LARGE', details: { bytes: LIMITS.outputBytes + 1 } },
    );
  });

  it('catching the second set_output is still WR_GUEST_OUTPUT_INVALID', async () => {
    await host.callFails(
      guest({
        imports: ALL_IMPORTS,
        extra: EH,
        reconcile: `(call $set_output (i32.const 0) (i32.const 2))
          (try (do (call $set_output (i32.const 0) (i32.const 2))) (catch_all)) (i32.const 0)`,
      }),
      '{}',
      { code: 'WR_GUEST_OUTPUT_INVALID' },
    );
  });

  it('catching the budget abort of an import in a loop still ends in WR_GUEST_BUDGET_EXCEEDED', async () => {
    await host.callFails(
      guest({
        imports: ALL_IMPORTS,
        extra: EH,
        reconcile: '(loop $l (try (do (drop (call $now_ms))) (catch_all)) (br $l)) (i32.const 0)',
      }),
      '{}',
      { code: 'WR_GUEST_BUDGET_EXCEEDED' },
    );
  });

  it('a trap inside try/catch_all is not catchable: WR_GUEST_TRAP', async () => {
    await host.callFails(
      guest({
        imports: ALL_IMPORTS,
        extra: EH,
        reconcile: '(try (do unreachable) (catch_all)) (call $set_output (i32.const 0) (i32.const 2)) (i32.const 0)',
      }),
      '{}',
      { code: 'WR_GUEST_TRAP' },
    );
  });

  it('a throw-catch loop and a rethrow loop are WR_GUEST_BUDGET_EXCEEDED', async (t) => {
    const started = performance.now();
    await host.callFails(
      guest({
        extra: EH,
        reconcile: '(loop $l (try (do (throw $e (i32.const 1))) (catch $e (drop) (br $l)))) (i32.const 0)',
      }),
      '{}',
      { code: 'WR_GUEST_BUDGET_EXCEEDED' },
    );
    await host.callFails(
      guest({
        extra: EH,
        reconcile: `(loop $l
            (try (do (try (do (throw $empty)) (catch_all (rethrow 0)))) (catch_all))
            (br $l)) (i32.const 0)`,
      }),
      '{}',
      { code: 'WR_GUEST_BUDGET_EXCEEDED' },
    );
    t.diagnostic(`throw and rethrow floods: ${(performance.now() - started).toFixed(1)} ms`);
  });

  it('exnref: a throw_ref loop is WR_GUEST_BUDGET_EXCEEDED, an uncaught throw_ref WR_GUEST_TRAP', async () => {
    const catchRef = '(block $h (result exnref) (try_table (catch_all_ref $h) (throw $empty)) (unreachable))';
    await host.callFails(
      guest({
        extra: EH,
        reconcile: `(loop $l (block $again (try_table (catch_all $again) (throw_ref ${catchRef}))) (br $l)) (i32.const 0)`,
      }),
      '{}',
      { code: 'WR_GUEST_BUDGET_EXCEEDED' },
    );
    await host.callFails(guest({ extra: EH, reconcile: `(throw_ref ${catchRef}) (i32.const 0)` }), '{}', {
      code: 'WR_GUEST_TRAP',
      details: { trap: 'uncaught exception' },
    });
  });
});

describe('the stack', () => {
  it('unbounded recursion is WR_GUEST_STACK_OVERFLOW', async () => {
    await host.callFails(fixture('deep-recursion'), '{}', { code: 'WR_GUEST_STACK_OVERFLOW' });
  });

  it('recursion through a host import on every frame is WR_GUEST_STACK_OVERFLOW', async () => {
    await host.callFails(
      guest({
        imports: ALL_IMPORTS,
        extra: `(func $down (param $n i32) (result i32)
          (drop (call $log_enabled (i32.const 2)))
          (call $log (i32.const 0) (i32.const 0) (i32.const 0))
          (i32.add (call $down (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))`,
        reconcile: '(call $down (i32.const 0))',
      }),
      '{}',
      { code: 'WR_GUEST_STACK_OVERFLOW' },
    );
  });

  it('recursion through call_indirect with large frames is WR_GUEST_STACK_OVERFLOW', async () => {
    const locals = Array.from({ length: 200 }, (_, i) => `(local $l${i} v128)`).join(' ');
    await host.callFails(
      guest({
        extra: `(type $t (func (param i32) (result i32))) (table 1 funcref) (elem (i32.const 0) $down)
          (func $down (param $n i32) (result i32) ${locals}
            (i32.add (call_indirect (type $t) (local.get $n) (i32.const 0)) (i32.const 1)))`,
        reconcile: '(call_indirect (type $t) (i32.const 0) (i32.const 0))',
      }),
      '{}',
      { code: 'WR_GUEST_STACK_OVERFLOW' },
    );
  });

  it('unbounded recursion in wr_init is WR_GUEST_INIT_FAILED, cause WR_GUEST_STACK_OVERFLOW', async () => {
    await host.loadFails(
      guest({ extra: '(func $down (result i32) (i32.add (call $down) (i32.const 1)))', init: '(call $down)' }),
      { code: 'WR_GUEST_INIT_FAILED', details: { cause: 'WR_GUEST_STACK_OVERFLOW' } },
    );
  });
});

describe('the wall-clock deadline', () => {
  const RUNAWAY = { fuel: 2_000_000_000, deadlineMs: 50 };
  const loop = () => fixture('loop-forever');

  it('a call that overruns its deadline is WR_GUEST_DEADLINE_EXCEEDED; its worker is replaced', async () => {
    const replaced = host.pool.stats().replaced;
    const { error } = await host.callFails(
      loop(),
      '{}',
      { code: 'WR_GUEST_DEADLINE_EXCEEDED', details: { deadlineMs: 50 } },
      {
        limits: RUNAWAY,
      },
    );
    assert.match(error.message, /deadline/);
    assert.equal(host.pool.stats().replaced, replaced + 1);
  });

  it('a call queued behind a runaway on the same worker (pool size 1) still succeeds', async () => {
    const solo = await new Host(1).open();
    try {
      const runaway = await solo.loaded(loop(), { limits: RUNAWAY });
      const first = runaway.slot.call('wr_reconcile', '{}');
      // Queued on the one worker behind the runaway call: it never started when the worker was terminated.
      const healthy = solo.assertHealthy();
      await assert.rejects(first, (err: unknown) => {
        assert.equal((err as { code?: string }).code, 'WR_GUEST_DEADLINE_EXCEEDED');
        return true;
      });
      await healthy;
      await solo.assertHealthy();
      assert.equal(solo.pool.stats().replaced, 1);
      assert.equal(solo.pool.stats().workers, 1);
    } finally {
      await solo.close();
    }
  });

  it('several runaways in a row leave the pool serving', async () => {
    const runaway = await host.loaded(loop(), { limits: RUNAWAY });
    for (let i = 0; i < 3; i++) {
      await host.callFails(runaway, '{}', { code: 'WR_GUEST_DEADLINE_EXCEEDED' });
    }
    assert.ok(host.pool.stats().workers <= 2);
  });

  it('the deadline bounds the guest, not the start-up of a cold worker: a healthy module with deadlineMs 10 loads', async () => {
    // A pool that has not started a worker yet: its first instantiation waits for the thread to boot
    // (tens of milliseconds), which is no guest's doing.
    const cold = new Host(1);
    try {
      const { slot } = await cold.loaded(okGuest('v1'), { limits: { deadlineMs: 10 } });
      assert.deepEqual(await slot.call('wr_reconcile', '{}'), { status: { version: 'v1', input: {} } });
    } finally {
      await cold.close();
    }
    await host.assertHealthy();
  });

  it('a start function that overruns the deadline fails the load as WR_GUEST_INIT_FAILED, cause WR_GUEST_DEADLINE_EXCEEDED', async () => {
    await host.loadFails(
      withStart('(loop $l (br $l))'),
      { code: 'WR_GUEST_INIT_FAILED', details: { cause: 'WR_GUEST_DEADLINE_EXCEEDED' } },
      { limits: RUNAWAY },
    );
  });
});
