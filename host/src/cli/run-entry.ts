// What `wasm-reconciler run` loads: the assembled host and the kubeconfig loader, and nothing of the
// toolchain. The image runs it as one bundle (host/tools/bundle.ts), a clone from the sources.

export { loadKubeConfig } from '../kube/index.ts';
export { startHost } from '../manager/index.ts';
