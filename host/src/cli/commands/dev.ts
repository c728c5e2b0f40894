// `wasm-reconciler dev <project>`: rebuild on save and hot-swap into the project's WasmReconciler, showing
// its status, its Events and (with --local) the host's and the module's logs, until Ctrl+C.

import type { Command } from 'commander';
import type { DevEvent } from '../dev/session.ts';
import { action, CliError, EXIT } from '../exit-codes.ts';

export interface DevCommandOptions {
  readonly local: boolean;
  readonly kubeconfig?: string;
  readonly namespace?: string;
  readonly reconciler?: string;
  readonly print: (line: string) => void;
  /** Every event of the loop, as it happens (benches and tests time them). */
  readonly onEvent?: (e: DevEvent) => void;
}

export interface RunningDev {
  /** The kubeconfig of the cluster dev serves (the local control plane's with --local). */
  readonly kubeconfigPath: string | undefined;
  stop(): Promise<void>;
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** One line per event, prefixed with what it is about. */
export function describe(e: DevEvent, since: () => number | undefined): string | undefined {
  switch (e.type) {
    case 'change':
      return undefined;
    case 'built': {
      const t = since();
      return `[build] ${e.cached ? 'unchanged' : `${Math.round(e.buildMs)} ms`}, ${(e.bytes / 1024).toFixed(1)} KiB ${e.digest.slice(0, 19)}${t === undefined ? '' : ` (${Math.round(t)} ms after the save)`}`;
    }
    case 'build-failed':
      return `[build] failed, the version serving keeps serving:\n${e.message}`;
    case 'pushed':
      return `[swap] pushed ${e.digest.slice(0, 19)} in ${Math.round(e.pushMs)} ms`;
    case 'push-failed':
      return `[swap] failed: ${e.message}`;
    case 'status':
      return `[status] ${e.line}`;
    case 'event':
      return `[event] ${e.line}`;
  }
}

export async function startDev(projectDir: string, o: DevCommandOptions): Promise<RunningDev> {
  const [{ readDevProject, readCrds }, { DEV_FIELD_MANAGER, startDevSession }, kube] = await Promise.all([
    import('../dev/project.ts'),
    import('../dev/session.ts'),
    import('../../kube/index.ts'),
  ]);
  const project = await readDevProject(projectDir, o.reconciler);
  const namespace = o.namespace ?? project.reconciler.metadata.namespace ?? 'default';
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => o.print(`[dev] stopping: ${String(err)}`));
  };
  try {
    let kubeConfig: Awaited<ReturnType<typeof kube.loadKubeConfig>> | import('../../kube/index.ts').KubeConfigView;
    let kubeconfigPath: string | undefined = o.kubeconfig;
    let startLocalHost: (() => Promise<void>) | undefined;
    if (o.local) {
      const local = await import('../dev/local.ts');
      o.print('[dev] starting a local control plane (the first run builds it from source: minutes)');
      const env = await local.startLocalControlPlane((line) => o.print(`[controlplane] ${line}`));
      cleanups.push(() => env.stop());
      kubeConfig = env.kubeConfig;
      kubeconfigPath = env.kubeconfigPath;
      o.print(`[dev] Kubernetes at ${env.server}; export KUBECONFIG=${env.kubeconfigPath}`);
      const client = await kube.KubeClient.fromKubeConfig(kubeConfig);
      cleanups.push(async () => client.close());
      await local.installCrds(
        client,
        [
          ...(await local.hostCrds(readCrds)),
          ...(project.crdFile === undefined ? [] : await readCrds(project.crdFile)),
        ],
        DEV_FIELD_MANAGER,
      );
      await client
        .apply(
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
          { fieldManager: DEV_FIELD_MANAGER },
        )
        .catch(() => undefined);
      const view = kubeConfig;
      startLocalHost = async () => {
        const host = await local.startInProcessHost(view, namespace, (line) => {
          if (line.fields.reconciler !== undefined && line.fields.reconciler !== project.reconciler.metadata.name)
            return;
          if (line.level < 30 && line.fields.digest === undefined) return;
          const { reconciler: _r, namespace: _n, component: _c, ...rest } = line.fields;
          const extra = Object.keys(rest).length === 0 ? '' : ` ${JSON.stringify(rest)}`;
          o.print(`[log] ${LEVELS[line.level] ?? line.level} ${line.msg}${extra}`);
        });
        cleanups.push(() => host.stop());
      };
    } else {
      try {
        kubeConfig = await kube.loadKubeConfig(o.kubeconfig === undefined ? {} : { path: o.kubeconfig });
      } catch (err) {
        throw new CliError(
          EXIT.INPUT,
          `cannot load the kubeconfig: ${(err as Error).message}`,
          'pass --kubeconfig <path>',
        );
      }
    }
    const client = await kube.KubeClient.fromKubeConfig(kubeConfig);
    cleanups.push(async () => client.close());
    await startLocalHost?.();
    let changedAt: number | undefined;
    const session = await startDevSession({
      project,
      client,
      namespace,
      onEvent: (e) => {
        o.onEvent?.(e);
        if (e.type === 'change') changedAt ??= e.at;
        const line = describe(e, () => (changedAt === undefined ? undefined : performance.now() - changedAt));
        if (e.type === 'built' || e.type === 'build-failed') changedAt = undefined;
        if (line !== undefined) o.print(line);
      },
    });
    cleanups.push(() => session.stop());
    if (o.local && project.samples.length > 0) {
      for (const sample of project.samples) {
        await client.apply(
          { ...sample, metadata: { ...sample.metadata, namespace } },
          { fieldManager: DEV_FIELD_MANAGER, force: true },
        );
      }
      o.print(`[dev] applied sample.yaml (${project.samples.map((s) => `${s.kind}/${s.metadata.name}`).join(', ')})`);
    }
    o.print(`[dev] watching ${project.dir}/assembly: save a file to rebuild and swap (Ctrl+C stops)`);
    return { kubeconfigPath, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description("Rebuild on save and hot-swap into the project's WasmReconciler; show its status, events and logs.")
    .argument('[project]', 'the project directory (made by init)', '.')
    .option('--local', 'start a local control plane and host (from a wasm-reconciler checkout only)', false)
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config)')
    .option('-n, --namespace <ns>', "the WasmReconciler's namespace (default: the manifest's)")
    .option('--reconciler <file>', 'the WasmReconciler manifest (default: wasmreconciler.yaml)')
    .addHelpText(
      'after',
      '\nRebuilds unoptimised (-O0) for speed; `npm run build` makes what ships. Exit codes: 0 stopped by Ctrl+C, ' +
        '1 the first build failed, 3 not a project, 4 the cluster is unreachable or --local is not available.',
    )
    .action(
      action(
        'dev',
        async (
          projectDir: string,
          opts: { local: boolean; kubeconfig?: string; namespace?: string; reconciler?: string },
        ) => {
          const running = await startDev(projectDir, { ...opts, print: (line) => process.stdout.write(`${line}\n`) });
          await new Promise<void>((resolve) => {
            process.once('SIGINT', resolve);
            process.once('SIGTERM', resolve);
          });
          process.stdout.write('[dev] stopping\n');
          await running.stop();
        },
      ),
    );
}
