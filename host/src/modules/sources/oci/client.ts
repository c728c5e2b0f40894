// An OCI distribution API client for one repository: requests under /v2/<name>/ with the auth handshake.
//
// The handshake follows the distribution token spec: send anonymously; on 401 read WWW-Authenticate; for
// Basic answer with the credentials, for Bearer fetch a token from the realm (with the credentials as Basic,
// if any) for the challenged service and scope, then retry once. A push escalates scope mid-way (pull for
// HEAD, pull,push for uploads); the registry says so in its next challenge, so no scope is guessed here.

import { WrError } from '../../../errors.ts';
import { type HttpMethod, type HttpResponse, httpRequest, redactUrl } from '../internal/http.ts';
import { type AuthChallenge, parseChallenge, type RegistryCredentials } from './auth.ts';
import { registryApiHost } from './reference.ts';

export interface RegistryAccessOptions {
  readonly credentials?: RegistryCredentials;
  /** PEM CA bundle trusted for the registry and its token realm instead of the system store. */
  readonly ca?: string | Uint8Array;
  /** Speak plain http to the registry and its realm. Explicit opt-in only: credentials travel in clear. */
  readonly plainHttp?: boolean;
  /** Deadline per HTTP exchange (default 60 s). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface RegistryRequest {
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
  readonly maxBytes: number;
  readonly tooLarge?: (limit: number, url: URL) => WrError;
}

export const DEFAULT_REGISTRY_TIMEOUT_MS = 60_000;
/** Token responses are small JSON; anything bigger is not a token server. */
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

export class RegistryClient {
  readonly registry: string;
  readonly repository: string;
  readonly #base: URL;
  readonly #options: RegistryAccessOptions;
  #authorization: string | undefined;

  constructor(registry: string, repository: string, options: RegistryAccessOptions = {}) {
    this.registry = registry;
    this.repository = repository;
    this.#options = options;
    this.#base = new URL(
      `${options.plainHttp === true ? 'http' : 'https'}://${registryApiHost(registry)}/v2/${repository}/`,
    );
  }

  /** `path` is relative to /v2/<repository>/ or an absolute URL (upload locations). */
  async send(method: HttpMethod, path: string, request: RegistryRequest): Promise<HttpResponse> {
    const url = new URL(path, this.#base);
    let res = await this.#exchange(method, url, request);
    if (res.status !== 401) return res;
    const header = res.headers['www-authenticate'];
    const challenge = parseChallenge(Array.isArray(header) ? (header[0] ?? '') : (header ?? ''));
    if (challenge === undefined) {
      throw new WrError(
        'WR_SOURCE_AUTH',
        `${this.registry} requires an authentication scheme this host cannot answer`,
        {
          details: { registry: this.registry, url: redactUrl(url) },
        },
      );
    }
    this.#authorization = await this.#answer(challenge);
    res = await this.#exchange(method, url, request);
    if (res.status === 401) {
      throw new WrError('WR_SOURCE_AUTH', `${this.registry} refused the credentials for ${this.repository}`, {
        details: { registry: this.registry, repository: this.repository, scheme: challenge.scheme },
      });
    }
    return res;
  }

  #exchange(method: HttpMethod, url: URL, request: RegistryRequest): Promise<HttpResponse> {
    const headers: Record<string, string> = { ...request.headers };
    if (this.#authorization !== undefined) headers.authorization = this.#authorization;
    return httpRequest(url, {
      method,
      headers,
      timeoutMs: this.#options.timeoutMs ?? DEFAULT_REGISTRY_TIMEOUT_MS,
      maxBytes: request.maxBytes,
      allowPlainHttp: this.#options.plainHttp === true,
      ...(request.body === undefined ? {} : { body: request.body }),
      ...(request.tooLarge === undefined ? {} : { tooLarge: request.tooLarge }),
      ...(this.#options.ca === undefined ? {} : { ca: this.#options.ca }),
      ...(this.#options.signal === undefined ? {} : { signal: this.#options.signal }),
    });
  }

  async #answer(challenge: AuthChallenge): Promise<string> {
    const creds = this.#options.credentials;
    const basic =
      creds === undefined
        ? undefined
        : `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    if (challenge.scheme === 'basic') {
      if (basic === undefined) {
        throw new WrError('WR_SOURCE_AUTH', `${this.registry} requires credentials and none were given`, {
          details: { registry: this.registry, repository: this.repository },
        });
      }
      return basic;
    }
    if (challenge.realm === undefined) {
      throw new WrError('WR_SOURCE_AUTH', `${this.registry} sent a Bearer challenge without a realm`, {
        details: { registry: this.registry },
      });
    }
    let realm: URL;
    try {
      realm = new URL(challenge.realm);
    } catch {
      throw new WrError('WR_SOURCE_AUTH', `${this.registry} sent an invalid token realm`, {
        details: { registry: this.registry },
      });
    }
    if (challenge.service !== undefined) realm.searchParams.set('service', challenge.service);
    if (challenge.scope !== undefined) realm.searchParams.set('scope', challenge.scope);
    const res = await httpRequest(realm, {
      method: 'GET',
      headers: basic === undefined ? {} : { authorization: basic },
      timeoutMs: this.#options.timeoutMs ?? DEFAULT_REGISTRY_TIMEOUT_MS,
      maxBytes: MAX_TOKEN_RESPONSE_BYTES,
      allowPlainHttp: this.#options.plainHttp === true,
      tooLarge: () => new WrError('WR_SOURCE_AUTH', `the token endpoint of ${this.registry} sent an oversized answer`),
      ...(this.#options.ca === undefined ? {} : { ca: this.#options.ca }),
      ...(this.#options.signal === undefined ? {} : { signal: this.#options.signal }),
    });
    if (res.status === 401 || res.status === 403) {
      throw new WrError('WR_SOURCE_AUTH', `the token endpoint of ${this.registry} refused the credentials`, {
        details: { registry: this.registry, realm: redactUrl(realm), status: res.status },
      });
    }
    if (res.status !== 200) {
      throw new WrError(
        res.status >= 500 || res.status === 429 ? 'WR_SOURCE_UNREACHABLE' : 'WR_SOURCE_AUTH',
        `the token endpoint of ${this.registry} answered HTTP ${res.status}`,
        {
          details: { registry: this.registry, realm: redactUrl(realm), status: res.status },
        },
      );
    }
    let token: unknown;
    try {
      const body = JSON.parse(res.body.toString('utf8')) as { token?: unknown; access_token?: unknown };
      token = body.token ?? body.access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || token === '') {
      throw new WrError('WR_SOURCE_AUTH', `the token endpoint of ${this.registry} returned no token`, {
        details: { registry: this.registry, realm: redactUrl(realm) },
      });
    }
    return `Bearer ${token}`;
  }
}
