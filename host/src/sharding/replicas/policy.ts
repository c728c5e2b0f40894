// The `--sharding replicas` mode: N host replicas split every reconciler's primaries by rendezvous hashing over the ring's live member Leases.
//
// Each replica holds its own Lease (`<ring>-shard-<member>`, labelled with the ring): the host acquires
// it before it reconciles anything and fences every write when it cannot renew it (host/src/manager/host.ts),
// so a member whose Lease expired has stopped. One replica at a time also leads the ring's sharder Lease
// (`<ring>-sharder`); it labels objects with their shard, drains and moves them (sharder.ts) and writes
// WasmReconciler status. Every replica's controllers watch only their own label (handover.ts), for their
// primaries and for the children of those (the sharder moves children with their owners).

import type { ReflectorRegistry } from '../../cache/index.ts';
import { errorFields, WrError } from '../../errors.ts';
import type { KubeClient, Logger } from '../../kube/index.ts';
import { LeaderElector, type LeaseOptions } from '../../leader/index.ts';
import type { Ownership, ShardedController, ShardPolicy } from '../policy.ts';
import { ReplicaHandover } from './handover.ts';
import { checkName, MEMBER_LABEL, RING_LABEL, type RingLabels, ringLabels } from './labels.ts';
import { RingMembers } from './members.ts';
import { Sharder, type SharderStats } from './sharder.ts';

/** The Lease timings of a ring: the members' and the sharder's. */
export type RingTiming = Pick<LeaseOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>;

export interface ReplicaRing {
  /** The ring's name, part of every label key: replicas of one Deployment share it. Default `wasm-reconciler`. */
  readonly ring?: string;
  /** This replica's shard name (the pod name): the value of the shard label on the objects it owns. */
  readonly member: string;
  /** Where the member and sharder Leases live (the host's namespace). */
  readonly namespace: string;
  /** Unique per process (pod name plus a per-start part), as for leader election. */
  readonly identity: string;
  readonly timing?: RingTiming;
}

export const DEFAULT_RING = 'wasm-reconciler';

/** The Lease this replica must hold to reconcile: the host acquires it as its leader-election Lease. */
export function memberLease(ring: ReplicaRing): Omit<LeaseOptions, 'logger' | 'now'> {
  const name = ring.ring ?? DEFAULT_RING;
  checkName('ring', name);
  checkName('shard', ring.member);
  return {
    namespace: ring.namespace,
    name: `${name}-shard-${ring.member}`,
    identity: ring.identity,
    labels: { [RING_LABEL]: name, [MEMBER_LABEL]: ring.member },
    ...ring.timing,
  };
}

export interface ReplicaShardingOptions extends ReplicaRing {
  /** Unfenced: reads, and the sharder's Lease (its writes get a fence of their own per term). */
  readonly client: KubeClient;
  /** The host's fenced writer: drain acknowledgements stop with every other write when the member Lease is lost. */
  readonly writer: KubeClient;
  readonly registry: ReflectorRegistry;
  readonly logger: Logger;
}

export class ReplicaShardPolicy implements ShardPolicy {
  readonly mode = 'replicas';
  readonly #o: ReplicaShardingOptions;
  readonly #labels: RingLabels;
  readonly #members: RingMembers;
  readonly #release: () => void;
  readonly #sharder: Sharder;
  readonly #handover: ReplicaHandover;
  readonly #statusListeners = new Set<() => void>();
  #leading = false;
  #closed = false;
  #elector: LeaderElector | undefined;
  #fence: AbortController | undefined;
  #term: Promise<void> = Promise.resolve();

  /** Lists the ring's members, then contends for the sharder Lease in the background. */
  static async start(options: ReplicaShardingOptions): Promise<ReplicaShardPolicy> {
    const ring = options.ring ?? DEFAULT_RING;
    const leases = await options.registry.acquire({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      namespace: options.namespace,
      labelSelector: `${RING_LABEL}=${ring}`,
    });
    try {
      await leases.synced;
    } catch (err) {
      leases.release();
      throw err;
    }
    return new ReplicaShardPolicy(options, ringLabels(ring), leases.reader, () => leases.release());
  }

