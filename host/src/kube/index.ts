// Public surface of the Kubernetes client layer.

export { type AccessProblem, probeWasmReconcilerAccess, warnIfNoAccess } from './access.ts';
export {
  type ApplyOptions,
  type DeleteOptions,
  INITIAL_EVENTS_END,
  KubeClient,
  type KubeClientOptions,
  type KubeList,
  type ListOptions,
  type RequestOptions,
  type WatchEvent,
  type WatchOptions,
  type WatchStream,
  type WriteOptions,
} from './client.ts';
export { type Credentials, credentialsOf, TOKEN_FILE_REFRESH_MS } from './credentials.ts';
export { Discovery, type DiscoveryOptions } from './discovery.ts';
export {
  apiVersionOf,
  type GroupVersionKind,
  groupKind,
  groupOf,
  gvkOf,
  type KindRef,
  kindKey,
  parseApiVersion,
} from './gvk.ts';
export { IN_CLUSTER, type InClusterFiles, inClusterConfig } from './in-cluster.ts';
export { retryAfterMsOf } from './internal/status.ts';
export { type KubeCluster, KubeConfig, type KubeConfigView, type KubeUser } from './kubeconfig.ts';
export { type LoadKubeConfigOptions, loadKubeConfig } from './load-config.ts';
export { type LogFn, type Logger, silentLogger } from './logger.ts';
export { type ApiResource, collectionPath, groupVersionPath, objectPath, withQuery } from './paths.ts';
export { isoTime, kubeMicroTime, kubeTime } from './time.ts';
export {
  type HttpTransportOptions,
  httpTransport,
  kubeConfigTransport,
  type TlsSettings,
  type Transport,
  type TransportRequest,
  type TransportResponse,
} from './transport.ts';
