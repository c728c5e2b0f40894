// A scriptable HTTP server on 127.0.0.1 standing in for the API server in unit tests of one piece.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeObject } from '../../abi/types.ts';
import { INITIAL_EVENTS_END } from '../client.ts';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export type Handler = (req: RecordedRequest, res: http.ServerResponse) => void | Promise<void>;

export interface FakeApiServer {
  readonly url: string;
  /** Every request received, in arrival order. */
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startFakeApiServer(handler: Handler): Promise<FakeApiServer> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    requests.push(recorded);
    try {
      await handler(recorded, res);
    } catch (err) {
      if (!res.headersSent) sendJson(res, 599, { kind: 'Status', message: String(err) });
      else res.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function kubeStatus(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message };
}

/** Starts a chunked watch answer; write events with `writeEvent`, end with `res.end()`. */
export function beginWatch(res: http.ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
}

export function writeEvent(res: http.ServerResponse, type: string, object: unknown): void {
  res.write(`${JSON.stringify({ type, object })}\n`);
}

export type WatchScript = (req: RecordedRequest, res: http.ServerResponse) => void;

/** The scripted state of one ConfigMap collection; tests mutate it between requests. */
export interface CollectionState {
  items: KubeObject[];
  listRv: string;
  /** Each watch request takes the next script; with none left, the watch opens and stays silent. */
  watches: WatchScript[];
  /** Watches answered by the default script and still open. */
  open?: http.ServerResponse[];
  /** Answer watch-lists (sendInitialEvents) with 422, as a server without the feature does. */
  refuseWatchList?: boolean;
}

/**
 * Serves core/v1 discovery for ConfigMaps, paginated lists of `state.items` at `state.listRv` (continue
 * tokens are offsets), watch-lists of them (or a 422, see refuseWatchList), and watches from `state.watches`.
 */
export function collectionHandler(state: CollectionState): Handler {
  return (req, res) => {
    if (req.path === '/api/v1') {
      sendJson(res, 200, { resources: [{ name: 'configmaps', kind: 'ConfigMap', namespaced: true }] });
      return;
    }
    if (req.query.get('watch') === 'true' && req.query.get('sendInitialEvents') === 'true') {
      if (state.refuseWatchList === true) {
        sendJson(res, 422, kubeStatus(422, 'Invalid', 'sendInitialEvents is forbidden for watch'));
        return;
      }
      // A watch-list: every item as ADDED, the bookmark that ends them, then an open watch like the default.
      beginWatch(res);
      for (const item of state.items) writeEvent(res, 'ADDED', item);
      writeEvent(res, 'BOOKMARK', {
        kind: 'ConfigMap',
        apiVersion: 'v1',
        metadata: { resourceVersion: state.listRv, annotations: { [INITIAL_EVENTS_END]: 'true' } },
      });
      state.open ??= [];
      state.open.push(res);
      res.once('close', () => state.open?.splice(state.open.indexOf(res), 1));
      return;
    }
    if (req.query.get('watch') === 'true') {
      const script = state.watches.shift();
      if (script !== undefined) {
        script(req, res);
        return;
      }
      beginWatch(res);
      state.open ??= [];
      state.open.push(res);
      res.once('close', () => state.open?.splice(state.open.indexOf(res), 1));
      return;
    }
    const limit = Number(req.query.get('limit') ?? state.items.length);
    const start = Number(req.query.get('continue') ?? 0);
    const next = start + limit < state.items.length ? String(start + limit) : undefined;
    sendJson(res, 200, {
      kind: 'ConfigMapList',
      apiVersion: 'v1',
      metadata: { resourceVersion: state.listRv, ...(next !== undefined ? { continue: next } : {}) },
      // Typed lists omit apiVersion/kind on items; the client must fill them in.
      items: state.items.slice(start, start + limit).map(({ apiVersion: _a, kind: _k, ...rest }) => rest),
    });
  };
}
