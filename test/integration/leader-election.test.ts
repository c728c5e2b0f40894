// Lease leader election on the real apiserver: one leader, fast hand-over on release, no overlap on loss.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isWrError } from '../../host/src/errors.ts';
import { KubeClient } from '../../host/src/kube/index.ts';
import { LeaderElector } from '../../host/src/leader/index.ts';
import { createTestNamespace, getTestCluster, waitFor } from '../support/cluster.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';

const TIMING = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 250 };

test('one leader at a time: a standby waits, takes over at once on release, and only after expiry on loss', async (t) => {
  const namespace = await createTestNamespace(t, 'lease');
  const kubeConfig = await getTestCluster();
  const server = new URL(kubeConfig.getCurrentCluster()!.server);
  const proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port) });
  t.after(() => proxy.close());
  // A talks through the proxy, so the test can cut it off from the apiserver; B talks directly.
  const clientA = await KubeClient.fromKubeConfig(kubeConfig, {
    server: `https://127.0.0.1:${proxy.port}`,
    servername: server.hostname,
    requestTimeoutMs: 1000,
    maxRetries: 0,
  });
  const clientB = await KubeClient.fromKubeConfig(kubeConfig);
  t.after(() => {
    clientA.close();
    clientB.close();
  });
  const lease = { namespace, name: 'host' };
  const a = new LeaderElector(clientA, { ...lease, ...TIMING, identity: 'a' });
  const b = new LeaderElector(clientB, { ...lease, ...TIMING, identity: 'b' });
  t.after(() => Promise.all([a.stop(), b.stop()]));

  await a.acquire();
  const bAcquired = b.acquire();
  let overlap = false;
  const watchOverlap = setInterval(() => {
    if (a.leading && b.leading) overlap = true;
  }, 10);
  t.after(() => clearInterval(watchOverlap));
  const aHold = a.hold();
  await sleep(TIMING.leaseDurationMs + 1000);
  assert.equal(b.leading, false, 'a renewing leader keeps the lease past its duration');

  // Loss: A cannot reach the apiserver; it steps down after renewDeadline, B leads after the lease expires.
  proxy.pause();
  assert.equal(await aHold, 'lost');
  assert.equal(a.leading, false);
  await bAcquired;
  assert.equal(b.leading, true);
  assert.equal(overlap, false, 'never two leaders at once');
  proxy.resume();

  // Release: B steps down on stop(); a new standby takes over without waiting for expiry.
  const c = new LeaderElector(clientB, { ...lease, ...TIMING, identity: 'c' });
  t.after(() => c.stop());
  const cAcquired = c.acquire();
  await sleep(500);
  assert.equal(c.leading, false);
  await b.stop();
  await cAcquired;
  const leases = await clientB.resource('coordination.k8s.io/v1', 'Lease');
  const record = await waitFor(() => clientB.get(leases, namespace, 'host'));
  assert.equal((record.spec as { holderIdentity: string }).holderIdentity, 'c');
  assert.equal(
    (record.spec as { leaseTransitions: number }).leaseTransitions,
    2,
    'a -> b, then b -> c (as client-go counts)',
  );
});

test('invalid timings are refused with a typed error', async () => {
  const client = await KubeClient.fromKubeConfig(await getTestCluster());
  try {
    assert.throws(
      () =>
        new LeaderElector(client, {
          namespace: 'x',
          name: 'y',
          identity: 'z',
          leaseDurationMs: 1000,
          renewDeadlineMs: 2000,
        }),
      (err: unknown) => isWrError(err, 'WR_CONFIG_INVALID'),
    );
  } finally {
    client.close();
  }
});
