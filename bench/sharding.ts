// Sharded replicas (`--sharding replicas`): converge time and per-replica RSS for 1, 2 and 3 replicas, and the takeover after a kill. Run with `node bench/sharding.ts [N]` (N = 1000 Apps by default).
//
// Each replica is the real CLI (`host/src/cli/main.ts run --sharding=replicas`) in a process of its own,
// run as its pod runs it (bench/support/image-env.ts: the host bundled, the image's compile cache, filled
// before each start, and the Deployment's NODE_OPTIONS), POD_NAME set to its shard name and its member Leases in the bench's
// namespace, against a local control plane; one WasmReconciler (the configmap-app example, Apps with 0
// replicas so no pods are made) serves N Apps. Per replica count, in a fresh namespace: the replicas start
// and see each other's Leases, then N Apps are created with 8 requests in flight; converge time runs from
// the first create until every App's ConfigMap holds its config. RSS per replica is the median of 5 samples
// 2 s apart, 10 s after the converge; then each replica's /metrics tells the objects its caches hold
// (wasm_reconciler_cache_objects): the children (ConfigMaps and Deployments) are each replica's share, as the
// Apps are, when sharding reaches the owned kinds. With 3 replicas, one that does not lead the ring is then killed
// (SIGKILL: no release of its Lease) and the figure is the time until none of its Apps carries its shard
// label any more (the default lease duration, 15 s, is part of it).

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildV1 } from '../examples/configmap-app/test/modules.ts';
import { type ApiResource, KubeClient } from '../host/src/kube/index.ts';
import { METRIC } from '../host/src/metrics/names.ts';
import { type ControlPlane, startControlPlane } from '../test/controlplane/index.ts';
import { installCrd } from '../test/support/crds.ts';
import { forEachBounded } from '../test/support/engine.ts';
import { memory } from './anchors/proc.ts';
import { type BenchResult, main, median, round } from './lib.ts';
import { type ImageEnv, imageEnv } from './support/image-env.ts';
import { APP_API_VERSION, appsWasmReconciler, WR_API_VERSION } from './support/wasm-reconciler.ts';

const ROOT = path.join(import.meta.dirname, '..');
const CLI = path.join(ROOT, 'host/src/cli/main.ts');
const RING = 'wasm-reconciler';
const SHARD_LABEL = `shard.wasmreconciler.dev/${RING}`;
const REPLICA_COUNTS = [1, 2, 3] as const;
const DEFAULT_COUNT = 1000;
const CLIENT_CONCURRENCY = 8;
const SETTLE_MS = 10_000;
const SAMPLES = 5;
const SAMPLE_GAP_MS = 2_000;
/** The host's default member lease duration (host/src/leader/lease.ts): the takeover cannot be shorter. */
const LEASE_MS = 15_000;
/** A wait longer than this is a failure, not a slow figure. */
const WAIT_MS = 10 * 60_000;
const MiB = 1024 * 1024;

