// Opens a KubeClient from the kubeconfig a command was given, turning "no kubeconfig" into an error that says what to do.

import { isWrError } from '../errors.ts';
import type { KubeClient } from '../kube/index.ts';
import { CliError, EXIT } from './exit-codes.ts';

export async function connect(kubeconfig: string | undefined): Promise<KubeClient> {
  const { KubeClient, loadKubeConfig } = await import('../kube/index.ts');
  try {
    return await KubeClient.fromKubeConfig(await loadKubeConfig(kubeconfig === undefined ? {} : { path: kubeconfig }));
  } catch (err) {
    if (!isWrError(err) && (err as NodeJS.ErrnoException).code === undefined) throw err;
    throw new CliError(
      EXIT.INPUT,
      `cannot load the kubeconfig: ${(err as Error).message}`,
      'pass --kubeconfig <path> or set KUBECONFIG',
    );
  }
}
