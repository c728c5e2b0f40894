// NodeShardPolicy against a fake API server's Nodes: the host on the first Ready Node writes status, and the
// role moves with readiness; a node name that is no Node is refused; a reconciler without a rule is refused;
// children carry the host's node label and their owner's UID (neither when the node name cannot be a label value).

import assert from 'node:assert/strict';
import type http from 'node:http';
import { afterEach, describe, it } from 'node:test';
import { until } from '../../../../test/support/wait.ts';
import type { KubeObject } from '../../abi/types.ts';
import { ReflectorRegistry } from '../../cache/index.ts';
import { isWrError } from '../../errors.ts';
import { KubeClient } from '../../kube/client.ts';
import { beginWatch, sendJson, startFakeApiServer, writeEvent } from '../../kube/testing/fake-api-server.ts';
import { httpTransport } from '../../kube/transport.ts';
import { CHILD_OWNER_LABEL } from './claim.ts';
import { CHILD_NODE_LABEL } from './ownership.ts';
import { NodeShardPolicy } from './policy.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function node(name: string, ready: boolean, resourceVersion: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, resourceVersion },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'Unknown' }] },
  } as KubeObject;
}

/** A fake API server serving Nodes: discovery, one list, and watches the test writes events to. */
async function nodesServer(items: KubeObject[]) {
  const watches: http.ServerResponse[] = [];
  const server = await startFakeApiServer((req, res) => {
    if (req.path === '/api/v1') {
      sendJson(res, 200, {
        resources: [
          { name: 'nodes', kind: 'Node', namespaced: false },
          // The primaries of the ownerships asked for; any list answers with the Nodes, which is all a field
          // rule's probe (is the field selectable?) reads.
          { name: 'configmaps', kind: 'ConfigMap', namespaced: true },
        ],
      });
    } else if (req.query.get('watch') === 'true') {
      beginWatch(res);
      watches.push(res);
    } else {
      sendJson(res, 200, { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items });
    }
  });
  const client = new KubeClient(httpTransport({ server: server.url }));
  const registry = new ReflectorRegistry(client, { watcher: { initialSync: 'list' } });
  cleanups.push(async () => {
    await registry.close();
    client.close();
    await server.close();
  });
  const start = async (nodeName: string) => {
    const policy = await NodeShardPolicy.start({ registry, client, nodeName });
    cleanups.push(() => policy.close());
    return policy;
  };
  /** Sends `object` as a MODIFIED event on every open watch. */
  const modify = (object: KubeObject) => {
    for (const res of watches) writeEvent(res, 'MODIFIED', object);
  };
  return { start, modify, watching: () => watches.length > 0 };
}

describe('NodeShardPolicy', () => {
  it('the host on the first Ready Node by name writes status, and the role follows readiness', async () => {
    const api = await nodesServer([node('edge-b', true, '3'), node('edge-a', true, '4'), node('edge-c', true, '5')]);
    const a = await api.start('edge-a');
    const b = await api.start('edge-b');
    assert.equal(a.writesStatus(), true);
    assert.equal(b.writesStatus(), false);
    let changes = 0;
    b.onStatusWriterChange(() => changes++);
    await until('the Node watches are open', api.watching);
    api.modify(node('edge-a', false, '11'));
    await until('edge-b takes over', () => b.writesStatus());
    assert.equal(a.writesStatus(), false, 'a host whose Node is not Ready never writes');
    api.modify(node('edge-c', false, '12'));
    api.modify(node('edge-a', true, '13'));
    await until('edge-a writes again', () => a.writesStatus());
    assert.equal(b.writesStatus(), false);
    assert.equal(changes, 2, 'told once when it became the writer and once when it stopped; not for edge-c');
  });

  it('refuses a node name that is no Node, and a reconciler that declares no node rule', async () => {
    const api = await nodesServer([node('edge-a', true, '3')]);
    await assert.rejects(api.start('edge-z'), (err) => isWrError(err, 'WR_CONFIG_INVALID'));
    const policy = await api.start('edge-a');
    await assert.rejects(
      policy.ownership({ name: 'apps', primary: { apiVersion: 'v1', kind: 'ConfigMap' } }, undefined),
      (err) => isWrError(err, 'WR_SPEC_INVALID'),
    );
    await assert.rejects(
      policy.ownership({ name: 'apps', primary: { apiVersion: 'v1', kind: 'ConfigMap' } }, {}),
      (err) => isWrError(err, 'WR_SPEC_INVALID'),
    );
  });

  it('labels children with its node and their owner under either rule, refuses a rule that is either label, labels none for a long name', async () => {
    // 64 characters: a valid Node name (a DNS subdomain), but no label value.
    const long = `edge-${'x'.repeat(59)}`;
    const api = await nodesServer([node('edge-a', true, '3'), node('edge-b', true, '4'), node(long, true, '5')]);
    // Neither host writes status (edge-a does), so neither opens a watch of unassigned primaries here.
    const b = await api.start('edge-b');
    const controller = { name: 'apps', primary: { apiVersion: 'v1', kind: 'ConfigMap' } };
    const expected = {
      selector: `${CHILD_NODE_LABEL}=edge-b`,
      labels: { [CHILD_NODE_LABEL]: 'edge-b' },
      ownerLabel: CHILD_OWNER_LABEL,
    };
    const byLabel = await b.ownership(controller, { node: { label: 'wasmreconciler.dev/node' } });
    assert.deepEqual(byLabel.children, expected);
    assert.equal(byLabel.selector, 'wasmreconciler.dev/node=edge-b', 'the primaries are still selected by the rule');
    byLabel.close();
    const byField = await b.ownership(controller, { node: { fieldPath: 'spec.nodeName' } });
    assert.deepEqual(byField.children, expected);
    byField.close();
    for (const label of [CHILD_NODE_LABEL, CHILD_OWNER_LABEL]) {
      await assert.rejects(b.ownership(controller, { node: { label } }), (err) => isWrError(err, 'WR_SPEC_INVALID'));
    }
    const unlabelled = await (await api.start(long)).ownership(controller, {
      node: { label: 'wasmreconciler.dev/node' },
    });
    assert.equal(unlabelled.children, undefined, 'children unlabelled, owned kinds cached whole');
    unlabelled.close();
  });
});
