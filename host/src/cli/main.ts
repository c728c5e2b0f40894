#!/usr/bin/env node
// The `wasm-reconciler` command: parses arguments and runs the host until SIGINT/SIGTERM.

import { randomUUID } from 'node:crypto';
import module from 'node:module';
import { hostname } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import type pino from 'pino';
import { errorFields, WrError } from '../errors.ts';
import { registerCommands } from './commands/index.ts';

// Type stripping loads a TypeScript parser (~12 MB per thread, ~0.3 s of CPU for the host's sources);
// Node's compile cache keeps the stripped and compiled sources instead. The image sets NODE_COMPILE_CACHE
// to a cache filled at build time (deploy/Dockerfile), so no thread loads the parser; elsewhere the cache
// lives in the temp dir. Exported to the environment so that worker threads, which inherit it, use it too.
// The host itself is imported in `run`, once the cache is on.
const compileCache = module.enableCompileCache();
if (compileCache.directory !== undefined) process.env.NODE_COMPILE_CACHE ??= compileCache.directory;

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 3_600) throw new InvalidArgumentError('must be a number of seconds (0-3600)');
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1 || n > 64)
    throw new InvalidArgumentError('must be a whole number from 1 to 64');
  return n;
}

/**
 * A human-readable logger when asked for, or by default on a terminal; undefined leaves the host its JSON
 * logger. The printer and pino are imported only then: a production process never loads the printer, and
 * its pino is the one bundled into `run` (host/tools/bundle.ts), not a second copy from node_modules.
 */
async function prettyLogger(format: 'auto' | 'json' | 'pretty', level: string): Promise<{ logger?: pino.Logger }> {
  if (format === 'json' || (format === 'auto' && process.stdout.isTTY !== true)) return {};
  const [{ prettyStream }, { default: pino }] = await Promise.all([import('./pretty-log.ts'), import('pino')]);
  return { logger: pino({ level, base: { component: 'wasm-reconciler' } }, prettyStream(process.stdout)) };
}

/**
 * What `run` starts. The image ships it bundled (host/tools/bundle.ts), and WASM_RECONCILER_BUNDLE names the
 * bundle's directory: a handful of files instead of some 150 modules to resolve, read and link, which at
 * start saves the host about 40 ms of CPU and 10 MB of RSS (docs/benchmarks.md#footprint). A clone runs
 * the sources.
 */
