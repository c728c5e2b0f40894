// Node sharding (`--sharding node`): a host per node, from a DaemonSet, reconciles the primaries that name its node.
//
// No Lease and no leader: the rule each WasmReconciler declares (spec.sharding.node) assigns every primary to
// at most one node, so two hosts never own the same key at the same time except across a move, which the
// handover gate (handover.ts) and the per-key fence (../fence.ts) cover. Status: the host on the first Ready
// Node by name writes every WasmReconciler's status; the others write none, so status has one writer and
// nothing is written for it in steady state.

import type { ReflectorRegistry } from '../../cache/index.ts';
import { isWrError, WrError } from '../../errors.ts';
import { type KubeClient, type Logger, silentLogger } from '../../kube/index.ts';
import type { ShardingRule } from '../../modules/index.ts';
import type { ShardedController, ShardPolicy } from '../policy.ts';
import { CHILD_OWNER_LABEL } from './claim.ts';
import { NodeDirectory } from './nodes.ts';
import { CHILD_NODE_LABEL, NodeOwnership, nodeChildren } from './ownership.ts';

/**
 * How long a key that may have just moved into this host's share waits before its first reconcile here
 * (handover.ts says which do): the longest the old owner's watch may lag the move before the watcher finds
 * it frozen (probe interval 10 s + probe timeout 5 s, watch/watcher.ts).
 */
export const DEFAULT_HANDOVER_MS = 15_000;

export interface NodeShardingOptions {
  /** This host's node (the downward API's spec.nodeName). */
  readonly nodeName: string;
  readonly registry: ReflectorRegistry;
  /**
   * Asks the API server whether it can filter a field path rule (one list of at most one object per config),
   * and finds a moved primary's children (claim.ts).
   */
  readonly client: Pick<KubeClient, 'resource' | 'list'>;
  /** The Nodes the host DaemonSet runs on (its nodeSelector); every Node when absent. */
  readonly nodeSelector?: string;
  readonly handoverMs?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
}

export class NodeShardPolicy implements ShardPolicy {
  readonly mode = 'node';
  readonly nodeName: string;
  readonly #o: NodeShardingOptions;
  readonly #nodes: NodeDirectory;
  readonly #listeners = new Set<() => void>();
  readonly #ownerships = new Set<NodeOwnership>();
  #writes: boolean;
  readonly #offNodes: () => void;

  /** Watches the Nodes; refuses a node name that is not one of them (a host that could own nothing). */
  static async start(options: NodeShardingOptions): Promise<NodeShardPolicy> {
    const nodes = await NodeDirectory.open(options.registry, options.nodeSelector);
    if (!nodes.has(options.nodeName)) {
      nodes.close();
      const selector = options.nodeSelector === undefined ? '' : ` matching ${options.nodeSelector}`;
      throw new WrError(
        'WR_CONFIG_INVALID',
        `--node-name ${options.nodeName} names no Node${selector}: start the host with its own node's name ` +
          '(the downward API spec.nodeName, as NODE_NAME)',
        { details: { nodeName: options.nodeName } },
      );
    }
    if (nodeChildren(options.nodeName) === undefined) {
      (options.logger ?? silentLogger).warn(
        { nodeName: options.nodeName },
        'the node name is longer than a label value (63 characters): children are applied without the node ' +
          'label, and this host caches the owned kinds whole',
      );
    }
    return new NodeShardPolicy(options, nodes);
  }

  private constructor(options: NodeShardingOptions, nodes: NodeDirectory) {
    this.#o = options;
    this.nodeName = options.nodeName;
    this.#nodes = nodes;
    this.#writes = this.#computeWrites();
    this.#offNodes = nodes.onChange(() => {
      const writes = this.#computeWrites();
      if (writes === this.#writes) return;
      this.#writes = writes;
      for (const listener of [...this.#listeners]) listener();
    });
  }

  async ownership(controller: ShardedController, rule: ShardingRule | undefined): Promise<NodeOwnership> {
    if (rule?.node === undefined) {
      throw new WrError(
        'WR_SPEC_INVALID',
        'spec.sharding.node: required when the host runs node-sharded (--sharding node): say which label ' +
          '(e.g. wasmreconciler.dev/node) or field path (e.g. spec.nodeName) names the node of each primary',
        { details: { path: 'spec.sharding.node' } },
      );
    }
    if ('label' in rule.node && (rule.node.label === CHILD_NODE_LABEL || rule.node.label === CHILD_OWNER_LABEL)) {
      throw new WrError(
        'WR_SPEC_INVALID',
        `spec.sharding.node.label: ${rule.node.label} is a label the host sets on children; ` +
          'name the node of each primary with another label (e.g. wasmreconciler.dev/node)',
        { details: { path: 'spec.sharding.node.label' } },
      );
    }
    const ownership = new NodeOwnership({
      nodeName: this.nodeName,
      rule: rule.node,
      fieldSelectable: 'fieldPath' in rule.node && (await this.#fieldSelectable(controller, rule.node.fieldPath)),
      controller,
      registry: this.#o.registry,
      nodes: this.#nodes,
      handoverMs: this.#o.handoverMs ?? DEFAULT_HANDOVER_MS,
      client: this.#o.client,
      counting: () => this.#writes,
      logger: this.#o.logger ?? silentLogger,
      onClose: () => this.#ownerships.delete(ownership),
      ...(this.#o.now === undefined ? {} : { now: this.#o.now }),
    });
    this.#ownerships.add(ownership);
    try {
      await ownership.refreshCount();
    } catch (err) {
      ownership.close();
      throw err;
    }
    return ownership;
  }

  writesStatus(): boolean {
    return this.#writes;
  }

  onStatusWriterChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    for (const o of [...this.#ownerships]) o.close();
    this.#offNodes();
    this.#listeners.clear();
    this.#nodes.close();
  }

  /**
   * Whether the API server filters `path` for this kind: it answers a list with that field selector (400
   * when the field is not selectable: not a built-in field selector, not in the CRD's selectableFields).
   */
  async #fieldSelectable(controller: ShardedController, path: string): Promise<boolean> {
    const resource = await this.#o.client.resource(controller.primary.apiVersion, controller.primary.kind);
    const namespace = controller.namespaces?.[0];
    try {
      await this.#o.client.list(resource, {
        ...(namespace === undefined || !resource.namespaced ? {} : { namespace }),
        fieldSelector: `${path}=${this.nodeName}`,
        limit: 1,
      });
      return true;
    } catch (err) {
      if (isWrError(err, 'WR_KUBE_INVALID')) return false;
      throw err;
    }
  }

  /** The first Ready Node by name writes status; a host whose own Node is not Ready never does. */
  #computeWrites(): boolean {
    return this.#nodes.live()[0] === this.nodeName;
  }
}
