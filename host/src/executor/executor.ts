// Applies one reconcile output to the cluster: finalizer, children, prune, status, events, in that order.
//
// Order matters: the finalizer is ensured before any child exists, so deletion always waits for finalize;
// children are applied in output order (a ConfigMap before the Deployment that mounts it); the finalizer
// is released last, after the events about the primary were recorded, because releasing may delete it.

import { hash } from 'node:crypto';
import type { GuestEvent, KubeObject, ReconcileOutput, ReconcileRequest } from '../abi/types.ts';
import { errorFields, isWrError, WrError } from '../errors.ts';
import { EventRecorder, type EventTally } from './events.ts';
import { type FinalizerChange, updateFinalizerOrGone } from './finalizers.ts';
import { BoundedMap } from './internal/bounded-map.ts';
import { isSubset, jsonEqual } from './internal/compare.ts';
import { type ObservedChild, ObservedChildren, type ObservedScope } from './internal/observed.ts';
import { truncateUtf8 } from './internal/truncate.ts';
import { groupKind, type KindRef, validateOwnedKinds } from './kinds.ts';
import { type ReconcilerNames, reconcilerNames } from './names.ts';
import { type CapabilityChecker, compilePermissions, type Permissions } from './permissions.ts';
import { type ChildDelete, type ChildWrite, type DeniedAction, type Plan, planOutput } from './plan.ts';
import type { ExecutorClient } from './ports.ts';

export interface ExecutorLimits {
  /** Events created per reconcile, host warnings included. */
  readonly maxEvents: number;
  readonly maxEventMessageBytes: number;
  readonly eventDedupeWindowMs: number;
  readonly eventDedupeEntries: number;
  /** Remembered applies (children and statuses); forgetting one only costs one redundant, idempotent apply. */
  readonly appliedEntries: number;
}

export const DEFAULT_EXECUTOR_LIMITS: ExecutorLimits = {
  maxEvents: 10,
  maxEventMessageBytes: 1024,
  eventDedupeWindowMs: 5 * 60_000,
  eventDedupeEntries: 4096,
  appliedEntries: 8192,
};

/** pino-compatible; the executor logs only what it swallows (failed events, a reconcile ended for a gone primary). */
export interface ExecutorLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  debug?(fields: Record<string, unknown>, message: string): void;
}

/**
 * Write failures after which the executor reads the primary fresh: a 404 (the primary's status or finalizer
 * patch, or a child whose owner went away), an admission or validation refusal, a 403 (an owner reference
 * the API server will not accept for a gone owner). Availability errors are left to the queue: a GET
 * would fail the same way.
 */
const GONE_SUSPECTS = ['WR_KUBE_NOT_FOUND', 'WR_KUBE_INVALID', 'WR_KUBE_FORBIDDEN'] as const;

export interface ExecutorOptions {
  /** The reconciler's name; field manager, finalizer and event reporter derive from it. */
  readonly name: string;
  readonly primary: KindRef;
  /** Kinds the reconciler owns: the only kinds it may create as children, and the only kinds ever pruned. */
  readonly owns: readonly KindRef[];
  readonly permissions: Permissions;
  readonly client: ExecutorClient;
  readonly reportingInstance?: string | undefined;
  readonly limits?: Partial<ExecutorLimits> | undefined;
  readonly now?: (() => number) | undefined;
  readonly logger?: ExecutorLogger | undefined;
  /**
   * Labels the host sets on every child it applies, after the reconciler's own, so a reconciler can neither
   * forge nor drop them: the share's shard label when replicas shard the primaries (host/src/sharding).
   */
  readonly childLabels?: Readonly<Record<string, string>> | undefined;
  /** A label the host sets on every child to its primary's UID (node sharding finds a moved primary's children by it). */
  readonly childOwnerLabel?: string | undefined;
}

export interface ExecutionSummary {
  /** Children written with server-side apply. */
  applied: number;
  /** Children left alone because the cache shows they already hold exactly what we last applied. */
  skipped: number;
  pruned: number;
  statusWritten: boolean;
  /** New Events handed to the broadcaster (written asynchronously, retried; see eventStats()). */
  events: number;
  /** Repeats aggregated within the window into an existing Event's count. */
  eventsSuppressed: number;
  /** Beyond the per-reconcile bound. */
  eventsDropped: number;
  /** Refused because the broadcaster's queue was full. */
  eventsFailed: number;
  finalizer: FinalizerChange;
  /**
   * The API server no longer serves this primary (404 on a fresh read, or a same-named successor): the
   * reconcile ended without further writes and without an error, so the queue does not retry it, and later
   * reconciles of this uid (a lagging cache still holding it) write nothing.
   */
  primaryGone: boolean;
}

