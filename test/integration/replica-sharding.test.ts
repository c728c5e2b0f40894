// Sharded replicas on the real API server: members hold their own Leases, a sharder labels each App with its shard,
// and keys move only after their old owner let go (drain) or after its Lease expired (kill). Children (each
// App's ConfigMap and Deployment) carry their App's shard label, follow it when it moves, and each replica's
// child caches hold only its own share; no child is ever deleted and re-created on the way.
//
// Each replica is what a host in `--sharding replicas` mode assembles (its member Lease, fenced writer,
// ReplicaShardPolicy, one controller), in this process, talking through a TCP proxy of its own so the
// test can cut one off from the API server as a kill would. A recording reconciler counts, per key, how
// many replicas are inside a reconcile of it at once: it must never be more than one.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ReflectorRegistry } from '../../host/src/cache/index.ts';
import { controllerRegistry, type StartedController, startController } from '../../host/src/controller/index.ts';
import { kubeExecutorClient } from '../../host/src/executor/index.ts';
import { type ApiResource, KubeClient, type LogFn, type Logger } from '../../host/src/kube/index.ts';
import { LeaderElector } from '../../host/src/leader/index.ts';
import type { Reconciler } from '../../host/src/reconcile/types.ts';
import { memberLease, ReplicaShardPolicy } from '../../host/src/sharding/replicas/index.ts';
import { APP_API_VERSION, APP_KIND, createAppReconciler } from '../fixtures/native/app-reconciler.ts';
import { createTestNamespace, getTestCluster, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';
import { APP_OWNS, appObject, forEachBounded } from '../support/engine.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const APP_CRD = path.join(import.meta.dirname, '../../examples/configmap-app/crd.yaml');
const RING = 'test';
const SHARD_LABEL = `shard.wasmreconciler.dev/${RING}`;
const TIMING = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 250 };

let admin: KubeClient;
let apps: ApiResource;
let configMaps: ApiResource;
let deployments: ApiResource;

before(async () => {
  admin = await KubeClient.fromKubeConfig(await getTestCluster());
  await installCrd(admin, APP_CRD);
  apps = await admin.resource(APP_API_VERSION, APP_KIND);
  configMaps = await admin.resource('v1', 'ConfigMap');
  deployments = await admin.resource('apps/v1', 'Deployment');
});

after(() => admin?.close());

/** Who is inside a reconcile of which key, across every replica of a test. */
class Overlaps {
  readonly running = new Map<string, Set<string>>();
  readonly byMember = new Map<string, number>();
  /** Last reconcile start per key: which member, when. */
  readonly last = new Map<string, { member: string; at: number }>();
  overlaps = 0;

  wrap(member: string, inner: Reconciler): Reconciler {
    return {
      reconcile: async (request) => {
        const { namespace, name } = request.primary.object().metadata;
        const key = `${namespace}/${name}`;
        const inside = this.running.get(key) ?? new Set();
        this.running.set(key, inside);
        inside.add(member);
        if (inside.size > 1) this.overlaps++;
        this.byMember.set(member, (this.byMember.get(member) ?? 0) + 1);
        this.last.set(key, { member, at: Date.now() });
        try {
          // A little time inside, so an overlap would have a window to show.
          await new Promise((resolve) => setTimeout(resolve, 2));
          return await inner.reconcile(request);
        } finally {
          inside.delete(member);
        }
      },
    };
  }
}

interface Replica {
  readonly member: string;
  readonly policy: ReplicaShardPolicy;
  readonly registry: ReflectorRegistry;
  readonly proxy: TcpProxy;
  /** Aborted when the member Lease is lost or the replica stops: no write leaves it after. */
  readonly fence: AbortController;
  /** Clean stop: work drained, writes fenced, Leases released. */
  stop(): Promise<void>;
  /** Cut off from the API server, as a killed pod is: no renewal, no release. */
  kill(): void;
}

/** Every replica's warnings and errors, newest last: a convergence timeout prints them (the replicas say why). */
const warnings: string[] = [];
/** The loggers of killed replicas: cut off, they only log their failing requests. */
const muted = new Set<Logger>();

