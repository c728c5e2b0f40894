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
  resourceVersion: string | undefined;
  acking: boolean;
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
      owns: (primary: CachedObject) => {
        const oid = id(primary.key);
        if (primary.labels[shard] !== this.#o.member) return false;
        if (primary.labels[drain] !== undefined) {
          const known = this.#draining.get(oid);
          if (known === undefined) {
            this.#draining.set(oid, {
              res,
              namespace: primary.namespace,
              name: primary.name,
              resourceVersion: primary.resourceVersion,
              acking: false,
            });
          } else known.resourceVersion = primary.resourceVersion;
          // The controller fences it and reports it left if it held it; if not, nothing waits for it here.
          if (!held.has(primary.key)) queueMicrotask(() => this.#tryAck(oid));
          return false;
        }
        if (this.#draining.has(oid)) return false;
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
          this.#tryAck(id(key));
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
    if (d === undefined || d.acking || (this.#holders.get(oid)?.size ?? 0) > 0) return;
    d.acking = true;
    const { shard, drain } = this.#o.labels;
    patchLabels(this.#o.client, d.res, d.namespace, d.name, d.resourceVersion, { [shard]: null, [drain]: null }).then(
      () => {
        this.#acks++;
        this.#draining.delete(oid);
      },
      (err: unknown) => {
        d.acking = false;
        if (isWrError(err, 'WR_KUBE_NOT_FOUND')) this.#draining.delete(oid);
        // A conflict: the newer version reaches `owns`, then `left` (or the move) asks again.
        if (
          isWrError(err, 'WR_KUBE_CONFLICT') ||
          isWrError(err, 'WR_KUBE_NOT_FOUND') ||
          isWrError(err, 'WR_LEADERSHIP_LOST')
        )
          return;
        this.#o.logger.warn(
          { ...errorFields(err), namespace: d.namespace, name: d.name },
          'drain acknowledgement failed',
        );
        setTimeout(() => this.#tryAck(oid), 1_000).unref?.();
      },
    );
  }
}
