// Leader election on a coordination.k8s.io Lease, with client-go's semantics, so replicas never reconcile twice.
//
// Expiry is judged on the local clock from the moment this process last saw the record change (client-go's
// observedTime), never from the holder's renewTime: edge nodes' clocks drift, and a skewed clock must not
// let two hosts lead at once. A leader that cannot renew within renewDeadline steps down.

import type { KubeObject } from '../abi/types.ts';
import { errorFields, isWrError, WrError } from '../errors.ts';
import { type ApiResource, type KubeClient, kubeMicroTime, type Logger } from '../kube/index.ts';

/** A release read and written this many times when the Lease changes between the two (409). */
const RELEASE_ATTEMPTS = 3;

export interface LeaseOptions {
  readonly namespace: string;
  readonly name: string;
  /** Unique per process: the pod name plus something that changes on restart. */
  readonly identity: string;
  /** How long a lease is valid after the holder's last renewal was observed. Default 15 s. */
  readonly leaseDurationMs?: number;
  /** A leader that has not renewed for this long gives up. Default 10 s. */
  readonly renewDeadlineMs?: number;
  /** Pause between acquire or renew attempts. Default 2 s. */
  readonly retryPeriodMs?: number;
  /** Labels kept on the Lease, so a set of Leases can be listed and watched (replica sharding's members). */
  readonly labels?: Readonly<Record<string, string>>;
  readonly logger?: Logger;
  /** Clock for tests. */
  readonly now?: () => number;
}

