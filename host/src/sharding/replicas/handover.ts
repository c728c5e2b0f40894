// One replica's side of the ring: which primaries its controllers own now, and letting go of those the sharder drains.
//
// A controller owns an object while it carries this replica's shard label and no drain label. When the
// sharder drains an object, each controller of this replica that holds it sees `owns` turn false, fences
// the key's writes and reports it `left`; once every one that held it has done so and the fenced runs
// have settled, this replica acknowledges by removing both labels. The sharder assigns the object to its
// new shard only after that write, so the old owner has stopped before the new one can start, with no
// clock involved. An acknowledgement is one conditional write; a conflict means a newer version of the
// object is on its way to the caches, which ask again.

import type { CachedObject } from '../../cache/index.ts';
import { errorFields, isWrError } from '../../errors.ts';
import type { ApiResource, KubeClient, Logger } from '../../kube/index.ts';
import type { Ownership } from '../policy.ts';
import type { RingLabels } from './labels.ts';
import { patchLabels } from './sharder.ts';

export interface ReplicaHandoverOptions {
  readonly member: string;
  readonly labels: RingLabels;
  /** The replica's fenced writer: acknowledgements stop with every other write when its Lease is lost. */
  readonly client: KubeClient;
  readonly logger: Logger;
}

interface Drain {
  readonly res: ApiResource;
  readonly namespace: string | undefined;
  readonly name: string;
  /** The newest version of the object this replica has seen carrying the drain label. */
  resourceVersion: string | undefined;
  /**
   * `waiting` for the holders to let go (or for a newer version after a conflict), `acking` while the
   * acknowledgement is on the wire, `acked` once it landed: until the caches see the object leave, they may
   * still hand out the acknowledged version, which must then start nothing.
   */
  state: 'waiting' | 'acking' | 'acked';
}

export class ReplicaHandover {
  readonly #o: ReplicaHandoverOptions;
  /** Per object (group/kind|key): the ownerships of this replica that hold it (owned it and have not let go). */
  readonly #holders = new Map<string, Set<object>>();
  /** Objects the sharder drains from this replica, not acknowledged yet. */
  readonly #draining = new Map<string, Drain>();
  #acks = 0;

  constructor(options: ReplicaHandoverOptions) {
    this.#o = options;
  }

  /** Drains acknowledged by this replica. */
  get acknowledged(): number {
    return this.#acks;
  }

  /** The Ownership of one controller whose primaries are of `res`. */
  ownership(res: ApiResource): Ownership {
    const self = {};
    const { shard, drain } = this.#o.labels;
    const id = (key: string) => `${res.group}/${res.kind}|${key}`;
    const held = new Set<string>();
    const listeners = new Set<() => void>();
    return {
      selector: `${shard}=${this.#o.member}`,
      // The executor labels what it applies with this member while it owns the primary; the sharder moves a
      // primary's children with it (sharder.ts), so each replica caches only the children of its own share.
      children: { selector: `${shard}=${this.#o.member}`, labels: { [shard]: this.#o.member } },
      owns: (primary: CachedObject) => {
        const oid = id(primary.key);
        if (primary.labels[shard] !== this.#o.member) return false;
        const known = this.#draining.get(oid);
        if (primary.labels[drain] !== undefined) {
          if (known?.state === 'acked' && known.resourceVersion === primary.resourceVersion) return false;
          if (known === undefined || known.state === 'acked') {
            this.#draining.set(oid, {
              res,
              namespace: primary.namespace,
              name: primary.name,
              resourceVersion: primary.resourceVersion,
              state: 'waiting',
            });
          } else known.resourceVersion = primary.resourceVersion;
          // The controller fences it and reports it left if it held it; if not, nothing waits for it here.
          if (!held.has(primary.key)) queueMicrotask(() => this.#tryAck(oid));
          return false;
        }
        // Assigned here with no drain label: whatever drain this replica remembers is over (an acknowledged
        // one that came back here, or one the sharder withdrew), and the object is this replica's again.
        if (known !== undefined) this.#draining.delete(oid);
        if (!held.has(primary.key)) {
          held.add(primary.key);
          const holders = this.#holders.get(oid) ?? new Set();
          holders.add(self);
          this.#holders.set(oid, holders);
        }
        return true;
      },
      admit: () => 0,
      left: (key: string, settled: Promise<void>) => {
        if (!held.delete(key)) {
          const oid = id(key);
          // An acknowledged object left the cache (the acknowledgement removed the shard label): forgotten.
          if (this.#draining.get(oid)?.state === 'acked') this.#draining.delete(oid);
          else this.#tryAck(oid);
          return;
        }
        // Held until its fenced reconcile has ended: the new owner must not start while it still runs here.
        void settled.then(() => {
          const oid = id(key);
          const holders = this.#holders.get(oid);
          holders?.delete(self);
          if (holders?.size === 0) this.#holders.delete(oid);
          this.#tryAck(oid);
        });
      },
      unassigned: () => undefined,
      onChange: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      close: () => {
        for (const key of held) this.#holders.get(id(key))?.delete(self);
        held.clear();
        listeners.clear();
      },
    };
  }

  /** Acknowledges a drain once no controller of this replica holds the object. */
  #tryAck(oid: string): void {
    const d = this.#draining.get(oid);
    if (d === undefined || d.state !== 'waiting' || (this.#holders.get(oid)?.size ?? 0) > 0) return;
    d.state = 'acking';
    const attempted = d.resourceVersion;
    const { shard, drain } = this.#o.labels;
    patchLabels(this.#o.client, d.res, d.namespace, d.name, attempted, { [shard]: null, [drain]: null }).then(
      () => {
        this.#acks++;
        d.state = 'acked';
      },
      (err: unknown) => {
        d.state = 'waiting';
        if (isWrError(err, 'WR_KUBE_NOT_FOUND')) {
          if (this.#draining.get(oid) === d) this.#draining.delete(oid);
          return;
        }
        if (isWrError(err, 'WR_LEADERSHIP_LOST')) return;
        if (isWrError(err, 'WR_KUBE_CONFLICT')) {
          // The object changed since `attempted`. If the cache already delivered the newer version (while this
          // write was on the wire, so that delivery could not ask again), ask now; otherwise its delivery will.
          if (d.resourceVersion !== attempted) this.#tryAck(oid);
          return;
        }
        this.#o.logger.warn(
          { ...errorFields(err), namespace: d.namespace, name: d.name },
          'drain acknowledgement failed',
        );
        setTimeout(() => this.#tryAck(oid), 1_000).unref?.();
      },
    );
  }
}
