// The required wr_* exports; a module's entry file re-exports them with `export * from ".../exports"`.

// Loaded for the build's `--use abort=...` alias: the program must contain the handler it names.
import "./abort";
import { allocInput, runInit, runReconcile } from "./calls";

/** ABI version marker: the host checks for it before linking. */
export function wr_abi_version_1(): void {}

export function wr_alloc(len: i32): usize {
  return allocInput(len);
}

export function wr_init(ptr: usize, len: i32): i32 {
  return runInit(ptr, len);
}

export function wr_reconcile(ptr: usize, len: i32): i32 {
  return runReconcile(ptr, len, false);
}
