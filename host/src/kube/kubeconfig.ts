// Reads kubeconfig files (YAML or JSON) into the current context's cluster and user, as kubectl resolves them.
//
// Why not @kubernetes/client-node's KubeConfig: importing it costs ~80 MB of RSS and ~0.4 s of CPU (its
// generated API models, undici, proxy agents), more than the rest of the host together, for what is a file
// read here. It is still loaded, lazily, for the auth kinds that need its code (credentials.ts). Its
// KubeConfig has the same getCurrentCluster/getCurrentUser shape, so callers may pass either.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { WrError } from '../errors.ts';

/** One cluster entry, with client-node's field names. `null` counts as absent (client-node writes it). */
export interface KubeCluster {
  readonly name: string;
  readonly server: string;
  readonly caData?: string | null;
  readonly caFile?: string | null;
  readonly skipTLSVerify?: boolean | null;
  readonly tlsServerName?: string | null;
}

/** One user entry, with client-node's field names; `exec` and `authProvider` are the plugin kinds. */
export interface KubeUser {
  readonly name: string;
  readonly token?: string | null;
  /** Re-read while the host runs: kubelet rotates projected ServiceAccount tokens. */
  readonly tokenFile?: string | null;
  readonly certData?: string | null;
  readonly certFile?: string | null;
  readonly keyData?: string | null;
  readonly keyFile?: string | null;
  readonly username?: string | null;
  readonly password?: string | null;
  readonly impersonateUser?: string | null;
  readonly exec?: unknown;
  readonly authProvider?: unknown;
}

/** What the transport needs of a kubeconfig: our KubeConfig and client-node's both have this shape. */
export interface KubeConfigView {
  getCurrentCluster(): KubeCluster | null;
  getCurrentUser(): KubeUser | null;
}

interface Context {
  readonly cluster: string;
  readonly user?: string;
  readonly namespace?: string;
}

export class KubeConfig implements KubeConfigView {
  readonly currentContext: string | undefined;
  readonly #clusters: ReadonlyMap<string, KubeCluster>;
  readonly #users: ReadonlyMap<string, KubeUser>;
  readonly #contexts: ReadonlyMap<string, Context>;

  constructor(parts: {
    currentContext?: string;
    clusters: ReadonlyMap<string, KubeCluster>;
    users: ReadonlyMap<string, KubeUser>;
    contexts: ReadonlyMap<string, Context>;
  }) {
    this.currentContext = parts.currentContext;
    this.#clusters = parts.clusters;
    this.#users = parts.users;
    this.#contexts = parts.contexts;
  }

  /** One cluster and one user, as the only context (in-cluster config, tests). */
  static of(cluster: KubeCluster, user: KubeUser, namespace?: string): KubeConfig {
    const context: Context = {
      cluster: cluster.name,
      user: user.name,
      ...(namespace === undefined ? {} : { namespace }),
    };
    return new KubeConfig({
      currentContext: 'default',
      clusters: new Map([[cluster.name, cluster]]),
      users: new Map([[user.name, user]]),
      contexts: new Map([['default', context]]),
    });
  }

  /** Parses one kubeconfig document; relative file paths in it are resolved against `dir`. */
  static async parse(text: string, dir: string, source = 'kubeconfig'): Promise<KubeConfig> {
    return fromDocument(await parseDocument(text, source), dir, source);
  }

