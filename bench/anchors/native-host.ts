// The host's engine serving the native TypeScript App reconciler, as a process of its own for the anchors bench.
//
// The same engine the Wasm host runs (shared caches, event mapping, work queue, executor; test/support/
// engine.ts assembles it as the host does), without the module manager, metrics server or guest workers:
// the figure separates what Wasm costs from what the engine costs.
//
//   node bench/anchors/native-host.ts --kubeconfig FILE --namespace NS [--workers N]

import { parseArgs } from 'node:util';
import { KubeClient, loadKubeConfig } from '../../host/src/kube/index.ts';
import { createAppReconciler } from '../../test/fixtures/native/app-reconciler.ts';
import { startEngine } from '../../test/support/engine.ts';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
    workers: { type: 'string', default: '1' },
  },
});
if (values.kubeconfig === undefined || values.namespace === undefined) {
  process.stderr.write('usage: native-host.ts --kubeconfig FILE --namespace NS [--workers N]\n');
  process.exit(2);
}
// The host CLI's own loader, so both host processes load the same code before their first request.
const client = await KubeClient.fromKubeConfig(await loadKubeConfig({ path: values.kubeconfig }));
const engine = await startEngine({
  client,
  namespace: values.namespace,
  reconciler: createAppReconciler(),
  maxConcurrentReconciles: Number(values.workers),
});
const stop = async () => {
  await engine.stop();
  client.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