  private constructor(
    options: ReplicaShardingOptions,
    labels: RingLabels,
    leases: ConstructorParameters<typeof RingMembers>[0],
    release: () => void,
  ) {
    this.#o = options;
    this.#labels = labels;
    this.#release = release;
    this.#members = new RingMembers(leases, { absentGraceMs: options.timing?.leaseDurationMs ?? 15_000 });
    this.#sharder = new Sharder({
      registry: options.registry,
      members: this.#members,
      labels,
      logger: options.logger,
    });
    this.#handover = new ReplicaHandover({
      member: options.member,
      labels,
      client: options.writer,
      logger: options.logger,
    });
    this.#term = this.#contend();
  }

  /** The live members as this replica sees them, sorted. */
  members(): readonly string[] {
    return this.#members.live();
  }

  get leadsRing(): boolean {
    return this.#leading;
  }

  get stats(): SharderStats & { readonly acknowledged: number } {
    return { ...this.#sharder.stats, acknowledged: this.#handover.acknowledged };
  }

  async ownership(controller: ShardedController): Promise<Ownership> {
    const { apiVersion, kind } = controller.primary;
    const res = await this.#o.client.resource(apiVersion, kind);
    // Owned kinds are resolved before the sharder takes anything: a kind that is not served fails here, unshared.
    const owned = await Promise.all((controller.owns ?? []).map((k) => this.#o.client.resource(k.apiVersion, k.kind)));
    const selector = controller.primary.labelSelector;
    const namespaces =
      res.namespaced && controller.namespaces !== undefined && controller.namespaces.length > 0
        ? controller.namespaces
        : [undefined];
    const releases = namespaces.map((namespace) =>
      this.#sharder.shard({
        apiVersion,
        kind,
        ...(namespace === undefined ? {} : { namespace }),
        ...(selector === undefined ? {} : { selector }),
      }),
    );
    const owner = { group: res.group, kind: res.kind, namespaced: res.namespaced };
    for (const resource of owned) {
      // A cluster-scoped primary's namespaced children may be in any watched namespace, as the primary's own.
      const childNamespaces =
        resource.namespaced && controller.namespaces !== undefined && controller.namespaces.length > 0
          ? controller.namespaces
          : [undefined];
      for (const namespace of childNamespaces) {
        releases.push(
          this.#sharder.shardChildren({ resource, owner, ...(namespace === undefined ? {} : { namespace }) }),
        );
      }
    }
    const ownership = this.#handover.ownership(res);
    return {
      ...ownership,
      close: () => {
        for (const release of releases) release();
        ownership.close();
      },
    };
  }

  writesStatus(): boolean {
    return this.#leading;
  }

  onStatusWriterChange(listener: () => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  /** Fences and stops the sharder, releases its Lease (so another replica leads at once), stops watching members. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#endTerm('the host is stopping: sharder writes are fenced');
    await this.#elector?.stop();
    await this.#term;
    this.#members.close();
    this.#release();
  }

  async #contend(): Promise<void> {
    const ring = this.#labels.ring;
    while (!this.#closed) {
      const elector = new LeaderElector(this.#o.client, {
        namespace: this.#o.namespace,
        name: `${ring}-sharder`,
        identity: this.#o.identity,
        ...this.#o.timing,
        logger: this.#o.logger,
      });
      this.#elector = elector;
      try {
        await elector.acquire();
      } catch {
        return;
      }
      if (this.#closed) return;
      const fence = new AbortController();
      this.#fence = fence;
      this.#sharder.start(this.#o.client.withWriteFence(fence.signal));
      this.#setLeading(true);
      this.#o.logger.info({ ring, member: this.#o.member }, 'sharder: leading the ring');
      const outcome = await elector.hold();
      await this.#endTerm('the sharder Lease was lost: sharder writes are fenced');
      if (outcome === 'stopped') return;
      this.#o.logger.warn({ ring, code: 'WR_LEADERSHIP_LOST' }, 'sharder: lost the ring Lease; contending again');
    }
  }

  async #endTerm(message: string): Promise<void> {
    const fence = this.#fence;
    this.#fence = undefined;
    if (fence === undefined) return;
    fence.abort(new WrError('WR_LEADERSHIP_LOST', message));
    try {
      await this.#sharder.stop();
    } catch (err) {
      this.#o.logger.warn(errorFields(err), 'sharder: stop failed');
    }
    this.#setLeading(false);
  }

  #setLeading(leading: boolean): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    for (const listener of this.#statusListeners) listener();
  }
}
