// Tests for WorkQueue under virtual time: dedup, one run per key, backoff, fairness, bounds, shutdown.

import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { WrError } from '../errors.ts';
import { type WorkItem, WorkQueue, type WorkQueueOptions } from './work-queue.ts';

/** A queue on mocked setTimeout/Date; the retry bucket is off unless a test sets it. */
function virtualQueue(t: TestContext, options: Partial<WorkQueueOptions> = {}): WorkQueue {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  return new WorkQueue({
    name: 'test',
    retryBucket: { qps: Number.POSITIVE_INFINITY, burst: 1 },
    now: () => Date.now(),
    ...options,
  });
}

/** Lets resolved promises and the continuations they trigger run (setImmediate is not mocked). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function take(queue: WorkQueue): Promise<WorkItem> {
  const item = await queue.get();
  assert.ok(item, 'expected an item');
  return item;
}

/**
 * Asks for an item like a worker would and reports what it got once pending work settled. When nothing
 * was ready the request stays registered, as an idle worker's does, and takes the next ready key.
 */
async function poll(queue: WorkQueue): Promise<WorkItem | undefined> {
  let got: WorkItem | undefined;
  queue.get().then((item) => {
    got = item;
  });
  await settle();
  return got;
}

test('a key added while queued is queued once, with merged reason and lane', async (t) => {
  const queue = virtualQueue(t);
  assert.equal(queue.add('ns/a', { reason: 'resync', lane: 'low' }), true);
  assert.equal(queue.add('ns/a', { reason: 'updated' }), true);
  assert.equal(queue.add('ns/a', { reason: 'child' }), true);
  assert.equal(queue.stats().depth, 1);
  assert.equal(queue.stats().addsTotal, 1);
  assert.deepEqual(await take(queue), { key: 'ns/a', reason: 'updated', lane: 'user', retries: 0 });
  assert.equal(queue.stats().depth, 0);
  queue.done('ns/a');
  assert.equal(queue.stats().trackedKeys, 0);
});

test('the source of the event whose reason wins the merge is reported', async (t) => {
  const queue = virtualQueue(t);
  const cm = (name: string) => ({ kind: 'ConfigMap', name, namespace: 'ns' });
  queue.addRateLimited('k');
  queue.add('k', { reason: 'child', source: cm('first') });
  queue.add('k', { reason: 'related', source: cm('second') });
  t.mock.timers.tick(5);
  assert.deepEqual(await take(queue), { key: 'k', reason: 'child', source: cm('first'), lane: 'user', retries: 1 });
  queue.done('k');
  queue.add('k', { reason: 'child', source: cm('c') });
  queue.add('k', { reason: 'deleted' });
  assert.deepEqual(await take(queue), { key: 'k', reason: 'deleted', lane: 'user', retries: 1 });
});

test('a key added while processing is dirty, not handed out, and ready again after done', async (t) => {
  const queue = virtualQueue(t, { concurrency: 2 });
  queue.add('ns/a', { reason: 'created' });
  await take(queue);
  queue.add('ns/a', { reason: 'updated' });
  queue.add('ns/a', { reason: 'child' });
  assert.equal(queue.stats().depth, 0);
  assert.equal(await poll(queue), undefined, 'a second worker must not get the key in flight');
  queue.done('ns/a');
  await settle();
  assert.equal(queue.stats().inFlight, 1, 'the waiting worker got the dirty key');
  assert.equal(queue.stats().depth, 0);
  queue.done('ns/a');
  assert.equal(queue.stats().trackedKeys, 0);
  await queue.shutdown(false);
});

test('one key is never processed concurrently with itself, whatever the worker count', async (t) => {
  const queue = virtualQueue(t, { concurrency: 4 });
  const running = new Map<string, number>();
  let overlaps = 0;
  const runs: string[] = [];
  const processing = queue.process(async (item) => {
    const count = (running.get(item.key) ?? 0) + 1;
    running.set(item.key, count);
    if (count > 1) overlaps++;
    runs.push(item.key);
    await new Promise((resolve) => setTimeout(resolve, 10));
    running.set(item.key, count - 1);
    return undefined;
  });
  for (let round = 0; round < 5; round++) {
    for (const key of ['a', 'b', 'a', 'a', 'c']) queue.add(key, { reason: 'updated' });
    await settle();
    t.mock.timers.tick(3);
    await settle();
  }
  for (let i = 0; i < 10; i++) {
    t.mock.timers.tick(10);
    await settle();
  }
  assert.equal(overlaps, 0);
  // Runs start at 0 ms; the adds at 3, 6 and 9 ms coalesce into one run after the first ends, and the add
  // at 12 ms, which lands during that second run, into a third.
  assert.deepEqual(runs.toSorted(), ['a', 'a', 'a', 'b', 'b', 'b', 'c', 'c', 'c']);
  await queue.shutdown(true);
  await processing;
});

