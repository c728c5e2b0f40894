// Turns one reconcile output into a checked plan of writes: validated, sanitised and allowed, or rejected whole.
//
// Nothing here talks to the API server, so a plan either comes back complete or throws before the executor
// performs any write: a denied or malformed action never leaves half an output applied.

import { OUTPUT_LIMITS } from '../abi/constants.ts';
import { findShapeViolation } from '../abi/shape.ts';
import type { GuestEvent, KubeObject, ObjectView, OwnerReference, ReconcileOutput } from '../abi/types.ts';
import { WrError } from '../errors.ts';
import { groupOf } from '../kube/gvk.ts';
import { isPathSegment } from '../kube/paths.ts';
import { isObject } from './internal/compare.ts';
import type { ObservedChild } from './internal/observed.ts';
import { truncateUtf8 } from './internal/truncate.ts';
import { childKey, groupKind, type KindRef, kindKey } from './kinds.ts';
import type { CapabilityChecker, Verb } from './permissions.ts';
import type { ObjectRef } from './ports.ts';

export interface PlanLimits {
  /** Events kept per output; the rest are dropped and counted. */
  readonly maxEvents: number;
  /** Longer event messages are truncated (UTF-8 bytes), not rejected. */
  readonly maxEventMessageBytes: number;
}

export interface PlanContext {
  /** The primary as the cache holds it; must carry metadata.uid. */
  readonly primary: KubeObject;
  readonly owns: readonly KindRef[];
  readonly capabilities: CapabilityChecker;
  /** The primary is being deleted: listed children are kept but never applied, and no finalizer is added. */
  readonly deleting: boolean;
  /** Owned children as observed, keyed "apiVersion/kind" like ReconcileRequest.children. */
  readonly observedChildren: ReadonlyMap<string, readonly ObjectView[]>;
  /** What the plan reads from one observed child (the executor memoises it per cached object). */
  readonly observe: (view: ObjectView) => ObservedChild;
  readonly limits: PlanLimits;
  /** Set on every child over the reconciler's labels (ExecutorOptions.childLabels). */
  readonly childLabels?: Readonly<Record<string, string>>;
  /** Set on every child to the primary's UID (ExecutorOptions.childOwnerLabel). */
  readonly childOwnerLabel?: string;
}

export interface ChildWrite {
  /** Identity across versions: "Kind.group/namespace/name". */
  readonly key: string;
  /** The object to apply: sanitised, namespaced, with the controller owner reference. */
  readonly object: KubeObject;
  /** The controller-owned child the cache holds under this identity, if any. */
  readonly observed: ObservedChild | undefined;
}

export interface ChildDelete {
  readonly key: string;
  readonly ref: ObjectRef;
  readonly uid: string;
}

export interface Plan {
  readonly apply: readonly ChildWrite[];
  readonly prune: readonly ChildDelete[];
  /** The status to set, with observedGeneration; undefined leaves the status alone. */
  readonly status: Record<string, unknown> | undefined;
  readonly events: readonly GuestEvent[];
  readonly eventsDropped: number;
  readonly finalizer: 'ensure' | 'release' | undefined;
}

/** One action a capability check refused; also what the Warning event and error details report. */
export interface DeniedAction {
  readonly verb: Verb;
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string | undefined;
  readonly name: string;
  readonly reason: 'not-permitted' | 'not-an-owned-kind';
}

/** Bounds what a rejection carries into logs, events and CR status. */
const MAX_REPORTED = 10;
/** Clips guest-chosen strings in reports; a name that is a valid path segment is never longer. */
const MAX_NAME_LENGTH = 253;
const MAX_REASON_CHARS = 128;

/** Server-populated fields: a guest copying an observed object into its output must not send them back. */
const SERVER_METADATA = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
  'generateName',
  'ownerReferences',
] as const;

