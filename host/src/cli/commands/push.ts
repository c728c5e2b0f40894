// `wasm-reconciler push <module.wasm> --name ...`: points a WasmReconciler at a module, pinned by digest.
//
// The module goes inline, into a ConfigMap, or to an OCI registry (the host's own push code); the
// WasmReconciler's spec.module is then set by server-side apply under this command's field manager, so
// no last-applied annotation is written (kubectl's client-side apply fails on one over 256 KiB) and no
// other field of the spec changes hands. With --wait it returns once the host serves that digest.

import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Digest } from '../../digest.ts';
import type { KubeClient } from '../../kube/index.ts';
import { action, CliError, EXIT } from '../exit-codes.ts';
import { readInputFile } from '../files.ts';

/** Field manager of every write push makes: `kubectl get --show-managed-fields` tells who set the module. */
export const PUSH_FIELD_MANAGER = 'wasm-reconciler-push';
const WR_API_VERSION = 'wasmreconciler.dev/v1alpha1';
/** Where a ClusterWasmReconciler's ConfigMap goes unless told: the host's default cluster resource namespace. */
const CLUSTER_RESOURCE_NAMESPACE = 'wasm-reconciler-system';
/** ConfigMap data is capped at 1 MiB by the API server; base64 grows bytes by 4/3. */
const CONFIGMAP_MAX_BYTES = 760 * 1024;

export interface PushOptions {
  readonly name: string;
  readonly namespace: string;
  /** The target is a ClusterWasmReconciler (`namespace` is then unused). */
  readonly cluster?: boolean;
  /** Where a ClusterWasmReconciler's ConfigMap goes: the host's --cluster-resource-namespace. */
  readonly configMapNamespace?: string;
  readonly via: 'inline' | 'configmap' | 'oci';
  /** `registry/repository[:tag]` for `oci`. */
  readonly oci?: string;
  readonly configMapName?: string;
  readonly ca?: string;
  readonly plainHttp?: boolean;
  readonly wait?: boolean;
  readonly timeoutMs: number;
  /** Progress lines (stderr). */
  readonly progress: (line: string) => void;
}

export interface PushResult {
  readonly digest: Digest;
  readonly module: Record<string, unknown>;
  readonly ready: boolean | undefined;
}

/** The reconciler push writes to: its kind, its namespace (none for the cluster kind), how to name it. */
function target(o: PushOptions) {
  const kind = o.cluster === true ? 'ClusterWasmReconciler' : 'WasmReconciler';
  const namespace = o.cluster === true ? undefined : o.namespace;
  return {
    kind,
    namespace,
    what: `${kind} ${namespace === undefined ? '' : `${namespace}/`}${o.name}`,
    path:
      namespace === undefined
        ? `/apis/${WR_API_VERSION}/clusterwasmreconcilers/${o.name}`
        : `/apis/${WR_API_VERSION}/namespaces/${namespace}/wasmreconcilers/${o.name}`,
    configMapNamespace: o.cluster === true ? (o.configMapNamespace ?? CLUSTER_RESOURCE_NAMESPACE) : o.namespace,
  };
}

function notFound(err: unknown): boolean {
  return (err as { code?: string }).code === 'WR_KUBE_NOT_FOUND';
}

function unavailable(err: unknown, what: string): never {
  const e = err as { code?: string; message?: string };
  if (e.code === undefined || !e.code.startsWith('WR_KUBE') || e.code === 'WR_KUBE_INVALID') throw err;
  throw new CliError(
    EXIT.UNAVAILABLE,
    `${what}: ${e.code}: ${e.message}`,
    'check --kubeconfig, the context and your RBAC',
  );
}

