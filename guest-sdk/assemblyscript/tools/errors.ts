// Errors of the guest build tool, each with a stable code (this package does not depend on the host's table).

export const AS_BUILD_ERROR_CODES = {
  WR_BUILD_ENTRY: 'The entry file does not exist.',
  WR_BUILD_OPTIONS: 'A build option is out of range or unknown.',
  WR_BUILD_COMPILE: 'The AssemblyScript compiler reported errors.',
  WR_BUILD_FORBIDDEN_IMPORT: 'The module imports something the host does not provide.',
  WR_BUILD_MISSING_EXPORT: 'The module lacks an export the host requires.',
  WR_BUILD_SDK: 'The SDK installation itself is inconsistent.',
} as const;

export type AsBuildErrorCode = keyof typeof AS_BUILD_ERROR_CODES;

export class AsBuildError extends Error {
  readonly code: AsBuildErrorCode;

  constructor(code: AsBuildErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AsBuildError';
    this.code = code;
  }
}
