// One controller's share under node sharding: the primaries whose node label or field names this host's node.
//
// A label rule is a server-side selector (`<label>=<node>`), so the cache holds only this node's primaries.
// So is a field path the API server can select on (a Pod's spec.nodeName, a CRD's selectableFields):
// `<path>=<node>`. Any other field path is compared here, on every cached primary, and each host then caches
// every primary (docs/operations.md, Node sharding, says when to prefer a label). The status writer also
// counts the primaries that name no Node (none at all, or one that does not exist): server-side, through a
// second watch that holds only those (`<label> notin (<every Node>)`, `<path>!=<node>,...`), or by
// comparing in the cache it already holds.
//
// Children (the owned kinds) carry CHILD_NODE_LABEL=<this node> and CHILD_OWNER_LABEL=<their primary's UID>:
// the executor sets both last on every child it applies, and the owned kinds' watches select the first, so
// each host caches only the children of its own share. A move brings them along before the new owner's first
// reconcile (claim.ts): found by the owner label, relabelled in one write each, and waited for in this host's
// cache, so that reconcile sees (and may prune) what the old owner left; the old owner's watch drops them,
// and its executor has forgotten them (controller.ts, on leave). The handover gate orders the two: the old
// owner has seen the primary leave, and fenced it, before the new one writes.

import { type CachedObject, type CacheHandle, type ReflectorRegistry, SET_AT_CREATION } from '../../cache/index.ts';
import { errorFields } from '../../errors.ts';
import type { Logger } from '../../kube/index.ts';
import type { NodeShardingRule } from '../../modules/index.ts';
import type { ClaimTarget, Ownership, ShardedController } from '../policy.ts';
import { CHILD_OWNER_LABEL, type ClaimOptions, claimChildren } from './claim.ts';
import { HandoverGate } from './handover.ts';
import type { NodeDirectory } from './nodes.ts';

/**
 * The label on every child a node-sharded host applies; its value is the host's node. Not the rule's label,
 * even when the rule is one (e.g. wasmreconciler.dev/node): the rule's label assigns primaries, so a child
 * carrying it would become a primary of any node-sharded reconciler whose primaries are of the child's kind
 * and whose rule is that label; and the rule's label is set by whoever places primaries, this one only by
 * the host (an apply sets it over what the guest rendered). A field path rule has no label at all: one key
 * serves both. In the `sharding.wasmreconciler.dev/` family of the host's fixed keys, apart from the
 * `shard.`/`drain.` keys of replica rings, whose name part is a ring anyone may call "node".
 */
export const CHILD_NODE_LABEL = 'sharding.wasmreconciler.dev/node';

/** A label value: a node name (a DNS subdomain, up to 253 characters) is one only up to 63. */
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/**
 * What the children of `nodeName`'s share carry and are watched by; undefined when the node name cannot be a
 * label value: that host then applies children without the label and caches the owned kinds whole.
 */
export function nodeChildren(nodeName: string): Ownership['children'] {
  if (!LABEL_VALUE.test(nodeName)) return undefined;
  return {
    selector: `${CHILD_NODE_LABEL}=${nodeName}`,
    labels: { [CHILD_NODE_LABEL]: nodeName },
    ownerLabel: CHILD_OWNER_LABEL,
  };
}

/** A claim's wait for this host's watch: past it the reconcile runs without the children (they follow). */
const DEFAULT_CLAIM_CACHE_WAIT_MS = 10_000;

/** Unassigned counts are compared (and status written) at most this often while primaries change. */
const COUNT_DEBOUNCE_MS = 1_000;

export interface NodeOwnershipOptions {
  readonly nodeName: string;
  readonly rule: NodeShardingRule;
  /** A field path rule the API server can filter as a field selector. */
  readonly fieldSelectable: boolean;
  readonly controller: ShardedController;
  readonly registry: ReflectorRegistry;
  readonly nodes: NodeDirectory;
  readonly handoverMs: number;
  /** Lists a moved primary's children outside the share (claim.ts). */
  readonly client: ClaimOptions['client'];
  /** The longest a claim waits for this host's watch to deliver the children it relabelled. */
  readonly claimCacheWaitMs?: number;
  /** Whether this host writes status (and so counts unassigned primaries). */
  readonly counting: () => boolean;
  readonly logger: Logger;
  /** Called once by close(). */
  readonly onClose: () => void;
  readonly now?: () => number;
}

/** The value at a dotted path of a primary, when it is a string. */
function valueAt(object: unknown, path: readonly string[]): string | undefined {
  let v: unknown = object;
  for (const field of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[field];
  }
  return typeof v === 'string' ? v : undefined;
}