/** The fields as JSON where they can be; a logger must never throw into the code that logs. */
function describeFields(fields: Record<string, unknown>): string {
  try {
    return JSON.stringify(fields);
  } catch {
    return Object.keys(fields).join(',');
  }
}

function replicaLogger(member: string): Logger {
  const keep =
    (level: string): LogFn =>
    (fields: Record<string, unknown> | string, message?: string) => {
      if (muted.has(logger)) return;
      const text = typeof fields === 'string' ? fields : `${message ?? ''} ${describeFields(fields)}`;
      warnings.push(`${new Date().toISOString()} ${member} ${level} ${text}`);
      if (warnings.length > 200) warnings.shift();
    };
  const logger: Logger = { debug: () => {}, info: () => {}, warn: keep('warn'), error: keep('error') };
  return logger;
}

async function startReplica(namespace: string, member: string, overlaps: Overlaps): Promise<Replica> {
  const kubeConfig = await getTestCluster();
  const server = new URL(kubeConfig.getCurrentCluster()!.server);
  const proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port) });
  const client = await KubeClient.fromKubeConfig(kubeConfig, {
    server: `https://127.0.0.1:${proxy.port}`,
    servername: server.hostname,
    requestTimeoutMs: 1_500,
  });
  const fence = new AbortController();
  const writer = client.withWriteFence(fence.signal);
  const ring = { ring: RING, member, namespace, identity: `${member}_${randomUUID()}`, timing: TIMING };
  const logger = replicaLogger(member);
  const lease = new LeaderElector(client, { ...memberLease(ring), logger });
  await lease.acquire();
  // As the host does (manager/host.ts): a replica that lost its member Lease fences its writes and stops,
  // which ends its sharder term too. Fenced but still running, a sharder keeps the ring Lease (renewed
  // through the unfenced client) while every label write it makes is refused, and nobody moves any key.
  let lost: () => void = () => undefined;
  void lease.hold().then((outcome) => {
    if (outcome !== 'lost') return;
    fence.abort(new Error('member Lease lost'));
    lost();
  });
  const registry = controllerRegistry(client);
  const policy = await ReplicaShardPolicy.start({ ...ring, client, writer, registry, logger });
  let controller: StartedController | undefined;
  try {
    controller = await startController({
      client,
      registry,
      executorClient: kubeExecutorClient(writer),
      name: 'apps',
      reconciler: overlaps.wrap(member, createAppReconciler()),
      for: { apiVersion: APP_API_VERSION, kind: APP_KIND },
      owns: APP_OWNS,
      namespaces: [namespace],
      maxConcurrentReconciles: 4,
      sharding: policy,
      logger,
    });
  } catch (err) {
    await policy.close();
    throw err;
  }
  let closed = false;
  lost = () => void close();
  const close = async () => {
    if (closed) return;
    closed = true;
    await controller?.stop(2_000);
    fence.abort(new Error('stopping'));
    await policy.close();
    await lease.stop();
    await registry.close();
    client.close();
    proxy.close();
  };
  return {
    member,
    policy,
    registry,
    proxy,
    fence,
    stop: close,
    kill: () => {
      muted.add(logger);
      proxy.pause();
    },
  };
}

async function createApps(namespace: string, count: number, value: string): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `app-${i}`);
  await forEachBounded(names, 16, async (name) => {
    await admin.create(apps, appObject(namespace, name, { V: value }));
  });
  return names;
}

async function setValue(namespace: string, names: readonly string[], value: string): Promise<void> {
  await forEachBounded(names, 16, async (name) => {
    for (;;) {
      const app = await admin.get(apps, namespace, name);
      (app.spec as { config: Record<string, string> }).config = { V: value };
      try {
        await admin.replace(apps, app);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== 'WR_KUBE_CONFLICT') throw err;
      }
    }
  });
}

