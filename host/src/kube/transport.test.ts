// httpTransport over TLS: one SecureContext for every connection, verification unchanged, bad material refused early.

import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, mock, test } from 'node:test';
import tls from 'node:tls';
import { createTestCa, type TestCa } from '../../../test/support/test-ca.ts';
import { isWrError } from '../errors.ts';
import { httpTransport, type Transport } from './transport.ts';

let ca: TestCa;
let other: TestCa;
let server: https.Server;
let url: string;

before(async () => {
  ca = createTestCa();
  other = createTestCa();
  const leaf = ca.issue('apiserver');
  server = https.createServer({ cert: leaf.cert, key: leaf.key }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server?.closeAllConnections();
  server?.close();
  ca?.dispose();
  other?.dispose();
});

async function get(transport: Transport, dedicated: boolean): Promise<string> {
  const res = await transport.request({ method: 'GET', path: '/', headers: {}, dedicated });
  let body = '';
  for await (const chunk of res.body) body += chunk.toString();
  return body;
}

test('every connection, pooled or dedicated, shares the one SecureContext made from the kubeconfig', async (t) => {
  const made = mock.method(tls, 'createSecureContext');
  t.after(() => made.mock.restore());
  const transport = httpTransport({ server: url, tls: { ca: ca.cert } });
  t.after(() => transport.close());
  const contexts = made.mock.callCount();
  // Dedicated requests dial a connection each, as watches do.
  for (let i = 0; i < 3; i++) assert.equal(await get(transport, true), 'ok');
  assert.equal(await get(transport, false), 'ok');
  assert.equal(contexts, 1, 'one context, made with the transport');
  assert.equal(made.mock.callCount(), contexts, 'no context per connection');
});

test('the shared context still verifies the server against the kubeconfig CA only', async (t) => {
  const transport = httpTransport({ server: url, tls: { ca: other.cert } });
  t.after(() => transport.close());
  await assert.rejects(get(transport, true), (err: NodeJS.ErrnoException) => /certificate/i.test(err.message));
  const insecure = httpTransport({ server: url, tls: { ca: other.cert, rejectUnauthorized: false } });
  t.after(() => insecure.close());
  assert.equal(await get(insecure, true), 'ok', 'insecure-skip-tls-verify is kept');
});

test('a certificate or key that cannot be parsed is refused when the transport is made: WR_KUBE_CONFIG', () => {
  assert.throws(
    () => httpTransport({ server: url, tls: { cert: 'not a certificate', key: 'not a key' } }),
    (err: unknown) => isWrError(err, 'WR_KUBE_CONFIG') && /TLS material/.test((err as Error).message),
  );
});
