// The Widget reconciler: every Widget gets a ConfigMap holding the string fields of its spec.
//
// Replace the ConfigMap with the children your kind needs. types.ts (generated from crd.yaml by
// `npm run generate`) has a typed reader for every field of the spec, e.g. WidgetSpec.of(ctx.primary).message,
// and a writer for the status.

import { CONDITION_TRUE, CONFIG_MAP, Context, register } from "@wasm-reconciler/sdk-assemblyscript/assembly";
import { WidgetSpec } from "./types";

// The host calls these exports; re-exporting them is what makes this file a module the host can load.
export * from "@wasm-reconciler/sdk-assemblyscript/assembly/exports";

register((ctx: Context): void => {
  // When the primary is being deleted, owner references let the garbage collector remove the children.
  if (ctx.deleted) {
    ctx.out.keepChildren();
    return;
  }
  const primary = ctx.primary;
  const name = primary.name + "-widget";

  // Every child declared in a call is the complete desired set: children not declared are pruned.
  const cm = ctx.out.childOf(CONFIG_MAP, name);
  cm.label("app.kubernetes.io/name", primary.name);
  const data = cm.data();
  const fields = WidgetSpec.of(primary).json.members();
  while (fields.next()) {
    // value() copies the input's JSON bytes verbatim: no decoding, no re-escaping.
    if (fields.value.isString()) data.value(fields.key(), fields.value);
  }

  ctx.out.condition("Ready", CONDITION_TRUE, "Rendered", "ConfigMap " + name + " declared");
});
