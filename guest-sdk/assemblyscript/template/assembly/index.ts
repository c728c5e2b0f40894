// A minimal reconciler: every Widget gets a ConfigMap holding its spec.message.

import { CONDITION_TRUE, Context, register } from "@wasm-reconciler/sdk-assemblyscript/assembly";

// The host calls these exports; re-exporting them is what makes this file a module the host can load.
export * from "@wasm-reconciler/sdk-assemblyscript/assembly/exports";

register((ctx: Context): void => {
  // When the primary is being deleted, owner references let the garbage collector remove the children.
  if (ctx.deleted) {
    ctx.out.keepChildren();
    return;
  }
  const widget = ctx.primary;
  const name = widget.name;

  // Every child declared in a call is the complete desired set: children not declared are pruned.
  const cm = ctx.out.child("v1", "ConfigMap", name + "-widget");
  cm.label("app.kubernetes.io/name", name);
  // value() copies the input's JSON bytes verbatim: no decoding, no re-escaping.
  cm.data().value("message", widget.spec.get("message"));

  ctx.out.status().str("configMapName", name + "-widget");
  ctx.out.condition("Ready", CONDITION_TRUE, "Rendered", "ConfigMap declared");
});