export class NodeOwnership implements Ownership {
  readonly selector: string | undefined;
  readonly fieldSelector: string | undefined;
  /** The rule's field: the primary cache keeps when it last changed, which decides the handover (handover.ts). */
  readonly trackField: readonly string[];
  readonly children: Ownership['children'];
  readonly #o: NodeOwnershipOptions;
  readonly #gate: HandoverGate;
  readonly #listeners = new Set<() => void>();
  readonly #path: readonly string[] | undefined;
  /** A field path's value per cached object (CachedObject instances are replaced on every update). */
  readonly #values = new WeakMap<CachedObject, string | undefined>();
  #counter: UnassignedWatch | undefined;
  #counterBuilding: Promise<void> | undefined;
  #lastCount: number | undefined;
  #debounce: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly #offNodes: () => void;
  /** Keys of the share whose arrival needs no claim, or whose claim is done (until they leave). */
  readonly #settled = new Set<string>();

  constructor(options: NodeOwnershipOptions) {
    this.#o = options;
    this.#gate = new HandoverGate(options.handoverMs, options.now);
    const rule = options.rule;
    this.selector = 'label' in rule ? `${rule.label}=${options.nodeName}` : undefined;
    this.#path = 'fieldPath' in rule ? rule.fieldPath.split('.') : undefined;
    this.trackField = this.#path ?? ['metadata', 'labels', (rule as { label: string }).label];
    this.fieldSelector =
      'fieldPath' in rule && options.fieldSelectable ? `${rule.fieldPath}=${options.nodeName}` : undefined;
    this.children = nodeChildren(options.nodeName);
    // A Node that came or went changes what "unassigned" means; a new status writer starts counting.
    this.#offNodes = options.nodes.onChange(() => {
      this.refreshCount().catch((err: unknown) =>
        // The count keeps its last watch; the next Node change or writer change tries again.
        options.logger.warn(
          { ...errorFields(err), controller: options.controller.name },
          'could not watch unassigned primaries',
        ),
      );
    });
  }

  /** The node a primary names under the rule, or undefined. */
  nodeOf(primary: CachedObject): string | undefined {
    if (this.#path === undefined) return primary.labels[(this.#o.rule as { label: string }).label];
    if (this.#values.has(primary)) return this.#values.get(primary);
    const value = valueAt(primary.object(), this.#path);
    this.#values.set(primary, value);
    return value;
  }

  owns(primary: CachedObject): boolean {
    return this.nodeOf(primary) === this.#o.nodeName;
  }

  admit(key: string, primary: CachedObject): number {
    return this.#gate.admit(key, primary.fieldChangedAt);
  }

  claim(key: string, primary: CachedObject, target: ClaimTarget): Promise<void> | undefined {
    const children = this.children;
    if (children === undefined || this.#settled.has(key)) return undefined;
    const uid = primary.uid;
    const ns = primary.namespace === '' ? undefined : primary.namespace;
    // Never owned elsewhere, or a host that already caches some of its children (a restart, a move back
    // before the other host wrote): nothing to claim.
    if (
      uid === undefined ||
      primary.fieldChangedAt === SET_AT_CREATION ||
      target.owned.some((c) => c.byOwner(uid, c.kind.namespaced ? ns : undefined).length > 0)
    ) {
      this.#settled.add(key);
      return undefined;
    }
    const options: ClaimOptions = {
      client: this.#o.client,
      label: CHILD_NODE_LABEL,
      nodeName: this.#o.nodeName,
      namespaces: this.#o.controller.namespaces ?? [],
      cacheWaitMs: this.#o.claimCacheWaitMs ?? DEFAULT_CLAIM_CACHE_WAIT_MS,
    };
    return claimChildren(options, primary, target).then(({ relabelled, cached }) => {
      this.#settled.add(key);
      if (relabelled === 0) return;
      const fields = { controller: this.#o.controller.name, key, children: relabelled };
      if (cached) this.#o.logger.debug(fields, 'claimed the children of a primary that moved here');
      // The watch delivers them later; each one's event then queues the primary again (EventMapper.child).
      else this.#o.logger.warn(fields, 'claimed children were not cached in time; reconciling without them');
    });
  }

  left(key: string): void {
    this.#gate.forget(key);
    this.#settled.delete(key);
  }

  unassigned(): number | undefined {
    const counter = this.#counter;
    if (counter === undefined) return undefined;
    if (this.#path === undefined || this.fieldSelector !== undefined) return counter.size();
    let n = 0;
    for (const primary of counter.list()) {
      const node = this.nodeOf(primary);
      if (node === undefined || !this.#o.nodes.has(node)) n++;
    }
    return n;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts, rebuilds or stops the unassigned watch to match the Nodes and whether this host counts. */
  refreshCount(): Promise<void> {
    const step = async () => {
      if (this.#closed) return;
      const counting = this.#o.counting();
      const selector = counting ? this.#unassignedSelector() : undefined;
      if (this.#counter?.selector.key === selector?.key) return;
      const next =
        selector === undefined ? undefined : await UnassignedWatch.open(this.#o, selector, () => this.#changed());
      if (this.#closed) {
        next?.close();
        return;
      }
      this.#counter?.close();
      this.#counter = next;
      this.#changed();
    };
    const previous = this.#counterBuilding ?? Promise.resolve();
    const building = previous.then(step, step);
    this.#counterBuilding = building.catch(() => undefined);
    return building;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#o.onClose();
    clearTimeout(this.#debounce);
    this.#offNodes();
    this.#listeners.clear();
    this.#counter?.close();
    this.#counter = undefined;
  }

  /**
   * A label rule watches only the primaries naming no Node (`notin` also matches objects without the label),
   * a selectable field likewise (`!=` also matches an empty field). Any other field path reads the
   * controller's own cache (the same reflector: no second copy) and compares.
   */
  #unassignedSelector(): UnassignedSelector {
    const labels = this.#o.controller.primary.labelSelector?.toString() ?? '';
    const known = this.#o.nodes.known();
    let fields = '';
    let requirement = '';
    const rule = this.#o.rule;
    if ('label' in rule) {
      requirement = known.length === 0 ? '' : `${rule.label} notin (${known.join(',')})`;
    } else if (this.fieldSelector !== undefined) {
      fields = known.map((node) => `${rule.fieldPath}!=${node}`).join(',');
    }
    const label = [labels, requirement].filter((s) => s !== '').join(',');
    return { label, fields, key: `${label}|${fields}` };
  }

  /** Tells the controller (and so the status writer) once the count settles, and only if it moved. */
  #changed(): void {
    if (this.#debounce !== undefined || this.#closed) return;
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      const count = this.unassigned();
      if (count === this.#lastCount) return;
      this.#lastCount = count;
      for (const listener of [...this.#listeners]) listener();
    }, COUNT_DEBOUNCE_MS);
    this.#debounce.unref?.();
  }
}

/** What the unassigned watch selects; `key` tells two apart. */
interface UnassignedSelector {
  readonly label: string;
  readonly fields: string;
  readonly key: string;
}

/** The watch behind an unassigned count: one handle per watched namespace (one for all, or a cluster-scoped kind). */
class UnassignedWatch {
  readonly selector: UnassignedSelector;
  readonly #handles: readonly CacheHandle[];
  readonly #unsubscribe: readonly (() => void)[];

  static async open(
    o: NodeOwnershipOptions,
    selector: UnassignedSelector,
    changed: () => void,
  ): Promise<UnassignedWatch> {
    const namespaces = o.controller.namespaces ?? [];
    const handles: CacheHandle[] = [];
    try {
      for (const namespace of namespaces.length === 0 ? [undefined] : namespaces) {
        const handle = await o.registry.acquire({
          apiVersion: o.controller.primary.apiVersion,
          kind: o.controller.primary.kind,
          ...(namespace === undefined ? {} : { namespace }),
          ...(selector.label === '' ? {} : { labelSelector: selector.label }),
          ...(selector.fields === '' ? {} : { fieldSelector: selector.fields }),
        });
        handles.push(handle);
        if (!handle.resource.namespaced) break;
      }
      await Promise.all(handles.map((h) => h.synced));
    } catch (err) {
      for (const h of handles) h.release();
      throw err;
    }
    return new UnassignedWatch(selector, handles, changed);
  }

  private constructor(selector: UnassignedSelector, handles: readonly CacheHandle[], changed: () => void) {
    this.selector = selector;
    this.#handles = handles;
    this.#unsubscribe = handles.map((h) => h.subscribe(() => changed(), { replay: false }));
  }

  size(): number {
    return this.#handles.reduce((n, h) => n + h.reader.size, 0);
  }

  list(): CachedObject[] {
    return this.#handles.flatMap((h) => h.reader.list());
  }

  close(): void {
    for (const off of this.#unsubscribe) off();
    for (const h of this.#handles) h.release();
  }
}
