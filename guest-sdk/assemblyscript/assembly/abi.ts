// The names and numbers of host ABI v1 on the guest side: the one mirror of host/src/abi/constants.ts.
//
// test/conformance compares this file with the host constants and docs/abi/v1.md, so every name is
// spelled out literally (decorators only accept literals) and each constant keeps the host's name.

export const ABI_MAJOR: i32 = 1;
export const ABI_MINOR: i32 = 0;
export const ABI_MARKER_PREFIX = "wr_abi_version_";
export const ABI_MARKER = "wr_abi_version_1";

export const IMPORT_NAMESPACE = "wr";

// IMPORTS: the host functions, declared once here and nowhere else in the SDK.
export const IMPORT_LOG = "log";
export const IMPORT_LOG_ENABLED = "log_enabled";
export const IMPORT_GET = "get";
export const IMPORT_LIST = "list";
export const IMPORT_RESULT_READ = "result_read";
export const IMPORT_SET_OUTPUT = "set_output";
export const IMPORT_NOW_MS = "now_ms";

// @ts-ignore: decorator
@external("wr", "log")
export declare function host_log(level: i32, ptr: usize, len: usize): void;
// @ts-ignore: decorator
@external("wr", "log_enabled")
export declare function host_log_enabled(level: i32): i32;
// @ts-ignore: decorator
@external("wr", "get")
export declare function host_get(ptr: usize, len: usize): i32;
// @ts-ignore: decorator
@external("wr", "list")
export declare function host_list(ptr: usize, len: usize): i32;
// @ts-ignore: decorator
@external("wr", "result_read")
export declare function host_result_read(ptr: usize, len: usize): i32;
// @ts-ignore: decorator
@external("wr", "set_output")
export declare function host_set_output(ptr: usize, len: usize): void;
// @ts-ignore: decorator
@external("wr", "now_ms")
export declare function host_now_ms(): f64;

// EXPORTS: implemented in exports.ts under exactly these names.
export const EXPORT_MEMORY = "memory";
export const EXPORT_ALLOC = "wr_alloc";
export const EXPORT_INIT = "wr_init";
export const EXPORT_RECONCILE = "wr_reconcile";
export const EXPORT_FINALIZE = "wr_finalize";

export const FUEL_GLOBAL_EXPORT = "__wr_fuel";

// GUEST_STATUS: what wr_init / wr_reconcile / wr_finalize return.
export const GUEST_STATUS_OK: i32 = 0;
export const GUEST_STATUS_BAD_INPUT: i32 = 1;
export const GUEST_STATUS_ERROR: i32 = 2;

// HOST_STATUS: negative results of get / list / result_read (a non-negative value is a length).
export const HOST_STATUS_OK: i32 = 0;
export const HOST_STATUS_NOT_FOUND: i32 = -1;
export const HOST_STATUS_DENIED: i32 = -2;
export const HOST_STATUS_INVALID_ARGUMENT: i32 = -3;
export const HOST_STATUS_TOO_LARGE: i32 = -4;
export const HOST_STATUS_NO_RESULT: i32 = -5;

// LOG_LEVEL
export const LOG_LEVEL_TRACE: i32 = 0;
export const LOG_LEVEL_DEBUG: i32 = 1;
export const LOG_LEVEL_INFO: i32 = 2;
export const LOG_LEVEL_WARN: i32 = 3;
export const LOG_LEVEL_ERROR: i32 = 4;

// TRIGGER_REASONS: the values of input.trigger.reason.
export const TRIGGER_CREATED = "created";
export const TRIGGER_UPDATED = "updated";
export const TRIGGER_DELETED = "deleted";
export const TRIGGER_CHILD = "child";
export const TRIGGER_RELATED = "related";
export const TRIGGER_RESYNC = "resync";
export const TRIGGER_REQUEUE = "requeue";
export const TRIGGER_RETRY = "retry";

// DEFAULT_LIMITS the SDK and its build tool plan for (a WasmReconciler may lower them).
export const DEFAULT_LIMIT_MEMORY_PAGES: i32 = 256;
export const DEFAULT_LIMIT_OUTPUT_BYTES: i32 = 1048576;
export const DEFAULT_LIMIT_LOG_BYTES: i32 = 4096;
