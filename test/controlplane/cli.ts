// `npm run controlplane`: runs the local control plane in the foreground until Ctrl+C.

import { parseArgs } from 'node:util';
import { startControlPlane } from './controlplane.ts';
import { isControlPlaneError } from './errors.ts';
import { DATASTORES, type Datastore, describeVersions, kubernetesMinors } from './versions.ts';

const USAGE = `Usage: npm run controlplane [-- --port <port>] [--datastore etcd|kine] [--kubernetes <minor>]

Starts a datastore, kube-apiserver and kube-controller-manager on 127.0.0.1 and keeps them running until
Ctrl+C. The first run builds the binaries from source (needs Go; takes minutes, cached afterwards).

  --port <port>          serve the Kubernetes API on this port (default: any free port)
  --datastore <name>     etcd (default) or kine (SQLite, as a single-node k3s stores its cluster)
  --kubernetes <minor>   ${kubernetesMinors().join(' or ')} (default: the newest)
  --help                 show this help`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      datastore: { type: 'string' },
      kubernetes: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let apiserverPort: number | undefined;
  if (values.port !== undefined) {
    apiserverPort = Number(values.port);
    if (!Number.isInteger(apiserverPort) || apiserverPort < 1 || apiserverPort > 65535) {
      process.stderr.write(`--port must be a port number between 1 and 65535, not "${values.port}".\n`);
      return 2;
    }
  }

  if (values.datastore !== undefined && !(DATASTORES as readonly string[]).includes(values.datastore)) {
    process.stderr.write(`--datastore must be one of ${DATASTORES.join(', ')}, not "${values.datastore}".\n`);
    return 2;
  }

  const controlPlane = await startControlPlane({
    ...(apiserverPort === undefined ? {} : { apiserverPort }),
    flavour: {
      ...(values.datastore === undefined ? {} : { datastore: values.datastore as Datastore }),
      ...(values.kubernetes === undefined ? {} : { kubernetes: values.kubernetes }),
    },
  });
  process.stdout.write(
    [
      '',
      `${describeVersions(controlPlane.versions)} is serving at ${controlPlane.server}`,
      '',
      'Point kubectl (or any Kubernetes client) at it from another shell:',
      '',
      `  export KUBECONFIG=${controlPlane.kubeconfigPath}`,
      '  kubectl get namespaces',
      '',
      'kubectl is not bundled. Get a matching one from https://kubernetes.io/docs/tasks/tools/ (or your package',
      'manager), or use the kubeconfig with any client: client-go, @kubernetes/client-node, k9s, Lens...',
      `The identity is cluster-admin (group system:masters). Server logs: ${controlPlane.dir}`,
      '',
      'Press Ctrl+C to stop; the processes and their temporary files are removed.',
      '',
    ].join('\n'),
  );

  const signal = new Promise<NodeJS.Signals>((resolve) => {
    for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(name, () => resolve(name));
  });
  const outcome = await Promise.race([signal, controlPlane.firstExit()]);
  if (typeof outcome === 'string') {
    process.stderr.write(`\n${outcome}: stopping the control plane…\n`);
    await controlPlane.stop();
    return 0;
  }
  process.stderr.write(
    `\n${outcome.name} ${outcome.description} unexpectedly; see ${outcome.logPath}. Stopping the rest.\n`,
  );
  await controlPlane.stop();
  return 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      isControlPlaneError(err) ? `\n${err.message}\n` : `\n${String((err as Error)?.stack ?? err)}\n`,
    );
    process.exit(1);
  },
);
