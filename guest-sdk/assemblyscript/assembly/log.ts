// Leveled logging through the host, with the level check done before any message is encoded.

import {
  host_log,
  host_log_enabled,
  LOG_LEVEL_DEBUG,
  LOG_LEVEL_ERROR,
  LOG_LEVEL_INFO,
  LOG_LEVEL_TRACE,
  LOG_LEVEL_WARN,
} from "./abi";

// Per-call cache of log_enabled answers: 0 unknown, 1 off, 2 on. The host may change its level
// between calls, never during one, so `resetLogLevels` runs at the start of every call.
const enabledCache = new StaticArray<i8>(5);
let scratch: usize = 0;
let scratchCap: usize = 0;

export function resetLogLevels(): void {
  for (let i = 0; i < 5; i++) unchecked((enabledCache[i] = 0));
}

/**
 * `log.info(msg)` writes only when the host would keep the message. Arguments are evaluated before the
 * call, so for messages that are costly to build use the multi-part form `log.info("x=", x.toString())`
 * (parts are joined only when enabled) or guard with `if (log.debugEnabled()) ...`.
 */
export class Logger {
  enabled(level: i32): bool {
    if (level < LOG_LEVEL_TRACE || level > LOG_LEVEL_ERROR) return false;
    let v = unchecked(enabledCache[level]);
    if (v == 0) {
      v = host_log_enabled(level) != 0 ? 2 : 1;
      unchecked((enabledCache[level] = v));
    }
    return v == 2;
  }

  traceEnabled(): bool {
    return this.enabled(LOG_LEVEL_TRACE);
  }
  debugEnabled(): bool {
    return this.enabled(LOG_LEVEL_DEBUG);
  }

  write(level: i32, a: string, b: string = "", c: string = "", d: string = ""): void {
    if (!this.enabled(level)) return;
    emit(level, b.length + c.length + d.length == 0 ? a : a + b + c + d);
  }

  trace(a: string, b: string = "", c: string = "", d: string = ""): void {
    this.write(LOG_LEVEL_TRACE, a, b, c, d);
  }
  debug(a: string, b: string = "", c: string = "", d: string = ""): void {
    this.write(LOG_LEVEL_DEBUG, a, b, c, d);
  }
  info(a: string, b: string = "", c: string = "", d: string = ""): void {
    this.write(LOG_LEVEL_INFO, a, b, c, d);
  }
  warn(a: string, b: string = "", c: string = "", d: string = ""): void {
    this.write(LOG_LEVEL_WARN, a, b, c, d);
  }
  error(a: string, b: string = "", c: string = "", d: string = ""): void {
    this.write(LOG_LEVEL_ERROR, a, b, c, d);
  }
}

export const log = new Logger();

/** Encodes into a reused buffer; the host truncates long messages, so no cap is applied here. */
export function emit(level: i32, message: string): void {
  const need = <usize>String.UTF8.byteLength(message);
  if (need > scratchCap) {
    if (scratch != 0) heap.free(scratch);
    scratchCap = need < 256 ? 256 : need;
    scratch = heap.alloc(scratchCap);
  }
  const n = String.UTF8.encodeUnsafe(changetype<usize>(message), message.length, scratch);
  host_log(level, scratch, n);
}
