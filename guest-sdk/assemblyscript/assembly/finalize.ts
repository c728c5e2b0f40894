// The optional wr_finalize export; re-export it (`export * from ".../finalize"`) to be called on deletion.

import { runReconcile } from "./calls";

export function wr_finalize(ptr: usize, len: i32): i32 {
  return runReconcile(ptr, len, true);
}
