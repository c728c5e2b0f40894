// deploy/overlays on a real apiserver: every overlay renders to the base plus its workload, sized by the rule
// of docs/operations.md#sizing from the figures in docs/benchmarks.md; applies in a namespace of its own (its
// cluster-scoped objects with a server-side dry run, so the real install that deploy.test.ts owns is left
// alone); and the host CLI starts with its workload's args and environment, as its ServiceAccount, until ready.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { isWrError } from '../../host/src/errors.ts';
import { KubeClient } from '../../host/src/kube/index.ts';
import { getTestCluster, mintServiceAccountKubeconfig, TEST_NAMESPACE_LABEL, waitFor } from '../support/cluster.ts';
import { installCrd } from '../support/crds.ts';
import { kustomizeBuild } from '../support/kustomize.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'host/src/cli/main.ts');
const FIELD_MANAGER = 'wasm-reconciler-deploy-overlays-test';
const HOST = 'wasm-reconciler';
const BASE_NAMESPACE = 'wasm-reconciler-system';

interface Toleration {
  key?: string;
  operator?: string;
  effect?: string;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface Container {
  name: string;
  args: string[];
  env: EnvVar[];
  resources: { requests: { cpu: string; memory: string }; limits: { memory: string; cpu?: string } };
  [field: string]: unknown;
}
interface PodSpec {
  containers: Container[];
  tolerations?: Toleration[];
  [field: string]: unknown;
}
interface Workload extends KubeObject {
  spec: {
    replicas?: number;
    strategy?: { type: string };
    updateStrategy?: { type: string; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
    template: { spec: PodSpec };
  };
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** Which measured figures (docs/benchmarks.md) an overlay's memory is sized for: docs/operations.md#sizing. */
interface Sizing {
  /** The idle RSS its request covers. */
  readonly idle: string;
  /** The peak RSS its limit covers. */
  readonly peak: string;
}
const WHOLE_CLUSTER: Sizing = { idle: 'footprint/idle/30-modules/rss', peak: 'anchors/run-1000-w4/peak-rss/wasm' };
const ONE_NODE: Sizing = { idle: 'footprint/idle/10-modules/rss', peak: 'footprint/soak/peak/rss' };

interface Overlay {
  readonly name: string;
  readonly kind: 'Deployment' | 'DaemonSet';
  /** Objects beyond the base and the workload, as `Kind/name`. */
  readonly extra: readonly string[];
  /** The host's mode flags: exactly these of --leader-elect, --sharding and --node-name. */
  readonly mode: readonly string[];
  readonly sizing: Sizing;
  /** Whether a host of this overlay holds a Lease in its namespace once started. */
  readonly holdsLease: boolean;
}

const OVERLAYS: readonly Overlay[] = [
  {
    name: 'default',
    kind: 'Deployment',
    extra: [],
    mode: ['--leader-elect'],
    sizing: WHOLE_CLUSTER,
    holdsLease: true,
  },
  { name: 'k3s-single-node', kind: 'Deployment', extra: [], mode: [], sizing: ONE_NODE, holdsLease: false },
  {
    name: 'edge-daemonset',
    kind: 'DaemonSet',
    extra: ['ClusterRole/wasm-reconciler-host-nodes'],
    mode: ['--sharding=node', '--node-name=$(NODE_NAME)'],
    sizing: ONE_NODE,
    holdsLease: false,
  },
  {
    name: 'sharded',
    kind: 'Deployment',
    extra: ['Role/wasm-reconciler-shard-members', 'RoleBinding/wasm-reconciler-shard-members'],
    mode: ['--sharding=replicas'],
    sizing: WHOLE_CLUSTER,
    holdsLease: true,
  },
];

const MODE_FLAGS = /^--(leader-elect|sharding|node-name)\b/;
const overlayDir = (o: Overlay) => path.join(ROOT, 'deploy/overlays', o.name);
const names = (objects: readonly KubeObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
const workloadOf = (objects: readonly KubeObject[], kind: string) => {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === HOST);
  assert.equal(found.length, 1, `one ${kind}/${HOST}`);
  return found[0] as Workload;
};
const hostContainer = (w: Workload) => {
  const [container, ...others] = w.spec.template.spec.containers;
  assert.ok(container !== undefined && container.name === 'host' && others.length === 0, 'one container, host');
  return container;
};

/** A figure of docs/benchmarks.md in MiB (its tables give MiB, or MB = 10^6 bytes). */
function measuredMiB(figure: string): number {
  const text = readFileSync(path.join(ROOT, 'docs/benchmarks.md'), 'utf8');
  const row = new RegExp(`^\\| ${figure.replaceAll('/', '\\/')} \\| ([0-9.,]+) \\| (MiB|MB) \\|`, 'm').exec(text);
  assert.ok(row, `docs/benchmarks.md has a row ${figure}`);
  const value = Number(row[1]!.replaceAll(',', ''));
  return row[2] === 'MiB' ? value : (value * 1e6) / 2 ** 20;
}

/** A memory quantity as the overlays write them (Mi, Gi) in MiB. */
function quantityMiB(quantity: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(quantity);
  assert.ok(m, `memory quantity ${quantity} in Mi or Gi`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}

/**
 * The value of each env var as the kubelet would resolve it for a pod `pod` of `namespace` on node `node`
 * (the downward API fields the overlays use), and `$(VAR)` references in args expanded as the kubelet does.
 */
function resolveEnv(env: readonly EnvVar[], pod: { name: string; namespace: string; node: string }) {
  const fields: Record<string, string> = {
    'metadata.name': pod.name,
    'metadata.namespace': pod.namespace,
    'spec.nodeName': pod.node,
  };
  const resolved: Record<string, string> = {};
  for (const e of env) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    const value = e.value ?? (field === undefined ? undefined : fields[field]);
    assert.ok(value !== undefined, `env ${e.name}: a value or a known fieldRef`);
    resolved[e.name] = value;
  }
  return resolved;
}
function expandArgs(args: readonly string[], env: Readonly<Record<string, string>>): string[] {
  return args.map((a) =>
    a.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (ref, name?: string) =>
      ref === '$$' ? '$' : (env[name!] ?? ref),
    ),
  );
}

let admin: KubeClient;
let base: KubeObject[];

async function deleteIfPresent(apiVersion: string, kind: string, namespace: string | undefined, name: string) {
  try {
    await admin.delete(await admin.resource(apiVersion, kind), namespace, name);
  } catch (err) {
    if (!isWrError(err, 'WR_KUBE_NOT_FOUND')) throw err;
  }
}

before(async () => {
  admin = await KubeClient.fromKubeConfig(await getTestCluster());
  base = await kustomizeBuild(path.join(ROOT, 'deploy/base'));
  // A host lists WasmReconcilers and ClusterWasmReconcilers at start: their CRDs must be served.
  await installCrd(admin, path.join(ROOT, 'deploy/crd/wasmreconciler.yaml'));
  await installCrd(admin, path.join(ROOT, 'deploy/crd/clusterwasmreconciler.yaml'));
});

after(() => admin?.close());

describe('deploy/overlays', () => {
  test('the base has everything but a workload', () => {
    assert.deepEqual(names(base), [
      'ClusterRole/wasm-reconciler-admin',
      'ClusterRole/wasm-reconciler-host',
      'ClusterRole/wasm-reconciler-host-core',
      'ClusterRole/wasm-reconciler-view',
      'ClusterRoleBinding/wasm-reconciler-host',
      'CustomResourceDefinition/clusterwasmreconcilers.wasmreconciler.dev',
      'CustomResourceDefinition/wasmreconcilers.wasmreconciler.dev',
      `Namespace/${BASE_NAMESPACE}`,
      'Role/wasm-reconciler-host',
      'RoleBinding/wasm-reconciler-host',
      `ServiceAccount/${HOST}`,
    ]);
  });

  for (const overlay of OVERLAYS) {
    test(`${overlay.name}: the base, its ${overlay.kind} and its mode flags, memory sized from the measured figures`, async () => {
      const objects = await kustomizeBuild(overlayDir(overlay));
      assert.deepEqual(names(objects), [...names(base), `${overlay.kind}/${HOST}`, ...overlay.extra].sort());
      const container = hostContainer(workloadOf(objects, overlay.kind));
      assert.deepEqual(
        container.args.filter((a) => MODE_FLAGS.test(a)),
        overlay.mode,
      );
      // The rule of docs/operations.md#sizing (request = idle + 10 %, limit = peak + 15 %), as a floor: a
      // figure that grows in docs/benchmarks.md fails here until the overlay is sized again.
      const { requests, limits } = container.resources;
      const idle = measuredMiB(overlay.sizing.idle);
      const peak = measuredMiB(overlay.sizing.peak);
      assert.ok(quantityMiB(requests.memory) >= idle * 1.1, `request ${requests.memory} for ${overlay.sizing.idle}`);
      assert.ok(quantityMiB(limits.memory) >= peak * 1.15, `limit ${limits.memory} for ${overlay.sizing.peak}`);
      assert.equal(limits.cpu, undefined, 'no CPU limit: a throttled event loop renews its Lease late');
    });
  }

  test('without leader election no two hosts of one share run at once; the DaemonSet is the Deployment per node', async () => {
    const workloads = Object.fromEntries(
      await Promise.all(
        OVERLAYS.map(async (o) => [o.name, workloadOf(await kustomizeBuild(overlayDir(o)), o.kind)] as const),
      ),
    );
    const k3s = workloads['k3s-single-node']!;
    assert.equal(k3s.spec.replicas, 1);
    assert.equal(k3s.spec.strategy?.type, 'Recreate');
    const edge = workloads['edge-daemonset']!;
    assert.deepEqual(edge.spec.updateStrategy, {
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: 0, maxUnavailable: 1 },
    });
    assert.equal(workloads.sharded!.spec.replicas, 3);

    // The edge host's node name comes from the downward API, and it tolerates the taints edge nodes carry.
    const edgeContainer = hostContainer(edge);
    assert.deepEqual(
      edgeContainer.env.find((e) => e.name === 'NODE_NAME'),
      { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    );
    const tolerates = (taint: Toleration) =>
      (edge.spec.template.spec.tolerations ?? []).some(
        (t) =>
          (t.key === undefined ? t.operator === 'Exists' : t.key === taint.key) &&
          (t.effect === undefined || t.effect === taint.effect),
      );
    for (const taint of [
      { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' },
      { key: 'node-role.kubernetes.io/edge', effect: 'NoSchedule' },
      { key: 'CriticalAddonsOnly', effect: 'NoExecute' },
    ]) {
      assert.ok(tolerates(taint), `tolerates ${taint.key}:${taint.effect}`);
    }

    // Apart from what makes it a per-node host, the DaemonSet's pod is the default Deployment's.
    const podWithout = (w: Workload, fields: { env?: string[] }) => {
      const { tolerations: _, ...pod } = w.spec.template.spec;
      const { args: __, resources: ___, env, ...container } = hostContainer(w);
      return {
        ...pod,
        containers: [{ ...container, env: env.filter((e) => !(fields.env ?? []).includes(e.name)) }],
      };
    };
    assert.deepEqual(podWithout(edge, { env: ['NODE_NAME'] }), podWithout(workloads.default!, {}));
    assert.deepEqual(
      edgeContainer.args.filter((a) => !MODE_FLAGS.test(a)),
      hostContainer(workloads.default!).args.filter((a) => !MODE_FLAGS.test(a)),
    );
  });

  for (const overlay of OVERLAYS) {
    test(`${overlay.name}: applies in a namespace of its own, and the host starts with its args and environment as its ServiceAccount`, async (t) => {
      const run = `wr-deploy-${overlay.name}-${Math.random().toString(16).slice(2, 8)}`;
      const objects = await kustomizeBuild(overlayDir(overlay), { namespace: run });
      // Cluster-scoped objects are shared with the real install (and deploy.test.ts): a dry run proves the
      // API server takes them without changing them. Namespaced ones are applied, in this run's namespace.
      for (const o of objects) {
        const namespace = o.kind === 'Namespace' ? undefined : o.metadata.namespace;
        if (o.kind === 'Namespace') {
          assert.equal(o.metadata.name, run);
          await admin.apply(
            { ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, [TEST_NAMESPACE_LABEL]: 'true' } } },
            { fieldManager: FIELD_MANAGER },
          );
          t.after(() => deleteIfPresent('v1', 'Namespace', undefined, run));
        } else {
          await admin.apply(o, { fieldManager: FIELD_MANAGER, force: true, dryRun: namespace === undefined });
        }
        if (namespace !== undefined) assert.equal(namespace, run, `${o.kind}/${o.metadata.name} moved to ${run}`);
      }

      // What the API server stored (after defaulting) runs what the overlay says.
      const rendered = workloadOf(objects, overlay.kind);
      const live = (await admin.get(await admin.resource('apps/v1', overlay.kind), run, HOST)) as Workload;
      const container = hostContainer(live);
      assert.deepEqual(container.args, hostContainer(rendered).args);
      assert.deepEqual(container.resources, hostContainer(rendered).resources);
      assert.deepEqual(live.spec.template.spec.tolerations, rendered.spec.template.spec.tolerations);

      // The ClusterRoleBinding above was a dry run: this run's ServiceAccount gets what aggregation gives
      // wasm-reconciler-host on a cluster with no module roles, under a name of its own.
      const aggregated = objects.filter(
        (o) => o.kind === 'ClusterRole' && o.metadata.labels?.['wasmreconciler.dev/aggregate-to-host'] === 'true',
      );
      const rules = aggregated.flatMap((o) => (o as KubeObject & { rules: Rule[] }).rules);
      const rbac = 'rbac.authorization.k8s.io/v1';
      await admin.apply({ apiVersion: rbac, kind: 'ClusterRole', metadata: { name: run }, rules } as KubeObject, {
        fieldManager: FIELD_MANAGER,
      });
      t.after(() => deleteIfPresent(rbac, 'ClusterRole', undefined, run));
      await admin.apply(
        {
          apiVersion: rbac,
          kind: 'ClusterRoleBinding',
          metadata: { name: run },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: run },
          subjects: [{ kind: 'ServiceAccount', name: HOST, namespace: run }],
        } as KubeObject,
        { fieldManager: FIELD_MANAGER },
      );
      t.after(() => deleteIfPresent(rbac, 'ClusterRoleBinding', undefined, run));

      const dir = mkdtempSync(path.join(tmpdir(), 'wr-deploy-overlay-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const kubeconfig = path.join(dir, 'kubeconfig');
      writeFileSync(kubeconfig, (await mintServiceAccountKubeconfig({ namespace: run, name: HOST })).exportConfig(), {
        mode: 0o600,
      });
      // The kubelet's Node, which a node-sharded host insists its --node-name names.
      await admin.create(await admin.resource('v1', 'Node'), {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: run },
      } as KubeObject);
      t.after(() => deleteIfPresent('v1', 'Node', undefined, run));
      const env = resolveEnv(container.env, { name: `${HOST}-0`, namespace: run, node: run });
      // The container's own args, then what a test process must change: the kubeconfig (in a pod, the
      // in-cluster ServiceAccount), a free port, a writable cache, and a selector no WasmReconciler of
      // another test carries, so this host serves nothing of theirs.
      const args = [
        ...expandArgs(container.args, env),
        `--kubeconfig=${kubeconfig}`,
        '--metrics-port=0',
        `--module-cache-dir=${path.join(dir, 'modules')}`,
        `--watch-label-selector=wasmreconciler.dev/test-run=${run}`,
      ];
      const { KUBECONFIG: _, ...inherited } = process.env;
      const child: ChildProcess = spawn(process.execPath, [CLI, ...args], {
        env: { ...inherited, NODE_ENV: 'production', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      t.after(() => child.kill('SIGKILL'));

      // A host that cannot start (a flag refused, a permission missing) says why in its log: keep it.
      const withLog = (err: unknown) => {
        throw new Error(`${(err as Error).message}; the host's output:\n${out}`, { cause: err });
      };
      const port = await waitFor(
        () =>
          child.exitCode !== null
            ? 'exited'
            : /"msg":"host started"/.test(out)
              ? /"metricsUrl":"http:\/\/[^:]+:(\d+)"/.exec(out)?.[1]
              : undefined,
        { timeoutMs: 60_000, description: `the ${overlay.name} host to start` },
      ).catch(withLog);
      if (port === 'exited') withLog(new Error(`the ${overlay.name} host exited with ${child.exitCode}`));
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, {
        description: `the ${overlay.name} host to be ready`,
      }).catch(withLog);
      const leases = await admin.list(await admin.resource('coordination.k8s.io/v1', 'Lease'), { namespace: run });
      assert.equal(leases.items.length > 0, overlay.holdsLease, `Leases in ${run}: ${names(leases.items)}`);

      child.kill('SIGTERM');
      assert.equal(await exited, 0, out);
    });
  }
});
