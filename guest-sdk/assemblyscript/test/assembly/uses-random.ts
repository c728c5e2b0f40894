// Test guest that uses Math.random, which imports env.seed: the build tool must refuse it.

import { Context, register } from '@wasm-reconciler/sdk-assemblyscript/assembly';

export * from '@wasm-reconciler/sdk-assemblyscript/assembly/exports';

register((ctx: Context): void => {
  if (Math.random() < 0.5) ctx.out.keepChildren();
});
