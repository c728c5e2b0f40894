// A throwaway test certificate authority (openssl CLI) that issues server and signing certificates for 127.0.0.1.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface IssuedCert {
  readonly certPath: string;
  readonly keyPath: string;
  readonly cert: string;
  readonly key: string;
}

export interface TestCa {
  readonly dir: string;
  readonly certPath: string;
  /** PEM of the CA certificate: what clients trust. */
  readonly cert: string;
  /** Issues an EC P-256 leaf for 127.0.0.1 and localhost, valid one day. */
  issue(name: string): IssuedCert;
  dispose(): void;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0]} failed (run test/setup/install-system-deps.sh): ${stderr}`);
  }
}

export function createTestCa(): TestCa {
  const dir = mkdtempSync(path.join(tmpdir(), 'wr-test-ca-'));
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    [
      'req',
      '-x509',
      ...ecKey,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '1',
      '-subj',
      '/CN=wasm-reconciler test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const certPath = path.join(dir, 'ca.crt');
  let serial = 1;
  return {
    dir,
    certPath,
    cert: readFileSync(certPath, 'utf8'),
    issue(name: string): IssuedCert {
      const ext = `${name}.ext`;
      writeFileSync(
        path.join(dir, ext),
        [
          'basicConstraints=CA:FALSE',
          'keyUsage=critical,digitalSignature',
          'extendedKeyUsage=serverAuth',
          'subjectAltName=IP:127.0.0.1,DNS:localhost',
        ].join('\n'),
      );
      openssl(['req', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-CA',
          'ca.crt',
          '-CAkey',
          'ca.key',
          '-set_serial',
          String(serial++),
          '-days',
          '1',
          '-extfile',
          ext,
          '-out',
          `${name}.crt`,
        ],
        dir,
      );
      const c = path.join(dir, `${name}.crt`);
      const k = path.join(dir, `${name}.key`);
      return { certPath: c, keyPath: k, cert: readFileSync(c, 'utf8'), key: readFileSync(k, 'utf8') };
    },
    dispose(): void {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
