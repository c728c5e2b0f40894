// Issues the throwaway CA, serving and client certificates and the ServiceAccount signing key of one control plane.
//
// node:crypto can make keys but not X.509 certificates, so certificates come from the `openssl` command
// (OpenSSL 1.1 or 3.x; Debian and most distributions ship it). P-256 keys keep generation in milliseconds.

import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ControlPlaneError } from './errors.ts';

export interface CertPair {
  readonly cert: string;
  readonly key: string;
}

export interface ControlPlanePki {
  readonly dir: string;
  readonly ca: CertPair;
  /** kube-apiserver's serving certificate, valid for 127.0.0.1, localhost and the in-cluster names. */
  readonly apiserver: CertPair;
  /** Client certificate in group system:masters: the admin identity tests and the CLI use. */
  readonly admin: CertPair;
  /** Client certificate for user system:kube-controller-manager (bound by the bootstrap RBAC policy). */
  readonly controllerManager: CertPair;
  /** Signs and verifies ServiceAccount tokens. */
  readonly serviceAccount: { readonly privateKey: string; readonly publicKey: string };
}

const run = promisify(execFile);
const VALID_DAYS = '30';

export async function generatePki(dir: string): Promise<ControlPlanePki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await selfSignedCa(dir);
  const [apiserver, admin, controllerManager] = await Promise.all([
    issue(dir, ca, 'apiserver', '/CN=kube-apiserver', [
      'extendedKeyUsage = serverAuth',
      'subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, ' +
        'DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, IP:10.0.0.1',
    ]),
    issue(dir, ca, 'admin', '/O=system:masters/CN=wasm-reconciler-admin', ['extendedKeyUsage = clientAuth']),
    issue(dir, ca, 'kube-controller-manager', '/CN=system:kube-controller-manager', ['extendedKeyUsage = clientAuth']),
  ]);
  const keys = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const serviceAccount = { privateKey: join(dir, 'sa.key'), publicKey: join(dir, 'sa.pub') };
  writeFileSync(serviceAccount.privateKey, keys.privateKey, { mode: 0o600 });
  writeFileSync(serviceAccount.publicKey, keys.publicKey);
  return { dir, ca, apiserver, admin, controllerManager, serviceAccount };
}

async function selfSignedCa(dir: string): Promise<CertPair> {
  const pair = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  const config = writeConfig(dir, 'ca', [
    'basicConstraints = critical, CA:TRUE',
    'keyUsage = critical, keyCertSign, cRLSign, digitalSignature',
    'subjectKeyIdentifier = hash',
  ]);
  await openssl([
    'req',
    '-x509',
    '-config',
    config,
    '-extensions',
    'ext',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    pair.key,
    '-out',
    pair.cert,
    '-days',
    VALID_DAYS,
    '-subj',
    `/CN=wasm-reconciler-test-ca-${randomBytes(4).toString('hex')}`,
  ]);
  return pair;
}

async function issue(
  dir: string,
  ca: CertPair,
  name: string,
  subject: string,
  extensions: readonly string[],
): Promise<CertPair> {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const config = writeConfig(dir, name, [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'authorityKeyIdentifier = keyid',
    ...extensions,
  ]);
  await openssl([
    'req',
    '-new',
    '-config',
    config,
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    pair.key,
    '-out',
    csr,
    '-subj',
    subject,
  ]);
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    `0x${randomBytes(16).toString('hex')}`,
    '-days',
    VALID_DAYS,
    '-extfile',
    config,
    '-extensions',
    'ext',
    '-out',
    pair.cert,
  ]);
  return pair;
}

/** A self-contained config, so the system's openssl.cnf (which varies by distribution) plays no part. */
function writeConfig(dir: string, name: string, extensions: readonly string[]): string {
  const path = join(dir, `${name}.cnf`);
  writeFileSync(
    path,
    ['[req]', 'distinguished_name = dn', 'prompt = no', '[dn]', 'CN = unused', '[ext]', ...extensions, ''].join('\n'),
  );
  return path;
}

async function openssl(args: readonly string[]): Promise<void> {
  try {
    await run('openssl', args, { env: { ...process.env, OPENSSL_CONF: '/dev/null' } });
  } catch (err) {
    const error = err as NodeJS.ErrnoException & { stderr?: string };
    if (error.code === 'ENOENT') {
      throw new ControlPlaneError(
        'CP_OPENSSL_MISSING',
        'The `openssl` command is not installed; the control plane needs it to issue its certificates. ' +
          'Install it (Debian/Ubuntu: `apt-get install openssl`, Fedora: `dnf install openssl`) and run again.',
        { cause: err },
      );
    }
    throw new ControlPlaneError('CP_INVALID', `openssl ${args[0]} failed: ${error.stderr?.trim() ?? error.message}`, {
      cause: err,
    });
  }
}