export function planOutput(ctx: PlanContext, output: ReconcileOutput): Plan {
  const violations: string[] = [];
  const denied: DeniedAction[] = [];
  const invalid = (message: string): void => {
    violations.push(message);
  };
  if (!isObject(output)) throw outputInvalid(['the output is not an object']);
  // Comparisons, digests and request bodies downstream recurse into the output, so its shape is bounded
  // before any of them runs. The runtime checked a Wasm guest's output already; a native reconciler's
  // reaches this point unchecked.
  const shape = findShapeViolation(output, OUTPUT_LIMITS);
  if (shape !== undefined) {
    throw outputInvalid([`${shape.path} ${shape.problem}`], { path: shape.path, limit: shape.limit, max: shape.max });
  }

  const failed = output.error !== undefined;
  const primary = ctx.primary;
  const primaryNamespace = primary.metadata.namespace || undefined;
  const ownsByGroupKind = new Map(ctx.owns.map((k) => [groupKind(k.apiVersion, k.kind), k]));
  const check = (verb: Verb, target: Omit<DeniedAction, 'verb' | 'reason'>): void => {
    const allowed = ctx.capabilities.allows(
      verb,
      { group: groupOf(target.apiVersion), kind: target.kind, namespace: target.namespace },
      primaryNamespace,
    );
    if (!allowed) denied.push({ verb, ...target, reason: 'not-permitted' });
  };

  // A failed output reports (status, events) but does not change the world: children and finalizer stay.
  const desired = failed ? undefined : validateChildren(output.children, ctx, ownsByGroupKind, invalid, denied);
  const apply: ChildWrite[] = [];
  const prune: ChildDelete[] = [];
  if (desired !== undefined) {
    const observed = observedOwned(ctx, primary.metadata.uid ?? '');
    // While the primary is being deleted, listed children are only kept: creating more would race the GC.
    if (!ctx.deleting) {
      for (const [key, object] of desired) {
        const target = targetOf(object);
        // Server-side apply creates or patches; either may happen depending on what exists at write time.
        check('create', target);
        check('patch', target);
        apply.push({ key, object, observed: observed.get(key) });
      }
    }
    for (const [key, child] of observed) {
      if (desired.has(key) || child.deleting) continue;
      const target = { apiVersion: child.apiVersion, kind: child.kind, namespace: child.namespace, name: child.name };
      check('delete', target);
      prune.push({ key, ref: target, uid: child.uid ?? '' });
    }
  }

  let status: Record<string, unknown> | undefined;
  if (output.status !== undefined) {
    if (!isObject(output.status)) invalid('status must be an object');
    else status = withObservedGeneration(output.status, primary.metadata.generation);
  }

  const { events, dropped } = validateEvents(output.events, ctx.limits, invalid);

  let finalizer: Plan['finalizer'];
  if (output.finalizer !== undefined && output.finalizer !== 'ensure' && output.finalizer !== 'release') {
    invalid("finalizer must be 'ensure' or 'release'");
  } else if (!failed && !(ctx.deleting && output.finalizer === 'ensure')) {
    // The API server refuses new finalizers on an object being deleted, so 'ensure' is moot there.
    finalizer = output.finalizer;
  }

  validateControl(output, invalid);

  if (violations.length > 0) throw outputInvalid(violations);
  if (denied.length > 0) {
    throw new WrError('WR_CAPABILITY_DENIED', `the output needs ${denied.length} action(s) outside its permissions`, {
      details: { denied: denied.slice(0, MAX_REPORTED), deniedCount: denied.length },
    });
  }
  return { apply, prune, status, events, eventsDropped: dropped, finalizer };
}

function outputInvalid(violations: readonly string[], details?: Record<string, unknown>): WrError {
  return new WrError('WR_GUEST_OUTPUT_INVALID', `invalid reconcile output: ${violations[0]}`, {
    details: { violations: violations.slice(0, MAX_REPORTED), violationCount: violations.length, ...details },
  });
}

/** "v1" or "apps/v1": anything else the API client cannot map to a URL, so its write would fail mid-output. */
function isApiVersion(apiVersion: string): boolean {
  const parts = apiVersion.split('/');
  return parts.length <= 2 && parts.every(isPathSegment);
}

