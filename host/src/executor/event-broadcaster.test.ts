import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WrError } from '../errors.ts';
import { EventBroadcaster, type EventBroadcasterOptions } from './event-broadcaster.ts';
import type { CoreEvent } from './ports.ts';

function coreEvent(i: number, overrides: Partial<CoreEvent> = {}): CoreEvent {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { generateName: `app-${i}.`, namespace: 'ns' },
    involvedObject: { apiVersion: 'demo/v1', kind: 'App', name: `app-${i}`, namespace: 'ns', uid: `uid-${i}` },
    type: 'Normal',
    reason: 'Created',
    message: 'made things',
    source: { component: 'wasmreconciler.dev/apps' },
    reportingComponent: 'wasmreconciler.dev/apps',
    firstTimestamp: '2025-01-01T00:00:00Z',
    lastTimestamp: '2025-01-01T00:00:00Z',
    count: 1,
    ...overrides,
  };
}

/** Deterministic PRNG (mulberry32): a fixed seed makes the 20% failure pattern the same on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An API server's Event endpoint that answers `failRate` of writes with 429 or 503 (no Retry-After). */
function flakyClient(failRate: number, seed = 42) {
  const next = random(seed);
  const stored = new Map<string, CoreEvent>();
  let calls = 0;
  let failures = 0;
  const maybeFail = () => {
    calls++;
    if (next() < failRate) {
      failures++;
      throw new WrError('WR_KUBE_UNAVAILABLE', failures % 2 === 0 ? 'HTTP 429' : 'HTTP 503');
    }
  };
  return {
    stored,
    get calls() {
      return calls;
    },
    get failures() {
      return failures;
    },
    async createEvent(event: CoreEvent) {
      await Promise.resolve();
      maybeFail();
      const name = `${event.metadata.generateName}${stored.size + 1}`;
      stored.set(name, { ...event, metadata: { ...event.metadata, name } });
      return { name };
    },
    async patchEvent(ref: { namespace: string; name: string }, patch: { count: number; lastTimestamp: string }) {
      await Promise.resolve();
      maybeFail();
      const event = stored.get(ref.name);
      if (event === undefined) throw new WrError('WR_KUBE_NOT_FOUND', 'no such event');
      stored.set(ref.name, { ...event, ...patch });
    },
  };
}

const instant: EventBroadcasterOptions['sleep'] = () => Promise.resolve();

