// Starts Debian's docker-registry on a free loopback port with TLS from a test CA, optionally behind htpasswd
// basic auth or distribution token auth (with a small in-process token server that signs ES256 JWTs).

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID, sign } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestCa } from './test-ca.ts';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';
const TOKEN_SERVICE = 'wr-test-registry';
const TOKEN_ISSUER = 'wr-test-token-issuer';
const STARTUP_DEADLINE_MS = 15_000;
const STOP_DEADLINE_MS = 5_000;

export type RegistryAuth =
  | { readonly type: 'htpasswd'; readonly users: Readonly<Record<string, string>> }
  | {
      readonly type: 'token';
      readonly users: Readonly<Record<string, string>>;
      /** Grant `pull` to requests without credentials (like public repositories on Docker Hub). */
      readonly anonymousPull?: boolean;
    };

export interface RegistryOptions {
  readonly ca: TestCa;
  readonly auth?: RegistryAuth;
}

export interface TestRegistry {
  /** `127.0.0.1:<port>`: the registry part of references. */
  readonly host: string;
  /** Token requests the token server answered, for asserting the bearer handshake happened. */
  readonly tokenRequests: { readonly scope: string | null; readonly user: string | undefined }[];
  /** The registry's storage root, for tests that tamper with stored blobs. */
  readonly storageDir: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function pemToDerBase64(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

function basicUser(header: string | undefined, users: Readonly<Record<string, string>>): string | undefined | null {
  if (header === undefined) return undefined;
  const m = /^Basic\s+(.+)$/i.exec(header);
  if (m === null) return null;
  const pair = Buffer.from(m[1] ?? '', 'base64').toString('utf8');
  const colon = pair.indexOf(':');
  const user = pair.slice(0, colon);
  return colon > 0 && Object.hasOwn(users, user) && users[user] === pair.slice(colon + 1) ? user : null;
}

/** A token server per the distribution token spec: Basic-authenticates, grants requested scope, signs ES256. */
async function startTokenServer(
  ca: TestCa,
  auth: Extract<RegistryAuth, { type: 'token' }>,
  requests: TestRegistry['tokenRequests'],
): Promise<{ realm: string; close(): Promise<void> }> {
  const tls = ca.issue('token-server');
  const signer = ca.issue('token-signer');
  const x5c = [pemToDerBase64(signer.cert)];
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const user = basicUser(req.headers.authorization, auth.users);
    if (url.pathname !== '/token' || user === null) {
      res.writeHead(user === null ? 401 : 404).end();
      return;
    }
    const scope = url.searchParams.get('scope');
    requests.push({ scope, user });
    const access: { type: string; name: string; actions: string[] }[] = [];
    for (const s of scope === null ? [] : scope.split(' ')) {
      const [type, name, actions] = s.split(':');
      if (type !== 'repository' || name === undefined || actions === undefined) continue;
      const wanted = actions.split(',');
      const granted =
        user === undefined ? (auth.anonymousPull === true ? wanted.filter((a) => a === 'pull') : []) : wanted;
      access.push({ type, name, actions: granted });
    }
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c }));
    const claims = b64url(
      JSON.stringify({
        iss: TOKEN_ISSUER,
        sub: user ?? '',
        aud: url.searchParams.get('service') ?? TOKEN_SERVICE,
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomUUID(),
        access,
      }),
    );
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), {
      key: signer.key,
      dsaEncoding: 'ieee-p1363',
    });
    const token = `${header}.${claims}.${b64url(signature)}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    realm: `https://127.0.0.1:${port}/token`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function waitReady(host: string, ca: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + STARTUP_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}:\n${log()}`);
    const status = await new Promise<number>((resolve) => {
      const req = https.get(`https://${host}/v2/`, { ca, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0));
      req.on('timeout', () => req.destroy());
    });
    if (status === 200 || status === 401) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer within ${STARTUP_DEADLINE_MS} ms:\n${log()}`);
}

export async function startRegistry(options: RegistryOptions): Promise<TestRegistry> {
  if (!existsSync(REGISTRY_BINARY)) {
    throw new Error(`${REGISTRY_BINARY} is missing: run test/setup/install-system-deps.sh`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'wr-registry-'));
  mkdirSync(path.join(dir, 'data'));
  const tls = options.ca.issue('registry');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const tokenRequests: TestRegistry['tokenRequests'] = [];
  let tokenServer: { realm: string; close(): Promise<void> } | undefined;

  let authYaml = '';
  if (options.auth?.type === 'htpasswd') {
    const lines = Object.entries(options.auth.users).map(([user, password]) =>
      execFileSync('htpasswd', ['-nbB', user, password], { encoding: 'utf8' }).trim(),
    );
    writeFileSync(path.join(dir, 'htpasswd'), `${lines.join('\n')}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: wr-test\n    path: ${path.join(dir, 'htpasswd')}\n`;
  } else if (options.auth?.type === 'token') {
    tokenServer = await startTokenServer(options.ca, options.auth, tokenRequests);
    authYaml = [
      'auth:',
      '  token:',
      `    realm: ${tokenServer.realm}`,
      `    service: ${TOKEN_SERVICE}`,
      `    issuer: ${TOKEN_ISSUER}`,
      `    rootcertbundle: ${options.ca.certPath}`,
      '',
    ].join('\n');
  }
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${host}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    '  tls:',
    `    certificate: ${tls.certPath}`,
    `    key: ${tls.keyPath}`,
    authYaml,
  ].join('\n');
  const configPath = path.join(dir, 'config.yml');
  writeFileSync(configPath, config);

  // setpriv ties the registry's life to this process: a crashed or killed test run leaves no orphan.
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', REGISTRY_BINARY, 'serve', configPath], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cleanup = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_DEADLINE_MS);
      await exited;
      clearTimeout(timer);
    }
    await tokenServer?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(host, options.ca.cert, child, () => stderr || readFileSync(configPath, 'utf8'));
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { host, tokenRequests, storageDir: path.join(dir, 'data'), stop: cleanup };
}