interface AppliedRecord {
  readonly uid: string | undefined;
  readonly digest: string;
  /** The primary whose reconcile wrote it (its uid). */
  readonly owner: string | undefined;
}

export class Executor {
  readonly names: ReconcilerNames;
  readonly #primary: KindRef;
  readonly #owns: readonly KindRef[];
  readonly #capabilities: CapabilityChecker;
  readonly #client: ExecutorClient;
  readonly #limits: ExecutorLimits;
  readonly #events: EventRecorder;
  /**
   * What we last applied per child ("child:<identity>") and per primary status ("status:<uid>"). The cache
   * alone cannot justify skipping an apply: a field we stopped setting still shows in the observed object,
   * and only an apply removes it. A skip needs both "we applied exactly this to this object" and "the
   * cache still shows all of it".
   */
  readonly #applied: BoundedMap<string, AppliedRecord>;
  readonly #observed = new ObservedChildren();
  /** Uids of primaries the API server confirmed gone; a cache lagging behind the deletion still serves them. */
  readonly #gone: BoundedMap<string, true>;
  readonly #logger: ExecutorLogger | undefined;
  readonly #name: string;
  readonly #childLabels: Readonly<Record<string, string>> | undefined;
  readonly #childOwnerLabel: string | undefined;

  constructor(options: ExecutorOptions) {
    this.names = reconcilerNames(options.name);
    validateOwnedKinds(options.primary, options.owns);
    this.#primary = options.primary;
    this.#owns = [...options.owns];
    this.#capabilities = compilePermissions(options.permissions);
    this.#client = options.client;
    this.#limits = { ...DEFAULT_EXECUTOR_LIMITS, ...options.limits };
    this.#applied = new BoundedMap(this.#limits.appliedEntries);
    this.#gone = new BoundedMap(this.#limits.appliedEntries);
    const logger = options.logger;
    this.#logger = logger;
    this.#name = options.name;
    this.#childLabels = options.childLabels;
    this.#childOwnerLabel = options.childOwnerLabel;
    let eventsGivenUp = 0;
    this.#events = new EventRecorder({
      client: options.client,
      reportingController: this.names.reportingController,
      reportingInstance: options.reportingInstance,
      dedupeWindowMs: this.#limits.eventDedupeWindowMs,
      dedupeEntries: this.#limits.eventDedupeEntries,
      now: options.now ?? Date.now,
      // A flood must not become a flood of log lines: the first drop, then every 100th, with the running count.
      onError: (err, event) => {
        eventsGivenUp++;
        if (eventsGivenUp === 1 || eventsGivenUp % 100 === 0) {
          logger?.warn(
            { ...errorFields(err), reconciler: options.name, reason: event.reason, eventsGivenUp },
            'event could not be recorded',
          );
        }
      },
    });
  }

  /** Resolves once every event handed over so far landed or was given up (tests, shutdown). */
  flushEvents(): Promise<void> {
    return this.#events.flush();
  }

  /** The event broadcaster's counters: created, patched (aggregated repeats), retried, dropped. */
  eventStats() {
    return this.#events.stats();
  }

  /**
   * Forgets what this executor applied for the primary `uid`: another host reconciles it from now on (sharding),
   * and may write its children and status otherwise, so a skip justified by our last apply would no longer be.
   * Call it once the last reconcile of that primary here has ended.
   */
  forget(uid: string): void {
    this.#applied.deleteWhere((record) => record.owner === uid);
  }

  get primaryKind(): KindRef {
    return this.#primary;
  }

  get owns(): readonly KindRef[] {
    return this.#owns;
  }

  /**
   * Performs the writes `output` asks for. Throws WR_GUEST_OUTPUT_INVALID or WR_CAPABILITY_DENIED before any
   * write (after a Warning event on the primary), or the WR_KUBE_* error of the first write that failed.
   * `parsedPrimary` spares a parse when the caller holds `request.primary.object()` already; the executor
   * only reads it, and so must everyone else while the call runs.
   */
  async execute(
    request: ReconcileRequest,
    output: ReconcileOutput,
    parsedPrimary?: KubeObject,
  ): Promise<ExecutionSummary> {
    const primary = parsedPrimary ?? request.primary.object();
    this.#checkPrimary(primary);
    const summary: ExecutionSummary = {
      applied: 0,
      skipped: 0,
      pruned: 0,
      statusWritten: false,
      events: 0,
      eventsSuppressed: 0,
      eventsDropped: 0,
      eventsFailed: 0,
      finalizer: 'none',
      primaryGone: false,
    };
    if (this.#gone.get(primary.metadata.uid ?? '') === true) return this.#ended(primary, summary, 'known gone');
    const tally: EventTally = { created: 0, suppressed: 0, failed: 0 };
    const deleting = request.deleted || primary.metadata.deletionTimestamp !== undefined;
    const observed = this.#observed.scope();
    let plan: Plan;
    try {
      plan = planOutput(
        {
          primary,
          owns: this.#owns,
          capabilities: this.#capabilities,
          deleting,
          observedChildren: request.children,
          observe: (view) => observed.get(view),
          limits: this.#limits,
          ...(this.#childLabels === undefined ? {} : { childLabels: this.#childLabels }),
          ...(this.#childOwnerLabel === undefined ? {} : { childOwnerLabel: this.#childOwnerLabel }),
        },
        output,
      );
    } catch (err) {
      const warning = rejectionEvent(err, this.#limits.maxEventMessageBytes);
      if (warning !== undefined) await this.#events.record(primary, [warning], tally);
      throw err;
    }

    try {
      if (plan.finalizer === 'ensure') {
        const change = await updateFinalizerOrGone(this.#client, primary, this.names.finalizer, 'ensure');
        if (change === 'gone') return this.#ended(primary, summary, 'finalizer patch');
        summary.finalizer = change;
      }
      for (const write of plan.apply) await this.#apply(write, observed, summary);
      for (const doomed of plan.prune) await this.#prune(doomed, summary);
      if (plan.status !== undefined) summary.statusWritten = await this.#writeStatus(primary, plan.status);
    } catch (err) {
      if (await this.#confirmedGone(primary, err)) return this.#ended(primary, summary, (err as WrError).code);
      throw err;
    }
    // Events are written asynchronously, except before a release: releasing may delete the primary, and its
    // last events should land while it still exists (bounded by the broadcaster's attempts).
    await this.#events.record(primary, plan.events, tally, plan.finalizer === 'release');
    summary.events = tally.created;
    summary.eventsSuppressed = tally.suppressed;
    summary.eventsFailed = tally.failed;
    summary.eventsDropped = plan.eventsDropped;
    if (plan.finalizer === 'release') {
      const change = await updateFinalizerOrGone(this.#client, primary, this.names.finalizer, 'release');
      if (change === 'gone') return this.#ended(primary, summary, 'finalizer release');
      summary.finalizer = change;
    }
    return summary;
  }

  /** After a write failed in a way a gone primary explains: does a fresh read confirm it is gone? */
  async #confirmedGone(primary: KubeObject, err: unknown): Promise<boolean> {
    if (!GONE_SUSPECTS.some((code) => isWrError(err, code))) return false;
    try {
      const fresh = await this.#client.get({
        apiVersion: primary.apiVersion,
        kind: primary.kind,
        namespace: primary.metadata.namespace || undefined,
        name: primary.metadata.name,
      });
      return fresh === undefined || fresh.metadata.uid !== primary.metadata.uid;
    } catch {
      // The read failed too: report the write's error, and let the queue retry.
      return false;
    }
  }

  /** Ends the reconcile of a primary the API server no longer serves: no error, no retry, a debug line. */
  #ended(primary: KubeObject, summary: ExecutionSummary, cause: string): ExecutionSummary {
    const uid = primary.metadata.uid ?? '';
    const first = this.#gone.get(uid) !== true;
    this.#gone.set(uid, true);
    if (first) {
      this.#logger?.debug?.(
        { reconciler: this.#name, namespace: primary.metadata.namespace, name: primary.metadata.name, uid, cause },
        'primary is gone; reconcile ended without retry',
      );
    }
    summary.primaryGone = true;
    return summary;
  }

  #checkPrimary(primary: KubeObject): void {
    const expected = groupKind(this.#primary.apiVersion, this.#primary.kind);
    const actual = groupKind(primary.apiVersion, primary.kind);
    if (actual !== expected || !primary.metadata.uid || !primary.metadata.name) {
      // Only the cache feeds primaries here, and it serves what the API server stored: this is a wiring bug.
      throw new WrError('WR_HOST_INTERNAL', `the executor for ${expected} was handed a ${actual} without uid or name`, {
        details: { expected, actual, name: primary.metadata.name },
      });
    }
  }

  async #apply(write: ChildWrite, observed: ObservedScope, summary: ExecutionSummary): Promise<void> {
    const digest = digestOf(write.object);
    const memoryKey = `child:${write.key}`;
    const child = write.observed;
    const record = this.#applied.get(memoryKey);
    if (
      child !== undefined &&
      child.apiVersion === write.object.apiVersion &&
      record?.digest === digest &&
      record.uid === child.uid &&
      (child.verified === digest || contains(write.object, digest, child, observed))
    ) {
      summary.skipped++;
      return;
    }
    const stored = await this.#client.apply(write.object, { fieldManager: this.names.fieldManager, force: true });
    this.#applied.set(memoryKey, {
      uid: stored.metadata?.uid,
      digest,
      owner: write.object.metadata.ownerReferences?.[0]?.uid,
    });
    summary.applied++;
  }

  async #prune(doomed: ChildDelete, summary: ExecutionSummary): Promise<void> {
    this.#applied.delete(`child:${doomed.key}`);
    try {
      await this.#client.delete(doomed.ref, { uid: doomed.uid, propagationPolicy: 'Background' });
      summary.pruned++;
    } catch (err) {
      // Already gone, or replaced by a same-named object (uid precondition failed): nothing of ours to delete.
      if (!isWrError(err, 'WR_KUBE_NOT_FOUND') && !isWrError(err, 'WR_KUBE_CONFLICT')) throw err;
    }
  }

  /** Writes the status unless the cache shows it already, which keeps status-only reconciles write-free. */
  async #writeStatus(primary: KubeObject, status: Record<string, unknown>): Promise<boolean> {
    const observed = primary.status;
    if (jsonEqual(observed, status)) return false;
    const digest = digestOf(status);
    const memoryKey = `status:${primary.metadata.uid}`;
    const record = this.#applied.get(memoryKey);
    if (record?.digest === digest && isSubset(status, observed)) return false;
    await this.#client.applyStatus(
      {
        apiVersion: primary.apiVersion,
        kind: primary.kind,
        metadata: {
          name: primary.metadata.name,
          ...(primary.metadata.namespace ? { namespace: primary.metadata.namespace } : {}),
        },
        status,
      },
      { fieldManager: this.names.fieldManager, force: true },
    );
    this.#applied.set(memoryKey, { uid: primary.metadata.uid, digest, owner: primary.metadata.uid });
    return true;
  }
}

