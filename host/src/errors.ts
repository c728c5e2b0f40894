// Every error the host raises: one table of stable codes, each marked retryable or terminal, and some
// retryable ones deterministic.
//
// Callers branch on `code` (never on message text). The work queue reads `retryable` and `deterministic`
// to decide between backoff-and-retry, one retry, and giving up until the object changes
// (controller-runtime's TerminalError).

export interface ErrorSpec {
  /** Retrying later may help: the failure is transient (network, conflict), or deterministic (below). */
  readonly retryable: boolean;
  /**
   * The same input fails the same way again: the guest trapped, ran out of a budget, or produced an output
   * the host refuses. Retried once (the failed instance is discarded, so the retry runs on a fresh one, which
   * rules out state left behind by earlier calls), then treated as terminal until the object changes.
   * Only set on retryable codes.
   */
  readonly deterministic?: boolean;
  /** One sentence for docs and `wasm-reconciler` diagnostics: what it means for the user. */
  readonly summary: string;
}

export const ERROR_CODES = {
  // Module intake: bytes that can never become a running guest.
  WR_MODULE_TOO_LARGE: { retryable: false, summary: 'The module is larger than the configured size limit.' },
  WR_MODULE_MALFORMED: { retryable: false, summary: 'The bytes are not a valid WebAssembly binary.' },
  WR_MODULE_ABI_VERSION: {
    retryable: false,
    summary: 'The module declares no ABI version marker, or one this host does not implement.',
  },
  WR_MODULE_FORBIDDEN_IMPORT: {
    retryable: false,
    summary: 'The module imports something outside the host ABI namespace or an unknown host function.',
  },
  WR_MODULE_MISSING_EXPORT: { retryable: false, summary: 'The module lacks a required export.' },
  WR_MODULE_MEMORY: {
    retryable: false,
    summary: 'The module memory is shared, 64-bit, imported, or its minimum exceeds the memory cap.',
  },
  WR_MODULE_COMPILE: { retryable: false, summary: 'V8 rejected the module while compiling or linking it.' },
  WR_MODULE_UNSUPPORTED: {
    retryable: false,
    summary: 'The module uses a WebAssembly feature the host cannot meter (GC types, typed function references).',
  },
  WR_MODULE_RESERVED_EXPORT: {
    retryable: false,
    summary: 'The module exports a name the host reserves for its own instrumentation (__wr_fuel, __wr_start).',
  },
  WR_MODULE_LIMIT: {
    retryable: false,
    summary:
      'The module declares more of a resource than its limits allow (table elements, globals, functions, locals, code, segments, tags, nesting).',
  },

  // Guest calls: what happens inside one init/reconcile/finalize call.
  WR_GUEST_TRAP: {
    retryable: true,
    deterministic: true,
    summary: 'The guest trapped (unreachable, out-of-bounds access, ...).',
  },
  WR_GUEST_BUDGET_EXCEEDED: {
    retryable: true,
    deterministic: true,
    summary: 'The guest used up its fuel budget for one call.',
  },
  WR_GUEST_STACK_OVERFLOW: { retryable: true, deterministic: true, summary: 'The guest overflowed the call stack.' },
  WR_GUEST_MEMORY_EXCEEDED: {
    retryable: true,
    deterministic: true,
    summary: 'The guest tried to grow memory past its cap.',
  },
  WR_GUEST_OUTPUT_INVALID: {
    retryable: true,
    deterministic: true,
    summary: 'The guest returned output that is not JSON or does not match the ABI schema.',
  },
  WR_GUEST_OUTPUT_TOO_LARGE: {
    retryable: true,
    deterministic: true,
    summary: 'The guest returned more output than the limit allows.',
  },
  WR_GUEST_INPUT_TOO_LARGE: {
    retryable: true,
    deterministic: true,
    summary: 'The reconcile input is larger than the input limit.',
  },
  WR_GUEST_DEADLINE_EXCEEDED: {
    retryable: true,
    deterministic: true,
    summary: 'The call overran its wall-clock deadline; its worker thread was terminated and replaced.',
  },
  // Not deterministic: a worker's heap limit counts what other calls on that thread left behind.
  WR_GUEST_WORKER_EXITED: {
    retryable: true,
    summary: 'The worker thread running the call died (heap limit or crash); the call failed, the host did not.',
  },
  WR_GUEST_INIT_FAILED: { retryable: false, summary: 'The guest rejected its configuration in init.' },
  WR_GUEST_ERROR_RETRYABLE: { retryable: true, summary: 'The guest reported a retryable error.' },
  WR_GUEST_ERROR_TERMINAL: { retryable: false, summary: 'The guest reported a terminal error.' },
  WR_SLOT_EMPTY: { retryable: true, summary: 'No module version is active in this slot yet.' },
  WR_SLOT_CLOSED: { retryable: false, summary: 'The slot was closed; no further calls are accepted.' },

  // Capabilities: the module's declared permissions, enforced at the host boundary.
  WR_CAPABILITY_DENIED: {
    retryable: false,
    summary: 'The module asked to read or write outside its declared permissions.',
  },
  // Reconcile worker and executor.
  WR_HOST_INTERNAL: {
    retryable: true,
    summary: 'The host failed unexpectedly outside the guest and the API server (a bug); retried with backoff.',
  },

  // Engine: work queues and event mapping.
  WR_CONFIG_INVALID: {
    retryable: false,
    summary: 'A queue, mapping or resync setting is malformed or out of range.',
  },
  WR_QUEUE_MISUSE: {
    retryable: false,
    summary: 'A work queue was called with a bad argument or out of order (done for a key not in flight).',
  },

  // Kubernetes API.
  WR_KUBE_CONFLICT: { retryable: true, summary: 'The API server reported a conflict (HTTP 409).' },
  WR_KUBE_GONE: { retryable: true, summary: 'The resourceVersion is too old (HTTP 410); a relist follows.' },
  WR_KUBE_UNAVAILABLE: {
    retryable: true,
    summary: 'The API server could not be reached or answered 429/5xx.',
  },
  WR_KUBE_FORBIDDEN: { retryable: false, summary: "The host's own RBAC does not allow the request (HTTP 403)." },
  WR_KUBE_NOT_FOUND: { retryable: true, summary: 'The object or resource type does not exist (HTTP 404).' },
  WR_KUBE_INVALID: { retryable: false, summary: 'The API server rejected the object as invalid (HTTP 400/422).' },
  WR_KUBE_REQUEST: { retryable: true, summary: 'The API server answered with an unexpected status.' },
  WR_KUBE_CONFIG: {
    retryable: false,
    summary: 'The KubeConfig has no usable current cluster, user or server address.',
  },
  WR_LEADERSHIP_LOST: {
    retryable: false,
    summary: 'The host lost its Lease or is stopping: writes are fenced and none leaves the process.',
  },
  WR_SHARD_MOVED: {
    retryable: false,
    summary: "The primary left this host's share while it was being reconciled: the rest of its writes are fenced.",
  },
  WR_SELECTOR_INVALID: { retryable: false, summary: 'A label selector does not follow the Kubernetes grammar.' },
  WR_WATCH_STALLED: {
    retryable: true,
    summary: 'A watch delivered nothing, not even a bookmark, within the inactivity window.',
  },

  // Module sources and the WasmReconciler resource.
  WR_SPEC_INVALID: { retryable: false, summary: 'The WasmReconciler spec is malformed or inconsistent.' },
  WR_SOURCE_DIGEST_MISMATCH: {
    retryable: false,
    summary: 'The fetched module does not match the sha256 digest the spec requires.',
  },
  WR_SOURCE_UNREACHABLE: {
    retryable: true,
    summary: 'The module source (URL, registry, ConfigMap) could not be reached or read.',
  },
  WR_SOURCE_NOT_FOUND: { retryable: true, summary: 'The module source does not hold the referenced module.' },
  WR_SOURCE_AUTH: { retryable: true, summary: 'The registry or URL refused the credentials.' },
  WR_SOURCE_INVALID: {
    retryable: false,
    summary: 'The source answered with something that is not a module (wrong media type, bad manifest).',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class WrError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** See ErrorSpec.deterministic. */
  readonly deterministic: boolean;
  /** Structured context for logs and CR status; never includes guest-controlled bytes unbounded. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WrError';
    this.code = code;
    this.retryable = ERROR_CODES[code].retryable;
    this.deterministic = (ERROR_CODES[code] as ErrorSpec).deterministic === true;
    this.details = options?.details;
  }
}

export function isWrError(err: unknown, code?: ErrorCode): err is WrError {
  return err instanceof WrError && (code === undefined || err.code === code);
}

/** Retryable unless the error says otherwise: unknown failures are assumed transient. */
export function isRetryable(err: unknown): boolean {
  return err instanceof WrError ? err.retryable : true;
}

/** Deterministic only when the code says so: unknown failures are assumed transient. */
export function isDeterministic(err: unknown): boolean {
  return err instanceof WrError && err.deterministic;
}

/** An error as log fields: its stable code (WR_HOST_INTERNAL for anything untyped) and its message. */
export function errorFields(err: unknown): { code: ErrorCode; err: string } {
  return err instanceof WrError ? { code: err.code, err: err.message } : { code: 'WR_HOST_INTERNAL', err: String(err) };
}