test('retries back off 5 ms, 10 ms, 20 ms ... up to the cap, and each fires exactly on time', async (t) => {
  const queue = virtualQueue(t, { backoff: { baseMs: 5, capMs: 1000 } });
  const delays: number[] = [];
  for (let failure = 1; failure <= 10; failure++) {
    const delay = queue.addRateLimited('ns/a');
    assert.ok(delay !== undefined);
    delays.push(delay);
    t.mock.timers.tick(delay - 1);
    assert.equal(queue.stats().depth, 0, `retry ${failure} must not fire early`);
    t.mock.timers.tick(1);
    assert.equal(queue.stats().depth, 1, `retry ${failure} fires at ${delay} ms`);
    const item = await take(queue);
    assert.deepEqual([item.reason, item.retries], ['retry', failure]);
    queue.done('ns/a');
  }
  assert.deepEqual(delays, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
  assert.equal(queue.stats().retriesTotal, 10);
  assert.equal(queue.retries('ns/a'), 10);
});

test('forget resets the backoff to the base delay', (t) => {
  const queue = virtualQueue(t);
  queue.addRateLimited('k');
  queue.addRateLimited('k');
  assert.equal(queue.addRateLimited('k'), 20);
  queue.forget('k');
  assert.equal(queue.retries('k'), 0);
  t.mock.timers.tick(20);
  assert.equal(queue.stats().depth, 1);
  assert.equal(queue.addRateLimited('other'), 5);
});

test('process(): retryable errors retry with backoff, success forgets, terminal errors stop', async (t) => {
  const calls: Array<[string, number, number]> = [];
  const failures: Array<[string, boolean]> = [];
  const outcomes = new Map<string, Array<'ok' | 'retry' | 'terminal'>>([
    ['flaky', ['retry', 'retry', 'ok']],
    ['broken', ['terminal', 'ok']],
  ]);
  const observed = virtualQueue(t, {
    observer: { failed: (item, _error, retrying) => failures.push([item.key, retrying]) },
  });
  const processing = observed.process(async (item) => {
    calls.push([item.key, item.retries, Date.now()]);
    const outcome = outcomes.get(item.key)?.shift();
    if (outcome === 'retry') throw new WrError('WR_KUBE_CONFLICT', 'conflict');
    if (outcome === 'terminal') throw new WrError('WR_GUEST_ERROR_TERMINAL', 'bad spec');
    return undefined;
  });
  observed.add('flaky', { reason: 'created' });
  observed.add('broken', { reason: 'created' });
  for (let i = 0; i < 100; i++) {
    await settle();
    t.mock.timers.tick(1);
  }
  assert.deepEqual(calls, [
    ['flaky', 0, 0],
    ['broken', 0, 0],
    ['flaky', 1, 5],
    ['flaky', 2, 15],
  ]);
  assert.deepEqual(failures, [
    ['flaky', true],
    ['broken', false],
    ['flaky', true],
  ]);
  const stats = observed.stats();
  assert.equal(stats.terminalFailuresTotal, 1);
  assert.equal(stats.trackedKeys, 0, 'success and terminal failure both forget the key');
  observed.add('broken', { reason: 'updated' });
  await settle();
  assert.deepEqual(calls.at(-1), ['broken', 0, 100], 'a new event runs a terminally failed key again');
  await observed.shutdown(true);
  await processing;
});

/** Steps virtual time 1 ms at a time for `ms` milliseconds, letting the queue's workers run in between. */
async function elapse(t: TestContext, ms: number): Promise<void> {
  for (let i = 0; i < ms; i++) {
    await settle();
    t.mock.timers.tick(1);
  }
}

/** Starts `queue.process` with a handler that returns nothing. */
function processWith(queue: WorkQueue, handler: (item: WorkItem) => Promise<void>): Promise<void> {
  return queue.process(async (item) => {
    await handler(item);
    return undefined;
  });
}

test('process(): a deterministic failure runs exactly twice, then not again until the next event', async (t) => {
  const calls: Array<[string, number]> = [];
  const retrying: boolean[] = [];
  const observed = virtualQueue(t, { observer: { failed: (_item, _error, retry) => retrying.push(retry) } });
  observed.add('ns/trap', { reason: 'created' });
  const processing = processWith(observed, async (item) => {
    calls.push([item.reason, item.retries]);
    throw new WrError('WR_GUEST_TRAP', 'unreachable');
  });
  await elapse(t, 10_000);
  assert.deepEqual(calls, [
    ['created', 0],
    ['retry', 1],
  ]);
  assert.deepEqual(retrying, [true, false], 'the second failure is reported as not retrying');
  const stats = observed.stats();
  assert.deepEqual([stats.trackedKeys, stats.delayed, stats.terminalFailuresTotal], [0, 0, 1]);

  // The object changed: two more attempts, from the base backoff again, then quiet.
  observed.add('ns/trap', { reason: 'updated' });
  await elapse(t, 10_000);
  assert.deepEqual(calls.slice(2), [
    ['updated', 0],
    ['retry', 1],
  ]);
  await observed.shutdown(true);
  await processing;
});

test('process(): every deterministic code is given up on after two runs, whatever the mix', async (t) => {
  const codes = [
    'WR_GUEST_BUDGET_EXCEEDED',
    'WR_GUEST_STACK_OVERFLOW',
    'WR_GUEST_MEMORY_EXCEEDED',
    'WR_GUEST_OUTPUT_INVALID',
    'WR_GUEST_OUTPUT_TOO_LARGE',
    'WR_GUEST_INPUT_TOO_LARGE',
    'WR_GUEST_DEADLINE_EXCEEDED',
  ] as const;
  const queue = virtualQueue(t);
  const runs = new Map<string, number>();
  for (const code of codes) queue.add(code, { reason: 'created' });
  const processing = processWith(queue, async (item) => {
    const n = (runs.get(item.key) ?? 0) + 1;
    runs.set(item.key, n);
    // The retry fails with another deterministic code: still the same input failing deterministically.
    throw new WrError(n === 1 ? (item.key as (typeof codes)[number]) : 'WR_GUEST_TRAP', 'fails');
  });
  await elapse(t, 1000);
  assert.deepEqual(
    [...runs.values()],
    codes.map(() => 2),
  );
  assert.equal(queue.stats().trackedKeys, 0);
  await queue.shutdown(true);
  await processing;
});

test('process(): transient failures keep backing off, between deterministic ones too', async (t) => {
  const queue = virtualQueue(t);
  const calls: Array<[string, number, number]> = [];
  const script = new Map<string, WrError[]>([
    ['ns/api-down', Array.from({ length: 5 }, () => new WrError('WR_KUBE_UNAVAILABLE', 'connection refused'))],
    ['ns/worker-died', Array.from({ length: 5 }, () => new WrError('WR_GUEST_WORKER_EXITED', 'heap limit'))],
    // A transient failure between two deterministic ones does not reset their count, nor count itself.
    [
      'ns/mixed',
      [
        new WrError('WR_GUEST_TRAP', 'unreachable'),
        new WrError('WR_GUEST_WORKER_EXITED', 'heap limit'),
        new WrError('WR_GUEST_TRAP', 'unreachable'),
      ],
    ],
    ['ns/guest-says-later', Array.from({ length: 5 }, () => new WrError('WR_GUEST_ERROR_RETRYABLE', 'not yet'))],
  ]);
  for (const key of script.keys()) queue.add(key, { reason: 'created' });
  const processing = processWith(queue, async (item) => {
    calls.push([item.key, item.retries, Date.now()]);
    const next = script.get(item.key)?.shift();
    if (next !== undefined) throw next;
  });
  await elapse(t, 1000);
  const runsOf = (key: string) => calls.filter(([k]) => k === key).map(([, retries, at]) => [retries, at]);
  // Backoff 5, 10, 20, 40, 80 ms: five failures, then the sixth run succeeds.
  const backoff = [
    [0, 0],
    [1, 5],
    [2, 15],
    [3, 35],
    [4, 75],
    [5, 155],
  ];
  assert.deepEqual(runsOf('ns/api-down'), backoff);
  assert.deepEqual(runsOf('ns/worker-died'), backoff);
  assert.deepEqual(runsOf('ns/guest-says-later'), backoff);
  assert.deepEqual(runsOf('ns/mixed'), backoff.slice(0, 3), 'given up on at the second trap');
  assert.equal(queue.stats().trackedKeys, 0);
  await queue.shutdown(true);
  await processing;
});

test('process(): requeueAfterMs from the handler schedules the next run', async (t) => {
  const queue = virtualQueue(t);
  const times: number[] = [];
  const processing = queue.process(async () => {
    times.push(Date.now());
    return times.length < 3 ? { requeueAfterMs: 30 } : undefined;
  });
  queue.add('k', { reason: 'created' });
  for (let i = 0; i < 10; i++) {
    await settle();
    t.mock.timers.tick(10);
  }
  assert.deepEqual(times, [0, 30, 60]);
  await queue.shutdown(true);
  await processing;
});

test('the global bucket and the per-key backoff combine as the max of both', (t) => {
  const queue = virtualQueue(t, { retryBucket: { qps: 2, burst: 2 } });
  assert.deepEqual(
    ['a', 'b', 'c', 'd', 'a'].map((key) => queue.addRateLimited(key)),
    // a, b: within burst so backoff (5 ms); c, d: bucket debt of 1 and 2 tokens at 2 qps; a again: its
    // own backoff is 10 ms but the bucket says 1.5 s.
    [5, 5, 500, 1000, 1500],
  );
});

test('requeueAfter coalesces: the earliest deadline wins and one run happens', async (t) => {
  const queue = virtualQueue(t);
  queue.requeueAfter('later-first', 100);
  queue.requeueAfter('later-first', 50);
  queue.requeueAfter('early-first', 50);
  queue.requeueAfter('early-first', 100);
  assert.equal(queue.stats().delayed, 2);
  t.mock.timers.tick(49);
  assert.equal(queue.stats().depth, 0);
  t.mock.timers.tick(1);
  assert.equal(queue.stats().depth, 2);
  assert.equal(queue.stats().delayed, 0);
  for (const key of ['later-first', 'early-first']) {
    const item = await take(queue);
    assert.equal(item.key, key);
    assert.equal(item.reason, 'requeue');
    queue.done(key);
  }
  t.mock.timers.tick(1000);
  assert.equal(queue.stats().depth, 0, 'the later deadlines were merged away');
});

test('an add before the deadline runs now and drops the deadline', async (t) => {
  const queue = virtualQueue(t);
  queue.requeueAfter('k', 100);
  queue.add('k', { reason: 'updated' });
  assert.equal(queue.stats().delayed, 0);
  const item = await take(queue);
  assert.equal(item.reason, 'updated');
  queue.done('k');
  t.mock.timers.tick(200);
  assert.equal(queue.stats().depth, 0);
  assert.equal(queue.stats().trackedKeys, 0);
});

test('requeueAfter on a ready key is dropped; zero delay is an add', (t) => {
  const queue = virtualQueue(t);
  queue.add('k', { reason: 'created' });
  queue.requeueAfter('k', 10);
  assert.equal(queue.stats().delayed, 0);
  assert.equal(queue.stats().depth, 1);
  queue.requeueAfter('z', 0);
  assert.equal(queue.stats().depth, 2);
});

test('a deadline falling due while the key runs makes it dirty, not concurrent', async (t) => {
  const queue = virtualQueue(t, { concurrency: 2 });
  queue.add('k', { reason: 'created', lane: 'low' });
  await take(queue);
  queue.requeueAfter('k', 10);
  t.mock.timers.tick(10);
  assert.equal(await poll(queue), undefined);
  queue.done('k');
  await settle();
  assert.equal(queue.stats().inFlight, 1);
  queue.done('k');
  const next = await poll(queue);
  assert.equal(next, undefined);
  await queue.shutdown(false);
});

test('a requeue keeps the lane of the run that asked for it', async (t) => {
  const queue = virtualQueue(t);
  queue.add('k', { reason: 'resync', lane: 'low' });
  await take(queue);
  queue.requeueAfter('k', 5);
  queue.done('k');
  t.mock.timers.tick(5);
  assert.deepEqual(await take(queue), { key: 'k', reason: 'requeue', lane: 'low', retries: 0 });
});

test('a user event behind 10 000 initial-list items is dequeued within 2 picks', async (t) => {
  const queue = virtualQueue(t, { userWeight: 4 });
  for (let i = 0; i < 10_000; i++) queue.add(`ns/item-${i}`, { reason: 'resync', lane: 'low' });
  for (let i = 0; i < 7; i++) queue.done((await take(queue)).key);
  queue.add('ns/user', { reason: 'updated' });
  let picks = 0;
  for (;;) {
    const item = await take(queue);
    picks++;
    queue.done(item.key);
    if (item.key === 'ns/user') break;
  }
  assert.ok(picks <= 2, `user event took ${picks} picks`);
});

test('an initial-list key bumped by a user event leaves the low lane', async (t) => {
  const queue = virtualQueue(t);
  for (let i = 0; i < 100; i++) queue.add(`k${i}`, { reason: 'resync', lane: 'low' });
  queue.add('k99', { reason: 'updated' });
  assert.deepEqual([queue.stats().depthUser, queue.stats().depthLow], [1, 99]);
  assert.deepEqual(await take(queue), { key: 'k99', reason: 'updated', lane: 'user', retries: 0 });
});

test('a steady stream of user events does not starve the low lane', async (t) => {
  const queue = virtualQueue(t, { userWeight: 4 });
  for (let i = 0; i < 1000; i++) queue.add(`low-${i}`, { reason: 'resync', lane: 'low' });
  let userCounter = 0;
  const lanes: string[] = [];
  for (let pick = 0; pick < 500; pick++) {
    // Keep the user lane non-empty at every pick: a producer faster than the workers.
    while (queue.stats().depthUser < 3) queue.add(`user-${userCounter++}`, { reason: 'updated' });
    const item = await take(queue);
    lanes.push(item.lane);
    queue.done(item.key);
  }
  assert.equal(lanes.filter((lane) => lane === 'low').length, 100, 'one low pick in every five');
  for (let i = 0; i + 5 <= lanes.length; i += 5) {
    assert.deepEqual(lanes.slice(i, i + 5), ['user', 'user', 'user', 'user', 'low']);
  }
});

test('an idle user lane leaves the whole throughput to the low lane', async (t) => {
  const queue = virtualQueue(t);
  for (let i = 0; i < 10; i++) queue.add(`low-${i}`, { reason: 'resync', lane: 'low' });
  for (let i = 0; i < 10; i++) queue.done((await take(queue)).key);
  assert.equal(queue.stats().depth, 0);
});

test('new keys beyond maxKeys are refused, counted, and recovery is signalled at half', async (t) => {
  const dropped: string[] = [];
  let recovered = 0;
  const queue = virtualQueue(t, {
    maxKeys: 4,
    observer: { dropped: (key) => dropped.push(key) },
    onOverflowRecovered: () => recovered++,
  });
  for (const key of ['a', 'b', 'c', 'd']) assert.equal(queue.add(key, { reason: 'created' }), true);
  assert.equal(queue.add('e', { reason: 'created' }), false);
  assert.equal(queue.requeueAfter('f', 10), false);
  assert.equal(queue.addRateLimited('g'), undefined);
  assert.equal(queue.add('a', { reason: 'updated' }), true, 'known keys still coalesce at the bound');
  assert.deepEqual(dropped, ['e', 'f', 'g']);
  assert.equal(queue.stats().dropsTotal, 3);
  assert.equal(queue.stats().trackedKeys, 4);
  queue.done((await take(queue)).key);
  assert.equal(recovered, 0, '3 keys tracked is above half of the bound');
  queue.done((await take(queue)).key);
  assert.equal(recovered, 1);
  queue.done((await take(queue)).key);
  assert.equal(recovered, 1, 'signalled once per overflow');
});

test('keys remembered for backoff count against the bound', (t) => {
  const queue = virtualQueue(t, { maxKeys: 1 });
  queue.addRateLimited('a');
  assert.equal(queue.add('b', { reason: 'created' }), false);
});

test('shutdown with drain waits for in-flight work and refuses new work', async (t) => {
  const queue = virtualQueue(t, { concurrency: 2 });
  for (const key of ['a', 'b', 'e']) queue.add(key, { reason: 'created' });
  queue.requeueAfter('c', 1000);
  await take(queue);
  await take(queue);
  queue.add('a', { reason: 'updated' });
  const waiting = queue.get();
  let report: unknown;
  const shutdown = queue.shutdown(true).then((r) => {
    report = r;
  });
  assert.equal(await waiting, undefined, 'a waiting get() is released');
  assert.equal(await queue.get(), undefined);
  assert.equal(queue.add('d', { reason: 'created' }), false);
  await settle();
  queue.done('a');
  await settle();
  assert.equal(report, undefined, 'still draining while b is in flight');
  queue.done('b');
  await shutdown;
  // e was ready, c delayed, a dirty: all discarded; nothing abandoned.
  assert.deepEqual(report, { discarded: 3, abandoned: 0 });
  t.mock.timers.tick(2000);
  assert.equal(queue.stats().depth, 0);
  assert.equal(queue.stats().trackedKeys, 0);
});

test('shutdown without drain, or with a drain timeout, reports abandoned work', async (t) => {
  const queue = virtualQueue(t);
  queue.add('a', { reason: 'created' });
  await take(queue);
  assert.deepEqual(await queue.shutdown(false), { discarded: 0, abandoned: 1 });
  const draining = queue.shutdown(true, 500);
  t.mock.timers.tick(500);
  assert.deepEqual(await draining, { discarded: 0, abandoned: 1 });
  queue.done('a');
  assert.equal(queue.stats().inFlight, 0);
});

test('stats report in-flight time like workqueue_unfinished_work_seconds', async (t) => {
  const queue = virtualQueue(t, { concurrency: 2 });
  queue.add('a', { reason: 'created' });
  await take(queue);
  t.mock.timers.tick(3000);
  queue.add('b', { reason: 'created' });
  await take(queue);
  t.mock.timers.tick(1000);
  const stats = queue.stats();
  assert.equal(stats.unfinishedWorkSeconds, 5);
  assert.equal(stats.longestRunningProcessorSeconds, 4);
});

test('the observer sees adds, queue waits and work durations', async (t) => {
  const events: string[] = [];
  const queue = virtualQueue(t, {
    observer: {
      added: (key, reason, lane) => events.push(`added ${key} ${reason} ${lane}`),
      dequeued: (item, waitedMs) => events.push(`dequeued ${item.key} ${waitedMs}`),
      finished: (key, workedMs) => events.push(`finished ${key} ${workedMs}`),
      retried: (key, delayMs) => events.push(`retried ${key} ${delayMs}`),
    },
  });
  queue.add('k', { reason: 'created', lane: 'low' });
  queue.add('k', { reason: 'updated' });
  t.mock.timers.tick(7);
  await take(queue);
  t.mock.timers.tick(2);
  queue.addRateLimited('k');
  queue.done('k');
  assert.deepEqual(events, ['added k created low', 'dequeued k 7', 'retried k 5', 'finished k 2']);
});

test('bad options and out-of-order calls raise typed errors', (t) => {
  const queue = virtualQueue(t);
  const code = (code: string) => (error: unknown) => error instanceof WrError && error.code === code;
  assert.throws(() => new WorkQueue({ name: 'x', concurrency: 0 }), code('WR_CONFIG_INVALID'));
  assert.throws(() => new WorkQueue({ name: 'x', maxKeys: 1.5 }), code('WR_CONFIG_INVALID'));
  assert.throws(() => new WorkQueue({ name: 'x', userWeight: 0 }), code('WR_CONFIG_INVALID'));
  assert.throws(() => new WorkQueue({ name: 'x', backoff: { baseMs: 10, capMs: 5 } }), code('WR_CONFIG_INVALID'));
  assert.throws(() => new WorkQueue({ name: 'x', backoff: { baseMs: 0, capMs: 5 } }), code('WR_CONFIG_INVALID'));
  assert.throws(() => new WorkQueue({ name: 'x', retryBucket: { qps: 0, burst: 1 } }), code('WR_CONFIG_INVALID'));
  assert.throws(() => queue.done('never-taken'), code('WR_QUEUE_MISUSE'));
  assert.throws(() => queue.requeueAfter('k', -1), code('WR_QUEUE_MISUSE'));
  assert.throws(() => queue.requeueAfter('k', Number.NaN), code('WR_QUEUE_MISUSE'));
  assert.throws(() => queue.add('', { reason: 'created' }), code('WR_QUEUE_MISUSE'));
});
