// Entry of the WebApp reconciler module.

import { Context, register } from "@wasm-reconciler/sdk-assemblyscript/assembly";
import { reconcileWebApp } from "./webapp";

export * from "@wasm-reconciler/sdk-assemblyscript/assembly/exports";

register((ctx: Context): void => reconcileWebApp(ctx));
