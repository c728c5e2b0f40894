// A guest that reads the trigger and the primary's name and declares nothing: the SDK's fixed cost per call.

import { Context, register } from '@wasm-reconciler/sdk-assemblyscript/assembly';

export * from '@wasm-reconciler/sdk-assemblyscript/assembly/exports';

register((ctx: Context): void => {
  if (ctx.triggeredBy('deleted') || ctx.primary.name.length == 0) ctx.out.keepChildren();
});