  static async fromFile(file: string): Promise<KubeConfig> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (cause) {
      throw new WrError('WR_KUBE_CONFIG', `cannot read kubeconfig ${file}: ${(cause as Error).message}`, { cause });
    }
    return KubeConfig.parse(text, path.dirname(path.resolve(file)), file);
  }

  /** Merges like kubectl: for each name, and for current-context, the first file that sets it wins. */
  static merge(configs: readonly KubeConfig[]): KubeConfig {
    const firstWins = <T>(pick: (c: KubeConfig) => ReadonlyMap<string, T>) => {
      const out = new Map<string, T>();
      for (const c of configs) for (const [k, v] of pick(c)) if (!out.has(k)) out.set(k, v);
      return out;
    };
    const currentContext = configs.find((c) => c.currentContext !== undefined)?.currentContext;
    return new KubeConfig({
      ...(currentContext === undefined ? {} : { currentContext }),
      clusters: firstWins((c) => c.#clusters),
      users: firstWins((c) => c.#users),
      contexts: firstWins((c) => c.#contexts),
    });
  }

  #context(): Context | null {
    return this.currentContext === undefined ? null : (this.#contexts.get(this.currentContext) ?? null);
  }

  getCurrentCluster(): KubeCluster | null {
    const context = this.#context();
    return context === null ? null : (this.#clusters.get(context.cluster) ?? null);
  }

  getCurrentUser(): KubeUser | null {
    const context = this.#context();
    return context?.user === undefined ? null : (this.#users.get(context.user) ?? null);
  }

  /** The current context's namespace, when it names one. */
  get namespace(): string | undefined {
    return this.#context()?.namespace;
  }
}

/** JSON is valid YAML; it is tried first so a JSON kubeconfig (and every in-cluster start) never loads a YAML parser. */
async function parseDocument(text: string, source: string): Promise<unknown> {
  try {
    return JSON.parse(text);
  } catch {
    // Not JSON: YAML below.
  }
  try {
    const { load } = await import('js-yaml');
    return load(text);
  } catch (cause) {
    throw new WrError('WR_KUBE_CONFIG', `${source} is neither JSON nor YAML: ${(cause as Error).message}`, { cause });
  }
}

type Entry = Record<string, unknown>;

function fromDocument(doc: unknown, dir: string, source: string): KubeConfig {
  if (doc === null || typeof doc !== 'object') throw new WrError('WR_KUBE_CONFIG', `${source} is not a kubeconfig`);
  const root = doc as Entry;
  const fail = (what: string): never => {
    throw new WrError('WR_KUBE_CONFIG', `${source}: ${what}`);
  };
  const str = (v: unknown, what: string): string | undefined => {
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? v : fail(`${what} must be a string`);
  };
  const file = (v: unknown, what: string) => {
    const f = str(v, what);
    return f === undefined || f === '' ? undefined : path.resolve(dir, f);
  };
  const named = <T>(key: string, inner: string, build: (body: Entry, name: string, at: string) => T) => {
    const out = new Map<string, T>();
    const list = root[key] ?? [];
    if (!Array.isArray(list)) fail(`${key} must be a list`);
    (list as unknown[]).forEach((item, i) => {
      const at = `${key}[${i}]`;
      const name = str((item as Entry)?.name, `${at}.name`) ?? fail(`${at}.name is missing`);
      const body = (item as Entry)[inner];
      if (body === null || typeof body !== 'object') fail(`${at}.${inner} is missing`);
      if (!out.has(name)) out.set(name, build(body as Entry, name, at));
    });
    return out;
  };
  const clusters = named('clusters', 'cluster', (c, name, at): KubeCluster => {
    const server = str(c.server, `${at}.server`) ?? fail(`${at}.cluster.server is missing`);
    return {
      name,
      server: server.replace(/\/$/, ''),
      caData: str(c['certificate-authority-data'], `${at}.certificate-authority-data`) ?? null,
      caFile: file(c['certificate-authority'], `${at}.certificate-authority`) ?? null,
      skipTLSVerify: c['insecure-skip-tls-verify'] === true,
      tlsServerName: str(c['tls-server-name'], `${at}.tls-server-name`) ?? null,
    };
  });
  const users = named('users', 'user', (u, name, at): KubeUser => {
    const field = (key: string) => str(u[key], `${at}.${key}`) ?? null;
    return {
      name,
      token: field('token'),
      tokenFile: file(u['token-file'], `${at}.token-file`) ?? null,
      certData: field('client-certificate-data'),
      certFile: file(u['client-certificate'], `${at}.client-certificate`) ?? null,
      keyData: field('client-key-data'),
      keyFile: file(u['client-key'], `${at}.client-key`) ?? null,
      username: field('username'),
      password: field('password'),
      impersonateUser: field('as'),
      exec: u.exec ?? null,
      authProvider: u['auth-provider'] ?? null,
    };
  });
  const contexts = named('contexts', 'context', (c, _name, at): Context => {
    const cluster = str(c.cluster, `${at}.cluster`) ?? fail(`${at}.context.cluster is missing`);
    const user = str(c.user, `${at}.user`);
    const namespace = str(c.namespace, `${at}.namespace`);
    return { cluster, ...(user ? { user } : {}), ...(namespace ? { namespace } : {}) };
  });
  const current = str(root['current-context'], 'current-context');
  return new KubeConfig({
    ...(current ? { currentContext: current } : {}),
    clusters,
    users,
    contexts,
  });
}
