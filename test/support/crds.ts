// Installs CustomResourceDefinitions from YAML files into the test cluster and waits until they are served.

import { readFileSync } from 'node:fs';
import { loadYaml } from '@kubernetes/client-node';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { isWrError } from '../../host/src/errors.ts';
import type { KubeClient } from '../../host/src/kube/index.ts';
import { waitFor } from './cluster.ts';

/** Creates the CRD (tolerating one a parallel test file already created) and waits for discovery to serve it. */
export async function installCrd(client: KubeClient, file: string): Promise<KubeObject> {
  const crd = loadYaml<KubeObject>(readFileSync(file, 'utf8'));
  const crds = await client.resource('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
  try {
    await client.create(crds, crd);
  } catch (err) {
    if (!isWrError(err, 'WR_KUBE_CONFLICT')) throw err;
  }
  const spec = crd.spec as { group: string; names: { kind: string }; versions: { name: string }[] };
  await waitFor(
    async () => {
      const current = await client.get(crds, undefined, crd.metadata.name);
      const conditions = (current.status as { conditions?: { type: string; status: string }[] })?.conditions ?? [];
      return conditions.some((c) => c.type === 'Established' && c.status === 'True');
    },
    { description: `CRD ${crd.metadata.name} to be established` },
  );
  await waitFor(() => client.resource(`${spec.group}/${spec.versions[0]!.name}`, spec.names.kind), {
    description: `${spec.names.kind} in discovery`,
  });
  return crd;
}
