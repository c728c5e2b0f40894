// Entry of the App reconciler, version 1.

import { Context, register } from "@wasm-reconciler/sdk-assemblyscript/assembly";
import { reconcileApp } from "./app";

export * from "@wasm-reconciler/sdk-assemblyscript/assembly/exports";

register((ctx: Context): void => reconcileApp(ctx, 1));