/** Every App's ConfigMap carries `value`: the whole set converged. On timeout, says where the stragglers are assigned. */
async function converged(namespace: string, count: number, value: string, timeoutMs: number): Promise<void> {
  let done = new Set<string>();
  try {
    await waitFor(
      async () => {
        done = new Set();
        let page: string | undefined;
        do {
          const list = await admin.list(configMaps, { namespace, limit: 500, ...(page ? { continue: page } : {}) });
          for (const cm of list.items) {
            if ((cm.data as Record<string, string> | undefined)?.V === value) done.add(cm.metadata.name);
          }
          page = list.metadata.continue || undefined;
        } while (page !== undefined);
        return done.size === count;
      },
      { timeoutMs, intervalMs: 500, description: `${count} ConfigMaps with V=${value}` },
    );
  } catch (err) {
    const stragglers = (await admin.list(apps, { namespace })).items
      .filter((app) => !done.has(`${app.metadata.name}-config`))
      .slice(0, 5)
      .map((app) => `${app.metadata.name} ${JSON.stringify(app.metadata.labels ?? {})}`);
    throw new Error(
      `${(err as Error).message}; ${count - done.size} left, e.g. ${stragglers.join('; ')}; the replicas' last warnings:\n${warnings.slice(-30).join('\n')}`,
    );
  }
}

async function shardsOf(namespace: string): Promise<Map<string, string | undefined>> {
  const out = new Map<string, string | undefined>();
  let page: string | undefined;
  do {
    const list = await admin.list(apps, { namespace, limit: 500, ...(page ? { continue: page } : {}) });
    for (const app of list.items) out.set(app.metadata.name, app.metadata.labels?.[SHARD_LABEL]);
    page = list.metadata.continue || undefined;
  } while (page !== undefined);
  return out;
}

async function listAll(res: ApiResource, namespace: string) {
  const items = [];
  let page: string | undefined;
  do {
    const list = await admin.list(res, { namespace, limit: 500, ...(page ? { continue: page } : {}) });
    items.push(...list.items);
    page = list.metadata.continue || undefined;
  } while (page !== undefined);
  return items;
}

/** Every App's children by `Kind/name`: uid, shard label, and the App that controls it. */
async function childrenOf(namespace: string) {
  const out = new Map<string, { uid: string; shard: string | undefined; owner: string | undefined }>();
  for (const res of [configMaps, deployments]) {
    for (const child of await listAll(res, namespace)) {
      const owner = child.metadata.ownerReferences?.find((r) => r.controller === true && r.kind === APP_KIND);
      if (owner === undefined) continue;
      out.set(`${res.kind}/${child.metadata.name}`, {
        uid: child.metadata.uid!,
        shard: child.metadata.labels?.[SHARD_LABEL],
        owner: owner.name,
      });
    }
  }
  return out;
}

/**
 * Waits until every App's two children carry the App's own shard label, each replica's child caches hold
 * exactly the children of its share (and it has no whole child cache), and, when `uids` is given, the
 * children are the very objects seen before (none lost, none pruned and re-created). Returns the children.
 */
