// The local control-plane harness: build once, start a datastore (etcd or kine) + kube-apiserver +
// kube-controller-manager, stop.

export {
  type ControlPlaneBinaries,
  defaultCacheRoot,
  type EnsureBinariesOptions,
  ensureControlPlaneBinaries,
} from './build.ts';
export {
  type ControlPlane,
  OWNER_ENV,
  RUNS_DIR,
  type ServerExit,
  type StartControlPlaneOptions,
  startControlPlane,
} from './controlplane.ts';
export {
  CONTROL_PLANE_ERROR_CODES,
  ControlPlaneError,
  type ControlPlaneErrorCode,
  isControlPlaneError,
} from './errors.ts';
export { isPortFree } from './ports.ts';
export { findProcessesByEnv, isAlive, type ProcessInfo } from './process.ts';
export { mintServiceAccountKubeconfig, type ServiceAccountRef } from './serviceaccount.ts';
export {
  type ControlPlaneFlavour,
  DATASTORE_ENV,
  DATASTORES,
  type Datastore,
  defaultFlavour,
  describeVersions,
  KUBERNETES_ENV,
  kubernetesMinors,
  type PinnedVersions,
  pinnedVersions,
  resolveFlavour,
} from './versions.ts';
