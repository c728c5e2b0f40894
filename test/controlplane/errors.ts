// Typed failures of the local control-plane harness, each carrying what the user should do next.
//
// These are harness errors, not host errors: they never reach a reconciler, so they live beside the
// harness instead of in host/src/errors.ts. Callers and tests branch on `code`.

export const CONTROL_PLANE_ERROR_CODES = [
  /** No usable Go toolchain: needed only when the binaries are not cached yet. */
  'CP_GO_MISSING',
  /** The `openssl` command (used to issue the cluster certificates) is not installed. */
  'CP_OPENSSL_MISSING',
  /** `go build` of etcd, kube-apiserver or kube-controller-manager failed. */
  'CP_BUILD_FAILED',
  /** A port the control plane needs on 127.0.0.1 is taken by another process. */
  'CP_PORT_IN_USE',
  /** A server process exited while the control plane was starting. */
  'CP_PROCESS_EXITED',
  /** A server did not report ready within the startup deadline. */
  'CP_NOT_READY',
  /** A request or setting the harness cannot act on (bad option, missing ServiceAccount...). */
  'CP_INVALID',
] as const;

export type ControlPlaneErrorCode = (typeof CONTROL_PLANE_ERROR_CODES)[number];

export class ControlPlaneError extends Error {
  readonly code: ControlPlaneErrorCode;
  /** The log that explains the failure, when there is one. */
  readonly logPath: string | undefined;

  constructor(code: ControlPlaneErrorCode, message: string, options?: { cause?: unknown; logPath?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ControlPlaneError';
    this.code = code;
    this.logPath = options?.logPath;
  }
}

export function isControlPlaneError(err: unknown, code?: ControlPlaneErrorCode): err is ControlPlaneError {
  return err instanceof ControlPlaneError && (code === undefined || err.code === code);
}
