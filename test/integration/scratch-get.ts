import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '/work/main/host/src/kube/index.ts';
const kc = new KubeConfig(); kc.loadFromFile(process.env.WR_TEST_KUBECONFIG!);
const client = await KubeClient.fromKubeConfig(kc);
console.log(JSON.stringify(await client.request('GET', process.argv[2]!), null, 1).slice(0, 6000));
client.close();
