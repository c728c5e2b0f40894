// One bounded HTTP(S) exchange for module sources: deadline, body size cap enforced while streaming, redirects.
//
// Built on node:http/node:https rather than the global fetch: fetch cannot take a per-request CA without the
// undici package, and here every request needs its own trust (a private registry's CA, a test CA) and its own
// redirect policy (never downgrade to http, never carry credentials to another origin).

import type { IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { WrError } from '../../../errors.ts';
import { http } from '../../../node-http.ts';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';

export interface HttpOptions {
  readonly method?: HttpMethod;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
  /** Deadline for the whole exchange: connect, request body, response headers and body. */
  readonly timeoutMs: number;
  /** The most response body bytes read; past it the exchange is aborted mid-stream. */
  readonly maxBytes: number;
  /** The error raised past maxBytes (default WR_MODULE_TOO_LARGE). */
  readonly tooLarge?: (limit: number, url: URL) => WrError;
  /** PEM CA bundle trusted instead of the system store. */
  readonly ca?: string | Uint8Array;
  /** Allow `http:` URLs, including as redirect targets. Only for explicit opt-in (local test registries). */
  readonly allowPlainHttp?: boolean;
  /** Redirects followed for GET/HEAD (0 disables following: the 3xx response is returned). */
  readonly maxRedirects?: number;
  readonly signal?: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The URL that answered, after redirects. */
  readonly url: URL;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The URL as safe for logs and status: no credentials, no query (presigned URLs carry tokens there). */
export function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function defaultTooLarge(limit: number, url: URL): WrError {
  return new WrError('WR_MODULE_TOO_LARGE', `${redactUrl(url)} is larger than the limit of ${limit} bytes`, {
    details: { url: redactUrl(url), limitBytes: limit },
  });
}

function checkScheme(url: URL, allowPlainHttp: boolean, redirectedFrom?: URL): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && allowPlainHttp) return;
  const where = redirectedFrom === undefined ? '' : ` (redirected from ${redactUrl(redirectedFrom)})`;
  throw new WrError('WR_SOURCE_INVALID', `refusing ${url.protocol} URL ${redactUrl(url)}${where}: only https`, {
    details: { url: redactUrl(url) },
  });
}

/** Sends one request, following redirects per options; rejects only with WrError. */
export async function httpRequest(url: URL, options: HttpOptions): Promise<HttpResponse> {
  const allowPlainHttp = options.allowPlainHttp ?? false;
  checkScheme(url, allowPlainHttp);
  const method = options.method ?? 'GET';
  const maxRedirects = method === 'GET' || method === 'HEAD' ? (options.maxRedirects ?? 5) : 0;
  let current = url;
  let headers = { ...options.headers };
  for (let hop = 0; ; hop++) {
    const res = await exchange(current, { ...options, headers });
    const location = res.headers.location;
    if (!REDIRECTS.has(res.status) || location === undefined || maxRedirects === 0) return res;
    if (hop >= maxRedirects) {
      throw new WrError('WR_SOURCE_UNREACHABLE', `more than ${maxRedirects} redirects from ${redactUrl(url)}`, {
        details: { url: redactUrl(url) },
      });
    }
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new WrError('WR_SOURCE_INVALID', `${redactUrl(current)} redirected to an invalid location`, {
        details: { url: redactUrl(current) },
      });
    }
    checkScheme(next, allowPlainHttp, current);
    // Credentials are for the origin they were issued for; storage backends get presigned URLs instead.
    if (next.origin !== current.origin) {
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
    }
    current = next;
  }
}

function exchange(url: URL, options: HttpOptions): Promise<HttpResponse> {
  const tooLarge = options.tooLarge ?? defaultTooLarge;
  const where = redactUrl(url);
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    const finish = (err: WrError | undefined, res?: HttpResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (err !== undefined) {
        req.destroy();
        reject(err);
      } else if (res !== undefined) resolve(res);
    };
    const unreachable = (why: string, cause?: unknown): WrError =>
      new WrError('WR_SOURCE_UNREACHABLE', `${where}: ${why}`, {
        cause,
        details: { url: where, ...(isErrno(cause) && cause.code !== undefined ? { cause: cause.code } : {}) },
      });
    const onAbort = (): void => finish(unreachable('aborted'));
    const timer = setTimeout(
      () => finish(unreachable(`no complete answer within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );

    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['content-length'] = String(options.body.byteLength);
    const requestOptions: https.RequestOptions = { method: options.method ?? 'GET', headers };
    if (options.ca !== undefined) requestOptions.ca = Buffer.from(options.ca);
    const req = url.protocol === 'https:' ? https.request(url, requestOptions) : http.request(url, requestOptions);

    req.on('error', (err) => finish(unreachable(err.message, err)));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const declared = Number(res.headers['content-length']);
      // Redirect and error bodies are read only to drain them; their size never matters to the caller.
      if (Number.isFinite(declared) && declared > options.maxBytes && status >= 200 && status < 300) {
        finish(tooLarge(options.maxBytes, url));
        return;
      }
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (chunk: Buffer) => {
        total += chunk.byteLength;
        if (total > options.maxBytes) {
          if (status >= 200 && status < 300) finish(tooLarge(options.maxBytes, url));
          else finish(undefined, { status, headers: res.headers, body: Buffer.concat(chunks), url });
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (err) => finish(unreachable(`response failed: ${err.message}`, err)));
      res.on('close', () => {
        if (!res.complete) finish(unreachable('connection closed before the response was complete'));
      });
      res.on('end', () => finish(undefined, { status, headers: res.headers, body: Buffer.concat(chunks, total), url }));
    });
    if (options.signal?.aborted) {
      onAbort();
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    req.end(options.body);
  });
}

function isErrno(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && 'code' in err;
}

/** Maps a non-success status to the source error it means; `what` names the thing asked for. */
export function statusError(res: HttpResponse, what: string): WrError {
  const details = { url: redactUrl(res.url), status: res.status };
  const s = res.status;
  if (s === 404 || s === 410) return new WrError('WR_SOURCE_NOT_FOUND', `${what} not found (HTTP ${s})`, { details });
  if (s === 401 || s === 403) return new WrError('WR_SOURCE_AUTH', `${what}: access denied (HTTP ${s})`, { details });
  if (s === 408 || s === 429 || s >= 500) {
    return new WrError('WR_SOURCE_UNREACHABLE', `${what}: server answered HTTP ${s}`, { details });
  }
  return new WrError('WR_SOURCE_INVALID', `${what}: unexpected HTTP ${s}`, { details });
}