function digestOf(value: unknown): string {
  return hash('sha256', JSON.stringify(value), 'base64');
}

/** isSubset against the observed child, remembered on it: the same desired digest repeats the same answer. */
function contains(desired: KubeObject, digest: string, child: ObservedChild, observed: ObservedScope): boolean {
  if (!isSubset(desired, observed.object(child.view))) return false;
  child.verified = digest;
  return true;
}

/** The Warning event that makes a rejected output visible on the primary (`kubectl describe`). */
function rejectionEvent(err: unknown, maxBytes: number): GuestEvent | undefined {
  if (isWrError(err, 'WR_CAPABILITY_DENIED')) {
    const denied = (err.details?.denied ?? []) as DeniedAction[];
    const listed = denied
      .slice(0, 3)
      .map((d) => `${d.verb} ${d.apiVersion}/${d.kind} ${d.namespace ? `${d.namespace}/` : ''}${d.name} (${d.reason})`)
      .join('; ');
    return {
      type: 'Warning',
      reason: 'CapabilityDenied',
      message: truncateUtf8(`output rejected, nothing written: ${listed}`, maxBytes),
    };
  }
  if (isWrError(err, 'WR_GUEST_OUTPUT_INVALID')) {
    const violations = (err.details?.violations ?? []) as string[];
    return {
      type: 'Warning',
      reason: 'InvalidOutput',
      message: truncateUtf8(`output rejected, nothing written: ${violations.slice(0, 3).join('; ')}`, maxBytes),
    };
  }
  return undefined;
}