/** Uploads the module where `options.via` says and returns the spec.module that names it. */
async function place(client: KubeClient, bytes: Uint8Array, digest: Digest, o: PushOptions) {
  const size = `${(bytes.length / 1024).toFixed(1)} KiB`;
  if (o.via === 'inline') {
    const { INLINE_MAX_BASE64_CHARS } = await import('../../modules/spec.ts');
    const inline = Buffer.from(bytes).toString('base64');
    if (inline.length > INLINE_MAX_BASE64_CHARS) {
      throw new CliError(
        EXIT.INPUT,
        `the module (${size}) is too large to go inline (${INLINE_MAX_BASE64_CHARS} base64 characters at most)`,
        'push it to a registry instead: --via oci --oci <registry/repository:tag>',
      );
    }
    return { inline, digest };
  }
  if (o.via === 'configmap') {
    if (bytes.length > CONFIGMAP_MAX_BYTES) {
      throw new CliError(
        EXIT.INPUT,
        `the module (${size}) is too large for a ConfigMap (${CONFIGMAP_MAX_BYTES / 1024} KiB at most)`,
        'push it to a registry instead: --via oci --oci <registry/repository:tag>',
      );
    }
    // Named after the digest unless told otherwise: the spec then switches from one ConfigMap to another in
    // one write. Rewriting one ConfigMap in place would first show the host (which follows ConfigMap
    // sources) new bytes under the old pinned digest, a mismatch it rightly reports.
    const name = o.configMapName ?? `${o.name}-module-${digest.slice('sha256:'.length, 'sha256:'.length + 10)}`;
    const namespace = target(o).configMapNamespace;
    o.progress(`applying ConfigMap ${namespace}/${name} (${size})`);
    await client
      .apply(
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': PUSH_FIELD_MANAGER } },
          binaryData: { 'module.wasm': Buffer.from(bytes).toString('base64') },
        },
        { fieldManager: PUSH_FIELD_MANAGER, force: true },
      )
      .catch((err: unknown) => unavailable(err, `applying ConfigMap ${namespace}/${name}`));
    return { configMap: { name, key: 'module.wasm' }, digest };
  }
  const { parseOciReference, pushModule } = await import('../../modules/sources/oci/index.ts');
  let reference: ReturnType<typeof parseOciReference>;
  try {
    reference = parseOciReference(o.oci ?? '');
  } catch (err) {
    throw new CliError(
      EXIT.USAGE,
      `--oci ${o.oci}: ${(err as Error).message}`,
      'e.g. --oci registry.local/reconcilers/app:v2',
    );
  }
  o.progress(`pushing ${size} to ${reference.registry}/${reference.repository}`);
  const ca = o.ca === undefined ? undefined : await readInputFile(o.ca, 'a PEM CA bundle (--registry-ca)');
  const pushed = await pushModule(reference, bytes, {
    ...(ca === undefined ? {} : { ca }),
    ...(o.plainHttp ? { plainHttp: true } : {}),
  }).catch((err: unknown) => {
    const e = err as { code?: string; message?: string };
    throw new CliError(
      EXIT.UNAVAILABLE,
      `pushing to ${o.oci}: ${e.code ?? ''}${e.code ? ': ' : ''}${e.message}`,
      'check the reference, --registry-ca and your registry login',
    );
  });
  o.progress(`pushed ${pushed.pinnedReference}`);
  return { oci: { reference: pushed.pinnedReference } };
}

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

