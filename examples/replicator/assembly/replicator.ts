// The Replication reconciler: one ConfigMap or Secret copied into every namespace a label selector matches.
//
// A Replication (examples.wasmreconciler.dev/v1alpha1) is cluster-scoped: its copies live in other namespaces,
// and an owner reference can name a cluster-scoped owner from any namespace but a namespaced owner only from
// its own. The copies are its children, so the host prunes a copy once its namespace stops matching and the
// garbage collector removes them all with the Replication.

import {
  CONDITION_FALSE,
  CONDITION_TRUE,
  CONFIG_MAP,
  Context,
  cache,
  EVENT_WARNING,
  JsonValue,
  Kind,
  NAMESPACE,
  ObjectView,
  SECRET,
} from "@wasm-reconciler/sdk-assemblyscript/assembly";

const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
const REPLICATION_ANNOTATION = "replicator.examples.wasmreconciler.dev/replication";
const SOURCE_ANNOTATION = "replicator.examples.wasmreconciler.dev/source";

/**
 * The Kubernetes label selector string (`a=b,tier in (x,y),!legacy`) for a metav1.LabelSelector, so the
 * host's cache evaluates it; "" selects everything, as an empty LabelSelector does. Sets `problem` instead
 * when the selector cannot be expressed.
 */
class Selector {
  text: string = "";
  problem: string = "";
}

function selectorOf(selector: JsonValue): Selector {
  const s = new Selector();
  const parts = new Array<string>();
  const labels = selector.get("matchLabels").members();
  while (labels.next()) parts.push(labels.key() + "=" + labels.value.str());
  const expressions = selector.get("matchExpressions").items();
  while (expressions.next()) {
    const e = expressions.value;
    const key = e.get("key").str();
    const operator = e.get("operator").str();
    if (key.length == 0) {
      s.problem = "spec.namespaceSelector.matchExpressions: every expression needs a key";
      return s;
    }
    if (operator == "Exists") {
      parts.push(key);
    } else if (operator == "DoesNotExist") {
      parts.push("!" + key);
    } else if (operator == "In" || operator == "NotIn") {
      const values = new Array<string>();
      const it = e.get("values").items();
      while (it.next()) values.push(it.value.str());
      if (values.length == 0) {
        s.problem = "spec.namespaceSelector: " + operator + " on " + key + " needs at least one value";
        return s;
      }
      parts.push(key + (operator == "In" ? " in (" : " notin (") + values.join(",") + ")");
    } else {
      s.problem = "spec.namespaceSelector: unknown operator '" + operator + "' on " + key;
      return s;
    }
  }
  s.text = parts.join(",");
  return s;
}

function sourceKind(kind: string): Kind | null {
  if (kind == "ConfigMap") return CONFIG_MAP;
  if (kind == "Secret") return SECRET;
  return null;
}

/** The declared source among the related objects (those labelled as replication sources), or an absent view. */
function findSource(ctx: Context, kind: Kind, namespace: string, name: string): ObjectView {
  const it = ctx.relatedOf(kind).items();
  while (it.next()) {
    const o = it.object;
    if (o.metadata.get("namespace").strEquals(namespace) && o.metadata.get("name").strEquals(name)) return o;
  }
  return new ObjectView(new JsonValue(ctx.primary.json.doc, 0));
}

/** A namespace being deleted refuses new objects (the API server answers 403), and its copy goes with it. */
function terminating(ns: JsonValue): bool {
  return ns.get("metadata").get("deletionTimestamp").exists() || ns.get("status").get("phase").strEquals("Terminating");
}

export function reconcileReplication(ctx: Context): void {
  const out = ctx.out;
  if (ctx.deleted) {
    // The copies' owner references let the garbage collector remove them.
    out.keepChildren();
    return;
  }
  const replication = ctx.primary;
  const spec = replication.spec;
  const source = spec.get("source");
  const sourceNamespace = source.get("namespace").str();
  const sourceName = source.get("name").str();
  const sourceKindOrNull = sourceKind(source.get("kind").str());
  const targetName = spec.get("targetName").str(sourceName);
  const selector = selectorOf(spec.get("namespaceSelector"));
  let problem = selector.problem;
  if (sourceKindOrNull === null) problem = "spec.source.kind must be ConfigMap or Secret";
  else if (sourceNamespace.length == 0 || sourceName.length == 0) problem = "spec.source needs a namespace and a name";
  if (problem.length > 0) {
    out.condition("Ready", CONDITION_FALSE, "InvalidSpec", problem);
    out.fail(problem);
    return;
  }
  const kind = sourceKindOrNull!;
  const what = kind.kind + " " + sourceNamespace + "/" + sourceName;

  const original = findSource(ctx, kind, sourceNamespace, sourceName);
  if (!original.exists) {
    // Keep the copies: a source deleted by mistake must not empty every namespace. Its return triggers a run.
    out.keepChildren();
    const message = what + " not found, or not labelled replicator.examples.wasmreconciler.dev/source=true";
    if (!replication.condition("Ready").get("reason").strEquals("SourceNotFound")) {
      out.event(EVENT_WARNING, "SourceNotFound", message);
    }
    out.condition("Ready", CONDITION_FALSE, "SourceNotFound", message);
    return;
  }

  const namespaces = cache.listOf(NAMESPACE, "", selector.text);
  if (!namespaces.ok) {
    const message = "listing namespaces (" + selector.text + "): " + namespaces.statusName();
    out.condition("Ready", CONDITION_FALSE, "NamespacesUnreadable", message);
    out.retry(message);
    return;
  }

  const copied = new Array<string>();
  let skipped = 0;
  const it = namespaces.value.items();
  while (it.next()) {
    const ns = it.value;
    const name = ns.get("metadata").get("name").str();
    // The source's own namespace already has the original (and may hold it under the target name).
    if (name == sourceNamespace) continue;
    if (terminating(ns)) {
      skipped++;
      continue;
    }
    const copy = out.childIn(kind, name, targetName);
    copy.label(MANAGED_BY_LABEL, "wasm-reconciler");
    copy.annotation(REPLICATION_ANNOTATION, replication.name);
    copy.annotation(SOURCE_ANNOTATION, sourceNamespace + "/" + sourceName);
    // Copied verbatim, bytes as the API served them: no decoding, so binary and base64 data stay exact.
    if (kind === SECRET) copy.valueIfPresent("type", original.get("type"));
    copy.valueIfPresent("data", original.data);
    if (kind === CONFIG_MAP) copy.valueIfPresent("binaryData", original.get("binaryData"));
    copied.push(name);
  }
  copied.sort();

  const status = out.status();
  const list = status.arr("namespaces");
  for (let i = 0; i < copied.length; i++) list.str(unchecked(copied[i]));
  status.int("copies", copied.length);
  let message = "copied " + what + " to " + copied.length.toString() + " namespace(s)";
  if (skipped > 0) message += "; " + skipped.toString() + " terminating namespace(s) skipped";
  out.condition("Ready", CONDITION_TRUE, "Replicated", message);
}
