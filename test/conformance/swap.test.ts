// Conformance: hot swaps under a steady stream of calls lose nothing, duplicate nothing, and never go back.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { isWrError } from '../../host/src/errors.ts';
import { ModuleLoader, ModuleSlot } from '../../host/src/runtime/index.ts';
import { mapReadPort, recordingLogger } from '../fixtures/guests/host.ts';
import { okGuest } from '../fixtures/guests/wat.ts';

const VERSIONS = ['v1', 'v2', 'v3', 'v4'];
/** Every POISON_EVERY-th call sends an input the guest's allocator cannot fit, poisoning its instance. */
const POISON_EVERY = 37;
const CALLS_PER_TURN = 20;

describe('hot swap under load', () => {
  it('answers every call exactly once, each by one version, in version order', async () => {
    const slot = new ModuleSlot({
      identity: { name: 'stream' },
      loader: new ModuleLoader(),
      logger: recordingLogger().logger,
      readPort: mapReadPort([]),
      // Two pages: the poisoning input (200 KB) does not fit, so replacement instances keep being
      // instantiated (async) while swaps happen, and calls wait on them across swaps.
      limits: { memoryPages: 2 },
      maxInstances: 1,
    });
    const modules = await Promise.all(VERSIONS.map((v) => okGuest(v)));
    await slot.load(modules[0]!, null);

    const poison = JSON.stringify('x'.repeat(200_000));
    const answeredBy = new Map<number, string>();
    let duplicates = 0;
    let poisonFailures = 0;
    let otherFailures = 0;
    let issued = 0;
    const inFlight = new Set<Promise<void>>();
    let streaming = true;

    const issue = () => {
      const seq = issued++;
      const isPoison = seq % POISON_EVERY === POISON_EVERY - 1;
      const call = slot.call('wr_reconcile', isPoison ? poison : `{"seq":${seq}}`).then(
        (out) => {
          const status = out.status as { version: string; input: { seq: number } };
          // The answer carries the call's own input: no call is answered with another's.
          assert.equal(status.input.seq, seq);
          if (answeredBy.has(seq)) duplicates++;
          answeredBy.set(seq, status.version);
        },
        (err: unknown) => {
          if (isPoison && isWrError(err, 'WR_GUEST_TRAP')) poisonFailures++;
          else otherFailures++;
        },
      );
      inFlight.add(call);
      void call.finally(() => inFlight.delete(call));
    };

    const stream = (async () => {
      while (streaming) {
        for (let i = 0; i < CALLS_PER_TURN; i++) issue();
        await nextTurn();
      }
    })();

    /**
     * Waits until `version` has answered `count` calls: a fixed sleep is too short on a loaded machine and
     * would let the next swap happen before the version served anything.
     */
    const untilAnswered = async (version: string, count: number) => {
      const deadline = Date.now() + 30_000;
      while ([...answeredBy.values()].filter((v) => v === version).length < count) {
        assert.ok(Date.now() < deadline, `${version} answered fewer than ${count} calls in 30 s`);
        await sleep(5);
      }
    };

    /** For each version after the first: the first call sequence number issued after its load resolved. */
    const firstSeqAfterSwap = new Map<string, number>();
    for (let i = 1; i < VERSIONS.length; i++) {
      await untilAnswered(VERSIONS[i - 1]!, 150);
      const result = await slot.load(modules[i]!, null);
      assert.equal(result.swapped, true);
      firstSeqAfterSwap.set(VERSIONS[i]!, issued);
    }
    await untilAnswered(VERSIONS.at(-1)!, 150);
    streaming = false;
    await stream;
    while (inFlight.size > 0) await Promise.all([...inFlight]);

    const poisonCalls = Math.floor(issued / POISON_EVERY);
    assert.ok(issued > 500, `only ${issued} calls were issued`);
    assert.equal(duplicates, 0);
    assert.equal(otherFailures, 0);
    assert.equal(poisonFailures, poisonCalls);
    assert.equal(answeredBy.size + poisonFailures, issued, 'every call answered exactly once');

    let previous = 0;
    for (const [seq, version] of [...answeredBy].sort(([a], [b]) => a - b)) {
      const index = VERSIONS.indexOf(version);
      assert.ok(index >= previous, `call ${seq} answered by ${version} after a call answered by ${VERSIONS[previous]}`);
      previous = index;
      for (const [swapped, first] of firstSeqAfterSwap) {
        if (seq >= first)
          assert.ok(index >= VERSIONS.indexOf(swapped), `call ${seq} started after ${swapped} was active`);
      }
    }
    for (const version of VERSIONS) {
      assert.ok([...answeredBy.values()].includes(version), `no call was answered by ${version}`);
    }

    assert.equal(slot.generation, VERSIONS.length);
    assert.deepEqual(
      slot.stats().map((s) => [s.generation, s.state, s.inFlight]),
      [[VERSIONS.length, 'active', 0]],
    );
    await slot.close();
  });
});