/** The fields of a Lease this elector reads and writes. */
interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export class LeaderElector {
  readonly #client: KubeClient;
  readonly #o: Required<Omit<LeaseOptions, 'logger' | 'labels'>> & {
    logger: Logger | undefined;
    labels: Readonly<Record<string, string>> | undefined;
  };
  #resource: ApiResource | undefined;
  /** The last record seen, and when (local clock): the basis of expiry. */
  #observed: { record: string; at: number } | undefined;
  #leading = false;
  #stopped = false;
  #lastRenew = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #wake: (() => void) | undefined;
  /** The acquire or renew request in flight, which stop() lets finish before it releases. */
  #attempt: Promise<boolean> | undefined;

  constructor(client: KubeClient, options: LeaseOptions) {
    const leaseDurationMs = options.leaseDurationMs ?? 15_000;
    const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    const retryPeriodMs = options.retryPeriodMs ?? 2_000;
    // client-go's invariants: renewal must be possible well before someone else may take over.
    if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs && retryPeriodMs > 0)) {
      throw new WrError('WR_CONFIG_INVALID', 'leader election needs leaseDuration > renewDeadline > retryPeriod > 0', {
        details: { leaseDurationMs, renewDeadlineMs, retryPeriodMs },
      });
    }
    this.#client = client;
    this.#o = {
      namespace: options.namespace,
      name: options.name,
      identity: options.identity,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
      logger: options.logger,
      labels: options.labels,
      now: options.now ?? Date.now,
    };
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Resolves once this process holds the lease; rejects only if stop() is called first. */
  async acquire(): Promise<void> {
    while (!this.#stopped) {
      if (await this.#attemptOnce(this.#o.renewDeadlineMs)) {
        this.#leading = true;
        this.#lastRenew = this.#o.now();
        this.#o.logger?.info(
          { lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity },
          'became leader',
        );
        return;
      }
      await this.#sleep(this.#o.retryPeriodMs);
    }
    throw new WrError('WR_SLOT_CLOSED', 'leader election stopped before the lease was acquired');
  }

  /**
   * Renews every retryPeriod until stop(). Resolves with 'lost' when renewal failed for renewDeadline
   * (the caller must stop reconciling at once), or 'stopped' after stop().
   */
  async hold(): Promise<'lost' | 'stopped'> {
    while (!this.#stopped) {
      await this.#sleep(this.#o.retryPeriodMs);
      if (this.#stopped) break;
      // Bounded by what is left of the renew deadline: a stalled path must not hide the loss behind a
      // request timeout (client-go bounds its renew loop the same way).
      const left = this.#lastRenew + this.#o.renewDeadlineMs - this.#o.now();
      if (await this.#attemptOnce(Math.max(left, 1))) {
        this.#lastRenew = this.#o.now();
      } else if (this.#o.now() - this.#lastRenew >= this.#o.renewDeadlineMs) {
        this.#leading = false;
        this.#o.logger?.error(
          { identity: this.#o.identity, code: 'WR_LEADERSHIP_LOST' },
          'lost the lease: could not renew within renewDeadline',
        );
        return 'lost';
      }
    }
    return 'stopped';
  }

  /** Stops electing; a leader releases the lease so a standby takes over without waiting for expiry. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#wake?.();
    if (!this.#leading) return;
    this.#leading = false;
    // A renewal in flight would replace the Lease under the release's read, and the release would fail
    // with a conflict (seen on a loaded machine): let it land first. It is bounded by the renew deadline.
    await this.#attempt?.catch(() => undefined);
    for (let attempt = 1; ; attempt++) {
      try {
        const lease = await this.#get();
        const spec = (lease?.spec ?? {}) as LeaseSpec;
        if (lease === undefined || spec.holderIdentity !== this.#o.identity) return;
        lease.spec = { ...spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: kubeMicroTime(this.#o.now()) };
        await this.#client.replace(await this.#res(), lease);
        return;
      } catch (err) {
        // A conflict means someone wrote the Lease since our read: read it again (is it still ours?).
        if (isWrError(err, 'WR_KUBE_CONFLICT') && attempt < RELEASE_ATTEMPTS) continue;
        this.#o.logger?.warn(errorFields(err), 'could not release the lease; it expires on its own');
        return;
      }
    }
  }

  #attemptOnce(timeoutMs: number): Promise<boolean> {
    const attempt = this.#tryAcquireOrRenew(timeoutMs);
    this.#attempt = attempt;
    return attempt;
  }

  async #tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    const now = this.#o.now();
    const leaseDurationSeconds = Math.ceil(this.#o.leaseDurationMs / 1000);
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const lease = await this.#get(signal);
      if (lease === undefined) {
        await this.#client.create(
          await this.#res(),
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: {
              name: this.#o.name,
              namespace: this.#o.namespace,
              ...(this.#o.labels === undefined ? {} : { labels: { ...this.#o.labels } }),
            },
            spec: {
              holderIdentity: this.#o.identity,
              leaseDurationSeconds,
              acquireTime: kubeMicroTime(now),
              renewTime: kubeMicroTime(now),
              leaseTransitions: 0,
            },
          },
          { signal },
        );
        return true;
      }
      const spec = (lease.spec ?? {}) as LeaseSpec;
      const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds]);
      if (this.#observed?.record !== record) this.#observed = { record, at: now };
      const heldByOther =
        spec.holderIdentity !== undefined && spec.holderIdentity !== '' && spec.holderIdentity !== this.#o.identity;
      const validForMs = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
      if (heldByOther && this.#observed.at + validForMs > now) return false;
      const transition = spec.holderIdentity !== this.#o.identity;
      if (this.#o.labels !== undefined) lease.metadata.labels = { ...lease.metadata.labels, ...this.#o.labels };
      lease.spec = {
        holderIdentity: this.#o.identity,
        leaseDurationSeconds,
        acquireTime: transition ? kubeMicroTime(now) : (spec.acquireTime ?? kubeMicroTime(now)),
        renewTime: kubeMicroTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (transition ? 1 : 0),
      };
      // PUT with the resourceVersion just read: a competing writer makes this a 409, never a double leader.
      await this.#client.replace(await this.#res(), lease, { signal });
      return true;
    } catch (err) {
      if (!isWrError(err, 'WR_KUBE_CONFLICT') && !isWrError(err, 'WR_KUBE_UNAVAILABLE') && !signal.aborted) {
        this.#o.logger?.warn(errorFields(err), 'leader election attempt failed');
      }
      return false;
    }
  }

  async #get(signal?: AbortSignal): Promise<KubeObject | undefined> {
    try {
      return await this.#client.get(await this.#res(), this.#o.namespace, this.#o.name, signal);
    } catch (err) {
      if (isWrError(err, 'WR_KUBE_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  async #res(): Promise<ApiResource> {
    this.#resource ??= await this.#client.resource('coordination.k8s.io/v1', 'Lease');
    return this.#resource;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, ms);
    });
  }
}