async function waitUntil(what: string, probe: () => Promise<boolean>, intervalMs = 250): Promise<void> {
  const deadline = performance.now() + WAIT_MS;
  while (!(await probe())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

interface Replica {
  readonly shard: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly metricsPort: number;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** A loopback port free right now, for a replica's /metrics. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The objects a replica's caches hold, per kind (`v1/ConfigMap`), from its /metrics. */
async function cachedObjects(replica: Replica): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${replica.metricsPort}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = line.match(new RegExp(`^${METRIC.cacheObjects}\\{kind="([^"]+)"\\} (\\S+)$`));
    if (m !== null) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

function startReplica(
  image: ImageEnv,
  kubeconfigPath: string,
  namespace: string,
  shard: string,
  metricsPort: number,
): Replica {
  image.fill();
  const cacheDir = mkdtempSync(path.join(tmpdir(), 'wr-bench-sharding-modules-'));
  const child = spawn(
    process.execPath,
    [
      CLI,
      'run',
      `--kubeconfig=${kubeconfigPath}`,
      `--namespace=${namespace}`,
      `--module-cache-dir=${cacheDir}`,
      `--metrics-port=${metricsPort}`,
      '--log-format=json',
      '--log-level=warn',
      '--sharding=replicas',
      `--shard-lease-namespace=${namespace}`,
    ],
    {
      cwd: ROOT,
      env: { ...image.env, POD_NAME: shard },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // warn level: the host logs nothing on an ordinary run; anything it says is worth seeing.
  createInterface({ input: child.stdout! }).on('line', (line) => process.stderr.write(`[${shard}] ${line}\n`));
  return {
    shard,
    child,
    pid: child.pid!,
    metricsPort,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}

interface Kinds {
  readonly namespaces: ApiResource;
  readonly wasmReconcilers: ApiResource;
  readonly apps: ApiResource;
  readonly configMaps: ApiResource;
  readonly leases: ApiResource;
}

/** Counts the items of a (paged) list. */
async function countOf(
  client: KubeClient,
  res: ApiResource,
  namespace: string,
  keep: (item: { data?: unknown }) => boolean,
  labelSelector?: string,
): Promise<number> {
  let count = 0;
  let page: string | undefined;
  do {
    const list = await client.list(res, {
      namespace,
      limit: 500,
      ...(labelSelector === undefined ? {} : { labelSelector }),
      ...(page === undefined ? {} : { continue: page }),
    });
    for (const item of list.items) if (keep(item as { data?: unknown })) count++;
    page = list.metadata.continue || undefined;
  } while (page !== undefined);
  return count;
}

interface RunFigures {
  readonly convergeMs: number;
  readonly rss: readonly number[];
  /** Per replica: ConfigMaps and Deployments cached, and every object cached. */
  readonly cached: readonly { readonly children: number; readonly all: number }[];
  readonly takeoverMs?: number;
  readonly movedKeys?: number;
}

async function runWith(
  image: ImageEnv,
  client: KubeClient,
  kinds: Kinds,
  kubeconfigPath: string,
  module: Uint8Array,
  replicas: number,
  count: number,
): Promise<RunFigures> {
  const namespace = `bench-sharding-${replicas}`;
  await client.create(kinds.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  const ports: number[] = [];
  for (let i = 0; i < replicas; i++) ports.push(await freePort());
  const hosts = ports.map((port, i) => startReplica(image, kubeconfigPath, namespace, `r${i}`, port));
  try {
    // Every replica's member Lease held, so the Apps are spread from the first one on.
    await waitUntil('every replica to hold its member Lease', async () => {
      const leases = await client.list(kinds.leases, { namespace });
      const held = leases.items.filter(
        (l) => l.metadata.name.startsWith(`${RING}-shard-`) && (l.spec as { holderIdentity?: string }).holderIdentity,
      );
      return held.length === replicas;
    });
    await client.create(kinds.wasmReconcilers, appsWasmReconciler(namespace, module));
    const names = Array.from({ length: count }, (_, i) => `app-${String(i).padStart(5, '0')}`);
    const started = performance.now();
    await forEachBounded(names, CLIENT_CONCURRENCY, async (name) => {
      await client.create(kinds.apps, {
        apiVersion: APP_API_VERSION,
        kind: 'App',
        metadata: { name, namespace },
        spec: { image: 'registry.example/app:1', replicas: 0, config: { NAME: name } },
      });
    });
    await waitUntil(
      `${count} ConfigMaps holding their App's config`,
      async () =>
        (await countOf(client, kinds.configMaps, namespace, (cm) => {
          const data = cm.data as Record<string, string> | undefined;
          return data?.NAME !== undefined;
        })) === count,
      500,
    );
    const convergeMs = performance.now() - started;
    await sleep(SETTLE_MS);
    const rss: number[] = [];
    for (const host of hosts) {
      const samples: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        if (i > 0) await sleep(SAMPLE_GAP_MS);
        samples.push(memory(host.pid).rssBytes / MiB);
      }
      rss.push(median(samples));
    }
    const cached = [];
    for (const host of hosts) {
      const kinds = await cachedObjects(host);
      const children = (kinds.get('v1/ConfigMap') ?? 0) + (kinds.get('apps/v1/Deployment') ?? 0);
      cached.push({ children, all: [...kinds.values()].reduce((n, v) => n + v, 0) });
    }
    if (replicas < 3) return { convergeMs, rss, cached };

    const sharder = await client.get(kinds.leases, namespace, `${RING}-sharder`);
    const leader = ((sharder.spec as { holderIdentity?: string }).holderIdentity ?? '').split('_')[0];
    const victim = hosts.find((h) => h.shard !== leader)!;
    const selector = `${SHARD_LABEL}=${victim.shard}`;
    const movedKeys = await countOf(client, kinds.apps, namespace, () => true, selector);
    const killedAt = performance.now();
    await victim.stop('SIGKILL');
    await waitUntil(
      "the killed replica's Apps to move",
      async () => (await countOf(client, kinds.apps, namespace, () => true, selector)) === 0,
      100,
    );
    return { convergeMs, rss, cached, takeoverMs: performance.now() - killedAt, movedKeys };
  } finally {
    await Promise.all(hosts.map((h) => h.stop()));
    await client.delete(kinds.namespaces, undefined, namespace).catch(() => {});
  }
}

export async function run(count = DEFAULT_COUNT): Promise<BenchResult[]> {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`N must be a positive integer, not ${count}`);
  const module = new Uint8Array(readFileSync((await buildV1()).wasmPath));
  const controlPlane: ControlPlane = await startControlPlane({ report: (line) => process.stderr.write(`${line}\n`) });
  const client = await KubeClient.fromKubeConfig(controlPlane.kubeConfig);
  const image = imageEnv();
  try {
    await installCrd(client, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
    await installCrd(client, path.join(ROOT, 'deploy/crd/clusterwasmreconciler.yaml'));
    await installCrd(client, path.join(ROOT, 'examples/configmap-app/crd.yaml'));
    const kinds: Kinds = {
      namespaces: await client.resource('v1', 'Namespace'),
      wasmReconcilers: await client.resource(WR_API_VERSION, 'WasmReconciler'),
      apps: await client.resource(APP_API_VERSION, 'App'),
      configMaps: await client.resource('v1', 'ConfigMap'),
      leases: await client.resource('coordination.k8s.io/v1', 'Lease'),
    };
    const out: BenchResult[] = [];
    for (const replicas of REPLICA_COUNTS) {
      const figures = await runWith(image, client, kinds, controlPlane.kubeconfigPath, module, replicas, count);
      const note = `${count} Apps, configmap-app module, ${replicas} replica${replicas === 1 ? '' : 's'} of the CLI`;
      out.push({
        name: `sharding/${replicas}-replicas/converge-seconds`,
        value: round(figures.convergeMs / 1000, 1),
        unit: 's',
        note: `${note}; first create to every ConfigMap holding its config`,
      });
      out.push({
        name: `sharding/${replicas}-replicas/rss-per-replica`,
        value: round(median(figures.rss), 1),
        unit: 'MiB',
        note: `median over replicas of each one's median RSS ${SETTLE_MS / 1000} s after the converge (each: ${figures.rss.map((r) => round(r, 1)).join(', ')})`,
      });
      out.push({
        name: `sharding/${replicas}-replicas/cached-children-per-replica`,
        value: median(figures.cached.map((c) => c.children)),
        unit: 'objects',
        note: `median over replicas of the ConfigMaps and Deployments in its caches, of ${2 * count} (each: ${figures.cached.map((c) => c.children).join(', ')}; every object cached: ${figures.cached.map((c) => c.all).join(', ')})`,
      });
      if (figures.takeoverMs !== undefined) {
        out.push({
          name: 'sharding/3-replicas/takeover-after-kill',
          value: round(figures.takeoverMs / 1000, 1),
          unit: 's',
          note: `SIGKILL of a replica not leading the ring -> none of its ${figures.movedKeys} Apps labelled with its shard; member lease ${LEASE_MS / 1000} s`,
        });
      }
    }
    return out;
  } finally {
    image.dispose();
    client.close();
    await controlPlane.stop();
  }
}

await main(import.meta, () => run(process.argv[2] === undefined ? DEFAULT_COUNT : Number(process.argv[2])));
