// Public surface of the controller folder: one running reconciler wired from the shared stages.
export {
  controllerRegistry,
  type StartControllerOptions,
  type StartedController,
  startController,
} from './builder.ts';
export {
  type ControllerConfig,
  type ControllerOptions,
  ReconcilerController,
  scopeWorker,
  type WorkerWiring,
} from './controller.ts';
export { type ReadGrant, ScopedReadPort } from './read-port.ts';
export { acquireScope, KindCaches, type WatchScope } from './scope.ts';
