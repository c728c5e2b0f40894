// Installs CustomResourceDefinitions from YAML files into the test cluster and waits until they are served.

import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import type { KubeObject } from '../../host/src/abi/types.ts';
import { isWrError } from '../../host/src/errors.ts';
import type { KubeClient } from '../../host/src/kube/index.ts';
import { waitFor } from './cluster.ts';

/** Creates the CRD (tolerating one a parallel test file already created) and waits for discovery to serve it. */
export async function installCrd(client: KubeClient, file: string): Promise<KubeObject> {
  // Plain YAML, not client-node's loadYaml: that one maps keys to its model names
  // (x-kubernetes-preserve-unknown-fields becomes x_kubernetes_preserve_unknown_fields), which the API ignores.
  const crd = load(readFileSync(file, 'utf8')) as KubeObject;
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
