// Entry of the SensorGateway reconciler module.

import { Context, register } from "@wasm-reconciler/sdk-assemblyscript/assembly";
import { reconcileGateway } from "./gateway";

export * from "@wasm-reconciler/sdk-assemblyscript/assembly/exports";

register((ctx: Context): void => reconcileGateway(ctx));
