// The live members of a ring, read from their Leases: a member is live while its Lease is held and renewed within its duration.
//
// Expiry is judged as LeaderElector judges it: on the local clock, from the moment this process saw the
// Lease record change, never from the holder's renewTime, so clock skew between nodes cannot make a
// member look dead early. A member that released its Lease (holderIdentity emptied on a clean stop, after
// its writes were fenced) is gone at once.

import type { CachedObject, StoreEvent, StoreReader } from '../../cache/index.ts';
import { MEMBER_LABEL } from './labels.ts';

interface LeaseRecord {
  readonly member: string;
  readonly record: string;
  readonly held: boolean;
  readonly durationMs: number;
  readonly observedAt: number;
}

export interface RingMembersOptions {
  /** How long a member whose Lease is absent is still presumed live: the ring's lease duration. */
  readonly absentGraceMs: number;
  readonly now?: () => number;
}

export class RingMembers {
  readonly #leases: StoreReader;
  readonly #o: Required<RingMembersOptions>;
  /** By Lease key (namespace/name). */
  readonly #records = new Map<string, LeaseRecord>();
  /** Members objects still name but whose Lease this process has not seen: since when. */
  readonly #absentSince = new Map<string, number>();
  readonly #listeners = new Set<() => void>();
  #live: readonly string[] = [];
  #expiryTimer: ReturnType<typeof setTimeout> | undefined;
  #absentTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #unsubscribe: () => void;

  constructor(leases: StoreReader, options: RingMembersOptions) {
    this.#leases = leases;
    this.#o = { absentGraceMs: options.absentGraceMs, now: options.now ?? Date.now };
    this.#unsubscribe = leases.subscribe((e) => this.#observe(e));
  }

  /** Whether the Lease list is complete: before that, nobody may be judged gone. */
  get synced(): boolean {
    return this.#leases.hasSynced;
  }

  /** Live member names, sorted. */
  live(): readonly string[] {
    return this.#live;
  }

  /**
   * True when `member` can no longer be writing: its Lease was released, or it expired unrenewed, or it has
   * been absent for a whole lease duration. Only then may its objects move without its acknowledgement.
   */
  gone(member: string): boolean {
    if (!this.synced) return false;
    const now = this.#o.now();
    let present = false;
    for (const r of this.#records.values()) {
      if (r.member !== member) continue;
      present = true;
      if (isLive(r, now)) return false;
    }
    if (present) return true;
    const since = this.#absentSince.get(member) ?? now;
    this.#absentSince.set(member, since);
    if (now - since < this.#o.absentGraceMs) {
      // Listeners ask again once the grace is over.
      this.#absentTimer ??= timer(since + this.#o.absentGraceMs - now, () => {
        this.#absentTimer = undefined;
        this.#notify();
      });
      return false;
    }
    return true;
  }

  /** Called whenever the live set changes, or an absent member's grace ends. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#unsubscribe();
    clearTimeout(this.#expiryTimer);
    clearTimeout(this.#absentTimer);
    this.#listeners.clear();
  }

  #observe(e: StoreEvent): void {
    const key = e.object.key;
    if (e.type === 'deleted') {
      this.#records.delete(key);
    } else {
      const next = leaseRecord(e.object, this.#records.get(key), this.#o.now());
      if (next === undefined) this.#records.delete(key);
      else {
        this.#records.set(key, next);
        this.#absentSince.delete(next.member);
      }
    }
    this.#evaluate();
  }

  /** Recomputes the live set and arms a timer for the next expiry; tells listeners when the set changed. */
  #evaluate(): void {
    const now = this.#o.now();
    const live = new Set<string>();
    let nextExpiry = Number.POSITIVE_INFINITY;
    for (const r of this.#records.values()) {
      if (!isLive(r, now)) continue;
      live.add(r.member);
      nextExpiry = Math.min(nextExpiry, r.observedAt + r.durationMs);
    }
    const sorted = [...live].sort();
    const changed = sorted.join('\0') !== this.#live.join('\0');
    this.#live = sorted;
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = Number.isFinite(nextExpiry) ? timer(nextExpiry - now, () => this.#evaluate()) : undefined;
    if (changed) this.#notify();
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }
}

/** A few ms past the boundary, so it never fires at the instant a record is still valid; never holds the process. */
function timer(inMs: number, fn: () => void): ReturnType<typeof setTimeout> {
  const t = setTimeout(fn, Math.max(inMs, 0) + 5);
  t.unref?.();
  return t;
}

function isLive(r: LeaseRecord, now: number): boolean {
  return r.held && r.observedAt + r.durationMs > now;
}

function leaseRecord(obj: CachedObject, previous: LeaseRecord | undefined, now: number): LeaseRecord | undefined {
  const member = obj.labels[MEMBER_LABEL];
  if (member === undefined || member === '') return undefined;
  const spec = (obj.object().spec ?? {}) as {
    holderIdentity?: string;
    renewTime?: string;
    leaseDurationSeconds?: number;
  };
  const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds]);
  const observedAt = previous !== undefined && previous.record === record ? previous.observedAt : now;
  return {
    member,
    record,
    held: typeof spec.holderIdentity === 'string' && spec.holderIdentity !== '',
    durationMs: (spec.leaseDurationSeconds ?? 15) * 1000,
    observedAt,
  };
}