/** Polls until the host serves `digest` (Ready True, activeDigest = digest) or the deadline passes. */
async function waitReady(client: KubeClient, o: PushOptions, digest: Digest): Promise<boolean> {
  const t = target(o);
  const res = await client.resource(WR_API_VERSION, t.kind);
  const deadline = Date.now() + o.timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const wr = await client.get(res, t.namespace, o.name).catch((err: unknown) => unavailable(err, 'reading status'));
    const status = (wr.status ?? {}) as { activeDigest?: string; conditions?: Condition[] };
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    const line = `Ready=${ready?.status ?? 'Unknown'} ${ready?.reason ?? ''}: ${ready?.message ?? ''}`;
    if (line !== last) o.progress(line);
    last = line;
    if (ready?.status === 'True' && status.activeDigest === digest) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

export async function pushModuleFile(client: KubeClient, file: string, o: PushOptions): Promise<PushResult> {
  const { sha256Digest } = await import('../../digest.ts');
  const bytes = await readInputFile(file, 'a module (.wasm), e.g. build/my-reconciler.wasm');
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new CliError(EXIT.INPUT, `${file} is not a WebAssembly module`, 'build it with wr-as-build (the SDK) first');
  }
  const digest = sha256Digest(bytes);
  if (o.via === 'oci' && o.oci === undefined) {
    throw new CliError(
      EXIT.USAGE,
      '--via oci needs --oci <registry/repository[:tag]>',
      'e.g. --oci registry.local/reconcilers/app:v2',
    );
  }
  const t = target(o);
  const res = await client.resource(WR_API_VERSION, t.kind).catch((err: unknown) => unavailable(err, 'discovery'));
  let current: Record<string, unknown> | undefined;
  try {
    current = ((await client.get(res, t.namespace, o.name)).spec as { module?: Record<string, unknown> }).module;
  } catch (err) {
    if (!notFound(err)) unavailable(err, `reading ${t.what}`);
    throw new CliError(
      EXIT.FAILED,
      `no ${t.what}`,
      `create it first (kubectl apply -f <file> with spec.for and spec.owns), then push its module${
        o.cluster === true ? '' : '; for a ClusterWasmReconciler, pass --cluster'
      }`,
    );
  }
  const module = await place(client, bytes, digest, o);
  o.progress(`applying spec.module of ${t.what}`);
  const applyModule = (value: Record<string, unknown>) =>
    client.apply(
      {
        apiVersion: WR_API_VERSION,
        kind: t.kind,
        metadata: { name: o.name, ...(t.namespace === undefined ? {} : { namespace: t.namespace }) },
        spec: { module: value },
      },
      { fieldManager: PUSH_FIELD_MANAGER, force: true },
    );
  // A source of another kind (say inline, set by kubectl) would stay beside the new one under its own
  // manager (applying the same value only shares ownership), and the API server refuses two sources: a
  // switch is one merge patch that sets the new source and removes the others, in a single write.
  const stale = Object.keys(current ?? {}).filter((k) => !(k in module));
  const switchSource = () =>
    client.request('PATCH', t.path, {
      query: { fieldManager: PUSH_FIELD_MANAGER },
      body: { spec: { module: { ...Object.fromEntries(stale.map((k) => [k, null])), ...module } } },
      contentType: 'application/merge-patch+json',
    });
  await (stale.length > 0 ? switchSource() : applyModule(module)).catch((err: unknown) => {
    const e = err as { code?: string; message?: string };
    if (e.code === 'WR_KUBE_INVALID') {
      throw new CliError(
        EXIT.FAILED,
        `the API server refused the new spec.module: ${e.message}`,
        'another field manager may own a different module source: remove it from your manifest (kubectl apply --server-side)',
      );
    }
    unavailable(err, 'applying spec.module');
  });
  await removeReplacedConfigMap(client, current, module, t.configMapNamespace, o);
  const ready = o.wait ? await waitReady(client, o, digest) : undefined;
  return { digest, module, ready };
}

/** Deletes the ConfigMap an earlier push made for this reconciler, once the spec no longer names it. */
async function removeReplacedConfigMap(
  client: KubeClient,
  previous: Record<string, unknown> | undefined,
  next: Record<string, unknown>,
  namespace: string,
  o: PushOptions,
): Promise<void> {
  const before = (previous?.configMap as { name?: string } | undefined)?.name;
  const after = (next.configMap as { name?: string } | undefined)?.name;
  if (before === undefined || before === after) return;
  const res = await client.resource('v1', 'ConfigMap');
  try {
    const old = await client.get(res, namespace, before);
    // Only what push itself wrote: a ConfigMap the user made stays.
    if (old.metadata.labels?.['app.kubernetes.io/managed-by'] !== PUSH_FIELD_MANAGER) return;
    await client.delete(res, namespace, before);
    o.progress(`deleted ConfigMap ${namespace}/${before}, which the previous push made`);
  } catch (err) {
    if (!notFound(err)) o.progress(`could not delete ConfigMap ${namespace}/${before}: ${(err as Error).message}`);
  }
}