async function childrenFollow(
  namespace: string,
  apps: number,
  replicas: readonly Replica[],
  uids?: ReadonlyMap<string, string>,
) {
  let problem = '';
  try {
    return await waitFor(
      async () => {
        const shards = await shardsOf(namespace);
        const children = await childrenOf(namespace);
        const astray = [...children].filter(([, c]) => c.shard !== shards.get(c.owner ?? ''));
        problem = `${children.size} children of ${apps} Apps, ${astray.length} not on their App's shard (e.g. ${astray
          .slice(0, 3)
          .map(([k, c]) => `${k} on ${c.shard} of ${c.owner} on ${shards.get(c.owner ?? '')}`)
          .join(', ')})`;
        if (children.size !== 2 * apps || astray.length > 0) return false;
        if (uids !== undefined) {
          const replaced = [...uids].filter(([k, uid]) => children.get(k)?.uid !== uid);
          problem = `${replaced.length} children are not the objects seen before (e.g. ${replaced[0]?.[0]})`;
          if (replaced.length > 0) return false;
        }
        const counts = countBy(shards);
        for (const r of replicas) {
          const caches = r.registry
            .stats()
            .filter(
              (e) =>
                e.key.startsWith(`v1/ConfigMap|${namespace}|`) || e.key.startsWith(`apps/v1/Deployment|${namespace}|`),
            );
          const cached = caches.reduce((n, e) => n + e.objects, 0);
          problem = `${r.member} caches ${cached} children in ${caches.map((e) => e.key).join(', ')}; owns ${counts.get(r.member) ?? 0} Apps`;
          if (caches.length !== 2 || caches.some((e) => !e.key.endsWith(`|${SHARD_LABEL}=${r.member}`))) return false;
          if (cached !== 2 * (counts.get(r.member) ?? 0)) return false;
        }
        return children;
      },
      { timeoutMs: 30_000, intervalMs: 500, description: "every child on its App's shard, cached by that shard only" },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${problem}`);
  }
}

function uidsOf(children: ReadonlyMap<string, { uid: string }>): Map<string, string> {
  return new Map([...children].map(([k, c]) => [k, c.uid]));
}

function countBy(shards: Map<string, string | undefined>): Map<string | undefined, number> {
  const counts = new Map<string | undefined, number>();
  for (const s of shards.values()) counts.set(s, (counts.get(s) ?? 0) + 1);
  return counts;
}

describe('sharded replicas', () => {
  test('3 replicas converge 1,000 Apps, no key in two replicas at once; a killed one is taken over after its Lease expires', async (t) => {
    const namespace = await createTestNamespace(t, 'replica-sharding');
    const overlaps = new Overlaps();
    const replicas = await Promise.all(['a', 'b', 'c'].map((m) => startReplica(namespace, m, overlaps)));
    t.after(() => Promise.all(replicas.map((r) => r.stop())));
    await waitFor(() => replicas.every((r) => r.policy.members().length === 3), { description: 'three live members' });

    const names = await createApps(namespace, 1_000, 'one');
    await converged(namespace, 1_000, 'one', 90_000);
    const shards = await shardsOf(namespace);
    const counts = countBy(shards);
    for (const m of ['a', 'b', 'c']) {
      const share = (counts.get(m) ?? 0) / 1_000;
      assert.ok(share > 0.2 && share < 0.47, `${m} owns ${share} of the Apps (${JSON.stringify([...counts])})`);
      assert.ok((overlaps.byMember.get(m) ?? 0) > 0, `${m} reconciled its share`);
    }
    assert.equal(counts.get(undefined), undefined, 'every App is assigned');
    assert.equal(overlaps.overlaps, 0, 'no key was inside two replicas at once');
    const sharder = replicas.find((r) => r.policy.leadsRing);
    assert.ok(sharder !== undefined, 'one replica leads the ring');
    assert.equal(replicas.filter((r) => r.policy.leadsRing).length, 1);
    assert.equal(sharder.policy.stats.assigned, 1_000, 'one assignment write per App, nothing more');
    // The executor labelled every child as it created it: nothing for the sharder to move.
    const before = uidsOf(await childrenFollow(namespace, 1_000, replicas));
    assert.equal(sharder.policy.stats.children, 0, 'children were created on their shard');

    // Kill a replica that does not lead the ring: its keys move once its Lease has expired on the sharder's clock.
    const victim = replicas.find((r) => r !== sharder)!;
    const victimKeys = names.filter((n) => shards.get(n) === victim.member);
    const killedAt = Date.now();
    victim.kill();
    await waitFor(() => victim.fence.signal.aborted, {
      timeoutMs: TIMING.leaseDurationMs + 5_000,
      description: 'the killed replica to fence itself',
    });
    const takenOver = await waitFor(
      async () => {
        const now = await shardsOf(namespace);
        return victimKeys.every((n) => now.get(n) !== victim.member && now.get(n) !== undefined) && Date.now();
      },
      { timeoutMs: TIMING.leaseDurationMs + 15_000, intervalMs: 250, description: "the killed replica's keys to move" },
    );
    const takeoverMs = takenOver - killedAt;
    assert.ok(takeoverMs >= TIMING.renewDeadlineMs, `moved after ${takeoverMs} ms: not before the victim fenced`);
    t.diagnostic(
      `takeover of ${victimKeys.length} keys ${takeoverMs} ms after the kill (lease ${TIMING.leaseDurationMs} ms)`,
    );
    // The new owners reconcile what they took over: an update reaches every App.
    await setValue(namespace, names, 'two');
    await converged(namespace, 1_000, 'two', 60_000);
    assert.equal(overlaps.overlaps, 0);
    for (const n of victimKeys) assert.notEqual(overlaps.last.get(`${namespace}/${n}`)?.member, victim.member);
    // The victim's children went with its Apps (its own caches are cut off: only the survivors are asked).
    await childrenFollow(
      namespace,
      1_000,
      replicas.filter((r) => r !== victim),
      before,
    );
  });

  test('scale 0 -> 1 -> 3 -> 1: unsharded children are adopted, keys drain to the newcomers and come back, nothing lost, never two owners', async (t) => {
    const namespace = await createTestNamespace(t, 'replica-scale');
    const overlaps = new Overlaps();
    // Before sharding: one unsharded host creates every App's children, without any shard label.
    const unsharded = await startController({
      client: admin,
      name: 'apps',
      reconciler: createAppReconciler(),
      for: { apiVersion: APP_API_VERSION, kind: APP_KIND },
      owns: APP_OWNS,
      namespaces: [namespace],
      maxConcurrentReconciles: 4,
    });
    const names = await createApps(namespace, 200, 'one');
    await converged(namespace, 200, 'one', 60_000);
    await unsharded.stop(2_000);
    const unlabelled = await childrenOf(namespace);
    assert.equal(unlabelled.size, 400);
    assert.ok([...unlabelled.values()].every((c) => c.shard === undefined));
    const before = uidsOf(unlabelled);

    const a = await startReplica(namespace, 'a', overlaps);
    t.after(() => a.stop());
    await childrenFollow(namespace, 200, [a], before);
    // The sharder's children pass may relabel a child (hashed by its owner) before its owner's assignment
    // lands: the two are separate writes, so wait for the owners too.
    await waitFor(async () => countBy(await shardsOf(namespace)).get('a') === 200, {
      description: 'every App assigned to a',
    });
    assert.deepEqual([...countBy(await shardsOf(namespace))], [['a', 200]]);

    const joined = Date.now();
    const more = await Promise.all(['b', 'c'].map((m) => startReplica(namespace, m, overlaps)));
    t.after(() => Promise.all(more.map((r) => r.stop())));
    await waitFor(
      async () => {
        const counts = countBy(await shardsOf(namespace));
        return ['a', 'b', 'c'].every((m) => (counts.get(m) ?? 0) > 30) && counts.get(undefined) === undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, description: 'the keys to spread over three replicas' },
    );
    t.diagnostic(`keys spread over three replicas ${Date.now() - joined} ms after b and c started`);
    assert.ok(a.policy.stats.acknowledged > 0, 'a let go of the keys it drained');
    await setValue(namespace, names, 'two');
    await converged(namespace, 200, 'two', 60_000);
    await childrenFollow(namespace, 200, [a, ...more], before);

    await Promise.all(more.map((r) => r.stop()));
    await waitFor(async () => (countBy(await shardsOf(namespace)).get('a') ?? 0) === 200, {
      timeoutMs: 20_000,
      intervalMs: 250,
      description: 'every key back on a',
    });
    await setValue(namespace, names, 'three');
    await converged(namespace, 200, 'three', 60_000);
    await childrenFollow(namespace, 200, [a], before);
    assert.equal(overlaps.overlaps, 0, 'no key was inside two replicas at once');
    t.diagnostic(`children relabelled by the sharder of a: ${a.policy.stats.children}`);
  });
});
