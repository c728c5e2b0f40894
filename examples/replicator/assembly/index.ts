// Entry of the Replication reconciler module.

import { Context, register } from "@wasm-reconciler/sdk-assemblyscript/assembly";
import { reconcileReplication } from "./replicator";

export * from "@wasm-reconciler/sdk-assemblyscript/assembly/exports";

register((ctx: Context): void => reconcileReplication(ctx));
