// The CLI's exit codes and its one error type: each failure exits with a documented code (docs/cli.md).

import { isWrError } from '../errors.ts';

/** Stable: scripts and CI branch on them. */
export const EXIT = {
  OK: 0,
  /** The command ran and its check failed: a fixture mismatch, a module the host would refuse, not Ready in time. */
  FAILED: 1,
  /** Bad arguments or options (commander's usage errors). */
  USAGE: 2,
  /** A file named on the command line is missing, unreadable or not what it must be. */
  INPUT: 3,
  /** The cluster or registry could not be reached, or refused the request. */
  UNAVAILABLE: 4,
  /** This Node is older than the package's engines.node (cli/node-version.ts). */
  NODE_TOO_OLD: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the CLI reports as one message and a hint on what to do, then exits with `exitCode`. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;

  constructor(exitCode: ExitCode, message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** The line(s) printed for `err`, and the exit code. Host errors keep their stable WR_ code in the text. */
export function describeFailure(command: string, err: unknown): { text: string; exitCode: ExitCode } {
  if (err instanceof CliError) {
    const hint = err.hint === undefined ? '' : `\n  ${err.hint}`;
    return { text: `wasm-reconciler ${command}: ${err.message}${hint}\n`, exitCode: err.exitCode };
  }
  if (isWrError(err)) {
    return { text: `wasm-reconciler ${command}: ${err.code}: ${err.message}\n`, exitCode: EXIT.FAILED };
  }
  const e = err as { message?: string };
  return { text: `wasm-reconciler ${command}: ${e.message ?? String(err)}\n`, exitCode: EXIT.FAILED };
}

/** Wraps a command's action: its failure is printed and becomes the exit code, never a stack trace. */
export function action<A extends unknown[]>(
  command: string,
  fn: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const { text, exitCode } = describeFailure(command, err);
      process.stderr.write(text);
      process.exitCode = exitCode;
    }
  };
}
