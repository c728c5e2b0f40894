// The cluster's Nodes as node sharding needs them: every name a primary may be assigned to, and which are Ready.
//
// Liveness is the kubelet's own: a Node's Ready condition, which the node lifecycle controller turns Unknown
// when the kubelet stops renewing its heartbeat. The hosts write nothing for it.

import type { CachedObject, CacheHandle, ReflectorRegistry, StoreEvent } from '../../cache/index.ts';

interface NodeCondition {
  readonly type?: string;
  readonly status?: string;
}

function isReady(node: CachedObject): boolean {
  const conditions = (node.object().status as { conditions?: NodeCondition[] } | undefined)?.conditions ?? [];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

export class NodeDirectory {
  readonly #handle: CacheHandle;
  readonly #listeners = new Set<() => void>();
  readonly #unsubscribe: () => void;
  /** Every Node by name: whether it is Ready. Kept per event, so a heartbeat costs one object, not all. */
  readonly #ready = new Map<string, boolean>();
  #live: readonly string[] = [];

  /** Watches the Nodes `selector` matches (the nodes the host DaemonSet runs on; all when absent). */
  static async open(registry: ReflectorRegistry, selector: string | undefined): Promise<NodeDirectory> {
    const handle = await registry.acquire({
      apiVersion: 'v1',
      kind: 'Node',
      ...(selector === undefined || selector === '' ? {} : { labelSelector: selector }),
    });
    try {
      await handle.synced;
    } catch (err) {
      handle.release();
      throw err;
    }
    return new NodeDirectory(handle);
  }

  private constructor(handle: CacheHandle) {
    this.#handle = handle;
    // Subscribed before the first read, so no event falls between the two.
    this.#unsubscribe = handle.subscribe((e) => this.#observe(e), { replay: false });
    for (const node of handle.reader.list()) this.#ready.set(node.name, isReady(node));
    this.#live = this.#liveNames();
  }

  /** Whether `name` is a Node (Ready or not): a primary naming one is assigned. */
  has(name: string): boolean {
    return this.#ready.has(name);
  }

  /** Every Node name, sorted. */
  known(): readonly string[] {
    return [...this.#ready.keys()].sort();
  }

  /** Names of the Ready Nodes, sorted. */
  live(): readonly string[] {
    return this.#live;
  }

  /** Called when a Node came or went, or its readiness changed (not on heartbeats that change neither). */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#unsubscribe();
    this.#listeners.clear();
    this.#handle.release();
  }

  #observe(e: StoreEvent): void {
    const name = e.object.name;
    const before = this.#ready.get(name);
    if (e.type === 'deleted') this.#ready.delete(name);
    else this.#ready.set(name, isReady(e.object));
    if (before === this.#ready.get(name)) return;
    this.#live = this.#liveNames();
    for (const listener of [...this.#listeners]) listener();
  }

  #liveNames(): readonly string[] {
    return [...this.#ready]
      .filter(([, ready]) => ready)
      .map(([name]) => name)
      .sort();
  }
}
