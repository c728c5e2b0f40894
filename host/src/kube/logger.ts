// The logging surface the Kubernetes plumbing needs: a pino-compatible subset, so a pino logger drops in.

/** pino's call shape: an optional object of structured fields first, then the message. */
export interface LogFn {
  (fields: Record<string, unknown>, message?: string): void;
  (message: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const discard: LogFn = () => {};

/** For callers that pass no logger: plumbing must never require one to run. */
export const silentLogger: Logger = { debug: discard, info: discard, warn: discard, error: discard };
