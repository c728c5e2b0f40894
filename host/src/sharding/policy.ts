// The seam between a host's sharding mode and its controllers: which primaries a controller reconciles on this host.
//
// A host runs in one mode (`--sharding none | node | replicas`). The mode is a ShardPolicy; it hands every
// controller config an Ownership, and the controller (host/src/controller/controller.ts) consults it at
// exactly four points:
//
//  1. watch:  `selector` is ANDed into the primary watch's label selector, so the API server sends only this
//             host's share and the cache (memory) scales with it. Undefined when the rule is not a label.
//             A mode that labels children too (`children`) has the owned kinds' watches narrowed the same
//             way, and the executor sets `children.labels` last on every child it applies, over whatever the
//             reconciler rendered, so a guest can neither forge nor drop them. An owned kind that a related
//             watch of the controller caches whole stays whole: a second, narrowed cache would add memory.
//  2. intake: `owns(primary)` is asked before a key is queued and again just before it runs: rules the API
//             server cannot filter (a field path, a hash over members) and answers that changed since.
//  3. start:  `admit(key, primary)` is asked before every reconcile of an owned key. 0 means go; a positive
//             number is a wait in ms, after which the key is asked again. A key that moved here is held this
//             way until its previous owner has stopped it (how a mode knows, or bounds, that is the mode's
//             business). A mode that judges by when its rule's field last changed names it in `trackField`:
//             the primary cache then keeps that time (CachedObject.fieldChangedAt) from managedFields.
//     arrive: a mode whose children carry the share's label (`children`) may also `claim` a key that was
//             just admitted, once per arrival, before its first reconcile here: a moved primary's children
//             still carry the old share's label, outside this host's watch, so its reconciler would see none
//             (and prune none it no longer renders) until they are brought into this share's cache.
//  4. leave:  when a key leaves the share (its primary leaves the selector watch, or `owns` turns false) the
//             controller fences it at once: every write of a reconcile of that key still in flight is refused
//             from then on (WR_SHARD_MOVED), so nothing this host sends after it saw the move can land. It then
//             calls `left(key)`, so the mode can forget or acknowledge the key.
//
// `onChange` is for answers that change without any event of the primary (a member joined or left): the
// controller then re-asks `owns` of every cached primary, fencing those it no longer owns and queueing
// those it gained. Status: `writesStatus()` says whether this host writes the WasmReconciler's status
// (exactly one host does), and `unassigned()` counts primaries no host reconciles, so they are reported,
// not silently dropped (a count that changes fires the Ownership's `onChange`, and the status is written again).
//
// A mode without sharding needs none of this: the controller takes "no policy" as owning everything.

import type { CachedObject, CacheHandle, LabelSelector } from '../cache/index.ts';
import type { ExecutorClient } from '../executor/index.ts';
import type { KindRef } from '../kube/gvk.ts';
import type { ShardingRule } from '../modules/index.ts';

/** The controller an Ownership is for: its name (metric label, field manager) and its primary kind. */
export interface ShardedController {
  readonly name: string;
  readonly primary: { readonly apiVersion: string; readonly kind: string; readonly labelSelector?: LabelSelector };
  /** The namespaces the controller watches (empty or absent: all): where a mode that labels primaries labels them. */
  readonly namespaces?: readonly string[];
  /** The kinds the controller owns (its children): a mode that labels children labels these. */
  readonly owns?: readonly { readonly apiVersion: string; readonly kind: string }[];
}

export interface ShardPolicy {
  /** `node`, `replicas`: what /metrics and logs call the mode. */
  readonly mode: string;
  /**
   * The Ownership of one controller config's primaries. `rule` is the WasmReconciler's spec.sharding (a mode
   * that needs one refuses its absence with WR_SPEC_INVALID). Closed by the controller when the config is
   * replaced or stopped.
   */
  ownership(controller: ShardedController, rule: ShardingRule | undefined): Promise<Ownership>;
  /** Whether this host is the one that writes WasmReconciler status. */
  writesStatus(): boolean;
  /** Called whenever writesStatus() may have changed; returns the unsubscribe function. */
  onStatusWriterChange(listener: () => void): () => void;
  close(): Promise<void>;
}

export interface Ownership {
  /** Label selector text ANDed into the primary watch (e.g. `wasmreconciler.dev/node=edge-1`). */
  readonly selector: string | undefined;
  /** A field selector for the primary watch, where the API server filters the rule's field (`spec.nodeName=edge-1`). */
  readonly fieldSelector?: string;
  /** A field of the primary (object path) whose last change the primary cache records for `admit`. */
  readonly trackField?: readonly string[];
  /**
   * Children of this share carry `labels`, and `ownerLabel` with their controller owner's UID when set (how
   * `claim` finds them outside the share); `selector` (text) is ANDed into the owned kinds' watches.
   */
  readonly children?: {
    readonly selector: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly ownerLabel?: string;
  };
  owns(primary: CachedObject): boolean;
  /** 0: the key (cached as `primary`) may start now; otherwise ms to wait before asking again. */
  admit(key: string, primary: CachedObject): number;
  /**
   * Called after `admit` let `key` start, before its reconcile (in its fence: a claim cut short by a move
   * writes nothing after it). Undefined when there is nothing to do (the hot path: no await); otherwise the
   * reconcile waits for the promise, and a rejection fails the reconcile, which is retried.
   */
  claim?(key: string, primary: CachedObject, children: ClaimTarget): Promise<void> | undefined;
  /**
   * The controller has fenced `key`: it left the share (or its primary is gone). `settled` resolves once the
   * fenced reconcile of it, if one was running, has ended (a mode that hands the key over waits for it).
   */
  left(key: string, settled: Promise<void>): void;
  /** Primaries matching no host, as far as this host can tell; undefined when it does not count them. */
  unassigned(): number | undefined;
  /** Called when `owns` or `unassigned` may have changed for objects that saw no event. */
  onChange(listener: () => void): () => void;
  close(): void;
}

/** What a claim works on: the controller's owned-kind caches and its (fenced) write client. */
export interface ClaimTarget {
  readonly owned: readonly {
    readonly kind: KindRef;
    readonly handles: readonly Pick<CacheHandle, 'subscribe'>[];
    /** Cached children whose controller owner has `uid` (namespace undefined: every namespace in scope). */
    byOwner(uid: string, namespace: string | undefined): readonly CachedObject[];
  }[];
  readonly client: Pick<ExecutorClient, 'patchMetadata'>;
}