function duration(value: string): number {
  const m = /^(\d+)(ms|s|m)?$/.exec(value);
  if (m === null) throw new InvalidArgumentError('must be a duration like 90s, 2m or 500ms');
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

export function registerPush(program: Command): void {
  program
    .command('push')
    .description("Set a WasmReconciler's module (inline, ConfigMap or OCI registry), pinned by its digest.")
    .argument('<module.wasm>', 'the module file (built with wr-as-build)')
    .requiredOption('--name <name>', 'the WasmReconciler to update')
    .option('-n, --namespace <ns>', 'its namespace', 'default')
    .option('--cluster', 'the reconciler is a ClusterWasmReconciler (no namespace)', false)
    .option(
      '--configmap-namespace <ns>',
      "with --cluster --via configmap: the host's --cluster-resource-namespace",
      CLUSTER_RESOURCE_NAMESPACE,
    )
    .addOption(
      new Option('--via <source>', 'where the module goes: inline in the spec, a ConfigMap beside it, or a registry')
        .choices(['inline', 'configmap', 'oci'])
        .default('inline'),
    )
    .option('--oci <reference>', 'registry/repository[:tag] to push to (with --via oci); the spec pins the digest')
    .option(
      '--configmap-name <name>',
      'ConfigMap to write (with --via configmap; default <name>-module-<digest prefix>, so the spec switches atomically)',
    )
    .option('--registry-ca <file>', 'PEM CA bundle trusted for the registry')
    .option('--plain-http', 'speak plain http to the registry (development only)', false)
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)')
    .option('--wait', 'wait until the host serves this digest (Ready=True)', false)
    .option('--timeout <duration>', 'how long --wait waits (e.g. 90s, 2m)', duration, 120_000)
    .addHelpText(
      'after',
      '\nPrints the digest. Exit codes: 0 pushed (and Ready with --wait), 1 refused or not Ready in time, 2 usage, ' +
        '3 unreadable module, 4 cluster or registry unreachable.',
    )
    .action(
      action('push', async (file: string, opts) => {
        const { KubeConfig } = await import('@kubernetes/client-node');
        const { KubeClient } = await import('../../kube/index.ts');
        const kc = new KubeConfig();
        try {
          if (opts.kubeconfig !== undefined) kc.loadFromFile(opts.kubeconfig);
          else kc.loadFromDefault();
        } catch (err) {
          throw new CliError(
            EXIT.INPUT,
            `cannot load the kubeconfig: ${(err as Error).message}`,
            'pass --kubeconfig <path>',
          );
        }
        const client = await KubeClient.fromKubeConfig(kc);
        try {
          const result = await pushModuleFile(client, file, {
            name: opts.name,
            namespace: opts.namespace,
            cluster: opts.cluster,
            configMapNamespace: opts.configmapNamespace,
            via: opts.via,
            oci: opts.oci,
            configMapName: opts.configmapName,
            ca: opts.registryCa,
            plainHttp: opts.plainHttp,
            wait: opts.wait,
            timeoutMs: opts.timeout,
            progress: (line) => process.stderr.write(`${line}\n`),
          });
          process.stdout.write(`${result.digest}\n`);
          if (result.ready === false) {
            throw new CliError(
              EXIT.FAILED,
              `not Ready with ${result.digest} within ${opts.timeout} ms`,
              'see kubectl describe wr',
            );
          }
        } finally {
          client.close();
        }
      }),
    );
}
