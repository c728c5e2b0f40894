// The WebApp reconciler: a WebApp (examples.wasmreconciler.dev/v1alpha1) becomes a Deployment and a Service,
// and its Ready condition is derived from the Deployment's own Available and Progressing conditions.

import {
  CONDITION_FALSE,
  CONDITION_TRUE,
  Context,
  DEPLOYMENT,
  EVENT_NORMAL,
  EVENT_WARNING,
  JsonValue,
  ObjectView,
  SERVICE,
} from "@wasm-reconciler/sdk-assemblyscript/assembly";

const NAME_LABEL = "app.kubernetes.io/name";
const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
const PORT_NAME = "http";

/** The spec after defaults, or the reason it cannot be rendered. */
class WebAppSpec {
  image: string = "";
  replicas: i64 = 1;
  port: i64 = 8080;
  servicePort: i64 = 80;
  problem: string = "";
}

function readSpec(spec: JsonValue): WebAppSpec {
  const s = new WebAppSpec();
  s.image = spec.get("image").str();
  s.replicas = intOr(spec.get("replicas"), 1);
  s.port = intOr(spec.get("port"), 8080);
  s.servicePort = intOr(spec.get("servicePort"), 80);
  if (s.image.length == 0) s.problem = "spec.image is required";
  else if (s.replicas < 0) s.problem = "spec.replicas must be an integer >= 0";
  else if (!isPort(s.port)) s.problem = "spec.port must be an integer from 1 to 65535";
  else if (!isPort(s.servicePort)) s.problem = "spec.servicePort must be an integer from 1 to 65535";
  return s;
}

/** The value when present; -1 (invalid everywhere here) when present but not an integer. */
function intOr(value: JsonValue, fallback: i64): i64 {
  return value.exists() ? value.int(-1) : fallback;
}

function isPort(port: i64): bool {
  return port >= 1 && port <= 65535;
}

/** What the WebApp's Ready condition says, derived from the Deployment as its controller last reported it. */
class Readiness {
  constructor(
    public status: string,
    public reason: string,
    public message: string,
  ) {}
}

function readinessOf(deployment: ObjectView, name: string, replicas: i64): Readiness {
  if (!deployment.exists) {
    return new Readiness(CONDITION_FALSE, "Creating", "waiting for Deployment " + name + " to be created");
  }
  const status = deployment.status;
  // Until the Deployment controller has seen the latest spec, its conditions describe the previous one.
  const observed = status.get("observedGeneration").int(0);
  if (observed < deployment.generation) {
    return new Readiness(
      CONDITION_FALSE,
      "RolloutPending",
      "Deployment " + name + " generation " + deployment.generation.toString() + " is not observed yet",
    );
  }
  const progressing = deployment.condition("Progressing");
  if (progressing.get("status").strEquals(CONDITION_FALSE)) {
    return new Readiness(
      CONDITION_FALSE,
      progressing.get("reason").str("NotProgressing"),
      progressing.get("message").str(),
    );
  }
  const available = deployment.condition("Available");
  const counts = replicaCounts(status, replicas);
  if (!available.exists()) {
    return new Readiness(CONDITION_FALSE, "Pending", "Deployment " + name + " reports no Available condition yet");
  }
  if (!available.get("status").strEquals(CONDITION_TRUE)) {
    return new Readiness(
      CONDITION_FALSE,
      available.get("reason").str("Unavailable"),
      available.get("message").str() + " (" + counts + ")",
    );
  }
  const updated = status.get("updatedReplicas").int(0);
  const ready = status.get("availableReplicas").int(0);
  if (updated < replicas || ready < replicas) {
    // Still serving from the replicas it has: Ready, but say the rollout is under way.
    return new Readiness(CONDITION_TRUE, "Updating", counts);
  }
  return new Readiness(CONDITION_TRUE, "Available", counts);
}

function replicaCounts(status: JsonValue, replicas: i64): string {
  return (
    status.get("availableReplicas").int(0).toString() +
    "/" +
    replicas.toString() +
    " available, " +
    status.get("updatedReplicas").int(0).toString() +
    " updated"
  );
}

