// The guest's abort handler (wired by `--use abort=...`): reports through wr.log, then traps.
//
// AssemblyScript would otherwise import env.abort, which the host refuses to link. Trapping is the
// right end: the host discards the instance and reports the call as failed (WR_GUEST_TRAP).
// This file imports only abi.ts: the compiler initialises the abort handler's module first, before the
// runtime's own globals, so a module-level allocation reachable from here would corrupt the heap.

import { host_log, LOG_LEVEL_ERROR } from "./abi";

export function wrAbort(
  message: string | null = null,
  fileName: string | null = null,
  line: u32 = 0,
  column: u32 = 0,
): void {
  let text = message !== null ? message : "abort";
  if (fileName !== null) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  const bytes = String.UTF8.encode(text);
  host_log(LOG_LEVEL_ERROR, changetype<usize>(bytes), <usize>bytes.byteLength);
  unreachable();
}
