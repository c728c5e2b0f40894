// The pluggable HTTP transport under KubeClient: one keep-alive agent per API server, TLS and auth from config.

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { WrError } from '../errors.ts';
import { http } from '../node-http.ts';
import { credentialsOf } from './credentials.ts';
import type { KubeConfigView } from './kubeconfig.ts';

export interface TransportRequest {
  readonly method: string;
  /** Path plus query string, starting with "/". */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Aborting destroys the request and, once the answer has begun, its body stream (with the abort reason). */
  readonly signal?: AbortSignal;
  /**
   * Dial a connection of its own, outside the keep-alive pool, closed when the exchange ends. Watches use
   * it: a long-lived stream (and the watcher's liveness probe, see watcher.ts) must never land on a pooled
   * connection that a proxy which lost its state has frozen. Transports without a pool may ignore it.
   */
  readonly dedicated?: boolean;
}

export interface TransportResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body as it arrives; a consumer that stops early must call `destroy()`. */
  readonly body: AsyncIterable<Buffer>;
  destroy(): void;
}

/** Anything that can carry one HTTP exchange to the API server: tests substitute proxies or fakes here. */
export interface Transport {
  request(req: TransportRequest): Promise<TransportResponse>;
  /** Releases pooled connections; in-flight requests are not affected. */
  close(): void;
}

export interface TlsSettings {
  readonly ca?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** The name the server certificate must carry when the dialled address differs (proxies, tunnels). */
  readonly servername?: string;
  readonly rejectUnauthorized?: boolean;
}

export interface HttpTransportOptions {
  /** Base URL of the API server, e.g. https://127.0.0.1:6443. A path prefix is kept. */
  readonly server: string;
  readonly tls?: TlsSettings;
  /** Resolved before every request, so rotating tokens (exec plugins, OIDC) stay current. */
  readonly headers?: () => Promise<Record<string, string>> | Record<string, string>;
  /** Idle pooled sockets kept per host; watches hold their own sockets and are not limited by it. */
  readonly maxFreeSockets?: number;
}

/** node:http(s) with a keep-alive agent: list/apply traffic reuses connections, each watch holds one. */
export function httpTransport(options: HttpTransportOptions): Transport {
  let base: URL;
  try {
    base = new URL(options.server);
  } catch (cause) {
    throw new WrError('WR_KUBE_CONFIG', `API server address is not a URL: ${options.server}`, { cause });
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') {
    throw new WrError('WR_KUBE_CONFIG', `API server address must be http(s): ${options.server}`);
  }
  const secure = base.protocol === 'https:';
  const prefix = base.pathname.replace(/\/+$/, '');
  const agentOptions = { keepAlive: true, keepAliveMsecs: 15_000, maxFreeSockets: options.maxFreeSockets ?? 8 };
  const tlsOptions = secure ? connectOptions(options.tls) : {};
  const agent = secure ? new ResettableHttpsAgent({ ...agentOptions, ...tlsOptions }) : new http.Agent(agentOptions);
  // One connection per exchange (Connection: close), TCP keepalive still on: see TransportRequest.dedicated.
  const dedicatedAgent = secure
    ? new ResettableHttpsAgent({ keepAlive: false, ...tlsOptions })
    : new DedicatedHttpAgent({ keepAlive: false });
  const requestFn = secure ? https.request : http.request;

  return {
    async request(req) {
      const extra = options.headers === undefined ? {} : await options.headers();
      req.signal?.throwIfAborted();
      return new Promise<TransportResponse>((resolve, reject) => {
        const outgoing = requestFn({
          agent: req.dedicated === true ? dedicatedAgent : agent,
          protocol: base.protocol,
          hostname: base.hostname.replace(/^\[|\]$/g, ''),
          port: base.port === '' ? undefined : Number(base.port),
          method: req.method,
          path: prefix + req.path,
          headers: {
            ...extra,
            ...req.headers,
            ...(req.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(req.body)) } : {}),
          },
          // Set on the request (not the agent) so per-request sockets verify against the same name.
          ...(secure && options.tls?.servername !== undefined ? { servername: options.tls.servername } : {}),
        });
        let response: IncomingMessage | undefined;
        const onAbort = () => {
          const reason = asError(req.signal?.reason);
          // After headers the abort must surface from the body iterator, not as a silent end of stream.
          if (response !== undefined) response.destroy(reason);
          else {
            // Before the answer the request may sit unsent in the kernel (a stalled path): a reset discards
            // it, where a plain close would let the kernel deliver it, and the server act on it, later.
            resetSocket(outgoing.socket);
            outgoing.destroy(reason);
          }
        };
        const detach = () => req.signal?.removeEventListener('abort', onAbort);
        req.signal?.addEventListener('abort', onAbort, { once: true });
        outgoing.on('error', (err) => {
          // Errors after the headers reach the consumer through the body stream instead.
          if (response !== undefined) return;
          detach();
          reject(err);
        });
        outgoing.on('response', (res) => {
          response = res;
          res.once('close', detach);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, destroy: () => res.destroy() });
        });
        outgoing.end(req.body);
      });
    },
    close() {
      agent.destroy();
      dedicatedAgent.destroy();
    },
  };
}

