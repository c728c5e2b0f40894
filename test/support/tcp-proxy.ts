// A TCP proxy on 127.0.0.1 that tests use to cut or stall the connections between a client and a server.

import net from 'node:net';

export interface TcpProxy {
  /** The proxy's listening port on 127.0.0.1. */
  readonly port: number;
  /** Connections currently open through the proxy. */
  readonly openConnections: number;
  /** Connections accepted since the proxy started. */
  readonly acceptedConnections: number;
  /** Resets every open connection (both sides), as a dropped NAT entry or a crashed load balancer would. */
  cut(): void;
  /**
   * Stops forwarding bytes in both directions on every connection, open or new (new ones are accepted and
   * held), as a half-dead network path does: nothing errors, nothing arrives.
   */
  pause(): void;
  /** Forwards again, including whatever was held while paused (frozen connections excepted). */
  resume(): void;
  /**
   * Freezes every connection open now, for good: no byte, FIN or RST passes in either direction again,
   * while connections accepted later are forwarded normally (once not paused). This is a proxy or load
   * balancer that lost its state: new connections work, the old ones hang silently. Combined with
   * pause()/resume() it models a blackhole after which only new connections recover.
   */
  freeze(): void;
  /** Connections frozen by freeze() that the client has not closed yet. */
  readonly frozenConnections: number;
  close(): Promise<void>;
}

interface Pair {
  readonly client: net.Socket;
  upstream: net.Socket | undefined;
  /** Bytes each side sent while the proxy was paused. */
  readonly held: { toUpstream: Buffer[]; toClient: Buffer[] };
  /** Set by freeze(): bytes are dropped and neither side ever hears of the other's close. */
  frozen: boolean;
}

/** Proxies raw bytes to `target`: TLS passes through untouched, so certificates verify end to end. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let paused = false;
  let accepted = 0;

  const forward = (pair: Pair, from: net.Socket, to: () => net.Socket | undefined, held: Buffer[]) => {
    from.on('data', (chunk: Buffer) => {
      if (pair.frozen) {
        // Dropped, and reading stops: the sender's kernel buffers fill as behind a dead proxy.
        from.pause();
        return;
      }
      const dest = to();
      if (paused || dest === undefined || dest.connecting) {
        held.push(chunk);
        // Stop reading so the kernel buffers fill and the sender sees a stalled path, not an unbounded proxy.
        from.pause();
        return;
      }
      if (!dest.write(chunk)) {
        from.pause();
        dest.once('drain', () => {
          if (!paused && !pair.frozen) from.resume();
        });
      }
    });
  };

  const flush = (pair: Pair) => {
    const upstream = pair.upstream;
    if (upstream === undefined || upstream.connecting || pair.frozen) return;
    for (const chunk of pair.held.toUpstream.splice(0)) upstream.write(chunk);
    for (const chunk of pair.held.toClient.splice(0)) pair.client.write(chunk);
    pair.client.resume();
    upstream.resume();
  };

  const connectUpstream = (pair: Pair) => {
    const upstream = net.connect({ host: target.host, port: target.port });
    pair.upstream = upstream;
    forward(pair, upstream, () => pair.client, pair.held.toClient);
    upstream.on('connect', () => {
      if (!paused) flush(pair);
    });
    upstream.on('end', () => {
      if (!pair.frozen) pair.client.end();
    });
    upstream.on('error', () => {
      if (!pair.frozen) pair.client.destroy();
    });
    upstream.on('close', () => {
      if (!pair.frozen) pair.client.destroy();
    });
  };

  const server = net.createServer((client) => {
    accepted++;
    const pair: Pair = { client, upstream: undefined, held: { toUpstream: [], toClient: [] }, frozen: false };
    pairs.add(pair);
    forward(pair, client, () => pair.upstream, pair.held.toUpstream);
    client.on('end', () => {
      if (!pair.frozen) pair.upstream?.end();
    });
    client.on('error', () => pair.upstream?.destroy());
    client.on('close', () => {
      pair.upstream?.destroy();
      pairs.delete(pair);
    });
    if (!paused) connectUpstream(pair);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    get openConnections() {
      return pairs.size;
    },
    get acceptedConnections() {
      return accepted;
    },
    get frozenConnections() {
      let n = 0;
      for (const pair of pairs) if (pair.frozen) n++;
      return n;
    },
    cut() {
      for (const pair of pairs) {
        pair.client.resetAndDestroy();
        pair.upstream?.resetAndDestroy();
      }
      pairs.clear();
    },
    pause() {
      paused = true;
      for (const pair of pairs) {
        pair.client.pause();
        pair.upstream?.pause();
      }
    },
    resume() {
      paused = false;
      for (const pair of pairs) {
        if (pair.frozen) continue;
        if (pair.upstream === undefined) connectUpstream(pair);
        else flush(pair);
      }
    },
    freeze() {
      for (const pair of pairs) {
        pair.frozen = true;
        pair.held.toUpstream.length = 0;
        pair.held.toClient.length = 0;
        pair.client.pause();
        pair.upstream?.pause();
      }
    },
    close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream?.destroy();
      }
      pairs.clear();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
