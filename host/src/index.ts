// Public surface of the host package: the assembled host and each pipeline stage, usable on its own.
export * as abi from './abi/index.ts';
export * as cache from './cache/index.ts';
export * as controller from './controller/index.ts';
export {
  controllerRegistry,
  type StartControllerOptions,
  type StartedController,
  startController,
} from './controller/index.ts';
export { ERROR_CODES, type ErrorCode, isRetryable, isWrError, WrError } from './errors.ts';
export * as executor from './executor/index.ts';
export * as kube from './kube/index.ts';
export { type Host, type HostOptions, startHost } from './manager/index.ts';
export * as mapping from './mapping/index.ts';
export * as modules from './modules/index.ts';
export * as queue from './queue/index.ts';
export * as runtime from './runtime/index.ts';
export * as watch from './watch/index.ts';