function targetOf(object: KubeObject): Omit<DeniedAction, 'verb' | 'reason'> {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    namespace: object.metadata.namespace || undefined,
    name: object.metadata.name,
  };
}

/** Desired children by identity, or undefined when the output has no opinion on children. */
function validateChildren(
  children: unknown,
  ctx: PlanContext,
  ownsByGroupKind: ReadonlyMap<string, KindRef>,
  invalid: (message: string) => void,
  denied: DeniedAction[],
): Map<string, KubeObject> | undefined {
  if (children === undefined) return undefined;
  if (!Array.isArray(children)) {
    invalid('children must be a list');
    return undefined;
  }
  const primary = ctx.primary;
  const primaryNamespace = primary.metadata.namespace || undefined;
  const owner: OwnerReference = {
    apiVersion: primary.apiVersion,
    kind: primary.kind,
    name: primary.metadata.name,
    uid: primary.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
  const hostLabels =
    ctx.childOwnerLabel === undefined ? ctx.childLabels : { ...ctx.childLabels, [ctx.childOwnerLabel]: owner.uid };
  const desired = new Map<string, KubeObject>();
  for (const [i, child] of children.entries()) {
    const at = `children[${i}]`;
    const resolved = resolveChild(child, at, ownsByGroupKind, primaryNamespace);
    if (typeof resolved === 'string') {
      invalid(resolved);
    } else if ('reason' in resolved) {
      denied.push(resolved);
    } else if (desired.has(resolved.key)) {
      invalid(`${at} duplicates ${resolved.object.kind} ${resolved.namespace ?? ''}/${resolved.object.metadata.name}`);
    } else {
      desired.set(resolved.key, sanitise(resolved.object, resolved.namespace, owner, hostLabels));
    }
  }
  return desired;
}

/** One desired child's identity and namespace, or why it cannot be one (a violation or a denied action). */
function resolveChild(
  child: unknown,
  at: string,
  ownsByGroupKind: ReadonlyMap<string, KindRef>,
  primaryNamespace: string | undefined,
): string | DeniedAction | { key: string; object: KubeObject; namespace: string | undefined } {
  if (!isObject(child)) return `${at} is not an object`;
  const { apiVersion, kind, metadata } = child;
  if (typeof apiVersion !== 'string' || !isApiVersion(apiVersion))
    return `${at}.apiVersion must be "version" or "group/version"`;
  if (typeof kind !== 'string' || kind === '') return `${at}.kind must be a non-empty string`;
  if (!isObject(metadata)) return `${at}.metadata must be an object`;
  const { name, namespace } = metadata;
  // A name or namespace that is no URL path segment would fail at its own write, after the earlier children
  // were applied: rejected here, the whole output is refused before any write.
  if (typeof name !== 'string' || !isPathSegment(name)) {
    return `${at}.metadata.name must be 1-${MAX_NAME_LENGTH} characters, not "." or "..", without "/", "%" or spaces`;
  }
  if (namespace !== undefined && (typeof namespace !== 'string' || (namespace !== '' && !isPathSegment(namespace)))) {
    return `${at}.metadata.namespace must be a namespace name`;
  }
  const owned = ownsByGroupKind.get(groupKind(apiVersion, kind));
  if (owned === undefined) {
    // Children of undeclared kinds are not watched, so they could be neither compared nor ever pruned.
    // Guest-chosen strings travel into errors and events: clip them like names.
    return {
      verb: 'create',
      apiVersion: apiVersion.slice(0, MAX_NAME_LENGTH),
      kind: kind.slice(0, MAX_NAME_LENGTH),
      namespace: namespace ? namespace.slice(0, MAX_NAME_LENGTH) : undefined,
      name,
      reason: 'not-an-owned-kind',
    };
  }
  let resolved: string | undefined;
  if (!owned.namespaced) {
    if (namespace) return `${at}: ${kind} is cluster-scoped and takes no namespace`;
  } else if (primaryNamespace !== undefined) {
    // An owner reference cannot cross namespaces: the garbage collector would treat it as unresolvable.
    if (namespace && namespace !== primaryNamespace) {
      return `${at}.metadata.namespace must be the primary's namespace '${primaryNamespace}'`;
    }
    resolved = primaryNamespace;
  } else if (!namespace) {
    return `${at}.metadata.namespace is required: ${kind} is namespaced and the primary is not`;
  } else {
    resolved = namespace;
  }
  return { key: childKey(apiVersion, kind, resolved, name), object: child as KubeObject, namespace: resolved };
}

/**
 * A copy without server-populated metadata or foreign owner references, owned by the primary as controller,
 * with the host's labels over the reconciler's.
 */
function sanitise(
  child: KubeObject,
  namespace: string | undefined,
  owner: OwnerReference,
  hostLabels: Readonly<Record<string, string>> | undefined,
): KubeObject {
  const metadata: KubeObject['metadata'] = { ...child.metadata };
  for (const field of SERVER_METADATA) delete metadata[field];
  if (namespace === undefined) delete metadata.namespace;
  else metadata.namespace = namespace;
  metadata.ownerReferences = [{ ...owner }];
  if (hostLabels !== undefined)
    metadata.labels = { ...(isObject(metadata.labels) ? metadata.labels : {}), ...hostLabels };
  return { ...child, metadata };
}

/** Children of declared kinds whose controller is this primary, by identity. */
function observedOwned(ctx: PlanContext, primaryUid: string): Map<string, ObservedChild> {
  const observed = new Map<string, ObservedChild>();
  for (const owned of ctx.owns) {
    for (const view of ctx.observedChildren.get(kindKey(owned.apiVersion, owned.kind)) ?? []) {
      const child = ctx.observe(view);
      if (child.controllerUid !== primaryUid || child.uid === undefined) continue;
      observed.set(child.key, child);
    }
  }
  return observed;
}

function withObservedGeneration(
  status: Record<string, unknown>,
  generation: number | undefined,
): Record<string, unknown> {
  if (generation === undefined) {
    const { observedGeneration: _ignored, ...rest } = status;
    return rest;
  }
  return { ...status, observedGeneration: generation };
}

/** requeueAfterMs and error drive the work queue; checked here so a malformed one is rejected with the rest. */
function validateControl(output: ReconcileOutput, invalid: (message: string) => void): void {
  const { requeueAfterMs, error } = output;
  if (requeueAfterMs !== undefined && (typeof requeueAfterMs !== 'number' || !Number.isFinite(requeueAfterMs))) {
    invalid('requeueAfterMs must be a finite number');
  }
  if (
    error !== undefined &&
    (!isObject(error) || typeof error.message !== 'string' || typeof error.retryable !== 'boolean')
  ) {
    invalid('error must be { message: string, retryable: boolean }');
  }
}

function validateEvents(
  value: unknown,
  limits: PlanLimits,
  invalid: (message: string) => void,
): { events: GuestEvent[]; dropped: number } {
  if (value === undefined) return { events: [], dropped: 0 };
  if (!Array.isArray(value)) {
    invalid('events must be a list');
    return { events: [], dropped: 0 };
  }
  const events: GuestEvent[] = [];
  for (const [i, event] of value.entries()) {
    const checked = checkEvent(event, `events[${i}]`);
    if (typeof checked === 'string') invalid(checked);
    else if (events.length < limits.maxEvents) {
      events.push({ ...checked, message: truncateUtf8(checked.message, limits.maxEventMessageBytes) });
    }
  }
  return { events, dropped: Math.max(0, value.length - limits.maxEvents) };
}

function checkEvent(event: unknown, at: string): string | GuestEvent {
  if (!isObject(event)) return `${at} is not an object`;
  const { type, reason, message } = event;
  if (type !== 'Normal' && type !== 'Warning') return `${at}.type must be 'Normal' or 'Warning'`;
  if (typeof reason !== 'string' || reason === '' || reason.length > MAX_REASON_CHARS) {
    return `${at}.reason must be a string of 1-${MAX_REASON_CHARS} characters`;
  }
  if (typeof message !== 'string') return `${at}.message must be a string`;
  return { type, reason, message };
}