/**
 * The TLS options of every connection, with one SecureContext for all of them. Given the CA, certificate and
 * key instead, tls.connect parses them again for each connection and keeps a context per socket: about
 * 24 KiB of RSS per connection (docs/benchmarks.md#footprint), and the host holds one per watch.
 */
function connectOptions(settings: TlsSettings = {}): tls.ConnectionOptions {
  const { ca, cert, key, servername, rejectUnauthorized } = settings;
  let secureContext: tls.SecureContext;
  try {
    secureContext = tls.createSecureContext({
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
    });
  } catch (cause) {
    throw new WrError('WR_KUBE_CONFIG', `the kubeconfig's TLS material is unusable: ${(cause as Error).message}`, {
      cause,
    });
  }
  return {
    secureContext,
    ...(servername === undefined ? {} : { servername }),
    ...(rejectUnauthorized === undefined ? {} : { rejectUnauthorized }),
  };
}

/** Every connection probes its peer when idle; a dead peer is then noticed in about a minute, not hours. */
const TCP_KEEPALIVE = { keepAlive: true, keepAliveInitialDelay: 15_000 } as const;

/** http.Agent for dedicated plain-HTTP connections: not pooled, TCP keepalive on (a pooled agent sets it itself). */
class DedicatedHttpAgent extends http.Agent {
  override createConnection(options: net.TcpNetConnectOpts): net.Socket {
    return net.connect({ ...options, ...TCP_KEEPALIVE });
  }
}

/** The TCP socket under each TLS socket the agent made, so an abort can reset it (TLS sockets cannot). */
const tcpOf = new WeakMap<object, net.Socket>();

/** https.Agent whose TLS sockets run over a TCP socket of its own making, kept in tcpOf. */
class ResettableHttpsAgent extends https.Agent {
  override createConnection(options: tls.ConnectionOptions & net.TcpNetConnectOpts): net.Socket {
    const tcp = net.connect({ ...options, ...TCP_KEEPALIVE });
    const socket = tls.connect({ ...options, socket: tcp });
    tcpOf.set(socket, tcp);
    return socket;
  }
}

/** Sends RST: unsent bytes are dropped by the kernel, and the peer sees a reset, never a complete request. */
function resetSocket(socket: net.Socket | null): void {
  if (socket === null || socket.destroyed) return;
  const tcp = tcpOf.get(socket) ?? socket;
  try {
    tcp.resetAndDestroy();
  } catch {
    // Not a TCP handle (a pipe): a plain destroy follows.
  }
}

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

/**
 * TLS material and auth from a kubeconfig (ours or client-node's: see kubeconfig.ts). `server` overrides the
 * address dialled (for a proxy); TLS still verifies against the configured host unless `servername` says
 * otherwise.
 */
export async function kubeConfigTransport(
  kc: KubeConfigView,
  overrides: { server?: string; servername?: string; maxFreeSockets?: number } = {},
): Promise<Transport> {
  const { cluster, tls, headers } = await credentialsOf(kc);
  const server = overrides.server ?? cluster.server;
  const configuredHost = hostnameOf(cluster.server);
  const dialledHost = hostnameOf(server);
  const servername =
    overrides.servername ?? tls.servername ?? (dialledHost !== configuredHost ? configuredHost : undefined);
  return httpTransport({
    server,
    tls: { ...tls, ...(servername === undefined ? {} : { servername }) },
    headers,
    ...(overrides.maxFreeSockets !== undefined ? { maxFreeSockets: overrides.maxFreeSockets } : {}),
  });
}

function hostnameOf(server: string): string {
  try {
    return new URL(server).hostname.replace(/^\[|\]$/g, '');
  } catch (cause) {
    throw new WrError('WR_KUBE_CONFIG', `API server address is not a URL: ${server}`, { cause });
  }
}