export function reconcileWebApp(ctx: Context): void {
  const out = ctx.out;
  if (ctx.deleted) {
    // The controller owner references let the garbage collector remove the children.
    out.keepChildren();
    return;
  }
  const app = ctx.primary;
  const name = app.name;
  const spec = readSpec(app.spec);
  if (spec.problem.length > 0) {
    out.condition("Ready", CONDITION_FALSE, "InvalidSpec", spec.problem);
    out.fail(spec.problem);
    return;
  }

  const deployment = out.childOf(DEPLOYMENT, name);
  deployment.label(NAME_LABEL, name).label(MANAGED_BY_LABEL, "wasm-reconciler");
  const dspec = deployment.spec();
  dspec.int("replicas", spec.replicas);
  // The selector is immutable on a Deployment: it names the WebApp only, so no later version may change it.
  dspec.obj("selector").obj("matchLabels").str(NAME_LABEL, name);
  const template = dspec.obj("template");
  template.obj("metadata").obj("labels").str(NAME_LABEL, name);
  const container = template.obj("spec").arr("containers").obj();
  container.str("name", "web").str("image", spec.image);
  container.arr("ports").obj().str("name", PORT_NAME).int("containerPort", spec.port).str("protocol", "TCP");
  const env = app.spec.get("env");
  if (env.isObject()) {
    const list = container.arr("env");
    const it = env.members();
    while (it.next()) list.obj().str("name", it.key()).value("value", it.value);
  }
  const healthPath = app.spec.get("healthPath");
  if (healthPath.isString()) {
    const probe = container.obj("readinessProbe");
    probe.obj("httpGet").value("path", healthPath).str("port", PORT_NAME);
    probe.int("periodSeconds", 5);
  }

  const service = out.childOf(SERVICE, name);
  service.label(NAME_LABEL, name).label(MANAGED_BY_LABEL, "wasm-reconciler");
  const sspec = service.spec();
  sspec.str("type", "ClusterIP");
  sspec.obj("selector").str(NAME_LABEL, name);
  sspec.arr("ports").obj().str("name", PORT_NAME).int("port", spec.servicePort).str("targetPort", PORT_NAME).str("protocol", "TCP");

  const observed = ctx.childOf(DEPLOYMENT, name);
  const dstatus = observed.status;
  const status = out.status();
  status.int("replicas", spec.replicas);
  status.int("readyReplicas", dstatus.get("readyReplicas").int(0));
  status.int("availableReplicas", dstatus.get("availableReplicas").int(0));
  status.int("updatedReplicas", dstatus.get("updatedReplicas").int(0));
  status.str("url", "http://" + name + "." + app.namespace + ".svc:" + spec.servicePort.toString());

  const ready = readinessOf(observed, name, spec.replicas);
  out.condition("Ready", ready.status, ready.reason, ready.message);
  // The Deployment's own conditions, mirrored so `kubectl get webapp -o yaml` shows why without a second get.
  mirrorCondition(ctx, observed, "Available");
  mirrorCondition(ctx, observed, "Progressing");

  const previous = app.condition("Ready");
  if (!observed.exists && !ctx.childOf(SERVICE, name).exists) {
    out.event(EVENT_NORMAL, "Created", "creating Deployment " + name + " and Service " + name);
  } else if (!previous.get("reason").strEquals(ready.reason)) {
    // One event per transition, not per reconcile: the previous status says what was last reported.
    if (ready.status == CONDITION_TRUE && !previous.get("status").strEquals(CONDITION_TRUE)) {
      out.event(EVENT_NORMAL, "Available", ready.message);
    } else if (ready.reason == "ProgressDeadlineExceeded") {
      out.event(EVENT_WARNING, "RolloutFailed", ready.message);
    }
  }
}

function mirrorCondition(ctx: Context, deployment: ObjectView, type: string): void {
  const c = deployment.condition(type);
  if (!c.exists()) return;
  ctx.out.condition(type, c.get("status").str(), c.get("reason").str(), c.get("message").str());
}
