// Tests the https URL source against a local node:https server whose certificate comes from a test CA.

import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { freePort } from '../../../../test/support/registry.ts';
import { createTestCa, type TestCa } from '../../../../test/support/test-ca.ts';
import { wasmWithPayload } from '../../../../test/support/wasm-bytes.ts';
import { sha256Digest } from '../../digest.ts';
import { isWrError } from '../../errors.ts';
import type { UrlSource } from '../spec.ts';
import { fetchUrlModule } from './url.ts';

const MODULE = wasmWithPayload('served over https');
const CHUNK = Buffer.alloc(16 * 1024, 1);
const STREAM_CHUNKS = 640;

let ca: TestCa;
let server: https.Server;
let base: string;
/** Set by the streaming handler: how many chunks it wrote before the client hung up. */
let streamed = { written: 0, closedEarly: false };

function code(c: string) {
  return (err: unknown) => {
    assert.ok(isWrError(err), `expected a WrError, got ${String(err)}`);
    assert.equal(err.code, c, err.message);
    return true;
  };
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  switch (req.url) {
    case '/module.wasm':
      res.writeHead(200, { 'content-type': 'application/wasm' }).end(MODULE);
      return;
    case '/declared-huge.wasm':
      res.writeHead(200, { 'content-length': String(100 * 1024 * 1024) });
      res.write(CHUNK);
      return;
    case '/stream.wasm': {
      // No Content-Length: only counting while streaming can stop this one.
      res.writeHead(200, { 'content-type': 'application/wasm' });
      streamed = { written: 0, closedEarly: false };
      res.on('close', () => {
        streamed.closedEarly = streamed.written < STREAM_CHUNKS;
      });
      const pump = (): void => {
        while (streamed.written < STREAM_CHUNKS && !res.destroyed) {
          streamed.written++;
          if (!res.write(CHUNK)) {
            res.once('drain', pump);
            return;
          }
        }
        if (!res.destroyed) res.end();
      };
      pump();
      return;
    }
    case '/moved':
      res.writeHead(302, { location: '/module.wasm' }).end();
      return;
    case '/downgrade':
      res.writeHead(301, { location: `http://${req.headers.host}/module.wasm` }).end();
      return;
    case '/loop':
      res.writeHead(302, { location: '/loop' }).end();
      return;
    case '/hang':
      return;
    case '/error':
      res.writeHead(503).end();
      return;
    default:
      res.writeHead(404).end('not here');
  }
}

before(async () => {
  ca = createTestCa();
  const cert = ca.issue('module-server');
  server = https.createServer({ cert: cert.cert, key: cert.key }, handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  ca.dispose();
});

function source(path: string, digest = sha256Digest(MODULE)): UrlSource {
  return { type: 'url', url: `${base}${path}`, digest };
}

test('fetches a module whose sha256 matches', async () => {
  const m = await fetchUrlModule(source('/module.wasm'), { maxBytes: 1024, ca: ca.cert });
  assert.deepEqual(Buffer.from(m.bytes), MODULE);
  assert.equal(m.digest, sha256Digest(MODULE));
});

test('follows an https redirect on the same server', async () => {
  const m = await fetchUrlModule(source('/moved'), { maxBytes: 1024, ca: ca.cert });
  assert.deepEqual(Buffer.from(m.bytes), MODULE);
});

test('a sha256 mismatch is WR_SOURCE_DIGEST_MISMATCH', async () => {
  await assert.rejects(
    fetchUrlModule(source('/module.wasm', sha256Digest(Buffer.from('other'))), { maxBytes: 1024, ca: ca.cert }),
    code('WR_SOURCE_DIGEST_MISMATCH'),
  );
});

test('a body past the limit is aborted mid-stream with WR_MODULE_TOO_LARGE', async () => {
  await assert.rejects(
    fetchUrlModule(source('/stream.wasm'), { maxBytes: 64 * 1024, ca: ca.cert }),
    code('WR_MODULE_TOO_LARGE'),
  );
  await new Promise((resolve) => setImmediate(resolve));
  for (let i = 0; i < 100 && !streamed.closedEarly && streamed.written < STREAM_CHUNKS; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(streamed.closedEarly, true, `server wrote ${streamed.written} of ${STREAM_CHUNKS} chunks`);
});

test('a declared Content-Length past the limit is refused without reading the body', async () => {
  await assert.rejects(
    fetchUrlModule(source('/declared-huge.wasm'), { maxBytes: 1024 * 1024, ca: ca.cert }),
    code('WR_MODULE_TOO_LARGE'),
  );
});

test('404 is WR_SOURCE_NOT_FOUND and 503 is WR_SOURCE_UNREACHABLE', async () => {
  await assert.rejects(
    fetchUrlModule(source('/missing.wasm'), { maxBytes: 1024, ca: ca.cert }),
    code('WR_SOURCE_NOT_FOUND'),
  );
  await assert.rejects(
    fetchUrlModule(source('/error'), { maxBytes: 1024, ca: ca.cert }),
    code('WR_SOURCE_UNREACHABLE'),
  );
});

test('a closed port is WR_SOURCE_UNREACHABLE', async () => {
  const port = await freePort();
  const src: UrlSource = { type: 'url', url: `https://127.0.0.1:${port}/m.wasm`, digest: sha256Digest(MODULE) };
  await assert.rejects(fetchUrlModule(src, { maxBytes: 1024, ca: ca.cert }), code('WR_SOURCE_UNREACHABLE'));
});

test('a server that never answers is WR_SOURCE_UNREACHABLE after the deadline', async () => {
  await assert.rejects(
    fetchUrlModule(source('/hang'), { maxBytes: 1024, ca: ca.cert, timeoutMs: 200 }),
    code('WR_SOURCE_UNREACHABLE'),
  );
});

test('a redirect to http is refused with WR_SOURCE_INVALID', async () => {
  await assert.rejects(
    fetchUrlModule(source('/downgrade'), { maxBytes: 1024, ca: ca.cert }),
    code('WR_SOURCE_INVALID'),
  );
});

test('a redirect loop stops after the redirect limit', async () => {
  await assert.rejects(fetchUrlModule(source('/loop'), { maxBytes: 1024, ca: ca.cert }), code('WR_SOURCE_UNREACHABLE'));
});

test('a server certificate from an untrusted CA is WR_SOURCE_UNREACHABLE', async () => {
  await assert.rejects(fetchUrlModule(source('/module.wasm'), { maxBytes: 1024 }), code('WR_SOURCE_UNREACHABLE'));
});
