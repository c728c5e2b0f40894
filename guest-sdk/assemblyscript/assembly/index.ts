// The SDK's public surface for module authors: import from "@wasm-reconciler/sdk-assemblyscript".

export {
  HOST_STATUS_DENIED,
  HOST_STATUS_INVALID_ARGUMENT,
  HOST_STATUS_NO_RESULT,
  HOST_STATUS_NOT_FOUND,
  HOST_STATUS_OK,
  HOST_STATUS_TOO_LARGE,
  LOG_LEVEL_DEBUG,
  LOG_LEVEL_ERROR,
  LOG_LEVEL_INFO,
  LOG_LEVEL_TRACE,
  LOG_LEVEL_WARN,
  TRIGGER_CHILD,
  TRIGGER_CREATED,
  TRIGGER_DELETED,
  TRIGGER_RELATED,
  TRIGGER_REQUEUE,
  TRIGGER_RESYNC,
  TRIGGER_RETRY,
  TRIGGER_UPDATED,
} from "./abi";
export { Cache, ReadResult, cache } from "./cache";
export { Context, InitContext } from "./context";
export { InitFn, ReconcileFn, register, registerFinalize, registerInit } from "./handlers";
export {
  ArrayIter,
  FNV1A_OFFSET,
  hex32,
  JsonDoc,
  JsonValue,
  KIND_ARRAY,
  KIND_BOOL,
  KIND_MISSING,
  KIND_NULL,
  KIND_NUMBER,
  KIND_OBJECT,
  KIND_STRING,
  ObjectIter,
} from "./json/reader";
export { ArrayWriter, JsonWriter, ObjectWriter } from "./json/writer";
export {
  CLUSTER_ROLE,
  CLUSTER_ROLE_BINDING,
  CONFIG_MAP,
  CRON_JOB,
  DAEMON_SET,
  DEPLOYMENT,
  HORIZONTAL_POD_AUTOSCALER,
  INGRESS,
  JOB,
  Kind,
  NAMESPACE,
  NETWORK_POLICY,
  NODE,
  PERSISTENT_VOLUME_CLAIM,
  POD,
  POD_DISRUPTION_BUDGET,
  ROLE,
  ROLE_BINDING,
  SECRET,
  SERVICE,
  SERVICE_ACCOUNT,
  STATEFUL_SET,
} from "./kinds";
export { Logger, log } from "./log";
export { ObjectList, ObjectListIter, ObjectView } from "./object";
export {
  Child,
  CONDITION_FALSE,
  CONDITION_TRUE,
  CONDITION_UNKNOWN,
  EVENT_NORMAL,
  EVENT_WARNING,
  Output,
} from "./output";
export { formatRfc3339, nowMs } from "./time";
