// Unit tests for the guest worker pool's idle release: a worker with nothing to run ends, and the next call
// creates its instance again on a new worker without failing.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { mapReadPort, recordingLogger } from '../../../../test/fixtures/guests/host.ts';
import { fixture } from '../../../../test/fixtures/guests/wat.ts';
import { ModuleLoader } from '../loader.ts';
import { ModuleSlot } from '../slot.ts';
import { GuestWorkerPool } from './worker-pool.ts';

const loader = new ModuleLoader();

function slot(workers: GuestWorkerPool): ModuleSlot {
  return new ModuleSlot({
    identity: { name: 'apps', namespace: 'system' },
    loader,
    logger: recordingLogger().logger,
    readPort: mapReadPort([]),
    workers,
  });
}

async function until(what: string, probe: () => boolean): Promise<void> {
  for (const started = performance.now(); !probe(); await sleep(5)) {
    if (performance.now() - started > 10_000) assert.fail(`timed out waiting for ${what}`);
  }
}

const versionOf = (out: unknown) => (out as { status: { version: string } }).status.version;

describe('GuestWorkerPool idle release', () => {
  let ok: Uint8Array;
  const pools: GuestWorkerPool[] = [];
  const pool = (options: ConstructorParameters<typeof GuestWorkerPool>[0]) => {
    const p = new GuestWorkerPool(options);
    pools.push(p);
    return p;
  };
  before(async () => {
    ok = await fixture('ok');
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });

  it('ends a worker idle for idleMs; the next call re-creates its instance on a new worker', async () => {
    const workers = pool({ size: 1, idleMs: 50 });
    const s = slot(workers);
    await s.load(ok, null);
    assert.equal(versionOf(await s.call('wr_reconcile', '{}')), 'v1');
    await until('the idle worker to end', () => workers.stats().workers === 0);
    assert.deepEqual(workers.stats(), { workers: 0, instances: 0, replaced: 0, moved: 0, released: 1 });

    assert.equal(versionOf(await s.call('wr_reconcile', '{}')), 'v1');
    const [version] = s.stats();
    assert.deepEqual(
      [version?.calls, version?.failures, version?.instancesCreated],
      [2, 0, 2],
      'the call was served by a new instance, and nothing failed',
    );
    assert.deepEqual([workers.stats().workers, workers.stats().instances], [1, 1]);
    await s.close();
  });

  it('keeps a worker that keeps getting calls, and loses no call to a release racing them', async () => {
    const workers = pool({ size: 2, idleMs: 1 });
    const s = slot(workers);
    await s.load(ok, null);
    for (let round = 0; round < 20; round++) {
      const outs = await Promise.all([1, 2, 3].map(() => s.call('wr_reconcile', '{}')));
      assert.deepEqual(outs.map(versionOf), ['v1', 'v1', 'v1']);
      // Lets some rounds find their workers released.
      if (round % 4 === 0) await sleep(10);
    }
    const [version] = s.stats();
    assert.deepEqual([version?.calls, version?.failures], [60, 0]);
    assert.equal(workers.stats().replaced, 0);
    assert.ok(workers.stats().released > 0, 'some workers were released between rounds');
    await s.close();
  });
});
