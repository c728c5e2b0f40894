// Loopback port allocation and the bind check that turns a port clash into a clear error.

import { createServer } from 'node:net';
import { ControlPlaneError } from './errors.ts';

/** A port that is free on 127.0.0.1 right now (the kernel picks it; another process may still take it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('the kernel returned no port for a listening socket'));
      });
    });
  });
}

export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(false);
      else reject(err);
    });
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Throws CP_PORT_IN_USE naming the port and what it was meant for. */
export async function assertPortFree(port: number, purpose: string, hint: string): Promise<void> {
  if (!(await isPortFree(port))) {
    throw new ControlPlaneError(
      'CP_PORT_IN_USE',
      `Port ${port} on 127.0.0.1 (wanted for ${purpose}) is already in use by another process. ${hint}`,
    );
  }
}
