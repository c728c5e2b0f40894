// The App reconciler: one App (demo.wasmreconciler.dev/v1alpha1) becomes a ConfigMap and a Deployment.
//
// Shared by both entry files; `version` selects the behaviour the hot-swap demo switches between.

import {
  CONDITION_FALSE,
  CONDITION_TRUE,
  CONFIG_MAP,
  Child,
  Context,
  DEPLOYMENT,
  EVENT_NORMAL,
  hex32,
  JsonValue,
  log,
} from "@wasm-reconciler/sdk-assemblyscript/assembly";

const NAME_LABEL = "app.kubernetes.io/name";
const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
const VERSION_LABEL = "app.wasmreconciler.dev/version";
const CONFIG_HASH_ANNOTATION = "app.wasmreconciler.dev/config-hash";

export function reconcileApp(ctx: Context, version: i32): void {
  const out = ctx.out;
  if (ctx.deleted) {
    // Owner references let the garbage collector remove the children; nothing to clean up here.
    out.keepChildren();
    return;
  }
  const app = ctx.primary;
  const name = app.name;
  const spec = app.spec;
  const image = spec.get("image").str();
  const replicasValue = spec.get("replicas");
  const replicas = replicasValue.exists() ? replicasValue.int(-1) : 1;
  if (image.length == 0 || replicas < 0) {
    const problem = image.length == 0 ? "spec.image is required" : "spec.replicas must be an integer >= 0";
    out.condition("Ready", CONDITION_FALSE, "InvalidSpec", problem);
    out.fail(problem);
    return;
  }

  const configMapName = name + "-config";
  const messageKey = version >= 2 ? "greeting" : "message";
  const config = spec.get("config");
  const message = spec.get("message");

  const cm = out.childOf(CONFIG_MAP, configMapName);
  labelChild(cm, name, version);
  const data = cm.data();
  // Values are copied as the user wrote them (already JSON strings): no decoding, no re-escaping.
  const it = config.members();
  while (it.next()) {
    if (!it.keyEquals(messageKey)) data.value(it.key(), it.value);
  }
  if (message.isString()) data.value(messageKey, message);

  const deployment = out.childOf(DEPLOYMENT, name);
  labelChild(deployment, name, version);
  const dspec = deployment.spec();
  dspec.int("replicas", replicas);
  dspec.obj("selector").obj("matchLabels").str(NAME_LABEL, name);
  const template = dspec.obj("template");
  const podMeta = template.obj("metadata");
  const podLabels = podMeta.obj("labels");
  podLabels.str(NAME_LABEL, name);
  if (version >= 2) podLabels.str(VERSION_LABEL, "v2");
  // A changed config changes the pod template, so the Deployment rolls its pods onto the new values.
  podMeta.obj("annotations").str(CONFIG_HASH_ANNOTATION, configHash(config, message));
  const container = template.obj("spec").arr("containers").obj();
  container.str("name", "app").str("image", image);
  container.arr("envFrom").obj().obj("configMapRef").str("name", configMapName);

  const existing = ctx.childOf(DEPLOYMENT, name);
  const readyReplicas = existing.status.get("readyReplicas").int(0);
  out.status().str("configMapName", configMapName).int("readyReplicas", readyReplicas).int("replicas", replicas);
  if (!existing.exists) {
    out.condition("Ready", CONDITION_FALSE, "Creating", "waiting for Deployment " + name + " to be created");
  } else if (readyReplicas >= replicas) {
    out.condition("Ready", CONDITION_TRUE, "Available", readyReplicas.toString() + "/" + replicas.toString() + " replicas ready");
  } else {
    out.condition("Ready", CONDITION_FALSE, "Progressing", readyReplicas.toString() + "/" + replicas.toString() + " replicas ready");
  }

  if (!existing.exists && !ctx.childOf(CONFIG_MAP, configMapName).exists) {
    out.event(EVENT_NORMAL, "Created", "creating ConfigMap " + configMapName + " and Deployment " + name);
  }
  if (log.debugEnabled()) log.debug("rendered app ", name, " image=", image);
}

function labelChild(child: Child, name: string, version: i32): void {
  child.label(NAME_LABEL, name).label(MANAGED_BY_LABEL, "wasm-reconciler");
  if (version >= 2) child.label(VERSION_LABEL, "v2");
}

/** FNV-1a over the raw JSON of the config inputs: stable for equal input, cheap, not a security hash. */
function configHash(config: JsonValue, message: JsonValue): string {
  return hex32(message.fnv1a(config.fnv1a()));
}