async function loadRunEntry(): Promise<typeof import('./run-entry.ts')> {
  const bundle = process.env.WASM_RECONCILER_BUNDLE;
  if (bundle === undefined || bundle === '') return import('./run-entry.ts');
  const file = path.resolve(bundle, 'run.mjs');
  try {
    return (await import(pathToFileURL(file).href)) as typeof import('./run-entry.ts');
  } catch (err) {
    throw new WrError('WR_CONFIG_INVALID', `WASM_RECONCILER_BUNDLE: cannot load ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

const program = new Command('wasm-reconciler')
  .description('A Kubernetes controller host that runs reconcilers as WebAssembly modules.')
  .showHelpAfterError();

program
  .command('run')
  .description('Run the host: watch WasmReconciler resources and serve their reconcilers.')
  .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)')
  .option('-n, --namespace <name>', 'watch WasmReconcilers in this namespace only (default: all)')
  .option('--module-cache-dir <dir>', 'content-addressed module cache', '/var/cache/wasm-reconciler')
  .option('--metrics-port <port>', 'port of /metrics, /healthz and /readyz', port, 8080)
  .addOption(
    new Option('--log-level <level>', 'log level')
      .choices(['trace', 'debug', 'info', 'warn', 'error', 'silent'])
      .default('info'),
  )
  .addOption(
    new Option('--log-format <format>', 'log lines: JSON, human-readable, or pretty on a terminal and JSON otherwise')
      .choices(['auto', 'json', 'pretty'])
      .default('auto'),
  )
  .option('--source-ca <file>', 'extra CA (PEM) trusted for module URLs and registries')
  .option('--insecure-registries', 'allow plain-http OCI registries (development only)', false)
  .option(
    '--guest-workers <n>',
    'worker threads that run guest code (about 20 MB each; default 2, 1 on one core)',
    positiveInt,
  )
  .option(
    '--cluster-resource-namespace <ns>',
    'where ClusterWasmReconcilers read ConfigMap modules and pull Secrets (default: $POD_NAMESPACE or wasm-reconciler-system)',
  )
  .option(
    '--watch-label-selector <selector>',
    'serve only the WasmReconcilers and ClusterWasmReconcilers this label selector matches (default: all)',
  )
  .option('--leader-elect', 'run only while holding a Lease, so replicas never reconcile twice', false)
  .option('--leader-election-namespace <ns>', 'namespace of the Lease (default: $POD_NAMESPACE or default)')
  .option('--leader-election-id <name>', 'name of the Lease', 'wasm-reconciler')
  .addOption(
    new Option(
      '--sharding <mode>',
      "share primaries between hosts: none, node (a DaemonSet: each host reconciles its node's primaries), or replicas (a Deployment's replicas split them by hashing over their shard Leases)",
    )
      .choices(['none', 'node', 'replicas'])
      .default('none'),
  )
  .option('--node-name <name>', "this host's node, for --sharding node (default: $NODE_NAME, from the downward API)")
  .option(
    '--node-selector <selector>',
    'for --sharding node: the Nodes the host DaemonSet runs on, as a label selector (default: every Node)',
  )
  .option(
    '--handover-seconds <s>',
    'for --sharding node: how long a primary that may have just moved to this node waits before it is reconciled here',
    seconds,
  )
  .option(
    '--shard-ring <name>',
    'for --sharding replicas: the ring the replicas form (label keys carry it)',
    'wasm-reconciler',
  )
  .option(
    '--shard-name <name>',
    "for --sharding replicas: this replica's shard name (default: $POD_NAME, else the hostname)",
  )
  .option(
    '--shard-lease-namespace <ns>',
    'for --sharding replicas: where the shard Leases live (default: $POD_NAMESPACE or default)',
  )
  .action(async (opts) => {
    const { readFile } = await import('node:fs/promises');
    const { startHost, loadKubeConfig } = await loadRunEntry();
    const nodeName: string | undefined = opts.nodeName ?? process.env.NODE_NAME;
    if (opts.sharding === 'node' && (nodeName === undefined || nodeName === '')) {
      throw new WrError(
        'WR_CONFIG_INVALID',
        '--sharding node needs the node name: pass --node-name or set NODE_NAME (downward API spec.nodeName)',
      );
    }
    const host = await startHost({
      kubeConfig: await loadKubeConfig(opts.kubeconfig === undefined ? {} : { path: opts.kubeconfig }),
      ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }),
      moduleCacheDir: opts.moduleCacheDir,
      metricsPort: opts.metricsPort,
      logLevel: opts.logLevel,
      ...(await prettyLogger(opts.logFormat, opts.logLevel)),
      ...(opts.sourceCa === undefined ? {} : { sourceCa: await readFile(opts.sourceCa, 'utf8') }),
      insecureRegistries: opts.insecureRegistries,
      ...(opts.guestWorkers === undefined ? {} : { guestWorkers: opts.guestWorkers }),
      ...(opts.watchLabelSelector === undefined ? {} : { watchLabelSelector: opts.watchLabelSelector }),
      ...((opts.clusterResourceNamespace ?? process.env.POD_NAMESPACE) === undefined
        ? {}
        : { clusterResourceNamespace: opts.clusterResourceNamespace ?? process.env.POD_NAMESPACE }),
      ...(process.env.POD_NAME === undefined ? {} : { instance: process.env.POD_NAME }),
      ...(opts.sharding === 'node' && nodeName !== undefined
        ? {
            sharding: {
              mode: 'node' as const,
              nodeName,
              ...(opts.nodeSelector === undefined ? {} : { nodeSelector: opts.nodeSelector }),
              ...(opts.handoverSeconds === undefined ? {} : { handoverMs: opts.handoverSeconds * 1000 }),
            },
          }
        : {}),
      ...(opts.sharding === 'replicas'
        ? {
            sharding: {
              mode: 'replicas' as const,
              ring: opts.shardRing,
              member: opts.shardName ?? process.env.POD_NAME ?? hostname(),
              namespace: opts.shardLeaseNamespace ?? process.env.POD_NAMESPACE ?? 'default',
              identity: `${process.env.POD_NAME ?? hostname()}_${randomUUID()}`,
              // As with a lost leader Lease: the host has stopped and fenced; the pod restarts clean.
              onLost: () => process.exit(1),
            },
          }
        : {}),
      ...(opts.leaderElect
        ? {
            leaderElection: {
              namespace: opts.leaderElectionNamespace ?? process.env.POD_NAMESPACE ?? 'default',
              name: opts.leaderElectionId,
              // client-go's form: stable part plus a per-process part, so a restarted pod is a new holder.
              identity: `${process.env.POD_NAME ?? hostname()}_${randomUUID()}`,
              onLost: () => process.exit(1),
            },
          }
        : {}),
    });
    let stopping = false;
    const stop = (signal: string) => {
      // `on`, not `once`: with no listener left, a second SIGTERM would kill the process by signal (143).
      if (stopping) {
        host.logger.warn({ signal }, 'second signal: exiting at once');
        process.exit(130);
      }
      stopping = true;
      host.logger.info({ signal }, 'stopping: in-flight reconciles get up to 5 s, then are aborted');
      // Backstop: the stop is bounded step by step; this only catches a bug, well within the pod's grace.
      setTimeout(() => {
        host.logger.error('stop did not finish within 9.5 s; exiting');
        process.exit(1);
      }, 9_500).unref();
      host.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          host.logger.error(errorFields(err), 'unclean stop');
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });

registerCommands(program);

program.parseAsync().catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  process.stderr.write(`wasm-reconciler: ${e.code === undefined ? '' : `${e.code}: `}${e.message ?? String(err)}\n`);
  process.exit(1);
});
