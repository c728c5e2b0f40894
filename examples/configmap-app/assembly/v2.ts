// Entry of the App reconciler, version 2 (hot-swap demo): adds a version label and renames the message key.

import { Context, register } from "@wasm-reconciler/sdk-assemblyscript/assembly";
import { reconcileApp } from "./app";

export * from "@wasm-reconciler/sdk-assemblyscript/assembly/exports";

register((ctx: Context): void => reconcileApp(ctx, 2));
