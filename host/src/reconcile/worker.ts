// Runs one reconcile for one key: snapshot from the cache, call the reconciler, execute its output, decide requeue.
//
// Whatever fails, the result carries a WrError (never a raw exception), so the work queue can decide between
// backoff-and-retry and giving up from `retryable` alone.

import type { KubeObject, ObjectView, ReconcileOutput, ReconcileRequest } from '../abi/types.ts';
import { isWrError, WrError } from '../errors.ts';
import type { ExecutionSummary, Executor } from '../executor/executor.ts';
import { truncateUtf8 } from '../executor/internal/truncate.ts';
import { splitKey } from '../mapping/event.ts';
import { buildRequest, type ChildReader, type PrimaryReader, type RelatedProvider } from './snapshot.ts';
import type { Reconciler } from './types.ts';

/** A guest asking for a faster requeue would spin on slow edge CPUs; one asking for longer would be forgotten. */
export const MIN_REQUEUE_AFTER_MS = 1000;
export const MAX_REQUEUE_AFTER_MS = 24 * 60 * 60 * 1000;
const MAX_ERROR_MESSAGE_BYTES = 1024;

export interface WorkerOptions {
  /** The reconcile logic; for Wasm modules, the slot that forwards to the active instance. */
  readonly reconciler: Reconciler;
  readonly executor: Pick<Executor, 'execute' | 'names' | 'owns'>;
  /** Read on every call, so a getter can report the current WasmReconciler generation. */
  readonly identity: ReconcileRequest['reconciler'];
  readonly primaries: PrimaryReader;
  readonly children: ChildReader;
  readonly related?: RelatedProvider | undefined;
}

/** What the work queue needs to know about one processed key. */
export interface WorkResult {
  /**
   * 'skipped': the primary is gone (Kubernetes garbage-collects owned children) or being deleted without
   * our finalizer; 'reconciled' / 'finalized': the reconciler ran and its output was executed (or failed).
   */
  readonly outcome: 'skipped' | 'reconciled' | 'finalized';
  /** Re-add the key after this delay, already clamped; absent when `error` is set. */
  readonly requeueAfterMs?: number;
  /** The queue retries with backoff when `error.retryable`, and drops the key until the next event otherwise. */
  readonly error?: WrError;
  readonly summary?: ExecutionSummary;
}

export class ReconcileWorker {
  readonly #options: WorkerOptions;

  constructor(options: WorkerOptions) {
    this.#options = options;
  }

  /** Never throws: every failure comes back as `result.error`. */
  async process(key: string, trigger: ReconcileRequest['trigger']): Promise<WorkResult> {
    let stage: 'snapshot' | 'reconciler' | 'executor' = 'snapshot';
    let outcome: WorkResult['outcome'] = 'skipped';
    try {
      const [namespace, name] = splitKey(key);
      const view = this.#options.primaries.get(namespace, name);
      if (view === undefined) return { outcome };
      const primary = view.object();
      const deleting = primary.metadata.deletionTimestamp !== undefined;
      const finalizer = this.#options.executor.names.finalizer;
      // Without our finalizer the API server deletes the primary without waiting for us: nothing to clean up.
      if (deleting && !(primary.metadata.finalizers ?? []).includes(finalizer)) return { outcome };

      const request = this.#snapshot(trigger, view, primary);
      outcome = deleting ? 'finalized' : 'reconciled';
      stage = 'reconciler';
      const output = await this.#call(request, deleting);
      stage = 'executor';
      const summary = await this.#options.executor.execute(request, output, primary);
      // Deleted while the cache still held it: nothing left to reconcile, and nothing to retry.
      if (summary.primaryGone) return { outcome: 'skipped', summary };
      return decide(outcome, output, summary);
    } catch (err) {
      return { outcome, error: classify(err, stage) };
    }
  }

  #snapshot(trigger: ReconcileRequest['trigger'], view: ObjectView, primary: KubeObject): ReconcileRequest {
    return buildRequest({
      trigger,
      reconciler: this.#options.identity,
      primary: view,
      object: primary,
      owns: this.#options.executor.owns,
      children: this.#options.children,
      related: this.#options.related,
    });
  }

  #call(request: ReconcileRequest, deleting: boolean): Promise<ReconcileOutput> {
    const reconciler = this.#options.reconciler;
    if (!deleting) return reconciler.reconcile(request);
    // A reconciler without finalize has nothing to clean up beyond what the garbage collector removes.
    if (reconciler.finalize === undefined) return Promise.resolve({ finalizer: 'release' });
    return reconciler.finalize(request);
  }
}

function decide(outcome: WorkResult['outcome'], output: ReconcileOutput, summary: ExecutionSummary): WorkResult {
  if (output.error !== undefined) {
    const code = output.error.retryable ? 'WR_GUEST_ERROR_RETRYABLE' : 'WR_GUEST_ERROR_TERMINAL';
    return { outcome, summary, error: new WrError(code, truncateUtf8(output.error.message, MAX_ERROR_MESSAGE_BYTES)) };
  }
  const requeueAfterMs = clampRequeue(output.requeueAfterMs);
  return requeueAfterMs === undefined ? { outcome, summary } : { outcome, summary, requeueAfterMs };
}

/** Zero or negative means "no requeue"; anything else lands in [MIN_REQUEUE_AFTER_MS, MAX_REQUEUE_AFTER_MS]. */
export function clampRequeue(ms: number | undefined): number | undefined {
  if (ms === undefined || !(ms > 0)) return undefined;
  return Math.min(Math.max(Math.ceil(ms), MIN_REQUEUE_AFTER_MS), MAX_REQUEUE_AFTER_MS);
}

function classify(err: unknown, stage: 'snapshot' | 'reconciler' | 'executor'): WrError {
  if (isWrError(err)) return err;
  const reason = truncateUtf8(err instanceof Error ? err.message : String(err), MAX_ERROR_MESSAGE_BYTES);
  // Reconcile logic (a native reconciler, or a runtime bug below the Reconciler boundary) failing is a
  // reconcile failure worth retrying; anything else thrown raw is a host bug.
  if (stage === 'reconciler')
    return new WrError('WR_GUEST_ERROR_RETRYABLE', `reconciler threw: ${reason}`, { cause: err });
  // The executor's work grows only with the output (the planner bounds its shape): a RangeError there, a
  // stack or string length overflow, means an output the host cannot carry out, and it would fail the same
  // way on every retry. A host bug would have to be one that only this output triggers.
  if (stage === 'executor' && err instanceof RangeError) {
    return new WrError('WR_GUEST_OUTPUT_INVALID', `the output could not be carried out: ${reason}`, {
      cause: err,
      details: { stage },
    });
  }
  return new WrError('WR_HOST_INTERNAL', `${stage} failed: ${reason}`, { cause: err, details: { stage } });
}