describe('EventBroadcaster', () => {
  it('lands every event when 20% of writes fail with 429/503, retrying with backoff', async (t) => {
    const client = flakyClient(0.2);
    const waits: number[] = [];
    const broadcaster = new EventBroadcaster({
      client,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    for (let i = 0; i < 300; i++) assert.equal(broadcaster.record(coreEvent(i)), 'queued');
    await broadcaster.flush();
    const stats = broadcaster.stats();
    t.diagnostic(`300 of 300 landed; ${client.failures} of ${client.calls} writes failed`);
    assert.equal(client.stored.size, 300, `all 300 Created events landed (${client.failures} writes failed)`);
    assert.ok(client.failures > 30, 'the fake did fail about a fifth of the writes');
    assert.deepEqual([stats.created, stats.droppedFailed, stats.queued], [300, 0, 0]);
    assert.equal(stats.retried, client.failures);
    assert.ok(
      waits.every((ms) => ms >= 200 && ms <= 5000),
      'backoff from 200 ms, capped at 5 s',
    );
    assert.ok(waits.includes(400), 'a second failure in a row waits twice as long');
  });

  it('without retries, the same run loses about a fifth of the events (the behaviour before)', async (t) => {
    const client = flakyClient(0.2);
    const broadcaster = new EventBroadcaster({ client, sleep: instant, maxAttempts: 1 });
    for (let i = 0; i < 300; i++) broadcaster.record(coreEvent(i));
    await broadcaster.flush();
    t.diagnostic(`${client.stored.size} of 300 landed without retries`);
    assert.ok(client.stored.size < 270, `${client.stored.size} of 300 landed`);
    assert.equal(broadcaster.stats().droppedFailed, 300 - client.stored.size);
  });

  it('gives an event up after its last attempt, and a non-retryable failure at once, and counts both', async () => {
    const dropped: string[] = [];
    let calls = 0;
    const broadcaster = new EventBroadcaster({
      client: {
        createEvent: async (event) => {
          calls++;
          throw new WrError(event.reason === 'Forbidden' ? 'WR_KUBE_FORBIDDEN' : 'WR_KUBE_UNAVAILABLE', 'no');
        },
      },
      sleep: instant,
      maxAttempts: 4,
      onDrop: (reason) => dropped.push(reason),
    });
    broadcaster.record(coreEvent(1));
    broadcaster.record(coreEvent(2, { reason: 'Forbidden' }));
    await broadcaster.flush();
    assert.equal(calls, 4 + 1);
    assert.deepEqual(dropped, ['failed', 'failed']);
    assert.equal(broadcaster.stats().droppedFailed, 2);
  });

  it('aggregates N identical events in the window into one Event with count N', async () => {
    const client = flakyClient(0);
    let now = Date.parse('2025-01-01T00:00:00Z');
    const broadcaster = new EventBroadcaster({ client, sleep: instant, now: () => now, aggregateWindowMs: 60_000 });
    const warning = (ts: number) =>
      coreEvent(0, {
        type: 'Warning',
        reason: 'ModuleFailed',
        message: 'CRD demo.io/v1 App not found',
        lastTimestamp: new Date(ts).toISOString(),
      });
    // 13 repeats over 40 s: some while the first write is queued, the rest after it landed.
    const results = [broadcaster.record(warning(now))];
    for (let i = 1; i < 5; i++) results.push(broadcaster.record(warning(now)));
    await broadcaster.flush();
    for (let i = 5; i < 13; i++) {
      now += 5000;
      results.push(broadcaster.record(warning(now)));
      await broadcaster.flush();
    }
    assert.deepEqual(results, ['queued', ...Array(12).fill('aggregated')]);
    assert.equal(client.stored.size, 1, 'one Event');
    const [event] = client.stored.values();
    assert.equal(event?.count, 13);
    assert.equal(event?.lastTimestamp, new Date(now).toISOString());
    assert.equal(broadcaster.stats().aggregated, 12);

    // Past the window a repeat starts a new Event; another object or message is its own series anyway.
    now += 60_000;
    assert.equal(broadcaster.record(warning(now)), 'queued');
    assert.equal(broadcaster.record(coreEvent(1, { type: 'Warning', reason: 'ModuleFailed' })), 'queued');
    await broadcaster.flush();
    assert.equal(client.stored.size, 3);
  });

  it('repeats while writes fail still end as one Event with the full count', async () => {
    const client = flakyClient(0.2, 7);
    const broadcaster = new EventBroadcaster({ client, sleep: instant });
    for (let i = 0; i < 50; i++) {
      broadcaster.record(coreEvent(0));
      if (i % 10 === 0) await broadcaster.flush();
    }
    await broadcaster.flush();
    assert.equal(client.stored.size, 1);
    assert.equal([...client.stored.values()][0]?.count, 50);
  });

  it('a flood beyond the queue is dropped and counted at once, never waiting on the API server', async () => {
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    let created = 0;
    const drops: string[] = [];
    const broadcaster = new EventBroadcaster({
      client: {
        createEvent: async () => {
          await blocked;
          created++;
          return undefined;
        },
      },
      maxQueued: 10,
      onDrop: (reason) => drops.push(reason),
    });
    const started = performance.now();
    const results = Array.from({ length: 10_000 }, (_, i) => broadcaster.record(coreEvent(i)));
    const elapsedMs = performance.now() - started;
    assert.ok(elapsedMs < 1000, `10,000 records took ${elapsedMs.toFixed(0)} ms while the API server hung`);
    assert.equal(results.filter((r) => r === 'queued').length, 10);
    assert.equal(results.filter((r) => r === 'dropped').length, 9990);
    assert.equal(broadcaster.stats().droppedQueueFull, 9990);
    assert.equal(drops.length, 9990);
    assert.equal(broadcaster.stats().queued, 10);
    release();
    await broadcaster.flush();
    assert.equal(created, 10);
    assert.equal(broadcaster.record(coreEvent(0, { reason: 'After' })), 'queued', 'room again once drained');
    await broadcaster.flush();
  });

  it('a repeat of an Event that expired meanwhile creates it again', async () => {
    const client = flakyClient(0);
    const broadcaster = new EventBroadcaster({ client, sleep: instant });
    broadcaster.record(coreEvent(0));
    await broadcaster.flush();
    client.stored.clear();
    assert.equal(broadcaster.record(coreEvent(0)), 'aggregated');
    await broadcaster.flush();
    assert.equal(client.stored.size, 1);
    assert.equal([...client.stored.values()][0]?.count, 2);
  });
});
