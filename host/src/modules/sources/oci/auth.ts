// Registry credentials from Secrets, and the parsing of WWW-Authenticate challenges (Basic and Bearer).

import { WrError } from '../../../errors.ts';
import { decodeBase64Strict } from '../types.ts';
import { registryApiHost } from './reference.ts';

export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

export interface AuthChallenge {
  readonly scheme: 'basic' | 'bearer';
  readonly realm: string | undefined;
  readonly service: string | undefined;
  readonly scope: string | undefined;
}

const SECRET_BASIC_USERNAME = 'username';
const SECRET_BASIC_PASSWORD = 'password';
const SECRET_DOCKERCONFIG = '.dockerconfigjson';

/**
 * Credentials for `registry` from a Secret's data (base64 values): a `kubernetes.io/basic-auth` Secret
 * (username/password keys) or a `kubernetes.io/dockerconfigjson` one (the entry for the registry host).
 * Returns undefined when the Secret holds nothing for this registry; throws WR_SOURCE_AUTH when it is malformed.
 */
export function credentialsFromSecret(
  data: Readonly<Record<string, string>>,
  registry: string,
): RegistryCredentials | undefined {
  const decode = (key: string): string | undefined => {
    const v = Object.hasOwn(data, key) ? data[key] : undefined;
    if (v === undefined) return undefined;
    const bytes = decodeBase64Strict(v);
    if (bytes === undefined) throw malformed(`key ${key} is not base64`);
    return bytes.toString('utf8');
  };
  const username = decode(SECRET_BASIC_USERNAME);
  const password = decode(SECRET_BASIC_PASSWORD);
  if (username !== undefined && password !== undefined) return { username, password };
  const config = decode(SECRET_DOCKERCONFIG);
  if (config === undefined) {
    throw malformed(`holds neither ${SECRET_BASIC_USERNAME}/${SECRET_BASIC_PASSWORD} nor ${SECRET_DOCKERCONFIG}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(config);
  } catch {
    throw malformed(`${SECRET_DOCKERCONFIG} is not JSON`);
  }
  const auths = (parsed as { auths?: unknown }).auths;
  if (typeof auths !== 'object' || auths === null) throw malformed(`${SECRET_DOCKERCONFIG} has no "auths" object`);
  const apiHost = registryApiHost(registry);
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    if (!configKeyMatches(key, registry, apiHost) || typeof entry !== 'object' || entry === null) continue;
    const e = entry as { username?: unknown; password?: unknown; auth?: unknown };
    if (typeof e.username === 'string' && typeof e.password === 'string') {
      return { username: e.username, password: e.password };
    }
    if (typeof e.auth === 'string') {
      const pair = decodeBase64Strict(e.auth)?.toString('utf8');
      const colon = pair?.indexOf(':') ?? -1;
      if (pair === undefined || colon < 0) throw malformed(`the "auth" entry for ${key} is not base64 user:password`);
      return { username: pair.slice(0, colon), password: pair.slice(colon + 1) };
    }
  }
  return undefined;
}

/** Docker config keys are hosts, sometimes written as URLs (`https://index.docker.io/v1/`). */
function configKeyMatches(key: string, registry: string, apiHost: string): boolean {
  const host = key.replace(/^https?:\/\//, '').split('/')[0] ?? '';
  if (host === registry || host === apiHost) return true;
  return registry === 'docker.io' && (host === 'index.docker.io' || host === 'registry.hub.docker.com');
}

function malformed(why: string): WrError {
  return new WrError('WR_SOURCE_AUTH', `the registry pull Secret is malformed: ${why}`, { details: { why } });
}

/** Parses the first challenge of a WWW-Authenticate header; undefined for schemes the puller cannot answer. */
export function parseChallenge(header: string): AuthChallenge | undefined {
  const m = /^\s*(Basic|Bearer)\b\s*(.*)$/i.exec(header);
  if (m === null) return undefined;
  const params: Record<string, string> = {};
  // auth-params: key=token or key="quoted string" (with \" escapes), comma separated.
  for (const p of (m[2] ?? '').matchAll(/([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
    const key = (p[1] ?? '').toLowerCase();
    params[key] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return {
    scheme: (m[1] ?? '').toLowerCase() as AuthChallenge['scheme'],
    realm: params.realm,
    service: params.service,
    scope: params.scope,
  };
}
