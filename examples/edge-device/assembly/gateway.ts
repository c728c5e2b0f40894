// The SensorGateway reconciler: one device (examples.wasmreconciler.dev/v1alpha1 SensorGateway) becomes its
// config (a ConfigMap) and a single-replica workload pinned to the node the device is attached to; its status
// says where the gateway runs and whether it does, from the Deployment's status.

import {
  Child,
  CONDITION_FALSE,
  CONDITION_TRUE,
  CONFIG_MAP,
  Context,
  DEPLOYMENT,
  EVENT_NORMAL,
  EVENT_WARNING,
  hex32,
  JsonValue,
  ObjectView,
} from "@wasm-reconciler/sdk-assemblyscript/assembly";

const NAME_LABEL = "app.kubernetes.io/name";
const COMPONENT_LABEL = "app.kubernetes.io/component";
const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
const HOSTNAME_LABEL = "kubernetes.io/hostname";
const CONFIG_HASH_ANNOTATION = "examples.wasmreconciler.dev/config-hash";
const CONFIG_KEY = "gateway.json";
const CONFIG_DIR = "/etc/sensor-gateway";

/** Where the gateway is and how it is doing: status.phase and the Ready condition. */
class Health {
  constructor(
    public phase: string,
    public ready: string,
    public reason: string,
    public message: string,
  ) {}
}

function healthOf(deployment: ObjectView, name: string, node: string): Health {
  if (!deployment.exists) {
    return new Health("Pending", CONDITION_FALSE, "Creating", "waiting for Deployment " + name + " to be created");
  }
  const status = deployment.status;
  if (status.get("observedGeneration").int(0) < deployment.generation) {
    // A new config or node: the old pod's readiness says nothing about the new one.
    return new Health("Pending", CONDITION_FALSE, "Updating", "rolling out the gateway to node " + node);
  }
  const progressing = deployment.condition("Progressing");
  if (progressing.get("status").strEquals(CONDITION_FALSE)) {
    return new Health(
      "Failed",
      CONDITION_FALSE,
      progressing.get("reason").str("NotProgressing"),
      progressing.get("message").str() + " (is node " + node + " up, and does the pod fit on it?)",
    );
  }
  if (status.get("readyReplicas").int(0) >= 1 && status.get("updatedReplicas").int(0) >= 1) {
    return new Health("Running", CONDITION_TRUE, "Running", "gateway running on node " + node);
  }
  return new Health("Pending", CONDITION_FALSE, "Starting", "waiting for the gateway pod on node " + node);
}

/** A kubernetes.io/hostname label value: at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends. */
function isLabelValue(s: string): bool {
  if (s.length == 0 || s.length > 63) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (!alnum && ((i == 0 || i == s.length - 1) || (c != 45 && c != 46 && c != 95))) return false;
  }
  return true;
}

function problemOf(spec: JsonValue): string {
  if (!isLabelValue(spec.get("nodeName").str())) return "spec.nodeName must be a node's kubernetes.io/hostname label";
  if (spec.get("image").str().length == 0) return "spec.image is required";
  const device = spec.get("devicePath");
  if (device.exists() && !device.str().startsWith("/dev/")) return "spec.devicePath must be a path under /dev/";
  const config = spec.get("config");
  if (config.exists() && !config.isObject()) return "spec.config must be an object";
  return "";
}

export function reconcileGateway(ctx: Context): void {
  const out = ctx.out;
  if (ctx.deleted) {
    out.keepChildren();
    return;
  }
  const gateway = ctx.primary;
  const name = gateway.name;
  const spec = gateway.spec;
  const problem = problemOf(spec);
  if (problem.length > 0) {
    out.condition("Ready", CONDITION_FALSE, "InvalidSpec", problem);
    out.status().str("phase", "Failed");
    out.fail(problem);
    return;
  }
  const node = spec.get("nodeName").str();
  const configMapName = name + "-config";
  const config = spec.get("config");
  const configHash = hex32(config.fnv1a());

  const cm = out.childOf(CONFIG_MAP, configMapName);
  labelChild(cm.label(COMPONENT_LABEL, "config"), name);
  // The config as the device's owner wrote it, as one JSON file the gateway reads at start.
  cm.data().str(CONFIG_KEY, config.isObject() ? config.raw() : "{}");

  const deployment = out.childOf(DEPLOYMENT, name);
  labelChild(deployment.label(COMPONENT_LABEL, "gateway"), name);
  const dspec = deployment.spec();
  // One gateway per device. Recreate: the old pod releases the device before the new one opens it.
  dspec.int("replicas", 1);
  dspec.obj("strategy").str("type", "Recreate");
  dspec.obj("selector").obj("matchLabels").str(NAME_LABEL, name);
  const template = dspec.obj("template");
  const meta = template.obj("metadata");
  meta.obj("labels").str(NAME_LABEL, name);
  // A config change is a template change, so the gateway restarts onto it.
  meta.obj("annotations").str(CONFIG_HASH_ANNOTATION, configHash);
  const pod = template.obj("spec");
  pod.obj("nodeSelector").str(HOSTNAME_LABEL, node);
  pod.valueIfPresent("tolerations", spec.get("tolerations"));
  const container = pod.arr("containers").obj();
  container.str("name", "gateway").valueIfPresent("image", spec.get("image"));
  container.arr("args").str("--config=" + CONFIG_DIR + "/" + CONFIG_KEY);
  const device = spec.get("devicePath");
  if (spec.get("privileged").bool()) container.obj("securityContext").bool("privileged", true);
  const mounts = container.arr("volumeMounts");
  mounts.obj().str("name", "config").str("mountPath", CONFIG_DIR).bool("readOnly", true);
  if (device.exists()) mounts.obj().str("name", "device").value("mountPath", device);
  const volumes = pod.arr("volumes");
  volumes.obj().str("name", "config").obj("configMap").str("name", configMapName);
  if (device.exists()) {
    volumes.obj().str("name", "device").obj("hostPath").value("path", device).str("type", "CharDevice");
  }

  const observed = ctx.childOf(DEPLOYMENT, name);
  const health = healthOf(observed, name, node);
  const status = out.status();
  status.str("phase", health.phase);
  status.str("nodeName", node);
  status.str("configMapName", configMapName);
  status.str("configHash", configHash);
  status.int("readyReplicas", observed.status.get("readyReplicas").int(0));
  out.condition("Ready", health.ready, health.reason, health.message);

  const previousNode = gateway.status.get("nodeName");
  if (!observed.exists && !ctx.childOf(CONFIG_MAP, configMapName).exists) {
    out.event(EVENT_NORMAL, "Created", "creating the gateway on node " + node);
  } else if (previousNode.isString() && !previousNode.strEquals(node)) {
    out.event(EVENT_NORMAL, "Moving", "moving the gateway from node " + previousNode.str() + " to node " + node);
  }
  if (health.phase == "Failed" && !gateway.status.get("phase").strEquals("Failed")) {
    out.event(EVENT_WARNING, health.reason, health.message);
  }
}

function labelChild(child: Child, name: string): void {
  child.label(NAME_LABEL, name).label(MANAGED_BY_LABEL, "wasm-reconciler");
}
