// Conformance: each one-purpose fixture guest fails with its exact error code while another module keeps serving.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ErrorCode, isWrError } from '../../host/src/errors.ts';
import { GuestReconciler, type LimitOverrides, ModuleLoader, ModuleSlot } from '../../host/src/runtime/index.ts';
import { fixtureRequest, mapReadPort, recordingLogger } from '../fixtures/guests/host.ts';
import { fixture } from '../fixtures/guests/wat.ts';

/** One host: a shared loader, as the real host has, and one slot per reconciler. */
const loader = new ModuleLoader();
const slots: ModuleSlot[] = [];

function newSlot(name: string, limits: LimitOverrides = {}): ModuleSlot {
  const slot = new ModuleSlot({
    identity: { name, namespace: 'system' },
    loader,
    logger: recordingLogger().logger,
    readPort: mapReadPort([]),
    limits,
  });
  slots.push(slot);
  return slot;
}

function isCode(code: ErrorCode, cause?: ErrorCode) {
  return (err: unknown) => {
    assert.ok(isWrError(err), `expected a WrError, got ${err}`);
    assert.equal(err.code, code, err.message);
    if (cause !== undefined) assert.equal(err.details?.cause, cause);
    return true;
  };
}

describe('fixture guests', () => {
  let healthy: GuestReconciler;

  before(async () => {
    const slot = newSlot('healthy');
    await slot.load(await fixture('ok'), { any: 'config' });
    healthy = new GuestReconciler(slot);
  });

  after(async () => {
    await Promise.all(slots.map((s) => s.close()));
  });

  /** The neighbour module answers correctly right after the failure. */
  async function neighbourServes(): Promise<void> {
    const out = await healthy.reconcile(fixtureRequest);
    assert.deepEqual(out.status, {
      version: 'v1',
      input: {
        abi: 1,
        trigger: { reason: 'updated' },
        reconciler: { name: 'r', namespace: 'system' },
        deleted: false,
        primary: JSON.parse(fixtureRequest.primary.json),
        children: {},
        related: {},
      },
    });
  }

  async function callFails(name: string, code: ErrorCode, limits: LimitOverrides = {}): Promise<void> {
    const slot = newSlot(name, limits);
    await slot.load(await fixture(name), null);
    await assert.rejects(new GuestReconciler(slot).reconcile(fixtureRequest), isCode(code));
    await neighbourServes();
  }

  async function loadFails(name: string, code: ErrorCode, cause?: ErrorCode): Promise<void> {
    const slot = newSlot(name);
    await assert.rejects(slot.load(await fixture(name), null), isCode(code, cause));
    assert.equal(slot.activeDigest, undefined);
    await neighbourServes();
  }

  it('ok: answers with its version and the exact input', neighbourServes);

  it('trap: WR_GUEST_TRAP', () => callFails('trap', 'WR_GUEST_TRAP'));

  it('loop-forever: WR_GUEST_BUDGET_EXCEEDED under the default budget', () =>
    callFails('loop-forever', 'WR_GUEST_BUDGET_EXCEEDED'));

  it('memory-hog: WR_GUEST_MEMORY_EXCEEDED', () =>
    callFails('memory-hog', 'WR_GUEST_MEMORY_EXCEEDED', { memoryPages: 32 }));

  it('deep-recursion: WR_GUEST_STACK_OVERFLOW', () => callFails('deep-recursion', 'WR_GUEST_STACK_OVERFLOW'));

  it('huge-output: WR_GUEST_OUTPUT_TOO_LARGE', () => callFails('huge-output', 'WR_GUEST_OUTPUT_TOO_LARGE'));

  it('invalid-json-output: WR_GUEST_OUTPUT_INVALID', () => callFails('invalid-json-output', 'WR_GUEST_OUTPUT_INVALID'));

  it('bad-version: WR_MODULE_ABI_VERSION', () => loadFails('bad-version', 'WR_MODULE_ABI_VERSION'));

  it('missing-export: WR_MODULE_MISSING_EXPORT', () => loadFails('missing-export', 'WR_MODULE_MISSING_EXPORT'));

  it('forbidden-import (env.abort): WR_MODULE_FORBIDDEN_IMPORT', () =>
    loadFails('forbidden-import', 'WR_MODULE_FORBIDDEN_IMPORT'));

  it('slow-init: WR_GUEST_INIT_FAILED caused by WR_GUEST_BUDGET_EXCEEDED', () =>
    loadFails('slow-init', 'WR_GUEST_INIT_FAILED', 'WR_GUEST_BUDGET_EXCEEDED'));

  it('init-trap: WR_GUEST_INIT_FAILED caused by WR_GUEST_TRAP', () =>
    loadFails('init-trap', 'WR_GUEST_INIT_FAILED', 'WR_GUEST_TRAP'));

  it('a failing guest keeps failing the same way on its fresh instances', async () => {
    const slot = newSlot('trap-again');
    await slot.load(await fixture('trap'), null);
    const reconciler = new GuestReconciler(slot);
    for (let i = 0; i < 3; i++) await assert.rejects(reconciler.reconcile(fixtureRequest), isCode('WR_GUEST_TRAP'));
    assert.equal(slot.stats()[0]?.instancesCreated, 3);
    await neighbourServes();
  });
});
