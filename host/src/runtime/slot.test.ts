// Unit tests for the module slot: load validation, no-op reloads, swaps, draining, poisoning and close.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { mapReadPort, recordingLogger } from '../../../test/fixtures/guests/host.ts';
import { fixture, okGuest } from '../../../test/fixtures/guests/wat.ts';
import { isWrError } from '../errors.ts';
import type { LimitOverrides } from './limits.ts';
import { ModuleLoader } from './loader.ts';
import { ModuleSlot } from './slot.ts';

const loader = new ModuleLoader();

function slot(limits: LimitOverrides = {}, maxInstances = 2): ModuleSlot {
  return new ModuleSlot({
    identity: { name: 'apps', namespace: 'system' },
    loader,
    logger: recordingLogger().logger,
    readPort: mapReadPort([]),
    limits,
    maxInstances,
  });
}

/** The version an ok-guest answer came from. */
async function versionOf(promise: Promise<unknown>): Promise<string> {
  const out = (await promise) as { status: { version: string } };
  return out.status.version;
}

describe('ModuleSlot', () => {
  let v1: Uint8Array;
  let v2: Uint8Array;
  before(async () => {
    v1 = await fixture('ok');
    v2 = await okGuest('v2');
  });

  it('refuses calls before the first load', async () => {
    await assert.rejects(slot().call('wr_reconcile', '{}'), (err: unknown) => isWrError(err, 'WR_SLOT_EMPTY'));
  });

  it('serves after a load and treats the same digest, config and limits as a no-op', async () => {
    const s = slot();
    const first = await s.load(v1, { a: 1 });
    assert.deepEqual([first.swapped, first.generation], [true, 1]);
    assert.equal(await versionOf(s.call('wr_reconcile', '{}')), 'v1');
    const again = await s.load(v1, { a: 1 });
    assert.deepEqual([again.swapped, again.generation, s.generation], [false, 1, 1]);
    const reconfigured = await s.load(v1, { a: 2 });
    assert.deepEqual([reconfigured.swapped, reconfigured.generation], [true, 2]);
    assert.equal(s.previousDigest, first.digest);
    const relimited = await s.load(v1, { a: 2 }, { fuel: 1_000_000 });
    assert.equal(relimited.swapped, true);
  });

  it('keeps the serving version when a load fails at any step', async () => {
    const s = slot();
    const { digest } = await s.load(v1, null);
    for (const [name, code] of [
      ['init-trap', 'WR_GUEST_INIT_FAILED'],
      ['missing-export', 'WR_MODULE_MISSING_EXPORT'],
      ['bad-version', 'WR_MODULE_ABI_VERSION'],
    ] as const) {
      await assert.rejects(s.load(await fixture(name), null), (err: unknown) => isWrError(err, code));
      assert.equal(s.activeDigest, digest);
      assert.equal(await versionOf(s.call('wr_reconcile', '{}')), 'v1');
    }
    assert.equal(s.generation, 1);
  });

  it('applies concurrent loads one at a time, in call order', async () => {
    const s = slot();
    const [a, b] = await Promise.all([s.load(v1, null), s.load(v2, null)]);
    assert.deepEqual([a.generation, b.generation], [1, 2]);
    assert.equal(await versionOf(s.call('wr_reconcile', '{}')), 'v2');
  });

  it('replaces a poisoned instance with a fresh one', async () => {
    // Two pages of memory: a 200 KB input makes the guest's allocator trap. Its single grow request is
    // refused below the cap, which the runtime can only report as a trap (docs/runtime.md, memory cap).
    const s = slot({ memoryPages: 2 }, 1);
    await s.load(v1, null);
    await assert.rejects(
      s.call('wr_reconcile', JSON.stringify('x'.repeat(200_000))),
      (err: unknown) => isWrError(err, 'WR_GUEST_TRAP') && err.details?.memoryMaxPages === 2,
    );
    assert.equal(await versionOf(s.call('wr_reconcile', '{}')), 'v1');
    const [stats] = s.stats();
    assert.deepEqual([stats?.calls, stats?.failures, stats?.instancesCreated, stats?.instancesDiscarded], [2, 1, 2, 1]);
    assert.ok((stats?.fuelUsed ?? 0) > 0);
  });

  it('finishes a call that started before a swap on the old version, then drains it', async () => {
    const s = slot({ memoryPages: 2 }, 1);
    await s.load(v1, null);
    await assert.rejects(s.call('wr_reconcile', JSON.stringify('x'.repeat(200_000))));
    // The only instance is gone: this call leases v1 now and waits for a replacement instance.
    const pending = s.call('wr_reconcile', '{}');
    const swap = s.load(v2, null);
    assert.equal(s.stats()[0]?.inFlight, 1);
    await swap;
    assert.equal(await versionOf(pending), 'v1');
    assert.equal(await versionOf(s.call('wr_reconcile', '{}')), 'v2');
    assert.deepEqual(
      s.stats().map((v) => [v.generation, v.state]),
      [[2, 'active']],
    );
  });

  it('answers finalize with a finalizer release when the version has no wr_finalize', async () => {
    const s = slot();
    await s.load(v1, null);
    assert.equal(s.hasFinalize, false);
    assert.deepEqual(await s.call('wr_finalize', '{}'), { finalizer: 'release' });
  });

  it('rejects calls and loads once closed, after letting in-flight calls finish', async () => {
    const s = slot();
    await s.load(v1, null);
    const inFlight = s.call('wr_reconcile', '{}');
    await s.close();
    assert.equal(await versionOf(inFlight), 'v1');
    await assert.rejects(s.call('wr_reconcile', '{}'), (err: unknown) => isWrError(err, 'WR_SLOT_CLOSED'));
    await assert.rejects(s.load(v2, null), (err: unknown) => isWrError(err, 'WR_SLOT_CLOSED'));
    assert.deepEqual(s.stats(), []);
  });
});

describe('ModuleSlot on a failing host', () => {
  it('a cache read the host fails to answer fails that call as WR_HOST_INTERNAL; the next read is answered', async () => {
    const { logger, lines } = recordingLogger();
    let broken = true;
    const port = mapReadPort([]);
    const s = new ModuleSlot({
      identity: { name: 'probe' },
      loader,
      logger,
      readPort: {
        get: port.get,
        list: (query) => {
          if (broken) throw new Error('a bug in the cache');
          return port.list(query);
        },
      },
    });
    await s.load(await fixture('probe'), null);
    const list = 'l{"apiVersion":"v1","kind":"ConfigMap"}';
    await assert.rejects(s.call('wr_reconcile', list), (err: unknown) => isWrError(err, 'WR_HOST_INTERNAL'));
    assert.ok(lines.some((l) => l.level === 'error' && l.fields.code === 'WR_HOST_INTERNAL'));
    broken = false;
    assert.deepEqual(await s.call('wr_reconcile', list), { status: { r: [] } });
    await s.close();
  });
});
